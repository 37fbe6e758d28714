//! The signed SAML messages kept as evidence (NemLog-in's logging rule, 180 days by default):
//! every message whose signature verified, in, and every message we signed, out, in the form its
//! signature covers, so that it can be verified again later with the signer's published key.
//!
//! A message rides with the audit event of its act through the group-commit writer (one commit
//! for both, no transaction of its own). The Response's assertion goes with `saml.response_issued`,
//! which is awaited before the Response is sent. The others are recorded without waiting; the
//! writer's queue is first in, first out, so an awaited event after them (the Response's, the
//! logout's) is acknowledged only once they are committed too.
//!
//! Refused messages are audited as before and not kept. Unsigned Responses (a status without an
//! assertion) are not kept: nothing in them can be verified.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use eid_core::protocol_message::{Binding, Direction, MessageKind};
use eid_core::{AuditEvent, AuditOutcome, ProtocolMessage, StoreError};
use eid_saml::binding::{MessageKind as Parameter, decode_post};
use eid_saml::messages::{LogoutRequestOut, LogoutResponseOut};
use eid_saml::xml::QName;

use super::SamlRequest;
use super::slo::soap::soap_body;
use super::slo::{NS_SOAP, SloIncoming, SloOutcome};
use super::sso::Incoming;
use crate::core::SsoSession;
use crate::logout::LogoutStep;
use crate::state::Broker;

/// The Redirect-binding parameters a detached signature covers, then the signature, from a raw
/// query exactly as it travelled: `SAMLRequest` (or `SAMLResponse`), `RelayState` if present,
/// `SigAlg` and `Signature`, values still percent-encoded, in that order (SAML Bindings
/// §3.4.4.1); other parameters are left out. The result is a query string that verifies again as
/// it is. `None` if the message or a signature parameter is missing, or one is repeated.
pub fn signed_query(raw_query: &str, kind: Parameter) -> Option<String> {
    let raw_query = raw_query.strip_prefix('?').unwrap_or(raw_query);
    let names = [kind.parameter(), "RelayState", "SigAlg", "Signature"];
    let mut values: [Option<&str>; 4] = [None; 4];
    for pair in raw_query.split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if let Some(i) = names.iter().position(|n| *n == name)
            && values[i].replace(value).is_some()
        {
            return None;
        }
    }
    let [Some(message), relay, Some(sig_alg), Some(signature)] = values else {
        return None;
    };
    let mut out = format!("{}={message}", names[0]);
    if let Some(relay) = relay {
        out.push_str("&RelayState=");
        out.push_str(relay);
    }
    out.push_str("&SigAlg=");
    out.push_str(sig_alg);
    out.push_str("&Signature=");
    out.push_str(signature);
    Some(out)
}

/// A reference to `session` in the log: a one-way digest of its id (which is never shown), the
/// same for every message of the session.
pub fn session_ref(session: &SsoSession) -> String {
    eid_oidc::random::digest_key(&format!("protocol-log:{}", session.sid))
}

fn count_unkept(broker: &Broker, n: usize) {
    for _ in 0..n {
        broker.metrics.inc(
            "broker_protocol_messages_unkept_total",
            "Signed SAML messages that could not be kept (not storable, or the audit log's queue \
             was full).",
            &[],
        );
    }
}

/// The message, or `None` (counted) when it cannot be kept: no content, or content no store
/// takes (over the bound, a NUL).
fn message(
    broker: &Broker,
    direction: Direction,
    kind: MessageKind,
    binding: Binding,
    peer: &str,
    message_id: &str,
    content: Option<String>,
) -> Option<ProtocolMessage> {
    let kept = content.and_then(|content| {
        ProtocolMessage::new(
            broker.clock.now(),
            direction,
            kind,
            binding,
            peer,
            message_id,
            content,
        )
        .ok()
    });
    if kept.is_none() {
        count_unkept(broker, 1);
    }
    kept
}

/// Records `event` with `messages` without waiting. A full queue is an error (the caller answers
/// 503), unless `may_drop`, when the messages are only counted as unkept.
fn record(
    broker: &Broker,
    event: AuditEvent,
    messages: Vec<ProtocolMessage>,
    may_drop: bool,
) -> Result<(), StoreError> {
    let n = messages.len();
    match broker.audit.record_detached_with(event, messages) {
        Ok(()) => Ok(()),
        Err(_) if may_drop => {
            count_unkept(broker, n);
            Ok(())
        }
        Err(backlog) => Err(StoreError::Unavailable(backlog.to_string())),
    }
}

/// Keeps an accepted AuthnRequest (verified, checked, not replayed) as `incoming` carried it,
/// with an audit event `saml.authn_request`. Refused (503) when the audit log's queue is full.
pub fn authn_request(
    broker: &Broker,
    sp: &str,
    request_id: &str,
    incoming: Incoming<'_>,
) -> Result<(), StoreError> {
    let (binding, content) = match incoming {
        Incoming::Redirect(query) => (Binding::Redirect, signed_query(query, Parameter::Request)),
        Incoming::Post {
            request,
            relay_state,
        } => (
            Binding::Post,
            decode_post(Parameter::Request, request, relay_state)
                .ok()
                .map(|m| m.xml),
        ),
    };
    let kept = message(
        broker,
        Direction::Received,
        MessageKind::AuthnRequest,
        binding,
        sp,
        request_id,
        content,
    );
    let event = broker
        .event("saml.authn_request", AuditOutcome::Success)
        .client(sp.to_owned())
        .detail("binding", binding.as_str());
    record(broker, event, kept.into_iter().collect(), false)
}

