//! The demo configuration running in this process, and the logins through its pages that the
//! privacy check drives: as an OIDC client, at the SAML demo service, and from the demo country XA.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use eid_broker::core::pairwise::PairwiseKey;
use eid_saml::xml::{Document, QName, ns};
use eid_testkit::Browser;
use eid_testkit::client::{Page, input_value};
use eid_testkit::oidc::{Pkce, authorize_url, query};
use eidbroker::app::{Runtime, serve};
use eidbroker::config::{self, Component, Settings};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use tokio::net::TcpListener;

use super::checker::{Person, Received};
use crate::broker_support::choices;
use crate::idp_account::totp_code;

/// Where no test follows (every hop stays inside the stack).
const NOWHERE: &str = "http://localhost:1/";

/// The demo configuration running in this process.
pub(super) struct Demo {
    /// The settings after start (with the SAML demo service's registration).
    pub(super) settings: Settings,
    /// The client secrets written in the demo's relying-party files, by client id.
    pub(super) secrets: BTreeMap<String, String>,
    admin_token: String,
    root: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _temp: tempfile::TempDir,
}

impl Drop for Demo {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// `text` with each `localhost:<from>`/`127.0.0.1:<from>` (before `"` or `/`) made `<to>`.
fn move_ports(text: &str, moves: &[(u16, u16)]) -> String {
    let mut text = text.to_owned();
    for step in [0, 1] {
        for (i, (from, to)) in moves.iter().enumerate() {
            for host in ["localhost", "127.0.0.1"] {
                for end in ["\"", "/"] {
                    let (a, b) = if step == 0 {
                        (format!("{host}:{from}{end}"), format!("{host}:@{i}@{end}"))
                    } else {
                        (format!("{host}:@{i}@{end}"), format!("{host}:{to}{end}"))
                    };
                    text = text.replace(&a, &b);
                }
            }
        }
    }
    text
}

impl Demo {
    pub(super) async fn start() -> Demo {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(root.join("config/default.toml")).unwrap();
        let written = config::from_toml_str(&text, "config/default.toml", &[]).unwrap();
        assert!(written.demo_enabled, "config/default.toml runs the demo");
        let mut listeners = BTreeMap::new();
        let mut moves = Vec::new();
        for component in Component::ALL {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let from = written.listener(component).listen.port();
            moves.push((from, listener.local_addr().unwrap().port()));
            listeners.insert(component, listener);
        }
        let temp = tempfile::tempdir().unwrap();
        let mut moved = move_ports(&text, &moves);
        let mut secrets = BTreeMap::new();
        for (i, file) in written.broker.relying_parties.iter().enumerate() {
            let rps = std::fs::read_to_string(root.join(file)).unwrap();
            let table: toml::Table = toml::from_str(&rps).unwrap();
            for rp in table["relying_party"].as_array().unwrap() {
                if let (Some(id), Some(secret)) =
                    (rp["client_id"].as_str(), rp.get("client_secret"))
                {
                    secrets.insert(id.to_owned(), secret.as_str().unwrap().to_owned());
                }
            }
            let copy = temp.path().join(format!("relying-parties-{i}.toml"));
            std::fs::write(&copy, move_ports(&rps, &moves)).unwrap();
            let named = format!("{:?}", file.display().to_string());
            assert!(moved.contains(&named), "{named} in config/default.toml");
            moved = moved.replace(&named, &format!("{:?}", copy.display().to_string()));
        }
        let admin_token = eid_oidc::random::token(24);
        let env = [
            (
                "EIDBROKER_DATA_DIR",
                temp.path().join("data").display().to_string(),
            ),
            ("EIDBROKER_BROKER__ADMIN_TOKEN", admin_token.clone()),
            ("EIDBROKER_LOG__FILTER", "warn".to_owned()),
        ]
        .map(|(k, v)| (k.to_owned(), v));
        let settings = config::from_toml_str(&moved, "config/default.toml, moved", &env).unwrap();
        let runtime = Runtime::open(settings, &Component::ALL).await.unwrap();
        let settings = runtime.settings.clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(serve(runtime, listeners, async move {
            let _ = stopped.await;
        }));
        Demo {
            settings,
            secrets,
            admin_token,
            root,
            stop: Some(stop),
            _temp: temp,
        }
    }

    /// The public origin of `component`.
    pub(super) fn url(&self, component: Component) -> String {
        self.settings.listener(component).issuer()
    }

