//! Configuration: a TOML file plus `EIDBROKER_…` environment overrides, parsed and then validated into
//! typed [`Settings`]. Every error names the field and the problem.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use url::Url;

/// Prefix of environment overrides: `EIDBROKER_STORE__EPHEMERAL=redis://…` sets `store.ephemeral`.
pub const ENV_PREFIX: &str = "EIDBROKER_";
/// Environment variables with the prefix that are not overrides (they belong to the command line).
const ENV_NOT_OVERRIDES: &[&str] = &["EIDBROKER_CONFIG"];

/// A configuration problem, naming the field.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not TOML, or a value has the wrong type or an unknown key.
    #[error("{origin}: {message}")]
    Parse {
        /// The file or the environment.
        origin: String,
        /// What is wrong, with the field's path.
        message: String,
    },
    /// A value is well-typed but not acceptable.
    #[error("{field}: {problem}")]
    Invalid {
        /// Dotted path of the field.
        field: String,
        /// What is wrong with it.
        problem: String,
    },
}

fn invalid(field: impl Into<String>, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field: field.into(),
        problem: problem.into(),
    }
}

#[cfg(test)]
#[path = "config_durable_tests.rs"]
mod durable_tests;
mod raw;
use eid_broker::settings::{BrokerSettings, RawBrokerSettings};
use eid_eidas_gateway::settings::RawGatewaySettings;
use eid_idp::settings::{IdpSettings, RawIdpSettings};
use raw::{RawConfig, RawListener};

// ---------------------------------------------------------------------------------------------
// Typed settings.

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Where ephemeral state lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EphemeralBackend {
    /// In this process (single node; the demo default).
    Memory,
    /// A Redis server, with a key prefix.
    Redis {
        /// `redis://…` (one server), `redis+sentinel://…` or `redis+cluster://…` URL.
        url: String,
        /// Prefix of every key.
        key_prefix: String,
    },
}

/// Where durable data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DurableBackend {
    /// A SQLite file (the embedded default).
    Sqlite(PathBuf),
    /// A PostgreSQL database.
    Postgres(String),
}

impl DurableBackend {
    /// The sqlx connection URL.
    pub fn url(&self) -> String {
        match self {
            DurableBackend::Sqlite(path) => format!("sqlite://{}", path.display()),
            DurableBackend::Postgres(url) => url.clone(),
        }
    }

    /// The location without any password, fit for logs and messages.
    pub fn display_safe(&self) -> String {
        match self {
            DurableBackend::Sqlite(path) => path.display().to_string(),
            DurableBackend::Postgres(url) => match Url::parse(url) {
                Ok(mut parsed) => {
                    let _ = parsed.set_password(None);
                    parsed.to_string()
                }
                // A host list, which `Url` refuses: without userinfo and query.
                Err(_) => eid_store::redact_url(url),
            },
        }
    }
}

/// The components one binary can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
#[clap(rename_all = "kebab-case")]
pub enum Component {
    /// The SSO broker.
    Broker,
    /// The MitID-style authenticator.
    Idp,
    /// The power-of-attorney registry.
    Delegation,
    /// The eIDAS connector and proxy service.
    EidasGateway,
    /// The demo relying party.
    DemoRp,
}

impl Component {
    /// Every component, in start order.
    pub const ALL: [Component; 5] = [
        Component::Broker,
        Component::Idp,
        Component::Delegation,
        Component::EidasGateway,
        Component::DemoRp,
    ];

