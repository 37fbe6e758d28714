//! Page texts in Danish and English.

use eid_core::Lang;

/// Every text on the broker's pages (one field a text; the names say where it is used).
#[allow(missing_docs)]
#[derive(Debug, serde::Serialize)]
pub struct Texts {
    pub lang: &'static str,
    pub service: &'static str,
    pub skip_to_content: &'static str,
    pub choose_title: &'static str,
    pub choose_intro: &'static str,
    pub for_service: &'static str,
    pub step_up: &'static str,
    pub level_required: &'static str,
    pub mitid: &'static str,
    pub mitid_help: &'static str,
    pub eu_eid: &'static str,
    pub eu_eid_help: &'static str,
    pub cancel: &'static str,
    pub error_title: &'static str,
    pub error_next: &'static str,
    pub expired_title: &'static str,
    pub expired_body: &'static str,
    pub csrf_title: &'static str,
    pub csrf_body: &'static str,
    pub unavailable_title: &'static str,
    pub unavailable_body: &'static str,
    pub upstream_failed_title: &'static str,
    pub upstream_failed_body: &'static str,
    pub logged_out_title: &'static str,
    pub logged_out_body: &'static str,
    pub logout_confirm_title: &'static str,
    pub logout_confirm_body: &'static str,
    pub logout_requested_by: &'static str,
    pub logout_confirm_button: &'static str,
    pub start_again: &'static str,
    pub bad_request_body: &'static str,
    pub not_found_title: &'static str,
    pub not_found_body: &'static str,
    pub not_found_next: &'static str,
    pub client_error_body: &'static str,
    pub request_expired_body: &'static str,
    pub too_many_title: &'static str,
    pub too_many_body: &'static str,
    pub reference: &'static str,
    pub saml_post_title: &'static str,
    pub saml_post_body: &'static str,
    pub saml_post_button: &'static str,
    pub saml_repost_title: &'static str,
    pub saml_repost_body: &'static str,
    pub saml_repost_button: &'static str,
}

/// Danish.
pub static DA: Texts = Texts {
    lang: "da",
    service: "NemLog-in (demo)",
    skip_to_content: "Gå til indhold",
    choose_title: "Log på",
    choose_intro: "Vælg, hvordan du vil logge på.",
    for_service: "Du logger på",
    step_up: "Tjenesten kræver et højere sikringsniveau end dit nuværende log-in. Log på igen.",
    level_required: "Krævet sikringsniveau",
    mitid: "Log på med MitID",
    mitid_help: "For dig med dansk MitID.",
    eu_eid: "Log på med EU-login (eIDAS)",
    eu_eid_help: "For borgere fra andre EU-lande med nationalt eID.",
    cancel: "Afbryd og gå tilbage til tjenesten",
    error_title: "Der opstod en fejl",
    error_next: "Gå tilbage til tjenesten, og start login forfra. Kontakt tjenesten, hvis fejlen bliver ved.",
    expired_title: "Dit login er udløbet",
    expired_body: "Der gik for lang tid, eller siden blev åbnet i en anden browser.",
    csrf_title: "Formularen kunne ikke sendes",
    csrf_body: "Siden var for gammel eller blev sendt fra et andet sted.",
    unavailable_title: "Login er midlertidigt utilgængeligt",
    unavailable_body: "Prøv igen om et øjeblik.",
    upstream_failed_title: "Login kunne ikke gennemføres",
    upstream_failed_body: "Svaret fra log-in-udbyderen kunne ikke godkendes.",
    logged_out_title: "Du er logget af",
    logged_out_body: "Du er logget af alle tjenester i denne browser.",
    logout_confirm_title: "Vil du logge af?",
    logout_confirm_body: "Du bliver logget af alle tjenester, du er logget på gennem NemLog-in i denne browser.",
    logout_requested_by: "Anmodet af",
    logout_confirm_button: "Log af",
    start_again: "Gå tilbage til tjenesten, og start login forfra.",
    bad_request_body: "Siden fik en anmodning, den ikke kunne forstå.",
    not_found_title: "Siden findes ikke",
    not_found_body: "Adressen er forkert, eller siden er flyttet.",
    not_found_next: "Gå tilbage til tjenesten, du kom fra.",
    client_error_body: "Tjenesten, du kom fra, bad om log-in på en måde, NemLog-in ikke kan godkende. Det er ikke din fejl.",
    request_expired_body: "Anmodningen om log-in er udløbet eller allerede brugt.",
    too_many_title: "For mange log-ins på én gang",
    too_many_body: "Der er begyndt for mange log-ins fra din browser eller dit netværk. Afslut et af dem, eller vent et par minutter, og prøv igen.",
    reference: "Fejlreference til support",
    saml_post_title: "Sender dig tilbage til tjenesten",
    saml_post_body: "Du sendes nu videre til tjenesten. Sker det ikke af sig selv, så tryk på knappen.",
    saml_post_button: "Fortsæt til tjenesten",
    saml_repost_title: "Dit log-in fortsætter",
    saml_repost_body: "Et øjeblik, dit log-in fortsætter. Sker det ikke af sig selv, så tryk på knappen.",
    saml_repost_button: "Fortsæt",
};

