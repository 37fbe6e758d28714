//! The connector's HTTP endpoints, all under `/eidas/connector/`: thin handlers that read the
//! request, call the flow functions and render their outcomes.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use axum_extra::extract::cookie::CookieJar;
use eid_core::Lang;
use eid_oidc::random::token256;
use eid_oidc::{OAuthError, RawParams};
use eid_saml::binding::{MAX_POSTED_RESPONSE_BASE64, MAX_RELAY_STATE_BYTES};
use eid_web::browser::{cookie_value, csrf_for};
use eid_web::params::OAuthParams;

use super::acs::{self, AcsOutcome};
use super::error::{ConnectorError, HttpError};
use super::login::{self, AuthorizeOutcome, Failure, FailurePage, LoginStep};
use super::texts::{Texts, texts, with_country};
use super::token;
use super::{BASE_PATH, BROWSER_COOKIE, Connector, Country};

/// The script that submits the POST-binding forms (the CSP allows no inline script).
pub const POST_SCRIPT_PATH: &str = "/eidas/connector/post.js";
/// The form field that marks a Response re-posted by our own page.
pub const REPOSTED_FIELD: &str = "reposted";
/// Largest body `/par` reads.
pub const PAR_BODY_LIMIT: usize = 16 * 1024;
/// Largest body the ACS reads (a form-encoded Response of at most
/// [`MAX_POSTED_RESPONSE_BASE64`] base64 characters, with its `RelayState`).
pub const ACS_BODY_LIMIT: usize = 3 * MAX_POSTED_RESPONSE_BASE64 + 1024;

/// The connector's routes.
pub fn routes(connector: Arc<Connector>) -> Router {
    let p = |path: &str| format!("{BASE_PATH}{path}");
    Router::new()
        .route(&p("/.well-known/openid-configuration"), get(discovery))
        .route(&p("/jwks"), get(jwks))
        .route(&p("/authorize"), get(authorize).post(authorize))
        .route(&p("/par"), post(par))
        .route(&p("/token"), post(token_endpoint))
        .route(&p("/choose"), post(choose))
        .route(&p("/acs"), post(acs_endpoint))
        .route(&p("/metadata"), get(metadata))
        .route(POST_SCRIPT_PATH, get(post_script))
        .with_state(connector)
}

/// The client's address (empty when the server gave none).
pub struct ClientIp(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(
            eid_web::client_addr::of_request_behind(&parts.extensions, &parts.headers)
                .map(|ip| ip.to_string())
                .unwrap_or_default(),
        ))
    }
}

fn accept_language(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
}

fn page_lang(headers: &HeaderMap) -> Lang {
    Lang::negotiate(None, accept_language(headers))
}

/// Renders a page, never cached.
pub(super) fn page(status: StatusCode, template: &impl askama::Template) -> Response {
    (
        [(header::CACHE_CONTROL, "no-store")],
        eid_web::pages::render(status, template),
    )
        .into_response()
}

/// A plain message page.
#[derive(askama::Template)]
#[template(path = "connector/message.html")]
pub(super) struct MessagePage {
    pub t: &'static Texts,
    pub title: &'static str,
    pub body: &'static str,
    pub next: &'static str,
}

#[derive(askama::Template)]
#[template(path = "connector/chooser.html")]
struct ChooserPage<'a> {
    t: &'static Texts,
    action: String,
    handle: &'a str,
    csrf: String,
    service_name: Option<&'a str>,
    countries: &'a [Country],
    back: &'a str,
}

#[derive(askama::Template)]
#[template(path = "connector/post.html")]
struct PostPage<'a> {
    t: &'static Texts,
    title: &'static str,
    body: &'static str,
    button: &'static str,
    action: &'a str,
    fields: &'a [(&'static str, String)],
    script: &'static str,
}

#[derive(askama::Template)]
#[template(path = "connector/failure.html")]
struct FailureTemplate<'a> {
    t: &'static Texts,
    title: &'static str,
    body: String,
    contact: String,
    back: &'a str,
}

