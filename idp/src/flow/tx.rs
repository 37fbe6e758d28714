//! The login transaction: what one login in one browser is doing, kept in the ephemeral store
//! between pages. It is bound to the browser (a cookie) and carries the CSRF token of its forms.

use eid_core::Lang;
use eid_core::Loa;
use eid_oidc::AuthorizeRequest;
use eid_oidc::random::{digest_key, token256};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::IdpError;
use crate::state::Idp;

/// How long a login may take.
pub const TX_TTL: Duration = Duration::from_secs(900);

/// What the login is for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Purpose {
    /// An OIDC authorization request from a registered client.
    Oidc(Box<AuthorizeRequest>),
    /// The person's own self-service pages.
    Account,
}

/// One login in progress.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginTx {
    /// Identifier (in URLs and forms).
    pub id: String,
    /// What it is for.
    pub purpose: Purpose,
    /// The CSRF token of its forms.
    pub csrf: String,
    /// Digest of the browser cookie it is bound to.
    pub browser: String,
    /// The person, once the user ID is known.
    pub person: Option<Uuid>,
    /// The page language.
    pub lang: Lang,
    /// The pending WebAuthn authentication state.
    pub passkey_state: Option<serde_json::Value>,
    /// The pending app-approval request.
    pub app_request: Option<String>,
    /// A step-up login before an account change: the level the login must reach.
    #[serde(default)]
    pub step_up: Option<Loa>,
    /// The service the person logs in to, as the client named it in a pushed, authenticated
    /// request (`service_name`, checked by [`eid_oidc::params::valid_service_name`]).
    #[serde(default)]
    pub service_name: Option<String>,
    /// The browser has a live session of `person` that satisfies the request: offer to continue
    /// with it ("Continue as Anna") before the methods.
    #[serde(default)]
    pub offer_session: bool,
}

fn key(id: &str) -> String {
    format!("idp:tx:{id}")
}

impl LoginTx {
    /// A new transaction for the browser holding cookie value `browser_cookie`.
    pub fn new(purpose: Purpose, browser_cookie: &str, lang: Lang) -> LoginTx {
        LoginTx {
            id: token256(),
            purpose,
            csrf: token256(),
            browser: digest_key(browser_cookie),
            person: None,
            lang,
            passkey_state: None,
            app_request: None,
            step_up: None,
            service_name: None,
            offer_session: false,
        }
    }

    /// The name of the service the person logs in to, for every page of the login and the app:
    /// the one the client pushed (`service_name`), else the client's own display name.
    pub fn service<'a>(&'a self, idp: &'a Idp) -> Option<&'a str> {
        match &self.purpose {
            Purpose::Oidc(req) => self.service_name.as_deref().or_else(|| {
                idp.clients
                    .get(&req.client_id)
                    .map(|c| c.client_name.as_str())
            }),
            Purpose::Account => None,
        }
    }

    /// Saves the transaction.
    pub async fn save(&self, idp: &Idp) -> Result<(), IdpError> {
        let bytes = serde_json::to_vec(self).map_err(|e| IdpError::BadRequest(e.to_string()))?;
        idp.ephemeral.put(&key(&self.id), &bytes, TX_TTL).await?;
        Ok(())
    }

    /// Loads a transaction and checks it belongs to this browser.
    pub async fn load(
        idp: &Idp,
        id: &str,
        browser_cookie: Option<&str>,
    ) -> Result<LoginTx, IdpError> {
        if id.is_empty() || id.len() > 64 {
            return Err(IdpError::TxExpired);
        }
        let bytes = idp
            .ephemeral
            .get(&key(id))
            .await?
            .ok_or(IdpError::TxExpired)?;
        let tx: LoginTx = serde_json::from_slice(&bytes).map_err(|_| IdpError::TxExpired)?;
        let browser = browser_cookie.map(digest_key).unwrap_or_default();
        if !bool::from(browser.as_bytes().ct_eq(tx.browser.as_bytes())) {
            return Err(IdpError::TxExpired);
        }
        Ok(tx)
    }

    /// Loads a transaction for a form post: also checks the CSRF token.
    pub async fn load_for_form(
        idp: &Idp,
        id: &str,
        browser_cookie: Option<&str>,
        csrf: Option<&str>,
    ) -> Result<LoginTx, IdpError> {
        let tx = Self::load(idp, id, browser_cookie).await?;
        match csrf {
            Some(csrf) if bool::from(csrf.as_bytes().ct_eq(tx.csrf.as_bytes())) => Ok(tx),
            _ => Err(IdpError::Csrf),
        }
    }

    /// Ends the transaction (after completion), so it cannot be completed twice.
    pub async fn finish(&self, idp: &Idp) -> Result<bool, IdpError> {
        Ok(idp.ephemeral.take(&key(&self.id)).await?.is_some())
    }
}
