//! The broker's login, single sign-on, step-up, refusal, token and logout flows end to end through
//! its router, with a fake upstream in place of the identity providers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use eid_core::Loa;
use eid_oidc::rp::UpstreamError;
use harness::*;

#[tokio::test]
async fn a_login_through_the_only_upstream_ends_in_an_id_token_naming_the_person() {
    let h = Harness::new().await;
    let anna = h.person("anna", Loa::Substantial);
    h.upstream.answer(anna.clone());
    let mut browser = Client::new();
    let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
    browser.headers.push(("user-agent", firefox.to_owned()));

    // One upstream fits: no chooser, straight to it.
    let to_upstream = h.authorize(&mut browser, RP_A, &[]).await;
    assert!(!to_upstream.is_chooser(), "{to_upstream:?}");
    assert_eq!(to_upstream.status, 303, "{to_upstream:?}");
    assert!(to_upstream.goes_to(UPSTREAM_AUTHORIZE), "{to_upstream:?}");
    assert!(browser.cookies.contains_key("broker_browser"));
    assert!(!browser.has_session());
    let requests = h.upstream.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].acr_min, None);
    assert!(!requests[0].force_login);

    let back = h.callback(&mut browser, &to_upstream).await;
    let code = back.code_for(RP_A);
    assert!(browser.has_session(), "the login starts an SSO session");

    let (_, claims) = h.id_token(RP_A, &code).await;
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["aud"], RP_A);
    assert_eq!(claims["acr"], SUBSTANTIAL);
    assert_eq!(claims["nonce"], "nonce-rp-a");
    assert_eq!(claims["sub"], expected_sub(RP_A, "anna").as_str());
    assert_ne!(claims["sub"], "anna", "the subject is pairwise");

    let login = h.audited("login.success").await;
    assert_eq!(login.len(), 1);
    assert_eq!(login[0].person, Some(anna.audit_id));
    assert_eq!(login[0].client.as_deref(), Some(RP_A));
    // A coarse name of the browser for the person's own log, never the header itself.
    assert_eq!(login[0].details["browser"], "Firefox on Linux");
    let stored = serde_json::to_string(&login[0]).unwrap();
    assert!(
        !stored.contains("rv:128.0") && !stored.contains("Gecko"),
        "{stored}"
    );
    let issued = h.audited("token.issued").await;
    assert_eq!(issued.len(), 1);
    assert_eq!(issued[0].person, Some(anna.audit_id));
    assert_eq!(issued[0].details["loa"], "Substantial");
    assert_eq!(
        issued[0].details["attributes"],
        serde_json::json!([]),
        "RP A may have nothing"
    );
    let mine: Vec<String> = h
        .audited_for(anna.audit_id)
        .await
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(mine.contains(&"login.success".to_owned()), "{mine:?}");
    assert!(mine.contains(&"token.issued".to_owned()), "{mine:?}");
    assert!(h.audited_for(uuid::Uuid::new_v4()).await.is_empty());
}

#[tokio::test]
async fn a_second_request_with_the_session_is_answered_without_the_chooser() {
    let h = Harness::new().await;
    let anna = h.person("anna", Loa::Substantial);
    let mut browser = Client::new();
    let first = h.login_as(&mut browser, RP_A, &anna).await;
    let first_sub = h.id_token(RP_A, &first).await.1["sub"].clone();

    let again = h.authorize(&mut browser, RP_B, &[]).await;
    let code = again.code_for(RP_B);
    assert_eq!(h.upstream.requests().len(), 1, "no second upstream login");
    let (_, claims) = h.id_token(RP_B, &code).await;
    assert_eq!(claims["sub"], expected_sub(RP_B, "anna").as_str());
    assert_ne!(claims["sub"], first_sub, "another sector, another sub");
    assert_eq!(claims["acr"], SUBSTANTIAL);
    assert_eq!(claims["nonce"], "nonce-rp-b");

    // Another browser has no session and goes to the upstream.
    let mut other = Client::at("192.0.2.2:50000");
    let elsewhere = h.authorize(&mut other, RP_B, &[]).await;
    assert!(elsewhere.goes_to(UPSTREAM_AUTHORIZE), "{elsewhere:?}");
    assert_eq!(h.upstream.requests().len(), 2);
}

