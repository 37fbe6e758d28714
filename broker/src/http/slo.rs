//! The single logout service towards SAML services (`/saml/slo`: HTTP-Redirect and HTTP-POST from
//! the browser, SOAP by `text/xml`; `/saml/slo/soap`): a service's LogoutRequest, or its
//! LogoutResponse to one of ours in a logout chain.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;
use eid_web::Lang;
use eid_web::browser::{cookie_value, removal};
use std::sync::Arc;

use super::SESSION_COOKIE;
use super::error::HttpError;
use super::logout::step_response;
use super::saml::{accept_language, refused_page};
use crate::core::SsoSession;
use crate::saml::SsoRejection;
use crate::saml::slo::front::ResponseIncoming;
use crate::saml::slo::{SloIncoming, SloOutcome, slo as handle_slo, soap_envelope};
use crate::saml::sso::Incoming;
use crate::state::Broker;

/// A single logout message from the browser: a service's LogoutRequest, or its LogoutResponse
/// to one of ours.
#[derive(Debug)]
enum SloMessage<'a> {
    Request(Incoming<'a>),
    Response(ResponseIncoming<'a>),
}

/// The message of a Redirect-binding query: a `SAMLResponse` alone is a LogoutResponse, anything
/// else is read as a LogoutRequest (and refused when it is none).
fn redirect_message(query: &str) -> SloMessage<'_> {
    let mut request = false;
    let mut response = false;
    for (name, _) in url::form_urlencoded::parse(query.as_bytes()) {
        request |= name == "SAMLRequest";
        response |= name == "SAMLResponse";
    }
    if response && !request {
        SloMessage::Response(ResponseIncoming::Redirect(query))
    } else {
        SloMessage::Request(Incoming::Redirect(query))
    }
}

/// The fields of a posted single logout form: exactly one of `SAMLRequest` and `SAMLResponse`,
/// and `RelayState`, each at most once: `(is a response, message, relay state)`.
fn posted_slo_fields(body: &[u8]) -> Option<(bool, String, Option<String>)> {
    let mut request = None;
    let mut response = None;
    let mut relay = None;
    for (name, value) in url::form_urlencoded::parse(body) {
        let slot = match name.as_ref() {
            "SAMLRequest" => &mut request,
            "SAMLResponse" => &mut response,
            "RelayState" => &mut relay,
            _ => continue,
        };
        if slot.replace(value.into_owned()).is_some() {
            return None;
        }
    }
    match (request, response) {
        (Some(r), None) => Some((false, r, relay)),
        (None, Some(r)) => Some((true, r, relay)),
        _ => None,
    }
}

async fn respond_slo(
    broker: Arc<Broker>,
    jar: CookieJar,
    headers: HeaderMap,
    message: Option<SloMessage<'_>>,
) -> Result<Response, HttpError> {
    let lang = Lang::negotiate(None, accept_language(&headers));
    let Some(message) = message else {
        return Ok(refused_page(&SsoRejection::NoRequest, lang));
    };
    let outcome = match message {
        SloMessage::Request(incoming) => handle_slo(
            &broker,
            SloIncoming::Front(incoming),
            accept_language(&headers),
        )
        .await
        .map_err(|e| HttpError::new(e, lang))?,
        SloMessage::Response(incoming) => crate::logout::after_service(&broker, incoming)
            .await
            .map_err(|e| HttpError::new(e, lang))?
            .map_or_else(SloOutcome::Refused, SloOutcome::Step),
    };
    // The browser's cookie goes once its session is gone (ended here, or never there). A request
    // without it (a cross-site POST: `SameSite=Lax` keeps it back) says nothing about the session
    // the browser holds, which may live on: then no cookie is touched.
    let cookie = cookie_value(&jar, SESSION_COOKIE);
    let gone = cookie.is_some()
        && SsoSession::find(broker.ephemeral.as_ref(), cookie)
            .await
            .map_err(|e| HttpError::new(e.into(), lang))?
            .is_none();
    let jar = if gone && !matches!(outcome, SloOutcome::Refused(_)) {
        jar.add(removal(SESSION_COOKIE, broker.config.secure_cookies))
    } else {
        jar
    };
    Ok(match outcome {
        SloOutcome::Refused(rejection) => refused_page(&rejection, lang),
        SloOutcome::Step(step) => step_response(&broker, jar, step, lang),
        // Not reached by the front channel.
        SloOutcome::Soap(_) => refused_page(&SsoRejection::NoRequest, lang),
    })
}

