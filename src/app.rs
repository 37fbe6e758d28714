//! Wiring: opens the stores and key stores once, builds each component's router on its own
//! listener, and serves them all until shutdown.

use anyhow::Context;
use axum::Router;
use eid_core::{AuditLog, Clock, DurableHealth, EphemeralStore, SystemClock};
use eid_keys::KeyStore;
use eid_store::audit_writer::AuditWriter;
use eid_store::change_feed::Changes;
use eid_store::memory::MemoryEphemeral;
use eid_store::redis::RedisEphemeral;
use eid_store::sql::SqlDurable;
use eid_web::{DurableReady, EphemeralReady, Metrics, Platform, ReadinessCheck};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::{Component, EphemeralBackend, Settings};

/// Largest batch of audit events committed in one transaction.
const AUDIT_BATCH: usize = 512;

/// The process-wide resources every component draws on.
pub struct Runtime {
    /// The validated settings.
    pub settings: Settings,
    /// Sessions, codes, challenges, counters.
    pub ephemeral: Arc<dyn EphemeralStore>,
    /// The durable database.
    pub durable: Arc<SqlDurable>,
    /// The group-commit audit writer.
    pub audit: AuditWriter,
    /// Each signing component's keys.
    pub keys: BTreeMap<Component, KeyStore>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Each component's metrics registry.
    pub metrics: BTreeMap<Component, Metrics>,
    /// The authenticator, when it runs.
    idp: Option<Arc<eid_idp::Idp>>,
    /// The broker, when it runs.
    broker: Option<Arc<eid_broker::Broker>>,
    /// The SAML demo service, when the demo listener serves it.
    demo_saml: Option<Arc<crate::demo_saml_sp::DemoSp>>,
    /// The delegation registry, when its component runs.
    delegation: Option<eid_delegation::registry::Registry>,
    /// Its self-service portal, when it has a client at the broker.
    portal: Option<eid_delegation::portal::Portal>,
    /// Its REST API and mandate back-channel.
    delegation_routes: Router,
    /// The eIDAS gateway's parts this node runs.
    gateway: eid_eidas_gateway::Gateway,
    /// Set on SIGTERM with a `shutdown_drain_secs`: every listener's `/readyz` fails.
    draining: eid_web::ops::Draining,
}

/// How often mandates past their end are marked expired (lookups never use them either way; this
/// keeps their state, history and both parties' notices true).
const MANDATE_EXPIRY_EVERY: std::time::Duration = std::time::Duration::from_secs(60);
/// The most mandates marked expired in one round.
const MANDATE_EXPIRY_BATCH: u32 = 1000;

async fn expire_mandates(registry: eid_delegation::registry::Registry) {
    let mut tick = tokio::time::interval(MANDATE_EXPIRY_EVERY);
    loop {
        tick.tick().await;
        match registry.expire_due(MANDATE_EXPIRY_BATCH).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(expired = n, "mandates past their end marked expired"),
            Err(e) => tracing::warn!(error = %e, "marking expired mandates failed; retrying later"),
        }
    }
}

/// Opens the ephemeral store named in the settings. Redis is connected lazily, so a node started
/// while Redis is down comes up (not ready) and recovers by itself.
pub fn open_ephemeral(settings: &Settings) -> anyhow::Result<Arc<dyn EphemeralStore>> {
    Ok(match &settings.ephemeral {
        EphemeralBackend::Memory => Arc::new(MemoryEphemeral::with_limits(settings.memory_limits)),
        EphemeralBackend::Redis { url, key_prefix } => {
            Arc::new(RedisEphemeral::new_lazy(url, key_prefix).context("configuring Redis")?)
        }
    })
}

/// Opens the durable store and applies pending migrations.
pub async fn open_durable(settings: &Settings) -> anyhow::Result<Arc<SqlDurable>> {
    if let crate::config::DurableBackend::Sqlite(path) = &settings.durable
        && let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let durable = SqlDurable::connect_and_migrate(&settings.durable.url())
        .await
        .context("opening the durable store")?;
    Ok(Arc::new(durable))
}

