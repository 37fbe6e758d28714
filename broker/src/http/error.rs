//! Where failures become responses: error pages that say what to do next, and OAuth JSON errors.

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use eid_oidc::{ErrorCode, OAuthError};
use eid_web::Lang;

use super::pages::message;
use crate::oidc::BrokerError;
use crate::texts::texts;

/// A failure while handling a page request, in the page's language.
#[derive(Debug)]
pub struct HttpError {
    /// What failed.
    pub error: BrokerError,
    /// The page language.
    pub lang: Lang,
}

impl HttpError {
    /// Wraps an error with the page language.
    pub fn new(error: BrokerError, lang: Lang) -> Self {
        HttpError { error, lang }
    }
}

impl From<BrokerError> for HttpError {
    fn from(error: BrokerError) -> Self {
        HttpError {
            error,
            lang: Lang::default(),
        }
    }
}

impl From<eid_core::StoreError> for HttpError {
    fn from(e: eid_core::StoreError) -> Self {
        BrokerError::Store(e).into()
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let t = texts(self.lang);
        match &self.error {
            BrokerError::Expired => message(
                StatusCode::BAD_REQUEST,
                t,
                t.expired_title,
                t.expired_body,
                t.start_again,
            ),
            BrokerError::Csrf => {
                tracing::warn!("form refused: CSRF token missing or wrong");
                message(
                    StatusCode::FORBIDDEN,
                    t,
                    t.csrf_title,
                    t.csrf_body,
                    t.start_again,
                )
            }
            BrokerError::Store(e) => {
                tracing::error!(error = %e, "store failure");
                message(
                    StatusCode::SERVICE_UNAVAILABLE,
                    t,
                    t.unavailable_title,
                    t.unavailable_body,
                    t.start_again,
                )
            }
            BrokerError::Keys(e) => {
                tracing::error!(error = %e, "signing failure");
                message(
                    StatusCode::SERVICE_UNAVAILABLE,
                    t,
                    t.unavailable_title,
                    t.unavailable_body,
                    t.start_again,
                )
            }
            BrokerError::Upstream(e) => {
                tracing::warn!(error = %e, "upstream failure");
                message(
                    StatusCode::BAD_GATEWAY,
                    t,
                    t.upstream_failed_title,
                    t.upstream_failed_body,
                    t.start_again,
                )
            }
            BrokerError::BadRequest(reason) => {
                tracing::info!(%reason, "bad request");
                message(
                    StatusCode::BAD_REQUEST,
                    t,
                    t.error_title,
                    t.bad_request_body,
                    t.error_next,
                )
            }
        }
    }
}

/// An OAuth error as JSON.
pub fn oauth_json(e: &OAuthError) -> Response {
    eid_web::pages::oauth_json(e, "broker")
}

/// An authorization error that cannot go back to the client: a page in the person's words (the
/// OAuth code and description, for the service's developers, go to the log with the page's
/// reference).
pub fn oauth_page(e: &OAuthError, lang: Lang) -> Response {
    let t = texts(lang);
    tracing::info!(error = e.code.as_str(), description = %e.description, "authorization refused on a page");
    let (status, title, body, next) = match e.code {
        ErrorCode::TemporarilyUnavailable => (
            StatusCode::BAD_REQUEST,
            t.too_many_title,
            t.too_many_body,
            t.start_again,
        ),
        ErrorCode::InvalidRequestUri => (
            StatusCode::BAD_REQUEST,
            t.expired_title,
            t.request_expired_body,
            t.start_again,
        ),
        _ => (
            StatusCode::BAD_REQUEST,
            t.error_title,
            t.client_error_body,
            t.error_next,
        ),
    };
    message(status, t, title, body, next)
}

/// Unknown paths, in the person's language.
pub async fn not_found(headers: HeaderMap) -> Response {
    let t = texts(Lang::negotiate(
        None,
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    ));
    message(
        StatusCode::NOT_FOUND,
        t,
        t.not_found_title,
        t.not_found_body,
        t.not_found_next,
    )
}
