//! Front-channel single logout towards services that registered no SOAP endpoint: a signed
//! LogoutRequest carried by the browser (HTTP-Redirect, else HTTP-POST), and the checks on the
//! LogoutResponse the service sends back through the browser.
//!
//! Each request we send is remembered by its `ID` ([`remember`]) with the logout chain it belongs
//! to and the service it went to, for a bounded time; a LogoutResponse counts only when its
//! `InResponseTo` names such a request, once (the entry is taken), and it is signed with that
//! service's metadata key, issued by it, addressed to our SLO URL, fresh, and `Success`.

use eid_core::{Lang, StoreError};
use eid_keys::Alg;
use eid_saml::NAMEID_PERSISTENT;
use eid_saml::binding::{
    MessageKind, PostForm, SigAlg, decode_post, decode_redirect, signed_redirect_url,
};
use eid_saml::dsig::{AlgorithmPolicy, Expected, PinnedKeys, sign_enveloped, verify};
use eid_saml::messages::{
    BINDING_POST, BINDING_REDIRECT, LogoutRequestOut, LogoutResponse, MessageError, NameId,
    StatusCode, check_destination, check_issue_instant, new_message_id,
};
use eid_saml::xml::QName;
use serde::{Deserialize, Serialize};
use std::time::Duration;

use super::super::idp::{SIGNATURE_ALG, signing_key};
use super::super::sso::{audit_rejected, audit_unverified};
use super::super::{CLOCK_SKEW, PostPage, SsoRejection, entity_id};
use super::soap::has_soap;
use super::{REQUEST_VALIDITY, slo_url};
use crate::logout::LogoutStep;
use crate::oidc::BrokerError;
use crate::registry::RegisteredSp;
use crate::state::Broker;

/// A service to be told through the browser, with what it received for the session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrontTarget {
    /// Its entity ID.
    pub sp: String,
    /// The persistent NameID it received.
    pub name_id: String,
    /// The `SessionIndex` it received.
    pub session_index: String,
}

/// A LogoutRequest on its way through the browser.
#[derive(Debug)]
pub struct Sent {
    /// Its `ID`.
    pub request_id: String,
    /// How the browser carries it.
    pub step: LogoutStep,
}

/// A service's LogoutResponse as received from the browser.
#[derive(Debug, Clone, Copy)]
pub enum ResponseIncoming<'a> {
    /// HTTP-Redirect: the raw query string, exactly as received.
    Redirect(&'a str),
    /// HTTP-POST: the form's `SAMLResponse` and `RelayState` fields.
    Post {
        /// `SAMLResponse`.
        response: &'a str,
        /// `RelayState`.
        relay_state: Option<&'a str>,
    },
}

/// A LogoutResponse to a request we sent, after the checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answered {
    /// The logout chain the request belongs to.
    pub chain: String,
    /// The service it went to.
    pub sp: String,
    /// Whether the service confirmed the logout (a verified `Success` passing every check).
    pub confirmed: bool,
}

/// What we keep of a request we sent, by its `ID`.
#[derive(Debug, Serialize, Deserialize)]
struct Outstanding {
    chain: String,
    sp: String,
}

fn outstanding_key(request_id: &str) -> String {
    format!(
        "broker:saml-slo-sent:{}",
        eid_oidc::random::digest_key(request_id)
    )
}

/// Whether `sp` hears of a logout only through the browser: no SOAP endpoint, but a Redirect or
/// POST one.
pub fn by_browser(sp: &RegisteredSp) -> bool {
    !has_soap(sp) && front_endpoint(sp).is_some()
}

/// The service's endpoint for our LogoutRequests: Redirect first, else POST.
fn front_endpoint(sp: &RegisteredSp) -> Option<(&'static str, &str)> {
    [BINDING_REDIRECT, BINDING_POST].into_iter().find_map(|b| {
        sp.sp
            .slo
            .iter()
            .find(|e| e.binding == b)
            .map(|e| (b, e.location.as_str()))
    })
}

/// A signed LogoutRequest to `target`'s service; `None` when it has no front-channel endpoint.
pub fn request(
    broker: &Broker,
    sp: &RegisteredSp,
    target: &FrontTarget,
    lang: Lang,
) -> Result<Option<Sent>, BrokerError> {
    let Some((binding, location)) = front_endpoint(sp) else {
        return Ok(None);
    };
    let keys_error = |e: String| BrokerError::Keys(e);
    let now = broker.clock.now();
    let out = LogoutRequestOut {
        id: new_message_id(),
        issue_instant: now,
        destination: location.to_owned(),
        not_on_or_after: now + REQUEST_VALIDITY,
        issuer: entity_id(broker),
        name_id: NameId {
            value: target.name_id.clone(),
            format: Some(NAMEID_PERSISTENT.to_owned()),
            name_qualifier: None,
            sp_name_qualifier: None,
        },
        session_index: target.session_index.clone(),
    };
    let (key, certificate) = signing_key(broker)?;
    let xml = out.to_xml();
    let step = if binding == BINDING_REDIRECT {
        let url = signed_redirect_url(
            location,
            MessageKind::Request,
            &xml,
            None,
            SigAlg::RsaSha256,
            |bytes| key.sign_as(Alg::RS256, bytes),
        )
        .map_err(|e| keys_error(e.to_string()))?;
        LogoutStep::Redirect(url)
    } else {
        let signed = sign_enveloped(&xml, &out.id, &key, SIGNATURE_ALG, &certificate)
            .map_err(|e| keys_error(e.to_string()))?;
        LogoutStep::Post(Box::new(PostPage {
            form: PostForm::new(location, MessageKind::Request, &signed, None),
            lang,
        }))
    };
    Ok(Some(Sent {
        request_id: out.id,
        step,
    }))
}

