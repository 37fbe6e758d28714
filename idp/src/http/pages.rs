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
    pub error: Option<&'a str>,
    /// The error is an unknown user ID: it links to the activation page.
    pub unknown_user: bool,
    /// The field's value: what the person typed, else the client's `login_hint`.
    pub login_hint: &'a str,
}

/// One login method on the methods page (the passkey and the app; the password and the code
/// display share one form, [`KnowledgeView`]).
pub struct MethodView {
    pub kind: &'static str,
    pub name: &'static str,
    pub level: &'static str,
}

/// The one form for the password, alone or with a code from the code display.
pub struct KnowledgeView {
    /// The section's heading.
    pub name: &'static str,
    /// The level line ("Sikringsniveau: Lav …").
    pub level: String,
    /// Whether a code field is shown.
    pub code: bool,
    /// Whether the code is required (the password alone is not offered).
    pub code_required: bool,
    /// Whether its password field gets the focus (it is the first method).
    pub autofocus: bool,
}

/// The offer of a live session: "Continue as Anna (password)".
pub struct SessionOffer {
    pub label: String,
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
    /// "Vælg…" with more than one method, else the login title.
    pub heading: &'static str,
    pub methods: Vec<MethodView>,
    pub knowledge: Option<KnowledgeView>,
    pub error: Option<&'a str>,
    /// Why a step-up login is asked for, and the level it needs.
    pub step_up: Option<&'static str>,
    /// A live session to continue with instead of the methods.
    pub session: Option<SessionOffer>,
    /// Whether "Not you?" may start over with another user ID (not in a step-up).
    pub not_you: bool,
    /// The language of the help page it links to.
    pub lang: &'static str,
}

/// What to do about a forgotten user ID or password.
#[derive(Template)]
#[template(path = "help_forgotten.html")]
pub struct HelpForgottenPage<'a> {
    pub t: &'static Texts,
    /// The login to go back to, if any.
    pub back: Option<&'a str>,
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
    /// A neutral note (the request is not approved yet), never an error.
    pub notice: Option<&'static str>,
    /// The service the person logs in to.
    pub service: Option<&'a str>,
    /// Seconds before the request expires.
    pub seconds_left: u64,
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
    /// The kind's name in the page's language ("Kodeviser").
    pub kind: &'static str,
    /// The name the person gave it, else the kind's name (numbered when there are several).
    pub label: String,
    /// Whether the person may name it (not the password).
    pub renamable: bool,
    /// The level of assurance it gives this person, in the page's language.
    pub level: &'static str,
    pub added: TimeView,
    pub last_used: Option<TimeView>,
}

/// A time on a page: machine-readable (`<time datetime>`) and as the person reads it.
pub struct TimeView {
    /// RFC 3339, UTC.
    pub iso: String,
    /// Copenhagen local time in the page's language ([`eid_web::display::local_time`]).
    pub local: String,
}

impl TimeView {
    pub fn new(at: time::OffsetDateTime, lang: eid_web::Lang) -> TimeView {
        TimeView {
            iso: at
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            local: eid_web::display::local_time(at, lang),
        }
    }
}

/// One event of the person's history on the account page, as a sentence.
pub struct EventView {
    pub when: TimeView,
    pub what: String,
    /// "Afvist" for a refusal; nothing for a success.
    pub refused: bool,
}

/// The code display being added: its QR code and its key for typing.
pub struct CodeDisplayEnrolment {
    /// Inline SVG from [`eid_web::qr::svg`] (markup; `None` if it could not be drawn).
    pub qr_svg: Option<String>,
    /// The key in groups of four.
    pub secret: String,
    /// The name the form suggests ("Kodeviser 2").
    pub default_label: String,
}

#[derive(Template)]
#[template(path = "account.html")]
pub struct AccountPage<'a> {
    pub t: &'static Texts,
    pub w: &'static crate::activity::AccountWords,
    pub csrf: &'a str,
    pub name: String,
    pub user_id: String,
    pub notice: Option<&'static str>,
    pub error: Option<&'static str>,
    pub authenticators: Vec<AuthenticatorView>,
    pub has_password: bool,
    pub code_display: Option<CodeDisplayEnrolment>,
    /// The name the passkey form suggests ("Sikkerhedsnøgle 2").
    pub passkey_label: String,
    pub pairing_code: Option<String>,
    pub events: Vec<EventView>,
}

#[derive(Template)]
#[template(path = "activate.html")]
pub struct ActivatePage<'a> {
    pub t: &'static Texts,
    pub csrf: &'a str,
    pub error: Option<&'static str>,
    /// What the person typed in the fields that are not secret, kept after a refusal.
    pub cpr: &'a str,
    pub user_id: &'a str,
}

/// A pending request as the app shows it.
pub struct RequestView {
    pub id: String,
    /// What the page's script compares with `/app/status`
    /// ([`crate::flow::app::ApprovalRequest::tag`]).
    pub tag: String,
    pub service: String,
    /// The level the login asks for, in the page's language.
    pub level: Option<&'static str>,
    /// Seconds before the request expires.
    pub seconds_left: u64,
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
