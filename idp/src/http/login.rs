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
    AppWaitPage, HelpForgottenPage, KnowledgeView, LevelTooLowPage, LoginMethodsPage,
    LoginUserPage, MethodView, SessionOffer, StepUpPage, render,
};
use super::request::{BROWSER_COOKIE, ClientIp, SESSION_COOKIE, cookie, cookie_value, form};
use crate::flow::complete::{Completion, access_denied, level_not_reached};
use crate::flow::login::{self, Enrolment, Failure, LoginResult};
use crate::flow::oidc::{self, oidc_request};
use crate::flow::tx::{LoginTx, Purpose};
use crate::flow::{IdpError, app, passkey};
use crate::levels::{Advice, achieved};
use crate::state::Idp;
use crate::texts::{Texts, texts};

/// The `tx` query parameter.
#[derive(Debug, Deserialize)]
pub struct TxQuery {
    tx: String,
}

fn failure_text(t: &'static Texts, f: Failure) -> String {
    let with_left = |text: &str, left: Option<u64>| match left {
        None => text.to_owned(),
        Some(1) => format!("{text} {}", t.attempts_left_one),
        Some(n) => format!("{text} {}", t.attempts_left.replace("{n}", &n.to_string())),
    };
    match f {
        Failure::UnknownUser => t.unknown_user.to_owned(),
        Failure::WrongCredentials => t.wrong_credentials.to_owned(),
        Failure::WrongPassword { left } => with_left(t.wrong_password, left),
        Failure::WrongPasswordOrCode { left } => with_left(t.wrong_password_or_code, left),
        Failure::UserLocked => t.user_locked.to_owned(),
        Failure::IpBlocked => t.ip_blocked.to_owned(),
        Failure::NotEnrolled => t.not_enrolled.to_owned(),
        Failure::PasskeyRefused => t.passkey_refused.to_owned(),
        Failure::AppRateLimited => t.app_too_many.to_owned(),
    }
}

/// A method's name inside a sentence ("Fortsæt som Anna (adgangskode)"): lowercased, except a
/// name that starts with a proper noun (MitID).
fn in_sentence(name: &str) -> String {
    if name.starts_with("MitID") {
        return name.to_owned();
    }
    let mut chars = name.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_lowercase().chain(chars).collect()
    })
}