/// The signed assertion of a Response to `req`, as kept: the plaintext our published key
/// verifies, noted as sent encrypted. To be recorded with the Response's audit event.
pub fn assertion(
    broker: &Broker,
    req: &SamlRequest,
    assertion_id: &str,
    signed: String,
    session: &SsoSession,
) -> Vec<ProtocolMessage> {
    message(
        broker,
        Direction::Sent,
        MessageKind::Assertion,
        Binding::Post,
        &req.sp,
        assertion_id,
        Some(signed),
    )
    .map(|m| {
        m.in_response_to(req.request_id.clone())
            .session(session_ref(session))
            .sent_encrypted()
    })
    .into_iter()
    .collect()
}

/// Keeps an accepted LogoutRequest (verified, checked, not replayed) as `incoming` carried it,
/// with an audit event `saml.logout_request`. Never refuses the logout: a full queue only counts.
pub fn logout_request(broker: &Broker, sp: &str, request_id: &str, incoming: SloIncoming<'_>) {
    let (binding, content) = match incoming {
        SloIncoming::Front(Incoming::Redirect(query)) => {
            (Binding::Redirect, signed_query(query, Parameter::Request))
        }
        SloIncoming::Front(Incoming::Post {
            request,
            relay_state,
        }) => (
            Binding::Post,
            decode_post(Parameter::Request, request, relay_state)
                .ok()
                .map(|m| m.xml),
        ),
        SloIncoming::Soap { body, .. } => {
            (Binding::Soap, soap_body(body, QName::LOGOUT_REQUEST).ok())
        }
    };
    let kept = message(
        broker,
        Direction::Received,
        MessageKind::LogoutRequest,
        binding,
        sp,
        request_id,
        content,
    );
    let event = broker
        .event("saml.logout_request", AuditOutcome::Success)
        .client(sp.to_owned())
        .detail("binding", binding.as_str());
    let _ = record(broker, event, kept.into_iter().collect(), true);
}

/// Keeps the signed LogoutResponse `out` as `outcome` carries it to `sp`, with an audit event
/// `saml.logout_response`. A full queue only counts.
pub fn logout_response(broker: &Broker, sp: &str, out: &LogoutResponseOut, outcome: &SloOutcome) {
    let (binding, content) = match outcome {
        SloOutcome::Step(LogoutStep::Redirect(url)) => (
            Binding::Redirect,
            url.split_once('?')
                .and_then(|(_, query)| signed_query(query, Parameter::Response)),
        ),
        SloOutcome::Step(LogoutStep::Post(page)) => (
            Binding::Post,
            page.form
                .fields
                .iter()
                .find(|(name, _)| *name == Parameter::Response.parameter())
                .and_then(|(_, b64)| STANDARD.decode(b64).ok())
                .and_then(|xml| String::from_utf8(xml).ok()),
        ),
        SloOutcome::Soap(envelope) => (Binding::Soap, unwrap_soap(envelope).map(str::to_owned)),
        SloOutcome::Refused(_) | SloOutcome::Step(_) => return,
    };
    let kept = message(
        broker,
        Direction::Sent,
        MessageKind::LogoutResponse,
        binding,
        sp,
        &out.id,
        content,
    )
    .map(|m| m.in_response_to(out.in_response_to.clone()));
    let event = broker
        .event("saml.logout_response", AuditOutcome::Success)
        .client(sp.to_owned())
        .detail("binding", binding.as_str())
        .detail("status", format!("{:?}", out.status));
    let _ = record(broker, event, kept.into_iter().collect(), true);
}

/// Keeps a back-channel logout by SOAP: the signed LogoutRequest we sent to `sp` and, when it
/// answered with a verified LogoutResponse, its `reply` envelope's message; with an audit event
/// `saml.backchannel_logout`. A full queue only counts.
pub fn soap_logout(
    broker: &Broker,
    sp: &str,
    session: &SsoSession,
    out: &LogoutRequestOut,
    signed: &str,
    verified_reply: Option<&str>,
) {
    let reference = session_ref(session);
    let sent = message(
        broker,
        Direction::Sent,
        MessageKind::LogoutRequest,
        Binding::Soap,
        sp,
        &out.id,
        Some(signed.to_owned()),
    )
    .map(|m| m.session(reference.clone()));
    let reply = verified_reply.and_then(|body| soap_body(body, QName::LOGOUT_RESPONSE).ok());
    let received = verified_reply.and_then(|_| {
        let id = reply.as_deref().and_then(message_id).unwrap_or_default();
        message(
            broker,
            Direction::Received,
            MessageKind::LogoutResponse,
            Binding::Soap,
            sp,
            &id,
            reply.clone(),
        )
        .map(|m| m.in_response_to(out.id.clone()).session(reference.clone()))
    });
    let event = broker
        .event("saml.backchannel_logout", AuditOutcome::Success)
        .client(sp.to_owned())
        .detail("acknowledged", verified_reply.is_some());
    let _ = record(
        broker,
        event,
        sent.into_iter().chain(received).collect(),
        true,
    );
}