#[tokio::test]
async fn asking_for_high_over_a_substantial_session_steps_up_at_the_upstream() {
    let h = Harness::new().await;
    let mut browser = Client::new();
    h.login_as(&mut browser, RP_A, &h.person("anna", Loa::Substantial))
        .await;

    let to_upstream = h
        .authorize(&mut browser, RP_A, &[("acr_values", HIGH)])
        .await;
    assert!(
        to_upstream.goes_to(UPSTREAM_AUTHORIZE),
        "a step-up needs the upstream: {to_upstream:?}"
    );
    let step_up = h.upstream.requests().pop().unwrap();
    assert_eq!(step_up.acr_min, Some(Loa::High));
    assert!(step_up.force_login, "the upstream must authenticate again");

    h.upstream.answer(h.person("anna", Loa::High));
    let back = h.callback(&mut browser, &to_upstream).await;
    let (_, claims) = h.id_token(RP_A, &back.code_for(RP_A)).await;
    assert_eq!(claims["acr"], HIGH);
    assert_eq!(claims["sub"], expected_sub(RP_A, "anna").as_str());

    // The session is High now: a further High request is answered from it.
    let sso = h
        .authorize(&mut browser, RP_B, &[("acr_values", HIGH)])
        .await;
    let (_, claims) = h.id_token(RP_B, &sso.code_for(RP_B)).await;
    assert_eq!(claims["acr"], HIGH);
    assert_eq!(h.upstream.requests().len(), 2);
}

#[tokio::test]
async fn prompt_none_needs_a_sufficient_session() {
    let h = Harness::new().await;
    let mut browser = Client::new();
    let without = h.authorize(&mut browser, RP_A, &[("prompt", "none")]).await;
    assert_eq!(without.error_for(RP_A), "login_required");
    assert!(h.upstream.requests().is_empty());

    h.login_as(&mut browser, RP_A, &h.person("anna", Loa::Substantial))
        .await;
    let with = h.authorize(&mut browser, RP_B, &[("prompt", "none")]).await;
    let (_, claims) = h.id_token(RP_B, &with.code_for(RP_B)).await;
    assert_eq!(claims["sub"], expected_sub(RP_B, "anna").as_str());

    // A session below the requested level is not sufficient, and prompt=none forbids the step-up.
    let too_weak = h
        .authorize(
            &mut browser,
            RP_B,
            &[("prompt", "none"), ("acr_values", HIGH)],
        )
        .await;
    assert_eq!(too_weak.error_for(RP_B), "login_required");
    assert_eq!(h.upstream.requests().len(), 1);
}

#[tokio::test]
async fn an_upstream_login_below_the_requested_level_is_refused_to_the_relying_party() {
    let h = Harness::new().await;
    let mut browser = Client::new();
    h.upstream.answer(h.person("anna", Loa::Substantial));
    let back = h.login(&mut browser, RP_A, &[("acr_values", HIGH)]).await;
    assert_eq!(back.error_for(RP_A), "access_denied");
    assert_eq!(h.upstream.requests()[0].acr_min, Some(Loa::High));
    assert_eq!(
        back.param("error_description").as_deref(),
        Some("level of assurance not reached")
    );
    // Nothing at High was released, and the session that did start is no High session.
    assert!(browser.has_session(), "the person did log in");
    let high = h
        .authorize(
            &mut browser,
            RP_A,
            &[("prompt", "none"), ("acr_values", HIGH)],
        )
        .await;
    assert_eq!(high.error_for(RP_A), "login_required");
    let substantial = h
        .authorize(
            &mut browser,
            RP_A,
            &[("prompt", "none"), ("acr_values", SUBSTANTIAL)],
        )
        .await;
    substantial.code_for(RP_A);
}

#[tokio::test]
async fn an_upstream_refusal_or_too_low_level_is_access_denied() {
    let h = Harness::new().await;
    let mut browser = Client::new();
    h.upstream.fail(UpstreamError::Refused {
        error: "access_denied".into(),
        description: Some("the person cancelled".into()),
    });
    let back = h.login(&mut browser, RP_A, &[]).await;
    assert_eq!(back.error_for(RP_A), "access_denied");
    assert!(!browser.has_session());

    h.upstream.fail(UpstreamError::AcrTooLow {
        requested: Loa::High,
        got: Some(Loa::Substantial),
    });
    let back = h.login(&mut browser, RP_A, &[("acr_values", HIGH)]).await;
    assert_eq!(back.error_for(RP_A), "access_denied");
    assert!(!browser.has_session());

    let failed = h.audited("upstream.login_failed").await;
    assert_eq!(failed.len(), 2);
    assert!(h.audited("login.success").await.is_empty());
}