fn method_name(t: &'static Texts, m: AuthenticatorKind) -> &'static str {
    match m {
        AuthenticatorKind::Password => t.method_password,
        AuthenticatorKind::CodeDisplay => t.method_code_display,
        AuthenticatorKind::App => t.method_app,
        AuthenticatorKind::Passkey => t.method_passkey,
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
    error: Option<String>,
    session_cookie: Option<&str>,
) -> Result<Response, HttpError> {
    let t = texts(tx.lang);
    let Some(enrolment) = Enrolment::of_tx(idp, tx).await? else {
        return Err(HttpError::new(IdpError::TxExpired, tx.lang));
    };
    let ial = enrolment.person.ial;
    let levels = &idp.config.levels;
    // A step-up login offers only the methods that reach the level the change needs.
    let step_up = tx.step_up;
    // The methods offered reach the level the login needs: the change's (a step-up) or the
    // client's; the level-too-low page below covers a person none of whose methods does.
    let needed = step_up.or(oidc_request(tx).and_then(|r| r.acr_min));
    let reaches = |m: AuthenticatorKind| {
        needed.is_none_or(|required| achieved(ial, levels.aal(m)) >= required)
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
    let offered: Vec<AuthenticatorKind> = enrolment
        .methods()
        .into_iter()
        .filter(|m| reaches(*m))
        .collect();
    let level_of = |m: AuthenticatorKind| achieved(ial, levels.aal(m)).name(tx.lang);
    // When no method reaches the level the client requires, say so at once.
    if let Some(req) = oidc_request(tx)
        && let Some(required) = req.acr_min
    {
        let best = enrolment.best(levels);
        if best.is_none_or(|b| b < required) {
            if !tx.finish(idp).await? {
                return Err(HttpError::new(IdpError::TxExpired, tx.lang));
            }
            let advice = enrolment.advice(levels, required);
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
    // A live session that satisfies the request is offered first ("Continue as Anna").
    let session = match oidc::offered_session(idp, tx, session_cookie).await? {
        Some(session) => Some(SessionOffer {
            label: t
                .continue_as
                .replace("{name}", &enrolment.person.given_name)
                .replace("{method}", &in_sentence(method_name(t, session.method))),
            level: session.loa.name(tx.lang),
        }),
        None => None,
    };
    // A locked person is told before typing a secret again, and offered no form.
    let locked = idp
        .config
        .lockout
        .user_locked(idp.ephemeral.as_ref(), enrolment.person.id)
        .await?;
    let error = match (error, locked) {
        (Some(error), _) => Some(error),
        (None, true) => Some(t.user_locked.to_owned()),
        (None, false) => None,
    };
    let has = |k| offered.contains(&k);
    // The one knowledge form takes the focus when it is the first method offered.
    let autofocus = matches!(
        offered.first(),
        Some(AuthenticatorKind::Password | AuthenticatorKind::CodeDisplay)
    );
    let knowledge = if locked {
        None
    } else {
        match (
            has(AuthenticatorKind::Password),
            has(AuthenticatorKind::CodeDisplay),
        ) {
            (false, false) => None,
            (true, false) => Some(KnowledgeView {
                name: t.method_password,
                level: format!("{}: {}", t.level, level_of(AuthenticatorKind::Password)),
                code: false,
                code_required: false,
                autofocus,
            }),
            (false, true) => Some(KnowledgeView {
                name: t.method_code_display,
                level: format!("{}: {}", t.level, level_of(AuthenticatorKind::CodeDisplay)),
                code: true,
                code_required: true,
                autofocus,
            }),
            (true, true) => Some(KnowledgeView {
                name: t.method_code_display,
                level: t
                    .levels_password_code
                    .replace("{password}", level_of(AuthenticatorKind::Password))
                    .replace("{code}", level_of(AuthenticatorKind::CodeDisplay)),
                code: true,
                code_required: false,
                autofocus,
            }),
        }
    };
    let methods: Vec<MethodView> = if locked {
        Vec::new()
    } else {
        offered
            .iter()
            .filter(|m| matches!(m, AuthenticatorKind::Passkey | AuthenticatorKind::App))
            .map(|m| MethodView {
                kind: m.as_str(),
                name: method_name(t, *m),
                level: level_of(*m),
            })
            .collect()
    };
    let heading = if session.is_none() && !locked && offered.len() > 1 {
        t.choose_method
    } else {
        t.login_title
    };
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
            heading,
            methods,
            knowledge,
            error: error.as_deref(),
            step_up: step_up.map(|l| l.name(tx.lang)),
            session,
            not_you: step_up.is_none() && matches!(tx.purpose, Purpose::Oidc(_)),
            lang: t.lang,
        },
    ))
}

/// The user-ID page; `typed` is what the person entered (kept in the field after an error).
fn user_page(idp: &Idp, tx: &LoginTx, failure: Option<Failure>, typed: Option<&str>) -> Response {
    let hint = oidc_request(tx)
        .and_then(|r| r.login_hint.clone())
        .unwrap_or_default();
    // What was typed is shown again, bounded like the step that read it.
    let typed: Option<String> = typed.map(|v| v.trim().chars().take(64).collect());
    let t = texts(tx.lang);
    let error = failure.map(|f| failure_text(t, f));
    render(
        if error.is_some() {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::OK
        },
        &LoginUserPage {
            t,
            tx: &tx.id,
            csrf: &tx.csrf,
            service: tx.service(idp),
            error: error.as_deref(),
            unknown_user: failure == Some(Failure::UnknownUser),
            login_hint: typed.as_deref().unwrap_or(&hint),
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
        methods_page(&idp, &tx, None, cookie_value(&jar, SESSION_COOKIE)).await
    } else {
        Ok(user_page(&idp, &tx, None, None))
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
        Some(failure) => Ok(user_page(&idp, &tx, Some(failure), Some(user_id))),
    }
}

/// `POST /login/restart`: "Not you?" — the same login starts over with another user ID (never in a
/// step-up, which is bound to the person whose account changes).
pub async fn restart(
    State(idp): State<Arc<Idp>>,
    ClientIp(ip): ClientIp,
    jar: CookieJar,
    body: Bytes,
) -> Result<Response, HttpError> {
    let form = form(&body)?;
    let mut tx = tx_for_form(&idp, &jar, &form, &ip).await?;
    if tx.step_up.is_some() || !matches!(tx.purpose, Purpose::Oidc(_)) {
        return Err(HttpError::new(
            IdpError::BadRequest("this login cannot change the person".into()),
            tx.lang,
        ));
    }
    tx.person = None;
    tx.passkey_state = None;
    tx.app_request = None;
    tx.offer_session = false;
    tx.save(&idp).await?;
    Ok(Redirect::to(&format!("/login?tx={}", tx.id)).into_response())
}

/// `POST /login/continue`: the person continues with their live session ("Continue as Anna").
pub async fn continue_session(
    State(idp): State<Arc<Idp>>,
    ClientIp(ip): ClientIp,
    jar: CookieJar,
    body: Bytes,
) -> Result<Response, HttpError> {
    let form = form(&body)?;
    let mut tx = tx_for_form(&idp, &jar, &form, &ip).await?;
    let session_cookie = cookie_value(&jar, SESSION_COOKIE);
    match oidc::continue_session(&idp, &tx, session_cookie, &ip)
        .await
        .map_err(|e| HttpError::new(e, tx.lang))?
    {
        Some(completion) => Ok(completion_response(completion, tx.lang, tx.service(&idp))),
        None => {
            // The session ended or no longer fits: the methods instead.
            tx.offer_session = false;
            tx.save(&idp).await?;
            methods_page(&idp, &tx, None, session_cookie).await
        }
    }
}

/// `POST /login/other`: the person wants another method than their live session's.
pub async fn other_method(
    State(idp): State<Arc<Idp>>,
    ClientIp(ip): ClientIp,
    jar: CookieJar,
    body: Bytes,
) -> Result<Response, HttpError> {
    let form = form(&body)?;
    let mut tx = tx_for_form(&idp, &jar, &form, &ip).await?;
    tx.offer_session = false;
    tx.save(&idp).await?;
    Ok(Redirect::to(&format!("/login?tx={}", tx.id)).into_response())
}

/// The query of the help page: its language, and the login to go back to.
#[derive(Debug, Deserialize)]
pub struct HelpQuery {
    lang: Option<String>,
    tx: Option<String>,
}

/// `GET /help/forgotten`: what to do about a forgotten user ID or password.
pub async fn help_forgotten(
    State(idp): State<Arc<Idp>>,
    jar: CookieJar,
    headers: axum::http::HeaderMap,
    Query(q): Query<HelpQuery>,
) -> Response {
    let lang = match q.lang.as_deref() {
        Some(tag) if tag.len() <= 8 => Lang::negotiate(Some(tag), None),
        _ => super::request::accept_language(&headers),
    };
    // The way back only to a login of this browser that is still going.
    let back = match q.tx.as_deref() {
        Some(id) => LoginTx::load(&idp, id, cookie_value(&jar, BROWSER_COOKIE))
            .await
            .ok()
            .map(|tx| tx.id),
        None => None,
    };
    render(
        StatusCode::OK,
        &HelpForgottenPage {
            t: texts(lang),
            back: back.as_deref(),
        },
    )
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
            let session = cookie_value(&jar, SESSION_COOKIE).map(str::to_owned);
            methods_page(
                idp,
                tx,
                Some(failure_text(texts(tx.lang), failure)),
                session.as_deref(),
            )
            .await
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
    // One form serves the password alone and with a code from the code display: a code given
    // makes it a code-display login.
    let password = form.get("password").unwrap_or_default();
    let result = match form.get("code").map(str::trim).filter(|c| !c.is_empty()) {
        Some(code) => {
            login::with_code_display(
                &idp,
                &tx,
                password,
                code,
                cookie_value(&jar, SESSION_COOKIE),
                &ip,
            )
            .await
        }
        None => {
            login::with_password(&idp, &tx, password, cookie_value(&jar, SESSION_COOKIE), &ip).await
        }
    }
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
            &failure_text(texts(tx.lang), failure),
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
    // The level shown on the phone: the one the login asks for (a step-up's or the client's),
    // else the one the app reaches for this person.
    let level = match tx.step_up.or(oidc_request(&tx).and_then(|r| r.acr_min)) {
        Some(level) => Some(level),
        None => Enrolment::of_tx(&idp, &tx)
            .await
            .map_err(|e| HttpError::new(e, tx.lang))?
            .map(|e| achieved(e.person.ial, idp.config.levels.aal(AuthenticatorKind::App))),
    };
    match app::start(&idp, &mut tx, &service, level)
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
                notice: None,
                service: tx.service(&idp),
                seconds_left: req.seconds_left(&idp),
            },
        )),
        Err(failure) => {
            methods_page(
                &idp,
                &tx,
                Some(failure_text(texts(tx.lang), failure)),
                cookie_value(&jar, SESSION_COOKIE),
            )
            .await
        }
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
            let req = match &tx.app_request {
                Some(id) => app::load(&idp, id).await?,
                None => None,
            };
            Ok(render(
                StatusCode::OK,
                &AppWaitPage {
                    t,
                    tx: &tx.id,
                    csrf: &tx.csrf,
                    number: req.as_ref().map_or(0, |r| r.number),
                    notice: Some(t.app_pending),
                    service: tx.service(&idp),
                    seconds_left: req.as_ref().map_or(0, |r| r.seconds_left(&idp)),
                },
            ))
        }
        Err(app::Status::Refused) => {
            let mut event = idp
                .event("login.failure", AuditOutcome::Failure)
                .ip(&ip)
                .detail("method", "app")
                .detail("reason", "refused in the app");
            if let Some(person) = tx.person {
                event = event.person(person);
            }
            idp.audit(event).await?;
            methods_page(
                &idp,
                &tx,
                Some(t.app_refused.to_owned()),
                cookie_value(&jar, SESSION_COOKIE),
            )
            .await
        }
        Err(_) => {
            let mut event = idp
                .event("login.failure", AuditOutcome::Failure)
                .ip(&ip)
                .detail("method", "app")
                .detail("reason", "app request expired");
            if let Some(person) = tx.person {
                event = event.person(person);
            }
            idp.audit(event).await?;
            methods_page(
                &idp,
                &tx,
                Some(t.app_expired.to_owned()),
                cookie_value(&jar, SESSION_COOKIE),
            )
            .await
        }
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
