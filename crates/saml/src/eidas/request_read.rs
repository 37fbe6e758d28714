//! [`read`]: a connector's AuthnRequest, verified and checked by our proxy service.

use super::read::{
    MAX_VALUE_BYTES, attr, boolean, eidas, id, issue_instant, issuer_is, saml, samlp, text, version,
};
use super::request::{
    AuthnRequest, NAME_FORMAT_URI, NAME_ID_FORMATS, RequestExpectations, RequestedAttribute,
    minimum_required, provider_name_ok, requester_id_ok,
};
use super::{Comparison, EidasError, NodeRole, SpType, rules};
use crate::dsig::{Expected, verify};
use crate::messages::BINDING_POST;
use crate::xml::{Element, QName};

/// The most requested attributes read.
const MAX_REQUESTED: usize = 64;

/// Verifies the request's signature with the connector's pinned keys, then reads only the
/// verified element.
pub(crate) fn read(
    xml: &str,
    expect: &RequestExpectations<'_>,
) -> Result<AuthnRequest, EidasError> {
    let verified = verify(
        xml,
        Expected::Root(QName::AUTHN_REQUEST),
        &expect.peer.signing_keys,
        expect.policy,
    )?;
    let r = verified.element();
    let NodeRole::Connector {
        acs_url: peer_acs,
        sp_type: peer_sp_type,
    } = &expect.peer.role
    else {
        return Err(EidasError::Rule(rules::NOT_CONNECTOR));
    };
    version(r)?;
    let request_id = id(r)?;
    issue_instant(r, expect.now)?;
    issuer_is(r, &expect.peer.entity_id)?;
    // Required on a signed message sent through the browser (SAML Bindings §3.5.5.2): without it
    // a request signed for another country's proxy service could be replayed here.
    if attr(r, "Destination", "Destination is malformed")? != Some(expect.destination) {
        return Err(EidasError::Rule(rules::DESTINATION));
    }
    if !boolean(r, "ForceAuthn", false, "ForceAuthn is not a boolean")? {
        return Err(EidasError::Rule(rules::FORCE_AUTHN));
    }
    if boolean(r, "IsPassive", false, "IsPassive is not a boolean")? {
        return Err(EidasError::Rule(rules::PASSIVE));
    }
    let provider_name = match r.attr("ProviderName") {
        None => None,
        Some(p) if provider_name_ok(p) => Some(p.to_owned()),
        Some(_) => return Err(EidasError::Rule(rules::PROVIDER_NAME)),
    };
    let acs_url = attr(r, "AssertionConsumerServiceURL", "ACS URL is malformed")?;
    if acs_url.is_some_and(|a| a != peer_acs) {
        return Err(EidasError::Rule(rules::ACS));
    }
    if attr(r, "ProtocolBinding", "ProtocolBinding is malformed")?
        .is_some_and(|b| b != BINDING_POST)
    {
        return Err(EidasError::Rule(rules::BINDING));
    }
    if r.attr("AssertionConsumerServiceIndex").is_some()
        || r.attr("AttributeConsumingServiceIndex").is_some()
    {
        return Err(EidasError::Rule(rules::UNSUPPORTED));
    }
    let allowed = [
        QName::ISSUER,
        QName::SIGNATURE,
        samlp("Extensions"),
        samlp("NameIDPolicy"),
        samlp("RequestedAuthnContext"),
        samlp("Scoping"),
    ];
    if r.children().any(|c| !allowed.iter().any(|a| c.is(*a))) {
        return Err(EidasError::Rule(rules::UNSUPPORTED));
    }
    let extensions = r
        .child(samlp("Extensions"))?
        .ok_or(EidasError::Malformed("Extensions are missing"))?;

    let request_sp_type = sp_type(extensions)?;
    let sp_type = match (request_sp_type, *peer_sp_type) {
        (Some(_), Some(_)) => return Err(EidasError::Rule(rules::SP_TYPE_BOTH)),
        (None, None) => return Err(EidasError::Rule(rules::SP_TYPE_NEITHER)),
        (Some(t), None) | (None, Some(t)) => t,
    };
    let requester_id = requester_id(r, extensions)?;
    let requested = requested_attributes(extensions)?;
    let name_id_format = name_id_policy(r)?;
    let (loa, comparison) = requested_level(r)?;
    Ok(AuthnRequest {
        id: request_id,
        issuer: expect.peer.entity_id.clone(),
        provider_name,
        sp_type,
        requester_id,
        requested,
        loa,
        comparison,
        name_id_format,
        acs_url: acs_url.map(str::to_owned),
    })
}

/// The request's `eidas:SPType`, at most once.
fn sp_type(extensions: Element<'_, '_>) -> Result<Option<SpType>, EidasError> {
    let mut found = extensions.children_named(eidas("SPType"));
    match (found.next(), found.next()) {
        (None, _) => Ok(None),
        (Some(e), None) => SpType::parse(e.text()?.trim())
            .map(Some)
            .ok_or(EidasError::Rule(rules::SP_TYPE_VALUE)),
        (Some(_), Some(_)) => Err(EidasError::Rule(rules::SP_TYPE_VALUE)),
    }
}

