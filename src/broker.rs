//! Wiring of the broker: its pairwise secret, the relying-party files, the upstream clients and the
//! keys its registrations need.

use anyhow::Context;
use eid_broker::adapters::{HttpLogoutNotifier, OidcUpstream};
use eid_broker::ports::{Upstream, Upstreams};
use eid_broker::saml_metadata::MetadataFetcher;
use eid_broker::settings::BrokerSettings;
use eid_broker::{Broker, BrokerConfig, BrokerDeps};
use eid_core::{
    AuditLog, Clock, EphemeralStore, MandateLookup, ProtocolMessageLog, RelyingParty,
    RelyingPartyRepository, RpRegistration, SamlServiceProviderRepository,
};
use eid_keys::KeyStore;
use eid_oidc::rp::{UpstreamClient, UpstreamConfig};
use eid_store::audit_writer::AuditWriter;
use eid_store::change_feed::Changes;
use eid_web::Metrics;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// How often each node looks for SAML metadata URLs whose refresh interval has passed.
pub const METADATA_SCHEDULE: Duration = Duration::from_secs(30);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RelyingPartyFile {
    #[serde(default)]
    relying_party: Vec<toml::Value>,
}

/// Reads a relying-party file: `[[relying_party]]` tables in the admin API's form (a plain
/// `client_secret` is replaced by its digest).
pub fn read_relying_parties(path: &Path) -> anyhow::Result<Vec<RpRegistration>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let file: RelyingPartyFile =
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    file.relying_party
        .into_iter()
        .enumerate()
        .map(|(i, table)| {
            let json = serde_json::to_value(table)
                .with_context(|| format!("{}: entry {i}", path.display()))?;
            let rp = eid_broker::http::registration_from_json(json, None)
                .map_err(|e| anyhow::anyhow!("{}: relying_party[{i}]: {e}", path.display()))?;
            eid_broker::registry::prepare(rp.clone())
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            Ok(rp)
        })
        .collect()
}

fn pairwise_secret(path: &Path, may_generate: bool) -> anyhow::Result<Vec<u8>> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            use base64::Engine;
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(text.trim())
                .or_else(|_| base64::engine::general_purpose::STANDARD.decode(text.trim()))
                .with_context(|| format!("{}: not base64", path.display()))
        }
        Err(_) if may_generate => {
            let secret = eid_oidc::random::token(32);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            write_private(path, &secret)?;
            tracing::info!(file = %path.display(), "generated the demo pairwise secret");
            use base64::Engine;
            Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(secret)?)
        }
        Err(e) => anyhow::bail!(
            "the pairwise secret {} cannot be read ({e}); every broker node needs the same one: create it with \
             `head -c 32 /dev/urandom | base64 > {}`",
            path.display(),
            path.display()
        ),
    }
}

fn write_private(path: &Path, content: &str) -> anyhow::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(content.as_bytes())?;
    file.sync_all()?;
    Ok(())
}

/// What the broker is built from: its settings, where it is, and the process-wide resources it
/// draws on.
pub struct Inputs<'a> {
    /// The broker's validated settings.
    pub settings: &'a BrokerSettings,
    /// Its issuer: the public origin, no trailing slash.
    pub issuer: String,
    /// Whether cookies get the `Secure` flag (everywhere but loopback).
    pub secure_cookies: bool,
    /// In the demo, the broker's key directory, where a key a relying party needs is created when
    /// missing; `None` outside the demo, where a missing key is an error.
    pub demo_key_dir: Option<PathBuf>,
    /// Whether this node may generate the pairwise secret (only the single-node demo).
    pub may_generate_secrets: bool,
    /// The ephemeral store.
    pub ephemeral: Arc<dyn EphemeralStore>,
    /// The durable relying-party registry.
    pub relying_parties: Arc<dyn RelyingPartyRepository>,
    /// The durable registry of SAML service providers registered at run time.
    pub saml_service_providers: Arc<dyn SamlServiceProviderRepository>,
    /// The audit writer.
    pub audit: AuditWriter,
    /// The kept protocol messages (read by operators).
    pub protocol_messages: Arc<dyn ProtocolMessageLog>,
    /// The mandate registry's back-channel.
    pub mandates: Arc<dyn MandateLookup>,
    /// The broker's key store.
    pub keys: KeyStore,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// The broker's metrics registry.
    pub metrics: Metrics,
}

