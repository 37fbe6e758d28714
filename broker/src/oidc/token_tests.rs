//! The token endpoint against a memory store, an audit log that can be made to fail, and real keys:
//! what a grant outlives, what it grants, and what a failure after a redemption leaves behind.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::core::SsoSession;
use crate::core::pairwise::PairwiseKey;
use crate::oidc::tokens::{CodeRequest, issue_code};
use crate::state::BrokerConfig;
use async_trait::async_trait;
use base64::Engine;
use eid_core::{AuditLog, EphemeralStore, Loa, StoreError, SystemClock};
use eid_oidc::grant::Redemption;
use eid_store::{AuditWriter, MemoryEphemeral, SqlDurable};
use proptest::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::OffsetDateTime;
use uuid::Uuid;

const REDIRECT: &str = "https://rp.example/cb";
const VERIFIER: &str = "a-verifier-of-forty-three-characters-at-least-0123";

fn secret(client: &str) -> String {
    format!("{client}-secret-0123456789")
}

/// An audit log that fails while `failing` is set, and never acknowledges while `hanging` is.
struct SwitchableAudit {
    inner: SqlDurable,
    failing: AtomicBool,
    hanging: AtomicBool,
}

#[async_trait]
impl AuditLog for SwitchableAudit {
    async fn append(&self, events: &[eid_core::AuditEvent]) -> Result<(), StoreError> {
        if self.hanging.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        if self.failing.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("audit log down".into()));
        }
        self.inner.append(events).await
    }
    async fn for_person(
        &self,
        person: Uuid,
        limit: u32,
    ) -> Result<Vec<eid_core::AuditEvent>, StoreError> {
        self.inner.for_person(person, limit).await
    }
    async fn by_kind_since(
        &self,
        kind: &str,
        since: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<eid_core::AuditEvent>, StoreError> {
        self.inner.by_kind_since(kind, since, limit).await
    }
}

/// A memory store that records which keys were written, taken or deleted, and fails reads of
/// keys that start with `failing_reads` while it is set.
#[derive(Debug, Default)]
struct RecordingStore {
    inner: MemoryEphemeral,
    changed: Mutex<Vec<String>>,
    failing_reads: Mutex<Option<&'static str>>,
    /// The lifetime of each `put`, by key.
    put_ttls: Mutex<Vec<(String, Duration)>>,
}

impl RecordingStore {
    fn note(&self, key: &str) {
        self.changed.lock().unwrap().push(key.to_owned());
    }
}

