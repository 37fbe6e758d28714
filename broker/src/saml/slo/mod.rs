//! Single logout towards service providers (SAML Core §3.7, OIOSAML 3, PROTOCOLS.md §1.6).
//!
//! A service's LogoutRequest (HTTP-Redirect, HTTP-POST or SOAP) is verified with its metadata keys
//! only and checked (version, freshness, destination, single use, a `SessionIndex`). Its
//! `SessionIndex` is the session's `sid` towards the service; [`remember_index`] keeps the way
//! back to the session when the assertion is issued. The session ends only when the `NameID` is
//! the one that service received for that session's person. Every other relying party of the
//! session then hears of the logout: by back channel (OIDC logout tokens; SAML services by SOAP,
//! [`soap::notify_sp`]), and, when the request came through the browser, services with only a
//! Redirect or POST endpoint through the browser ([`front`]), before the upstream's logout and
//! our answer ([`crate::logout`]). The answer is a signed LogoutResponse **always**, also for an
//! unknown or expired session: `Success`, or `PartialLogout` when a relying party was not
//! reached ([`answer`]).
//!
//! A request that cannot be verified gets an error page (or a SOAP fault) and is audited as
//! `saml.rejected`; a verified request that fails a check is answered with a signed `Requester`
//! LogoutResponse at the service's registered endpoint.

pub mod answer;
pub mod front;
pub mod soap;

pub use answer::{Binding, SamlAnswer};
pub use soap::{NS_SOAP, soap_envelope};

use eid_core::{AuditOutcome, Lang};
use eid_saml::NAMEID_PERSISTENT;
use eid_saml::binding::{MessageKind, decode_post, decode_redirect};
use eid_saml::dsig::{AlgorithmPolicy, Expected, PinnedKeys, verify};
use eid_saml::messages::{LogoutRequest, MessageError, NameId, StatusCode};
use eid_saml::person_name_id;
use eid_saml::xml::QName;
use std::sync::Arc;

use super::sso::{Incoming, audit_rejected, audit_unverified};
use super::{CLOCK_SKEW, REQUEST_ID_TTL, SLO_PATH, SsoRejection};
use crate::core::SsoSession;
use crate::core::release::subject_for;
use crate::logout::{Finish, LogoutStep};
use crate::oidc::BrokerError;
use crate::registry::RegisteredSp;
use crate::state::Broker;

/// The SOAP endpoint of single logout (back-channel LogoutRequests).
pub const SOAP_PATH: &str = "/saml/slo/soap";
/// How long a LogoutRequest we send is valid.
const REQUEST_VALIDITY: time::Duration = time::Duration::minutes(5);

/// A LogoutRequest as received.
#[derive(Debug, Clone, Copy)]
pub enum SloIncoming<'a> {
    /// HTTP-Redirect or HTTP-POST, from the browser.
    Front(Incoming<'a>),
    /// The SOAP binding: the request body, and whether it came to [`SOAP_PATH`] (else to
    /// [`SLO_PATH`], where our metadata names the SOAP binding too).
    Soap {
        /// The request body.
        body: &'a str,
        /// Whether it was sent to [`SOAP_PATH`].
        at_soap_path: bool,
    },
}

/// What the single logout service answers.
#[derive(Debug)]
pub enum SloOutcome {
    /// The request could not be verified, or cannot be answered: an error page or a SOAP fault
    /// (already audited).
    Refused(SsoRejection),
    /// The browser's next step: our signed LogoutResponse (HTTP-Redirect or HTTP-POST), or, once
    /// a session ended, the next step of the logout chain.
    Step(LogoutStep),
    /// A SOAP envelope holding the signed LogoutResponse.
    Soap(String),
}

struct Received {
    request: LogoutRequest,
    sp: Arc<RegisteredSp>,
    relay_state: Option<String>,
    binding: Binding,
}

/// Our single logout URL (the `Destination` of front-channel requests).
pub fn slo_url(broker: &Broker) -> String {
    format!("{}{SLO_PATH}", broker.config.issuer)
}

/// Our SOAP single logout URL.
pub fn soap_url(broker: &Broker) -> String {
    format!("{}{SOAP_PATH}", broker.config.issuer)
}

fn index_key(sp: &str, session_index: &str) -> String {
    format!(
        "broker:saml-index:{}",
        eid_oidc::random::digest_key(&format!("{sp}\u{0}{session_index}"))
    )
}

