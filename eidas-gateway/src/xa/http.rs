//! XA's HTTP handlers: they read the form, the cookies and the language, call [`super::proxy`] or
//! [`super::connector`], and render the outcome. Refusals are logged (by rule, never content),
//! audited and answered with [`XaError::page`].
//!
//! Two browser-binding cookies, one per role, so a login at XA's proxy service and one at XA's
//! demo service never disturb each other. Both are `SameSite=Lax`, which a browser leaves out of
//! a cross-site POST: XA's proxy service sets its cookie on the connector's POST (nothing is
//! pending yet), and XA's connector has the Response re-posted from its own origin when it came
//! without the cookie (see [`acs`]).

use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::cookie::CookieJar;
use eid_core::{AuditOutcome, Lang};
use eid_saml::binding::{MAX_POSTED_RESPONSE_BASE64, MAX_RELAY_STATE_BYTES, PostForm};
use eid_saml::eidas::{DATE_OF_BIRTH, EidasLoa, FAMILY_NAME, GIVEN_NAME, PERSON_IDENTIFIER};
use eid_web::browser::{browser_cookie, cookie_value, csrf_for, csrf_matches};
use serde_json::json;

use super::connector::{self, Received as ServiceReceived};
use super::form::Form;
use super::pages::{
    POST_SCRIPT_PATH, consent_page, login_page, post_page, post_script, received_page, service_page,
};
use super::proxy::{self, LoginOutcome, PostedRequest, Received};
use super::register::Name;
use super::texts::{Texts, texts};
use super::{
    CONNECTOR_ACS_PATH, CONNECTOR_METADATA_PATH, DemoCountry, PROXY_CONSENT_PATH, PROXY_LOGIN_PATH,
    PROXY_METADATA_PATH, PROXY_SSO_PATH, SERVICE_LOGIN_PATH, SERVICE_PATH, XaError,
};

/// Binds a pending login at XA's proxy service to its browser.
pub const PROXY_COOKIE: &str = "xa_proxy_browser";
/// Binds a pending request of XA's demo service to its browser.
pub const SERVICE_COOKIE: &str = "xa_service_browser";
/// The form field that marks a Response re-posted by XA's own page.
pub const REPOSTED_FIELD: &str = "reposted";

pub(super) fn routes(xa: Arc<DemoCountry>) -> Router {
    Router::new()
        .route(PROXY_METADATA_PATH, get(proxy_metadata))
        .route(PROXY_SSO_PATH, post(proxy_sso))
        .route(PROXY_LOGIN_PATH, get(login_form).post(login_submit))
        .route(PROXY_CONSENT_PATH, get(consent_form).post(consent_submit))
        .route(CONNECTOR_METADATA_PATH, get(connector_metadata))
        .route(SERVICE_PATH, get(service))
        .route(SERVICE_LOGIN_PATH, post(service_login))
        .route(CONNECTOR_ACS_PATH, post(acs))
        .route(POST_SCRIPT_PATH, get(|| async { post_script() }))
        .with_state(xa)
}

/// What every handler reads besides its form: the page language, the client address and the
/// cookies.
struct Ctx {
    lang: Lang,
    ip: Option<String>,
    jar: CookieJar,
}

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        let accept = parts
            .headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok());
        Ok(Ctx {
            lang: Lang::negotiate(None, accept),
            ip: eid_web::client_addr::of_request_behind(&parts.extensions, &parts.headers)
                .map(|ip| ip.to_string()),
            jar: CookieJar::from_headers(&parts.headers),
        })
    }
}

impl Ctx {
    fn ip(&self) -> Option<&str> {
        self.ip.as_deref()
    }
}

/// Logs, audits and answers a refusal.
fn refuse(xa: &DemoCountry, kind: &str, e: &XaError, ctx: &Ctx) -> Response {
    tracing::info!(kind, reason = %e, "XA refused");
    xa.audit_detached(xa.event(
        kind,
        AuditOutcome::Failure,
        ctx.ip(),
        json!({ "reason": e.reason(), "rule": e.to_string() }),
    ));
    e.page(ctx.lang)
}

fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn metadata(xml: Result<String, XaError>) -> Response {
    match xml {
        Ok(xml) => (
            [
                (header::CONTENT_TYPE, "application/samlmetadata+xml"),
                (header::CACHE_CONTROL, "public, max-age=300"),
            ],
            xml,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(reason = %e, "XA metadata cannot be signed");
            (StatusCode::SERVICE_UNAVAILABLE, "metadata unavailable").into_response()
        }
    }
}

