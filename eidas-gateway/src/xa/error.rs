//! What can go wrong at XA, and how each failure is answered: an error page in the citizen's
//! words (400 for what a browser or peer sent, 403 for a stale form, 503 when a peer's metadata
//! or our store cannot be had). Failures after a request was verified are answered to the peer
//! with a SAML status instead (see [`super::proxy`]); these are the ones that cannot be.

use axum::http::StatusCode;
use axum::response::Response;
use eid_core::{Lang, StoreError};
use eid_saml::binding::BindingError;
use eid_saml::eidas::EidasError;

use super::form::FormError;
use super::pages::message_page;
use super::texts::texts;
use crate::peers::PeerError;

/// Why XA refused or could not finish something.
#[derive(Debug, thiserror::Error)]
pub enum XaError {
    /// The form is not one of ours (repeated or missing fields, too long a value).
    #[error("form: {0}")]
    Form(&'static str),
    /// The SAML binding could not be read (size, base64, RelayState).
    #[error("binding: {0}")]
    Binding(#[from] BindingError),
    /// The message names a peer we do not have.
    #[error("unknown peer")]
    UnknownPeer,
    /// The peer's metadata cannot be had now.
    #[error("peer unavailable: {0}")]
    PeerUnavailable(String),
    /// The peer's metadata does not fit its role (no encryption key, another role, country).
    #[error("peer metadata: {0}")]
    PeerMetadata(&'static str),
    /// The message broke a rule of the eIDAS profile (signature, destination, times, …).
    #[error("refused: {0}")]
    Refused(#[from] EidasError),
    /// The identifier received is not one for us (`DK/XA/…`).
    #[error("person identifier: {0}")]
    Identifier(&'static str),
    /// A request or assertion ID seen before.
    #[error("replayed")]
    Replayed,
    /// No pending login or request of this browser (expired, finished or never begun).
    #[error("no pending login")]
    NoPending,
    /// The form's CSRF token does not belong to the browser.
    #[error("csrf")]
    Csrf,
    /// The ephemeral store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// Writing our own message failed (a key or certificate problem of ours).
    #[error("cannot write: {0}")]
    Write(String),
}

impl From<FormError> for XaError {
    fn from(e: FormError) -> Self {
        XaError::Form(match e {
            FormError::Repeated => "a field appears more than once",
            FormError::TooMany => "too many fields",
        })
    }
}

impl From<PeerError> for XaError {
    fn from(e: PeerError) -> Self {
        match e {
            PeerError::Unknown => XaError::UnknownPeer,
            PeerError::Unavailable(why) => XaError::PeerUnavailable(why),
            PeerError::Refused(why) => XaError::PeerUnavailable(format!("metadata refused: {why}")),
        }
    }
}

impl XaError {
    /// A short stable name for the audit log and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            XaError::Form(_) => "form",
            XaError::Binding(_) => "binding",
            XaError::UnknownPeer => "unknown_peer",
            XaError::PeerUnavailable(_) => "peer_unavailable",
            XaError::PeerMetadata(_) => "peer_metadata",
            XaError::Refused(_) => "refused",
            XaError::Identifier(_) => "identifier",
            XaError::Replayed => "replayed",
            XaError::NoPending => "no_pending",
            XaError::Csrf => "csrf",
            XaError::Store(_) => "store",
            XaError::Write(_) => "write",
        }
    }

    /// The page that answers it.
    pub fn page(&self, lang: Lang) -> Response {
        let t = texts(lang);
        let (status, body, next) = match self {
            XaError::Form(_)
            | XaError::Binding(_)
            | XaError::UnknownPeer
            | XaError::Refused(_)
            | XaError::Identifier(_) => (
                StatusCode::BAD_REQUEST,
                t.bad_request_body,
                t.bad_request_next,
            ),
            XaError::Replayed | XaError::NoPending => {
                (StatusCode::BAD_REQUEST, t.expired_body, t.expired_next)
            }
            XaError::Csrf => (StatusCode::FORBIDDEN, t.stale_form_body, t.stale_form_next),
            XaError::PeerUnavailable(_)
            | XaError::PeerMetadata(_)
            | XaError::Store(_)
            | XaError::Write(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                t.unavailable_body,
                t.unavailable_next,
            ),
        };
        message_page(status, lang, t.error_title, body, next)
    }
}