#[async_trait]
impl EphemeralStore for RecordingStore {
    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError> {
        self.note(key);
        self.put_ttls.lock().unwrap().push((key.to_owned(), ttl));
        self.inner.put(key, value, ttl).await
    }
    async fn put_if_absent(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        self.note(key);
        self.inner.put_if_absent(key, value, ttl).await
    }
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(prefix) = *self.failing_reads.lock().unwrap()
            && key.starts_with(prefix)
        {
            return Err(StoreError::Unavailable("the store is down".into()));
        }
        self.inner.get(key).await
    }
    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.note(key);
        self.inner.take(key).await
    }
    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        self.note(key);
        self.inner.delete(key).await
    }
    async fn incr(&self, key: &str, ttl: Duration) -> Result<u64, StoreError> {
        self.note(key);
        self.inner.incr(key, ttl).await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

struct Harness {
    broker: Broker,
    audit: Arc<SwitchableAudit>,
    store: Arc<RecordingStore>,
}

async fn harness() -> Harness {
    let durable = SqlDurable::connect_and_migrate("sqlite::memory:")
        .await
        .unwrap();
    for (client, grants, offline_access) in [
        ("rp-a", vec!["authorization_code", "refresh_token"], false),
        ("rp-b", vec!["authorization_code", "refresh_token"], false),
        (
            "rp-offline",
            vec!["authorization_code", "refresh_token"],
            true,
        ),
        ("svc", vec!["client_credentials"], false),
    ] {
        let rp = crate::http::registration_from_json(
            serde_json::json!({
                "client_id": client, "client_name": client, "client_secret": secret(client),
                "token_endpoint_auth_method": "client_secret_post", "sector": format!("sector-{client}"),
                "redirect_uris": [REDIRECT], "grant_types": grants, "offline_access": offline_access,
            }),
            None,
        )
        .unwrap();
        eid_core::RelyingPartyRepository::upsert_relying_party(&durable, &rp)
            .await
            .unwrap();
    }
    let repo: Arc<dyn eid_core::RelyingPartyRepository> = Arc::new(
        SqlDurable::connect_and_migrate("sqlite::memory:")
            .await
            .unwrap(),
    );
    for rp in eid_core::RelyingPartyRepository::relying_parties(&durable)
        .await
        .unwrap()
    {
        repo.upsert_relying_party(&rp).await.unwrap();
    }
    let audit = Arc::new(SwitchableAudit {
        inner: durable,
        failing: AtomicBool::new(false),
        hanging: AtomicBool::new(false),
    });
    let pem = eid_keys::generate_pem(eid_keys::Alg::ES256, 0).unwrap();
    let key = eid_keys::SigningKey::from_pem(pem.as_bytes(), eid_keys::Alg::ES256).unwrap();
    let keys = eid_keys::KeyStore::from_key_set(eid_keys::KeySet::from_keys(vec![key]).unwrap());
    let store = Arc::new(RecordingStore::default());
    let broker = Broker::new(
        BrokerConfig {
            issuer: "https://broker.example".into(),
            session_ttl: Duration::from_secs(3600),
            access_token_ttl: Duration::from_secs(600),
            refresh_token_ttl: Duration::from_secs(7200),
            secure_cookies: false,
            admin_token_sha256: None,
            trusted_proxies: Vec::new(),
        },
        crate::BrokerDeps {
            ephemeral: store.clone(),
            relying_parties: repo.clone(),
            saml_service_providers: Arc::new(
                SqlDurable::connect_and_migrate("sqlite::memory:")
                    .await
                    .unwrap(),
            ),
            upstreams: Default::default(),
            mandates: Arc::new(eid_core::NoMandates),
            logout: Arc::new(crate::testing::RecordingNotifier::default()),
            pairwise: PairwiseKey::new(&[7; 32]).unwrap(),
            audit: AuditWriter::spawn(audit.clone(), 16),
            protocol_messages: Arc::new(
                SqlDurable::connect_and_migrate("sqlite::memory:")
                    .await
                    .unwrap(),
            ),
            keys,
            clock: Arc::new(SystemClock),
            metrics: eid_web::Metrics::new("broker"),
        },
    )
    .await
    .unwrap();
    Harness {
        broker,
        audit,
        store,
    }
}

impl Harness {
    /// A live session of a person who has used `rp-a` and `rp-b`; returns it and its cookie.
    async fn session(&self) -> (SsoSession, String) {
        let mut session = SsoSession::for_test(Loa::Substantial, self.broker.now());
        session.sid = eid_oidc::random::token256();
        session.served("rp-a");
        session.served("rp-b");
        let cookie = session
            .save_new(
                self.broker.ephemeral.as_ref(),
                None,
                Duration::from_secs(3600),
            )
            .await
            .unwrap();
        (session, cookie)
    }

    async fn code(&self, client: &str, session: &SsoSession, scopes: &[&str]) -> String {
        let rp = self.broker.registry.get(client).unwrap();
        let scopes: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
        let challenge = eid_oidc::pkce::s256_challenge(VERIFIER);
        let request = CodeRequest {
            redirect_uri: REDIRECT,
            code_challenge: &challenge,
            nonce: None,
            scopes: &scopes,
        };
        issue_code(&self.broker, &rp, session, request, None)
            .await
            .unwrap()
    }

    async fn token(
        &self,
        client: &str,
        pairs: &[(&str, &str)],
    ) -> Result<TokenResponse, OAuthError> {
        let secret = secret(client);
        let mut all: Vec<(String, String)> = vec![
            ("client_id".into(), client.into()),
            ("client_secret".into(), secret),
        ];
        all.extend(pairs.iter().map(|(k, v)| ((*k).into(), (*v).into())));
        token(
            &self.broker,
            None,
            &RawParams::from_pairs(all).unwrap(),
            "127.0.0.1",
        )
        .await
    }

    async fn exchange(&self, client: &str, code: &str) -> Result<TokenResponse, OAuthError> {
        self.token(
            client,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
            ],
        )
        .await
    }

    async fn refresh(
        &self,
        client: &str,
        refresh_token: &str,
    ) -> Result<TokenResponse, OAuthError> {
        self.token(
            client,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ],
        )
        .await
    }

    async fn userinfo(&self, access_token: &str) -> Result<Value, OAuthError> {
        userinfo(&self.broker, Some(&format!("Bearer {access_token}"))).await
    }

    fn fail_audit(&self, failing: bool) {
        self.audit.failing.store(failing, Ordering::SeqCst);
    }
}

