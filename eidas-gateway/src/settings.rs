//! The gateway's settings: its configuration section `[eidas_gateway]` besides the listener
//! ([`RawGatewaySettings`], as serde reads it) and their validation ([`RawGatewaySettings::validate`]).
//!
//! ```toml
//! [eidas_gateway]
//! country = "DK"
//!
//! [eidas_gateway.connector]            # foreign eIDs in: an OIDC provider towards the broker
//! sp_type = "public"                   # in our metadata, so never in a request
//! client_id = "broker"                 # the broker's registration here
//! client_secret = "…"
//! redirect_uris = ["http://localhost:8080/upstream/eidas/callback"]
//! [[eidas_gateway.connector.countries]]
//! code = "XA"
//! name = "Xanadu (demo)"
//! metadata_url = "http://localhost:8083/xa/proxy/metadata"
//! anchor = "demo"                      # or the path of a PEM certificate that signs its metadata
//!
//! [eidas_gateway.proxy]                # our citizens out: an OIDC relying party of the broker
//! client_id = "eidas-proxy"
//! client_secret = "…"
//! [[eidas_gateway.proxy.connectors]]
//! country = "XA"
//! metadata_url = "http://localhost:8083/xa/connector/metadata"
//! anchor = "demo"
//!
//! [eidas_gateway.demo_country]         # the fictitious second country of the demo
//! code = "XA"
//! persons = "config/demo/eidas-xa.toml"
//! ```

use std::path::PathBuf;
use std::time::Duration;

use eid_saml::dsig::{AlgorithmPolicy, SignatureAlg};
use eid_saml::eidas::SpType;
use eid_saml::enc::{DataAlg, DecryptPolicy, EncryptOptions, KeyTransport};
use serde::Deserialize;

/// A value of the section that is well-typed but not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct SettingsError {
    /// Path of the field within the section (`connector.countries[0].code`).
    pub field: String,
    /// What is wrong with it.
    pub problem: String,
}

pub(crate) fn invalid(field: impl Into<String>, problem: impl Into<String>) -> SettingsError {
    SettingsError {
        field: field.into(),
        problem: problem.into(),
    }
}

/// The section as written, besides its listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGatewaySettings {
    /// Our country (ISO 3166-1 alpha-2), `DK`.
    #[serde(default = "default_country")]
    pub country: String,
    /// How often peers' metadata is fetched again, seconds (also on an unknown key).
    #[serde(default = "default_metadata_refresh")]
    pub metadata_refresh_secs: u64,
    /// The connector, if this node runs one.
    pub connector: Option<ConnectorSettings>,
    /// The proxy service, if this node runs one.
    pub proxy: Option<ProxySettings>,
    /// The demo's fictitious second country (only with the demo).
    pub demo_country: Option<DemoCountrySettings>,
    /// Reverse proxies (load balancers) whose `X-Forwarded-For` names the client in the audit
    /// log; every other peer is the client itself.
    #[serde(default)]
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

impl Default for RawGatewaySettings {
    /// Our country, no part running: what an absent section means.
    fn default() -> Self {
        RawGatewaySettings {
            country: default_country(),
            metadata_refresh_secs: default_metadata_refresh(),
            connector: None,
            proxy: None,
            demo_country: None,
            trusted_proxies: Vec::new(),
        }
    }
}

fn default_country() -> String {
    "DK".into()
}

fn default_metadata_refresh() -> u64 {
    3600
}

/// Where a peer's metadata comes from and what signs it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerSource {
    /// Its metadata URL (also its entity ID).
    pub metadata_url: String,
    /// What signs its metadata: the path of a PEM (or DER) certificate, or `demo` for the demo's
    /// own second country, whose certificate the process knows.
    pub anchor: String,
    /// The algorithms of this peer.
    #[serde(default)]
    pub algorithms: PeerAlgorithms,
}

/// The algorithms used with one peer: what we sign and encrypt with, what we accept.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerAlgorithms {
    /// We sign with: `rsa-pss-sha256` (the eIDAS default), `ecdsa-sha256`, or `rsa-sha256` for
    /// peers (and tools such as Debian's `xmlsec1`) that know no RSA-PSS.
    #[serde(default = "default_sign")]
    pub sign: String,
    /// We accept signatures made with these.
    #[serde(default = "default_accept")]
    pub accept: Vec<String>,
    /// Key transport of what we encrypt: `rsa-oaep` (xmlenc11, SHA-256) or `rsa-oaep-mgf1p`.
    #[serde(default = "default_key_transport")]
    pub key_transport: String,
    /// Whether the proxy service signs the assertion too, before encrypting it.
    #[serde(default)]
    pub sign_assertion: bool,
}