impl Runtime {
    /// Opens stores and the key stores of the `components` that will run.
    pub async fn open(mut settings: Settings, components: &[Component]) -> anyhow::Result<Runtime> {
        // The SAML demo service is registered at the broker from the metadata of its key, made
        // (on first start) before the broker's keys are opened: the broker then needs an RSA key.
        let demo_saml = if settings.demo_rp.saml
            && (components.contains(&Component::Broker) || components.contains(&Component::DemoRp))
        {
            let identity = crate::demo_saml_sp::Identity::ensure(&settings)
                .context("preparing the SAML demo service")?;
            settings
                .broker
                .saml_service_providers
                .push(identity.registration());
            components.contains(&Component::DemoRp).then_some(identity)
        } else {
            None
        };
        let ephemeral = open_ephemeral(&settings)?;
        let durable = open_durable(&settings).await?;
        let audit_log: Arc<dyn AuditLog> = durable.clone();
        let audit = AuditWriter::spawn(audit_log, AUDIT_BATCH);
        let mut keys = BTreeMap::new();
        for component in crate::keys::SIGNING_COMPONENTS {
            if components.contains(&component) {
                keys.insert(
                    component,
                    crate::keys::open_key_store(&settings, component)?,
                );
            }
        }
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let demo_saml = demo_saml.map(|identity| {
            Arc::new(crate::demo_saml_sp::build(
                identity,
                &settings.listener(Component::Broker).issuer(),
                ephemeral.clone(),
                clock.clone(),
            ))
        });
        let metrics: BTreeMap<Component, Metrics> = Component::ALL
            .into_iter()
            .map(|c| (c, Metrics::new(c.name())))
            .collect();
        let mut runtime = Runtime {
            settings,
            ephemeral,
            durable,
            audit,
            keys,
            clock,
            metrics,
            idp: None,
            broker: None,
            demo_saml,
            delegation: None,
            portal: None,
            delegation_routes: Router::new(),
            gateway: eid_eidas_gateway::Gateway::default(),
            draining: eid_web::ops::Draining::default(),
        };
        if components.contains(&Component::Delegation) {
            runtime.delegation = Some(runtime.build_registry());
        }
        if components.contains(&Component::Idp) {
            runtime.idp = Some(Arc::new(runtime.build_idp()?));
            if runtime.settings.demo_enabled {
                runtime.load_demo().await?;
            }
        }
        if components.contains(&Component::Broker) {
            runtime.broker = Some(Arc::new(runtime.build_broker().await?));
        }
        if components.contains(&Component::EidasGateway) {
            runtime.gateway = runtime.build_gateway()?;
        }
        runtime.portal = runtime.build_portal()?;
        runtime.delegation_routes = runtime.build_delegation_routes()?;
        Ok(runtime)
    }

    /// The delegation registry over the durable store (persons, mandates, audit log). The broker
    /// finds mandates in the same store ([`eid_delegation::lookup::RegistryLookup`]).
    fn build_registry(&self) -> eid_delegation::registry::Registry {
        eid_delegation::registry::Registry::new(
            eid_delegation::registry::RegistrySettings {
                // The persons of the register are the national authenticator's subjects.
                national_upstream: self
                    .settings
                    .broker
                    .upstreams
                    .iter()
                    .find(|u| u.kind == eid_broker::ports::UpstreamKind::National)
                    .map_or_else(|| "idp".to_owned(), |u| u.name.clone()),
                ..self.settings.delegation.rules.clone()
            },
            eid_delegation::registry::RegistryDeps {
                persons: self.durable.clone(),
                store: self.durable.clone(),
                drafts: self.ephemeral.clone(),
                audit: self.durable.clone(),
                clock: self.clock.clone(),
            },
        )
    }

