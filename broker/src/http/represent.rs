//! The "Who are you acting for?" page and its form.

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum_extra::extract::cookie::CookieJar;
use eid_core::{AuditOutcome, Mandate, MandateKind, Principal};
use eid_oidc::RawParams;
use eid_web::browser::{client_ip, cookie_value};
use std::net::SocketAddr;
use std::sync::Arc;

use super::error::HttpError;
use super::pages::{RepresentationOption, RepresentationPage, message, render};
use super::{BROWSER_COOKIE, SESSION_COOKIE};
use crate::core::representation::Choice;
use crate::login::{ChoiceOutcome, PendingChoice};
use crate::oidc::BrokerError;
use crate::state::Broker;
use crate::texts::{Texts, texts};

/// How one mandate is offered: the principal, what kind of mandate, what it allows, until when.
fn option(t: &'static Texts, lang: eid_core::Lang, m: &Mandate) -> RepresentationOption {
    let label = match &m.principal {
        Principal::Person { name, .. } => name.clone(),
        Principal::Organisation { cvr, name } => format!("{name} ({} {cvr})", t.represent_cvr),
    };
    let kind = match m.kind {
        MandateKind::PowerOfAttorney => t.represent_power_of_attorney,
        MandateKind::BusinessRight => t.represent_business_right,
        MandateKind::BusinessPower => t.represent_business_power,
    };
    let access = match m.access {
        eid_core::Access::Read => t.represent_read,
        eid_core::Access::Act => t.represent_act,
    };
    let until = match m.valid_until {
        Some(at) => format!(
            "{} {}",
            t.represent_until,
            eid_web::display::local_time(at, lang)
        ),
        None => t.represent_no_end.to_owned(),
    };
    RepresentationOption {
        value: Choice::Mandate(m.id.clone()).value(),
        label,
        help: format!("{kind}: {access}, {until}."),
    }
}

/// The choice page of a pending choice.
pub fn choice_page(broker: &Broker, choice: &PendingChoice) -> Response {
    let t = texts(choice.lang);
    let service = broker.registry.service_name(&choice.rp).unwrap_or_default();
    let identity = &choice.answering.identity;
    let myself = match (&identity.given_name, &identity.family_name) {
        (Some(given), Some(family)) => format!("{} ({given} {family})", t.represent_myself),
        (Some(name), None) | (None, Some(name)) => format!("{} ({name})", t.represent_myself),
        (None, None) => t.represent_myself.to_owned(),
    };
    let options = choice
        .offered
        .iter()
        .map(|m| option(t, choice.lang, m))
        .collect();
    render(
        StatusCode::OK,
        &RepresentationPage {
            t,
            tx: &choice.id,
            csrf: &choice.csrf,
            service: &service,
            myself,
            options,
        },
    )
}

/// `POST /login/represent`: the person chose whom they act for (or to cancel).
pub async fn represent(
    State(broker): State<Arc<Broker>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    jar: CookieJar,
    body: Bytes,
) -> Result<Response, HttpError> {
    let ip = client_ip(&addr);
    let form = std::str::from_utf8(&body)
        .map_err(|_| BrokerError::BadRequest("form is not UTF-8".into()))
        .and_then(|text| {
            RawParams::parse(text).map_err(|e| BrokerError::BadRequest(e.description))
        })?;
    let choice = match PendingChoice::load_for_form(
        &broker,
        form.get("tx").unwrap_or_default(),
        cookie_value(&jar, BROWSER_COOKIE),
        form.get("csrf"),
    )
    .await
    {
        Ok(choice) => choice,
        Err(BrokerError::Csrf) => {
            broker
                .audit(
                    broker
                        .event("form.csrf_rejected", AuditOutcome::Failure)
                        .ip(ip.clone())
                        .detail("form", "representation"),
                )
                .await?;
            return Err(BrokerError::Csrf.into());
        }
        Err(e) => return Err(e.into()),
    };
    let lang = choice.lang;
    let outcome = choice
        .choose(
            &broker,
            form.get("choice").unwrap_or_default(),
            cookie_value(&jar, SESSION_COOKIE),
            &ip,
        )
        .await
        .map_err(|e| HttpError::new(e, lang))?;
    Ok(match outcome {
        ChoiceOutcome::Answer(answer) => super::login::respond(jar, answer),
        ChoiceOutcome::Forged => {
            let t = texts(lang);
            message(
                StatusCode::BAD_REQUEST,
                t,
                t.represent_forged_title,
                t.represent_forged_body,
                t.start_again,
            )
        }
    })
}
