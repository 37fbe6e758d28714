//! Building the eIDAS gateway's parts from the settings: the Danish node's keys (and the demo
//! country's), the peers' trust anchors, the connector, the proxy service and the demo country.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use eid_eidas_gateway::node::NodeKeys;
use eid_eidas_gateway::peers::{Peer, Peers};
use eid_eidas_gateway::settings::{PeerSource, RawGatewaySettings};
use eid_eidas_gateway::{Common, Gateway};
use eid_saml::dsig::PinnedKeys;

use crate::config::{Component, Settings};

/// The anchor value that names the demo's own second country (or, from its side, us).
const DEMO_ANCHOR: &str = "demo";

/// Outgoing HTTP of the gateway: metadata and the broker, no redirects, short timeouts.
pub fn http_client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(5))
        .build()?)
}

/// The keys that sign a peer's metadata: a certificate file (PEM or DER), or the certificate of
/// the in-process demo node for [`DEMO_ANCHOR`].
fn anchor(source: &PeerSource, demo: Option<&NodeKeys>, field: &str) -> anyhow::Result<PinnedKeys> {
    let der = if source.anchor == DEMO_ANCHOR {
        demo.with_context(|| {
            format!(
                "{field}.anchor = \"demo\" needs the demo country ([eidas_gateway.demo_country])"
            )
        })?
        .certificate
        .clone()
    } else {
        read_certificate(Path::new(&source.anchor))
            .with_context(|| format!("{field}.anchor: {}", source.anchor))?
    };
    PinnedKeys::from_certificates([der.as_slice()])
        .map_err(|e| anyhow::anyhow!("{field}.anchor: {e}"))
}

/// A certificate file: PEM (`-----BEGIN CERTIFICATE-----`) or DER.
fn read_certificate(path: &Path) -> anyhow::Result<Vec<u8>> {
    use base64::Engine as _;
    let bytes = std::fs::read(path)?;
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return Ok(bytes);
    };
    let Some(start) = text.find("-----BEGIN CERTIFICATE-----") else {
        anyhow::bail!("neither a PEM certificate nor DER");
    };
    let body = &text[start + "-----BEGIN CERTIFICATE-----".len()..];
    let end = body
        .find("-----END CERTIFICATE-----")
        .context("PEM certificate without its END line")?;
    let b64: String = body[..end].chars().filter(|c| !c.is_whitespace()).collect();
    Ok(base64::engine::general_purpose::STANDARD.decode(b64)?)
}

fn peer(
    country: &str,
    source: &PeerSource,
    demo: Option<&NodeKeys>,
    field: &str,
) -> anyhow::Result<Peer> {
    Ok(Peer {
        country: country.to_owned(),
        metadata_url: source.metadata_url.clone(),
        anchor: anchor(source, demo, field)?,
        algorithms: source
            .algorithms
            .validate(field)
            .map_err(|e| anyhow::anyhow!("eidas_gateway.{e}"))?,
    })
}

/// The proxy service's pseudonym secret: the configured file, or (single-node demo) one generated
/// into the data directory on first start.
fn pseudonym_secret(settings: &Settings, file: Option<&Path>) -> anyhow::Result<[u8; 32]> {
    let generated = settings
        .data_dir
        .join("eidas-gateway")
        .join("pseudonym.secret");
    let path = match file {
        Some(path) => path.to_owned(),
        None if settings.may_generate_secrets() => {
            if !generated.exists() {
                std::fs::create_dir_all(generated.parent().unwrap_or(Path::new(".")))?;
                std::fs::write(&generated, eid_oidc::random::token(32))?;
            }
            generated
        }
        None => anyhow::bail!(
            "eidas_gateway.proxy.pseudonym_secret_file is required outside the single-node demo: every \
             node must send the same identifiers abroad (create it with `head -c 32 /dev/urandom | base64 > FILE`)"
        ),
    };
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let text = text.trim();
    anyhow::ensure!(
        text.len() >= 32,
        "{}: the pseudonym secret needs at least 32 characters",
        path.display()
    );
    let mut key = [0u8; 32];
    key.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, text.as_bytes()).as_ref());
    Ok(key)
}

/// Everything the gateway's parts share, from the runtime.
pub struct Inputs<'a> {
    /// The settings.
    pub settings: &'a Settings,
    /// The gateway's own key store (its ES256 key signs the connector's ID tokens).
    pub oidc_keys: eid_keys::KeyStore,
    /// The shared part of the parts' state.
    pub common: Common,
}

