//! The demo relying party: a small service on its own origin that logs citizens in through the
//! broker with OpenID Connect (the same generic client the broker uses upstream), shows the claims
//! it received, steps up to High on request, and logs out (also by back-channel logout).

use askama::Template;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use axum_extra::extract::cookie::CookieJar;
use eid_core::{EphemeralStore, Loa};
use eid_oidc::RawParams;
use eid_oidc::random::{digest_key, token256};
use eid_oidc::rp::{PendingUpstream, UpstreamClient, UpstreamConfig, UpstreamRequest};
use eid_web::browser::{browser_cookie, cookie, cookie_value, csrf_matches, removal};
use eid_web::{Lang, Platform};
use jsonwebtoken::jwk::JwkSet;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

use crate::config::DemoRpSettings;

const BROWSER_COOKIE: &str = "demo_browser";
const SESSION_COOKIE: &str = "demo_session";
const SESSION_TTL: Duration = Duration::from_secs(3600);
const BACKCHANNEL_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

struct DemoRp {
    client: Option<UpstreamClient>,
    client_id: String,
    broker: String,
    origin: String,
    store: Arc<dyn EphemeralStore>,
    http: reqwest::Client,
    secure: bool,
}

#[derive(Serialize, Deserialize)]
struct DemoSession {
    claims: Vec<(String, String)>,
    id_token: String,
    sid: Option<String>,
}

struct Texts {
    lang: &'static str,
    title: &'static str,
    skip: &'static str,
    intro: &'static str,
    received: &'static str,
    claim: &'static str,
    value: &'static str,
    login: &'static str,
    login_high: &'static str,
    logout: &'static str,
    failed: &'static str,
}

static DA: Texts = Texts {
    lang: "da",
    title: "Demotjeneste",
    skip: "Gå til indhold",
    intro: "En offentlig demotjeneste, der logger borgere ind gennem NemLog-in (demo).",
    received: "Oplysninger modtaget fra log-in",
    claim: "Oplysning",
    value: "Værdi",
    login: "Log på",
    login_high: "Log på med sikringsniveau Høj",
    logout: "Log af",
    failed: "Log-in blev ikke gennemført. Prøv igen.",
};

static EN: Texts = Texts {
    lang: "en",
    title: "Demo service",
    skip: "Skip to content",
    intro: "A demo public service that logs citizens in through NemLog-in (demo).",
    received: "What the login told us",
    claim: "Claim",
    value: "Value",
    login: "Log in",
    login_high: "Log in at assurance level High",
    logout: "Log out",
    failed: "The login was not completed. Try again.",
};

#[derive(Template)]
#[template(path = "demo_rp.html")]
struct Page<'a> {
    t: &'static Texts,
    csrf: &'a str,
    claims: Option<Vec<(String, String)>>,
    error: Option<&'static str>,
}

/// What the demo relying party is built from.
pub struct Inputs {
    /// Its registration at the broker.
    pub settings: DemoRpSettings,
    /// The broker's issuer: its public origin, no trailing slash.
    pub broker: String,
    /// Where its pending logins and sessions live.
    pub store: Arc<dyn EphemeralStore>,
}

/// The demo relying party's router.
pub fn router(platform: &Platform, inputs: Inputs) -> Router {
    let Inputs {
        settings,
        broker,
        store,
    } = inputs;
    let origin = platform.origin();
    let client = settings.client_secret.as_ref().and_then(|secret| {
        UpstreamClient::new(UpstreamConfig {
            name: "broker".into(),
            issuer: broker.clone(),
            client_id: settings.client_id.clone(),
            client_secret: secret.clone(),
            redirect_uri: format!("{origin}/callback"),
            scopes: vec!["openid".into()],
        })
        .ok()
    });
    let state = Arc::new(DemoRp {
        client,
        client_id: settings.client_id,
        broker,
        origin,
        store,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default(),
        secure: !platform.is_loopback(),
    });
    platform.finish(
        Router::new()
            .route("/", get(home))
            .route("/login", post(login))
            .route("/callback", get(callback))
            .route("/logout", post(logout))
            .route("/backchannel-logout", post(backchannel_logout))
            .route(
                "/static/eid.css",
                get(|| async { eid_web::assets::stylesheet() }),
            )
            .with_state(state),
    )
}

fn texts(headers: &HeaderMap) -> &'static Texts {
    match Lang::negotiate(
        None,
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    ) {
        Lang::Da => &DA,
        Lang::En => &EN,
    }
}

