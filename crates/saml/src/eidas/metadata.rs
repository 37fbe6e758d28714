//! eIDAS metadata (PROTOCOLS.md §4.4): our connector's and proxy service's, written and signed, and
//! a peer's, read only after its signature checks against the configured trust anchor.

use std::sync::Arc;

use eid_keys::SigningKey;
use time::OffsetDateTime;

use super::{EidasError, EidasLoa, SpType};
use crate::dsig::{AlgorithmPolicy, PinnedKeys, SignatureAlg};

/// What a node is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeRole {
    /// A connector: an `SPSSODescriptor`.
    Connector {
        /// Its assertion consumer service (HTTP-POST).
        acs_url: String,
        /// Its `eidas:SPType`, when its metadata carries it (then its requests must not).
        sp_type: Option<SpType>,
    },
    /// A proxy service: an `IDPSSODescriptor`.
    ProxyService {
        /// Its single sign-on service for HTTP-POST.
        sso_url: String,
        /// The levels it supports (entity attribute `http://eidas.europa.eu/LoA`).
        loas: Vec<EidasLoa>,
        /// Whether it wants the RequesterID (entity category
        /// [`super::ENTITY_CATEGORY_REQUESTER_ID`]).
        wants_requester_id: bool,
    },
}

/// Our metadata, to sign and publish.
#[derive(Debug, Clone)]
pub struct MetadataOut {
    /// The entity ID: the metadata's own URL.
    pub entity_id: String,
    /// `eidas:NodeCountry` (ISO 3166-1 alpha-2).
    pub node_country: String,
    /// Connector or proxy service, with its endpoint.
    pub role: NodeRole,
    /// The signing certificate (DER).
    pub signing_certificate: Vec<u8>,
    /// The encryption certificate (DER).
    pub encryption_certificate: Vec<u8>,
    /// `validUntil`.
    pub valid_until: OffsetDateTime,
    /// The signature algorithms we sign with (`alg:SigningMethod`).
    pub signing_methods: Vec<SignatureAlg>,
}

impl MetadataOut {
    /// The metadata as XML, signed with `key` (an enveloped signature over the
    /// `EntityDescriptor`, whose `ID` is generated).
    pub fn to_signed_xml(
        &self,
        key: &Arc<SigningKey>,
        alg: SignatureAlg,
        certificate_der: &[u8],
    ) -> Result<String, EidasError> {
        let _ = (key, alg, certificate_der);
        todo!("eidas: MetadataOut::to_signed_xml")
    }
}

/// A peer's metadata, after its signature and `validUntil` were checked.
#[derive(Debug, Clone)]
pub struct PeerMetadata {
    /// Its entity ID.
    pub entity_id: String,
    /// Its `eidas:NodeCountry`.
    pub node_country: String,
    /// Connector or proxy service.
    pub role: NodeRole,
    /// The keys its messages are signed with (`KeyDescriptor use="signing"` or without `use`).
    pub signing_keys: PinnedKeys,
    /// Its encryption certificate (`use="encryption"` or without `use`), DER.
    pub encryption_certificate: Option<Vec<u8>>,
    /// `validUntil` (required).
    pub valid_until: OffsetDateTime,
    /// The protocol versions it announces.
    pub protocol_versions: Vec<String>,
}

/// Reads a peer's metadata: a signed `EntityDescriptor` (signature verified with the `anchor`
/// keys, over the document element), `validUntil` present and after `now`, `eidas:NodeCountry`
/// present, exactly one SP or IdP SSO descriptor supporting SAML 2.0, its endpoints absolute
/// `https` or loopback `http` URLs, at least one signing key. `max` size
/// [`crate::metadata::MAX_METADATA_BYTES`].
pub fn read_metadata(
    xml: &str,
    anchor: &PinnedKeys,
    policy: &AlgorithmPolicy,
    now: OffsetDateTime,
) -> Result<PeerMetadata, EidasError> {
    let _ = (xml, anchor, policy, now);
    todo!("eidas: read_metadata")
}
