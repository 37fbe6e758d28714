//! Logging in to the portal through the broker, the portal's session, and logging out.
//!
//! The login is the authorization-code flow with PKCE, state and nonce of [`UpstreamClient`]; the
//! pending login waits in the ephemeral store under this browser's binding cookie, with where to
//! go afterwards ([`Resume`]). The ID token's `sub` must be a broker person key
//! (`<upstream>:<subject>`, the portal being registered with `subject_type = "public"`); anything
//! else is refused. A session acting on behalf of someone (`act`) is kept as such and may change
//! nothing. Logout ends the portal's session and sends the browser to the broker's logout; the
//! broker's back-channel logout token ends it too.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use eid_core::{Loa, PersonKey};
use eid_oidc::random::{digest_key, token256};
use eid_oidc::rp::{PendingUpstream, UpstreamError, UpstreamIdentity, UpstreamRequest};
use eid_web::browser::{browser_cookie, cookie, cookie_value, csrf_for, csrf_matches, removal};
use jsonwebtoken::jwk::JwkSet;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::time::Duration;
use time::OffsetDateTime;

use super::Portal;
use super::error::PortalError;
use super::forms::Fields;
use super::texts::{Texts, texts};
use super::views::{HomePage, lang_of, render};
use crate::registry::Authenticated;

/// The cookie binding pending logins, operations and CSRF tokens to one browser.
pub const BROWSER_COOKIE: &str = "portal_browser";
/// The session cookie (rotated at every login).
pub const SESSION_COOKIE: &str = "portal_session";
/// Set at logout, read once when the browser comes back from the broker.
const LOGGED_OUT_COOKIE: &str = "portal_logged_out";
/// How long a session lasts.
pub const SESSION_TTL: Duration = Duration::from_secs(30 * 60);
const PENDING_TTL: Duration = Duration::from_secs(600);
const BACKCHANNEL_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// A logged-in person, as the portal keeps them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortalSession {
    /// The broker's key of the person.
    pub person: PersonKey,
    /// The level of the login.
    pub loa: Loa,
    /// When they authenticated (Unix seconds).
    pub auth_time: i64,
    /// The mandate id (or the actor) when the session acts on behalf of someone.
    pub acting_for: Option<String>,
    /// Their name, if the broker released it.
    pub name: Option<String>,
    /// The broker's session id, for its back-channel logout.
    pub sid: Option<String>,
}

impl PortalSession {
    /// The caller as the registry knows them.
    pub fn authenticated(&self) -> Authenticated {
        Authenticated {
            person: self.person.clone(),
            loa: self.loa,
            auth_time: OffsetDateTime::from_unix_timestamp(self.auth_time)
                .unwrap_or(OffsetDateTime::UNIX_EPOCH),
            acting_for: self.acting_for.clone(),
        }
    }

    /// A session from a verified login and the ID token's claims: `sub` must be a person key;
    /// `act` (RFC 8693) marks a session acting for someone, named by the mandate of its
    /// `authorization_details` (else by the actor's `sub`). `None` when `sub` is not a person key.
    pub fn of(identity: &UpstreamIdentity, claims: &Map<String, Value>) -> Option<PortalSession> {
        let at = OffsetDateTime::from_unix_timestamp(identity.auth_time).ok()?;
        let acting_for = claims.get("act").map(|act| {
            claims
                .get("authorization_details")
                .and_then(|d| d.get(0))
                .and_then(|d| d.get("identifier"))
                .and_then(Value::as_str)
                .or_else(|| act.get("sub").and_then(Value::as_str))
                .unwrap_or("unknown")
                .chars()
                .take(128)
                .collect::<String>()
        });
        let auth =
            Authenticated::from_public_subject(&identity.subject, identity.loa, at, acting_for)?;
        let name = claims
            .get("name")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| match (&identity.given_name, &identity.family_name) {
                (Some(g), Some(f)) => Some(format!("{g} {f}")),
                _ => None,
            })
            .map(|n| n.chars().take(200).collect());
        Some(PortalSession {
            person: auth.person,
            loa: auth.loa,
            auth_time: identity.auth_time,
            acting_for: auth.acting_for,
            name,
            sid: identity.sid.clone(),
        })
    }
}

/// Where the browser goes after a login.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Resume {
    /// The overview.
    Overview,
    /// A page of the menu (a fixed path).
    Page(String),
    /// The confirmation page of a pending operation.
    Operation(String),
}

impl Resume {
    fn path(&self) -> String {
        match self {
            Resume::Overview => "/".into(),
            Resume::Page(p) if is_menu_path(p) => p.clone(),
            Resume::Page(_) => "/".into(),
            Resume::Operation(id) => format!("/confirm/{id}"),
        }
    }
}