fn render(page: &Page<'_>) -> Response {
    match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn session(rp: &DemoRp, jar: &CookieJar) -> Option<DemoSession> {
    let cookie = cookie_value(jar, SESSION_COOKIE)?;
    let bytes = rp
        .store
        .get(&format!("demo-rp:session:{}", digest_key(cookie)))
        .await
        .ok()??;
    serde_json::from_slice(&bytes).ok()
}

async fn home(State(rp): State<Arc<DemoRp>>, jar: CookieJar, headers: HeaderMap) -> Response {
    let (jar, browser) = browser_cookie(jar, BROWSER_COOKIE, rp.secure, token256);
    let claims = session(&rp, &jar).await.map(|s| s.claims);
    let csrf = eid_web::browser::csrf_for(&browser);
    (
        jar,
        render(&Page {
            t: texts(&headers),
            csrf: &csrf,
            claims,
            error: None,
        }),
    )
        .into_response()
}

async fn login(
    State(rp): State<Arc<DemoRp>>,
    jar: CookieJar,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = RawParams::parse(&String::from_utf8_lossy(&body)).unwrap_or_default();
    let browser = cookie_value(&jar, BROWSER_COOKIE).map(str::to_owned);
    if !csrf_matches(form.get("csrf"), browser.as_deref()) {
        return (StatusCode::FORBIDDEN, "CSRF token missing or wrong").into_response();
    }
    let Some(client) = &rp.client else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "the demo service has no client secret configured",
        )
            .into_response();
    };
    let request = UpstreamRequest {
        acr_min: form.get("level").and_then(|l| Loa::parse(l).ok()),
        force_login: false,
        max_age: None,
        login_hint: None,
        ui_locales: Some(texts(&headers).lang.to_owned()),
    };
    match client.begin(&request).await {
        Ok((url, pending)) => {
            let Ok(bytes) = serde_json::to_vec(&pending) else {
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            };
            let key = format!(
                "demo-rp:pending:{}",
                digest_key(browser.as_deref().unwrap_or_default())
            );
            if rp
                .store
                .put(&key, &bytes, Duration::from_secs(600))
                .await
                .is_err()
            {
                return StatusCode::SERVICE_UNAVAILABLE.into_response();
            }
            Redirect::to(url.as_str()).into_response()
        }
        Err(e) => (
            StatusCode::BAD_GATEWAY,
            format!("the broker cannot be reached: {e}"),
        )
            .into_response(),
    }
}

async fn callback(
    State(rp): State<Arc<DemoRp>>,
    jar: CookieJar,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let t = texts(&headers);
    let browser = cookie_value(&jar, BROWSER_COOKIE)
        .unwrap_or_default()
        .to_owned();
    let failed = |jar: CookieJar| {
        let csrf = eid_web::browser::csrf_for(&browser);
        (
            jar,
            render(&Page {
                t,
                csrf: &csrf,
                claims: None,
                error: Some(t.failed),
            }),
        )
            .into_response()
    };
    let key = format!("demo-rp:pending:{}", digest_key(&browser));
    let pending: Option<PendingUpstream> = rp
        .store
        .take(&key)
        .await
        .ok()
        .flatten()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let (Some(pending), Some(client)) = (pending, &rp.client) else {
        return failed(jar);
    };
    let params: Vec<(String, String)> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let identity = match client.complete(&pending, &params).await {
        Ok(identity) => identity,
        Err(e) => {
            tracing::info!(error = %e, "demo relying party: login refused");
            return failed(jar);
        }
    };
    let claims = decode_payload(&identity.id_token);
    let sid = claims
        .get("sid")
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    let shown: Vec<(String, String)> = claims
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_str().map_or_else(|| v.to_string(), str::to_owned),
            )
        })
        .collect();
    let stored = DemoSession {
        claims: shown,
        id_token: identity.id_token.clone(),
        sid: sid.clone(),
    };
    let cookie_value_new = token256();
    if let Ok(bytes) = serde_json::to_vec(&stored) {
        let digest = digest_key(&cookie_value_new);
        let _ = rp
            .store
            .put(&format!("demo-rp:session:{digest}"), &bytes, SESSION_TTL)
            .await;
        if let Some(sid) = sid {
            let _ = rp
                .store
                .put(
                    &format!("demo-rp:sid:{sid}"),
                    digest.as_bytes(),
                    SESSION_TTL,
                )
                .await;
        }
    }
    let jar = jar.add(cookie(SESSION_COOKIE, cookie_value_new, rp.secure, None));
    (jar, Redirect::to("/")).into_response()
}

