//! Which upstream a login goes to: straight to the only one that fits, the identity chooser when
//! several do, a refusal when none does; and the chooser's own forms.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use eid_core::{Identity, Loa};
use eid_oidc::rp::UpstreamError;
use harness::*;

/// A foreign person `subject` as the eIDAS fake upstream vouches for them.
fn foreign(h: &Harness, subject: &str, loa: Loa) -> Identity {
    let mut identity = h.person(subject, loa);
    identity.person.upstream = EU_UPSTREAM.into();
    identity
}

#[tokio::test]
async fn with_one_upstream_the_login_goes_straight_to_it_without_a_chooser() {
    let h = Harness::new().await;
    h.upstream.answer(h.person("anna", Loa::Substantial));
    let mut browser = Client::new();
    let reply = h
        .authorize(&mut browser, RP_A, &[("acr_values", HIGH)])
        .await;
    assert!(!reply.is_chooser(), "{reply:?}");
    assert!(reply.goes_to(UPSTREAM_AUTHORIZE), "{reply:?}");
    let requests = h.upstream.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].acr_min, Some(Loa::High));
    assert_eq!(requests[0].service_name.as_deref(), Some("Service rp-a"));
    // The round trip is bound to this browser like a chosen one.
    let mut stranger = Client::at("203.0.113.9:40000");
    let state = reply.param("state").unwrap();
    assert_eq!(
        h.callback_with_state(&mut stranger, &state).await.status,
        400
    );
    h.upstream.answer(h.person("anna", Loa::High));
    h.callback(&mut browser, &reply).await.code_for(RP_A);
}

#[tokio::test]
async fn with_two_upstreams_the_chooser_offers_both_and_each_leads_to_its_own() {
    let h = Harness::two_upstreams().await;
    let mut browser = Client::new();
    let chooser = h
        .authorize(&mut browser, RP_A, &[("acr_values", HIGH)])
        .await;
    assert!(chooser.is_chooser(), "{chooser:?}");
    assert!(chooser.body.contains("Service rp-a"), "names the service");
    assert!(chooser.body.contains("Høj"), "says the level, in Danish");
    assert!(
        chooser.body.contains("id=\"choose-idp\""),
        "{}",
        chooser.body
    );
    assert!(
        chooser.body.contains("id=\"choose-eidas\""),
        "{}",
        chooser.body
    );
    assert!(h.upstream.requests().is_empty() && h.eu_upstream.requests().is_empty());

    let to_eu = h.choose_upstream(&mut browser, &chooser, EU_UPSTREAM).await;
    assert!(to_eu.goes_to(EU_UPSTREAM_AUTHORIZE), "{to_eu:?}");
    assert_eq!(h.eu_upstream.requests()[0].acr_min, Some(Loa::High));
    assert!(h.upstream.requests().is_empty());
    h.eu_upstream.answer(foreign(&h, "pierre", Loa::High));
    let state = to_eu.param("state").unwrap();
    let back = h.callback_of(&mut browser, EU_UPSTREAM, &state).await;
    let (_, claims) = h.id_token(RP_A, &back.code_for(RP_A)).await;
    assert_eq!(claims["acr"], HIGH);

    // Another browser chooses the national one.
    let mut other = Client::at("192.0.2.2:50000");
    h.upstream.answer(h.person("anna", Loa::Substantial));
    h.login(&mut other, RP_B, &[]).await.code_for(RP_B);
    assert_eq!(h.upstream.requests().len(), 1);
}

#[tokio::test]
async fn a_step_up_goes_straight_to_the_upstream_of_the_sessions_person() {
    let h = Harness::two_upstreams().await;
    let mut browser = Client::new();
    let chooser = h.authorize(&mut browser, RP_A, &[]).await;
    let to_eu = h.choose_upstream(&mut browser, &chooser, EU_UPSTREAM).await;
    h.eu_upstream
        .answer(foreign(&h, "pierre", Loa::Substantial));
    let state = to_eu.param("state").unwrap();
    let first = h.callback_of(&mut browser, EU_UPSTREAM, &state).await;
    let sub = h.id_token(RP_A, &first.code_for(RP_A)).await.1["sub"].clone();

    // Only the session's upstream can raise this person's level: no chooser.
    let step_up = h
        .authorize(&mut browser, RP_A, &[("acr_values", HIGH)])
        .await;
    assert!(step_up.goes_to(EU_UPSTREAM_AUTHORIZE), "{step_up:?}");
    let asked = h.eu_upstream.requests().pop().unwrap();
    assert_eq!(asked.acr_min, Some(Loa::High));
    assert!(asked.force_login, "the upstream must authenticate again");
    assert!(h.upstream.requests().is_empty());
    h.eu_upstream.answer(foreign(&h, "pierre", Loa::High));
    let state = step_up.param("state").unwrap();
    let back = h.callback_of(&mut browser, EU_UPSTREAM, &state).await;
    let (_, claims) = h.id_token(RP_A, &back.code_for(RP_A)).await;
    assert_eq!((&claims["acr"], &claims["sub"]), (&HIGH.into(), &sub));

    // A forced login may be anyone's: the chooser again.
    let forced = h
        .authorize(&mut browser, RP_A, &[("prompt", "login")])
        .await;
    assert!(forced.is_chooser(), "{forced:?}");
}