impl Default for PeerAlgorithms {
    fn default() -> Self {
        PeerAlgorithms {
            sign: default_sign(),
            accept: default_accept(),
            key_transport: default_key_transport(),
            sign_assertion: false,
        }
    }
}

fn default_sign() -> String {
    "rsa-pss-sha256".into()
}

fn default_accept() -> Vec<String> {
    vec!["rsa-pss-sha256".into(), "ecdsa-sha256".into()]
}

fn default_key_transport() -> String {
    "rsa-oaep".into()
}

/// One country the connector offers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountrySettings {
    /// ISO 3166-1 alpha-2.
    pub code: String,
    /// Its name as the country chooser shows it (in its own language and English, say).
    pub name: String,
    /// Its proxy service.
    #[serde(flatten)]
    pub peer: PeerSource,
}

/// The connector's section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectorSettings {
    /// `eidas:SPType` of the services behind us, published in our metadata.
    #[serde(default = "default_sp_type")]
    pub sp_type: SpType,
    /// The broker's client id at the connector.
    pub client_id: String,
    /// Its secret (or `client_secret_file`).
    pub client_secret: Option<String>,
    /// A file holding the secret.
    pub client_secret_file: Option<PathBuf>,
    /// The broker's callback URLs (exact match).
    pub redirect_uris: Vec<String>,
    /// Where the broker may return after logout.
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// The countries offered, in chooser order.
    #[serde(default)]
    pub countries: Vec<CountrySettings>,
}

fn default_sp_type() -> SpType {
    SpType::Public
}

/// One foreign connector the proxy service serves.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectorPeerSettings {
    /// Its country (ISO 3166-1 alpha-2): the `YY` of the identifiers we send it.
    pub country: String,
    /// Its metadata.
    #[serde(flatten)]
    pub peer: PeerSource,
}

/// The proxy service's section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxySettings {
    /// Our client id at the broker.
    pub client_id: String,
    /// Our secret there (or `client_secret_file`).
    pub client_secret: Option<String>,
    /// A file holding the secret.
    pub client_secret_file: Option<PathBuf>,
    /// The broker's issuer; by default the broker's listener of this configuration.
    pub broker_issuer: Option<String>,
    /// The secret (32 bytes or more, base64 or text) keying the pseudonyms we send abroad
    /// (`DK/XX/<pseudonym>`): every node must share it, and changing it gives every person new
    /// identifiers abroad. Generated into `<data_dir>/eidas-gateway/pseudonym.secret` by the
    /// single-node demo only.
    pub pseudonym_secret_file: Option<PathBuf>,
    /// The foreign connectors served.
    #[serde(default)]
    pub connectors: Vec<ConnectorPeerSettings>,
}

/// The demo's second country.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoCountrySettings {
    /// Its code, `XA` (a user-assigned ISO 3166 code: no real country).
    #[serde(default = "default_demo_country")]
    pub code: String,
    /// Its register of demo persons (TOML).
    pub persons: PathBuf,
}

fn default_demo_country() -> String {
    "XA".into()
}

/// Checks a country code: two ASCII upper-case letters.
pub fn valid_country(code: &str) -> bool {
    code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase())
}

/// The signature algorithm called `name` in the configuration.
pub fn signature_alg(name: &str) -> Option<SignatureAlg> {
    match name {
        "rsa-pss-sha256" => Some(SignatureAlg::RsaPssSha256),
        "ecdsa-sha256" => Some(SignatureAlg::EcdsaSha256),
        "rsa-sha256" => Some(SignatureAlg::RsaSha256),
        _ => None,
    }
}

/// The key transport called `name` in the configuration.
pub fn key_transport(name: &str) -> Option<KeyTransport> {
    match name {
        "rsa-oaep" => Some(KeyTransport::RsaOaep),
        "rsa-oaep-mgf1p" => Some(KeyTransport::RsaOaepMgf1p),
        _ => None,
    }
}

/// The checked algorithms of one peer.
#[derive(Debug, Clone)]
pub struct Algorithms {
    /// We sign with it.
    pub sign: SignatureAlg,
    /// We accept these signatures.
    pub accept: AlgorithmPolicy,
    /// We encrypt with these.
    pub encrypt: EncryptOptions,
    /// We decrypt only these (AES-GCM; both RSA-OAEP forms).
    pub decrypt: DecryptPolicy,
    /// The proxy service signs the assertion too.
    pub sign_assertion: bool,
}

