//! OIDC endpoints: discovery, JWKS, authorize, token, userinfo.

use axum::Json;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use eid_core::AuditOutcome;
use eid_oidc::{OAuthError, RawParams};
use eid_web::params::OAuthParams;
use std::sync::Arc;

use super::error::HttpError;
use super::login::completion_response;
use super::pages::{MessagePage, render};
use super::request::{ClientIp, SESSION_COOKIE, accept_language, browser_cookie, cookie_value};
use crate::flow::oidc::{self, AuthorizeOutcome};
use crate::state::Idp;
use crate::texts::texts;

/// `GET /.well-known/openid-configuration`.
pub async fn discovery(State(idp): State<Arc<Idp>>) -> Response {
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(oidc::discovery(&idp)),
    )
        .into_response()
}

/// `GET /jwks`: next, active and recently retired keys.
pub async fn jwks(State(idp): State<Arc<Idp>>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        idp.keys.jwks_json().to_string(),
    )
        .into_response()
}

/// `GET|POST /authorize`.
pub async fn authorize(
    State(idp): State<Arc<Idp>>,
    jar: CookieJar,
    headers: HeaderMap,
    OAuthParams(params): OAuthParams,
) -> Result<Response, HttpError> {
    let lang = accept_language(&headers);
    let params = match params {
        Ok(p) => p,
        Err(e) => return Ok(show_oauth_error(&e, lang)),
    };
    let secure = idp.config.secure_cookies;
    let (jar, browser) = browser_cookie(jar, secure);
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    let outcome = oidc::authorize(
        &idp,
        &params,
        cookie_value(&jar, SESSION_COOKIE),
        &browser,
        accept,
    )
    .await
    .map_err(|e| HttpError::new(e, lang))?;
    Ok(match outcome {
        AuthorizeOutcome::ShowError(e) => (jar, show_oauth_error(&e, lang)).into_response(),
        AuthorizeOutcome::Redirect(url) => (jar, Redirect::to(url.as_str())).into_response(),
        AuthorizeOutcome::Login(tx) => {
            (jar, Redirect::to(&format!("/login?tx={}", tx.id))).into_response()
        }
        AuthorizeOutcome::Completed {
            completion,
            service,
        } => (
            jar,
            completion_response(completion, lang, service.as_deref()),
        )
            .into_response(),
    })
}

/// An authorization error that cannot go back to the client: a page in the person's words; the
/// OAuth code and description, for the client's developers, go to the log.
pub(super) fn show_oauth_error(e: &OAuthError, lang: eid_web::Lang) -> Response {
    let t = texts(lang);
    tracing::info!(error = e.code.as_str(), description = %e.description, "authorization refused on a page");
    render(
        StatusCode::BAD_REQUEST,
        &MessagePage {
            t,
            title: t.error_title,
            body: t.client_error_body,
            next: t.error_next,
            link: None,
        },
    )
}

fn oauth_json_error(e: &OAuthError) -> Response {
    eid_web::pages::oauth_json(e, "idp")
}

/// Largest body `/par` reads: an authorization request is a few hundred bytes, well within the
/// 8 KiB a front-channel request may have; anything larger is refused unread (413).
pub const PAR_BODY_LIMIT: usize = 16 * 1024;

/// Why a body was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyRefusal {
    /// Longer than the limit (announced or sent).
    TooLarge,
    /// The connection failed while it was sent.
    Unreadable,
}

/// Reads at most `limit` bytes of a body; a `Content-Length` over the limit is refused before
/// anything is read, a longer body as soon as it passes the limit.
async fn bounded_body(
    headers: &HeaderMap,
    mut body: Body,
    limit: usize,
) -> Result<Bytes, BodyRefusal> {
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > limit as u64) {
        return Err(BodyRefusal::TooLarge);
    }
    let mut read = Vec::new();
    while let Some(frame) =
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
    {
        let frame = frame.map_err(|_| BodyRefusal::Unreadable)?;
        if let Ok(data) = frame.into_data() {
            if read.len() + data.len() > limit {
                return Err(BodyRefusal::TooLarge);
            }
            read.extend_from_slice(&data);
        }
    }
    Ok(Bytes::from(read))
}

/// `POST /par` (RFC 9126): a client authenticated with its secret pushes its authorization
/// request (with `service_name`); answers `request_uri` and `expires_in`. The body is bounded by
/// [`PAR_BODY_LIMIT`].
pub async fn par(
    State(idp): State<Arc<Idp>>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let body = match bounded_body(&headers, body, PAR_BODY_LIMIT).await {
        Ok(body) => body,
        Err(refusal) => {
            let (status, e) = match refusal {
                BodyRefusal::TooLarge => (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    OAuthError::invalid_request(format!(
                        "the body is larger than {PAR_BODY_LIMIT} bytes"
                    )),
                ),
                BodyRefusal::Unreadable => (
                    StatusCode::BAD_REQUEST,
                    OAuthError::invalid_request("the body could not be read"),
                ),
            };
            let event = idp
                .event("par.rejected", AuditOutcome::Failure)
                .ip(&ip)
                .detail("error", e.code.as_str())
                .detail("reason", e.description.clone());
            if let Err(store) = oidc::audit_unauthenticated(&idp, &ip, event).await {
                return oauth_json_error(&store.into());
            }
            let mut response = oauth_json_error(&e);
            *response.status_mut() = status;
            return response;
        }
    };
    let form = match std::str::from_utf8(&body)
        .map_err(|_| OAuthError::invalid_request("body is not UTF-8"))
        .and_then(RawParams::parse)
    {
        Ok(form) => form,
        Err(e) => return oauth_json_error(&e),
    };
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match oidc::push(&idp, authorization, &form, &ip).await {
        Ok((request_uri, expires_in)) => (
            StatusCode::CREATED,
            [(header::CACHE_CONTROL, "no-store")],
            Json(serde_json::json!({ "request_uri": request_uri, "expires_in": expires_in })),
        )
            .into_response(),
        Err(e) => oauth_json_error(&e),
    }
}

/// `POST /token`.
pub async fn token(
    State(idp): State<Arc<Idp>>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = match std::str::from_utf8(&body)
        .map_err(|_| OAuthError::invalid_request("body is not UTF-8"))
        .and_then(RawParams::parse)
    {
        Ok(form) => form,
        Err(e) => return oauth_json_error(&e),
    };
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match oidc::token(&idp, authorization, &form, &ip).await {
        Ok(response) => ([(header::CACHE_CONTROL, "no-store")], Json(response)).into_response(),
        Err(e) => oauth_json_error(&e),
    }
}

/// `GET|POST /userinfo`.
pub async fn userinfo(State(idp): State<Arc<Idp>>, headers: HeaderMap) -> Response {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match oidc::userinfo(&idp, authorization).await {
        Ok(record) => ([(header::CACHE_CONTROL, "no-store")], Json(record)).into_response(),
        Err(e) => oauth_json_error(&e),
    }
}