/// Builds the broker: registers the configured relying parties, makes sure the keys their
/// registrations need exist (in the demo), and connects the upstream clients (lazily).
pub async fn build(inputs: Inputs<'_>) -> anyhow::Result<Broker> {
    let Inputs {
        settings,
        issuer,
        secure_cookies,
        demo_key_dir,
        may_generate_secrets,
        ephemeral,
        relying_parties: repo,
        saml_service_providers,
        audit,
        protocol_messages,
        mandates,
        keys,
        clock,
        metrics,
    } = inputs;
    for file in &settings.relying_parties {
        for rp in read_relying_parties(file)? {
            repo.upsert_relying_party(&rp)
                .await
                .context("registering a relying party")?;
        }
    }
    let mut needed = std::collections::BTreeSet::new();
    for doc in repo.relying_parties().await? {
        let rp = RelyingParty::try_from(doc)?;
        if let Some(oidc) = rp.oidc() {
            needed.insert(oidc.alg);
        }
    }
    for alg in needed {
        let alg = eid_broker::registry::key_alg(alg);
        if keys.signing_key(alg).is_none() {
            if let Some(dir) = &demo_key_dir {
                eid_keys::ensure_active(dir, alg)?;
                keys.reload()?;
            } else {
                anyhow::bail!(
                    "a relying party wants {alg} ID tokens but the broker has no active {alg} key: run \
                     `eidbroker keygen --component broker --alg {alg} --state active`"
                );
            }
        }
    }
    let secret = pairwise_secret(&settings.pairwise_secret_file, may_generate_secrets)?;
    let pairwise = eid_broker::core::pairwise::PairwiseKey::new(&secret)
        .context("the pairwise secret must be at least 32 bytes")?;
    let mut upstreams: Vec<Arc<dyn Upstream>> = Vec::new();
    for u in &settings.upstreams {
        let client = UpstreamClient::new(UpstreamConfig {
            name: u.name.clone(),
            issuer: u.issuer.clone(),
            client_id: u.client_id.clone(),
            client_secret: u.client_secret.clone(),
            redirect_uri: format!("{issuer}/upstream/{}/callback", u.name),
            scopes: u.scopes.clone(),
        })
        .with_context(|| format!("upstream {}", u.name))?;
        upstreams.push(Arc::new(OidcUpstream::new(
            client,
            u.kind,
            pairwise.clone(),
        )));
    }
    let logout = HttpLogoutNotifier::new().context("building the HTTP client")?;
    let broker = Broker::new(
        BrokerConfig {
            issuer,
            session_ttl: settings.session_ttl,
            access_token_ttl: settings.access_token_ttl,
            refresh_token_ttl: settings.refresh_token_ttl,
            secure_cookies,
            admin_token_sha256: settings.admin_token_sha256,
            trusted_proxies: settings.trusted_proxies.clone(),
        },
        BrokerDeps {
            ephemeral,
            relying_parties: repo.clone(),
            saml_service_providers,
            upstreams: Upstreams::new(upstreams),
            mandates,
            logout: Arc::new(logout),
            pairwise,
            audit,
            protocol_messages,
            keys,
            clock,
            metrics,
        },
    )
    .await
    .context("loading the registry")?;
    configure_saml(&broker, settings).await?;
    Ok(broker)
}

/// Registers the configured SAML service providers: those with a metadata file now, those with a
/// metadata URL after a first fetch (a failed one is logged, audited and retried on the schedule;
/// the broker starts without that service provider rather than not at all).
async fn configure_saml(broker: &Broker, settings: &BrokerSettings) -> anyhow::Result<()> {
    let now = broker.clock.now();
    let mut files = Vec::new();
    let mut urls = Vec::new();
    for sp in &settings.saml_service_providers {
        match sp.register(now) {
            Some(registered) => {
                files.push(registered.context("registering the SAML service providers")?)
            }
            None => urls.extend(sp.url_sp()),
        }
    }
    for id in files
        .iter()
        .map(|sp| &sp.rp.id)
        .chain(urls.iter().map(|sp| &sp.entity_id))
    {
        if broker.registry.get(id).is_some() {
            anyhow::bail!(
                "the SAML service provider {id:?} has the client id of an OIDC relying party; an \
                 entity ID and a client id name one relying party each"
            );
        }
    }
    broker.registry.configure_saml(files, urls);
    let configured_urls = broker.registry.configured_url_sps();
    if !configured_urls.is_empty() {
        let fetcher = MetadataFetcher::new().context("building the metadata HTTP client")?;
        for state in configured_urls {
            eid_broker::saml_metadata::refresh::refresh_configured(broker, &fetcher, &state, now)
                .await;
        }
    }
    // Stored service providers were read before the configuration came in: read them again, so
    // that one whose entity ID the configuration names is left out.
    broker
        .refresh_registry()
        .await
        .context("loading the registry")?;
    Ok(())
}

