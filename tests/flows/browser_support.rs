//! Walking pages in headless Chromium and checking each one for accessibility problems (axe-core,
//! horizontal overflow, target sizes, focus visibility) at a desktop and a phone width: shared by
//! the browser tests.

use eid_testkit::chrome::Chrome;
use std::time::Duration;

/// The two window sizes every page is checked at: a desktop and a 390 px phone.
pub const WIDTHS: [(u32, u32); 2] = [(1280, 900), (390, 844)];

/// A walk through pages in one browser and one language, collecting the accessibility problems of
/// each page it checks.
pub struct Walk<'a> {
    pub chrome: &'a Chrome,
    pub lang: &'static str,
    pub problems: Vec<String>,
    pub pages: usize,
}

impl<'a> Walk<'a> {
    /// A walk in `chrome`, its pages asked for in `lang`.
    pub fn new(chrome: &'a Chrome, lang: &'static str) -> Walk<'a> {
        Walk {
            chrome,
            lang,
            problems: Vec::new(),
            pages: 0,
        }
    }

    /// Checks the current page at both widths, collecting its problems.
    pub async fn check(&mut self, page: &str) {
        let url = self.chrome.url().await;
        let h1 = self
            .chrome
            .eval("(document.querySelector('h1') || {}).textContent || ''")
            .await;
        eprintln!("checking [{}] {page}: {url} {h1}", self.lang);
        for (width, height) in WIDTHS {
            self.chrome.set_viewport(width, height).await;
            for problem in self.chrome.accessibility_problems().await {
                self.problems.push(format!(
                    "[{}] {page} at {width}px ({url}): {problem}",
                    self.lang
                ));
            }
        }
        self.chrome.set_viewport(WIDTHS[0].0, WIDTHS[0].1).await;
        self.pages += 1;
    }

    /// Opens a URL and checks the page.
    pub async fn visit(&mut self, page: &str, url: &str) {
        self.chrome.goto(url).await;
        self.check(page).await;
    }

    /// Clicks the element `selector` finds and waits for the next page.
    pub async fn click(&self, selector: &str) {
        let script = format!(
            "(function() {{ const el = document.querySelector({selector:?}); \
             if (!el) return false; window.__leaving = true; el.click(); return true; }})()"
        );
        assert_eq!(
            self.chrome.eval(&script).await,
            serde_json::json!(true),
            "{selector} not on {}",
            self.chrome.url().await
        );
        self.wait("!window.__leaving && document.readyState === 'complete'")
            .await;
    }

    /// Asserts that the field `id` is marked invalid and described by the page's error.
    pub async fn assert_tied_to_error(&self, id: &str) {
        let script = format!(
            "(function() {{ const el = document.getElementById({id:?}); const error = document.getElementById('form-error'); \
             return !!el && !!error && el.getAttribute('aria-invalid') === 'true' \
             && (el.getAttribute('aria-describedby') || '').split(' ').includes('form-error'); }})()"
        );
        assert_eq!(
            self.chrome.eval(&script).await,
            serde_json::json!(true),
            "#{id} is not tied to the error on {}",
            self.chrome.url().await
        );
    }

    /// Asserts that the page opened with the focus in a field `selector` matches (`autofocus`).
    /// Waits for it: the browser applies `autofocus` at a rendering step after the load, which
    /// on a busy machine may come after the page reports itself loaded.
    pub async fn assert_focused(&self, selector: &str) {
        let script =
            format!("!!document.activeElement && document.activeElement.matches({selector:?})");
        self.chrome
            .wait_until(&script, Duration::from_secs(5))
            .await;
    }

    pub async fn wait(&self, condition: &str) {
        self.chrome
            .wait_until(condition, Duration::from_secs(15))
            .await;
    }

    /// From the demo service's home page to the authenticator's user-id page, checking the
    /// broker's identity chooser on the way when it is shown.
    pub async fn open_user_id_page(&mut self, demo: &str, check: bool) {
        self.chrome.goto(&format!("{demo}/")).await;
        self.click("form[action=\"/login\"] button").await;
        self.wait(
            "document.querySelector('button[id^=choose-]') !== null \
             || document.getElementById('user_id') !== null",
        )
        .await;
        if self
            .chrome
            .eval("document.getElementById('choose-mitid') !== null")
            .await
            == serde_json::json!(true)
        {
            if check {
                self.check("broker: identity chooser").await;
            }
            self.click("#choose-mitid").await;
        }
        self.wait("document.getElementById('user_id') !== null")
            .await;
    }
}
