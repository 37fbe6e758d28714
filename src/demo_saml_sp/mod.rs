//! The demo SAML service: a strict OIOSAML service provider served under `/saml/` by the demo
//! listener, beside the OIDC demo service, so that a person sees both services share one login at
//! the broker. Its key is generated into the data directory on first start, and the broker
//! registers it at start from the metadata it makes ([`Identity::registration`]).
//!
//! This module is the HTTP side: it reads forms and cookies, calls [`flow`], and turns each
//! outcome and [`FlowError`] into a page, a redirect or a SOAP answer in one place ([`refused`]).

mod flow;
mod identity;
mod idp;
mod page;

pub use flow::{DemoSp, FlowError};
pub use identity::Identity;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::cookie::CookieJar;
use eid_core::{Clock, EphemeralStore, Loa};
use eid_oidc::RawParams;
use eid_oidc::random::token256;
use eid_saml::messages::StatusCode as SamlStatus;
use eid_saml::sp::SpError;
use eid_web::browser::{browser_cookie, cookie, cookie_value, csrf_for, csrf_matches, removal};
use std::sync::Arc;
use std::time::Duration;

use crate::demo_rp::{BROWSER_COOKIE, Texts, texts};
use page::{Page, render, saml_texts, shown};

/// The cookie of the local session.
const SESSION_COOKIE: &str = "demo_saml_session";

/// Builds the demo SAML service: its identity, and the broker's metadata at `broker` (its
/// issuer), fetched on first use.
pub fn build(
    identity: Identity,
    broker: &str,
    store: Arc<dyn EphemeralStore>,
    clock: Arc<dyn Clock>,
) -> DemoSp {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap_or_default();
    DemoSp {
        identity,
        idp: idp::IdpSource::new(format!("{broker}/saml/metadata"), http),
        store,
        clock,
    }
}

struct Service {
    sp: Arc<DemoSp>,
    secure: bool,
}

/// The routes under `/saml`, to be merged into the demo listener's router.
pub fn router(sp: Arc<DemoSp>, secure: bool) -> Router {
    Router::new()
        .route("/saml", get(|| async { Redirect::to("/saml/") }))
        .route("/saml/", get(home))
        .route("/saml/metadata", get(metadata))
        .route("/saml/login", post(login))
        .route("/saml/acs", post(acs))
        .route("/saml/welcome", get(welcome))
        .route("/saml/logout", post(logout))
        .route("/saml/slo", get(slo))
        .route("/saml/slo/soap", post(slo_soap))
        .with_state(Arc::new(Service { sp, secure }))
}

/// The page in the browser's language, with its CSRF token.
struct View {
    t: &'static Texts,
    csrf: String,
}

impl View {
    fn page(
        &self,
        status: StatusCode,
        login: Option<&flow::SamlSession>,
        error: Option<&'static str>,
        logged_out: bool,
    ) -> Response {
        render(
            status,
            &Page {
                t: self.t,
                s: saml_texts(self.t),
                csrf: &self.csrf,
                login: login.map(|s| shown(s, self.t)),
                error,
                logged_out,
            },
        )
    }
}

/// The browser cookie (made when absent) and the page's language.
fn view(jar: CookieJar, headers: &HeaderMap, secure: bool) -> (CookieJar, String, View) {
    let (jar, browser) = browser_cookie(jar, BROWSER_COOKIE, secure, token256);
    let view = View {
        t: texts(headers),
        csrf: csrf_for(&browser),
    };
    (jar, browser, view)
}

async fn local_session(sp: &DemoSp, jar: &CookieJar) -> Option<flow::SamlSession> {
    sp.session(cookie_value(jar, SESSION_COOKIE)?).await
}

