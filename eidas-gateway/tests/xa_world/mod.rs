//! The world of XA's tests: XA's router in-process (memory ephemeral store, in-memory SQLite audit
//! log, a clock the test holds) and a Danish eIDAS node played by the test – its own key, and its
//! connector and proxy service metadata served, signed, by a local listener – that XA's peers fetch.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use eid_core::{AuditEvent, AuditLog, EphemeralStore, FixedClock};
use eid_eidas_gateway::node::NodeKeys;
use eid_eidas_gateway::peers::{Peer, Peers};
use eid_eidas_gateway::settings::{DemoCountrySettings, PeerAlgorithms};
use eid_eidas_gateway::xa::DemoCountry;
use eid_eidas_gateway::{Common, Gateway};
use eid_saml::dsig::{AlgorithmPolicy, PinnedKeys, SignatureAlg};
use eid_saml::eidas::{EidasLoa, MetadataOut, NodeRole, PeerMetadata, SpType, read_metadata};
use eid_store::{AuditWriter, MemoryEphemeral, SqlDurable};
use eid_web::testing::{Client, Reply};
use eid_web::{Metrics, Platform};
use time::OffsetDateTime;

/// XA's public origin in the tests.
pub const ORIGIN: &str = "http://localhost:8083";

/// The Danish node the test plays.
pub struct Denmark {
    /// Its key and certificate.
    pub keys: NodeKeys,
    /// Its connector's metadata URL (entity ID), served by the local listener.
    pub connector_entity: String,
    /// Its connector's ACS.
    pub acs_url: String,
    /// Its proxy service's metadata URL (entity ID).
    pub proxy_entity: String,
    /// Its proxy service's SSO endpoint.
    pub sso_url: String,
}

/// XA in-process, with the Danish node beside it.
pub struct World {
    pub router: Router,
    pub xa: Arc<DemoCountry>,
    pub clock: FixedClock,
    pub ephemeral: Arc<dyn EphemeralStore>,
    pub durable: Arc<SqlDurable>,
    pub audit: AuditWriter,
    pub dk: Denmark,
    pub xa_keys: Arc<NodeKeys>,
    pub started: OffsetDateTime,
    _dir: tempfile::TempDir,
}

fn metadata(dk: &NodeKeys, entity_id: &str, role: NodeRole, now: OffsetDateTime) -> String {
    MetadataOut {
        entity_id: entity_id.to_owned(),
        node_country: "DK".into(),
        role,
        signing_certificate: dk.certificate.clone(),
        encryption_certificate: dk.certificate.clone(),
        valid_until: now + time::Duration::days(1),
        signing_methods: vec![SignatureAlg::RsaPssSha256],
    }
    .to_signed_xml(&dk.key, SignatureAlg::RsaPssSha256, &dk.certificate)
    .unwrap()
}

fn peers(country: &str, url: &str, anchor: &[u8], clock: &FixedClock) -> Peers {
    Peers::new(
        vec![Peer {
            country: country.into(),
            metadata_url: url.into(),
            anchor: PinnedKeys::from_certificates([anchor]).unwrap(),
            algorithms: PeerAlgorithms::default().validate("test").unwrap(),
        }],
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap(),
        Arc::new(clock.clone()),
        Duration::from_secs(3600),
    )
}

impl World {
    /// XA with the demo register, and a Danish node on a local port.
    pub async fn new() -> World {
        World::behind(&[]).await
    }

    /// [`World::new`] with the router believing `X-Forwarded-For` from `trusted`.
    pub async fn behind(trusted: &[std::net::IpAddr]) -> World {
        let dir = tempfile::tempdir().unwrap();
        let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
        let clock = FixedClock::new(now);
        let xa_keys =
            Arc::new(NodeKeys::load(&dir.path().join("xa"), "XA eIDAS node", true).unwrap());
        let dk_keys = NodeKeys::load(&dir.path().join("dk"), "DK eIDAS node", true).unwrap();

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let dk_origin = format!("http://{}", listener.local_addr().unwrap());
        let dk = Denmark {
            connector_entity: format!("{dk_origin}/eidas/connector/metadata"),
            acs_url: format!("{dk_origin}/eidas/connector/acs"),
            proxy_entity: format!("{dk_origin}/eidas/proxy/metadata"),
            sso_url: format!("{dk_origin}/eidas/proxy/sso"),
            keys: dk_keys,
        };
        let connector_md = metadata(
            &dk.keys,
            &dk.connector_entity,
            NodeRole::Connector {
                acs_url: dk.acs_url.clone(),
                sp_type: Some(SpType::Public),
            },
            now,
        );
        let proxy_md = metadata(
            &dk.keys,
            &dk.proxy_entity,
            NodeRole::ProxyService {
                sso_url: dk.sso_url.clone(),
                loas: EidasLoa::ALL.to_vec(),
                wants_requester_id: false,
            },
            now,
        );
        let served = Router::new()
            .route(
                "/eidas/connector/metadata",
                get(move || async move { connector_md }),
            )
            .route(
                "/eidas/proxy/metadata",
                get(move || async move { proxy_md }),
            );
        tokio::spawn(async move { axum::serve(listener, served).await });

        let durable = Arc::new(
            SqlDurable::connect_and_migrate("sqlite::memory:")
                .await
                .unwrap(),
        );
        let audit = AuditWriter::spawn(durable.clone(), 16);
        let ephemeral: Arc<dyn EphemeralStore> = Arc::new(MemoryEphemeral::new());
        let common = Common {
            public_url: ORIGIN.into(),
            secure_cookies: false,
            ephemeral: ephemeral.clone(),
            audit: audit.clone(),
            clock: Arc::new(clock.clone()),
            http: reqwest::Client::new(),
        };
        let settings = DemoCountrySettings {
            code: "XA".into(),
            persons: std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../config/demo/eidas-xa.toml"),
        };
        let xa = Arc::new(
            DemoCountry::new(
                &settings,
                common,
                xa_keys.clone(),
                peers("DK", &dk.connector_entity, &dk.keys.certificate, &clock),
                peers("DK", &dk.proxy_entity, &dk.keys.certificate, &clock),
            )
            .unwrap(),
        );
        let platform = Platform {
            component: "eidas-gateway",
            public_url: url::Url::parse(ORIGIN).unwrap(),
            metrics: Metrics::new("eidas-gateway"),
            checks: Vec::new(),
        };
        let gateway = Gateway {
            demo_country: Some(xa.clone()),
            trusted_proxies: eid_web::client_addr::TrustedProxies(trusted.into()),
            ..Gateway::default()
        };
        World {
            router: eid_eidas_gateway::router(&platform, &gateway),
            xa,
            clock,
            ephemeral,
            durable,
            audit,
            dk,
            xa_keys,
            started: now,
            _dir: dir,
        }
    }