fn claims_of(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn after_logout_the_access_token_fails_at_userinfo_and_the_refresh_token_does_not_rotate() {
    let h = harness().await;
    let (session, cookie) = h.session().await;
    let code = h.code("rp-a", &session, &["openid"]).await;
    let tokens = h.exchange("rp-a", &code).await.unwrap();
    assert!(h.userinfo(&tokens.access_token).await.is_ok());
    let refresh = tokens.refresh_token.clone().unwrap();

    SsoSession::end_by_cookie(h.broker.ephemeral.as_ref(), &cookie)
        .await
        .unwrap();

    let userinfo = h.userinfo(&tokens.access_token).await.unwrap_err();
    assert_eq!(userinfo.code, ErrorCode::InvalidToken);
    let rotated = h.refresh("rp-a", &refresh).await.unwrap_err();
    assert_eq!(rotated.code, ErrorCode::InvalidGrant, "{rotated:?}");
}

#[tokio::test]
async fn a_code_issued_before_logout_is_worthless_after_it() {
    let h = harness().await;
    let (session, cookie) = h.session().await;
    let code = h.code("rp-a", &session, &["openid"]).await;
    SsoSession::end_by_cookie(h.broker.ephemeral.as_ref(), &cookie)
        .await
        .unwrap();
    assert_eq!(
        h.exchange("rp-a", &code).await.unwrap_err().code,
        ErrorCode::InvalidGrant
    );
}

#[tokio::test]
async fn an_explicit_offline_access_grant_outlives_the_session() {
    let h = harness().await;
    let (session, cookie) = h.session().await;
    let code = h
        .code("rp-offline", &session, &["openid", "offline_access"])
        .await;
    let tokens = h.exchange("rp-offline", &code).await.unwrap();
    assert_eq!(tokens.scope, "openid offline_access");
    SsoSession::end_by_cookie(h.broker.ephemeral.as_ref(), &cookie)
        .await
        .unwrap();
    let rotated = h
        .refresh("rp-offline", &tokens.refresh_token.unwrap())
        .await
        .unwrap();
    assert!(h.userinfo(&rotated.access_token).await.is_ok());
}

#[tokio::test]
async fn offline_access_asked_for_by_a_client_not_registered_for_it_dies_with_the_session() {
    let h = harness().await;
    let (session, cookie) = h.session().await;
    let code = h
        .code("rp-a", &session, &["openid", "offline_access"])
        .await;
    let tokens = h.exchange("rp-a", &code).await.unwrap();
    assert_eq!(tokens.scope, "openid");
    SsoSession::end_by_cookie(h.broker.ephemeral.as_ref(), &cookie)
        .await
        .unwrap();
    let refreshed = h
        .refresh("rp-a", &tokens.refresh_token.unwrap())
        .await
        .unwrap_err();
    assert_eq!(refreshed.code, ErrorCode::InvalidGrant, "{refreshed:?}");
    assert!(h.userinfo(&tokens.access_token).await.is_err());
}

#[tokio::test]
async fn a_code_whose_audit_event_cannot_be_written_stays_redeemable() {
    let h = harness().await;
    let (session, _) = h.session().await;
    let code = h.code("rp-a", &session, &["openid"]).await;
    h.fail_audit(true);
    let failed = h.exchange("rp-a", &code).await.unwrap_err();
    assert_eq!(failed.code, ErrorCode::TemporarilyUnavailable, "{failed:?}");
    h.fail_audit(false);
    let retried = h.exchange("rp-a", &code).await;
    assert!(
        retried.is_ok(),
        "the retry the 503 invites works: {retried:?}"
    );
    // And the code is still single-use.
    assert_eq!(
        h.exchange("rp-a", &code).await.unwrap_err().code,
        ErrorCode::InvalidGrant
    );
}

#[tokio::test]
async fn tokens_whose_audit_event_cannot_be_written_are_withdrawn() {
    let h = harness().await;
    let (session, _) = h.session().await;
    let code = h.code("rp-a", &session, &["openid"]).await;
    h.store.changed.lock().unwrap().clear();
    h.fail_audit(true);
    h.exchange("rp-a", &code).await.unwrap_err();
    // The refresh token written was deleted again (put, then delete: the key appears twice); the
    // access token, sealed and stored nowhere, was revoked (its identifier marked).
    let changed = h.store.changed.lock().unwrap().clone();
    let refresh: Vec<&String> = changed
        .iter()
        .filter(|k| k.starts_with("broker:rt:"))
        .collect();
    assert_eq!(refresh.len(), 2, "{changed:?}");
    assert_eq!(refresh[0], refresh[1]);
    assert!(h.store.inner.get(refresh[0]).await.unwrap().is_none());
    assert!(
        !changed.iter().any(|k| k.starts_with("broker:at:")),
        "{changed:?}"
    );
    let revoked: Vec<&String> = changed
        .iter()
        .filter(|k| k.starts_with("broker:at-revoked:"))
        .collect();
    assert_eq!(revoked.len(), 1, "{changed:?}");
    assert!(h.store.inner.get(revoked[0]).await.unwrap().is_some());
}

#[tokio::test]
async fn a_refresh_token_whose_audit_event_cannot_be_written_stays_usable() {
    let h = harness().await;
    let (session, _) = h.session().await;
    let code = h.code("rp-a", &session, &["openid"]).await;
    let refresh = h
        .exchange("rp-a", &code)
        .await
        .unwrap()
        .refresh_token
        .unwrap();
    h.fail_audit(true);
    assert_eq!(
        h.refresh("rp-a", &refresh).await.unwrap_err().code,
        ErrorCode::TemporarilyUnavailable
    );
    h.fail_audit(false);
    assert!(h.refresh("rp-a", &refresh).await.is_ok());
}

#[tokio::test]
async fn a_code_and_a_refresh_token_whose_revocation_check_fails_stay_usable() {
    let h = harness().await;
    let (session, _) = h.session().await;
    let code = h.code("rp-a", &session, &["openid"]).await;
    *h.store.failing_reads.lock().unwrap() = Some("broker:grant-revoked:");
    let failed = h.exchange("rp-a", &code).await.unwrap_err();
    assert_eq!(failed.code, ErrorCode::TemporarilyUnavailable, "{failed:?}");
    *h.store.failing_reads.lock().unwrap() = None;
    let refresh = h
        .exchange("rp-a", &code)
        .await
        .unwrap()
        .refresh_token
        .unwrap();
    *h.store.failing_reads.lock().unwrap() = Some("broker:grant-revoked:");
    let failed = h.refresh("rp-a", &refresh).await.unwrap_err();
    assert_eq!(failed.code, ErrorCode::TemporarilyUnavailable, "{failed:?}");
    *h.store.failing_reads.lock().unwrap() = None;
    // The retry is the token's first use, not a replay that would revoke the grant.
    let rotated = h.refresh("rp-a", &refresh).await.unwrap();
    assert!(h.userinfo(&rotated.access_token).await.is_ok());
}

#[tokio::test]
async fn a_refresh_token_is_kept_only_as_long_as_its_session_can_live_unless_offline() {
    let h = harness().await;
    let (session, _) = h.session().await;
    let ttl_of_last_refresh_token = || {
        h.store
            .put_ttls
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|(key, _)| key.starts_with("broker:rt:"))
            .map(|(_, ttl)| *ttl)
            .unwrap()
    };
    let code = h.code("rp-a", &session, &["openid"]).await;
    let refresh = h
        .exchange("rp-a", &code)
        .await
        .unwrap()
        .refresh_token
        .unwrap();
    assert_eq!(ttl_of_last_refresh_token(), Duration::from_secs(3600));
    h.refresh("rp-a", &refresh).await.unwrap();
    assert_eq!(ttl_of_last_refresh_token(), Duration::from_secs(3600));
    let code = h
        .code("rp-offline", &session, &["openid", "offline_access"])
        .await;
    h.exchange("rp-offline", &code).await.unwrap();
    assert_eq!(ttl_of_last_refresh_token(), Duration::from_secs(7200));
}

