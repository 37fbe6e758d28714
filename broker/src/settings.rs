//! The broker's settings: the shape of its configuration section ([`RawBrokerSettings`], as serde
//! reads it, with the built-in defaults) and its validation into typed [`BrokerSettings`].
//!
//! The section's listener (`listen`, `public_url`) is the binary's business, as it is for every
//! component; field names in [`SettingsError`] are relative to the section (`upstreams[0].issuer`),
//! and the binary prefixes the section's name.

use serde::Deserialize;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use url::Url;

use crate::ports::UpstreamKind;

mod audit_retention;
mod saml;
pub use audit_retention::{AuditRetention, RawAuditRetention};
pub use saml::{RawSamlSp, SamlSpSettings, SamlSpSource};

/// A value of the broker's section that is well-typed but not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct SettingsError {
    /// Path of the field within the section (`upstreams[0].issuer`).
    pub field: String,
    /// What is wrong with it.
    pub problem: String,
}

fn invalid(field: impl Into<String>, problem: impl Into<String>) -> SettingsError {
    SettingsError {
        field: field.into(),
        problem: problem.into(),
    }
}

/// The broker's section as written, besides its listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBrokerSettings {
    /// Lifetime of SSO sessions, in seconds.
    #[serde(default = "default_session_ttl")]
    pub session_ttl_secs: u64,
    /// Lifetime of access tokens, in seconds.
    #[serde(default = "default_access_ttl")]
    pub access_token_ttl_secs: u64,
    /// Lifetime of refresh tokens, in seconds.
    #[serde(default = "default_refresh_ttl")]
    pub refresh_token_ttl_secs: u64,
    /// The admin API's bearer token (or `admin_token_file`; neither: admin API off).
    pub admin_token: Option<String>,
    /// A file holding the admin token.
    pub admin_token_file: Option<PathBuf>,
    /// The file holding the pairwise-identifier secret.
    pub pairwise_secret_file: Option<PathBuf>,
    /// Relying-party registration files loaded at start.
    #[serde(default)]
    pub relying_parties: Vec<PathBuf>,
    /// Upstream identity providers, in chooser order.
    #[serde(default)]
    pub upstreams: Vec<RawUpstream>,
    /// SAML service providers, each from its metadata file.
    #[serde(default)]
    pub saml_service_providers: Vec<RawSamlSp>,
    /// Reverse proxies whose `X-Forwarded-For` is believed (addresses).
    #[serde(default)]
    pub trusted_proxies: Vec<IpAddr>,
    /// How many days signed SAML messages are kept (NemLog-in's logging rule: 180).
    #[serde(default = "default_protocol_message_retention_days")]
    pub protocol_message_retention_days: u32,
    /// How many days each section of a person's log is kept (`[broker.audit_retention_days]`).
    #[serde(default)]
    pub audit_retention_days: RawAuditRetention,
    /// Seconds between re-reads of the registry, the safety net of the change feed.
    #[serde(default = "default_registry_refresh")]
    pub registry_refresh_secs: u64,
}

impl Default for RawBrokerSettings {
    fn default() -> Self {
        RawBrokerSettings {
            session_ttl_secs: default_session_ttl(),
            access_token_ttl_secs: default_access_ttl(),
            refresh_token_ttl_secs: default_refresh_ttl(),
            admin_token: None,
            admin_token_file: None,
            pairwise_secret_file: None,
            relying_parties: Vec::new(),
            upstreams: Vec::new(),
            saml_service_providers: Vec::new(),
            trusted_proxies: Vec::new(),
            protocol_message_retention_days: default_protocol_message_retention_days(),
            audit_retention_days: RawAuditRetention::default(),
            registry_refresh_secs: default_registry_refresh(),
        }
    }
}

fn default_session_ttl() -> u64 {
    1800
}

fn default_access_ttl() -> u64 {
    600
}

fn default_refresh_ttl() -> u64 {
    28_800
}

fn default_registry_refresh() -> u64 {
    10
}

fn default_protocol_message_retention_days() -> u32 {
    180
}

/// The longest retention accepted (a hundred years: any longer is a typing error).
pub const MAX_RETENTION_DAYS: u32 = 36_500;

/// An upstream identity provider of the broker, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUpstream {
    /// Its name (letters, digits, hyphens).
    pub name: String,
    /// Its issuer URL.
    pub issuer: String,
    /// The broker's client id there.
    pub client_id: String,
    /// The broker's client secret there (or `client_secret_file`).
    pub client_secret: Option<String>,
    /// A file holding the client secret.
    pub client_secret_file: Option<PathBuf>,
    /// Scopes to ask for.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// What it vouches for: `national` (the national authenticator) or `eu_eid` (the eIDAS
    /// connector). Required: it decides how the identity chooser shows the upstream and whether its
    /// subjects are person-register ids in the audit log, so it is never guessed.
    pub kind: UpstreamKind,
}

