//! Component tests of the authenticator: its router called in-process (`oneshot`) over an
//! in-memory SQLite register, the memory ephemeral store and a clock the test moves. The
//! cookie-keeping client of `eid_web::testing` plays the browser.
#![allow(dead_code)]

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use eid_core::{
    Authenticator, AuthenticatorKind, AuthenticatorRepository, Clock, Cpr, EphemeralStore,
    FixedClock, Loa, Person, PersonRepository, PersonStatus,
};
use eid_idp::{Idp, IdpConfig, IdpDeps, LevelTable, LockoutPolicy};
use eid_keys::{Alg, KeySet, KeyStore, SigningKey};
use eid_store::{AuditWriter, MemoryEphemeral, SqlDurable};
use eid_web::testing;
pub use eid_web::testing::{Client, Reply};
use eid_web::{Metrics, Platform};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// The authenticator's public origin in these tests.
pub const ISSUER: &str = "http://localhost:8081";
/// Anna: proofed High, password and code display.
pub const ANNA: &str = "6b0c6a52-3e0e-4f3a-9a39-0d5c1f1a0001";
/// Mikkel: proofed Substantial, password and code display.
pub const MIKKEL: &str = "6b0c6a52-3e0e-4f3a-9a39-0d5c1f1a0003";
/// The code-display secret of both.
pub const TOTP_SECRET: &[u8] = b"12345678901234567890";

/// A running authenticator with its stores and clock.
pub struct Harness {
    pub idp: Arc<Idp>,
    pub router: Router,
    pub clock: FixedClock,
    pub durable: Arc<SqlDurable>,
    pub ephemeral: Arc<dyn EphemeralStore>,
}

/// One fresh ES256 signing key (ID tokens, and hints the tests sign).
fn test_keys() -> KeySet {
    let pem = eid_keys::generate_pem(Alg::ES256, 0).unwrap();
    KeySet::from_keys(vec![
        SigningKey::from_pem(pem.as_bytes(), Alg::ES256).unwrap(),
    ])
    .unwrap()
}

/// A settings change for [`Harness::with`].
pub type Tweak = fn(&mut IdpConfig);

impl Harness {
    /// The authenticator with Anna and Mikkel registered.
    pub async fn new() -> Harness {
        Harness::with(|_| {}).await
    }

    /// The same with changed settings.
    pub async fn with(tweak: Tweak) -> Harness {
        Harness::with_store(tweak, Arc::new(MemoryEphemeral::new())).await
    }

    /// The same on another ephemeral store (one that stages a race, say).
    pub async fn with_store(tweak: Tweak, ephemeral: Arc<dyn EphemeralStore>) -> Harness {
        let durable = Arc::new(
            SqlDurable::connect_and_migrate("sqlite::memory:")
                .await
                .unwrap(),
        );
        let clock = FixedClock::new(time::macros::datetime!(2026-06-01 12:00:00 UTC));
        let mut config = IdpConfig {
            issuer: ISSUER.into(),
            clients: Vec::new(),
            service_namers: Vec::new(),
            levels: LevelTable::default(),
            lockout: LockoutPolicy::default(),
            session_ttl: Duration::from_secs(1800),
            secure_cookies: false,
            app_request_ttl: Duration::from_secs(120),
            trusted_proxies: Vec::new(),
        };
        tweak(&mut config);
        let metrics = Metrics::new("idp");
        let deps = IdpDeps {
            ephemeral: ephemeral.clone(),
            persons: durable.clone(),
            authenticators: durable.clone(),
            audit_log: durable.clone(),
            audit: AuditWriter::spawn(durable.clone(), 16),
            notifications: durable.clone(),
            keys: KeyStore::from_key_set(test_keys()),
            clock: Arc::new(clock.clone()),
            metrics: metrics.clone(),
        };
        let idp = Arc::new(Idp::new(config, deps).unwrap());
        let platform = Platform {
            component: "idp",
            public_url: url::Url::parse(ISSUER).unwrap(),
            metrics,
            checks: Vec::new(),
        };
        let router = eid_idp::router(&platform, idp.clone());
        let harness = Harness {
            idp,
            router,
            clock,
            durable,
            ephemeral,
        };
        harness
            .register(ANNA, "0107709991", "Anna", Loa::High, "anna", "anna-pass-1")
            .await;
        harness
            .register(
                MIKKEL,
                "2211009993",
                "Mikkel",
                Loa::Substantial,
                "mikkel",
                "mikkel-pass-1",
            )
            .await;
        harness
    }

    async fn register(&self, id: &str, cpr: &str, name: &str, ial: Loa, user: &str, pw: &str) {
        let id = Uuid::parse_str(id).unwrap();
        let now = self.clock.now();
        self.durable
            .upsert_person(&Person {
                id,
                cpr: Cpr::parse(cpr).unwrap(),
                given_name: name.into(),
                family_name: "Jensen".into(),
                birthdate: time::macros::date!(1970 - 07 - 01),
                ial,
                status: PersonStatus::Active,
                legally_competent: true,
                user_id: None,
                created_at: now,
            })
            .await
            .unwrap();
        self.durable.set_user_id(id, user).await.unwrap();
        for (kind, secret) in [
            (
                AuthenticatorKind::Password,
                eid_idp::password::hash(pw).unwrap().into_bytes(),
            ),
            (AuthenticatorKind::CodeDisplay, TOTP_SECRET.to_vec()),
        ] {
            self.durable
                .add_authenticator(&Authenticator {
                    id: Uuid::new_v4(),
                    person: id,
                    kind,
                    label: format!("{kind:?}"),
                    secret,
                    created_at: now,
                    last_used_at: None,
                })
                .await
                .unwrap();
        }
    }

