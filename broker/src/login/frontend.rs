//! The frontends as the login flow sees them: the request a login began with, kept in the pending
//! login, and the one `match` that answers it in its own protocol.

use eid_oidc::authorize::error_redirect;
use eid_oidc::{AuthorizeRequest, ErrorCode, OAuthError};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::core::SsoSession;
use crate::oidc::BrokerError;
use crate::registry::{RegisteredRp, RegisteredSp};
use crate::saml::{PostPage, SamlRequest};
use crate::state::Broker;
use eid_core::{Mandate, RelyingParty};
use std::sync::Arc;

/// The request of the frontend that began a login.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FrontendRequest {
    /// An OpenID Connect authorization request.
    Oidc(Box<AuthorizeRequest>),
    /// A verified SAML AuthnRequest.
    Saml(Box<SamlRequest>),
    /// The broker's own page of the person's log ([`crate::my`]): answered by a redirect back to it.
    MyLog(crate::my::MyLogRequest),
}

/// A registered relying party of either protocol.
#[derive(Debug, Clone)]
pub enum Registered {
    /// An OIDC client.
    Oidc(Arc<RegisteredRp>),
    /// A SAML service provider.
    Saml(Arc<RegisteredSp>),
    /// One of the broker's own pages, a built-in registration that receives nothing.
    Own(Arc<RelyingParty>),
}

impl Registered {
    /// Its typed registration.
    pub fn rp(&self) -> &RelyingParty {
        match self {
            Registered::Oidc(rp) => &rp.rp,
            Registered::Saml(sp) => &sp.rp,
            Registered::Own(rp) => rp,
        }
    }
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
    /// The mandate the person chose to act under was revoked, expired or otherwise withdrawn
    /// before anything was released under it.
    MandateWithdrawn,
    /// The relying party needs a CPR number and the person has none (a foreign eID login).
    CprRequired,
}

/// A frontend's answer to the browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Send the browser to this URL (an OIDC redirect with a code or an error).
    Redirect(Url),
    /// Post a SAML message to the service with an auto-submitting form.
    Post(Box<PostPage>),
    /// Tell the person why the login ends, with a button that sends the refusal on.
    Explained(Box<ExplainedRefusal>),
}

/// A refusal the person must understand before it goes to the relying party.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExplainedRefusal {
    /// Why.
    pub refusal: Refusal,
    /// The relying party's name, as citizens see it.
    pub service: String,
    /// The page language.
    pub lang: eid_core::Lang,
    /// The refusal in the protocol's terms, sent on by the page's button (never by itself).
    pub then: Answer,
}

impl ExplainedRefusal {
    /// The button's form: `(method, action, hidden fields)`. A redirect becomes a GET of the
    /// redirect URI without its query, the query as fields; a SAML post keeps its fields.
    pub fn form(&self) -> (&'static str, String, Vec<(String, String)>) {
        match &self.then {
            Answer::Redirect(url) => {
                let mut action = url.clone();
                action.set_query(None);
                action.set_fragment(None);
                let fields = url
                    .query_pairs()
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
                ("get", action.to_string(), fields)
            }
            Answer::Post(page) => (
                "post",
                page.form.action.clone(),
                page.form
                    .fields
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), v.clone()))
                    .collect(),
            ),
            Answer::Explained(inner) => inner.form(),
        }
    }
}

impl FrontendRequest {
    /// The login hint the relying party gave, if any.
    pub fn login_hint(&self) -> Option<&str> {
        match self {
            FrontendRequest::Oidc(req) => req.login_hint.as_deref(),
            FrontendRequest::Saml(_) | FrontendRequest::MyLog(_) => None,
        }
    }

    /// The registration of the relying party `id` in this frontend's protocol.
    pub fn relying_party(&self, broker: &Broker, id: &str) -> Option<Registered> {
        match self {
            FrontendRequest::Oidc(_) => broker.registry.get(id).map(Registered::Oidc),
            FrontendRequest::Saml(_) => broker.registry.saml(id).map(Registered::Saml),
            FrontendRequest::MyLog(req) => {
                Some(Registered::Own(Arc::new(crate::my::registration(req.lang))))
            }
        }
    }

    /// The name of the service the person logs in to, as citizens see it.
    pub fn service_name(&self, broker: &Broker, id: &str) -> Option<String> {
        match self {
            FrontendRequest::MyLog(req) => Some(crate::my::registration(req.lang).name),
            _ => broker.registry.service_name(id),
        }
    }

    /// Answers with the session's person, acting for `mandate`'s principal when they chose one:
    /// issues what the protocol issues and records the relying party as served in `session`.
    pub async fn answer(
        &self,
        broker: &Broker,
        rp: &Registered,
        session: &mut SsoSession,
        mandate: Option<&Mandate>,
    ) -> Result<Answer, BrokerError> {
        match (self, rp) {
            (FrontendRequest::Oidc(req), Registered::Oidc(rp)) => {
                let (url, _) =
                    crate::oidc::authorize::answer(broker, rp, req, session, mandate).await?;
                Ok(Answer::Redirect(url))
            }
            (FrontendRequest::Saml(req), Registered::Saml(sp)) => {
                let (page, _) =
                    crate::saml::response::answer(broker, sp, req, session, mandate).await?;
                Ok(Answer::Post(Box::new(page)))
            }
            // The page releases nothing: the person goes back to it, now logged in.
            (FrontendRequest::MyLog(req), Registered::Own(_)) => {
                Ok(Answer::Redirect(crate::my::back_to(broker, req)?))
            }
            _ => Err(BrokerError::BadRequest(
                "the relying party speaks another protocol".into(),
            )),
        }
    }

    /// Answers with a refusal explained to the person first on a page in `lang`, naming the
    /// service `rp`; its button sends [`Self::refuse`]'s answer on.
    pub fn refuse_explained(
        &self,
        broker: &Broker,
        rp: &RelyingParty,
        refusal: Refusal,
        lang: eid_core::Lang,
    ) -> Result<Answer, BrokerError> {
        Ok(Answer::Explained(Box::new(ExplainedRefusal {
            refusal,
            service: rp.name.clone(),
            lang,
            then: self.refuse(broker, refusal)?,
        })))
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
                    Refusal::MandateWithdrawn => (
                        ErrorCode::AccessDenied,
                        "the chosen mandate is no longer valid",
                    ),
                    Refusal::CprRequired => (
                        ErrorCode::AccessDenied,
                        "the service requires a CPR number, which this login does not give",
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
            FrontendRequest::Saml(req) => {
                let page = crate::saml::response::refuse(broker, req, refusal)?;
                Ok(Answer::Post(Box::new(page)))
            }
            FrontendRequest::MyLog(req) => Ok(Answer::Redirect(crate::my::not_logged_in(
                broker, req, refusal,
            )?)),
        }
    }
}
