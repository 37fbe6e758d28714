//! The frontends as the login flow sees them: the request a login began with, kept in the pending
//! login, and the one `match` that answers it in its own protocol.

use eid_oidc::authorize::error_redirect;
use eid_oidc::{AuthorizeRequest, ErrorCode, OAuthError};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::core::SsoSession;
use crate::oidc::BrokerError;
use crate::registry::RegisteredRp;
use crate::state::Broker;

/// The request of the frontend that began a login (the SAML issue adds `Saml`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FrontendRequest {
    /// An OpenID Connect authorization request.
    Oidc(Box<AuthorizeRequest>),
}

/// Why a login ends without releasing anything to the relying party.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The person cancelled on the identity chooser.
    Cancelled,
    /// No configured upstream can serve the login ([`super::fit::fitting`]).
    NoUpstream,
    /// The upstream refused or the person gave up there.
    NotCompleted,
    /// The login did not reach the level the relying party asked for.
    LevelNotReached,
    /// The broker could not finish the login (a store failed after the upstream answered).
    Unavailable,
    /// The person holds mandates here, and the page to choose whom to act for does not exist yet
    /// (the delegation registry brings it; until then no mandate lookup finds any).
    RepresentationUnavailable,
}

/// A frontend's answer to the browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Send the browser to this URL (an OIDC redirect with a code or an error).
    Redirect(Url),
}

impl FrontendRequest {
    /// The login hint the relying party gave, if any.
    pub fn login_hint(&self) -> Option<&str> {
        match self {
            FrontendRequest::Oidc(req) => req.login_hint.as_deref(),
        }
    }

    /// Answers with the session's person: issues what the protocol issues and records the relying
    /// party as served in `session`.
    pub async fn answer(
        &self,
        broker: &Broker,
        rp: &RegisteredRp,
        session: &mut SsoSession,
    ) -> Result<Answer, BrokerError> {
        match self {
            FrontendRequest::Oidc(req) => {
                let (url, _) = crate::oidc::authorize::answer(broker, rp, req, session).await?;
                Ok(Answer::Redirect(url))
            }
        }
    }

    /// Answers with a refusal, in the protocol's terms.
    pub fn refuse(&self, broker: &Broker, refusal: Refusal) -> Result<Answer, BrokerError> {
        match self {
            FrontendRequest::Oidc(req) => {
                let (code, why) = match refusal {
                    Refusal::Cancelled => {
                        (ErrorCode::AccessDenied, "the person cancelled the login")
                    }
                    Refusal::NoUpstream => (
                        ErrorCode::AccessDenied,
                        "no identity provider can serve this login",
                    ),
                    Refusal::NotCompleted => {
                        (ErrorCode::AccessDenied, "the login was not completed")
                    }
                    Refusal::LevelNotReached => {
                        (ErrorCode::AccessDenied, "level of assurance not reached")
                    }
                    Refusal::Unavailable => (
                        ErrorCode::TemporarilyUnavailable,
                        "the login could not be completed; please start again",
                    ),
                    Refusal::RepresentationUnavailable => (
                        ErrorCode::AccessDenied,
                        "choosing whom to act for is not available",
                    ),
                };
                let url = error_redirect(
                    &req.redirect_uri,
                    &OAuthError::new(code, why),
                    req.state.as_deref(),
                    &broker.config.issuer,
                )
                .map_err(|e| BrokerError::BadRequest(e.to_string()))?;
                Ok(Answer::Redirect(url))
            }
        }
    }
}
