//! The proxy service under test, called in-process, beside one loopback listener that plays
//! everybody else: two foreign connectors (`XA`, `XB`) publishing signed metadata, and the broker
//! as an OpenID provider whose next login each test chooses (who, at which level, or a cancel).
//! The test itself acts as the connector: it signs AuthnRequests with the connector's key and
//! reads the Response with `read_response`, decrypting with the connector's key.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use eid_core::{AuditEvent, AuditLog, Clock, FixedClock, Loa, StoreError};
use eid_eidas_gateway::Common;
use eid_eidas_gateway::node::NodeKeys;
use eid_eidas_gateway::peers::{Peer, Peers};
use eid_eidas_gateway::proxy::{self, ProxyService};
use eid_eidas_gateway::settings::{PeerAlgorithms, ProxySettings};
use eid_keys::{Alg, SigningKey};
use eid_oidc::rp::{UpstreamClient, UpstreamConfig};
use eid_saml::dsig::{AlgorithmPolicy, PinnedKeys, SignatureAlg, certificate_for, sign_enveloped};
use eid_saml::eidas::{
    AuthnRequestOut, EidasLoa, MetadataOut, NATURAL_MINIMUM, NodeRole, PeerMetadata, ReadResponse,
    RequestedAttribute, ResponseExpectations, SpType, read_metadata, read_response,
};
use eid_saml::enc::{DecryptPolicy, DecryptionKey};
use eid_saml::messages::new_message_id;
use eid_store::{AuditWriter, MemoryEphemeral};
use eid_web::testing::{self as web, Client, Reply};
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

/// The gateway's public URL (never resolved: its router is called in-process).
pub const GATEWAY: &str = "http://127.0.0.1:8083";
pub const SSO: &str = "http://127.0.0.1:8083/eidas/proxy/sso";
pub const CLIENT_ID: &str = "eidas-proxy";
pub const CLIENT_SECRET: &str = "proxy-secret-0123456789";
pub const SECRET: [u8; 32] = [42; 32];

/// An RSA key with its certificate.
pub struct Party {
    pub key: Arc<SigningKey>,
    pub cert: Vec<u8>,
    pub pem: String,
}

impl Party {
    fn new(subject: &str) -> Party {
        let pem = eid_keys::generate_pem(Alg::PS256, 3072).unwrap();
        let key = Arc::new(SigningKey::from_pem(pem.as_bytes(), Alg::PS256).unwrap());
        let cert = certificate_for(&key, subject).unwrap();
        Party { key, cert, pem }
    }

    pub fn decryption(&self) -> DecryptionKey {
        DecryptionKey::from_pem(self.pem.as_bytes()).unwrap()
    }
}

/// The keys of every party, generated once per test binary (RSA generation is slow).
pub struct Keys {
    pub gateway: Party,
    pub xa: Party,
    pub xb: Party,
    pub rogue: Party,
    pub op: Arc<SigningKey>,
}

pub fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| Keys {
        gateway: Party::new("DK eIDAS node"),
        xa: Party::new("XA connector"),
        xb: Party::new("XB connector"),
        rogue: Party::new("XA connector"),
        op: Arc::new(
            SigningKey::from_pem(
                eid_keys::generate_pem(Alg::ES256, 3072).unwrap().as_bytes(),
                Alg::ES256,
            )
            .unwrap(),
        ),
    })
}

/// The next login the stand-in broker answers with.
#[derive(Clone, Debug)]
pub struct BrokerLogin {
    pub sub: String,
    pub loa: Loa,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub birthdate: Option<String>,
    pub cpr: Option<String>,
    /// The authentication methods (`eidas`: a foreign eID through the broker's connector).
    pub amr: Vec<String>,
    /// Answer the authorization request with this error instead (`access_denied`: cancelled).
    pub error: Option<String>,
}

impl BrokerLogin {
    pub fn karen() -> BrokerLogin {
        BrokerLogin {
            sub: "pairwise-karen".into(),
            loa: Loa::Substantial,
            given_name: Some("Karen".into()),
            family_name: Some("Jensen".into()),
            birthdate: Some("1970-01-01".into()),
            cpr: Some("0101701234".into()),
            amr: vec!["pwd".into()],
            error: None,
        }
    }
}