    /// The component's name in config, logs, key directories and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Component::Broker => "broker",
            Component::Idp => "idp",
            Component::Delegation => "delegation",
            Component::EidasGateway => "eidas-gateway",
            Component::DemoRp => "demo-rp",
        }
    }

    fn from_name(name: &str) -> Option<Component> {
        Component::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// Where a component listens and the origin it is known by.
#[derive(Debug, Clone)]
pub struct ListenerSettings {
    /// Socket address to bind.
    pub listen: SocketAddr,
    /// Public origin (`http://localhost:8080`), no path, query or fragment.
    pub public_url: Url,
}

impl ListenerSettings {
    /// Whether the public origin is on loopback (no HSTS, no `Secure` cookies there).
    pub fn is_loopback(&self) -> bool {
        eid_web::platform::is_loopback(&self.public_url)
    }

    /// The public origin as an issuer: no trailing slash (`http://localhost:8080`).
    pub fn issuer(&self) -> String {
        self.public_url.as_str().trim_end_matches('/').to_owned()
    }
}

/// A private key named in the configuration.
#[derive(Debug, Clone)]
pub struct KeyFileSettings {
    /// The component whose key it is.
    pub component: Component,
    /// The key entry (file, algorithm, state, not-after).
    pub entry: eid_keys::KeyEntry,
}

/// The longest `shutdown_drain_secs`: a stop should not wait longer than an operator would.
const MAX_SHUTDOWN_DRAIN_SECS: u64 = 120;

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Directory for keys and the SQLite file.
    pub data_dir: PathBuf,
    /// Ephemeral store.
    pub ephemeral: EphemeralBackend,
    /// Bounds of the memory ephemeral store (a full store refuses new entries with a 503).
    pub memory_limits: eid_store::memory::MemoryLimits,
    /// Durable store.
    pub durable: DurableBackend,
    /// Root of the per-component key directories (`<dir>/<component>/keys.toml`).
    pub keys_dir: PathBuf,
    /// How often keys are re-read (also on SIGHUP).
    pub keys_reload_interval: Duration,
    /// How long a node keeps serving after SIGTERM with `/readyz` failing (0: stop at once).
    pub shutdown_drain: Duration,
    /// Keys named in the configuration, on top of the key directories.
    pub key_files: Vec<KeyFileSettings>,
    /// Log format.
    pub log_format: LogFormat,
    /// Log filter (`info`, `eid_idp=debug,info`).
    pub log_filter: String,
    /// Whether the demo data is loaded and the demo relying party runs.
    pub demo_enabled: bool,
    /// Where the demo data lives.
    pub demo_data: PathBuf,
    /// Per-component listeners.
    pub listeners: BTreeMap<Component, ListenerSettings>,
    /// The authenticator's own settings (the authenticator validates its section).
    pub idp: IdpSettings,
    /// The broker's own settings (the broker validates its section).
    pub broker: BrokerSettings,
    /// The eIDAS gateway's settings (validated by the gateway's own rules).
    pub eidas_gateway: RawGatewaySettings,
    /// The demo relying party's client registration at the broker.
    pub demo_rp: DemoRpSettings,
    /// The delegation portal's client registration at the broker.
    pub delegation: DelegationSettings,
}

/// The delegation portal's client at the broker.
#[derive(Clone)]
pub struct DelegationSettings {
    /// Its client id.
    pub portal_client_id: String,
    /// Its client secret; `None`: no portal is served.
    pub portal_client_secret: Option<String>,
    /// The REST API's client id at the broker.
    pub api_client_id: String,
    /// Its client secret; `None`: no REST API is served.
    pub api_client_secret: Option<String>,
    /// The mandate back-channel's shared secret.
    pub lookup_secret: Option<String>,
    /// The registry's rules (its national upstream is set where the broker's upstreams are known).
    pub rules: eid_delegation::registry::RegistrySettings,
}

/// The registry's configurable rules: maximum validity, login freshness, acceptance per scope.
fn delegation_rules(
    raw: &raw::RawDelegation,
) -> Result<eid_delegation::registry::RegistrySettings, ConfigError> {
    if !(1..=36_500).contains(&raw.max_validity_days) {
        return Err(invalid(
            "delegation.max_validity_days",
            "must be 1 to 36500",
        ));
    }
    if !(30..=3600).contains(&raw.fresh_login_secs) {
        return Err(invalid("delegation.fresh_login_secs", "must be 30 to 3600"));
    }
    let mut acceptance = std::collections::BTreeMap::new();
    for (key, needed) in &raw.acceptance {
        let scope = eid_core::Scope::from_key(key).map_err(|_| {
            invalid(
                "delegation.acceptance",
                format!("{key:?} is not a scope (`rp:<id>` or `area:<name>`)"),
            )
        })?;
        acceptance.insert(scope, *needed);
    }
    Ok(eid_delegation::registry::RegistrySettings {
        max_validity: time::Duration::days(i64::from(raw.max_validity_days)),
        fresh_login: time::Duration::seconds(i64::from(raw.fresh_login_secs)),
        acceptance,
        acceptance_by_default: raw.acceptance_by_default,
        ..Default::default()
    })
}

