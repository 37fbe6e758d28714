//! Component tests of the broker: its router called in-process (`oneshot`) over the memory
//! ephemeral store, an in-memory SQLite registry and audit log, a fixed clock, a fake upstream
//! identity provider and a recording back-channel notifier. The cookie-keeping client of
//! `eid_web::testing` plays the browser.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::http::Request;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use eid_broker::core::pairwise::PairwiseKey;
use eid_broker::ports::{LogoutNotifier, Upstream, UpstreamKind, Upstreams};
use eid_broker::{Broker, BrokerConfig, BrokerDeps};
use eid_core::{
    AuditEvent, AuditLog, Clock, FixedClock, Identity, Loa, Mandate, MandateLookup, PersonKey,
    RelyingPartyRepository, ServiceRef, StoreError,
};
use eid_keys::{Alg, KeySet, KeyStore, SigningKey};
use eid_oidc::rp::{PendingUpstream, UpstreamError, UpstreamRequest};
use eid_store::{AuditWriter, MemoryEphemeral, SqlDurable};
use eid_web::testing;
pub use eid_web::testing::{Client, Reply};
use eid_web::{Metrics, Platform};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use url::Url;
use uuid::Uuid;

pub mod saml;
pub mod slo;

/// The broker's public origin in these tests.
pub const ISSUER: &str = "http://localhost:8080";
/// The fake upstream's name (also the upstream of [`Identity::for_test`]).
pub const UPSTREAM: &str = "idp";
/// Where the fake upstream "is".
pub const UPSTREAM_AUTHORIZE: &str = "https://upstream.example/authorize";
/// The fake upstream's logout endpoint, once [`FakeUpstream::offer_logout`] is called.
pub const UPSTREAM_LOGOUT: &str = "https://upstream.example/logout";
/// The second fake upstream's name (an eIDAS connector), in [`Harness::two_upstreams`].
pub const EU_UPSTREAM: &str = "eidas";
/// Where the second fake upstream "is".
pub const EU_UPSTREAM_AUTHORIZE: &str = "https://eu-upstream.example/authorize";
/// A relying party with a back-channel logout URI and a post-logout redirect URI.
pub const RP_A: &str = "rp-a";
/// A relying party without back-channel logout.
pub const RP_B: &str = "rp-b";
/// A relying party that may receive the CPR number, names and birth date, refresh its tokens and
/// accepts people acting on behalf of others.
pub const RP_C: &str = "rp-c";
/// The PKCE verifier every authorization request of these tests uses.
pub const VERIFIER: &str = "a-verifier-of-forty-three-characters-at-least-0123";
/// The pairwise key of the broker under test.
pub const PAIRWISE: [u8; 32] = [7; 32];
/// The NSIS URI of High, as in `acr_values`.
pub const HIGH: &str = "https://data.gov.dk/concept/core/nsis/loa/High";
/// The NSIS URI of Substantial.
pub const SUBSTANTIAL: &str = "https://data.gov.dk/concept/core/nsis/loa/Substantial";

/// A relying party's redirect URI.
pub fn redirect_uri(rp: &str) -> String {
    format!("https://{rp}.example/cb")
}

/// A relying party's back-channel logout URI (only [`RP_A`] registers it).
pub fn backchannel_uri(rp: &str) -> String {
    format!("https://{rp}.example/backchannel")
}

/// A relying party's post-logout redirect URI.
pub fn post_logout_uri(rp: &str) -> String {
    format!("https://{rp}.example/bye")
}

/// A relying party's client secret.
pub fn secret(rp: &str) -> String {
    format!("{rp}-secret-0123456789")
}

/// A relying party's sector (pairwise identifiers).
pub fn sector(rp: &str) -> String {
    format!("sector-{rp}")
}

/// The admin API's token in these tests.
pub const ADMIN_TOKEN: &str = "admin-token-0123456789abcdef";

