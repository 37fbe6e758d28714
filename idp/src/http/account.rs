//! Activation and the person's self-service pages ("My MitID").

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use eid_core::ports::RemoveOutcome;
use eid_core::{AuditOutcome, Authenticator, AuthenticatorKind, Person};
use eid_web::Lang;
use serde::Deserialize;
use std::sync::Arc;

use super::error::HttpError;
use super::pages::{
    AccountPage, ActivatePage, AuthenticatorView, CodeDisplayEnrolment, EventView, MessagePage,
    TimeView, render,
};
use super::request::{
    BROWSER_COOKIE, ClientIp, SESSION_COOKIE, accept_language, browser_cookie, check_csrf,
    client_ip_of, cookie_value, csrf_for, form, removal,
};
use crate::activity;
use crate::flow::account::{self, AccountChange, Permission};
use crate::flow::enrol::{self, ActivationError};
use crate::flow::session::IdpSession;
use crate::flow::tx::{LoginTx, Purpose};
use crate::flow::{IdpError, app, passkey};
use crate::levels::achieved;
use crate::state::Idp;
use crate::texts::{Texts, texts};
use crate::totp;

/// `GET /`: where to go.
pub async fn landing(headers: HeaderMap) -> Response {
    let t = texts(accept_language(&headers));
    render(
        StatusCode::OK,
        &MessagePage {
            t,
            title: t.service,
            body: t.activate_intro,
            next: t.app_pair_intro,
            link: Some(("/account", t.account_title)),
        },
    )
}

/// What the account page shows besides the person's data.
#[derive(Default)]
struct Extras {
    notice: Option<&'static str>,
    error: Option<&'static str>,
    pairing_code: Option<String>,
}

/// The pending code-display secret to show: only to the session that started the enrolment, and
/// only while it may add a code display (a fresh login at the level); otherwise none.
async fn code_display_secret(idp: &Idp, who: &LoggedIn) -> Result<Option<Vec<u8>>, IdpError> {
    let now = idp.clock.now().unix_timestamp();
    let change = AccountChange::AddCodeDisplay;
    let levels = &idp.config.levels;
    if account::permission(&who.session, who.person.ial, change, levels, now) != Permission::Allowed
    {
        return Ok(None);
    }
    enrol::pending_code_display(idp, who.person.id, &who.session.sid).await
}

/// How many of the person's authenticators are of `kind`.
fn count_of(authenticators: &[Authenticator], kind: AuthenticatorKind) -> usize {
    authenticators.iter().filter(|a| a.kind == kind).count()
}

/// The person's authenticators as the page shows them: each with a name (the one the person gave,
/// else the kind's, numbered among the unnamed of its kind), its kind and level, and local times.
fn authenticator_views(
    idp: &Idp,
    lang: Lang,
    person: &Person,
    authenticators: &[Authenticator],
) -> Vec<AuthenticatorView> {
    authenticators
        .iter()
        .map(|a| {
            let unnamed: Vec<&Authenticator> = authenticators
                .iter()
                .filter(|b| b.kind == a.kind && activity::is_unnamed(&b.label))
                .collect();
            let nth = unnamed
                .iter()
                .position(|b| b.id == a.id)
                .map_or(1, |i| i + 1);
            AuthenticatorView {
                id: a.id.to_string(),
                kind: activity::kind_name(lang, a.kind),
                label: activity::shown_label(lang, a.kind, &a.label, nth, unnamed.len()),
                renamable: a.kind != AuthenticatorKind::Password,
                level: achieved(person.ial, idp.config.levels.aal(a.kind)).name(lang),
                added: TimeView::new(a.created_at, lang),
                last_used: a.last_used_at.map(|at| TimeView::new(at, lang)),
            }
        })
        .collect()
}

/// How many of the person's latest audit events My MitID shows.
const EVENTS_SHOWN: u32 = 10;