/// The stand-in broker.
pub struct Op {
    pub issuer: String,
    pub next: Mutex<BrokerLogin>,
    codes: Mutex<HashMap<String, (String, Option<String>)>>,
    pub authorize_requests: Mutex<Vec<HashMap<String, String>>>,
}

/// What the loopback listener serves.
struct Served {
    op: Arc<Op>,
    metadata: Mutex<HashMap<String, String>>,
}

async fn discovery(State(s): State<Arc<Served>>) -> Response {
    let iss = &s.op.issuer;
    Json(json!({
        "issuer": iss,
        "authorization_endpoint": format!("{iss}/authorize"),
        "token_endpoint": format!("{iss}/token"),
        "jwks_uri": format!("{iss}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
    }))
    .into_response()
}

async fn jwks() -> Response {
    Json(json!({ "keys": [keys().op.public_jwk()] })).into_response()
}

async fn authorize(
    State(s): State<Arc<Served>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let op = &s.op;
    op.authorize_requests.lock().unwrap().push(q.clone());
    let mut to = url::Url::parse(&q["redirect_uri"]).unwrap();
    let next = op.next.lock().unwrap().clone();
    if let Some(error) = next.error {
        to.query_pairs_mut()
            .append_pair("error", &error)
            .append_pair("state", &q["state"])
            .append_pair("iss", &op.issuer);
        return Redirect::to(to.as_str()).into_response();
    }
    let code = format!("code-{}", Uuid::new_v4());
    op.codes.lock().unwrap().insert(
        code.clone(),
        (q["code_challenge"].clone(), q.get("nonce").cloned()),
    );
    to.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &q["state"])
        .append_pair("iss", &op.issuer);
    Redirect::to(to.as_str()).into_response()
}

async fn token(
    State(s): State<Arc<Served>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let op = &s.op;
    let basic = format!(
        "Basic {}",
        STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    );
    if headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        != Some(basic.as_str())
    {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_client"})),
        )
            .into_response();
    }
    let Some((challenge, nonce)) = op.codes.lock().unwrap().remove(&form["code"]) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_grant"})),
        )
            .into_response();
    };
    let verifier = &form["code_verifier"];
    assert_eq!(
        URL_SAFE_NO_PAD
            .encode(ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes()).as_ref()),
        challenge
    );
    let login = op.next.lock().unwrap().clone();
    let t = OffsetDateTime::now_utc().unix_timestamp();
    let mut claims = json!({
        "iss": op.issuer,
        "sub": login.sub,
        "aud": CLIENT_ID,
        "exp": t + 300,
        "iat": t,
        "auth_time": t - 5,
        "nonce": nonce,
        "acr": login.loa.as_uri(),
        "amr": login.amr,
    });
    let c = claims.as_object_mut().unwrap();
    for (name, value) in [
        ("given_name", login.given_name),
        ("family_name", login.family_name),
        ("birthdate", login.birthdate),
        ("cpr", login.cpr),
    ] {
        if let Some(v) = value {
            c.insert(name.into(), Value::String(v));
        }
    }
    let id_token = keys()
        .op
        .sign_jws(Some("JWT"), &serde_json::to_vec(&claims).unwrap())
        .unwrap();
    Json(json!({
        "access_token": "at", "token_type": "Bearer", "expires_in": 300, "id_token": id_token,
    }))
    .into_response()
}

async fn metadata(
    State(s): State<Arc<Served>>,
    axum::extract::Path(country): axum::extract::Path<String>,
) -> Response {
    match s.metadata.lock().unwrap().get(&country) {
        Some(xml) => xml.clone().into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// An audit log in memory.
#[derive(Default)]
pub struct MemoryAudit(pub Mutex<Vec<AuditEvent>>);

#[async_trait]
impl AuditLog for MemoryAudit {
    async fn append(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        self.0.lock().unwrap().extend_from_slice(events);
        Ok(())
    }
    async fn for_person(&self, person: Uuid, _: u32) -> Result<Vec<AuditEvent>, StoreError> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.person == Some(person))
            .cloned()
            .collect())
    }
    async fn by_kind_since(
        &self,
        kind: &str,
        since: OffsetDateTime,
        _: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.kind == kind && e.at >= since)
            .cloned()
            .collect())
    }
}

