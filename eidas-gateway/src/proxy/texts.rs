//! The proxy service's page texts in Danish and English, and country names.

use eid_core::Lang;
use eid_saml::eidas::EidasLoa;

/// Every text on the proxy service's pages (one field a text; the names say where it is used).
#[allow(missing_docs)]
#[derive(Debug, serde::Serialize)]
pub struct Texts {
    pub lang: &'static str,
    pub service: &'static str,
    pub skip_to_content: &'static str,
    pub consent_title: &'static str,
    /// Before the country's name: "You are about to send these details to".
    pub consent_to: &'static str,
    /// Between the country and the service: "for".
    pub consent_for: &'static str,
    pub consent_table_caption: &'static str,
    pub identifier: &'static str,
    pub identifier_help: &'static str,
    pub given_name: &'static str,
    pub family_name: &'static str,
    pub date_of_birth: &'static str,
    pub level: &'static str,
    pub level_low: &'static str,
    pub level_substantial: &'static str,
    pub level_high: &'static str,
    pub consent_question: &'static str,
    pub send: &'static str,
    pub do_not_send: &'static str,
    pub decline_help: &'static str,
    pub post_title: &'static str,
    pub post_body: &'static str,
    pub post_button: &'static str,
    pub unknown_connector_title: &'static str,
    pub unknown_connector_body: &'static str,
    pub bad_request_title: &'static str,
    pub bad_request_body: &'static str,
    pub expired_title: &'static str,
    pub expired_body: &'static str,
    pub forbidden_title: &'static str,
    pub forbidden_body: &'static str,
    pub unavailable_title: &'static str,
    pub unavailable_body: &'static str,
    /// What to do next on every error page.
    pub start_again: &'static str,
    pub try_later: &'static str,
}

/// Danish.
pub static DA: Texts = Texts {
    lang: "da",
    service: "eID-Gateway",
    skip_to_content: "Gå til indholdet",
    consent_title: "Send dine oplysninger",
    consent_to: "Du er ved at sende disse oplysninger til",
    consent_for: "til brug hos",
    consent_table_caption: "Oplysninger, der sendes",
    identifier: "Identifikation",
    identifier_help: "Et nummer, som kun bruges over for dette land. Dit CPR-nummer sendes ikke.",
    given_name: "Fornavn",
    family_name: "Efternavn",
    date_of_birth: "Fødselsdato",
    level: "Sikringsniveau",
    level_low: "Lavt",
    level_substantial: "Betydeligt",
    level_high: "Højt",
    consent_question: "Vil du sende oplysningerne?",
    send: "Send",
    do_not_send: "Send ikke",
    decline_help: "Hvis du ikke sender dem, kan du ikke logge på tjenesten.",
    post_title: "Du sendes videre",
    post_body: "Du sendes nu tilbage til tjenesten.",
    post_button: "Fortsæt",
    unknown_connector_title: "Tjenesten kendes ikke",
    unknown_connector_body: "Den udenlandske tjeneste, som sendte dig hertil, er ikke godkendt til at bruge dansk MitID.",
    bad_request_title: "Anmodningen kunne ikke bruges",
    bad_request_body: "Den udenlandske tjeneste sendte en anmodning, som vi ikke kunne godkende.",
    expired_title: "Dit login er udløbet",
    expired_body: "Vi kunne ikke finde dit login. Det kan være udløbet, eller det blev startet i en anden browser.",
    forbidden_title: "Handlingen blev afvist",
    forbidden_body: "Siden blev sendt fra en anden browser eller er for gammel.",
    unavailable_title: "Tjenesten er ikke tilgængelig lige nu",
    unavailable_body: "Vi kan ikke gennemføre dit login i øjeblikket.",
    start_again: "Gå tilbage til den udenlandske tjeneste, og start forfra.",
    try_later: "Prøv igen om lidt fra den udenlandske tjeneste.",
};

/// English.
pub static EN: Texts = Texts {
    lang: "en",
    service: "eID Gateway",
    skip_to_content: "Skip to content",
    consent_title: "Send your details",
    consent_to: "You are about to send these details to",
    consent_for: "for",
    consent_table_caption: "Details to be sent",
    identifier: "Identifier",
    identifier_help: "A number used only towards this country. Your CPR number is not sent.",
    given_name: "Given name",
    family_name: "Family name",
    date_of_birth: "Date of birth",
    level: "Level of assurance",
    level_low: "Low",
    level_substantial: "Substantial",
    level_high: "High",
    consent_question: "Do you want to send these details?",
    send: "Send",
    do_not_send: "Do not send",
    decline_help: "If you do not send them, you cannot log in to the service.",
    post_title: "Taking you back",
    post_body: "You are now being sent back to the service.",
    post_button: "Continue",
    unknown_connector_title: "Unknown service",
    unknown_connector_body: "The foreign service that sent you here is not approved to use Danish MitID.",
    bad_request_title: "The request could not be used",
    bad_request_body: "The foreign service sent a request we could not accept.",
    expired_title: "Your login has expired",
    expired_body: "We could not find your login. It may have expired, or it was started in another browser.",
    forbidden_title: "Not allowed",
    forbidden_body: "The page was sent from another browser or is too old.",
    unavailable_title: "The service is not available right now",
    unavailable_body: "We cannot complete your login at the moment.",
    start_again: "Go back to the foreign service and start again.",
    try_later: "Try again shortly from the foreign service.",
};

