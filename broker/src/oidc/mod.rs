//! The OIDC frontend towards relying parties: authorization (with PAR), the token endpoint (codes, refresh tokens, client credentials), userinfo, revocation,
//! introspection and logout (RP-initiated and back-channel). Plain functions; no HTTP types.

pub mod audit;
pub mod authorize;
pub mod claims;
pub mod client_auth;
pub mod discovery;
pub mod logout;
pub mod token;
pub mod tokens;

use eid_core::StoreError;

/// A failure of the broker's machinery or of a browser request (not an OAuth error to a client).
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// A store did not answer.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Signing failed or no key.
    #[error("signing: {0}")]
    Keys(String),
    /// The pending login is unknown, expired, or belongs to another browser.
    #[error("login expired or unknown")]
    Expired,
    /// The form's CSRF token did not match.
    #[error("CSRF token missing or wrong")]
    Csrf,
    /// A malformed request.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The upstream failed or answered wrongly.
    #[error("upstream: {0}")]
    Upstream(String),
}
