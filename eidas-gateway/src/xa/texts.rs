//! The texts of XA's pages, in Danish and English.

use eid_core::Lang;
use eid_saml::eidas::EidasLoa;

/// Every text on XA's pages (one field a text; the names say where it is used).
#[allow(missing_docs)]
#[derive(Debug, serde::Serialize)]
pub struct Texts {
    pub lang: &'static str,
    pub service: &'static str,
    pub skip_to_content: &'static str,
    /// On every page: XA is no real country.
    pub fictitious_note: &'static str,
    pub login_title: &'static str,
    pub login_intro: &'static str,
    /// Before the Danish service's name, when the request names it.
    pub login_for: &'static str,
    pub username: &'static str,
    pub password: &'static str,
    pub log_in: &'static str,
    pub cancel: &'static str,
    pub wrong_credentials: &'static str,
    /// After a wrong password, when `{n}` attempts are left.
    pub attempts_left: &'static str,
    pub consent_title: &'static str,
    pub consent_intro: &'static str,
    pub consent_question: &'static str,
    pub identifier: &'static str,
    pub given_name: &'static str,
    pub family_name: &'static str,
    pub birthdate: &'static str,
    pub level: &'static str,
    pub send: &'static str,
    pub do_not_send: &'static str,
    pub level_low: &'static str,
    pub level_substantial: &'static str,
    pub level_high: &'static str,
    pub demo_service_title: &'static str,
    pub demo_service_intro: &'static str,
    pub level_legend: &'static str,
    pub log_in_danish: &'static str,
    pub received_title: &'static str,
    pub received_intro: &'static str,
    pub nothing_title: &'static str,
    pub nothing_declined: &'static str,
    pub nothing_failed: &'static str,
    pub try_again: &'static str,
    pub post_title: &'static str,
    pub post_body: &'static str,
    pub post_button: &'static str,
    pub error_title: &'static str,
    pub bad_request_body: &'static str,
    pub bad_request_next: &'static str,
    pub expired_body: &'static str,
    pub expired_next: &'static str,
    pub unavailable_body: &'static str,
    pub unavailable_next: &'static str,
    pub stale_form_body: &'static str,
    pub stale_form_next: &'static str,
    pub back_to_service: &'static str,
}

impl Texts {
    /// The name of a level.
    pub fn level_name(&self, loa: EidasLoa) -> &'static str {
        match loa {
            EidasLoa::Low => self.level_low,
            EidasLoa::Substantial => self.level_substantial,
            EidasLoa::High => self.level_high,
        }
    }
}

/// Danish.
pub static DA: Texts = Texts {
    lang: "da",
    service: "XA (fiktivt demoland)",
    skip_to_content: "Gå til indhold",
    fictitious_note: "XA er et opdigtet land, som kun findes i denne demo. Ingen rigtig myndighed eller person står bag.",
    login_title: "Log på med dit eID fra XA",
    login_intro: "En dansk tjeneste vil vide, hvem du er. Log på med brugernavn og adgangskode fra XA.",
    login_for: "Tjeneste i Danmark:",
    username: "Brugernavn",
    password: "Adgangskode",
    log_in: "Log på",
    cancel: "Afbryd og gå tilbage",
    wrong_credentials: "Brugernavn eller adgangskode er forkert. Prøv igen.",
    attempts_left: "Du har {n} forsøg tilbage.",
    consent_title: "Sende dine oplysninger til Danmark?",
    consent_intro: "Disse oplysninger om dig bliver sendt til Danmark:",
    consent_question: "Vil du sende dem? Sender du dem ikke, bliver du ikke logget på den danske tjeneste.",
    identifier: "Identifikation",
    given_name: "Fornavn",
    family_name: "Efternavn",
    birthdate: "Fødselsdato",
    level: "Sikringsniveau",
    send: "Send",
    do_not_send: "Send ikke",
    level_low: "lavt",
    level_substantial: "betydeligt",
    level_high: "højt",
    demo_service_title: "XA-demotjeneste (fiktivt land)",
    demo_service_intro: "Her kan en dansker logge på en tjeneste i XA med sit danske eID.",
    level_legend: "Hvilket sikringsniveau skal tjenesten bede om?",
    log_in_danish: "Log på med dit danske eID",
    received_title: "Det modtog XA",
    received_intro: "Disse oplysninger kom fra Danmark:",
    nothing_title: "Intet modtaget",
    nothing_declined: "Du valgte ikke at sende dine oplysninger.",
    nothing_failed: "Log på mislykkedes.",
    try_again: "Prøv igen",
    post_title: "Sender dig videre",
    post_body: "Du sendes nu videre. Sker det ikke af sig selv, så tryk på knappen.",
    post_button: "Fortsæt",
    error_title: "Det lykkedes ikke",
    bad_request_body: "Anmodningen kunne ikke bruges.",
    bad_request_next: "Gå tilbage til tjenesten, og log på igen.",
    expired_body: "Dette log på er udløbet eller allerede afsluttet.",
    expired_next: "Gå tilbage til tjenesten, og begynd forfra.",
    unavailable_body: "Det andet lands tjeneste kan ikke nås lige nu.",
    unavailable_next: "Prøv igen om nogle minutter.",
    stale_form_body: "Siden var for gammel eller åbnet i et andet vindue.",
    stale_form_next: "Gå tilbage, genindlæs siden, og prøv igen.",
    back_to_service: "Til XA-demotjenesten",
};