fn failure_page(f: &FailurePage) -> Response {
    let t = texts(f.lang);
    let (status, title, body) = match f.failure {
        Failure::Cancelled => (StatusCode::OK, t.cancelled_title, t.cancelled_body),
        Failure::Failed => (StatusCode::OK, t.failed_title, t.failed_body),
        Failure::LevelNotReached => (StatusCode::OK, t.level_title, t.level_body),
        Failure::Unavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            t.unavailable_title,
            t.unavailable_body,
        ),
        Failure::Refused => (StatusCode::BAD_REQUEST, t.refused_title, t.refused_body),
    };
    page(
        status,
        &FailureTemplate {
            t,
            title,
            body: with_country(body, &f.country),
            contact: with_country(t.next_contact, &f.country),
            back: f.back.as_str(),
        },
    )
}

fn step_response(conn: &Connector, step: LoginStep, browser: &str) -> Response {
    match step {
        LoginStep::Chooser {
            handle,
            service_name,
            lang,
            back,
        } => page(
            StatusCode::OK,
            &ChooserPage {
                t: texts(lang),
                action: format!("{BASE_PATH}/choose"),
                handle: &handle,
                csrf: csrf_for(browser),
                service_name: service_name.as_deref(),
                countries: &conn.countries,
                back: back.as_str(),
            },
        ),
        LoginStep::Post { form, lang } => {
            let t = texts(lang);
            page(
                StatusCode::OK,
                &PostPage {
                    t,
                    title: t.post_title,
                    body: t.post_body,
                    button: t.post_button,
                    action: &form.action,
                    fields: &form.fields,
                    script: POST_SCRIPT_PATH,
                },
            )
        }
        LoginStep::Failed(f) => failure_page(&f),
    }
}

/// An authorization error that cannot go back to the client: a page; the OAuth code and
/// description go to the log.
fn show_oauth_error(e: &OAuthError, lang: Lang) -> Response {
    tracing::info!(error = e.code.as_str(), description = %e.description, "connector: authorization refused on a page");
    let t = texts(lang);
    page(
        StatusCode::BAD_REQUEST,
        &MessagePage {
            t,
            title: t.error_title,
            body: t.error_body,
            next: t.start_again,
        },
    )
}

/// `GET /eidas/connector/.well-known/openid-configuration`.
async fn discovery(State(conn): State<Arc<Connector>>) -> Response {
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(token::discovery(&conn)),
    )
        .into_response()
}

/// `GET /eidas/connector/jwks`.
async fn jwks(State(conn): State<Arc<Connector>>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        conn.oidc_keys.jwks_json().to_string(),
    )
        .into_response()
}

/// `GET|POST /eidas/connector/authorize`.
async fn authorize(
    State(conn): State<Arc<Connector>>,
    ClientIp(ip): ClientIp,
    jar: CookieJar,
    headers: HeaderMap,
    OAuthParams(params): OAuthParams,
) -> Response {
    let lang = page_lang(&headers);
    let params = match params {
        Ok(p) => p,
        Err(e) => {
            let event = conn
                .event("authorize.rejected", eid_core::AuditOutcome::Failure)
                .ip(ip)
                .detail("error", e.code.as_str())
                .detail("reason", e.description.clone());
            if let Err(error) = conn.audit(event).await {
                return HttpError {
                    error: error.into(),
                    lang,
                }
                .into_response();
            }
            return show_oauth_error(&e, lang);
        }
    };
    let (jar, browser) =
        eid_web::browser::browser_cookie(jar, BROWSER_COOKIE, conn.common.secure_cookies, token256);
    match login::authorize(&conn, &params, &browser, accept_language(&headers), &ip).await {
        Ok(AuthorizeOutcome::ShowError(e)) => (jar, show_oauth_error(&e, lang)).into_response(),
        Ok(AuthorizeOutcome::Redirect(url)) => (jar, Redirect::to(url.as_str())).into_response(),
        Ok(AuthorizeOutcome::Step(step)) => {
            (jar, step_response(&conn, step, &browser)).into_response()
        }
        Err(error) => (jar, HttpError { error, lang }).into_response(),
    }
}

/// Reads at most `limit` bytes of a body (an announced longer one is refused unread).
async fn bounded_body(headers: &HeaderMap, mut body: Body, limit: usize) -> Option<Bytes> {
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > limit as u64) {
        return None;
    }
    let mut read = Vec::new();
    while let Some(frame) =
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
    {
        if let Ok(data) = frame.ok()?.into_data() {
            if read.len() + data.len() > limit {
                return None;
            }
            read.extend_from_slice(&data);
        }
    }
    Some(Bytes::from(read))
}

