//! The app's pages on a paired device: pairing, the pending request, approve or refuse.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;
use eid_core::AuditOutcome;
use std::sync::Arc;

use super::error::HttpError;
use super::pages::{AppPage, RequestView, render};
use super::request::{
    BROWSER_COOKIE, ClientIp, DEVICE_COOKIE, accept_language, browser_cookie, check_csrf, cookie,
    cookie_value, csrf_for, form,
};
use crate::flow::{IdpError, app};
use crate::state::Idp;
use crate::texts::texts;

/// How long a device stays paired in the browser.
const DEVICE_COOKIE_AGE: time::Duration = time::Duration::days(365);

async fn show(
    idp: &Idp,
    headers: &HeaderMap,
    jar: CookieJar,
    notice: Option<&'static str>,
    error: Option<&'static str>,
) -> Result<Response, HttpError> {
    let lang = accept_language(headers);
    let t = texts(lang);
    let device_cookie = cookie_value(&jar, DEVICE_COOKIE).map(str::to_owned);
    match app::device(idp, device_cookie.as_deref()).await? {
        Some(device) => {
            let request = app::pending_for(idp, &device).await?.map(|r| RequestView {
                level: r.level.map(|l| l.name(lang)),
                tag: r.tag(),
                seconds_left: r.seconds_left(idp),
                id: r.id,
                service: r.service,
            });
            let csrf = csrf_for(device_cookie.as_deref().unwrap_or_default());
            Ok((
                jar,
                render(
                    StatusCode::OK,
                    &AppPage {
                        t,
                        csrf: &csrf,
                        paired: true,
                        request,
                        notice,
                        error,
                    },
                ),
            )
                .into_response())
        }
        None => {
            let (jar, browser) = browser_cookie(jar, idp.config.secure_cookies);
            let csrf = csrf_for(&browser);
            let status = if error.is_some() {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::OK
            };
            Ok((
                jar,
                render(
                    status,
                    &AppPage {
                        t,
                        csrf: &csrf,
                        paired: false,
                        request: None,
                        notice,
                        error,
                    },
                ),
            )
                .into_response())
        }
    }
}

/// `GET /app`.
pub async fn page(
    State(idp): State<Arc<Idp>>,
    jar: CookieJar,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    show(&idp, &headers, jar, None, None).await
}

/// `GET /app/status`: what the app's page asks every two seconds to follow its pending request
/// without a reload ([`app::DeviceStatus`] as JSON). Authenticated by the device cookie like
/// `/app`: without a paired device, 401 and nothing else.
pub async fn status(State(idp): State<Arc<Idp>>, jar: CookieJar) -> Response {
    let answer = match app::device(&idp, cookie_value(&jar, DEVICE_COOKIE)).await {
        Ok(Some(device)) => app::device_status(&idp, &device).await.map(Some),
        Ok(None) => Ok(None),
        Err(e) => Err(e),
    };
    let (status, body) = match answer {
        Ok(Some(status)) => (StatusCode::OK, serde_json::json!(status)),
        Ok(None) => (
            StatusCode::UNAUTHORIZED,
            serde_json::json!({ "error": "not_paired" }),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "app status unavailable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                serde_json::json!({ "error": "temporarily_unavailable" }),
            )
        }
    };
    (status, [(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

/// `POST /app/pair`.
pub async fn pair(
    State(idp): State<Arc<Idp>>,
    ClientIp(ip): ClientIp,
    jar: CookieJar,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, HttpError> {
    let t = texts(accept_language(&headers));
    let form = form(&body)?;
    if check_csrf(&form, cookie_value(&jar, BROWSER_COOKIE)).is_err() {
        idp.audit(
            idp.event("form.csrf_rejected", AuditOutcome::Failure)
                .ip(&ip)
                .detail("form", "app_pair"),
        )
        .await?;
        return Err(IdpError::Csrf.into());
    }
    // The name the person gave the device, within the bounds of every authenticator name; none
    // or a bad one: the kind's name in the page's language.
    let label = eid_core::Authenticator::normalise_label(form.get("label").unwrap_or_default())
        .unwrap_or_else(|_| {
            crate::activity::default_label(
                accept_language(&headers),
                eid_core::AuthenticatorKind::App,
                1,
            )
        });
    match app::pair(
        &idp,
        form.get("user_id").unwrap_or_default(),
        form.get("pairing_code").unwrap_or_default(),
        &label,
        &ip,
    )
    .await?
    {
        Some(device_cookie) => {
            let jar = jar.add(cookie(
                DEVICE_COOKIE,
                device_cookie,
                idp.config.secure_cookies,
                Some(DEVICE_COOKIE_AGE),
            ));
            // Show the page as the paired device sees it.
            let jar_for_page = jar.clone();
            let response = show(&idp, &headers, jar_for_page, Some(t.paired), None).await?;
            Ok((jar, response).into_response())
        }
        None => show(&idp, &headers, jar, None, Some(t.pairing_failed)).await,
    }
}

/// `POST /app/respond`: approve (with the number) or refuse.
pub async fn respond(
    State(idp): State<Arc<Idp>>,
    ClientIp(ip): ClientIp,
    jar: CookieJar,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, HttpError> {
    let t = texts(accept_language(&headers));
    let form = form(&body)?;
    let device_cookie = cookie_value(&jar, DEVICE_COOKIE).map(str::to_owned);
    if check_csrf(&form, device_cookie.as_deref()).is_err() {
        idp.audit(
            idp.event("form.csrf_rejected", AuditOutcome::Failure)
                .ip(&ip)
                .detail("form", "app_respond"),
        )
        .await?;
        return Err(IdpError::Csrf.into());
    }
    let Some(device) = app::device(&idp, device_cookie.as_deref()).await? else {
        return show(&idp, &headers, jar, None, Some(t.pairing_failed)).await;
    };
    let approve = form.get("answer") == Some("approve");
    let status = app::respond(
        &idp,
        &device,
        form.get("request").unwrap_or_default(),
        approve,
        form.get("number"),
    )
    .await?;
    let (notice, error) = match status {
        app::Answer::Approved => (Some(t.app_approved), None),
        app::Answer::WrongNumber => (None, Some(t.app_wrong_number)),
        app::Answer::Refused => (Some(t.app_refused_done), None),
        app::Answer::AlreadyApproved => (Some(t.app_already_approved), None),
        app::Answer::AlreadyRefused => (Some(t.app_already_refused), None),
        app::Answer::Expired => (None, Some(t.app_expired_done)),
    };
    show(&idp, &headers, jar, notice, error).await
}