/// SHA-256 of [`ADMIN_TOKEN`], as the broker's configuration holds it.
pub fn admin_token_sha256() -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(
        ring::digest::digest(&ring::digest::SHA256, ADMIN_TOKEN.as_bytes()).as_ref(),
    );
    out
}

/// The S256 challenge of [`VERIFIER`].
pub fn challenge() -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        VERIFIER.as_bytes(),
    ))
}

/// The `sub` the broker gives `subject` (at the fake upstream) at relying party `rp`.
pub fn expected_sub(rp: &str, subject: &str) -> String {
    PairwiseKey::new(&PAIRWISE)
        .unwrap()
        .subject(&sector(rp), &format!("{UPSTREAM}:{subject}"))
}

/// An upstream identity provider whose answer the test sets, recording what it was asked.
pub struct FakeUpstream {
    name: &'static str,
    kind: UpstreamKind,
    authorize: &'static str,
    answer: Mutex<Result<Identity, UpstreamError>>,
    /// Every request of [`Upstream::begin`], in order.
    pub requests: Mutex<Vec<UpstreamRequest>>,
    /// Every callback query [`Upstream::complete`] was given.
    pub callbacks: Mutex<Vec<Vec<(String, String)>>>,
    counter: AtomicU64,
    offers_logout: std::sync::atomic::AtomicBool,
}

