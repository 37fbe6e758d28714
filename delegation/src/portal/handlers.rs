//! The portal's pages: thin handlers that read the session, parse the form, call the registry
//! (directly for reading, through [`ops`](super::ops) for changes) and render the outcome. Every
//! form carries the browser's CSRF token; every change ends in a redirect (POST-redirect-GET).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use eid_core::{MandateId, MandateState};
use uuid::Uuid;

use super::forms::{Fields, FormError, GrantForm, RequestForm};
use super::ops::{self, Operation, Operations, Outcome, Pending, Shown};
use super::session::{self, PortalSession, Resume};
use super::texts::{Texts, texts};
use super::views::{
    self, Card, ConfirmPage, DonePage, GrantPage, MessageRow, MessagesPage, OverviewPage,
    ScopeChoice, Side, SignPage, UserBar, render,
};
use super::{Portal, PortalError, ServiceOption};
use crate::registry::MandateView;

/// How many mandates a listing shows.
pub(super) const LIST_LIMIT: u32 = 200;

/// What every handler starts from: the language, the browser's binding and CSRF token, the
/// session.
pub(super) struct Ctx {
    pub(super) t: &'static Texts,
    pub(super) jar: CookieJar,
    pub(super) browser: String,
    pub(super) csrf: String,
    pub(super) session: Option<PortalSession>,
}

impl Ctx {
    pub(super) async fn new(portal: &Portal, jar: CookieJar, headers: &HeaderMap) -> Ctx {
        let t = texts(views::lang_of(headers));
        let (jar, browser, csrf) = session::binding(portal, jar);
        let session = session::current(portal, &jar).await;
        Ctx {
            t,
            jar,
            browser,
            csrf,
            session,
        }
    }

    pub(super) fn user(&self, current: &'static str) -> Option<UserBar> {
        self.session.as_ref().map(|s| UserBar {
            name: s.name.clone(),
            csrf: self.csrf.clone(),
            current,
        })
    }

    pub(super) fn ops<'a>(&'a self, portal: &'a Portal) -> Operations<'a> {
        Operations {
            store: portal.store(),
            browser: &self.browser,
        }
    }

    /// A response with this context's cookies.
    pub(super) fn send(self, response: Response) -> Response {
        (self.jar, response).into_response()
    }

    pub(super) fn fail(self, e: PortalError) -> Response {
        let page = e.page(self.t);
        self.send(page)
    }

    pub(super) fn csrf_ok(&self, fields: &Fields) -> bool {
        session::csrf_ok(&self.jar, fields)
    }
}

/// The session of a page that needs one, else the response that logs the person in and comes
/// back to `resume`. A session acting for someone is shown that the registry is for persons
/// themselves when `read_only` (reading pages); changes go on so the registry refuses and audits.
pub(super) async fn need_session(
    portal: &Portal,
    ctx: Ctx,
    resume: Resume,
    read_only: bool,
) -> Result<(Ctx, PortalSession), Response> {
    match ctx.session.clone() {
        None => {
            let t = ctx.t;
            Err(session::start_login(portal, ctx.jar, t, resume, false).await)
        }
        Some(s) if read_only && s.acting_for.is_some() => Err(ctx.fail(PortalError::ActingFor)),
        Some(s) => Ok((ctx, s)),
    }
}

pub(super) fn form_error(t: &Texts, e: FormError) -> (&'static str, &'static str) {
    match e {
        FormError::TooLong => (t.err_too_long, ""),
        FormError::Cpr => (t.err_cpr, "number"),
        FormError::CprOrCvr => (t.err_cpr_or_cvr, "number"),
        FormError::Cvr => (t.err_cvr, "number"),
        FormError::Scope => (t.err_scope, "scope"),
        FormError::Access => (t.err_access, "access"),
        FormError::Date => (t.err_date, "through"),
        FormError::Privilege => (t.err_privilege, ""),
    }
}

pub(super) fn today(portal: &Portal) -> time::Date {
    let now = portal.registry().now();
    eid_web::display::local_today(now).unwrap_or(now.date())
}