/// One foreign connector, as the test plays it.
pub struct Connector {
    pub country: &'static str,
    pub entity_id: String,
    pub acs: String,
    pub party: &'static Party,
}

/// The whole arrangement.
pub struct Env {
    pub router: Router,
    pub proxy: Arc<ProxyService>,
    pub op: Arc<Op>,
    pub audit: Arc<MemoryAudit>,
    pub writer: AuditWriter,
    pub clock: FixedClock,
    pub base: String,
    pub xa: Connector,
    pub xb: Connector,
    /// The gateway's metadata as a connector reads it.
    pub gateway_metadata: PeerMetadata,
    served: Arc<Served>,
}

fn connector_metadata(c: &Connector, sp_type: Option<SpType>) -> String {
    metadata_with_key(c, sp_type, c.party)
}

/// `c`'s metadata naming `signing` as its signing key, signed by `c`'s own (anchor) key.
fn metadata_with_key(c: &Connector, sp_type: Option<SpType>, signing: &Party) -> String {
    MetadataOut {
        entity_id: c.entity_id.clone(),
        node_country: c.country.into(),
        role: NodeRole::Connector {
            acs_url: c.acs.clone(),
            sp_type,
        },
        signing_certificate: signing.cert.clone(),
        encryption_certificate: c.party.cert.clone(),
        valid_until: OffsetDateTime::now_utc() + time::Duration::days(1),
        signing_methods: vec![SignatureAlg::RsaPssSha256],
    }
    .to_signed_xml(&c.party.key, SignatureAlg::RsaPssSha256, &c.party.cert)
    .unwrap()
}

impl Env {
    pub async fn new() -> Env {
        let k = keys();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let base = format!("http://{addr}");
        let op = Arc::new(Op {
            issuer: format!("{base}/op"),
            next: Mutex::new(BrokerLogin::karen()),
            codes: Mutex::default(),
            authorize_requests: Mutex::default(),
        });
        let served = Arc::new(Served {
            op: op.clone(),
            metadata: Mutex::default(),
        });
        let app = Router::new()
            .route("/op/.well-known/openid-configuration", get(discovery))
            .route("/op/jwks", get(jwks))
            .route("/op/authorize", get(authorize))
            .route("/op/token", post(token))
            .route("/{country}/metadata", get(metadata))
            .with_state(served.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

        let connector = |country: &'static str, party: &'static Party| Connector {
            country,
            entity_id: format!("{base}/{}/metadata", country.to_lowercase()),
            acs: format!("{base}/{}/acs", country.to_lowercase()),
            party,
        };
        let (xa, xb) = (connector("XA", &k.xa), connector("XB", &k.xb));
        {
            let mut m = served.metadata.lock().unwrap();
            m.insert("xa".into(), connector_metadata(&xa, Some(SpType::Public)));
            m.insert("xb".into(), connector_metadata(&xb, Some(SpType::Public)));
        }

        let clock = FixedClock::new(OffsetDateTime::now_utc());
        let clock_arc: Arc<dyn Clock> = Arc::new(clock.clone());
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        let algorithms = PeerAlgorithms::default().validate("test").unwrap();
        let peer = |c: &Connector| Peer {
            country: c.country.into(),
            metadata_url: c.entity_id.clone(),
            anchor: PinnedKeys::from_certificates([c.party.cert.as_slice()]).unwrap(),
            algorithms: algorithms.clone(),
        };
        let peers = Peers::new(
            vec![peer(&xa), peer(&xb)],
            http.clone(),
            clock_arc.clone(),
            Duration::from_secs(3600),
        );
        let audit = Arc::new(MemoryAudit::default());
        let writer = AuditWriter::spawn(audit.clone(), 16);
        let common = Common {
            public_url: GATEWAY.into(),
            secure_cookies: false,
            ephemeral: Arc::new(MemoryEphemeral::new()),
            audit: writer.clone(),
            clock: clock_arc.clone(),
            http,
        };
        let broker = UpstreamClient::with_clock(
            UpstreamConfig {
                name: "broker".into(),
                issuer: op.issuer.clone(),
                client_id: CLIENT_ID.into(),
                client_secret: CLIENT_SECRET.into(),
                redirect_uri: format!("{GATEWAY}/eidas/proxy/callback"),
                scopes: vec![],
            },
            clock_arc,
        )
        .unwrap();
        let settings = ProxySettings {
            client_id: CLIENT_ID.into(),
            client_secret: Some(CLIENT_SECRET.into()),
            client_secret_file: None,
            broker_issuer: Some(op.issuer.clone()),
            pseudonym_secret_file: None,
            connectors: vec![],
        };
        let node = Arc::new(NodeKeys {
            key: k.gateway.key.clone(),
            decryption: k.gateway.decryption(),
            certificate: k.gateway.cert.clone(),
        });
        let proxy = Arc::new(
            ProxyService::new(&settings, "DK", common, node, peers, broker, SECRET).unwrap(),
        );
        let router = proxy::routes(proxy.clone());
        let mut env = Env {
            router,
            proxy,
            op,
            audit,
            writer,
            clock,
            base,
            xa,
            xb,
            gateway_metadata: placeholder_metadata(),
            served,
        };
        let reply = web::get(&env.router, &mut Client::new(), "/eidas/proxy/metadata").await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        env.gateway_metadata = read_metadata(
            &reply.body,
            &PinnedKeys::from_certificates([k.gateway.cert.as_slice()]).unwrap(),
            &AlgorithmPolicy::default(),
            OffsetDateTime::now_utc(),
        )
        .unwrap();
        env
    }

    /// The audit events of `kind` so far.
    pub async fn audited(&self, kind: &str) -> Vec<AuditEvent> {
        self.writer.flush().await;
        self.audit
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.kind == kind)
            .cloned()
            .collect()
    }