impl PeerAlgorithms {
    /// Checks the names; `field` prefixes errors.
    pub fn validate(&self, field: &str) -> Result<Algorithms, SettingsError> {
        let sign = signature_alg(&self.sign).ok_or_else(|| {
            invalid(
                format!("{field}.algorithms.sign"),
                "expected rsa-pss-sha256, ecdsa-sha256 or rsa-sha256",
            )
        })?;
        let mut accept = Vec::new();
        for (i, name) in self.accept.iter().enumerate() {
            accept.push(signature_alg(name).ok_or_else(|| {
                invalid(
                    format!("{field}.algorithms.accept[{i}]"),
                    "expected rsa-pss-sha256, ecdsa-sha256 or rsa-sha256",
                )
            })?);
        }
        if accept.is_empty() {
            return Err(invalid(format!("{field}.algorithms.accept"), "empty"));
        }
        let key_transport = key_transport(&self.key_transport).ok_or_else(|| {
            invalid(
                format!("{field}.algorithms.key_transport"),
                "expected rsa-oaep or rsa-oaep-mgf1p",
            )
        })?;
        Ok(Algorithms {
            sign,
            accept: AlgorithmPolicy {
                signature: accept,
                ..AlgorithmPolicy::default()
            },
            encrypt: EncryptOptions {
                data: DataAlg::Aes256Gcm,
                key_transport,
            },
            decrypt: DecryptPolicy::default(),
            sign_assertion: self.sign_assertion,
        })
    }
}

impl RawGatewaySettings {
    /// How often peers' metadata is fetched again.
    pub fn metadata_refresh(&self) -> Duration {
        Duration::from_secs(self.metadata_refresh_secs.max(60))
    }

    /// Checks what serde cannot: country codes, algorithm names, secrets given once, URLs.
    pub fn validate(&self) -> Result<(), SettingsError> {
        if !valid_country(&self.country) {
            return Err(invalid(
                "country",
                "two upper-case letters (ISO 3166-1 alpha-2)",
            ));
        }
        if let Some(c) = &self.connector {
            if c.client_secret.is_some() == c.client_secret_file.is_some() {
                return Err(invalid(
                    "connector.client_secret",
                    "give the secret or client_secret_file, exactly one",
                ));
            }
            if c.redirect_uris.is_empty() {
                return Err(invalid("connector.redirect_uris", "at least one"));
            }
            for (i, country) in c.countries.iter().enumerate() {
                let field = format!("connector.countries[{i}]");
                if !valid_country(&country.code) || country.code == self.country {
                    return Err(invalid(
                        format!("{field}.code"),
                        "two upper-case letters, not our own country",
                    ));
                }
                check_peer(&country.peer, &field)?;
            }
        }
        if let Some(p) = &self.proxy {
            if p.client_secret.is_some() == p.client_secret_file.is_some() {
                return Err(invalid(
                    "proxy.client_secret",
                    "give the secret or client_secret_file, exactly one",
                ));
            }
            for (i, peer) in p.connectors.iter().enumerate() {
                let field = format!("proxy.connectors[{i}]");
                if !valid_country(&peer.country) || peer.country == self.country {
                    return Err(invalid(
                        format!("{field}.country"),
                        "two upper-case letters, not our own country",
                    ));
                }
                check_peer(&peer.peer, &field)?;
            }
        }
        if let Some(d) = &self.demo_country
            && (!valid_country(&d.code) || d.code == self.country)
        {
            return Err(invalid(
                "demo_country.code",
                "two upper-case letters, not our own country",
            ));
        }
        Ok(())
    }
}

fn check_peer(peer: &PeerSource, field: &str) -> Result<(), SettingsError> {
    let url = url::Url::parse(&peer.metadata_url)
        .map_err(|e| invalid(format!("{field}.metadata_url"), e.to_string()))?;
    let loopback = matches!(url.host(), Some(url::Host::Domain("localhost")))
        || matches!(url.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
        || matches!(url.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback());
    // Metadata is signed, but plain http lets anyone on the way replay an older document.
    if !(url.scheme() == "https" || url.scheme() == "http" && loopback) {
        return Err(invalid(
            format!("{field}.metadata_url"),
            "an https URL (plain http only on loopback)",
        ));
    }
    if peer.anchor.is_empty() {
        return Err(invalid(
            format!("{field}.anchor"),
            "a certificate file or `demo`",
        ));
    }
    peer.algorithms.validate(field)?;
    Ok(())
}

/// Reads a secret given inline or in a file (trimmed).
pub fn secret(inline: &Option<String>, file: &Option<PathBuf>) -> std::io::Result<String> {
    match (inline, file) {
        (Some(s), _) => Ok(s.clone()),
        (None, Some(path)) => Ok(std::fs::read_to_string(path)?.trim().to_owned()),
        (None, None) => Ok(String::new()),
    }
}