#[tokio::test]
async fn a_restored_code_whose_grant_a_reuse_revoked_releases_nothing() {
    let h = harness().await;
    let (session, _) = h.session().await;
    let code = h.code("rp-a", &session, &["openid"]).await;
    let grants = crate::oidc::tokens::grants(&h.broker);
    // A first request redeems the code; its answer fails and it is about to restore the code ...
    let Redemption::Fresh(grant) = grants.redeem_code::<BrokerGrant>(&code).await.unwrap() else {
        panic!("the first redemption is fresh");
    };
    // ... while a reuse is seen, which revokes the grant ...
    assert_eq!(
        h.exchange("rp-a", &code).await.unwrap_err().code,
        ErrorCode::InvalidGrant
    );
    // ... and then the code is restored.
    grants.restore_code(&code, &grant).await.unwrap();
    let again = h.exchange("rp-a", &code).await.unwrap_err();
    assert_eq!(again.code, ErrorCode::InvalidGrant, "{again:?}");
}

#[tokio::test]
async fn a_restored_refresh_token_keeps_its_reuse_tombstone() {
    let h = harness().await;
    let (session, _) = h.session().await;
    let code = h.code("rp-a", &session, &["openid"]).await;
    let refresh = h
        .exchange("rp-a", &code)
        .await
        .unwrap()
        .refresh_token
        .unwrap();
    h.fail_audit(true);
    h.refresh("rp-a", &refresh).await.unwrap_err();
    h.fail_audit(false);
    // A concurrent retry may have written the tombstone; the restore leaves it.
    let tombstone = format!("broker:rt-used:{}", eid_oidc::random::digest_key(&refresh));
    assert!(h.store.inner.get(&tombstone).await.unwrap().is_some());
    // The restored token is still taken first, and its replay afterwards is recognised.
    let rotated = h.refresh("rp-a", &refresh).await.unwrap();
    let replay = h.refresh("rp-a", &refresh).await.unwrap_err();
    assert_eq!(
        replay.description,
        "refresh token already used; the grant is revoked"
    );
    assert!(h.userinfo(&rotated.access_token).await.is_err());
}