pub(super) fn scope_choices(
    services: &[ServiceOption],
    fields: Option<&Fields>,
) -> Vec<ScopeChoice> {
    services
        .iter()
        .map(|s| {
            let key = s.scope.key();
            let checked = fields.is_some_and(|f| f.all("scope").any(|k| k == key));
            ScopeChoice {
                key,
                name: s.name.clone(),
                checked,
            }
        })
        .collect()
}

pub(super) fn offered(services: &[ServiceOption]) -> Vec<eid_core::Scope> {
    services.iter().map(|s| s.scope.clone()).collect()
}

/// `GET /`: the overview (or the login page).
pub async fn overview(
    State(portal): State<Portal>,
    jar: CookieJar,
    headers: HeaderMap,
) -> Response {
    let ctx = Ctx::new(&portal, jar, &headers).await;
    if ctx.session.is_none() {
        let t = ctx.t;
        return session::home(&portal, ctx.jar, t);
    }
    let (ctx, s) = match need_session(&portal, ctx, Resume::Overview, true).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let auth = s.authenticated();
    let reg = portal.registry();
    let (given, held) = match (
        reg.given(&auth, LIST_LIMIT).await,
        reg.held(&auth, LIST_LIMIT).await,
    ) {
        (Ok(g), Ok(h)) => (g, h),
        (Err(e), _) | (_, Err(e)) => return ctx.fail(e.into()),
    };
    let services = portal.services();
    let t = ctx.t;
    let waits = |side: Side, m: &MandateView| match side {
        Side::Principal => m.state == MandateState::Requested,
        Side::Agent => m.state == MandateState::Pending,
    };
    let mut waiting: Vec<Card> = Vec::new();
    let mut cards = |side: Side, list: &[MandateView]| -> Vec<Card> {
        let mut rest = Vec::new();
        for m in list {
            let c = views::card(t, &services, side, m);
            if waits(side, m) {
                waiting.push(c);
            } else {
                rest.push(c);
            }
        }
        rest
    };
    let given = cards(Side::Principal, &given);
    let held = cards(Side::Agent, &held);
    let page = OverviewPage {
        t,
        user: ctx.user("overview"),
        csrf: ctx.csrf.clone(),
        waiting,
        given,
        held,
    };
    ctx.send(render(StatusCode::OK, &page))
}

/// The grant (or request) form.
fn form_page(
    portal: &Portal,
    ctx: &Ctx,
    grant: bool,
    fields: Option<&Fields>,
    error: Option<FormError>,
) -> GrantPage {
    let t = ctx.t;
    let services = portal.services();
    let (error, error_field) = error.map_or((None, ""), |e| {
        let (m, f) = form_error(t, e);
        (Some(m), f)
    });
    let field = if grant { "holder" } else { "principal" };
    let max_days = portal.registry().settings().max_validity.whole_days();
    GrantPage {
        t,
        user: ctx.user(if grant { "grant" } else { "request" }),
        csrf: ctx.csrf.clone(),
        mode: if grant { "grant" } else { "request" },
        title: if grant {
            t.grant_title
        } else {
            t.request_title
        },
        intro: if grant {
            t.grant_intro
        } else {
            t.request_intro
        },
        number_field: field,
        number_label: if grant {
            t.agent_number
        } else {
            t.principal_cpr
        },
        number_help: if grant {
            t.agent_number_help
        } else {
            t.cpr_help
        },
        number: fields
            .and_then(|f| f.get(field))
            .unwrap_or_default()
            .to_owned(),
        scopes: scope_choices(&services, fields),
        access: fields
            .and_then(|f| f.get("access"))
            .unwrap_or_default()
            .to_owned(),
        through: fields
            .and_then(|f| f.get("through"))
            .unwrap_or_default()
            .to_owned(),
        min_date: today(portal)
            .next_day()
            .map(|d| d.to_string())
            .unwrap_or_default(),
        until_help: t.until_help.replace("{days}", &max_days.to_string()),
        error,
        error_field,
    }
}

async fn show_form(portal: Portal, jar: CookieJar, headers: HeaderMap, grant: bool) -> Response {
    let ctx = Ctx::new(&portal, jar, &headers).await;
    let path = if grant { "/grant" } else { "/request" };
    let (ctx, _) = match need_session(&portal, ctx, Resume::Page(path.into()), true).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let page = form_page(&portal, &ctx, grant, None, None);
    ctx.send(render(StatusCode::OK, &page))
}