impl std::fmt::Debug for DelegationSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DelegationSettings")
            .field("portal_client_id", &self.portal_client_id)
            .finish_non_exhaustive()
    }
}

/// The demo relying party's registration at the broker.
#[derive(Clone)]
pub struct DemoRpSettings {
    /// Its client id.
    pub client_id: String,
    /// Its client secret (demo only).
    pub client_secret: Option<String>,
    /// Whether the SAML demo service runs beside it under `/saml/` (only with the demo on).
    pub saml: bool,
}

impl std::fmt::Debug for DemoRpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoRpSettings")
            .field("client_id", &self.client_id)
            .field("saml", &self.saml)
            .finish_non_exhaustive()
    }
}

impl Settings {
    /// Whether this node may generate the secrets a cluster must share (signing keys, the pairwise
    /// secret) on first start: only the demo on the memory store, which is one node by construction.
    pub fn may_generate_secrets(&self) -> bool {
        self.demo_enabled && self.ephemeral == EphemeralBackend::Memory
    }

    /// The listener of `component`.
    pub fn listener(&self, component: Component) -> &ListenerSettings {
        // Every component has a listener: validation fills all five.
        &self.listeners[&component]
    }

    /// The key directory of `component`.
    pub fn key_dir(&self, component: Component) -> PathBuf {
        self.keys_dir.join(component.name())
    }

    /// Extra key entries named in config for `component`.
    pub fn key_entries(&self, component: Component) -> Vec<eid_keys::KeyEntry> {
        self.key_files
            .iter()
            .filter(|k| k.component == component)
            .map(|k| k.entry.clone())
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Loading.

/// Reads `path` (or only the built-in defaults when `None`), applies environment overrides and
/// validates.
pub fn load(path: Option<&Path>) -> Result<Settings, ConfigError> {
    let (origin, text) = match path {
        Some(path) => (
            path.display().to_string(),
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_owned(),
                source,
            })?,
        ),
        None => ("built-in defaults".to_owned(), String::new()),
    };
    let env: Vec<(String, String)> = std::env::vars().collect();
    from_toml_str(&text, &origin, &env)
}

/// Parses TOML text with the given environment overrides and validates it. Relative paths are taken
/// relative to the current directory.
pub fn from_toml_str(
    text: &str,
    origin: &str,
    env: &[(String, String)],
) -> Result<Settings, ConfigError> {
    let mut value: toml::Table = toml::from_str(text).map_err(|e| ConfigError::Parse {
        origin: origin.to_owned(),
        message: e.to_string(),
    })?;
    apply_env_overrides(&mut value, env)?;
    let mut raw: RawConfig = deserialize_at(value, None, origin)?;
    let (broker_listener, broker) = component_section::<RawBrokerSettings>(
        raw.broker.take(),
        "broker",
        origin,
        raw::listener_defaults::broker,
    )?;
    let (idp_listener, idp) = component_section::<RawIdpSettings>(
        raw.idp.take(),
        "idp",
        origin,
        raw::listener_defaults::idp,
    )?;
    let (gateway_listener, gateway) = component_section::<RawGatewaySettings>(
        raw.eidas_gateway.take(),
        "eidas_gateway",
        origin,
        raw::listener_defaults::eidas_gateway,
    )?;
    validate(
        raw,
        Sections {
            broker_listener,
            broker,
            idp_listener,
            idp,
            gateway_listener,
            gateway,
        },
    )
}

/// The component sections, split into their listener (the binary's) and the component's own raw
/// settings.
struct Sections {
    broker_listener: RawListener,
    broker: RawBrokerSettings,
    idp_listener: RawListener,
    idp: RawIdpSettings,
    gateway_listener: RawListener,
    gateway: RawGatewaySettings,
}

/// Deserialises `table`, naming a faulty field by its path below `section`.
fn deserialize_at<T: DeserializeOwned>(
    table: toml::Table,
    section: Option<&str>,
    origin: &str,
) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
        let below = e.path().to_string();
        let path = match section {
            None => below,
            Some(section) if below == "." => section.to_owned(),
            Some(section) => format!("{section}.{below}"),
        };
        ConfigError::Parse {
            origin: origin.to_owned(),
            message: format!("{path}: {}", e.inner()),
        }
    })
}