#[tokio::test]
async fn a_hung_audit_log_leaves_the_code_redeemable_within_the_request_timeout() {
    let h = harness().await;
    let (session, _) = h.session().await;
    let code = h.code("rp-a", &session, &["openid"]).await;
    h.audit.hanging.store(true, Ordering::SeqCst);
    // Only the memory store is touched from here: paused time advances while the log hangs.
    tokio::time::pause();
    let answered = tokio::time::timeout(Duration::from_secs(30), h.exchange("rp-a", &code))
        .await
        .expect("answered before the 30 s request timeout");
    assert_eq!(
        answered.unwrap_err().code,
        ErrorCode::TemporarilyUnavailable
    );
    let key = format!("broker:code:{}", eid_oidc::random::digest_key(&code));
    assert!(
        h.store.inner.get(&key).await.unwrap().is_some(),
        "the code was restored for the retry"
    );
}

#[tokio::test]
async fn a_refusal_is_attributed_to_the_client_basic_authentication_names() {
    let h = harness().await;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("rp-b:wrong-secret-0123456789")
    );
    for form in [
        vec![("grant_type", "client_credentials")],
        vec![("grant_type", "client_credentials"), ("client_id", "rp-a")],
    ] {
        let form =
            RawParams::from_pairs(form.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())))
                .unwrap();
        token(&h.broker, Some(&basic), &form, "127.0.0.1")
            .await
            .unwrap_err();
    }
    let since = OffsetDateTime::now_utc() - time::Duration::minutes(1);
    let refused = h
        .audit
        .inner
        .by_kind_since("token.rejected", since, 10)
        .await
        .unwrap();
    let clients: Vec<Option<&str>> = refused.iter().map(|e| e.client.as_deref()).collect();
    assert_eq!(clients, vec![Some("rp-b"), Some("rp-b")], "{refused:?}");
}

