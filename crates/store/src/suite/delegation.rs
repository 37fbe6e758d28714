//! Behaviour suite of the delegation registry's store: records and history, compare-and-set
//! changes with their notifications in the same transaction, listings, administrators, lazy
//! expiry, and the lookup (direct, through an employer, never expired, pending, revoked, out of
//! scope, or with the agent as principal).

use crate::notifications::NotificationOutbox;
use eid_core::{
    Access, Author, Cpr, Cvr, DelegationRepository, MandateId, MandateKind, MandateRecord,
    MandateState, Notice, Organisation, OrganisationRef, Party, PartyKey, PersonKey, Principal,
    Privilege, RegisteredPerson, Scope, ServiceRef, Side, StateChange, StoreError,
};
use serde_json::json;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

fn person(name: &str) -> RegisteredPerson {
    let id = Uuid::new_v4();
    RegisteredPerson {
        id,
        key: PersonKey {
            upstream: "idp".into(),
            subject: id.to_string(),
        },
        cpr: Cpr::parse("0101901234").expect("cpr"),
        name: name.into(),
    }
}

fn fresh_cvr() -> Cvr {
    let n = 10_000_000 + (Uuid::new_v4().as_u128() % 90_000_000) as u64;
    Cvr::parse(&n.to_string()).expect("cvr")
}

fn org(name: &str, at: OffsetDateTime) -> Organisation {
    Organisation {
        cvr: fresh_cvr(),
        name: name.into(),
        created_at: at,
    }
}

fn author(p: &RegisteredPerson) -> Author {
    Author {
        key: p.key.clone(),
        name: p.name.clone(),
    }
}

#[allow(clippy::too_many_arguments)]
fn record(
    kind: MandateKind,
    principal: Party,
    agent: Party,
    scopes: &[Scope],
    state: MandateState,
    from: OffsetDateTime,
    until: Option<OffsetDateTime>,
    at: OffsetDateTime,
) -> MandateRecord {
    MandateRecord {
        id: MandateId::new(),
        kind,
        principal,
        agent,
        scopes: scopes.to_vec(),
        privileges: Vec::new(),
        access: Access::Act,
        administrator: false,
        valid_from: from,
        valid_until: until,
        state,
        created_at: at,
        revision: 1,
    }
}

fn ids(mandates: &[eid_core::Mandate]) -> Vec<String> {
    let mut ids: Vec<String> = mandates.iter().map(|m| m.id.clone()).collect();
    ids.sort();
    ids
}