    /// XA publishes new metadata whose signing key is `signing` (a key rollover).
    pub fn xa_rolls_over_to(&self, signing: &Party) {
        let xml = metadata_with_key(&self.xa, Some(SpType::Public), signing);
        self.served
            .metadata
            .lock()
            .unwrap()
            .insert("xa".into(), xml);
    }

    /// Chooses the broker's next login.
    pub fn broker_answers(&self, login: BrokerLogin) {
        *self.op.next.lock().unwrap() = login;
    }
}

fn placeholder_metadata() -> PeerMetadata {
    PeerMetadata {
        entity_id: String::new(),
        node_country: String::new(),
        role: NodeRole::ProxyService {
            sso_url: String::new(),
            loas: vec![],
            wants_requester_id: false,
        },
        signing_keys: PinnedKeys::from_certificates([keys().gateway.cert.as_slice()]).unwrap(),
        encryption_certificate: None,
        valid_until: OffsetDateTime::now_utc(),
        protocol_versions: vec![],
    }
}

/// The natural-person minimum data set, all required.
pub fn minimum() -> Vec<RequestedAttribute> {
    NATURAL_MINIMUM
        .iter()
        .map(|a| RequestedAttribute {
            name: a.name.into(),
            required: true,
        })
        .collect()
}

/// An AuthnRequest from `c` (before signing).
pub fn request(c: &Connector, loa: EidasLoa) -> AuthnRequestOut {
    AuthnRequestOut {
        id: new_message_id(),
        issue_instant: OffsetDateTime::now_utc(),
        issuer: c.entity_id.clone(),
        destination: SSO.into(),
        provider_name: Some("Xanadu Tax Office".into()),
        sp_type: None,
        requester_id: None,
        requested: minimum(),
        loa,
        name_id_format: None,
    }
}

/// The request signed by `signer`, base64 for the form.
pub fn signed(r: &AuthnRequestOut, signer: &Party) -> String {
    let xml = r
        .to_signed_xml(&signer.key, SignatureAlg::RsaPssSha256, &signer.cert)
        .unwrap();
    STANDARD.encode(xml)
}

/// The XML without its (first) `Signature` element.
pub fn strip_signature(xml: &str) -> String {
    let mut from = 0;
    while let Some(i) = xml[from..].find('<') {
        let start = from + i;
        let name: String = xml[start + 1..]
            .chars()
            .take_while(|c| !c.is_whitespace() && *c != '>' && *c != '/')
            .collect();
        if name == "Signature" || name.ends_with(":Signature") {
            let close = format!("</{name}>");
            let end = xml[start..].find(&close).unwrap() + start + close.len();
            return format!("{}{}", &xml[..start], &xml[end..]);
        }
        from = start + 1;
    }
    panic!("no signature in {xml}")
}

