//! SAML's HTTP-POST binding in headless Chromium, from a service on another site: the service is
//! served from `http://127.0.0.1:<port>` while the broker is `http://localhost:<port>` (two sites),
//! and its page auto-posts a signed AuthnRequest to the broker. Chromium keeps the broker's
//! `SameSite=Lax` cookies back on that cross-site POST; the broker posts the request back to itself
//! through its own page, and the person who logged in at the demo service (OIDC) gets the Response
//! without a second login, the broker's cookies unchanged. The broker's re-post page and Response
//! page pass the accessibility checks in both languages.

use crate::browser_support::Walk;
use axum::extract::State;
use axum::response::Html;
use axum::routing::{get, post};
use axum::{Form, Router};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use eid_keys::{Alg, SigningKey};
use eid_saml::dsig::{self, SignatureAlg};
use eid_saml::enc::{DecryptPolicy, DecryptionKey, decrypt};
use eid_saml::xml::{Document, QName};
use eid_testkit::chrome::Chrome;
use eid_testkit::{Component, TestStack};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/crates/saml/tests/fixtures/dsig/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// A SAML service on `http://127.0.0.1:<port>`: `/start` is the page that auto-posts the current
/// AuthnRequest to the broker, `/acs` keeps each posted Response.
#[derive(Clone, Default)]
struct CrossSiteSp {
    start: Arc<Mutex<String>>,
    received: Arc<Mutex<Vec<HashMap<String, String>>>>,
}

