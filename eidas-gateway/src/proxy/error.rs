//! Why the proxy service shows an error page instead of answering the connector, and the page for
//! each. Errors reach this page only when no verified return address can be answered: a request
//! we could not verify, an unknown connector, a browser without its login. Everything after a
//! verified request is answered with a signed failure Response instead (see [`super::flow`]).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use eid_core::{Lang, StoreError};
use eid_oidc::rp::UpstreamError;
use eid_saml::binding::BindingError;
use eid_saml::eidas::EidasError;

use super::texts::{Texts, texts};

/// A request the proxy service will not answer to a connector.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The `Issuer` names no configured connector.
    #[error("unknown connector")]
    UnknownConnector,
    /// The POST binding was broken (no message, too large, bad base64, long RelayState, …).
    #[error("binding: {0}")]
    Binding(#[from] BindingError),
    /// The form was not what the page sends.
    #[error("bad form: {0}")]
    BadForm(&'static str),
    /// The request could not be verified (signature, XML, shape), so nobody can be answered.
    #[error("request refused: {0}")]
    Refused(EidasError),
    /// A request ID seen before.
    #[error("request ID replayed")]
    Replayed,
    /// The connector's metadata has no usable ACS or encryption key.
    #[error("connector metadata unusable: {0}")]
    UnusableMetadata(&'static str),
    /// The connector's metadata cannot be had now.
    #[error("connector metadata unavailable: {0}")]
    PeerUnavailable(String),
    /// No pending login for this browser (no cookie, expired, taken).
    #[error("no pending login")]
    NoLogin,
    /// The login is not at the step this request belongs to.
    #[error("login not at this step")]
    WrongStep,
    /// CSRF token missing or not this browser's.
    #[error("CSRF token does not match")]
    Csrf,
    /// The ephemeral store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The broker cannot be reached to start the login.
    #[error("broker: {0}")]
    Broker(UpstreamError),
    /// The audit log did not take a release: nothing is sent unaudited.
    #[error("audit unavailable")]
    Audit,
    /// Writing our message failed (our key or certificate).
    #[error("cannot write: {0}")]
    Write(EidasError),
}

/// The kind of page an error shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageKind {
    /// The connector is not one of ours.
    UnknownConnector,
    /// The request is broken or refused.
    BadRequest,
    /// No login in this browser.
    Expired,
    /// Another browser, or CSRF.
    Forbidden,
    /// Something is down.
    Unavailable,
}

impl ProxyError {
    /// The page and HTTP status for this error.
    pub fn page(&self) -> (PageKind, StatusCode) {
        match self {
            ProxyError::UnknownConnector => (PageKind::UnknownConnector, StatusCode::FORBIDDEN),
            ProxyError::Binding(_)
            | ProxyError::BadForm(_)
            | ProxyError::Refused(_)
            | ProxyError::Replayed
            | ProxyError::UnusableMetadata(_) => (PageKind::BadRequest, StatusCode::BAD_REQUEST),
            ProxyError::NoLogin | ProxyError::WrongStep => {
                (PageKind::Expired, StatusCode::BAD_REQUEST)
            }
            ProxyError::Csrf => (PageKind::Forbidden, StatusCode::FORBIDDEN),
            ProxyError::PeerUnavailable(_)
            | ProxyError::Store(_)
            | ProxyError::Broker(_)
            | ProxyError::Audit
            | ProxyError::Write(_) => (PageKind::Unavailable, StatusCode::SERVICE_UNAVAILABLE),
        }
    }

    /// A short stable name for the audit log and metrics (never the content of a message).
    pub fn reason(&self) -> String {
        match self {
            ProxyError::UnknownConnector => "unknown_connector".into(),
            ProxyError::Binding(e) => format!("binding: {e}"),
            ProxyError::BadForm(what) => format!("form: {what}"),
            ProxyError::Refused(e) => format!("refused: {e}"),
            ProxyError::Replayed => "replayed_request_id".into(),
            ProxyError::UnusableMetadata(what) => format!("metadata: {what}"),
            ProxyError::PeerUnavailable(_) => "metadata_unavailable".into(),
            ProxyError::NoLogin => "no_login".into(),
            ProxyError::WrongStep => "wrong_step".into(),
            ProxyError::Csrf => "csrf".into(),
            ProxyError::Store(_) => "store".into(),
            ProxyError::Broker(_) => "broker_unavailable".into(),
            ProxyError::Audit => "audit".into(),
            ProxyError::Write(_) => "write".into(),
        }
    }

    /// The error page in `lang`.
    pub fn to_response(&self, lang: Lang) -> Response {
        let (kind, status) = self.page();
        if status.is_server_error() {
            tracing::warn!(error = %self, "eIDAS proxy service unavailable");
        } else {
            tracing::info!(reason = %self.reason(), "eIDAS proxy service refused a request");
        }
        message_page(kind, status, lang)
    }
}

/// An error page.
#[derive(askama::Template)]
#[template(path = "proxy/message.html")]
struct MessagePage {
    t: &'static Texts,
    title: &'static str,
    body: &'static str,
    next: &'static str,
}

/// The page of `kind`.
pub fn message_page(kind: PageKind, status: StatusCode, lang: Lang) -> Response {
    let t = texts(lang);
    let (title, body, next) = match kind {
        PageKind::UnknownConnector => (
            t.unknown_connector_title,
            t.unknown_connector_body,
            t.start_again,
        ),
        PageKind::BadRequest => (t.bad_request_title, t.bad_request_body, t.start_again),
        PageKind::Expired => (t.expired_title, t.expired_body, t.start_again),
        PageKind::Forbidden => (t.forbidden_title, t.forbidden_body, t.start_again),
        PageKind::Unavailable => (t.unavailable_title, t.unavailable_body, t.try_later),
    };
    let page = MessagePage {
        t,
        title,
        body,
        next,
    };
    eid_web::pages::render(status, &page).into_response()
}
