//! Every form of the authenticator refuses a post without its CSRF token, or with a wrong one:
//! 403, nothing done, and the refusal audited.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use harness::{ANNA, Client, Harness, Reply};

/// How a form's token is spoiled.
#[derive(Debug, Clone, Copy)]
enum Spoil {
    Missing,
    Wrong,
}

fn spoil(form: &[(&'static str, String)], how: Spoil) -> Vec<(&'static str, String)> {
    let mut out: Vec<_> = form.iter().filter(|(k, _)| *k != "csrf").cloned().collect();
    if let Spoil::Wrong = how {
        out.push(("csrf", "A".repeat(43)));
    }
    out
}

async fn post(
    h: &Harness,
    client: &mut Client,
    path: &str,
    form: &[(&'static str, String)],
) -> Reply {
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    h.post(client, path, &pairs).await
}

async fn post_json(
    h: &Harness,
    client: &mut Client,
    path: &str,
    form: &[(&'static str, String)],
) -> Reply {
    let mut body = serde_json::Map::new();
    for (k, v) in form {
        body.insert((*k).into(), v.clone().into());
    }
    body.insert(
        "credential".into(),
        serde_json::json!({ "id": "AAAA", "rawId": "AAAA", "type": "public-key", "extensions": {},
            "response": { "clientDataJSON": "AAAA", "authenticatorData": "AAAA", "signature": "AAAA",
                          "attestationObject": "AAAA" } }),
    );
    body.insert("label".into(), "x".into());
    h.post_json(client, path, &serde_json::Value::Object(body))
        .await
}

#[tokio::test]
async fn every_form_refuses_a_missing_or_wrong_csrf_token() {
    let h = Harness::new().await;
    let device = h.pair_app("anna", "anna-pass-1").await;
    let before = h.authenticators(ANNA).await.len();
    let mut refusals = 0;
    for how in [Spoil::Missing, Spoil::Wrong] {
        // The login forms, on a transaction whose user ID is entered.
        let mut browser = Client::new();
        let methods = h.start_account_login(&mut browser, "anna").await;
        let tx = ("tx", methods.input("tx"));
        let csrf = ("csrf", methods.input("csrf"));
        for (path, extra) in [
            ("/login/user", vec![("user_id", "anna".to_owned())]),
            (
                "/login/password",
                vec![("password", "anna-pass-1".to_owned())],
            ),
            (
                "/login/code-display",
                vec![("password", "anna-pass-1".to_owned()), ("code", h.totp())],
            ),
            ("/login/app/start", vec![]),
            ("/login/app/finish", vec![]),
            ("/login/cancel", vec![]),
        ] {
            let mut form = vec![tx.clone(), csrf.clone()];
            form.extend(extra);
            let answer = post(&h, &mut browser, path, &spoil(&form, how)).await;
            assert_eq!(answer.status, 403, "{path} {how:?}: {}", answer.body);
            refusals += 1;
        }
        let answer = post_json(
            &h,
            &mut browser,
            "/login/passkey",
            &spoil(&[tx.clone(), csrf.clone()], how),
        )
        .await;
        assert_eq!(
            answer.status, 403,
            "/login/passkey {how:?}: {}",
            answer.body
        );
        refusals += 1;
        // The login still works with the right token: nothing above spent it.
        let done = h
            .submit_password(&mut browser, &methods, "anna-pass-1")
            .await;
        assert_eq!(
            done.location.as_deref(),
            Some("/account"),
            "{how:?}: {}",
            done.body
        );

        // The account forms, from a fresh Substantial session.
        // (A new time step: each code-display code is accepted once.)
        h.clock.advance(time::Duration::seconds(30));
        let (mut owner, account) = h.code_display_session("anna", "anna-pass-1").await;
        let csrf = ("csrf", account.input("csrf"));
        let id = ("id", account.input("id"));
        for (path, extra) in [
            ("/account/remove", vec![id.clone()]),
            (
                "/account/password",
                vec![("password", "another-pass-1".to_owned())],
            ),
            ("/account/code-display/start", vec![]),
            (
                "/account/code-display/confirm",
                vec![("code", "123456".to_owned())],
            ),
            ("/account/app/pairing-code", vec![]),
            ("/account/logout", vec![]),
            ("/logout/confirm", vec![]),
        ] {
            let mut form = vec![csrf.clone()];
            form.extend(extra);
            let answer = post(&h, &mut owner, path, &spoil(&form, how)).await;
            assert_eq!(answer.status, 403, "{path} {how:?}: {}", answer.body);
            refusals += 1;
        }
        for path in ["/account/passkey/options", "/account/passkey"] {
            let answer = post_json(
                &h,
                &mut owner,
                path,
                &spoil(std::slice::from_ref(&csrf), how),
            )
            .await;
            assert_eq!(answer.status, 403, "{path} {how:?}: {}", answer.body);
            refusals += 1;
        }
        // Still logged in: the logout above did nothing.
        let still = h.get(&mut owner, "/account").await;
        assert_eq!(still.status, 200);

        // Activation and the app's forms.
        let mut stranger = Client::new();
        let page = h.get(&mut stranger, "/activate").await;
        let form = vec![
            ("csrf", page.input("csrf")),
            ("cpr", "0107709991".to_owned()),
            ("code", "x".to_owned()),
            ("user_id", "newuser".to_owned()),
            ("password", "new-pass-123".to_owned()),
        ];
        let answer = post(&h, &mut stranger, "/activate", &spoil(&form, how)).await;
        assert_eq!(answer.status, 403, "/activate {how:?}: {}", answer.body);
        refusals += 1;
        let page = h.get(&mut stranger, "/app").await;
        let form = vec![
            ("csrf", page.input("csrf")),
            ("user_id", "anna".to_owned()),
            ("pairing_code", "12345678".to_owned()),
        ];
        let answer = post(&h, &mut stranger, "/app/pair", &spoil(&form, how)).await;
        assert_eq!(answer.status, 403, "/app/pair {how:?}: {}", answer.body);
        refusals += 1;
        // A pending request, so that the app shows its form.
        let mut waiting = Client::new();
        let methods = h.start_account_login(&mut waiting, "anna").await;
        let form = [("tx", methods.input("tx")), ("csrf", methods.input("csrf"))];
        let started = post(&h, &mut waiting, "/login/app/start", &form).await;
        assert_eq!(started.status, 200, "{}", started.body);
        let mut phone = device.clone();
        let page = h.get(&mut phone, "/app").await;
        let form = vec![
            ("csrf", page.input("csrf")),
            ("request", page.input("request")),
            ("answer", "approve".to_owned()),
        ];
        let answer = post(&h, &mut phone, "/app/respond", &spoil(&form, how)).await;
        assert_eq!(answer.status, 403, "/app/respond {how:?}: {}", answer.body);
        refusals += 1;
    }
    assert_eq!(
        h.authenticators(ANNA).await.len(),
        before,
        "nothing was changed"
    );
    assert_eq!(
        h.audited("form.csrf_rejected").await.len(),
        refusals,
        "every refusal is audited"
    );
}