/// Re-reads the registry whenever the change feed (PostgreSQL: another node's change, within a
/// second) says so and every `every` whatever it says, and refreshes SAML metadata URLs when due
/// (checked every [`METADATA_SCHEDULE`]).
pub fn spawn_registry_refresh(
    broker: Arc<Broker>,
    every: Duration,
    changes: Option<Changes>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        tokio::join!(
            refresh_registry(&broker, every, changes),
            refresh_metadata(&broker)
        );
    })
}

/// Deletes expired signed protocol messages (`broker.protocol_message_retention_days`) and the
/// expired audit events of each section of a person's log (`broker.audit_retention_days`) every
/// [`retention::EVERY`](eid_store::retention::EVERY), in bounded batches. Every broker node may run
/// it: the deletes are idempotent.
pub fn spawn_retention<D>(
    settings: &BrokerSettings,
    durable: Arc<D>,
    clock: Arc<dyn Clock>,
) -> tokio::task::JoinHandle<()>
where
    D: AuditLog + ProtocolMessageLog + 'static,
{
    use eid_store::retention::{EVERY, Retention};
    Retention::new(retention_rules(settings, durable)).spawn(clock, EVERY)
}

/// The retention task's rules: the protocol messages', then one per section of a person's log.
fn retention_rules<D>(settings: &BrokerSettings, durable: Arc<D>) -> Vec<eid_store::retention::Rule>
where
    D: AuditLog + ProtocolMessageLog + 'static,
{
    use eid_core::my_log::Section;
    use eid_store::retention::{AuditEvents, ProtocolMessages, Rule};
    let mut rules = vec![Rule {
        name: "protocol_messages",
        keep: settings.protocol_message_retention,
        records: Arc::new(ProtocolMessages(durable.clone())),
    }];
    let log: Arc<dyn AuditLog> = durable;
    rules.extend(Section::ALL.into_iter().map(|section| {
        AuditEvents::rule(log.clone(), section, settings.audit_retention.keep(section))
    }));
    rules
}

async fn refresh_registry(broker: &Broker, every: Duration, mut changes: Option<Changes>) {
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        // A notice that came during the last re-read wakes this at once: one more re-read,
        // however many notices came. A feed that is gone leaves the timer.
        let heard = async {
            let alive = match changes.as_mut() {
                Some(changes) => changes.next().await,
                None => false,
            };
            if !alive {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            _ = tick.tick() => {}
            () = heard => {}
        }
        if let Err(e) = broker.refresh_registry().await {
            tracing::warn!(error = %e, "registry refresh failed; keeping the last snapshot");
        }
    }
}

async fn refresh_metadata(broker: &Broker) {
    let fetcher = match MetadataFetcher::new() {
        Ok(fetcher) => fetcher,
        Err(e) => {
            tracing::error!(error = %e, "no HTTP client: SAML metadata URLs are not refreshed");
            return;
        }
    };
    let mut tick = tokio::time::interval(METADATA_SCHEDULE);
    tick.tick().await;
    loop {
        tick.tick().await;
        let now = broker.clock.now();
        if let Err(e) = eid_broker::saml_metadata::refresh::refresh_due(broker, &fetcher, now).await
        {
            tracing::warn!(error = %e, "SAML metadata refresh failed; keeping the last good metadata");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use eid_broker::settings::{RawAuditRetention, RawBrokerSettings};

    #[tokio::test]
    async fn retention_has_a_rule_per_section_with_its_configured_days() {
        let settings = RawBrokerSettings {
            protocol_message_retention_days: 30,
            audit_retention_days: RawAuditRetention {
                refused: 90,
                ..RawAuditRetention::default()
            },
            ..RawBrokerSettings::default()
        }
        .validate(Path::new("d"), true)
        .unwrap();
        let durable = Arc::new(
            eid_store::SqlDurable::connect_and_migrate("sqlite::memory:")
                .await
                .unwrap(),
        );
        let rules: Vec<_> = retention_rules(&settings, durable)
            .into_iter()
            .map(|r| (r.name, r.keep.whole_days()))
            .collect();
        assert_eq!(
            rules,
            [
                ("protocol_messages", 30),
                ("audit_events.logins", 730),
                ("audit_events.releases", 1825),
                ("audit_events.acting", 3650),
                ("audit_events.changes", 3650),
                ("audit_events.refused", 90),
                ("audit_events.other", 180),
            ]
        );
    }
}
