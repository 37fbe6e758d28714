//! OIDC endpoints: discovery, JWKS, authorize, token, userinfo.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use eid_oidc::{OAuthError, RawParams};
use eid_web::params::OAuthParams;
use std::net::SocketAddr;
use std::sync::Arc;

use super::error::HttpError;
use super::login::completion_response;
use super::pages::{MessagePage, render};
use super::request::{SESSION_COOKIE, accept_language, browser_cookie, client_ip, cookie_value};
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

/// `POST /par` (RFC 9126): a client authenticated with its secret pushes its authorization
/// request (with `service_name`); answers `request_uri` and `expires_in`.
pub async fn par(
    State(idp): State<Arc<Idp>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
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
    match oidc::push(&idp, authorization, &form, &client_ip(&addr)).await {
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
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
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
    match oidc::token(&idp, authorization, &form, &client_ip(&addr)).await {
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
