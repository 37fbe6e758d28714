//! The login pages: user ID, method choice, password, code display, passkey, app approval.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use eid_core::{AuditOutcome, AuthenticatorKind, Loa};
use eid_oidc::RawParams;
use eid_web::Lang;
use serde::Deserialize;
use std::sync::Arc;

use super::error::HttpError;
use super::pages::{
    AppWaitPage, LevelTooLowPage, LoginMethodsPage, LoginUserPage, MethodView, StepUpPage, render,
};
use super::request::{BROWSER_COOKIE, ClientIp, SESSION_COOKIE, cookie, cookie_value, form};
use crate::flow::complete::{Completion, access_denied, level_not_reached};
use crate::flow::login::{self, Enrolment, Failure, LoginResult};
use crate::flow::oidc::oidc_request;
use crate::flow::tx::LoginTx;
use crate::flow::{IdpError, app, passkey};
use crate::levels::{Advice, achieved};
use crate::state::Idp;
use crate::texts::{Texts, texts};

/// The `tx` query parameter.
#[derive(Debug, Deserialize)]
pub struct TxQuery {
    tx: String,
}

fn failure_text(t: &'static Texts, f: Failure) -> &'static str {
    match f {
        Failure::UnknownUser => t.unknown_user,
        Failure::WrongCredentials => t.wrong_credentials,
        Failure::UserLocked => t.user_locked,
        Failure::IpBlocked => t.ip_blocked,
        Failure::NotEnrolled => t.not_enrolled,
        Failure::PasskeyRefused => t.passkey_refused,
        Failure::AppRateLimited => t.app_too_many,
    }
}

/// The response to a completed login; `service` names the service the person logs in to.
pub fn completion_response(completion: Completion, lang: Lang, service: Option<&str>) -> Response {
    match completion {
        Completion::Redirect(url) => Redirect::to(url.as_str()).into_response(),
        Completion::Account => Redirect::to("/account").into_response(),
        Completion::StepUpTooLow { required, achieved } => render(
            StatusCode::FORBIDDEN,
            &StepUpPage {
                t: texts(lang),
                required: required.name(lang),
                achieved: Some(achieved.name(lang)),
            },
        ),
        Completion::LevelTooLow {
            required,
            achieved,
            back,
            advice,
        } => level_too_low(lang, service, required, Some(achieved), &advice, &back),
    }
}

/// The names of authenticator kinds as a list in a sentence ("A, B eller C").
fn kinds_list(t: &Texts, kinds: &[AuthenticatorKind]) -> String {
    let names: Vec<&str> = kinds
        .iter()
        .map(|k| match k {
            AuthenticatorKind::App => t.advice_app,
            AuthenticatorKind::CodeDisplay => t.advice_code_display,
            AuthenticatorKind::Passkey => t.advice_passkey,
            AuthenticatorKind::Password => t.advice_password,
        })
        .collect();
    match names.split_last() {
        None => String::new(),
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} {} {last}", rest.join(", "), t.or),
    }
}

/// The page for a level the person did not or cannot reach: the level the service needs, the one
/// the person reaches, and what would reach it for them (with My MitID where that helps).
fn level_too_low(
    lang: Lang,
    service: Option<&str>,
    required: Loa,
    achieved: Option<Loa>,
    advice: &Advice,
    back: &url::Url,
) -> Response {
    let t = texts(lang);
    let required_name = required.name(lang);
    let fill = |text: &str, methods: &[AuthenticatorKind]| {
        text.replace("{required}", required_name)
            .replace("{methods}", &kinds_list(t, methods))
    };
    let (advice, account_link) = match advice {
        Advice::Add {
            kinds,
            self_service: true,
        } => (fill(t.too_low_next, kinds), true),
        Advice::Add {
            kinds,
            self_service: false,
        } => (fill(t.too_low_support, kinds), false),
        Advice::ProveIdentity => (fill(t.too_low_prove, &[]), false),
        Advice::Unreachable => (fill(t.too_low_unreachable, &[]), false),
        Advice::UseMethod(kinds) => (fill(t.too_low_use_method, kinds), false),
    };
    render(
        StatusCode::FORBIDDEN,
        &LevelTooLowPage {
            t,
            needs: fill(t.too_low_needs, &[]),
            reach: achieved.map(|a| t.too_low_body.replace("{achieved}", a.name(lang))),
            advice,
            account_link,
            back: back.as_str(),
            service,
        },
    )
}

