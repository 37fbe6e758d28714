//! SAML endpoints towards service providers: our metadata, the SSO service (Redirect and POST
//! bindings) and the page that posts a SAML message to a service (the single logout service is
//! in [`super::slo`]).

use axum::body::Bytes;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use eid_web::Lang;
use eid_web::browser::{browser_cookie, cookie_value};
use std::net::SocketAddr;
use std::sync::Arc;

use super::error::HttpError;
use super::login::chooser;
use super::pages::{message, render};
use super::saml_repost;
use super::{BROWSER_COOKIE, SESSION_COOKIE};
use crate::saml::sso::{Incoming, SsoOutcome, sso as handle_sso};
use crate::saml::{PostPage, SsoRejection, idp};
use crate::state::Broker;
use crate::texts::{Texts, texts};

pub(super) fn accept_language(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
}

/// `GET /saml/metadata`: our signed IdP metadata.
pub async fn metadata(State(broker): State<Arc<Broker>>) -> Result<Response, HttpError> {
    let xml = idp::metadata(&broker)?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/samlmetadata+xml"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        xml,
    )
        .into_response())
}

/// `GET /static/saml-post.js`: submits the POST-binding form (the CSP allows no inline script).
pub async fn post_script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        "document.getElementById(\"saml-post\").submit();\n",
    )
        .into_response()
}

/// The auto-submitting form to a service.
#[derive(askama::Template)]
#[template(path = "saml_post.html")]
struct PostTemplate<'a> {
    t: &'static Texts,
    action: &'a str,
    fields: &'a [(&'static str, String)],
}

/// The page that posts a SAML message to a service (never cached).
pub fn post_page(page: &PostPage) -> Response {
    let html = PostTemplate {
        t: texts(page.lang),
        action: &page.form.action,
        fields: &page.form.fields,
    };
    (
        [(header::CACHE_CONTROL, "no-store")],
        render(StatusCode::OK, &html),
    )
        .into_response()
}

/// The error page of a request that could not be verified (the reason goes to the log only).
pub(super) fn refused_page(rejection: &SsoRejection, lang: Lang) -> Response {
    tracing::info!(reason = %rejection, "SAML request refused on a page");
    let t = texts(lang);
    message(
        StatusCode::BAD_REQUEST,
        t,
        t.error_title,
        t.client_error_body,
        t.error_next,
    )
}

/// The `SAMLRequest` and `RelayState` fields of a posted form, each at most once.
fn posted_fields(body: &[u8]) -> Option<(String, Option<String>)> {
    let mut request = None;
    let mut relay = None;
    for (name, value) in url::form_urlencoded::parse(body) {
        let slot = match name.as_ref() {
            "SAMLRequest" => &mut request,
            "RelayState" => &mut relay,
            _ => continue,
        };
        if slot.replace(value.into_owned()).is_some() {
            return None;
        }
    }
    request.map(|r| (r, relay))
}

async fn respond(
    broker: Arc<Broker>,
    addr: SocketAddr,
    jar: CookieJar,
    headers: HeaderMap,
    incoming: Option<Incoming<'_>>,
) -> Result<Response, HttpError> {
    let lang = Lang::negotiate(None, accept_language(&headers));
    let Some(incoming) = incoming else {
        return Ok(refused_page(&SsoRejection::NoRequest, lang));
    };
    let (jar, browser) = browser_cookie(
        jar,
        BROWSER_COOKIE,
        broker.config.secure_cookies,
        eid_oidc::random::token256,
    );
    let address = eid_web::client_addr::client_address(
        addr.ip().to_canonical(),
        &eid_web::client_addr::forwarded_for(&headers),
        &broker.config.trusted_proxies,
    );
    let outcome = handle_sso(
        &broker,
        incoming,
        cookie_value(&jar, SESSION_COOKIE),
        &browser,
        address,
        accept_language(&headers),
    )
    .await
    .map_err(|e| HttpError::new(e, lang))?;
    Ok(match outcome {
        SsoOutcome::Refused(rejection) => (jar, refused_page(&rejection, lang)).into_response(),
        SsoOutcome::Post(page) => (jar, post_page(&page)).into_response(),
        SsoOutcome::Redirect(url) => (jar, Redirect::to(url.as_str())).into_response(),
        SsoOutcome::Choose(pending) => (jar, chooser(&broker, &pending)).into_response(),
        SsoOutcome::ChooseRepresentation(choice) => {
            (jar, super::represent::choice_page(&broker, &choice)).into_response()
        }
        SsoOutcome::Explain(page) => (jar, super::pages::explained_refusal(&page)).into_response(),
    })
}

/// `GET /saml/sso`: an AuthnRequest by the HTTP-Redirect binding.
pub async fn sso_redirect(
    State(broker): State<Arc<Broker>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    jar: CookieJar,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, HttpError> {
    let incoming = query.as_deref().map(Incoming::Redirect);
    respond(broker, addr, jar, headers, incoming).await
}

/// `POST /saml/sso`: an AuthnRequest by the HTTP-POST binding. One that came from another site
/// without our cookies is first posted back to us through our own page
/// ([`super::saml_repost`]), so that single sign-on sees the session.
pub async fn sso_post(
    State(broker): State<Arc<Broker>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    jar: CookieJar,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, HttpError> {
    let fields = posted_fields(&body);
    if let Some((request, relay)) = fields
        .as_ref()
        .filter(|(r, relay)| saml_repost::needs_repost(&jar, &body, r, relay.as_deref()))
    {
        let lang = Lang::negotiate(None, accept_language(&headers));
        return Ok(saml_repost::repost_page(
            &broker,
            lang,
            request,
            relay.as_deref(),
        ));
    }
    let incoming = fields.as_ref().map(|(request, relay)| Incoming::Post {
        request,
        relay_state: relay.as_deref(),
    });
    respond(broker, addr, jar, headers, incoming).await
}
