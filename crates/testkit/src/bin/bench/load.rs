//! A closed-loop HTTP/1.1 keep-alive load generator: each worker owns one connection (hyper's
//! connection API) and loops one flow. The approach, error bucketing and percentile rule are
//! those of the yardstick's `oidc-loadgen` (../shared/yardstick/loadgen), with a refresh mode
//! added. A flow counts when it completes inside the measured window (after the warm-up).

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, HOST, LOCATION};
use http::{HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use ring::rand::{SecureRandom, SystemRandom};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// Which flow the workers loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// Authorize with a live SSO session → code → token with PKCE (ID token, audit logged).
    AuthCode,
    /// Client-credentials grant.
    ClientCredentials,
    /// Refresh grant, each worker following its own rotating refresh token.
    Refresh,
    /// A signed SAML AuthnRequest (HTTP-Redirect) with a live SSO session → the auto-post page
    /// with a signed and encrypted assertion.
    Saml,
    /// Authorize with a live SSO session of a person holding a mandate → "Who are you acting
    /// for?" → the principal → code → token (the mandate re-checked at the token endpoint).
    Mandate,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::AuthCode => "authcode",
            Scenario::ClientCredentials => "cc",
            Scenario::Refresh => "refresh",
            Scenario::Saml => "saml",
            Scenario::Mandate => "mandate",
        }
    }
}

/// What every worker shares.
#[derive(Debug)]
pub struct Target {
    /// Where to connect (`127.0.0.1:port`).
    pub connect: String,
    /// The Host header (`localhost:port`).
    pub host: HeaderValue,
    /// Path of the authorization endpoint plus the fixed query (client, scope, redirect URI).
    pub authorize_prefix: String,
    pub token_path: String,
    pub redirect_uri: String,
    /// `Basic …` of the client that runs the scenario.
    pub basic: HeaderValue,
    /// The SAML service provider (the SAML scenario).
    pub saml: Option<Arc<crate::saml::BenchSp>>,
}

impl Target {
    pub fn basic_auth(client_id: &str, secret: &str) -> anyhow::Result<HeaderValue> {
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        Ok(HeaderValue::from_str(&format!(
            "Basic {}",
            STANDARD.encode(format!("{}:{}", enc(client_id), enc(secret)))
        ))?)
    }
}

/// The outcome of one worker or of all of them.
#[derive(Debug, Default)]
pub struct Stats {
    pub flows: u64,
    /// Flows completed, warm-up included (what the server did from the start of the run).
    pub flows_with_warmup: u64,
    pub lat_us: Vec<u32>,
    pub errors: BTreeMap<String, u64>,
    pub last_done: Option<Instant>,
}

impl Stats {
    fn error(&mut self, kind: String) {
        let kind = if self.errors.len() >= 32 && !self.errors.contains_key(&kind) {
            "(other error kinds)".to_owned()
        } else {
            kind
        };
        *self.errors.entry(kind).or_default() += 1;
    }

    /// The `p`th percentile latency in ms (the rule of oidc-loadgen: index ⌊p·n⌋ of the sorted list).
    pub fn percentile_ms(&self, p: f64) -> Option<f64> {
        let n = self.lat_us.len();
        let i = ((p / 100.0) * n as f64).floor() as usize;
        self.lat_us
            .get(i.min(n.saturating_sub(1)))
            .map(|us| f64::from(*us) / 1000.0)
    }
}

struct Conn {
    connect: String,
    sender: Option<SendRequest<Full<Bytes>>>,
}

struct Reply {
    status: StatusCode,
    location: Option<HeaderValue>,
    body: Bytes,
}

impl Conn {
    async fn send(&mut self, req: Request<Full<Bytes>>) -> Result<Reply, String> {
        let ready = match self.sender.as_mut() {
            Some(s) => s.ready().await.is_ok(),
            None => false,
        };
        if !ready {
            let stream = TcpStream::connect(&self.connect)
                .await
                .map_err(|e| format!("connect: {e}"))?;
            let _ = stream.set_nodelay(true);
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| format!("handshake: {e}"))?;
            tokio::spawn(conn);
            self.sender = Some(sender);
        }
        let Some(sender) = self.sender.as_mut() else {
            return Err("no connection".into());
        };
        let res = match sender.send_request(req).await {
            Ok(r) => r,
            Err(e) => {
                self.sender = None;
                return Err(format!("http: {e}"));
            }
        };
        let status = res.status();
        let location = res.headers().get(LOCATION).cloned();
        let body = res
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("body: {e}"))?
            .to_bytes();
        Ok(Reply {
            status,
            location,
            body,
        })
    }
}

