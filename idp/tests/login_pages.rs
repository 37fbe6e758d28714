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
    let start = page.body.find(&marker).unwrap_or_else(|| panic!("no #{id}: {}", page.body));
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
    assert!(needed.contains("kræver sikringsniveau Betydelig"), "{needed}");
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
    assert!(needed.contains("you reach assurance level Substantial"), "{needed}");
    let advice = text_of(&page, "level-advice");
    assert!(advice.contains("a passkey (security key)"), "{advice}");
    assert!(!advice.contains("MitID app"), "the app reaches only Substantial: {advice}");
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
    assert!(!advice.contains("adgangsnøgle"), "no authenticator helps: {advice}");
    assert!(href(&page, "to-account").is_none(), "My MitID cannot help");
    let needed = text_of(&page, "level-needed");
    assert!(needed.contains("når du sikringsniveau Betydelig"), "{needed}");
}

#[tokio::test]
async fn a_login_with_a_weaker_method_than_the_person_has_names_the_one_that_reaches() {
    let h = harness().await;
    let mut browser = Client::new();
    let page = open(&h, &mut browser, &[("acr_values", SUBSTANTIAL)]).await;
    let page = methods(&h, &mut browser, &page, "anna").await;
    assert_eq!(page.status, 200, "{}", page.body);
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