/// Builds the parts the configuration names.
pub fn build(inputs: Inputs<'_>) -> anyhow::Result<Gateway> {
    let settings = inputs.settings;
    let own: &RawGatewaySettings = &settings.eidas_gateway;
    let trusted_proxies = eid_web::client_addr::TrustedProxies(own.trusted_proxies.clone().into());
    if own.connector.is_none() && own.proxy.is_none() && own.demo_country.is_none() {
        return Ok(Gateway {
            trusted_proxies,
            ..Gateway::default()
        });
    }
    let may_generate = settings.may_generate_secrets();
    let key_dir = settings.key_dir(Component::EidasGateway).join("saml");
    let node = Arc::new(
        NodeKeys::load(
            &key_dir,
            &format!("{} eIDAS node", own.country),
            may_generate,
        )
        .context("the eIDAS gateway's SAML key")?,
    );
    let demo = match &own.demo_country {
        Some(d) => Some(Arc::new(
            NodeKeys::load(
                &settings.keys_dir.join("eidas-xa"),
                &format!("{} eIDAS node (demo)", d.code),
                may_generate,
            )
            .context("the demo country's SAML key")?,
        )),
        None => None,
    };
    let http = inputs.common.http.clone();
    let refresh = own.metadata_refresh();
    let clock = inputs.common.clock.clone();
    let peers = |list: Vec<Peer>| Peers::new(list, http.clone(), clock.clone(), refresh);
    let mut gateway = Gateway {
        trusted_proxies,
        ..Gateway::default()
    };
    if let Some(c) = &own.connector {
        let list = c
            .countries
            .iter()
            .enumerate()
            .map(|(i, country)| {
                peer(
                    &country.code,
                    &country.peer,
                    demo.as_deref(),
                    &format!("eidas_gateway.connector.countries[{i}]"),
                )
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        gateway.connector = Some(Arc::new(
            eid_eidas_gateway::connector::Connector::new(
                c,
                &own.country,
                inputs.common.clone(),
                node.clone(),
                inputs.oidc_keys.clone(),
                peers(list),
            )
            .map_err(|e| anyhow::anyhow!("the eIDAS connector: {e}"))?,
        ));
    }
    if let Some(p) = &own.proxy {
        let list = p
            .connectors
            .iter()
            .enumerate()
            .map(|(i, connector)| {
                peer(
                    &connector.country,
                    &connector.peer,
                    demo.as_deref(),
                    &format!("eidas_gateway.proxy.connectors[{i}]"),
                )
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let secret = eid_eidas_gateway::settings::secret(&p.client_secret, &p.client_secret_file)
            .context("eidas_gateway.proxy.client_secret_file")?;
        let broker = eid_oidc::rp::UpstreamClient::new(eid_oidc::rp::UpstreamConfig {
            name: "broker".into(),
            issuer: p
                .broker_issuer
                .clone()
                .unwrap_or_else(|| settings.listener(Component::Broker).issuer()),
            client_id: p.client_id.clone(),
            client_secret: secret,
            redirect_uri: format!("{}/eidas/proxy/callback", inputs.common.public_url),
            scopes: vec!["profile".into()],
        })
        .map_err(|e| anyhow::anyhow!("the eIDAS proxy service's client at the broker: {e}"))?;
        gateway.proxy = Some(Arc::new(
            eid_eidas_gateway::proxy::ProxyService::new(
                p,
                &own.country,
                inputs.common.clone(),
                node.clone(),
                peers(list),
                broker,
                pseudonym_secret(settings, p.pseudonym_secret_file.as_deref())?,
            )
            .map_err(|e| anyhow::anyhow!("the eIDAS proxy service: {e}"))?,
        ));
    }
    if let (Some(d), Some(keys)) = (&own.demo_country, demo) {
        let origin = &inputs.common.public_url;
        let dk = |path: &str| PeerSource {
            metadata_url: format!("{origin}{path}"),
            anchor: DEMO_ANCHOR.into(),
            algorithms: Default::default(),
        };
        let dk_connector = peer(
            &own.country,
            &dk("/eidas/connector/metadata"),
            Some(&node),
            "demo",
        )?;
        let dk_proxy = peer(
            &own.country,
            &dk("/eidas/proxy/metadata"),
            Some(&node),
            "demo",
        )?;
        gateway.demo_country = Some(Arc::new(
            eid_eidas_gateway::xa::DemoCountry::new(
                d,
                inputs.common.clone(),
                keys,
                peers(vec![dk_connector]),
                peers(vec![dk_proxy]),
            )
            .context("the demo country")?,
        ));
    }
    Ok(gateway)
}
