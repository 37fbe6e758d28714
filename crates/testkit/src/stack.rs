//! The whole stack in this process, on `localhost` ports chosen by the OS.

use eidbroker::app::{Runtime, serve};
use eidbroker::config::{self, Component, Settings};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The secret of the test client registered at the authenticator.
pub const TEST_CLIENT_SECRET: &str = "test-client-secret-0123456789";
/// The test client's redirect URI (nothing listens there; tests read the redirect).
pub const TEST_REDIRECT_URI: &str = "http://localhost:1/cb";

/// Builds a [`TestStack`].
#[derive(Debug, Clone)]
pub struct StackBuilder {
    components: Vec<Component>,
    ephemeral: String,
    durable: Option<String>,
    demo: bool,
    extra_toml: String,
    data_dir: Option<PathBuf>,
    idp_extra: String,
    redis_key_prefix: Option<String>,
}

impl Default for StackBuilder {
    fn default() -> Self {
        StackBuilder {
            components: Component::ALL.to_vec(),
            ephemeral: "memory".into(),
            durable: None,
            demo: true,
            extra_toml: String::new(),
            data_dir: None,
            idp_extra: String::new(),
            redis_key_prefix: None,
        }
    }
}

/// The demo data folder of the repository.
pub fn demo_data_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/demo"))
}

impl StackBuilder {
    /// Only these components.
    pub fn components(mut self, components: &[Component]) -> Self {
        self.components = components.to_vec();
        self
    }

    /// Ephemeral store: `memory` or a `redis://` URL.
    pub fn ephemeral(mut self, ephemeral: &str) -> Self {
        self.ephemeral = ephemeral.to_owned();
        self
    }

    /// Durable store URL (default: a SQLite file in the stack's own directory).
    pub fn durable(mut self, url: &str) -> Self {
        self.durable = Some(url.to_owned());
        self
    }

    /// Without the demo data and demo relying party.
    pub fn without_demo(mut self) -> Self {
        self.demo = false;
        self
    }

    /// Use this data directory (to restart a stack on the same data).
    pub fn data_dir(mut self, dir: PathBuf) -> Self {
        self.data_dir = Some(dir);
        self
    }

    /// The Redis key prefix (stacks that share one make a cluster); default: a random one.
    pub fn redis_key_prefix(mut self, prefix: &str) -> Self {
        self.redis_key_prefix = Some(prefix.to_owned());
        self
    }

    /// Extra keys for the `[idp]` section (`app_request_ttl_secs = 1`).
    pub fn idp_setting(mut self, line: &str) -> Self {
        self.idp_extra.push_str(line);
        self.idp_extra.push('\n');
        self
    }

    /// Extra TOML appended to the generated configuration.
    pub fn toml(mut self, extra: &str) -> Self {
        self.extra_toml.push_str(extra);
        self.extra_toml.push('\n');
        self
    }

    /// Binds the listeners, writes the configuration, opens the stores and serves.
    pub async fn start(self) -> anyhow::Result<TestStack> {
        let temp = tempfile::tempdir()?;
        let data_dir = self
            .data_dir
            .clone()
            .unwrap_or_else(|| temp.path().to_owned());
        let mut listeners = BTreeMap::new();
        let mut ports = BTreeMap::new();
        for component in Component::ALL {
            let listener = TcpListener::bind("127.0.0.1:0").await?;
            ports.insert(component, listener.local_addr()?.port());
            listeners.insert(component, listener);
        }
        let mut toml = String::new();
        writeln!(toml, "data_dir = {:?}", data_dir.display().to_string())?;
        writeln!(toml, "[store]\nephemeral = {:?}", self.ephemeral)?;
        if let Some(durable) = &self.durable {
            writeln!(toml, "durable = {durable:?}")?;
        }
        let prefix = self
            .redis_key_prefix
            .clone()
            .unwrap_or_else(|| eid_oidc::random::token(6));
        writeln!(toml, "redis_key_prefix = \"test:{prefix}:\"")?;
        writeln!(toml, "[log]\nfilter = \"warn\"")?;
        writeln!(
            toml,
            "[demo]\nenabled = {}\ndata = {:?}",
            self.demo,
            demo_data_dir().display().to_string()
        )?;
        for (component, section) in [
            (Component::Broker, "broker"),
            (Component::Delegation, "delegation"),
            (Component::EidasGateway, "eidas_gateway"),
            (Component::DemoRp, "demo_rp"),
        ] {
            let port = ports[&component];
            writeln!(
                toml,
                "[{section}]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"http://localhost:{port}\""
            )?;
        }
        let idp_port = ports[&Component::Idp];
        let broker_port = ports[&Component::Broker];
        writeln!(
            toml,
            "[idp]\nlisten = \"127.0.0.1:{idp_port}\"\npublic_url = \"http://localhost:{idp_port}\"\n{}\
             [[idp.clients]]\nclient_id = \"broker\"\nclient_name = \"NemLog-in (test)\"\n\
             client_secret = {TEST_CLIENT_SECRET:?}\n\
             redirect_uris = [\"http://localhost:{broker_port}/upstream/idp/callback\"]\n\
             [[idp.clients]]\nclient_id = \"test-rp\"\nclient_name = \"Test service\"\n\
             client_secret = {TEST_CLIENT_SECRET:?}\nredirect_uris = [{TEST_REDIRECT_URI:?}]\n\
             token_endpoint_auth_method = \"client_secret_post\"",
            self.idp_extra
        )?;
        toml.push_str(&self.extra_toml);
        let settings = config::from_toml_str(&toml, "testkit", &[])?;
        let mut components = self.components.clone();
        if !self.demo {
            components.retain(|c| *c != Component::DemoRp);
        }
        listeners.retain(|c, _| components.contains(c));
        let runtime = Runtime::open(settings.clone(), &components).await?;
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(serve(runtime, listeners, async move {
            let _ = stopped.await;
        }));
        let urls = ports
            .into_iter()
            .map(|(c, port)| (c, format!("http://localhost:{port}")))
            .collect();
        Ok(TestStack {
            settings,
            urls,
            stop: Some(stop),
            handle: Some(handle),
            _temp: temp,
            data_dir,
        })
    }
}

/// A running stack. Dropping it stops the servers.
pub struct TestStack {
    /// The settings it runs with.
    pub settings: Settings,
    urls: BTreeMap<Component, String>,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<anyhow::Result<()>>>,
    _temp: tempfile::TempDir,
    /// Its data directory.
    pub data_dir: PathBuf,
}

impl TestStack {
    /// A builder with all components on the embedded stores, with the demo data.
    pub fn builder() -> StackBuilder {
        StackBuilder::default()
    }

    /// The public origin of a component, without a trailing slash.
    pub fn url(&self, component: Component) -> &str {
        &self.urls[&component]
    }

    /// Stops the servers and waits for them to drain.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(handle) = self.handle.take() {
            let _ = handle.await;
        }
    }
}

impl Drop for TestStack {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