#[tokio::test]
async fn another_persons_login_in_the_browser_ends_the_session_and_its_tokens() {
    let h = harness().await;
    let (session, cookie) = h.session().await;
    let code = h.code("rp-a", &session, &["openid"]).await;
    let tokens = h.exchange("rp-a", &code).await.unwrap();
    let mut other = SsoSession::for_test(Loa::Substantial, h.broker.now());
    other.sid = "another-session".into();
    other.identity.person.subject = "someone-else".into();
    h.broker.start_session(&other, Some(&cookie)).await.unwrap();
    assert!(h.userinfo(&tokens.access_token).await.is_err());
    let refreshed = h
        .refresh("rp-a", &tokens.refresh_token.unwrap())
        .await
        .unwrap_err();
    assert_eq!(refreshed.code, ErrorCode::InvalidGrant);
    let since = OffsetDateTime::now_utc() - time::Duration::minutes(1);
    let ended = h
        .audit
        .inner
        .by_kind_since("logout", since, 10)
        .await
        .unwrap();
    assert_eq!(ended.len(), 1, "{ended:?}");
    assert_eq!(ended[0].details["initiated_by"], "another_login");
}

#[tokio::test]
async fn each_relying_party_sees_its_own_sid() {
    let h = harness().await;
    let (session, _) = h.session().await;
    let a = h.code("rp-a", &session, &["openid"]).await;
    let b = h.code("rp-b", &session, &["openid"]).await;
    let sid_a = claims_of(&h.exchange("rp-a", &a).await.unwrap().id_token.unwrap())["sid"].clone();
    let sid_b = claims_of(&h.exchange("rp-b", &b).await.unwrap().id_token.unwrap())["sid"].clone();
    assert!(sid_a.is_string());
    assert_ne!(sid_a, sid_b);
    assert_ne!(sid_a, Value::String(session.sid.clone()));
    assert_eq!(sid_a, Value::String(session.sid_for("rp-a")));
}

#[tokio::test]
async fn unknown_scopes_are_not_granted() {
    let h = harness().await;
    let (session, _) = h.session().await;
    let code = h
        .code("rp-a", &session, &["openid", "admin", "openid", "profile"])
        .await;
    let tokens = h.exchange("rp-a", &code).await.unwrap();
    assert_eq!(tokens.scope, "openid");
}