async fn proxy_metadata(State(xa): State<Arc<DemoCountry>>) -> Response {
    metadata(xa.proxy_metadata())
}

async fn connector_metadata(State(xa): State<Arc<DemoCountry>>) -> Response {
    metadata(xa.connector_metadata())
}

fn token() -> String {
    eid_oidc::random::token256()
}

/// `POST /xa/proxy/sso`: the Danish connector's AuthnRequest.
async fn proxy_sso(State(xa): State<Arc<DemoCountry>>, ctx: Ctx, body: Bytes) -> Response {
    const KIND: &str = "xa.proxy.request";
    let form = match Form::parse(&body, &["SAMLRequest", "RelayState"]) {
        Ok(form) => form,
        Err(e) => return refuse(&xa, KIND, &e.into(), &ctx),
    };
    let Some(request) = form.get("SAMLRequest") else {
        return refuse(&xa, KIND, &XaError::Form("no SAMLRequest"), &ctx);
    };
    let posted = PostedRequest {
        saml_request: request.to_owned(),
        relay_state: form.get("RelayState").map(str::to_owned),
    };
    let (jar, browser) = browser_cookie(
        ctx.jar.clone(),
        PROXY_COOKIE,
        xa.common.secure_cookies,
        token,
    );
    match proxy::receive(&xa, &posted, &browser, ctx.ip()).await {
        Ok(Received::Login(handle)) => {
            (jar, Redirect::to(&format!("{PROXY_LOGIN_PATH}?h={handle}"))).into_response()
        }
        Ok(Received::Answer(form)) => post_page(ctx.lang, &form),
        Err(e) => refuse(&xa, KIND, &e, &ctx),
    }
}

/// `GET /xa/proxy/login?h=…`: the login page of a pending login.
async fn login_form(
    State(xa): State<Arc<DemoCountry>>,
    ctx: Ctx,
    RawQuery(query): RawQuery,
) -> Response {
    let handle = query_param(query.as_deref(), "h").unwrap_or_default();
    let browser = cookie_value(&ctx.jar, PROXY_COOKIE);
    match proxy::pending(&xa, &handle, browser).await {
        Ok(pending) if pending.logged_in() => {
            Redirect::to(&format!("{PROXY_CONSENT_PATH}?h={handle}")).into_response()
        }
        Ok(pending) => login_page(
            ctx.lang,
            &handle,
            &csrf_for(browser.unwrap_or_default()),
            pending.request.provider_name.as_deref(),
            None,
        ),
        Err(e) => refuse(&xa, "xa.proxy.login", &e, &ctx),
    }
}

/// The handle of a posted form, after its CSRF token was checked against the proxy cookie.
fn checked<'f>(form: &'f Form, ctx: &Ctx, cookie: &str) -> Result<&'f str, XaError> {
    if !csrf_matches(form.get("csrf"), cookie_value(&ctx.jar, cookie)) {
        return Err(XaError::Csrf);
    }
    Ok(form.get("h").unwrap_or_default())
}

/// `POST /xa/proxy/login`: a username and password, or "Cancel".
async fn login_submit(State(xa): State<Arc<DemoCountry>>, ctx: Ctx, body: Bytes) -> Response {
    const KIND: &str = "xa.proxy.login";
    let outcome = async {
        let form = Form::parse(&body, &["h", "csrf", "username", "password", "action"])?;
        let handle = checked(&form, &ctx, PROXY_COOKIE)?;
        let browser = cookie_value(&ctx.jar, PROXY_COOKIE);
        if form.get("action") == Some("cancel") {
            let answer = proxy::decide(&xa, handle, browser, false, ctx.ip()).await?;
            return Ok(post_page(ctx.lang, &answer));
        }
        let username = form.get("username").unwrap_or_default().trim();
        let password = form.get("password").unwrap_or_default();
        match proxy::login(&xa, handle, browser, username, password, ctx.ip()).await? {
            LoginOutcome::Consent => {
                Ok(Redirect::to(&format!("{PROXY_CONSENT_PATH}?h={handle}")).into_response())
            }
            LoginOutcome::Retry(left) => {
                let pending = proxy::pending(&xa, handle, browser).await?;
                Ok(login_page(
                    ctx.lang,
                    handle,
                    &csrf_for(browser.unwrap_or_default()),
                    pending.request.provider_name.as_deref(),
                    Some(left),
                ))
            }
            LoginOutcome::Answer(answer) => Ok(post_page(ctx.lang, &answer)),
        }
    };
    match outcome.await {
        Ok(response) => response,
        Err(e) => refuse(&xa, KIND, &e, &ctx),
    }
}

