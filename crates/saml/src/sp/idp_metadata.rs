//! Reading an IdP's signed metadata: its entity ID, SSO and SLO endpoints (HTTP-Redirect) and the
//! signing certificates its messages are verified with.

use super::SpError;
use crate::dsig::{AlgorithmPolicy, Expected, PinnedKeys, verify};
use crate::messages::xml::{instant_attr, is, parse_document, req_attr, root};
use crate::messages::{BINDING_REDIRECT, NS_PROTOCOL};
use crate::metadata::{
    MAX_METADATA_BYTES, MetadataError, NS_METADATA, certificates, children, location,
};
use crate::xml::QName;
use time::OffsetDateTime;

/// The most endpoints of one kind, and the most keys, we read.
const MAX_ENDPOINTS: usize = 16;
const MAX_KEYS: usize = 8;

/// What an SP needs of an IdP, read from its metadata after the signature was checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdpDescriptor {
    /// `entityID`: the `Issuer` of everything it sends.
    pub entity_id: String,
    /// `validUntil`, if given.
    pub valid_until: Option<OffsetDateTime>,
    /// The SSO endpoint of the HTTP-Redirect binding.
    pub sso_redirect: String,
    /// The SLO endpoint of the HTTP-Redirect binding, if any.
    pub slo_redirect: Option<String>,
    /// The signing certificates (DER): the only keys its messages verify with.
    pub signing_certificates: Vec<Vec<u8>>,
}

impl IdpDescriptor {
    /// Reads signed IdP metadata. The `EntityDescriptor` must carry an enveloped signature by one
    /// of the `anchor` keys, or, without an anchor, by one of the signing certificates it names
    /// (then trust comes from where the document was fetched, e.g. a configured HTTPS URL, and
    /// the signature only proves the document whole). Only the signed element is read, and its
    /// `validUntil` must lie after `now`.
    pub fn parse_signed(
        xml: &str,
        anchor: Option<&PinnedKeys>,
        now: OffsetDateTime,
    ) -> Result<IdpDescriptor, SpError> {
        let own_keys;
        let keys = match anchor {
            Some(keys) => keys,
            None => {
                let unverified = read(xml)?;
                own_keys = PinnedKeys::from_certificates(
                    unverified.signing_certificates.iter().map(Vec::as_slice),
                )?;
                &own_keys
            }
        };
        let verified = verify(
            xml,
            Expected::Root(QName::new(NS_METADATA, "EntityDescriptor")),
            keys,
            &AlgorithmPolicy::default(),
        )?;
        let descriptor = read(&verified.element().to_xml())?;
        if descriptor.valid_until.is_some_and(|t| now >= t) {
            return Err(SpError::Metadata(MetadataError::Expired));
        }
        Ok(descriptor)
    }
}

/// Reads the descriptor without looking at any signature.
fn read(xml: &str) -> Result<IdpDescriptor, SpError> {
    let doc = parse_document(xml, MAX_METADATA_BYTES)?;
    let entity = root(&doc, NS_METADATA, "EntityDescriptor")?;
    let entity_id = req_attr(entity, "entityID")?;
    let mut idps = entity.children().filter(|c| {
        is(*c, NS_METADATA, "IDPSSODescriptor")
            && c.attribute("protocolSupportEnumeration")
                .is_some_and(|p| p.split_ascii_whitespace().any(|t| t == NS_PROTOCOL))
    });
    let (Some(idp), None) = (idps.next(), idps.next()) else {
        return Err(SpError::NoIdpDescriptor);
    };
    let valid_until = match (
        instant_attr(entity, "validUntil")?,
        instant_attr(idp, "validUntil")?,
    ) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let mut signing_certificates = Vec::new();
    for key in children(idp, "KeyDescriptor", MAX_KEYS)? {
        match key.attribute("use") {
            None | Some("signing") => signing_certificates.extend(certificates(key)?),
            Some("encryption") => {}
            Some(_) => return Err(SpError::Metadata(MetadataError::BadKeyUse)),
        }
    }
    if signing_certificates.is_empty() {
        return Err(SpError::Metadata(MetadataError::NoSigningCertificate));
    }
    let redirect = |local: &'static str| -> Result<Option<String>, SpError> {
        for node in children(idp, local, MAX_ENDPOINTS)? {
            if node.attribute("Binding") == Some(BINDING_REDIRECT) {
                return Ok(location(node, "Location", local)?);
            }
        }
        Ok(None)
    };
    let sso_redirect = redirect("SingleSignOnService")?.ok_or(SpError::NoIdpDescriptor)?;
    Ok(IdpDescriptor {
        entity_id,
        valid_until,
        sso_redirect,
        slo_redirect: redirect("SingleLogoutService")?,
        signing_certificates,
    })
}
