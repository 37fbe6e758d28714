//! The connector's component tests: its router called in-process (`oneshot`) with the memory
//! ephemeral store, a clock the test moves and a recording audit log; a fake proxy service of
//! country XA built from `eid_saml::eidas` writers, with its own node keys and its metadata served
//! by a local listener so that `Peers` fetches it over HTTP.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use eid_core::{AuditEvent, AuditLog, FixedClock, StoreError};
use eid_eidas_gateway::Common;
use eid_eidas_gateway::connector::Connector;
use eid_eidas_gateway::node::NodeKeys;
use eid_eidas_gateway::peers::{Peer, Peers};
use eid_eidas_gateway::settings::{ConnectorSettings, CountrySettings, PeerAlgorithms, PeerSource};
use eid_keys::{Alg, KeySet, KeyStore, SigningKey};
use eid_saml::dsig::{AlgorithmPolicy, PinnedKeys, SignatureAlg};
use eid_saml::eidas::{
    AssertionOut, Attribute, AttributeValue, AuthnRequest, DATE_OF_BIRTH, EidasLoa, FAMILY_NAME,
    GIVEN_NAME, MetadataOut, NodeRole, PERSON_IDENTIFIER, RequestExpectations, ResponseKeys,
    ResponseOut, ResponseOutcome, SpType, Status, read_authn_request, read_metadata,
};
use eid_saml::enc::{DataAlg, EncryptOptions, KeyTransport, RecipientKey};
use eid_store::{AuditWriter, MemoryEphemeral};
pub use eid_web::testing::{Client, Reply, get, post};
use time::OffsetDateTime;

/// Our gateway's origin in these tests.
pub const PUBLIC_URL: &str = "http://localhost:8083";
/// The connector's issuer.
pub const ISSUER: &str = "http://localhost:8083/eidas/connector";
/// The broker's registration.
pub const CLIENT_ID: &str = "broker";
/// Its secret.
pub const CLIENT_SECRET: &str = "broker-secret-0123456789";
/// Its callback.
pub const REDIRECT_URI: &str = "http://localhost:8080/upstream/eidas/callback";
/// The PKCE verifier of every test login.
pub const VERIFIER: &str = "verifier-0123456789-0123456789-0123456789-abc";
/// When the tests run.
pub const START: OffsetDateTime = time::macros::datetime!(2026-06-01 12:00:00 UTC);

/// The node keys of the tests, generated once per test binary: ours, XA's, and a rogue key no
/// metadata names.
pub struct TestKeys {
    pub connector: Arc<NodeKeys>,
    pub xa: Arc<NodeKeys>,
    pub rogue: Arc<NodeKeys>,
}

pub fn keys() -> &'static TestKeys {
    static KEYS: OnceLock<TestKeys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let load = |subject: &str| {
            let dir = tempfile::tempdir().unwrap().keep();
            Arc::new(NodeKeys::load(&dir, subject, true).unwrap())
        };
        TestKeys {
            connector: load("DK eIDAS connector (test)"),
            xa: load("XA eIDAS proxy service (test)"),
            rogue: load("Rogue (test)"),
        }
    })
}

/// An audit log that keeps what it is given.
#[derive(Default)]
pub struct RecordingLog(pub Mutex<Vec<AuditEvent>>);

#[async_trait::async_trait]
impl AuditLog for RecordingLog {
    async fn append(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        self.0.lock().unwrap().extend_from_slice(events);
        Ok(())
    }
    async fn for_person(
        &self,
        _person: uuid::Uuid,
        _limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        Ok(Vec::new())
    }
    async fn by_kind_since(
        &self,
        kind: &str,
        _since: OffsetDateTime,
        _limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.kind == kind)
            .cloned()
            .collect())
    }
}

/// What the fake proxy service's metadata URL answers.
#[derive(Clone)]
pub enum Served {
    /// This document.
    Xml(String),
    /// This status, no document.
    Status(u16),
}

