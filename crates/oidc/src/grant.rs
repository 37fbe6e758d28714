//! Authorization codes and access tokens in the ephemeral store.
//!
//! Codes are single-use (atomic take). Using a code a second time revokes every token issued from
//! it (RFC 6749 §4.1.2, RFC 9700 §4.5.3): the redemption leaves a marker naming the grant, and a
//! revoked grant's tokens are refused. Stores are keyed by the SHA-256 of the code or token.
//!
//! Access tokens are stored records, or, with a [`TokenSealer`] ([`Grants::sealed_with`]), sealed
//! records that issuing writes nowhere: the token carries its record and expiry, encrypted. A sealed
//! token is refused once its grant is revoked (as a stored one) or once it is itself revoked, which
//! leaves a marker of its identifier until it would have expired.

use eid_core::{EphemeralStore, StoreError, Taken};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::time::Duration;

use crate::random::{digest_key, token256};
use crate::seal::TokenSealer;

/// How long a code may wait for redemption (FAPI 2: at most 60 s).
pub const CODE_TTL: Duration = Duration::from_secs(60);
/// How long a used code is remembered, so that its reuse is recognised and revokes what it granted:
/// as long as the code itself lives. A code presented later is refused as unknown, with no
/// revocation: by then the client has long redeemed it, and a longer memory is one tombstone per
/// login held for that long (600 s at 11,600 logins/s passed the memory store's million entries).
/// Revocations triggered by reuse are remembered for longer (see [`Grants::revoke_grant_for`]).
pub const USED_CODE_MEMORY: Duration = CODE_TTL;
/// What a used code's tombstone holds: the grant id is derived from the code itself.
const USED: &[u8] = b"1";
/// Lifetime of access tokens.
pub const ACCESS_TOKEN_TTL: Duration = Duration::from_secs(600);

/// What a code stands for. `T` is the provider's own payload (the authenticated subject and claims).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CodeGrant<T> {
    /// Identifies the grant, and every token issued from it. Named by [`Grants::issue_code`],
    /// which derives it from the code (so that a used code's tombstone need not hold it); what
    /// the caller puts here is replaced.
    pub grant_id: String,
    /// The client the code was issued to.
    pub client_id: String,
    /// The redirect URI of the request (must be repeated at the token endpoint).
    pub redirect_uri: String,
    /// The PKCE S256 challenge.
    pub code_challenge: String,
    /// The provider's payload.
    pub payload: T,
}

/// The outcome of presenting a code.
#[derive(Debug, Clone, PartialEq)]
pub enum Redemption<T> {
    /// First use: here is the grant.
    Fresh(CodeGrant<T>),
    /// The code was used before; its grant must be revoked.
    Reused {
        /// The grant to revoke.
        grant_id: String,
    },
    /// Unknown or expired.
    Unknown,
}

/// An access token's record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessToken<T> {
    /// The grant it was issued from.
    pub grant_id: String,
    /// The client it was issued to.
    pub client_id: String,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// The provider's payload (what userinfo returns).
    pub payload: T,
}

/// Codes and tokens of one provider, namespaced in a shared ephemeral store.
#[derive(Debug, Clone, Copy)]
pub struct Grants<'a> {
    store: &'a dyn EphemeralStore,
    namespace: &'static str,
    sealer: Option<&'a TokenSealer>,
}

/// What a sealed access token carries.
#[derive(Serialize, Deserialize)]
struct SealedAccess<A> {
    /// Expiry, Unix seconds.
    exp: u64,
    /// The record (`&AccessToken<T>` when sealing, `AccessToken<T>` when opening).
    token: A,
}

