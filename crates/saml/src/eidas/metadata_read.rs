//! [`read`]: a peer's eIDAS metadata, read only from the element its signature covers.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use time::OffsetDateTime;

use super::metadata::{ENTITY_CATEGORY, NS_MDATTR};
use super::read::{MAX_VALUE_BYTES, attr, eidas, instant, text};
use super::{
    ENTITY_ATTR_LOA, ENTITY_ATTR_PROTOCOL_VERSION, ENTITY_CATEGORY_REQUESTER_ID, EidasError,
    EidasLoa, NodeRole, PeerMetadata, SpType, rules,
};
use crate::dsig::{AlgorithmPolicy, Expected, PinnedKeys, verify};
use crate::messages::{BINDING_POST, NS_PROTOCOL};
use crate::metadata::{MAX_METADATA_BYTES, NS_DSIG, NS_METADATA};
use crate::xml::{Element, QName, ns};

/// The most keys, endpoints and entity-attribute values read.
const MAX_KEYS: usize = 8;
const MAX_ENDPOINTS: usize = 16;
const MAX_VALUES: usize = 32;
/// The longest base64 certificate.
const MAX_CERT_BASE64: usize = 16 * 1024;

fn md(local: &'static str) -> QName {
    QName::new(NS_METADATA, local)
}

fn ds(local: &'static str) -> QName {
    QName::new(NS_DSIG, local)
}

/// ISO 3166-1 alpha-2 as eIDAS writes it: two upper-case ASCII letters.
pub(crate) fn is_country(s: &str) -> bool {
    s.len() == 2 && s.bytes().all(|b| b.is_ascii_uppercase())
}

/// An endpoint: absolute `https://`, or `http://` to a loopback host; no fragment, no
/// whitespace or control characters, bounded.
pub(crate) fn endpoint_ok(url: &str) -> bool {
    let loopback = ["http://localhost", "http://127.0.0.1", "http://[::1]"]
        .iter()
        .any(|p| {
            url.strip_prefix(p)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with([':', '/']))
        });
    let https = url
        .strip_prefix("https://")
        .is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/'));
    (https || loopback)
        && url.len() <= MAX_VALUE_BYTES
        && !url.contains(['#', '@'])
        && !url.chars().any(|c| c.is_whitespace() || c.is_control())
}

pub(crate) fn read(
    xml: &str,
    anchor: &PinnedKeys,
    policy: &AlgorithmPolicy,
    now: OffsetDateTime,
) -> Result<PeerMetadata, EidasError> {
    if xml.len() > MAX_METADATA_BYTES {
        return Err(crate::xml::XmlError::TooLarge {
            max: MAX_METADATA_BYTES,
        }
        .into());
    }
    let verified = verify(xml, Expected::Root(md("EntityDescriptor")), anchor, policy)?;
    let entity = verified.element();
    let entity_id = attr(entity, "entityID", "entityID is malformed")?
        .ok_or(EidasError::Malformed("entityID is missing"))?
        .to_owned();
    let mut descriptors = entity.children().filter(|c| {
        (c.is(md("SPSSODescriptor")) || c.is(md("IDPSSODescriptor")))
            && c.attr("protocolSupportEnumeration")
                .is_some_and(|p| p.split_ascii_whitespace().any(|t| t == NS_PROTOCOL))
    });
    let (Some(descriptor), None) = (descriptors.next(), descriptors.next()) else {
        return Err(EidasError::Rule(rules::DESCRIPTOR));
    };
    // Required on the EntityDescriptor; a descriptor's own validUntil can only shorten it.
    let valid_until = instant(entity, "validUntil", "validUntil is not a dateTime")?
        .ok_or(EidasError::Rule(rules::VALID_UNTIL))?;
    let valid_until = match instant(descriptor, "validUntil", "validUntil is not a dateTime")? {
        Some(t) => valid_until.min(t),
        None => valid_until,
    };
    if now >= valid_until {
        return Err(EidasError::Expired("the metadata is past its validUntil"));
    }
    let extensions: Vec<Element<'_, '_>> = [entity, descriptor]
        .into_iter()
        .filter_map(|e| e.child(md("Extensions")).transpose())
        .collect::<Result<_, _>>()?;
    let node_country = single_text(&extensions, eidas("NodeCountry"))?
        .filter(|c| is_country(c))
        .ok_or(EidasError::Rule(rules::NODE_COUNTRY))?;
    let sp_type = match single_text(&extensions, eidas("SPType"))? {
        None => None,
        Some(t) => Some(SpType::parse(&t).ok_or(EidasError::Rule(rules::SP_TYPE_VALUE))?),
    };
    let entity_attributes = entity_attributes(&extensions)?;
    let values = |name: &str| -> Vec<String> {
        entity_attributes
            .iter()
            .filter(|(n, _)| n == name)
            .flat_map(|(_, v)| v.iter().cloned())
            .collect()
    };
    let protocol_versions = values(ENTITY_ATTR_PROTOCOL_VERSION);
    let role = if descriptor.is(md("SPSSODescriptor")) {
        NodeRole::Connector {
            acs_url: endpoint(descriptor, md("AssertionConsumerService"))?,
            sp_type,
        }
    } else {
        NodeRole::ProxyService {
            sso_url: endpoint(descriptor, md("SingleSignOnService"))?,
            loas: values(ENTITY_ATTR_LOA)
                .iter()
                .filter_map(|u| EidasLoa::from_uri(u))
                .collect(),
            wants_requester_id: values(ENTITY_CATEGORY)
                .iter()
                .any(|v| v == ENTITY_CATEGORY_REQUESTER_ID),
        }
    };
    let (signing, encryption) = keys(descriptor)?;
    if signing.is_empty() {
        return Err(EidasError::Rule(rules::NO_SIGNING_KEY));
    }
    let signing_keys = PinnedKeys::from_certificates(signing.iter().map(Vec::as_slice))
        .map_err(|_| EidasError::Rule(rules::CERTIFICATE))?;
    Ok(PeerMetadata {
        entity_id,
        node_country,
        role,
        signing_keys,
        encryption_certificate: encryption.into_iter().next(),
        valid_until,
        protocol_versions,
    })
}