#[tokio::test]
async fn client_credentials_grant_no_requested_scope() {
    let h = harness().await;
    let tokens = h
        .token(
            "svc",
            &[
                ("grant_type", "client_credentials"),
                ("scope", "admin openid offline_access payments"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(tokens.scope, "");
}

#[tokio::test]
async fn client_credentials_are_refused_with_temporarily_unavailable_while_the_audit_log_lags() {
    let h = harness().await;
    h.audit.hanging.store(true, Ordering::SeqCst);
    let grant = [("grant_type", "client_credentials")];
    let mut issued = 0;
    let refusal = loop {
        match h.token("svc", &grant).await {
            Ok(_) => issued += 1,
            Err(e) => break e,
        }
        assert!(issued <= 1_000, "the audit queue never filled");
        // Let the writer take its first batch.
        tokio::task::yield_now().await;
    };
    assert_eq!(
        refusal.code,
        ErrorCode::TemporarilyUnavailable,
        "{refusal:?}"
    );
    // Bounded by the writer's queue (16 × 8) and the batch it holds, whatever the load.
    assert!(
        issued <= 16 * 9,
        "{issued} tokens issued while nothing was written"
    );
}

#[tokio::test]
async fn offline_access_is_granted_only_to_a_client_registered_for_it_that_may_refresh() {
    let rp = |grants: &[&str], offline_access: bool| -> eid_core::OidcClient {
        let doc: eid_core::RpRegistration = serde_json::from_value(serde_json::json!({
            "client_id": "x", "client_name": "x", "token_endpoint_auth_method": "client_secret_post",
            "sector": "s", "grant_types": grants, "offline_access": offline_access,
        }))
        .unwrap();
        eid_core::RelyingParty::try_from(doc)
            .unwrap()
            .oidc()
            .unwrap()
            .clone()
    };
    let both = ["authorization_code", "refresh_token"];
    for (rp, granted) in [
        (rp(&["authorization_code"], true), "openid"),
        (rp(&both, false), "openid"),
        (rp(&both, true), "openid offline_access"),
    ] {
        assert_eq!(
            grantable_scopes(&rp, "openid offline_access", true).join(" "),
            granted
        );
    }
}

#[tokio::test]
async fn revoking_another_clients_refresh_token_leaves_it_untouched() {
    let h = harness().await;
    let (session, _) = h.session().await;
    let code = h.code("rp-a", &session, &["openid"]).await;
    let refresh = h
        .exchange("rp-a", &code)
        .await
        .unwrap()
        .refresh_token
        .unwrap();
    h.store.changed.lock().unwrap().clear();
    let form = RawParams::from_pairs([
        ("client_id".to_owned(), "rp-b".to_owned()),
        ("client_secret".to_owned(), secret("rp-b")),
        ("token".to_owned(), refresh.clone()),
    ])
    .unwrap();
    revoke(&h.broker, None, &form).await.unwrap();
    let changed = h.store.changed.lock().unwrap().clone();
    assert!(
        !changed
            .iter()
            .any(|k| k.starts_with("broker:rt") || k.starts_with("broker:grant-revoked")),
        "another client's revocation touched the token: {changed:?}"
    );
    assert!(h.refresh("rp-a", &refresh).await.is_ok());
}

#[tokio::test]
async fn revoking_ones_own_refresh_token_ends_it() {
    let h = harness().await;
    let (session, _) = h.session().await;
    let code = h.code("rp-a", &session, &["openid"]).await;
    let tokens = h.exchange("rp-a", &code).await.unwrap();
    let refresh = tokens.refresh_token.unwrap();
    let form = RawParams::from_pairs([
        ("client_id".to_owned(), "rp-a".to_owned()),
        ("client_secret".to_owned(), secret("rp-a")),
        ("token".to_owned(), refresh.clone()),
    ])
    .unwrap();
    revoke(&h.broker, None, &form).await.unwrap();
    assert!(h.refresh("rp-a", &refresh).await.is_err());
    assert!(h.userinfo(&tokens.access_token).await.is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever is requested, only advertised scopes are granted, each once, in request order.
    #[test]
    fn granted_scopes_are_advertised_and_unique(requested in "[a-z_ ]{0,80}", person: bool) {
        let doc: eid_core::RpRegistration = serde_json::from_value(serde_json::json!({
            "client_id": "x", "client_name": "x", "token_endpoint_auth_method": "client_secret_post",
            "sector": "s", "grant_types": ["authorization_code", "refresh_token"],
        })).unwrap();
        let rp = eid_core::RelyingParty::try_from(doc).unwrap().oidc().unwrap().clone();
        let granted = grantable_scopes(&rp, &requested, person);
        for s in &granted {
            prop_assert!(crate::oidc::tokens::SUPPORTED_SCOPES.contains(&s.as_str()));
            prop_assert!(requested.split(' ').any(|r| r == s));
            prop_assert_eq!(granted.iter().filter(|g| *g == s).count(), 1);
        }
        if !person {
            prop_assert!(granted.is_empty());
        }
    }
}

/// The token, revocation and introspection endpoints answer any form with an OAuth error, never a
/// panic (one broker for every case).
#[test]
fn token_requests_of_any_shape_get_an_oauth_answer() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let h = rt.block_on(harness());
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(128));
    let strategy = proptest::collection::vec(
        (
            prop_oneof![
                Just("grant_type".to_owned()),
                Just("code".to_owned()),
                Just("refresh_token".to_owned()),
                Just("client_id".to_owned()),
                Just("client_secret".to_owned()),
                Just("token".to_owned()),
                Just("scope".to_owned()),
                "[a-z_]{1,14}",
            ],
            "\\PC{0,40}",
        ),
        0..8,
    );
    runner
        .run(&strategy, |pairs| {
            rt.block_on(async {
                if let Ok(form) = RawParams::from_pairs(pairs) {
                    let _ = token(&h.broker, None, &form, "127.0.0.1").await;
                    let _ = revoke(&h.broker, None, &form).await;
                    let _ = introspect(&h.broker, None, &form).await;
                }
            });
            Ok(())
        })
        .unwrap();
}
