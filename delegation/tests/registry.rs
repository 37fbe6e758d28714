//! The registry's rules over a real store (in-memory SQLite; the main flow also on PostgreSQL):
//! each rule with the negative test that fails when the rule is removed, the audit trail naming
//! both persons, notifications to both, and the broker's lookup.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use eid_core::{
    Access, AuditLog, Clock, Cpr, Cvr, FixedClock, Identity, Loa, MandateKind, MandateLookup,
    MandateState, Organisation, Person, PersonKey, PersonRepository, PersonStatus, Principal,
    Scope, ServiceRef, Side,
};
use eid_delegation::lookup::RegistryLookup;
use eid_delegation::registry::{
    AgentRef, Authenticated, Confirmation, GrantInput, PowerInput, Registry, RegistryDeps,
    RegistryError, RegistrySettings, RequestInput, RightInput,
};
use eid_store::notifications::NotificationOutbox;
use eid_store::testing::{TempPostgresDb, postgres_url_or_skip};
use eid_store::{MemoryEphemeral, SqlDurable};
use std::sync::Arc;
use time::macros::{date, datetime};
use time::{Date, Duration, OffsetDateTime};
use uuid::Uuid;

const RP: &str = "demo-rp";
const NOW: OffsetDateTime = datetime!(2026-06-10 12:00 UTC);

struct H {
    reg: Registry,
    db: SqlDurable,
    clock: FixedClock,
    lookup: RegistryLookup,
    karen: Person,
    anna: Person,
    mikkel: Person,
    erik: Person,
    ida: Person,
    peter: Person,
}

fn person(n: u8, name: &str, cpr: &str, birth: Date, competent: bool) -> Person {
    Person {
        id: Uuid::from_u128(0x6b0c_0000_0000_0000_0000_0000_0000_0000 + u128::from(n)),
        cpr: Cpr::parse(cpr).unwrap(),
        given_name: name.into(),
        family_name: "Jensen".into(),
        birthdate: birth,
        ial: Loa::Substantial,
        status: PersonStatus::Active,
        legally_competent: competent,
        user_id: None,
        created_at: NOW,
    }
}

async fn harness_on(db: SqlDurable, settings: RegistrySettings) -> H {
    let clock = FixedClock::new(NOW);
    let h = H {
        karen: person(1, "Karen", "1503459992", date!(1945 - 03 - 15), true),
        anna: person(2, "Anna", "0107709991", date!(1970 - 07 - 01), true),
        mikkel: person(3, "Mikkel", "2211009993", date!(2000 - 11 - 22), true),
        erik: person(4, "Erik", "0402559996", date!(1955 - 02 - 04), false),
        // Fifteen tomorrow.
        ida: person(5, "Ida", "1106119997", date!(2011 - 06 - 11), true),
        peter: person(6, "Peter", "0905859994", date!(1985 - 05 - 09), true),
        reg: Registry::new(
            settings,
            RegistryDeps {
                persons: Arc::new(db.clone()),
                store: Arc::new(db.clone()),
                drafts: Arc::new(MemoryEphemeral::new()),
                audit: Arc::new(db.clone()),
                clock: Arc::new(clock.clone()),
            },
        ),
        lookup: RegistryLookup::new(Arc::new(db.clone())),
        db,
        clock,
    };
    for p in [&h.karen, &h.anna, &h.mikkel, &h.erik, &h.ida, &h.peter] {
        h.db.upsert_person(p).await.unwrap();
    }
    h
}

async fn harness() -> H {
    harness_with(RegistrySettings::default()).await
}

async fn harness_with(settings: RegistrySettings) -> H {
    let db = SqlDurable::connect_and_migrate("sqlite::memory:")
        .await
        .unwrap();
    harness_on(db, settings).await
}

fn key(p: &Person) -> PersonKey {
    PersonKey {
        upstream: "idp".into(),
        subject: p.id.to_string(),
    }
}

