//! Every failure of the portal as a page in the person's language: what happened, what to do
//! next, a link onwards, and for errors a reference that is logged with the technical reason.

use axum::http::StatusCode;
use axum::response::Response;

use super::texts::Texts;
use super::views::MessagePage;
use crate::registry::RegistryError;

/// A failure of the portal.
#[derive(Debug, thiserror::Error)]
pub enum PortalError {
    /// The portal's settings are unusable (at start).
    #[error("portal settings: {0}")]
    Config(String),
    /// A form without the CSRF token of this browser.
    #[error("CSRF token missing or wrong")]
    Csrf,
    /// No such page, operation or organisation for this person.
    #[error("not found")]
    NotFound,
    /// The store or the broker failed.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The login through the broker failed.
    #[error("login failed: {0}")]
    LoginFailed(String),
    /// The person cancelled the login at the broker.
    #[error("login cancelled")]
    LoginCancelled,
    /// The broker's `sub` is not a person key (the registration is not `public`).
    #[error("the subject is not a public person key")]
    NotRecognised,
    /// The session acts on behalf of someone else: the registry can be used by persons only.
    #[error("acting on behalf of someone else")]
    ActingFor,
    /// The registry refused.
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

impl From<eid_core::StoreError> for PortalError {
    fn from(e: eid_core::StoreError) -> Self {
        PortalError::Unavailable(e.to_string())
    }
}

impl PortalError {
    fn status(&self) -> StatusCode {
        match self {
            PortalError::Config(_) => StatusCode::INTERNAL_SERVER_ERROR,
            PortalError::Csrf => StatusCode::FORBIDDEN,
            PortalError::NotFound => StatusCode::NOT_FOUND,
            PortalError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            PortalError::LoginFailed(_) | PortalError::LoginCancelled => StatusCode::BAD_REQUEST,
            PortalError::NotRecognised | PortalError::ActingFor => StatusCode::FORBIDDEN,
            PortalError::Registry(e) => match e {
                RegistryError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
                RegistryError::NotFound => StatusCode::NOT_FOUND,
                RegistryError::NotInRegister
                | RegistryError::ReDelegation
                | RegistryError::NotAdministrator
                | RegistryError::WrongParty
                | RegistryError::UnderAge
                | RegistryError::NotLegallyCompetent => StatusCode::FORBIDDEN,
                RegistryError::WrongState(_) | RegistryError::Changed => StatusCode::CONFLICT,
                _ => StatusCode::BAD_REQUEST,
            },
        }
    }

    /// The page of this failure.
    pub fn page(&self, t: &'static Texts) -> Response {
        let (title, body) = match self {
            PortalError::Csrf => (t.csrf_title, t.csrf_body),
            PortalError::NotFound => (t.not_found_title, t.not_found_body),
            PortalError::Config(_) | PortalError::Unavailable(_) => {
                (t.unavailable_title, t.unavailable_body)
            }
            PortalError::LoginFailed(_) => (t.login_failed_title, t.login_failed_body),
            PortalError::LoginCancelled => (t.login_failed_title, t.login_cancelled),
            PortalError::NotRecognised => (t.login_failed_title, t.not_recognised),
            PortalError::ActingFor => (t.acting_title, t.acting_body),
            PortalError::Registry(RegistryError::Store(_)) => {
                (t.unavailable_title, t.unavailable_body)
            }
            PortalError::Registry(e) => (t.refused_title, t.refusal(e)),
        };
        let status = self.status();
        let reference = super::views::error_reference();
        // The reason goes to the log with the reference; the page says what to do.
        match self {
            PortalError::Registry(e) => {
                tracing::info!(%reference, reason = e.reason(), status = status.as_u16(), "portal refusal shown");
            }
            other => {
                tracing::info!(%reference, error = %other, status = status.as_u16(), "portal error shown");
            }
        }
        MessagePage::error(t, status, title, body, reference)
    }
}
