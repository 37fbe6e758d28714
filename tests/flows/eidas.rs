//! eIDAS end to end, through the real binary's components on their own listeners:
//! (a) a citizen of the demo country XA logs in to Danish services (OIDC and SAML): broker →
//! eIDAS connector → XA's proxy service → back, the services receiving eIDAS claims and the level;
//! (b) a Danish demo person logs in to XA's demo service: XA's connector → our proxy service →
//! broker → authenticator → back, XA receiving `DK/XA/…` and the level, and nothing when the person
//! declines.

use eid_testkit::client::{Page, input_value};
use eid_testkit::oidc::{Pkce, verify_id_token};
use eid_testkit::stack::TEST_CLIENT_SECRET;
use eid_testkit::{Browser, Component, TestStack};

use crate::broker_support::{broker_authorize, broker_code, broker_exchange};
use crate::idp_account::{ANNA_TOTP, totp_code};
use crate::support::enter_user_id;

/// Where no test follows (every hop stays inside the stack).
const NOWHERE: &str = "http://localhost:1/";
/// A service registered for the eIDAS claims (and never a CPR number).
const RP_EU: &str = "rp-eu";
/// A service that requires a CPR number.
const RP_CPR: &str = "rp-cpr";
/// Anna's CPR number: it must reach no foreign node.
const ANNA_CPR: &str = "0107709991";

async fn stack() -> TestStack {
    with_services(TestStack::builder()).start().await.unwrap()
}

/// The demo's eIDAS parts, and two services of the tests: `rp-eu` (eIDAS claims) and `rp-cpr`
/// (requires a CPR number).
fn with_services(builder: eid_testkit::StackBuilder) -> eid_testkit::StackBuilder {
    let redirect = eid_testkit::stack::TEST_REDIRECT_URI;
    let registration = |id: &str, claims: &str, requires_cpr: bool| {
        format!(
            "client_id = \"{id}\"\nclient_name = \"Service {id}\"\n\
             client_secret = {TEST_CLIENT_SECRET:?}\nredirect_uris = [{redirect:?}]\n\
             token_endpoint_auth_method = \"client_secret_post\"\nsector = \"{id}\"\n\
             allowed_claims = {claims}\nrequires_cpr = {requires_cpr}\n"
        )
    };
    builder
        .eidas()
        .demo_saml_service()
        .relying_party(&registration(
            RP_EU,
            "[\"name\", \"birthdate\", \"eidas\"]",
            false,
        ))
        .relying_party(&registration(RP_CPR, "[\"cpr\", \"name\"]", true))
}

/// The first POST form of a page: its action (absolute) and its hidden inputs.
fn form(page: &Page) -> (String, Vec<(String, String)>) {
    let start = page
        .body
        .find("<form")
        .unwrap_or_else(|| panic!("no form: {page:?}"));
    let end = start + page.body[start..].find("</form>").unwrap();
    let html = &page.body[start..end];
    let action = attr(html, "action").unwrap();
    let action = url::Url::parse(&page.url)
        .unwrap()
        .join(&action.replace("&amp;", "&"))
        .unwrap()
        .to_string();
    let mut fields = Vec::new();
    for input in html.split("<input").skip(1) {
        let tag = &input[..input.find('>').unwrap()];
        if attr(tag, "type").as_deref() != Some("hidden") {
            continue;
        }
        let name = attr(tag, "name").unwrap();
        fields.push((name.clone(), input_value(html, &name).unwrap_or_default()));
    }
    (action, fields)
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let needle = format!("{name}=\"");
    let start = tag.find(&needle)? + needle.len();
    let end = start + tag[start..].find('"')?;
    Some(tag[start..end].to_owned())
}

/// Submits the page's first form with its hidden inputs and `extra`, as the browser would.
async fn submit(browser: &Browser, page: &Page, extra: &[(&str, &str)]) -> Page {
    let (action, fields) = form(page);
    let mut all: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    all.extend_from_slice(extra);
    browser.post(&action, &all, NOWHERE).await
}