fn decode_payload(jwt: &str) -> serde_json::Map<String, serde_json::Value> {
    use base64::Engine;
    jwt.split('.')
        .nth(1)
        .and_then(|p| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p)
                .ok()
        })
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

async fn logout(State(rp): State<Arc<DemoRp>>, jar: CookieJar, body: Bytes) -> Response {
    let form = RawParams::parse(&String::from_utf8_lossy(&body)).unwrap_or_default();
    if !csrf_matches(form.get("csrf"), cookie_value(&jar, BROWSER_COOKIE)) {
        return (StatusCode::FORBIDDEN, "CSRF token missing or wrong").into_response();
    }
    let hint = session(&rp, &jar).await.map(|s| s.id_token);
    if let Some(c) = cookie_value(&jar, SESSION_COOKIE) {
        let _ = rp
            .store
            .delete(&format!("demo-rp:session:{}", digest_key(c)))
            .await;
    }
    let jar = jar.add(removal(SESSION_COOKIE, rp.secure));
    let Ok(mut url) = url::Url::parse(&format!("{}/logout", rp.broker)) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    {
        let mut q = url.query_pairs_mut();
        if let Some(hint) = &hint {
            q.append_pair("id_token_hint", hint);
        }
        q.append_pair("client_id", &rp.client_id);
        q.append_pair("post_logout_redirect_uri", &format!("{}/", rp.origin));
    }
    (jar, Redirect::to(url.as_str())).into_response()
}

#[derive(Deserialize)]
struct LogoutClaims {
    iss: String,
    sid: Option<String>,
    jti: String,
    events: serde_json::Map<String, serde_json::Value>,
    nonce: Option<serde_json::Value>,
}

/// Verifies a back-channel logout token against the broker's JWKS and ends the named session.
async fn backchannel_logout(State(rp): State<Arc<DemoRp>>, body: Bytes) -> Response {
    let form = RawParams::parse(&String::from_utf8_lossy(&body)).unwrap_or_default();
    let Some(token) = form.get("logout_token") else {
        return (
            StatusCode::BAD_REQUEST,
            Json(serde_json::json!({ "error": "invalid_request" })),
        )
            .into_response();
    };
    match verify_logout_token(&rp, token).await {
        Ok(claims) => {
            let fresh = rp
                .store
                .put_if_absent(
                    &format!("demo-rp:jti:{}", digest_key(&claims.jti)),
                    b"1",
                    Duration::from_secs(600),
                )
                .await
                .unwrap_or(false);
            if !fresh {
                return (
                    StatusCode::BAD_REQUEST,
                    Json(serde_json::json!({ "error": "replayed" })),
                )
                    .into_response();
            }
            if let Some(sid) = claims.sid
                && let Ok(Some(digest)) = rp.store.take(&format!("demo-rp:sid:{sid}")).await
            {
                let _ = rp
                    .store
                    .delete(&format!(
                        "demo-rp:session:{}",
                        String::from_utf8_lossy(&digest)
                    ))
                    .await;
            }
            ([(header::CACHE_CONTROL, "no-store")], StatusCode::OK).into_response()
        }
        Err(why) => {
            tracing::info!(%why, "demo relying party: logout token refused");
            (
                StatusCode::BAD_REQUEST,
                Json(serde_json::json!({ "error": "invalid_request" })),
            )
                .into_response()
        }
    }
}

async fn verify_logout_token(rp: &DemoRp, token: &str) -> Result<LogoutClaims, String> {
    let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
    let jwks: JwkSet = rp
        .http
        .get(format!("{}/jwks", rp.broker))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let kid = header.kid.ok_or("no kid")?;
    let jwk = jwks.find(&kid).ok_or("unknown kid")?;
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_audience(&[&rp.client_id]);
    validation.set_issuer(&[&rp.broker]);
    validation.set_required_spec_claims(&["iss", "aud", "iat", "exp"]);
    let claims = jsonwebtoken::decode::<LogoutClaims>(token, &key, &validation)
        .map_err(|e| e.to_string())?
        .claims;
    if claims.iss != rp.broker
        || !claims.events.contains_key(BACKCHANNEL_EVENT)
        || claims.nonce.is_some()
    {
        return Err("not a logout token".into());
    }
    Ok(claims)
}
