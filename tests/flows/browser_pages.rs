//! Every page a citizen meets, in Danish and English, at 1280 px and 390 px in headless Chromium:
//! axe-core (the npm package, injected into the page) finds no WCAG 2.1 AA violation, nothing
//! scrolls sideways, every target is at least 24×24 px and keyboard focus shows at 3:1 or more.

use crate::browser_support::Walk;
use eid_testkit::chrome::Chrome;
use eid_testkit::{Component, TestStack};

#[tokio::test(flavor = "multi_thread")]
async fn every_page_a_citizen_meets_passes_axe_and_the_size_and_focus_checks_in_both_languages() {
    let Some(chrome) = Chrome::launch_with_axe().await else {
        return;
    };
    // A second upstream, so that the broker shows (and the walk checks) its identity chooser.
    let stack = crate::broker_support::with_eu_upstream(TestStack::builder())
        .start()
        .await
        .unwrap();
    let (idp, broker, demo) = (
        stack.url(Component::Idp).to_owned(),
        stack.url(Component::Broker).to_owned(),
        stack.url(Component::DemoRp).to_owned(),
    );
    let mut all = Vec::new();
    let mut pages = 0;
    for lang in ["da", "en"] {
        chrome.clear_cookies().await;
        chrome.set_language(lang).await;
        let mut walk = Walk::new(&chrome, lang);

        // Pages reached by address: landing pages, activation, the app, errors.
        walk.visit("demo service: home", &format!("{demo}/")).await;
        walk.visit("broker: home", &format!("{broker}/")).await;
        walk.visit("idp: home", &format!("{idp}/")).await;
        walk.visit("idp: app", &format!("{idp}/app")).await;
        walk.visit(
            "broker: error (unknown client)",
            &format!("{broker}/authorize?client_id=nobody"),
        )
        .await;
        walk.visit(
            "idp: error (unknown client)",
            &format!("{idp}/authorize?client_id=nobody"),
        )
        .await;
        walk.visit("broker: 404", &format!("{broker}/no-such-page"))
            .await;
        walk.visit("idp: 404", &format!("{idp}/no-such-page")).await;
        walk.visit(
            "demo service: a failed login",
            &format!("{demo}/callback?error=access_denied&state=unknown"),
        )
        .await;
        chrome.goto(&format!("{idp}/activate")).await;
        walk.assert_focused("#cpr").await;
        walk.check("idp: activation").await;
        chrome
            .fill_and_submit(&[
                ("cpr", "311290-9995"),
                ("code", "wrong-code"),
                ("user_id", "sofie"),
                ("password", "sofie-pass-1"),
            ])
            .await;
        walk.assert_tied_to_error("cpr").await;
        walk.assert_tied_to_error("code").await;
        walk.check("idp: activation error").await;
        // A login through the service: chooser, user id (unknown, then Anna), methods, a wrong
        // password, the right one, and the service's page of the logged-in person.
        walk.open_user_id_page(&demo, true).await;
        walk.assert_focused("#user_id").await;
        walk.check("idp: user id").await;
        chrome.fill_and_submit(&[("user_id", "nobody")]).await;
        walk.assert_tied_to_error("user_id").await;
        walk.check("idp: user id (unknown)").await;
        chrome.fill_and_submit(&[("user_id", "anna")]).await;
        walk.assert_focused("#pw-password, form[action=\"/login/app/start\"] button")
            .await;
        walk.check("idp: methods").await;
        chrome
            .fill_and_submit(&[("pw-password", "wrong-password")])
            .await;
        walk.assert_tied_to_error("pw-password").await;
        walk.check("idp: methods (wrong password)").await;
        chrome
            .fill_and_submit(&[("pw-password", "anna-demo-pass")])
            .await;
        walk.wait(&format!("window.location.href.startsWith({demo:?})"))
            .await;
        walk.check("demo service: logged in").await;

        // My MitID after a password login (Low), and the step-up a change then asks for.
        walk.visit("idp: My MitID (Low)", &format!("{idp}/account"))
            .await;
        walk.click("form[action=\"/account/code-display/start\"] button")
            .await;
        walk.check("idp: step-up (reachable)").await;

        // The service asks for High, which Anna's methods cannot reach.
        chrome.goto(&format!("{demo}/")).await;
        walk.click("form[action=\"/login\"] input[value=High] ~ button")
            .await;
        if chrome
            .eval("document.getElementById('choose-mitid') !== null")
            .await
            == serde_json::json!(true)
        {
            walk.click("#choose-mitid").await;
        }
        if chrome
            .eval("document.getElementById('user_id') !== null")
            .await
            == serde_json::json!(true)
        {
            chrome.fill_and_submit(&[("user_id", "anna")]).await;
        }
        walk.check("idp: level too low").await;

        // The logout prompts a link without a hint meets, at the broker and the authenticator.
        for (page, url) in [
            ("broker: logout confirmation", format!("{broker}/logout")),
            (
                "idp: logout confirmation",
                format!("{idp}/logout?client_id=broker"),
            ),
        ] {
            chrome.goto(&url).await;
            walk.wait("document.querySelector('form') !== null").await;
            walk.check(page).await;
        }

        // The service's logout.
        chrome.goto(&format!("{demo}/")).await;
        if chrome
            .eval("document.querySelector('form[action=\"/logout\"] button') !== null")
            .await
            == serde_json::json!(true)
        {
            walk.click("form[action=\"/logout\"] button").await;
            walk.check("after logout").await;
        }

        // My MitID at Substantial (password and code display): the full page, and adding a code
        // display (its secret and otpauth line).
        chrome.clear_cookies().await;
        chrome.goto(&format!("{idp}/account")).await;
        chrome.fill_and_submit(&[("user_id", "anna")]).await;
        let step = if lang == "da" { 0 } else { 1 };
        let code = crate::idp_account::totp_code(crate::idp_account::ANNA_TOTP, step);
        chrome
            .fill_and_submit(&[("pw-password", "anna-demo-pass"), ("cd-code", &code)])
            .await;
        walk.check("idp: My MitID (Substantial)").await;
        walk.click("form[action=\"/account/code-display/start\"] button")
            .await;
        walk.assert_focused("#confirm-code").await;
        walk.check("idp: My MitID, new code display").await;

        // App approval: a pairing code, the app paired in this browser, an app login's waiting
        // page, and the request as the app shows it.
        walk.click("form[action=\"/account/app/pairing-code\"] button")
            .await;
        walk.check("idp: My MitID, pairing code").await;
        let pairing_code = chrome
            .eval("document.getElementById('pairing-code').textContent.trim()")
            .await;
        let pairing_code = pairing_code.as_str().expect("pairing code shown");
        walk.click("form[action=\"/account/logout\"] button").await;
        chrome.goto(&format!("{idp}/app")).await;
        chrome
            .fill_and_submit(&[
                ("user_id", "anna"),
                ("pairing_code", pairing_code),
                ("label", "Test phone"),
            ])
            .await;
        walk.check("idp: app, paired").await;
        walk.open_user_id_page(&demo, false).await;
        chrome.fill_and_submit(&[("user_id", "anna")]).await;
        walk.click("form[action=\"/login/app/start\"] button").await;
        walk.wait("document.getElementById('number') !== null")
            .await;
        walk.check("idp: app approval, waiting").await;
        chrome.goto(&format!("{idp}/app")).await;
        walk.wait("document.querySelector('input[name=request]') !== null")
            .await;
        walk.check("idp: app, a request to approve").await;

        // A person who cannot reach the level a change needs (Karen: password only).
        chrome.clear_cookies().await;
        chrome.goto(&format!("{idp}/account")).await;
        chrome.fill_and_submit(&[("user_id", "karen")]).await;
        chrome
            .fill_and_submit(&[("pw-password", "karen-demo-pass")])
            .await;
        walk.click("form[action=\"/account/code-display/start\"] button")
            .await;
        walk.check("idp: step-up (unreachable)").await;

        // A lock-out (Peter: five wrong passwords, then the right one).
        chrome.clear_cookies().await;
        walk.open_user_id_page(&demo, false).await;
        chrome.fill_and_submit(&[("user_id", "peter")]).await;
        for _ in 0..5 {
            if chrome
                .eval("document.getElementById('pw-password') === null")
                .await
                == serde_json::json!(true)
            {
                break;
            }
            chrome
                .fill_and_submit(&[("pw-password", "wrong-password")])
                .await;
        }
        if chrome
            .eval("document.getElementById('pw-password') !== null")
            .await
            == serde_json::json!(true)
        {
            chrome
                .fill_and_submit(&[("pw-password", "peter-demo-pass")])
                .await;
        }
        walk.check("idp: locked out").await;

        all.extend(walk.problems);
        pages += walk.pages;
    }
    // The favicon every page names is served.
    for origin in [&broker, &idp, &demo] {
        chrome.goto(&format!("{origin}/")).await;
        let icon = chrome
            .eval(
                "fetch(document.querySelector('link[rel=icon]').href)\
                 .then(r => r.status + ' ' + r.headers.get('content-type'))",
            )
            .await;
        assert_eq!(icon, "200 image/svg+xml", "{origin}");
    }
    assert!(pages >= 40, "only {pages} pages walked");
    assert!(
        all.is_empty(),
        "{} accessibility problems:\n{}",
        all.len(),
        all.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_checks_find_the_problems_they_look_for() {
    let Some(chrome) = Chrome::launch_with_axe().await else {
        return;
    };
    chrome.set_viewport(390, 844).await;
    chrome
        .goto(
            "data:text/html,<html><head><style>:focus-visible{outline:3px solid %23f5a300}</style></head>\
             <body><input name=x><button style='padding:0;border:0;font-size:10px'>x</button><img src=x>\
             <p style='width:600px'>wide</p></body></html>",
        )
        .await;
    let axe = chrome.axe_violations().await.join("\n");
    for rule in [
        "html-has-lang",
        "document-title",
        "label",
        "image-alt",
        "landmark-one-main",
        "page-has-heading-one",
    ] {
        assert!(axe.contains(rule), "axe did not report {rule}: {axe}");
    }
    let overflow = chrome.horizontal_overflow().await.unwrap_or_default();
    assert!(overflow.contains("p \"wide\""), "{overflow}");
    let small = chrome.small_targets().await.join("\n");
    assert!(small.contains("button \"x\""), "{small}");
    let focus = chrome.focus_problems().await.join("\n");
    assert!(
        focus.contains("input") && focus.contains("under 3:1"),
        "{focus}"
    );
    chrome.set_viewport(1280, 900).await;
    assert!(chrome.horizontal_overflow().await.is_none());
}