/// The portal's own pages a login may return to (never a URL from outside).
fn is_menu_path(p: &str) -> bool {
    matches!(
        p,
        "/" | "/grant" | "/request" | "/organisations" | "/messages"
    ) || p
        .strip_prefix("/organisations/")
        .is_some_and(|c| c.len() == 8 && c.bytes().all(|b| b.is_ascii_digit()))
}

#[derive(Serialize, Deserialize)]
struct PendingLogin {
    upstream: PendingUpstream,
    resume: Resume,
}

/// This browser's binding (created when absent) and the CSRF token of its forms.
pub fn binding(portal: &Portal, jar: CookieJar) -> (CookieJar, String, String) {
    let (jar, browser) = browser_cookie(
        jar,
        BROWSER_COOKIE,
        portal.settings().secure_cookies,
        token256,
    );
    let csrf = csrf_for(&browser);
    (jar, digest_key(&browser), csrf)
}

/// Whether a form carries this browser's CSRF token.
pub fn csrf_ok(jar: &CookieJar, fields: &Fields) -> bool {
    csrf_matches(fields.get("csrf"), cookie_value(jar, BROWSER_COOKIE))
}

fn session_key(cookie: &str) -> String {
    format!("delegation:portal:session:{}", digest_key(cookie))
}

/// The session of this browser, if any.
pub async fn current(portal: &Portal, jar: &CookieJar) -> Option<PortalSession> {
    let cookie = cookie_value(jar, SESSION_COOKIE)?;
    let bytes = portal.store().get(&session_key(cookie)).await.ok()??;
    serde_json::from_slice(&bytes).ok()
}

/// Sends the browser to the broker to log in, then back to `resume`. A `fresh` login forces a
/// new authentication (`prompt=login`, `max_age` = the registry's `fresh_login`) at Substantial
/// or higher (`acr_values`).
pub async fn start_login(
    portal: &Portal,
    jar: CookieJar,
    t: &'static Texts,
    resume: Resume,
    fresh: bool,
) -> Response {
    let (jar, browser, _) = binding(portal, jar);
    let max_age = u64::try_from(portal.registry().settings().fresh_login.whole_seconds()).ok();
    let request = UpstreamRequest {
        acr_min: fresh.then_some(Loa::Substantial),
        force_login: fresh,
        max_age: if fresh { max_age } else { None },
        login_hint: None,
        ui_locales: Some(t.lang.tag().to_owned()),
        service_name: None,
        country: None,
        legal_person: false,
    };
    let (url, upstream) = match portal.inner.client.begin(&request).await {
        Ok(begun) => begun,
        Err(e) => return (jar, PortalError::Unavailable(e.to_string()).page(t)).into_response(),
    };
    let pending = PendingLogin { upstream, resume };
    let stored = match serde_json::to_vec(&pending) {
        Ok(bytes) => portal
            .store()
            .put(
                &format!("delegation:portal:pending:{browser}"),
                &bytes,
                PENDING_TTL,
            )
            .await
            .map_err(PortalError::from),
        Err(e) => Err(PortalError::Unavailable(e.to_string())),
    };
    match stored {
        Ok(()) => (jar, Redirect::to(url.as_str())).into_response(),
        Err(e) => (jar, e.page(t)).into_response(),
    }
}

/// `POST /login`: the login button.
pub async fn login(
    State(portal): State<Portal>,
    jar: CookieJar,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let t = texts(lang_of(&headers));
    let fields = Fields::parse(&body).unwrap_or_default();
    if !csrf_ok(&jar, &fields) {
        return PortalError::Csrf.page(t);
    }
    start_login(&portal, jar, t, Resume::Overview, false).await
}

