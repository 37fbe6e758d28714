//! "My log" in headless Chromium, in Danish and English, at a desktop and a phone width
//! (axe-core, overflow, target sizes, focus): the log with entries, a filtered page, the overview
//! of services, the page after a cancelled login and the page of a filter not understood.

use crate::browser_support::Walk;
use eid_testkit::chrome::Chrome;
use eid_testkit::{Component, TestStack};

#[tokio::test(flavor = "multi_thread")]
async fn the_log_pages_pass_the_accessibility_checks_in_both_languages() {
    let Some(chrome) = Chrome::launch_with_axe().await else {
        return;
    };
    let stack = TestStack::builder().start().await.unwrap();
    let (demo, broker) = (
        stack.url(Component::DemoRp).to_owned(),
        stack.url(Component::Broker).to_owned(),
    );
    let mut all = Vec::new();
    let mut pages = 0;
    for lang in ["da", "en"] {
        chrome.clear_cookies().await;
        chrome.set_language(lang).await;
        let mut walk = Walk::new(&chrome, lang);
        // Anna at the demo service with code display (Substantial), with a wrong password first
        // so that her log has a refused attempt.
        walk.open_user_id_page(&demo, false).await;
        chrome.fill_and_submit(&[("user_id", "anna")]).await;
        chrome
            .fill_and_submit(&[("pw-password", "wrong-password")])
            .await;
        walk.wait("document.getElementById('cd-code') !== null")
            .await;
        let step = if lang == "da" { 0 } else { 1 };
        let code = crate::idp_account::totp_code(crate::idp_account::ANNA_TOTP, step);
        chrome
            .fill_and_submit(&[("pw-password", "anna-demo-pass"), ("cd-code", &code)])
            .await;
        walk.wait("document.body.textContent.includes('Anna Jensen')")
            .await;

        walk.visit("my log", &format!("{broker}/my")).await;
        walk.wait("document.querySelectorAll('#log .card').length >= 3")
            .await;
        walk.visit("my log: data sent", &format!("{broker}/my?kind=releases"))
            .await;
        walk.wait("document.querySelectorAll('#log .card').length >= 1")
            .await;
        walk.visit("my log: services", &format!("{broker}/my/services"))
            .await;
        walk.wait("document.querySelectorAll('#services .card').length >= 1")
            .await;
        walk.visit(
            "my log: not logged in",
            &format!("{broker}/my/not-logged-in?why=cancelled&lang={lang}"),
        )
        .await;
        walk.visit(
            "my log: filter not understood",
            &format!("{broker}/my?kind=x"),
        )
        .await;
        all.extend(walk.problems);
        pages += walk.pages;
    }
    assert!(pages >= 10, "only {pages} pages walked");
    assert!(
        all.is_empty(),
        "{} accessibility problems:\n{}",
        all.len(),
        all.join("\n")
    );
}
