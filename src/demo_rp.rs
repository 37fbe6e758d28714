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

/// The browser-binding cookie of the demo listener (also the SAML demo service's CSRF secret).
pub(crate) const BROWSER_COOKIE: &str = "demo_browser";
const SESSION_COOKIE: &str = "demo_session";
/// Set at logout, read once when the browser comes back from the broker's logout.
const LOGGED_OUT_COOKIE: &str = "demo_logged_out";
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
    saml: bool,
}

#[derive(Serialize, Deserialize)]
struct DemoSession {
    claims: Vec<(String, String)>,
    id_token: String,
    sid: Option<String>,
}

#[derive(serde::Serialize)]
/// The demo pages' words in one language (the SAML demo service shares them).
pub(crate) struct Texts {
    pub(crate) lang: Lang,
    pub(crate) title: &'static str,
    pub(crate) skip: &'static str,
    pub(crate) intro: &'static str,
    pub(crate) logged_in_as: &'static str,
    pub(crate) someone: &'static str,
    pub(crate) level: &'static str,
    pub(crate) logged_in_at: &'static str,
    pub(crate) acting_for: &'static str,
    pub(crate) received: &'static str,
    pub(crate) cpr: &'static str,
    pub(crate) name: &'static str,
    pub(crate) birthdate: &'static str,
    pub(crate) nothing_received: &'static str,
    pub(crate) technical: &'static str,
    pub(crate) claim: &'static str,
    pub(crate) value: &'static str,
    pub(crate) login: &'static str,
    pub(crate) login_high: &'static str,
    pub(crate) logout: &'static str,
    pub(crate) logged_out: &'static str,
    pub(crate) logged_out_body: &'static str,
    pub(crate) failed: &'static str,
    pub(crate) cancelled: &'static str,
    pub(crate) level_not_reached: &'static str,
    pub(crate) denied: &'static str,
    pub(crate) unavailable: &'static str,
    pub(crate) still_logged_in: &'static str,
    pub(crate) also: &'static str,
    pub(crate) other_service: &'static str,
}

static DA: Texts = Texts {
    lang: Lang::Da,
    title: "Demotjeneste",
    skip: "Gå til indhold",
    intro: "En offentlig demotjeneste, der logger borgere ind gennem NemLog-in (demo).",
    logged_in_as: "Du er logget ind som",
    someone: "en person, hvis navn tjenesten ikke har fået",
    level: "Sikringsniveau",
    logged_in_at: "Logget ind",
    acting_for: "Du handler på vegne af en anden (fuldmagt).",
    received: "Oplysninger tjenesten har modtaget",
    cpr: "CPR-nummer",
    name: "Navn",
    birthdate: "Fødselsdato",
    nothing_received: "Tjenesten har ikke fået andre oplysninger om dig.",
    technical: "Alle oplysninger fra log-in (teknisk)",
    claim: "Oplysning",
    value: "Værdi",
    login: "Log på",
    login_high: "Log på med sikringsniveau Høj",
    logout: "Log af",
    logged_out: "Du er logget af",
    logged_out_body: "Du er logget af demotjenesten og NemLog-in. Luk browseren, hvis du bruger en delt computer.",
    failed: "Log-in blev ikke gennemført. Prøv igen.",
    cancelled: "Du afbrød log-in.",
    level_not_reached: "Dit log-in nåede ikke det sikringsniveau, du bad om. Se i MitID, hvordan du kan logge på med et højere niveau.",
    denied: "Log-in blev afvist.",
    unavailable: "Log-in kunne ikke gennemføres lige nu. Prøv igen om lidt.",
    still_logged_in: "Du er stadig logget ind med dit tidligere log-in.",
    also: "Se også",
    other_service: "demotjenesten med SAML",
};