impl H {
    /// A fresh login at Substantial, now.
    fn auth(&self, p: &Person) -> Authenticated {
        Authenticated {
            person: key(p),
            loa: Loa::Substantial,
            auth_time: self.clock.now(),
            acting_for: None,
        }
    }

    fn grant_to(&self, agent: &Person) -> GrantInput {
        GrantInput {
            agent: AgentRef::Person(agent.cpr.clone()),
            scopes: vec![Scope::service(RP).unwrap()],
            access: Access::Act,
            valid_from: None,
            valid_until: self.clock.now() + Duration::days(30),
        }
    }

    /// Karen gives `agent` a power of attorney for the demo service (prepare + confirm).
    async fn granted(&self, from: &Person, agent: &Person) -> eid_core::MandateId {
        let draft = self
            .reg
            .prepare_grant(&self.auth(from), self.grant_to(agent))
            .await
            .unwrap();
        self.reg
            .confirm(&self.auth(from), &draft.confirmation())
            .await
            .unwrap()
            .record
            .id
    }

    async fn usable(&self, agent: &Person, rp: &str) -> Vec<eid_core::Mandate> {
        let identity = Identity::for_test(&agent.id.to_string(), Loa::Substantial, 0);
        self.lookup
            .mandates(
                &identity,
                ServiceRef { id: rp, areas: &[] },
                self.clock.now(),
            )
            .await
            .unwrap()
    }

    /// The reasons of the refusals audited for `p`.
    async fn refusals(&self, p: &Person) -> Vec<String> {
        AuditLog::for_person(&self.db, p.id, 100)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.kind == "delegation.refused")
            .map(|e| e.details["reason"].as_str().unwrap().to_owned())
            .collect()
    }
}

fn is<T: std::fmt::Debug>(r: Result<T, RegistryError>, reason: &str) {
    match r {
        Err(e) => assert_eq!(e.reason(), reason, "{e}"),
        Ok(v) => panic!("expected {reason}, got {v:?}"),
    }
}

async fn main_flow(h: &H) {
    // Karen prepares a grant to Anna and sees exactly what she signs.
    let draft = h
        .reg
        .prepare_grant(&h.auth(&h.karen), h.grant_to(&h.anna))
        .await
        .unwrap();
    assert_eq!(draft.principal.key, key(&h.karen));
    assert_eq!(draft.agent.name(), "Anna Jensen");
    assert!(draft.needs_acceptance);
    assert!(h.usable(&h.anna, RP).await.is_empty(), "a draft is nothing");

    let view = h
        .reg
        .confirm(&h.auth(&h.karen), &draft.confirmation())
        .await
        .unwrap();
    assert_eq!(view.state, MandateState::Pending);
    assert!(h.usable(&h.anna, RP).await.is_empty(), "pending");
    // The draft is used once.
    is(
        h.reg
            .confirm(&h.auth(&h.karen), &draft.confirmation())
            .await,
        "draft_unknown",
    );

    // Only the agent accepts.
    is(
        h.reg.accept(&h.auth(&h.karen), view.record.id).await,
        "wrong_party",
    );
    let view = h
        .reg
        .accept(&h.auth(&h.anna), view.record.id)
        .await
        .unwrap();
    assert_eq!(view.state, MandateState::Active);
    let found = h.usable(&h.anna, RP).await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, view.record.id.to_string());
    assert_eq!(found[0].kind, MandateKind::PowerOfAttorney);
    assert!(matches!(
        &found[0].principal,
        Principal::Person { person, cpr: Some(cpr), name }
            if *person == key(&h.karen) && *cpr == h.karen.cpr && name == "Karen Jensen"
    ));
    assert!(h.usable(&h.anna, "other-rp").await.is_empty(), "other RP");
    assert!(h.usable(&h.mikkel, RP).await.is_empty(), "other agent");

    // Listings of both sides.
    let given = h.reg.given(&h.auth(&h.karen), 10).await.unwrap();
    assert_eq!(given.len(), 1);
    let held = h.reg.held(&h.auth(&h.anna), 10).await.unwrap();
    assert_eq!(held[0].record.id, view.record.id);

    // Karen revokes: gone at once.
    h.reg
        .revoke(&h.auth(&h.karen), view.record.id)
        .await
        .unwrap();
    assert!(h.usable(&h.anna, RP).await.is_empty(), "revoked");
    is(
        h.reg.accept(&h.auth(&h.anna), view.record.id).await,
        "wrong_state",
    );
    let (_, history) = h
        .reg
        .history(&h.auth(&h.anna), view.record.id)
        .await
        .unwrap();
    let states: Vec<_> = history.iter().map(|c| c.state).collect();
    assert_eq!(
        states,
        vec![
            MandateState::Pending,
            MandateState::Active,
            MandateState::Revoked
        ]
    );
    assert_eq!(history[1].by.as_ref().unwrap().key, key(&h.anna));

    // Each person finds the grant, the acceptance and the revocation under their own key, with
    // the other as counterpart; each was notified.
    for (me, other) in [(&h.karen, &h.anna), (&h.anna, &h.karen)] {
        let events = AuditLog::for_person(&h.db, me.id, 100).await.unwrap();
        for kind in [
            "delegation.granted",
            "delegation.accepted",
            "delegation.revoked",
        ] {
            let e = events
                .iter()
                .find(|e| e.kind == kind)
                .unwrap_or_else(|| panic!("{kind} for {}", me.given_name));
            assert_eq!(e.details["counterpart"], other.id.to_string());
            assert_eq!(e.details["mandate"], view.record.id.to_string());
            assert!(!e.details.to_string().contains(me.cpr.as_str()));
        }
        let told: Vec<String> = NotificationOutbox::for_person(&h.db, me.id, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|n| n.kind)
            .collect();
        let mut told = told;
        told.sort();
        assert_eq!(
            told,
            vec![
                "delegation.accepted",
                "delegation.granted",
                "delegation.revoked"
            ]
        );
    }
}