fn snip(b: &Bytes) -> String {
    String::from_utf8_lossy(&b[..b.len().min(60)]).replace(['\n', '\r'], " ")
}

fn token_request(t: &Target, body: String) -> Result<Request<Full<Bytes>>, String> {
    Request::builder()
        .method(Method::POST)
        .uri(&t.token_path)
        .header(HOST, t.host.clone())
        .header(AUTHORIZATION, t.basic.clone())
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A fresh PKCE verifier, state and the authorize request with `cookie`.
fn authorize_request(
    t: &Target,
    cookie: &HeaderValue,
    rng: &SystemRandom,
) -> Result<(Request<Full<Bytes>>, String, String), String> {
    let mut rnd = [0u8; 64];
    rng.fill(&mut rnd).map_err(|_| "no randomness")?;
    let verifier = URL_SAFE_NO_PAD.encode(&rnd[..32]);
    let state = URL_SAFE_NO_PAD.encode(&rnd[32..48]);
    let nonce = URL_SAFE_NO_PAD.encode(&rnd[48..]);
    let challenge = URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        verifier.as_bytes(),
    ));
    let uri = format!(
        "{}&code_challenge={challenge}&code_challenge_method=S256&state={state}&nonce={nonce}",
        t.authorize_prefix
    );
    let req = Request::builder()
        .uri(uri)
        .header(HOST, t.host.clone())
        .header(COOKIE, cookie.clone())
        .body(Full::new(Bytes::new()))
        .map_err(|e| e.to_string())?;
    Ok((req, verifier, state))
}

async fn authcode(
    t: &Target,
    c: &mut Conn,
    cookie: &HeaderValue,
    rng: &SystemRandom,
) -> Result<(), String> {
    let (req, verifier, state) = authorize_request(t, cookie, rng)?;
    let r = c.send(req).await.map_err(|e| format!("authorize {e}"))?;
    redeem(t, c, &r, &state, &verifier, "authorize").await
}

/// The value of the hidden input `name` in `html`.
fn hidden(html: &str, name: &str) -> Option<String> {
    let needle = format!("name=\"{name}\" value=\"");
    let start = html.find(&needle)? + needle.len();
    let end = start + html[start..].find('"')?;
    Some(html[start..end].to_owned())
}

/// The first principal offered on a choice page (neither `self` nor `cancel`).
fn first_principal(html: &str) -> Option<String> {
    let needle = "name=\"choice\" value=\"";
    html.match_indices(needle).find_map(|(at, _)| {
        let start = at + needle.len();
        let value = &html[start..start + html[start..].find('"')?];
        (value != "self" && value != "cancel").then(|| value.to_owned())
    })
}

async fn mandate_login(
    t: &Target,
    c: &mut Conn,
    cookie: &HeaderValue,
    rng: &SystemRandom,
) -> Result<(), String> {
    let (req, verifier, state) = authorize_request(t, cookie, rng)?;
    let r = c.send(req).await.map_err(|e| format!("authorize {e}"))?;
    if r.status != StatusCode::OK {
        return Err(format!(
            "authorize_status_{} (no choice page)",
            r.status.as_u16()
        ));
    }
    let page = std::str::from_utf8(&r.body).map_err(|_| "choice_page_not_utf8")?;
    let (Some(tx), Some(csrf), Some(choice)) = (
        hidden(page, "tx"),
        hidden(page, "csrf"),
        first_principal(page),
    ) else {
        return Err(format!("not_a_choice_page: {}", snip(&r.body)));
    };
    let body = format!(
        "tx={}&csrf={}&choice={}",
        enc(&tx),
        enc(&csrf),
        enc(&choice)
    );
    let req = Request::builder()
        .method(Method::POST)
        .uri("/login/represent")
        .header(HOST, t.host.clone())
        .header(COOKIE, cookie.clone())
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let r = c.send(req).await.map_err(|e| format!("represent {e}"))?;
    redeem(t, c, &r, &state, &verifier, "represent").await
}

