//! OIDC endpoints towards relying parties.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use eid_oidc::{OAuthError, RawParams};
use eid_web::Lang;
use eid_web::browser::{browser_cookie, cookie_value, csrf_for, removal};
use eid_web::params::OAuthParams;
use std::net::SocketAddr;
use std::sync::Arc;

use super::error::{HttpError, oauth_json, oauth_page};
use super::login::chooser;
use super::logout::step_response;
use super::pages::{message, render};
use super::{BROWSER_COOKIE, LOGOUT_COOKIE, SESSION_COOKIE};
use crate::oidc::authorize::{self, AuthorizeOutcome};
use crate::oidc::client_auth::authenticate_audited;
use crate::oidc::logout::{self, LogoutOutcome};
use crate::oidc::{discovery as disco, token as tok};
use crate::state::Broker;
use crate::texts::texts;

fn accept_language(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
}

fn authorization(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
}

fn form(body: &[u8]) -> Result<RawParams, OAuthError> {
    std::str::from_utf8(body)
        .map_err(|_| OAuthError::invalid_request("body is not UTF-8"))
        .and_then(RawParams::parse)
}

/// `GET /.well-known/openid-configuration`.
pub async fn discovery(State(broker): State<Arc<Broker>>) -> Response {
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(disco::discovery(&broker)),
    )
        .into_response()
}

/// `GET /jwks`.
pub async fn jwks(State(broker): State<Arc<Broker>>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        broker.keys.jwks_json().to_string(),
    )
        .into_response()
}

/// The client's address: the socket's peer, or behind a configured reverse proxy the client it
/// reports ([`eid_web::client_addr::client_address`]).
fn client_address(broker: &Broker, peer: SocketAddr, headers: &HeaderMap) -> std::net::IpAddr {
    eid_web::client_addr::client_address(
        peer.ip().to_canonical(),
        &eid_web::client_addr::forwarded_for(headers),
        &broker.config.trusted_proxies,
    )
}

/// `GET|POST /authorize`. Pending logins are counted per client address: the socket's peer, or
/// behind a configured reverse proxy the client it reports.
pub async fn authorize(
    State(broker): State<Arc<Broker>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    jar: CookieJar,
    headers: HeaderMap,
    OAuthParams(params): OAuthParams,
) -> Result<Response, HttpError> {
    let lang = Lang::negotiate(None, accept_language(&headers));
    let params = match params {
        Ok(p) => p,
        Err(e) => return Ok(oauth_page(&e, lang)),
    };
    let (jar, browser) = browser_cookie(
        jar,
        BROWSER_COOKIE,
        broker.config.secure_cookies,
        eid_oidc::random::token256,
    );
    let outcome = authorize::authorize(
        &broker,
        &params,
        cookie_value(&jar, SESSION_COOKIE),
        &browser,
        client_address(&broker, addr, &headers),
        accept_language(&headers),
    )
    .await
    .map_err(|e| HttpError::new(e, lang))?;
    Ok(match outcome {
        AuthorizeOutcome::ShowError(e) => (jar, oauth_page(&e, lang)).into_response(),
        AuthorizeOutcome::Redirect(url) => (jar, Redirect::to(url.as_str())).into_response(),
        AuthorizeOutcome::Choose(pending) => (jar, chooser(&broker, &pending)).into_response(),
        AuthorizeOutcome::ChooseRepresentation(choice) => {
            (jar, super::represent::choice_page(&broker, &choice)).into_response()
        }
        AuthorizeOutcome::Explain(page) => {
            (jar, super::pages::explained_refusal(&page)).into_response()
        }
    })
}

/// `POST /par` (RFC 9126).
pub async fn par(State(broker): State<Arc<Broker>>, headers: HeaderMap, body: Bytes) -> Response {
    let encoded = String::from_utf8_lossy(&body).into_owned();
    let form = match form(&body) {
        Ok(f) => f,
        Err(e) => return oauth_json(&e),
    };
    let endpoint = format!("{}/par", broker.config.issuer);
    let rp = match authenticate_audited(
        &broker,
        authorization(&headers),
        &form,
        &endpoint,
        "par.rejected",
        None,
    )
    .await
    {
        Ok(rp) => rp,
        Err(e) => return oauth_json(&e),
    };
    let pushed = authorize::push(&broker, &rp, &form, &encoded).await;
    if let Err(e) = &pushed {
        let event = broker
            .event("par.rejected", eid_core::AuditOutcome::Failure)
            .client(rp.rp.id.clone())
            .detail("error", e.code.as_str())
            .detail("reason", e.description.clone());
        if let Err(store) = broker.audit(event).await {
            return oauth_json(&store.into());
        }
    }
    match pushed {
        Ok((request_uri, expires_in)) => (
            StatusCode::CREATED,
            [(header::CACHE_CONTROL, "no-store")],
            Json(serde_json::json!({ "request_uri": request_uri, "expires_in": expires_in })),
        )
            .into_response(),
        Err(e) => oauth_json(&e),
    }
}

/// `POST /token`.
pub async fn token(
    State(broker): State<Arc<Broker>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = match form(&body) {
        Ok(f) => f,
        Err(e) => return oauth_json(&e),
    };
    let client = client_address(&broker, addr, &headers).to_string();
    match tok::token(&broker, authorization(&headers), &form, &client).await {
        Ok(response) => ([(header::CACHE_CONTROL, "no-store")], Json(response)).into_response(),
        Err(e) => oauth_json(&e),
    }
}

