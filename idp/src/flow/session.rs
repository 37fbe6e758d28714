//! The authenticator's own login session (single sign-on towards its clients), keyed by the digest
//! of a random cookie value. The cookie is replaced at every login.

use eid_core::{AuthenticatorKind, Loa};
use eid_oidc::random::{digest_key, token256};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::IdpError;
use crate::state::Idp;

/// A logged-in person in one browser.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdpSession {
    /// The session id: random, never sent as is; each client gets its own [`IdpSession::sid_for`].
    /// Empty in a session stored before it existed (such a session has no `sid`).
    #[serde(default)]
    pub sid: String,
    /// Who.
    pub person: Uuid,
    /// When they authenticated (Unix seconds).
    pub auth_time: i64,
    /// Achieved level: min(identity proofing, authenticator).
    pub loa: Loa,
    /// Identity-proofing level.
    pub ial: Loa,
    /// Authenticator level.
    pub aal: Loa,
    /// The method used.
    pub method: AuthenticatorKind,
}

fn key(cookie: &str) -> String {
    format!("idp:session:{}", digest_key(cookie))
}

/// The `sid` of the session `session_sid` towards `client_id`: a digest of both, keyed by the
/// session's secret id, so it says nothing about the person and differs per client.
pub fn client_sid(session_sid: &str, client_id: &str) -> String {
    digest_key(&format!("idp-sid:{session_sid}:{client_id}"))
}

impl IdpSession {
    /// The `sid` this session has towards one client (its ID tokens, its `logout_hint`); `None`
    /// for a session without an id.
    pub fn sid_for(&self, client_id: &str) -> Option<String> {
        (!self.sid.is_empty()).then(|| client_sid(&self.sid, client_id))
    }

    /// Stores the session under a fresh cookie value, which it returns. `previous` (the cookie of an
    /// earlier session in this browser) is removed: the cookie rotates at every login.
    pub async fn start(&self, idp: &Idp, previous: Option<&str>) -> Result<String, IdpError> {
        if let Some(previous) = previous {
            idp.ephemeral.delete(&key(previous)).await?;
        }
        let cookie = token256();
        let bytes = serde_json::to_vec(self).map_err(|e| IdpError::BadRequest(e.to_string()))?;
        idp.ephemeral
            .put(&key(&cookie), &bytes, idp.config.session_ttl)
            .await?;
        Ok(cookie)
    }

    /// The session of a cookie, if any.
    pub async fn find(idp: &Idp, cookie: Option<&str>) -> Result<Option<IdpSession>, IdpError> {
        let Some(cookie) = cookie.filter(|c| !c.is_empty() && c.len() <= 64) else {
            return Ok(None);
        };
        Ok(idp
            .ephemeral
            .get(&key(cookie))
            .await?
            .and_then(|bytes| serde_json::from_slice(&bytes).ok()))
    }

    /// Ends the session of a cookie.
    pub async fn end(idp: &Idp, cookie: &str) -> Result<(), IdpError> {
        idp.ephemeral.delete(&key(cookie)).await?;
        Ok(())
    }
}
