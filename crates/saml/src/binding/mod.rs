//! The SAML 2.0 bindings the broker speaks: HTTP-Redirect (deflate, detached signature over the
//! raw query) and HTTP-POST (base64 in a form). Both only move bytes: the XML they yield is parsed
//! by [`crate::messages`], and is trusted only after its signature was checked.

mod keys;
pub mod post;
pub mod redirect;

pub use keys::{PublicKeyKind, SpVerificationKey};
pub use post::{PostForm, PostMessage, decode_post};
pub use redirect::{RedirectMessage, SigAlg, decode_redirect, redirect_url, signed_redirect_url};

/// The longest query string of a Redirect-binding message we read.
pub const MAX_QUERY_BYTES: usize = 16 * 1024;
/// The most a Redirect-binding message may inflate to; a larger output is a deflate bomb.
pub const MAX_INFLATED_BYTES: usize = 64 * 1024;
/// The longest base64 `SAMLRequest` we accept by HTTP-POST (before decoding).
pub const MAX_POSTED_REQUEST_BASE64: usize = 96 * 1024;
/// The longest base64 `SAMLResponse` we accept by HTTP-POST (encrypted assertions are larger).
pub const MAX_POSTED_RESPONSE_BASE64: usize = 512 * 1024;
/// The longest `RelayState`, in bytes (SAML Bindings §3.4.3 and §3.5.3).
pub const MAX_RELAY_STATE_BYTES: usize = 80;

/// Which of the two SAML message parameters carries the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// `SAMLRequest`: an AuthnRequest or a LogoutRequest.
    Request,
    /// `SAMLResponse`: a Response or a LogoutResponse.
    Response,
}

impl MessageKind {
    /// The parameter name (`SAMLRequest` or `SAMLResponse`).
    pub fn parameter(self) -> &'static str {
        match self {
            MessageKind::Request => "SAMLRequest",
            MessageKind::Response => "SAMLResponse",
        }
    }
}

/// An opaque `RelayState`, at most 80 bytes, echoed back to the party that sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayState(pub(crate) String);

impl RelayState {
    /// Checks the length bound (at most 80 bytes).
    pub fn new(value: impl Into<String>) -> Result<RelayState, BindingError> {
        let value = value.into();
        if value.len() > MAX_RELAY_STATE_BYTES {
            return Err(BindingError::RelayStateTooLong);
        }
        Ok(RelayState(value))
    }

    /// The value.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a bound message was refused. Nothing here echoes the input (it may hold personal data).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindingError {
    /// The query string or posted field is larger than we read.
    #[error("the message is too large")]
    TooLarge,
    /// The inflated message would exceed the bound (a deflate bomb, or simply too large).
    #[error("the message inflates beyond {MAX_INFLATED_BYTES} bytes")]
    InflatedTooLarge,
    /// Neither or both of `SAMLRequest` and `SAMLResponse`, or the wrong one of them.
    #[error("expected exactly one {0} parameter")]
    MissingMessage(&'static str),
    /// A SAML parameter appears twice.
    #[error("parameter {0} appears more than once")]
    DuplicateParameter(&'static str),
    /// A parameter is not validly percent-encoded, base64 or UTF-8.
    #[error("parameter {0} is not validly encoded")]
    BadEncoding(&'static str),
    /// The deflated message is not valid raw deflate.
    #[error("the message is not valid raw deflate")]
    BadDeflate,
    /// `RelayState` is longer than 80 bytes.
    #[error("RelayState is longer than {MAX_RELAY_STATE_BYTES} bytes")]
    RelayStateTooLong,
    /// The message carries no signature, or a `Signature` without `SigAlg` or the reverse.
    #[error("the message is not signed (Signature and SigAlg are both required)")]
    Unsigned,
    /// `SigAlg` names an algorithm we do not accept (SHA-1, DSA, anything unknown).
    #[error("SigAlg is not an accepted algorithm")]
    UnsupportedSigAlg,
    /// `SigAlg` does not fit the kind of any of the sender's keys (e.g. ECDSA for an RSA key).
    #[error("SigAlg does not match the sender's key")]
    SigAlgKeyMismatch,
    /// The sender has no usable signing key in its metadata.
    #[error("the sender has no signing key")]
    NoKey,
    /// No key of the sender verifies the signature.
    #[error("the signature does not verify")]
    BadSignature,
    /// A certificate could not be read, or holds a key type we do not support.
    #[error("certificate: {0}")]
    BadCertificate(&'static str),
    /// The signing callback failed.
    #[error("signing failed: {0}")]
    Signing(String),
    /// The destination URL cannot carry a SAML message.
    #[error("the destination URL is not usable")]
    BadDestination,
}