    async fn build_broker(&self) -> anyhow::Result<eid_broker::Broker> {
        let listener = self.settings.listener(Component::Broker);
        let keys = self
            .keys
            .get(&Component::Broker)
            .cloned()
            .context("the broker has no key store")?;
        crate::broker::build(crate::broker::Inputs {
            settings: &self.settings.broker,
            issuer: listener.issuer(),
            secure_cookies: !listener.is_loopback(),
            demo_key_dir: self
                .settings
                .demo_enabled
                .then(|| self.settings.key_dir(Component::Broker)),
            may_generate_secrets: self.settings.may_generate_secrets(),
            ephemeral: self.ephemeral.clone(),
            relying_parties: self.durable.clone(),
            saml_service_providers: self.durable.clone(),
            audit: self.audit.clone(),
            protocol_messages: self.durable.clone(),
            mandates: self.mandate_lookup()?,
            keys,
            clock: self.clock.clone(),
            metrics: self.metrics[&Component::Broker].clone(),
        })
        .await
        .map(|broker| {
            // The person's own log reads the shared audit log and names people from the register.
            broker.with_my_log(eid_broker::my::MyLogSources {
                log: self.durable.clone(),
                persons: Some(self.durable.clone()),
            })
        })
    }

    fn build_idp(&self) -> anyhow::Result<eid_idp::Idp> {
        let listener = self.settings.listener(Component::Idp);
        let config = eid_idp::IdpConfig {
            issuer: listener.issuer(),
            clients: self.settings.idp.clients.clone(),
            service_namers: self.settings.idp.service_namers.clone(),
            levels: self.settings.idp.levels,
            lockout: self.settings.idp.lockout,
            session_ttl: self.settings.idp.session_ttl,
            secure_cookies: !listener.is_loopback(),
            app_request_ttl: self.settings.idp.app_request_ttl,
            trusted_proxies: self.settings.idp.trusted_proxies.clone(),
        };
        let keys = self
            .keys
            .get(&Component::Idp)
            .cloned()
            .context("the idp has no key store")?;
        let deps = eid_idp::IdpDeps {
            ephemeral: self.ephemeral.clone(),
            persons: self.durable.clone(),
            authenticators: self.durable.clone(),
            audit_log: self.durable.clone(),
            audit: self.audit.clone(),
            notifications: self.durable.clone(),
            keys,
            clock: self.clock.clone(),
            metrics: self.metrics[&Component::Idp].clone(),
        };
        Ok(eid_idp::Idp::new(config, deps)?)
    }

    async fn load_demo(&self) -> anyhow::Result<()> {
        let codes = crate::demo::load_persons(
            &self.settings.demo_data,
            self.durable.as_ref(),
            self.durable.as_ref(),
            self.clock.as_ref(),
        )
        .await
        .context("loading the demo persons")?;
        if let Some(registry) = &self.delegation {
            let file = self.settings.demo_data.join("delegation.toml");
            eid_delegation::demo::load(&file, registry)
                .await
                .with_context(|| format!("loading the demo mandates from {}", file.display()))?;
        }
        for code in codes {
            // Printed for the operator of the demo (deliberately not logged, and without the CPR
            // number, which is in the demo data file).
            println!(
                "demo activation code for {} (its CPR number is in {}): {}  -> {}/activate",
                code.name,
                self.settings.demo_data.join("persons.toml").display(),
                code.code,
                self.settings
                    .listener(Component::Idp)
                    .public_url
                    .as_str()
                    .trim_end_matches('/')
            );
        }
        Ok(())
    }

