//! RP-initiated logout at the authenticator: `GET /logout` ends the browser's session only when its
//! `logout_hint` is the session's `sid` towards the asking client; anything else (a link on any web
//! page: logout CSRF) ends nothing until the person confirms with a CSRF-protected form.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use eid_idp::flow::session::IdpSession;
use eid_keys::{Alg, SigningKey};
use eid_oidc::{ClientRegistration, TokenEndpointAuthMethod};
use harness::{Client, Harness, ISSUER, Reply};

const BACK: &str = "http://localhost:8080/logout/done";

async fn harness() -> Harness {
    Harness::with(|config| {
        config.clients.push(
            ClientRegistration::new(
                "broker",
                "The broker",
                vec!["http://localhost:8080/callback".into()],
                vec![BACK.into()],
                TokenEndpointAuthMethod::ClientSecretBasic,
                Some("broker-secret-0123456789"),
            )
            .unwrap(),
        );
    })
    .await
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A browser logged in to the authenticator as Anna, and its session's `sid` towards the broker.
async fn logged_in(h: &Harness) -> (Client, String) {
    let (client, _) = h.password_session("anna", "anna-pass-1").await;
    let cookie = client.cookies["idp_session"].clone();
    let session = IdpSession::find(&h.idp, Some(&cookie))
        .await
        .unwrap()
        .unwrap();
    let sid = session.sid_for("broker").expect("a new session has a sid");
    (client, sid)
}

async fn still_logged_in(h: &Harness, client: &mut Client) -> bool {
    let account = h.get(client, "/account").await;
    account.status == 200
}

fn is_confirmation(reply: &Reply) -> bool {
    reply.status == 200 && reply.body.contains("id=\"confirm-logout\"")
}

#[tokio::test]
async fn a_cross_site_logout_link_with_only_the_cookie_ends_nothing() {
    let h = harness().await;
    let (mut browser, _) = logged_in(&h).await;
    for link in [
        "/logout".to_owned(),
        "/logout?client_id=broker".to_owned(),
        format!(
            "/logout?client_id=broker&post_logout_redirect_uri={}",
            enc(BACK)
        ),
    ] {
        let reply = h.get(&mut browser, &link).await;
        assert!(is_confirmation(&reply), "{link}: {reply:?}");
        assert!(
            browser.cookies.contains_key("idp_session"),
            "{link}: the cookie stays"
        );
        assert!(
            still_logged_in(&h, &mut browser).await,
            "{link}: the person is still logged in"
        );
    }
    assert!(h.audited("logout").await.is_empty());
}

#[tokio::test]
async fn a_logout_hint_naming_the_session_ends_it_and_returns_with_state() {
    let h = harness().await;
    let (mut browser, sid) = logged_in(&h).await;
    let reply = h
        .get(
            &mut browser,
            &format!(
                "/logout?client_id=broker&logout_hint={sid}&post_logout_redirect_uri={}&state=s-1",
                enc(BACK)
            ),
        )
        .await;
    assert_eq!(
        reply.location.as_deref(),
        Some(format!("{BACK}?state=s-1").as_str()),
        "{reply:?}"
    );
    assert!(!still_logged_in(&h, &mut browser).await);
    let events = h.audited("logout").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].client.as_deref(), Some("broker"));
}

#[tokio::test]
async fn a_wrong_logout_hint_ends_nothing_and_is_audited() {
    let h = harness().await;
    let (mut browser, sid) = logged_in(&h).await;
    let other = logged_in(&h).await.1;
    let session_id = IdpSession::find(&h.idp, Some(&browser.cookies["idp_session"].clone()))
        .await
        .unwrap()
        .unwrap()
        .sid;
    let wrong = [
        // Another session's sid.
        format!("client_id=broker&logout_hint={other}"),
        // This session's sid, but without the client it belongs to.
        format!("logout_hint={sid}"),
        // The session's own id is never a hint.
        format!("client_id=broker&logout_hint={session_id}"),
        "client_id=broker&logout_hint=guess".to_owned(),
        format!("client_id=unknown&logout_hint={sid}"),
    ];
    for query in &wrong {
        let reply = h.get(&mut browser, &format!("/logout?{query}")).await;
        assert!(is_confirmation(&reply), "{query}: {reply:?}");
        assert!(still_logged_in(&h, &mut browser).await, "{query}");
    }
    let audited = h.audited("logout.hint_mismatch").await;
    assert_eq!(audited.len(), wrong.len());
    assert!(
        audited
            .iter()
            .all(|e| e.client.as_deref() != Some("unknown")),
        "only registered clients are named in the audit"
    );
    assert!(h.audited("logout").await.is_empty());
}

