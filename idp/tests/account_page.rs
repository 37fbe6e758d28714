//! My MitID as the person reads it (issue 13, point 6): history as sentences in the page's
//! language naming the service, no raw event names; kinds and levels in the page's language; times
//! in Copenhagen local time; naming and renaming authenticators (bounded, printable, a fresh login,
//! audited); a QR code drawn on the server when adding a code display; no wide table, no button
//! repeating its section's heading.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use eid_core::{AuditOutcome, AuthenticatorKind, Clock};
use harness::{ANNA, Client, Harness, MIKKEL, Reply};

/// The account page again, in `lang`.
async fn account_in(h: &Harness, client: &mut Client, lang: &str) -> Reply {
    client
        .headers
        .retain(|(name, _)| *name != "accept-language");
    client.headers.push(("accept-language", lang.to_owned()));
    h.idp.audit.flush().await;
    let page = h.get(client, "/account").await;
    assert_eq!(page.status, 200, "{}", page.body);
    page
}

/// The texts between `<tag>` and `</tag>` (any attributes), tags inside removed.
fn texts_of(body: &str, tag: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(start) = rest.find(&format!("<{tag}")) {
        let after = &rest[start + tag.len() + 1..];
        if !(after.starts_with('>') || after.starts_with(' ')) {
            rest = after;
            continue;
        }
        let Some(open_end) = after.find('>') else {
            break;
        };
        let inner = &after[open_end + 1..];
        let close = inner.find(&format!("</{tag}>")).unwrap_or(inner.len());
        let mut text = String::new();
        let mut in_tag = false;
        for c in inner[..close].chars() {
            match c {
                '<' => in_tag = true,
                '>' => in_tag = false,
                c if !in_tag => text.push(c),
                _ => {}
            }
        }
        out.push(text.trim().to_owned());
        rest = &inner[close..];
    }
    out
}

/// The events list of the page, one text per event.
fn events(page: &Reply) -> Vec<String> {
    let start = page
        .body
        .find("<ol class=\"events\">")
        .expect("an events list");
    let end = start + page.body[start..].find("</ol>").unwrap();
    texts_of(&page.body[start..end], "li")
}

/// The id of a person's authenticator of `kind` (the first).
async fn id_of(h: &Harness, person: &str, kind: AuthenticatorKind) -> String {
    h.authenticators(person)
        .await
        .iter()
        .find(|a| a.kind == kind)
        .unwrap()
        .id
        .to_string()
}

/// The label of Anna's first code display.
async fn code_label(h: &Harness) -> String {
    h.authenticators(ANNA)
        .await
        .into_iter()
        .find(|a| a.kind == AuthenticatorKind::CodeDisplay)
        .unwrap()
        .label
}

/// How many code displays Anna has.
async fn code_displays(h: &Harness) -> usize {
    h.authenticators(ANNA)
        .await
        .iter()
        .filter(|a| a.kind == AuthenticatorKind::CodeDisplay)
        .count()
}

