//! The authenticator's login pages as a citizen meets them (issue 13, points 3, 4, 5 and 10): the
//! advice when the service asks for a level the person does not reach, the errors of the login
//! steps, the method page, and the choice offered by a live session.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use eid_core::{
    Authenticator, AuthenticatorKind, AuthenticatorRepository, Clock, Cpr, Loa, Person,
    PersonRepository, PersonStatus,
};
use eid_idp::IdpConfig;
use eid_oidc::{ClientRegistration, TokenEndpointAuthMethod};
use harness::{Client, Harness, Reply};
use uuid::Uuid;

const CLIENT: &str = "broker";
const CLIENT_NAME: &str = "NemLog-in (demo)";
const REDIRECT: &str = "http://localhost:8080/upstream/mitid/callback";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const SUBSTANTIAL: &str = "https://data.gov.dk/concept/core/nsis/loa/Substantial";
const HIGH: &str = "https://data.gov.dk/concept/core/nsis/loa/High";
/// Karen: proofed Substantial, a password only.
const KAREN: &str = "6b0c6a52-3e0e-4f3a-9a39-0d5c1f1a0007";

fn with_client(config: &mut IdpConfig) {
    config.clients = vec![
        ClientRegistration::new(
            CLIENT,
            CLIENT_NAME,
            vec![REDIRECT.into()],
            vec![],
            TokenEndpointAuthMethod::ClientSecretBasic,
            Some("broker-secret-for-these-tests-0123"),
        )
        .unwrap(),
    ];
}

/// The authenticator with the client, and Karen (password only) besides Anna and Mikkel.
async fn harness() -> Harness {
    let h = Harness::with(with_client).await;
    let id = Uuid::parse_str(KAREN).unwrap();
    let now = h.clock.now();
    h.durable
        .upsert_person(&Person {
            id,
            cpr: Cpr::parse("1503459992").unwrap(),
            given_name: "Karen".into(),
            family_name: "Jensen".into(),
            birthdate: time::macros::date!(1945 - 03 - 15),
            ial: Loa::Substantial,
            status: PersonStatus::Active,
            legally_competent: true,
            user_id: None,
            created_at: now,
        })
        .await
        .unwrap();
    h.durable.set_user_id(id, "karen").await.unwrap();
    h.durable
        .add_authenticator(&Authenticator {
            id: Uuid::new_v4(),
            person: id,
            kind: AuthenticatorKind::Password,
            label: "Password".into(),
            secret: eid_idp::password::hash("karen-pass-1")
                .unwrap()
                .into_bytes(),
            created_at: now,
            last_used_at: None,
        })
        .await
        .unwrap();
    h
}

/// The client's authorization request with `extra` parameters.
fn authorize_path(extra: &[(&str, &str)]) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.extend_pairs([
        ("response_type", "code"),
        ("client_id", CLIENT),
        ("redirect_uri", REDIRECT),
        ("scope", "openid"),
        ("state", "state-1"),
        ("nonce", "nonce-1"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]);
    query.extend_pairs(extra.iter().copied());
    format!("/authorize?{}", query.finish())
}

/// Follows an authorization request to the page it leads to.
async fn open(h: &Harness, browser: &mut Client, extra: &[(&str, &str)]) -> Reply {
    let to_login = h.get(browser, &authorize_path(extra)).await;
    assert_eq!(to_login.status, 303, "{}", to_login.body);
    let location = to_login.location.unwrap();
    assert!(location.starts_with("/login?tx="), "{location}");
    h.get(browser, &location).await
}

/// Enters a user ID on the user-ID page.
async fn enter(h: &Harness, browser: &mut Client, page: &Reply, user: &str) -> Reply {
    h.post(
        browser,
        "/login/user",
        &[
            ("tx", &page.input("tx")),
            ("csrf", &page.input("csrf")),
            ("user_id", user),
        ],
    )
    .await
}

/// Enters a user ID and follows to the page after it.
async fn methods(h: &Harness, browser: &mut Client, page: &Reply, user: &str) -> Reply {
    let after = enter(h, browser, page, user).await;
    assert_eq!(after.status, 303, "{}", after.body);
    h.get(browser, &after.location.unwrap()).await
}