/// Loads the transaction of a form post (browser binding and CSRF checked); CSRF failures are
/// audited.
async fn tx_for_form(
    idp: &Idp,
    jar: &CookieJar,
    form: &RawParams,
    ip: &str,
) -> Result<LoginTx, HttpError> {
    let id = form.get("tx").unwrap_or_default();
    match LoginTx::load_for_form(idp, id, cookie_value(jar, BROWSER_COOKIE), form.get("csrf")).await
    {
        Ok(tx) => Ok(tx),
        Err(IdpError::Csrf) => {
            idp.audit(
                idp.event("form.csrf_rejected", AuditOutcome::Failure)
                    .ip(ip)
                    .detail("form", "login"),
            )
            .await?;
            Err(IdpError::Csrf.into())
        }
        Err(e) => Err(e.into()),
    }
}

async fn methods_page(
    idp: &Idp,
    tx: &LoginTx,
    error: Option<&'static str>,
) -> Result<Response, HttpError> {
    let t = texts(tx.lang);
    let Some(enrolment) = Enrolment::of_tx(idp, tx).await? else {
        return Err(HttpError::new(IdpError::TxExpired, tx.lang));
    };
    let ial = enrolment.person.ial;
    // A step-up login offers only the methods that reach the level the change needs.
    let step_up = tx.step_up;
    let reaches = |m: AuthenticatorKind| {
        step_up.is_none_or(|required| achieved(ial, idp.config.levels.aal(m)) >= required)
    };
    if let Some(required) = step_up
        && !enrolment.methods().into_iter().any(reaches)
    {
        tx.finish(idp).await?;
        return Ok(render(
            StatusCode::FORBIDDEN,
            &StepUpPage {
                t,
                required: required.name(tx.lang),
                achieved: None,
            },
        ));
    }
    let methods: Vec<MethodView> = enrolment
        .methods()
        .into_iter()
        .filter(|m| reaches(*m))
        .map(|m| MethodView {
            kind: m.as_str(),
            name: match m {
                AuthenticatorKind::Password => t.method_password,
                AuthenticatorKind::CodeDisplay => t.method_code_display,
                AuthenticatorKind::App => t.method_app,
                AuthenticatorKind::Passkey => t.method_passkey,
            },
            level: achieved(ial, idp.config.levels.aal(m)).name(tx.lang),
        })
        .collect();
    // When no method reaches the level the client requires, say so at once.
    if let Some(req) = oidc_request(tx)
        && let Some(required) = req.acr_min
    {
        let best = enrolment.best(&idp.config.levels);
        if best.is_none_or(|b| b < required) {
            if !tx.finish(idp).await? {
                return Err(HttpError::new(IdpError::TxExpired, tx.lang));
            }
            let advice = enrolment.advice(&idp.config.levels, required);
            idp.audit(
                idp.event("login.level_unreachable", AuditOutcome::Failure)
                    .person(enrolment.person.id)
                    .client(req.client_id.clone())
                    .detail("required", required.as_word())
                    .detail("advice", advice.as_word()),
            )
            .await?;
            let back = level_not_reached(idp, req, required, best)?;
            return Ok(level_too_low(
                tx.lang,
                tx.service(idp),
                required,
                best,
                &advice,
                &back,
            ));
        }
    }
    let user_id = enrolment.person.user_id.clone().unwrap_or_default();
    Ok(render(
        if error.is_some() {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::OK
        },
        &LoginMethodsPage {
            t,
            tx: &tx.id,
            csrf: &tx.csrf,
            service: tx.service(idp),
            user_id: &user_id,
            methods,
            error,
            step_up: step_up.map(|l| l.name(tx.lang)),
        },
    ))
}

fn user_page(idp: &Idp, tx: &LoginTx, error: Option<&'static str>) -> Response {
    let hint = oidc_request(tx)
        .and_then(|r| r.login_hint.clone())
        .unwrap_or_default();
    render(
        if error.is_some() {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::OK
        },
        &LoginUserPage {
            t: texts(tx.lang),
            tx: &tx.id,
            csrf: &tx.csrf,
            service: tx.service(idp),
            error,
            login_hint: &hint,
        },
    )
}

/// `GET /login?tx=…`.
pub async fn page(
    State(idp): State<Arc<Idp>>,
    jar: CookieJar,
    Query(q): Query<TxQuery>,
) -> Result<Response, HttpError> {
    let tx = LoginTx::load(&idp, &q.tx, cookie_value(&jar, BROWSER_COOKIE)).await?;
    if tx.person.is_some() {
        methods_page(&idp, &tx, None).await
    } else {
        Ok(user_page(&idp, &tx, None))
    }
}

