//! The one place where failures become responses: error pages that say what to do next.

use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
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
    /// Whether `lang` is the page's language; else (an error raised before the login's language
    /// was known, e.g. an expired login) [`localize`] renders the page in the browser's language.
    known_lang: bool,
}

impl HttpError {
    /// Wraps an error with the page language.
    pub fn new(error: IdpError, lang: Lang) -> Self {
        HttpError {
            error,
            lang,
            known_lang: true,
        }
    }
}

impl From<IdpError> for HttpError {
    fn from(error: IdpError) -> Self {
        HttpError {
            error,
            lang: Lang::default(),
            known_lang: false,
        }
    }
}

/// Which error page; kept on a response whose language was not known, for [`localize`].
#[derive(Debug, Clone, Copy)]
enum ErrorPage {
    Expired,
    Csrf,
    Unavailable,
    Bad,
}

fn error_page(page: ErrorPage, lang: Lang) -> Response {
    let t = texts(lang);
    let (status, title, body, next) = match page {
        ErrorPage::Expired => (
            StatusCode::BAD_REQUEST,
            t.expired_title,
            t.expired_body,
            t.start_again,
        ),
        ErrorPage::Csrf => (
            StatusCode::FORBIDDEN,
            t.csrf_title,
            t.csrf_body,
            t.start_again,
        ),
        ErrorPage::Unavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            t.unavailable_title,
            t.unavailable_body,
            t.start_again,
        ),
        ErrorPage::Bad => (StatusCode::BAD_REQUEST, t.error_title, "", t.error_next),
    };
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

/// Middleware: an error page rendered without the page's language (see [`HttpError`]) is rendered
/// again in the language of the browser (`Accept-Language`).
pub async fn localize(request: Request, next: Next) -> Response {
    let lang = super::request::accept_language(request.headers());
    let response = next.run(request).await;
    match response.extensions().get::<ErrorPage>() {
        Some(page) => error_page(*page, lang),
        None => response,
    }
}

impl From<eid_core::StoreError> for HttpError {
    fn from(e: eid_core::StoreError) -> Self {
        IdpError::Store(e).into()
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let page = match &self.error {
            IdpError::TxExpired => ErrorPage::Expired,
            IdpError::Csrf => {
                tracing::warn!("form refused: CSRF token missing or wrong");
                ErrorPage::Csrf
            }
            IdpError::Store(e) => {
                tracing::error!(error = %e, "store failure");
                ErrorPage::Unavailable
            }
            IdpError::Keys(e) => {
                tracing::error!(error = %e, "signing failure");
                ErrorPage::Unavailable
            }
            IdpError::BadRequest(reason) | IdpError::Webauthn(reason) => {
                tracing::info!(%reason, "bad request");
                ErrorPage::Bad
            }
        };
        let mut response = error_page(page, self.lang);
        if !self.known_lang {
            response.extensions_mut().insert(page);
        }
        response
    }
}

/// Unknown paths, in the browser's language.
pub async fn not_found(headers: HeaderMap) -> Response {
    let t = texts(super::request::accept_language(&headers));
    render(
        StatusCode::NOT_FOUND,
        &MessagePage {
            t,
            title: t.not_found_title,
            body: t.not_found_body,
            next: t.error_next,
            link: None,
        },
    )
}