fn oauth_form(body: Option<&Bytes>) -> Result<RawParams, OAuthError> {
    let body = body.ok_or_else(|| OAuthError::invalid_request("the body is too large"))?;
    std::str::from_utf8(body)
        .map_err(|_| OAuthError::invalid_request("body is not UTF-8"))
        .and_then(RawParams::parse)
}

/// A client's request to the PAR or token endpoint: its bounded form and `Authorization` header.
async fn client_request(
    headers: &HeaderMap,
    body: Body,
) -> Result<(RawParams, Option<String>), Response> {
    let body = bounded_body(headers, body, PAR_BODY_LIMIT).await;
    let form =
        oauth_form(body.as_ref()).map_err(|e| eid_web::pages::oauth_json(&e, "eidas-connector"))?;
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    Ok((form, authorization))
}

/// `POST /eidas/connector/par` (RFC 9126).
async fn par(
    State(conn): State<Arc<Connector>>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (form, authorization) = match client_request(&headers, body).await {
        Ok(request) => request,
        Err(response) => return response,
    };
    let authorization = authorization.as_deref();
    match login::push(&conn, authorization, &form, &ip).await {
        Ok((request_uri, expires_in)) => (
            StatusCode::CREATED,
            [(header::CACHE_CONTROL, "no-store")],
            Json(serde_json::json!({ "request_uri": request_uri, "expires_in": expires_in })),
        )
            .into_response(),
        Err(e) => eid_web::pages::oauth_json(&e, "eidas-connector"),
    }
}

/// `POST /eidas/connector/token`.
async fn token_endpoint(
    State(conn): State<Arc<Connector>>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (form, authorization) = match client_request(&headers, body).await {
        Ok(request) => request,
        Err(response) => return response,
    };
    let authorization = authorization.as_deref();
    match token::token(&conn, authorization, &form, &ip).await {
        Ok(response) => ([(header::CACHE_CONTROL, "no-store")], Json(response)).into_response(),
        Err(e) => eid_web::pages::oauth_json(&e, "eidas-connector"),
    }
}

/// `POST /eidas/connector/choose`: the country chooser's form.
async fn choose(
    State(conn): State<Arc<Connector>>,
    ClientIp(ip): ClientIp,
    jar: CookieJar,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let lang = page_lang(&headers);
    let body = bounded_body(&headers, body, PAR_BODY_LIMIT).await;
    let form = match oauth_form(body.as_ref()) {
        Ok(form) => form,
        Err(e) => {
            let error = ConnectorError::BadRequest(e.description);
            return HttpError { error, lang }.into_response();
        }
    };
    let browser = cookie_value(&jar, BROWSER_COOKIE);
    match login::choose(&conn, &form, browser, &ip).await {
        Ok(step) => step_response(&conn, step, browser.unwrap_or_default()),
        Err(error) => HttpError { error, lang }.into_response(),
    }
}

/// The fields of a posted form that the ACS reads, each at most once (a repeated one is refused).
pub fn acs_fields(body: &[u8]) -> Result<HashMap<&'static str, String>, ConnectorError> {
    let mut fields = HashMap::new();
    for (name, value) in url::form_urlencoded::parse(body) {
        let known = ["SAMLResponse", "RelayState", REPOSTED_FIELD]
            .into_iter()
            .find(|k| *k == name);
        if let Some(k) = known
            && fields.insert(k, value.into_owned()).is_some()
        {
            return Err(ConnectorError::BadRequest(format!(
                "{k} appears more than once"
            )));
        }
    }
    Ok(fields)
}

/// Whether a posted Response may be echoed by the re-post page: base64 within the binding's
/// bound, a `RelayState` within its own.
fn echoable(response: &str, relay_state: Option<&str>) -> bool {
    !response.is_empty()
        && response.len() <= MAX_POSTED_RESPONSE_BASE64
        && response
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'\r' | b'\n'))
        && relay_state.is_none_or(|r| {
            r.len() <= MAX_RELAY_STATE_BYTES
                && r.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
        })
}