fn default_scopes() -> Vec<String> {
    vec!["openid".into()]
}

/// The broker's validated settings besides its listener.
#[derive(Debug, Clone)]
pub struct BrokerSettings {
    /// Lifetime of SSO sessions.
    pub session_ttl: Duration,
    /// Lifetime of access tokens.
    pub access_token_ttl: Duration,
    /// Lifetime of refresh tokens.
    pub refresh_token_ttl: Duration,
    /// How often each node re-reads the registry whatever the change feed says (on PostgreSQL the
    /// feed brings another node's change within a second; on SQLite there is one node).
    pub registry_refresh: Duration,
    /// SHA-256 of the admin token (`None`: admin API off).
    pub admin_token_sha256: Option<[u8; 32]>,
    /// The file holding the pairwise-identifier secret. Every broker node of a deployment needs the
    /// same one, so only a node that may generate secrets (the single-node demo) may go without
    /// naming it.
    pub pairwise_secret_file: PathBuf,
    /// Relying-party registration files loaded at start.
    pub relying_parties: Vec<PathBuf>,
    /// Upstream identity providers, in chooser order.
    pub upstreams: Vec<UpstreamSettings>,
    /// SAML service providers, their metadata read and checked.
    pub saml_service_providers: Vec<SamlSpSettings>,
    /// Reverse proxies whose `X-Forwarded-For` says who the client is (for per-address limits).
    pub trusted_proxies: Vec<IpAddr>,
    /// How long signed SAML messages are kept.
    pub protocol_message_retention: time::Duration,
    /// How long each section of the audit log is kept.
    pub audit_retention: AuditRetention,
}

/// One upstream identity provider.
#[derive(Clone)]
pub struct UpstreamSettings {
    /// Its name (`idp`, `eidas`): in callback URLs and logs.
    pub name: String,
    /// Its issuer, without a trailing slash.
    pub issuer: String,
    /// The broker's client id there.
    pub client_id: String,
    /// The broker's client secret there.
    pub client_secret: String,
    /// Scopes to ask for.
    pub scopes: Vec<String>,
    /// What it vouches for.
    pub kind: UpstreamKind,
}

impl std::fmt::Debug for UpstreamSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamSettings")
            .field("name", &self.name)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// A secret given inline or in a file (trimmed); both is an error, neither is `None`.
fn read_secret(
    inline: &Option<String>,
    file: &Option<PathBuf>,
    field: &str,
) -> Result<Option<String>, SettingsError> {
    match (inline, file) {
        (Some(_), Some(_)) => Err(invalid(field, "give the value or a file, not both")),
        (Some(s), None) => Ok(Some(s.clone())),
        (None, Some(path)) => std::fs::read_to_string(path)
            .map(|s| Some(s.trim().to_owned()))
            .map_err(|e| invalid(format!("{field}_file"), format!("{}: {e}", path.display()))),
        (None, None) => Ok(None),
    }
}