async fn account_page(
    idp: &Idp,
    lang: Lang,
    who: &LoggedIn,
    extras: Extras,
) -> Result<Response, HttpError> {
    let t = texts(lang);
    let (session_cookie, person) = (who.cookie.as_str(), &who.person);
    let authenticators = idp.authenticators.authenticators(person.id).await?;
    let has_password = authenticators
        .iter()
        .any(|a| a.kind == AuthenticatorKind::Password);
    let totp_secret = code_display_secret(idp, who).await?;
    let account = person.user_id.clone().unwrap_or_default();
    let events = idp.audit_log.for_person(person.id, EVENTS_SHOWN).await?;
    let client_name = |id: &str| idp.clients.get(id).map(|c| c.client_name.clone());
    let w = activity::words(lang);
    let page = AccountPage {
        t,
        w,
        csrf: &csrf_for(session_cookie),
        name: format!("{} {}", person.given_name, person.family_name),
        user_id: account.clone(),
        notice: extras.notice,
        error: extras.error,
        authenticators: authenticator_views(idp, lang, person, &authenticators),
        has_password,
        code_display: totp_secret.as_deref().map(|s| CodeDisplayEnrolment {
            qr_svg: eid_web::qr::svg(&totp::otpauth_uri(s, t.service, &account), w.qr_name),
            secret: eid_web::qr::grouped(&totp::secret_base32(s)),
            default_label: activity::default_label(
                lang,
                AuthenticatorKind::CodeDisplay,
                count_of(&authenticators, AuthenticatorKind::CodeDisplay) + 1,
            ),
        }),
        passkey_label: activity::default_label(
            lang,
            AuthenticatorKind::Passkey,
            count_of(&authenticators, AuthenticatorKind::Passkey) + 1,
        ),
        pairing_code: extras.pairing_code,
        events: events
            .iter()
            .map(|e| EventView {
                when: TimeView::new(e.at, lang),
                what: activity::sentence(lang, e, &client_name),
                refused: e.outcome == AuditOutcome::Failure,
            })
            .collect(),
    };
    Ok(render(
        if extras.error.is_some() {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::OK
        },
        &page,
    ))
}

/// A logged-in person: their session cookie, session and register entry.
struct LoggedIn {
    cookie: String,
    session: IdpSession,
    person: Person,
}

/// The logged-in person of a request.
async fn logged_in(idp: &Idp, jar: &CookieJar) -> Result<Option<LoggedIn>, IdpError> {
    let Some(cookie) = cookie_value(jar, SESSION_COOKIE) else {
        return Ok(None);
    };
    let Some(session) = IdpSession::find(idp, Some(cookie)).await? else {
        return Ok(None);
    };
    let Some(person) = idp.persons.person(session.person).await? else {
        return Ok(None);
    };
    Ok(Some(LoggedIn {
        cookie: cookie.to_owned(),
        session,
        person,
    }))
}

/// Whether the session may make `change` now; if not, a step-up login is started and its address
/// returned (with the browser cookie it is bound to).
async fn check_change(
    idp: &Idp,
    jar: CookieJar,
    who: &LoggedIn,
    change: AccountChange,
    lang: Lang,
) -> Result<Option<(CookieJar, String)>, IdpError> {
    let now = idp.clock.now().unix_timestamp();
    match account::permission(
        &who.session,
        who.person.ial,
        change,
        &idp.config.levels,
        now,
    ) {
        Permission::Allowed => Ok(None),
        Permission::StepUp(required) => {
            let (jar, browser) = browser_cookie(jar, idp.config.secure_cookies);
            let tx =
                account::start_step_up(idp, &who.person, change, required, &browser, lang).await?;
            Ok(Some((jar, format!("/login?tx={tx}"))))
        }
    }
}

/// A self-service form post: a logged-in person, the page language and a valid CSRF token (a
/// missing or wrong token is audited and refused).
pub struct AccountForm {
    idp: Arc<Idp>,
    lang: Lang,
    jar: CookieJar,
    who: LoggedIn,
    form: eid_oidc::RawParams,
}