/// Follows a redirect to the client with a code (`step` names the request that gave it) and
/// redeems the code with PKCE; the token response must hold an ID token.
async fn redeem(
    t: &Target,
    c: &mut Conn,
    r: &Reply,
    state: &str,
    verifier: &str,
    step: &str,
) -> Result<(), String> {
    if r.status != StatusCode::FOUND && r.status != StatusCode::SEE_OTHER {
        return Err(format!(
            "{step}_status_{}: {}",
            r.status.as_u16(),
            snip(&r.body)
        ));
    }
    let loc = r
        .location
        .as_ref()
        .and_then(|l| l.to_str().ok())
        .ok_or(format!("{step}_no_location"))?;
    let Some(query) = loc.strip_prefix(t.redirect_uri.as_str()) else {
        // Most likely a login page: the session is not (or no longer) valid.
        let path = loc.split(['?', '#']).next().unwrap_or("");
        let path = path
            .split("://")
            .nth(1)
            .map_or(path, |r| r.find('/').map_or("/", |i| &r[i..]));
        let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
        return Err(format!("{step}_not_to_redirect_uri: /{first}/..."));
    };
    let query = query
        .split('#')
        .next()
        .unwrap_or("")
        .trim_start_matches(['?', '&']);
    let (mut code, mut got_state, mut error) = (None, None, None);
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match &*k {
            "code" => code = Some(v.into_owned()),
            "state" => got_state = Some(v.into_owned()),
            "error" => error = Some(v.into_owned()),
            _ => {}
        }
    }
    if let Some(e) = error {
        return Err(format!("{step}_error_{e}"));
    }
    let code = code.ok_or(format!("{step}_no_code"))?;
    if got_state.as_deref() != Some(state) {
        return Err("state_mismatch".into());
    }
    let body = format!(
        "grant_type=authorization_code&code={}&redirect_uri={}&code_verifier={verifier}",
        enc(&code),
        enc(&t.redirect_uri)
    );
    let r = c
        .send(token_request(t, body)?)
        .await
        .map_err(|e| format!("token {e}"))?;
    if r.status != StatusCode::OK {
        return Err(format!(
            "token_status_{}: {}",
            r.status.as_u16(),
            snip(&r.body)
        ));
    }
    let j: serde_json::Value = serde_json::from_slice(&r.body).map_err(|_| "token_not_json")?;
    if !j["id_token"].is_string() {
        return Err("token_no_id_token".into());
    }
    Ok(())
}

async fn saml_login(
    t: &Target,
    c: &mut Conn,
    cookie: &HeaderValue,
    rng: &SystemRandom,
) -> Result<(), String> {
    let sp = t.saml.as_ref().ok_or("no SAML service configured")?;
    let req = Request::builder()
        .uri(sp.request_path(rng)?)
        .header(HOST, t.host.clone())
        .header(COOKIE, cookie.clone())
        .body(Full::new(Bytes::new()))
        .map_err(|e| e.to_string())?;
    let r = c.send(req).await.map_err(|e| format!("sso {e}"))?;
    if r.status != StatusCode::OK {
        return Err(format!(
            "sso_status_{}: {}",
            r.status.as_u16(),
            snip(&r.body)
        ));
    }
    if !crate::saml::is_response_page(&r.body) {
        return Err(format!("sso_not_a_response_page: {}", snip(&r.body)));
    }
    Ok(())
}

async fn token_grant(
    t: &Target,
    c: &mut Conn,
    body: String,
    want: &str,
) -> Result<serde_json::Value, String> {
    let r = c
        .send(token_request(t, body)?)
        .await
        .map_err(|e| format!("token {e}"))?;
    if r.status != StatusCode::OK {
        return Err(format!(
            "token_status_{}: {}",
            r.status.as_u16(),
            snip(&r.body)
        ));
    }
    let j: serde_json::Value = serde_json::from_slice(&r.body).map_err(|_| "token_not_json")?;
    if !j[want].is_string() {
        return Err(format!("token_no_{want}"));
    }
    Ok(j)
}

/// Per-worker input: the session cookie (auth-code) or the first refresh token (refresh).
#[derive(Debug, Clone, Default)]
pub struct WorkerInput {
    pub cookie: Option<String>,
    pub refresh_token: Option<String>,
}