/// `GET|POST /userinfo`.
pub async fn userinfo(State(broker): State<Arc<Broker>>, headers: HeaderMap) -> Response {
    match tok::userinfo(&broker, authorization(&headers)).await {
        Ok(claims) => ([(header::CACHE_CONTROL, "no-store")], Json(claims)).into_response(),
        Err(e) => oauth_json(&e),
    }
}

/// `POST /revoke` (RFC 7009).
pub async fn revoke(
    State(broker): State<Arc<Broker>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = match form(&body) {
        Ok(f) => f,
        Err(e) => return oauth_json(&e),
    };
    match tok::revoke(&broker, authorization(&headers), &form).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => oauth_json(&e),
    }
}

/// `POST /introspect` (RFC 7662).
pub async fn introspect(
    State(broker): State<Arc<Broker>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = match form(&body) {
        Ok(f) => f,
        Err(e) => return oauth_json(&e),
    };
    match tok::introspect(&broker, authorization(&headers), &form).await {
        Ok(value) => ([(header::CACHE_CONTROL, "no-store")], Json(value)).into_response(),
        Err(e) => oauth_json(&e),
    }
}

/// The page asking the person to confirm a logout.
#[derive(askama::Template)]
#[template(path = "logout_confirm.html")]
struct LogoutConfirmPage<'a> {
    t: &'static crate::texts::Texts,
    csrf: &'a str,
    service: Option<&'a str>,
    client_id: Option<&'a str>,
    post_logout_redirect_uri: Option<&'a str>,
    state: Option<&'a str>,
}

/// `GET|POST /logout` (RP-initiated logout): ends the session only when it is the browser's own
/// session asking, else asks the person to confirm (see [`logout::logout`]).
pub async fn logout(
    State(broker): State<Arc<Broker>>,
    jar: CookieJar,
    headers: HeaderMap,
    OAuthParams(params): OAuthParams,
) -> Result<Response, HttpError> {
    let lang = Lang::negotiate(None, accept_language(&headers));
    let params = match params {
        Ok(p) => p,
        Err(e) => return Ok(oauth_page(&e, lang)),
    };
    let outcome = logout::logout(&broker, &params, cookie_value(&jar, SESSION_COOKIE), lang)
        .await
        .map_err(|e| HttpError::new(e, lang))?;
    Ok(logout_response(&broker, jar, outcome, lang))
}

/// `POST /logout/confirm`: the person confirmed on the broker's own page.
pub async fn logout_confirm(
    State(broker): State<Arc<Broker>>,
    jar: CookieJar,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, HttpError> {
    let lang = Lang::negotiate(None, accept_language(&headers));
    let form = match form(&body) {
        Ok(f) => f,
        Err(e) => return Ok(oauth_page(&e, lang)),
    };
    let outcome = logout::confirm(
        &broker,
        &form,
        cookie_value(&jar, SESSION_COOKIE),
        cookie_value(&jar, BROWSER_COOKIE),
        lang,
    )
    .await
    .map_err(|e| HttpError::new(e, lang))?;
    Ok(logout_response(&broker, jar, outcome, lang))
}

fn logout_response(
    broker: &Broker,
    jar: CookieJar,
    outcome: LogoutOutcome,
    lang: Lang,
) -> Response {
    let secure = broker.config.secure_cookies;
    let jar = if outcome.ends_session() {
        jar.add(removal(SESSION_COOKIE, secure))
    } else {
        jar
    };
    match outcome {
        LogoutOutcome::Confirm(continuation) => {
            let (jar, browser) =
                browser_cookie(jar, BROWSER_COOKIE, secure, eid_oidc::random::token256);
            let rp = continuation
                .client_id
                .as_deref()
                .and_then(|id| broker.registry.get(id));
            let page = LogoutConfirmPage {
                t: texts(lang),
                csrf: &csrf_for(&browser),
                service: rp.as_ref().map(|rp| rp.rp.name.as_str()),
                client_id: continuation.client_id.as_deref(),
                post_logout_redirect_uri: continuation.post_logout_redirect_uri.as_deref(),
                state: continuation.state.as_deref(),
            };
            (
                jar,
                [(header::CACHE_CONTROL, "no-store")],
                render(StatusCode::OK, &page),
            )
                .into_response()
        }
        LogoutOutcome::Step(step) => step_response(broker, jar, step, lang),
        LogoutOutcome::Refused(why) => {
            let t = texts(lang);
            let page = message(
                StatusCode::BAD_REQUEST,
                t,
                t.error_title,
                &why.to_string(),
                t.error_next,
            );
            (jar, page).into_response()
        }
    }
}

/// `GET /logout/done`: back from the upstream's logout, on along the logout chain.
pub async fn logout_done(
    State(broker): State<Arc<Broker>>,
    jar: CookieJar,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let lang = Lang::negotiate(None, accept_language(&headers));
    let step = crate::logout::after_upstream(&broker, cookie_value(&jar, LOGOUT_COOKIE))
        .await
        .map_err(|e| HttpError::new(e, lang))?;
    Ok(step_response(&broker, jar, step, lang))
}