/// `GET /grant`.
pub async fn grant_form(
    State(portal): State<Portal>,
    jar: CookieJar,
    headers: HeaderMap,
) -> Response {
    show_form(portal, jar, headers, true).await
}

/// `GET /request`.
pub async fn request_form(
    State(portal): State<Portal>,
    jar: CookieJar,
    headers: HeaderMap,
) -> Response {
    show_form(portal, jar, headers, false).await
}

async fn submit_form(
    portal: Portal,
    jar: CookieJar,
    headers: HeaderMap,
    body: Bytes,
    grant: bool,
) -> Response {
    let ctx = Ctx::new(&portal, jar, &headers).await;
    let fields = match Fields::parse(&body) {
        Ok(f) => f,
        Err(e) => {
            let page = form_page(&portal, &ctx, grant, None, Some(e));
            return ctx.send(render(StatusCode::BAD_REQUEST, &page));
        }
    };
    if !ctx.csrf_ok(&fields) {
        return ctx.fail(PortalError::Csrf);
    }
    let path = if grant { "/grant" } else { "/request" };
    let (ctx, s) = match need_session(&portal, ctx, Resume::Page(path.into()), false).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let offered = offered(&portal.services());
    let today = today(&portal);
    let operation = if grant {
        GrantForm::parse(&fields, &offered, today).map(Operation::Grant)
    } else {
        RequestForm::parse(&fields, &offered, today).map(Operation::Request)
    };
    match operation {
        Ok(op) => start(&portal, ctx, &s, op).await,
        Err(e) => {
            let page = form_page(&portal, &ctx, grant, Some(&fields), Some(e));
            ctx.send(render(StatusCode::BAD_REQUEST, &page))
        }
    }
}

/// `POST /grant`: the grant form, to its sign page.
pub async fn grant(
    State(portal): State<Portal>,
    jar: CookieJar,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    submit_form(portal, jar, headers, body, true).await
}

/// `POST /request`: the request form, to its confirmation.
pub async fn request(
    State(portal): State<Portal>,
    jar: CookieJar,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    submit_form(portal, jar, headers, body, false).await
}

/// Keeps an operation and redirects to its confirmation page.
pub(super) async fn start(portal: &Portal, ctx: Ctx, s: &PortalSession, op: Operation) -> Response {
    match ctx.ops(portal).start(&s.person, op).await {
        Ok(p) => ctx.send(Redirect::to(&format!("/confirm/{}", p.id)).into_response()),
        Err(e) => ctx.fail(e.into()),
    }
}

/// `POST /action`: a button on a card (accept, decline, approve, revoke), to its confirmation.
pub async fn action(
    State(portal): State<Portal>,
    jar: CookieJar,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ctx = Ctx::new(&portal, jar, &headers).await;
    let fields = Fields::parse(&body).unwrap_or_default();
    if !ctx.csrf_ok(&fields) {
        return ctx.fail(PortalError::Csrf);
    }
    let (ctx, s) = match need_session(&portal, ctx, Resume::Overview, false).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(id) = fields.get("mandate").and_then(MandateId::parse) else {
        return ctx.fail(PortalError::NotFound);
    };
    let op = match fields.get("action") {
        Some("accept") => Operation::Accept(id),
        Some("decline") => Operation::Decline(id),
        Some("approve") => Operation::Approve(id),
        Some("revoke") => Operation::Revoke(id),
        _ => return ctx.fail(PortalError::NotFound),
    };
    start(&portal, ctx, &s, op).await
}

/// The operation `id` of the session's person in this browser.
async fn pending_op(
    portal: &Portal,
    ctx: Ctx,
    id: &str,
    read_only: bool,
) -> Result<(Ctx, PortalSession, Pending), Response> {
    let (ctx, s) = need_session(portal, ctx, Resume::Operation(id.to_owned()), read_only).await?;
    match ctx.ops(portal).find(id, &s.person).await {
        Ok(Some(p)) => Ok((ctx, s, p)),
        Ok(None) => Err(ctx.fail(PortalError::NotFound)),
        Err(e) => Err(ctx.fail(e.into())),
    }
}