impl FromRequest<Arc<Idp>> for AccountForm {
    type Rejection = HttpError;

    async fn from_request(req: axum::extract::Request, idp: &Arc<Idp>) -> Result<Self, HttpError> {
        let (parts, body) = req.into_parts();
        let lang = accept_language(&parts.headers);
        let ip = client_ip_of(&parts, &idp.config.trusted_proxies);
        let jar = CookieJar::from_headers(&parts.headers);
        let body = axum::body::to_bytes(body, eid_web::layers::BODY_LIMIT)
            .await
            .map_err(|_| HttpError::new(IdpError::BadRequest("body too large".into()), lang))?;
        let form = form(&body).map_err(|e| HttpError::new(e, lang))?;
        let Some(who) = logged_in(idp, &jar)
            .await
            .map_err(|e| HttpError::new(e, lang))?
        else {
            return Err(HttpError::new(IdpError::TxExpired, lang));
        };
        if check_csrf(&form, Some(&who.cookie)).is_err() {
            idp.audit(
                idp.event("form.csrf_rejected", AuditOutcome::Failure)
                    .person(who.person.id)
                    .ip(&ip)
                    .detail("form", "account"),
            )
            .await?;
            return Err(HttpError::new(IdpError::Csrf, lang));
        }
        Ok(AccountForm {
            idp: idp.clone(),
            lang,
            jar,
            who,
            form,
        })
    }
}

impl AccountForm {
    /// `None` when the session may make `change` now; otherwise the redirect to a step-up login.
    async fn step_up(&self, change: AccountChange) -> Result<Option<Response>, HttpError> {
        let step_up = check_change(&self.idp, self.jar.clone(), &self.who, change, self.lang)
            .await
            .map_err(|e| HttpError::new(e, self.lang))?;
        Ok(step_up.map(|(jar, to)| (jar, Redirect::to(&to)).into_response()))
    }

    /// The account page again, with a notice, an error or a pairing code.
    async fn page(&self, extras: Extras) -> Result<Response, HttpError> {
        account_page(&self.idp, self.lang, &self.who, extras).await
    }