/// `POST /eidas/connector/acs`: the proxy service's Response. A cross-site POST carries none of
/// our `SameSite=Lax` cookies, so a Response without our browser cookie is sent back once, unread,
/// through a page of our own origin that posts it here again (marked [`REPOSTED_FIELD`]; a marked
/// one is always processed, so the bounce cannot loop). Nothing is checked on the bounce.
async fn acs_endpoint(
    State(conn): State<Arc<Connector>>,
    ClientIp(ip): ClientIp,
    jar: CookieJar,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let lang = page_lang(&headers);
    let Some(body) = bounded_body(&headers, body, ACS_BODY_LIMIT).await else {
        let error = ConnectorError::BadRequest("the body is too large".into());
        return HttpError { error, lang }.into_response();
    };
    let fields = match acs_fields(&body) {
        Ok(fields) => fields,
        Err(error) => return HttpError { error, lang }.into_response(),
    };
    let response = fields.get("SAMLResponse").map(String::as_str);
    let relay_state = fields.get("RelayState").map(String::as_str);
    let browser = cookie_value(&jar, BROWSER_COOKIE);
    if browser.is_none()
        && !fields.contains_key(REPOSTED_FIELD)
        && let Some(response) = response
        && echoable(response, relay_state)
    {
        let t = texts(lang);
        let mut fields = vec![("SAMLResponse", response.to_owned())];
        if let Some(relay) = relay_state {
            fields.push(("RelayState", relay.to_owned()));
        }
        fields.push((REPOSTED_FIELD, "1".to_owned()));
        return page(
            StatusCode::OK,
            &PostPage {
                t,
                title: t.repost_title,
                body: t.repost_body,
                button: t.repost_button,
                action: &format!("{BASE_PATH}/acs"),
                fields: &fields,
                script: POST_SCRIPT_PATH,
            },
        );
    }
    match acs::acs(&conn, response, relay_state, browser, &ip).await {
        Ok(AcsOutcome::Redirect(url)) => Redirect::to(url.as_str()).into_response(),
        Ok(AcsOutcome::Failed(f)) => failure_page(&f),
        Err(error) => HttpError { error, lang }.into_response(),
    }
}

/// `GET /eidas/connector/metadata`: our signed eIDAS SP metadata.
async fn metadata(State(conn): State<Arc<Connector>>, headers: HeaderMap) -> Response {
    match token::metadata(&conn) {
        Ok(xml) => (
            [
                (header::CONTENT_TYPE, "application/samlmetadata+xml"),
                (header::CACHE_CONTROL, "public, max-age=300"),
            ],
            xml.to_string(),
        )
            .into_response(),
        Err(e) => HttpError {
            error: ConnectorError::Unavailable(format!("metadata: {e}")),
            lang: page_lang(&headers),
        }
        .into_response(),
    }
}

/// `GET /eidas/connector/post.js`: submits the POST-binding form.
async fn post_script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        "document.getElementById(\"saml-post\").submit();\n",
    )
        .into_response()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_repeated_field_is_refused() {
        assert!(acs_fields(b"SAMLResponse=a&SAMLResponse=b").is_err());
        assert!(acs_fields(b"RelayState=a&RelayState=b").is_err());
        let f = acs_fields(b"SAMLResponse=QQ%3D%3D&RelayState=r&other=1&other=2").unwrap();
        assert_eq!(f["SAMLResponse"], "QQ==");
        assert_eq!(f.len(), 2);
    }

    #[test]
    fn only_bounded_base64_and_a_plain_relay_state_are_echoed() {
        assert!(echoable("PHNhbWw+", Some("abc_-1")));
        assert!(!echoable("", None));
        assert!(!echoable("PHN\"><script>", None));
        assert!(!echoable("PHNh", Some("a\"b")));
        assert!(!echoable(&"A".repeat(MAX_POSTED_RESPONSE_BASE64 + 1), None));
        assert!(!echoable(
            "PHNh",
            Some(&"r".repeat(MAX_RELAY_STATE_BYTES + 1))
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any body is read into at most the three known fields, or refused; never a panic.
        #[test]
        fn any_acs_body_is_read_or_refused(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            if let Ok(fields) = acs_fields(&body) {
                prop_assert!(fields.len() <= 3);
            }
        }

        /// What is echoed stays inside its attribute: no quote, no angle bracket.
        #[test]
        fn echoed_values_add_no_markup(response in "\\PC{0,60}", relay in proptest::option::of("\\PC{0,90}")) {
            if echoable(&response, relay.as_deref()) {
                for v in std::iter::once(response.as_str()).chain(relay.as_deref()) {
                    prop_assert!(!v.contains(['"', '<', '>', '&']));
                }
            }
        }
    }
}