/// The text of the element with `id` (its first text, tags removed).
fn text_of(page: &Reply, id: &str) -> String {
    let marker = format!("id=\"{id}\"");
    let start = page
        .body
        .find(&marker)
        .unwrap_or_else(|| panic!("no #{id}: {}", page.body));
    let rest = &page.body[start..];
    let open_end = rest.find('>').unwrap() + 1;
    let close = rest.find("</p>").unwrap_or(rest.len());
    let inner = &rest[open_end..close];
    let mut out = String::new();
    let mut in_tag = false;
    for c in inner.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

/// The `href` of the element with `id`, unescaped.
fn href(page: &Reply, id: &str) -> Option<String> {
    let start = page.body.find(&format!("id=\"{id}\""))?;
    let tag_start = page.body[..start].rfind('<')?;
    let tag = &page.body[tag_start..];
    let tag = &tag[..tag.find('>')?];
    let h = tag.find("href=\"")? + "href=\"".len();
    let end = tag[h..].find('"')?;
    Some(tag[h..h + end].replace("&#38;", "&").replace("&amp;", "&"))
}

fn query(url: &str) -> std::collections::HashMap<String, String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

// ---- Point 3: a level the person does not reach ----

#[tokio::test]
async fn a_password_only_person_asked_for_substantial_is_told_the_app_or_a_code_display() {
    let h = harness().await;
    let mut browser = Client::new();
    let page = open(&h, &mut browser, &[("acr_values", SUBSTANTIAL)]).await;
    let answer = enter(&h, &mut browser, &page, "karen").await;
    let page = h.get(&mut browser, &answer.location.unwrap()).await;
    assert_eq!(page.status, 403, "{}", page.body);
    assert!(!page.body.contains("kan ikke bruges"), "{}", page.body);
    let needed = text_of(&page, "level-needed");
    assert!(
        needed.contains("kræver sikringsniveau Betydelig"),
        "{needed}"
    );
    assert!(needed.contains("når du sikringsniveau Lav"), "{needed}");
    let advice = text_of(&page, "level-advice");
    assert!(
        advice.contains("MitID-appen eller en kodeviser"),
        "{advice}"
    );
    assert!(!advice.contains("adgangsnøgle"), "{advice}");
    // A password alone cannot make account changes: the way is support, not My MitID.
    assert!(advice.contains("MitID-support"), "{advice}");
    // The client is told the level was not reached.
    let back = href(&page, "back-to-service").unwrap();
    let q = query(&back);
    assert_eq!(q["error"], "access_denied", "{back}");
    assert!(
        q["error_description"].starts_with("level of assurance not reached"),
        "{back}"
    );
    let audited = h.audited("login.level_unreachable").await;
    assert_eq!(audited.len(), 1);
}

#[tokio::test]
async fn a_person_proofed_high_asked_for_high_is_told_a_passkey_in_english_too() {
    let h = harness().await;
    let mut browser = Client::new();
    let page = open(
        &h,
        &mut browser,
        &[("acr_values", HIGH), ("ui_locales", "en")],
    )
    .await;
    let page = methods(&h, &mut browser, &page, "anna").await;
    assert_eq!(page.status, 403, "{}", page.body);
    let needed = text_of(&page, "level-needed");
    assert!(needed.contains("requires assurance level High"), "{needed}");
    assert!(
        needed.contains("you reach assurance level Substantial"),
        "{needed}"
    );
    let advice = text_of(&page, "level-advice");
    assert!(advice.contains("a passkey (security key)"), "{advice}");
    assert!(
        !advice.contains("MitID app"),
        "the app reaches only Substantial: {advice}"
    );
    assert!(!page.body.contains("cannot be used"), "{}", page.body);
}

#[tokio::test]
async fn a_person_proofed_only_at_substantial_is_told_to_have_the_identity_verified() {
    let h = harness().await;
    let mut browser = Client::new();
    let page = open(&h, &mut browser, &[("acr_values", HIGH)]).await;
    let page = methods(&h, &mut browser, &page, "mikkel").await;
    assert_eq!(page.status, 403, "{}", page.body);
    let advice = text_of(&page, "level-advice");
    assert!(
        advice.contains("Din identitet skal først bekræftes på sikringsniveau Høj"),
        "{advice}"
    );
    assert!(advice.contains("Borgerservice"), "{advice}");
    assert!(
        !advice.contains("adgangsnøgle"),
        "no authenticator helps: {advice}"
    );
    assert!(href(&page, "to-account").is_none(), "My MitID cannot help");
    let needed = text_of(&page, "level-needed");
    assert!(
        needed.contains("når du sikringsniveau Betydelig"),
        "{needed}"
    );
}

#[tokio::test]
async fn a_login_with_a_weaker_method_than_the_person_has_names_the_one_that_reaches() {
    let h = harness().await;
    let mut browser = Client::new();
    let page = open(&h, &mut browser, &[("acr_values", SUBSTANTIAL)]).await;
    let page = methods(&h, &mut browser, &page, "anna").await;
    assert_eq!(page.status, 200, "{}", page.body);
    // Only what reaches the level is offered: the code is required.
    assert!(
        page.body.contains("action=\"/login/code-display\""),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains("action=\"/login/password\""),
        "{}",
        page.body
    );
    // A password alone posted all the same does not pass.
    let after = h.submit_password(&mut browser, &page, "anna-pass-1").await;
    assert_eq!(after.status, 403, "{}", after.body);
    let advice = text_of(&after, "level-advice");
    assert!(advice.contains("brug en kodeviser"), "{advice}");
    let back = href(&after, "back-to-service").unwrap();
    assert!(
        query(&back)["error_description"].starts_with("level of assurance not reached"),
        "{back}"
    );
}

// ---- Point 5: the errors of the login steps ----

/// Posts the one password form of a methods page (with a code from the code display if given).
async fn password_form(
    h: &Harness,
    browser: &mut Client,
    page: &Reply,
    password: &str,
    code: Option<&str>,
) -> Reply {
    let mut form = vec![
        ("tx", page.input("tx")),
        ("csrf", page.input("csrf")),
        ("password", password.to_owned()),
    ];
    if let Some(code) = code {
        form.push(("code", code.to_owned()));
    }
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    h.post(browser, "/login/password", &form).await
}

#[tokio::test]
async fn a_wrong_password_names_the_password_and_warns_before_the_lock_out() {
    let h = harness().await;
    let mut browser = Client::new();
    let page = open(&h, &mut browser, &[]).await;
    let page = methods(&h, &mut browser, &page, "anna").await;
    let mut answers = Vec::new();
    for _ in 0..5 {
        let answer = password_form(&h, &mut browser, &page, "wrong-password", None).await;
        assert_eq!(answer.status, 401, "{}", answer.body);
        answers.push(answer.body);
    }
    for body in &answers[..4] {
        assert!(body.contains("Adgangskoden er forkert."), "{body}");
        assert!(
            !body.contains("Bruger-id, adgangskode eller kode"),
            "{body}"
        );
    }
    assert!(
        !answers[0].contains("forsøg tilbage"),
        "no warning while many remain"
    );
    assert!(
        !answers[1].contains("forsøg tilbage"),
        "no warning while many remain"
    );
    assert!(
        answers[2].contains("Du har 2 forsøg tilbage"),
        "{}",
        answers[2]
    );
    assert!(
        answers[3].contains("Du har 1 forsøg tilbage"),
        "{}",
        answers[3]
    );
    assert!(
        answers[4].contains("midlertidigt spærret"),
        "{}",
        answers[4]
    );

    // A new login: the locked person is told right after the user ID, and asked for no secret.
    let mut again = Client::new();
    let page = open(&h, &mut again, &[]).await;
    let page = methods(&h, &mut again, &page, "anna").await;
    assert_eq!(page.status, 401, "{}", page.body);
    assert!(page.body.contains("midlertidigt spærret"), "{}", page.body);
    assert!(!page.body.contains("type=\"password\""), "{}", page.body);
    let locked_out = h.audited("login.locked_out").await;
    assert!(!locked_out.is_empty(), "the refusal is audited");
    // Every refused attempt is on Anna's own log: the wrong passwords with their method, the
    // lock-out after the user ID.
    let anna = Some(harness::ANNA.to_owned());
    let wrong = h.audited("login.failure").await;
    assert_eq!(wrong.len(), 5, "{wrong:?}");
    for e in &wrong {
        assert_eq!(e.person.map(|p| p.to_string()), anna, "{e:?}");
        assert_eq!(e.details["method"], "password");
    }
    assert!(
        locked_out
            .iter()
            .all(|e| e.person.map(|p| p.to_string()) == anna),
        "{locked_out:?}"
    );
    // Whoever submits the user ID again and again adds nothing more to the person's log.
    let before = h.audited("login.locked_out").await.len();
    for _ in 0..5 {
        let mut stranger = Client::new();
        let page = open(&h, &mut stranger, &[]).await;
        let page = methods(&h, &mut stranger, &page, "anna").await;
        assert!(page.body.contains("midlertidigt spærret"), "{}", page.body);
    }
    assert_eq!(h.audited("login.locked_out").await.len(), before);
}

#[tokio::test]
async fn a_wrong_code_does_not_say_which_of_password_and_code_was_wrong_in_english_too() {
    let h = harness().await;
    let mut browser = Client::new();
    let page = open(&h, &mut browser, &[("ui_locales", "en")]).await;
    let page = methods(&h, &mut browser, &page, "anna").await;
    let wrong_code = if h.totp() == "000000" {
        "111111"
    } else {
        "000000"
    };
    let answer = password_form(&h, &mut browser, &page, "anna-pass-1", Some(wrong_code)).await;
    assert_eq!(answer.status, 401, "{}", answer.body);
    assert!(
        answer
            .body
            .contains("The password or the code from the code display is wrong."),
        "{}",
        answer.body
    );
    assert!(
        !answer.body.contains("user ID, password or code"),
        "{}",
        answer.body
    );
}

#[tokio::test]
async fn an_unknown_user_id_stays_in_the_field_and_links_to_the_activation() {
    let h = harness().await;
    let mut browser = Client::new();
    let page = open(&h, &mut browser, &[]).await;
    let answer = enter(&h, &mut browser, &page, "nobody.here").await;
    assert_eq!(answer.status, 401, "{}", answer.body);
    assert!(
        answer.body.contains("value=\"nobody.here\""),
        "{}",
        answer.body
    );
    assert!(
        answer
            .body
            .contains("<a href=\"/activate\" id=\"activate-link\">aktivér dit MitID</a>"),
        "{}",
        answer.body
    );
    // What is kept is bounded, and escaped.
    let long = format!("<b>{}", "x".repeat(300));
    let answer = enter(&h, &mut browser, &page, &long).await;
    assert_eq!(answer.status, 401);
    assert!(!answer.body.contains("<b>x"), "escaped");
    assert!(!answer.body.contains(&"x".repeat(65)), "bounded");
}

#[tokio::test]
async fn an_expired_login_and_an_unknown_page_follow_the_browsers_language() {
    let h = harness().await;
    let mut english = Client::new();
    english
        .headers
        .push(("accept-language", "en-GB,en;q=0.9".to_owned()));
    let expired = h.get(&mut english, "/login?tx=no-such-login").await;
    assert_eq!(expired.status, 400);
    assert!(expired.body.contains("lang=\"en\""), "{}", expired.body);
    assert!(
        expired.body.contains("Your login has expired"),
        "{}",
        expired.body
    );
    let posted = h
        .post(
            &mut english,
            "/login/password",
            &[("tx", "no-such-login"), ("csrf", "x"), ("password", "x")],
        )
        .await;
    assert_eq!(posted.status, 400);
    assert!(
        posted.body.contains("Your login has expired"),
        "{}",
        posted.body
    );
    let missing = h.get(&mut english, "/no-such-page").await;
    assert_eq!(missing.status, 404);
    assert!(missing.body.contains("Page not found"), "{}", missing.body);
    assert!(!missing.body.contains(">404<"), "{}", missing.body);

    let mut danish = Client::new();
    danish.headers.push(("accept-language", "da".to_owned()));
    let expired = h.get(&mut danish, "/login?tx=no-such-login").await;
    assert!(
        expired.body.contains("Dit login er udløbet"),
        "{}",
        expired.body
    );
    let missing = h.get(&mut danish, "/no-such-page").await;
    assert!(
        missing.body.contains("Siden findes ikke"),
        "{}",
        missing.body
    );
}

// ---- Point 4: the method page ----

#[tokio::test]
async fn the_method_page_has_one_password_field_and_says_choose_only_with_a_choice() {
    let h = harness().await;
    let mut browser = Client::new();
    let page = open(&h, &mut browser, &[]).await;
    let page = methods(&h, &mut browser, &page, "anna").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(
        page.body.matches("type=\"password\"").count(),
        1,
        "{}",
        page.body
    );
    assert_eq!(page.body.matches(">Adgangskode</label>").count(), 1);
    assert!(
        page.body.contains("<h1>Vælg, hvordan du vil godkende</h1>"),
        "{}",
        page.body
    );
    // The one form logs in with the code display when a code is given.
    let done = password_form(&h, &mut browser, &page, "anna-pass-1", Some(&h.totp())).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert!(done.location.unwrap().starts_with(REDIRECT));
    let success = h.audited("login.success").await;
    assert_eq!(success.len(), 1);
    assert_eq!(success[0].details["method"], "code_display");
    assert_eq!(
        success[0].person.map(|p| p.to_string()).as_deref(),
        Some(harness::ANNA)
    );
    assert!(success[0].details["loa"].is_string(), "{:?}", success[0]);

    // One method only: no "choose".
    let mut browser = Client::new();
    let page = open(&h, &mut browser, &[]).await;
    let page = methods(&h, &mut browser, &page, "karen").await;
    assert!(!page.body.contains("Vælg"), "{}", page.body);
    assert!(
        page.body.contains("<h1>Log på med MitID</h1>"),
        "{}",
        page.body
    );
    assert_eq!(page.body.matches("type=\"password\"").count(), 1);
}

#[tokio::test]
async fn not_you_starts_over_with_another_user_id_and_help_says_what_to_do() {
    let h = harness().await;
    let mut browser = Client::new();
    let page = open(&h, &mut browser, &[]).await;
    assert!(page.body.contains("Glemt bruger-id?"), "{}", page.body);
    let page = methods(&h, &mut browser, &page, "karen").await;
    assert!(page.body.contains("Ikke dig?"), "{}", page.body);
    assert!(page.body.contains("Glemt adgangskode?"), "{}", page.body);
    let restarted = h
        .post(
            &mut browser,
            "/login/restart",
            &[("tx", &page.input("tx")), ("csrf", &page.input("csrf"))],
        )
        .await;
    assert_eq!(restarted.status, 303, "{}", restarted.body);
    let user_page = h.get(&mut browser, &restarted.location.unwrap()).await;
    assert!(
        user_page.body.contains("name=\"user_id\""),
        "{}",
        user_page.body
    );
    // The same login goes on with another person.
    let page = methods(&h, &mut browser, &user_page, "anna").await;
    assert!(page.body.contains("<strong>anna</strong>"), "{}", page.body);

    let help_link = href(&page, "forgot-password").unwrap();
    let help = h.get(&mut browser, &help_link).await;
    assert_eq!(help.status, 200, "{}", help.body);
    assert!(help.body.contains("CPR-nummer"), "{}", help.body);
    assert!(help.body.contains("aktiveringskode"), "{}", help.body);
    assert!(
        help.body.contains("id=\"back-to-login\""),
        "back to this login"
    );
    let help = h.get(&mut Client::new(), "/help/forgotten?lang=en").await;
    assert!(
        help.body.contains("Forgotten your user ID or password?"),
        "{}",
        help.body
    );
    assert!(
        !help.body.contains("back-to-login"),
        "no login of this browser"
    );
}

#[tokio::test]
async fn a_step_up_cannot_change_the_person() {
    let h = harness().await;
    let (mut browser, account) = h.password_session("anna", "anna-pass-1").await;
    let to = h
        .post(
            &mut browser,
            "/account/code-display/start",
            &[("csrf", &account.input("csrf"))],
        )
        .await;
    let page = h.get(&mut browser, &to.location.unwrap()).await;
    assert!(page.body.contains("step-up-reason"), "{}", page.body);
    assert!(!page.body.contains("id=\"not-you\""), "{}", page.body);
    let refused = h
        .post(
            &mut browser,
            "/login/restart",
            &[("tx", &page.input("tx")), ("csrf", &page.input("csrf"))],
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
}

// ---- Point 10: a live session is offered, not used silently ----

/// Logs Karen in through the client with her password; returns the browser with her session.
async fn karen_session(h: &Harness) -> Client {
    let mut browser = Client::new();
    let page = open(h, &mut browser, &[]).await;
    let page = methods(h, &mut browser, &page, "karen").await;
    let done = password_form(h, &mut browser, &page, "karen-pass-1", None).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert!(done.location.unwrap().starts_with(REDIRECT));
    browser
}

#[tokio::test]
async fn a_live_session_offers_to_continue_or_use_another_method() {
    let h = harness().await;
    let mut browser = karen_session(&h).await;
    let page = open(&h, &mut browser, &[]).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("Fortsæt som Karen (adgangskode)"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Brug en anden metode"), "{}", page.body);
    assert!(!page.body.contains("type=\"password\""), "{}", page.body);
    let done = h
        .post(
            &mut browser,
            "/login/continue",
            &[("tx", &page.input("tx")), ("csrf", &page.input("csrf"))],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    let location = done.location.unwrap();
    assert!(
        location.starts_with(REDIRECT) && location.contains("code="),
        "{location}"
    );
    assert_eq!(h.audited("login.session_continued").await.len(), 1);

    // Another method: the methods of the same person.
    let page = open(&h, &mut browser, &[("ui_locales", "en")]).await;
    assert!(
        page.body.contains("Continue as Karen (password)"),
        "{}",
        page.body
    );
    let other = h
        .post(
            &mut browser,
            "/login/other",
            &[("tx", &page.input("tx")), ("csrf", &page.input("csrf"))],
        )
        .await;
    assert_eq!(other.status, 303);
    let page = h.get(&mut browser, &other.location.unwrap()).await;
    assert!(page.body.contains("type=\"password\""), "{}", page.body);
    assert!(!page.body.contains("continue-session"), "{}", page.body);
}

#[tokio::test]
async fn prompt_none_stays_silent_and_a_session_below_the_level_is_not_offered() {
    let h = harness().await;
    let mut browser = karen_session(&h).await;
    let silent = h
        .get(&mut browser, &authorize_path(&[("prompt", "none")]))
        .await;
    assert_eq!(silent.status, 303);
    let location = silent.location.unwrap();
    assert!(
        location.starts_with(REDIRECT) && location.contains("code="),
        "{location}"
    );
    // Her session is Low: a Substantial request is no offer to continue.
    let to_login = h
        .get(
            &mut browser,
            &authorize_path(&[("acr_values", SUBSTANTIAL)]),
        )
        .await;
    let page = h.get(&mut browser, &to_login.location.unwrap()).await;
    assert!(!page.body.contains("continue-session"), "{}", page.body);
    // Continuing without an offer (a forged post) answers nothing.
    let forged = h
        .post(
            &mut browser,
            "/login/continue",
            &[("tx", &page.input("tx")), ("csrf", &page.input("csrf"))],
        )
        .await;
    assert!(
        forged
            .location
            .as_deref()
            .is_none_or(|l| !l.contains("code=")),
        "{forged:?}"
    );
}

/// A spent code with the right password is refused in the same words as a wrong password: the
/// code must not tell whoever holds a spent one that the password they tried is right.
#[tokio::test]
async fn a_spent_code_does_not_confirm_the_password() {
    let h = Harness::new().await;
    let (_owner, _account) = h.code_display_session("anna", "anna-pass-1").await;
    // Within the same time step, someone with the spent code tries passwords.
    let mut thief = Client::new();
    let methods = h.start_account_login(&mut thief, "anna").await;
    let right = h
        .submit_code_display(&mut thief, &methods, "anna-pass-1")
        .await;
    let mut other = Client::new();
    let methods = h.start_account_login(&mut other, "anna").await;
    let wrong = h
        .submit_code_display(&mut other, &methods, "not-annas-pass")
        .await;
    assert_ne!(
        right.location.as_deref(),
        Some("/account"),
        "a spent code logs nobody in"
    );
    let t = eid_idp::texts::texts(eid_core::Lang::Da);
    assert!(
        right.body.contains(t.wrong_password_or_code),
        "{}",
        right.body
    );
    assert!(
        wrong.body.contains(t.wrong_password_or_code),
        "{}",
        wrong.body
    );
    assert_eq!(right.status, wrong.status);
}