    /// The account page again with an error message.
    async fn error(
        &self,
        message: fn(&'static Texts) -> &'static str,
    ) -> Result<Response, HttpError> {
        let error = Some(message(texts(self.lang)));
        self.page(Extras {
            error,
            ..Extras::default()
        })
        .await
    }
}

impl AccountForm {
    /// The account page again with an error message of My MitID's own words.
    async fn error_w(
        &self,
        message: fn(&'static activity::AccountWords) -> &'static str,
    ) -> Result<Response, HttpError> {
        let error = Some(message(activity::words(self.lang)));
        self.page(Extras {
            error,
            ..Extras::default()
        })
        .await
    }
}

/// Notices shown after a redirect.
#[derive(Debug, Deserialize)]
pub struct Done {
    done: Option<String>,
}

/// `GET /account`: the overview, or a login first.
pub async fn overview(
    State(idp): State<Arc<Idp>>,
    jar: CookieJar,
    headers: HeaderMap,
    Query(done): Query<Done>,
) -> Result<Response, HttpError> {
    let lang = accept_language(&headers);
    match logged_in(&idp, &jar)
        .await
        .map_err(|e| HttpError::new(e, lang))?
    {
        Some(who) => {
            let t = texts(lang);
            let notice = match done.done.as_deref() {
                Some("added") => Some(t.added_ok),
                Some("removed") => Some(t.removed),
                Some("password") => Some(t.password_changed),
                Some("renamed") => Some(activity::words(lang).renamed),
                _ => None,
            };
            account_page(
                &idp,
                lang,
                &who,
                Extras {
                    notice,
                    ..Extras::default()
                },
            )
            .await
        }
        None => {
            let (jar, browser) = browser_cookie(jar, idp.config.secure_cookies);
            let tx = LoginTx::new(Purpose::Account, &browser, lang);
            tx.save(&idp).await?;
            Ok((jar, Redirect::to(&format!("/login?tx={}", tx.id))).into_response())
        }
    }
}

/// `POST /account/logout`.
pub async fn logout(jar: CookieJar, account: AccountForm) -> Result<Response, HttpError> {
    let idp = &account.idp;
    IdpSession::end(idp, &account.who.cookie).await?;
    idp.audit(
        idp.event("logout", AuditOutcome::Success)
            .person(account.who.person.id),
    )
    .await?;
    let jar = jar.add(removal(SESSION_COOKIE, idp.config.secure_cookies));
    Ok((jar, Redirect::to("/")).into_response())
}

/// `POST /account/remove`.
pub async fn remove(account: AccountForm) -> Result<Response, HttpError> {
    if let Some(step_up) = account.step_up(AccountChange::Remove).await? {
        return Ok(step_up);
    }
    let id = account
        .form
        .get("id")
        .and_then(|id| uuid::Uuid::parse_str(id).ok())
        .ok_or_else(|| HttpError::new(IdpError::BadRequest("id".into()), account.lang))?;
    match enrol::remove(&account.idp, account.who.person.id, id).await? {
        RemoveOutcome::Removed => Ok(Redirect::to("/account?done=removed").into_response()),
        RemoveOutcome::RefusedLast => account.error(|t| t.remove_last_refused).await,
        RemoveOutcome::NotFound => Err(HttpError::new(
            IdpError::BadRequest("no such authenticator".into()),
            account.lang,
        )),
    }
}

/// `POST /account/password`: sets (adds or changes) the password.
pub async fn set_password(account: AccountForm) -> Result<Response, HttpError> {
    if let Some(step_up) = account.step_up(AccountChange::SetPassword).await? {
        return Ok(step_up);
    }
    let new_password = account.form.get("password").unwrap_or_default();
    if crate::password::check_strength(new_password).is_err() {
        return account.error(|t| t.activation_weak).await;
    }
    enrol::set_password(&account.idp, account.who.person.id, new_password).await?;
    Ok(Redirect::to("/account?done=password").into_response())
}

/// `POST /account/code-display/start`.
pub async fn code_display_start(account: AccountForm) -> Result<Response, HttpError> {
    if let Some(step_up) = account.step_up(AccountChange::AddCodeDisplay).await? {
        return Ok(step_up);
    }
    let who = &account.who;
    enrol::start_code_display(&account.idp, who.person.id, &who.session.sid).await?;
    account.page(Extras::default()).await
}

/// `POST /account/code-display/confirm`.
pub async fn code_display_confirm(account: AccountForm) -> Result<Response, HttpError> {
    if let Some(step_up) = account.step_up(AccountChange::AddCodeDisplay).await? {
        return Ok(step_up);
    }
    let code = account.form.get("code").unwrap_or_default();
    let who = &account.who;
    let (person, sid) = (who.person.id, who.session.sid.as_str());
    // No name given: the kind's name, numbered ("Kodeviser 2"); a bad name is refused.
    let label = match account.form.get("label") {
        None => {
            let held = account.idp.authenticators.authenticators(person).await?;
            activity::default_label(
                account.lang,
                AuthenticatorKind::CodeDisplay,
                count_of(&held, AuthenticatorKind::CodeDisplay) + 1,
            )
        }
        Some(given) => match Authenticator::normalise_label(given) {
            Ok(label) => label,
            Err(_) => return account.error_w(|w| w.bad_name).await,
        },
    };
    if enrol::confirm_code_display(&account.idp, person, sid, code, &label).await? {
        Ok(Redirect::to("/account?done=added").into_response())
    } else {
        account.error(|t| t.wrong_code).await
    }
}

/// `POST /account/rename`: gives one of the person's authenticators a name (1 to 40 printable
/// characters). Needs the same fresh login as other changes; audited (the kind, not the name).
pub async fn rename(account: AccountForm) -> Result<Response, HttpError> {
    if let Some(step_up) = account.step_up(AccountChange::Rename).await? {
        return Ok(step_up);
    }
    let no_such = || {
        HttpError::new(
            IdpError::BadRequest("no such authenticator".into()),
            account.lang,
        )
    };
    let id = account
        .form
        .get("id")
        .and_then(|id| uuid::Uuid::parse_str(id).ok())
        .ok_or_else(no_such)?;
    let Ok(label) = Authenticator::normalise_label(account.form.get("label").unwrap_or_default())
    else {
        return account.error_w(|w| w.bad_name).await;
    };
    if enrol::rename(&account.idp, account.who.person.id, id, &label).await? {
        Ok(Redirect::to("/account?done=renamed").into_response())
    } else {
        Err(no_such())
    }
}

/// `POST /account/app/pairing-code`.
pub async fn pairing_code(account: AccountForm) -> Result<Response, HttpError> {
    if let Some(step_up) = account.step_up(AccountChange::PairApp).await? {
        return Ok(step_up);
    }
    let code = app::new_pairing_code(&account.idp, account.who.person.id).await?;
    account
        .page(Extras {
            pairing_code: Some(code),
            ..Extras::default()
        })
        .await
}

#[derive(Deserialize)]
struct CsrfJson {
    #[serde(default)]
    csrf: String,
}

#[derive(Deserialize)]
struct PasskeyRegistration {
    #[serde(default)]
    csrf: String,
    label: String,
    credential: webauthn_rs::prelude::RegisterPublicKeyCredential,
}

fn json_error(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "message": message }))).into_response()
}