#[tokio::test]
async fn grant_accept_use_revoke_on_sqlite() {
    main_flow(&harness().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grant_accept_use_revoke_on_postgres() {
    let Some(server) = postgres_url_or_skip() else {
        return;
    };
    let temp = TempPostgresDb::create(&server).await.unwrap();
    {
        let db = SqlDurable::connect_and_migrate(&temp.url).await.unwrap();
        let h = harness_on(db.clone(), RegistrySettings::default()).await;
        main_flow(&h).await;
        db.close().await;
    }
    temp.drop_db().await.unwrap();
}

#[tokio::test]
async fn a_declined_grant_is_never_usable_and_only_the_agent_declines_it() {
    let h = harness().await;
    let id = h.granted(&h.karen, &h.anna).await;
    is(h.reg.decline(&h.auth(&h.karen), id).await, "wrong_party");
    h.reg.decline(&h.auth(&h.anna), id).await.unwrap();
    assert!(h.usable(&h.anna, RP).await.is_empty());
    is(h.reg.accept(&h.auth(&h.anna), id).await, "wrong_state");
}

#[tokio::test]
async fn the_agent_may_revoke_too_and_a_stranger_sees_nothing() {
    let h = harness().await;
    let id = h.granted(&h.karen, &h.anna).await;
    is(h.reg.revoke(&h.auth(&h.mikkel), id).await, "not_found");
    is(h.reg.history(&h.auth(&h.mikkel), id).await, "not_found");
    h.reg.accept(&h.auth(&h.anna), id).await.unwrap();
    // Revoking needs no fresh login.
    let old_login = Authenticated {
        loa: Loa::Low,
        auth_time: NOW - Duration::days(1),
        ..h.auth(&h.anna)
    };
    h.reg.revoke(&old_login, id).await.unwrap();
    assert!(h.usable(&h.anna, RP).await.is_empty());
}

#[tokio::test]
async fn an_expired_mandate_is_never_used_and_its_expiry_is_written_and_told() {
    let h = harness().await;
    let id = h.granted(&h.karen, &h.anna).await;
    h.reg.accept(&h.auth(&h.anna), id).await.unwrap();
    h.clock.advance(Duration::days(30) - Duration::seconds(1));
    assert_eq!(h.usable(&h.anna, RP).await.len(), 1);
    h.clock.advance(Duration::seconds(1));
    assert!(
        h.usable(&h.anna, RP).await.is_empty(),
        "never from valid_until on"
    );
    let held = h.reg.held(&h.auth(&h.anna), 10).await.unwrap();
    assert_eq!(
        held[0].state,
        MandateState::Expired,
        "derived before written"
    );
    is(h.reg.revoke(&h.auth(&h.karen), id).await, "wrong_state");
    assert_eq!(
        h.reg.expire_due(100).await.unwrap(),
        0,
        "written by the refusal"
    );
    let (view, history) = h.reg.history(&h.auth(&h.karen), id).await.unwrap();
    assert_eq!(view.record.state, MandateState::Expired);
    assert!(history.last().unwrap().by.is_none());
    let events = AuditLog::for_person(&h.db, h.anna.id, 100).await.unwrap();
    assert!(events.iter().any(|e| e.kind == "delegation.expired"));

    // The lazy sweep writes the others.
    let other = h.granted(&h.karen, &h.mikkel).await;
    h.clock.advance(Duration::days(31));
    assert_eq!(h.reg.expire_due(100).await.unwrap(), 1);
    let (view, _) = h.reg.history(&h.auth(&h.karen), other).await.unwrap();
    assert_eq!(view.record.state, MandateState::Expired);
}

#[tokio::test]
async fn a_grant_needs_a_fresh_login_at_substantial() {
    let h = harness().await;
    let low = Authenticated {
        loa: Loa::Low,
        ..h.auth(&h.karen)
    };
    is(
        h.reg.prepare_grant(&low, h.grant_to(&h.anna)).await,
        "login_not_fresh",
    );
    let stale = Authenticated {
        auth_time: NOW - Duration::minutes(6),
        ..h.auth(&h.karen)
    };
    is(
        h.reg.prepare_grant(&stale, h.grant_to(&h.anna)).await,
        "login_not_fresh",
    );
    // Prepared with a fresh login, confirmed after it went stale: refused, the draft kept.
    let draft = h
        .reg
        .prepare_grant(&h.auth(&h.karen), h.grant_to(&h.anna))
        .await
        .unwrap();
    h.clock.advance(Duration::minutes(6));
    is(
        h.reg.confirm(&stale, &draft.confirmation()).await,
        "login_not_fresh",
    );
    h.reg
        .confirm(&h.auth(&h.karen), &draft.confirmation())
        .await
        .unwrap();
    // Accepting raises what Anna's sessions may do: a fresh login too.
    let id = draft.id;
    let anna_low = Authenticated {
        loa: Loa::Low,
        ..h.auth(&h.anna)
    };
    is(h.reg.accept(&anna_low, id).await, "login_not_fresh");
    assert_eq!(
        h.refusals(&h.karen).await,
        vec!["login_not_fresh"; 3],
        "each refusal audited under the caller"
    );
    assert_eq!(h.refusals(&h.anna).await, vec!["login_not_fresh"]);
}

#[tokio::test]
async fn an_under_age_or_incompetent_grantor_is_refused() {
    let h = harness().await;
    is(
        h.reg
            .prepare_grant(&h.auth(&h.ida), h.grant_to(&h.anna))
            .await,
        "under_age",
    );
    is(
        h.reg
            .prepare_grant(&h.auth(&h.erik), h.grant_to(&h.anna))
            .await,
        "not_legally_competent",
    );
    assert_eq!(h.refusals(&h.ida).await, vec!["under_age"]);
    assert_eq!(h.refusals(&h.erik).await, vec!["not_legally_competent"]);
    // From her fifteenth birthday Ida may.
    h.clock.advance(Duration::days(1));
    h.reg
        .prepare_grant(&h.auth(&h.ida), h.grant_to(&h.anna))
        .await
        .unwrap();
    // Nor may either hold one.
    is(
        h.reg
            .prepare_grant(&h.auth(&h.karen), h.grant_to(&h.erik))
            .await,
        "party_not_eligible",
    );
}

#[tokio::test]
async fn the_agent_must_be_another_registered_person() {
    let h = harness().await;
    is(
        h.reg
            .prepare_grant(&h.auth(&h.karen), h.grant_to(&h.karen))
            .await,
        "agent_is_grantor",
    );
    let unknown = GrantInput {
        agent: AgentRef::Person(Cpr::parse("0101019999").unwrap()),
        ..h.grant_to(&h.anna)
    };
    is(
        h.reg.prepare_grant(&h.auth(&h.karen), unknown).await,
        "person_unknown",
    );
    let foreign = Authenticated {
        person: PersonKey {
            upstream: "eidas".into(),
            subject: h.karen.id.to_string(),
        },
        ..h.auth(&h.karen)
    };
    is(
        h.reg.prepare_grant(&foreign, h.grant_to(&h.anna)).await,
        "not_in_register",
    );
}

#[tokio::test]
async fn a_validity_longer_than_the_maximum_is_refused() {
    let h = harness_with(RegistrySettings {
        max_validity: Duration::days(365),
        ..RegistrySettings::default()
    })
    .await;
    let long = GrantInput {
        valid_until: NOW + Duration::days(366),
        ..h.grant_to(&h.anna)
    };
    is(
        h.reg.prepare_grant(&h.auth(&h.karen), long).await,
        "validity_too_long",
    );
    let ok = GrantInput {
        valid_until: NOW + Duration::days(365),
        ..h.grant_to(&h.anna)
    };
    h.reg.prepare_grant(&h.auth(&h.karen), ok).await.unwrap();
}

#[tokio::test]
async fn only_the_confirmed_draft_of_the_grantor_is_granted() {
    let h = harness().await;
    let draft = h
        .reg
        .prepare_grant(&h.auth(&h.karen), h.grant_to(&h.anna))
        .await
        .unwrap();
    // A digest of something else (another agent, scope or period) matches nothing.
    let mut forged = draft.clone();
    forged.agent = eid_core::Party::Person(eid_core::RegisteredPerson {
        id: h.mikkel.id,
        key: key(&h.mikkel),
        cpr: h.mikkel.cpr.clone(),
        name: "Mikkel Jensen".into(),
    });
    forged.digest = forged.compute_digest();
    is(
        h.reg
            .confirm(&h.auth(&h.karen), &forged.confirmation())
            .await,
        "draft_mismatch",
    );
    // Another person cannot confirm Karen's draft (a forged principal).
    is(
        h.reg.confirm(&h.auth(&h.anna), &draft.confirmation()).await,
        "draft_unknown",
    );
    // An expired draft is gone.
    h.clock.advance(Duration::minutes(16));
    is(
        h.reg
            .confirm(
                &Authenticated {
                    auth_time: h.clock.now(),
                    ..h.auth(&h.karen)
                },
                &draft.confirmation(),
            )
            .await,
        "draft_unknown",
    );
    assert!(Confirmation::parse(&draft.id.to_string(), "00").is_none());
    assert!(h.reg.given(&h.auth(&h.karen), 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn an_agent_cannot_pass_on_a_power_of_attorney() {
    let h = harness().await;
    let id = h.granted(&h.karen, &h.anna).await;
    h.reg.accept(&h.auth(&h.anna), id).await.unwrap();
    // Anna logged in on Karen's behalf may change nothing in the registry.
    let as_karen = Authenticated {
        acting_for: Some(id.to_string()),
        ..h.auth(&h.anna)
    };
    is(
        h.reg.prepare_grant(&as_karen, h.grant_to(&h.mikkel)).await,
        "re_delegation",
    );
    is(h.reg.revoke(&as_karen, id).await, "re_delegation");
    assert_eq!(h.refusals(&h.anna).await, vec!["re_delegation"; 2]);
    // What Anna gives as herself is hers: Mikkel acts for Anna, never for Karen.
    let own = h.granted(&h.anna, &h.mikkel).await;
    h.reg.accept(&h.auth(&h.mikkel), own).await.unwrap();
    let found = h.usable(&h.mikkel, RP).await;
    assert_eq!(found.len(), 1);
    assert!(matches!(
        &found[0].principal,
        Principal::Person { person, .. } if *person == key(&h.anna)
    ));
}

#[tokio::test]
async fn a_request_is_active_only_after_the_principal_signs_it() {
    let h = harness().await;
    let request = RequestInput {
        principal: h.karen.cpr.clone(),
        scopes: vec![Scope::service(RP).unwrap()],
        access: Access::Read,
        valid_from: None,
        valid_until: NOW + Duration::days(10),
    };
    let view = h
        .reg
        .request(&h.auth(&h.anna), request.clone())
        .await
        .unwrap();
    assert_eq!(view.state, MandateState::Requested);
    assert!(h.usable(&h.anna, RP).await.is_empty(), "requested");
    is(
        h.reg
            .prepare_approval(&h.auth(&h.anna), view.record.id)
            .await,
        "wrong_party",
    );
    is(
        h.reg.accept(&h.auth(&h.anna), view.record.id).await,
        "wrong_state",
    );
    let draft = h
        .reg
        .prepare_approval(&h.auth(&h.karen), view.record.id)
        .await
        .unwrap();
    assert_eq!(draft.access, Access::Read);
    let view = h
        .reg
        .confirm(&h.auth(&h.karen), &draft.confirmation())
        .await
        .unwrap();
    assert_eq!(view.state, MandateState::Active);
    assert_eq!(h.usable(&h.anna, RP).await[0].access, Access::Read);

    // The principal may decline a request instead; an incompetent person cannot approve.
    let other = h.reg.request(&h.auth(&h.anna), request).await.unwrap();
    h.reg
        .decline(&h.auth(&h.karen), other.record.id)
        .await
        .unwrap();
    let to_erik = RequestInput {
        principal: h.erik.cpr.clone(),
        scopes: vec![Scope::service(RP).unwrap()],
        access: Access::Act,
        valid_from: None,
        valid_until: NOW + Duration::days(10),
    };
    let to_erik = h.reg.request(&h.auth(&h.anna), to_erik).await.unwrap();
    is(
        h.reg
            .prepare_approval(&h.auth(&h.erik), to_erik.record.id)
            .await,
        "not_legally_competent",
    );
}

#[tokio::test]
async fn a_scope_configured_without_acceptance_is_active_at_once() {
    let mut settings = RegistrySettings::default();
    settings
        .acceptance
        .insert(Scope::service(RP).unwrap(), false);
    let h = harness_with(settings).await;
    let id = h.granted(&h.karen, &h.anna).await;
    assert_eq!(h.usable(&h.anna, RP).await[0].id, id.to_string());
}

async fn demo_aps(h: &H) -> Cvr {
    let org = Organisation {
        cvr: Cvr::parse("12345678").unwrap(),
        name: "Demo ApS".into(),
        created_at: NOW,
    };
    assert!(
        h.reg
            .register_organisation(&org, &h.anna.cpr)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        h.reg
            .register_organisation(&org, &h.anna.cpr)
            .await
            .unwrap()
            .is_none(),
        "idempotent"
    );
    org.cvr
}

fn right_for(cvr: &Cvr, employee: &Person) -> RightInput {
    RightInput {
        organisation: cvr.clone(),
        employee: employee.cpr.clone(),
        scopes: vec![Scope::service(RP).unwrap()],
        privileges: vec![eid_core::Privilege::parse("urn:dk:demo:file").unwrap()],
        access: Access::Act,
        administrator: false,
        valid_until: None,
    }
}

#[tokio::test]
async fn only_an_administrator_manages_an_organisations_rights() {
    let h = harness().await;
    let cvr = demo_aps(&h).await;
    // Peter is no administrator: he cannot give himself (or anyone) a right.
    is(
        h.reg
            .assign_right(&h.auth(&h.peter), right_for(&cvr, &h.peter))
            .await,
        "not_administrator",
    );
    is(
        h.reg
            .organisation_mandates(&h.auth(&h.peter), &cvr, Side::Given, 10)
            .await,
        "not_administrator",
    );
    assert_eq!(h.refusals(&h.peter).await.len(), 2);
    // Anna (the first administrator) gives Peter a right; Peter logs in for Demo ApS.
    let right = h
        .reg
        .assign_right(&h.auth(&h.anna), right_for(&cvr, &h.peter))
        .await
        .unwrap();
    let found = h.usable(&h.peter, RP).await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].kind, MandateKind::BusinessRight);
    assert_eq!(
        found[0].principal,
        Principal::Organisation {
            cvr: "12345678".into(),
            name: "Demo ApS".into()
        }
    );
    assert_eq!(found[0].privileges, vec!["urn:dk:demo:file".to_owned()]);
    // Peter's right does not make him an administrator.
    is(
        h.reg
            .assign_right(&h.auth(&h.peter), right_for(&cvr, &h.mikkel))
            .await,
        "not_administrator",
    );
    // The administrator revokes it; both are told and audited.
    h.reg
        .revoke(&h.auth(&h.anna), right.record.id)
        .await
        .unwrap();
    assert!(h.usable(&h.peter, RP).await.is_empty());
    let events = AuditLog::for_person(&h.db, h.peter.id, 100).await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.kind == "delegation.revoked" && e.details["by"] == h.anna.id.to_string())
    );
    assert_eq!(
        h.reg.administered(&h.auth(&h.anna)).await.unwrap()[0].cvr,
        cvr
    );
}

#[tokio::test]
async fn a_business_power_reaches_the_employees_and_cannot_be_passed_on() {
    let h = harness().await;
    // Demo ApS (administered by Anna, Peter an employee with a right for the service) is the
    // accountant of Client A/S (administered by Karen).
    let firm = demo_aps(&h).await;
    h.reg
        .assign_right(&h.auth(&h.anna), right_for(&firm, &h.peter))
        .await
        .unwrap();
    let client = Organisation {
        cvr: Cvr::parse("87654321").unwrap(),
        name: "Client A/S".into(),
        created_at: NOW,
    };
    h.reg
        .register_organisation(&client, &h.karen.cpr)
        .await
        .unwrap();
    let power = PowerInput {
        principal: client.cvr.clone(),
        agent: firm.clone(),
        scopes: vec![Scope::service(RP).unwrap()],
        access: Access::Act,
        valid_until: None,
    };
    // Only Client A/S's administrator gives it.
    is(
        h.reg
            .grant_business_power(&h.auth(&h.peter), power.clone())
            .await,
        "not_administrator",
    );
    let view = h
        .reg
        .grant_business_power(&h.auth(&h.karen), power)
        .await
        .unwrap();
    assert_eq!(view.state, MandateState::Pending);
    // An administrator of the agent organisation accepts; an employee cannot.
    is(
        h.reg.accept(&h.auth(&h.peter), view.record.id).await,
        "not_found",
    );
    h.reg
        .accept(&h.auth(&h.anna), view.record.id)
        .await
        .unwrap();
    let found = h.usable(&h.peter, RP).await;
    assert!(found.iter().any(|m| m.kind == MandateKind::BusinessPower
        && m.principal
            == Principal::Organisation {
                cvr: "87654321".into(),
                name: "Client A/S".into()
            }));
    // Demo ApS cannot pass Client A/S's power on to a third organisation.
    let third = Organisation {
        cvr: Cvr::parse("11223344").unwrap(),
        name: "Third ApS".into(),
        created_at: NOW,
    };
    h.reg
        .register_organisation(&third, &h.mikkel.cpr)
        .await
        .unwrap();
    let pass_on = PowerInput {
        principal: client.cvr.clone(),
        agent: third.cvr.clone(),
        scopes: vec![Scope::service(RP).unwrap()],
        access: Access::Act,
        valid_until: None,
    };
    is(
        h.reg.grant_business_power(&h.auth(&h.anna), pass_on).await,
        "re_delegation",
    );
}
