//! A pending code-display secret is shown to, and confirmed by, only the session that started the
//! enrolment, and only while its login is fresh and at the level: another session of the person
//! (one opened with the password alone, say) must not copy it and later log in with a clone.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use eid_core::Clock;
use harness::{ANNA, Client, Harness, Reply};

/// Starts a code-display enrolment in a fresh Substantial session of Anna; returns that session,
/// its account page and the secret it shows.
async fn start_enrolment(h: &Harness) -> (Client, Reply, Vec<u8>) {
    let (mut victim, account) = h.code_display_session("anna", "anna-pass-1").await;
    let started = h
        .post(
            &mut victim,
            "/account/code-display/start",
            &[("csrf", &account.input("csrf"))],
        )
        .await;
    assert_eq!(started.status, 200, "{}", started.body);
    let secret = shown_secret(&started).expect("the starting session sees its secret");
    (victim, started, secret)
}

/// The code-display secret an account page shows, if any.
fn shown_secret(page: &Reply) -> Option<Vec<u8>> {
    let marker = "id=\"totp-secret\">";
    let start = page.body.find(marker)? + marker.len();
    let end = start + page.body[start..].find('<')?;
    // Shown in groups of four for typing.
    let typed: String = page.body[start..end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    Some(
        data_encoding::BASE32_NOPAD
            .decode(typed.as_bytes())
            .unwrap(),
    )
}

fn code_of(h: &Harness, secret: &[u8]) -> String {
    let now = h.clock.now().unix_timestamp();
    eid_idp::totp::code_at_step(secret, eid_idp::totp::step_of(now))
}

async fn code_displays(h: &Harness) -> usize {
    h.authenticators(ANNA)
        .await
        .iter()
        .filter(|a| a.kind == eid_core::AuthenticatorKind::CodeDisplay)
        .count()
}

/// Asserts that a page shows no code-display secret, in no form.
fn assert_no_secret(page: &Reply, secret: &[u8]) {
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(shown_secret(page).is_none(), "{}", page.body);
    assert!(!page.body.contains(&eid_idp::totp::secret_base32(secret)));
    let grouped = eid_web::qr::grouped(&eid_idp::totp::secret_base32(secret));
    assert!(!page.body.contains(&grouped));
    assert!(!page.body.contains("<svg"), "no QR code either");
    assert!(!page.body.contains("otpauth://"));
}

#[tokio::test]
async fn a_password_only_session_neither_sees_nor_confirms_a_pending_code_display() {
    let h = Harness::new().await;
    let (mut victim, started, secret) = start_enrolment(&h).await;
    let before = code_displays(&h).await;
    // The attacker knows the password: a Low session of the same person, polling the account page.
    let (mut attacker, account) = h.password_session("anna", "anna-pass-1").await;
    assert_no_secret(&account, &secret);
    let confirm = h
        .post(
            &mut attacker,
            "/account/code-display/confirm",
            &[
                ("csrf", &account.input("csrf")),
                ("code", &code_of(&h, &secret)),
            ],
        )
        .await;
    assert_eq!(confirm.status, 303, "{}", confirm.body);
    assert!(confirm.location.unwrap().starts_with("/login?tx="));
    assert_eq!(code_displays(&h).await, before, "nothing was enrolled");
    // The person's own enrolment is untouched and still completes.
    let done = h
        .post(
            &mut victim,
            "/account/code-display/confirm",
            &[
                ("csrf", &started.input("csrf")),
                ("code", &code_of(&h, &secret)),
            ],
        )
        .await;
    assert_eq!(
        done.location.as_deref(),
        Some("/account?done=added"),
        "{}",
        done.body
    );
    assert_eq!(code_displays(&h).await, before + 1);
}

#[tokio::test]
async fn another_fresh_session_of_the_person_neither_sees_nor_confirms_the_enrolment() {
    let h = Harness::new().await;
    let (_victim, _, secret) = start_enrolment(&h).await;
    let before = code_displays(&h).await;
    // A code is accepted once per time step: the second login waits for the next one.
    h.clock.advance(time::Duration::seconds(31));
    let (mut other, account) = h.code_display_session("anna", "anna-pass-1").await;
    assert_no_secret(&account, &secret);
    let confirm = h
        .post(
            &mut other,
            "/account/code-display/confirm",
            &[
                ("csrf", &account.input("csrf")),
                ("code", &code_of(&h, &secret)),
            ],
        )
        .await;
    assert_eq!(confirm.status, 400, "{}", confirm.body);
    assert_no_secret(&h.get(&mut other, "/account").await, &secret);
    assert_eq!(code_displays(&h).await, before, "nothing was enrolled");
}

#[tokio::test]
async fn the_starting_session_no_longer_sees_the_secret_once_its_login_is_stale() {
    let h = Harness::new().await;
    let (mut victim, _, secret) = start_enrolment(&h).await;
    h.clock
        .advance(time::Duration::minutes(5) + time::Duration::seconds(1));
    assert_no_secret(&h.get(&mut victim, "/account").await, &secret);
}
