//! The Response to a verified AuthnRequest: one assertion about the session's person, signed and
//! then encrypted for the service (OIOSAML 3), or a status saying why not; carried by an
//! auto-submitting form to the ACS from the service's metadata.

use eid_core::AuditOutcome;
use eid_saml::attributes;
use eid_saml::binding::{MessageKind, PostForm, RelayState};
use eid_saml::dsig::sign_enveloped;
use eid_saml::enc::{RecipientKey, encrypt_element};
use eid_saml::messages::{
    Assertion, AssertionAttribute, EncryptedAssertion, Response, StatusCode, new_message_id,
};
use time::OffsetDateTime;

use super::idp::{SIGNATURE_ALG, signing_key};
use super::{ASSERTION_TTL, PostPage, SamlRequest, entity_id};
use crate::core::SsoSession;
use crate::core::release::{Released, ReleasedAttribute, release};
use crate::login::Refusal;
use crate::login::represent::{audit_use, use_events};
use crate::oidc::BrokerError;
use crate::registry::RegisteredSp;
use crate::state::Broker;
use eid_core::Mandate;

fn keys_error(e: impl std::fmt::Display) -> BrokerError {
    BrokerError::Keys(e.to_string())
}

/// The form posting `xml` (a Response) to the request's ACS with its RelayState.
fn page(req: &SamlRequest, xml: &str) -> PostPage {
    // The RelayState was bounded when the request was received; a stored one that no longer
    // passes is dropped rather than echoed.
    let relay = req
        .relay_state
        .as_deref()
        .and_then(|r| RelayState::new(r).ok());
    PostPage {
        form: PostForm::new(&req.acs, MessageKind::Response, xml, relay.as_ref()),
        lang: req.lang,
    }
}

fn envelope(broker: &Broker, req: &SamlRequest, now: OffsetDateTime) -> Response {
    Response {
        id: new_message_id(),
        in_response_to: req.request_id.clone(),
        issue_instant: now,
        destination: req.acs.clone(),
        issuer: entity_id(broker),
    }
}

/// A Response with a failure `status` (no assertion).
pub fn failure(broker: &Broker, req: &SamlRequest, status: StatusCode) -> PostPage {
    let xml = envelope(broker, req, broker.clock.now()).failure_xml(status);
    page(req, &xml)
}

/// The status that tells the service why a login ended without an assertion.
pub fn status_of(refusal: Refusal) -> StatusCode {
    match refusal {
        Refusal::Cancelled | Refusal::NotCompleted => StatusCode::AuthnFailed,
        Refusal::LevelNotReached => StatusCode::NoAuthnContext,
        Refusal::NoUpstream | Refusal::MandateWithdrawn | Refusal::CprRequired => {
            StatusCode::RequestDenied
        }
        Refusal::Unavailable => StatusCode::Responder,
    }
}

/// Answers with a refusal.
pub fn refuse(
    broker: &Broker,
    req: &SamlRequest,
    refusal: Refusal,
) -> Result<PostPage, BrokerError> {
    Ok(failure(broker, req, status_of(refusal)))
}

/// The OIOSAML attributes of a release (after `specVersion` and `nsis/loa`, which the assertion
/// always writes first).
fn attributes_of(released: &Released) -> Vec<AssertionAttribute> {
    let one = |name: &str, value: &str| AssertionAttribute {
        name: name.to_owned(),
        values: vec![value.to_owned()],
    };
    // The upstream proves a level as a whole: identity proofing and authenticator at that level.
    let level = released.level.as_word();
    let mut out = vec![
        one(attributes::NSIS_IAL, level),
        one(attributes::NSIS_AAL, level),
    ];
    let a = &released.attributes;
    if let Some(given) = &a.given_name {
        out.push(one(attributes::FIRST_NAME, given));
    }
    if let Some(family) = &a.family_name {
        out.push(one(attributes::LAST_NAME, family));
    }
    if let (Some(given), Some(family)) = (&a.given_name, &a.family_name) {
        out.push(one(attributes::FULL_NAME, &format!("{given} {family}")));
    }
    if let Some(cpr) = &a.cpr {
        out.push(one(attributes::CPR_NUMBER, cpr.as_str()));
    }
    if let Some(birthdate) = &a.birthdate {
        out.push(one(attributes::DATE_OF_BIRTH, birthdate));
    }
    // OIOSAML 3 names no eIDAS identifier attribute: the eIDAS attributes' own URIs.
    if let Some(eidas) = &a.eidas {
        out.push(one(
            eid_saml::eidas::PERSON_IDENTIFIER.name,
            eidas.person_identifier.as_str(),
        ));
        if let Some(lp) = &eidas.legal_person {
            out.push(one(
                eid_saml::eidas::LEGAL_PERSON_IDENTIFIER.name,
                lp.identifier.as_str(),
            ));
            out.push(one(eid_saml::eidas::LEGAL_NAME.name, &lp.name));
        }
    }
    out
}

