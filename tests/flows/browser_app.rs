//! App approval in two browser profiles, as a person meets it: one logs in to the demo service
//! through the broker, the other is the paired phone. The right number logs in at Substantial; a
//! wrong number refuses the request on both sides and the login can be tried again; a request
//! whose time runs out is said to have expired on both sides, and the phone's page drops it by
//! itself. Every page of the walk is checked for accessibility in Danish and English at 1280 and
//! 390 px.

use crate::browser_support::Walk;
use crate::idp_account::{ANNA_TOTP, totp_code};
use eid_idp::texts::{DA, EN, Texts};
use eid_testkit::chrome::Chrome;
use eid_testkit::{Component, TestStack};
use serde_json::json;
use std::time::Duration;

/// The request's time in the expiry walk: long enough for the phone to show it, short enough to
/// wait for.
const SHORT_TTL_SECS: u64 = 5;

fn texts(lang: &str) -> &'static Texts {
    if lang == "da" { &DA } else { &EN }
}

/// The two profiles of one language's walk.
struct Profiles<'a> {
    /// The browser where Anna logs in.
    browser: Walk<'a>,
    /// Her paired phone.
    phone: Walk<'a>,
    lang: &'static str,
}

impl Profiles<'_> {
    /// Whether the current page of `chrome` shows `text`.
    async fn shows(chrome: &Chrome, text: &str) -> bool {
        chrome
            .eval(&format!("document.body.innerText.includes({text:?})"))
            .await
            == json!(true)
    }

    /// Pairs the phone: Anna logs in to My MitID with the code display in the browser, makes a
    /// pairing code and logs out; the phone pairs with it.
    async fn pair(&mut self, idp: &str) {
        let chrome = self.browser.chrome;
        chrome.goto(&format!("{idp}/account")).await;
        chrome.fill_and_submit(&[("user_id", "anna")]).await;
        chrome
            .fill_and_submit(&[
                ("pw-password", "anna-demo-pass"),
                ("cd-code", &totp_code(ANNA_TOTP, 0)),
            ])
            .await;
        self.browser
            .click("form[action=\"/account/app/pairing-code\"] button")
            .await;
        let code = chrome
            .eval("document.getElementById('pairing-code').textContent.trim()")
            .await;
        let code = code.as_str().expect("a pairing code").to_owned();
        self.browser
            .click("form[action=\"/account/logout\"] button")
            .await;
        self.phone.chrome.goto(&format!("{idp}/app")).await;
        self.phone
            .chrome
            .fill_and_submit(&[
                ("user_id", "anna"),
                ("pairing_code", &code),
                ("label", "Test phone"),
            ])
            .await;
        assert!(
            Self::shows(self.phone.chrome, texts(self.lang).paired).await,
            "the phone is not paired"
        );
    }

    /// In the browser: from the demo service to the app's waiting page; returns the number.
    async fn start_app_login(&mut self, demo: &str) -> String {
        self.browser.chrome.clear_cookies().await;
        self.browser.open_user_id_page(demo, false).await;
        self.browser
            .chrome
            .fill_and_submit(&[("user_id", "anna")])
            .await;
        self.browser
            .click("form[action=\"/login/app/start\"] button")
            .await;
        self.wait_for_number().await
    }

    /// The number on the browser's waiting page, once it shows.
    async fn wait_for_number(&self) -> String {
        self.browser
            .wait("document.getElementById('number') !== null")
            .await;
        let number = self
            .browser
            .chrome
            .eval("document.getElementById('number').textContent.trim()")
            .await;
        number.as_str().expect("a number").to_owned()
    }

    /// Waits until the phone's page, by itself, shows a request to answer.
    async fn phone_shows_request(&self) {
        self.phone
            .wait("document.querySelector('input[name=request]') !== null && document.readyState === 'complete'")
            .await;
    }

    /// Types `number` on the phone and approves.
    async fn approve_on_phone(&self, number: &str) {
        self.phone
            .chrome
            .eval(&format!(
                "document.getElementById('number').value = {number:?}; true"
            ))
            .await;
        self.phone.click("button[name=answer][value=approve]").await;
    }

    /// Waits until the browser is back at the demo service, logged in at Substantial.
    async fn logged_in_at_substantial(&self, demo: &str) {
        self.browser
            .wait(&format!(
                "window.location.href.startsWith({demo:?}) && document.getElementById('claims') !== null"
            ))
            .await;
        let level = if self.lang == "da" {
            "Betydelig"
        } else {
            "Substantial"
        };
        assert!(
            Self::shows(self.browser.chrome, level).await,
            "[{}] the service does not show {level}",
            self.lang
        );
        let acr = self
            .browser
            .chrome
            .eval("document.getElementById('claims').textContent.includes('nsis/loa/Substantial')")
            .await;
        assert_eq!(acr, json!(true), "[{}] acr is not Substantial", self.lang);
    }

    /// Waits until the browser's page shows `text` (a refusal or expiry on the methods page).
    async fn browser_told(&self, text: &str) {
        self.browser
            .wait(&format!(
                "document.readyState === 'complete' && document.body.innerText.includes({text:?})"
            ))
            .await;
    }
}

fn fifteen_seconds() -> Duration {
    Duration::from_secs(15)
}

