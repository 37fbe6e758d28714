//! Live SSO sessions for the load: password logins through the real pages over plain HTTP, each
//! with its own cookie jar (the same steps as ../shared/yardstick/sessions.mjs): broker
//! `/authorize` → (identity chooser) → authenticator user-ID page → methods page → password →
//! broker callback → `redirect_uri?code=…`. Each code is exchanged once (which proves the session
//! yields working codes and gives a refresh token). The broker admits at most 300 fresh-browser
//! logins per client address in 5 minutes, so logins use several loopback source addresses.

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use eid_testkit::forms::form_fields;
use reqwest::cookie::CookieStore;
use ring::rand::{SecureRandom, SystemRandom};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use url::Url;

/// The demo relying party the flows run as.
#[derive(Debug, Clone)]
pub struct Rp {
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uri: String,
}

/// One logged-in browser.
#[derive(Debug, Clone)]
pub struct Session {
    /// The broker's cookies (`broker_browser`, `broker_session`) as one Cookie header value.
    pub cookie: String,
    /// The `broker_session` cookie's value alone.
    pub session_cookie: String,
    /// The refresh token from the code exchange of the login.
    pub refresh_token: Option<String>,
}

/// Logins per loopback source address (the broker admits 300 per address in 5 minutes).
const PER_ADDRESS: usize = 250;
/// Demo persons (config/demo/persons.toml), password `<user>-demo-pass`.
pub const USERS: [&str; 4] = ["anna", "karen", "mikkel", "peter"];

/// Logs in `count` sessions of `users` in turn, `parallel` at a time.
pub async fn login_many(
    broker: &str,
    rp: &Rp,
    users: &[&str],
    count: usize,
    parallel: usize,
) -> anyhow::Result<Vec<Session>> {
    login_many_from(broker, rp, users, count, parallel, [127, 0]).await
}

/// [`login_many`] from source addresses `net`.1.1, `net`.1.2, … (a run after another within five
/// minutes takes other addresses, or the broker's per-address limit refuses it).
pub async fn login_many_from(
    broker: &str,
    rp: &Rp,
    users: &[&str],
    count: usize,
    parallel: usize,
    net: [u8; 2],
) -> anyhow::Result<Vec<Session>> {
    let mut out = Vec::with_capacity(count);
    let mut next = 0usize;
    while next < count {
        let batch: Vec<usize> = (next..count.min(next + parallel.max(1))).collect();
        next += batch.len();
        let results = futures::future::join_all(batch.iter().map(|&i| {
            let octet = u8::try_from(i / PER_ADDRESS % 250 + 1).unwrap_or(1);
            let source = IpAddr::V4(Ipv4Addr::new(net[0], net[1], 1, octet));
            let user = users[i % users.len().max(1)];
            login(broker, rp, user, source)
        }))
        .await;
        for r in results {
            out.push(r?);
        }
    }
    Ok(out)
}

fn random_b64(bytes: usize) -> anyhow::Result<String> {
    let mut buf = vec![0u8; bytes];
    SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| anyhow::anyhow!("no randomness"))?;
    Ok(URL_SAFE_NO_PAD.encode(buf))
}

async fn login(broker: &str, rp: &Rp, user: &str, source: IpAddr) -> anyhow::Result<Session> {
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let http = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .local_address(source)
        .build()?;
    let verifier = random_b64(32)?;
    let state = random_b64(16)?;
    let challenge = URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        verifier.as_bytes(),
    ));
    let mut next = Url::parse(&format!("{broker}/authorize"))?;
    next.query_pairs_mut()
        .append_pair("client_id", &rp.client_id)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid")
        .append_pair("redirect_uri", &rp.redirect_uri)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("state", &state)
        .append_pair("nonce", &random_b64(16)?);
    let mut form: Option<Vec<(String, String)>> = None;
    for _ in 0..16 {
        let request = match form.take() {
            Some(fields) => http.post(next.clone()).form(&fields),
            None => http.get(next.clone()),
        };
        let response = request
            .send()
            .await
            .with_context(|| format!("GET or POST {}", next.path()))?;
        let status = response.status();
        if status.is_redirection() {
            let location = response
                .headers()
                .get("location")
                .and_then(|l| l.to_str().ok())
                .context("redirect without Location")?;
            let target = next.join(location)?;
            if target.as_str().starts_with(&rp.redirect_uri) {
                let query: std::collections::HashMap<_, _> = target.query_pairs().collect();
                let Some(code) = query.get("code") else {
                    bail!("the login ended with error {:?}", query.get("error"));
                };
                if query.get("state").map(|s| s.as_ref()) != Some(state.as_str()) {
                    bail!("state mismatch at the end of a login");
                }
                let refresh_token = exchange(&http, broker, rp, code, &verifier).await?;
                return session_of(&jar, broker, refresh_token);
            }
            next = target;
            continue;
        }
        if status != 200 && status != 401 {
            bail!("HTTP {status} at {}", next.path());
        }
        let html = response.text().await?;
        let here = next.clone();
        if let Some(mut f) = form_fields(&html, "/login/start", Some("value=\"mitid\"")) {
            if !f.iter().any(|(k, _)| k == "upstream") {
                f.push(("upstream".into(), "mitid".into()));
            }
            next = here.join("/login/start")?;
            form = Some(f);
        } else if let Some(mut f) = form_fields(&html, "/login/user", None) {
            if status == 401 {
                bail!("the authenticator refused user {user}");
            }
            f.push(("user_id".into(), user.into()));
            next = here.join("/login/user")?;
            form = Some(f);
        } else if let Some(mut f) = form_fields(&html, "/login/password", None) {
            if status == 401 {
                bail!("the authenticator refused the password of {user}");
            }
            f.push(("password".into(), format!("{user}-demo-pass")));
            next = here.join("/login/password")?;
            form = Some(f);
        } else {
            bail!("unrecognised page (HTTP {status}) at {}", next.path());
        }
    }
    bail!("too many hops in a login")
}

async fn exchange(
    http: &reqwest::Client,
    broker: &str,
    rp: &Rp,
    code: &str,
    verifier: &str,
) -> anyhow::Result<Option<String>> {
    let response = http
        .post(format!("{broker}/token"))
        .basic_auth(&rp.client_id, Some(&rp.client_secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", rp.redirect_uri.as_str()),
            ("code_verifier", verifier),
        ])
        .send()
        .await?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    if status != 200 || !body["id_token"].is_string() {
        bail!("the code of a login did not exchange: HTTP {status}");
    }
    Ok(body["refresh_token"].as_str().map(str::to_owned))
}

fn session_of(
    jar: &reqwest::cookie::Jar,
    broker: &str,
    refresh_token: Option<String>,
) -> anyhow::Result<Session> {
    let header = jar
        .cookies(&Url::parse(broker)?)
        .context("no cookies after a login")?;
    let header = header.to_str()?.to_owned();
    let broker_cookies: Vec<&str> = header
        .split("; ")
        .filter(|c| c.starts_with("broker_"))
        .collect();
    let session_cookie = broker_cookies
        .iter()
        .find_map(|c| c.strip_prefix("broker_session="))
        .context("no broker_session cookie after a login")?
        .to_owned();
    Ok(Session {
        cookie: broker_cookies.join("; "),
        session_cookie,
        refresh_token,
    })
}