/// English.
pub static EN: Texts = Texts {
    lang: "en",
    service: "XA (fictitious demo country)",
    skip_to_content: "Skip to content",
    fictitious_note: "XA is a made-up country that exists only in this demo. No real authority or person is behind it.",
    login_title: "Log in with your XA eID",
    login_intro: "A Danish service wants to know who you are. Log in with your XA username and password.",
    login_for: "Service in Denmark:",
    username: "Username",
    password: "Password",
    log_in: "Log in",
    cancel: "Cancel and go back",
    wrong_credentials: "The username or password is wrong. Try again.",
    attempts_left: "You have {n} attempts left.",
    consent_title: "Send your details to Denmark?",
    consent_intro: "These details about you will be sent to Denmark:",
    consent_question: "Do you want to send them? If you do not, you will not be logged in to the Danish service.",
    identifier: "Identifier",
    given_name: "Given name",
    family_name: "Family name",
    birthdate: "Date of birth",
    level: "Level of assurance",
    send: "Send",
    do_not_send: "Do not send",
    level_low: "low",
    level_substantial: "substantial",
    level_high: "high",
    demo_service_title: "XA demo service (fictitious country)",
    demo_service_intro: "Here a Dane can log in to a service in XA with their Danish eID.",
    level_legend: "Which level of assurance should the service ask for?",
    log_in_danish: "Log in with your Danish eID",
    received_title: "What XA received",
    received_intro: "These details came from Denmark:",
    nothing_title: "Nothing was received",
    nothing_declined: "You chose not to send your details.",
    nothing_failed: "The login failed.",
    try_again: "Try again",
    post_title: "Sending you on",
    post_body: "You are now being sent on. If nothing happens, press the button.",
    post_button: "Continue",
    error_title: "Something went wrong",
    bad_request_body: "The request could not be used.",
    bad_request_next: "Go back to the service and log in again.",
    expired_body: "This login has expired or is already finished.",
    expired_next: "Go back to the service and start again.",
    unavailable_body: "The other country's service cannot be reached right now.",
    unavailable_next: "Try again in a few minutes.",
    stale_form_body: "The page was too old or opened in another window.",
    stale_form_next: "Go back, reload the page and try again.",
    back_to_service: "To the XA demo service",
};

/// The texts of `lang`.
pub fn texts(lang: Lang) -> &'static Texts {
    match lang {
        Lang::Da => &DA,
        Lang::En => &EN,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod wording_tests {
    use super::*;

    /// Each page speaks one language and takes every word from these texts ("xa" is the
    /// country's code in both; "send" is Danish too, the imperative of "sende").
    #[test]
    fn danish_pages_hold_no_english_and_english_pages_no_danish() {
        let problems = eid_web::wording::problems(
            &serde_json::to_value(&DA).unwrap(),
            &serde_json::to_value(&EN).unwrap(),
            &["xa", "send"],
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/xa"),
        );
        assert!(problems.is_empty(), "{problems:#?}");
    }
}