#[tokio::test]
async fn an_unknown_or_replayed_callback_state_is_an_error_page() {
    let h = Harness::new().await;
    let mut browser = Client::new();
    let unknown = h.callback_with_state(&mut browser, "no-such-state").await;
    assert_eq!(unknown.status, 400, "{unknown:?}");
    assert_eq!(unknown.location, None);

    h.upstream.answer(h.person("anna", Loa::Substantial));
    let to_upstream = h.to_upstream(&mut browser, RP_A, &[]).await;
    let state = to_upstream.param("state").unwrap();

    // The right state from another browser is no good either, and does not spend the login.
    let mut stranger = Client::at("203.0.113.9:40000");
    let elsewhere = h.callback_with_state(&mut stranger, &state).await;
    assert_eq!(elsewhere.status, 400, "{elsewhere:?}");

    h.callback_with_state(&mut browser, &state)
        .await
        .code_for(RP_A);
    let replayed = h.callback_with_state(&mut browser, &state).await;
    assert_eq!(replayed.status, 400, "{replayed:?}");
    assert_eq!(replayed.location, None);
    assert!(!h.audited("upstream.callback_rejected").await.is_empty());
}

#[tokio::test]
async fn a_code_is_redeemed_once_and_only_with_its_verifier() {
    let h = Harness::new().await;
    let mut browser = Client::new();
    let anna = h.person("anna", Loa::Substantial);
    let code = h.login_as(&mut browser, RP_A, &anna).await;

    let wrong = h
        .redeem_with(
            RP_A,
            &code,
            "another-verifier-of-forty-three-characters-000",
        )
        .await;
    assert_eq!(wrong.status, 400, "{wrong:?}");
    assert!(wrong.body.contains("invalid_grant"), "{}", wrong.body);

    let code = h.authorize(&mut browser, RP_A, &[]).await.code_for(RP_A);
    let first = h.redeem(RP_A, &code).await;
    assert!(
        first["access_token"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );
    assert_eq!(first["token_type"], "Bearer");
    let second = h.redeem_with(RP_A, &code, VERIFIER).await;
    assert_eq!(second.status, 400, "{second:?}");
    assert!(second.body.contains("invalid_grant"), "{}", second.body);
    assert!(!second.body.contains("access_token"));
}

#[tokio::test]
async fn rp_initiated_logout_of_the_own_session_ends_it_and_notifies_the_back_channel() {
    let h = Harness::new().await;
    let mut browser = Client::new();
    let anna = h.person("anna", Loa::Substantial);
    let code = h.login_as(&mut browser, RP_A, &anna).await;
    let (id_token, claims) = h.id_token(RP_A, &code).await;
    // rp-b (no back-channel URI) is served in the same session.
    let code_b = h.authorize(&mut browser, RP_B, &[]).await.code_for(RP_B);

    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("id_token_hint", &id_token)
        .append_pair("post_logout_redirect_uri", &post_logout_uri(RP_A))
        .append_pair("state", "bye-state")
        .finish();
    let out = h.get(&mut browser, &format!("/logout?{query}")).await;
    assert!(matches!(out.status, 302 | 303), "{out:?}");
    assert_eq!(
        out.location.as_deref(),
        Some(format!("{}?state=bye-state", post_logout_uri(RP_A)).as_str())
    );
    assert!(!browser.has_session(), "the cookie is removed");

    let delivered = h.notifier.delivered();
    assert_eq!(
        delivered.len(),
        1,
        "only rp-a registered a back-channel URI"
    );
    assert_eq!(delivered[0].0, backchannel_uri(RP_A));
    let logout = h.verified_claims(&delivered[0].1);
    assert_eq!(logout["iss"], ISSUER);
    assert_eq!(logout["aud"], RP_A);
    assert_eq!(logout["sub"], claims["sub"]);
    assert_eq!(logout["sid"], claims["sid"]);
    assert!(
        logout["events"]
            .get("http://schemas.openid.net/event/backchannel-logout")
            .is_some()
    );
    assert!(logout.get("nonce").is_none());

    let ended = h.audited("logout").await;
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].person, Some(anna.audit_id));

    // The session is gone even for a browser that kept the old cookie.
    let after = h.authorize(&mut browser, RP_A, &[("prompt", "none")]).await;
    assert_eq!(after.error_for(RP_A), "login_required");
    // And what was issued from it ended with it: rp-b's code from before the logout is worthless.
    let stale = h.redeem_with(RP_B, &code_b, VERIFIER).await;
    assert_eq!(stale.status, 400, "{stale:?}");
    assert!(stale.body.contains("invalid_grant"), "{}", stale.body);
}

