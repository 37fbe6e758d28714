//! The self-service portal, end to end over HTTP: logging in through the broker (a stand-in
//! provider), giving a power of attorney through the sign step after a fresh login, accepting,
//! declining, revoking, asking and approving, organisation administration, and the refusals:
//! stale or weak logins sent back to the broker, a session acting for someone, forged forms.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod portal_support;

use eid_core::{Access, Loa, MandateState, PartyKey, Scope, Side};
use eid_delegation::registry::{AgentRef, Authenticated, GrantInput};
use eid_testkit::Browser;
use portal_support::*;
use serde_json::json;

const HOUR: i64 = 3600;

/// Everything `p` gave, as stored.
async fn given(h: &Harness, p: &eid_core::Person) -> Vec<eid_core::MandateRecord> {
    eid_core::DelegationRepository::mandates_of(&h.db, PartyKey::Person(&h.key(p)), Side::Given, 50)
        .await
        .unwrap()
}

/// Everything `p` holds, as stored.
async fn held_by(h: &Harness, p: &eid_core::Person) -> Vec<eid_core::MandateRecord> {
    eid_core::DelegationRepository::mandates_of(&h.db, PartyKey::Person(&h.key(p)), Side::Held, 50)
        .await
        .unwrap()
}

fn fresh(h: &Harness, p: &eid_core::Person) -> Authenticated {
    Authenticated {
        person: h.key(p),
        loa: Loa::Substantial,
        auth_time: eid_core::Clock::now(&h.clock),
        acting_for: None,
    }
}

/// Anna gives Mikkel a power of attorney through the registry (pending his acceptance).
async fn anna_grants_mikkel(h: &Harness) -> eid_core::MandateId {
    let draft = h
        .reg
        .prepare_grant(
            &fresh(h, &h.anna),
            GrantInput {
                agent: AgentRef::Person(h.mikkel.cpr.clone()),
                scopes: vec![Scope::service("demo-rp").unwrap()],
                access: Access::Act,
                valid_from: None,
                valid_until: eid_core::Clock::now(&h.clock) + time::Duration::days(30),
            },
        )
        .await
        .unwrap();
    h.reg
        .confirm(&fresh(h, &h.anna), &draft.confirmation())
        .await
        .unwrap()
        .record
        .id
}

fn grant_form<'a>(h: &Harness, csrf: &'a str, holder: &'a str) -> Vec<(&'static str, String)> {
    vec![
        ("csrf", csrf.to_owned()),
        ("holder", holder.to_owned()),
        ("scope", "rp:demo-rp".into()),
        ("access", "act".into()),
        ("through", h.in_days(30)),
    ]
}