#[tokio::test]
async fn choosing_an_upstream_that_does_not_fit_is_refused_audited_and_ends_the_login() {
    let h = Harness::two_upstreams().await;
    let mut browser = Client::new();
    let chooser = h.authorize(&mut browser, RP_A, &[]).await;
    let tx = chooser.input("tx");

    let forged = h
        .post(
            &mut browser,
            "/login/start",
            &[("tx", &tx), ("csrf", "forged"), ("upstream", UPSTREAM)],
        )
        .await;
    assert_eq!(forged.status, 403, "{forged:?}");
    assert_eq!(forged.location, None);
    assert_eq!(h.audited("form.csrf_rejected").await.len(), 1);

    let unknown = h.choose_upstream(&mut browser, &chooser, "nowhere").await;
    assert_eq!(unknown.status, 400, "{unknown:?}");
    assert_eq!(unknown.location, None);
    let rejected = h.audited("login.start_rejected").await;
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].client.as_deref(), Some(RP_A));
    assert_eq!(rejected[0].details["upstream"], "nowhere");

    // The login is over: a forged form cannot be retried into more audit events.
    let again = h.choose(&mut browser, &chooser).await;
    assert_eq!(again.status, 400, "{again:?}");
    assert!(h.upstream.requests().is_empty() && h.eu_upstream.requests().is_empty());
    assert_eq!(h.audited("login.start_rejected").await.len(), 1);
}

#[tokio::test]
async fn cancelling_on_the_chooser_is_access_denied_and_needs_the_csrf_token() {
    let h = Harness::two_upstreams().await;
    let mut browser = Client::new();
    let chooser = h.authorize(&mut browser, RP_A, &[]).await;
    assert!(chooser.is_chooser(), "{chooser:?}");
    let tx = chooser.input("tx");

    let forged = h
        .post(
            &mut browser,
            "/login/cancel",
            &[("tx", &tx), ("csrf", "forged")],
        )
        .await;
    assert!((400..500).contains(&forged.status), "{forged:?}");
    assert_eq!(forged.location, None);
    assert_eq!(h.audited("form.csrf_rejected").await.len(), 1);

    let cancelled = h
        .post(
            &mut browser,
            "/login/cancel",
            &[("tx", &tx), ("csrf", &chooser.input("csrf"))],
        )
        .await;
    assert_eq!(cancelled.error_for(RP_A), "access_denied");
    assert!(h.upstream.requests().is_empty());

    // The login is over: it can be neither cancelled again nor started.
    let again = h.choose(&mut browser, &chooser).await;
    assert!((400..500).contains(&again.status), "{again:?}");
}

/// The audit events of a login's kinds, without their times and ids.
async fn trail(h: &Harness) -> Vec<(String, Option<String>, serde_json::Value)> {
    let mut trail = Vec::new();
    for kind in [
        "login.success",
        "upstream.login_failed",
        "login.refused",
        "login.start_rejected",
        "token.issued",
    ] {
        for e in h.audited(kind).await {
            trail.push((e.kind, e.client, serde_json::json!(e.details)));
        }
    }
    trail
}

#[tokio::test]
async fn a_skipped_chooser_is_audited_like_a_chosen_upstream_and_a_cancel_there_is_access_denied() {
    let skipped = Harness::new().await;
    let chosen = Harness::two_upstreams().await;
    for h in [&skipped, &chosen] {
        let mut browser = Client::new();
        h.upstream.fail(UpstreamError::Refused {
            error: "access_denied".into(),
            description: Some("the person cancelled".into()),
        });
        let cancelled = h.login(&mut browser, RP_A, &[]).await;
        assert_eq!(cancelled.error_for(RP_A), "access_denied");
        assert_eq!(
            cancelled.param("error_description").as_deref(),
            Some("the login was not completed")
        );
        let code = h
            .login_as(&mut browser, RP_A, &h.person("anna", Loa::Substantial))
            .await;
        h.redeem(RP_A, &code).await;
    }
    let trail_skipped = trail(&skipped).await;
    assert_eq!(trail_skipped.len(), 3, "{trail_skipped:?}");
    assert_eq!(trail_skipped, trail(&chosen).await);
}

#[tokio::test]
async fn when_no_upstream_fits_the_relying_party_gets_access_denied() {
    let h = Harness::no_upstreams().await;
    let mut browser = Client::new();
    let refused = h.authorize(&mut browser, RP_A, &[]).await;
    assert_eq!(refused.error_for(RP_A), "access_denied");
    assert_eq!(
        refused.param("error_description").as_deref(),
        Some("no identity provider can serve this login")
    );
    let audited = h.audited("login.refused").await;
    assert_eq!(audited.len(), 1);
    assert_eq!(audited[0].client.as_deref(), Some(RP_A));
    // A request that forbids interaction is still told that a login is needed.
    let passive = h.authorize(&mut browser, RP_A, &[("prompt", "none")]).await;
    assert_eq!(passive.error_for(RP_A), "login_required");
}