/// Splits a component's section into its listener (`listen`, `public_url`, both required when the
/// section is given) and the rest, which the component's raw settings type reads. An absent section
/// gives the default listener and the component's defaults.
fn component_section<T: DeserializeOwned + Default>(
    section: Option<toml::Table>,
    name: &str,
    origin: &str,
    default_listener: fn() -> RawListener,
) -> Result<(RawListener, T), ConfigError> {
    let Some(mut own) = section else {
        return Ok((default_listener(), T::default()));
    };
    let mut listener = toml::Table::new();
    for key in ["listen", "public_url"] {
        if let Some(value) = own.remove(key) {
            listener.insert(key.to_owned(), value);
        }
    }
    Ok((
        deserialize_at(listener, Some(name), origin)?,
        deserialize_at(own, Some(name), origin)?,
    ))
}

/// A component's validation error (`field`, `problem`), its field put under the component's
/// section.
fn in_section(section: &str, field: &str, problem: String) -> ConfigError {
    invalid(format!("{section}.{field}"), problem)
}

fn apply_env_overrides(
    table: &mut toml::Table,
    env: &[(String, String)],
) -> Result<(), ConfigError> {
    for (name, raw_value) in env {
        let Some(path) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        if ENV_NOT_OVERRIDES.contains(&name.as_str()) || path.is_empty() {
            continue;
        }
        let segments: Vec<String> = path.split("__").map(|s| s.to_ascii_lowercase()).collect();
        if segments.iter().any(String::is_empty) {
            return Err(invalid(name.clone(), "empty path segment in override"));
        }
        // Numbers and booleans keep their type; anything else is a string.
        let value = raw_value
            .parse::<i64>()
            .map(toml::Value::Integer)
            .or_else(|_| raw_value.parse::<bool>().map(toml::Value::Boolean))
            .unwrap_or_else(|_| toml::Value::String(raw_value.clone()));
        let mut cursor = &mut *table;
        let (last, parents) = segments
            .split_last()
            .ok_or_else(|| invalid(name.clone(), "empty"))?;
        for segment in parents {
            let entry = cursor
                .entry(segment.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            cursor = entry
                .as_table_mut()
                .ok_or_else(|| invalid(name.clone(), format!("`{segment}` is not a table")))?;
        }
        cursor.insert(last.clone(), value);
    }
    Ok(())
}

fn validate(raw: RawConfig, sections: Sections) -> Result<Settings, ConfigError> {
    let ephemeral = match raw.store.ephemeral.as_str() {
        "memory" => EphemeralBackend::Memory,
        url if url.starts_with("redis://") || url.starts_with("rediss://") => {
            Url::parse(url)
                .map_err(|e| invalid("store.ephemeral", format!("bad Redis URL: {e}")))?;
            EphemeralBackend::Redis {
                url: url.to_owned(),
                key_prefix: raw.store.redis_key_prefix.clone(),
            }
        }
        // Comma-separated host lists, which `Url::parse` refuses: split by the store's parser.
        url if url.starts_with(eid_store::redis::topology::SENTINEL_SCHEME)
            || url.starts_with(eid_store::redis::topology::CLUSTER_SCHEME) =>
        {
            eid_store::redis::check_url(url, "")
                .map_err(|e| invalid("store.ephemeral", format!("bad Redis URL: {e}")))?;
            eid_store::redis::check_url(url, &raw.store.redis_key_prefix)
                .map_err(|e| invalid("store.redis_key_prefix", e.to_string()))?;
            EphemeralBackend::Redis {
                url: url.to_owned(),
                key_prefix: raw.store.redis_key_prefix.clone(),
            }
        }
        other => {
            return Err(invalid(
                "store.ephemeral",
                format!(
                    "expected \"memory\" or a redis://, redis+sentinel:// or redis+cluster:// \
                     URL, got {:?}",
                    eid_store::redact_url(other)
                ),
            ));
        }
    };
    let durable = match raw.store.durable.as_str() {
        "sqlite" => DurableBackend::Sqlite(raw.data_dir.join("eidbroker.db")),
        url if url.starts_with("sqlite://") => {
            let path = &url["sqlite://".len()..];
            if path.is_empty() {
                return Err(invalid("store.durable", "sqlite:// needs a file path"));
            }
            DurableBackend::Sqlite(PathBuf::from(path))
        }
        url if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            // A libpq-style host list (`h1:5432,h2:5433`) is split first: `Url` refuses it.
            let hosts = eid_store::sql::failover::PgHosts::parse(url).map_err(|e| match e {
                eid_store::StoreError::Backend(why) => invalid("store.durable", why),
                other => invalid("store.durable", other.to_string()),
            })?;
            for single in hosts.urls() {
                Url::parse(single)
                    .map_err(|e| invalid("store.durable", format!("bad PostgreSQL URL: {e}")))?;
            }
            DurableBackend::Postgres(url.to_owned())
        }
        other => {
            return Err(invalid(
                "store.durable",
                format!(
                    "expected \"sqlite\", a sqlite:// path or a postgres:// URL, got {other:?}"
                ),
            ));
        }
    };
    if raw.store.memory_max_entries == 0 {
        return Err(invalid("store.memory_max_entries", "must be at least 1"));
    }
    if raw.store.memory_max_mib == 0 || raw.store.memory_max_mib > 1024 * 1024 {
        return Err(invalid(
            "store.memory_max_mib",
            "must be between 1 and 1048576 (MiB)",
        ));
    }
    let memory_limits = eid_store::memory::MemoryLimits {
        max_entries: raw.store.memory_max_entries,
        max_bytes: raw.store.memory_max_mib * 1024 * 1024,
    };
    if raw.shutdown_drain_secs > MAX_SHUTDOWN_DRAIN_SECS {
        return Err(invalid(
            "shutdown_drain_secs",
            format!("at most {MAX_SHUTDOWN_DRAIN_SECS}"),
        ));
    }
    if raw.keys.reload_interval_secs == 0 {
        return Err(invalid("keys.reload_interval_secs", "must be at least 1"));
    }
    let mut key_files = Vec::with_capacity(raw.keys.files.len());
    for (i, key) in raw.keys.files.iter().enumerate() {
        let field = |name: &str| format!("keys.files[{i}].{name}");
        let component = Component::from_name(&key.component).ok_or_else(|| {
            invalid(
                field("component"),
                format!("unknown component {:?}", key.component),
            )
        })?;
        let alg = key
            .alg
            .parse::<eid_keys::Alg>()
            .map_err(|e| invalid(field("alg"), e.to_string()))?;
        let state = key
            .state
            .parse::<eid_keys::KeyState>()
            .map_err(|e| invalid(field("state"), e.to_string()))?;
        if !key.file.is_file() {
            return Err(invalid(
                field("file"),
                format!("key file {} does not exist", key.file.display()),
            ));
        }
        let not_after = key
            .not_after
            .as_deref()
            .map(|t| {
                time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                    .map_err(|e| invalid(field("not_after"), format!("not an RFC 3339 time: {e}")))
            })
            .transpose()?;
        key_files.push(KeyFileSettings {
            component,
            entry: eid_keys::KeyEntry::new(key.file.clone(), alg, state).with_not_after(not_after),
        });
    }
    let idp = sections
        .idp
        .validate()
        .map_err(|e| in_section("idp", &e.field, e.problem))?;
    sections
        .gateway
        .validate()
        .map_err(|e| in_section("eidas_gateway", &e.field, e.problem))?;
    if sections.gateway.demo_country.is_some() && !raw.demo.enabled {
        return Err(invalid(
            "eidas_gateway.demo_country",
            "the fictitious second country runs only with the demo ([demo] enabled = true)",
        ));
    }
    let demo_rp_listener = RawListener {
        listen: raw.demo_rp.listen.clone(),
        public_url: raw.demo_rp.public_url.clone(),
    };
    let delegation_listener = RawListener {
        listen: raw.delegation.listen.clone(),
        public_url: raw.delegation.public_url.clone(),
    };
    let listeners = [
        (Component::Broker, &sections.broker_listener, "broker"),
        (Component::Idp, &sections.idp_listener, "idp"),
        (Component::Delegation, &delegation_listener, "delegation"),
        (
            Component::EidasGateway,
            &sections.gateway_listener,
            "eidas_gateway",
        ),
        (Component::DemoRp, &demo_rp_listener, "demo_rp"),
    ]
    .into_iter()
    .map(|(component, raw, section)| Ok((component, validate_listener(raw, section)?)))
    .collect::<Result<BTreeMap<_, _>, ConfigError>>()?;
    let mut origins = std::collections::HashSet::new();
    for (component, listener) in &listeners {
        if !origins.insert(listener.public_url.origin().ascii_serialization()) {
            return Err(invalid(
                format!("{}.public_url", component.name().replace('-', "_")),
                "every component needs its own origin (cookies and trust are kept apart)",
            ));
        }
    }
    if raw.demo.enabled {
        check_demo_on_loopback(&listeners)?;
    }
    let single_node_demo = raw.demo.enabled && ephemeral == EphemeralBackend::Memory;
    let broker = sections
        .broker
        .validate(&raw.data_dir, single_node_demo)
        .map_err(|e| in_section("broker", &e.field, e.problem))?;
    let keys_dir = raw.keys.dir.unwrap_or_else(|| raw.data_dir.join("keys"));
    Ok(Settings {
        data_dir: raw.data_dir,
        ephemeral,
        memory_limits,
        durable,
        keys_dir,
        keys_reload_interval: Duration::from_secs(raw.keys.reload_interval_secs),
        shutdown_drain: Duration::from_secs(raw.shutdown_drain_secs),
        key_files,
        log_format: raw.log.format,
        log_filter: raw.log.filter,
        demo_enabled: raw.demo.enabled,
        demo_data: raw.demo.data,
        listeners,
        idp,
        broker,
        eidas_gateway: sections.gateway,
        demo_rp: DemoRpSettings {
            client_id: raw.demo_rp.client_id.clone(),
            client_secret: raw.demo_rp.client_secret.clone(),
            saml: raw.demo.enabled && raw.demo_rp.saml,
        },
        delegation: DelegationSettings {
            portal_client_id: raw.delegation.portal_client_id.clone(),
            portal_client_secret: raw.delegation.portal_client_secret.clone(),
            api_client_id: raw.delegation.api_client_id.clone(),
            api_client_secret: raw.delegation.api_client_secret.clone(),
            lookup_secret: raw.delegation.lookup_secret.clone(),
            rules: delegation_rules(&raw.delegation)?,
        },
    })
}