/// The one place a failed step becomes a page: what the person reads, with the status; the reason
/// goes to the log (it names a rule, never content).
fn refused(view: &View, error: &FlowError, login: Option<&flow::SamlSession>) -> Response {
    let t = view.t;
    let (status, message) = match error {
        FlowError::Refused(SpError::Status(status)) => (
            StatusCode::OK,
            match status {
                Some(SamlStatus::NoAuthnContext) => t.level_not_reached,
                Some(SamlStatus::RequestDenied) => t.denied,
                Some(SamlStatus::Responder) => t.unavailable,
                _ => t.failed,
            },
        ),
        FlowError::Refused(SpError::LevelTooLow { .. }) => (StatusCode::OK, t.level_not_reached),
        FlowError::Store(_) | FlowError::Unavailable(_) | FlowError::Signing(_) => {
            (StatusCode::SERVICE_UNAVAILABLE, t.unavailable)
        }
        FlowError::Refused(_)
        | FlowError::Unsolicited
        | FlowError::Replayed
        | FlowError::OtherBrowser => (StatusCode::BAD_REQUEST, t.failed),
    };
    tracing::info!(reason = %error, "demo SAML service: refused");
    view.page(status, login, Some(message), false)
}

async fn home(State(s): State<Arc<Service>>, jar: CookieJar, headers: HeaderMap) -> Response {
    let (jar, _, view) = view(jar, &headers, s.secure);
    let login = local_session(&s.sp, &jar).await;
    (jar, view.page(StatusCode::OK, login.as_ref(), None, false)).into_response()
}

async fn metadata(State(s): State<Arc<Service>>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/samlmetadata+xml"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        s.sp.identity.metadata.clone(),
    )
        .into_response()
}

async fn login(
    State(s): State<Arc<Service>>,
    jar: CookieJar,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = RawParams::parse(&String::from_utf8_lossy(&body)).unwrap_or_default();
    let Some(browser) = cookie_value(&jar, BROWSER_COOKIE).map(str::to_owned) else {
        return (StatusCode::FORBIDDEN, "CSRF token missing or wrong").into_response();
    };
    if !csrf_matches(form.get("csrf"), Some(&browser)) {
        return (StatusCode::FORBIDDEN, "CSRF token missing or wrong").into_response();
    }
    // Log på asks Substantial (the services' usual floor), the other button High.
    let level = match form.get("level") {
        Some("High") => Loa::High,
        _ => Loa::Substantial,
    };
    match s.sp.begin_login(&browser, Some(level)).await {
        Ok(url) => Redirect::to(&url).into_response(),
        Err(e) => {
            let (jar, _, view) = view(jar, &headers, s.secure);
            let login = local_session(&s.sp, &jar).await;
            (jar, refused(&view, &e, login.as_ref())).into_response()
        }
    }
}

/// The `SAMLResponse` and `RelayState` fields of a posted form, each at most once.
fn posted(body: &[u8]) -> Option<(String, Option<String>)> {
    let mut response = None;
    let mut relay = None;
    for (name, value) in url::form_urlencoded::parse(body) {
        let slot = match name.as_ref() {
            "SAMLResponse" => &mut response,
            "RelayState" => &mut relay,
            _ => continue,
        };
        if slot.replace(value.into_owned()).is_some() {
            return None;
        }
    }
    response.map(|r| (r, relay))
}

/// `POST /saml/acs`: the broker's Response, by a cross-site POST without our cookies. Verified
/// here; the browser then finishes the login at `/saml/welcome`, with its cookies.
async fn acs(
    State(s): State<Arc<Service>>,
    jar: CookieJar,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let outcome = match posted(&body) {
        Some((response, relay)) => s.sp.receive(&response, relay.as_deref()).await,
        None => Err(FlowError::Unsolicited),
    };
    match outcome {
        Ok(relay) => {
            let mut url = url::form_urlencoded::Serializer::new(String::from("/saml/welcome?"));
            url.append_pair("state", &relay);
            Redirect::to(&url.finish()).into_response()
        }
        Err(e) => {
            let (jar, _, view) = view(jar, &headers, s.secure);
            let login = local_session(&s.sp, &jar).await;
            (jar, refused(&view, &e, login.as_ref())).into_response()
        }
    }
}