impl CrossSiteSp {
    /// Serves on a fresh loopback port; returns the service and its origin.
    async fn serve() -> (CrossSiteSp, String) {
        let sp = CrossSiteSp::default();
        let router = Router::new()
            .route(
                "/start",
                get(|State(sp): State<CrossSiteSp>| async move {
                    Html(sp.start.lock().unwrap().clone())
                }),
            )
            .route(
                "/acs",
                post(
                    |State(sp): State<CrossSiteSp>,
                     Form(form): Form<HashMap<String, String>>| async move {
                        sp.received.lock().unwrap().push(form);
                        Html(
                            "<!doctype html><html lang=\"en\"><head><title>Service</title></head>\
                             <body><main><h1 id=\"received\">Received</h1></main></body></html>",
                        )
                    },
                ),
            )
            .with_state(sp.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        (sp, origin)
    }

    fn entity_id(origin: &str) -> String {
        format!("{origin}/sp")
    }

    fn signing_key() -> Arc<SigningKey> {
        Arc::new(SigningKey::from_pem(&fixture("rsa-other.pem"), Alg::RS256).unwrap())
    }

    fn metadata(origin: &str) -> String {
        let cert =
            |key: &SigningKey| STANDARD.encode(dsig::certificate_for(key, "test sp").unwrap());
        let encryption = SigningKey::from_pem(&fixture("rsa-enc.pem"), Alg::RS256).unwrap();
        format!(
            r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{entity}"><md:SPSSODescriptor AuthnRequestsSigned="true" WantAssertionsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{sign}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:KeyDescriptor use="encryption"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{enc}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</md:NameIDFormat><md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{origin}/acs" index="0" isDefault="true"/></md:SPSSODescriptor></md:EntityDescriptor>"#,
            entity = CrossSiteSp::entity_id(origin),
            sign = cert(&CrossSiteSp::signing_key()),
            enc = cert(&encryption),
        )
    }

    /// Makes `/start` auto-post a fresh signed AuthnRequest to `broker`; returns its ID.
    fn next_request(&self, origin: &str, broker: &str) -> String {
        let id = format!("_{}", uuid::Uuid::new_v4().simple());
        let instant = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        let xml = format!(
            r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{instant}" Destination="{broker}/saml/sso" AssertionConsumerServiceURL="{origin}/acs"><saml:Issuer>{issuer}</saml:Issuer></samlp:AuthnRequest>"#,
            issuer = CrossSiteSp::entity_id(origin),
        );
        let key = CrossSiteSp::signing_key();
        let cert = dsig::certificate_for(&key, "test sp").unwrap();
        let signed = dsig::sign_enveloped(&xml, &id, &key, SignatureAlg::RsaSha256, &cert).unwrap();
        *self.start.lock().unwrap() = format!(
            "<!doctype html><html lang=\"en\"><head><title>Service</title></head><body><main>\
             <form id=\"f\" method=\"post\" action=\"{broker}/saml/sso\">\
             <input type=\"hidden\" name=\"SAMLRequest\" value=\"{}\">\
             <input type=\"hidden\" name=\"RelayState\" value=\"cross-site\">\
             <button>Log in</button></form></main>\
             <script>document.getElementById('f').submit();</script></body></html>",
            STANDARD.encode(signed)
        );
        id
    }

    /// The last Response posted to `/acs`: its XML and the decrypted assertion.
    fn last_response(&self) -> (String, String) {
        let received = self.received.lock().unwrap();
        let form = received.last().expect("a Response at the ACS");
        assert_eq!(
            form.get("RelayState").map(String::as_str),
            Some("cross-site")
        );
        let xml = String::from_utf8(STANDARD.decode(&form["SAMLResponse"]).unwrap()).unwrap();
        let doc = Document::parse(&xml).unwrap();
        let encrypted = doc
            .root()
            .children_named(QName::ENCRYPTED_ASSERTION)
            .next()
            .unwrap_or_else(|| panic!("no assertion: {xml}"));
        let key = DecryptionKey::from_pem(&fixture("rsa-enc.pem")).unwrap();
        let assertion = decrypt(encrypted, &key, &DecryptPolicy::default()).unwrap();
        (xml, assertion)
    }
}

/// The broker's cookies in the browser, by name.
async fn broker_cookies(chrome: &Chrome, broker: &str) -> HashMap<String, String> {
    let result = chrome
        .call(
            "Network.getCookies",
            json!({ "urls": [format!("{broker}/")] }),
        )
        .await;
    result["cookies"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| {
            Some((
                c["name"].as_str()?.to_owned(),
                c["value"].as_str()?.to_owned(),
            ))
        })
        .filter(|(name, _)| name.starts_with("broker_"))
        .collect()
}

/// Submits the current page's `#saml-post` form (as the blocked script would) and waits for the
/// next page.
async fn submit_saml_form(walk: &Walk<'_>) {
    let submitted = walk
        .chrome
        .eval("window.__leaving = true; document.getElementById('saml-post').submit(); true")
        .await;
    assert_eq!(submitted, Value::Bool(true));
    walk.wait("!window.__leaving && document.readyState === 'complete'")
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_on_another_site_posting_its_request_gets_single_sign_on() {
    let Some(chrome) = Chrome::launch_with_axe().await else {
        return;
    };
    let (sp, sp_origin) = CrossSiteSp::serve().await;
    let stack = TestStack::builder()
        .saml_service_provider(
            &CrossSiteSp::metadata(&sp_origin),
            "Cross-site service",
            "sector-cross-site",
            &["name"],
        )
        .start()
        .await
        .unwrap();
    let (broker, idp, demo) = (
        stack.url(Component::Broker).to_owned(),
        stack.url(Component::Idp).to_owned(),
        stack.url(Component::DemoRp).to_owned(),
    );
    assert!(broker.starts_with("http://localhost:") && sp_origin.starts_with("http://127.0.0.1:"));
    chrome.set_language("da").await;
    let mut walk = Walk::new(&chrome, "da");

    // Anna logs in at the demo service (OIDC): the broker's session cookie is set.
    walk.open_user_id_page(&demo, false).await;
    chrome.fill_and_submit(&[("user_id", "anna")]).await;
    chrome
        .fill_and_submit(&[("pw-password", "anna-demo-pass")])
        .await;
    walk.wait(&format!("window.location.href.startsWith({demo:?})"))
        .await;
    let cookies = broker_cookies(&chrome, &broker).await;
    assert!(cookies.contains_key("broker_session"), "{cookies:?}");

    // The service on the other site auto-posts its request: the Response comes back with no
    // login page on the way.
    let id = sp.next_request(&sp_origin, &broker);
    chrome.goto(&format!("{sp_origin}/start")).await;
    walk.wait(&format!(
        "window.location.href === {:?} || window.location.href.startsWith({idp:?}) \
         || document.querySelector('button[id^=choose-]') !== null",
        format!("{sp_origin}/acs")
    ))
    .await;
    assert_eq!(
        chrome.url().await,
        format!("{sp_origin}/acs"),
        "the broker asked for a second login"
    );
    let (response, assertion) = sp.last_response();
    assert!(
        response.contains("urn:oasis:names:tc:SAML:2.0:status:Success"),
        "{response}"
    );
    assert!(response.contains(&format!("InResponseTo=\"{id}\"")));
    assert!(assertion.contains(">Anna<"), "{assertion}");
    assert_eq!(
        broker_cookies(&chrome, &broker).await,
        cookies,
        "the broker's cookies changed"
    );

    // The broker's pages on the way, held still (their script blocked), in both languages.
    chrome
        .call("Network.setCacheDisabled", json!({ "cacheDisabled": true }))
        .await;
    chrome
        .call(
            "Network.setBlockedURLs",
            json!({ "urls": ["*/static/saml-post.js"] }),
        )
        .await;
    let mut problems = Vec::new();
    for lang in ["da", "en"] {
        chrome.set_language(lang).await;
        let mut walk = Walk::new(&chrome, lang);
        let id = sp.next_request(&sp_origin, &broker);
        chrome.goto(&format!("{sp_origin}/start")).await;
        walk.wait("document.querySelector('input[name=reposted]') !== null")
            .await;
        assert_eq!(chrome.url().await, format!("{broker}/saml/sso"));
        walk.check("broker: SAML request re-posted").await;
        submit_saml_form(&walk).await;
        walk.wait("document.querySelector('input[name=SAMLResponse]') !== null")
            .await;
        walk.check("broker: SAML Response posted").await;
        submit_saml_form(&walk).await;
        assert_eq!(chrome.url().await, format!("{sp_origin}/acs"));
        let (response, _) = sp.last_response();
        assert!(response.contains(&format!("InResponseTo=\"{id}\"")));
        assert!(response.contains("status:Success"), "{response}");
        problems.extend(walk.problems);
    }
    assert_eq!(broker_cookies(&chrome, &broker).await, cookies);
    assert!(
        problems.is_empty(),
        "{} accessibility problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
