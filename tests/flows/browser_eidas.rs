//! The eIDAS pages in headless Chromium, in Danish and English, at a desktop and a phone width
//! (axe-core, overflow, target sizes, focus): the broker's chooser with *EU eID*, the connector's
//! country chooser and its auto-posting page, the demo country's login and consent pages, the
//! proxy service's consent page, and what the demo country's service received; both directions
//! run to the end through the real pages and their scripts.

use crate::browser_support::Walk;
use eid_testkit::chrome::Chrome;
use eid_testkit::{Component, TestStack};

/// Sets the fields `id = value` and clicks `button`, waiting for the next page.
async fn fill_and_click(walk: &Walk<'_>, fields: &[(&str, &str)], button: &str) {
    let mut script = String::from("(function() {");
    for (id, value) in fields {
        script.push_str(&format!(
            "document.getElementById({id:?}).value = {value:?};"
        ));
    }
    script.push_str("return true; })()");
    walk.chrome.eval(&script).await;
    walk.click(button).await;
}

/// Waits until the page's address contains `part` (the auto-posting pages move on by script).
async fn wait_for_url(walk: &Walk<'_>, part: &str) {
    walk.wait(&format!(
        "location.href.includes({part:?}) && document.readyState === 'complete'"
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_eidas_pages_pass_the_accessibility_checks_in_both_languages() {
    let Some(chrome) = Chrome::launch_with_axe().await else {
        return;
    };
    let stack = TestStack::builder().eidas().start().await.unwrap();
    let (demo, gateway, broker) = (
        stack.url(Component::DemoRp).to_owned(),
        stack.url(Component::EidasGateway).to_owned(),
        stack.url(Component::Broker).to_owned(),
    );
    let mut all = Vec::new();
    let mut pages = 0;
    for lang in ["da", "en"] {
        chrome.clear_cookies().await;
        chrome.set_language(lang).await;
        let mut walk = Walk::new(&chrome, lang);

        // (a) A citizen of XA at the Danish demo service.
        chrome.goto(&format!("{demo}/")).await;
        walk.click("form[action=\"/login\"] button").await;
        walk.wait("document.getElementById('choose-eidas') !== null")
            .await;
        walk.check("broker: identity chooser with EU eID").await;
        walk.click("#choose-eidas").await;
        wait_for_url(&walk, "/eidas/connector/").await;
        walk.check("connector: country chooser").await;
        walk.click("form button[type=submit]").await;
        wait_for_url(&walk, "/xa/proxy/").await;
        walk.wait("document.getElementById('username') !== null")
            .await;
        walk.check("XA: login").await;
        fill_and_click(
            &walk,
            &[("username", "eleni"), ("password", "wrong")],
            "button[value=login]",
        )
        .await;
        walk.check("XA: login with a wrong password").await;
        fill_and_click(
            &walk,
            &[("username", "eleni"), ("password", "eleni-demo-1")],
            "button[value=login]",
        )
        .await;
        walk.check("XA: consent").await;
        walk.click("button[value=send]").await;
        wait_for_url(&walk, &format!("{demo}/")).await;
        walk.wait("document.body.textContent.includes('Eleni')")
            .await;
        walk.check("demo service: a foreign person logged in").await;
        // Her session at a service that requires a CPR number (the proxy service's registration):
        // the broker explains why it cannot go on.
        walk.visit(
            "broker: a service that requires a CPR number",
            &format!(
                "{broker}/authorize?client_id=eidas-proxy&redirect_uri={gateway}/eidas/proxy/callback\
                 &response_type=code&scope=openid&state=s&nonce=n&code_challenge_method=S256\
                 &code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
            ),
        )
        .await;
        assert!(
            chrome
                .eval("document.body.textContent.includes('CPR')")
                .await
                == serde_json::json!(true),
            "{}",
            chrome.url().await
        );

        // (b) A Danish person at XA's demo service.
        chrome.clear_cookies().await;
        walk.visit("XA: demo service", &format!("{gateway}/xa/service/"))
            .await;
        walk.click("form[action=\"/xa/service/login\"] button")
            .await;
        walk.wait("document.getElementById('user_id') !== null")
            .await;
        chrome.fill_and_submit(&[("user_id", "anna")]).await;
        let step = if lang == "da" { 0 } else { 1 };
        let code = crate::idp_account::totp_code(crate::idp_account::ANNA_TOTP, step);
        chrome
            .fill_and_submit(&[("pw-password", "anna-demo-pass"), ("cd-code", &code)])
            .await;
        wait_for_url(&walk, "/eidas/proxy/consent").await;
        walk.check("proxy service: consent").await;
        walk.click("button[value=send]").await;
        wait_for_url(&walk, "/xa/").await;
        walk.wait("document.body.textContent.includes('DK/XA/')")
            .await;
        walk.check("XA: what the service received").await;

        all.extend(walk.problems);
        pages += walk.pages;
    }
    assert!(pages >= 18, "only {pages} pages walked");
    assert!(
        all.is_empty(),
        "{} accessibility problems:\n{}",
        all.len(),
        all.join("\n")
    );
}
