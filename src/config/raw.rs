//! The configuration file as written: serde's view of the TOML, with the built-in defaults. The
//! parent module validates it into typed settings.

use serde::Deserialize;
use std::path::PathBuf;

use super::LogFormat;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    #[serde(default = "default_data_dir")]
    pub(super) data_dir: PathBuf,
    /// Seconds a node keeps serving after SIGTERM with `/readyz` failing, so that a load balancer
    /// takes it out of rotation before it stops accepting connections.
    #[serde(default)]
    pub(super) shutdown_drain_secs: u64,
    #[serde(default)]
    pub(super) store: RawStore,
    #[serde(default)]
    pub(super) keys: RawKeys,
    #[serde(default)]
    pub(super) log: RawLog,
    #[serde(default)]
    pub(super) demo: RawDemo,
    /// The broker's section: its listener here, the rest `eid_broker::settings::RawBrokerSettings`.
    #[serde(default)]
    pub(super) broker: Option<toml::Table>,
    /// The authenticator's section: its listener here, the rest `eid_idp::settings::RawIdpSettings`.
    #[serde(default)]
    pub(super) idp: Option<toml::Table>,
    #[serde(default = "default_delegation")]
    pub(super) delegation: RawDelegation,
    /// The eIDAS gateway's section: its listener here, the rest
    /// `eid_eidas_gateway::settings::RawGatewaySettings`.
    #[serde(default)]
    pub(super) eidas_gateway: Option<toml::Table>,
    #[serde(default = "default_demo_rp")]
    pub(super) demo_rp: RawDemoRp,
}

/// The delegation component's section: its listener, and its portal's client at the broker.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDelegation {
    pub(super) listen: String,
    pub(super) public_url: String,
    /// The portal's client id at the broker (registered with `subject_type = "public"`).
    #[serde(default = "default_portal_client")]
    pub(super) portal_client_id: String,
    /// Its client secret; without one the listener serves no portal.
    pub(super) portal_client_secret: Option<String>,
    /// The REST API's client id at the broker (registered with the `introspection` grant).
    #[serde(default = "default_api_client")]
    pub(super) api_client_id: String,
    /// Its client secret; without one the listener serves no REST API.
    pub(super) api_client_secret: Option<String>,
    /// The shared secret of the mandate back-channel (`POST /internal/mandates`, at least 32
    /// characters): the delegation listener answers it, and a broker running without the
    /// delegation component in its process asks it there.
    pub(super) lookup_secret: Option<String>,
    /// The longest a power of attorney may last, in days.
    #[serde(default = "default_max_validity_days")]
    pub(super) max_validity_days: u32,
    /// How old a login may be, in seconds, for a change that can raise what a session may do.
    #[serde(default = "default_fresh_login_secs")]
    pub(super) fresh_login_secs: u32,
    /// Whether a power of attorney waits for the agent's acceptance, by default.
    #[serde(default = "default_true")]
    pub(super) acceptance_by_default: bool,
    /// Scopes (`rp:<id>` or `area:<name>`) that differ from the default.
    #[serde(default)]
    pub(super) acceptance: std::collections::BTreeMap<String, bool>,
}

fn default_max_validity_days() -> u32 {
    5 * 365
}

fn default_fresh_login_secs() -> u32 {
    300
}

fn default_true() -> bool {
    true
}

fn default_api_client() -> String {
    "delegation-api".into()
}

fn default_portal_client() -> String {
    "delegation-portal".into()
}

pub(super) fn default_delegation() -> RawDelegation {
    let l = listener_defaults::delegation();
    RawDelegation {
        listen: l.listen,
        public_url: l.public_url,
        portal_client_id: default_portal_client(),
        portal_client_secret: None,
        api_client_id: default_api_client(),
        api_client_secret: None,
        lookup_secret: None,
        max_validity_days: default_max_validity_days(),
        fresh_login_secs: default_fresh_login_secs(),
        acceptance_by_default: true,
        acceptance: Default::default(),
    }
}

/// The demo relying party's section.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDemoRp {
    pub(super) listen: String,
    pub(super) public_url: String,
    #[serde(default = "default_demo_rp_client")]
    pub(super) client_id: String,
    pub(super) client_secret: Option<String>,
    /// Also serve the SAML demo service under `/saml/` (registered at the broker on start).
    #[serde(default)]
    pub(super) saml: bool,
}