fn shown(name: &Name) -> String {
    match &name.native {
        Some(native) => format!("{native} ({})", name.latin),
        None => name.latin.clone(),
    }
}

/// `GET /xa/proxy/consent?h=…`: what goes to Denmark, with "Send" and "Do not send".
async fn consent_form(
    State(xa): State<Arc<DemoCountry>>,
    ctx: Ctx,
    RawQuery(query): RawQuery,
) -> Response {
    let handle = query_param(query.as_deref(), "h").unwrap_or_default();
    let browser = cookie_value(&ctx.jar, PROXY_COOKIE);
    let view = match proxy::consent_view(&xa, &handle, browser).await {
        Ok(view) => view,
        Err(e) => return refuse(&xa, "xa.proxy.consent", &e, &ctx),
    };
    let t = texts(ctx.lang);
    let mut facts = Vec::new();
    for name in &view.attributes {
        facts.push(match *name {
            n if n == PERSON_IDENTIFIER.name => (t.identifier, view.identifier.clone()),
            n if n == GIVEN_NAME.name => (t.given_name, shown(&view.person.given_name)),
            n if n == FAMILY_NAME.name => (t.family_name, shown(&view.person.family_name)),
            n if n == DATE_OF_BIRTH.name => (t.birthdate, view.person.birthdate.to_string()),
            _ => continue,
        });
    }
    facts.push((t.level, t.level_name(view.loa).to_owned()));
    consent_page(
        ctx.lang,
        &handle,
        &csrf_for(browser.unwrap_or_default()),
        view.service.as_deref(),
        &facts,
    )
}

/// `POST /xa/proxy/consent`: "Send" or "Do not send".
async fn consent_submit(State(xa): State<Arc<DemoCountry>>, ctx: Ctx, body: Bytes) -> Response {
    let outcome = async {
        let form = Form::parse(&body, &["h", "csrf", "decision"])?;
        let handle = checked(&form, &ctx, PROXY_COOKIE)?;
        let send = match form.get("decision") {
            Some("send") => true,
            Some("decline") => false,
            _ => return Err(XaError::Form("decision is send or decline")),
        };
        let browser = cookie_value(&ctx.jar, PROXY_COOKIE);
        proxy::decide(&xa, handle, browser, send, ctx.ip()).await
    };
    match outcome.await {
        Ok(answer) => post_page(ctx.lang, &answer),
        Err(e) => refuse(&xa, "xa.proxy.response", &e, &ctx),
    }
}

/// `GET /xa/service/`: XA's demo service.
async fn service(State(xa): State<Arc<DemoCountry>>, ctx: Ctx) -> Response {
    let (jar, browser) = browser_cookie(
        ctx.jar.clone(),
        SERVICE_COOKIE,
        xa.common.secure_cookies,
        token,
    );
    (jar, service_page(ctx.lang, &csrf_for(&browser))).into_response()
}

/// `POST /xa/service/login`: "Log in with your Danish eID" at the chosen level.
async fn service_login(State(xa): State<Arc<DemoCountry>>, ctx: Ctx, body: Bytes) -> Response {
    let outcome = async {
        let form = Form::parse(&body, &["csrf", "level"])?;
        if !csrf_matches(form.get("csrf"), cookie_value(&ctx.jar, SERVICE_COOKIE)) {
            return Err(XaError::Csrf);
        }
        let loa = match form.get("level") {
            Some("substantial") => EidasLoa::Substantial,
            Some("high") => EidasLoa::High,
            _ => return Err(XaError::Form("level is substantial or high")),
        };
        let browser = cookie_value(&ctx.jar, SERVICE_COOKIE).ok_or(XaError::Csrf)?;
        connector::start(&xa, browser, loa, ctx.ip()).await
    };
    match outcome.await {
        Ok(form) => post_page(ctx.lang, &form),
        Err(e) => refuse(&xa, "xa.connector.request", &e, &ctx),
    }
}

