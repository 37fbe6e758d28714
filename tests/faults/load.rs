//! The bounded load: a few workers, each a demo person of its own, in a loop: a password login
//! through the real pages via the load balancer, the code exchanged at the token endpoint, two
//! refreshes, a client-credentials grant. A clean 503 or a cut-off request is retried with the same
//! code or refresh token (that is what a 503 invites); a protocol error ends the chain, and the
//! next round starts with a fresh login. Everything is recorded for the checks.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use eid_testkit::forms::form_fields;
use url::Url;

use crate::record::{Attempt, GrantUse, Identity, Kind, Log, Op, Response};

/// The demo relying party the workers log in to (authorization code and refresh grants).
pub const RP: (&str, &str) = ("demo-rp", "demo-rp-secret-for-localhost-only");
/// The service the suite registers for client-credentials grants.
pub const CC: (&str, &str) = ("faults-cc", "faults-cc-secret-0123456789abcdef");
/// How long a worker keeps retrying one code or refresh token that meets 503s or cuts.
const RETRY_FOR: Duration = Duration::from_secs(20);
/// A request with no answer by then is a timeout.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Idle connections are dropped before the load balancer's keep-alive timeout (10 s) closes them,
/// so that a request is never sent on a connection as it is being closed.
const POOL_IDLE: Duration = Duration::from_secs(5);

/// A worker's person: the demo user id and the stable id the audit log names.
#[derive(Debug, Clone)]
pub struct Person {
    pub user: String,
    pub id: String,
}

/// What the workers share with the fault injector.
#[derive(Debug)]
pub struct Shared {
    pub start: Instant,
    pub stop: AtomicBool,
    /// Times the Redis server was restarted empty.
    pub redis_epoch: AtomicU32,
    pub log: Mutex<Log>,
    /// The broker's public URL (the load balancer).
    pub broker: String,
    pub redirect_uri: String,
}

impl Shared {
    pub fn new(broker: String, redirect_uri: String) -> Arc<Shared> {
        Arc::new(Shared {
            start: Instant::now(),
            stop: AtomicBool::new(false),
            redis_epoch: AtomicU32::new(0),
            log: Mutex::new(Log::default()),
            broker,
            redirect_uri,
        })
    }

    /// Time since the load started.
    pub fn now(&self) -> Duration {
        self.start.elapsed()
    }

    fn with_log(&self, f: impl FnOnce(&mut Log)) {
        if let Ok(mut log) = self.log.lock() {
            f(&mut log);
        }
    }
}

/// One HTTP answer as a worker reads it.
struct Answer {
    kind: Kind,
    status: u16,
    location: Option<String>,
    body: String,
    path: String,
}

impl Answer {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_default()
    }

    fn error(&self) -> Option<String> {
        self.json()["error"].as_str().map(str::to_owned)
    }
}

/// A worker: `index` picks its loopback source addresses (the broker limits logins per client
/// address; the load balancer passes the address on in X-Forwarded-For).
pub struct Worker {
    pub index: usize,
    pub person: Person,
    pub shared: Arc<Shared>,
    logins: usize,
}

impl Worker {
    pub fn new(index: usize, person: Person, shared: Arc<Shared>) -> Worker {
        Worker {
            index,
            person,
            shared,
            logins: 0,
        }
    }