/// `GET /confirm/{op}`: the sign page (grant, approval) or the confirmation of an operation;
/// first a fresh login when it needs one.
pub async fn confirm_page(
    State(portal): State<Portal>,
    Path(id): Path<String>,
    jar: CookieJar,
    headers: HeaderMap,
) -> Response {
    let ctx = Ctx::new(&portal, jar, &headers).await;
    let (ctx, s, mut pending) = match pending_op(&portal, ctx, &id, false).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let auth = s.authenticated();
    let shown = ops::show(portal.registry(), &auth, &mut pending).await;
    let t = ctx.t;
    match shown {
        Ok(Shown::LoginAgain) => {
            session::start_login(&portal, ctx.jar, t, Resume::Operation(id), true).await
        }
        Ok(Shown::Done) => ctx.send(Redirect::to(&format!("/done/{id}")).into_response()),
        Ok(Shown::Sign(draft)) => {
            if let Err(e) = ctx.ops(&portal).save(&pending).await {
                return ctx.fail(e.into());
            }
            let services = portal.services();
            let Some(user) = ctx.user("") else {
                return ctx.fail(PortalError::NotFound);
            };
            let page = SignPage::of(t, user, &id, &services, &draft);
            ctx.send(render(StatusCode::OK, &page))
        }
        Ok(Shown::Confirm) => {
            let page = match confirm_view(&portal, &ctx, &s, &pending).await {
                Ok(p) => p,
                Err(e) => return ctx.fail(e),
            };
            ctx.send(render(StatusCode::OK, &page))
        }
        Err(e) => ctx.fail(e.into()),
    }
}