/// Whether a posted Response may be echoed in the re-post page: bounded base64, and a bounded
/// RelayState (anything else is refused by the usual processing, never echoed).
fn echoable(response: &str, relay_state: Option<&str>) -> bool {
    !response.is_empty()
        && response.len() <= MAX_POSTED_RESPONSE_BASE64
        && response
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'\r' | b'\n'))
        && relay_state.is_none_or(|r| r.len() <= MAX_RELAY_STATE_BYTES)
}

/// `POST /xa/connector/acs`: the Danish proxy service's Response. One that came without the
/// service cookie (a cross-site POST) is first sent back, unread, through a page of XA's own
/// origin that posts it here again with the cookie and [`REPOSTED_FIELD`]; a re-posted one is
/// always processed, so the bounce cannot loop.
async fn acs(State(xa): State<Arc<DemoCountry>>, ctx: Ctx, body: Bytes) -> Response {
    const KIND: &str = "xa.connector.response";
    let form = match Form::parse(&body, &["SAMLResponse", "RelayState", REPOSTED_FIELD]) {
        Ok(form) => form,
        Err(e) => return refuse(&xa, KIND, &e.into(), &ctx),
    };
    let Some(response) = form.get("SAMLResponse") else {
        return refuse(&xa, KIND, &XaError::Form("no SAMLResponse"), &ctx);
    };
    let relay_state = form.get("RelayState");
    let browser = cookie_value(&ctx.jar, SERVICE_COOKIE);
    if browser.is_none() && !form.has(REPOSTED_FIELD) && echoable(response, relay_state) {
        let mut fields = vec![("SAMLResponse", response.to_owned())];
        if let Some(relay) = relay_state {
            fields.push(("RelayState", relay.to_owned()));
        }
        fields.push((REPOSTED_FIELD, "1".to_owned()));
        let repost = PostForm {
            action: xa.url(CONNECTOR_ACS_PATH),
            fields,
        };
        return post_page(ctx.lang, &repost);
    }
    match connector::acs(&xa, browser, response, relay_state, ctx.ip()).await {
        Ok(ServiceReceived::Identity(identity)) => {
            let t = texts(ctx.lang);
            received_page(ctx.lang, &identity_facts(t, &identity), "")
        }
        Ok(ServiceReceived::Nothing { declined }) => {
            let t = texts(ctx.lang);
            let why = if declined {
                t.nothing_declined
            } else {
                t.nothing_failed
            };
            received_page(ctx.lang, &[], why)
        }
        Err(e) => refuse(&xa, KIND, &e, &ctx),
    }
}

fn identity_facts(t: &Texts, identity: &connector::Identity) -> Vec<(&'static str, String)> {
    let name = |n: &(String, Option<String>)| match &n.1 {
        Some(original) => format!("{original} ({})", n.0),
        None => n.0.clone(),
    };
    let mut facts = vec![(t.identifier, identity.identifier.clone())];
    if let Some(given) = &identity.given_name {
        facts.push((t.given_name, name(given)));
    }
    if let Some(family) = &identity.family_name {
        facts.push((t.family_name, name(family)));
    }
    if let Some(birthdate) = &identity.birthdate {
        facts.push((t.birthdate, birthdate.clone()));
    }
    facts.push((t.level, t.level_name(identity.loa).to_owned()));
    facts
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn only_bounded_base64_is_echoed() {
        assert!(echoable("PHNhbWxwOlJlc3BvbnNlLz4=", None));
        assert!(!echoable("", None));
        assert!(!echoable("PHN\"><script>", None));
        assert!(!echoable(&"A".repeat(MAX_POSTED_RESPONSE_BASE64 + 1), None));
        assert!(!echoable(
            "QUJD",
            Some(&"r".repeat(MAX_RELAY_STATE_BYTES + 1))
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Whatever is posted, only base64 within the binding's bound is ever echoed.
        #[test]
        fn what_is_echoed_is_bounded_base64(response in "\\PC{0,60}|[A-Za-z0-9+/=]{1,60}", relay in proptest::option::of("\\PC{0,100}")) {
            if echoable(&response, relay.as_deref()) {
                prop_assert!(response.bytes().all(|b| b.is_ascii_alphanumeric() || b"+/=\r\n".contains(&b)));
                prop_assert!(relay.map_or(0, |r| r.len()) <= MAX_RELAY_STATE_BYTES);
            }
        }

        /// Any query string gives the handle it holds, or none, never a panic.
        #[test]
        fn any_query_gives_at_most_its_handle(query in "\\PC{0,80}") {
            let _ = query_param(Some(&query), "h");
        }
    }
}