/// The right number, then a wrong number and a retry, in each language.
async fn right_and_wrong_number(
    browser: &Chrome,
    phone: &Chrome,
    lang: &'static str,
) -> Vec<String> {
    let stack = TestStack::builder().start().await.unwrap();
    let (idp, demo) = (
        stack.url(Component::Idp).to_owned(),
        stack.url(Component::DemoRp).to_owned(),
    );
    let t = texts(lang);
    let mut p = Profiles {
        browser: Walk::new(browser, lang),
        phone: Walk::new(phone, lang),
        lang,
    };
    p.pair(&idp).await;
    p.phone.check("idp: app, paired, nothing waiting").await;

    // (a) The right number: the login completes at Substantial.
    let number = p.start_app_login(&demo).await;
    p.browser.check("idp: app approval, waiting").await;
    p.phone.chrome.goto(&format!("{idp}/app")).await;
    p.phone_shows_request().await;
    p.phone.check("idp: app, a request to approve").await;
    p.approve_on_phone(&number).await;
    assert!(Profiles::shows(phone, t.app_approved).await, "[{lang}]");
    p.phone.check("idp: app, approved").await;
    p.logged_in_at_substantial(&demo).await;

    // (b) A wrong number: refused on the phone, and the browser is told and can try again. The
    // phone's page shows the new request by itself.
    let number = p.start_app_login(&demo).await;
    p.phone_shows_request().await;
    let wrong = {
        let n: u8 = number.parse().unwrap();
        (if n == 99 { 10 } else { n + 1 }).to_string()
    };
    p.approve_on_phone(&wrong).await;
    assert!(
        Profiles::shows(phone, t.app_wrong_number).await,
        "[{lang}] the phone does not say the request is refused"
    );
    assert_eq!(
        phone
            .eval("document.querySelector('input[name=request]') === null")
            .await,
        json!(true),
        "[{lang}] a refused request cannot be answered again"
    );
    p.phone.check("idp: app, wrong number").await;
    p.browser_told(t.app_refused).await;
    p.browser.check("idp: methods, refused in the app").await;
    p.browser
        .click("form[action=\"/login/app/start\"] button")
        .await;
    let number = p.wait_for_number().await;
    p.phone_shows_request().await;
    p.approve_on_phone(&number).await;
    p.logged_in_at_substantial(&demo).await;
    stack.stop().await;
    let mut problems = p.browser.problems;
    problems.extend(p.phone.problems);
    problems
}

/// (c) A request whose time runs out, with `app_request_ttl_secs` short.
async fn expiry(browser: &Chrome, phone: &Chrome, lang: &'static str) -> Vec<String> {
    let stack = TestStack::builder()
        .idp_setting(&format!("app_request_ttl_secs = {SHORT_TTL_SECS}"))
        .start()
        .await
        .unwrap();
    let (idp, demo) = (
        stack.url(Component::Idp).to_owned(),
        stack.url(Component::DemoRp).to_owned(),
    );
    let t = texts(lang);
    let mut p = Profiles {
        browser: Walk::new(browser, lang),
        phone: Walk::new(phone, lang),
        lang,
    };
    p.pair(&idp).await;
    p.start_app_login(&demo).await;
    p.phone.chrome.goto(&format!("{idp}/app")).await;
    p.phone_shows_request().await;
    // A mark on this page: it survives only if the page is never reloaded.
    phone.eval("window.__sameMarker = 'kept'; true").await;
    // The phone's countdown runs out: the request leaves the page, which says why.
    phone
        .wait_until(
            &format!(
                "document.querySelector('input[name=request]') === null \
                 && document.getElementById('app-live').textContent === {:?}",
                t.app_expired_here
            ),
            fifteen_seconds(),
        )
        .await;
    assert_eq!(
        phone.eval("window.__sameMarker === 'kept'").await,
        json!(true),
        "[{lang}] the phone's page was reloaded"
    );
    assert_eq!(
        phone
            .eval("!document.getElementById('app-refresh').hidden")
            .await,
        json!(true),
        "[{lang}] no way to refresh after the expiry"
    );
    p.phone.check("idp: app, the request expired").await;
    // The browser is told too, on the methods page.
    p.browser_told(t.app_expired).await;
    p.browser
        .check("idp: methods, the app request expired")
        .await;
    // And after a reload the phone has nothing to answer.
    phone.goto(&format!("{idp}/app")).await;
    assert!(Profiles::shows(phone, t.app_no_pending).await, "[{lang}]");
    stack.stop().await;
    let mut problems = p.browser.problems;
    problems.extend(p.phone.problems);
    problems
}

#[tokio::test(flavor = "multi_thread")]
async fn app_approval_in_two_browsers_right_number_wrong_number_and_expiry() {
    let Some(browser) = Chrome::launch_with_axe().await else {
        return;
    };
    let Some(phone) = Chrome::launch_with_axe().await else {
        return;
    };
    let mut all = Vec::new();
    for lang in ["da", "en"] {
        for chrome in [&browser, &phone] {
            chrome.clear_cookies().await;
            chrome.set_language(lang).await;
        }
        all.extend(right_and_wrong_number(&browser, &phone, lang).await);
        for chrome in [&browser, &phone] {
            chrome.clear_cookies().await;
        }
        all.extend(expiry(&browser, &phone, lang).await);
    }
    assert!(
        all.is_empty(),
        "{} accessibility problems:\n{}",
        all.len(),
        all.join("\n")
    );
}
