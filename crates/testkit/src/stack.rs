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
/// The broker's admin token in test stacks.
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";
/// The test relying parties registered at the broker: two sectors.
pub const RP_A: &str = "rp-a";
/// See [`RP_A`].
pub const RP_B: &str = "rp-b";

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
    broker_public_url: Option<String>,
    broker_extra: String,
    upstream_issuer: Option<String>,
    extra_relying_parties: String,
    saml_service_providers: Vec<SamlSp>,
    demo_saml: bool,
    delegation_portal: bool,
    eidas: bool,
}

/// A SAML service provider registered at the broker of a test stack.
#[derive(Debug, Clone)]
struct SamlSp {
    metadata: String,
    name: String,
    sector: String,
    release: Vec<String>,
}

/// The broker registrations of a test stack: two relying parties in different sectors and the demo
/// service.
fn relying_parties(demo_port: u16) -> String {
    format!(
        "[[relying_party]]\nclient_id = \"rp-a\"\nclient_name = \"Service A\"\nclient_secret = {TEST_CLIENT_SECRET:?}\n\
         redirect_uris = [{TEST_REDIRECT_URI:?}]\npost_logout_redirect_uris = [\"http://localhost:1/bye\"]\n\
         token_endpoint_auth_method = \"client_secret_post\"\nsector = \"sector-a\"\n\
         allowed_claims = [\"cpr\", \"name\", \"birthdate\"]\n\
         grant_types = [\"authorization_code\", \"refresh_token\"]\n\
         [[relying_party]]\nclient_id = \"rp-b\"\nclient_name = \"Service B\"\nclient_secret = {TEST_CLIENT_SECRET:?}\n\
         redirect_uris = [{TEST_REDIRECT_URI:?}]\ntoken_endpoint_auth_method = \"client_secret_basic\"\n\
         sector = \"sector-b\"\nallowed_claims = [\"name\"]\n\
         [[relying_party]]\nclient_id = \"demo-rp\"\nclient_name = \"Demo service\"\nclient_secret = {TEST_CLIENT_SECRET:?}\n\
         redirect_uris = [\"http://localhost:{demo_port}/callback\"]\n\
         post_logout_redirect_uris = [\"http://localhost:{demo_port}/\"]\n\
         backchannel_logout_uri = \"http://localhost:{demo_port}/backchannel-logout\"\n\
         token_endpoint_auth_method = \"client_secret_basic\"\nsector = \"demo\"\n\
         allowed_claims = [\"cpr\", \"name\", \"birthdate\"]\n"
    )
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
            broker_public_url: None,
            broker_extra: String::new(),
            upstream_issuer: None,
            extra_relying_parties: String::new(),
            saml_service_providers: Vec::new(),
            demo_saml: false,
            delegation_portal: false,
            eidas: false,
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

    /// The broker's public URL (two nodes of one cluster share it); default: its own port.
    pub fn broker_public_url(mut self, url: &str) -> Self {
        self.broker_public_url = Some(url.to_owned());
        self
    }

    /// The broker's upstream authenticator (another stack's); default: this stack's own.
    pub fn upstream_issuer(mut self, issuer: &str) -> Self {
        self.upstream_issuer = Some(issuer.to_owned());
        self
    }

    /// Registers one more relying party at start (a `[[relying_party]]` table).
    pub fn relying_party(mut self, table: &str) -> Self {
        self.extra_relying_parties.push_str("[[relying_party]]\n");
        self.extra_relying_parties.push_str(table);
        self.extra_relying_parties.push('\n');
        self
    }

    /// Registers a SAML service provider at the broker from its metadata XML, in `sector`, released
    /// `release` (`cpr`, `name`, `birthdate`). The broker then also gets an RS256 key.
    pub fn saml_service_provider(
        mut self,
        metadata: &str,
        name: &str,
        sector: &str,
        release: &[&str],
    ) -> Self {
        self.saml_service_providers.push(SamlSp {
            metadata: metadata.to_owned(),
            name: name.to_owned(),
            sector: sector.to_owned(),
            release: release.iter().map(|r| (*r).to_owned()).collect(),
        });
        self
    }

    /// Also runs the SAML demo service under `/saml/` of the demo listener (`demo_rp.saml`); the
    /// demo SAML service and the broker then generate RSA keys.
    pub fn demo_saml_service(mut self) -> Self {
        self.demo_saml = true;
        self
    }

    /// Serves the delegation portal on the delegation listener, registered at the broker as
    /// `delegation-portal` (public subjects, secret [`TEST_CLIENT_SECRET`]), and lets the demo
    /// service `demo-rp` accept representation, as the demo configuration does.
    pub fn delegation_portal(mut self) -> Self {
        self.delegation_portal = true;
        self
    }

    /// Runs the eIDAS gateway as the demo does: the connector as the broker's second upstream
    /// (`eidas`, kind `eu_eid`), the proxy service as the broker's relying party `eidas-proxy`,
    /// and the fictitious country XA (its register `config/demo/eidas-xa.toml`) on both sides.
    pub fn eidas(mut self) -> Self {
        self.eidas = true;
        self
    }

    /// Extra keys for the `[broker]` section.
    pub fn broker_setting(mut self, line: &str) -> Self {
        self.broker_extra.push_str(line);
        self.broker_extra.push('\n');
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
        let idp_port = ports[&Component::Idp];
        let broker_port = ports[&Component::Broker];
        let demo_port = ports[&Component::DemoRp];
        let broker_public = self
            .broker_public_url
            .clone()
            .unwrap_or_else(|| format!("http://localhost:{broker_port}"));
        let upstream_issuer = self
            .upstream_issuer
            .clone()
            .unwrap_or_else(|| format!("http://localhost:{idp_port}"));
        // A cluster's shared secrets are provisioned, as an operator would (only the single-node
        // demo generates its own): the keys and the pairwise secret in the data directory.
        for component in eidbroker::keys::SIGNING_COMPONENTS {
            eid_keys::ensure_active(
                &data_dir.join("keys").join(component.name()),
                eid_keys::Alg::ES256,
            )?;
        }
        // The SAML demo service is a service provider too (only a single node with the memory
        // store may generate its own keys).
        if !self.saml_service_providers.is_empty() || self.demo_saml {
            eid_keys::ensure_active(
                &data_dir.join("keys").join(Component::Broker.name()),
                eid_keys::Alg::RS256,
            )?;
        }
        let pairwise_file = data_dir.join("broker").join("pairwise.secret");
        if !pairwise_file.exists() {
            std::fs::create_dir_all(data_dir.join("broker"))?;
            std::fs::write(&pairwise_file, eid_oidc::random::token(32))?;
        }
        let rp_file = temp.path().join("relying-parties.toml");
        let mut registrations = relying_parties(demo_port);
        if self.delegation_portal {
            let portal = format!("http://localhost:{}", ports[&Component::Delegation]);
            registrations.push_str(&format!(
                // `demo-rp` is the last table of `relying_parties`.
                "accepts_representation = true\n\
                 [[relying_party]]\nclient_id = \"delegation-portal\"\nclient_name = \"Delegation portal\"\n\
                 client_secret = {TEST_CLIENT_SECRET:?}\nredirect_uris = [\"{portal}/callback\"]\n\
                 post_logout_redirect_uris = [\"{portal}/\"]\n\
                 backchannel_logout_uri = \"{portal}/backchannel-logout\"\n\
                 token_endpoint_auth_method = \"client_secret_basic\"\nsector = \"portal\"\n\
                 subject_type = \"public\"\nallowed_claims = [\"name\"]\n"
            ));
        }
        std::fs::write(&rp_file, registrations + &self.extra_relying_parties)?;
        writeln!(
            toml,
            "[broker]\nlisten = \"127.0.0.1:{broker_port}\"\npublic_url = {broker_public:?}\n\
             admin_token = {ADMIN_TOKEN:?}\nrelying_parties = [{:?}]\npairwise_secret_file = {:?}\n{}\
             [[broker.upstreams]]\nname = \"mitid\"\nissuer = {upstream_issuer:?}\n\
             client_id = \"broker\"\nclient_secret = {TEST_CLIENT_SECRET:?}\nkind = \"national\"",
            rp_file.display().to_string(),
            pairwise_file.display().to_string(),
            self.broker_extra
        )?;
        writeln!(
            toml,
            "[demo_rp]\nlisten = \"127.0.0.1:{demo_port}\"\npublic_url = \"http://localhost:{demo_port}\"\n\
             client_id = \"demo-rp\"\nclient_secret = {TEST_CLIENT_SECRET:?}\nsaml = {}",
            self.demo_saml
        )?;
        for (component, section) in [
            (Component::Delegation, "delegation"),
            (Component::EidasGateway, "eidas_gateway"),
        ] {
            let port = ports[&component];
            writeln!(
                toml,
                "[{section}]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"http://localhost:{port}\""
            )?;
            if component == Component::Delegation && self.delegation_portal {
                writeln!(toml, "portal_client_secret = {TEST_CLIENT_SECRET:?}")?;
            }
        }
        writeln!(
            toml,
            "[idp]\nlisten = \"127.0.0.1:{idp_port}\"\npublic_url = \"http://localhost:{idp_port}\"\n{}\
             [[idp.clients]]\nclient_id = \"broker\"\nclient_name = \"NemLog-in (test)\"\n\
             client_secret = {TEST_CLIENT_SECRET:?}\n\
             redirect_uris = [\"{broker_public}/upstream/mitid/callback\"]\n\
             post_logout_redirect_uris = [\"{broker_public}/logout/done\"]\nmay_name_services = true\n\
             [[idp.clients]]\nclient_id = \"test-rp\"\nclient_name = \"Test service\"\n\
             client_secret = {TEST_CLIENT_SECRET:?}\nredirect_uris = [{TEST_REDIRECT_URI:?}]\n\
             token_endpoint_auth_method = \"client_secret_post\"",
            self.idp_extra
        )?;
        for (i, sp) in self.saml_service_providers.iter().enumerate() {
            let file = temp.path().join(format!("saml-sp-{i}.xml"));
            std::fs::write(&file, &sp.metadata)?;
            writeln!(
                toml,
                "[[broker.saml_service_providers]]\nmetadata = {:?}\nname = {:?}\nsector = {:?}\n\
                 release = {:?}",
                file.display().to_string(),
                sp.name,
                sp.sector,
                sp.release
            )?;
        }
        if self.eidas {
            // Provisioned as an operator would, so that a stack on Redis (no generated secrets)
            // runs it too: the node keys of the gateway and of the demo country, the pseudonym secret.
            for dir in ["eidas-gateway/saml", "eidas-xa"] {
                eid_keys::ensure_active(&data_dir.join("keys").join(dir), eid_keys::Alg::PS256)?;
            }
            let pseudonyms = data_dir.join("eidas-gateway").join("pseudonym.secret");
            if !pseudonyms.exists() {
                std::fs::create_dir_all(data_dir.join("eidas-gateway"))?;
                std::fs::write(&pseudonyms, eid_oidc::random::token(32))?;
            }
            let gateway = format!("http://localhost:{}", ports[&Component::EidasGateway]);
            writeln!(
                toml,
                "[eidas_gateway.connector]\nclient_id = \"broker\"\nclient_secret = {TEST_CLIENT_SECRET:?}\n\
                 redirect_uris = [\"{broker_public}/upstream/eidas/callback\"]\n\
                 [[eidas_gateway.connector.countries]]\ncode = \"XA\"\nname = \"Xanadu (demo)\"\n\
                 metadata_url = \"{gateway}/xa/proxy/metadata\"\nanchor = \"demo\"\n\
                 [eidas_gateway.proxy]\nclient_id = \"eidas-proxy\"\nclient_secret = {TEST_CLIENT_SECRET:?}\n\
                 pseudonym_secret_file = {:?}\n\
                 [[eidas_gateway.proxy.connectors]]\ncountry = \"XA\"\n\
                 metadata_url = \"{gateway}/xa/connector/metadata\"\nanchor = \"demo\"\n\
                 [eidas_gateway.demo_country]\ncode = \"XA\"\npersons = {:?}\n\
                 [[broker.upstreams]]\nname = \"eidas\"\nissuer = \"{gateway}/eidas/connector\"\n\
                 client_id = \"broker\"\nclient_secret = {TEST_CLIENT_SECRET:?}\nkind = \"eu_eid\"",
                pseudonyms.display().to_string(),
                demo_data_dir().join("eidas-xa.toml").display().to_string()
            )?;
            let mut rps = std::fs::read_to_string(&rp_file)?;
            rps.push_str(&format!(
                "\n[[relying_party]]\nclient_id = \"eidas-proxy\"\nclient_name = \"eIDAS proxy service\"\n\
                 client_secret = {TEST_CLIENT_SECRET:?}\nredirect_uris = [\"{gateway}/eidas/proxy/callback\"]\n\
                 token_endpoint_auth_method = \"client_secret_basic\"\nsector = \"eidas-proxy\"\n\
                 allowed_claims = [\"name\", \"birthdate\"]\nrequires_cpr = true\n"
            ));
            std::fs::write(&rp_file, rps)?;
        }
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
        let broker_listen = format!("http://localhost:{}", ports[&Component::Broker]);
        let mut urls: BTreeMap<Component, String> = ports
            .into_iter()
            .map(|(c, port)| (c, format!("http://localhost:{port}")))
            .collect();
        urls.insert(Component::Broker, broker_public.clone());
        Ok(TestStack {
            settings,
            urls,
            broker_listen,
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
    broker_listen: String,
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

    /// The broker node's own address (differs from its public URL in a cluster).
    pub fn broker_listen_url(&self) -> String {
        self.broker_listen.clone()
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
