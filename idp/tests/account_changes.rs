//! Self-service changes need a fresh login at a level at least as high as what the change can give
//! (never below Substantial); otherwise the person is sent to step up and nothing changes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use harness::{ANNA, Client, Harness, MIKKEL, Reply};

/// Tries every account change from a session's account page; returns each answer.
async fn try_every_change(
    h: &Harness,
    client: &mut Client,
    account: &Reply,
) -> Vec<(&'static str, Reply)> {
    let csrf = account.input("csrf");
    let some_id = account.input("id");
    let mut answers = Vec::new();
    for (name, path, extra) in [
        ("add code display", "/account/code-display/start", None),
        (
            "confirm code display",
            "/account/code-display/confirm",
            Some(("code", "123456")),
        ),
        ("pair app", "/account/app/pairing-code", None),
        (
            "remove authenticator",
            "/account/remove",
            Some(("id", some_id.as_str())),
        ),
        (
            "change password",
            "/account/password",
            Some(("password", "a-new-password-1")),
        ),
    ] {
        let mut form = vec![("csrf", csrf.as_str())];
        form.extend(extra);
        answers.push((name, h.post(client, path, &form).await));
    }
    for (name, path) in [
        ("passkey options", "/account/passkey/options"),
        ("passkey registration", "/account/passkey"),
    ] {
        let body = serde_json::json!({ "csrf": csrf, "label": "x", "credential": {
            "id": "AAAA", "rawId": "AAAA", "type": "public-key", "extensions": {},
            "response": { "attestationObject": "AAAA", "clientDataJSON": "AAAA" } } });
        answers.push((name, h.post_json(client, path, &body).await));
    }
    answers
}

/// Asserts that an answer sends the person to a step-up login that explains itself and offers
/// only methods reaching `level`.
async fn assert_step_up(h: &Harness, client: &mut Client, name: &str, answer: &Reply, level: &str) {
    let to = if answer.status == 403 {
        // The passkey endpoints answer JSON for the page's script.
        let json: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
        json["redirect"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: {json}"))
            .to_owned()
    } else {
        assert_eq!(answer.status, 303, "{name}: {}", answer.body);
        answer.location.clone().unwrap()
    };
    assert!(to.starts_with("/login?tx="), "{name}: {to}");
    let page = h.get(client, &to).await;
    assert!(
        page.body.contains("step-up-reason") || page.body.contains("back-to-account"),
        "{name}: {}",
        page.body
    );
    assert!(
        page.body.contains(level),
        "{name} needs {level}: {}",
        page.body
    );
    assert!(
        !page.body.contains("action=\"/login/password\""),
        "{name}: a password alone is not offered"
    );
}

async fn nothing_changed(h: &Harness, person: &str, before: usize) {
    assert_eq!(
        h.authenticators(person).await.len(),
        before,
        "authenticators changed"
    );
    let pending = eid_idp::flow::enrol::code_display_enrolment_pending(
        &h.idp,
        uuid::Uuid::parse_str(person).unwrap(),
    )
    .await
    .unwrap();
    assert!(!pending, "a code display enrolment was started");
    assert!(h.audited("authenticator.added").await.is_empty());
    assert!(h.audited("authenticator.removed").await.is_empty());
    assert!(
        eid_store::notifications::NotificationOutbox::pending(h.durable.as_ref(), 10)
            .await
            .unwrap()
            .is_empty(),
        "a notification was sent"
    );
}

#[tokio::test]
async fn a_password_only_session_is_sent_to_step_up_for_every_account_change_and_nothing_changes() {
    let h = Harness::new().await;
    let (mut client, account) = h.password_session("anna", "anna-pass-1").await;
    assert_eq!(account.status, 200, "{}", account.body);
    let before = h.authenticators(ANNA).await.len();
    let answers = try_every_change(&h, &mut client, &account).await;
    assert_eq!(answers.len(), 7);
    for (name, answer) in &answers {
        // The level as a Danish page names it.
        let level = if name.starts_with("passkey") {
            "Høj"
        } else {
            "Betydelig"
        };
        assert_step_up(&h, &mut client, name, answer, level).await;
    }
    nothing_changed(&h, ANNA, before).await;
    assert_eq!(h.audited("account.step_up_required").await.len(), 7);
}

#[tokio::test]
async fn a_stale_session_is_sent_to_step_up_for_every_account_change_and_nothing_changes() {
    let h = Harness::new().await;
    let (mut client, account) = h.code_display_session("mikkel", "mikkel-pass-1").await;
    h.clock
        .advance(time::Duration::minutes(5) + time::Duration::seconds(1));
    let before = h.authenticators(MIKKEL).await.len();
    for (name, answer) in try_every_change(&h, &mut client, &account).await {
        // Mikkel is proofed at Substantial: nothing he can add gives more.
        assert_step_up(&h, &mut client, name, &answer, "Betydelig").await;
    }
    nothing_changed(&h, MIKKEL, before).await;
}

#[tokio::test]
async fn a_fresh_substantial_login_pairs_the_app_and_the_change_is_audited_and_notified() {
    let h = Harness::new().await;
    let (mut client, account) = h.code_display_session("anna", "anna-pass-1").await;
    let with_code = h
        .post(
            &mut client,
            "/account/app/pairing-code",
            &[("csrf", &account.input("csrf"))],
        )
        .await;
    assert_eq!(with_code.status, 200, "{}", with_code.body);
    assert!(with_code.body.contains("id=\"pairing-code\""));
    // The device pairs with the code; the person is told.
    let code = {
        let start =
            with_code.body.find("id=\"pairing-code\">").unwrap() + "id=\"pairing-code\">".len();
        with_code.body[start..start + 8].to_owned()
    };
    let mut device = Client::at("192.0.2.9:1000");
    let app = h.get(&mut device, "/app").await;
    let paired = h
        .post(
            &mut device,
            "/app/pair",
            &[
                ("csrf", &app.input("csrf")),
                ("user_id", "anna"),
                ("pairing_code", &code),
                ("label", "Phone"),
            ],
        )
        .await;
    assert_eq!(paired.status, 200, "{}", paired.body);
    let added = h.audited("authenticator.added").await;
    assert_eq!(added.len(), 1);
    let sent = eid_store::notifications::NotificationOutbox::for_person(
        h.durable.as_ref(),
        uuid::Uuid::parse_str(ANNA).unwrap(),
        10,
    )
    .await
    .unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].kind, "authenticator.added");
    assert_eq!(sent[0].details["kind"], "app");
}

