//! eIDAS metadata (PROTOCOLS.md §4.4): our connector's and proxy service's, written and signed, and
//! a peer's, read only after its signature checks against the configured trust anchor.

use std::sync::Arc;

use eid_keys::SigningKey;
use time::OffsetDateTime;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::request::NAME_ID_FORMATS;
use super::{
    ENTITY_ATTR_APPLICATION_ID, ENTITY_ATTR_LOA, ENTITY_ATTR_PROTOCOL_VERSION,
    ENTITY_CATEGORY_REQUESTER_ID, EidasError, EidasLoa, NS_EIDAS, PROTOCOL_VERSIONS, SpType,
};
use crate::dsig::{AlgorithmPolicy, DigestAlg, PinnedKeys, SignatureAlg};
use crate::messages::writer::{XmlWriter, instant};
use crate::messages::{BINDING_POST, NS_ASSERTION, NS_PROTOCOL, new_message_id};
use crate::metadata::{NS_DSIG, NS_METADATA};

/// The metadata entity-attributes namespace (`mdattr`).
pub const NS_MDATTR: &str = "urn:oasis:names:tc:SAML:metadata:attribute";
/// The metadata algorithm-support namespace (`alg`).
pub const NS_ALG: &str = "urn:oasis:names:tc:SAML:metadata:algsupport";
/// The entity-category attribute name (REFEDS / MACE-Dir).
pub const ENTITY_CATEGORY: &str = "http://macedir.org/entity-category";
/// What our metadata names as the node's software (`application-identifier`).
pub const APPLICATION_ID: &str = concat!("eid-broker eidas-gateway ", env!("CARGO_PKG_VERSION"));

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
        let bad = |what: &str| Err(EidasError::Write(format!("metadata: {what}")));
        if !super::metadata_read::is_country(&self.node_country) {
            return bad("NodeCountry is not two upper-case letters");
        }
        if !super::metadata_read::endpoint_ok(self.endpoint()) {
            return bad("the endpoint is not an https or loopback http URL");
        }
        if matches!(&self.role, NodeRole::ProxyService { loas, .. } if loas.is_empty()) {
            return bad("a proxy service without levels");
        }
        let id = new_message_id();
        let mut w = XmlWriter::new();
        w.open(
            "md:EntityDescriptor",
            &[
                ("xmlns:md", NS_METADATA),
                ("xmlns:ds", NS_DSIG),
                ("xmlns:eidas", NS_EIDAS),
                ("xmlns:mdattr", NS_MDATTR),
                ("xmlns:saml2", NS_ASSERTION),
                ("xmlns:alg", NS_ALG),
                ("ID", &id),
                ("entityID", &self.entity_id),
                ("validUntil", &instant(self.valid_until)),
            ],
        )
        .open("md:Extensions", &[])
        .leaf("eidas:NodeCountry", &[], &self.node_country);
        if let NodeRole::Connector {
            sp_type: Some(sp_type),
            ..
        } = &self.role
        {
            w.leaf("eidas:SPType", &[], sp_type.as_str());
        }
        w.open("mdattr:EntityAttributes", &[]);
        entity_attribute(&mut w, ENTITY_ATTR_PROTOCOL_VERSION, &PROTOCOL_VERSIONS);
        entity_attribute(&mut w, ENTITY_ATTR_APPLICATION_ID, &[APPLICATION_ID]);
        if let NodeRole::ProxyService {
            loas,
            wants_requester_id,
            ..
        } = &self.role
        {
            let uris: Vec<&str> = loas.iter().map(|l| l.uri()).collect();
            entity_attribute(&mut w, ENTITY_ATTR_LOA, &uris);
            if *wants_requester_id {
                entity_attribute(&mut w, ENTITY_CATEGORY, &[ENTITY_CATEGORY_REQUESTER_ID]);
            }
        }
        w.close("mdattr:EntityAttributes");
        w.empty(
            "alg:DigestMethod",
            &[("Algorithm", DigestAlg::Sha256.uri())],
        );
        for method in &self.signing_methods {
            w.empty("alg:SigningMethod", &[("Algorithm", method.uri())]);
        }
        w.close("md:Extensions");
        let descriptor = match &self.role {
            NodeRole::Connector { .. } => {
                w.open(
                    "md:SPSSODescriptor",
                    &[
                        ("AuthnRequestsSigned", "true"),
                        ("WantAssertionsSigned", "false"),
                        ("protocolSupportEnumeration", NS_PROTOCOL),
                    ],
                );
                "md:SPSSODescriptor"
            }
            NodeRole::ProxyService { .. } => {
                w.open(
                    "md:IDPSSODescriptor",
                    &[
                        ("WantAuthnRequestsSigned", "true"),
                        ("protocolSupportEnumeration", NS_PROTOCOL),
                    ],
                );
                "md:IDPSSODescriptor"
            }
        };
        key_descriptor(&mut w, "signing", &self.signing_certificate);
        key_descriptor(&mut w, "encryption", &self.encryption_certificate);
        for format in NAME_ID_FORMATS {
            w.leaf("md:NameIDFormat", &[], format);
        }
        match &self.role {
            NodeRole::Connector { acs_url, .. } => w.empty(
                "md:AssertionConsumerService",
                &[
                    ("Binding", BINDING_POST),
                    ("Location", acs_url),
                    ("index", "0"),
                    ("isDefault", "true"),
                ],
            ),
            NodeRole::ProxyService { sso_url, .. } => w.empty(
                "md:SingleSignOnService",
                &[("Binding", BINDING_POST), ("Location", sso_url)],
            ),
        };
        let xml = w.close(descriptor).close("md:EntityDescriptor").finish();
        Ok(crate::dsig::sign_enveloped(
            &xml,
            &id,
            key,
            alg,
            certificate_der,
        )?)
    }

    fn endpoint(&self) -> &str {
        match &self.role {
            NodeRole::Connector { acs_url, .. } => acs_url,
            NodeRole::ProxyService { sso_url, .. } => sso_url,
        }
    }
}

fn entity_attribute(w: &mut XmlWriter, name: &str, values: &[&str]) {
    w.open(
        "saml2:Attribute",
        &[
            ("Name", name),
            ("NameFormat", super::request::NAME_FORMAT_URI),
        ],
    );
    for value in values {
        w.leaf("saml2:AttributeValue", &[], value);
    }
    w.close("saml2:Attribute");
}

fn key_descriptor(w: &mut XmlWriter, usage: &str, der: &[u8]) {
    w.open("md:KeyDescriptor", &[("use", usage)])
        .open("ds:KeyInfo", &[])
        .open("ds:X509Data", &[])
        .leaf("ds:X509Certificate", &[], &STANDARD.encode(der))
        .close("ds:X509Data")
        .close("ds:KeyInfo")
        .close("md:KeyDescriptor");
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
    super::metadata_read::read(xml, anchor, policy, now)
}
