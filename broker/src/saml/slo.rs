//! Single logout towards service providers (SAML Core §3.7, OIOSAML 3, PROTOCOLS.md §1.6).
//!
//! A service's LogoutRequest (HTTP-Redirect, HTTP-POST or SOAP) is verified with its metadata keys
//! only and checked (version, freshness, destination, single use, a `SessionIndex`). Its
//! `SessionIndex` is the session's `sid` towards the service; [`remember_index`] keeps the way
//! back to the session when the assertion is issued. The session ends only when the `NameID` is
//! the one that service received for that session's person. Every other relying party of the
//! session then hears of the logout by back-channel ([`crate::oidc::logout::send_logouts`]; SAML
//! services by SOAP, [`notify_sp`]). The answer is a signed LogoutResponse **always**, also for
//! an unknown or expired session: `Success`, or `PartialLogout` when a relying party was not
//! reached. Front-channel propagation to SAML services without a SOAP endpoint is not done (they
//! count as not reached).
//!
//! A request that cannot be verified gets an error page (or a SOAP fault) and is audited as
//! `saml.rejected`; a verified request that fails a check is answered with a signed `Requester`
//! LogoutResponse at the service's registered endpoint.

use eid_core::{AuditOutcome, Lang};
use eid_keys::Alg;
use eid_saml::NAMEID_PERSISTENT;
use eid_saml::binding::{
    MessageKind, PostForm, RelayState, SigAlg, decode_post, decode_redirect, signed_redirect_url,
};
use eid_saml::dsig::{AlgorithmPolicy, Expected, PinnedKeys, sign_enveloped, verify};
use eid_saml::messages::{
    BINDING_POST, BINDING_REDIRECT, BINDING_SOAP, LogoutRequest, LogoutRequestOut, LogoutResponse,
    LogoutResponseOut, MessageError, NameId, StatusCode, new_message_id,
};
use eid_saml::person_name_id;
use eid_saml::xml::{Document, QName};
use std::sync::Arc;

use super::idp::{SIGNATURE_ALG, signing_key};
use super::sso::{Incoming, audit_rejected, audit_unverified};
use super::{CLOCK_SKEW, PostPage, REQUEST_ID_TTL, SLO_PATH, SsoRejection, entity_id};
use crate::core::SsoSession;
use crate::core::release::subject_for;
use crate::oidc::BrokerError;
use crate::registry::RegisteredSp;
use crate::state::Broker;

/// The SOAP endpoint of single logout (back-channel LogoutRequests).
pub const SOAP_PATH: &str = "/saml/slo/soap";
/// The SOAP 1.1 envelope namespace (SAML Bindings §3.2).
pub const NS_SOAP: &str = "http://schemas.xmlsoap.org/soap/envelope/";
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
    /// A signed LogoutResponse by HTTP-Redirect (the URL).
    Redirect(String),
    /// A signed LogoutResponse by HTTP-POST.
    Post(Box<PostPage>),
    /// A SOAP envelope holding the signed LogoutResponse.
    Soap(String),
}

/// The binding a request came by, which the answer uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Binding {
    Redirect,
    Post,
    Soap,
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

/// The single element child of a SOAP envelope's `Body` (serialised to stand alone), which must
/// be `expected`.
pub(super) fn soap_body(xml: &str, expected: QName) -> Result<String, SsoRejection> {
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
            let xml = soap_body(body, QName::LOGOUT_REQUEST).map_err(no_issuer)?;
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
    let answer = Answer {
        sp: &sp,
        in_response_to: &request.id,
        binding,
        relay_state: relay_state.as_deref(),
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
    let mut status = StatusCode::Success;
    let mut ended_any = false;
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
        ended_any = true;
        broker
            .audit(
                broker
                    .event("saml.logout", AuditOutcome::Success)
                    .person(session.identity.audit_id)
                    .client(sp.rp.id.clone())
                    .detail("relying_parties", session.rps.len()),
            )
            .await?;
        if !crate::oidc::logout::send_logouts(broker, &session, Some(&sp.rp.id)).await {
            status = StatusCode::PartialLogout;
        }
    }
    if !ended_any {
        // Unknown or expired: still a signed Success (OIOSAML.Net fix, NemLog-in IT-SLO-3).
        broker
            .audit(
                broker
                    .event("saml.logout", AuditOutcome::Success)
                    .client(sp.rp.id.clone())
                    .detail("session", "unknown or expired"),
            )
            .await?;
    }
    answer.respond(broker, status)
}