/// Keeps the way from the `SessionIndex` a service received back to the session (for its
/// LogoutRequest), as long as the session lives.
pub async fn remember_index(
    broker: &Broker,
    sp: &str,
    session: &SsoSession,
) -> Result<(), BrokerError> {
    broker
        .ephemeral
        .put(
            &index_key(sp, &session.sid_for(sp)),
            session.sid.as_bytes(),
            broker.config.session_ttl,
        )
        .await?;
    Ok(())
}

fn claimed_issuer(xml: &str) -> Result<String, SsoRejection> {
    Ok(LogoutRequest::parse(xml)?.issuer)
}

fn lookup(broker: &Broker, issuer: &str) -> Result<Arc<RegisteredSp>, SsoRejection> {
    broker.registry.saml(issuer).ok_or(SsoRejection::UnknownSp)
}

/// Verifies an enveloped signature of a LogoutRequest document with the service's keys; the
/// request read from the signed element only.
fn verify_enveloped(sp: &RegisteredSp, xml: &str) -> Result<LogoutRequest, SsoRejection> {
    let keys = PinnedKeys::from_certificates(sp.sp.signing_certificates.iter().map(Vec::as_slice))
        .map_err(|e| SsoRejection::Signature(e.to_string()))?;
    let verified = verify(
        xml,
        Expected::Root(QName::LOGOUT_REQUEST),
        &keys,
        &AlgorithmPolicy::default(),
    )
    .map_err(|e| SsoRejection::Signature(e.to_string()))?;
    let request = LogoutRequest::parse(&verified.element().to_xml())?;
    if request.issuer != sp.rp.id {
        return Err(SsoRejection::IssuerMismatch);
    }
    Ok(request)
}

/// Decodes and verifies; on failure the rejection and the claimed issuer, if one was read.
fn receive(
    broker: &Broker,
    incoming: SloIncoming<'_>,
) -> Result<Received, (SsoRejection, Option<String>)> {
    let no_issuer = |e: SsoRejection| (e, None);
    match incoming {
        SloIncoming::Front(Incoming::Redirect(query)) => {
            let message =
                decode_redirect(query, MessageKind::Request).map_err(|e| no_issuer(e.into()))?;
            let issuer = claimed_issuer(message.xml_unverified()).map_err(no_issuer)?;
            let with = |e: SsoRejection| (e, Some(issuer.clone()));
            let sp = lookup(broker, &issuer).map_err(with)?;
            let xml = message
                .verify_with_certificates(&sp.sp.signing_certificates)
                .map_err(|e| with(e.into()))?;
            let request = LogoutRequest::parse(xml).map_err(|e| with(e.into()))?;
            Ok(Received {
                request,
                sp,
                relay_state: message.relay_state().map(|r| r.as_str().to_owned()),
                binding: Binding::Redirect,
            })
        }
        SloIncoming::Front(Incoming::Post {
            request,
            relay_state,
        }) => {
            let message = decode_post(MessageKind::Request, request, relay_state)
                .map_err(|e| no_issuer(e.into()))?;
            let issuer = claimed_issuer(&message.xml).map_err(no_issuer)?;
            let with = |e: SsoRejection| (e, Some(issuer.clone()));
            let sp = lookup(broker, &issuer).map_err(with)?;
            let request = verify_enveloped(&sp, &message.xml).map_err(with)?;
            Ok(Received {
                request,
                sp,
                relay_state: message.relay_state.map(|r| r.as_str().to_owned()),
                binding: Binding::Post,
            })
        }
        SloIncoming::Soap { body, .. } => {
            if body.len() > eid_saml::messages::MAX_MESSAGE_BYTES {
                return Err(no_issuer(SsoRejection::Message(MessageError::TooLarge)));
            }
            let xml = soap::soap_body(body, QName::LOGOUT_REQUEST).map_err(no_issuer)?;
            let issuer = claimed_issuer(&xml).map_err(no_issuer)?;
            let with = |e: SsoRejection| (e, Some(issuer.clone()));
            let sp = lookup(broker, &issuer).map_err(with)?;
            let request = verify_enveloped(&sp, &xml).map_err(with)?;
            Ok(Received {
                request,
                sp,
                relay_state: None,
                binding: Binding::Soap,
            })
        }
    }
}

/// Whether `name_id` is the NameID `sp` received for the person of `session`.
fn names_person(
    broker: &Broker,
    sp: &RegisteredSp,
    session: &SsoSession,
    name_id: &NameId,
) -> bool {
    name_id
        .format
        .as_deref()
        .is_none_or(|f| f == NAMEID_PERSISTENT)
        && name_id.value == person_name_id(&subject_for(&sp.rp, session, &broker.pairwise))
}

