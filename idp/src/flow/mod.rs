//! The authenticator's protocol logic: plain functions over typed input, the clock and the stores,
//! returning outcomes. No HTTP types here.

pub mod account;
pub mod app;
pub mod complete;
pub mod enrol;
pub mod login;
pub mod logout;
pub mod oidc;
pub mod passkey;
pub mod session;
pub mod tx;

use eid_core::StoreError;

/// A failure of the authenticator's own machinery (not of the person's input).
#[derive(Debug, thiserror::Error)]
pub enum IdpError {
    /// A store did not answer.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Signing failed.
    #[error("signing: {0}")]
    Keys(#[from] eid_keys::KeyError),
    /// The login transaction is unknown, expired, or belongs to another browser.
    #[error("login transaction expired or unknown")]
    TxExpired,
    /// The form's CSRF token did not match.
    #[error("CSRF token missing or wrong")]
    Csrf,
    /// A request was malformed.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// WebAuthn machinery failed.
    #[error("webauthn: {0}")]
    Webauthn(String),
}
