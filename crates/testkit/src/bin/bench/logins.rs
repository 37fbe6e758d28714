//! Live SSO sessions for the load: password logins through the real pages over plain HTTP, each
//! with its own cookie jar (the same steps as ../shared/yardstick/sessions.mjs): broker
//! `/authorize` → (identity chooser) → authenticator user-ID page → methods page → password →
//! broker callback → `redirect_uri?code=…`. Each code is exchanged once (which proves the session
//! yields working codes and gives a refresh token). The broker admits at most 300 fresh-browser
//! logins per client address in 5 minutes, so logins use several loopback source addresses.

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
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
    let mut out = Vec::with_capacity(count);
    let mut next = 0usize;
    while next < count {
        let batch: Vec<usize> = (next..count.min(next + parallel.max(1))).collect();
        next += batch.len();
        let results = futures::future::join_all(batch.iter().map(|&i| {
            let octet = u8::try_from(i / PER_ADDRESS % 250 + 1).unwrap_or(1);
            let source = IpAddr::V4(Ipv4Addr::new(127, 0, 1, octet));
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

/// The hidden inputs of the `<form action="ACTION">` on the page (the first one that also
/// contains `must_contain`, when given).
fn form_fields(
    html: &str,
    action: &str,
    must_contain: Option<&str>,
) -> Option<Vec<(String, String)>> {
    let needle = format!("action=\"{action}\"");
    let mut rest = html;
    while let Some(start) = rest.find("<form") {
        let after = &rest[start..];
        let end = after.find("</form>").map_or(after.len(), |e| e + 7);
        let form = &after[..end];
        rest = &after[end..];
        if !form.contains(&needle) || must_contain.is_some_and(|m| !form.contains(m)) {
            continue;
        }
        let mut fields = Vec::new();
        for input in form.split("<input").skip(1) {
            let tag = input.split('>').next().unwrap_or("");
            if !tag.contains("type=\"hidden\"") {
                continue;
            }
            if let (Some(name), Some(value)) = (attr(tag, "name"), attr(tag, "value")) {
                fields.push((name, unescape(&value)));
            }
        }
        return Some(fields);
    }
    None
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let needle = format!(" {name}=\"");
    let start = tag.find(&needle)? + needle.len();
    let len = tag[start..].find('"')?;
    Some(tag[start..start + len].to_owned())
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
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

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"<main><form method="post" action="/login/code"><input type="hidden" name="tx" value="wrong"></form>
<form method="post" action="/login/password"><input type="hidden" name="tx" value="t&amp;1">
<input type="hidden" name="csrf" value="c&quot;2"><input type="password" name="password"></form></main>"#;

    #[test]
    fn the_hidden_inputs_of_the_named_form_are_read_and_unescaped() {
        let fields = form_fields(PAGE, "/login/password", None).unwrap_or_default();
        assert_eq!(
            fields,
            vec![
                ("tx".to_owned(), "t&1".to_owned()),
                ("csrf".to_owned(), "c\"2".to_owned())
            ]
        );
    }

    #[test]
    fn a_page_without_the_form_or_the_marker_gives_none() {
        assert!(form_fields(PAGE, "/login/user", None).is_none());
        assert!(form_fields(PAGE, "/login/password", Some("value=\"mitid\"")).is_none());
        assert!(form_fields("<form action=\"/login/user\"", "/login/user", None).is_some());
    }
}
