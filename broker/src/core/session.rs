//! The SSO session: who is logged in in this browser, how strongly, and which relying parties have
//! been served (for logout). Kept in the ephemeral store under the digest of a random cookie.

use eid_core::{EphemeralStore, Identity, Loa, StoreError};
use eid_oidc::random::{digest_key, token256};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A logged-in person in one browser.
///
/// Codes and tokens issued from a session name its `sid` (see `BrokerGrant`), and are honoured
/// only while [`SsoSession::is_alive`]: ending the session (logout, back-channel, expiry) ends them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SsoSession {
    /// The session id. Never sent as is: each relying party gets its own [`SsoSession::sid_for`].
    pub sid: String,
    /// Who logged in, as the upstream vouched for them (in no protocol's terms).
    pub identity: Identity,
    /// The achieved level.
    pub loa: Loa,
    /// When the person last authenticated (Unix seconds).
    pub auth_time: i64,
    /// Relying parties served in this session, in order.
    pub rps: Vec<String>,
}

fn key(cookie: &str) -> String {
    format!("broker:sso:{}", digest_key(cookie))
}

fn sid_key(sid: &str) -> String {
    format!("broker:sid:{sid}")
}

/// The one field of a session stored by another version that this one cannot read.
#[derive(Deserialize)]
struct SidOnly {
    sid: String,
}

/// Takes the session of a cookie out of the store (its `sid` still names it as alive). A session
/// this version cannot read (stored in an older shape) is ended outright, with its tokens, since
/// nobody can continue it.
async fn take(store: &dyn EphemeralStore, cookie: &str) -> Result<Option<SsoSession>, StoreError> {
    let Some(bytes) = store.take(&key(cookie)).await? else {
        return Ok(None);
    };
    match serde_json::from_slice(&bytes) {
        Ok(session) => Ok(Some(session)),
        Err(_) => {
            if let Ok(SidOnly { sid }) = serde_json::from_slice(&bytes) {
                store.delete(&sid_key(&sid)).await?;
            }
            Ok(None)
        }
    }
}

/// The `sid` of the session `session_sid` towards `client_id`: a digest of both, so that relying
/// parties of different sectors cannot link their pairwise subjects through a shared `sid`, and
/// only the broker (which holds the session's own id) can recompute it.
pub fn rp_sid(session_sid: &str, client_id: &str) -> String {
    digest_key(&format!("sid:{session_sid}:{client_id}"))
}

impl SsoSession {
    /// A new session for an identity.
    pub fn new(identity: Identity) -> Self {
        SsoSession {
            sid: token256(),
            loa: identity.loa,
            auth_time: identity.auth_time,
            identity,
            rps: Vec::new(),
        }
    }

    /// The `sid` this session has towards one relying party (ID tokens, logout tokens, hints).
    pub fn sid_for(&self, client_id: &str) -> String {
        rp_sid(&self.sid, client_id)
    }

    /// A session for unit tests.
    #[cfg(test)]
    pub fn for_test(loa: Loa, auth_time: i64) -> Self {
        SsoSession {
            sid: "sid".into(),
            identity: Identity::for_test("person", loa, auth_time),
            loa,
            auth_time,
            rps: Vec::new(),
        }
    }

    /// Records a relying party as served; returns whether it is new to the session (and the session
    /// must be saved again).
    pub fn served(&mut self, rp: &str) -> bool {
        if self.rps.iter().any(|r| r == rp) {
            return false;
        }
        self.rps.push(rp.to_owned());
        true
    }

    /// Stores the session under a fresh cookie (which it returns), removing the previous one: the
    /// cookie rotates at every login. Another person's session that the previous cookie held is
    /// ended (see [`SsoSession::save_replacing`]).
    pub async fn save_new(
        &self,
        store: &dyn EphemeralStore,
        previous: Option<&str>,
        ttl: Duration,
    ) -> Result<String, StoreError> {
        Ok(self.save_replacing(store, previous, ttl).await?.0)
    }

    /// [`SsoSession::save_new`], returning also the session it ended: when the previous cookie held
    /// a session other than this one (another person logged in in this browser), that session ends
    /// as at logout, with every token issued in it, and its relying parties are owed a back-channel
    /// logout.
    pub async fn save_replacing(
        &self,
        store: &dyn EphemeralStore,
        previous: Option<&str>,
        ttl: Duration,
    ) -> Result<(String, Option<SsoSession>), StoreError> {
        let replaced = match previous {
            Some(previous) => take(store, previous).await?.filter(|s| s.sid != self.sid),
            None => None,
        };
        if let Some(replaced) = &replaced {
            store.delete(&sid_key(&replaced.sid)).await?;
        }
        let cookie = token256();
        self.save(store, &cookie, ttl).await?;
        Ok((cookie, replaced))
    }

    /// Stores the session under its cookie.
    pub async fn save(
        &self,
        store: &dyn EphemeralStore,
        cookie: &str,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(self).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        store.put(&key(cookie), &bytes, ttl).await?;
        store
            .put(&sid_key(&self.sid), digest_key(cookie).as_bytes(), ttl)
            .await
    }

    /// The session of a cookie.
    pub async fn find(
        store: &dyn EphemeralStore,
        cookie: Option<&str>,
    ) -> Result<Option<SsoSession>, StoreError> {
        let Some(cookie) = cookie.filter(|c| !c.is_empty() && c.len() <= 64) else {
            return Ok(None);
        };
        Ok(store
            .get(&key(cookie))
            .await?
            .and_then(|b| serde_json::from_slice(&b).ok()))
    }