    /// The name of the broker's national upstream (MitID): the `<upstream>` of person keys.
    pub(super) fn national(&self) -> String {
        let national = eid_broker::ports::UpstreamKind::National;
        let upstreams = &self.settings.broker.upstreams;
        upstreams
            .iter()
            .find(|u| u.kind == national)
            .unwrap()
            .name
            .clone()
    }

    /// The demo persons who can log in with password and code display and have a CPR number.
    pub(super) fn persons(&self) -> Vec<Person> {
        let file = self
            .root
            .join(&self.settings.demo_data)
            .join("persons.toml");
        let table: toml::Table = toml::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        let field = |p: &toml::Value, k: &str| p.get(k).and_then(|v| v.as_str()).map(str::to_owned);
        table["person"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| {
                Some(Person {
                    id: field(p, "id")?,
                    cpr: field(p, "cpr")?,
                    user_id: field(p, "user_id")?,
                    password: field(p, "password")?,
                    totp: field(p, "totp_secret_base32")?,
                    given_name: field(p, "given_name")?,
                    family_name: field(p, "family_name")?,
                    birthdate: field(p, "birthdate")?,
                })
            })
            .collect()
    }

    /// A GET of the broker's admin API.
    pub(super) async fn admin(&self, path: &str) -> Value {
        let response = reqwest::Client::new()
            .get(format!("{}/admin/{path}", self.url(Component::Broker)))
            .bearer_auth(&self.admin_token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        response.json().await.unwrap()
    }

    /// The broker's pairwise key (the demo generated its secret; read as the broker reads it).
    pub(super) fn pairwise_key(&self) -> PairwiseKey {
        let text = std::fs::read_to_string(&self.settings.broker.pairwise_secret_file).unwrap();
        let secret = URL_SAFE_NO_PAD
            .decode(text.trim())
            .or_else(|_| STANDARD.decode(text.trim()))
            .unwrap();
        PairwiseKey::new(&secret).unwrap()
    }

    /// A decryption key from the active key of type `alg` in `dir` under the key directory.
    pub(super) fn decryption_key(
        &self,
        dir: &str,
        alg: eid_keys::Alg,
    ) -> eid_saml::enc::DecryptionKey {
        let store =
            eid_keys::KeyStore::open(&self.settings.keys_dir.join(dir), Vec::new()).unwrap();
        let pem = std::fs::read(store.signing_key(alg).unwrap().file()).unwrap();
        eid_saml::enc::DecryptionKey::from_pem(&pem).unwrap()
    }
}

/// Answers the broker's and the authenticator's pages until `done`: the identity chooser (MitID),
/// the user ID, password and code display (the code of `step` time steps from now: Substantial;
/// once, as each code is good once), "who are you acting for" (oneself).
pub(super) async fn log_in(
    demo: &Demo,
    browser: &Browser,
    mut page: Page,
    person: &Person,
    step: i64,
    done: impl Fn(&Page) -> bool,
) -> Page {
    let (broker, idp) = (demo.url(Component::Broker), demo.url(Component::Idp));
    let mut code_sent = false;
    for _ in 0..8 {
        if done(&page) {
            return page;
        }
        let tx = page.input("tx").unwrap_or_default();
        let csrf = page.input("csrf").unwrap_or_default();
        let mut form = vec![("tx", tx), ("csrf", csrf)];
        let path = if page.body.contains("action=\"/login/start\"") {
            form.push(("upstream", demo.national()));
            format!("{broker}/login/start")
        } else if !choices(&page).is_empty() {
            form.push(("choice", "self".to_owned()));
            format!("{broker}/login/represent")
        } else if page.url.starts_with(&idp) && page.body.contains("action=\"/login/user\"") {
            form.push(("user_id", person.user_id.clone()));
            format!("{idp}/login/user")
        } else if page.url.starts_with(&idp) && page.body.contains("/login/code-display") {
            assert!(!code_sent, "the code was refused: {page:?}");
            code_sent = true;
            form.push(("password", person.password.clone()));
            form.push(("code", totp_code(&person.totp, step)));
            format!("{idp}/login/code-display")
        } else {
            panic!(
                "an unexpected page in a login of {}: {page:?}",
                person.user_id
            );
        };
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        page = browser.post(&path, &form, NOWHERE).await;
    }
    panic!("the login of {} did not end: {page:?}", person.user_id);
}

/// The first form of a page (absolute action, hidden inputs) submitted with `extra`.
pub(super) async fn submit(browser: &Browser, page: &Page, extra: &[(&str, &str)]) -> Page {
    let start = page
        .body
        .find("<form")
        .unwrap_or_else(|| panic!("no form: {page:?}"));
    let html = &page.body[start..start + page.body[start..].find("</form>").unwrap()];
    let attr = |tag: &str, name: &str| {
        let at = tag.find(&format!("{name}=\""))? + name.len() + 2;
        Some(tag[at..at + tag[at..].find('"')?].to_owned())
    };
    let action = attr(html, "action").unwrap().replace("&amp;", "&");
    let action = url::Url::parse(&page.url).unwrap().join(&action).unwrap();
    let mut fields = Vec::new();
    for input in html.split("<input").skip(1) {
        let tag = &input[..input.find('>').unwrap()];
        if attr(tag, "type").as_deref() == Some("hidden") {
            let name = attr(tag, "name").unwrap();
            fields.push((name.clone(), input_value(html, &name).unwrap_or_default()));
        }
    }
    let mut all: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    all.extend_from_slice(extra);
    browser.post(action.as_str(), &all, NOWHERE).await
}

/// A JWT's payload, decoded (`None` for anything else).
fn jwt_payload(token: &str) -> Option<Value> {
    let mut parts = token.split('.');
    let (_, payload, _, None) = (parts.next()?, parts.next()?, parts.next()?, parts.next()) else {
        return None;
    };
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
}

/// A JSON answer as [`Received`] sees it: the text, every JWT in it decoded, claim names, `sub`s.
pub(super) fn take_json(text: &str, got: &mut Received) -> Value {
    let value: Value = serde_json::from_str(text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    got.texts.push(text.to_owned());
    let mut objects = vec![value.clone()];
    for token in value.as_object().into_iter().flat_map(|o| o.values()) {
        if let Some(payload) = token.as_str().and_then(jwt_payload) {
            got.texts.push(payload.to_string());
            objects.push(payload);
        }
    }
    for object in objects.iter().filter_map(Value::as_object) {
        got.names.extend(object.keys().cloned());
        if let Some(sub) = object.get("sub").and_then(Value::as_str) {
            got.subjects.push(sub.to_owned());
        }
    }
    value
}

/// An OIDC relying party the test can play: the demo's files hold its secret.
#[derive(Debug, Clone)]
pub(super) struct Client {
    pub(super) id: String,
    pub(super) secret: String,
    pub(super) redirect_uri: String,
    pub(super) basic: bool,
    pub(super) refresh: bool,
}

/// A POST to a broker endpoint authenticated as `client` is registered.
pub(super) async fn client_post(
    demo: &Demo,
    client: &Client,
    endpoint: &str,
    form: &[(&str, &str)],
) -> String {
    let url = format!("{}/{endpoint}", demo.url(Component::Broker));
    let mut request = reqwest::Client::new().post(url);
    let mut body = form.to_vec();
    if client.basic {
        request = request.basic_auth(&client.id, Some(&client.secret));
    } else {
        body.extend([
            ("client_id", client.id.as_str()),
            ("client_secret", client.secret.as_str()),
        ]);
    }
    let response = request.form(&body).send().await.unwrap();
    assert_eq!(response.status(), 200, "{endpoint} for {}", client.id);
    response.text().await.unwrap()
}

/// A login of `person` at `client` in `browser` (single sign-on after the first): what the
/// service got (token response, ID token, userinfo, a refresh), and its access token.
pub(super) async fn oidc_login(
    demo: &Demo,
    browser: &Browser,
    client: &Client,
    person: &Person,
    step: i64,
) -> (Received, String) {
    let pkce = Pkce::new();
    let url = authorize_url(
        &demo.url(Component::Broker),
        &client.id,
        &client.redirect_uri,
        &pkce,
        &[],
    );
    let page = browser.get(&url, &client.redirect_uri).await;
    let back = log_in(demo, browser, page, person, step, |p| {
        p.url.starts_with(&client.redirect_uri)
    })
    .await;
    let q = query(&back.url);
    assert_eq!(q.get("state").map(String::as_str), Some("test-state"));
    let code = q
        .get("code")
        .unwrap_or_else(|| panic!("no code: {}", back.url));
    let mut got = Received::new(&client.id, "oidc");
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", client.redirect_uri.as_str()),
        ("code_verifier", pkce.verifier.as_str()),
    ];
    let tokens = take_json(&client_post(demo, client, "token", &form).await, &mut got);
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let userinfo = reqwest::Client::new()
        .get(format!("{}/userinfo", demo.url(Component::Broker)))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(userinfo.status(), 200);
    take_json(&userinfo.text().await.unwrap(), &mut got);
    if let (true, Some(refresh)) = (client.refresh, tokens["refresh_token"].as_str()) {
        let form = [("grant_type", "refresh_token"), ("refresh_token", refresh)];
        take_json(&client_post(demo, client, "token", &form).await, &mut got);
    }
    (got, access)
}

/// A SAML Response posted by `page`: the whole Response, and its assertion decrypted with `key`.
fn saml_received(rp: &str, via: &str, page: &Page, key: &eid_saml::enc::DecryptionKey) -> Received {
    let xml = String::from_utf8(STANDARD.decode(page.must_input("SAMLResponse")).unwrap()).unwrap();
    let doc = Document::parse(&xml).unwrap();
    let encrypted = doc
        .root()
        .children_named(QName::ENCRYPTED_ASSERTION)
        .next()
        .unwrap_or_else(|| panic!("no encrypted assertion: {xml}"));
    let assertion =
        eid_saml::enc::decrypt(encrypted, key, &eid_saml::enc::DecryptPolicy::default()).unwrap();
    let plain = Document::parse(&assertion).unwrap();
    let mut got = Received::new(rp, via);
    got.texts = vec![xml.clone(), assertion.clone()];
    // Every NameID but a transient one (random per login, identifying nobody).
    for name_id in plain.elements_named(QName::new(ns::SAML, "NameID")) {
        if name_id.attr("Format") != Some("urn:oasis:names:tc:SAML:2.0:nameid-format:transient") {
            got.subjects.push(name_id.text().unwrap().into_owned());
        }
    }
    for attribute in plain.elements_named(QName::new(ns::SAML, "Attribute")) {
        got.names
            .push(attribute.attr("Name").unwrap_or_default().to_owned());
    }
    got
}

/// The values of the attribute `name` in the decrypted assertion of `got`.
fn attribute_values(got: &Received, name: &str) -> Vec<String> {
    let doc = Document::parse(&got.texts[1]).unwrap();
    doc.elements_named(QName::new(ns::SAML, "Attribute"))
        .filter(|a| a.attr("Name") == Some(name))
        .flat_map(|a| {
            a.children()
                .map(|v| v.text().unwrap().into_owned())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// A login of `person` at the SAML demo service in `browser`: the Response it got, decrypted
/// with its key; the service accepts it and shows the NameID.
pub(super) async fn saml_login(
    demo: &Demo,
    browser: &Browser,
    entity_id: &str,
    person: &Person,
    step: i64,
) -> Received {
    let service = demo.url(Component::DemoRp);
    let home = browser.get(&format!("{service}/saml/"), NOWHERE).await;
    let page = browser
        .post(
            &format!("{service}/saml/login"),
            &[("csrf", &home.must_input("csrf"))],
            NOWHERE,
        )
        .await;
    let posting = log_in(demo, browser, page, person, step, |p| {
        p.body.contains("name=\"SAMLResponse\"")
    })
    .await;
    let key = demo.decryption_key(Component::DemoRp.name(), eid_keys::Alg::RS256);
    let got = saml_received(entity_id, "saml", &posting, &key);
    let shown = submit(browser, &posting, &[]).await;
    assert!(shown.body.contains(&got.subjects[0]), "{shown:?}");
    got
}

/// `person` logs in at the demo country's service with their Danish eID (XA's connector → our
/// proxy service → the broker → the authenticator) and sends the details: the Response XA's
/// connector got, decrypted with XA's key.
pub(super) async fn foreign_login(
    demo: &Demo,
    browser: &Browser,
    country: &str,
    person: &Person,
    step: i64,
) -> Received {
    let gateway = demo.url(Component::EidasGateway);
    let service = browser
        .get(&format!("{gateway}/xa/service/"), NOWHERE)
        .await;
    let posting = submit(browser, &service, &[("level", "substantial")]).await;
    let page = submit(browser, &posting, &[]).await;
    let consent = log_in(demo, browser, page, person, step, |p| {
        p.url.contains("/eidas/proxy/consent")
    })
    .await;
    let posting = submit(browser, &consent, &[("decision", "send")]).await;
    let key = demo.decryption_key("eidas-xa", eid_keys::Alg::PS256);
    let mut got = saml_received(&format!("eidas:{country}"), "xa", &posting, &key);
    let ids = attribute_values(&got, eid_saml::eidas::PERSON_IDENTIFIER.name);
    got.subjects.splice(0..0, ids);
    let shown = submit(browser, &posting, &[]).await;
    assert!(shown.body.contains(&got.subjects[0]), "{shown:?}");
    got
}