async fn post(
    browser: &Browser,
    url: &str,
    form: &[(&'static str, String)],
) -> eid_testkit::client::Page {
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    browser.post(url, &form, AWAY).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_grant_is_signed_after_a_fresh_login_and_the_agent_accepts_it() {
    let h = Harness::new().await;
    let anna = Browser::new();
    // Anna logged in an hour ago at Substantial: fine for reading, too old to give.
    let overview = h.login(&anna, &h.anna, Loa::Substantial, HOUR).await;
    assert_eq!(overview.status, 200, "{}", overview.body);
    assert!(overview.body.contains("Anna Jensen"), "{}", overview.body);
    let logins = h.authorize_count();
    let csrf = h.csrf(&anna).await;
    // The form goes to its sign page, through the broker for a fresh login first.
    h.next_login(&h.anna, Loa::Substantial, 0);
    let sign = post(
        &anna,
        &h.url("/grant"),
        &grant_form(&h, &csrf, "221100-9993"),
    )
    .await;
    assert_eq!(h.authorize_count(), logins + 1, "sent back to the broker");
    let again = h.last_authorize();
    assert_eq!(again["prompt"], "login");
    assert_eq!(again["max_age"], "300");
    assert_eq!(again["acr_values"], Loa::Substantial.as_uri());
    assert_eq!(sign.status, 200, "{}", sign.body);
    assert!(op_path(&sign).starts_with("/confirm/"));
    // The sign page shows exactly what is granted: Mikkel's name (never his CPR number), the
    // service by name, what he may do; nothing is stored yet.
    assert!(sign.body.contains("Mikkel Jensen"), "{}", sign.body);
    assert!(sign.body.contains("Demo service"), "{}", sign.body);
    assert!(!sign.body.contains("2211009993") && !sign.body.contains("221100-9993"));
    assert!(
        given(&h, &h.anna).await.is_empty(),
        "nothing before the signature"
    );
    // A confirmation of anything but the digest shown is refused.
    let confirm = h.url(&op_path(&sign));
    let forged = post(
        &anna,
        &confirm,
        &[("csrf", csrf.clone()), ("digest", "0".repeat(64))],
    )
    .await;
    assert_eq!(forged.status, 400, "{}", forged.body);
    assert!(given(&h, &h.anna).await.is_empty());
    // Signing gives it, pending Mikkel's acceptance.
    let done = post(
        &anna,
        &confirm,
        &[
            ("csrf", csrf.clone()),
            ("digest", sign.must_input("digest")),
        ],
    )
    .await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.url.contains("/done/"), "{}", done.url);
    let stored = given(&h, &h.anna).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].state, MandateState::Pending);
    // Confirming twice does not give twice.
    post(
        &anna,
        &confirm,
        &[
            ("csrf", csrf.clone()),
            ("digest", sign.must_input("digest")),
        ],
    )
    .await;
    assert_eq!(given(&h, &h.anna).await.len(), 1);
    let id = stored[0].id.to_string();

    // Mikkel sees it waiting, accepts after a fresh login, and it is active.
    let mikkel = Browser::new();
    let overview = h.login(&mikkel, &h.mikkel, Loa::Substantial, 0).await;
    assert!(
        overview.body.contains(&format!("accept-{id}")),
        "{}",
        overview.body
    );
    let csrf = h.csrf(&mikkel).await;
    let page = post(
        &mikkel,
        &h.url("/action"),
        &[
            ("csrf", csrf.clone()),
            ("mandate", id.clone()),
            ("action", "accept".into()),
        ],
    )
    .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Anna Jensen"), "{}", page.body);
    let done = post(&mikkel, &h.url(&op_path(&page)), &[("csrf", csrf)]).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(given(&h, &h.anna).await[0].state, MandateState::Active);
    // Both were told.
    let messages = mikkel.get(&h.url("/messages"), AWAY).await;
    assert!(
        messages.body.contains("A power of attorney was given")
            || messages.body.contains("En fuldmagt er givet"),
        "{}",
        messages.body
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_login_below_substantial_is_sent_back_to_the_broker_before_signing() {
    let h = Harness::new().await;
    let anna = Browser::new();
    h.login(&anna, &h.anna, Loa::Low, 0).await;
    let csrf = h.csrf(&anna).await;
    // The broker answers with a Low login again: the portal does not sign with it.
    h.next_login(&h.anna, Loa::Low, 0);
    let page = post(
        &anna,
        &h.url("/grant"),
        &grant_form(&h, &csrf, "2211009993"),
    )
    .await;
    assert_eq!(h.last_authorize()["acr_values"], Loa::Substantial.as_uri());
    // The relying-party client refuses an ID token below the level asked for.
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(given(&h, &h.anna).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_agent_declines_and_the_principal_revokes_with_a_confirmation() {
    let h = Harness::new().await;
    let first = anna_grants_mikkel(&h).await;
    let second = anna_grants_mikkel(&h).await;
    // Mikkel, logged in long ago at Low: declining takes nothing from anyone.
    let mikkel = Browser::new();
    h.login(&mikkel, &h.mikkel, Loa::Low, HOUR).await;
    let csrf = h.csrf(&mikkel).await;
    let logins = h.authorize_count();
    let page = post(
        &mikkel,
        &h.url("/action"),
        &[
            ("csrf", csrf.clone()),
            ("mandate", first.to_string()),
            ("action", "decline".into()),
        ],
    )
    .await;
    assert_eq!(page.status, 200, "{}", page.body);
    post(&mikkel, &h.url(&op_path(&page)), &[("csrf", csrf)]).await;
    assert_eq!(h.authorize_count(), logins, "no new login needed");
    let state = |id| {
        let h = &h;
        async move {
            eid_core::DelegationRepository::mandate_record(&h.db, id)
                .await
                .unwrap()
                .unwrap()
                .state
        }
    };
    assert_eq!(state(first).await, MandateState::Declined);
    // Anna revokes the other: a confirmation page first, then it is gone.
    let anna = Browser::new();
    h.login(&anna, &h.anna, Loa::Low, HOUR).await;
    let csrf = h.csrf(&anna).await;
    let page = post(
        &anna,
        &h.url("/action"),
        &[
            ("csrf", csrf.clone()),
            ("mandate", second.to_string()),
            ("action", "revoke".into()),
        ],
    )
    .await;
    assert!(page.body.contains("id=\"confirm\""), "{}", page.body);
    assert_eq!(
        state(second).await,
        MandateState::Pending,
        "not before the confirmation"
    );
    let done = post(&anna, &h.url(&op_path(&page)), &[("csrf", csrf)]).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(state(second).await, MandateState::Revoked);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_asks_and_the_principal_approves_through_the_sign_step() {
    let h = Harness::new().await;
    let mikkel = Browser::new();
    h.login(&mikkel, &h.mikkel, Loa::Substantial, 0).await;
    let csrf = h.csrf(&mikkel).await;
    let page = post(
        &mikkel,
        &h.url("/request"),
        &[
            ("csrf", csrf.clone()),
            ("principal", "010770-9991".into()),
            ("scope", "area:housing-benefit".into()),
            ("access", "read".into()),
            ("through", h.in_days(60)),
        ],
    )
    .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Housing benefit"), "{}", page.body);
    post(&mikkel, &h.url(&op_path(&page)), &[("csrf", csrf)]).await;
    let asked = given(&h, &h.anna).await;
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].state, MandateState::Requested);
    let id = asked[0].id.to_string();
    // Anna approves: her (old) login is refreshed first, then she signs the request as asked.
    let anna = Browser::new();
    let overview = h.login(&anna, &h.anna, Loa::Substantial, HOUR).await;
    assert!(
        overview.body.contains(&format!("approve-{id}")),
        "{}",
        overview.body
    );
    let csrf = h.csrf(&anna).await;
    h.next_login(&h.anna, Loa::Substantial, 0);
    let sign = post(
        &anna,
        &h.url("/action"),
        &[
            ("csrf", csrf.clone()),
            ("mandate", id.clone()),
            ("action", "approve".into()),
        ],
    )
    .await;
    assert_eq!(h.last_authorize()["prompt"], "login");
    assert!(
        sign.body.contains("Mikkel Jensen") && sign.body.contains("Housing benefit"),
        "{}",
        sign.body
    );
    let done = post(
        &anna,
        &h.url(&op_path(&sign)),
        &[("csrf", csrf), ("digest", sign.must_input("digest"))],
    )
    .await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(given(&h, &h.anna).await[0].state, MandateState::Active);
}

#[tokio::test(flavor = "multi_thread")]
async fn only_an_administrator_manages_an_organisation() {
    let h = Harness::new().await;
    h.demo_aps().await;
    // Peter administers nothing: the list is empty, the organisation's page and its forms refused.
    let peter = Browser::new();
    h.login(&peter, &h.peter, Loa::Substantial, 0).await;
    let list = peter.get(&h.url("/organisations"), AWAY).await;
    assert!(
        !list.body.contains("/organisations/12345678"),
        "{}",
        list.body
    );
    let page = peter.get(&h.url("/organisations/12345678"), AWAY).await;
    assert_eq!(page.status, 403, "{}", page.body);
    let csrf = h.csrf(&peter).await;
    let right = [
        ("csrf", csrf.clone()),
        ("employee", "0905859994".into()),
        ("scope", "rp:demo-rp".into()),
        ("privileges", "urn:dk:demo:privilege:apply".into()),
        ("access", "act".into()),
    ];
    let confirm = post(&peter, &h.url("/organisations/12345678/rights"), &right).await;
    let refused = post(&peter, &h.url(&op_path(&confirm)), &[("csrf", csrf)]).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(
        h.refusals(&h.peter)
            .await
            .contains(&"not_administrator".to_owned())
    );
    assert!(held_by(&h, &h.peter).await.is_empty());
    // Anna, its administrator, assigns Peter the right.
    let anna = Browser::new();
    h.login(&anna, &h.anna, Loa::Substantial, 0).await;
    let list = anna.get(&h.url("/organisations"), AWAY).await;
    assert!(
        list.body.contains("/organisations/12345678"),
        "{}",
        list.body
    );
    let csrf = h.csrf(&anna).await;
    let mut right = right.to_vec();
    right[0].1 = csrf.clone();
    let confirm = post(&anna, &h.url("/organisations/12345678/rights"), &right).await;
    assert!(
        confirm.body.contains("urn:dk:demo:privilege:apply"),
        "{}",
        confirm.body
    );
    let done = post(&anna, &h.url(&op_path(&confirm)), &[("csrf", csrf)]).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(held_by(&h, &h.peter).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_acting_for_someone_changes_nothing() {
    let h = Harness::new().await;
    let id = anna_grants_mikkel(&h).await;
    // Mikkel logged in on behalf of Anna: `sub` is hers, `act` names him.
    let browser = Browser::new();
    h.next_login_as(Login {
        sub: format!("idp:{}", h.anna.id),
        loa: Loa::Substantial,
        age: 0,
        name: "Anna Jensen".into(),
        extra: json!({
            "act": { "sub": "mikkel-pairwise" },
            "authorization_details": [{ "type": "urn:eidbroker:mandate", "identifier": id.to_string() }],
        }),
    });
    let home = browser.get(&h.url("/"), AWAY).await;
    let overview = browser
        .post(
            &h.url("/login"),
            &[("csrf", &home.must_input("csrf"))],
            AWAY,
        )
        .await;
    assert_eq!(
        overview.status, 403,
        "reading is for the person themselves: {}",
        overview.body
    );
    let csrf = home.must_input("csrf");
    // Revoking Anna's power from her session as Mikkel: refused by the registry and audited.
    let page = post(
        &browser,
        &h.url("/action"),
        &[
            ("csrf", csrf.clone()),
            ("mandate", id.to_string()),
            ("action", "revoke".into()),
        ],
    )
    .await;
    let refused = post(&browser, &h.url(&op_path(&page)), &[("csrf", csrf.clone())]).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    // Giving a power as Anna: refused too, without a round trip to the broker.
    let logins = h.authorize_count();
    let sign = post(
        &browser,
        &h.url("/grant"),
        &grant_form(&h, &csrf, "0905859994"),
    )
    .await;
    assert_eq!(sign.status, 403, "{}", sign.body);
    assert_eq!(h.authorize_count(), logins);
    assert_eq!(given(&h, &h.anna).await.len(), 1);
    assert_eq!(given(&h, &h.anna).await[0].state, MandateState::Pending);
    // Each attempt was audited as a refusal under Anna's key (the page, the revocation, the grant).
    let reasons = h.refusals(&h.anna).await;
    assert!(
        reasons.iter().filter(|r| *r == "re_delegation").count() >= 2,
        "{reasons:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn forms_without_this_browsers_csrf_token_are_refused() {
    let h = Harness::new().await;
    let id = anna_grants_mikkel(&h).await;
    let mikkel = Browser::new();
    h.login(&mikkel, &h.mikkel, Loa::Substantial, 0).await;
    let csrf = h.csrf(&mikkel).await;
    let other = Browser::new();
    let foreign = other.get(&h.url("/"), AWAY).await.must_input("csrf");
    for token in ["", foreign.as_str()] {
        let page = post(
            &mikkel,
            &h.url("/action"),
            &[
                ("csrf", token.into()),
                ("mandate", id.to_string()),
                ("action", "accept".into()),
            ],
        )
        .await;
        assert_eq!(page.status, 403, "{}", page.body);
        let page = post(
            &mikkel,
            &h.url("/grant"),
            &grant_form(&h, token, "0107709991"),
        )
        .await;
        assert_eq!(page.status, 403, "{}", page.body);
    }
    // A confirmation with a forged token does nothing either.
    let page = post(
        &mikkel,
        &h.url("/action"),
        &[
            ("csrf", csrf.clone()),
            ("mandate", id.to_string()),
            ("action", "accept".into()),
        ],
    )
    .await;
    let confirm = h.url(&op_path(&page));
    let refused = post(&mikkel, &confirm, &[("csrf", foreign)]).await;
    assert_eq!(refused.status, 403);
    assert_eq!(given(&h, &h.anna).await[0].state, MandateState::Pending);
    post(&mikkel, &confirm, &[("csrf", csrf)]).await;
    assert_eq!(given(&h, &h.anna).await[0].state, MandateState::Active);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_subject_that_is_not_a_person_key_is_refused_at_login() {
    let h = Harness::new().await;
    let browser = Browser::new();
    h.next_login_as(Login {
        sub: "5f0c3a52-8f3e-4a57-9b7c-2f1d7a0e4c11".into(),
        loa: Loa::Substantial,
        age: 0,
        name: "Someone".into(),
        extra: json!({}),
    });
    let home = browser.get(&h.url("/"), AWAY).await;
    let page = browser
        .post(
            &h.url("/login"),
            &[("csrf", &home.must_input("csrf"))],
            AWAY,
        )
        .await;
    assert_eq!(page.status, 403, "{}", page.body);
    // No session: the home page offers the login again.
    let home = browser.get(&h.url("/"), AWAY).await;
    assert!(home.body.contains("id=\"login\""), "{}", home.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_form_error_says_what_to_fix_and_keeps_what_was_entered() {
    let h = Harness::new().await;
    let anna = Browser::new();
    h.login(&anna, &h.anna, Loa::Substantial, 0).await;
    let csrf = h.csrf(&anna).await;
    let mut form = grant_form(&h, &csrf, "12");
    form.push(("scope", "rp:not-offered".into()));
    let page = post(&anna, &h.url("/grant"), &form).await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(page.body.contains("id=\"form-error\""), "{}", page.body);
    assert!(page.body.contains("aria-invalid=\"true\""), "{}", page.body);
    assert!(page.body.contains(&h.in_days(30)), "the date is kept");
    // Logging out ends the portal's session and goes through the broker's logout.
    let out = anna.post(&h.url("/logout"), &[("csrf", &csrf)], AWAY).await;
    assert!(out.body.contains("id=\"login\""), "{}", out.body);
    let before = h.authorize_count();
    anna.get(&h.url("/messages"), AWAY).await;
    assert_eq!(h.authorize_count(), before + 1, "a new login is needed");
}