async fn worker(
    t: Arc<Target>,
    scenario: Scenario,
    input: WorkerInput,
    measure_from: Instant,
    end: Instant,
) -> Stats {
    let mut st = Stats {
        lat_us: Vec::with_capacity(1 << 14),
        ..Stats::default()
    };
    let mut conn = Conn {
        connect: t.connect.clone(),
        sender: None,
    };
    let rng = SystemRandom::new();
    let cookie = HeaderValue::from_str(input.cookie.as_deref().unwrap_or(""))
        .unwrap_or(HeaderValue::from_static(""));
    let mut refresh = input.refresh_token.unwrap_or_default();
    loop {
        let started = Instant::now();
        if started >= end {
            break;
        }
        let result = match scenario {
            Scenario::AuthCode => authcode(&t, &mut conn, &cookie, &rng).await,
            Scenario::Saml => saml_login(&t, &mut conn, &cookie, &rng).await,
            Scenario::Mandate => mandate_login(&t, &mut conn, &cookie, &rng).await,
            Scenario::ClientCredentials => token_grant(
                &t,
                &mut conn,
                "grant_type=client_credentials".into(),
                "access_token",
            )
            .await
            .map(drop),
            Scenario::Refresh => {
                let body = format!("grant_type=refresh_token&refresh_token={}", enc(&refresh));
                token_grant(&t, &mut conn, body, "access_token")
                    .await
                    .map(|j| {
                        if let Some(next) = j["refresh_token"].as_str() {
                            refresh = next.to_owned();
                        }
                    })
            }
        };
        let done = Instant::now();
        if result.is_ok() {
            st.flows_with_warmup += 1;
        }
        if done >= measure_from {
            st.last_done = Some(done);
            match result {
                Ok(()) => {
                    st.flows += 1;
                    st.lat_us
                        .push(u32::try_from((done - started).as_micros()).unwrap_or(u32::MAX));
                }
                Err(e) => st.error(e.chars().take(100).collect()),
            }
        }
    }
    st
}

/// Runs `inputs.len()` workers for `warmup + seconds`. Returns the merged stats and the instants
/// the measured window opened and closed (for CPU sampling).
pub async fn run(
    target: Arc<Target>,
    scenario: Scenario,
    inputs: Vec<WorkerInput>,
    warmup: Duration,
    seconds: Duration,
    mut at_window_open: impl FnMut(),
) -> anyhow::Result<(Stats, Duration)> {
    let t0 = Instant::now();
    let measure_from = t0 + warmup;
    let end = measure_from + seconds;
    let handles: Vec<_> = inputs
        .into_iter()
        .map(|input| tokio::spawn(worker(target.clone(), scenario, input, measure_from, end)))
        .collect();
    tokio::time::sleep_until(measure_from.into()).await;
    at_window_open();
    let mut all = Stats::default();
    for h in handles {
        let w = h.await.context("a load worker failed")?;
        all.flows += w.flows;
        all.flows_with_warmup += w.flows_with_warmup;
        all.lat_us.extend(w.lat_us);
        for (k, v) in w.errors {
            *all.errors.entry(k).or_default() += v;
        }
        all.last_done = all.last_done.max(w.last_done);
    }
    all.lat_us.sort_unstable();
    let window = all
        .last_done
        .map_or(seconds, |d| d.saturating_duration_since(measure_from));
    Ok((all, window))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_follow_the_rule_of_oidc_loadgen() {
        let st = Stats {
            lat_us: (1..=100).map(|i| i * 1000).collect(),
            ..Stats::default()
        };
        assert_eq!(st.percentile_ms(50.0), Some(51.0));
        assert_eq!(st.percentile_ms(99.0), Some(100.0));
        assert_eq!(st.percentile_ms(100.0), Some(100.0));
        assert_eq!(Stats::default().percentile_ms(99.0), None);
    }

    #[test]
    fn error_kinds_are_bounded() {
        let mut st = Stats::default();
        for i in 0..100 {
            st.error(format!("kind {i}"));
        }
        assert_eq!(st.errors.len(), 33);
        assert_eq!(st.errors.get("(other error kinds)"), Some(&68));
    }

    #[test]
    fn the_choice_page_yields_its_form_and_the_first_principal() {
        let page = r#"<form><input type="hidden" name="tx" value="T1"><input type="hidden" name="csrf" value="C1">
            <input type="hidden" name="choice" value="self"></form>
            <form><input type="hidden" name="choice" value="m:abc"></form>
            <form><input type="hidden" name="choice" value="cancel"></form>"#;
        assert_eq!(hidden(page, "tx").as_deref(), Some("T1"));
        assert_eq!(hidden(page, "csrf").as_deref(), Some("C1"));
        assert_eq!(first_principal(page).as_deref(), Some("m:abc"));
        assert_eq!(first_principal("<p>no forms</p>"), None);
    }
}