impl RawBrokerSettings {
    /// Validates the section. `data_dir` holds the generated pairwise secret when none is named;
    /// `may_generate_secrets` says whether this node may generate it (only the single-node demo:
    /// every broker node must derive the same pairwise identifiers).
    pub fn validate(
        &self,
        data_dir: &Path,
        may_generate_secrets: bool,
    ) -> Result<BrokerSettings, SettingsError> {
        if !may_generate_secrets && self.pairwise_secret_file.is_none() {
            return Err(invalid(
                "pairwise_secret_file",
                "required outside the single-node demo: every broker node must derive the same pairwise \
                 identifiers, so the secret cannot be generated per node (create it with \
                 `head -c 32 /dev/urandom | base64 > FILE`)",
            ));
        }
        for (value, field) in [
            (self.session_ttl_secs, "session_ttl_secs"),
            (self.access_token_ttl_secs, "access_token_ttl_secs"),
            (self.refresh_token_ttl_secs, "refresh_token_ttl_secs"),
            (self.registry_refresh_secs, "registry_refresh_secs"),
        ] {
            if value == 0 {
                return Err(invalid(field, "must be at least 1"));
            }
        }
        if !(1..=MAX_RETENTION_DAYS).contains(&self.protocol_message_retention_days) {
            return Err(invalid(
                "protocol_message_retention_days",
                format!("must be between 1 and {MAX_RETENTION_DAYS}"),
            ));
        }
        let audit_retention = self.audit_retention_days.validate()?;
        let admin_token = read_secret(&self.admin_token, &self.admin_token_file, "admin_token")?;
        if admin_token.as_ref().is_some_and(|t| t.len() < 16) {
            return Err(invalid("admin_token", "shorter than 16 characters"));
        }
        let admin_token_sha256 = admin_token.map(|t| {
            let mut out = [0u8; 32];
            out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, t.as_bytes()).as_ref());
            out
        });
        for (i, path) in self.relying_parties.iter().enumerate() {
            if !path.is_file() {
                return Err(invalid(
                    format!("relying_parties[{i}]"),
                    format!("{} does not exist", path.display()),
                ));
            }
        }
        let upstreams = self
            .upstreams
            .iter()
            .enumerate()
            .map(|(i, u)| u.validate(&format!("upstreams[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        for (i, u) in upstreams.iter().enumerate() {
            if upstreams[..i].iter().any(|earlier| earlier.name == u.name) {
                return Err(invalid(
                    format!("upstreams[{i}].name"),
                    format!("{:?} is the name of an earlier upstream", u.name),
                ));
            }
            // The national authenticator's subjects are the person register's ids, which key the
            // audit log: only one upstream may claim them.
            if u.kind == UpstreamKind::National
                && upstreams[..i]
                    .iter()
                    .any(|e| e.kind == UpstreamKind::National)
            {
                return Err(invalid(
                    format!("upstreams[{i}].kind"),
                    "only one upstream can be the national authenticator",
                ));
            }
        }
        let saml_service_providers = self
            .saml_service_providers
            .iter()
            .enumerate()
            .map(|(i, sp)| sp.validate(&format!("saml_service_providers[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        let mut entity_ids = std::collections::BTreeSet::new();
        for (i, sp) in saml_service_providers.iter().enumerate() {
            if let Some(id) = sp.entity_id()
                && !entity_ids.insert(id.clone())
            {
                return Err(invalid(
                    format!("saml_service_providers[{i}]"),
                    format!("entity ID {id:?} is registered twice"),
                ));
            }
        }
        Ok(BrokerSettings {
            session_ttl: Duration::from_secs(self.session_ttl_secs),
            access_token_ttl: Duration::from_secs(self.access_token_ttl_secs),
            refresh_token_ttl: Duration::from_secs(self.refresh_token_ttl_secs),
            registry_refresh: Duration::from_secs(self.registry_refresh_secs),
            admin_token_sha256,
            pairwise_secret_file: self
                .pairwise_secret_file
                .clone()
                .unwrap_or_else(|| data_dir.join("broker").join("pairwise.secret")),
            relying_parties: self.relying_parties.clone(),
            upstreams,
            saml_service_providers,
            trusted_proxies: self.trusted_proxies.clone(),
            protocol_message_retention: time::Duration::days(i64::from(
                self.protocol_message_retention_days,
            )),
            audit_retention,
        })
    }
}

impl RawUpstream {
    /// Validates one upstream; `field` is its path (`upstreams[0]`).
    fn validate(&self, field: &str) -> Result<UpstreamSettings, SettingsError> {
        if self.name.is_empty()
            || !self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(invalid(
                format!("{field}.name"),
                "letters, digits and hyphens only",
            ));
        }
        Url::parse(&self.issuer)
            .map_err(|e| invalid(format!("{field}.issuer"), format!("bad URL: {e}")))?;
        let secret = read_secret(
            &self.client_secret,
            &self.client_secret_file,
            &format!("{field}.client_secret"),
        )?
        .ok_or_else(|| invalid(format!("{field}.client_secret"), "missing"))?;
        Ok(UpstreamSettings {
            name: self.name.clone(),
            issuer: self.issuer.trim_end_matches('/').to_owned(),
            client_id: self.client_id.clone(),
            client_secret: secret,
            scopes: self.scopes.clone(),
            kind: self.kind,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn upstream() -> RawUpstream {
        RawUpstream {
            name: "idp".into(),
            issuer: "http://localhost:8081/".into(),
            client_id: "broker".into(),
            client_secret: Some("0123456789abcdef".into()),
            client_secret_file: None,
            scopes: default_scopes(),
            kind: UpstreamKind::National,
        }
    }

    #[test]
    fn defaults_validate_where_secrets_may_be_generated() {
        let s = RawBrokerSettings::default()
            .validate(Path::new("data"), true)
            .unwrap();
        assert_eq!(s.session_ttl, Duration::from_secs(1800));
        assert_eq!(
            s.pairwise_secret_file,
            Path::new("data/broker/pairwise.secret")
        );
        assert!(s.admin_token_sha256.is_none());
        assert_eq!(s.registry_refresh, Duration::from_secs(10));
        assert_eq!(s.protocol_message_retention, time::Duration::days(180));
        assert_eq!(
            s.audit_retention,
            RawAuditRetention::default().validate().unwrap()
        );
        let err = RawBrokerSettings::default()
            .validate(Path::new("data"), false)
            .unwrap_err();
        assert_eq!(err.field, "pairwise_secret_file");
    }

    #[test]
    fn durations_of_zero_are_refused() {
        for field in [
            "session_ttl_secs",
            "access_token_ttl_secs",
            "refresh_token_ttl_secs",
            "registry_refresh_secs",
        ] {
            let mut raw = RawBrokerSettings::default();
            match field {
                "session_ttl_secs" => raw.session_ttl_secs = 0,
                "access_token_ttl_secs" => raw.access_token_ttl_secs = 0,
                "refresh_token_ttl_secs" => raw.refresh_token_ttl_secs = 0,
                _ => raw.registry_refresh_secs = 0,
            }
            let err = raw.validate(Path::new("d"), true).unwrap_err();
            assert_eq!(err.field, field);
        }
    }

    #[test]
    fn fields_are_named_relative_to_the_section() {
        let mut raw = RawBrokerSettings {
            admin_token: Some("short".into()),
            ..RawBrokerSettings::default()
        };
        assert_eq!(
            raw.validate(Path::new("d"), true).unwrap_err().field,
            "admin_token"
        );
        raw.admin_token = Some("0123456789abcdef".into());
        let mut bad = upstream();
        bad.issuer = "not a url".into();
        raw.upstreams = vec![upstream(), bad];
        let err = raw.validate(Path::new("d"), true).unwrap_err();
        assert_eq!(err.field, "upstreams[1].issuer");
        raw.upstreams = vec![upstream()];
        let s = raw.validate(Path::new("d"), true).unwrap();
        assert_eq!(s.upstreams[0].issuer, "http://localhost:8081");
        let bad_metadata = std::env::temp_dir().join(format!(
            "broker-settings-bad-metadata-{}.xml",
            std::process::id()
        ));
        std::fs::write(&bad_metadata, "<not-metadata/>").unwrap();
        raw.saml_service_providers = vec![RawSamlSp {
            metadata: Some(bad_metadata.clone()),
            name: "SP".into(),
            sector: "s".into(),
            ..RawSamlSp::default()
        }];
        let err = raw.validate(Path::new("d"), true).unwrap_err();
        std::fs::remove_file(&bad_metadata).ok();
        assert_eq!(err.field, "saml_service_providers[0].metadata");
        assert!(err.problem.contains(&bad_metadata.display().to_string()));
        raw.saml_service_providers.clear();
        assert!(s.admin_token_sha256.is_some());
    }

    fn url_sp(change: fn(&mut RawSamlSp)) -> Result<SamlSpSettings, SettingsError> {
        let mut raw = RawSamlSp {
            metadata_url: Some("https://sp.example.dk/metadata".into()),
            entity_id: Some("https://sp.example.dk/saml".into()),
            name: "SP".into(),
            sector: "s".into(),
            ..RawSamlSp::default()
        };
        change(&mut raw);
        raw.validate("saml_service_providers[0]")
    }

    #[test]
    fn a_metadata_url_names_its_entity_id_and_follows_the_url_rules() {
        let ok = url_sp(|_| {}).unwrap();
        assert_eq!(
            ok.entity_id().as_deref(),
            Some("https://sp.example.dk/saml")
        );
        assert!(ok.register(time::OffsetDateTime::now_utc()).is_none());
        let sp = ok.url_sp().unwrap();
        assert_eq!(sp.source.interval, crate::saml_metadata::DEFAULT_REFRESH);
        assert!(sp.source.anchor.is_none());
        let field = |change| {
            url_sp(change)
                .unwrap_err()
                .field
                .trim_start_matches("saml_service_providers[0].")
                .to_owned()
        };
        assert_eq!(field(|r| r.entity_id = None), "entity_id");
        assert_eq!(field(|r| r.entity_id = Some(String::new())), "entity_id");
        assert_eq!(
            field(|r| r.metadata_url = Some("http://sp.example.dk/md".into())),
            "metadata_url"
        );
        assert_eq!(
            field(|r| r.refresh_interval_secs = Some(1)),
            "refresh_interval_secs"
        );
        assert_eq!(
            field(|r| r.anchor_certificate_file = Some("/nonexistent/anchor.pem".into())),
            "anchor_certificate_file"
        );
        assert_eq!(field(|r| r.release = vec!["shoe_size".into()]), "release");
        assert_eq!(
            field(|r| r.service_areas = vec!["Housing Benefit".into()]),
            "service_areas"
        );
        assert_eq!(field(|r| r.metadata = Some("sp.xml".into())), "metadata");
        assert_eq!(field(|r| r.metadata_url = None), "metadata");
        assert_eq!(
            field(|r| {
                r.metadata_url = None;
                r.metadata = Some("sp.xml".into());
            }),
            "entity_id"
        );
    }

    #[test]
    fn an_anchor_file_must_hold_certificates() {
        let anchor =
            std::env::temp_dir().join(format!("broker-settings-anchor-{}.pem", std::process::id()));
        std::fs::write(&anchor, "not a certificate").unwrap();
        let mut raw = RawSamlSp {
            metadata_url: Some("https://sp.example.dk/metadata".into()),
            entity_id: Some("https://sp.example.dk/saml".into()),
            anchor_certificate_file: Some(anchor.clone()),
            name: "SP".into(),
            sector: "s".into(),
            ..RawSamlSp::default()
        };
        let err = raw.validate("sp").unwrap_err();
        assert_eq!(err.field, "sp.anchor_certificate_file");
        let key = eid_keys::SigningKey::from_pem(
            &std::fs::read(format!(
                "{}/../crates/saml/tests/fixtures/dsig/rsa-3072.pem",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap(),
            eid_keys::Alg::RS256,
        )
        .unwrap();
        let der = eid_saml::dsig::certificate_for(&key, "anchor").unwrap();
        use base64::Engine as _;
        let pem = format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            base64::engine::general_purpose::STANDARD.encode(der)
        );
        std::fs::write(&anchor, pem).unwrap();
        raw.refresh_interval_secs = Some(600);
        let ok = raw.validate("sp");
        std::fs::remove_file(&anchor).ok();
        let source = ok.unwrap().url_sp().unwrap().source;
        assert!(source.anchor.is_some());
        assert_eq!(source.interval, Duration::from_secs(600));
    }

    #[test]
    fn an_entity_id_is_configured_once() {
        let mut raw = RawBrokerSettings::default();
        let sp = RawSamlSp {
            metadata_url: Some("https://sp.example.dk/metadata".into()),
            entity_id: Some("https://sp.example.dk/saml".into()),
            name: "SP".into(),
            sector: "s".into(),
            ..RawSamlSp::default()
        };
        raw.saml_service_providers = vec![sp.clone()];
        assert!(raw.validate(Path::new("d"), true).is_ok());
        raw.saml_service_providers = vec![sp.clone(), sp];
        let err = raw.validate(Path::new("d"), true).unwrap_err();
        assert_eq!(err.field, "saml_service_providers[1]");
    }

    #[test]
    fn protocol_messages_are_kept_at_least_a_day() {
        for (days, ok) in [
            (0, false),
            (1, true),
            (MAX_RETENTION_DAYS, true),
            (u32::MAX, false),
        ] {
            let raw = RawBrokerSettings {
                protocol_message_retention_days: days,
                ..RawBrokerSettings::default()
            };
            match raw.validate(Path::new("d"), true) {
                Ok(s) => {
                    assert!(ok, "{days}");
                    assert_eq!(
                        s.protocol_message_retention,
                        time::Duration::days(i64::from(days))
                    );
                }
                Err(e) => {
                    assert!(!ok, "{days}");
                    assert_eq!(e.field, "protocol_message_retention_days");
                }
            }
        }
    }

    #[test]
    fn one_national_upstream_and_unique_names() {
        let mut raw = RawBrokerSettings::default();
        let mut second = upstream();
        second.name = "eidas".into();
        raw.upstreams = vec![upstream(), second.clone()];
        let err = raw.validate(Path::new("d"), true).unwrap_err();
        assert_eq!(err.field, "upstreams[1].kind");
        second.kind = UpstreamKind::EuEid;
        raw.upstreams = vec![upstream(), second];
        assert!(raw.validate(Path::new("d"), true).is_ok());
        raw.upstreams = vec![upstream(), upstream()];
        let err = raw.validate(Path::new("d"), true).unwrap_err();
        assert_eq!(err.field, "upstreams[1].name");
    }

    #[test]
    fn the_kind_of_an_upstream_is_required() {
        let parsed: Result<RawUpstream, _> = serde_json::from_value(serde_json::json!({
            "name": "idp", "issuer": "http://localhost:8081", "client_id": "b",
            "client_secret": "0123456789abcdef",
        }));
        assert!(parsed.unwrap_err().to_string().contains("kind"));
    }
}