    /// The delegation listener's REST API (when it has a client at the broker) and mandate
    /// back-channel (refusing everyone without a secret).
    fn build_delegation_routes(&self) -> anyhow::Result<Router> {
        use eid_delegation::api::{ApiSettings, ApiState};
        use eid_delegation::internal::{BackChannelSecret, InternalState};
        let Some(registry) = &self.delegation else {
            return Ok(Router::new());
        };
        let d = &self.settings.delegation;
        let secret = d
            .lookup_secret
            .as_deref()
            .map(BackChannelSecret::new)
            .transpose()
            .map_err(|e| anyhow::anyhow!("delegation.lookup_secret: {e}"))?;
        let mut routes = eid_delegation::internal::router(InternalState::new(
            eid_delegation::lookup::RegistryLookup::new(self.durable.clone()),
            secret,
        ));
        if let Some(api_secret) = &d.api_client_secret {
            let broker = self.settings.listener(Component::Broker).issuer();
            let api = ApiState::new(
                registry.clone(),
                ApiSettings::new(
                    format!("{broker}/introspect"),
                    d.api_client_id.clone(),
                    api_secret.clone(),
                    vec![d.portal_client_id.clone()],
                ),
                self.durable.clone(),
                self.clock.clone(),
            )
            .context("starting the delegation REST API")?;
            routes = routes.merge(eid_delegation::api::router(api));
        }
        Ok(routes)
    }

    /// The broker's mandate lookup: the registry in this process (same durable store), or, when the
    /// delegation component runs elsewhere and a back-channel secret is configured, its listener.
    /// Either way behind a cache of "no mandates here" ([`CachedLookup`]): most people act for
    /// nobody, and a service that accepts representation would otherwise cost a query per login.
    fn mandate_lookup(&self) -> anyhow::Result<Arc<dyn eid_core::MandateLookup>> {
        use eid_delegation::lookup::CachedLookup;
        if self.delegation.is_none()
            && let Some(secret) = &self.settings.delegation.lookup_secret
        {
            let url = self.settings.listener(Component::Delegation).issuer();
            let lookup = eid_delegation::lookup_http::HttpMandateLookup::new(
                &url,
                secret,
                std::time::Duration::from_secs(2),
            )
            .map_err(|e| anyhow::anyhow!("the mandate back-channel: {e}"))?;
            return Ok(Arc::new(CachedLookup::new(Arc::new(lookup))));
        }
        Ok(Arc::new(CachedLookup::new(Arc::new(
            eid_delegation::lookup::RegistryLookup::new(self.durable.clone()),
        ))))
    }

    /// The delegation portal, when the registry runs and the portal has a client secret.
    fn build_portal(&self) -> anyhow::Result<Option<eid_delegation::portal::Portal>> {
        use eid_delegation::portal::{Portal, PortalDeps, PortalSettings, ServiceOption};
        let (Some(registry), Some(secret)) = (
            &self.delegation,
            &self.settings.delegation.portal_client_secret,
        ) else {
            return Ok(None);
        };
        let listener = self.settings.listener(Component::Delegation);
        // The services a power of attorney can name: the broker's relying parties that accept
        // representation and their areas, read at every page (registrations change at run time).
        let broker = self.broker.clone();
        let services = move || -> Vec<ServiceOption> {
            let Some(broker) = &broker else {
                return Vec::new();
            };
            let rps = broker.registry.representing_services();
            let mut areas: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for rp in &rps {
                for area in &rp.service_areas {
                    areas.entry(area.clone()).or_default().push(rp.name.clone());
                }
            }
            rps.iter()
                .map(|rp| ServiceOption {
                    scope: eid_core::Scope::Service(rp.id.clone()),
                    name: rp.name.clone(),
                })
                .chain(areas.into_iter().map(|(area, names)| ServiceOption {
                    name: format!("{area}: {}", names.join(", ")),
                    scope: eid_core::Scope::Area(area),
                }))
                .collect()
        };
        let portal = Portal::new(
            PortalSettings {
                client_id: self.settings.delegation.portal_client_id.clone(),
                client_secret: secret.clone(),
                broker_issuer: self.settings.listener(Component::Broker).issuer(),
                public_url: listener
                    .public_url
                    .as_str()
                    .trim_end_matches('/')
                    .to_owned(),
                secure_cookies: !listener.is_loopback(),
            },
            PortalDeps {
                registry: registry.clone(),
                outbox: self.durable.clone(),
                store: self.ephemeral.clone(),
                services: Arc::new(services),
            },
        )
        .context("starting the delegation portal")?;
        Ok(Some(portal))
    }