/// The id of the grant a code stands for: a digest of the code under a label of its own, so it
/// names the grant without being usable as the code (or as the code's store key).
pub fn grant_id_of(code: &str) -> String {
    digest_key(&format!("grant-id:{code}"))
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl<'a> Grants<'a> {
    /// Grants of the provider `namespace` (`idp`, `broker`).
    pub fn new(store: &'a dyn EphemeralStore, namespace: &'static str) -> Self {
        Grants {
            store,
            namespace,
            sealer: None,
        }
    }

    /// The same grants, issuing access tokens sealed with `sealer` (and reading only such tokens).
    pub fn sealed_with(self, sealer: &'a TokenSealer) -> Self {
        Grants {
            sealer: Some(sealer),
            ..self
        }
    }

    fn purpose(&self) -> String {
        format!("{}:at", self.namespace)
    }

    /// A sealed token's record and identifier, if it opens, has not expired and was not revoked by
    /// itself (its grant is checked by the caller).
    async fn open_access<T: DeserializeOwned>(
        &self,
        sealer: &TokenSealer,
        token: &str,
    ) -> Result<Option<(String, u64, AccessToken<T>)>, StoreError> {
        let Some(opened) = sealer.open(self.purpose().as_bytes(), token) else {
            return Ok(None);
        };
        let sealed: SealedAccess<AccessToken<T>> = decode(&opened.plaintext)?;
        if sealed.exp <= unix_now()
            || self
                .store
                .get(&self.key("at-revoked", &opened.id, false))
                .await?
                .is_some()
        {
            return Ok(None);
        }
        Ok(Some((opened.id, sealed.exp, sealed.token)))
    }

    fn key(&self, kind: &str, secret_or_id: &str, hashed: bool) -> String {
        if hashed {
            format!("{}:{kind}:{}", self.namespace, digest_key(secret_or_id))
        } else {
            format!("{}:{kind}:{secret_or_id}", self.namespace)
        }
    }

    /// Stores a grant under a fresh code and returns the code; the grant's id is derived from the
    /// code ([`grant_id_of`]).
    pub async fn issue_code<T: Serialize>(
        &self,
        mut grant: CodeGrant<T>,
    ) -> Result<String, StoreError> {
        let code = token256();
        grant.grant_id = grant_id_of(&code);
        self.store
            .put(&self.key("code", &code, true), &encode(&grant)?, CODE_TTL)
            .await?;
        Ok(code)
    }

    /// Redeems a code: atomically takes it, leaving a small tombstone so that a second
    /// presentation is recognised as reuse (one round trip where the store allows).
    pub async fn redeem_code<T: DeserializeOwned>(
        &self,
        code: &str,
    ) -> Result<Redemption<T>, StoreError> {
        let taken = self
            .store
            .take_once(
                &self.key("code", code, true),
                &self.key("code-used", code, true),
                Some(USED),
                USED_CODE_MEMORY,
            )
            .await?;
        Ok(match taken {
            Taken::First(bytes) => Redemption::Fresh(decode(&bytes)?),
            Taken::Again(_) => Redemption::Reused {
                grant_id: grant_id_of(code),
            },
            Taken::Missing => Redemption::Unknown,
        })
    }

    /// The authorization-code grant at a token endpoint, for the authenticated client `client_id`:
    /// `grant_type=authorization_code`, the code taken once (presenting a used code revokes what
    /// its grant issued, remembered for `revoke_for`), issued to this client (else its grant is
    /// revoked too), the same `redirect_uri` as the authorization request, and the PKCE S256
    /// `code_verifier`. Every refusal is the OAuth error the client gets.
    pub async fn redeem_authorization_code<T: DeserializeOwned>(
        &self,
        client_id: &str,
        form: &crate::RawParams,
        revoke_for: Duration,
    ) -> Result<CodeGrant<T>, crate::OAuthError> {
        use crate::OAuthError;
        if form.get("grant_type") != Some("authorization_code") {
            return Err(OAuthError::new(
                crate::ErrorCode::UnsupportedGrantType,
                "only authorization_code is supported",
            ));
        }
        let code = form
            .get("code")
            .ok_or_else(|| OAuthError::invalid_request("code is missing"))?;
        let grant = match self.redeem_code::<T>(code).await? {
            Redemption::Fresh(grant) => grant,
            Redemption::Reused { grant_id } => {
                self.revoke_grant_for(&grant_id, revoke_for).await?;
                return Err(OAuthError::invalid_grant(
                    "code already used; its tokens are revoked",
                ));
            }
            Redemption::Unknown => {
                return Err(OAuthError::invalid_grant("unknown or expired code"));
            }
        };
        if grant.client_id != client_id {
            self.revoke_grant_for(&grant.grant_id, revoke_for).await?;
            return Err(OAuthError::invalid_grant(
                "code was issued to another client",
            ));
        }
        if form.get("redirect_uri") != Some(grant.redirect_uri.as_str()) {
            return Err(OAuthError::invalid_grant(
                "redirect_uri differs from the authorization request",
            ));
        }
        let verifier = form
            .get("code_verifier")
            .ok_or_else(|| OAuthError::invalid_grant("code_verifier is missing"))?;
        if !crate::pkce::verify_s256(verifier, &grant.code_challenge) {
            return Err(OAuthError::invalid_grant("code_verifier does not match"));
        }
        Ok(grant)
    }

    /// Makes a redeemed code redeemable again, standing for `grant`: for a provider whose answer
    /// could not be completed after the redemption (a store or the audit log failed), so that the
    /// client's retry is not refused as reuse. A concurrent reuse seen meanwhile has revoked the
    /// grant for good; restoring does not undo that. The reuse tombstone stays: a concurrent
    /// retry's redemption may have written it, and the restored code is still taken first.
    pub async fn restore_code<T: Serialize>(
        &self,
        code: &str,
        grant: &CodeGrant<T>,
    ) -> Result<(), StoreError> {
        self.store
            .put(&self.key("code", code, true), &encode(grant)?, CODE_TTL)
            .await
    }

    /// Revokes every access token of a grant.
    pub async fn revoke_grant(&self, grant_id: &str) -> Result<(), StoreError> {
        self.revoke_grant_for(grant_id, ACCESS_TOKEN_TTL + USED_CODE_MEMORY)
            .await
    }

    /// Revokes every token of a grant, remembering the revocation for `ttl` (at least as long as the
    /// grant's longest-lived token, e.g. its refresh tokens).
    pub async fn revoke_grant_for(&self, grant_id: &str, ttl: Duration) -> Result<(), StoreError> {
        self.store
            .put(&self.key("grant-revoked", grant_id, false), b"1", ttl)
            .await
    }

    /// Whether a grant was revoked.
    pub async fn is_revoked(&self, grant_id: &str) -> Result<bool, StoreError> {
        Ok(self
            .store
            .get(&self.key("grant-revoked", grant_id, false))
            .await?
            .is_some())
    }

    /// Issues an access token valid for [`ACCESS_TOKEN_TTL`].
    pub async fn issue_access_token<T: Serialize>(
        &self,
        token: &AccessToken<T>,
    ) -> Result<String, StoreError> {
        self.issue_access_token_for(token, ACCESS_TOKEN_TTL).await
    }

    /// Issues an access token valid for `ttl`.
    pub async fn issue_access_token_for<T: Serialize>(
        &self,
        token: &AccessToken<T>,
        ttl: Duration,
    ) -> Result<String, StoreError> {
        if let Some(sealer) = self.sealer {
            let sealed = SealedAccess {
                exp: unix_now() + ttl.as_secs(),
                token,
            };
            return sealer
                .seal(self.purpose().as_bytes(), &encode(&sealed)?)
                .ok_or_else(|| StoreError::Backend("sealing an access token failed".into()));
        }
        let secret = token256();
        self.store
            .put(&self.key("at", &secret, true), &encode(token)?, ttl)
            .await?;
        Ok(secret)
    }

    /// The record of a valid access token; `None` if unknown, expired or its grant was revoked.
    pub async fn access_token<T: DeserializeOwned>(
        &self,
        token: &str,
    ) -> Result<Option<AccessToken<T>>, StoreError> {
        let record = if let Some(sealer) = self.sealer {
            match self.open_access(sealer, token).await? {
                Some((_, _, record)) => record,
                None => return Ok(None),
            }
        } else {
            let Some(bytes) = self.store.get(&self.key("at", token, true)).await? else {
                return Ok(None);
            };
            decode(&bytes)?
        };
        if self.is_revoked(&record.grant_id).await? {
            return Ok(None);
        }
        Ok(Some(record))
    }

    /// Deletes an access token (revocation endpoint); returns its record if it existed. A sealed
    /// token is marked revoked until it would have expired.
    pub async fn delete_access_token<T: DeserializeOwned>(
        &self,
        token: &str,
    ) -> Result<Option<AccessToken<T>>, StoreError> {
        if let Some(sealer) = self.sealer {
            let Some((id, exp, record)) = self.open_access(sealer, token).await? else {
                return Ok(None);
            };
            // One second more than the token's remaining life, so no clock edge reopens it.
            let ttl = Duration::from_secs(exp.saturating_sub(unix_now()) + 1);
            self.store
                .put(&self.key("at-revoked", &id, false), b"1", ttl)
                .await?;
            return Ok(Some(record));
        }
        match self.store.take(&self.key("at", token, true)).await? {
            Some(bytes) => Ok(Some(decode(&bytes)?)),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use eid_store::memory::MemoryEphemeral;

    fn grant() -> CodeGrant<String> {
        CodeGrant {
            grant_id: "g1".into(),
            client_id: "rp".into(),
            redirect_uri: "https://rp/cb".into(),
            code_challenge: "c".into(),
            payload: "alice".into(),
        }
    }

    #[tokio::test]
    async fn a_code_redeems_once_and_reuse_revokes_its_tokens() {
        let store = MemoryEphemeral::new();
        let grants = Grants::new(&store, "t");
        let code = grants.issue_code(grant()).await.unwrap();
        let Redemption::Fresh(g) = grants.redeem_code::<String>(&code).await.unwrap() else {
            panic!("first use must succeed");
        };
        let at = grants
            .issue_access_token(&AccessToken {
                grant_id: g.grant_id.clone(),
                client_id: g.client_id.clone(),
                scopes: vec!["openid".into()],
                payload: g.payload.clone(),
            })
            .await
            .unwrap();
        assert!(grants.access_token::<String>(&at).await.unwrap().is_some());
        let Redemption::Reused { grant_id } = grants.redeem_code::<String>(&code).await.unwrap()
        else {
            panic!("second use must be recognised");
        };
        grants.revoke_grant(&grant_id).await.unwrap();
        assert!(grants.access_token::<String>(&at).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_used_code_leaves_a_small_tombstone_naming_its_grant() {
        let store = MemoryEphemeral::new();
        let grants = Grants::new(&store, "t");
        let code = grants.issue_code(grant()).await.unwrap();
        let Redemption::Fresh(g) = grants.redeem_code::<String>(&code).await.unwrap() else {
            panic!("first use must succeed");
        };
        assert_eq!(
            g.grant_id,
            grant_id_of(&code),
            "the id is derived from the code"
        );
        let tombstone = grants.key("code-used", &code, true);
        assert_eq!(store.get(&tombstone).await.unwrap().as_deref(), Some(USED));
    }

    #[tokio::test]
    async fn a_restored_code_keeps_its_reuse_tombstone() {
        let store = MemoryEphemeral::new();
        let grants = Grants::new(&store, "t");
        let code = grants.issue_code(grant()).await.unwrap();
        let Redemption::Fresh(g) = grants.redeem_code::<String>(&code).await.unwrap() else {
            panic!("first use must succeed");
        };
        grants.restore_code(&code, &g).await.unwrap();
        // A concurrent retry's tombstone is not removed by the restore.
        let tombstone = grants.key("code-used", &code, true);
        assert!(store.get(&tombstone).await.unwrap().is_some());
        // The restored code redeems once more, and a replay after it is recognised.
        assert!(matches!(
            grants.redeem_code::<String>(&code).await.unwrap(),
            Redemption::Fresh(_)
        ));
        assert!(matches!(
            grants.redeem_code::<String>(&code).await.unwrap(),
            Redemption::Reused { .. }
        ));
    }

    #[tokio::test]
    async fn unknown_codes_and_tokens_are_refused() {
        let store = MemoryEphemeral::new();
        let grants = Grants::new(&store, "t");
        assert_eq!(
            grants.redeem_code::<String>("nope").await.unwrap(),
            Redemption::Unknown
        );
        assert!(
            grants
                .access_token::<String>("nope")
                .await
                .unwrap()
                .is_none()
        );
    }

    fn record(grant_id: &str) -> AccessToken<String> {
        AccessToken {
            grant_id: grant_id.into(),
            client_id: "rp".into(),
            scopes: vec!["openid".into()],
            payload: "alice".into(),
        }
    }

    #[tokio::test]
    async fn a_sealed_access_token_is_stored_nowhere_and_opens_to_its_record() {
        let store = MemoryEphemeral::new();
        let sealer = TokenSealer::new(&[7; 32]);
        let grants = Grants::new(&store, "t").sealed_with(&sealer);
        let at = grants.issue_access_token(&record("g1")).await.unwrap();
        assert_eq!(store.len(), 0, "issuing wrote nothing");
        assert_eq!(
            grants.access_token::<String>(&at).await.unwrap(),
            Some(record("g1"))
        );
        // Another provider's grants (another purpose) and unsealed grants do not take it.
        let other = Grants::new(&store, "u").sealed_with(&sealer);
        assert!(other.access_token::<String>(&at).await.unwrap().is_none());
        assert!(
            Grants::new(&store, "t")
                .access_token::<String>(&at)
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn a_sealed_access_token_dies_with_its_grant_its_revocation_and_its_expiry() {
        let store = MemoryEphemeral::new();
        let sealer = TokenSealer::new(&[7; 32]);
        let grants = Grants::new(&store, "t").sealed_with(&sealer);
        let revoked_grant = grants.issue_access_token(&record("g1")).await.unwrap();
        grants.revoke_grant("g1").await.unwrap();
        assert!(
            grants
                .access_token::<String>(&revoked_grant)
                .await
                .unwrap()
                .is_none()
        );

        let at = grants.issue_access_token(&record("g2")).await.unwrap();
        let sibling = grants.issue_access_token(&record("g2")).await.unwrap();
        assert_eq!(
            grants.delete_access_token::<String>(&at).await.unwrap(),
            Some(record("g2"))
        );
        assert!(grants.access_token::<String>(&at).await.unwrap().is_none());
        assert!(
            grants
                .delete_access_token::<String>(&at)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            grants
                .access_token::<String>(&sibling)
                .await
                .unwrap()
                .is_some(),
            "revoking one token leaves the grant's others"
        );

        let expired = grants
            .issue_access_token_for(&record("g3"), Duration::ZERO)
            .await
            .unwrap();
        assert!(
            grants
                .access_token::<String>(&expired)
                .await
                .unwrap()
                .is_none()
        );
    }
}