#[tokio::test]
async fn logout_without_a_hint_asks_the_person_and_ends_the_session_on_confirmation() {
    let h = Harness::new().await;
    let mut browser = Client::new();
    h.login_as(&mut browser, RP_A, &h.person("anna", Loa::Substantial))
        .await;

    let asked = h
        .get(&mut browser, &format!("/logout?client_id={RP_A}"))
        .await;
    assert_eq!(asked.status, 200, "{asked:?}");
    assert!(asked.body.contains("action=\"/logout/confirm\""));
    assert!(
        browser.has_session(),
        "nothing ended before the confirmation"
    );
    assert!(h.notifier.delivered().is_empty());
    let still = h.authorize(&mut browser, RP_A, &[("prompt", "none")]).await;
    still.code_for(RP_A);

    let forged = h
        .post(
            &mut browser,
            "/logout/confirm",
            &[("csrf", "forged"), ("client_id", RP_A)],
        )
        .await;
    assert_eq!(forged.status, 400, "{forged:?}");
    assert!(browser.has_session());

    let confirmed = h
        .post(
            &mut browser,
            "/logout/confirm",
            &[("csrf", &asked.input("csrf")), ("client_id", RP_A)],
        )
        .await;
    assert_eq!(confirmed.status, 200, "{confirmed:?}");
    assert!(!browser.has_session());
    assert_eq!(h.notifier.delivered().len(), 1);
    let after = h.authorize(&mut browser, RP_A, &[("prompt", "none")]).await;
    assert_eq!(after.error_for(RP_A), "login_required");
}

fn anna_with_data(h: &Harness) -> eid_core::Identity {
    let mut anna = h.person("anna", Loa::Substantial);
    anna.cpr = Some(eid_core::Cpr::parse("0101701234").unwrap());
    anna.given_name = Some("Anna".into());
    anna.family_name = Some("Jensen".into());
    anna.birthdate = Some("1970-01-01".into());
    anna
}

/// `GET /userinfo` with `access_token`.
async fn userinfo(h: &Harness, access_token: &str) -> Reply {
    let request = axum::http::Request::builder()
        .uri("/userinfo")
        .header(
            axum::http::header::AUTHORIZATION,
            format!("Bearer {access_token}"),
        )
        .body(axum::body::Body::empty())
        .unwrap();
    h.send(&mut Client::at("198.51.100.7:443"), request).await
}