/// English.
pub static EN: Texts = Texts {
    lang: "en",
    service: "NemLog-in (demo)",
    skip_to_content: "Skip to content",
    choose_title: "Log in",
    choose_intro: "Choose how you want to log in.",
    for_service: "You are logging in to",
    step_up: "The service requires a higher assurance level than your current login. Log in again.",
    level_required: "Required assurance level",
    mitid: "Log in with MitID",
    mitid_help: "For you with a Danish MitID.",
    eu_eid: "Log in with an EU eID (eIDAS)",
    eu_eid_help: "For citizens of other EU countries with a national eID.",
    cancel: "Cancel and go back to the service",
    error_title: "Something went wrong",
    error_next: "Go back to the service and start the login again. Contact the service if the problem persists.",
    expired_title: "Your login has expired",
    expired_body: "It took too long, or the page was opened in another browser.",
    csrf_title: "The form could not be sent",
    csrf_body: "The page was too old or was sent from somewhere else.",
    unavailable_title: "Login is temporarily unavailable",
    unavailable_body: "Try again in a moment.",
    upstream_failed_title: "The login could not be completed",
    upstream_failed_body: "The answer from the identity provider could not be accepted.",
    logged_out_title: "You are logged out",
    logged_out_body: "You are logged out of every service in this browser.",
    logout_confirm_title: "Do you want to log out?",
    logout_confirm_body: "You will be logged out of every service you are logged in to through NemLog-in in this browser.",
    logout_requested_by: "Requested by",
    logout_confirm_button: "Log out",
    start_again: "Go back to the service and start the login again.",
    bad_request_body: "The page received a request it could not understand.",
    not_found_title: "This page does not exist",
    not_found_body: "The address is wrong, or the page has moved.",
    not_found_next: "Go back to the service you came from.",
    client_error_body: "The service you came from asked for a login in a way NemLog-in cannot accept. It is not your fault.",
    request_expired_body: "The login request has expired or was already used.",
    too_many_title: "Too many logins at once",
    too_many_body: "Too many logins were begun from your browser or your network. Finish one of them, or wait a few minutes and try again.",
    reference: "Error reference for support",
    saml_post_title: "Taking you back to the service",
    saml_post_body: "You are now being sent on to the service. If nothing happens, press the button.",
    saml_post_button: "Continue to the service",
    saml_repost_title: "Your login continues",
    saml_repost_body: "One moment, your login continues. If nothing happens, press the button.",
    saml_repost_button: "Continue",
};

/// The texts of a language.
pub fn texts(lang: Lang) -> &'static Texts {
    match lang {
        Lang::Da => &DA,
        Lang::En => &EN,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Each page speaks one language and takes every word from these texts.
    #[test]
    fn danish_pages_hold_no_english_and_english_pages_no_danish() {
        let problems = eid_web::wording::problems(
            &serde_json::to_value(&DA).unwrap(),
            &serde_json::to_value(&EN).unwrap(),
            &[],
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates"),
        );
        assert!(problems.is_empty(), "{problems:#?}");
    }
}
