//! OAuth 2.0 / OpenID Connect errors, each carrying its protocol code.

use std::fmt;

/// The error codes of RFC 6749, OIDC Core and the extensions we implement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The request is malformed.
    InvalidRequest,
    /// The client may not use this flow.
    UnauthorizedClient,
    /// The person or the provider refused.
    AccessDenied,
    /// Only `code` is supported.
    UnsupportedResponseType,
    /// The scope is not acceptable.
    InvalidScope,
    /// Something failed on our side.
    ServerError,
    /// A store or upstream is unavailable; try again.
    TemporarilyUnavailable,
    /// `prompt=none` but the person must log in.
    LoginRequired,
    /// `prompt=none` but the person must interact.
    InteractionRequired,
    /// Client authentication failed.
    InvalidClient,
    /// The code, refresh token or verifier is invalid, expired or used.
    InvalidGrant,
    /// The grant type is not supported.
    UnsupportedGrantType,
    /// The access token is invalid.
    InvalidToken,
    /// A pushed request URI is unknown or expired.
    InvalidRequestUri,
}

impl ErrorCode {
    /// The wire code.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::UnsupportedResponseType => "unsupported_response_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::ServerError => "server_error",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
            ErrorCode::LoginRequired => "login_required",
            ErrorCode::InteractionRequired => "interaction_required",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::InvalidRequestUri => "invalid_request_uri",
        }
    }

    /// The HTTP status of this error at the token, userinfo and PAR endpoints.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::InvalidClient | ErrorCode::InvalidToken => 401,
            ErrorCode::ServerError => 500,
            ErrorCode::TemporarilyUnavailable => 503,
            ErrorCode::AccessDenied => 403,
            _ => 400,
        }
    }
}

/// An OAuth error with a human-readable description (never containing secrets).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct OAuthError {
    /// The protocol code.
    pub code: ErrorCode,
    /// What was wrong, for the developer of the client.
    pub description: String,
}

impl OAuthError {
    /// An error with a description.
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        OAuthError {
            code,
            description: description.into(),
        }
    }

    /// `invalid_request` with a description.
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, description)
    }

    /// `invalid_grant` with a description.
    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidGrant, description)
    }

    /// `invalid_client` with a description.
    pub fn invalid_client(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidClient, description)
    }

    /// The JSON body of a token-endpoint error.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "error": self.code.as_str(), "error_description": self.description })
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.description)
    }
}

impl From<eid_core::StoreError> for OAuthError {
    fn from(e: eid_core::StoreError) -> Self {
        OAuthError::new(ErrorCode::TemporarilyUnavailable, format!("store: {e}"))
    }
}