static EN: Texts = Texts {
    lang: Lang::En,
    title: "Demo service",
    skip: "Skip to content",
    intro: "A demo public service that logs citizens in through NemLog-in (demo).",
    logged_in_as: "You are logged in as",
    someone: "a person whose name the service did not receive",
    level: "Level of assurance",
    logged_in_at: "Logged in",
    acting_for: "You are acting on behalf of someone else (power of attorney).",
    received: "What the service received",
    cpr: "CPR number",
    name: "Name",
    birthdate: "Date of birth",
    nothing_received: "The service received nothing else about you.",
    technical: "Everything the login said (technical)",
    claim: "Claim",
    value: "Value",
    login: "Log in",
    login_high: "Log in at assurance level High",
    logout: "Log out",
    logged_out: "You are logged out",
    logged_out_body: "You are logged out of the demo service and NemLog-in. Close the browser if you use a shared computer.",
    failed: "The login was not completed. Try again.",
    cancelled: "You cancelled the login.",
    level_not_reached: "Your login did not reach the level of assurance you asked for. See MitID for how to log in at a higher level.",
    denied: "The login was refused.",
    unavailable: "The login could not be completed just now. Try again in a moment.",
    still_logged_in: "You are still logged in with your earlier login.",
    also: "See also",
    other_service: "the demo service with SAML",
};

/// What the page shows of a login: what a service would show, with the raw claims folded away.
pub(crate) struct Shown {
    pub(crate) name: Option<String>,
    pub(crate) level: Option<&'static str>,
    pub(crate) high: bool,
    pub(crate) at: Option<String>,
    pub(crate) acting_for: bool,
    pub(crate) attributes: Vec<(&'static str, String)>,
    pub(crate) raw: Vec<(String, String)>,
}

impl Shown {
    fn of(claims: &[(String, String)], t: &Texts) -> Shown {
        let get = |name: &str| {
            claims
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let loa = get("acr").and_then(|acr| Loa::parse(&acr).ok());
        let at = get("auth_time")
            .and_then(|t| t.parse::<i64>().ok())
            .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
            .map(|at| eid_web::display::local_time(at, t.lang));
        let mut attributes = Vec::new();
        if let Some(cpr) = get("cpr") {
            attributes.push((t.cpr, cpr));
        }
        if let Some(name) = get("name") {
            attributes.push((t.name, name));
        }
        if let Some(birthdate) = get("birthdate") {
            attributes.push((t.birthdate, birthdate));
        }
        Shown {
            name: get("name"),
            level: loa.map(|l| level_name(l, t.lang)),
            high: loa == Some(Loa::High),
            at,
            acting_for: get("act").is_some(),
            attributes,
            raw: claims.to_vec(),
        }
    }
}

/// A level's name in the page's language.
pub(crate) fn level_name(loa: Loa, lang: Lang) -> &'static str {
    match (loa, lang) {
        (Loa::Low, Lang::Da) => "Lav",
        (Loa::Substantial, Lang::Da) => "Betydelig",
        (Loa::High, Lang::Da) => "Høj",
        (Loa::Low, Lang::En) => "Low",
        (Loa::Substantial, Lang::En) => "Substantial",
        (Loa::High, Lang::En) => "High",
    }
}

#[derive(Template)]
#[template(path = "demo_rp.html")]
struct Page<'a> {
    t: &'static Texts,
    csrf: &'a str,
    login: Option<Shown>,
    error: Option<&'static str>,
    logged_out: bool,
    /// Whether the SAML demo service runs beside (the page links to it).
    saml: bool,
}

/// What the demo relying party is built from.
pub struct Inputs {
    /// Its registration at the broker.
    pub settings: DemoRpSettings,
    /// The broker's issuer: its public origin, no trailing slash.
    pub broker: String,
    /// Where its pending logins and sessions live.
    pub store: Arc<dyn EphemeralStore>,
    /// The SAML demo service served beside it under `/saml/`, if it runs.
    pub saml: Option<Arc<crate::demo_saml_sp::DemoSp>>,
}

