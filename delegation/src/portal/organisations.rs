//! The organisation administration pages: the organisations a person administers, one
//! organisation's rights and powers, and the forms that assign a right or give a business power
//! (each through a confirmation, as in [`handlers`](super::handlers)).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum_extra::extract::cookie::CookieJar;
use eid_core::{Cvr, Side as StoreSide};

use super::forms::{Fields, FormError, PowerForm, RightForm};
use super::handlers::{
    Ctx, LIST_LIMIT, form_error, need_session, offered, scope_choices, start, today,
};
use super::ops::Operation;
use super::session::{PortalSession, Resume};
use super::views::{self, OrgRow, OrganisationPage, OrganisationsPage, Side, render};
use super::{Portal, PortalError};
use crate::registry::MandateView;

/// `GET /organisations`: the organisations the person administers.
pub async fn organisations(
    State(portal): State<Portal>,
    jar: CookieJar,
    headers: HeaderMap,
) -> Response {
    let ctx = Ctx::new(&portal, jar, &headers).await;
    let resume = Resume::Page("/organisations".into());
    let (ctx, s) = match need_session(&portal, ctx, resume, true).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let orgs = match portal.registry().administered(&s.authenticated()).await {
        Ok(o) => o,
        Err(e) => return ctx.fail(e.into()),
    };
    let page = OrganisationsPage {
        t: ctx.t,
        user: ctx.user("organisations"),
        orgs: orgs
            .into_iter()
            .map(|o| OrgRow {
                cvr: o.cvr.to_string(),
                name: o.name,
            })
            .collect(),
    };
    ctx.send(render(StatusCode::OK, &page))
}

/// One organisation's page (for its administrators), with a form error if any.
async fn org_page(
    portal: &Portal,
    ctx: Ctx,
    s: &PortalSession,
    cvr: &Cvr,
    error: Option<FormError>,
) -> Response {
    let auth = s.authenticated();
    let reg = portal.registry();
    let lists = async {
        let given = reg
            .organisation_mandates(&auth, cvr, StoreSide::Given, LIST_LIMIT)
            .await?;
        let held = reg
            .organisation_mandates(&auth, cvr, StoreSide::Held, LIST_LIMIT)
            .await?;
        let name = reg
            .administered(&auth)
            .await?
            .into_iter()
            .find(|o| &o.cvr == cvr)
            .map(|o| o.name)
            .unwrap_or_else(|| cvr.to_string());
        Ok::<_, crate::registry::RegistryError>((given, held, name))
    }
    .await;
    let (given, held, name) = match lists {
        Ok(v) => v,
        Err(e) => return ctx.fail(e.into()),
    };
    let t = ctx.t;
    let services = portal.services();
    let cards = |side, list: &[MandateView]| {
        list.iter()
            .map(|m| views::card(t, &services, side, m))
            .collect::<Vec<_>>()
    };
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let page = OrganisationPage {
        t,
        user: ctx.user("organisations"),
        csrf: ctx.csrf.clone(),
        cvr: cvr.to_string(),
        name,
        given: cards(Side::Principal, &given),
        held: cards(Side::Agent, &held),
        scopes: scope_choices(&services, None),
        min_date: today(portal)
            .next_day()
            .map(|d| d.to_string())
            .unwrap_or_default(),
        error: error.map(|e| form_error(t, e).0),
    };
    ctx.send(render(status, &page))
}

/// `GET /organisations/{cvr}`: its rights and powers, and the forms to give more.
pub async fn organisation(
    State(portal): State<Portal>,
    Path(cvr): Path<String>,
    jar: CookieJar,
    headers: HeaderMap,
) -> Response {
    let ctx = Ctx::new(&portal, jar, &headers).await;
    let Ok(cvr) = Cvr::parse(&cvr) else {
        return ctx.fail(PortalError::NotFound);
    };
    let resume = Resume::Page(format!("/organisations/{cvr}"));
    let (ctx, s) = match need_session(&portal, ctx, resume, true).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    org_page(&portal, ctx, &s, &cvr, None).await
}

async fn org_form(
    portal: Portal,
    cvr: String,
    jar: CookieJar,
    headers: HeaderMap,
    body: Bytes,
    right: bool,
) -> Response {
    let ctx = Ctx::new(&portal, jar, &headers).await;
    let fields = Fields::parse(&body).unwrap_or_default();
    if !ctx.csrf_ok(&fields) {
        return ctx.fail(PortalError::Csrf);
    }
    let Ok(cvr) = Cvr::parse(&cvr) else {
        return ctx.fail(PortalError::NotFound);
    };
    let resume = Resume::Page(format!("/organisations/{cvr}"));
    let (ctx, s) = match need_session(&portal, ctx, resume, false).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let offered = offered(&portal.services());
    let today = today(&portal);
    let op = if right {
        RightForm::parse(cvr.clone(), &fields, &offered, today).map(Operation::AssignRight)
    } else {
        PowerForm::parse(cvr.clone(), &fields, &offered, today).map(Operation::GrantPower)
    };
    match op {
        Ok(op) => start(&portal, ctx, &s, op).await,
        Err(e) => org_page(&portal, ctx, &s, &cvr, Some(e)).await,
    }
}

/// `POST /organisations/{cvr}/rights`: assign a right, to its confirmation.
pub async fn assign_right(
    State(portal): State<Portal>,
    Path(cvr): Path<String>,
    jar: CookieJar,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    org_form(portal, cvr, jar, headers, body, true).await
}

/// `POST /organisations/{cvr}/powers`: give a business power, to its confirmation.
pub async fn grant_power(
    State(portal): State<Portal>,
    Path(cvr): Path<String>,
    jar: CookieJar,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    org_form(portal, cvr, jar, headers, body, false).await
}
