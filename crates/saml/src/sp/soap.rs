//! The SOAP binding as an SP meets it (SAML Bindings §3.2): the IdP's back-channel LogoutRequest
//! in a SOAP 1.1 envelope, and our answer in one.

use super::SpError;
use crate::dsig::{AlgorithmPolicy, Expected, PinnedKeys, verify};
use crate::messages::{LogoutRequest, MAX_MESSAGE_BYTES, MessageError};
use crate::xml::{Document, QName};

/// The SOAP 1.1 envelope namespace.
pub const NS_SOAP: &str = "http://schemas.xmlsoap.org/soap/envelope/";

/// Wraps a message (without an XML declaration) in a SOAP 1.1 envelope.
pub fn envelope(message: &str) -> String {
    let message = match message.strip_prefix("<?xml") {
        Some(rest) => rest.split_once("?>").map_or(message, |(_, m)| m),
        None => message,
    };
    format!(
        r#"<soap11:Envelope xmlns:soap11="{NS_SOAP}"><soap11:Body>{}</soap11:Body></soap11:Envelope>"#,
        message.trim_start()
    )
}

/// The one element in the envelope's one `Body`, which must be `expected`, serialised to stand
/// alone (its signature is then checked on that serialisation only).
pub fn body_message(xml: &str, expected: QName) -> Result<String, SpError> {
    if xml.len() > MAX_MESSAGE_BYTES {
        return Err(MessageError::TooLarge.into());
    }
    let doc = Document::parse(xml)?;
    let envelope = doc.root();
    if !envelope.is(QName::new(NS_SOAP, "Envelope")) {
        return Err(MessageError::UnexpectedRoot("soap:Envelope").into());
    }
    let mut bodies = envelope.children_named(QName::new(NS_SOAP, "Body"));
    let (Some(body), None) = (bodies.next(), bodies.next()) else {
        return Err(MessageError::MissingElement("soap:Body").into());
    };
    let mut children = body.children();
    match (children.next(), children.next()) {
        (Some(message), None) if message.is(expected) => Ok(message.to_xml()),
        _ => Err(MessageError::UnexpectedRoot("SAML message").into()),
    }
}

/// The IdP's LogoutRequest from a SOAP envelope: signed (enveloped) by a pinned IdP key, read from
/// the signed element only, issued by `idp_entity_id`. Freshness and destination are the caller's
/// ([`LogoutRequest::check`]).
pub fn logout_request(
    xml: &str,
    idp: &PinnedKeys,
    idp_entity_id: &str,
) -> Result<LogoutRequest, SpError> {
    let message = body_message(xml, QName::LOGOUT_REQUEST)?;
    let verified = verify(
        &message,
        Expected::Root(QName::LOGOUT_REQUEST),
        idp,
        &AlgorithmPolicy::default(),
    )?;
    let request = LogoutRequest::parse(&verified.element().to_xml())?;
    if request.issuer != idp_entity_id {
        return Err(SpError::WrongIssuer);
    }
    Ok(request)
}