/// Handles a LogoutRequest from a service.
pub async fn slo(
    broker: &Broker,
    incoming: SloIncoming<'_>,
    accept_language: Option<&str>,
) -> Result<SloOutcome, BrokerError> {
    let lang = Lang::negotiate(None, accept_language);
    let endpoint = match incoming {
        SloIncoming::Soap {
            at_soap_path: true, ..
        } => soap_url(broker),
        _ => slo_url(broker),
    };
    let received = match receive(broker, incoming) {
        Ok(r) => r,
        Err((rejection, issuer)) => {
            audit_unverified(broker, issuer.as_deref(), rejection.reason()).await?;
            return Ok(SloOutcome::Refused(rejection));
        }
    };
    let Received {
        request,
        sp,
        relay_state,
        binding,
    } = received;
    let has_index = if request.session_indexes.is_empty() {
        Err(MessageError::MissingElement("SessionIndex"))
    } else {
        Ok(())
    };
    let checked = request
        .check(broker.clock.now(), CLOCK_SKEW, &endpoint)
        .and(has_index);
    let answer = SamlAnswer {
        sp: sp.rp.id.clone(),
        in_response_to: request.id.clone(),
        binding,
        relay_state,
        lang,
    };
    if let Err(e) = checked {
        audit_rejected(broker, Some(&sp.rp.id), e.to_string()).await?;
        return answer.respond(broker, e.status());
    }
    let replay_key = format!(
        "broker:saml-logout:{}",
        eid_oidc::random::digest_key(&format!("{}\u{0}{}", sp.rp.id, request.id))
    );
    if !broker
        .ephemeral
        .put_if_absent(&replay_key, b"1", REQUEST_ID_TTL)
        .await?
    {
        let rejection = SsoRejection::Replayed;
        audit_rejected(broker, Some(&sp.rp.id), rejection.reason()).await?;
        return answer.respond(broker, StatusCode::Requester);
    }
    // Accepted: kept as evidence, as it came.
    super::evidence::logout_request(broker, &sp.rp.id, &request.id, incoming);
    let mut ended = Vec::new();
    for index in &request.session_indexes {
        let Some(sid) = broker.ephemeral.get(&index_key(&sp.rp.id, index)).await? else {
            continue;
        };
        let sid = String::from_utf8_lossy(&sid).into_owned();
        let Some(session) = SsoSession::find_by_sid(broker.ephemeral.as_ref(), &sid).await? else {
            continue;
        };
        if !session.rps.contains(&sp.rp.id) || session.sid_for(&sp.rp.id) != *index {
            continue;
        }
        if !names_person(broker, &sp, &session, &request.name_id) {
            audit_rejected(
                broker,
                Some(&sp.rp.id),
                "the NameID is not the session's person".into(),
            )
            .await?;
            return answer.respond(broker, StatusCode::RequestDenied);
        }
        let Some(session) = SsoSession::end_by_sid(broker.ephemeral.as_ref(), &sid).await? else {
            continue;
        };
        broker
            .audit(
                broker
                    .event("saml.logout", AuditOutcome::Success)
                    .person(session.identity.audit_id)
                    .client(sp.rp.id.clone())
                    .detail("relying_parties", session.rps.len()),
            )
            .await?;
        ended.push(session);
    }
    if ended.is_empty() {
        // Unknown or expired: still a signed Success (OIOSAML.Net fix, NemLog-in IT-SLO-3).
        broker
            .audit(
                broker
                    .event("saml.logout", AuditOutcome::Success)
                    .client(sp.rp.id.clone())
                    .detail("session", "unknown or expired"),
            )
            .await?;
        return answer.respond(broker, StatusCode::Success);
    }
    if binding == Binding::Soap {
        // No browser follows: services only it could reach are not reached, and the upstream's
        // session (a cookie in the person's browser) cannot be ended from here.
        let mut status = StatusCode::Success;
        for session in &ended {
            let reached =
                crate::oidc::logout::send_logouts_without_browser(broker, session, Some(&sp.rp.id))
                    .await;
            if !reached {
                status = StatusCode::PartialLogout;
            }
        }
        return answer.respond(broker, status);
    }
    let step =
        crate::logout::after_end(broker, &ended, Some(&sp.rp.id), Finish::Saml(answer), lang)
            .await?;
    Ok(SloOutcome::Step(step))
}