/// `GET /saml/slo`: a LogoutRequest, or a LogoutResponse to ours, by the HTTP-Redirect binding.
pub async fn slo_redirect(
    State(broker): State<Arc<Broker>>,
    jar: CookieJar,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, HttpError> {
    let message = query.as_deref().map(redirect_message);
    respond_slo(broker, jar, headers, message).await
}

/// `POST /saml/slo`: a LogoutRequest, or a LogoutResponse to ours, by the HTTP-POST binding, or
/// a LogoutRequest by SOAP (`text/xml`; our metadata names this URL for the SOAP binding too).
pub async fn slo_post(
    State(broker): State<Arc<Broker>>,
    jar: CookieJar,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, HttpError> {
    if is_xml(&headers) {
        return soap_logout(broker, body, false).await;
    }
    let fields = posted_slo_fields(&body);
    let message = fields.as_ref().map(|(is_response, message, relay)| {
        let relay_state = relay.as_deref();
        if *is_response {
            SloMessage::Response(ResponseIncoming::Post {
                response: message,
                relay_state,
            })
        } else {
            SloMessage::Request(Incoming::Post {
                request: message,
                relay_state,
            })
        }
    });
    respond_slo(broker, jar, headers, message).await
}

/// A SOAP 1.1 answer (`text/xml`, never cached).
fn soap(status: StatusCode, envelope: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/xml; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        envelope,
    )
        .into_response()
}

/// `POST /saml/slo/soap`: a LogoutRequest by the SOAP binding (back-channel): a SOAP-wrapped
/// signed LogoutResponse, or a SOAP fault when the request cannot be verified.
pub async fn slo_soap(
    State(broker): State<Arc<Broker>>,
    body: Bytes,
) -> Result<Response, HttpError> {
    soap_logout(broker, body, true).await
}

/// Whether a request carries XML (a SOAP message) rather than a form.
fn is_xml(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| {
            let m = m.trim();
            m.eq_ignore_ascii_case("text/xml") || m.eq_ignore_ascii_case("application/soap+xml")
        })
}

async fn soap_logout(
    broker: Arc<Broker>,
    body: Bytes,
    at_soap_path: bool,
) -> Result<Response, HttpError> {
    let lang = Lang::Da;
    let fault = |reason: &SsoRejection| {
        tracing::info!(reason = %reason, "SAML SOAP request refused");
        soap(
            StatusCode::BAD_REQUEST,
            soap_envelope(
                "<soap11:Fault><faultcode>soap11:Client</faultcode><faultstring>The request was refused.</faultstring></soap11:Fault>",
            ),
        )
    };
    let Ok(text) = std::str::from_utf8(&body) else {
        return Ok(fault(&SsoRejection::NoRequest));
    };
    let incoming = SloIncoming::Soap {
        body: text,
        at_soap_path,
    };
    let outcome = handle_slo(&broker, incoming, None)
        .await
        .map_err(|e| HttpError::new(e, lang))?;
    Ok(match outcome {
        SloOutcome::Soap(envelope) => soap(StatusCode::OK, envelope),
        SloOutcome::Refused(rejection) => fault(&rejection),
        SloOutcome::Step(_) => fault(&SsoRejection::NoRequest),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn is_response(query: &str) -> bool {
        matches!(redirect_message(query), SloMessage::Response(_))
    }

    #[test]
    fn a_redirect_query_is_a_logout_response_only_with_saml_response_alone() {
        assert!(is_response("SAMLResponse=x&SigAlg=a&Signature=b"));
        assert!(!is_response("SAMLRequest=x&SigAlg=a&Signature=b"));
        // Both: read as a request, which its decoder refuses.
        assert!(!is_response("SAMLRequest=x&SAMLResponse=y"));
        assert!(!is_response(""));
    }

    #[test]
    fn a_posted_form_holds_exactly_one_message_and_each_field_once() {
        let read = |body: &str| posted_slo_fields(body.as_bytes());
        assert_eq!(
            read("SAMLRequest=a&RelayState=r"),
            Some((false, "a".into(), Some("r".into())))
        );
        assert_eq!(read("SAMLResponse=a&x=1"), Some((true, "a".into(), None)));
        assert_eq!(read("SAMLRequest=a&SAMLResponse=b"), None);
        assert_eq!(read("SAMLResponse=a&SAMLResponse=b"), None);
        assert_eq!(read("SAMLResponse=a&RelayState=1&RelayState=2"), None);
        assert_eq!(read("RelayState=r"), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Whatever the browser sends, reading it never panics, and a form counts only with
        /// exactly one message and at most one RelayState.
        #[test]
        fn any_query_or_form_is_read_without_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..512),
            names in proptest::collection::vec(
                prop_oneof![
                    Just("SAMLRequest"),
                    Just("SAMLResponse"),
                    Just("RelayState"),
                    Just("other"),
                ],
                0..6,
            ),
        ) {
            let _ = redirect_message(&String::from_utf8_lossy(&bytes));
            let _ = posted_slo_fields(&bytes);
            let form = names.iter().map(|n| format!("{n}=v")).collect::<Vec<_>>().join("&");
            let count = |name: &str| names.iter().filter(|n| **n == name).count();
            let read = posted_slo_fields(form.as_bytes());
            let acceptable =
                count("SAMLRequest") + count("SAMLResponse") == 1 && count("RelayState") <= 1;
            prop_assert_eq!(read.is_some(), acceptable);
            if let Some((is_response, _, _)) = read {
                prop_assert_eq!(is_response, count("SAMLResponse") == 1);
            }
        }
    }
}
