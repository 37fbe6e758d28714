//! What My MitID says about a person's authenticators and their history, in the person's words and
//! language: the names of the kinds ("Kodeviser", "Sikkerhedsnøgle"), and each audit event as a
//! sentence ("Du loggede på hos Borger.dk med adgangskode") naming the service by its display
//! name, never the raw event kind or client id. Also for the pages that come later (the person's
//! log).

use eid_core::{AuditEvent, AuditOutcome, AuthenticatorKind, Lang};

/// The words of My MitID that are not on other pages.
#[allow(missing_docs)]
#[derive(Debug, serde::Serialize)]
pub struct AccountWords {
    pub methods_intro: &'static str,
    pub name: &'static str,
    pub name_help: &'static str,
    pub rename: &'static str,
    pub save_name: &'static str,
    pub bad_name: &'static str,
    pub renamed: &'static str,
    pub added_on: &'static str,
    pub last_used: &'static str,
    pub level: &'static str,
    pub add_method: &'static str,
    pub code_display_intro: &'static str,
    pub start_code_display: &'static str,
    pub scan_qr: &'static str,
    pub qr_name: &'static str,
    pub type_secret: &'static str,
    pub confirm_code_display: &'static str,
    pub code_display_title: &'static str,
    pub passkey_title: &'static str,
    pub app_title: &'static str,
    pub add_passkey: &'static str,
    pub new_password: &'static str,
    pub passkey_intro: &'static str,
    pub app_intro: &'static str,
    pub password_title: &'static str,
    pub recent_activity: &'static str,
    pub no_activity: &'static str,
    pub refused: &'static str,
}

static DA: AccountWords = AccountWords {
    methods_intro: "Det er de måder, du kan logge på med dit MitID.",
    name: "Navn",
    name_help: "Højst 40 tegn, så du kan kende den igen.",
    rename: "Skift navn",
    save_name: "Gem navn",
    bad_name: "Navnet skal være 1 til 40 tegn og må ikke indeholde usynlige tegn eller kontroltegn.",
    renamed: "Navnet er gemt.",
    added_on: "Tilføjet",
    last_used: "Sidst brugt",
    level: "Sikringsniveau",
    add_method: "Tilføj en måde at logge på",
    code_display_intro: "En kodeviser viser en ny kode hvert halve minut. Du kan bruge en kodeviser-app på din telefon.",
    start_code_display: "Tilføj kodeviser",
    scan_qr: "Skan QR-koden med din kodeviser-app.",
    qr_name: "QR-kode til din kodeviser-app",
    type_secret: "Kan du ikke skanne, så skriv denne nøgle i appen:",
    confirm_code_display: "Gem kodeviser",
    code_display_title: "Kodeviser",
    passkey_title: "Sikkerhedsnøgle",
    app_title: "MitID-app",
    add_passkey: "Tilføj sikkerhedsnøgle",
    new_password: "Ny adgangskode",
    passkey_intro: "En sikkerhedsnøgle (passkey) ligger på din telefon, computer eller en fysisk nøgle.",
    app_intro: "Tilknyt MitID-appen på din telefon med en kode, du laver her.",
    password_title: "Adgangskode",
    recent_activity: "Seneste hændelser",
    no_activity: "Der er ingen hændelser endnu.",
    refused: "Afvist",
};

static EN: AccountWords = AccountWords {
    methods_intro: "These are the ways you can log in with your MitID.",
    name: "Name",
    name_help: "At most 40 characters, so that you recognise it.",
    rename: "Change name",
    save_name: "Save name",
    bad_name: "The name must be 1 to 40 characters without invisible or control characters.",
    renamed: "The name is saved.",
    added_on: "Added",
    last_used: "Last used",
    level: "Level of assurance",
    add_method: "Add a way to log in",
    code_display_intro: "A code display shows a new code every half minute. You can use a code display app on your phone.",
    start_code_display: "Add a code display",
    scan_qr: "Scan the QR code with your code display app.",
    qr_name: "QR code for your code display app",
    type_secret: "If you cannot scan it, type this key into the app:",
    confirm_code_display: "Save code display",
    code_display_title: "Code display",
    passkey_title: "Passkey",
    app_title: "MitID app",
    add_passkey: "Add a passkey",
    new_password: "New password",
    passkey_intro: "A passkey is kept on your phone, your computer or a physical security key.",
    app_intro: "Pair the MitID app on your phone with a code you make here.",
    password_title: "Password",
    recent_activity: "Recent activity",
    no_activity: "Nothing has happened yet.",
    refused: "Refused",
};

