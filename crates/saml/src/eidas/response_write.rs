//! [`write`]: our proxy service's Response: the assertion written to stand alone, signed when
//! asked, encrypted to the connector; then the Response around it, signed.

use super::request::NAME_FORMAT_URI;
use super::response::{
    AssertionOut, ResponseKeys, ResponseOut, ResponseOutcome, Status, TopStatus,
};
use super::{EidasError, NS_LEGAL_TYPES, NS_NATURAL_TYPES};
use crate::dsig::sign_enveloped;
use crate::enc::encrypt_element;
use crate::messages::writer::{XmlWriter, instant};
use crate::messages::{NAMEID_ENTITY, NS_ASSERTION, NS_PROTOCOL};

/// The bearer subject confirmation method.
pub(crate) const CM_BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
/// The XML Schema instance namespace (`xsi:type`).
pub(crate) const NS_XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
/// The longest `StatusMessage` written.
const MAX_STATUS_MESSAGE_CHARS: usize = 256;

fn bad(what: &str) -> EidasError {
    EidasError::Write(format!("Response: {what}"))
}

pub(crate) fn write(r: &ResponseOut, keys: &ResponseKeys<'_>) -> Result<String, EidasError> {
    let (status, encrypted) = match &r.outcome {
        ResponseOutcome::Success(a) => {
            let assertion = assertion_xml(r, a)?;
            let assertion = if keys.sign_assertion {
                sign_enveloped(
                    &assertion,
                    &a.id,
                    keys.signing,
                    keys.alg,
                    keys.certificate_der,
                )?
            } else {
                assertion
            };
            let encrypted = encrypt_element(&assertion, keys.recipient, keys.encryption)?;
            let success = Status {
                top: TopStatus::Success,
                sub: None,
                message: None,
            };
            (success, Some(encrypted))
        }
        ResponseOutcome::Failure(status) if status.top == TopStatus::Success => {
            return Err(bad("a failure with the Success status"));
        }
        ResponseOutcome::Failure(status) => (status.clone(), None),
    };
    let issued = instant(r.issue_instant);
    let mut w = XmlWriter::new();
    w.open(
        "saml2p:Response",
        &[
            ("xmlns:saml2p", NS_PROTOCOL),
            ("xmlns:saml2", NS_ASSERTION),
            ("ID", &r.id),
            ("InResponseTo", &r.in_response_to),
            ("Version", "2.0"),
            ("IssueInstant", &issued),
            ("Destination", &r.destination),
        ],
    )
    .leaf("saml2:Issuer", &[("Format", NAMEID_ENTITY)], &r.issuer);
    write_status(&mut w, &status)?;
    if let Some(encrypted) = encrypted {
        w.raw(&encrypted);
    }
    let xml = w.close("saml2p:Response").finish();
    Ok(sign_enveloped(
        &xml,
        &r.id,
        keys.signing,
        keys.alg,
        keys.certificate_der,
    )?)
}

fn write_status(w: &mut XmlWriter, status: &Status) -> Result<(), EidasError> {
    w.open("saml2p:Status", &[]);
    match status.sub {
        None => {
            w.empty("saml2p:StatusCode", &[("Value", status.top.uri())]);
        }
        Some(sub) => {
            let sub = sub
                .uri()
                .ok_or_else(|| bad("a second-level status without a URI"))?;
            w.open("saml2p:StatusCode", &[("Value", status.top.uri())])
                .empty("saml2p:StatusCode", &[("Value", sub)])
                .close("saml2p:StatusCode");
        }
    }
    if let Some(message) = &status.message {
        let message: String = message.chars().take(MAX_STATUS_MESSAGE_CHARS).collect();
        w.leaf("saml2p:StatusMessage", &[], &message);
    }
    w.close("saml2p:Status");
    Ok(())
}

/// The assertion as a document of its own: every namespace it uses (including those only named
/// in `xsi:type` values) is declared on it.
fn assertion_xml(r: &ResponseOut, a: &AssertionOut) -> Result<String, EidasError> {
    if a.attributes.is_empty() {
        return Err(bad("an assertion without attributes"));
    }
    let issued = instant(r.issue_instant);
    let not_on_or_after = instant(a.not_on_or_after);
    let mut w = XmlWriter::new();
    w.open(
        "saml2:Assertion",
        &[
            ("xmlns:saml2", NS_ASSERTION),
            ("xmlns:xsi", NS_XSI),
            ("xmlns:eidas-natural", NS_NATURAL_TYPES),
            ("xmlns:eidas-legal", NS_LEGAL_TYPES),
            ("ID", &a.id),
            ("Version", "2.0"),
            ("IssueInstant", &issued),
        ],
    )
    .leaf("saml2:Issuer", &[("Format", NAMEID_ENTITY)], &r.issuer)
    .open("saml2:Subject", &[])
    .leaf("saml2:NameID", &[("Format", &a.name_id_format)], &a.name_id)
    .open("saml2:SubjectConfirmation", &[("Method", CM_BEARER)])
    .empty(
        "saml2:SubjectConfirmationData",
        &[
            ("InResponseTo", &r.in_response_to),
            ("NotOnOrAfter", &not_on_or_after),
            ("Recipient", &a.recipient),
        ],
    )
    .close("saml2:SubjectConfirmation")
    .close("saml2:Subject")
    .open(
        "saml2:Conditions",
        &[("NotBefore", &issued), ("NotOnOrAfter", &not_on_or_after)],
    )
    .open("saml2:AudienceRestriction", &[])
    .leaf("saml2:Audience", &[], &a.audience)
    .close("saml2:AudienceRestriction")
    .close("saml2:Conditions")
    .open(
        "saml2:AuthnStatement",
        &[("AuthnInstant", &instant(a.authn_instant))],
    )
    .open("saml2:AuthnContext", &[])
    .leaf("saml2:AuthnContextClassRef", &[], a.loa.uri())
    .close("saml2:AuthnContext")
    .close("saml2:AuthnStatement")
    .open("saml2:AttributeStatement", &[]);
    for attribute in &a.attributes {
        let def = super::definition(&attribute.name)
            .ok_or_else(|| bad("an attribute that is not an eIDAS attribute"))?;
        if attribute.values.is_empty() {
            return Err(bad("an attribute without values"));
        }
        w.open(
            "saml2:Attribute",
            &[
                ("FriendlyName", def.friendly),
                ("Name", def.name),
                ("NameFormat", NAME_FORMAT_URI),
            ],
        );
        let latin_attr = if def.legal {
            "eidas-legal:LatinScript"
        } else {
            "eidas-natural:LatinScript"
        };
        for value in &attribute.values {
            if value.latin_script {
                w.leaf(
                    "saml2:AttributeValue",
                    &[("xsi:type", def.xsi_type)],
                    &value.value,
                );
            } else {
                w.leaf(
                    "saml2:AttributeValue",
                    &[("xsi:type", def.xsi_type), (latin_attr, "false")],
                    &value.value,
                );
            }
        }
        w.close("saml2:Attribute");
    }
    Ok(w.close("saml2:AttributeStatement")
        .close("saml2:Assertion")
        .finish())
}