#[tokio::test]
async fn a_substantial_login_of_a_person_proofed_high_must_step_up_to_high_to_enrol_a_passkey() {
    let h = Harness::new().await;
    let (mut client, account) = h.code_display_session("anna", "anna-pass-1").await;
    let answer = h
        .post_json(
            &mut client,
            "/account/passkey/options",
            &serde_json::json!({ "csrf": account.input("csrf") }),
        )
        .await;
    assert_eq!(answer.status, 403, "{}", answer.body);
    let json: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    let step_up = h.get(&mut client, json["redirect"].as_str().unwrap()).await;
    // No method of Anna's reaches High: the page says so and nothing is offered.
    assert_eq!(step_up.status, 403, "{}", step_up.body);
    assert!(
        step_up.body.contains("Høj"),
        "the level in the page's language"
    );
    assert!(step_up.body.contains("back-to-account"));
    // Mikkel, proofed at Substantial, gets registration options with the same kind of login.
    let (mut client, account) = h.code_display_session("mikkel", "mikkel-pass-1").await;
    let options = h
        .post_json(
            &mut client,
            "/account/passkey/options",
            &serde_json::json!({ "csrf": account.input("csrf") }),
        )
        .await;
    assert_eq!(options.status, 200, "{}", options.body);
    assert!(options.body.contains("publicKey"));
}

#[tokio::test]
async fn stepping_up_returns_to_the_account_page_where_the_change_then_succeeds() {
    let h = Harness::new().await;
    let (mut client, account) = h.password_session("anna", "anna-pass-1").await;
    let refused = h
        .post(
            &mut client,
            "/account/password",
            &[
                ("csrf", &account.input("csrf")),
                ("password", "brand-new-pass"),
            ],
        )
        .await;
    let methods = h.get(&mut client, &refused.location.unwrap()).await;
    assert!(methods.body.contains("step-up-reason"), "{}", methods.body);
    let done = h
        .submit_code_display(&mut client, &methods, "anna-pass-1")
        .await;
    assert_eq!(done.location.as_deref(), Some("/account"), "{}", done.body);
    let account = h.get(&mut client, "/account").await;
    let changed = h
        .post(
            &mut client,
            "/account/password",
            &[
                ("csrf", &account.input("csrf")),
                ("password", "brand-new-pass"),
            ],
        )
        .await;
    assert_eq!(
        changed.location.as_deref(),
        Some("/account?done=password"),
        "{}",
        changed.body
    );
    let passwords = h
        .authenticators(ANNA)
        .await
        .into_iter()
        .filter(|a| a.kind == eid_core::AuthenticatorKind::Password)
        .count();
    assert_eq!(passwords, 1, "the old password is replaced, not kept");
    let told = eid_store::notifications::NotificationOutbox::for_person(
        h.durable.as_ref(),
        uuid::Uuid::parse_str(ANNA).unwrap(),
        10,
    )
    .await
    .unwrap();
    assert_eq!(told.len(), 1);
    assert_eq!(told[0].kind, "password.changed");
    assert_eq!(h.audited("password.changed").await.len(), 1);
    // The new password logs in; the old one does not.
    h.clock.advance(time::Duration::seconds(31));
    let (_, account) = h.password_session("anna", "brand-new-pass").await;
    assert_eq!(account.status, 200);
    let mut other = Client::new();
    let methods = h.start_account_login(&mut other, "anna").await;
    let old = h.submit_password(&mut other, &methods, "anna-pass-1").await;
    assert_eq!(old.status, 401, "{}", old.body);
}

#[tokio::test]
async fn the_last_authenticator_cannot_be_removed_even_with_a_fresh_substantial_login() {
    let h = Harness::new().await;
    let (mut client, account) = h.code_display_session("mikkel", "mikkel-pass-1").await;
    let code_display = h
        .authenticators(MIKKEL)
        .await
        .into_iter()
        .find(|a| a.kind == eid_core::AuthenticatorKind::CodeDisplay)
        .unwrap();
    let removed = h
        .post(
            &mut client,
            "/account/remove",
            &[
                ("csrf", &account.input("csrf")),
                ("id", &code_display.id.to_string()),
            ],
        )
        .await;
    assert_eq!(
        removed.location.as_deref(),
        Some("/account?done=removed"),
        "{}",
        removed.body
    );
    let account = h.get(&mut client, "/account").await;
    let refused = h
        .post(
            &mut client,
            "/account/remove",
            &[
                ("csrf", &account.input("csrf")),
                ("id", &account.input("id")),
            ],
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert_eq!(h.authenticators(MIKKEL).await.len(), 1);
    let removed = h.audited("authenticator.removed").await;
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0].details["kind"], "code_display");
}
