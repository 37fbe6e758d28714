//! Our IdP's keys as SAML shows them (self-signed certificates of the key store's RSA keys) and
//! our signed metadata.

use eid_keys::{Alg, KeyState, SigningKey};
use eid_saml::dsig::{SignatureAlg, certificate_for, sign_enveloped};
use eid_saml::messages::new_message_id;
use eid_saml::metadata::IdpMetadata;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::{METADATA_VALIDITY, SLO_PATH, entity_id, sso_url};
use crate::oidc::BrokerError;
use crate::state::Broker;

/// The algorithm of everything we sign in SAML (OIOSAML 3: RSA-SHA256).
pub const SIGNATURE_ALG: SignatureAlg = SignatureAlg::RsaSha256;
/// The subject of our certificates.
const CERTIFICATE_SUBJECT: &str = "eID broker SAML IdP";

/// How long a signed metadata document is served before it is signed again (with a fresh
/// `validUntil`); a key change signs it again at once.
const METADATA_RESIGN: time::Duration = time::Duration::hours(1);

/// Certificates of our RSA keys by key id, made once per key (their bytes must not change
/// between the metadata and a signature's `KeyInfo`), and our signed metadata: `/saml/metadata`
/// is unauthenticated, and must not cost an RSA signature per request.
#[derive(Debug, Default)]
pub struct CertificateCache {
    by_kid: Mutex<HashMap<String, Vec<u8>>>,
    metadata: Mutex<Option<SignedMetadata>>,
}

/// A signed metadata document, with the keys it names and when it was signed.
#[derive(Debug)]
struct SignedMetadata {
    kids: Vec<String>,
    signed_at: time::OffsetDateTime,
    xml: String,
}

impl CertificateCache {
    /// The certificate of `key`.
    pub fn certificate(&self, key: &SigningKey) -> Result<Vec<u8>, BrokerError> {
        if let Some(der) = self
            .by_kid
            .lock()
            .ok()
            .and_then(|m| m.get(key.kid()).cloned())
        {
            return Ok(der);
        }
        let der = certificate_for(key, CERTIFICATE_SUBJECT)
            .map_err(|e| BrokerError::Keys(e.to_string()))?;
        if let Ok(mut m) = self.by_kid.lock() {
            m.insert(key.kid().to_owned(), der.clone());
        }
        Ok(der)
    }
}

/// The active SAML signing key and its certificate.
pub fn signing_key(broker: &Broker) -> Result<(Arc<SigningKey>, Vec<u8>), BrokerError> {
    let key = broker
        .keys
        .signing_key_at(Alg::RS256, broker.clock.now())
        .ok_or_else(|| BrokerError::Keys("no active RS256 key for SAML".into()))?;
    let der = broker.saml_certificates.certificate(&key)?;
    Ok((key, der))
}

/// Our metadata, signed with the active key: the active and next RSA keys as signing keys (so
/// that services trust the next key before it signs), and the active key as encryption key.
/// Served from the cache while the same keys are current, re-signed every [`METADATA_RESIGN`].
pub fn metadata(broker: &Broker) -> Result<String, BrokerError> {
    let (key, active) = signing_key(broker)?;
    let now = broker.clock.now();
    let next_keys: Vec<Arc<SigningKey>> = broker
        .keys
        .current()
        .keys()
        .iter()
        .filter(|next| {
            next.alg().kind() == Alg::RS256.kind()
                && next.state() == KeyState::Next
                && next.is_valid_at(now)
        })
        .cloned()
        .collect();
    let kids: Vec<String> = std::iter::once(key.kid().to_owned())
        .chain(next_keys.iter().map(|k| k.kid().to_owned()))
        .collect();
    let cache = &broker.saml_certificates.metadata;
    if let Some(cached) = cache.lock().ok().as_deref().and_then(Option::as_ref)
        && cached.kids == kids
        && now - cached.signed_at < METADATA_RESIGN
    {
        return Ok(cached.xml.clone());
    }
    let mut signing_certificates = vec![active.clone()];
    for next in &next_keys {
        signing_certificates.push(broker.saml_certificates.certificate(next)?);
    }
    let id = new_message_id();
    let unsigned = IdpMetadata {
        id: id.clone(),
        entity_id: entity_id(broker),
        valid_until: now + METADATA_VALIDITY,
        sso_url: sso_url(broker),
        slo_url: format!("{}{SLO_PATH}", broker.config.issuer),
        signing_certificates,
        // We decrypt nothing yet; the key of a separate encryption certificate comes with the
        // first message encrypted to us.
        encryption_certificate: active.clone(),
    }
    .to_xml();
    let xml = sign_enveloped(&unsigned, &id, &key, SIGNATURE_ALG, &active)
        .map_err(|e| BrokerError::Keys(e.to_string()))?;
    if let Ok(mut cached) = cache.lock() {
        *cached = Some(SignedMetadata {
            kids,
            signed_at: now,
            xml: xml.clone(),
        });
    }
    Ok(xml)
}