    /// The eIDAS gateway's parts its configuration names.
    fn build_gateway(&self) -> anyhow::Result<eid_eidas_gateway::Gateway> {
        let listener = self.settings.listener(Component::EidasGateway);
        let oidc_keys = self
            .keys
            .get(&Component::EidasGateway)
            .context("the eIDAS gateway's key store")?
            .clone();
        crate::gateway::build(crate::gateway::Inputs {
            settings: &self.settings,
            oidc_keys,
            common: eid_eidas_gateway::Common {
                public_url: listener.issuer(),
                secure_cookies: !listener.is_loopback(),
                ephemeral: self.ephemeral.clone(),
                audit: self.audit.clone(),
                clock: self.clock.clone(),
                http: crate::gateway::http_client()?,
            },
        })
    }

    /// Re-reads every key store (on SIGHUP); errors keep the old keys and are logged.
    pub fn reload_keys(&self) {
        for (component, store) in &self.keys {
            match store.reload() {
                Ok(()) => tracing::info!(component = component.name(), "keys reloaded"),
                Err(e) => {
                    tracing::error!(component = component.name(), error = %e, "key reload failed; keeping the old keys")
                }
            }
        }
    }

    fn platform(&self, component: Component) -> Platform {
        let durable: Arc<dyn DurableHealth> = self.durable.clone();
        let checks: Vec<Arc<dyn ReadinessCheck>> = vec![
            Arc::new(self.draining.clone()),
            Arc::new(EphemeralReady(self.ephemeral.clone())),
            Arc::new(DurableReady(durable)),
        ];
        Platform {
            component: component.name(),
            public_url: self.settings.listener(component).public_url.clone(),
            metrics: self.metrics[&component].clone(),
            checks,
        }
    }

    /// The router of one component.
    pub fn router(&self, component: Component) -> Router {
        let platform = self.platform(component);
        match component {
            Component::Broker => match &self.broker {
                Some(broker) => eid_broker::router(&platform, broker.clone()),
                None => platform.finish(Router::new()),
            },
            Component::Idp => match &self.idp {
                Some(idp) => eid_idp::router(&platform, idp.clone()),
                None => platform.finish(Router::new()),
            },
            Component::Delegation => match &self.portal {
                Some(portal) => eid_delegation::router_with_portal(
                    &platform,
                    portal.clone(),
                    self.delegation_routes.clone(),
                ),
                None => eid_delegation::router_with(&platform, self.delegation_routes.clone()),
            },
            Component::EidasGateway => eid_eidas_gateway::router(&platform, &self.gateway),
            Component::DemoRp => crate::demo_rp::router(
                &platform,
                crate::demo_rp::Inputs {
                    settings: self.settings.demo_rp.clone(),
                    broker: self.settings.listener(Component::Broker).issuer(),
                    store: self.ephemeral.clone(),
                    saml: self.demo_saml.clone(),
                },
            ),
        }
    }
}

/// Binds the configured listen address of each component.
pub async fn bind(
    settings: &Settings,
    components: &[Component],
) -> anyhow::Result<BTreeMap<Component, TcpListener>> {
    let mut listeners = BTreeMap::new();
    for &component in components {
        let addr = settings.listener(component).listen;
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("{}: cannot listen on {addr}", component.name()))?;
        listeners.insert(component, listener);
    }
    Ok(listeners)
}