/// At most one RequesterID, from `samlp:Scoping/samlp:RequesterID` or an `eidas:RequesterID`
/// extension.
fn requester_id(
    r: Element<'_, '_>,
    extensions: Element<'_, '_>,
) -> Result<Option<String>, EidasError> {
    let mut found: Vec<Element<'_, '_>> = extensions.children_named(eidas("RequesterID")).collect();
    if let Some(scoping) = r.child(samlp("Scoping"))? {
        for child in scoping.children() {
            if child.is(samlp("RequesterID")) {
                found.push(child);
            } else if !child.is(samlp("IDPList")) {
                return Err(EidasError::Rule(rules::UNSUPPORTED));
            }
        }
    }
    match found.as_slice() {
        [] => Ok(None),
        [one] => {
            let value = one.text()?;
            let value = value.trim();
            if requester_id_ok(value) {
                Ok(Some(value.to_owned()))
            } else {
                Err(EidasError::Rule(rules::REQUESTER_ID_VALUE))
            }
        }
        _ => Err(EidasError::Rule(rules::REQUESTER_ID_TWICE)),
    }
}

/// The requested attributes: known names, NameFormat uri, no repeats, and the minimum data set
/// of a natural or a legal person required.
fn requested_attributes(
    extensions: Element<'_, '_>,
) -> Result<Vec<RequestedAttribute>, EidasError> {
    let list = extensions
        .child(eidas("RequestedAttributes"))?
        .ok_or(EidasError::Rule(rules::MINIMUM_DATA_SET))?;
    let mut requested: Vec<RequestedAttribute> = Vec::new();
    for e in list.children() {
        if !e.is(eidas("RequestedAttribute")) {
            return Err(EidasError::Malformed(
                "RequestedAttributes holds a non-RequestedAttribute",
            ));
        }
        if requested.len() == MAX_REQUESTED {
            return Err(EidasError::Rule(rules::ATTR_TOO_MANY));
        }
        let name = e
            .attr("Name")
            .ok_or(EidasError::Malformed("a RequestedAttribute has no Name"))?;
        let def = super::definition(name).ok_or(EidasError::Rule(rules::ATTR_UNKNOWN))?;
        if e.attr("NameFormat").is_some_and(|f| f != NAME_FORMAT_URI) {
            return Err(EidasError::Rule(rules::ATTR_NAME_FORMAT));
        }
        if requested.iter().any(|r| r.name == def.name) {
            return Err(EidasError::Rule(rules::ATTR_TWICE));
        }
        let required = boolean(e, "isRequired", false, "isRequired is not a boolean")?;
        requested.push(RequestedAttribute {
            name: def.name.to_owned(),
            required,
        });
    }
    if !minimum_required(&requested, &super::NATURAL_MINIMUM)
        && !minimum_required(&requested, &super::LEGAL_MINIMUM)
    {
        return Err(EidasError::Rule(rules::MINIMUM_DATA_SET));
    }
    Ok(requested)
}

/// `NameIDPolicy@Format`, if any: persistent, transient or unspecified.
fn name_id_policy(r: Element<'_, '_>) -> Result<Option<String>, EidasError> {
    let Some(policy) = r.child(samlp("NameIDPolicy"))? else {
        return Ok(None);
    };
    boolean(policy, "AllowCreate", false, "AllowCreate is not a boolean")?;
    match policy.attr("Format") {
        None => Ok(None),
        Some(f) if NAME_ID_FORMATS.contains(&f) => Ok(Some(f.to_owned())),
        Some(_) => Err(EidasError::Rule(rules::NAME_ID_POLICY)),
    }
}

/// Exactly one notified level; `minimum` or `exact` (absent: `exact`); no non-notified level.
fn requested_level(r: Element<'_, '_>) -> Result<(super::EidasLoa, Comparison), EidasError> {
    let context = r
        .child(samlp("RequestedAuthnContext"))?
        .ok_or(EidasError::Rule(rules::LOA_COUNT))?;
    let refs: Vec<Element<'_, '_>> = context.children().collect();
    if refs.iter().any(|c| !c.is(saml("AuthnContextClassRef"))) {
        return Err(EidasError::Rule(rules::LOA_UNKNOWN));
    }
    let uris = refs
        .iter()
        .map(|c| {
            text(
                *c,
                "AuthnContextClassRef is not a bounded text",
                MAX_VALUE_BYTES,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    if uris.iter().any(|u| super::loa::is_not_notified(u)) {
        return Err(EidasError::Rule(rules::LOA_NOT_NOTIFIED));
    }
    let [uri] = uris.as_slice() else {
        return Err(EidasError::Rule(rules::LOA_COUNT));
    };
    let loa = super::loa::read_level(uri)?;
    let comparison = match context.attr("Comparison") {
        None | Some("exact") => Comparison::Exact,
        Some("minimum") => Comparison::Minimum,
        Some(_) => return Err(EidasError::Rule(rules::COMPARISON)),
    };
    Ok((loa, comparison))
}
