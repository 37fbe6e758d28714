//! The one place where failures become responses: error pages that say what to do next.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use eid_web::Lang;

use super::pages::{MessagePage, render};
use crate::flow::IdpError;
use crate::texts::texts;

/// A failure while handling a page request, in the language of the page.
#[derive(Debug)]
pub struct HttpError {
    /// What failed.
    pub error: IdpError,
    /// The page language.
    pub lang: Lang,
}

impl HttpError {
    /// Wraps an error with the page language.
    pub fn new(error: IdpError, lang: Lang) -> Self {
        HttpError { error, lang }
    }
}

impl From<IdpError> for HttpError {
    fn from(error: IdpError) -> Self {
        HttpError {
            error,
            lang: Lang::default(),
        }
    }
}

impl From<eid_core::StoreError> for HttpError {
    fn from(e: eid_core::StoreError) -> Self {
        IdpError::Store(e).into()
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let t = texts(self.lang);
        let (status, title, body, next) = match &self.error {
            IdpError::TxExpired => (
                StatusCode::BAD_REQUEST,
                t.expired_title,
                t.expired_body,
                t.start_again,
            ),
            IdpError::Csrf => (
                StatusCode::FORBIDDEN,
                t.csrf_title,
                t.csrf_body,
                t.start_again,
            ),
            IdpError::Store(e) => {
                tracing::error!(error = %e, "store failure");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    t.unavailable_title,
                    t.unavailable_body,
                    t.start_again,
                )
            }
            IdpError::Keys(e) => {
                tracing::error!(error = %e, "signing failure");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    t.unavailable_title,
                    t.unavailable_body,
                    t.start_again,
                )
            }
            IdpError::BadRequest(reason) | IdpError::Webauthn(reason) => {
                tracing::info!(%reason, "bad request");
                (StatusCode::BAD_REQUEST, t.error_title, "", t.error_next)
            }
        };
        if matches!(self.error, IdpError::Csrf) {
            tracing::warn!("form refused: CSRF token missing or wrong");
        }
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
    }
}

/// Unknown paths.
pub async fn not_found() -> Response {
    let t = texts(Lang::default());
    render(
        StatusCode::NOT_FOUND,
        &MessagePage {
            t,
            title: t.error_title,
            body: "404",
            next: t.error_next,
            link: None,
        },
    )
}