/// A passkey enrolment request of a logged-in person whose login is fresh and high enough: the
/// person, or the JSON answer to give instead (log in again, or a step-up login to go to).
async fn passkey_session(
    idp: &Idp,
    jar: CookieJar,
    headers: &HeaderMap,
    csrf: &str,
) -> Result<Result<Person, Response>, IdpError> {
    let lang = accept_language(headers);
    let Some(who) = logged_in(idp, &jar).await? else {
        return Ok(Err(json_error(StatusCode::FORBIDDEN, "log in again")));
    };
    let params = eid_oidc::RawParams::from_pairs([("csrf".to_owned(), csrf.to_owned())])
        .map_err(|e| IdpError::BadRequest(e.description))?;
    if check_csrf(&params, Some(&who.cookie)).is_err() {
        idp.audit(
            idp.event("form.csrf_rejected", AuditOutcome::Failure)
                .person(who.person.id)
                .detail("form", "passkey_enrolment"),
        )
        .await?;
        return Ok(Err(json_error(StatusCode::FORBIDDEN, "log in again")));
    }
    match check_change(idp, jar, &who, AccountChange::EnrolPasskey, lang).await? {
        None => Ok(Ok(who.person)),
        Some((jar, to)) => {
            let t = texts(lang);
            let body = serde_json::json!({ "message": t.step_up_title, "redirect": to });
            Ok(Err(
                (jar, (StatusCode::FORBIDDEN, Json(body))).into_response()
            ))
        }
    }
}