/// `GET /saml/welcome?state=…`: the verified login becomes this browser's session, if this
/// browser began it.
async fn welcome(
    State(s): State<Arc<Service>>,
    jar: CookieJar,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let (jar, browser, view) = view(jar, &headers, s.secure);
    let state = RawParams::parse(query.as_deref().unwrap_or_default())
        .ok()
        .and_then(|q| q.get("state").map(str::to_owned))
        .filter(|state| state.len() <= 80);
    let outcome = match state {
        Some(state) => s.sp.finish(&state, &browser).await,
        None => Err(FlowError::Unsolicited),
    };
    match outcome {
        Ok((value, _)) => {
            let jar = jar.add(cookie(SESSION_COOKIE, value, s.secure, None));
            (jar, Redirect::to("/saml/")).into_response()
        }
        Err(e) => {
            let login = local_session(&s.sp, &jar).await;
            (jar, refused(&view, &e, login.as_ref())).into_response()
        }
    }
}

/// `POST /saml/logout`: ends the local session and logs out at the broker (single logout).
async fn logout(
    State(s): State<Arc<Service>>,
    jar: CookieJar,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = RawParams::parse(&String::from_utf8_lossy(&body)).unwrap_or_default();
    if !csrf_matches(form.get("csrf"), cookie_value(&jar, BROWSER_COOKIE)) {
        return (StatusCode::FORBIDDEN, "CSRF token missing or wrong").into_response();
    }
    let outcome = match cookie_value(&jar, SESSION_COOKIE) {
        Some(value) => s.sp.begin_logout(value).await,
        None => Ok(None),
    };
    let jar = jar.add(removal(SESSION_COOKIE, s.secure));
    match outcome {
        Ok(Some(url)) => (jar, Redirect::to(&url)).into_response(),
        Ok(None) => (jar, Redirect::to("/saml/")).into_response(),
        Err(e) => {
            let (jar, _, view) = view(jar, &headers, s.secure);
            (jar, refused(&view, &e, None)).into_response()
        }
    }
}

/// `GET /saml/slo`: the broker's LogoutResponse to our logout, or its LogoutRequest.
async fn slo(
    State(s): State<Arc<Service>>,
    jar: CookieJar,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let outcome =
        s.sp.slo_redirect(query.as_deref().unwrap_or_default())
            .await;
    let (jar, _, view) = view(jar, &headers, s.secure);
    match outcome {
        Ok(flow::SloOutcome::LoggedOut) => {
            let login = local_session(&s.sp, &jar).await;
            (
                jar,
                view.page(StatusCode::OK, login.as_ref(), None, login.is_none()),
            )
                .into_response()
        }
        Ok(flow::SloOutcome::Answer(url)) => (jar, Redirect::to(&url)).into_response(),
        Err(e) => {
            let login = local_session(&s.sp, &jar).await;
            (jar, refused(&view, &e, login.as_ref())).into_response()
        }
    }
}

/// `POST /saml/slo/soap`: the broker's back-channel LogoutRequest; a SOAP fault when refused.
async fn slo_soap(State(s): State<Arc<Service>>, body: Bytes) -> Response {
    let soap = |status: StatusCode, envelope: String| {
        (
            status,
            [
                (header::CONTENT_TYPE, "text/xml; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            envelope,
        )
            .into_response()
    };
    let outcome = match std::str::from_utf8(&body) {
        Ok(text) => s.sp.slo_soap(text).await,
        Err(_) => Err(FlowError::Unsolicited),
    };
    match outcome {
        Ok(envelope) => soap(StatusCode::OK, envelope),
        Err(e) => {
            tracing::info!(reason = %e, "demo SAML service: back-channel logout refused");
            soap(
                StatusCode::BAD_REQUEST,
                eid_saml::sp::soap::envelope(
                    "<soap11:Fault><faultcode>soap11:Client</faultcode><faultstring>The request was refused.</faultstring></soap11:Fault>",
                ),
            )
        }
    }
}