    /// A person's authenticators.
    pub async fn authenticators(&self, person: &str) -> Vec<Authenticator> {
        self.durable
            .authenticators(Uuid::parse_str(person).unwrap())
            .await
            .unwrap()
    }

    /// The current code of the code display.
    pub fn totp(&self) -> String {
        let now = self.clock.now().unix_timestamp();
        eid_idp::totp::code_at_step(TOTP_SECRET, eid_idp::totp::step_of(now))
    }

    /// Sends a request to the authenticator as `client` and keeps the cookies it sets.
    pub async fn send(&self, client: &mut Client, request: Request<Body>) -> Reply {
        testing::send(&self.router, client, request).await
    }

    /// `GET path` from the authenticator.
    pub async fn get(&self, client: &mut Client, path: &str) -> Reply {
        testing::get(&self.router, client, path).await
    }

    /// `POST path` to the authenticator with a form.
    pub async fn post(&self, client: &mut Client, path: &str, form: &[(&str, &str)]) -> Reply {
        testing::post(&self.router, client, path, form).await
    }

    /// `POST path` to the authenticator with a JSON body.
    pub async fn post_json(
        &self,
        client: &mut Client,
        path: &str,
        json: &serde_json::Value,
    ) -> Reply {
        testing::post_json(&self.router, client, path, json).await
    }

    /// Opens the account page without a session and enters the user ID: returns that answer (a
    /// redirect to the methods page, or the user-ID page with an error).
    pub async fn enter_user(&self, client: &mut Client, user: &str) -> Reply {
        let to_login = self.get(client, "/account").await;
        let login = self.get(client, &to_login.location.unwrap()).await;
        self.post(
            client,
            "/login/user",
            &[
                ("tx", &login.input("tx")),
                ("csrf", &login.input("csrf")),
                ("user_id", user),
            ],
        )
        .await
    }

    /// Opens the account page without a session: returns the methods page after the user ID.
    pub async fn start_account_login(&self, client: &mut Client, user: &str) -> Reply {
        let to_login = self.get(client, "/account").await;
        assert_eq!(to_login.status, 303, "{}", to_login.body);
        let login = self.get(client, &to_login.location.unwrap()).await;
        self.post(
            client,
            "/login/user",
            &[
                ("tx", &login.input("tx")),
                ("csrf", &login.input("csrf")),
                ("user_id", user),
            ],
        )
        .await;
        let methods_path = format!("/login?tx={}", login.input("tx"));
        self.get(client, &methods_path).await
    }

    /// Logs in to the account with the password alone (Low); returns the account page.
    pub async fn password_session(&self, user: &str, password: &str) -> (Client, Reply) {
        let mut client = Client::new();
        let methods = self.start_account_login(&mut client, user).await;
        let done = self.submit_password(&mut client, &methods, password).await;
        assert_eq!(done.location.as_deref(), Some("/account"), "{}", done.body);
        let account = self.get(&mut client, "/account").await;
        (client, account)
    }

    /// Logs in to the account with password and code display (Substantial); returns the account page.
    pub async fn code_display_session(&self, user: &str, password: &str) -> (Client, Reply) {
        let mut client = Client::new();
        let methods = self.start_account_login(&mut client, user).await;
        let done = self
            .submit_code_display(&mut client, &methods, password)
            .await;
        assert_eq!(done.location.as_deref(), Some("/account"), "{}", done.body);
        let account = self.get(&mut client, "/account").await;
        (client, account)
    }

    /// Posts the password form of a methods page.
    pub async fn submit_password(&self, client: &mut Client, methods: &Reply, pw: &str) -> Reply {
        self.post(
            client,
            "/login/password",
            &[
                ("tx", &methods.input("tx")),
                ("csrf", &methods.input("csrf")),
                ("password", pw),
            ],
        )
        .await
    }

    /// Posts the code-display form of a methods page with the current code.
    pub async fn submit_code_display(
        &self,
        client: &mut Client,
        methods: &Reply,
        pw: &str,
    ) -> Reply {
        let code = self.totp();
        self.post(
            client,
            "/login/code-display",
            &[
                ("tx", &methods.input("tx")),
                ("csrf", &methods.input("csrf")),
                ("password", pw),
                ("code", &code),
            ],
        )
        .await
    }

    /// The audit events of a kind, written so far.
    pub async fn audited(&self, kind: &str) -> Vec<eid_core::AuditEvent> {
        self.idp.audit.flush().await;
        eid_core::AuditLog::by_kind_since(
            self.durable.as_ref(),
            kind,
            time::OffsetDateTime::UNIX_EPOCH,
            1000,
        )
        .await
        .unwrap()
    }
}

impl Harness {
    /// Pairs an app device for a person (after a code-display login); returns the device.
    pub async fn pair_app(&self, user: &str, password: &str) -> Client {
        let (mut owner, account) = self.code_display_session(user, password).await;
        let with_code = self
            .post(
                &mut owner,
                "/account/app/pairing-code",
                &[("csrf", &account.input("csrf"))],
            )
            .await;
        let marker = "id=\"pairing-code\">";
        let start = with_code.body.find(marker).expect("a pairing code") + marker.len();
        let code = with_code.body[start..start + 8].to_owned();
        let mut device = Client::at("192.0.2.200:1000");
        let app = self.get(&mut device, "/app").await;
        let paired = self
            .post(
                &mut device,
                "/app/pair",
                &[
                    ("csrf", &app.input("csrf")),
                    ("user_id", user),
                    ("pairing_code", &code),
                    ("label", "Phone"),
                ],
            )
            .await;
        assert_eq!(paired.status, 200, "{}", paired.body);
        device
    }
}