/// The request with its XML changed by `edit`, then signed again by `signer` (a connector that
/// really sends such a request).
pub fn signed_edited(r: &AuthnRequestOut, signer: &Party, edit: impl Fn(&str) -> String) -> String {
    let xml = r
        .to_signed_xml(&signer.key, SignatureAlg::RsaPssSha256, &signer.cert)
        .unwrap();
    let edited = edit(&strip_signature(&xml));
    let resigned = sign_enveloped(
        &edited,
        &r.id,
        &signer.key,
        SignatureAlg::RsaPssSha256,
        &signer.cert,
    )
    .unwrap();
    STANDARD.encode(resigned)
}

/// Posts a `SAMLRequest` as the browser.
pub async fn post_request(env: &Env, browser: &mut Client, saml: &str, relay: &str) -> Reply {
    web::post(
        &env.router,
        browser,
        "/eidas/proxy/sso",
        &[("SAMLRequest", saml), ("RelayState", relay)],
    )
    .await
}

/// Follows the redirect to the stand-in broker and its redirect back to the callback.
pub async fn through_broker(env: &Env, browser: &mut Client, to_broker: &Reply) -> Reply {
    assert_eq!(to_broker.status, 303, "{}", to_broker.body);
    let location = to_broker.location.clone().unwrap();
    assert!(location.starts_with(&env.op.issuer), "{location}");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let back = http.get(&location).send().await.unwrap();
    let back = back.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned();
    let path = back.strip_prefix(GATEWAY).unwrap().to_owned();
    web::get(&env.router, browser, &path).await
}

/// The consent page, then the citizen's choice (`send` or `decline`).
pub async fn consent(env: &Env, browser: &mut Client, decision: &str) -> Reply {
    let page = web::get(&env.router, browser, "/eidas/proxy/consent").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let csrf = page.input("csrf");
    web::post(
        &env.router,
        browser,
        "/eidas/proxy/consent",
        &[("csrf", &csrf), ("decision", decision)],
    )
    .await
}

/// The posted form's fields from an auto-posting page: the action and its fields.
pub fn posted_form(reply: &Reply) -> (String, HashMap<String, String>) {
    assert_eq!(reply.status, 200, "{}", reply.body);
    let action = reply.body.split("action=\"").nth(1).unwrap();
    let action = action[..action.find('"').unwrap()].to_owned();
    let mut fields = HashMap::new();
    for name in ["SAMLResponse", "RelayState"] {
        if reply.body.contains(&format!("name=\"{name}\"")) {
            fields.insert(name.to_owned(), reply.input(name));
        }
    }
    (action, fields)
}

/// The Response of an auto-posting page, read as connector `c` reads it.
pub fn read_as(
    env: &Env,
    c: &Connector,
    reply: &Reply,
    request_id: &str,
    loa: EidasLoa,
) -> ReadResponse {
    let (action, fields) = posted_form(reply);
    assert_eq!(action, c.acs);
    let xml = String::from_utf8(STANDARD.decode(&fields["SAMLResponse"]).unwrap()).unwrap();
    let required: Vec<String> = minimum().into_iter().map(|a| a.name).collect();
    read_response(
        &xml,
        &ResponseExpectations {
            request_id,
            acs_url: &c.acs,
            audience: &c.entity_id,
            requested_loa: loa,
            required: &required,
            peer: &env.gateway_metadata,
            signature_policy: &AlgorithmPolicy::default(),
            decryption: &c.party.decryption(),
            decrypt_policy: &DecryptPolicy::default(),
            now: OffsetDateTime::now_utc(),
        },
    )
    .unwrap()
}

/// The raw Response XML of an auto-posting page.
pub fn response_xml(reply: &Reply) -> String {
    let (_, fields) = posted_form(reply);
    String::from_utf8(STANDARD.decode(&fields["SAMLResponse"]).unwrap()).unwrap()
}