/// From the broker's identity chooser to XA's login page: EU eID, then XA on the connector's
/// country chooser, then the auto-posted AuthnRequest.
async fn to_xa_login(stack: &TestStack, browser: &Browser, chooser: &Page) -> Page {
    assert!(chooser.body.contains("value=\"eidas\""), "{chooser:?}");
    let countries = browser
        .post(
            &format!("{}/login/start", stack.url(Component::Broker)),
            &[
                ("tx", &chooser.must_input("tx")),
                ("csrf", &chooser.must_input("csrf")),
                ("upstream", "eidas"),
            ],
            NOWHERE,
        )
        .await;
    assert!(
        countries
            .url
            .starts_with(stack.url(Component::EidasGateway)),
        "{countries:?}"
    );
    assert!(
        countries.body.contains("value=\"XA\""),
        "{}",
        countries.body
    );
    let posting = submit(browser, &countries, &[("country", "XA")]).await;
    assert!(posting.body.contains("name=\"SAMLRequest\""), "{posting:?}");
    let login = submit(browser, &posting, &[]).await;
    assert!(login.url.contains("/xa/proxy/"), "{login:?}");
    login
}

/// Logs Eleni (an XA person with a Greek name, eID level high) in at XA and sends her details:
/// returns where the browser stops after the connector's answer.
async fn eleni_at_xa(browser: &Browser, login: &Page) -> Page {
    let consent = submit(
        browser,
        login,
        &[
            ("username", "eleni"),
            ("password", "eleni-demo-1"),
            ("action", "login"),
        ],
    )
    .await;
    assert!(consent.body.contains("decision"), "{consent:?}");
    let posting = submit(browser, &consent, &[("decision", "send")]).await;
    assert!(
        posting.body.contains("name=\"SAMLResponse\""),
        "{posting:?}"
    );
    submit(browser, &posting, &[]).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_citizen_of_xa_logs_in_to_a_danish_oidc_service_with_their_own_eid() {
    // A data directory of the test's own: the audit log is read after the stack stopped.
    let data_dir = tempfile::tempdir().unwrap();
    let stack = with_services(TestStack::builder().data_dir(data_dir.path().to_owned()))
        .start()
        .await
        .unwrap();
    foreign_citizen_at_an_oidc_service(&stack).await;
    stack.stop().await;
    // One key across the components: the connector's login and the broker's login and release
    // are all on Eleni's own log (twice: she logged in twice).
    let url = format!(
        "sqlite://{}",
        data_dir.path().join("eidbroker.db").display()
    );
    let durable = eid_store::SqlDurable::connect(&url).await.unwrap();
    let eleni = eid_core::eidas::audit_id(
        &eid_core::eidas::PersonIdentifier::parse("XA/DK/XA-4471-0012").unwrap(),
    );
    let log = eid_core::AuditLog::for_person(&durable, eleni, 100)
        .await
        .unwrap();
    durable.close().await;
    let count = |component: &str, kind: &str| {
        log.iter()
            .filter(|e| e.component == component && e.kind == kind)
            .count()
    };
    assert_eq!(count("eidas-connector", "connector.login"), 2, "{log:?}");
    assert_eq!(count("broker", "login.success"), 2, "{log:?}");
    assert_eq!(count("broker", "token.issued"), 2, "{log:?}");
    let text = serde_json::to_string(&log).unwrap();
    assert!(!text.contains("XA-4471-0012"), "{text}");
}

/// The same on Redis and PostgreSQL (pending logins, used request and assertion IDs, codes in
/// Redis; the audit log in PostgreSQL).
#[tokio::test(flavor = "multi_thread")]
async fn a_citizen_of_xa_logs_in_on_the_production_backends() {
    let Some((stack, db)) = crate::broker_support::production_stack_with(with_services).await
    else {
        return;
    };
    foreign_citizen_at_an_oidc_service(&stack).await;
    stack.stop().await;
    let _ = db.drop_db().await;
}

async fn foreign_citizen_at_an_oidc_service(stack: &TestStack) {
    let browser = Browser::new();
    let pkce = Pkce::new();
    let chooser = broker_authorize(stack, &browser, RP_EU, &pkce, &[]).await;
    let login = to_xa_login(stack, &browser, &chooser).await;
    let back = eleni_at_xa(&browser, &login).await;
    let code = broker_code(stack, &back);
    let (status, tokens) = broker_exchange(stack, RP_EU, &code, &pkce.verifier).await;
    assert_eq!(status, 200, "{tokens}");
    let broker = stack.url(Component::Broker);
    let claims = verify_id_token(
        broker,
        tokens["id_token"].as_str().unwrap(),
        RP_EU,
        "test-nonce",
    )
    .await;
    assert_eq!(claims["eidas_person_identifier"], "XA/DK/XA-4471-0012");
    assert_eq!(claims["eidas_country"], "XA");
    assert_eq!(claims["given_name"], "Eleni");
    assert_eq!(claims["family_name"], "Papadaki");
    assert_eq!(claims["birthdate"], "1988-04-17");
    assert_eq!(claims["acr"], eid_core::Loa::High.as_uri());
    assert!(claims.get("cpr").is_none(), "{claims}");
    // The subject is the broker's pairwise identifier, not the foreign one.
    let sub = claims["sub"].as_str().unwrap();
    assert!(!sub.contains("XA-4471-0012"), "{sub}");

    // The same person again, through a new browser: the same subject at the same service.
    let again = Browser::new();
    let pkce = Pkce::new();
    let chooser = broker_authorize(stack, &again, RP_EU, &pkce, &[]).await;
    let login = to_xa_login(stack, &again, &chooser).await;
    let back = eleni_at_xa(&again, &login).await;
    let code = broker_code(stack, &back);
    let (_, tokens) = broker_exchange(stack, RP_EU, &code, &pkce.verifier).await;
    let claims = verify_id_token(
        broker,
        tokens["id_token"].as_str().unwrap(),
        RP_EU,
        "test-nonce",
    )
    .await;
    assert_eq!(claims["sub"], sub);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_that_requires_a_cpr_number_offers_mitid_only_and_refuses_a_foreign_session() {
    let stack = stack().await;
    let browser = Browser::new();
    // A fresh login there goes straight to MitID: no EU eID on offer.
    let fresh = broker_authorize(&stack, &Browser::new(), RP_CPR, &Pkce::new(), &[]).await;
    assert!(
        fresh.url.starts_with(stack.url(Component::Idp)),
        "{fresh:?}"
    );
    // Eleni logged in at another service; her session meets the explained refusal there.
    let chooser = broker_authorize(&stack, &browser, RP_EU, &Pkce::new(), &[]).await;
    let login = to_xa_login(&stack, &browser, &chooser).await;
    broker_code(&stack, &eleni_at_xa(&browser, &login).await);
    let refused = broker_authorize(&stack, &browser, RP_CPR, &Pkce::new(), &[]).await;
    assert_eq!(refused.status, 403, "{refused:?}");
    assert!(refused.body.contains("CPR"), "{}", refused.body);
    assert_eq!(refused.must_input("error"), "access_denied");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_citizen_of_xa_logs_in_to_the_saml_demo_service() {
    let stack = stack().await;
    let browser = Browser::new();
    let demo = stack.url(Component::DemoRp);
    let home = browser.get(&format!("{demo}/saml/"), NOWHERE).await;
    let chooser = browser
        .post(
            &format!("{demo}/saml/login"),
            &[("csrf", &home.must_input("csrf"))],
            NOWHERE,
        )
        .await;
    let login = to_xa_login(&stack, &browser, &chooser).await;
    let posting = eleni_at_xa(&browser, &login).await;
    // The broker's Response to the SAML service, posted by the browser.
    assert!(
        posting.body.contains("name=\"SAMLResponse\""),
        "{posting:?}"
    );
    let page = submit(&browser, &posting, &[]).await;
    assert_eq!(page.url, format!("{demo}/saml/"), "{page:?}");
    for shown in [
        "XA/DK/XA-4471-0012",
        "Eleni",
        "Papadaki",
        "1988-04-17",
        "High",
    ] {
        assert!(page.body.contains(shown), "{shown}: {}", page.body);
    }
    assert!(!page.body.contains("cprNumber"), "{}", page.body);
}

/// From XA's demo service to the Danish authenticator: XA's connector posts its AuthnRequest to
/// our proxy service, which logs the person in through the broker.
async fn xa_service_to_mitid(stack: &TestStack, browser: &Browser) -> Page {
    let gateway = stack.url(Component::EidasGateway);
    let service = browser
        .get(&format!("{gateway}/xa/service/"), NOWHERE)
        .await;
    assert_eq!(service.status, 200, "{service:?}");
    let posting = submit(browser, &service, &[("level", "substantial")]).await;
    assert!(posting.body.contains("name=\"SAMLRequest\""), "{posting:?}");
    let user_page = submit(browser, &posting, &[]).await;
    assert!(
        user_page.url.starts_with(stack.url(Component::Idp)),
        "MitID only, no identity chooser: {user_page:?}"
    );
    user_page
}

/// Anna logs in with password and code display (Substantial; the code of `step` time steps from
/// now, each usable once); returns the proxy's consent page.
async fn anna_at_mitid(stack: &TestStack, browser: &Browser, user_page: &Page, step: i64) -> Page {
    let methods = enter_user_id(stack, browser, user_page, "anna").await;
    let consent = browser
        .post(
            &format!("{}/login/code-display", stack.url(Component::Idp)),
            &[
                ("tx", &methods.must_input("tx")),
                ("csrf", &methods.must_input("csrf")),
                ("password", "anna-demo-pass"),
                ("code", &totp_code(ANNA_TOTP, step)),
            ],
            NOWHERE,
        )
        .await;
    assert!(consent.url.contains("/eidas/proxy/consent"), "{consent:?}");
    consent
}

#[tokio::test(flavor = "multi_thread")]
async fn a_danish_person_logs_in_to_a_service_in_xa_and_xa_receives_a_pseudonym() {
    let stack = stack().await;
    let browser = Browser::new();
    let user_page = xa_service_to_mitid(&stack, &browser).await;
    let consent = anna_at_mitid(&stack, &browser, &user_page, 0).await;
    // The citizen sees what goes to which country, and no CPR number.
    assert!(consent.body.contains("Anna"), "{}", consent.body);
    assert!(!consent.body.contains(ANNA_CPR));
    let posting = submit(&browser, &consent, &[("decision", "send")]).await;
    assert!(!posting.body.contains(ANNA_CPR));
    let received = submit(&browser, &posting, &[]).await;
    assert!(received.url.contains("/xa/"), "{received:?}");
    let identifier_at = received.body.find("DK/XA/").expect("a DK/XA/ identifier");
    let identifier: String = received.body[identifier_at..]
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '<')
        .collect();
    assert!(identifier.len() > "DK/XA/".len() + 16, "{identifier}");
    // Names, date of birth and the level (the page is in Danish: "betydeligt" = substantial).
    for shown in ["Anna", "Jensen", "1970-07-01", "betydeligt"] {
        assert!(received.body.contains(shown), "{shown}: {}", received.body);
    }
    assert!(!received.body.contains(ANNA_CPR));

    // Another login of the same person gives XA the same pseudonym.
    let again = Browser::new();
    let user_page = xa_service_to_mitid(&stack, &again).await;
    let consent = anna_at_mitid(&stack, &again, &user_page, 1).await;
    let posting = submit(&again, &consent, &[("decision", "send")]).await;
    let received = submit(&again, &posting, &[]).await;
    assert!(received.body.contains(&identifier), "{}", received.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_danish_person_who_declines_sends_xa_nothing() {
    let stack = stack().await;
    let browser = Browser::new();
    let user_page = xa_service_to_mitid(&stack, &browser).await;
    let consent = anna_at_mitid(&stack, &browser, &user_page, 0).await;
    let posting = submit(&browser, &consent, &[("decision", "decline")]).await;
    assert!(
        posting.body.contains("name=\"SAMLResponse\""),
        "{posting:?}"
    );
    let received = submit(&browser, &posting, &[]).await;
    assert!(received.url.contains("/xa/"), "{received:?}");
    assert!(!received.body.contains("DK/XA/"), "{}", received.body);
    assert!(!received.body.contains("Jensen"), "{}", received.body);
}
