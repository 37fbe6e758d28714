//! The portal's pages (askama templates in `delegation/templates/`) and the view models they
//! show: mandates as cards in the person's words (names, services by name, access, validity,
//! state, the actions open to them), drafts, receipts and messages.

use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;
use eid_core::{Access, Lang, MandateKind, MandateState, Party, Scope};
use eid_store::notifications::Notification;

use super::ServiceOption;
use super::texts::Texts;
use crate::registry::{GrantDraft, MandateView};

pub use eid_web::pages::render;

/// The bar of a logged-in person: their name, the logout form's CSRF token, the page shown.
pub struct UserBar {
    /// Their name (or nothing, when the broker released none).
    pub name: Option<String>,
    /// The CSRF token of this browser.
    pub csrf: String,
    /// Which menu entry is the current page (`overview`, `grant`, …).
    pub current: &'static str,
}

/// One action button on a card.
pub struct ActionButton {
    /// The form's `action` value.
    pub action: &'static str,
    /// Its label.
    pub label: &'static str,
    /// Whether it is a secondary (less prominent) button.
    pub secondary: bool,
}

/// A mandate as a card.
pub struct Card {
    /// The mandate id (form value).
    pub id: String,
    /// What kind it is.
    pub kind: &'static str,
    /// "Given to" / "Given by".
    pub party_label: &'static str,
    /// The other party's name (an organisation's with its CVR number).
    pub party: String,
    /// The services and areas, by name.
    pub scopes: String,
    /// What it allows.
    pub access: &'static str,
    /// Valid from.
    pub from: String,
    /// Valid through (or "until revoked").
    pub through: String,
    /// Its state now.
    pub state: &'static str,
    /// Its privileges, if any.
    pub privileges: String,
    /// Whether it makes its holder an administrator.
    pub administrator: bool,
    /// The actions open to the person.
    pub actions: Vec<ActionButton>,
}

/// Which side of a mandate the person (or their organisation) is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Gave it.
    Principal,
    /// Holds (or asked for) it.
    Agent,
}

pub fn party_name(p: &Party) -> String {
    match p {
        Party::Person(p) => p.name.clone(),
        Party::Organisation(o) => format!("{} (CVR {})", o.name, o.cvr),
    }
}

pub fn kind_name(t: &Texts, kind: MandateKind) -> &'static str {
    match kind {
        MandateKind::PowerOfAttorney => t.kind_power_of_attorney,
        MandateKind::BusinessRight => t.kind_business_right,
        MandateKind::BusinessPower => t.kind_business_power,
    }
}

pub fn state_name(t: &Texts, s: MandateState) -> &'static str {
    match s {
        MandateState::Requested => t.state_requested,
        MandateState::Pending => t.state_pending,
        MandateState::Active => t.state_active,
        MandateState::Declined => t.state_declined,
        MandateState::Revoked => t.state_revoked,
        MandateState::Expired => t.state_expired,
    }
}

pub fn access_name(t: &Texts, a: Access) -> &'static str {
    match a {
        Access::Read => t.access_read,
        Access::Act => t.access_act,
    }
}

