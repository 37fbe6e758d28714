//! The app approval's pages as the person reads them (issue 13, point 9): the phone names the
//! service, the level and the time left; the browser tells the person to type its number in the
//! app; a wrong number and a second approval are named as what they are; the waiting page has no
//! continue button that errs when pressed early, and counts down; an expired request and a
//! foreign device's attempt are audited.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use eid_core::Loa;
use eid_idp::texts::{DA, EN};
use harness::{Client, Harness, Reply};

/// The browser on the waiting page of an account login with the app, in Danish or English.
struct Waiting {
    browser: Client,
    form: Vec<(&'static str, String)>,
    page: Reply,
}

impl Waiting {
    fn number(&self) -> String {
        let marker = "id=\"number\">";
        let start = self.page.body.find(marker).unwrap() + marker.len();
        self.page.body[start..start + 2].to_owned()
    }
}

async fn wait_page(h: &Harness, lang: &str) -> Waiting {
    wait_page_of(h, "anna", lang).await
}

async fn wait_page_of(h: &Harness, user: &str, lang: &str) -> Waiting {
    let mut browser = Client::new();
    browser.headers.push(("accept-language", lang.to_owned()));
    let methods = h.start_account_login(&mut browser, user).await;
    let form = vec![("tx", methods.input("tx")), ("csrf", methods.input("csrf"))];
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let page = h.post(&mut browser, "/login/app/start", &pairs).await;
    assert_eq!(page.status, 200, "{}", page.body);
    Waiting {
        browser,
        form,
        page,
    }
}

async fn answer(h: &Harness, device: &mut Client, number: &str, how: &str) -> Reply {
    let app = h.get(device, "/app").await;
    answer_on(h, device, &app, number, how).await
}

async fn answer_on(
    h: &Harness,
    device: &mut Client,
    app: &Reply,
    number: &str,
    how: &str,
) -> Reply {
    h.post(
        device,
        "/app/respond",
        &[
            ("csrf", &app.input("csrf")),
            ("request", &app.input("request")),
            ("number", number),
            ("answer", how),
        ],
    )
    .await
}

fn wrong(number: &str) -> String {
    let n: u8 = number.parse().unwrap();
    (if n == 99 { 10 } else { n + 1 }).to_string()
}

#[tokio::test]
async fn the_phone_shows_the_service_the_level_and_the_seconds_left() {
    let h = Harness::new().await;
    let mut device = h.pair_app("anna", "anna-pass-1").await;
    device.headers.push(("accept-language", "da".to_owned()));
    let _waiting = wait_page(&h, "da").await;
    h.clock.advance(time::Duration::seconds(30));
    let app = h.get(&mut device, "/app").await;
    assert!(app.body.contains(DA.app_request_for), "{}", app.body);
    // Anna (proofed High) with the app reaches Substantial: the level, in the page's language.
    assert!(
        app.body.contains(&format!(
            "id=\"request-level\">{}<",
            Loa::Substantial.name(eid_core::Lang::Da)
        )),
        "{}",
        app.body
    );
    // 120 s to live, 30 s gone: 90 s left, computed on the server.
    assert!(
        app.body
            .contains("<time id=\"time-left\" datetime=\"PT90S\">90</time>"),
        "{}",
        app.body
    );
    assert!(app.body.contains(DA.expires_in), "{}", app.body);
}

#[tokio::test]
async fn the_browser_asks_to_type_its_number_in_the_app() {
    let h = Harness::new().await;
    let _device = h.pair_app("anna", "anna-pass-1").await;
    for (lang, t, stale) in [
        ("da", &DA, "viser det samme tal"),
        ("en", &EN, "shows the same number"),
    ] {
        let waiting = wait_page(&h, lang).await;
        let body = &waiting.page.body;
        assert!(body.contains(t.app_wait_intro), "{body}");
        assert!(!body.contains(stale), "{body}");
        // The person reads the number here and types it on the phone, which asks for it.
        let typed = if lang == "da" {
            "skriv tallet"
        } else {
            "enter the number"
        };
        assert!(t.app_wait_intro.to_lowercase().contains(typed), "{lang}");
        assert!(t.app_enter_number.to_lowercase().contains(typed), "{lang}");
    }
}

#[tokio::test]
async fn a_wrong_number_says_the_request_is_refused() {
    let h = Harness::new().await;
    let mut device = h.pair_app("anna", "anna-pass-1").await;
    device.headers.push(("accept-language", "da".to_owned()));
    let waiting = wait_page(&h, "da").await;
    let answered = answer(&h, &mut device, &wrong(&waiting.number()), "approve").await;
    assert!(
        answered.body.contains(DA.app_wrong_number),
        "{}",
        answered.body
    );
    assert!(!answered.body.contains(DA.wrong_code), "{}", answered.body);
    assert!(!answered.body.contains("Prøv igen"), "{}", answered.body);
    // The request is gone from the phone: it cannot be retried.
    assert!(
        !answered.body.contains("name=\"request\""),
        "{}",
        answered.body
    );
}

#[tokio::test]
async fn a_second_approval_is_told_it_was_already_approved() {
    let h = Harness::new().await;
    let mut device = h.pair_app("anna", "anna-pass-1").await;
    device.headers.push(("accept-language", "en".to_owned()));
    let waiting = wait_page(&h, "en").await;
    let app = h.get(&mut device, "/app").await;
    let first = answer_on(&h, &mut device, &app, &waiting.number(), "approve").await;
    assert!(first.body.contains(EN.app_approved), "{}", first.body);
    // The same form sent again (a double tap, or the back button).
    let again = answer_on(&h, &mut device, &app, &waiting.number(), "approve").await;
    assert!(
        again.body.contains(EN.app_already_approved),
        "{}",
        again.body
    );
    assert!(!again.body.contains(EN.app_expired_done), "{}", again.body);
}

#[tokio::test]
async fn the_waiting_page_continues_by_itself_and_counts_down() {
    let h = Harness::new().await;
    let _device = h.pair_app("anna", "anna-pass-1").await;
    let mut waiting = wait_page(&h, "da").await;
    let body = &waiting.page.body;
    // The continue button is only for browsers without scripts.
    let noscript = body
        .find("<noscript>")
        .expect("a <noscript> continue button");
    let end = body.find("</noscript>").unwrap();
    let button = format!(">{}</button>", DA.app_check);
    let at = body.find(&button).expect("the continue button");
    assert!(noscript < at && at < end, "{body}");
    assert_eq!(body.matches(&button).count(), 1, "{body}");
    assert!(body.contains("/static/app-wait.js"), "{body}");
    // The seconds left, rendered on the server.
    assert!(
        body.contains("<time id=\"time-left\" datetime=\"PT120S\">120</time>"),
        "{body}"
    );
    // Pressing continue before the approval: a note, no error.
    h.clock.advance(time::Duration::seconds(20));
    let pairs: Vec<(&str, String)> = waiting.form.clone();
    let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let early = h
        .post(&mut waiting.browser, "/login/app/finish", &pairs)
        .await;
    assert_eq!(early.status, 200, "{}", early.body);
    assert!(early.body.contains(DA.app_pending), "{}", early.body);
    assert!(!early.body.contains("class=\"error\""), "{}", early.body);
    assert!(!early.body.contains("role=\"alert\""), "{}", early.body);
    assert!(
        early
            .body
            .contains("<time id=\"time-left\" datetime=\"PT100S\">100</time>"),
        "{}",
        early.body
    );
}

#[tokio::test]
async fn an_expired_request_is_audited_on_the_phone_and_in_the_browser() {
    let h = Harness::new().await;
    let mut device = h.pair_app("anna", "anna-pass-1").await;
    let mut waiting = wait_page(&h, "da").await;
    let app = h.get(&mut device, "/app").await;
    h.clock.advance(time::Duration::seconds(121));
    // The phone no longer offers it.
    let later = h.get(&mut device, "/app").await;
    assert!(!later.body.contains("name=\"request\""), "{}", later.body);
    let answered = answer_on(&h, &mut device, &app, &waiting.number(), "approve").await;
    assert!(
        answered.body.contains(DA.app_expired_done) || answered.body.contains(EN.app_expired_done)
    );
    let on_phone = h.audited("app.request_expired").await;
    assert_eq!(on_phone.len(), 1, "{on_phone:?}");
    assert_eq!(
        on_phone[0].person.map(|p| p.to_string()).as_deref(),
        Some(harness::ANNA)
    );

    let form = waiting.form.clone();
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let finished = h
        .post(&mut waiting.browser, "/login/app/finish", &pairs)
        .await;
    assert!(finished.body.contains(DA.app_expired), "{}", finished.body);
    let in_browser: Vec<_> = h
        .audited("login.failure")
        .await
        .into_iter()
        .filter(|e| e.details.get("reason").and_then(|r| r.as_str()) == Some("app request expired"))
        .collect();
    assert_eq!(in_browser.len(), 1, "{in_browser:?}");
}

#[tokio::test]
async fn a_foreign_devices_attempt_is_refused_and_audited() {
    let h = Harness::new().await;
    let mut annas = h.pair_app("anna", "anna-pass-1").await;
    let mut mikkels = h.pair_app("mikkel", "mikkel-pass-1").await;
    let waiting = wait_page(&h, "da").await;
    let app = h.get(&mut annas, "/app").await;
    let request = app.input("request");
    // Mikkel's device, with a request of his own, sends Anna's request id with its form token.
    let _his = wait_page_of(&h, "mikkel", "da").await;
    let own = h.get(&mut mikkels, "/app").await;
    let tried = h
        .post(
            &mut mikkels,
            "/app/respond",
            &[
                ("csrf", &own.input("csrf")),
                ("request", &request),
                ("number", &waiting.number()),
                ("answer", "approve"),
            ],
        )
        .await;
    assert!(!tried.body.contains(DA.app_approved), "{}", tried.body);
    let events = h.audited("app.foreign_device").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        events[0].person.map(|p| p.to_string()).as_deref(),
        Some(harness::ANNA)
    );
    assert_eq!(
        events[0]
            .details
            .get("device_person")
            .and_then(|v| v.as_str()),
        Some(harness::MIKKEL)
    );
    // Anna's request still waits for her phone.
    let still = h.get(&mut annas, "/app").await;
    assert_eq!(still.input("request"), request);
}

#[tokio::test]
async fn a_login_refused_in_the_app_is_on_the_persons_own_log() {
    let h = Harness::new().await;
    let mut device = h.pair_app("anna", "anna-pass-1").await;
    let mut waiting = wait_page(&h, "da").await;
    let refused = answer(&h, &mut device, &waiting.number(), "refuse").await;
    assert_eq!(refused.status, 200, "{}", refused.body);
    let pairs: Vec<(&str, &str)> = waiting.form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let finished = h
        .post(&mut waiting.browser, "/login/app/finish", &pairs)
        .await;
    assert!(finished.body.contains(DA.app_refused), "{}", finished.body);
    let failures: Vec<_> = h
        .audited("login.failure")
        .await
        .into_iter()
        .filter(|e| e.details["reason"] == "refused in the app")
        .collect();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(
        failures[0].person.map(|p| p.to_string()).as_deref(),
        Some(harness::ANNA)
    );
    assert_eq!(failures[0].details["method"], "app");
}
