//! The connector's page texts in Danish and English (one field a text; the names say where).

use eid_core::Lang;

/// Every text of the connector's pages.
#[allow(missing_docs)]
#[derive(Debug)]
pub struct Texts {
    pub lang: &'static str,
    pub service: &'static str,
    pub skip_to_content: &'static str,
    pub chooser_title: &'static str,
    /// Before the service's name: "You are logging in to".
    pub chooser_for: &'static str,
    pub chooser_intro: &'static str,
    pub chooser_legend: &'static str,
    pub continue_: &'static str,
    pub chooser_none: &'static str,
    pub back_to_service: &'static str,
    pub post_title: &'static str,
    pub post_body: &'static str,
    pub post_button: &'static str,
    pub repost_title: &'static str,
    pub repost_body: &'static str,
    pub repost_button: &'static str,
    /// Titles and bodies of the failure pages; `{country}` is the country's name.
    pub cancelled_title: &'static str,
    pub cancelled_body: &'static str,
    pub failed_title: &'static str,
    pub failed_body: &'static str,
    pub level_title: &'static str,
    pub level_body: &'static str,
    pub unavailable_title: &'static str,
    pub unavailable_body: &'static str,
    pub refused_title: &'static str,
    pub refused_body: &'static str,
    pub next_heading: &'static str,
    pub next_try_again: &'static str,
    pub next_contact: &'static str,
    pub error_title: &'static str,
    pub error_body: &'static str,
    pub expired_title: &'static str,
    pub expired_body: &'static str,
    pub csrf_title: &'static str,
    pub csrf_body: &'static str,
    pub browser_title: &'static str,
    pub browser_body: &'static str,
    pub down_title: &'static str,
    pub down_body: &'static str,
    pub not_found_title: &'static str,
    pub not_found_body: &'static str,
    pub start_again: &'static str,
}

/// The texts of `lang`.
pub fn texts(lang: Lang) -> &'static Texts {
    match lang {
        Lang::Da => &DA,
        Lang::En => &EN,
    }
}

/// Fills `{country}` in a text.
pub fn with_country(text: &str, country: &str) -> String {
    text.replace("{country}", country)
}

static DA: Texts = Texts {
    lang: "da",
    service: "eID-Gateway",
    skip_to_content: "Gå til indholdet",
    chooser_title: "Log på med et eID fra et andet EU-land",
    chooser_for: "Du logger på hos",
    chooser_intro: "Vælg det land, der har udstedt dit eID. Du bliver sendt videre til landets egen \
                    log-på-løsning, og kommer tilbage hertil bagefter.",
    chooser_legend: "Dit eID er fra",
    continue_: "Fortsæt",
    chooser_none: "Der er ingen lande at vælge imellem lige nu. Gå tilbage til tjenesten, og prøv \
                   igen senere.",
    back_to_service: "Tilbage til tjenesten",
    post_title: "Du sendes videre",
    post_body: "Du sendes videre til log-på-løsningen i det land, du valgte.",
    post_button: "Fortsæt",
    repost_title: "Et øjeblik",
    repost_body: "Vi afslutter dit log på.",
    repost_button: "Fortsæt",
    cancelled_title: "Du afbrød log på",
    cancelled_body: "Log på med dit eID fra {country} blev afbrudt, eller du sagde nej til at sende \
                     dine oplysninger. Du er ikke logget på.",
    failed_title: "Log på lykkedes ikke",
    failed_body: "Log på med dit eID fra {country} lykkedes ikke. Du er ikke logget på.",
    level_title: "Dit eID er ikke sikkert nok til tjenesten",
    level_body: "Tjenesten kræver et højere sikringsniveau, end dit eID fra {country} giver.",
    unavailable_title: "Log på er ikke muligt lige nu",
    unavailable_body: "Log-på-løsningen i {country} kan ikke nås lige nu.",
    refused_title: "Log på kunne ikke gennemføres",
    refused_body: "Svaret fra {country} kunne ikke godkendes, så du er ikke logget på.",
    next_heading: "Hvad kan du gøre?",
    next_try_again: "Gå tilbage til tjenesten, og prøv igen om lidt.",
    next_contact: "Hvis det sker igen, så kontakt udstederen af dit eID i {country} eller \
                   tjenestens support.",
    error_title: "Der skete en fejl",
    error_body: "Din anmodning kunne ikke behandles.",
    expired_title: "Dit log på er udløbet eller allerede afsluttet",
    expired_body: "Det tog for lang tid, eller siden blev sendt to gange.",
    csrf_title: "Formularen kunne ikke godkendes",
    csrf_body: "Siden var for gammel, eller den kom fra et andet sted.",
    browser_title: "Log på blev startet i en anden browser",
    browser_body: "Et log på skal afsluttes i den samme browser, som det blev startet i.",
    down_title: "Tjenesten er ikke tilgængelig",
    down_body: "Vi kan ikke gennemføre dit log på lige nu.",
    not_found_title: "Siden findes ikke",
    not_found_body: "Adressen er forkert eller forældet.",
    start_again: "Gå tilbage til tjenesten, og start forfra.",
};

static EN: Texts = Texts {
    lang: "en",
    service: "eID Gateway",
    skip_to_content: "Skip to content",
    chooser_title: "Log in with an eID from another EU country",
    chooser_for: "You are logging in to",
    chooser_intro: "Choose the country that issued your eID. You will be taken to that country's own \
                    login and brought back here afterwards.",
    chooser_legend: "Your eID is from",
    continue_: "Continue",
    chooser_none: "There are no countries to choose from right now. Go back to the service and try \
                   again later.",
    back_to_service: "Back to the service",
    post_title: "Taking you on",
    post_body: "You are being taken to the login of the country you chose.",
    post_button: "Continue",
    repost_title: "One moment",
    repost_body: "We are finishing your login.",
    repost_button: "Continue",
    cancelled_title: "You cancelled the login",
    cancelled_body: "The login with your eID from {country} was cancelled, or you declined to send \
                     your details. You are not logged in.",
    failed_title: "The login did not succeed",
    failed_body: "The login with your eID from {country} did not succeed. You are not logged in.",
    level_title: "Your eID is not secure enough for the service",
    level_body: "The service requires a higher level of assurance than your eID from {country} \
                 gives.",
    unavailable_title: "Login is not possible right now",
    unavailable_body: "The login service of {country} cannot be reached right now.",
    refused_title: "The login could not be completed",
    refused_body: "The answer from {country} could not be accepted, so you are not logged in.",
    next_heading: "What can you do?",
    next_try_again: "Go back to the service and try again in a little while.",
    next_contact: "If it happens again, contact the issuer of your eID in {country} or the \
                   service's support.",
    error_title: "Something went wrong",
    error_body: "Your request could not be handled.",
    expired_title: "Your login has expired or is already finished",
    expired_body: "It took too long, or the page was sent twice.",
    csrf_title: "The form could not be accepted",
    csrf_body: "The page was too old, or it came from somewhere else.",
    browser_title: "The login was started in another browser",
    browser_body: "A login must be finished in the same browser it was started in.",
    down_title: "The service is not available",
    down_body: "We cannot complete your login right now.",
    not_found_title: "Page not found",
    not_found_body: "The address is wrong or out of date.",
    start_again: "Go back to the service and start again.",
};