/// Answers from `session`: a Response with the signed and encrypted assertion, audited (naming
/// the person) before it is handed out, and the service recorded as served. Returns the page and
/// whether the service is new to the session. Below the requested level, the status says so.
///
/// Acting under `mandate` (chosen and just re-checked), the assertion is still about the person
/// themselves (their NameID and attributes, as in NemLog-in), with the mandate's privileges
/// scoped to the principal ([`super::privileges`]); only a service that accepts representation
/// ever gets one, and the use is audited on both persons' logs.
pub async fn answer(
    broker: &Broker,
    sp: &RegisteredSp,
    req: &SamlRequest,
    session: &mut SsoSession,
    mandate: Option<&Mandate>,
) -> Result<(PostPage, bool), BrokerError> {
    let mandate = mandate.filter(|_| sp.rp.representation);
    if req.min_loa.is_some_and(|min| session.loa < min) {
        return Ok((failure(broker, req, StatusCode::NoAuthnContext), false));
    }
    let mut released = release(
        &sp.rp,
        &session.identity,
        session.loa,
        session.auth_time,
        None,
        &broker.pairwise,
    );
    // A SAML service cannot ask for the legal person a foreign person represents, so it never gets
    // one that another service of the session asked for; OIOSAML has no attribute for names in
    // their original script (dropped here, so that the audit names only what is released).
    if let Some(eidas) = released.attributes.eidas.as_mut() {
        eidas.legal_person = None;
        eidas.given_name_native = None;
        eidas.family_name_native = None;
    }
    let subject = uuid::Uuid::parse_str(&released.subject)
        .map_err(|_| BrokerError::BadRequest("the subject is not a pairwise UUID".into()))?;
    let now = broker.clock.now();
    let authn_instant = OffsetDateTime::from_unix_timestamp(released.auth_time).unwrap_or(now);
    let assertion = Assertion {
        id: new_message_id(),
        issue_instant: now,
        issuer: entity_id(broker),
        subject,
        sp_name_qualifier: None,
        recipient: req.acs.clone(),
        in_response_to: req.request_id.clone(),
        confirmation_not_on_or_after: now + ASSERTION_TTL,
        not_before: now,
        not_on_or_after: now + ASSERTION_TTL,
        audience: sp.rp.id.clone(),
        authn_instant,
        session_index: session.sid_for(&sp.rp.id),
        loa: released.level,
        attributes: {
            let mut attributes = attributes_of(&released);
            if let Some(m) = mandate {
                attributes.extend(super::privileges::attributes(m, &sp.rp, &broker.pairwise));
            }
            attributes
        },
    };
    let (key, certificate) = signing_key(broker)?;
    let signed = sign_enveloped(
        &assertion.to_xml(),
        &assertion.id,
        &key,
        SIGNATURE_ALG,
        &certificate,
    )
    .map_err(keys_error)?;
    let recipient = sp
        .sp
        .encryption_certificate
        .as_deref()
        .ok_or_else(|| keys_error("the service has no encryption certificate"))
        .and_then(|der| RecipientKey::from_certificate(der).map_err(keys_error))?;
    let encrypted = encrypt_element(&signed, &recipient, sp.encryption).map_err(keys_error)?;
    let encrypted = EncryptedAssertion::from_encrypted_xml(encrypted)
        .ok_or_else(|| keys_error("the encryption produced no EncryptedAssertion"))?;
    let xml = envelope(broker, req, now).success_xml(&encrypted);
    // The signed assertion is kept as evidence (the form our published key verifies), in the
    // same commit as the event.
    let kept = super::evidence::assertion(broker, req, &assertion.id, signed, session);
    // Audited before anything is released: a failure here releases nothing.
    let event = broker
        .event("saml.response_issued", AuditOutcome::Success)
        .person(released.audit_id)
        .client(sp.rp.id.clone())
        .detail("loa", released.level.as_word())
        .detail(
            "attributes",
            ReleasedAttribute::names(&released.attributes.released()),
        );
    match mandate {
        None => broker.audit_with(event, kept).await?,
        Some(m) => {
            let principals =
                ReleasedAttribute::names(&super::privileges::principal_attributes(m, &sp.rp));
            let events = use_events(broker, event, released.audit_id, m, &sp.rp.id, &principals);
            audit_use(broker, events, kept).await?;
        }
    }
    let new_rp = session.served(&sp.rp.id);
    // The way back from the SessionIndex to the session, for the service's LogoutRequest.
    super::slo::remember_index(broker, &sp.rp.id, session).await?;
    Ok((page(req, &xml), new_rp))
}