/// The demo loads persons whose passwords are published in the repository, so it may only listen
/// on, and be known by, this machine's loopback addresses.
fn check_demo_on_loopback(
    listeners: &BTreeMap<Component, ListenerSettings>,
) -> Result<(), ConfigError> {
    for (component, listener) in listeners {
        if !listener.listen.ip().is_loopback() || !listener.is_loopback() {
            return Err(invalid(
                "demo.enabled",
                format!(
                    "the demo publishes its persons' passwords, so it runs only on loopback, but {} \
                     listens on {} as {}; set demo.enabled = false for a real deployment",
                    component.name(),
                    listener.listen,
                    listener.public_url
                ),
            ));
        }
    }
    Ok(())
}

fn validate_listener(raw: &RawListener, section: &str) -> Result<ListenerSettings, ConfigError> {
    let listen = raw.listen.parse::<SocketAddr>().map_err(|e| {
        invalid(
            format!("{section}.listen"),
            format!("expected an address such as 127.0.0.1:8080 ({e})"),
        )
    })?;
    let field = format!("{section}.public_url");
    let public_url = Url::parse(&raw.public_url)
        .map_err(|e| invalid(field.clone(), format!("bad URL {:?}: {e}", raw.public_url)))?;
    if !matches!(public_url.scheme(), "http" | "https") {
        return Err(invalid(field, "must be an http or https URL"));
    }
    if public_url.path() != "/" || public_url.query().is_some() || public_url.fragment().is_some() {
        return Err(invalid(
            field,
            "must be an origin: no path, query or fragment",
        ));
    }
    if !public_url.username().is_empty() || public_url.password().is_some() {
        return Err(invalid(field, "must not carry credentials"));
    }
    let settings = ListenerSettings { listen, public_url };
    if settings.public_url.scheme() == "http" && !settings.is_loopback() {
        return Err(invalid(
            format!("{section}.public_url"),
            "plain http is only allowed on loopback (localhost); use https",
        ));
    }
    Ok(settings)
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