/// A listener serving one metadata document, which the test can change.
pub struct MetadataServer {
    pub base: String,
    pub served: Arc<Mutex<Served>>,
    pub hits: Arc<Mutex<u32>>,
}

impl MetadataServer {
    pub async fn start() -> MetadataServer {
        let served = Arc::new(Mutex::new(Served::Status(404)));
        let hits = Arc::new(Mutex::new(0));
        let (s, h) = (served.clone(), hits.clone());
        let app = Router::new().route(
            "/xa/metadata",
            axum::routing::get(move || {
                let (s, h) = (s.clone(), h.clone());
                async move {
                    *h.lock().unwrap() += 1;
                    let served = s.lock().unwrap().clone();
                    match served {
                        Served::Xml(xml) => (
                            [(
                                axum::http::header::CONTENT_TYPE,
                                "application/samlmetadata+xml",
                            )],
                            xml,
                        )
                            .into_response(),
                        Served::Status(code) => StatusCode::from_u16(code).unwrap().into_response(),
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        MetadataServer {
            base: format!("http://{addr}"),
            served,
            hits,
        }
    }

    pub fn entity_id(&self) -> String {
        format!("{}/xa/metadata", self.base)
    }

    pub fn sso_url(&self) -> String {
        format!("{}/xa/sso", self.base)
    }

    pub fn serve(&self, served: Served) {
        *self.served.lock().unwrap() = served;
    }

    pub fn hits(&self) -> u32 {
        *self.hits.lock().unwrap()
    }
}

/// XA's proxy-service metadata, signed with `signer` and naming `named` as its signing key.
pub fn proxy_metadata(
    server: &MetadataServer,
    named: &NodeKeys,
    signer: &NodeKeys,
    valid_until: OffsetDateTime,
) -> String {
    MetadataOut {
        entity_id: server.entity_id(),
        node_country: "XA".into(),
        role: NodeRole::ProxyService {
            sso_url: server.sso_url(),
            loas: EidasLoa::ALL.to_vec(),
            wants_requester_id: true,
        },
        signing_certificate: named.certificate.clone(),
        encryption_certificate: named.certificate.clone(),
        valid_until,
        signing_methods: vec![SignatureAlg::RsaPssSha256],
    }
    .to_signed_xml(&signer.key, SignatureAlg::RsaPssSha256, &signer.certificate)
    .unwrap()
}

/// The peer XA as the connector is configured with it (its metadata signed by XA's own key).
pub fn xa_peer(server: &MetadataServer) -> Peer {
    Peer {
        country: "XA".into(),
        metadata_url: server.entity_id(),
        anchor: PinnedKeys::from_certificates([keys().xa.certificate.as_slice()]).unwrap(),
        algorithms: PeerAlgorithms::default().validate("test").unwrap(),
    }
}

/// Outgoing HTTP as the gateway makes it: no redirects, short timeouts.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

/// A connector with the broker as its client and XA (served by a local listener) as its one
/// country.
pub struct Env {
    pub router: Router,
    pub conn: Arc<Connector>,
    pub clock: FixedClock,
    pub server: MetadataServer,
    pub log: Arc<RecordingLog>,
    pub audit: AuditWriter,
}

fn oidc_keys() -> KeyStore {
    let pem = eid_keys::generate_pem(Alg::ES256, 0).unwrap();
    KeyStore::from_key_set(
        KeySet::from_keys(vec![
            SigningKey::from_pem(pem.as_bytes(), Alg::ES256).unwrap(),
        ])
        .unwrap(),
    )
}

impl Env {
    pub async fn new() -> Env {
        let server = MetadataServer::start().await;
        server.serve(Served::Xml(proxy_metadata(
            &server,
            &keys().xa,
            &keys().xa,
            START + time::Duration::days(2),
        )));
        let clock = FixedClock::new(START);
        let log = Arc::new(RecordingLog::default());
        let audit = AuditWriter::spawn(log.clone(), 16);
        let common = Common {
            public_url: PUBLIC_URL.into(),
            secure_cookies: false,
            ephemeral: Arc::new(MemoryEphemeral::new()),
            audit: audit.clone(),
            clock: Arc::new(clock.clone()),
            http: http(),
        };
        let peers = Peers::new(
            vec![xa_peer(&server)],
            http(),
            common.clock.clone(),
            Duration::from_secs(3600),
        );
        let settings = ConnectorSettings {
            sp_type: SpType::Public,
            client_id: CLIENT_ID.into(),
            client_secret: Some(CLIENT_SECRET.into()),
            client_secret_file: None,
            redirect_uris: vec![REDIRECT_URI.into()],
            post_logout_redirect_uris: Vec::new(),
            countries: vec![CountrySettings {
                code: "XA".into(),
                name: "Xanadu".into(),
                peer: PeerSource {
                    metadata_url: server.entity_id(),
                    anchor: "demo".into(),
                    algorithms: PeerAlgorithms::default(),
                },
            }],
        };
        let conn = Arc::new(
            Connector::new(
                &settings,
                "DK",
                common,
                keys().connector.clone(),
                oidc_keys(),
                peers,
            )
            .unwrap(),
        );
        let router = eid_eidas_gateway::connector::routes(conn.clone());
        Env {
            router,
            conn,
            clock,
            server,
            log,
            audit,
        }
    }

    /// The audit events of `kind` so far.
    pub async fn audited(&self, kind: &str) -> Vec<AuditEvent> {
        self.audit.flush().await;
        self.log.by_kind_since(kind, START, 100).await.unwrap()
    }

    /// The authorization request's query, with `extra` parameters.
    pub fn authorize_path(&self, extra: &[(&str, &str)]) -> String {
        let challenge = eid_oidc::pkce::s256_challenge(VERIFIER);
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        q.extend_pairs([
            ("client_id", CLIENT_ID),
            ("redirect_uri", REDIRECT_URI),
            ("response_type", "code"),
            ("scope", "openid"),
            ("state", "st-1"),
            ("nonce", "n-1"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ]);
        for (k, v) in extra {
            q.append_pair(k, v);
        }
        format!("/eidas/connector/authorize?{}", q.finish())
    }

    /// Authorize, choose XA: the page with the auto-submitting form.
    pub async fn to_proxy(&self, browser: &mut Client, extra: &[(&str, &str)]) -> Reply {
        let chooser = get(&self.router, browser, &self.authorize_path(extra)).await;
        assert_eq!(chooser.status, 200, "{}", chooser.body);
        assert!(
            chooser.body.contains("name=\"country\""),
            "{}",
            chooser.body
        );
        let (login, csrf) = (chooser.input("login"), chooser.input("csrf"));
        post(
            &self.router,
            browser,
            "/eidas/connector/choose",
            &[("login", &login), ("csrf", &csrf), ("country", "XA")],
        )
        .await
    }

    /// The proxy service's view of the posted AuthnRequest: verified against our metadata.
    pub async fn read_request(&self, form: &Reply) -> (AuthnRequest, String) {
        assert_eq!(form.status, 200, "{}", form.body);
        let xml = String::from_utf8(STANDARD.decode(form.input("SAMLRequest")).unwrap()).unwrap();
        let relay = form.input("RelayState");
        let mut anon = Client::new();
        let md = get(&self.router, &mut anon, "/eidas/connector/metadata").await;
        assert_eq!(md.status, 200);
        let ours = read_metadata(
            &md.body,
            &PinnedKeys::from_certificates([keys().connector.certificate.as_slice()]).unwrap(),
            &AlgorithmPolicy::default(),
            self.clock_now(),
        )
        .unwrap();
        let req = read_authn_request(
            &xml,
            &RequestExpectations {
                destination: &self.server.sso_url(),
                peer: &ours,
                policy: &AlgorithmPolicy::default(),
                now: self.clock_now(),
            },
        )
        .unwrap();
        (req, relay)
    }

    pub fn clock_now(&self) -> OffsetDateTime {
        use eid_core::Clock;
        self.clock.now()
    }

    /// Authorize, choose, read the request as the proxy service.
    pub async fn start_login(&self, browser: &mut Client) -> (AuthnRequest, String) {
        let form = self.to_proxy(browser, &[]).await;
        self.read_request(&form).await
    }

    /// A signed Response to `req` from XA (signed with `signer`), base64 for the form.
    pub fn response(
        &self,
        req: &AuthnRequest,
        outcome: ResponseOutcome,
        signer: &NodeKeys,
    ) -> String {
        let now = self.clock_now();
        let recipient = RecipientKey::from_certificate(&keys().connector.certificate).unwrap();
        let xml = ResponseOut {
            id: eid_saml::messages::new_message_id(),
            in_response_to: req.id.clone(),
            issue_instant: now,
            destination: format!("{ISSUER}/acs"),
            issuer: self.server.entity_id(),
            outcome,
        }
        .to_signed_xml(&ResponseKeys {
            signing: &signer.key,
            alg: SignatureAlg::RsaPssSha256,
            certificate_der: &signer.certificate,
            sign_assertion: false,
            recipient: &recipient,
            encryption: EncryptOptions {
                data: DataAlg::Aes256Gcm,
                key_transport: KeyTransport::RsaOaep,
            },
        })
        .unwrap();
        STANDARD.encode(xml)
    }

    /// A successful assertion about Alexandros (XA/DK/XA-12345) at `loa`, with assertion ID `id`.
    pub fn success(&self, id: &str, loa: EidasLoa, attributes: Vec<Attribute>) -> ResponseOutcome {
        let now = self.clock_now();
        ResponseOutcome::Success(AssertionOut {
            id: id.into(),
            name_id: "XA/DK/XA-12345".into(),
            name_id_format: "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent".into(),
            audience: format!("{ISSUER}/metadata"),
            recipient: format!("{ISSUER}/acs"),
            not_on_or_after: now + time::Duration::minutes(5),
            authn_instant: now,
            loa,
            attributes,
        })
    }

    /// A failure status.
    pub fn failure(status: Status) -> ResponseOutcome {
        ResponseOutcome::Failure(status)
    }

    /// Posts a Response as `browser` (with the re-post a cross-site post would need done).
    pub async fn post_response(&self, browser: &mut Client, response: &str, relay: &str) -> Reply {
        post(
            &self.router,
            browser,
            "/eidas/connector/acs",
            &[("SAMLResponse", response), ("RelayState", relay)],
        )
        .await
    }

    /// The token request with `code`.
    pub async fn token(
        &self,
        code: &str,
        verifier: &str,
        secret: &str,
    ) -> (u16, serde_json::Value) {
        let mut backchannel = Client::new();
        let reply = post(
            &self.router,
            &mut backchannel,
            "/eidas/connector/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", verifier),
                ("client_id", CLIENT_ID),
                ("client_secret", secret),
            ],
        )
        .await;
        (
            reply.status,
            serde_json::from_str(&reply.body).unwrap_or_default(),
        )
    }
}

/// One Latin-script attribute value.
pub fn attr(def: &eid_saml::eidas::AttributeDef, values: &[(&str, bool)]) -> Attribute {
    Attribute {
        name: def.name.into(),
        values: values
            .iter()
            .map(|(v, latin)| AttributeValue {
                value: (*v).into(),
                latin_script: *latin,
            })
            .collect(),
    }
}

/// The natural-person minimum data set of Alexandros, with a Greek given name.
pub fn alexandros() -> Vec<Attribute> {
    vec![
        attr(&PERSON_IDENTIFIER, &[("XA/DK/XA-12345", true)]),
        attr(&GIVEN_NAME, &[("Αλέξανδρος", false), ("Alexandros", true)]),
        attr(&FAMILY_NAME, &[("Papadopoulos", true)]),
        attr(&DATE_OF_BIRTH, &[("1980-05-17", true)]),
    ]
}

/// The claims of an ID token (its payload, decoded; the signature is the JWKS's business).
pub fn id_token_claims(id_token: &str) -> serde_json::Value {
    let payload = id_token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}