    /// Ends the session of a cookie; returns it.
    pub async fn end_by_cookie(
        store: &dyn EphemeralStore,
        cookie: &str,
    ) -> Result<Option<SsoSession>, StoreError> {
        let session = take(store, cookie).await?;
        if let Some(s) = &session {
            store.delete(&sid_key(&s.sid)).await?;
        }
        Ok(session)
    }

    /// Ends the session whose id is `sid` (found through its `sid` entry, as SAML single logout
    /// addresses it); returns it. Nothing happens when it is unknown or has expired.
    pub async fn end_by_sid(
        store: &dyn EphemeralStore,
        sid: &str,
    ) -> Result<Option<SsoSession>, StoreError> {
        let Some(digest) = store.get(&sid_key(sid)).await? else {
            return Ok(None);
        };
        let key = format!("broker:sso:{}", String::from_utf8_lossy(&digest));
        let session = store
            .get(&key)
            .await?
            .and_then(|b| serde_json::from_slice::<SsoSession>(&b).ok())
            .filter(|s| s.sid == sid);
        if session.is_some() {
            store.delete(&key).await?;
        }
        store.delete(&sid_key(sid)).await?;
        Ok(session)
    }

    /// The session whose id is `sid`, without ending it.
    pub async fn find_by_sid(
        store: &dyn EphemeralStore,
        sid: &str,
    ) -> Result<Option<SsoSession>, StoreError> {
        let Some(digest) = store.get(&sid_key(sid)).await? else {
            return Ok(None);
        };
        let digest = String::from_utf8_lossy(&digest).into_owned();
        Ok(store
            .get(&format!("broker:sso:{digest}"))
            .await?
            .and_then(|b| serde_json::from_slice::<SsoSession>(&b).ok())
            .filter(|s| s.sid == sid))
    }

    /// Whether the session `sid` is still alive (not logged out, not expired).
    pub async fn is_alive(store: &dyn EphemeralStore, sid: &str) -> Result<bool, StoreError> {
        Ok(store.get(&sid_key(sid)).await?.is_some())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use eid_store::memory::MemoryEphemeral;

    #[test]
    fn each_relying_party_gets_its_own_sid() {
        let session = SsoSession::for_test(Loa::Substantial, 0);
        let a = session.sid_for("rp-a");
        assert_ne!(a, session.sid_for("rp-b"));
        assert_ne!(a, session.sid);
        assert_eq!(a, rp_sid(&session.sid, "rp-a"));
    }

    #[tokio::test]
    async fn the_upstreams_session_id_is_kept_for_logout() {
        let store = MemoryEphemeral::new();
        let mut session = SsoSession::for_test(Loa::Substantial, 0);
        session.identity.upstream_sid = Some("upstream-sid".into());
        let cookie = session
            .save_new(&store, None, Duration::from_secs(60))
            .await
            .unwrap();
        let found = SsoSession::find(&store, Some(&cookie))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            found.identity.upstream_sid.as_deref(),
            Some("upstream-sid"),
            "kept for logout"
        );
        assert_eq!(found.identity.person, session.identity.person);
    }

    #[tokio::test]
    async fn another_persons_login_ends_the_session_it_replaces() {
        let store = MemoryEphemeral::new();
        let ttl = Duration::from_secs(60);
        let mut first = SsoSession::for_test(Loa::Substantial, 0);
        first.served("rp-a");
        let cookie = first.save_new(&store, None, ttl).await.unwrap();
        // The same person continues: the session lives on under the new cookie.
        let (cookie, replaced) = first
            .save_replacing(&store, Some(&cookie), ttl)
            .await
            .unwrap();
        assert_eq!(replaced, None);
        assert!(SsoSession::is_alive(&store, &first.sid).await.unwrap());
        // Someone else logs in in the same browser.
        let mut second = SsoSession::for_test(Loa::Substantial, 0);
        second.sid = "another-sid".into();
        let (_, replaced) = second
            .save_replacing(&store, Some(&cookie), ttl)
            .await
            .unwrap();
        assert_eq!(replaced.map(|s| s.rps), Some(vec!["rp-a".to_owned()]));
        assert!(!SsoSession::is_alive(&store, &first.sid).await.unwrap());
        assert!(SsoSession::is_alive(&store, &second.sid).await.unwrap());
    }

    #[tokio::test]
    async fn a_session_of_an_older_shape_ends_with_its_tokens_at_logout() {
        let store = MemoryEphemeral::new();
        let ttl = Duration::from_secs(60);
        store
            .put(
                &key("old-cookie"),
                br#"{"sid":"old-sid","identity":{"upstream":"idp"}}"#,
                ttl,
            )
            .await
            .unwrap();
        store.put(&sid_key("old-sid"), b"x", ttl).await.unwrap();
        assert!(SsoSession::is_alive(&store, "old-sid").await.unwrap());
        assert_eq!(
            SsoSession::end_by_cookie(&store, "old-cookie")
                .await
                .unwrap(),
            None
        );
        assert!(!SsoSession::is_alive(&store, "old-sid").await.unwrap());
    }

    #[tokio::test]
    async fn a_session_is_alive_until_it_is_ended() {
        let store = MemoryEphemeral::new();
        let session = SsoSession::for_test(Loa::Substantial, 0);
        let ttl = Duration::from_secs(60);
        let cookie = session.save_new(&store, None, ttl).await.unwrap();
        assert!(SsoSession::is_alive(&store, &session.sid).await.unwrap());
        SsoSession::end_by_cookie(&store, &cookie).await.unwrap();
        assert!(!SsoSession::is_alive(&store, &session.sid).await.unwrap());
    }
}