/// Where and how a LogoutResponse goes.
struct Answer<'a> {
    sp: &'a RegisteredSp,
    in_response_to: &'a str,
    binding: Binding,
    relay_state: Option<&'a str>,
    lang: Lang,
}

impl Answer<'_> {
    /// The service's front-channel SLO endpoint of `binding`, or of the other front-channel
    /// binding when it has none: `(binding, response URL)`.
    fn endpoint(&self) -> Option<(Binding, String)> {
        let find = |uri: &str| {
            self.sp
                .sp
                .slo
                .iter()
                .find(|e| e.binding == uri)
                .map(|e| e.response_location.clone().unwrap_or(e.location.clone()))
        };
        let redirect = || find(BINDING_REDIRECT).map(|u| (Binding::Redirect, u));
        let post = || find(BINDING_POST).map(|u| (Binding::Post, u));
        match self.binding {
            Binding::Redirect => redirect().or_else(post),
            _ => post().or_else(redirect),
        }
    }

    /// The signed LogoutResponse with `status`.
    fn respond(&self, broker: &Broker, status: StatusCode) -> Result<SloOutcome, BrokerError> {
        let keys_error = |e: String| BrokerError::Keys(e);
        let (key, certificate) = signing_key(broker)?;
        let (binding, destination) = match self.binding {
            Binding::Soap => (Binding::Soap, None),
            _ => match self.endpoint() {
                Some((b, url)) => (b, Some(url)),
                None => return Ok(SloOutcome::Refused(SsoRejection::NoSloEndpoint)),
            },
        };
        let out = LogoutResponseOut {
            id: new_message_id(),
            in_response_to: self.in_response_to.to_owned(),
            issue_instant: broker.clock.now(),
            destination: destination.clone(),
            issuer: entity_id(broker),
            status,
        };
        let xml = out.to_xml();
        let relay = self.relay_state.and_then(|r| RelayState::new(r).ok());
        let signed = || {
            sign_enveloped(&xml, &out.id, &key, SIGNATURE_ALG, &certificate)
                .map_err(|e| keys_error(e.to_string()))
        };
        let outcome = match (binding, destination) {
            (Binding::Redirect, Some(url)) => signed_redirect_url(
                &url,
                MessageKind::Response,
                &xml,
                relay.as_ref(),
                SigAlg::RsaSha256,
                |bytes| key.sign_as(Alg::RS256, bytes),
            )
            .map(SloOutcome::Redirect)
            .map_err(|e| keys_error(e.to_string())),
            (Binding::Post, Some(url)) => Ok(SloOutcome::Post(Box::new(PostPage {
                form: PostForm::new(&url, MessageKind::Response, &signed()?, relay.as_ref()),
                lang: self.lang,
            }))),
            _ => Ok(SloOutcome::Soap(soap_envelope(&signed()?))),
        }?;
        // Kept as evidence, as it goes.
        super::evidence::logout_response(broker, &self.sp.rp.id, &out, &outcome);
        Ok(outcome)
    }
}

/// Sends a signed LogoutRequest by SOAP to a service of `session` that registered a SOAP SLO
/// endpoint; whether it answered with a signed `Success` LogoutResponse to it. A service without
/// one is not reached (front-channel propagation is not done).
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
    super::evidence::soap_logout(broker, &sp.rp.id, session, &out, &signed, reply.as_deref());
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
