//! Thin handlers: they read the request (forms, cookie, language, address), call the flow and
//! translate its outcome into a redirect, a page or the auto-posting form.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum_extra::extract::cookie::CookieJar;
use eid_core::Lang;
use eid_saml::binding::PostForm;
use eid_web::browser::{cookie, cookie_value, csrf_for, csrf_matches, removal};
use eid_web::pages::render;

use super::error::ProxyError;
use super::flow::{CallbackOutcome, Decision, SsoInput, SsoOutcome};
use super::texts::{Texts, texts};
use super::{
    CALLBACK_PATH, CONSENT_PATH, LOGIN_COOKIE, LOGIN_TTL, METADATA_PATH, POST_SCRIPT_PATH,
    ProxyService, SSO_PATH,
};

/// The most form fields read from a posted form.
const MAX_FIELDS: usize = 8;
/// The most query parameters read from the broker's callback.
const MAX_PARAMS: usize = 16;

/// The routes under `/eidas/proxy/`.
pub fn routes(proxy: Arc<ProxyService>) -> Router {
    Router::new()
        .route(METADATA_PATH, get(metadata))
        .route(SSO_PATH, axum::routing::post(sso))
        .route(CALLBACK_PATH, get(callback))
        .route(CONSENT_PATH, get(consent_page).post(consent))
        .route(POST_SCRIPT_PATH, get(post_script))
        .with_state(proxy)
}

/// The client's address (behind the trusted proxies), if the server gave one.
struct ClientIp(Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(
            eid_web::client_addr::of_request_behind(&parts.extensions, &parts.headers)
                .map(|ip| ip.to_string()),
        ))
    }
}

fn lang_of(headers: &HeaderMap) -> Lang {
    Lang::negotiate(
        None,
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    )
}

/// The fields of a url-encoded form: at most [`MAX_FIELDS`], each name at most once.
fn form_fields(body: &[u8]) -> Result<Vec<(String, String)>, ProxyError> {
    let mut fields: Vec<(String, String)> = Vec::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        if fields.len() >= MAX_FIELDS {
            return Err(ProxyError::BadForm("too many fields"));
        }
        if fields.iter().any(|(name, _)| *name == k) {
            return Err(ProxyError::BadForm("a field appears twice"));
        }
        fields.push((k.into_owned(), v.into_owned()));
    }
    Ok(fields)
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// `GET /eidas/proxy/metadata`.
async fn metadata(State(proxy): State<Arc<ProxyService>>, headers: HeaderMap) -> Response {
    match proxy.metadata_xml() {
        Ok(xml) => (
            [
                (header::CONTENT_TYPE, "application/samlmetadata+xml"),
                (header::CACHE_CONTROL, "public, max-age=3600"),
            ],
            xml,
        )
            .into_response(),
        Err(e) => e.to_response(lang_of(&headers)),
    }
}

/// `POST /eidas/proxy/sso`: a connector's AuthnRequest (HTTP-POST binding).
async fn sso(
    State(proxy): State<Arc<ProxyService>>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let lang = lang_of(&headers);
    let fields = match form_fields(&body) {
        Ok(f) => f,
        Err(e) => return refuse(&proxy, e, ip, lang).await,
    };
    let Some(saml_request) = field(&fields, "SAMLRequest") else {
        return refuse(&proxy, ProxyError::BadForm("no SAMLRequest"), ip, lang).await;
    };
    let input = SsoInput {
        saml_request,
        relay_state: field(&fields, "RelayState"),
        lang,
        ip,
    };
    match proxy.sso(input).await {
        Ok(SsoOutcome::Login { redirect, handle }) => {
            let login = cookie(
                LOGIN_COOKIE,
                handle,
                proxy.common.secure_cookies,
                time::Duration::try_from(LOGIN_TTL).ok(),
            );
            (
                [(header::SET_COOKIE, login.to_string())],
                Redirect::to(redirect.as_str()),
            )
                .into_response()
        }
        Ok(SsoOutcome::Answer(form)) => post_page(&form, lang, None),
        Err(e) => e.to_response(lang),
    }
}

/// Audits and shows a refusal that happened before the flow ran.
async fn refuse(proxy: &ProxyService, e: ProxyError, ip: Option<String>, lang: Lang) -> Response {
    let _ = proxy
        .audit(
            "eidas_proxy.request",
            eid_core::AuditOutcome::Failure,
            None,
            ip.as_deref(),
            &[("reason", serde_json::json!(e.reason()))],
        )
        .await;
    e.to_response(lang)
}

