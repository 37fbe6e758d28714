//! `GET /logout` (RP-initiated logout) and its confirmation form; the logic is in
//! [`crate::flow::logout`].

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use eid_core::AuditOutcome;
use eid_web::Lang;
use eid_web::params::OAuthParams;
use std::sync::Arc;

use super::error::HttpError;
use super::oidc::show_oauth_error;
use super::pages::{LogoutConfirmPage, MessagePage, render};
use super::request::{
    BROWSER_COOKIE, ClientIp, SESSION_COOKIE, accept_language, browser_cookie, check_csrf,
    cookie_value, csrf_for, form, removal,
};
use crate::flow::IdpError;
use crate::flow::logout::{self, LogoutOutcome};
use crate::state::Idp;
use crate::texts::texts;

/// `GET /logout`: ends the session only when the request names it, else asks the person.
pub async fn logout(
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
    let outcome = logout::logout(&idp, &params, cookie_value(&jar, SESSION_COOKIE))
        .await
        .map_err(|e| HttpError::new(e, lang))?;
    Ok(respond(&idp, jar, outcome, lang))
}

/// `POST /logout/confirm`: the person confirmed on the authenticator's own page.
pub async fn confirm(
    State(idp): State<Arc<Idp>>,
    jar: CookieJar,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    body: Bytes,
) -> Result<Response, HttpError> {
    let lang = accept_language(&headers);
    let form = form(&body).map_err(|e| HttpError::new(e, lang))?;
    if check_csrf(&form, cookie_value(&jar, BROWSER_COOKIE)).is_err() {
        idp.audit(
            idp.event("form.csrf_rejected", AuditOutcome::Failure)
                .ip(&ip)
                .detail("form", "logout"),
        )
        .await
        .map_err(|e| HttpError::new(e.into(), lang))?;
        return Err(HttpError::new(IdpError::Csrf, lang));
    }
    let outcome = logout::confirm(&idp, &form, cookie_value(&jar, SESSION_COOKIE))
        .await
        .map_err(|e| HttpError::new(e, lang))?;
    Ok(respond(&idp, jar, outcome, lang))
}

fn respond(idp: &Idp, jar: CookieJar, outcome: LogoutOutcome, lang: Lang) -> Response {
    let t = texts(lang);
    let secure = idp.config.secure_cookies;
    let jar = if outcome.ends_session() {
        jar.add(removal(SESSION_COOKIE, secure))
    } else {
        jar
    };
    let message = |status, title, body: &str, next| {
        render(
            status,
            &MessagePage {
                t,
                title,
                body,
                next,
                link: None,
            },
        )
    };
    match outcome {
        LogoutOutcome::Redirect(url) => (jar, Redirect::to(url.as_str())).into_response(),
        LogoutOutcome::LoggedOut => {
            (jar, message(StatusCode::OK, t.log_out, t.logged_out, "")).into_response()
        }
        LogoutOutcome::Refused(why) => (
            jar,
            message(
                StatusCode::BAD_REQUEST,
                t.error_title,
                &why.to_string(),
                t.error_next,
            ),
        )
            .into_response(),
        LogoutOutcome::Confirm(continuation) => {
            let (jar, browser) = browser_cookie(jar, secure);
            let page = LogoutConfirmPage {
                t,
                csrf: &csrf_for(&browser),
                service: continuation
                    .client_id
                    .as_deref()
                    .and_then(|id| idp.clients.get(id))
                    .map(|c| c.client_name.as_str()),
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
    }
}
