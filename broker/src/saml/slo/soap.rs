//! The SOAP binding of single logout (SAML Bindings §3.2): the envelope, and the back-channel
//! LogoutRequest to a service that registered a SOAP endpoint.

use eid_saml::NAMEID_PERSISTENT;
use eid_saml::dsig::{AlgorithmPolicy, Expected, PinnedKeys, sign_enveloped, verify};
use eid_saml::messages::{
    BINDING_SOAP, LogoutRequestOut, LogoutResponse, MessageError, NameId, StatusCode,
    new_message_id,
};
use eid_saml::person_name_id;
use eid_saml::xml::{Document, QName};

use super::super::idp::{SIGNATURE_ALG, signing_key};
use super::super::{SsoRejection, entity_id};
use super::REQUEST_VALIDITY;
use crate::core::SsoSession;
use crate::core::release::subject_for;
use crate::registry::RegisteredSp;
use crate::state::Broker;

/// The SOAP 1.1 envelope namespace (SAML Bindings §3.2).
pub const NS_SOAP: &str = "http://schemas.xmlsoap.org/soap/envelope/";

/// The single element child of a SOAP envelope's `Body` (serialised to stand alone), which must
/// be `expected`.
pub(crate) fn soap_body(xml: &str, expected: QName) -> Result<String, SsoRejection> {
    let malformed = || SsoRejection::Message(MessageError::Malformed);
    let doc = Document::parse(xml).map_err(|_| malformed())?;
    let envelope = doc.root();
    if !envelope.is(QName::new(NS_SOAP, "Envelope")) {
        return Err(SsoRejection::Message(MessageError::UnexpectedRoot(
            "soap:Envelope",
        )));
    }
    let mut bodies = envelope.children_named(QName::new(NS_SOAP, "Body"));
    let body = bodies.next().ok_or(malformed())?;
    if bodies.next().is_some() {
        return Err(SsoRejection::Message(MessageError::DuplicateElement(
            "soap:Body",
        )));
    }
    let mut children = body.children();
    let (Some(message), None) = (children.next(), children.next()) else {
        return Err(malformed());
    };
    if !message.is(expected) {
        return Err(SsoRejection::Message(MessageError::UnexpectedRoot(
            "SAML message",
        )));
    }
    Ok(message.to_xml())
}

/// Wraps a message in a SOAP 1.1 envelope.
pub fn soap_envelope(message: &str) -> String {
    let message = match message.strip_prefix("<?xml") {
        Some(rest) => rest.split_once("?>").map_or(message, |(_, m)| m),
        None => message,
    };
    format!(
        r#"<soap11:Envelope xmlns:soap11="{NS_SOAP}"><soap11:Body>{}</soap11:Body></soap11:Envelope>"#,
        message.trim_start()
    )
}

/// Whether `sp` registered a SOAP single logout endpoint.
pub fn has_soap(sp: &RegisteredSp) -> bool {
    sp.sp.slo.iter().any(|e| e.binding == BINDING_SOAP)
}

/// Sends a signed LogoutRequest by SOAP to a service of `session` that registered a SOAP SLO
/// endpoint; whether it answered with a signed `Success` LogoutResponse to it. A service without
/// one is not reached here (the browser may reach it: [`super::front`]).
pub async fn notify_sp(broker: &Broker, sp: &RegisteredSp, session: &SsoSession) -> bool {
    let Some(endpoint) = sp.sp.slo.iter().find(|e| e.binding == BINDING_SOAP) else {
        return false;
    };
    let now = broker.clock.now();
    let out = LogoutRequestOut {
        id: new_message_id(),
        issue_instant: now,
        destination: endpoint.location.clone(),
        not_on_or_after: now + REQUEST_VALIDITY,
        issuer: entity_id(broker),
        name_id: NameId {
            value: person_name_id(&subject_for(&sp.rp, session, &broker.pairwise)),
            format: Some(NAMEID_PERSISTENT.to_owned()),
            name_qualifier: None,
            sp_name_qualifier: None,
        },
        session_index: session.sid_for(&sp.rp.id),
    };
    let Ok((key, certificate)) = signing_key(broker) else {
        return false;
    };
    let Ok(signed) = sign_enveloped(&out.to_xml(), &out.id, &key, SIGNATURE_ALG, &certificate)
    else {
        return false;
    };
    let reply = tokio::time::timeout(
        crate::adapters::BACKCHANNEL_TIMEOUT,
        broker
            .logout
            .deliver_soap(&endpoint.location, &soap_envelope(&signed)),
    )
    .await
    .ok()
    .flatten()
    .filter(|body| acknowledged(sp, &out.id, body));
    // Kept as evidence: our request, and the service's verified answer.
    crate::saml::evidence::soap_logout(broker, &sp.rp.id, session, &out, &signed, reply.as_deref());
    reply.is_some()
}

/// Whether a SOAP reply holds a LogoutResponse signed by `sp` to our request `request_id`, with
/// status `Success`.
fn acknowledged(sp: &RegisteredSp, request_id: &str, body: &str) -> bool {
    if body.len() > eid_saml::messages::MAX_MESSAGE_BYTES {
        return false;
    }
    let Ok(xml) = soap_body(body, QName::LOGOUT_RESPONSE) else {
        return false;
    };
    let Ok(keys) =
        PinnedKeys::from_certificates(sp.sp.signing_certificates.iter().map(Vec::as_slice))
    else {
        return false;
    };
    let Ok(verified) = verify(
        &xml,
        Expected::Root(QName::LOGOUT_RESPONSE),
        &keys,
        &AlgorithmPolicy::default(),
    ) else {
        return false;
    };
    LogoutResponse::parse(&verified.element().to_xml()).is_ok_and(|r| {
        r.issuer == sp.rp.id
            && r.in_response_to.as_deref() == Some(request_id)
            && r.status == Some(StatusCode::Success)
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const REQUEST: &str =
        r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_1"/>"#;

    #[test]
    fn the_soap_body_must_hold_exactly_one_expected_message() {
        let one = soap_envelope(REQUEST);
        let read = soap_body(&one, QName::LOGOUT_REQUEST).unwrap();
        assert!(read.contains("LogoutRequest"));
        assert!(
            soap_body(&one, QName::LOGOUT_RESPONSE).is_err(),
            "another message"
        );
        let two = soap_envelope(&format!("{REQUEST}{REQUEST}"));
        assert!(
            soap_body(&two, QName::LOGOUT_REQUEST).is_err(),
            "two messages"
        );
        let bodies = format!(
            r#"<s:Envelope xmlns:s="{NS_SOAP}"><s:Body>{REQUEST}</s:Body><s:Body/></s:Envelope>"#
        );
        assert!(
            soap_body(&bodies, QName::LOGOUT_REQUEST).is_err(),
            "two bodies"
        );
        assert!(
            soap_body(REQUEST, QName::LOGOUT_REQUEST).is_err(),
            "no envelope"
        );
        let doctype = format!("<!DOCTYPE x [<!ENTITY e \"e\">]>{one}");
        assert!(soap_body(&doctype, QName::LOGOUT_REQUEST).is_err(), "a DTD");
    }

    #[test]
    fn the_envelope_drops_an_xml_declaration() {
        let wrapped = soap_envelope(&format!("<?xml version=\"1.0\"?>\n{REQUEST}"));
        assert!(!wrapped.contains("<?xml"));
        assert!(soap_body(&wrapped, QName::LOGOUT_REQUEST).is_ok());
    }
}