impl FakeUpstream {
    fn new(name: &'static str, kind: UpstreamKind, authorize: &'static str) -> FakeUpstream {
        FakeUpstream {
            name,
            kind,
            authorize,
            answer: Mutex::new(Err(UpstreamError::Refused {
                error: "access_denied".into(),
                description: Some("no answer set".into()),
            })),
            requests: Mutex::new(Vec::new()),
            callbacks: Mutex::new(Vec::new()),
            counter: AtomicU64::new(0),
            offers_logout: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// From now on it offers a logout endpoint ([`UPSTREAM_LOGOUT`]).
    pub fn offer_logout(&self) {
        self.offers_logout.store(true, Ordering::SeqCst);
    }

    /// The next logins succeed as `identity`.
    pub fn answer(&self, identity: Identity) {
        *self.answer.lock().unwrap() = Ok(identity);
    }

    /// The next logins succeed as the upstream's verified `login`, mapped to the broker's
    /// identity for this upstream's kind exactly as a real one is
    /// ([`eid_broker::adapters::identity`]): a mapping failure fails the login.
    pub fn answer_login(&self, login: eid_oidc::rp::UpstreamIdentity) {
        let key = PairwiseKey::new(&PAIRWISE).unwrap();
        *self.answer.lock().unwrap() = eid_broker::adapters::identity(self.kind, &key, login);
    }

    /// The next logins fail with `error`.
    pub fn fail(&self, error: UpstreamError) {
        *self.answer.lock().unwrap() = Err(error);
    }

    /// The requests so far.
    pub fn requests(&self) -> Vec<UpstreamRequest> {
        self.requests.lock().unwrap().clone()
    }
}

#[async_trait]
impl Upstream for FakeUpstream {
    fn name(&self) -> &str {
        self.name
    }

    fn kind(&self) -> UpstreamKind {
        self.kind
    }

    async fn begin(
        &self,
        request: &UpstreamRequest,
    ) -> Result<(Url, PendingUpstream), UpstreamError> {
        self.requests.lock().unwrap().push(request.clone());
        let n = self.counter.fetch_add(1, Ordering::SeqCst);
        let state = format!("upstream-state-{n}-{}", Uuid::new_v4().simple());
        let mut url = Url::parse(self.authorize).unwrap();
        url.query_pairs_mut().append_pair("state", &state);
        let pending = PendingUpstream {
            upstream: self.name.into(),
            state,
            nonce: format!("upstream-nonce-{n}"),
            pkce_verifier: format!("upstream-verifier-{n}"),
            acr_min: request.acr_min,
            max_age: request.max_age,
        };
        Ok((url, pending))
    }

    async fn complete(
        &self,
        pending: &PendingUpstream,
        params: &[(String, String)],
    ) -> Result<Identity, UpstreamError> {
        self.callbacks.lock().unwrap().push(params.to_vec());
        let state = params.iter().find(|(k, _)| k == "state").map(|(_, v)| v);
        if state != Some(&pending.state) {
            return Err(UpstreamError::StateMismatch);
        }
        self.answer.lock().unwrap().clone()
    }

    async fn end_session_url(
        &self,
        hint: Option<&str>,
        post_logout_redirect_uri: Option<&str>,
    ) -> Option<Url> {
        if !self.offers_logout.load(Ordering::SeqCst) {
            return None;
        }
        let mut url = Url::parse(UPSTREAM_LOGOUT).unwrap();
        if let Some(hint) = hint {
            url.query_pairs_mut().append_pair("logout_hint", hint);
        }
        if let Some(uri) = post_logout_redirect_uri {
            url.query_pairs_mut()
                .append_pair("post_logout_redirect_uri", uri);
        }
        Some(url)
    }
}

/// A back-channel notifier that records every delivery and acknowledges it.
#[derive(Default)]
pub struct RecordingNotifier {
    /// `(uri, logout_token)` of each delivery.
    pub delivered: Mutex<Vec<(String, String)>>,
    /// `(uri, SOAP envelope)` of each SAML back-channel logout; the test service answers each
    /// with a signed Success LogoutResponse ([`slo::soap_reply`]).
    pub soap: Mutex<Vec<(String, String)>>,
    /// Whether the test service answers SOAP logouts with an unsigned LogoutResponse.
    pub soap_unsigned: std::sync::atomic::AtomicBool,
}

impl RecordingNotifier {
    /// The SOAP deliveries so far.
    pub fn soap(&self) -> Vec<(String, String)> {
        self.soap.lock().unwrap().clone()
    }

    /// The deliveries so far.
    pub fn delivered(&self) -> Vec<(String, String)> {
        self.delivered.lock().unwrap().clone()
    }
}

#[async_trait]
impl LogoutNotifier for RecordingNotifier {
    async fn deliver(&self, uri: &str, logout_token: &str) -> bool {
        self.delivered
            .lock()
            .unwrap()
            .push((uri.to_owned(), logout_token.to_owned()));
        true
    }

    async fn deliver_soap(&self, uri: &str, envelope: &str) -> Option<String> {
        self.soap
            .lock()
            .unwrap()
            .push((uri.to_owned(), envelope.to_owned()));
        let signed = !self.soap_unsigned.load(std::sync::atomic::Ordering::SeqCst);
        slo::soap_reply(envelope, signed)
    }
}

/// A mandate registry of the mandates it was given: `held` ones for anyone, granted ones for their
/// agent only; each only at a relying party (or a service area) among its scopes; revocable.
#[derive(Debug, Default)]
pub struct FakeMandates {
    /// Mandates anyone holds.
    pub held: Mutex<Vec<Mandate>>,
    /// `(agent subject, mandate)`: mandates one person holds.
    pub granted: Mutex<Vec<(String, Mandate)>>,
    /// `(agent subject, relying party)` of each lookup.
    pub asked: Mutex<Vec<(String, String)>>,
    /// `(agent subject, mandate id)` of each re-check.
    pub rechecked: Mutex<Vec<(String, String)>>,
}

impl FakeMandates {
    /// `agent` (a subject at the fake upstream) now holds `mandate`.
    pub fn grant(&self, agent: &str, mandate: Mandate) {
        self.granted
            .lock()
            .unwrap()
            .push((agent.to_owned(), mandate));
    }

    /// Revokes the mandate `id`, with immediate effect.
    pub fn revoke(&self, id: &str) {
        self.held.lock().unwrap().retain(|m| m.id != id);
        self.granted.lock().unwrap().retain(|(_, m)| m.id != id);
    }

    /// The re-checks so far.
    pub fn rechecked(&self) -> Vec<(String, String)> {
        self.rechecked.lock().unwrap().clone()
    }

    fn found(&self, agent: &Identity, service: ServiceRef<'_>) -> Vec<Mandate> {
        let covers = |m: &Mandate| {
            m.scopes
                .iter()
                .any(|s| s == service.id || service.areas.contains(s))
        };
        let mut found: Vec<Mandate> = self.held.lock().unwrap().clone();
        found.extend(
            self.granted
                .lock()
                .unwrap()
                .iter()
                .filter(|(a, _)| *a == agent.person.subject)
                .map(|(_, m)| m.clone()),
        );
        found.retain(covers);
        found
    }
}

#[async_trait]
impl MandateLookup for FakeMandates {
    async fn mandates(
        &self,
        agent: &Identity,
        service: ServiceRef<'_>,
        _at: time::OffsetDateTime,
    ) -> Result<Vec<Mandate>, StoreError> {
        self.asked
            .lock()
            .unwrap()
            .push((agent.person.subject.clone(), service.id.to_owned()));
        Ok(self.found(agent, service))
    }

    async fn mandate(
        &self,
        agent: &Identity,
        id: &str,
        service: ServiceRef<'_>,
        _at: time::OffsetDateTime,
    ) -> Result<Option<Mandate>, StoreError> {
        self.rechecked
            .lock()
            .unwrap()
            .push((agent.person.subject.clone(), id.to_owned()));
        Ok(self.found(agent, service).into_iter().find(|m| m.id == id))
    }
}

/// A power of attorney from the person `principal` (a subject at the fake upstream) named `name`
/// with CPR number `cpr`, letting its holder act at `scope` (a relying party or a service area).
pub fn power_of_attorney(id: &str, principal: &str, name: &str, cpr: &str, scope: &str) -> Mandate {
    Mandate {
        id: id.into(),
        kind: eid_core::MandateKind::PowerOfAttorney,
        principal: eid_core::Principal::Person {
            person: PersonKey {
                upstream: UPSTREAM.into(),
                subject: principal.into(),
            },
            cpr: Some(eid_core::Cpr::parse(cpr).unwrap()),
            name: name.into(),
        },
        access: eid_core::Access::Act,
        scopes: vec![scope.into()],
        privileges: vec!["urn:dk:example:housing:apply".into()],
        valid_until: None,
    }
}

/// A business right of an employee to act for the organisation with `cvr` at `scope`.
pub fn business_right(id: &str, cvr: &str, name: &str, scope: &str) -> Mandate {
    Mandate {
        id: id.into(),
        kind: eid_core::MandateKind::BusinessRight,
        principal: eid_core::Principal::Organisation {
            cvr: cvr.into(),
            name: name.into(),
        },
        access: eid_core::Access::Read,
        scopes: vec![scope.into()],
        privileges: vec!["urn:dk:example:accounts:read".into()],
        valid_until: None,
    }
}

/// A running broker with its stores, clock and fakes.
pub struct Harness {
    pub broker: Arc<Broker>,
    pub router: Router,
    pub clock: FixedClock,
    pub durable: Arc<SqlDurable>,
    /// The national fake upstream ([`UPSTREAM`]), the broker's only one unless built otherwise.
    pub upstream: Arc<FakeUpstream>,
    /// The eIDAS fake upstream ([`EU_UPSTREAM`]), the broker's second in [`Harness::two_upstreams`].
    pub eu_upstream: Arc<FakeUpstream>,
    /// How many upstreams the broker has.
    pub upstreams: usize,
    pub notifier: Arc<RecordingNotifier>,
    pub mandates: Arc<FakeMandates>,
}

fn test_keys() -> KeySet {
    let pem = eid_keys::generate_pem(Alg::ES256, 0).unwrap();
    KeySet::from_keys(vec![
        SigningKey::from_pem(pem.as_bytes(), Alg::ES256).unwrap(),
        saml::broker_key(),
    ])
    .unwrap()
}

impl Harness {
    /// The broker with [`RP_A`], [`RP_B`] and [`RP_C`] registered and the national fake upstream as
    /// its only one.
    pub async fn new() -> Harness {
        Harness::with_upstreams(true, false).await
    }

    /// The broker with the national and the eIDAS fake upstreams, in that order.
    pub async fn two_upstreams() -> Harness {
        Harness::with_upstreams(true, true).await
    }

    /// The broker with the eIDAS fake upstream only.
    pub async fn eu_only() -> Harness {
        Harness::with_upstreams(false, true).await
    }

    /// The broker without any upstream.
    pub async fn no_upstreams() -> Harness {
        Harness::with_upstreams(false, false).await
    }

    /// The broker (as [`Harness::new`]) writing its audit log through `log` (which wraps the
    /// harness's store, so that tests can make it fail).
    pub async fn with_audit_log(log: impl FnOnce(Arc<SqlDurable>) -> Arc<dyn AuditLog>) -> Harness {
        Harness::build(true, false, log).await
    }

    /// The broker with the national fake upstream if `national`, then the eIDAS one if `eu`.
    async fn with_upstreams(national: bool, eu: bool) -> Harness {
        Harness::build(national, eu, |durable| durable).await
    }

    async fn build(
        national: bool,
        eu: bool,
        log: impl FnOnce(Arc<SqlDurable>) -> Arc<dyn AuditLog>,
    ) -> Harness {
        let durable = Arc::new(
            SqlDurable::connect_and_migrate("sqlite::memory:")
                .await
                .unwrap(),
        );
        for rp in [RP_A, RP_B] {
            let mut doc = serde_json::json!({
                "client_id": rp, "client_name": format!("Service {rp}"),
                "client_secret": secret(rp), "token_endpoint_auth_method": "client_secret_post",
                "sector": sector(rp), "redirect_uris": [redirect_uri(rp)],
                "post_logout_redirect_uris": [post_logout_uri(rp)],
                "grant_types": ["authorization_code"],
            });
            if rp == RP_A {
                doc["backchannel_logout_uri"] = backchannel_uri(rp).into();
            }
            let registration = eid_broker::http::registration_from_json(doc, None).unwrap();
            durable.upsert_relying_party(&registration).await.unwrap();
        }
        let doc = serde_json::json!({
            "client_id": RP_C, "client_name": "Service C",
            "client_secret": secret(RP_C), "token_endpoint_auth_method": "client_secret_post",
            "sector": sector(RP_C), "redirect_uris": [redirect_uri(RP_C)],
            "grant_types": ["authorization_code", "refresh_token"],
            "allowed_claims": ["cpr", "name", "birthdate"], "accepts_representation": true,
        });
        let registration = eid_broker::http::registration_from_json(doc, None).unwrap();
        durable.upsert_relying_party(&registration).await.unwrap();
        // Real time (to the second): the logout's hint is verified against the wall clock.
        let clock = FixedClock::new(
            time::OffsetDateTime::now_utc()
                .replace_nanosecond(0)
                .unwrap(),
        );
        let upstream = Arc::new(FakeUpstream::new(
            UPSTREAM,
            UpstreamKind::National,
            UPSTREAM_AUTHORIZE,
        ));
        let eu_upstream = Arc::new(FakeUpstream::new(
            EU_UPSTREAM,
            UpstreamKind::EuEid,
            EU_UPSTREAM_AUTHORIZE,
        ));
        let mut wired: Vec<Arc<dyn Upstream>> = Vec::new();
        if national {
            wired.push(upstream.clone());
        }
        if eu {
            wired.push(eu_upstream.clone());
        }
        let upstreams = wired.len();
        let notifier = Arc::new(RecordingNotifier::default());
        let mandates = Arc::new(FakeMandates::default());
        let metrics = Metrics::new("broker");
        let config = BrokerConfig {
            issuer: ISSUER.into(),
            session_ttl: Duration::from_secs(3600),
            access_token_ttl: Duration::from_secs(600),
            refresh_token_ttl: Duration::from_secs(3600),
            secure_cookies: false,
            admin_token_sha256: Some(admin_token_sha256()),
            trusted_proxies: Vec::new(),
        };
        let deps = BrokerDeps {
            ephemeral: Arc::new(MemoryEphemeral::new()),
            relying_parties: durable.clone(),
            saml_service_providers: durable.clone(),
            audit: AuditWriter::spawn(log(durable.clone()), 16),
            protocol_messages: durable.clone(),
            clock: Arc::new(clock.clone()),
            keys: KeyStore::from_key_set(test_keys()),
            upstreams: Upstreams::new(wired),
            mandates: mandates.clone(),
            logout: notifier.clone(),
            pairwise: PairwiseKey::new(&PAIRWISE).unwrap(),
            metrics: metrics.clone(),
        };
        let broker = Arc::new(Broker::new(config, deps).await.unwrap());
        let platform = Platform {
            component: "broker",
            public_url: Url::parse(ISSUER).unwrap(),
            metrics,
            checks: Vec::new(),
        };
        let router = eid_broker::router(&platform, broker.clone());
        let harness = Harness {
            broker,
            router,
            clock,
            durable,
            upstream,
            eu_upstream,
            upstreams,
            notifier,
            mandates,
        };
        saml::register(&harness);
        harness
    }

    /// A person `subject` authenticated at `loa` now, with a fresh audit key.
    pub fn person(&self, subject: &str, loa: Loa) -> Identity {
        let mut identity = Identity::for_test(subject, loa, self.clock.now().unix_timestamp());
        identity.audit_id = Uuid::new_v4();
        identity
    }

    /// Sends a request to the broker as `client` and keeps the cookies it sets.
    pub async fn send(&self, client: &mut Client, request: Request<Body>) -> Reply {
        testing::send(&self.router, client, request).await
    }

    /// `GET path` from the broker.
    pub async fn get(&self, client: &mut Client, path: &str) -> Reply {
        testing::get(&self.router, client, path).await
    }

    /// `POST path` to the broker with a form.
    pub async fn post(&self, client: &mut Client, path: &str, form: &[(&str, &str)]) -> Reply {
        testing::post(&self.router, client, path, form).await
    }

    /// `GET /authorize` from `rp` (code flow, PKCE with [`VERIFIER`], state `state-<rp>`, nonce
    /// `nonce-<rp>`, scope `openid` unless `extra` names one) with `extra` parameters.
    pub async fn authorize(&self, client: &mut Client, rp: &str, extra: &[(&str, &str)]) -> Reply {
        let scope = extra
            .iter()
            .find(|(k, _)| *k == "scope")
            .map_or("openid", |(_, v)| *v);
        let extra: Vec<(&str, &str)> = extra
            .iter()
            .filter(|(k, _)| *k != "scope")
            .copied()
            .collect();
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query
            .append_pair("client_id", rp)
            .append_pair("redirect_uri", &redirect_uri(rp))
            .append_pair("response_type", "code")
            .append_pair("scope", scope)
            .append_pair("code_challenge", &challenge())
            .append_pair("code_challenge_method", "S256")
            .append_pair("state", &format!("state-{rp}"))
            .append_pair("nonce", &format!("nonce-{rp}"));
        query.extend_pairs(extra);
        self.get(client, &format!("/authorize?{}", query.finish()))
            .await
    }

    /// Answers the "Who are you acting for?" page `page` with `choice` (`self`, `cancel` or
    /// `mandate:<id>`).
    pub async fn choose_representation(
        &self,
        client: &mut Client,
        page: &Reply,
        choice: &str,
    ) -> Reply {
        assert!(
            page.is_representation_choice(),
            "expected the choice page: {page:?}"
        );
        self.post(
            client,
            "/login/represent",
            &[
                ("tx", &page.input("tx")),
                ("csrf", &page.input("csrf")),
                ("choice", choice),
            ],
        )
        .await
    }

    /// Chooses the national fake upstream on a chooser page: the broker's redirect to it.
    pub async fn choose(&self, client: &mut Client, chooser: &Reply) -> Reply {
        self.choose_upstream(client, chooser, UPSTREAM).await
    }

    /// Chooses `upstream` on a chooser page.
    pub async fn choose_upstream(
        &self,
        client: &mut Client,
        chooser: &Reply,
        upstream: &str,
    ) -> Reply {
        self.post(
            client,
            "/login/start",
            &[
                ("tx", &chooser.input("tx")),
                ("csrf", &chooser.input("csrf")),
                ("upstream", upstream),
            ],
        )
        .await
    }

    /// Comes back from the national fake upstream (whose redirect is `to_upstream`) to the callback.
    pub async fn callback(&self, client: &mut Client, to_upstream: &Reply) -> Reply {
        let state = to_upstream.param("state").expect("the upstream's state");
        self.callback_with_state(client, &state).await
    }

    /// The national upstream's callback with `state` and a code.
    pub async fn callback_with_state(&self, client: &mut Client, state: &str) -> Reply {
        self.callback_of(client, UPSTREAM, state).await
    }

    /// The callback of `upstream` with `state` and a code.
    pub async fn callback_of(&self, client: &mut Client, upstream: &str, state: &str) -> Reply {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("state", state)
            .append_pair("code", "x")
            .finish();
        self.get(client, &format!("/upstream/{upstream}/callback?{query}"))
            .await
    }

    /// An authorization request from `rp` that needs a login, on to the national fake upstream:
    /// the broker's redirect there, straight from `/authorize` when it is the only upstream, else
    /// through the chooser.
    pub async fn to_upstream(
        &self,
        client: &mut Client,
        rp: &str,
        extra: &[(&str, &str)],
    ) -> Reply {
        let first = self.authorize(client, rp, extra).await;
        // A service that requires a CPR number is offered the national upstream alone.
        let national_only = self.upstreams > 1 && !first.is_chooser() && first.location.is_some();
        let to_upstream = if self.upstreams > 1 && !national_only {
            assert!(first.is_chooser(), "expected the chooser: {first:?}");
            self.choose(client, &first).await
        } else {
            assert!(
                !first.is_chooser(),
                "one upstream needs no chooser: {first:?}"
            );
            first
        };
        assert!(
            to_upstream.goes_to(UPSTREAM_AUTHORIZE),
            "expected a redirect to the upstream: {to_upstream:?}"
        );
        to_upstream
    }

    /// A whole login from `rp` through the national fake upstream answering as it was set: the
    /// broker's final answer (a redirect to the relying party).
    pub async fn login(&self, client: &mut Client, rp: &str, extra: &[(&str, &str)]) -> Reply {
        let to_upstream = self.to_upstream(client, rp, extra).await;
        self.callback(client, &to_upstream).await
    }

    /// A login as `identity` from `rp` that ends with a code; returns the code.
    pub async fn login_as(&self, client: &mut Client, rp: &str, identity: &Identity) -> String {
        self.upstream.answer(identity.clone());
        let back = self.login(client, rp, &[]).await;
        back.code_for(rp)
    }

    /// `POST /token` redeeming `code` for `rp` with `verifier`.
    pub async fn redeem_with(&self, rp: &str, code: &str, verifier: &str) -> Reply {
        let mut server = Client::at("198.51.100.7:443");
        self.post(
            &mut server,
            "/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", &redirect_uri(rp)),
                ("code_verifier", verifier),
                ("client_id", rp),
                ("client_secret", &secret(rp)),
            ],
        )
        .await
    }