/// The confirmation page of a plain operation, with the facts of what will change.
async fn confirm_view(
    portal: &Portal,
    ctx: &Ctx,
    s: &PortalSession,
    pending: &Pending,
) -> Result<ConfirmPage, PortalError> {
    let t = ctx.t;
    let services = portal.services();
    let through = |d: Option<time::Date>| {
        d.and_then(eid_web::display::end_of_local_day).map_or_else(
            || t.until_revoked.to_owned(),
            |u| eid_web::display::last_local_day(u, t.lang),
        )
    };
    let mandate_facts = |m: &MandateView, side: Side| {
        let c = views::card(t, &services, side, m);
        vec![
            (c.party_label, c.party),
            (t.covers, c.scopes),
            (t.allows, c.access.to_owned()),
            (t.valid_through, c.through),
            (t.state, c.state.to_owned()),
        ]
    };
    let existing = |id: MandateId| async move {
        let (m, _) = portal.registry().history(&s.authenticated(), id).await?;
        // The person's side: a person principal is them; otherwise they hold it or administer.
        let side = match m.record.principal.person() {
            Some(p) if p.key == s.person => Side::Principal,
            _ => Side::Agent,
        };
        Ok::<_, PortalError>((m, side))
    };
    let (title, body, facts) = match &pending.operation {
        Operation::Request(f) => (
            t.confirm_request_title,
            t.confirm_request_body,
            vec![
                (t.covers, views::scope_names(&services, &f.scopes)),
                (t.allows, views::access_name(t, f.access).to_owned()),
                (t.valid_through, through(Some(f.through))),
            ],
        ),
        Operation::Accept(id) => {
            let (m, side) = existing(*id).await?;
            (
                t.confirm_accept_title,
                t.confirm_accept_body,
                mandate_facts(&m, side),
            )
        }
        Operation::Decline(id) => {
            let (m, side) = existing(*id).await?;
            (
                t.confirm_decline_title,
                t.confirm_decline_body,
                mandate_facts(&m, side),
            )
        }
        Operation::Revoke(id) => {
            let (m, side) = existing(*id).await?;
            (
                t.confirm_revoke_title,
                t.confirm_revoke_body,
                mandate_facts(&m, side),
            )
        }
        Operation::AssignRight(f) => (
            t.confirm_right_title,
            "",
            vec![
                (t.covers, views::scope_names(&services, &f.scopes)),
                (t.allows, views::access_name(t, f.access).to_owned()),
                (
                    t.privileges,
                    f.privileges
                        .iter()
                        .map(|p| p.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
                (t.valid_through, through(f.through)),
            ],
        ),
        Operation::GrantPower(f) => (
            t.confirm_power_title,
            "",
            vec![
                (t.given_to, format!("CVR {}", f.agent)),
                (t.covers, views::scope_names(&services, &f.scopes)),
                (t.allows, views::access_name(t, f.access).to_owned()),
                (t.valid_through, through(f.through)),
            ],
        ),
        Operation::Grant(_) | Operation::Approve(_) => return Err(PortalError::NotFound),
    };
    Ok(ConfirmPage {
        t,
        user: ctx.user(""),
        csrf: ctx.csrf.clone(),
        op: pending.id.clone(),
        title,
        body,
        facts: facts.into_iter().filter(|(_, v)| !v.is_empty()).collect(),
    })
}

/// `POST /confirm/{op}`: carries the operation out (for a grant or approval: signs the draft
/// whose digest the form names), after a fresh login when it needs one; then the receipt.
pub async fn confirm(
    State(portal): State<Portal>,
    Path(id): Path<String>,
    jar: CookieJar,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ctx = Ctx::new(&portal, jar, &headers).await;
    let fields = Fields::parse(&body).unwrap_or_default();
    if !ctx.csrf_ok(&fields) {
        return ctx.fail(PortalError::Csrf);
    }
    let (ctx, s, mut pending) = match pending_op(&portal, ctx, &id, false).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let auth = s.authenticated();
    let outcome = ops::confirm(portal.registry(), &auth, &mut pending, fields.get("digest")).await;
    let t = ctx.t;
    match outcome {
        Ok(Outcome::LoginAgain) | Err(crate::registry::RegistryError::LoginNotFresh { .. }) => {
            session::start_login(&portal, ctx.jar, t, Resume::Operation(id), true).await
        }
        Ok(Outcome::Done(_)) => {
            if let Err(e) = ctx.ops(&portal).save(&pending).await {
                return ctx.fail(e.into());
            }
            ctx.send(Redirect::to(&format!("/done/{id}")).into_response())
        }
        Err(e) => ctx.fail(e.into()),
    }
}

/// `GET /done/{op}`: the receipt.
pub async fn done(
    State(portal): State<Portal>,
    Path(id): Path<String>,
    jar: CookieJar,
    headers: HeaderMap,
) -> Response {
    let ctx = Ctx::new(&portal, jar, &headers).await;
    let (ctx, _, pending) = match pending_op(&portal, ctx, &id, false).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(done) = &pending.done else {
        return ctx.send(Redirect::to(&format!("/confirm/{id}")).into_response());
    };
    let t = ctx.t;
    let (title, note) = match &pending.operation {
        Operation::Grant(_) => (
            t.done_granted,
            (done.state == MandateState::Pending).then_some(t.done_granted_pending),
        ),
        Operation::Approve(_) => (t.done_approved, None),
        Operation::Accept(_) => (t.done_accepted, None),
        Operation::Decline(_) => (t.done_declined, None),
        Operation::Revoke(_) => (t.done_revoked, None),
        Operation::Request(_) => (t.done_requested, None),
        Operation::AssignRight(_) => (t.done_right, None),
        Operation::GrantPower(_) => (t.done_power, None),
    };
    let page = DonePage {
        t,
        user: ctx.user(""),
        title,
        note,
    };
    ctx.send(render(StatusCode::OK, &page))
}

/// `GET /messages`: the person's messages (the outbox, a stand-in for Digital Post).
pub async fn messages(
    State(portal): State<Portal>,
    jar: CookieJar,
    headers: HeaderMap,
) -> Response {
    let ctx = Ctx::new(&portal, jar, &headers).await;
    let resume = Resume::Page("/messages".into());
    let (ctx, s) = match need_session(&portal, ctx, resume, true).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    // Messages are kept by register id: the national upstream's subject.
    let register_id = (s.person.upstream == portal.registry().settings().national_upstream)
        .then(|| Uuid::parse_str(&s.person.subject).ok())
        .flatten();
    let list = match register_id {
        Some(id) => match portal.inner.deps.outbox.for_person(id, 100).await {
            Ok(l) => l,
            Err(e) => return ctx.fail(e.into()),
        },
        None => Vec::new(),
    };
    let t = ctx.t;
    let page = MessagesPage {
        t,
        user: ctx.user("messages"),
        messages: list.iter().map(|n| MessageRow::of(t, n)).collect(),
    };
    ctx.send(render(StatusCode::OK, &page))
}
