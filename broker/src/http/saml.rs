//! SAML endpoints towards service providers: our metadata, the SSO service (Redirect and POST
//! bindings), the single logout service (Redirect, POST and SOAP bindings) and the page that
//! posts a Response to a service.

use axum::body::Bytes;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use eid_web::Lang;
use eid_web::browser::{browser_cookie, cookie_value, removal};
use std::net::SocketAddr;
use std::sync::Arc;

use super::error::HttpError;
use super::login::chooser;
use super::logout::step_response;
use super::pages::{message, render};
use super::{BROWSER_COOKIE, SESSION_COOKIE};
use crate::core::SsoSession;
use crate::saml::slo::front::ResponseIncoming;
use crate::saml::slo::{SloIncoming, SloOutcome, slo as handle_slo, soap_envelope};
use crate::saml::sso::{Incoming, SsoOutcome, sso as handle_sso};
use crate::saml::{PostPage, SsoRejection, idp};
use crate::state::Broker;
use crate::texts::{Texts, texts};

fn accept_language(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
}

/// `GET /saml/metadata`: our signed IdP metadata.
pub async fn metadata(State(broker): State<Arc<Broker>>) -> Result<Response, HttpError> {
    let xml = idp::metadata(&broker)?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/samlmetadata+xml"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        xml,
    )
        .into_response())
}

/// `GET /static/saml-post.js`: submits the POST-binding form (the CSP allows no inline script).
pub async fn post_script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        "document.getElementById(\"saml-post\").submit();\n",
    )
        .into_response()
}

/// The auto-submitting form to a service.
#[derive(askama::Template)]
#[template(path = "saml_post.html")]
struct PostTemplate<'a> {
    t: &'static Texts,
    action: &'a str,
    fields: &'a [(&'static str, String)],
}

/// The page that posts a SAML message to a service (never cached).
pub fn post_page(page: &PostPage) -> Response {
    let html = PostTemplate {
        t: texts(page.lang),
        action: &page.form.action,
        fields: &page.form.fields,
    };
    (
        [(header::CACHE_CONTROL, "no-store")],
        render(StatusCode::OK, &html),
    )
        .into_response()
}

/// The error page of a request that could not be verified (the reason goes to the log only).
fn refused_page(rejection: &SsoRejection, lang: Lang) -> Response {
    tracing::info!(reason = %rejection, "SAML request refused on a page");
    let t = texts(lang);
    message(
        StatusCode::BAD_REQUEST,
        t,
        t.error_title,
        t.client_error_body,
        t.error_next,
    )
}

/// The `SAMLRequest` and `RelayState` fields of a posted form, each at most once.
fn posted_fields(body: &[u8]) -> Option<(String, Option<String>)> {
    let mut request = None;
    let mut relay = None;
    for (name, value) in url::form_urlencoded::parse(body) {
        let slot = match name.as_ref() {
            "SAMLRequest" => &mut request,
            "RelayState" => &mut relay,
            _ => continue,
        };
        if slot.replace(value.into_owned()).is_some() {
            return None;
        }
    }
    request.map(|r| (r, relay))
}

async fn respond(
    broker: Arc<Broker>,
    addr: SocketAddr,
    jar: CookieJar,
    headers: HeaderMap,
    incoming: Option<Incoming<'_>>,
) -> Result<Response, HttpError> {
    let lang = Lang::negotiate(None, accept_language(&headers));
    let Some(incoming) = incoming else {
        return Ok(refused_page(&SsoRejection::NoRequest, lang));
    };
    let (jar, browser) = browser_cookie(
        jar,
        BROWSER_COOKIE,
        broker.config.secure_cookies,
        eid_oidc::random::token256,
    );
    let address = eid_web::client_addr::client_address(
        addr.ip().to_canonical(),
        &eid_web::client_addr::forwarded_for(&headers),
        &broker.config.trusted_proxies,
    );
    let outcome = handle_sso(
        &broker,
        incoming,
        cookie_value(&jar, SESSION_COOKIE),
        &browser,
        address,
        accept_language(&headers),
    )
    .await
    .map_err(|e| HttpError::new(e, lang))?;
    Ok(match outcome {
        SsoOutcome::Refused(rejection) => (jar, refused_page(&rejection, lang)).into_response(),
        SsoOutcome::Post(page) => (jar, post_page(&page)).into_response(),
        SsoOutcome::Redirect(url) => (jar, Redirect::to(url.as_str())).into_response(),
        SsoOutcome::Choose(pending) => (jar, chooser(&broker, &pending)).into_response(),
    })
}

/// `GET /saml/sso`: an AuthnRequest by the HTTP-Redirect binding.
pub async fn sso_redirect(
    State(broker): State<Arc<Broker>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    jar: CookieJar,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, HttpError> {
    let incoming = query.as_deref().map(Incoming::Redirect);
    respond(broker, addr, jar, headers, incoming).await
}

/// `POST /saml/sso`: an AuthnRequest by the HTTP-POST binding.
pub async fn sso_post(
    State(broker): State<Arc<Broker>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    jar: CookieJar,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, HttpError> {
    let fields = posted_fields(&body);
    let incoming = fields.as_ref().map(|(request, relay)| Incoming::Post {
        request,
        relay_state: relay.as_deref(),
    });
    respond(broker, addr, jar, headers, incoming).await
}

/// A single logout message from the browser: a service's LogoutRequest, or its LogoutResponse
/// to one of ours.
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
    // The browser's cookie goes once its session is gone (ended here, or never there).
    let gone = SsoSession::find(
        broker.ephemeral.as_ref(),
        cookie_value(&jar, SESSION_COOKIE),
    )
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
