//! The SAML demo service beside the OIDC demo service: one login at the broker serves both
//! (single sign-on, each with its own pairwise identifier), a step-up, single logout either way,
//! and the demo service as a strict SP that refuses a forged, misdirected, replayed or
//! unsolicited Response. Plus its pages in Chromium with axe-core, in Danish and English.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use eid_testkit::client::Page;
use eid_testkit::{Browser, Component, TestStack};

use crate::broker_support::{choices, choose};
use crate::idp_account::{ANNA_TOTP, totp_code};
use crate::support::enter_user_id;

/// Where no test follows (every hop stays inside the stack).
const NOWHERE: &str = "http://localhost:1/";
/// Anna's CPR number, released to both demo services.
const ANNA_CPR: &str = "0107709991";

async fn stack() -> TestStack {
    TestStack::builder()
        .demo_saml_service()
        .start()
        .await
        .unwrap()
}

fn demo(stack: &TestStack) -> &str {
    stack.url(Component::DemoRp)
}

/// How the person logs in at the authenticator.
#[derive(Clone, Copy)]
pub enum Method {
    /// Password only: Low.
    Password,
    /// Password and code display (`step` time steps from now): Substantial.
    CodeDisplay(i64),
}

/// Anna holds a power of attorney from Karen for the SAML demo service (the demo data): where the
/// broker asks whom she acts for, she acts for herself.
async fn as_herself(stack: &TestStack, browser: &Browser, page: Page) -> Page {
    if choices(&page).is_empty() {
        page
    } else {
        choose(stack, browser, &page, "self", NOWHERE).await
    }
}

/// Logs Anna in at the authenticator's user-ID page; returns where the browser ends.
pub async fn authenticate(
    stack: &TestStack,
    browser: &Browser,
    user_page: &Page,
    method: Method,
) -> Page {
    assert!(
        user_page.url.starts_with(stack.url(Component::Idp)),
        "expected the authenticator: {user_page:?}"
    );
    let methods = enter_user_id(stack, browser, user_page, "anna").await;
    let idp = stack.url(Component::Idp);
    let mut form = vec![
        ("tx", methods.must_input("tx")),
        ("csrf", methods.must_input("csrf")),
        ("password", "anna-demo-pass".to_owned()),
    ];
    let path = match method {
        Method::Password => "password",
        Method::CodeDisplay(step) => {
            form.push(("code", totp_code(ANNA_TOTP, step)));
            "code-display"
        }
    };
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let page = browser
        .post(&format!("{idp}/login/{path}"), &form, NOWHERE)
        .await;
    as_herself(stack, browser, page).await
}

/// A login at the OIDC demo service (`Log på`); returns its page of the logged-in person.
pub async fn oidc_login(stack: &TestStack, browser: &Browser, method: Method) -> Page {
    let home = browser.get(&format!("{}/", demo(stack)), NOWHERE).await;
    let user_page = browser
        .post(
            &format!("{}/login", demo(stack)),
            &[("csrf", &home.must_input("csrf"))],
            NOWHERE,
        )
        .await;
    let page = authenticate(stack, browser, &user_page, method).await;
    assert!(page.body.contains("Anna Jensen"), "{page:?}");
    page
}

/// `Log på` at the SAML demo service (at `level`, `None` for the plain button); returns where
/// the browser stops: the broker's page posting the Response, or the authenticator.
async fn saml_begin(stack: &TestStack, browser: &Browser, level: Option<&str>) -> Page {
    let home = browser
        .get(&format!("{}/saml/", demo(stack)), NOWHERE)
        .await;
    assert_eq!(home.status, 200, "{home:?}");
    let csrf = home.must_input("csrf");
    let mut form = vec![("csrf", csrf.as_str())];
    if let Some(level) = level {
        form.push(("level", level));
    }
    let page = browser
        .post(&format!("{}/saml/login", demo(stack)), &form, NOWHERE)
        .await;
    as_herself(stack, browser, page).await
}

/// The broker's auto-submitting page: its action, `SAMLResponse` and `RelayState`.
fn posted(page: &Page) -> (String, String, String) {
    assert!(
        page.body.contains("name=\"SAMLResponse\""),
        "not a SAML POST page: {page:?}"
    );
    let start = page.body.find("action=\"").unwrap() + "action=\"".len();
    let end = start + page.body[start..].find('"').unwrap();
    (
        page.body[start..end].to_owned(),
        page.must_input("SAMLResponse"),
        page.must_input("RelayState"),
    )
}