    pub async fn get(&self, client: &mut Client, path: &str) -> Reply {
        eid_web::testing::get(&self.router, client, path).await
    }

    pub async fn post(&self, client: &mut Client, path: &str, form: &[(&str, &str)]) -> Reply {
        eid_web::testing::post(&self.router, client, path, form).await
    }

    /// XA's metadata at `path`, read as a peer reads it (signature by XA's certificate).
    pub async fn xa_metadata(&self, path: &str) -> PeerMetadata {
        let reply = self.get(&mut Client::new(), path).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        read_metadata(
            &reply.body,
            &PinnedKeys::from_certificates([self.xa_keys.certificate.as_slice()]).unwrap(),
            &AlgorithmPolicy::default(),
            eid_core::Clock::now(&self.clock),
        )
        .unwrap()
    }

    /// The audit events of `kind` recorded so far.
    pub async fn audited(&self, kind: &str) -> Vec<AuditEvent> {
        self.audit.flush().await;
        self.durable
            .by_kind_since(kind, self.started - time::Duration::minutes(1), 100)
            .await
            .unwrap()
    }

    /// Whether a refusal of `kind` for `reason` was audited.
    pub async fn refusal_audited(&self, kind: &str, reason: &str) -> bool {
        self.audited(kind)
            .await
            .iter()
            .any(|e| e.outcome == eid_core::AuditOutcome::Failure && e.details["reason"] == reason)
    }
}

/// The value of a hidden field of a page, its HTML escapes undone.
pub fn field(reply: &Reply, name: &str) -> String {
    unescape(&reply.input(name))
}

/// Undoes askama's HTML escaping of an attribute value.
pub fn unescape(s: &str) -> String {
    s.replace("&#43;", "+")
        .replace("&#x2b;", "+")
        .replace("&#47;", "/")
        .replace("&#x2f;", "/")
        .replace("&#61;", "=")
        .replace("&#x3d;", "=")
        .replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The `action` of the page's auto-posting form.
pub fn form_action(reply: &Reply) -> String {
    let start = reply
        .body
        .find("id=\"saml-post\" method=\"post\" action=\"")
        .unwrap_or_else(|| panic!("no auto-posting form in {}", reply.body));
    let rest = &reply.body[start + "id=\"saml-post\" method=\"post\" action=\"".len()..];
    unescape(&rest[..rest.find('"').unwrap()])
}

/// The XML of a base64 form field.
pub fn decoded(base64: &str) -> String {
    String::from_utf8(STANDARD.decode(base64.replace(['\r', '\n'], "")).unwrap()).unwrap()
}

/// Base64 of an XML message, for a form field.
pub fn encoded(xml: &str) -> String {
    STANDARD.encode(xml.as_bytes())
}

/// A browser that prefers English.
pub fn english() -> Client {
    let mut client = Client::new();
    client.headers.push(("accept-language", "en".into()));
    client
}

/// The register's person with a Greek name.
pub const ELENI: (&str, &str, &str) = ("eleni", "eleni-demo-1", "XA-4471-0012");
/// The register's person at substantial.
pub const JONAS: (&str, &str, &str) = ("jonas", "jonas-demo-1", "XA-2093-5530");

/// The query parameter `h` of a redirect.
pub fn handle_of(reply: &Reply) -> String {
    reply
        .location_param(ORIGIN, "h")
        .unwrap_or_else(|| panic!("no handle in {:?}: {}", reply.location, reply.body))
}

/// The signature policy of a peer that accepts RSA-PSS only (the eIDAS default).
pub fn pss_only() -> AlgorithmPolicy {
    AlgorithmPolicy {
        signature: vec![SignatureAlg::RsaPssSha256],
        ..AlgorithmPolicy::default()
    }
}