/// `POST /login/user`.
pub async fn user(
    State(idp): State<Arc<Idp>>,
    ClientIp(ip): ClientIp,
    jar: CookieJar,
    body: Bytes,
) -> Result<Response, HttpError> {
    let form = form(&body)?;
    let mut tx = tx_for_form(&idp, &jar, &form, &ip).await?;
    let user_id = form.get("user_id").unwrap_or_default();
    match login::identify(&idp, &mut tx, user_id, &ip)
        .await
        .map_err(|e| HttpError::new(e, tx.lang))?
    {
        None => Ok(Redirect::to(&format!("/login?tx={}", tx.id)).into_response()),
        Some(failure) => Ok(user_page(
            &idp,
            &tx,
            Some(failure_text(texts(tx.lang), failure)),
        )),
    }
}

fn with_session(jar: CookieJar, idp: &Idp, session_cookie: String, response: Response) -> Response {
    let jar = jar.add(cookie(
        SESSION_COOKIE,
        session_cookie,
        idp.config.secure_cookies,
        None,
    ));
    (jar, response).into_response()
}

async fn answer(
    idp: &Idp,
    jar: CookieJar,
    tx: &LoginTx,
    result: LoginResult,
) -> Result<Response, HttpError> {
    match result {
        LoginResult::Done {
            completion,
            session_cookie,
        } => Ok(with_session(
            jar,
            idp,
            session_cookie,
            completion_response(completion, tx.lang, tx.service(idp)),
        )),
        LoginResult::Failed(failure) => {
            methods_page(idp, tx, Some(failure_text(texts(tx.lang), failure))).await
        }
    }
}

/// `POST /login/password`.
pub async fn password(
    State(idp): State<Arc<Idp>>,
    ClientIp(ip): ClientIp,
    jar: CookieJar,
    body: Bytes,
) -> Result<Response, HttpError> {
    let form = form(&body)?;
    let tx = tx_for_form(&idp, &jar, &form, &ip).await?;
    let result = login::with_password(
        &idp,
        &tx,
        form.get("password").unwrap_or_default(),
        cookie_value(&jar, SESSION_COOKIE),
        &ip,
    )
    .await
    .map_err(|e| HttpError::new(e, tx.lang))?;
    answer(&idp, jar, &tx, result).await
}

/// `POST /login/code-display`.
pub async fn code_display(
    State(idp): State<Arc<Idp>>,
    ClientIp(ip): ClientIp,
    jar: CookieJar,
    body: Bytes,
) -> Result<Response, HttpError> {
    let form = form(&body)?;
    let tx = tx_for_form(&idp, &jar, &form, &ip).await?;
    let result = login::with_code_display(
        &idp,
        &tx,
        form.get("password").unwrap_or_default(),
        form.get("code").unwrap_or_default(),
        cookie_value(&jar, SESSION_COOKIE),
        &ip,
    )
    .await
    .map_err(|e| HttpError::new(e, tx.lang))?;
    answer(&idp, jar, &tx, result).await
}

/// `GET /login/passkey/options?tx=…` (JSON for the page's script).
pub async fn passkey_options(
    State(idp): State<Arc<Idp>>,
    jar: CookieJar,
    Query(q): Query<TxQuery>,
) -> Result<Response, HttpError> {
    let tx = LoginTx::load(&idp, &q.tx, cookie_value(&jar, BROWSER_COOKIE)).await?;
    let options = passkey::login_options(&idp, &tx).await?;
    Ok(Json(options).into_response())
}

/// The passkey assertion posted by the page's script.
#[derive(Deserialize)]
pub struct PasskeyLogin {
    tx: String,
    /// Missing is refused as a wrong token (audited), not as a malformed body.
    #[serde(default)]
    csrf: String,
    credential: webauthn_rs::prelude::PublicKeyCredential,
}

fn json_error(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "message": message }))).into_response()
}

/// `POST /login/passkey` (JSON): answers `{ "redirect": … }`.
pub async fn passkey(
    State(idp): State<Arc<Idp>>,
    ClientIp(ip): ClientIp,
    jar: CookieJar,
    body: Bytes,
) -> Result<Response, HttpError> {
    let Ok(input) = serde_json::from_slice::<PasskeyLogin>(&body) else {
        return Ok(json_error(
            StatusCode::BAD_REQUEST,
            "malformed passkey response",
        ));
    };
    let params = RawParams::from_pairs([
        ("tx".to_owned(), input.tx.clone()),
        ("csrf".to_owned(), input.csrf.clone()),
    ])
    .map_err(|e| IdpError::BadRequest(e.description))?;
    let mut tx = match tx_for_form(&idp, &jar, &params, &ip).await {
        Ok(tx) => tx,
        Err(_) => {
            return Ok(json_error(
                StatusCode::FORBIDDEN,
                "login expired; start again",
            ));
        }
    };
    let result = passkey::login(
        &idp,
        &mut tx,
        &input.credential,
        cookie_value(&jar, SESSION_COOKIE),
        &ip,
    )
    .await
    .map_err(|e| HttpError::new(e, tx.lang))?;
    match result {
        LoginResult::Done {
            completion,
            session_cookie,
        } => {
            let redirect = match &completion {
                Completion::Redirect(url) => url.to_string(),
                Completion::Account | Completion::StepUpTooLow { .. } => "/account".to_owned(),
                Completion::LevelTooLow { back, .. } => back.to_string(),
            };
            let jar = jar.add(cookie(
                SESSION_COOKIE,
                session_cookie,
                idp.config.secure_cookies,
                None,
            ));
            Ok((jar, Json(serde_json::json!({ "redirect": redirect }))).into_response())
        }
        LoginResult::Failed(failure) => Ok(json_error(
            StatusCode::UNAUTHORIZED,
            failure_text(texts(tx.lang), failure),
        )),
    }
}