/// Posts a Response to the demo service's ACS, as the broker's page would; follows the browser.
async fn post_response(stack: &TestStack, browser: &Browser, response: &str, relay: &str) -> Page {
    browser
        .post(
            &format!("{}/saml/acs", demo(stack)),
            &[("SAMLResponse", response), ("RelayState", relay)],
            NOWHERE,
        )
        .await
}

/// The whole SAML login from a page posting the Response: the demo service's page.
pub async fn saml_complete(stack: &TestStack, browser: &Browser, page: &Page) -> Page {
    let (action, response, relay) = posted(page);
    assert_eq!(action, format!("{}/saml/acs", demo(stack)));
    let page = post_response(stack, browser, &response, &relay).await;
    assert_eq!(page.url, format!("{}/saml/", demo(stack)), "{page:?}");
    page
}

/// The value of a row of the technical table.
fn row(page: &Page, name: &str) -> Option<String> {
    let needle = format!("<tr><td>{name}</td><td class=\"wrap\">");
    let start = page.body.find(&needle)? + needle.len();
    let end = start + page.body[start..].find('<')?;
    Some(page.body[start..end].to_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_login_at_the_oidc_service_lets_the_saml_service_in_without_another_login() {
    let stack = stack().await;
    let browser = Browser::new();
    let oidc = oidc_login(&stack, &browser, Method::CodeDisplay(0)).await;
    assert_eq!(
        oidc.href("other-service").as_deref(),
        Some("/saml/"),
        "the OIDC page links to SAML"
    );
    let sub = row(&oidc, "sub").expect("the OIDC page shows the sub");

    let before = browser
        .get(&format!("{}/saml/", demo(&stack)), NOWHERE)
        .await;
    assert!(!before.body.contains("Anna Jensen"), "no local session yet");
    assert_eq!(
        before.href("other-service").as_deref(),
        Some("/"),
        "the SAML page links back"
    );
    let page = saml_begin(&stack, &browser, None).await;
    assert!(
        page.url.starts_with(stack.url(Component::Broker)),
        "single sign-on: no visit to the authenticator: {page:?}"
    );
    let page = saml_complete(&stack, &browser, &page).await;
    assert!(page.body.contains("Anna Jensen"), "{}", page.body);
    assert!(
        page.body.contains(ANNA_CPR),
        "the CPR number is released to it"
    );
    assert!(page.body.contains("Betydelig"), "the level, in Danish");
    let name_id = row(&page, "NameID").expect("the NameID");
    let uuid = name_id
        .strip_prefix("https://data.gov.dk/model/core/eid/person/uuid/")
        .expect("a persistent person NameID");
    assert!(uuid::Uuid::parse_str(uuid).is_ok());
    assert_ne!(uuid, sub, "each service has its own pairwise identifier");
    assert_ne!(uuid, crate::support::ANNA, "never the person's register id");
    // Still logged in at the OIDC service: the same session serves both.
    let oidc_again = browser.get(&format!("{}/", demo(&stack)), NOWHERE).await;
    assert!(oidc_again.body.contains("Anna Jensen"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_saml_service_steps_a_low_session_up_at_the_authenticator() {
    let stack = stack().await;
    let browser = Browser::new();
    oidc_login(&stack, &browser, Method::Password).await;
    // Log på asks Substantial: the Low session does not do, the broker steps up.
    let page = saml_begin(&stack, &browser, None).await;
    let back = authenticate(&stack, &browser, &page, Method::CodeDisplay(0)).await;
    let page = saml_complete(&stack, &browser, &back).await;
    assert!(page.body.contains("Betydelig"), "{}", page.body);
    assert_eq!(
        row(&page, "https://data.gov.dk/concept/core/nsis/loa").as_deref(),
        Some("Substantial")
    );
    // High steps up again: the authenticator is asked (Anna has no method for High).
    let page = saml_begin(&stack, &browser, Some("High")).await;
    assert!(
        page.url.starts_with(stack.url(Component::Idp)),
        "High is not answered from a Substantial session: {page:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn logout_at_the_saml_service_ends_the_shared_session() {
    let stack = stack().await;
    let browser = Browser::new();
    oidc_login(&stack, &browser, Method::CodeDisplay(0)).await;
    let page = saml_begin(&stack, &browser, None).await;
    let page = saml_complete(&stack, &browser, &page).await;
    let csrf = page.must_input("csrf");
    let page = browser
        .post(
            &format!("{}/saml/logout", demo(&stack)),
            &[("csrf", &csrf)],
            NOWHERE,
        )
        .await;
    assert!(
        page.url.starts_with(&format!("{}/saml/slo?", demo(&stack))),
        "back with the broker's LogoutResponse: {page:?}"
    );
    assert_eq!(page.status, 200, "{page:?}");
    assert!(page.body.contains("Du er logget af"), "{}", page.body);
    assert!(!page.body.contains("Anna Jensen"));
    // The OIDC service heard of it by back-channel logout.
    let oidc = browser.get(&format!("{}/", demo(&stack)), NOWHERE).await;
    assert!(!oidc.body.contains("Anna Jensen"), "{}", oidc.body);
    // The next login there asks again: no session at the broker answers it. (The authenticator's
    // own session is not ended by a SAML logout: it offers to continue as Anna.)
    let user_page = browser
        .post(
            &format!("{}/login", demo(&stack)),
            &[("csrf", &oidc.must_input("csrf"))],
            NOWHERE,
        )
        .await;
    assert!(
        user_page.url.starts_with(stack.url(Component::Idp)) && user_page.input("tx").is_some(),
        "the broker has no session left: {user_page:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn logout_at_the_oidc_service_reaches_the_saml_service_by_soap() {
    let stack = stack().await;
    let browser = Browser::new();
    oidc_login(&stack, &browser, Method::CodeDisplay(0)).await;
    let page = saml_begin(&stack, &browser, None).await;
    saml_complete(&stack, &browser, &page).await;
    let home = browser.get(&format!("{}/", demo(&stack)), NOWHERE).await;
    let after = browser
        .post(
            &format!("{}/logout", demo(&stack)),
            &[("csrf", &home.must_input("csrf"))],
            NOWHERE,
        )
        .await;
    assert_eq!(after.status, 200, "{after:?}");
    let saml = browser
        .get(&format!("{}/saml/", demo(&stack)), NOWHERE)
        .await;
    assert!(
        !saml.body.contains("Anna Jensen"),
        "the broker's SOAP LogoutRequest ended the SAML session: {}",
        saml.body
    );
}

/// The decoded XML of a `SAMLResponse` field.
fn decoded(field: &str) -> String {
    String::from_utf8(STANDARD.decode(field).unwrap()).unwrap()
}

fn attr(xml: &str, name: &str) -> String {
    let needle = format!("{name}=\"");
    let start = xml.find(&needle).unwrap() + needle.len();
    let end = start + xml[start..].find('"').unwrap();
    xml[start..end].to_owned()
}

/// A Response to the request `in_response_to` that says what the broker would, for another
/// person at level High, signed by a key that is not the broker's and encrypted to the service.
async fn forged(stack: &TestStack, in_response_to: &str) -> String {
    use eid_saml::dsig::{SignatureAlg, certificate_for, sign_enveloped};
    use eid_saml::messages::{Assertion, EncryptedAssertion, Response};
    let metadata = reqwest::get(format!("{}/saml/metadata", demo(stack)))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let sp = eid_saml::metadata::SpMetadata::parse(&metadata).unwrap();
    let recipient =
        eid_saml::enc::RecipientKey::from_certificate(&sp.encryption_certificates[0]).unwrap();
    let pem = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/crates/saml/tests/fixtures/dsig/rsa-other.pem"
    ))
    .unwrap();
    let key =
        std::sync::Arc::new(eid_keys::SigningKey::from_pem(&pem, eid_keys::Alg::RS256).unwrap());
    let now = time::OffsetDateTime::now_utc();
    let broker = format!("{}/saml/metadata", stack.url(Component::Broker));
    let acs = format!("{}/saml/acs", demo(stack));
    let assertion = Assertion {
        id: "_forged".into(),
        issue_instant: now,
        issuer: broker.clone(),
        subject: uuid::Uuid::new_v4(),
        sp_name_qualifier: None,
        recipient: acs.clone(),
        in_response_to: in_response_to.into(),
        confirmation_not_on_or_after: now + time::Duration::minutes(5),
        not_before: now,
        not_on_or_after: now + time::Duration::minutes(5),
        audience: sp.entity_id.clone(),
        authn_instant: now,
        session_index: "forged".into(),
        loa: eid_core::Loa::High,
        attributes: Vec::new(),
    };
    let signed = sign_enveloped(
        &assertion.to_xml(),
        &assertion.id,
        &key,
        SignatureAlg::RsaSha256,
        &certificate_for(&key, "eID broker SAML IdP").unwrap(),
    )
    .unwrap();
    let encrypted =
        eid_saml::enc::encrypt_element(&signed, &recipient, Default::default()).unwrap();
    let xml = Response {
        id: "_forged-response".into(),
        in_response_to: in_response_to.into(),
        issue_instant: now,
        destination: acs,
        issuer: broker,
    }
    .success_xml(&EncryptedAssertion::from_encrypted_xml(encrypted).unwrap());
    STANDARD.encode(xml)
}

/// The demo service's error page, without a login (`logged_in`: with the earlier one).
fn refused(page: &Page, logged_in: bool) {
    assert_eq!(page.status, 400, "{page:?}");
    assert!(
        page.body.contains("role=\"alert\""),
        "an error on the page: {}",
        page.body
    );
    assert_eq!(
        page.body.contains("Anna Jensen"),
        logged_in,
        "{}",
        page.body
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_saml_service_refuses_a_forged_misdirected_replayed_or_unsolicited_response() {
    let stack = stack().await;
    let browser = Browser::new();
    oidc_login(&stack, &browser, Method::CodeDisplay(0)).await;
    let (_, response_a, relay_a) = posted(&saml_begin(&stack, &browser, None).await);
    let (_, response_b, relay_b) = posted(&saml_begin(&stack, &browser, None).await);
    let (_, response_c, relay_c) = posted(&saml_begin(&stack, &browser, None).await);

    // A genuine Response to request A, posted for request B: another InResponseTo.
    refused(
        &post_response(&stack, &browser, &response_a, &relay_b).await,
        false,
    );
    // Request A answered by a Response the broker never signed.
    let request_a = attr(&decoded(&response_a), "InResponseTo");
    let forged = forged(&stack, &request_a).await;
    refused(
        &post_response(&stack, &browser, &forged, &relay_a).await,
        false,
    );
    // No RelayState: unsolicited.
    refused(
        &browser
            .post(
                &format!("{}/saml/acs", demo(&stack)),
                &[("SAMLResponse", response_c.as_str())],
                NOWHERE,
            )
            .await,
        false,
    );
    // The genuine Response to C is accepted once, and only once.
    let page = post_response(&stack, &browser, &response_c, &relay_c).await;
    assert!(page.body.contains("Anna Jensen"), "{page:?}");
    refused(
        &post_response(&stack, &browser, &response_c, &relay_c).await,
        true,
    );
    // Each attempt used its request: the genuine Response to A or B finds none now.
    refused(
        &post_response(&stack, &browser, &response_a, &relay_a).await,
        true,
    );
    refused(
        &post_response(&stack, &browser, &response_b, &relay_b).await,
        true,
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_verified_login_is_handed_only_to_the_browser_that_began_it() {
    let stack = stack().await;
    let browser = Browser::new();
    oidc_login(&stack, &browser, Method::CodeDisplay(0)).await;
    let (_, response, relay) = posted(&saml_begin(&stack, &browser, None).await);
    // Another browser posts it (a login forced on a victim): verified, but not handed over.
    let other = Browser::new();
    refused(
        &post_response(&stack, &other, &response, &relay).await,
        false,
    );
    let page = other.get(&format!("{}/saml/", demo(&stack)), NOWHERE).await;
    assert!(!page.body.contains("Anna Jensen"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_saml_service_publishes_its_metadata_and_refuses_forms_without_csrf_and_unsigned_logouts()
 {
    let stack = stack().await;
    let metadata = reqwest::get(format!("{}/saml/metadata", demo(&stack)))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let sp = eid_saml::metadata::SpMetadata::parse(&metadata).unwrap();
    assert_eq!(sp.entity_id, format!("{}/saml/metadata", demo(&stack)));
    assert!(sp.authn_requests_signed && sp.want_assertions_signed);
    assert_eq!(sp.acs[0].location, format!("{}/saml/acs", demo(&stack)));
    let browser = Browser::new();
    browser
        .get(&format!("{}/saml/", demo(&stack)), NOWHERE)
        .await;
    for path in ["login", "logout"] {
        let page = browser
            .post(
                &format!("{}/saml/{path}", demo(&stack)),
                &[("csrf", "wrong")],
                NOWHERE,
            )
            .await;
        assert_eq!(page.status, 403, "{path} without the CSRF token");
    }
    let request = r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_x" Version="2.0" IssueInstant="2026-11-30T10:00:00Z"><saml:Issuer>x</saml:Issuer><saml:NameID>y</saml:NameID></samlp:LogoutRequest>"#;
    let reply = reqwest::Client::new()
        .post(format!("{}/saml/slo/soap", demo(&stack)))
        .header("content-type", "text/xml")
        .body(eid_saml::sp::soap::envelope(request))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 400);
    assert!(reply.text().await.unwrap().contains("Fault"));
}

/// A LogoutRequest for the SAML service's SOAP endpoint, signed with the broker's own key (read
/// from the stack's key directory), as the broker sends it.
fn broker_logout(
    stack: &TestStack,
    name_id: &str,
    session_index: &str,
    destination: &str,
) -> String {
    use eid_saml::dsig::{SignatureAlg, certificate_for, sign_enveloped};
    use eid_saml::messages::{LogoutRequestOut, NameId, new_message_id};
    let keys =
        eid_keys::KeyStore::open(&stack.data_dir.join("keys").join("broker"), Vec::new()).unwrap();
    let key = keys.signing_key(eid_keys::Alg::RS256).unwrap();
    let now = time::OffsetDateTime::now_utc();
    let out = LogoutRequestOut {
        id: new_message_id(),
        issue_instant: now,
        destination: destination.to_owned(),
        not_on_or_after: now + time::Duration::minutes(5),
        issuer: format!("{}/saml/metadata", stack.url(Component::Broker)),
        name_id: NameId {
            value: name_id.to_owned(),
            format: Some(eid_saml::NAMEID_PERSISTENT.to_owned()),
            name_qualifier: None,
            sp_name_qualifier: None,
        },
        session_index: session_index.to_owned(),
    };
    let signed = sign_enveloped(
        &out.to_xml(),
        &out.id,
        &key,
        SignatureAlg::RsaSha256,
        &certificate_for(&key, "eID broker SAML IdP").unwrap(),
    )
    .unwrap();
    eid_saml::sp::soap::envelope(&signed)
}

async fn soap(stack: &TestStack, envelope: &str) -> (u16, String) {
    let reply = reqwest::Client::new()
        .post(format!("{}/saml/slo/soap", demo(stack)))
        .header("content-type", "text/xml")
        .body(envelope.to_owned())
        .send()
        .await
        .unwrap();
    (reply.status().as_u16(), reply.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_back_channel_logout_ends_the_named_session_once_and_only_at_its_endpoint() {
    let stack = stack().await;
    let browser = Browser::new();
    oidc_login(&stack, &browser, Method::CodeDisplay(0)).await;
    let page = saml_begin(&stack, &browser, None).await;
    let page = saml_complete(&stack, &browser, &page).await;
    let name_id = row(&page, "NameID").unwrap();
    let index = row(&page, "SessionIndex").unwrap();
    let soap_url = format!("{}/saml/slo/soap", demo(&stack));
    // Addressed to another endpoint: refused, the session stays.
    let elsewhere = broker_logout(
        &stack,
        &name_id,
        &index,
        &format!("{}/saml/slo", demo(&stack)),
    );
    assert_eq!(soap(&stack, &elsewhere).await.0, 400);
    let still = browser
        .get(&format!("{}/saml/", demo(&stack)), NOWHERE)
        .await;
    assert!(still.body.contains("Anna Jensen"));
    // The broker's request ends it, with a signed Success; the same request again is refused.
    let request = broker_logout(&stack, &name_id, &index, &soap_url);
    let (status, body) = soap(&stack, &request).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("status:Success") && body.contains("<ds:Signature"),
        "{body}"
    );
    let gone = browser
        .get(&format!("{}/saml/", demo(&stack)), NOWHERE)
        .await;
    assert!(!gone.body.contains("Anna Jensen"), "{}", gone.body);
    assert_eq!(
        soap(&stack, &request).await.0,
        400,
        "a replayed LogoutRequest"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_saml_service_pages_pass_axe_and_the_size_and_focus_checks_in_both_languages() {
    let Some(chrome) = eid_testkit::chrome::Chrome::launch_with_axe().await else {
        return;
    };
    let stack = stack().await;
    let demo = demo(&stack).to_owned();
    let mut problems = Vec::new();
    let mut pages = 0;
    for (step, lang) in ["da", "en"].into_iter().enumerate() {
        chrome.clear_cookies().await;
        chrome.set_language(lang).await;
        let mut walk = crate::browser_support::Walk::new(&chrome, lang);
        walk.visit("SAML demo service: home", &format!("{demo}/saml/"))
            .await;
        walk.visit(
            "SAML demo service: a failed login",
            &format!("{demo}/saml/welcome?state=unknown"),
        )
        .await;
        // A login at the OIDC demo service, then the SAML one by single sign-on.
        walk.open_user_id_page(&demo, false).await;
        chrome.fill_and_submit(&[("user_id", "anna")]).await;
        walk.wait("document.getElementById('pw-password') !== null")
            .await;
        let code = totp_code(ANNA_TOTP, step as i64);
        chrome
            .fill_and_submit(&[("pw-password", "anna-demo-pass"), ("cd-code", &code)])
            .await;
        walk.wait(&format!(
            "window.location.href === {:?}",
            format!("{demo}/")
        ))
        .await;
        walk.check("OIDC demo service: logged in, with the link")
            .await;
        walk.click("#other-service").await;
        walk.click("form[action=\"/saml/login\"] button").await;
        // Anna holds Karen's power of attorney for this service: the broker asks whom she acts for.
        walk.wait("document.querySelector('form[action=\"/login/represent\"]') !== null")
            .await;
        walk.check("broker: who are you acting for").await;
        walk.click("form[action=\"/login/represent\"] button").await;
        walk.wait(
            "window.location.pathname === '/saml/' && document.body.textContent.includes('Anna Jensen')",
        )
        .await;
        walk.check("SAML demo service: logged in").await;
        walk.click("form[action=\"/saml/logout\"] button").await;
        walk.wait("window.location.pathname === '/saml/slo' && document.querySelector('[role=status]') !== null")
            .await;
        walk.check("SAML demo service: logged out").await;
        pages += walk.pages;
        problems.extend(walk.problems);
    }
    assert_eq!(pages, 12);
    assert!(problems.is_empty(), "{problems:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn anna_acts_for_karen_at_the_saml_service_under_the_demo_power_of_attorney() {
    let stack = stack().await;
    let browser = Browser::new();
    oidc_login(&stack, &browser, Method::CodeDisplay(0)).await;
    // No choice at the OIDC demo service (no mandate names it); at the SAML one, Karen's.
    let home = browser
        .get(&format!("{}/saml/", demo(&stack)), NOWHERE)
        .await;
    let page = browser
        .post(
            &format!("{}/saml/login", demo(&stack)),
            &[("csrf", home.must_input("csrf").as_str())],
            NOWHERE,
        )
        .await;
    let offered = choices(&page);
    assert_eq!(offered.len(), 3, "myself, Karen, cancel: {}", page.body);
    assert!(page.body.contains("Karen Jensen"), "{}", page.body);
    assert!(!page.body.contains(ANNA_CPR), "no CPR number on the page");
    let page = choose(&stack, &browser, &page, &offered[1], NOWHERE).await;
    let page = saml_complete(&stack, &browser, &page).await;
    // The agent logs in as herself (her NameID and name), with a privilege group for Karen.
    assert!(page.body.contains("Anna Jensen"), "{}", page.body);
    let value = row(
        &page,
        "https://data.gov.dk/model/core/eid/privilegesIntermediate",
    )
    .unwrap_or_else(|| panic!("no privileges attribute: {}", page.body));
    let xml = String::from_utf8(STANDARD.decode(value.trim()).unwrap()).unwrap();
    assert!(xml.contains("PrivilegeGroup"), "{xml}");
    assert!(
        xml.contains("urn:dk:gov:saml:cprNumberIdentifier:1503459992"),
        "scoped to Karen by CPR (the service may receive CPR numbers): {xml}"
    );
}