/// `GET /callback`: back from the broker.
pub async fn callback(
    State(portal): State<Portal>,
    jar: CookieJar,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let t = texts(lang_of(&headers));
    let browser = cookie_value(&jar, BROWSER_COOKIE)
        .map(digest_key)
        .unwrap_or_default();
    let pending: Option<PendingLogin> = portal
        .store()
        .take(&format!("delegation:portal:pending:{browser}"))
        .await
        .ok()
        .flatten()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let Some(pending) = pending else {
        return PortalError::LoginFailed("no pending login in this browser".into()).page(t);
    };
    let params: Vec<(String, String)> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let identity = match portal
        .inner
        .client
        .complete(&pending.upstream, &params)
        .await
    {
        Ok(identity) => identity,
        Err(UpstreamError::Refused { error, .. }) if error == "access_denied" => {
            return PortalError::LoginCancelled.page(t);
        }
        Err(e) => return PortalError::LoginFailed(e.to_string()).page(t),
    };
    let claims = payload(&identity.id_token);
    let Some(session) = PortalSession::of(&identity, &claims) else {
        return PortalError::NotRecognised.page(t);
    };
    let value = token256();
    let stored = async {
        let bytes =
            serde_json::to_vec(&session).map_err(|e| PortalError::Unavailable(e.to_string()))?;
        let digest = digest_key(&value);
        let store = portal.store();
        store.put(&session_key(&value), &bytes, SESSION_TTL).await?;
        if let Some(sid) = &session.sid {
            store
                .put(&sid_key(sid), digest.as_bytes(), SESSION_TTL)
                .await?;
        }
        Ok::<(), PortalError>(())
    }
    .await;
    if let Err(e) = stored {
        return e.page(t);
    }
    // The old session (if any) ends: a new login is a new session cookie.
    if let Some(old) = cookie_value(&jar, SESSION_COOKIE) {
        let _ = portal.store().delete(&session_key(old)).await;
    }
    let jar = jar.add(cookie(
        SESSION_COOKIE,
        value,
        portal.settings().secure_cookies,
        None,
    ));
    (jar, Redirect::to(&pending.resume.path())).into_response()
}

fn sid_key(sid: &str) -> String {
    format!("delegation:portal:sid:{}", digest_key(sid))
}

