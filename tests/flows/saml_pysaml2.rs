//! SAML interoperability with code we did not write: a pysaml2 7.5.5 service provider (strict:
//! signed requests, signed assertions, no unsolicited responses, encrypted assertions, signed
//! logout messages) logs in through the broker and reads its Response, then gets single sign-on,
//! then logs out (its LogoutRequest ends the broker's and the authenticator's sessions, and it
//! accepts the broker's LogoutResponse), and hears through the browser of a logout at another
//! service (it accepts the broker's LogoutRequest, and the broker its LogoutResponse); and
//! `xmlsec1` decrypts the broker's EncryptedAssertion and verifies its signature with the key
//! from `/saml/metadata`.
//!
//! pysaml2 is installed into a virtual environment under `target/` on first use. Skips (prints
//! `SKIP`) when python3-venv, PyPI, `openssl` or `xmlsec1` are unavailable, unless
//! `REQUIRE_SERVICES` is set.

use crate::support::{enter_user_id, submit_password};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use eid_testkit::client::Page;
use eid_testkit::{Browser, Component, TestStack};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The pysaml2 service's entity ID.
const SP: &str = "https://sp.pysaml2.test/saml";
/// Its assertion consumer service (nothing listens: the test hands the Response to pysaml2).
const ACS: &str = "http://localhost:1/pysaml2/acs";
/// Its single logout service (HTTP-Redirect only; nothing listens: the test hands the message
/// to pysaml2).
const SLO: &str = "http://localhost:1/pysaml2/slo";
/// A second pysaml2 service: entity ID, ACS, single logout service.
const SECOND: [&str; 3] = [
    "https://sp2.pysaml2.test/saml",
    "http://localhost:1/pysaml2-two/acs",
    "http://localhost:1/pysaml2-two/slo",
];
/// Its sector.
const SECTOR: &str = "sector-pysaml2";
/// The pinned pysaml2 version.
const PYSAML2: &str = "pysaml2==7.5.5";
const SP_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/flows/saml_sp/sp.py");
const PERSISTENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent";
const NSIS_LOA: &str = "https://data.gov.dk/concept/core/nsis/loa";
const LOW: &str = "https://data.gov.dk/concept/core/nsis/loa/Low";
const ID_ATTR: [&str; 2] = [
    "--id-attr:ID",
    "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
];

/// The cargo target directory this test binary runs from (`target/debug/deps/flows-…`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).unwrap().to_owned()
}

