//! The identity chooser, the start of the upstream round trip and its callback.

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use eid_core::AuditOutcome;
use eid_oidc::RawParams;
use eid_web::Lang;
use eid_web::browser::{client_ip, cookie, cookie_value};
use eid_web::user_agent::browser_label;
use std::net::SocketAddr;
use std::sync::Arc;

use super::error::HttpError;
use super::pages::{ChooserPage, UpstreamChoice, message, render};
use super::{BROWSER_COOKIE, SESSION_COOKIE};
use crate::login::flow::{self, CallbackOutcome};
use crate::login::{Answer, PendingLogin, Refusal};
use crate::oidc::BrokerError;
use crate::ports::UpstreamKind;
use crate::state::Broker;
use crate::texts::texts;

/// `GET /`: what the broker is.
pub async fn landing(headers: HeaderMap) -> Response {
    let lang = Lang::negotiate(
        None,
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    );
    let t = texts(lang);
    message(StatusCode::OK, t, t.service, t.choose_intro, "")
}

/// The identity chooser for a pending login: the upstreams that fit it.
pub fn chooser(broker: &Broker, pending: &PendingLogin) -> Response {
    let t = texts(pending.lang);
    let service = pending
        .frontend
        .service_name(broker, &pending.authn.rp)
        .unwrap_or_default();
    let upstreams = pending
        .fitting_upstreams(broker)
        .into_iter()
        .map(|upstream| {
            let (label, help) = match upstream.kind() {
                UpstreamKind::National => (t.mitid, t.mitid_help),
                UpstreamKind::EuEid => (t.eu_eid, t.eu_eid_help),
            };
            UpstreamChoice {
                name: upstream.name().to_owned(),
                label,
                help,
            }
        })
        .collect();
    render(
        StatusCode::OK,
        &ChooserPage {
            t,
            tx: &pending.id,
            csrf: &pending.csrf,
            service: &service,
            step_up: pending.step_up,
            level: pending.authn.min_loa.map(|l| l.name(pending.lang)),
            upstreams,
        },
    )
}

fn parse_form(body: &[u8]) -> Result<RawParams, BrokerError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| BrokerError::BadRequest("form is not UTF-8".into()))?;
    RawParams::parse(text).map_err(|e| BrokerError::BadRequest(e.description))
}

async fn pending_for_form(
    broker: &Broker,
    jar: &CookieJar,
    form: &RawParams,
    ip: &str,
) -> Result<PendingLogin, HttpError> {
    match PendingLogin::load_for_form(
        broker,
        form.get("tx").unwrap_or_default(),
        cookie_value(jar, BROWSER_COOKIE),
        form.get("csrf"),
    )
    .await
    {
        Ok(p) => Ok(p),
        Err(BrokerError::Csrf) => {
            broker
                .audit(
                    broker
                        .event("form.csrf_rejected", AuditOutcome::Failure)
                        .ip(ip)
                        .detail("form", "chooser"),
                )
                .await?;
            Err(BrokerError::Csrf.into())
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /login/start`: the person chose an identity provider.
pub async fn start(
    State(broker): State<Arc<Broker>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    jar: CookieJar,
    body: Bytes,
) -> Result<Response, HttpError> {
    let form = parse_form(&body)?;
    let ip = client_ip(&addr);
    let mut pending = pending_for_form(&broker, &jar, &form, &ip).await?;
    let lang = pending.lang;
    let upstream = form.get("upstream").unwrap_or_default().to_owned();
    let url = flow::choose_upstream(&broker, &mut pending, &upstream, &ip)
        .await
        .map_err(|e| HttpError::new(e, lang))?;
    Ok(Redirect::to(url.as_str()).into_response())
}

/// `POST /login/cancel`: the person gives up; the client gets `access_denied`.
pub async fn cancel(
    State(broker): State<Arc<Broker>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    jar: CookieJar,
    body: Bytes,
) -> Result<Response, HttpError> {
    let form = parse_form(&body)?;
    let pending = pending_for_form(&broker, &jar, &form, &client_ip(&addr)).await?;
    pending.finish(&broker).await?;
    let answer = pending.frontend.refuse(&broker, Refusal::Cancelled)?;
    Ok(respond(jar, answer))
}

/// The most parameters an upstream's callback may carry.
const MAX_CALLBACK_PARAMS: usize = 16;

/// `GET /upstream/{name}/callback`.
pub async fn callback(
    State(broker): State<Arc<Broker>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
    jar: CookieJar,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, HttpError> {
    let lang = Lang::negotiate(
        None,
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    );
    // An authorization response has a handful of parameters; more is not one.
    let params: Vec<(String, String)> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .take(MAX_CALLBACK_PARAMS + 1)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
    if params.len() > MAX_CALLBACK_PARAMS {
        return Err(HttpError::new(
            BrokerError::BadRequest("too many callback parameters".into()),
            lang,
        ));
    }
    let outcome = flow::upstream_callback(
        &broker,
        &name,
        &params,
        cookie_value(&jar, SESSION_COOKIE),
        cookie_value(&jar, BROWSER_COOKIE),
        &client_ip(&addr),
        // A coarse name for the person's own log; the header itself is kept nowhere.
        &browser_label(
            headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok()),
        ),
    )
    .await
    .map_err(|e| HttpError::new(e, lang))?;
    Ok(match outcome {
        CallbackOutcome::Answer(answer, session_cookie) => {
            respond(with_session(&broker, jar, session_cookie), answer)
        }
        CallbackOutcome::Choose(choice, session_cookie) => (
            with_session(&broker, jar, session_cookie),
            super::represent::choice_page(&broker, &choice),
        )
            .into_response(),
        CallbackOutcome::Failed(reason) => {
            tracing::info!(%reason, "upstream callback refused");
            let t = texts(lang);
            message(
                StatusCode::BAD_REQUEST,
                t,
                t.upstream_failed_title,
                t.upstream_failed_body,
                t.start_again,
            )
        }
    })
}

/// `jar` with the new session cookie, if a login set one.
fn with_session(broker: &Broker, jar: CookieJar, session_cookie: Option<String>) -> CookieJar {
    match session_cookie {
        Some(value) => jar.add(cookie(
            SESSION_COOKIE,
            value,
            broker.config.secure_cookies,
            None,
        )),
        None => jar,
    }
}

/// A frontend's answer as an HTTP response, with the cookies in `jar`.
pub(super) fn respond(jar: CookieJar, answer: Answer) -> Response {
    match answer {
        Answer::Redirect(url) => (jar, Redirect::to(url.as_str())).into_response(),
        Answer::Post(page) => (jar, super::saml::post_page(&page)).into_response(),
        Answer::Explained(page) => (jar, super::pages::explained_refusal(&page)).into_response(),
    }
}