/// Serves every component on its listener until `shutdown` completes, then drains in-flight
/// requests. SIGHUP reloads keys.
pub async fn serve(
    runtime: Runtime,
    listeners: BTreeMap<Component, TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let runtime = Arc::new(runtime);
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut servers = tokio::task::JoinSet::new();
    for (component, listener) in listeners {
        let router = runtime.router(component);
        let url = runtime.settings.listener(component).public_url.clone();
        tracing::info!(component = component.name(), listen = %listener.local_addr()?, %url, "listening");
        let mut stop = stop_rx.clone();
        servers.spawn(async move {
            let result = axum::serve(
                listener,
                router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .with_graceful_shutdown(async move {
                let _ = stop.wait_for(|stop| *stop).await;
            })
            .await;
            (component, result)
        });
    }
    let key_reloader: Vec<_> = runtime
        .keys
        .values()
        .map(|store| store.spawn_reloader(runtime.settings.keys_reload_interval))
        .collect();
    let sighup = tokio::spawn(reload_on_sighup(runtime.clone()));
    // On PostgreSQL (several nodes), what another node changes is heard at once.
    let feed = match &runtime.settings.durable {
        crate::config::DurableBackend::Postgres(_) => {
            let durable = runtime.durable.clone();
            let switches = durable.postgres_switches();
            Some(eid_store::change_feed::listen(
                move || durable.postgres_url().unwrap_or_default(),
                switches,
            ))
        }
        crate::config::DurableBackend::Sqlite(_) => None,
    };
    let key_notices = feed.as_ref().map(|feed| {
        let keys = Changes::new(feed.versions.clone(), |v| v.keys);
        tokio::spawn(reload_keys_on_notice(runtime.clone(), keys))
    });
    let registry_refresh = runtime.broker.clone().map(|broker| {
        crate::broker::spawn_registry_refresh(
            broker,
            runtime.settings.broker.registry_refresh,
            feed.as_ref()
                .map(|feed| Changes::new(feed.versions.clone(), |v| v.registry)),
        )
    });
    let retention = runtime.broker.is_some().then(|| {
        crate::broker::spawn_retention(
            &runtime.settings.broker,
            runtime.durable.clone(),
            runtime.clock.clone(),
        )
    });
    let expiry = runtime
        .delegation
        .clone()
        .map(|registry| tokio::spawn(expire_mandates(registry)));
    shutdown.await;
    let drain = runtime.settings.shutdown_drain;
    if !drain.is_zero() {
        // Out of the load balancer's rotation first (its checks see `/readyz` fail), then stop.
        tracing::info!(
            seconds = drain.as_secs(),
            "stopping: readiness withdrawn, still serving"
        );
        runtime.draining.start();
        tokio::time::sleep(drain).await;
    }
    tracing::info!("shutting down: draining requests");
    let _ = stop_tx.send(true);
    while let Some(joined) = servers.join_next().await {
        match joined {
            Ok((component, Err(e))) => {
                tracing::error!(component = component.name(), error = %e, "server failed")
            }
            Err(e) => tracing::error!(error = %e, "server task failed"),
            Ok((_, Ok(()))) => {}
        }
    }
    sighup.abort();
    drop(feed);
    for task in [registry_refresh, retention, expiry, key_notices]
        .into_iter()
        .flatten()
    {
        task.abort();
    }
    for task in key_reloader {
        task.abort();
    }
    runtime.audit.flush().await;
    tracing::info!("stopped");
    Ok(())
}

/// Re-reads every key store whenever the change feed hears of new keys (`eidbroker keygen` on any
/// node) or reconnects.
async fn reload_keys_on_notice(runtime: Arc<Runtime>, mut keys: Changes) {
    while keys.next().await {
        runtime.reload_keys();
    }
}

#[cfg(unix)]
async fn reload_on_sighup(runtime: Arc<Runtime>) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hangups) = signal(SignalKind::hangup()) else {
        tracing::warn!("cannot listen for SIGHUP; keys reload on the timer only");
        return;
    };
    while hangups.recv().await.is_some() {
        runtime.reload_keys();
    }
}

#[cfg(not(unix))]
async fn reload_on_sighup(_runtime: Arc<Runtime>) {}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