#[tokio::test]
async fn the_confirmation_form_needs_its_csrf_token() {
    let h = harness().await;
    let (mut browser, _) = logged_in(&h).await;
    let page = h
        .get(
            &mut browser,
            &format!(
                "/logout?client_id=broker&post_logout_redirect_uri={}&state=s-2",
                enc(BACK)
            ),
        )
        .await;
    assert!(is_confirmation(&page), "{page:?}");
    assert!(page.body.contains("The broker") || page.body.contains("broker"));
    let csrf = page.input("csrf");
    for spoiled in [None, Some("A".repeat(43))] {
        let reply = confirm(&h, &mut browser, spoiled.as_deref()).await;
        assert_eq!(reply.status, 403, "{spoiled:?}: {reply:?}");
        assert!(still_logged_in(&h, &mut browser).await, "{spoiled:?}");
    }
    // Another browser's token is no better.
    let (mut stranger, _) = logged_in(&h).await;
    let theirs = h
        .get(&mut stranger, "/logout?client_id=broker")
        .await
        .input("csrf");
    let reply = confirm(&h, &mut browser, Some(&theirs)).await;
    assert_eq!(reply.status, 403, "{reply:?}");
    assert!(still_logged_in(&h, &mut browser).await);
    assert_eq!(h.audited("form.csrf_rejected").await.len(), 3);
    assert!(h.audited("logout").await.is_empty());

    let reply = confirm(&h, &mut browser, Some(&csrf)).await;
    assert_eq!(
        reply.location.as_deref(),
        Some(format!("{BACK}?state=s-2").as_str()),
        "{reply:?}"
    );
    assert!(!still_logged_in(&h, &mut browser).await);
    assert_eq!(h.audited("logout").await.len(), 1);
}

/// Posts the confirmation form of a logout by the broker with `csrf`.
async fn confirm(h: &Harness, browser: &mut Client, csrf: Option<&str>) -> Reply {
    let mut form = vec![
        ("client_id", "broker"),
        ("post_logout_redirect_uri", BACK),
        ("state", "s-2"),
    ];
    if let Some(csrf) = csrf {
        form.push(("csrf", csrf));
    }
    h.post(browser, "/logout/confirm", &form).await
}

#[tokio::test]
async fn an_unregistered_return_address_or_an_over_long_hint_is_refused_and_ends_nothing() {
    let h = harness().await;
    let (mut browser, sid) = logged_in(&h).await;
    for query in [
        format!(
            "client_id=broker&logout_hint={sid}&post_logout_redirect_uri={}",
            enc("https://evil.example/")
        ),
        format!(
            "client_id=broker&logout_hint={sid}&post_logout_redirect_uri={}",
            enc(&format!("{BACK}/"))
        ),
        format!("logout_hint={sid}&post_logout_redirect_uri={}", enc(BACK)),
        format!("client_id=broker&logout_hint={}", "h".repeat(129)),
        format!(
            "client_id=broker&logout_hint={sid}&state={}",
            "s".repeat(513)
        ),
    ] {
        let reply = h.get(&mut browser, &format!("/logout?{query}")).await;
        assert_eq!(reply.status, 400, "{query}: {reply:?}");
        assert!(reply.location.is_none());
        assert!(still_logged_in(&h, &mut browser).await, "{query}");
    }
    assert_eq!(h.audited("logout.refused").await.len(), 5);
}

#[tokio::test]
async fn a_browser_without_a_session_goes_straight_back() {
    let h = harness().await;
    let mut browser = Client::new();
    let reply = h
        .get(
            &mut browser,
            &format!(
                "/logout?client_id=broker&logout_hint=x&post_logout_redirect_uri={}",
                enc(BACK)
            ),
        )
        .await;
    assert_eq!(reply.location.as_deref(), Some(BACK), "{reply:?}");
}

#[tokio::test]
async fn an_id_token_hint_of_this_provider_ends_the_session_only_with_its_sid() {
    let h = harness().await;
    let (mut browser, sid) = logged_in(&h).await;
    let other = logged_in(&h).await.1;
    let ours = h.idp.keys.signing_key(Alg::ES256).unwrap();
    let pem = eid_keys::generate_pem(Alg::ES256, 0).unwrap();
    let theirs = SigningKey::from_pem(pem.as_bytes(), Alg::ES256).unwrap();
    let hint = |key: &SigningKey, iss: &str, aud: &str, sid: &str| {
        key.sign_claims(
            Some("JWT"),
            &serde_json::json!({ "iss": iss, "aud": aud, "sid": sid, "sub": "s", "iat": 0, "exp": 1 }),
        )
        .unwrap()
    };
    // Another session's sid: a confirmation, audited.
    let reply = h
        .get(
            &mut browser,
            &format!(
                "/logout?id_token_hint={}",
                hint(&ours, ISSUER, "broker", &other)
            ),
        )
        .await;
    assert!(is_confirmation(&reply), "{reply:?}");
    assert!(still_logged_in(&h, &mut browser).await);
    assert_eq!(h.audited("logout.hint_mismatch").await.len(), 1);
    // Not ours, another issuer's, another client's, or a logout_hint that differs: refused.
    for query in [
        format!("id_token_hint={}", hint(&theirs, ISSUER, "broker", &sid)),
        format!(
            "id_token_hint={}",
            hint(&ours, "https://evil.example", "broker", &sid)
        ),
        format!(
            "client_id=other&id_token_hint={}",
            hint(&ours, ISSUER, "broker", &sid)
        ),
        format!(
            "logout_hint={other}&id_token_hint={}",
            hint(&ours, ISSUER, "broker", &sid)
        ),
    ] {
        let reply = h.get(&mut browser, &format!("/logout?{query}")).await;
        assert_eq!(reply.status, 400, "{query}: {reply:?}");
        assert!(still_logged_in(&h, &mut browser).await, "{query}");
    }
    // The session's own sid towards the hint's audience: ended, with no confirmation.
    let reply = h
        .get(
            &mut browser,
            &format!(
                "/logout?id_token_hint={}&post_logout_redirect_uri={}",
                hint(&ours, ISSUER, "broker", &sid),
                enc(BACK)
            ),
        )
        .await;
    assert_eq!(reply.location.as_deref(), Some(BACK), "{reply:?}");
    assert!(!still_logged_in(&h, &mut browser).await);
}
