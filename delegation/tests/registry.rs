//! The registry's rules over a real store (in-memory SQLite; the main flow also on PostgreSQL):
//! each rule with the negative test that fails when the rule is removed, the audit trail naming
//! both persons, notifications to both, and the broker's lookup.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use eid_core::{
    Access, AuditLog, Clock, Cpr, Loa, MandateKind, MandateState, PersonKey, Principal, Scope,
};
use eid_delegation::registry::{
    AgentRef, Authenticated, Confirmation, GrantInput, RegistrySettings, RequestInput,
};
use eid_store::SqlDurable;
use eid_store::notifications::NotificationOutbox;
use eid_store::testing::{TempPostgresDb, postgres_url_or_skip};
use support::*;
use time::Duration;

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

/// The events of `kind` about mandate `id` on `me`'s own log (by register id, the authenticator's
/// person id: the key the broker writes under too).
async fn on_log_of(
    h: &H,
    me: &eid_core::Person,
    kind: &str,
    id: &str,
) -> Vec<eid_core::AuditEvent> {
    AuditLog::for_person(&h.db, me.id, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == kind && e.details["mandate"] == id)
        .collect()
}

/// Each side of `kind` about `id`: once on each person's log, from their own side.
async fn on_both_sides(h: &H, kind: &str, id: &str) {
    for (me, other, role) in [
        (&h.karen, &h.anna, "principal"),
        (&h.anna, &h.karen, "agent"),
    ] {
        let events = on_log_of(h, me, kind, id).await;
        assert_eq!(
            events.len(),
            1,
            "{kind} on {}'s log: {events:?}",
            me.given_name
        );
        let e = &events[0];
        assert_eq!(e.person, Some(me.id));
        assert_eq!(
            key(me).subject,
            me.id.to_string(),
            "the broker's key of them"
        );
        assert_eq!(e.component, "delegation");
        assert_eq!(e.details["role"], role, "{kind}");
        assert_eq!(e.details["counterpart"], other.id.to_string());
        assert_eq!(e.details["mandate_kind"], "power_of_attorney");
        assert_eq!(e.details["scopes"], serde_json::json!([format!("rp:{RP}")]));
        let text = e.details.to_string();
        assert!(
            !text.contains(me.cpr.as_str()) && !text.contains(other.cpr.as_str()),
            "{text}"
        );
        assert!(!text.contains(&me.given_name), "no names: {text}");
    }
}

#[tokio::test]
async fn a_decline_and_an_expiry_are_on_both_persons_logs_from_their_own_side() {
    let h = harness().await;
    let declined = h.granted(&h.karen, &h.anna).await;
    on_both_sides(&h, "delegation.granted", &declined.to_string()).await;
    h.reg.decline(&h.auth(&h.anna), declined).await.unwrap();
    on_both_sides(&h, "delegation.declined", &declined.to_string()).await;
    // Who declined: named on the other's log only.
    let karens = on_log_of(&h, &h.karen, "delegation.declined", &declined.to_string()).await;
    assert_eq!(karens[0].details["by"], h.anna.id.to_string());
    let annas = on_log_of(&h, &h.anna, "delegation.declined", &declined.to_string()).await;
    assert!(annas[0].details.get("by").is_none());

    let expiring = h.granted(&h.karen, &h.anna).await;
    h.reg.accept(&h.auth(&h.anna), expiring).await.unwrap();
    h.clock.advance(Duration::days(31));
    assert_eq!(h.reg.expire_due(100).await.unwrap(), 1);
    on_both_sides(&h, "delegation.expired", &expiring.to_string()).await;
    let expired = on_log_of(&h, &h.karen, "delegation.expired", &expiring.to_string()).await;
    assert!(expired[0].details.get("by").is_none(), "nobody did it");
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