#[tokio::test]
async fn events_are_sentences_naming_the_service_in_local_time() {
    let h = Harness::new().await;
    // A wrong password first, then a login with code display (both at 12:00 UTC, 14:00 in
    // Copenhagen in June).
    let mut wrong = Client::new();
    let methods = h.start_account_login(&mut wrong, "anna").await;
    h.submit_password(&mut wrong, &methods, "not-the-password")
        .await;
    // A login to a service through the broker (its pushed name), one refused for its level by a
    // client the authenticator no longer knows, and an event kind this page has never heard of.
    let anna = uuid::Uuid::parse_str(ANNA).unwrap();
    for event in [
        h.idp
            .event("login.success", AuditOutcome::Success)
            .person(anna)
            .client("broker")
            .detail("method", "password")
            .detail("loa", "Low")
            .detail("service", "Borger.dk"),
        h.idp
            .event("login.level_unreachable", AuditOutcome::Failure)
            .person(anna)
            .client("gone-client")
            .detail("required", "High"),
        h.idp
            .event("frobnicate.some_new_kind", AuditOutcome::Failure)
            .person(anna),
    ] {
        h.idp.audit(event).await.unwrap();
    }
    let (mut client, _) = h.code_display_session("anna", "anna-pass-1").await;

    let da = account_in(&h, &mut client, "da").await;
    let list = events(&da);
    let all = list.join("\n");
    for sentence in [
        "Log-in afvist: forkert adgangskode",
        "Du loggede på hos Borger.dk med adgangskode",
        "En tjeneste krævede sikringsniveau Høj, som dit MitID ikke når",
        "Noget blev afvist på dit MitID",
        "Du loggede på Mit MitID med kodeviser og adgangskode",
    ] {
        assert!(all.contains(sentence), "{sentence:?} in {all}");
    }
    for raw in [
        "login.",
        "frobnicate",
        "some_new_kind",
        "level_unreachable",
        "→",
        "broker",
        "gone-client",
        "wrong password",
    ] {
        assert!(!da.body.contains(raw), "{raw:?} on the page");
    }
    // Local time, never UTC.
    assert!(!all.contains("UTC") && !all.contains("12.00"), "{all}");
    assert!(all.contains("1. juni 2026 kl. 14.00"), "{all}");
    assert!(da.body.contains("<time datetime=\"2026-06-01T12:00:00Z\">"));
    assert!(all.contains("(Afvist)"), "{all}");

    let en = account_in(&h, &mut client, "en").await;
    let all = events(&en).join("\n");
    for sentence in [
        "Login refused: wrong password",
        "You logged in to Borger.dk with your password",
        "A service required level of assurance High, which your MitID cannot give",
        "You logged in to My MitID with your code display and password",
        "1 June 2026 at 14:00",
    ] {
        assert!(all.contains(sentence), "{sentence:?} in {all}");
    }
    assert!(!all.contains("login."), "{all}");
}