/// The texts of `lang`.
pub fn texts(lang: Lang) -> &'static Texts {
    match lang {
        Lang::Da => &DA,
        Lang::En => &EN,
    }
}

impl Texts {
    /// The name of a level.
    pub fn loa(&self, loa: EidasLoa) -> &'static str {
        match loa {
            EidasLoa::Low => self.level_low,
            EidasLoa::Substantial => self.level_substantial,
            EidasLoa::High => self.level_high,
        }
    }
}

/// Countries that may run an eIDAS connector (EU, EEA, the demo's `XA`): code, Danish, English.
const COUNTRIES: [(&str, &str, &str); 31] = [
    ("AT", "Østrig", "Austria"),
    ("BE", "Belgien", "Belgium"),
    ("BG", "Bulgarien", "Bulgaria"),
    ("CY", "Cypern", "Cyprus"),
    ("CZ", "Tjekkiet", "Czechia"),
    ("DE", "Tyskland", "Germany"),
    ("EE", "Estland", "Estonia"),
    ("EL", "Grækenland", "Greece"),
    ("ES", "Spanien", "Spain"),
    ("FI", "Finland", "Finland"),
    ("FR", "Frankrig", "France"),
    ("HR", "Kroatien", "Croatia"),
    ("HU", "Ungarn", "Hungary"),
    ("IE", "Irland", "Ireland"),
    ("IS", "Island", "Iceland"),
    ("IT", "Italien", "Italy"),
    ("LI", "Liechtenstein", "Liechtenstein"),
    ("LT", "Litauen", "Lithuania"),
    ("LU", "Luxembourg", "Luxembourg"),
    ("LV", "Letland", "Latvia"),
    ("MT", "Malta", "Malta"),
    ("NL", "Nederlandene", "Netherlands"),
    ("NO", "Norge", "Norway"),
    ("PL", "Polen", "Poland"),
    ("PT", "Portugal", "Portugal"),
    ("RO", "Rumænien", "Romania"),
    ("SE", "Sverige", "Sweden"),
    ("SI", "Slovenien", "Slovenia"),
    ("SK", "Slovakiet", "Slovakia"),
    ("XA", "Xanadu (demo)", "Xanadu (demo)"),
    ("XB", "Xanadu B (demo)", "Xanadu B (demo)"),
];

/// The name of the country `code` in `lang`, or the code itself when we know no name.
pub fn country_name(code: &str, lang: Lang) -> String {
    COUNTRIES
        .iter()
        .find(|(c, _, _)| *c == code)
        .map(|(_, da, en)| match lang {
            Lang::Da => (*da).to_owned(),
            Lang::En => (*en).to_owned(),
        })
        .unwrap_or_else(|| code.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_languages_are_filled_in_and_differ_where_they_should() {
        let (da, en) = (
            serde_json::to_value(&DA).unwrap_or_default(),
            serde_json::to_value(&EN).unwrap_or_default(),
        );
        for (field, value) in da.as_object().into_iter().flatten() {
            assert!(value.as_str().is_some_and(|s| !s.is_empty()), "da.{field}");
            assert!(
                en[field].as_str().is_some_and(|s| !s.is_empty()),
                "en.{field}"
            );
        }
        assert_ne!(DA.consent_title, EN.consent_title);
    }

    /// Each page speaks one language and takes every word from these texts.
    #[test]
    fn danish_pages_hold_no_english_and_english_pages_no_danish() {
        let problems = eid_web::wording::problems(
            &serde_json::to_value(&DA).unwrap_or_default(),
            &serde_json::to_value(&EN).unwrap_or_default(),
            &["send", "gateway"],
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/proxy"),
        );
        assert!(problems.is_empty(), "{problems:#?}");
    }

    #[test]
    fn country_names_fall_back_to_the_code() {
        assert_eq!(country_name("SE", Lang::Da), "Sverige");
        assert_eq!(country_name("SE", Lang::En), "Sweden");
        assert_eq!(country_name("ZZ", Lang::En), "ZZ");
    }
}