    /// Runs rounds until told to stop.
    pub async fn run(mut self) {
        let tokens = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .pool_idle_timeout(POOL_IDLE)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        while !self.shared.stop.load(Ordering::Relaxed) {
            if let Some((code, verifier, nonce, epoch)) = self.login().await {
                let mut refresh = self
                    .exchange(&tokens, (&code, epoch), &verifier, &nonce)
                    .await;
                for _ in 0..2 {
                    match refresh {
                        Some(token) => refresh = self.refresh(&tokens, token).await,
                        None => break,
                    }
                }
            } else {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            self.client_credentials(&tokens).await;
        }
    }

    /// Sends one request and records its answer under `op`; 503s and cuts wait a moment.
    async fn send(&self, op: Op, request: reqwest::RequestBuilder) -> Answer {
        let result = request.send().await;
        let answer = match result {
            Ok(r) => {
                let status = r.status().as_u16();
                let retry_after = r.headers().contains_key(reqwest::header::RETRY_AFTER);
                // Every node's answer carries a request id; the load balancer's own do not.
                let from_node = r.headers().contains_key("x-request-id");
                let path = r.url().path().to_owned();
                let location = r
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .map(str::to_owned);
                let body = r.text().await.unwrap_or_default();
                Answer {
                    kind: Kind::of_status(status, retry_after, from_node),
                    status,
                    location,
                    body,
                    path,
                }
            }
            Err(e) => Answer {
                kind: if e.is_timeout() {
                    Kind::Timeout
                } else {
                    Kind::Cut
                },
                status: 0,
                location: None,
                body: e.to_string(),
                path: e.url().map(|u| u.path().to_owned()).unwrap_or_default(),
            },
        };
        let detail = match answer.kind {
            Kind::Ok => String::new(),
            Kind::Timeout | Kind::Cut if answer.status == 0 => "no answer".to_owned(),
            _ if op == Op::Login => format!("{} {}", answer.status, answer.path),
            _ => format!("{} {}", answer.status, answer.error().unwrap_or_default()),
        };
        let response = Response {
            at: self.shared.now(),
            worker: self.index,
            op,
            kind: answer.kind,
            detail: detail.trim_end().to_owned(),
        };
        self.shared.with_log(|log| log.responses.push(response));
        if matches!(answer.kind, Kind::Unavailable | Kind::Cut | Kind::Other) {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        answer
    }

    /// A password login through the pages; the code, PKCE verifier, nonce and the Redis epoch
    /// the code was made in on success.
    async fn login(&mut self) -> Option<(String, String, String, u32)> {
        self.logins += 1;
        let octet = u8::try_from(1 + self.index * 40 + self.logins / 150 % 40).unwrap_or(1);
        let browser = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 1, octet)))
            .timeout(REQUEST_TIMEOUT)
            .build()
            .ok()?;
        let verifier = eid_oidc::random::token(32);
        let (state, nonce) = (eid_oidc::random::token(16), eid_oidc::random::token(16));
        let challenge = URL_SAFE_NO_PAD.encode(ring::digest::digest(
            &ring::digest::SHA256,
            verifier.as_bytes(),
        ));
        let mut next = Url::parse(&format!("{}/authorize", self.shared.broker)).ok()?;
        next.query_pairs_mut()
            .append_pair("client_id", RP.0)
            .append_pair("response_type", "code")
            .append_pair("scope", "openid")
            .append_pair("redirect_uri", &self.shared.redirect_uri)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256")
            .append_pair("state", &state)
            .append_pair("nonce", &nonce);
        let mut form: Option<Vec<(String, String)>> = None;
        for _ in 0..16 {
            let request = match form.take() {
                Some(fields) => browser.post(next.clone()).form(&fields),
                None => browser.get(next.clone()),
            };
            let epoch = self.shared.redis_epoch.load(Ordering::SeqCst);
            let answer = self.send(Op::Login, request).await;
            if answer.kind != Kind::Ok {
                return None;
            }
            if let Some(location) = &answer.location {
                let target = next.join(location).ok()?;
                if target.as_str().starts_with(&self.shared.redirect_uri) {
                    let code = target
                        .query_pairs()
                        .find(|(k, _)| k == "code")
                        .map(|(_, v)| v.into_owned());
                    let state_back = target.query_pairs().find(|(k, _)| k == "state");
                    if state_back.map(|(_, v)| v.into_owned()) != Some(state.clone()) {
                        return None;
                    }
                    return code.map(|c| (c, verifier, nonce, epoch));
                }
                next = target;
                continue;
            }
            let (path, fields) = self.fill_form(&answer.body)?;
            next = next.join(path).ok()?;
            form = Some(fields);
        }
        None
    }

    /// The login page's form to post next (the chooser, the user ID, the password), filled in.
    fn fill_form(&self, html: &str) -> Option<(&'static str, Vec<(String, String)>)> {
        let user = &self.person.user;
        if let Some(mut f) = form_fields(html, "/login/start", Some("value=\"mitid\"")) {
            if !f.iter().any(|(k, _)| k == "upstream") {
                f.push(("upstream".into(), "mitid".into()));
            }
            Some(("/login/start", f))
        } else if let Some(mut f) = form_fields(html, "/login/user", None) {
            f.push(("user_id".into(), user.clone()));
            Some(("/login/user", f))
        } else {
            let mut f = form_fields(html, "/login/password", None)?;
            f.push(("password".into(), format!("{user}-demo-pass")));
            Some(("/login/password", f))
        }
    }

    /// Uses a code or refresh token until it is answered (200 or a protocol error) or
    /// [`RETRY_FOR`] passes; records the use and what a 200 released.
    async fn use_grant(
        &self,
        http: &reqwest::Client,
        op: Op,
        issued_epoch: u32,
        form: &[(&str, &str)],
    ) -> Option<(serde_json::Value, u32)> {
        let mut usage = GrantUse {
            worker: self.index,
            op,
            issued_epoch,
            attempts: Vec::new(),
        };
        let started = Instant::now();
        let mut body = None;
        loop {
            let epoch = self.shared.redis_epoch.load(Ordering::SeqCst);
            let request = http
                .post(format!("{}/token", self.shared.broker))
                .basic_auth(RP.0, Some(RP.1))
                .form(form);
            let answer = self.send(op, request).await;
            usage.attempts.push(Attempt {
                at: self.shared.now(),
                kind: answer.kind,
                error: answer.error(),
                redis_epoch: epoch,
            });
            match answer.kind {
                Kind::Ok => {
                    body = Some((answer.json(), epoch));
                    break;
                }
                Kind::Unavailable | Kind::Cut | Kind::Timeout if started.elapsed() < RETRY_FOR => {}
                _ => break,
            }
        }
        let released = op.released_as().filter(|_| body.is_some());
        self.shared.with_log(|log| {
            log.grants.push(usage);
            if let Some(grant_type) = released {
                *log.releases
                    .entry((self.person.id.clone(), grant_type.to_owned()))
                    .or_insert(0) += 1;
            }
        });
        body
    }

    /// Exchanges a code (with the Redis epoch it was made in); the refresh token on success.
    async fn exchange(
        &self,
        http: &reqwest::Client,
        (code, epoch): (&str, u32),
        verifier: &str,
        nonce: &str,
    ) -> Option<(String, u32)> {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", self.shared.redirect_uri.as_str()),
            ("code_verifier", verifier),
        ];
        let (body, made) = self.use_grant(http, Op::Exchange, epoch, &form).await?;
        self.identity(&body, Some(nonce));
        body["refresh_token"].as_str().map(|t| (t.to_owned(), made))
    }

    /// A refresh grant; the next refresh token on success.
    async fn refresh(
        &self,
        http: &reqwest::Client,
        (token, epoch): (String, u32),
    ) -> Option<(String, u32)> {
        let form = [("grant_type", "refresh_token"), ("refresh_token", &token)];
        let (body, made) = self.use_grant(http, Op::Refresh, epoch, &form).await?;
        self.identity(&body, None);
        match body["refresh_token"].as_str() {
            Some(next) => Some((next.to_owned(), made)),
            None => Some((token, epoch)),
        }
    }

    /// Records who the ID token in a token response names.
    fn identity(&self, body: &serde_json::Value, nonce: Option<&str>) {
        let Some(claims) = body["id_token"].as_str().and_then(jwt_claims) else {
            return;
        };
        let identity = Identity {
            worker: self.index,
            client: claims["aud"].as_str().unwrap_or(RP.0).to_owned(),
            sub: claims["sub"].as_str().unwrap_or_default().to_owned(),
            nonce_matches: match (nonce, claims["nonce"].as_str()) {
                (Some(sent), got) => got == Some(sent),
                (None, _) => true,
            },
        };
        self.shared.with_log(|log| log.identities.push(identity));
    }

    async fn client_credentials(&self, http: &reqwest::Client) {
        let request = http
            .post(format!("{}/token", self.shared.broker))
            .basic_auth(CC.0, Some(CC.1))
            .form(&[("grant_type", "client_credentials")]);
        self.send(Op::ClientCredentials, request).await;
    }
}

/// The claims of a JWT (not verified: the suite looks only at whom it names).
pub fn jwt_claims(jwt: &str) -> Option<serde_json::Value> {
    let payload = jwt.split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
}
