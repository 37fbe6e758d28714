//! The page templates (askama, checked at compile time) and their rendering.

use askama::Template;

use crate::texts::Texts;

pub use eid_web::pages::render;

#[derive(Template)]
#[template(path = "login_user.html")]
pub struct LoginUserPage<'a> {
    pub t: &'static Texts,
    pub tx: &'a str,
    pub csrf: &'a str,
    pub service: Option<&'a str>,
    pub error: Option<&'static str>,
    pub login_hint: &'a str,
}

/// One login method on the methods page.
pub struct MethodView {
    pub kind: &'static str,
    pub name: &'static str,
    pub level: &'static str,
}

#[derive(Template)]
#[template(path = "login_methods.html")]
pub struct LoginMethodsPage<'a> {
    pub t: &'static Texts,
    pub tx: &'a str,
    pub csrf: &'a str,
    pub service: Option<&'a str>,
    pub user_id: &'a str,
    pub methods: Vec<MethodView>,
    pub error: Option<&'static str>,
    /// Why a step-up login is asked for, and the level it needs.
    pub step_up: Option<&'static str>,
}

/// A step-up login for an account change cannot reach, or did not reach, the level it needs.
#[derive(Template)]
#[template(path = "step_up.html")]
pub struct StepUpPage {
    pub t: &'static Texts,
    pub required: &'static str,
    pub achieved: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "app_wait.html")]
pub struct AppWaitPage<'a> {
    pub t: &'static Texts,
    pub tx: &'a str,
    pub csrf: &'a str,
    pub number: u8,
    pub error: Option<&'static str>,
    /// The service the person logs in to.
    pub service: Option<&'a str>,
}

/// The service asks for a level the person did not or cannot reach: which level it needs, which the
/// person reaches, and what would reach it for this person.
#[derive(Template)]
#[template(path = "level_too_low.html")]
pub struct LevelTooLowPage<'a> {
    pub t: &'static Texts,
    /// "The service requires level …".
    pub needs: String,
    /// "You reach level …", when the person has any method.
    pub reach: Option<String>,
    /// What would reach the level.
    pub advice: String,
    /// Whether My MitID is where to act on the advice.
    pub account_link: bool,
    pub back: &'a str,
    /// The service the person logs in to.
    pub service: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage<'a> {
    pub t: &'static Texts,
    pub title: &'a str,
    pub body: &'a str,
    pub next: &'a str,
    pub link: Option<(&'a str, &'a str)>,
}

/// One authenticator on the account page.
pub struct AuthenticatorView {
    pub id: String,
    pub kind: &'static str,
    pub label: String,
    pub added: String,
    pub last_used: String,
}

/// One login on the account page.
pub struct LoginView {
    pub when: String,
    pub what: String,
    pub result: &'static str,
}

#[derive(Template)]
#[template(path = "account.html")]
pub struct AccountPage<'a> {
    pub t: &'static Texts,
    pub csrf: &'a str,
    pub name: String,
    pub user_id: String,
    pub notice: Option<&'static str>,
    pub error: Option<&'static str>,
    pub authenticators: Vec<AuthenticatorView>,
    pub has_password: bool,
    pub totp_secret: Option<String>,
    pub totp_uri: String,
    pub pairing_code: Option<String>,
    pub logins: Vec<LoginView>,
}

#[derive(Template)]
#[template(path = "activate.html")]
pub struct ActivatePage<'a> {
    pub t: &'static Texts,
    pub csrf: &'a str,
    pub error: Option<&'static str>,
}

/// A pending request as the app shows it.
pub struct RequestView {
    pub id: String,
    pub service: String,
}

#[derive(Template)]
#[template(path = "app.html")]
pub struct AppPage<'a> {
    pub t: &'static Texts,
    pub csrf: &'a str,
    pub paired: bool,
    pub request: Option<RequestView>,
    pub notice: Option<&'static str>,
    pub error: Option<&'static str>,
}

/// The page asking the person to confirm a logout that did not name their session.
#[derive(Template)]
#[template(path = "logout_confirm.html")]
pub struct LogoutConfirmPage<'a> {
    pub t: &'static Texts,
    pub csrf: &'a str,
    pub service: Option<&'a str>,
    pub client_id: Option<&'a str>,
    pub post_logout_redirect_uri: Option<&'a str>,
    pub state: Option<&'a str>,
}