/// The `ID` of a message's root element.
fn message_id(xml: &str) -> Option<String> {
    let doc = eid_saml::xml::Document::parse(xml).ok()?;
    doc.root().attr("ID").map(str::to_owned)
}

/// The message inside an envelope of [`soap_envelope`](super::slo::soap_envelope), exactly as it
/// was put there.
fn unwrap_soap(envelope: &str) -> Option<&str> {
    let open = format!(r#"<soap11:Envelope xmlns:soap11="{NS_SOAP}"><soap11:Body>"#);
    envelope
        .strip_prefix(open.as_str())?
        .strip_suffix("</soap11:Body></soap11:Envelope>")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use eid_saml::binding::{RelayState, SigAlg, decode_redirect, signed_redirect_url};
    use proptest::prelude::*;

    const XML: &str =
        r#"<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_r"/>"#;

    fn signed_url(destination: &str, relay: Option<&str>) -> String {
        let relay = relay.map(|r| RelayState::new(r).unwrap());
        signed_redirect_url(
            destination,
            Parameter::Response,
            XML,
            relay.as_ref(),
            SigAlg::RsaSha256,
            |_| Ok::<_, std::convert::Infallible>(vec![1, 2, 3]),
        )
        .unwrap()
    }

    #[test]
    fn the_signed_query_is_what_was_signed_and_sent() {
        for relay in [None, Some("relay å/&=+")] {
            let url = signed_url("https://sp.example/slo", relay);
            let (_, query) = url.split_once('?').unwrap();
            assert_eq!(
                signed_query(query, Parameter::Response).as_deref(),
                Some(query)
            );
        }
    }

    #[test]
    fn other_parameters_are_left_out_and_the_order_is_the_signed_one() {
        let url = signed_url("https://sp.example/slo?tenant=1", Some("r"));
        let (_, query) = url.split_once('?').unwrap();
        let kept = signed_query(query, Parameter::Response).unwrap();
        assert!(!kept.contains("tenant"));
        let shuffled: Vec<&str> = kept.split('&').rev().chain(["x=y"]).collect();
        assert_eq!(
            signed_query(&shuffled.join("&"), Parameter::Response).as_deref(),
            Some(kept.as_str())
        );
        let message = decode_redirect(&kept, Parameter::Response).unwrap();
        assert_eq!(message.xml_unverified(), XML);
        assert_eq!(message.relay_state().unwrap().as_str(), "r");
    }

    #[test]
    fn an_unsigned_or_repeated_query_is_not_kept() {
        assert_eq!(
            signed_query("SAMLRequest=a&SigAlg=b", Parameter::Request),
            None
        );
        assert_eq!(
            signed_query("SAMLRequest=a&Signature=c", Parameter::Request),
            None
        );
        assert_eq!(
            signed_query("SigAlg=b&Signature=c", Parameter::Request),
            None
        );
        assert_eq!(
            signed_query(
                "SAMLRequest=a&SigAlg=b&Signature=c&SigAlg=b",
                Parameter::Request
            ),
            None
        );
        assert_eq!(
            signed_query("SAMLResponse=a&SigAlg=b&Signature=c", Parameter::Request),
            None,
            "the other message parameter"
        );
    }

    #[test]
    fn our_soap_envelope_unwraps_to_the_message() {
        let envelope = super::super::slo::soap_envelope(XML);
        assert_eq!(unwrap_soap(&envelope), Some(XML));
        assert_eq!(unwrap_soap(XML), None);
    }

    proptest! {
        /// Any query: no panic; what is kept holds only the four parameters, each once, each
        /// exactly as in the query.
        #[test]
        fn signed_query_keeps_only_parameters_of_the_query(
            pairs in proptest::collection::vec(
                (
                    prop_oneof![
                        Just("SAMLRequest"), Just("SAMLResponse"), Just("RelayState"),
                        Just("SigAlg"), Just("Signature"), Just("x"), Just(""),
                    ],
                    "[a-zA-Z0-9%+/=&?]{0,12}",
                ),
                0..8,
            )
        ) {
            let query: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let query = query.join("&");
            if let Some(kept) = signed_query(&query, Parameter::Request) {
                let given: Vec<&str> = query.split('&').collect();
                let parts: Vec<&str> = kept.split('&').collect();
                let names: Vec<&str> = parts.iter().map(|p| p.split_once('=').map_or(*p, |(n, _)| n)).collect();
                prop_assert!(names.len() == 3 || names.len() == 4);
                prop_assert_eq!(names[0], "SAMLRequest");
                prop_assert_eq!(names[names.len() - 1], "Signature");
                for part in parts {
                    prop_assert!(given.contains(&part), "{} not in {}", part, query);
                }
            }
        }
    }
}