/// Scope names joined for display.
pub fn scope_names(services: &[ServiceOption], scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(|s| {
            services
                .iter()
                .find(|o| &o.scope == s)
                .map_or_else(|| s.name().to_owned(), |o| o.name.clone())
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The actions open to `side` of a mandate in `state`.
pub fn actions(t: &Texts, side: Side, state: MandateState) -> Vec<ActionButton> {
    let b = |action, label, secondary| ActionButton {
        action,
        label,
        secondary,
    };
    match (side, state) {
        (Side::Principal, MandateState::Requested) => vec![
            b("approve", t.action_approve, false),
            b("decline", t.action_decline, true),
        ],
        (Side::Agent, MandateState::Pending) => vec![
            b("accept", t.action_accept, false),
            b("decline", t.action_decline, true),
        ],
        (_, MandateState::Requested | MandateState::Pending | MandateState::Active) => {
            vec![b("revoke", t.action_revoke, true)]
        }
        _ => Vec::new(),
    }
}

/// A card of `m` as `side` sees it.
pub fn card(t: &Texts, services: &[ServiceOption], side: Side, m: &MandateView) -> Card {
    let r = &m.record;
    let (party_label, other) = match side {
        Side::Principal => (t.given_to, &r.agent),
        Side::Agent => (t.given_by, &r.principal),
    };
    Card {
        id: r.id.to_string(),
        kind: kind_name(t, r.kind),
        party_label,
        party: party_name(other),
        scopes: scope_names(services, &r.scopes),
        access: access_name(t, r.access),
        from: eid_web::display::local_date(r.valid_from, t.lang),
        through: r.valid_until.map_or_else(
            || t.until_revoked.to_owned(),
            |u| eid_web::display::last_local_day(u, t.lang),
        ),
        state: state_name(t, m.state),
        privileges: r
            .privileges
            .iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        administrator: r.administrator,
        actions: actions(t, side, m.state),
    }
}

/// A short reference of one error page, logged with it (eight characters a person can read
/// out: no 0/O, 1/I/L).
pub fn error_reference() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
    eid_oidc::random::token(8)
        .bytes()
        .take(8)
        .map(|b| char::from(ALPHABET[usize::from(b) % ALPHABET.len()]))
        .collect()
}

#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage<'a> {
    pub t: &'static Texts,
    pub user: Option<UserBar>,
    pub title: &'a str,
    pub body: &'a str,
    pub reference: Option<(String, String)>,
}

impl MessagePage<'_> {
    /// An error page with its reference and the local time.
    pub fn error(
        t: &'static Texts,
        status: StatusCode,
        title: &str,
        body: &str,
        reference: String,
    ) -> Response {
        let at = eid_web::display::local_time(time::OffsetDateTime::now_utc(), t.lang);
        render(
            status,
            &MessagePage {
                t,
                user: None,
                title,
                body,
                reference: Some((reference, at)),
            },
        )
    }
}

#[derive(Template)]
#[template(path = "home.html")]
pub struct HomePage {
    pub t: &'static Texts,
    pub user: Option<UserBar>,
    pub csrf: String,
    pub logged_out: bool,
}

#[derive(Template)]
#[template(path = "overview.html")]
pub struct OverviewPage {
    pub t: &'static Texts,
    pub user: Option<UserBar>,
    pub csrf: String,
    pub waiting: Vec<Card>,
    pub given: Vec<Card>,
    pub held: Vec<Card>,
}

/// A service or area as a checkbox.
pub struct ScopeChoice {
    /// Its stored key (the form value).
    pub key: String,
    /// Its name.
    pub name: String,
    /// Whether it is ticked.
    pub checked: bool,
}

/// The grant or request form, with the values entered so far and an error.
#[derive(Template)]
#[template(path = "grant.html")]
pub struct GrantPage {
    pub t: &'static Texts,
    pub user: Option<UserBar>,
    pub csrf: String,
    /// `grant` or `request`.
    pub mode: &'static str,
    pub title: &'static str,
    pub intro: &'static str,
    /// The number field's name, label and help.
    pub number_field: &'static str,
    pub number_label: &'static str,
    pub number_help: &'static str,
    pub number: String,
    pub scopes: Vec<ScopeChoice>,
    pub access: String,
    pub through: String,
    pub min_date: String,
    pub until_help: String,
    pub error: Option<&'static str>,
    /// Which field the error is about (`number`, `scope`, `access`, `through`).
    pub error_field: &'static str,
}

/// The sign page: exactly what will be granted.
#[derive(Template)]
#[template(path = "sign.html")]
pub struct SignPage {
    pub t: &'static Texts,
    pub user: Option<UserBar>,
    pub csrf: String,
    pub op: String,
    pub approval: bool,
    pub principal: String,
    pub agent: String,
    pub scopes: String,
    pub access: &'static str,
    pub from: String,
    pub through: String,
    pub needs_acceptance: bool,
    pub digest: String,
}