#[tokio::test]
async fn kinds_and_levels_speak_the_page_language_and_the_page_fits_a_phone() {
    let h = Harness::new().await;
    let (mut client, _) = h.code_display_session("anna", "anna-pass-1").await;
    let da = account_in(&h, &mut client, "da").await;
    let facts = texts_of(&da.body, "dd");
    for word in [
        "Adgangskode",
        "Kodeviser",
        "Lav",
        "Betydelig",
        "1. juni 2026 kl. 14.00",
    ] {
        assert!(facts.iter().any(|f| f == word), "{word:?} in {facts:?}");
    }
    for english in ["Password", "Code display", "Substantial", "Low", "Never"] {
        assert!(
            !facts.iter().any(|f| f == english),
            "{english:?} in {facts:?}"
        );
    }
    let en = account_in(&h, &mut client, "en").await;
    let facts = texts_of(&en.body, "dd");
    for word in ["Password", "Code display", "Low", "Substantial"] {
        assert!(facts.iter().any(|f| f == word), "{word:?} in {facts:?}");
    }
    for page in [&da, &en] {
        // A list of cards, not a wide table.
        assert!(!page.body.contains("<table"), "{}", page.body);
        assert!(page.body.contains("<ul class=\"cards\">"));
        // No section repeats its heading as its button.
        let mut headings = texts_of(&page.body, "h2");
        headings.extend(texts_of(&page.body, "h3"));
        for button in texts_of(&page.body, "button") {
            assert!(
                !headings.contains(&button),
                "button {button:?} repeats a heading"
            );
        }
        // Each section's own button once (only the per-authenticator ones repeat, one per card).
        let buttons = texts_of(&page.body, "button");
        let per_card = ["Fjern", "Gem navn", "Remove", "Save name"];
        for button in buttons.iter().filter(|b| !per_card.contains(&b.as_str())) {
            assert_eq!(
                buttons.iter().filter(|b| b == &button).count(),
                1,
                "{button} in {buttons:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_person_renames_their_authenticator_within_bounds_after_a_fresh_login() {
    let h = Harness::new().await;
    let code = id_of(&h, ANNA, AuthenticatorKind::CodeDisplay).await;
    let (mut client, account) = h.code_display_session("anna", "anna-pass-1").await;
    let csrf = account.input("csrf");
    let before = code_label(&h).await;

    // Refused, nothing stored: too long, empty, control or invisible characters.
    let too_long = "k".repeat(41);
    for bad in [
        too_long.as_str(),
        "",
        "   ",
        "Kode\u{7}viser",
        "Kode\nviser",
        "Kode\u{202e}viser",
        "Kode\u{200b}viser",
    ] {
        let answer = h
            .post(
                &mut client,
                "/account/rename",
                &[("csrf", &csrf), ("id", &code), ("label", bad)],
            )
            .await;
        assert_eq!(answer.status, 400, "{bad:?}: {}", answer.body);
        // (A control character is already refused as a malformed form.)
        if !bad.chars().any(char::is_control) {
            assert!(
                answer.body.contains("1 til 40 tegn"),
                "{bad:?}: {}",
                answer.body
            );
        }
        assert_eq!(code_label(&h).await, before, "{bad:?}");
    }
    // Not an id, another person's, or the password (which has no name): refused with 400,
    // nothing changed.
    let mikkels = id_of(&h, MIKKEL, AuthenticatorKind::CodeDisplay).await;
    let password = id_of(&h, ANNA, AuthenticatorKind::Password).await;
    for id in [
        "not-a-uuid",
        mikkels.as_str(),
        password.as_str(),
        "",
        &"9".repeat(5000),
    ] {
        let answer = h
            .post(
                &mut client,
                "/account/rename",
                &[("csrf", &csrf), ("id", id), ("label", "Mine now")],
            )
            .await;
        assert_eq!(answer.status, 400, "{id:?}: {}", answer.body);
    }
    assert!(
        h.authenticators(MIKKEL)
            .await
            .iter()
            .chain(h.authenticators(ANNA).await.iter())
            .all(|a| a.label != "Mine now")
    );

    // The longest allowed name, spaces tidied.
    let forty = "ø".repeat(40);
    let answer = h
        .post(
            &mut client,
            "/account/rename",
            &[("csrf", &csrf), ("id", &code), ("label", &forty)],
        )
        .await;
    assert_eq!(answer.location.as_deref(), Some("/account?done=renamed"));
    assert_eq!(code_label(&h).await, forty);
    let answer = h
        .post(
            &mut client,
            "/account/rename",
            &[
                ("csrf", &csrf),
                ("id", &code),
                ("label", "  Kodeviser   i skuffen "),
            ],
        )
        .await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    assert_eq!(code_label(&h).await, "Kodeviser i skuffen");
    let page = account_in(&h, &mut client, "da").await;
    assert!(texts_of(&page.body, "h3").contains(&"Kodeviser i skuffen".to_owned()));
    assert!(events(&page).join("\n").contains("Kodeviser fik nyt navn"));

    // Audited with the kind, never the name.
    let audited = h.audited("authenticator.renamed").await;
    assert_eq!(audited.len(), 2);
    assert_eq!(audited[0].details["kind"], "code_display");
    assert!(!audited[0].details.to_string().contains("skuffen"));

    // A password-only session, and a stale one, are sent to log in again; nothing changes.
    let (mut low, low_page) = h.password_session("anna", "anna-pass-1").await;
    let answer = h
        .post(
            &mut low,
            "/account/rename",
            &[
                ("csrf", &low_page.input("csrf")),
                ("id", &code),
                ("label", "Stjålet"),
            ],
        )
        .await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    assert!(
        answer
            .location
            .as_deref()
            .unwrap()
            .starts_with("/login?tx="),
        "{:?}",
        answer.location
    );
    h.clock.advance(time::Duration::seconds(301));
    let answer = h
        .post(
            &mut client,
            "/account/rename",
            &[("csrf", &csrf), ("id", &code), ("label", "For sent")],
        )
        .await;
    assert!(
        answer
            .location
            .as_deref()
            .unwrap()
            .starts_with("/login?tx="),
        "{:?}",
        answer.location
    );
    assert_eq!(code_label(&h).await, "Kodeviser i skuffen");
}

/// The name the code-display form suggests.
fn suggested_name(page: &Reply) -> String {
    let marker = "id=\"code-display-label\" name=\"label\" value=\"";
    let start = page.body.find(marker).expect("a name field") + marker.len();
    let end = start + page.body[start..].find('"').unwrap();
    page.body[start..end].to_owned()
}

/// The shown code-display key, without its spaces.
fn shown_key(page: &Reply) -> String {
    let marker = "id=\"totp-secret\">";
    let start = page.body.find(marker).expect("the key") + marker.len();
    let end = start + page.body[start..].find('<').unwrap();
    page.body[start..end].to_owned()
}

#[tokio::test]
async fn adding_a_code_display_shows_a_qr_code_and_takes_a_name() {
    let h = Harness::new().await;
    let (mut client, account) = h.code_display_session("anna", "anna-pass-1").await;
    let csrf = account.input("csrf");
    let started = h
        .post(
            &mut client,
            "/account/code-display/start",
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(started.status, 200, "{}", started.body);
    // A QR code drawn on the server, with an accessible name; no otpauth line.
    let svg_at = started.body.find("<svg").expect("an inline SVG QR code");
    let svg = &started.body[svg_at..svg_at + started.body[svg_at..].find('>').unwrap()];
    assert!(svg.contains("role=\"img\""), "{svg}");
    assert!(
        svg.contains("aria-label=\"QR-kode til din kodeviser-app\""),
        "{svg}"
    );
    assert!(!started.body.contains("otpauth://"));
    assert!(!started.body.contains("<script>"));
    // The key for typing, in groups of four.
    let key = shown_key(&started);
    let groups: Vec<&str> = key.split(' ').collect();
    assert!(groups.len() > 4, "{key}");
    assert!(
        groups[..groups.len() - 1].iter().all(|g| g.len() == 4),
        "{key}"
    );
    // A suggested name: Anna has one code display already.
    assert_eq!(suggested_name(&started), "Kodeviser 2");

    let secret = data_encoding::BASE32_NOPAD
        .decode(key.replace(' ', "").as_bytes())
        .unwrap();
    let code = eid_idp::totp::code_at_step(
        &secret,
        eid_idp::totp::step_of(h.clock.now().unix_timestamp()),
    );
    // A bad name is refused and nothing is enrolled; the key is still shown to try again.
    let bad = h
        .post(
            &mut client,
            "/account/code-display/confirm",
            &[("csrf", &csrf), ("code", &code), ("label", &"k".repeat(41))],
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.body.contains("1 til 40 tegn"), "{}", bad.body);
    assert!(bad.body.contains("<svg"));
    let bad = h
        .post(
            &mut client,
            "/account/code-display/confirm",
            &[("csrf", &csrf), ("code", &code), ("label", "\u{1b}[31m")],
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert_eq!(code_displays(&h).await, 1);
    let done = h
        .post(
            &mut client,
            "/account/code-display/confirm",
            &[
                ("csrf", &csrf),
                ("code", &code),
                ("label", "Kodeviser på jobbet"),
            ],
        )
        .await;
    assert_eq!(
        done.location.as_deref(),
        Some("/account?done=added"),
        "{}",
        done.body
    );
    assert_eq!(code_displays(&h).await, 2);
    assert!(
        h.authenticators(ANNA)
            .await
            .iter()
            .any(|a| a.label == "Kodeviser på jobbet")
    );
    let page = account_in(&h, &mut client, "da").await;
    assert!(events(&page).join("\n").contains("Kodeviser tilføjet"));
}

#[tokio::test]
async fn in_english_the_qr_code_and_the_suggested_name_are_english() {
    let h = Harness::new().await;
    let (mut client, account) = h.code_display_session("anna", "anna-pass-1").await;
    client.headers.push(("accept-language", "en".to_owned()));
    let started = h
        .post(
            &mut client,
            "/account/code-display/start",
            &[("csrf", &account.input("csrf"))],
        )
        .await;
    assert!(
        started
            .body
            .contains("aria-label=\"QR code for your code display app\""),
        "{}",
        started.body
    );
    assert_eq!(suggested_name(&started), "Code display 2");
}