pub(super) fn default_demo_rp() -> RawDemoRp {
    let l = listener_defaults::demo_rp();
    RawDemoRp {
        listen: l.listen,
        public_url: l.public_url,
        client_id: default_demo_rp_client(),
        client_secret: None,
        saml: false,
    }
}

pub(super) fn default_demo_rp_client() -> String {
    "demo-rp".into()
}

pub(super) fn default_data_dir() -> PathBuf {
    PathBuf::from("./data")
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStore {
    #[serde(default = "default_ephemeral")]
    pub(super) ephemeral: String,
    #[serde(default = "default_durable")]
    pub(super) durable: String,
    #[serde(default = "default_key_prefix")]
    pub(super) redis_key_prefix: String,
    #[serde(default = "default_memory_max_entries")]
    pub(super) memory_max_entries: usize,
    #[serde(default = "default_memory_max_mib")]
    pub(super) memory_max_mib: usize,
}

impl Default for RawStore {
    fn default() -> Self {
        RawStore {
            ephemeral: default_ephemeral(),
            durable: default_durable(),
            redis_key_prefix: default_key_prefix(),
            memory_max_entries: default_memory_max_entries(),
            memory_max_mib: default_memory_max_mib(),
        }
    }
}

pub(super) fn default_memory_max_entries() -> usize {
    eid_store::memory::MemoryLimits::default().max_entries
}
pub(super) fn default_memory_max_mib() -> usize {
    eid_store::memory::MemoryLimits::default().max_bytes / (1024 * 1024)
}

pub(super) fn default_ephemeral() -> String {
    "memory".into()
}
pub(super) fn default_durable() -> String {
    "sqlite".into()
}
pub(super) fn default_key_prefix() -> String {
    "eid:".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawKeys {
    pub(super) dir: Option<PathBuf>,
    #[serde(default = "default_reload")]
    pub(super) reload_interval_secs: u64,
    #[serde(default)]
    pub(super) files: Vec<RawKeyFile>,
}

impl Default for RawKeys {
    fn default() -> Self {
        RawKeys {
            dir: None,
            reload_interval_secs: default_reload(),
            files: Vec::new(),
        }
    }
}

pub(super) fn default_reload() -> u64 {
    300
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawKeyFile {
    pub(super) component: String,
    pub(super) file: PathBuf,
    pub(super) alg: String,
    #[serde(default = "default_key_state")]
    pub(super) state: String,
    pub(super) not_after: Option<String>,
}

pub(super) fn default_key_state() -> String {
    "active".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLog {
    #[serde(default)]
    pub(super) format: LogFormat,
    #[serde(default = "default_filter")]
    pub(super) filter: String,
}

impl Default for RawLog {
    fn default() -> Self {
        RawLog {
            format: LogFormat::default(),
            filter: default_filter(),
        }
    }
}

pub(super) fn default_filter() -> String {
    "info".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDemo {
    #[serde(default)]
    pub(super) enabled: bool,
    #[serde(default = "default_demo_dir")]
    pub(super) data: PathBuf,
}

impl Default for RawDemo {
    /// Off unless asked for: the demo loads persons whose passwords are published.
    fn default() -> Self {
        RawDemo {
            enabled: false,
            data: default_demo_dir(),
        }
    }
}
pub(super) fn default_demo_dir() -> PathBuf {
    PathBuf::from("config/demo")
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawListener {
    pub(super) listen: String,
    pub(super) public_url: String,
}

pub(super) mod listener_defaults {
    use super::RawListener;
    fn at(port: u16) -> RawListener {
        RawListener {
            listen: format!("127.0.0.1:{port}"),
            public_url: format!("http://localhost:{port}"),
        }
    }
    pub fn broker() -> RawListener {
        at(8080)
    }
    pub fn idp() -> RawListener {
        at(8081)
    }
    pub fn delegation() -> RawListener {
        at(8082)
    }
    pub fn eidas_gateway() -> RawListener {
        at(8083)
    }
    pub fn demo_rp() -> RawListener {
        at(8090)
    }
}