/// `GET /eidas/proxy/callback`: the broker's answer.
async fn callback(
    State(proxy): State<Arc<ProxyService>>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    jar: CookieJar,
    RawQuery(query): RawQuery,
) -> Response {
    let lang = lang_of(&headers);
    let params: Vec<(String, String)> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .take(MAX_PARAMS + 1)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
    if params.len() > MAX_PARAMS {
        return refuse(&proxy, ProxyError::BadForm("too many parameters"), ip, lang).await;
    }
    let handle = cookie_value(&jar, LOGIN_COOKIE);
    match proxy.callback(handle, &params, ip.as_deref()).await {
        Ok(CallbackOutcome::Consent) => Redirect::to(CONSENT_PATH).into_response(),
        Ok(CallbackOutcome::Answer(form)) => post_page(&form, lang, Some(&proxy)),
        Err(e) => e.to_response(lang),
    }
}

/// The consent page.
#[derive(askama::Template)]
#[template(path = "proxy/consent.html")]
struct ConsentPage<'a> {
    t: &'static Texts,
    country: &'a str,
    service: &'a str,
    rows: &'a [(&'static str, String, &'static str)],
    level: &'static str,
    csrf: &'a str,
}

/// `GET /eidas/proxy/consent`.
async fn consent_page(
    State(proxy): State<Arc<ProxyService>>,
    headers: HeaderMap,
    jar: CookieJar,
) -> Response {
    let lang = lang_of(&headers);
    let handle = cookie_value(&jar, LOGIN_COOKIE);
    match proxy.consent_view(handle, lang).await {
        Ok(view) => {
            let csrf = csrf_for(handle.unwrap_or_default());
            let page = ConsentPage {
                t: texts(lang),
                country: &view.country,
                service: &view.service,
                rows: &view.rows,
                level: view.level,
                csrf: &csrf,
            };
            render(StatusCode::OK, &page)
        }
        Err(e) => e.to_response(lang),
    }
}

/// `POST /eidas/proxy/consent`: "Send" or "Do not send".
async fn consent(
    State(proxy): State<Arc<ProxyService>>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    jar: CookieJar,
    body: Bytes,
) -> Response {
    let lang = lang_of(&headers);
    let handle = cookie_value(&jar, LOGIN_COOKIE);
    let fields = match form_fields(&body) {
        Ok(f) => f,
        Err(e) => return refuse(&proxy, e, ip, lang).await,
    };
    if !csrf_matches(field(&fields, "csrf"), handle) {
        return refuse(&proxy, ProxyError::Csrf, ip, lang).await;
    }
    let decision = match field(&fields, "decision") {
        Some("send") => Decision::Send,
        Some("decline") => Decision::Decline,
        _ => return refuse(&proxy, ProxyError::BadForm("no decision"), ip, lang).await,
    };
    match proxy.consent(handle, decision, ip.as_deref()).await {
        Ok(form) => post_page(&form, lang, Some(&proxy)),
        Err(e) => e.to_response(lang),
    }
}

/// The auto-submitting form.
#[derive(askama::Template)]
#[template(path = "proxy/post.html")]
struct PostPage<'a> {
    t: &'static Texts,
    action: &'a str,
    fields: &'a [(&'static str, String)],
}

/// The page that posts a Response to the connector (never cached); when the login is over, the
/// login cookie goes.
fn post_page(form: &PostForm, lang: Lang, ends_login: Option<&ProxyService>) -> Response {
    let page = PostPage {
        t: texts(lang),
        action: &form.action,
        fields: &form.fields,
    };
    let mut response = render(StatusCode::OK, &page);
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    if let Some(proxy) = ends_login
        && let Ok(v) = removal(LOGIN_COOKIE, proxy.common.secure_cookies)
            .to_string()
            .parse()
    {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

/// `GET /eidas/proxy/post.js`: submits the auto-posting form.
async fn post_script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        "document.getElementById(\"saml-post\").submit();\n",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn forms_refuse_repeated_fields() {
        assert!(form_fields(b"a=1&b=2").is_ok());
        assert!(matches!(
            form_fields(b"SAMLRequest=a&SAMLRequest=b"),
            Err(ProxyError::BadForm(_))
        ));
    }

    proptest! {
        /// Any posted body gives a bounded list of distinct fields or a refusal, never a panic.
        #[test]
        fn any_body_is_read_or_refused(body in proptest::collection::vec(any::<u8>(), 0..600)) {
            if let Ok(fields) = form_fields(&body) {
                prop_assert!(fields.len() <= MAX_FIELDS);
                for (i, (k, _)) in fields.iter().enumerate() {
                    prop_assert!(fields[i + 1..].iter().all(|(other, _)| other != k));
                }
            }
        }
    }
}