    /// `POST /token` redeeming `code` for `rp` with [`VERIFIER`]: the token response.
    pub async fn redeem(&self, rp: &str, code: &str) -> serde_json::Value {
        let reply = self.redeem_with(rp, code, VERIFIER).await;
        assert_eq!(reply.status, 200, "token request failed: {reply:?}");
        serde_json::from_str(&reply.body).unwrap()
    }

    /// The ID token of a code, its claims.
    pub async fn id_token(&self, rp: &str, code: &str) -> (String, serde_json::Value) {
        let response = self.redeem(rp, code).await;
        let raw = response["id_token"]
            .as_str()
            .expect("an ID token")
            .to_owned();
        let claims = self.verified_claims(&raw);
        (raw, claims)
    }

    /// The claims of a JWS the broker signed (its signature verified with the broker's keys).
    pub fn verified_claims(&self, jws: &str) -> serde_json::Value {
        let verified = self.broker.keys.verify_jws(jws).expect("the broker's JWS");
        serde_json::from_slice(&verified.payload).unwrap()
    }

    /// The audit events of a kind written so far.
    pub async fn audited(&self, kind: &str) -> Vec<AuditEvent> {
        self.broker.audit.flush().await;
        self.durable
            .by_kind_since(kind, time::OffsetDateTime::UNIX_EPOCH, 1000)
            .await
            .unwrap()
    }