/// `POST /login/app/start`: sends the request to the app and shows the number.
pub async fn app_start(
    State(idp): State<Arc<Idp>>,
    ClientIp(ip): ClientIp,
    jar: CookieJar,
    body: Bytes,
) -> Result<Response, HttpError> {
    let form = form(&body)?;
    let mut tx = tx_for_form(&idp, &jar, &form, &ip).await?;
    let service = tx.service(&idp).unwrap_or("MitID").to_owned();
    match app::start(&idp, &mut tx, &service)
        .await
        .map_err(|e| HttpError::new(e, tx.lang))?
    {
        Ok(req) => Ok(render(
            StatusCode::OK,
            &AppWaitPage {
                t: texts(tx.lang),
                tx: &tx.id,
                csrf: &tx.csrf,
                number: req.number,
                error: None,
                service: tx.service(&idp),
            },
        )),
        Err(failure) => methods_page(&idp, &tx, Some(failure_text(texts(tx.lang), failure))).await,
    }
}

/// `GET /login/app/status?tx=…` (JSON for the waiting page's script).
pub async fn app_status(
    State(idp): State<Arc<Idp>>,
    jar: CookieJar,
    Query(q): Query<TxQuery>,
) -> Response {
    let status = match LoginTx::load(&idp, &q.tx, cookie_value(&jar, BROWSER_COOKIE)).await {
        Ok(tx) => app::status(&idp, &tx).await.unwrap_or(app::Status::Expired),
        Err(_) => app::Status::Expired,
    };
    (
        [(axum::http::header::CACHE_CONTROL, "no-store")],
        Json(serde_json::json!({ "status": status })),
    )
        .into_response()
}

/// `POST /login/app/finish`.
pub async fn app_finish(
    State(idp): State<Arc<Idp>>,
    ClientIp(ip): ClientIp,
    jar: CookieJar,
    body: Bytes,
) -> Result<Response, HttpError> {
    let form = form(&body)?;
    let tx = tx_for_form(&idp, &jar, &form, &ip).await?;
    let t = texts(tx.lang);
    match app::finish(&idp, &tx, cookie_value(&jar, SESSION_COOKIE), &ip)
        .await
        .map_err(|e| HttpError::new(e, tx.lang))?
    {
        Ok(result) => answer(&idp, jar, &tx, result).await,
        Err(app::Status::Pending) => {
            let number = match &tx.app_request {
                Some(id) => app::load(&idp, id).await?.map_or(0, |r| r.number),
                None => 0,
            };
            Ok(render(
                StatusCode::OK,
                &AppWaitPage {
                    t,
                    tx: &tx.id,
                    csrf: &tx.csrf,
                    number,
                    error: Some(t.app_pending),
                    service: tx.service(&idp),
                },
            ))
        }
        Err(app::Status::Refused) => {
            idp.audit(
                idp.event("login.failure", AuditOutcome::Failure)
                    .ip(&ip)
                    .detail("method", "app")
                    .detail("reason", "refused in the app"),
            )
            .await?;
            methods_page(&idp, &tx, Some(t.app_refused)).await
        }
        Err(_) => methods_page(&idp, &tx, Some(t.app_expired)).await,
    }
}

/// `POST /login/cancel`: the person gives up; the client gets `access_denied`.
pub async fn cancel(
    State(idp): State<Arc<Idp>>,
    ClientIp(ip): ClientIp,
    jar: CookieJar,
    body: Bytes,
) -> Result<Response, HttpError> {
    let form = form(&body)?;
    let tx = tx_for_form(&idp, &jar, &form, &ip).await?;
    tx.finish(&idp).await?;
    Ok(match oidc_request(&tx) {
        Some(req) => {
            Redirect::to(access_denied(&idp, req, "the person cancelled the login")?.as_str())
                .into_response()
        }
        None => Redirect::to("/").into_response(),
    })
}