/// The demo relying party's router.
pub fn router(platform: &Platform, inputs: Inputs) -> Router {
    let Inputs {
        settings,
        broker,
        store,
        saml,
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
        saml: saml.is_some(),
    });
    let saml_routes = saml.map(|sp| crate::demo_saml_sp::router(sp, !platform.is_loopback()));
    let routes = Router::new()
        .route("/", get(home))
        .route("/login", post(login))
        .route("/callback", get(callback))
        .route("/logout", post(logout))
        .route("/backchannel-logout", post(backchannel_logout))
        .route(
            "/static/eid.css",
            get(|| async { eid_web::assets::stylesheet() }),
        )
        .route(
            "/static/favicon.svg",
            get(|| async { eid_web::assets::favicon() }),
        )
        .with_state(state);
    platform.finish(match saml_routes {
        Some(saml) => routes.merge(saml),
        None => routes,
    })
}

/// The texts in the language the browser asks for.
pub(crate) fn texts(headers: &HeaderMap) -> &'static Texts {
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
    let t = texts(&headers);
    let login = session(&rp, &jar).await.map(|s| Shown::of(&s.claims, t));
    // Back from the broker's logout: say so, once.
    let back_from_logout = cookie_value(&jar, LOGGED_OUT_COOKIE).is_some();
    let logged_out = login.is_none() && back_from_logout;
    let jar = if back_from_logout {
        jar.add(removal(LOGGED_OUT_COOKIE, rp.secure))
    } else {
        jar
    };
    let csrf = eid_web::browser::csrf_for(&browser);
    (
        jar,
        render(&Page {
            t,
            csrf: &csrf,
            login,
            error: None,
            logged_out,
            saml: rp.saml,
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
        ui_locales: Some(texts(&headers).lang.tag().to_owned()),
        service_name: None,
        country: None,
        legal_person: false,
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
    // A failed login leaves an earlier one in place: the page still shows it, with the reason.
    let earlier = session(&rp, &jar).await.map(|s| Shown::of(&s.claims, t));
    let failed = |jar: CookieJar, why: &'static str| {
        let csrf = eid_web::browser::csrf_for(&browser);
        (
            jar,
            render(&Page {
                t,
                csrf: &csrf,
                login: earlier,
                error: Some(why),
                logged_out: false,
                saml: rp.saml,
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
        return failed(jar, t.failed);
    };
    let params: Vec<(String, String)> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let identity = match client.complete(&pending, &params).await {
        Ok(identity) => identity,
        Err(e) => {
            tracing::info!(error = %e, "demo relying party: login refused");
            return failed(jar, explain(&e, t));
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

/// What a refused login means for the person, from the broker's OAuth error.
fn explain(e: &eid_oidc::rp::UpstreamError, t: &'static Texts) -> &'static str {
    match e {
        eid_oidc::rp::UpstreamError::Refused { error, description } => {
            match (error.as_str(), description.as_deref()) {
                ("access_denied", Some("the person cancelled the login")) => t.cancelled,
                ("access_denied", Some("level of assurance not reached")) => t.level_not_reached,
                ("access_denied", _) => t.denied,
                ("temporarily_unavailable", _) => t.unavailable,
                _ => t.failed,
            }
        }
        _ => t.failed,
    }
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
    let jar = jar.add(removal(SESSION_COOKIE, rp.secure)).add(cookie(
        LOGGED_OUT_COOKIE,
        "1".to_owned(),
        rp.secure,
        Some(time::Duration::minutes(10)),
    ));
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use eid_web::wording::{mixed, strings, template_words};

    #[test]
    fn the_demo_service_speaks_one_language_a_page() {
        let da = strings(&serde_json::to_value(&DA).unwrap());
        let en = strings(&serde_json::to_value(&EN).unwrap());
        let found = mixed(&da, &en, &[]);
        assert!(found.is_empty(), "words in both languages: {found:#?}");
        let own = template_words(include_str!("../templates/demo_rp.html"), &[]);
        assert!(own.is_empty(), "the template's own words: {own:?}");
    }
}