/// The payload of an ID token that [`eid_oidc::rp::UpstreamClient::complete`] verified.
fn payload(jwt: &str) -> Map<String, Value> {
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

/// `POST /logout`: ends the portal's session and sends the browser to the broker's logout (which
/// asks the person, as no ID token is sent: it would put their CPR number in a URL).
pub async fn logout(
    State(portal): State<Portal>,
    jar: CookieJar,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let t = texts(lang_of(&headers));
    let fields = Fields::parse(&body).unwrap_or_default();
    if !csrf_ok(&jar, &fields) {
        return PortalError::Csrf.page(t);
    }
    if let Some(c) = cookie_value(&jar, SESSION_COOKIE) {
        let _ = portal.store().delete(&session_key(c)).await;
    }
    let secure = portal.settings().secure_cookies;
    let jar = jar.add(removal(SESSION_COOKIE, secure)).add(cookie(
        LOGGED_OUT_COOKIE,
        "1".into(),
        secure,
        Some(time::Duration::minutes(10)),
    ));
    let settings = portal.settings();
    let Ok(mut url) = url::Url::parse(&format!("{}/logout", settings.broker_issuer)) else {
        return (jar, Redirect::to("/")).into_response();
    };
    url.query_pairs_mut()
        .append_pair("client_id", &settings.client_id)
        .append_pair(
            "post_logout_redirect_uri",
            &format!("{}/", settings.public_url),
        );
    (jar, Redirect::to(url.as_str())).into_response()
}

/// The home page of a browser without a session: a login button, and after a logout, that it
/// worked (once).
pub fn home(portal: &Portal, jar: CookieJar, t: &'static Texts) -> Response {
    let (jar, _, csrf) = binding(portal, jar);
    let logged_out = cookie_value(&jar, LOGGED_OUT_COOKIE).is_some();
    let jar = if logged_out {
        jar.add(removal(LOGGED_OUT_COOKIE, portal.settings().secure_cookies))
    } else {
        jar
    };
    (
        jar,
        render(
            StatusCode::OK,
            &HomePage {
                t,
                user: None,
                csrf,
                logged_out,
            },
        ),
    )
        .into_response()
}

#[derive(Deserialize)]
struct LogoutClaims {
    sid: Option<String>,
    jti: String,
    events: Map<String, Value>,
    nonce: Option<Value>,
}

/// `POST /backchannel-logout`: the broker's logout token (OIDC Back-Channel Logout 1.0), verified
/// against the broker's JWKS, ends the session of its `sid`.
pub async fn backchannel_logout(State(portal): State<Portal>, body: Bytes) -> Response {
    let bad = || {
        (
            StatusCode::BAD_REQUEST,
            [(header::CACHE_CONTROL, "no-store")],
            Json(serde_json::json!({ "error": "invalid_request" })),
        )
            .into_response()
    };
    let fields = Fields::parse(&body).unwrap_or_default();
    let Some(token) = fields.get("logout_token") else {
        return bad();
    };
    let claims = match verify_logout_token(&portal, token).await {
        Ok(c) => c,
        Err(why) => {
            tracing::info!(%why, "portal: logout token refused");
            return bad();
        }
    };
    let fresh = portal
        .store()
        .put_if_absent(
            &format!("delegation:portal:jti:{}", digest_key(&claims.jti)),
            b"1",
            Duration::from_secs(600),
        )
        .await
        .unwrap_or(false);
    if !fresh {
        return bad();
    }
    if let Some(sid) = claims.sid
        && let Ok(Some(digest)) = portal.store().take(&sid_key(&sid)).await
    {
        let key = format!(
            "delegation:portal:session:{}",
            String::from_utf8_lossy(&digest)
        );
        let _ = portal.store().delete(&key).await;
    }
    ([(header::CACHE_CONTROL, "no-store")], StatusCode::OK).into_response()
}

async fn verify_logout_token(portal: &Portal, token: &str) -> Result<LogoutClaims, String> {
    let settings = portal.settings();
    let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
    if !matches!(
        header.alg,
        jsonwebtoken::Algorithm::ES256
            | jsonwebtoken::Algorithm::RS256
            | jsonwebtoken::Algorithm::PS256
    ) {
        return Err("algorithm not accepted".into());
    }
    let jwks: JwkSet = portal
        .inner
        .http
        .get(format!("{}/jwks", settings.broker_issuer))
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
    validation.set_audience(&[&settings.client_id]);
    validation.set_issuer(&[&settings.broker_issuer]);
    validation.set_required_spec_claims(&["iss", "aud", "iat", "exp"]);
    let claims = jsonwebtoken::decode::<LogoutClaims>(token, &key, &validation)
        .map_err(|e| e.to_string())?
        .claims;
    if !claims.events.contains_key(BACKCHANNEL_EVENT) || claims.nonce.is_some() {
        return Err("not a logout token".into());
    }
    Ok(claims)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn identity(sub: &str) -> UpstreamIdentity {
        UpstreamIdentity {
            upstream: "broker".into(),
            subject: sub.into(),
            loa: Loa::Substantial,
            amr: vec![],
            auth_time: 1_780_000_000,
            cpr: None,
            eidas: None,
            given_name: Some("Anna".into()),
            family_name: Some("Jensen".into()),
            birthdate: None,
            id_token: String::new(),
            sid: Some("s1".into()),
        }
    }

    #[test]
    fn a_public_subject_is_the_broker_person_key() {
        let s = PortalSession::of(
            &identity("idp:6b0c6a52-3e0e-4f3a-9a39-0d5c1f1a0001"),
            &Map::new(),
        )
        .unwrap();
        assert_eq!(s.person.upstream, "idp");
        assert_eq!(s.person.subject, "6b0c6a52-3e0e-4f3a-9a39-0d5c1f1a0001");
        assert_eq!(s.name.as_deref(), Some("Anna Jensen"));
        assert!(s.acting_for.is_none());
        assert_eq!(s.authenticated().auth_time.unix_timestamp(), 1_780_000_000);
    }

    #[test]
    fn a_pairwise_subject_is_refused() {
        assert!(
            PortalSession::of(
                &identity("5f0c3a52-8f3e-4a57-9b7c-2f1d7a0e4c11"),
                &Map::new()
            )
            .is_none()
        );
        assert!(PortalSession::of(&identity(":x"), &Map::new()).is_none());
    }

    #[test]
    fn a_session_acting_for_someone_is_marked_with_its_mandate() {
        let claims = json!({
            "act": { "sub": "agent-pairwise" },
            "authorization_details": [{ "type": "urn:eidbroker:mandate", "identifier": "0190e0a0-0000-7000-8000-000000000002" }],
        });
        let s = PortalSession::of(&identity("idp:karen"), claims.as_object().unwrap()).unwrap();
        assert_eq!(
            s.acting_for.as_deref(),
            Some("0190e0a0-0000-7000-8000-000000000002")
        );
        let only_act = json!({ "act": { "sub": "agent-pairwise" } });
        let s = PortalSession::of(&identity("idp:karen"), only_act.as_object().unwrap()).unwrap();
        assert_eq!(s.acting_for.as_deref(), Some("agent-pairwise"));
    }

    #[test]
    fn a_login_returns_only_to_the_portals_own_pages() {
        assert_eq!(Resume::Page("/grant".into()).path(), "/grant");
        assert_eq!(
            Resume::Page("/organisations/12345678".into()).path(),
            "/organisations/12345678"
        );
        assert_eq!(Resume::Page("//evil.example/".into()).path(), "/");
        assert_eq!(Resume::Page("https://evil.example/".into()).path(), "/");
        assert_eq!(Resume::Operation("abc".into()).path(), "/confirm/abc");
    }

    proptest! {
        /// Any `sub` is a person key or refused, and never panics.
        #[test]
        fn any_subject_is_a_key_or_refused(sub in "\\PC{0,80}") {
            if let Some(s) = PortalSession::of(&identity(&sub), &Map::new()) {
                prop_assert_eq!(s.person.pairwise_input(), sub);
            }
        }
    }
}