/// Remembers a request we sent as part of `chain`, for `ttl`.
pub async fn remember(
    broker: &Broker,
    request_id: &str,
    chain: &str,
    sp: &str,
    ttl: Duration,
) -> Result<(), StoreError> {
    let outstanding = Outstanding {
        chain: chain.to_owned(),
        sp: sp.to_owned(),
    };
    let bytes = serde_json::to_vec(&outstanding).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    broker
        .ephemeral
        .put(&outstanding_key(request_id), &bytes, ttl)
        .await
}

/// A LogoutResponse decoded from its binding, not yet verified.
enum Decoded {
    Redirect(eid_saml::binding::RedirectMessage),
    Post(String),
}

impl Decoded {
    fn xml_unverified(&self) -> &str {
        match self {
            Decoded::Redirect(m) => m.xml_unverified(),
            Decoded::Post(xml) => xml,
        }
    }

    /// The response, read only from what `sp`'s metadata keys verify.
    fn verify(&self, sp: &RegisteredSp) -> Result<LogoutResponse, SsoRejection> {
        match self {
            Decoded::Redirect(message) => {
                let xml = message.verify_with_certificates(&sp.sp.signing_certificates)?;
                Ok(LogoutResponse::parse(xml)?)
            }
            Decoded::Post(xml) => {
                let keys = PinnedKeys::from_certificates(
                    sp.sp.signing_certificates.iter().map(Vec::as_slice),
                )
                .map_err(|e| SsoRejection::Signature(e.to_string()))?;
                let verified = verify(
                    xml,
                    Expected::Root(QName::LOGOUT_RESPONSE),
                    &keys,
                    &AlgorithmPolicy::default(),
                )
                .map_err(|e| SsoRejection::Signature(e.to_string()))?;
                Ok(LogoutResponse::parse(&verified.element().to_xml())?)
            }
        }
    }
}

fn decode(incoming: ResponseIncoming<'_>) -> Result<Decoded, SsoRejection> {
    Ok(match incoming {
        ResponseIncoming::Redirect(query) => {
            Decoded::Redirect(decode_redirect(query, MessageKind::Response)?)
        }
        ResponseIncoming::Post {
            response,
            relay_state,
        } => Decoded::Post(decode_post(MessageKind::Response, response, relay_state)?.xml),
    })
}

/// The checks on a verified response of `sp` to our request `request_id`; the failed one's
/// reason.
fn check(
    broker: &Broker,
    sp: &RegisteredSp,
    request_id: &str,
    response: &LogoutResponse,
) -> Result<(), String> {
    if response.issuer != sp.rp.id {
        return Err(SsoRejection::IssuerMismatch.reason());
    }
    if response.in_response_to.as_deref() != Some(request_id) {
        return Err("InResponseTo is not the request it was sent for".into());
    }
    check_destination(response.destination.as_deref(), &slo_url(broker))
        .and_then(|()| check_issue_instant(response.issue_instant, broker.clock.now(), CLOCK_SKEW))
        .map_err(|e| e.to_string())?;
    match response.status {
        Some(StatusCode::Success) => Ok(()),
        _ => Err("the service did not confirm the logout".into()),
    }
}

/// Reads a service's LogoutResponse from the browser. Refused (already audited) when it names
/// no request we sent that is still awaited: never sent, expired, or answered before. Otherwise
/// the request's entry is taken (single use) and the answer says whether the service confirmed;
/// a response that fails a check is audited `saml.rejected` and does not confirm.
pub async fn answered(
    broker: &Broker,
    incoming: ResponseIncoming<'_>,
) -> Result<Result<Answered, SsoRejection>, BrokerError> {
    let decoded = match decode(incoming) {
        Ok(d) => d,
        Err(rejection) => {
            audit_unverified(broker, None, rejection.reason()).await?;
            return Ok(Err(rejection));
        }
    };
    // Unverified: only to find the request it claims to answer.
    let claimed = match LogoutResponse::parse(decoded.xml_unverified()) {
        Ok(r) => r,
        Err(e) => {
            let rejection = SsoRejection::from(e);
            audit_unverified(broker, None, rejection.reason()).await?;
            return Ok(Err(rejection));
        }
    };
    let Some(request_id) = claimed.in_response_to.filter(|id| id.len() <= 256) else {
        let rejection = SsoRejection::Message(MessageError::MissingAttribute("InResponseTo"));
        audit_unverified(broker, Some(&claimed.issuer), rejection.reason()).await?;
        return Ok(Err(rejection));
    };
    let outstanding = broker
        .ephemeral
        .take(&outstanding_key(&request_id))
        .await?
        .and_then(|b| serde_json::from_slice::<Outstanding>(&b).ok());
    let Some(outstanding) = outstanding else {
        let rejection = SsoRejection::UnknownLogoutRequest;
        audit_unverified(broker, Some(&claimed.issuer), rejection.reason()).await?;
        return Ok(Err(rejection));
    };
    let confirmed = match broker.registry.saml(&outstanding.sp) {
        None => false,
        Some(sp) => match decoded.verify(&sp) {
            Err(rejection) => {
                audit_unverified(broker, Some(&sp.rp.id), rejection.reason()).await?;
                false
            }
            Ok(response) => match check(broker, &sp, &request_id, &response) {
                Ok(()) => true,
                Err(reason) => {
                    audit_rejected(broker, Some(&sp.rp.id), reason).await?;
                    false
                }
            },
        },
    };
    Ok(Ok(Answered {
        chain: outstanding.chain,
        sp: outstanding.sp,
        confirmed,
    }))
}