#[tokio::test]
async fn each_service_receives_what_its_registration_allows_and_userinfo_is_audited() {
    let h = Harness::new().await;
    let anna = anna_with_data(&h);
    let mut browser = Client::new();
    let code = h.login_as(&mut browser, RP_C, &anna).await;
    let tokens = h.redeem(RP_C, &code).await;
    let claims = h.verified_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(claims["cpr"], "0101701234");
    assert_eq!(
        (
            &claims["given_name"],
            &claims["family_name"],
            &claims["name"]
        ),
        (
            &serde_json::json!("Anna"),
            &serde_json::json!("Jensen"),
            &serde_json::json!("Anna Jensen")
        )
    );
    assert_eq!(claims["birthdate"], "1970-01-01");
    assert_eq!(claims["loa"], SUBSTANTIAL);

    let info = userinfo(&h, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(info.status, 200, "{info:?}");
    let info: serde_json::Value = serde_json::from_str(&info.body).unwrap();
    assert_eq!(info["sub"], claims["sub"]);
    assert_eq!(info["cpr"], "0101701234");
    let released = h.audited("userinfo.released").await;
    assert_eq!(released.len(), 1);
    assert_eq!(released[0].person, Some(anna.audit_id));
    assert_eq!(released[0].client.as_deref(), Some(RP_C));

    // The same session at a service registered for none of it: the level only.
    let other = h.authorize(&mut browser, RP_A, &[]).await.code_for(RP_A);
    let (_, claims) = h.id_token(RP_A, &other).await;
    for name in ["cpr", "given_name", "family_name", "name", "birthdate"] {
        assert!(claims.get(name).is_none(), "{name} released to {RP_A}");
    }
    assert_eq!(claims["loa"], SUBSTANTIAL);
}

#[tokio::test]
async fn a_refreshed_token_names_the_person_in_its_audit_row() {
    let h = Harness::new().await;
    let anna = anna_with_data(&h);
    let code = h.login_as(&mut Client::new(), RP_C, &anna).await;
    let tokens = h.redeem(RP_C, &code).await;
    let refresh = tokens["refresh_token"].as_str().expect("a refresh token");
    let reply = h
        .post(
            &mut Client::at("198.51.100.7:443"),
            "/token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh),
                ("client_id", RP_C),
                ("client_secret", &secret(RP_C)),
            ],
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let issued = h.audited("token.issued").await;
    assert_eq!(issued.len(), 2);
    assert!(
        issued.iter().all(|e| e.person == Some(anna.audit_id)),
        "{issued:?}"
    );
    assert!(
        issued
            .iter()
            .any(|e| e.details["grant_type"] == "refresh_token")
    );
}

#[tokio::test]
async fn a_person_holding_mandates_is_never_answered_as_someone_else_before_choosing() {
    let h = Harness::new().await;
    h.mandates.held.lock().unwrap().push(eid_core::Mandate {
        id: "mandate-1".into(),
        kind: eid_core::MandateKind::PowerOfAttorney,
        principal: eid_core::Principal::Person {
            person: eid_core::PersonKey {
                upstream: UPSTREAM.into(),
                subject: "mother".into(),
            },
            cpr: None,
            name: "Mor".into(),
        },
        access: eid_core::Access::Act,
        scopes: vec![RP_C.into()],
        privileges: Vec::new(),
        valid_until: None,
    });
    let anna = h.person("anna", Loa::Substantial);
    h.upstream.answer(anna.clone());
    let mut browser = Client::new();
    // After a login at a service that accepts representation: the choice page, no code.
    let back = h.login(&mut browser, RP_C, &[]).await;
    assert!(back.is_representation_choice(), "{back:?}");
    assert!(browser.has_session(), "the person did log in");
    assert!(h.audited("token.issued").await.is_empty());
    // A service that does not accept representation is answered with the person (no lookup).
    h.authorize(&mut browser, RP_A, &[]).await.code_for(RP_A);
    // Single sign-on at the first service again: the choice again.
    let again = h.authorize(&mut browser, RP_C, &[]).await;
    assert!(again.is_representation_choice(), "{again:?}");
    let asked = h.mandates.asked.lock().unwrap().clone();
    assert_eq!(
        asked,
        vec![
            ("anna".to_owned(), RP_C.to_owned()),
            ("anna".to_owned(), RP_C.to_owned())
        ]
    );
}

#[tokio::test]
async fn the_upstream_request_names_the_relying_party_for_the_authenticators_pages() {
    let h = Harness::new().await;
    for (rp, name) in [(RP_A, "Service rp-a"), (RP_B, "Service rp-b")] {
        let mut browser = Client::new();
        h.to_upstream(&mut browser, rp, &[]).await;
        let request = h.upstream.requests().pop().unwrap();
        // The RP's registered display name (the client pushes it, authenticated, to the
        // authenticator), never anything the browser sent.
        assert_eq!(request.service_name.as_deref(), Some(name), "{request:?}");
    }
}

#[tokio::test]
async fn an_upstream_saying_the_level_was_not_reached_is_passed_on_as_such() {
    let h = Harness::new().await;
    let mut browser = Client::new();
    // The authenticator's refusal when the person cannot reach the level.
    h.upstream.fail(UpstreamError::Refused {
        error: "access_denied".into(),
        description: Some(
            "level of assurance not reached: the service requires High, the person reaches Low"
                .into(),
        ),
    });
    let back = h.login(&mut browser, RP_A, &[("acr_values", HIGH)]).await;
    assert_eq!(back.error_for(RP_A), "access_denied");
    assert_eq!(
        back.param("error_description").as_deref(),
        Some("level of assurance not reached")
    );
    // A token below the level says the same.
    h.upstream.fail(UpstreamError::AcrTooLow {
        requested: Loa::High,
        got: Some(Loa::Substantial),
    });
    let back = h.login(&mut browser, RP_A, &[("acr_values", HIGH)]).await;
    assert_eq!(
        back.param("error_description").as_deref(),
        Some("level of assurance not reached")
    );
    // Any other refusal (a cancel) stays "not completed".
    h.upstream.fail(UpstreamError::Refused {
        error: "access_denied".into(),
        description: Some("the person cancelled the login".into()),
    });
    let back = h.login(&mut browser, RP_A, &[]).await;
    assert_eq!(
        back.param("error_description").as_deref(),
        Some("the login was not completed")
    );
}
