//! The portal's pages in headless Chromium, in Danish and English, at a desktop and a phone
//! width: axe-core (WCAG 2.1 AA) finds nothing, nothing scrolls sideways, every target is at
//! least 24×24 px and keyboard focus shows. The walk logs in, reads the overview (with a pending
//! power and a request waiting), fills in the grant form (once wrongly), reaches the sign page,
//! signs, and reads the receipt, the messages and an organisation's page.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod portal_support;

use eid_core::{Access, Loa, Scope};
use eid_delegation::registry::{Authenticated, RequestInput};
use eid_testkit::chrome::Chrome;
use portal_support::*;
use std::time::Duration;

/// The two window sizes every page is checked at: a desktop and a 390 px phone.
const WIDTHS: [(u32, u32); 2] = [(1280, 900), (390, 844)];

async fn check(chrome: &Chrome, lang: &str, page: &str, problems: &mut Vec<String>) {
    let url = chrome.url().await;
    for (width, height) in WIDTHS {
        chrome.set_viewport(width, height).await;
        for problem in chrome.accessibility_problems().await {
            problems.push(format!("[{lang}] {page} at {width}px ({url}): {problem}"));
        }
    }
    chrome.set_viewport(WIDTHS[0].0, WIDTHS[0].1).await;
}

async fn click(chrome: &Chrome, selector: &str) {
    let script = format!(
        "(function() {{ const el = document.querySelector({selector:?}); \
         if (!el) return false; window.__leaving = true; el.click(); return true; }})()"
    );
    assert_eq!(
        chrome.eval(&script).await,
        serde_json::json!(true),
        "{selector} not on {}",
        chrome.url().await
    );
    chrome
        .wait_until(
            "!window.__leaving && document.readyState === 'complete'",
            Duration::from_secs(15),
        )
        .await;
}

async fn h1(chrome: &Chrome) -> String {
    chrome
        .eval("(document.querySelector('h1') || {}).textContent || ''")
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_portal_pages_pass_axe_and_the_size_and_focus_checks_in_both_languages() {
    let Some(chrome) = Chrome::launch_with_axe().await else {
        return;
    };
    let h = Harness::new().await;
    h.demo_aps().await;
    // Something to show: Mikkel asked Anna for a power of attorney.
    let mikkel = Authenticated {
        person: h.key(&h.mikkel),
        loa: Loa::Substantial,
        auth_time: eid_core::Clock::now(&h.clock),
        acting_for: None,
    };
    h.reg
        .request(
            &mikkel,
            RequestInput {
                principal: h.anna.cpr.clone(),
                scopes: vec![Scope::area("housing-benefit").unwrap()],
                access: Access::Read,
                valid_from: None,
                valid_until: eid_core::Clock::now(&h.clock) + time::Duration::days(90),
            },
        )
        .await
        .unwrap();
    let mut problems = Vec::new();
    for lang in ["da", "en"] {
        chrome.clear_cookies().await;
        chrome.set_language(lang).await;
        h.next_login(&h.anna, Loa::Substantial, 0);
        chrome.goto(&h.url("/")).await;
        check(&chrome, lang, "home", &mut problems).await;
        click(&chrome, "#login").await;
        assert!(chrome.url().await.ends_with('/'), "{}", chrome.url().await);
        check(&chrome, lang, "overview", &mut problems).await;
        chrome.goto(&h.url("/grant")).await;
        check(&chrome, lang, "grant form", &mut problems).await;
        // Wrongly first (no service ticked), then rightly.
        chrome
            .fill_and_submit(&[("number", "221100-9993"), ("through", &h.in_days(30))])
            .await;
        assert!(
            chrome
                .eval("document.getElementById('form-error') !== null")
                .await
                == serde_json::json!(true),
            "no error shown"
        );
        check(&chrome, lang, "grant form with an error", &mut problems).await;
        chrome
            .eval(
                "document.querySelector('input[name=scope]').checked = true; \
                 document.querySelector('input[name=access][value=act]').checked = true; true",
            )
            .await;
        chrome
            .fill_and_submit(&[("number", "221100-9993"), ("through", &h.in_days(30))])
            .await;
        assert!(
            chrome.url().await.contains("/confirm/"),
            "{}: {}",
            chrome.url().await,
            h1(&chrome).await
        );
        check(&chrome, lang, "sign page", &mut problems).await;
        click(&chrome, "#sign").await;
        assert!(
            chrome.url().await.contains("/done/"),
            "{}",
            chrome.url().await
        );
        check(&chrome, lang, "receipt", &mut problems).await;
        chrome.goto(&h.url("/messages")).await;
        check(&chrome, lang, "messages", &mut problems).await;
        chrome.goto(&h.url("/organisations")).await;
        check(&chrome, lang, "organisations", &mut problems).await;
        chrome.goto(&h.url("/organisations/12345678")).await;
        check(&chrome, lang, "organisation", &mut problems).await;
        // A confirmation page: withdrawing the power just given.
        chrome.goto(&h.url("/")).await;
        click(&chrome, "button[id^=revoke-]").await;
        check(&chrome, lang, "confirmation", &mut problems).await;
        chrome.goto(&h.url("/confirm/unknown")).await;
        check(&chrome, lang, "error page", &mut problems).await;
    }
    assert!(problems.is_empty(), "{problems:#?}");
}
