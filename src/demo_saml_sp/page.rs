//! The demo SAML service's page: the OIDC demo service's look and words (its texts and the shared
//! `demo_login.html` part), with its own title, introduction and link back.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use eid_saml::attributes;
use eid_web::Lang;

use super::flow::SamlSession;
use crate::demo_rp::{Shown, Texts, level_name};

/// The words only this page has.
#[derive(serde::Serialize)]
pub(super) struct SamlTexts {
    pub(super) title: &'static str,
    pub(super) intro: &'static str,
    pub(super) other_service: &'static str,
}

pub(super) static DA: SamlTexts = SamlTexts {
    title: "Demotjeneste (SAML)",
    intro: "En offentlig demotjeneste, der logger borgere ind gennem NemLog-in (demo) med SAML. \
            Den deler log-in med demotjenesten med OpenID Connect: er du logget ind dér, \
            kommer du ind her uden at logge ind igen.",
    other_service: "demotjenesten med OpenID Connect",
};

pub(super) static EN: SamlTexts = SamlTexts {
    title: "Demo service (SAML)",
    intro: "A demo public service that logs citizens in through NemLog-in (demo) with SAML. \
            It shares one login with the demo service with OpenID Connect: logged in there, \
            you get in here without logging in again.",
    other_service: "the demo service with OpenID Connect",
};

/// This page's words for the language of the shared texts.
pub(super) fn saml_texts(t: &Texts) -> &'static SamlTexts {
    match t.lang {
        Lang::Da => &DA,
        Lang::En => &EN,
    }
}

#[derive(Template)]
#[template(path = "demo_saml_sp.html")]
pub(super) struct Page<'a> {
    pub(super) t: &'static Texts,
    pub(super) s: &'static SamlTexts,
    pub(super) csrf: &'a str,
    pub(super) login: Option<Shown>,
    pub(super) error: Option<&'static str>,
    pub(super) logged_out: bool,
}

/// The page with `status`.
pub(super) fn render(status: StatusCode, page: &Page<'_>) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// What the page shows of a SAML login: the person, level and time, the attributes a service
/// would use, and everything the assertion said folded away.
pub(super) fn shown(session: &SamlSession, t: &Texts) -> Shown {
    let get = |name: &str| {
        session
            .attributes
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.first().cloned())
    };
    let mut shown_attributes = Vec::new();
    if let Some(cpr) = get(attributes::CPR_NUMBER) {
        shown_attributes.push((t.cpr, cpr));
    }
    if let Some(name) = get(attributes::FULL_NAME) {
        shown_attributes.push((t.name, name));
    }
    if let Some(birthdate) = get(attributes::DATE_OF_BIRTH) {
        shown_attributes.push((t.birthdate, birthdate));
    }
    let mut raw = vec![
        ("NameID".to_owned(), session.name_id.clone()),
        ("SessionIndex".to_owned(), session.session_index.clone()),
    ];
    if let Some(context) = &session.authn_context {
        raw.push(("AuthnContextClassRef".to_owned(), context.clone()));
    }
    raw.extend(
        session
            .attributes
            .iter()
            .map(|(name, values)| (name.clone(), values.join(", "))),
    );
    Shown {
        name: get(attributes::FULL_NAME),
        level: Some(level_name(session.loa, t.lang)),
        high: session.loa == eid_core::Loa::High,
        at: time::OffsetDateTime::from_unix_timestamp(session.authn_instant)
            .ok()
            .map(|at| eid_web::display::local_time(at, t.lang)),
        acting_for: false,
        attributes: shown_attributes,
        raw,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use eid_web::wording::{mixed, strings, template_words};

    #[test]
    fn the_saml_page_speaks_one_language_and_takes_its_words_from_the_texts() {
        let da = strings(&serde_json::to_value(&DA).unwrap());
        let en = strings(&serde_json::to_value(&EN).unwrap());
        let found = mixed(&da, &en, &["saml", "openid", "connect"]);
        assert!(found.is_empty(), "words in both languages: {found:#?}");
        for template in [
            include_str!("../../templates/demo_saml_sp.html"),
            include_str!("../../templates/demo_login.html"),
        ] {
            let own = template_words(template, &[]);
            assert!(own.is_empty(), "the template's own words: {own:?}");
        }
    }
}