/// Everything [`DelegationRepository`] promises; `outbox` reads the same database's notifications.
pub async fn delegation_repository_behaviour(
    repo: &dyn DelegationRepository,
    outbox: &dyn NotificationOutbox,
) {
    // Whole seconds: stored times are microseconds.
    let t0 = OffsetDateTime::from_unix_timestamp(OffsetDateTime::now_utc().unix_timestamp() - 3600)
        .expect("now");
    let day = Duration::days(1);
    let rp = format!("rp-{}", Uuid::new_v4().simple());
    let other_rp = format!("rp-other-{}", Uuid::new_v4().simple());
    let area = format!("area-{}", Uuid::new_v4().simple());
    let areas = vec![area.clone()];
    let service = ServiceRef {
        id: &rp,
        areas: &areas,
    };

    // Organisations: inserted, renamed, found.
    let mut demo = org("Demo ApS", t0);
    repo.upsert_organisation(&demo).await.unwrap();
    demo.name = "Demo ApS 'Ærø'".into();
    repo.upsert_organisation(&Organisation {
        created_at: t0 + day,
        ..demo.clone()
    })
    .await
    .unwrap();
    assert_eq!(
        repo.organisation(&demo.cvr).await.unwrap(),
        Some(demo.clone())
    );
    assert_eq!(repo.organisation(&fresh_cvr()).await.unwrap(), None);

    // A power of attorney: stored with its first history row and both notices, in one go.
    let (karen, anna, mikkel) = (person("Karen"), person("Anna"), person("Mikkel"));
    let mut poa = record(
        MandateKind::PowerOfAttorney,
        Party::Person(karen.clone()),
        Party::Person(anna.clone()),
        &[Scope::service(&rp).unwrap(), Scope::area(&area).unwrap()],
        MandateState::Pending,
        t0,
        Some(t0 + day * 30),
        t0,
    );
    poa.privileges = vec![Privilege::parse("urn:dk:demo:apply").unwrap()];
    let notices = |kind: &str| {
        vec![
            Notice {
                person: karen.id,
                kind: kind.into(),
                details: json!({ "mandate": poa.id.to_string() }),
            },
            Notice {
                person: anna.id,
                kind: kind.into(),
                details: json!({ "mandate": poa.id.to_string() }),
            },
        ]
    };
    repo.insert_mandate(&poa, Some(&author(&karen)), &notices("delegation.granted"))
        .await
        .unwrap();
    let mut stored = repo.mandate_record(poa.id).await.unwrap().expect("stored");
    stored.scopes.sort();
    let mut expected = poa.clone();
    expected.scopes.sort();
    assert_eq!(stored, expected);
    assert_eq!(
        repo.history(poa.id).await.unwrap(),
        vec![StateChange {
            revision: 1,
            state: MandateState::Pending,
            by: Some(author(&karen)),
            at: t0,
        }]
    );
    for p in [karen.id, anna.id] {
        let told = outbox.for_person(p, 10).await.unwrap();
        assert_eq!(told.len(), 1);
        assert_eq!(told[0].kind, "delegation.granted");
    }
    // The same id again: Conflict, and nothing more written.
    assert!(matches!(
        repo.insert_mandate(&poa, Some(&author(&karen)), &notices("delegation.granted"))
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(outbox.for_person(karen.id, 10).await.unwrap().len(), 1);

    // Pending is not usable.
    let now = t0 + Duration::hours(1);
    assert!(
        repo.usable(&anna.key, service, now)
            .await
            .unwrap()
            .is_empty()
    );

    // Compare-and-set: the current revision wins once, a stale one changes nothing.
    let accept = StateChange {
        revision: 2,
        state: MandateState::Active,
        by: Some(author(&anna)),
        at: now,
    };
    assert!(
        repo.change_state(poa.id, 1, &accept, &notices("delegation.accepted"))
            .await
            .unwrap()
    );
    assert!(
        !repo
            .change_state(poa.id, 1, &accept, &notices("delegation.accepted"))
            .await
            .unwrap(),
        "a stale revision"
    );
    assert!(
        !repo
            .change_state(MandateId::new(), 1, &accept, &[])
            .await
            .unwrap(),
        "no such mandate"
    );
    assert_eq!(outbox.for_person(anna.id, 10).await.unwrap().len(), 2);
    let active = repo.mandate_record(poa.id).await.unwrap().unwrap();
    assert_eq!((active.state, active.revision), (MandateState::Active, 2));
    assert_eq!(repo.history(poa.id).await.unwrap().len(), 2);

    // Usable now, by id and by area, with both scopes and the privileges; not at another service,
    // not by another person, not before it begins, not from its end on.
    let found = repo.usable(&anna.key, service, now).await.unwrap();
    assert_eq!(found.len(), 1);
    let m = &found[0];
    assert_eq!(m.id, poa.id.to_string());
    assert_eq!(m.kind, MandateKind::PowerOfAttorney);
    assert_eq!(
        m.principal,
        Principal::Person {
            person: karen.key.clone(),
            cpr: Some(karen.cpr.clone()),
            name: "Karen".into()
        }
    );
    let mut want_scopes = vec![rp.clone(), area.clone()];
    want_scopes.sort();
    assert_eq!(m.scopes, want_scopes);
    assert_eq!(m.privileges, vec!["urn:dk:demo:apply".to_owned()]);
    assert_eq!(m.valid_until, Some(t0 + day * 30));
    let only_area = ServiceRef {
        id: &other_rp,
        areas: &areas,
    };
    assert_eq!(
        repo.usable(&anna.key, only_area, now).await.unwrap()[0].scopes,
        vec![area.clone()]
    );
    let elsewhere = ServiceRef {
        id: &other_rp,
        areas: &[],
    };
    assert!(
        repo.usable(&anna.key, elsewhere, now)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        repo.usable(&mikkel.key, service, now)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        repo.usable(&karen.key, service, now)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        repo.usable(&anna.key, service, t0 - Duration::seconds(1))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        repo.usable(&anna.key, service, t0 + day * 30)
            .await
            .unwrap()
            .is_empty(),
        "never from valid_until on"
    );
    let other_upstream = PersonKey {
        upstream: "eidas".into(),
        subject: anna.key.subject.clone(),
    };
    assert!(
        repo.usable(&other_upstream, service, now)
            .await
            .unwrap()
            .is_empty()
    );

    // Revoked: gone at once, the history kept.
    let revoke = StateChange {
        revision: 3,
        state: MandateState::Revoked,
        by: Some(author(&karen)),
        at: now,
    };
    assert!(repo.change_state(poa.id, 2, &revoke, &[]).await.unwrap());
    assert!(
        repo.usable(&anna.key, service, now)
            .await
            .unwrap()
            .is_empty()
    );
    let states: Vec<_> = repo
        .history(poa.id)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.state)
        .collect();
    assert_eq!(
        states,
        vec![
            MandateState::Pending,
            MandateState::Active,
            MandateState::Revoked
        ]
    );

    // Listings, newest first, by side.
    let later = record(
        MandateKind::PowerOfAttorney,
        Party::Person(karen.clone()),
        Party::Person(mikkel.clone()),
        &[Scope::service(&rp).unwrap()],
        MandateState::Active,
        t0,
        Some(t0 + day),
        t0 + Duration::seconds(5),
    );
    repo.insert_mandate(&later, Some(&author(&karen)), &[])
        .await
        .unwrap();
    let given: Vec<_> = repo
        .mandates_of(PartyKey::Person(&karen.key), Side::Given, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(given, vec![later.id, poa.id]);
    let held = repo
        .mandates_of(PartyKey::Person(&anna.key), Side::Held, 10)
        .await
        .unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].state, MandateState::Revoked);
    assert_eq!(held[0].scopes.len(), 2);
    assert!(
        repo.mandates_of(PartyKey::Person(&anna.key), Side::Given, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // Lazy expiry: due once its end has come, not before, and not when final.
    let due = repo.due_to_expire(t0 + day, 1000).await.unwrap();
    assert!(due.contains(&(later.id, 1)));
    assert!(!due.iter().any(|(id, _)| *id == poa.id));
    assert!(
        !repo
            .due_to_expire(t0 + day - Duration::seconds(1), 1000)
            .await
            .unwrap()
            .iter()
            .any(|(id, _)| *id == later.id)
    );

    // A power of attorney whose principal is the agent is never stored.
    let to_self = record(
        MandateKind::PowerOfAttorney,
        Party::Person(anna.clone()),
        Party::Person(anna.clone()),
        &[Scope::service(&rp).unwrap()],
        MandateState::Active,
        t0,
        Some(t0 + day),
        t0,
    );
    assert!(repo.insert_mandate(&to_self, None, &[]).await.is_err());

    organisations(repo, t0, &demo, service).await;
}

/// Business rights, administrators, employers, and business powers used through an employer.
async fn organisations(
    repo: &dyn DelegationRepository,
    t0: OffsetDateTime,
    demo: &Organisation,
    service: ServiceRef<'_>,
) {
    let now = t0 + Duration::hours(1);
    let (peter, admin) = (person("Peter"), person("Admin"));
    let demo_ref = Party::Organisation(demo.as_ref());
    let scope = Scope::service(service.id).unwrap();

    // An administrator right (no scopes): an administrator, but no mandate at any service.
    let mut admin_right = record(
        MandateKind::BusinessRight,
        demo_ref.clone(),
        Party::Person(admin.clone()),
        &[],
        MandateState::Active,
        t0,
        None,
        t0,
    );
    admin_right.administrator = true;
    repo.insert_mandate(&admin_right, None, &[]).await.unwrap();
    assert!(
        repo.is_administrator(&admin.key, &demo.cvr, now)
            .await
            .unwrap()
    );
    assert!(
        !repo
            .is_administrator(&peter.key, &demo.cvr, now)
            .await
            .unwrap()
    );
    assert!(
        !repo
            .is_administrator(&admin.key, &fresh_cvr(), now)
            .await
            .unwrap()
    );
    assert!(
        repo.usable(&admin.key, service, now)
            .await
            .unwrap()
            .is_empty()
    );

    // Peter's right for the service: the organisation is the principal, with his privileges.
    let mut right = record(
        MandateKind::BusinessRight,
        demo_ref.clone(),
        Party::Person(peter.clone()),
        std::slice::from_ref(&scope),
        MandateState::Active,
        t0,
        Some(t0 + Duration::days(10)),
        t0,
    );
    right.privileges = vec![Privilege::parse("urn:dk:demo:file").unwrap()];
    right.access = Access::Read;
    repo.insert_mandate(&right, Some(&author(&admin)), &[])
        .await
        .unwrap();
    assert!(
        !repo
            .is_administrator(&peter.key, &demo.cvr, now)
            .await
            .unwrap(),
        "a right is not an administrator right"
    );
    assert_eq!(
        repo.employers(&peter.key, now).await.unwrap(),
        vec![OrganisationRef {
            cvr: demo.cvr.clone(),
            name: demo.name.clone()
        }]
    );
    let found = repo.usable(&peter.key, service, now).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].kind, MandateKind::BusinessRight);
    assert_eq!(
        found[0].principal,
        Principal::Organisation {
            cvr: demo.cvr.as_str().into(),
            name: demo.name.clone()
        }
    );
    assert_eq!(found[0].privileges, vec!["urn:dk:demo:file".to_owned()]);

    // A client's business power to Demo ApS: Peter uses it through his right, with the
    // narrower access and end of the two; an administrator without a right for the service not.
    let client = org("Client A/S", t0);
    repo.upsert_organisation(&client).await.unwrap();
    let power = record(
        MandateKind::BusinessPower,
        Party::Organisation(client.as_ref()),
        demo_ref.clone(),
        std::slice::from_ref(&scope),
        MandateState::Active,
        t0,
        Some(t0 + Duration::days(20)),
        t0,
    );
    repo.insert_mandate(&power, None, &[]).await.unwrap();
    let found = repo.usable(&peter.key, service, now).await.unwrap();
    assert_eq!(ids(&found), {
        let mut v = vec![right.id.to_string(), power.id.to_string()];
        v.sort();
        v
    });
    let via = found.iter().find(|m| m.id == power.id.to_string()).unwrap();
    assert_eq!(via.kind, MandateKind::BusinessPower);
    assert_eq!(
        via.principal,
        Principal::Organisation {
            cvr: client.cvr.as_str().into(),
            name: "Client A/S".into()
        }
    );
    assert_eq!(via.access, Access::Read);
    assert_eq!(via.valid_until, Some(t0 + Duration::days(10)));
    assert_eq!(via.privileges, vec!["urn:dk:demo:file".to_owned()]);
    assert!(
        repo.usable(&admin.key, service, now)
            .await
            .unwrap()
            .is_empty()
    );
    // A colleague whose right covers another service only does not use the power here.
    let colleague = person("Colleague");
    let elsewhere_right = record(
        MandateKind::BusinessRight,
        demo_ref.clone(),
        Party::Person(colleague.clone()),
        &[Scope::service("another-service").unwrap()],
        MandateState::Active,
        t0,
        None,
        t0,
    );
    repo.insert_mandate(&elsewhere_right, None, &[])
        .await
        .unwrap();
    assert!(
        repo.usable(&colleague.key, service, now)
            .await
            .unwrap()
            .is_empty()
    );
    // Not at another service; not once Peter's right has ended.
    let elsewhere = ServiceRef {
        id: "nowhere",
        areas: &[],
    };
    assert!(
        repo.usable(&peter.key, elsewhere, now)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        repo.usable(&peter.key, service, t0 + Duration::days(10))
            .await
            .unwrap()
            .is_empty()
    );

    // A power of attorney given to the organisation by Peter himself never names him as his
    // own principal.
    let own = record(
        MandateKind::PowerOfAttorney,
        Party::Person(peter.clone()),
        demo_ref.clone(),
        std::slice::from_ref(&scope),
        MandateState::Active,
        t0,
        Some(t0 + Duration::days(5)),
        t0,
    );
    repo.insert_mandate(&own, None, &[]).await.unwrap();
    assert!(
        !repo
            .usable(&peter.key, service, now)
            .await
            .unwrap()
            .iter()
            .any(|m| m.id == own.id.to_string())
    );

    // Organisation listings.
    let given = repo
        .mandates_of(PartyKey::Organisation(&demo.cvr), Side::Given, 10)
        .await
        .unwrap();
    assert_eq!(given.len(), 3);
    let held = repo
        .mandates_of(PartyKey::Organisation(&demo.cvr), Side::Held, 10)
        .await
        .unwrap();
    assert_eq!(held.len(), 2);
}