/// The words of My MitID in `lang`.
pub fn words(lang: Lang) -> &'static AccountWords {
    match lang {
        Lang::Da => &DA,
        Lang::En => &EN,
    }
}

/// The name of a kind of authenticator, as a heading or list entry ("Kodeviser").
pub fn kind_name(lang: Lang, kind: AuthenticatorKind) -> &'static str {
    match (lang, kind) {
        (Lang::Da, AuthenticatorKind::Password) => "Adgangskode",
        (Lang::Da, AuthenticatorKind::CodeDisplay) => "Kodeviser",
        (Lang::Da, AuthenticatorKind::App) => "MitID-app",
        (Lang::Da, AuthenticatorKind::Passkey) => "Sikkerhedsnøgle",
        (Lang::En, AuthenticatorKind::Password) => "Password",
        (Lang::En, AuthenticatorKind::CodeDisplay) => "Code display",
        (Lang::En, AuthenticatorKind::App) => "MitID app",
        (Lang::En, AuthenticatorKind::Passkey) => "Passkey",
    }
}

/// How a login method reads inside a sentence ("… med kodeviser og adgangskode").
fn method_in_sentence(lang: Lang, kind: AuthenticatorKind) -> &'static str {
    match (lang, kind) {
        (Lang::Da, AuthenticatorKind::Password) => "adgangskode",
        (Lang::Da, AuthenticatorKind::CodeDisplay) => "kodeviser og adgangskode",
        (Lang::Da, AuthenticatorKind::App) => "MitID-appen",
        (Lang::Da, AuthenticatorKind::Passkey) => "sikkerhedsnøgle",
        (Lang::En, AuthenticatorKind::Password) => "your password",
        (Lang::En, AuthenticatorKind::CodeDisplay) => "your code display and password",
        (Lang::En, AuthenticatorKind::App) => "the MitID app",
        (Lang::En, AuthenticatorKind::Passkey) => "a passkey",
    }
}

/// The default name of a person's `n`-th authenticator of `kind` (1-based): "Kodeviser",
/// "Kodeviser 2", …
pub fn default_label(lang: Lang, kind: AuthenticatorKind, n: usize) -> String {
    let name = kind_name(lang, kind);
    if n <= 1 {
        name.to_owned()
    } else {
        format!("{name} {n}")
    }
}

/// Labels the authenticator stored before people named them: not a name the person gave.
const LEGACY_DEFAULTS: [&str; 4] = ["Password", "Code display", "Phone", "Passkey"];

/// The name to show for an authenticator: the label the person gave, else the kind's name in the
/// page's language, numbered when the person has more than one of the kind without a name
/// (`nth` is its 1-based position among those, `of` how many there are).
pub fn shown_label(
    lang: Lang,
    kind: AuthenticatorKind,
    label: &str,
    nth: usize,
    of: usize,
) -> String {
    if is_unnamed(label) {
        default_label(lang, kind, if of > 1 { nth } else { 1 })
    } else {
        label.to_owned()
    }
}

/// Whether a stored label is no name the person gave (empty, or an old English default).
pub fn is_unnamed(label: &str) -> bool {
    label.trim().is_empty() || LEGACY_DEFAULTS.contains(&label)
}

fn detail<'a>(event: &'a AuditEvent, key: &str) -> Option<&'a str> {
    event.details.get(key).and_then(|v| v.as_str())
}