/// `POST /account/passkey/options` (JSON).
pub async fn passkey_options(
    State(idp): State<Arc<Idp>>,
    jar: CookieJar,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, HttpError> {
    let Ok(input) = serde_json::from_slice::<CsrfJson>(&body) else {
        return Ok(json_error(StatusCode::BAD_REQUEST, "malformed request"));
    };
    let person = match passkey_session(&idp, jar, &headers, &input.csrf).await? {
        Ok(person) => person,
        Err(answer) => return Ok(answer),
    };
    Ok(Json(passkey::registration_options(&idp, &person).await?).into_response())
}

/// `POST /account/passkey` (JSON).
pub async fn passkey_register(
    State(idp): State<Arc<Idp>>,
    jar: CookieJar,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, HttpError> {
    let Ok(input) = serde_json::from_slice::<PasskeyRegistration>(&body) else {
        return Ok(json_error(
            StatusCode::BAD_REQUEST,
            "malformed passkey response",
        ));
    };
    let person = match passkey_session(&idp, jar, &headers, &input.csrf).await? {
        Ok(person) => person,
        Err(answer) => return Ok(answer),
    };
    // No name given: "Sikkerhedsnøgle 2"; a bad name is refused before anything is stored.
    let label = if input.label.trim().is_empty() {
        let held = idp.authenticators.authenticators(person.id).await?;
        activity::default_label(
            accept_language(&headers),
            AuthenticatorKind::Passkey,
            count_of(&held, AuthenticatorKind::Passkey) + 1,
        )
    } else {
        match Authenticator::normalise_label(&input.label) {
            Ok(label) => label,
            Err(_) => {
                let w = activity::words(accept_language(&headers));
                return Ok(json_error(StatusCode::BAD_REQUEST, w.bad_name));
            }
        }
    };
    match passkey::register(&idp, &person, &input.credential, &label).await? {
        Ok(_) => Ok(Json(serde_json::json!({ "redirect": "/account?done=added" })).into_response()),
        Err(reason) => Ok(json_error(StatusCode::BAD_REQUEST, &reason)),
    }
}

/// `GET /activate`.
pub async fn activate_page(
    State(idp): State<Arc<Idp>>,
    jar: CookieJar,
    headers: HeaderMap,
) -> Response {
    let (jar, browser) = browser_cookie(jar, idp.config.secure_cookies);
    let page = ActivatePage {
        t: texts(accept_language(&headers)),
        csrf: &csrf_for(&browser),
        error: None,
        cpr: "",
        user_id: "",
    };
    (jar, render(StatusCode::OK, &page)).into_response()
}

/// `POST /activate`.
pub async fn activate(
    State(idp): State<Arc<Idp>>,
    ClientIp(ip): ClientIp,
    jar: CookieJar,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, HttpError> {
    let lang = accept_language(&headers);
    let t = texts(lang);
    let form = form(&body).map_err(|e| HttpError::new(e, lang))?;
    let browser = cookie_value(&jar, BROWSER_COOKIE);
    if check_csrf(&form, browser).is_err() {
        idp.audit(
            idp.event("form.csrf_rejected", AuditOutcome::Failure)
                .ip(&ip)
                .detail("form", "activate"),
        )
        .await?;
        return Err(HttpError::new(IdpError::Csrf, lang));
    }
    let result = enrol::activate(
        &idp,
        form.get("cpr").unwrap_or_default(),
        form.get("code").unwrap_or_default(),
        form.get("user_id").unwrap_or_default(),
        form.get("password").unwrap_or_default(),
        &ip,
    )
    .await
    .map_err(|e| HttpError::new(e, lang))?;
    match result {
        Ok(_) => Ok(render(
            StatusCode::OK,
            &MessagePage {
                t,
                title: t.activate_title,
                body: t.activated,
                next: "",
                link: Some(("/account", t.account_title)),
            },
        )),
        Err(e) => {
            let error = match e {
                ActivationError::WrongCode => t.activation_wrong,
                ActivationError::AlreadyActive => t.activation_already,
                ActivationError::BadUserId => t.activation_bad_user_id,
                ActivationError::UserIdTaken => t.activation_taken,
                ActivationError::WeakPassword => t.activation_weak,
                ActivationError::Locked => t.user_locked,
            };
            let csrf = csrf_for(browser.unwrap_or_default());
            // The CPR number and the chosen user ID come back (bounded; the template escapes
            // them), the code and the password never.
            let kept = |name: &str, max: usize| {
                let value = form.get(name).unwrap_or_default().trim();
                if value.chars().count() <= max && !value.chars().any(char::is_control) {
                    value
                } else {
                    ""
                }
            };
            Ok(render(
                StatusCode::BAD_REQUEST,
                &ActivatePage {
                    t,
                    csrf: &csrf,
                    error: Some(error),
                    cpr: kept("cpr", 11),
                    user_id: kept("user_id", 64),
                },
            ))
        }
    }
}