    /// The audit events of a person written so far.
    pub async fn audited_for(&self, person: Uuid) -> Vec<AuditEvent> {
        self.broker.audit.flush().await;
        self.durable.for_person(person, 1000).await.unwrap()
    }
}

/// The broker's own questions about a browser.
pub trait BrokerClient {
    /// Whether the browser holds the SSO session cookie.
    fn has_session(&self) -> bool;
}

impl BrokerClient for Client {
    fn has_session(&self) -> bool {
        self.has_cookie(eid_broker::http::SESSION_COOKIE)
    }
}

/// The broker's own questions about an answer.
pub trait BrokerReply {
    /// Whether this is the identity chooser.
    fn is_chooser(&self) -> bool;
    /// Whether this is the "Who are you acting for?" page.
    fn is_representation_choice(&self) -> bool;
    /// Whether this redirects to an upstream's authorization endpoint `authorize`.
    fn goes_to(&self, authorize: &str) -> bool;
    /// A query parameter of the redirect target (a relative one resolved against [`ISSUER`]).
    fn param(&self, name: &str) -> Option<String>;
    /// Whether this redirects to `rp`'s redirect URI.
    fn redirects_to(&self, rp: &str) -> bool;
    /// The code of a redirect to `rp` (which carries its state and the issuer too).
    fn code_for(&self, rp: &str) -> String;
    /// The `error` of a redirect to `rp`.
    fn error_for(&self, rp: &str) -> String;
}