impl SignPage {
    /// The sign page of `draft`.
    pub fn of(
        t: &'static Texts,
        user: UserBar,
        op: &str,
        services: &[ServiceOption],
        draft: &GrantDraft,
    ) -> SignPage {
        SignPage {
            t,
            op: op.to_owned(),
            approval: draft.approves_revision.is_some(),
            principal: draft.principal.name.clone(),
            agent: party_name(&draft.agent),
            scopes: scope_names(services, &draft.scopes),
            access: access_name(t, draft.access),
            from: eid_web::display::local_date(draft.valid_from, t.lang),
            through: eid_web::display::last_local_day(draft.valid_until, t.lang),
            needs_acceptance: draft.needs_acceptance,
            digest: draft.digest.clone(),
            csrf: user.csrf.clone(),
            user: Some(user),
        }
    }
}

/// A plain confirmation: what will happen, the facts, a confirm button.
#[derive(Template)]
#[template(path = "confirm.html")]
pub struct ConfirmPage {
    pub t: &'static Texts,
    pub user: Option<UserBar>,
    pub csrf: String,
    pub op: String,
    pub title: &'static str,
    pub body: &'static str,
    pub facts: Vec<(&'static str, String)>,
}

/// The receipt of a done operation.
#[derive(Template)]
#[template(path = "done.html")]
pub struct DonePage {
    pub t: &'static Texts,
    pub user: Option<UserBar>,
    pub title: &'static str,
    pub note: Option<&'static str>,
}

/// One organisation in the list.
pub struct OrgRow {
    pub cvr: String,
    pub name: String,
}

#[derive(Template)]
#[template(path = "organisations.html")]
pub struct OrganisationsPage {
    pub t: &'static Texts,
    pub user: Option<UserBar>,
    pub orgs: Vec<OrgRow>,
}

#[derive(Template)]
#[template(path = "organisation.html")]
pub struct OrganisationPage {
    pub t: &'static Texts,
    pub user: Option<UserBar>,
    pub csrf: String,
    pub cvr: String,
    pub name: String,
    pub given: Vec<Card>,
    pub held: Vec<Card>,
    pub scopes: Vec<ScopeChoice>,
    pub min_date: String,
    pub error: Option<&'static str>,
}

/// One message of the outbox.
pub struct MessageRow {
    pub title: &'static str,
    pub at: String,
    pub role: &'static str,
    pub other: Option<String>,
    pub by: Option<String>,
}

impl MessageRow {
    /// A notification in the person's words.
    pub fn of(t: &Texts, n: &Notification) -> MessageRow {
        let text = |k: &str| {
            n.details
                .get(k)
                .and_then(|v| v.as_str())
                .map(|s| s.chars().take(200).collect::<String>())
        };
        MessageRow {
            title: match n.kind.as_str() {
                "delegation.granted" => t.notice_granted,
                "delegation.requested" => t.notice_requested,
                "delegation.approved" => t.notice_approved,
                "delegation.accepted" => t.notice_accepted,
                "delegation.declined" => t.notice_declined,
                "delegation.revoked" => t.notice_revoked,
                "delegation.expired" => t.notice_expired,
                "delegation.right_assigned" => t.notice_right_assigned,
                "delegation.power_granted" => t.notice_power_granted,
                _ => t.notice_other,
            },
            at: eid_web::display::local_time(n.created_at, t.lang),
            role: match text("role").as_deref() {
                Some("principal") => t.role_principal,
                Some("agent") => t.role_agent,
                _ => t.role_administrator,
            },
            other: text("counterpart_name"),
            by: text("by_name"),
        }
    }
}

#[derive(Template)]
#[template(path = "messages.html")]
pub struct MessagesPage {
    pub t: &'static Texts,
    pub user: Option<UserBar>,
    pub messages: Vec<MessageRow>,
}

/// The page's language from `Accept-Language`.
pub fn lang_of(headers: &axum::http::HeaderMap) -> Lang {
    Lang::negotiate(
        None,
        headers
            .get(axum::http::header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    )
}
