//! Why an upstream login failed.

use eid_core::Loa;

/// An upstream login that did not produce an identity.
///
/// `Refused`, `AcrTooLow` and `Unavailable` are ordinary outcomes the login core turns into an answer for
/// the relying party (`access_denied`, `unmet_authentication_requirements`, `temporarily_unavailable`);
/// the others mean a broken or hostile response and must never be trusted further.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    /// The configuration cannot work (bad issuer or redirect URI, empty client id).
    #[error("invalid upstream configuration: {0}")]
    Config(String),
    /// The discovery document (or the JWKS fetched with it) is missing, malformed or names another issuer.
    #[error("upstream discovery failed: {0}")]
    Discovery(String),
    /// The upstream answered the authorization request with an error (e.g. `access_denied`).
    #[error("the upstream refused the login: {error}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Refused {
        /// The OAuth error code.
        error: String,
        /// `error_description`, if any (text from the upstream: show it only escaped).
        description: Option<String>,
    },
    /// The callback's `state` is missing, repeated or not the one of this login.
    #[error("state in the authorization response does not match")]
    StateMismatch,
    /// The callback's `iss` (RFC 9207) is wrong, repeated, or missing although the upstream promises it.
    #[error("iss in the authorization response is missing or names another issuer")]
    IssuerMismatch,
    /// The callback is malformed in another way (no `code`, a repeated parameter).
    #[error("malformed authorization response: {0}")]
    Callback(String),
    /// The token endpoint refused the code or answered something unusable.
    #[error("token request failed: {0}")]
    Token(String),
    /// The ID token is invalid; the text says which check failed (signature, iss, aud, exp…).
    #[error("invalid ID token: {0}")]
    IdToken(String),
    /// The ID token's `nonce` is missing or not the one of this login.
    #[error("nonce in the ID token does not match")]
    NonceMismatch,
    /// The upstream authenticated at a lower level than requested (or did not say which).
    #[error("level of assurance too low: requested {requested}, got {}", got.map_or_else(|| "none".to_owned(), |l| l.to_string()))]
    AcrTooLow {
        /// The minimum that was asked for.
        requested: Loa,
        /// What the ID token's `acr` says, if anything recognisable.
        got: Option<Loa>,
    },
    /// The upstream could not be reached (connection, timeout).
    #[error("upstream unavailable: {0}")]
    Unavailable(String),
}

/// The error and its sources, one line.
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let s = e.to_string();
        if !text.contains(&s) {
            text.push_str(": ");
            text.push_str(&s);
        }
        source = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_say_what_failed() {
        let e = UpstreamError::Refused {
            error: "access_denied".into(),
            description: Some("the person cancelled".into()),
        };
        assert_eq!(
            e.to_string(),
            "the upstream refused the login: access_denied (the person cancelled)"
        );
        let e = UpstreamError::AcrTooLow {
            requested: Loa::High,
            got: None,
        };
        assert_eq!(
            e.to_string(),
            "level of assurance too low: requested High, got none"
        );
    }
}