fn level(lang: Lang, event: &AuditEvent, key: &str) -> Option<&'static str> {
    detail(event, key)
        .and_then(|w| eid_core::Loa::parse(w).ok())
        .map(|l| l.name(lang))
}

/// One audit event concerning the person, as a sentence in `lang`. `client_name` gives a client's
/// display name by its id; the service's own name pushed with the login (detail `service`) comes
/// first. Unknown kinds still give a sentence, never the raw kind.
pub fn sentence(
    lang: Lang,
    event: &AuditEvent,
    client_name: &dyn Fn(&str) -> Option<String>,
) -> String {
    let da = lang == Lang::Da;
    let named = detail(event, "service")
        .map(str::to_owned)
        .or_else(|| event.client.as_deref().and_then(client_name));
    let service = || {
        named
            .clone()
            .unwrap_or_else(|| if da { "en tjeneste" } else { "a service" }.to_owned())
    };
    // At the start of a sentence.
    let service_first = || {
        named
            .clone()
            .unwrap_or_else(|| if da { "En tjeneste" } else { "A service" }.to_owned())
    };
    let method = detail(event, "method").and_then(AuthenticatorKind::from_stored);
    let kind = detail(event, "kind").and_then(AuthenticatorKind::from_stored);
    let kind_title = |fallback_da: &str, fallback_en: &str| match kind {
        Some(k) => kind_name(lang, k).to_owned(),
        None if da => fallback_da.to_owned(),
        None => fallback_en.to_owned(),
    };
    let unknown_level = if da {
        "et andet niveau"
    } else {
        "another level"
    };
    match (event.kind.as_str(), event.outcome) {
        ("login.success", _) => {
            let how = method.map(|m| method_in_sentence(lang, m));
            match (
                event.client.is_some() || detail(event, "service").is_some(),
                how,
                da,
            ) {
                (true, Some(how), true) => format!("Du loggede på hos {} med {how}", service()),
                (true, Some(how), false) => format!("You logged in to {} with {how}", service()),
                (true, None, true) => format!("Du loggede på hos {}", service()),
                (true, None, false) => format!("You logged in to {}", service()),
                (false, Some(how), true) => format!("Du loggede på Mit MitID med {how}"),
                (false, Some(how), false) => format!("You logged in to My MitID with {how}"),
                (false, None, true) => "Du loggede på Mit MitID".to_owned(),
                (false, None, false) => "You logged in to My MitID".to_owned(),
            }
        }
        ("login.failure", _) => {
            let reason = detail(event, "reason").unwrap_or_default();
            let why = match (reason, method, da) {
                ("wrong password", _, true) => "forkert adgangskode",
                ("wrong password", _, false) => "wrong password",
                ("wrong password or code", _, true) => "forkert adgangskode eller kode",
                ("wrong password or code", _, false) => "wrong password or code",
                ("code already used", _, true) => "koden var allerede brugt",
                ("code already used", _, false) => "the code had already been used",
                ("refused in the app", _, true) => "afvist i MitID-appen",
                ("refused in the app", _, false) => "refused in the MitID app",
                ("app request expired", _, true) => "anmodningen til MitID-appen udløb",
                ("app request expired", _, false) => "the request to the MitID app expired",
                (_, Some(AuthenticatorKind::Passkey), true) => {
                    "sikkerhedsnøglen blev ikke godkendt"
                }
                (_, Some(AuthenticatorKind::Passkey), false) => "the passkey was not accepted",
                (_, _, true) => "forkerte oplysninger",
                (_, _, false) => "wrong details",
            };
            if da {
                format!("Log-in afvist: {why}")
            } else {
                format!("Login refused: {why}")
            }
        }
        ("login.locked_out", _) => if da {
            "Log-in spærret efter for mange forkerte forsøg"
        } else {
            "Login blocked after too many wrong attempts"
        }
        .to_owned(),
        ("login.level_too_low", _) => {
            let required = level(lang, event, "required").unwrap_or(unknown_level);
            let achieved = level(lang, event, "achieved").unwrap_or(unknown_level);
            if da {
                format!(
                    "{} krævede sikringsniveau {required}; dit log-in gav {achieved}",
                    service_first()
                )
            } else {
                format!(
                    "{} required level of assurance {required}; your login gave {achieved}",
                    service_first()
                )
            }
        }
        ("login.level_unreachable", _) => {
            let required = level(lang, event, "required").unwrap_or(unknown_level);
            if da {
                format!(
                    "{} krævede sikringsniveau {required}, som dit MitID ikke når",
                    service_first()
                )
            } else {
                format!(
                    "{} required level of assurance {required}, which your MitID cannot give",
                    service_first()
                )
            }
        }
        ("authenticator.added", _) => {
            let what = kind_title("Loginmetode", "Login method");
            if da {
                format!("{what} tilføjet")
            } else {
                format!("{what} added")
            }
        }
        ("authenticator.removed", _) => {
            let what = kind_title("Loginmetode", "Login method");
            if da {
                format!("{what} fjernet")
            } else {
                format!("{what} removed")
            }
        }
        ("authenticator.renamed", _) => {
            let what = kind_title("Loginmetode", "Login method");
            if da {
                format!("{what} fik nyt navn")
            } else {
                format!("{what} renamed")
            }
        }
        ("password.changed", _) => if da {
            "Adgangskode skiftet"
        } else {
            "Password changed"
        }
        .to_owned(),
        ("account.step_up_required", _) => if da {
            "Du blev bedt om at logge på igen før en ændring"
        } else {
            "You were asked to log in again before a change"
        }
        .to_owned(),
        ("activation.success", _) => if da {
            "MitID aktiveret"
        } else {
            "MitID activated"
        }
        .to_owned(),
        ("activation.failure", _) => if da {
            "Aktivering afvist"
        } else {
            "Activation refused"
        }
        .to_owned(),
        ("logout", _) => if da {
            "Du loggede af"
        } else {
            "You logged out"
        }
        .to_owned(),
        ("form.csrf_rejected", _) => if da {
            "En formular blev afvist, fordi siden var for gammel"
        } else {
            "A form was refused because the page was out of date"
        }
        .to_owned(),
        ("app.pairing_failed", _) => if da {
            "Tilknytning af MitID-appen afvist"
        } else {
            "Pairing of the MitID app refused"
        }
        .to_owned(),
        ("app.request_expired", _) => if da {
            "MitID-appen svarede på en anmodning, der var udløbet"
        } else {
            "The MitID app answered a request that had expired"
        }
        .to_owned(),
        ("app.foreign_device", _) => if da {
            "En anden persons MitID-app forsøgte at svare på din anmodning; det blev afvist"
        } else {
            "Another person's MitID app tried to answer your request; it was refused"
        }
        .to_owned(),
        (_, AuditOutcome::Success) => if da {
            "Der skete en ændring på dit MitID"
        } else {
            "A change was made to your MitID"
        }
        .to_owned(),
        (_, AuditOutcome::Failure) => if da {
            "Noget blev afvist på dit MitID"
        } else {
            "Something was refused on your MitID"
        }
        .to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn event(kind: &str, outcome: AuditOutcome) -> AuditEvent {
        AuditEvent::new(datetime!(2026-11-30 08:15 UTC), "idp", kind, outcome)
    }

    fn names(id: &str) -> Option<String> {
        (id == "broker").then(|| "NemLog-in (demo)".to_owned())
    }

    #[test]
    fn logins_name_the_service_and_the_method() {
        let e = event("login.success", AuditOutcome::Success)
            .client("broker")
            .detail("method", "password")
            .detail("service", "Borger.dk");
        assert_eq!(
            sentence(Lang::Da, &e, &names),
            "Du loggede på hos Borger.dk med adgangskode"
        );
        let e = event("login.success", AuditOutcome::Success)
            .client("broker")
            .detail("method", "code_display");
        assert_eq!(
            sentence(Lang::En, &e, &names),
            "You logged in to NemLog-in (demo) with your code display and password"
        );
        let e = event("login.level_unreachable", AuditOutcome::Failure)
            .client("gone")
            .detail("required", "High");
        assert_eq!(
            sentence(Lang::Da, &e, &names),
            "En tjeneste krævede sikringsniveau Høj, som dit MitID ikke når"
        );
    }

    #[test]
    fn refusals_and_changes_are_sentences() {
        let e = event("login.failure", AuditOutcome::Failure)
            .detail("method", "password")
            .detail("reason", "wrong password");
        assert_eq!(
            sentence(Lang::Da, &e, &names),
            "Log-in afvist: forkert adgangskode"
        );
        let e = event("authenticator.added", AuditOutcome::Success).detail("kind", "code_display");
        assert_eq!(sentence(Lang::Da, &e, &names), "Kodeviser tilføjet");
        assert_eq!(sentence(Lang::En, &e, &names), "Code display added");
    }

    #[test]
    fn unknown_kinds_are_a_sentence_not_the_raw_name() {
        for outcome in [AuditOutcome::Success, AuditOutcome::Failure] {
            for lang in [Lang::Da, Lang::En] {
                let s = sentence(lang, &event("something.new_and_odd", outcome), &names);
                assert!(!s.contains("something") && !s.contains('.') && !s.contains('_'));
                assert!(s.contains("MitID"), "{s}");
            }
        }
    }

    /// Every sentence and word this module writes, in one language, as (name, text) pairs.
    fn everything(lang: Lang) -> Vec<(String, String)> {
        let mut out =
            eid_web::wording::strings(&serde_json::to_value(words(lang)).unwrap_or_default());
        for kind in AuthenticatorKind::ALL {
            out.push((format!("kind {kind:?}"), kind_name(lang, kind).to_owned()));
            out.push((
                format!("method {kind:?}"),
                method_in_sentence(lang, kind).to_owned(),
            ));
        }
        let kinds = [
            "login.success",
            "login.failure",
            "login.locked_out",
            "login.level_too_low",
            "login.level_unreachable",
            "authenticator.added",
            "authenticator.removed",
            "authenticator.renamed",
            "password.changed",
            "account.step_up_required",
            "activation.success",
            "activation.failure",
            "logout",
            "form.csrf_rejected",
            "app.pairing_failed",
            "app.request_expired",
            "app.foreign_device",
            "unknown.kind",
        ];
        for kind in kinds {
            for outcome in [AuditOutcome::Success, AuditOutcome::Failure] {
                for reason in [
                    "wrong password",
                    "wrong password or code",
                    "code already used",
                    "refused in the app",
                    "app request expired",
                    "other",
                ] {
                    let e = event(kind, outcome)
                        .detail("reason", reason)
                        .detail("required", "High")
                        .detail("achieved", "Low");
                    out.push((kind.to_owned(), sentence(lang, &e, &|_| None)));
                    let e = e
                        .client("x")
                        .detail("method", "passkey")
                        .detail("kind", "app");
                    out.push((kind.to_owned(), sentence(lang, &e, &|_| None)));
                }
            }
        }
        out
    }

    #[test]
    fn danish_words_stay_danish_and_english_words_english() {
        // "app", "passkey" and "QR" are used in Danish too.
        let found = eid_web::wording::mixed(
            &everything(Lang::Da),
            &everything(Lang::En),
            &["app", "passkey", "qr"],
        );
        assert!(found.is_empty(), "words in both languages: {found:#?}");
    }

    #[test]
    fn unnamed_authenticators_get_the_kind_name_numbered() {
        let k = AuthenticatorKind::CodeDisplay;
        assert_eq!(shown_label(Lang::Da, k, "", 1, 1), "Kodeviser");
        assert_eq!(
            shown_label(Lang::Da, k, "Code display", 2, 2),
            "Kodeviser 2"
        );
        assert_eq!(shown_label(Lang::En, k, "Drawer", 2, 2), "Drawer");
        assert_eq!(default_label(Lang::Da, k, 2), "Kodeviser 2");
    }
}