impl BrokerReply for Reply {
    fn is_chooser(&self) -> bool {
        self.status == 200 && self.body.contains("action=\"/login/start\"")
    }

    fn is_representation_choice(&self) -> bool {
        self.status == 200 && self.body.contains("action=\"/login/represent\"")
    }

    fn goes_to(&self, authorize: &str) -> bool {
        matches!(self.status, 302 | 303 | 307)
            && self
                .location
                .as_deref()
                .is_some_and(|l| l.starts_with(&format!("{authorize}?")))
    }

    fn param(&self, name: &str) -> Option<String> {
        self.location_param(ISSUER, name)
    }

    fn redirects_to(&self, rp: &str) -> bool {
        matches!(self.status, 302 | 303 | 307)
            && self
                .location
                .as_deref()
                .is_some_and(|l| l.starts_with(&format!("{}?", redirect_uri(rp))))
    }

    fn code_for(&self, rp: &str) -> String {
        assert!(
            self.redirects_to(rp),
            "expected a redirect to {rp}: {self:?}"
        );
        assert_eq!(self.param("error"), None, "{self:?}");
        assert_eq!(self.param("state"), Some(format!("state-{rp}")));
        assert_eq!(self.param("iss").as_deref(), Some(ISSUER));
        self.param("code").expect("a code")
    }

    fn error_for(&self, rp: &str) -> String {
        assert!(
            self.redirects_to(rp),
            "expected a redirect to {rp}: {self:?}"
        );
        assert_eq!(self.param("code"), None, "{self:?}");
        assert_eq!(self.param("state"), Some(format!("state-{rp}")));
        self.param("error").expect("an error")
    }
}