/// The text of the one element `name` among the extensions' children (none: `None`; several:
/// an error).
fn single_text(extensions: &[Element<'_, '_>], name: QName) -> Result<Option<String>, EidasError> {
    let found: Vec<Element<'_, '_>> = extensions
        .iter()
        .flat_map(|e| e.children_named(name))
        .collect();
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(text(*one, "an extension is not a bounded text", 64)?)),
        _ => Err(EidasError::Malformed("an extension occurs twice")),
    }
}

/// `mdattr:EntityAttributes/saml:Attribute`s: (name, values).
fn entity_attributes(
    extensions: &[Element<'_, '_>],
) -> Result<Vec<(String, Vec<String>)>, EidasError> {
    let mut out = Vec::new();
    let mut count = 0usize;
    for list in extensions
        .iter()
        .flat_map(|e| e.children_named(QName::new(NS_MDATTR, "EntityAttributes")))
    {
        for attribute in list.children_named(QName::new(ns::SAML, "Attribute")) {
            let name = attr(attribute, "Name", "an entity attribute Name is malformed")?
                .ok_or(EidasError::Malformed("an entity attribute has no Name"))?;
            let mut values = Vec::new();
            for value in attribute.children_named(QName::new(ns::SAML, "AttributeValue")) {
                count += 1;
                if count > MAX_VALUES {
                    return Err(EidasError::Malformed("too many entity attribute values"));
                }
                values.push(text(
                    value,
                    "an entity attribute value is not a bounded text",
                    MAX_VALUE_BYTES,
                )?);
            }
            out.push((name.to_owned(), values));
        }
    }
    Ok(out)
}

/// The HTTP-POST endpoint `name` (the default one if several), at an acceptable URL.
fn endpoint(descriptor: Element<'_, '_>, name: QName) -> Result<String, EidasError> {
    let all: Vec<Element<'_, '_>> = descriptor.children_named(name).collect();
    if all.len() > MAX_ENDPOINTS {
        return Err(EidasError::Malformed("too many endpoints"));
    }
    let post: Vec<&Element<'_, '_>> = all
        .iter()
        .filter(|e| e.attr("Binding") == Some(BINDING_POST))
        .collect();
    let chosen = post
        .iter()
        .find(|e| matches!(e.attr("isDefault"), Some("true" | "1")))
        .or(post.first())
        .ok_or(EidasError::Rule(rules::ENDPOINT))?;
    match chosen.attr("Location") {
        Some(url) if endpoint_ok(url) => Ok(url.to_owned()),
        _ => Err(EidasError::Rule(rules::ENDPOINT)),
    }
}

/// The signing and encryption certificates (DER) of the descriptor's KeyDescriptors.
type Certificates = (Vec<Vec<u8>>, Vec<Vec<u8>>);

fn keys(descriptor: Element<'_, '_>) -> Result<Certificates, EidasError> {
    let mut signing = Vec::new();
    let mut encryption = Vec::new();
    let mut count = 0usize;
    for key in descriptor.children_named(md("KeyDescriptor")) {
        let (sign, encrypt) = match key.attr("use") {
            None => (true, true),
            Some("signing") => (true, false),
            Some("encryption") => (false, true),
            Some(_) => return Err(EidasError::Rule(rules::KEY_USE)),
        };
        for info in key.children_named(ds("KeyInfo")) {
            for data in info.children_named(ds("X509Data")) {
                for cert in data.children_named(ds("X509Certificate")) {
                    count += 1;
                    if count > MAX_KEYS {
                        return Err(EidasError::Malformed("too many certificates"));
                    }
                    let der = certificate(cert)?;
                    if sign {
                        signing.push(der.clone());
                    }
                    if encrypt {
                        encryption.push(der);
                    }
                }
            }
        }
    }
    Ok((signing, encryption))
}

fn certificate(cert: Element<'_, '_>) -> Result<Vec<u8>, EidasError> {
    let b64 = text(cert, "a certificate is not a bounded text", MAX_CERT_BASE64)?;
    let compact: String = b64.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let der = STANDARD
        .decode(compact)
        .map_err(|_| EidasError::Rule(rules::CERTIFICATE))?;
    use x509_parser::prelude::FromDer as _;
    match x509_parser::certificate::X509Certificate::from_der(&der) {
        Ok(([], _)) => Ok(der),
        _ => Err(EidasError::Rule(rules::CERTIFICATE)),
    }
}
