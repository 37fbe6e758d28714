//! The one place where the connector's failures become pages that say what to do next.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use eid_core::{Lang, StoreError};

use super::http::{MessagePage, page};
use super::texts::texts;

/// Why a page request of the connector failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    /// The login is unknown, expired or already finished.
    #[error("login unknown, expired or finished")]
    Expired,
    /// The form's CSRF token is missing or wrong.
    #[error("CSRF token missing or wrong")]
    Csrf,
    /// The login was started in another browser.
    #[error("login started in another browser")]
    WrongBrowser,
    /// The request is malformed.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// A store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// Something we depend on failed (signing, encoding).
    #[error("unavailable: {0}")]
    Unavailable(String),
}

/// A failure with the language of its page.
#[derive(Debug)]
pub struct HttpError {
    /// What failed.
    pub error: ConnectorError,
    /// The page language.
    pub lang: Lang,
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let t = texts(self.lang);
        let (status, title, body) = match &self.error {
            ConnectorError::Expired => (StatusCode::BAD_REQUEST, t.expired_title, t.expired_body),
            ConnectorError::Csrf => (StatusCode::FORBIDDEN, t.csrf_title, t.csrf_body),
            ConnectorError::WrongBrowser => {
                (StatusCode::FORBIDDEN, t.browser_title, t.browser_body)
            }
            ConnectorError::BadRequest(reason) => {
                tracing::info!(%reason, "connector: bad request");
                (StatusCode::BAD_REQUEST, t.error_title, t.error_body)
            }
            ConnectorError::Store(e) => {
                tracing::error!(error = %e, "connector: store failure");
                (StatusCode::SERVICE_UNAVAILABLE, t.down_title, t.down_body)
            }
            ConnectorError::Unavailable(e) => {
                tracing::error!(error = %e, "connector: failure");
                (StatusCode::SERVICE_UNAVAILABLE, t.down_title, t.down_body)
            }
        };
        page(
            status,
            &MessagePage {
                t,
                title,
                body,
                next: t.start_again,
            },
        )
    }
}