/// Runs a command; returns (success, stdout, stderr), or `None` if it cannot start.
fn run(program: &Path, args: &[&str]) -> Option<(bool, String, String)> {
    let out = Command::new(program).args(args).output().ok()?;
    Some((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// The Python of a virtual environment with pysaml2, made once; `None` (skip reported) if it
/// cannot be set up.
fn pysaml2_python() -> Option<PathBuf> {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let made = PYTHON.get_or_init(|| {
        for tool in ["xmlsec1", "openssl"] {
            if run(Path::new(tool), &["version"]).is_none() {
                return Err(format!("{tool} is not installed"));
            }
        }
        let venv = target_dir().join("saml-sp-venv");
        let python = venv.join("bin").join("python");
        let ready = venv.join(format!("{PYSAML2}.ok"));
        if ready.exists() {
            return Ok(python);
        }
        let (ok, _, err) = run(
            Path::new("python3"),
            &["-m", "venv", venv.to_str().unwrap()],
        )
        .ok_or("python3 is not installed")?;
        if !ok {
            return Err(format!(
                "python3 -m venv failed (apt-get install python3-venv): {err}"
            ));
        }
        let pip = venv.join("bin").join("pip");
        let (ok, _, err) = run(&pip, &["install", "--quiet", PYSAML2]).ok_or("no pip")?;
        if !ok {
            return Err(format!("pip install {PYSAML2} failed: {err}"));
        }
        std::fs::write(&ready, "").map_err(|e| e.to_string())?;
        Ok(python)
    });
    match made {
        Ok(python) => Some(python.clone()),
        Err(why) => {
            eid_store::testing::skip(&format!("pysaml2 SP unavailable: {why}"));
            None
        }
    }
}

/// A pysaml2 service provider: its working directory (keys, metadata, outstanding requests,
/// the persons it logged in) and its endpoints.
struct PySp {
    python: PathBuf,
    dir: tempfile::TempDir,
    acs: &'static str,
    slo: &'static str,
}

impl PySp {
    /// Keys, certificates and metadata made by pysaml2 for the first service.
    fn setup(python: PathBuf) -> PySp {
        PySp::setup_as(python, [SP, ACS, SLO])
    }

    /// ... for the service of `[entity ID, ACS, SLO]`.
    fn setup_as(python: PathBuf, [entity_id, acs, slo]: [&'static str; 3]) -> PySp {
        let sp = PySp {
            python,
            dir: tempfile::tempdir().unwrap(),
            acs,
            slo,
        };
        sp.step("setup", &[entity_id, acs, slo]);
        sp
    }

    fn path(&self) -> &str {
        self.dir.path().to_str().unwrap()
    }

    /// Whether pysaml2 refuses a posted `SAMLResponse`.
    fn refuses(&self, saml_response: &str) -> bool {
        let file = self.dir.path().join("refused.b64");
        std::fs::write(&file, saml_response).unwrap();
        let args = [SP_SCRIPT, "acs", self.path(), file.to_str().unwrap()];
        !run(&self.python, &args).unwrap().0
    }

    /// Runs `sp.py COMMAND DIR ARGS…`; returns its output (the test fails if pysaml2 refuses).
    fn step(&self, command: &str, args: &[&str]) -> String {
        let mut all = vec![SP_SCRIPT, command, self.path()];
        all.extend(args);
        let (ok, out, err) = run(&self.python, &all).unwrap();
        assert!(ok, "sp.py {command} failed:\n{err}");
        out
    }

    fn metadata(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sp-metadata.xml")).unwrap()
    }

    /// Fetches the broker's IdP metadata, as the service's operator would.
    async fn fetch_idp_metadata(&self, stack: &TestStack) -> String {
        let url = format!("{}/saml/metadata", stack.url(Component::Broker));
        let response = reqwest::get(&url).await.unwrap();
        assert_eq!(response.status(), 200);
        let xml = response.text().await.unwrap();
        std::fs::write(self.dir.path().join("idp-metadata.xml"), &xml).unwrap();
        xml
    }

    /// A signed Redirect AuthnRequest: (URL, request ID).
    fn authn_request(&self) -> (String, String) {
        let out: Value = serde_json::from_str(&self.step("authn", &[])).unwrap();
        (
            out["url"].as_str().unwrap().to_owned(),
            out["id"].as_str().unwrap().to_owned(),
        )
    }

    /// A signed POST-binding AuthnRequest: (form action, `SAMLRequest`, request ID).
    fn posted_authn_request(&self) -> (String, String, String) {
        let out: Value = serde_json::from_str(&self.step("authn-post", &[])).unwrap();
        let field = |name: &str| out[name].as_str().unwrap().to_owned();
        (field("action"), field("saml_request"), field("id"))
    }

    /// What pysaml2 read from a posted `SAMLResponse` (it fails on anything it refuses).
    fn acs(&self, saml_response: &str) -> Value {
        let file = self.dir.path().join("response.b64");
        std::fs::write(&file, saml_response).unwrap();
        let out = self.step("acs", &[file.to_str().unwrap()]);
        serde_json::from_str(&out).unwrap()
    }

    /// Whether pysaml2 refuses `sp.py COMMAND DIR ARGS…`.
    fn refuses_step(&self, command: &str, args: &[&str]) -> bool {
        let mut all = vec![SP_SCRIPT, command, self.path()];
        all.extend(args);
        !run(&self.python, &all).unwrap().0
    }

    /// A signed Redirect LogoutRequest for the person it logged in: (URL, request ID).
    fn logout(&self) -> (String, String) {
        let out: Value = serde_json::from_str(&self.step("logout", &[])).unwrap();
        (
            out["url"].as_str().unwrap().to_owned(),
            out["id"].as_str().unwrap().to_owned(),
        )
    }

    /// What pysaml2 read from the broker's Redirect LogoutResponse at `url` (it fails on anything
    /// it refuses).
    fn logout_response(&self, url: &str) -> Value {
        assert!(url.starts_with(self.slo), "not at the SLO service: {url}");
        serde_json::from_str(&self.step("logout-response", &[url])).unwrap()
    }

    /// pysaml2's handling of the broker's Redirect LogoutRequest at `url`: the URL of its signed
    /// LogoutResponse, and whether the person is still logged in there.
    fn slo(&self, url: &str) -> (String, bool) {
        assert!(url.starts_with(self.slo), "not at the SLO service: {url}");
        let out: Value = serde_json::from_str(&self.step("slo", &[url])).unwrap();
        (
            out["url"].as_str().unwrap().to_owned(),
            out["logged_in"].as_bool().unwrap(),
        )
    }
}

/// The auto-submitting page's `SAMLResponse`, checked to post to the first service's ACS.
fn posted_response(page: &Page) -> String {
    posted_response_to(page, ACS)
}

/// The auto-submitting page's `SAMLResponse`, checked to post to `acs`.
fn posted_response_to(page: &Page, acs: &str) -> String {
    assert_eq!(page.status, 200, "{page:?}");
    assert!(
        page.body.contains(&format!("action=\"{acs}\"")),
        "not a POST to the ACS: {}",
        page.body
    );
    assert_eq!(page.input("RelayState").as_deref(), Some("pysaml2-relay"));
    page.must_input("SAMLResponse")
}

fn response_xml_of(saml_response: &str) -> String {
    String::from_utf8(STANDARD.decode(saml_response).unwrap()).unwrap()
}

fn cert_pem(b64: &str) -> String {
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    )
}

/// The first signing certificate of the broker's IdP metadata.
fn idp_signing_cert(metadata: &str) -> String {
    let descriptor = metadata.find("use=\"signing\"").expect("a signing key");
    let rest = &metadata[descriptor..];
    let start = rest.find("X509Certificate>").unwrap() + "X509Certificate>".len();
    let end = start + rest[start..].find('<').unwrap();
    rest[start..end].split_whitespace().collect()
}

/// Decrypts the Response's EncryptedAssertion with `xmlsec1`; returns the plaintext document.
fn xmlsec1_decrypt(dir: &Path, response_xml: &str, privkey: &Path) -> String {
    let file = dir.join("response.xml");
    std::fs::write(&file, response_xml).unwrap();
    let (ok, out, err) = run(
        Path::new("xmlsec1"),
        &[
            "--decrypt",
            "--privkey-pem",
            privkey.to_str().unwrap(),
            file.to_str().unwrap(),
        ],
    )
    .unwrap();
    assert!(
        ok,
        "xmlsec1 could not decrypt the broker's assertion: {err}"
    );
    out
}

/// Whether `xmlsec1` verifies the assertion's signature with only `cert` trusted.
fn xmlsec1_verifies(dir: &Path, xml: &str, cert: &Path) -> (bool, String) {
    let file = dir.join("decrypted.xml");
    std::fs::write(&file, xml).unwrap();
    let mut args = vec!["--verify"];
    args.extend(ID_ATTR);
    args.extend([
        "--pubkey-cert-pem",
        cert.to_str().unwrap(),
        "--enabled-key-data",
        "key-name",
        file.to_str().unwrap(),
    ]);
    let (ok, _, err) = run(Path::new("xmlsec1"), &args).unwrap();
    (ok, err)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pysaml2_service_logs_in_through_the_broker_and_gets_single_sign_on() {
    let Some(python) = pysaml2_python() else {
        return;
    };
    let sp = PySp::setup(python);
    let stack = TestStack::builder()
        .saml_service_provider(&sp.metadata(), "pysaml2 service", SECTOR, &["cpr", "name"])
        .start()
        .await
        .unwrap();
    let idp_metadata = sp.fetch_idp_metadata(&stack).await;
    let browser = Browser::new();

    // The signed request takes the browser to the authenticator; Karen logs in with a password.
    let (url, request_id) = sp.authn_request();
    assert!(
        url.contains("Signature=") && url.contains("SigAlg="),
        "{url}"
    );
    let user_page = browser.get(&url, ACS).await;
    assert!(
        user_page.url.starts_with(stack.url(Component::Idp)),
        "expected the authenticator: {user_page:?}"
    );
    let methods = enter_user_id(&stack, &browser, &user_page, "karen").await;
    let back = submit_password(&stack, &browser, &methods, "karen-demo-pass").await;
    let saml_response = posted_response(&back);
    let first = sp.acs(&saml_response);
    assert_eq!(first["in_response_to"], request_id.as_str());
    assert_eq!(first["name_id_format"], PERSISTENT);
    let name_id = first["name_id"].as_str().unwrap();
    assert!(
        name_id.starts_with("https://data.gov.dk/model/core/eid/person/uuid/"),
        "{first}"
    );
    assert_eq!(first["authn_context"], LOW);
    assert!(
        !first["session_index"].as_str().unwrap_or("").is_empty(),
        "{first}"
    );
    let attributes = &first["attributes"];
    assert_eq!(attributes[NSIS_LOA][0], "Low", "{first}");
    assert_eq!(
        attributes["https://data.gov.dk/model/core/eid/fullName"][0],
        "Karen Jensen"
    );
    assert_eq!(
        attributes["https://data.gov.dk/model/core/eid/cprNumber"][0],
        "1503459992"
    );
    assert_eq!(
        attributes["https://data.gov.dk/model/core/specVersion"][0],
        "OIO-SAML-3.0"
    );

    // The strict settings bite: an answer to a request the service never sent is refused.
    let unsolicited = response_xml_of(&saml_response).replace(&request_id, "_not-sent-by-the-sp");
    assert!(sp.refuses(&STANDARD.encode(unsolicited)));

    // xmlsec1 (acceptance (a)): the EncryptedAssertion decrypts with the service's key, and its
    // signature verifies with the certificate of the broker's metadata, and no longer once altered.
    let response_xml = response_xml_of(&saml_response);
    assert!(response_xml.contains("EncryptedAssertion"));
    assert!(
        !response_xml.contains("1503459992"),
        "the CPR number is encrypted"
    );
    let work = tempfile::tempdir().unwrap();
    let cert = work.path().join("idp.pem");
    std::fs::write(&cert, cert_pem(&idp_signing_cert(&idp_metadata))).unwrap();
    let plain = xmlsec1_decrypt(work.path(), &response_xml, &sp.dir.path().join("enc.key"));
    assert!(plain.contains("1503459992") && plain.contains("<saml:Assertion"));
    let (ok, err) = xmlsec1_verifies(work.path(), &plain, &cert);
    assert!(
        ok,
        "xmlsec1 refused the broker's assertion signature: {err}"
    );
    let (ok, _) = xmlsec1_verifies(work.path(), &plain.replace("Karen", "Karin"), &cert);
    assert!(!ok, "xmlsec1 accepted an altered assertion");
    let (ok, _) = xmlsec1_verifies(work.path(), &plain, &sp.dir.path().join("sign.crt"));
    assert!(
        !ok,
        "xmlsec1 accepted the signature with another key pinned"
    );

    // Single sign-on: a second request is answered at once, for the same person and session.
    let (url, second_id) = sp.authn_request();
    let again = browser.get(&url, ACS).await;
    let second = sp.acs(&posted_response(&again));
    assert_eq!(second["in_response_to"], second_id.as_str());
    assert_eq!(second["name_id"], name_id);
    assert!(!second["session_index"].as_str().unwrap_or("").is_empty());

    // The POST binding, with pysaml2's enveloped XML signature: answered at once as well.
    let (action, saml_request, third_id) = sp.posted_authn_request();
    let page = browser
        .post(
            &action,
            &[
                ("SAMLRequest", &saml_request),
                ("RelayState", "pysaml2-relay"),
            ],
            ACS,
        )
        .await;
    let third = sp.acs(&posted_response(&page));
    assert_eq!(third["in_response_to"], third_id.as_str());
    assert_eq!(third["name_id"], name_id);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pysaml2_request_with_its_signature_stripped_gets_no_response() {
    let Some(python) = pysaml2_python() else {
        return;
    };
    let sp = PySp::setup(python);
    let stack = TestStack::builder()
        .saml_service_provider(&sp.metadata(), "pysaml2 service", SECTOR, &["name"])
        .start()
        .await
        .unwrap();
    sp.fetch_idp_metadata(&stack).await;
    let (url, _) = sp.authn_request();
    let (base, query) = url.split_once('?').unwrap();
    let kept: Vec<&str> = query
        .split('&')
        .filter(|p| !p.starts_with("Signature=") && !p.starts_with("SigAlg="))
        .collect();
    let stripped = format!("{base}?{}", kept.join("&"));
    let page = Browser::new().get(&stripped, ACS).await;
    assert!(
        !page.url.starts_with(stack.url(Component::Idp)) && !page.body.contains("SAMLResponse"),
        "an unsigned request was answered: {page:?}"
    );
    assert_eq!(page.status, 400, "{page:?}");
}

/// A Redirect-binding URL with another (well-formed) signature value.
fn altered_signature(url: &str) -> String {
    let (base, query) = url.split_once('?').unwrap();
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| {
            let v = if k == "Signature" {
                let mut bytes = STANDARD.decode(v.as_bytes()).unwrap();
                bytes[0] ^= 1;
                STANDARD.encode(bytes)
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    format!("{base}?{query}")
}

/// A Redirect-binding URL without `Signature` and `SigAlg`.
fn unsigned(url: &str) -> String {
    let (base, query) = url.split_once('?').unwrap();
    let kept: Vec<&str> = query
        .split('&')
        .filter(|p| !p.starts_with("Signature=") && !p.starts_with("SigAlg="))
        .collect();
    format!("{base}?{}", kept.join("&"))
}

/// Logs Karen in at `sp` with her password: what pysaml2 read from the Response.
async fn password_login(stack: &TestStack, browser: &Browser, sp: &PySp) -> Value {
    let (url, request_id) = sp.authn_request();
    let user_page = browser.get(&url, sp.acs).await;
    assert!(
        user_page.url.starts_with(stack.url(Component::Idp)),
        "expected the authenticator: {user_page:?}"
    );
    let methods = enter_user_id(stack, browser, &user_page, "karen").await;
    let back = submit_password(stack, browser, &methods, "karen-demo-pass").await;
    let read = sp.acs(&posted_response_to(&back, sp.acs));
    assert_eq!(read["in_response_to"], request_id.as_str());
    read
}

/// Whether a new AuthnRequest of `sp` takes the browser to the authenticator's login page (no
/// session at the broker, none at the authenticator).
async fn asks_for_credentials(stack: &TestStack, browser: &Browser, sp: &PySp) -> bool {
    let (url, _) = sp.authn_request();
    let page = browser.get(&url, sp.acs).await;
    page.url.starts_with(stack.url(Component::Idp)) && page.body.contains("name=\"user_id\"")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pysaml2_service_logs_out_and_its_next_request_needs_a_login() {
    let Some(python) = pysaml2_python() else {
        return;
    };
    let sp = PySp::setup(python);
    let stack = TestStack::builder()
        .saml_service_provider(&sp.metadata(), "pysaml2 service", SECTOR, &["name"])
        .start()
        .await
        .unwrap();
    sp.fetch_idp_metadata(&stack).await;
    let browser = Browser::new();
    password_login(&stack, &browser, &sp).await;
    assert!(!asks_for_credentials(&stack, &browser, &sp).await, "SSO");
    sp.acs(&posted_response(
        &browser.get(&sp.authn_request().0, ACS).await,
    ));

    // pysaml2's signed Redirect LogoutRequest, with the NameID and SessionIndex it received: the
    // broker ends its session and the authenticator's, and answers at pysaml2's SLO service.
    let (url, logout_id) = sp.logout();
    assert!(
        url.contains("Signature=") && url.contains("SigAlg="),
        "{url}"
    );
    let answered = browser.get(&url, SLO).await;
    // The strict settings bite: an altered or unsigned answer is refused (and changes nothing).
    for spoilt in [altered_signature(&answered.url), unsigned(&answered.url)] {
        assert!(sp.refuses_step("logout-response", &[&spoilt]), "{spoilt}");
    }
    let read = sp.logout_response(&answered.url);
    assert_eq!(read["in_response_to"], logout_id.as_str(), "{read}");
    assert_eq!(read["status"], "urn:oasis:names:tc:SAML:2.0:status:Success");
    assert_eq!(read["second_status"], Value::Null, "not a partial logout");
    assert_eq!(
        read["issuer"],
        format!("{}/saml/metadata", stack.url(Component::Broker))
    );
    assert_eq!(read["destination"], SLO);
    assert_eq!(read["logged_in"], false, "pysaml2 ended its own session");
    assert!(
        asks_for_credentials(&stack, &browser, &sp).await,
        "after logout a login asks the authenticator for credentials again"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pysaml2_service_hears_through_the_browser_of_a_logout_at_another_service() {
    let Some(python) = pysaml2_python() else {
        return;
    };
    let first = PySp::setup(python.clone());
    let second = PySp::setup_as(python, SECOND);
    let stack = TestStack::builder()
        .saml_service_provider(&first.metadata(), "pysaml2 service", SECTOR, &["name"])
        .saml_service_provider(
            &second.metadata(),
            "second pysaml2 service",
            "sector-two",
            &[],
        )
        .start()
        .await
        .unwrap();
    first.fetch_idp_metadata(&stack).await;
    second.fetch_idp_metadata(&stack).await;
    let browser = Browser::new();
    password_login(&stack, &browser, &first).await;
    let (url, _) = second.authn_request();
    second.acs(&posted_response_to(
        &browser.get(&url, second.acs).await,
        second.acs,
    ));

    // The second service logs out; the broker sends the first one (no SOAP endpoint) its signed
    // LogoutRequest through the browser, which pysaml2 verifies and answers.
    let (url, logout_id) = second.logout();
    let at_first = browser.get(&url, SLO).await;
    for spoilt in [altered_signature(&at_first.url), unsigned(&at_first.url)] {
        assert!(first.refuses_step("slo", &[&spoilt]), "{spoilt}");
    }
    let (answer_url, still_in) = first.slo(&at_first.url);
    assert!(!still_in, "pysaml2 logged the person out");
    // The broker accepts that signed LogoutResponse: the second service hears Success, not
    // PartialLogout.
    let at_second = browser.get(&answer_url, SECOND[2]).await;
    let read = second.logout_response(&at_second.url);
    assert_eq!(read["in_response_to"], logout_id.as_str(), "{read}");
    assert_eq!(read["status"], "urn:oasis:names:tc:SAML:2.0:status:Success");
    assert_eq!(
        read["second_status"],
        Value::Null,
        "every service was reached"
    );
    assert!(asks_for_credentials(&stack, &browser, &first).await);
}
