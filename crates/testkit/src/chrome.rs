//! Headless Chromium driven over the Chrome DevTools Protocol, with a virtual WebAuthn
//! authenticator: enough to click through the login pages as a person would.

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A headless Chromium with one page.
pub struct Chrome {
    child: Child,
    socket: Mutex<Socket>,
    session: String,
    next_id: std::sync::atomic::AtomicU64,
    _profile: tempfile::TempDir,
}

impl Chrome {
    /// Starts Chromium, or `None` (after [`eid_store::testing::skip`]) when it is not installed and
    /// `REQUIRE_SERVICES` is unset; with `REQUIRE_SERVICES` set a missing browser fails the test.
    pub async fn launch() -> Option<Chrome> {
        let binary = ["chromium", "chromium-browser", "google-chrome"]
            .into_iter()
            .find(|b| {
                Command::new(b)
                    .arg("--version")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok()
            });
        let Some(binary) = binary else {
            eid_store::testing::skip("chromium not installed");
            return None;
        };
        let profile = tempfile::tempdir().expect("profile dir");
        let mut child = Command::new(binary)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start chromium");
        let stderr = child.stderr.take().expect("stderr");
        let (url_tx, url_rx) = std::sync::mpsc::channel::<String>();
        // Read the DevTools address, then keep draining stderr so Chromium never blocks on it.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.split("DevTools listening on ").nth(1) {
                    let _ = url_tx.send(url.trim().to_owned());
                }
            }
        });
        let ws_url =
            tokio::task::spawn_blocking(move || url_rx.recv_timeout(Duration::from_secs(30)))
                .await
                .expect("reader")
                .expect("Chromium printed no DevTools address");
        let (socket, _) = connect_async(&ws_url).await.expect("connect to DevTools");
        let mut chrome = Chrome {
            child,
            socket: Mutex::new(socket),
            session: String::new(),
            next_id: std::sync::atomic::AtomicU64::new(1),
            _profile: profile,
        };
        let target = chrome
            .send(None, "Target.createTarget", json!({ "url": "about:blank" }))
            .await;
        let attached = chrome
            .send(
                None,
                "Target.attachToTarget",
                json!({ "targetId": target["targetId"], "flatten": true }),
            )
            .await;
        chrome.session = attached["sessionId"]
            .as_str()
            .expect("sessionId")
            .to_owned();
        chrome.call("Page.enable", json!({})).await;
        chrome.call("Runtime.enable", json!({})).await;
        Some(chrome)
    }

    async fn send(&self, session: Option<&str>, method: &str, params: Value) -> Value {
        match self.try_send(session, method, params).await {
            Ok(result) => result,
            Err(error) => panic!("{method} failed: {error}"),
        }
    }

    /// A DevTools command; its error (e.g. "Inspected target navigated or closed") as `Err`.
    async fn try_send(
        &self,
        session: Option<&str>,
        method: &str,
        params: Value,
    ) -> Result<Value, Value> {
        let id = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut message = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = session {
            message["sessionId"] = json!(session);
        }
        let mut socket = self.socket.lock().await;
        socket
            .send(Message::Text(message.to_string().into()))
            .await
            .expect("send to DevTools");
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(30), socket.next())
                .await
                .unwrap_or_else(|_| panic!("no answer to {method}"))
                .expect("DevTools closed")
                .expect("DevTools error");
            let Message::Text(text) = frame else { continue };
            let value: Value = serde_json::from_str(&text).expect("DevTools JSON");
            if value["id"] == json!(id) {
                if let Some(error) = value.get("error") {
                    return Err(error.clone());
                }
                return Ok(value["result"].clone());
            }
        }
    }

    /// A DevTools command on the page's session.
    pub async fn call(&self, method: &str, params: Value) -> Value {
        let session = self.session.clone();
        self.send(Some(&session), method, params).await
    }

    /// Adds a virtual platform authenticator with resident keys and user verification.
    pub async fn add_virtual_authenticator(&self) -> String {
        self.call("WebAuthn.enable", json!({ "enableUI": false }))
            .await;
        let result = self
            .call(
                "WebAuthn.addVirtualAuthenticator",
                json!({ "options": {
                    "protocol": "ctap2", "transport": "internal", "hasResidentKey": true,
                    "hasUserVerification": true, "isUserVerified": true, "automaticPresenceSimulation": true
                }}),
            )
            .await;
        result["authenticatorId"]
            .as_str()
            .expect("authenticatorId")
            .to_owned()
    }

    /// The credentials the virtual authenticator holds.
    pub async fn credentials(&self, authenticator: &str) -> Vec<Value> {
        let result = self
            .call(
                "WebAuthn.getCredentials",
                json!({ "authenticatorId": authenticator }),
            )
            .await;
        result["credentials"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Evaluates JavaScript in the page and returns its value (promises are awaited).
    pub async fn eval(&self, script: &str) -> Value {
        let result = self
            .call(
                "Runtime.evaluate",
                json!({ "expression": script, "returnByValue": true, "awaitPromise": true }),
            )
            .await;
        if let Some(exception) = result.get("exceptionDetails") {
            panic!("script failed: {exception}\n{script}");
        }
        result["result"]["value"].clone()
    }

    /// Navigates and waits for the new page to load (the old one is marked first, so its own
    /// `readyState` is never taken for the new page's).
    pub async fn goto(&self, url: &str) {
        let session = self.session.clone();
        let _ = self
            .try_send(
                Some(&session),
                "Runtime.evaluate",
                json!({ "expression": "window.__navigating = true" }),
            )
            .await;
        self.call("Page.navigate", json!({ "url": url })).await;
        self.wait_until(
            "!window.__navigating && document.readyState === 'complete'",
            Duration::from_secs(15),
        )
        .await;
    }

    /// The page's current URL.
    pub async fn url(&self) -> String {
        self.eval("window.location.href")
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Waits until a JavaScript condition holds.
    pub async fn wait_until(&self, condition: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let script = format!(
            "(function() {{ try {{ return !!({condition}); }} catch (e) {{ return false; }} }})()"
        );
        let session = self.session.clone();
        loop {
            // While a page is being replaced an evaluation may fail; that is "not yet".
            let answer = self
                .try_send(
                    Some(&session),
                    "Runtime.evaluate",
                    json!({ "expression": script, "returnByValue": true }),
                )
                .await;
            if answer.is_ok_and(|a| a["result"]["value"] == json!(true)) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {condition}; at {}",
                self.url().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Starts Chromium for the accessibility checks: `None` (after [`eid_store::testing::skip`])
    /// when Chromium or axe-core (`node_modules/axe-core`, installed by `npm ci`) is missing and
    /// `REQUIRE_SERVICES` is unset; with it set, either missing fails the test.
    pub async fn launch_with_axe() -> Option<Chrome> {
        if axe_source().is_none() {
            eid_store::testing::skip(&format!(
                "axe-core not installed at {} (run npm ci --no-audit --no-fund at the workspace root)",
                axe_path().display()
            ));
            return None;
        }
        Chrome::launch().await
    }

    /// Sizes the page's window (CSS pixels, device scale 1, a desktop layout viewport: at 390 px
    /// `innerWidth` is exactly 390, so an overflow shows as a wider scrolling element).
    pub async fn set_viewport(&self, width: u32, height: u32) {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": false }),
        )
        .await;
    }

    /// Asks for pages in `lang` (the `Accept-Language` header and `navigator.language`).
    pub async fn set_language(&self, lang: &str) {
        self.call("Network.enable", json!({})).await;
        self.call(
            "Network.setExtraHTTPHeaders",
            json!({ "headers": { "Accept-Language": lang } }),
        )
        .await;
        self.call("Emulation.setLocaleOverride", json!({})).await;
        self.call("Emulation.setLocaleOverride", json!({ "locale": lang }))
            .await;
    }

    /// Forgets every cookie (a new person at the same browser).
    pub async fn clear_cookies(&self) {
        self.call("Network.clearBrowserCookies", json!({})).await;
    }

    /// The WCAG 2.1 A and AA violations axe-core finds on the current page, and those of its
    /// best-practice rules (one `main` landmark, one `h1`, content in landmarks: what the checks
    /// written here before axe covered), one line each: rule id, impact, help and the selectors of
    /// the offending nodes. axe-core is the npm package, pinned in the workspace's `package.json`;
    /// no rule of this list is written here.
    pub async fn axe_violations(&self) -> Vec<String> {
        let source = axe_source().unwrap_or_else(|| {
            panic!(
                "axe-core not installed at {} (run npm ci --no-audit --no-fund)",
                axe_path().display()
            )
        });
        if self.eval("typeof window.axe === 'undefined'").await == json!(true) {
            self.eval(&format!("{source}\n;true")).await;
        }
        let script = r#"axe.run(document, {
                runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] },
                resultTypes: ['violations']
            }).then(r => r.violations.map(v => v.id + ' (' + v.impact + '): ' + v.help + ' at ' +
                v.nodes.map(n => n.target.join(' ') + (n.failureSummary ? ' [' + n.failureSummary.replace(/\s+/g, ' ') + ']' : '')).join('; ')))"#;
        strings(self.eval(script).await)
    }

    /// Asserts that axe-core finds no WCAG 2.1 AA violation on the current page.
    pub async fn assert_axe_clean(&self) {
        let problems = self.axe_violations().await;
        assert!(problems.is_empty(), "{}: {problems:#?}", self.url().await);
    }

    /// The page's horizontal overflow: `None` when the scrolling element is no wider than the
    /// window, else the widths and the elements sticking out.
    pub async fn horizontal_overflow(&self) -> Option<String> {
        let script = format!(
            r#"(function() {{
            {DESCRIBE}
            const scroll = document.scrollingElement.scrollWidth, width = window.innerWidth;
            if (scroll <= width) return null;
            const out = [];
            for (const el of document.body.querySelectorAll('*')) {{
                const r = el.getBoundingClientRect();
                if (r.right > width + 0.5 && !(el.parentElement && el.parentElement.getBoundingClientRect().right > width + 0.5)) out.push(describe(el) + ' to ' + Math.round(r.right));
            }}
            return 'scrollWidth ' + scroll + ' > innerWidth ' + width + ': ' + out.slice(0, 6).join('; ');
        }})()"#
        );
        self.eval(&script).await.as_str().map(str::to_owned)
    }

    /// Asserts that the page does not scroll sideways.
    pub async fn assert_no_horizontal_overflow(&self) {
        let overflow = self.horizontal_overflow().await;
        assert!(overflow.is_none(), "{}: {overflow:?}", self.url().await);
    }

    /// Interactive targets smaller than 24×24 CSS px (WCAG 2.5.8, target size minimum): every
    /// rendered `a[href]`, `button`, `input` (not hidden), `select`, `textarea`, `summary` and
    /// `[role=button]`. The one exception taken from 2.5.8 is the inline one: a link inside a
    /// sentence, i.e. an `a` whose parent is a `p` or `li` holding text besides the link.
    pub async fn small_targets(&self) -> Vec<String> {
        let script = format!(
            r#"(function() {{
            {DESCRIBE}
            const out = [];
            const selector = 'a[href], button, input:not([type=hidden]), select, textarea, summary, [role=button]';
            for (const el of document.querySelectorAll(selector)) {{
                const style = getComputedStyle(el);
                if (style.display === 'none' || style.visibility === 'hidden' || el.getClientRects().length === 0) continue;
                const parent = el.parentElement;
                if (el.tagName === 'A' && parent && (parent.tagName === 'P' || parent.tagName === 'LI')
                    && parent.textContent.trim() !== el.textContent.trim()) continue;
                const r = el.getBoundingClientRect();
                if (r.width < 24 || r.height < 24)
                    out.push(describe(el) + ' is ' + r.width.toFixed(1) + '×' + r.height.toFixed(1) + ' px');
            }}
            return out;
        }})()"#
        );
        strings(self.eval(&script).await)
    }

    /// Asserts that every interactive target is at least 24×24 px (see [`Self::small_targets`]).
    pub async fn assert_targets_at_least_24px(&self) {
        let small = self.small_targets().await;
        assert!(small.is_empty(), "{}: {small:#?}", self.url().await);
    }

    /// Focus indicators a keyboard user cannot see: the page is walked with the Tab key (real key
    /// events, so `:focus-visible` applies), and for each focused element its outline (or, without
    /// one, its box shadow) must exist, be at least 2 px, and have a contrast of at least 3:1
    /// against the background it is drawn on (the element's own for a negative offset, else its
    /// parent's), relative luminance as WCAG defines it.
    pub async fn focus_problems(&self) -> Vec<String> {
        let count = self
            .eval(
                "document.activeElement && document.activeElement.blur(); window.__focusSeen = new Set(); \
                 document.querySelectorAll('a[href], button, input, select, textarea, summary, [tabindex]').length",
            )
            .await
            .as_u64()
            .unwrap_or(0);
        let script = format!(
            r#"(function() {{
            {DESCRIBE}
            const el = document.activeElement;
            if (!el || el === document.body || el === document.documentElement) return {{ state: 'none' }};
            if (window.__focusSeen.has(el)) return {{ state: 'repeat' }};
            window.__focusSeen.add(el);
            const parse = (c) => {{
                const m = /rgba?\(([^)]+)\)/.exec(c || '');
                if (!m) return null;
                const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number);
                return {{ r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 }};
            }};
            const channel = (v) => {{ v /= 255; return v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); }};
            const lum = (c) => 0.2126 * channel(c.r) + 0.7152 * channel(c.g) + 0.0722 * channel(c.b);
            const ratio = (a, b) => {{ const x = lum(a), y = lum(b); return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05); }};
            const background = (node) => {{
                for (let n = node; n && n.nodeType === 1; n = n.parentElement) {{
                    const c = parse(getComputedStyle(n).backgroundColor);
                    if (c && c.a > 0) return c;
                }}
                return {{ r: 255, g: 255, b: 255, a: 1 }};
            }};
            const style = getComputedStyle(el);
            let color = null, kind = '', behind = el.parentElement || el;
            if (style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0) {{
                if (parseFloat(style.outlineWidth) < 2)
                    return {{ state: 'problem', text: describe(el) + ': focus outline ' + style.outlineWidth + ' thinner than 2px' }};
                color = parse(style.outlineColor); kind = 'outline ' + style.outlineColor;
                if (parseFloat(style.outlineOffset) < 0) behind = el;
            }} else if (style.boxShadow && style.boxShadow !== 'none') {{
                color = parse(style.boxShadow); kind = 'box-shadow ' + style.boxShadow;
            }}
            if (!color) return {{ state: 'problem', text: describe(el) + ': no visible focus indicator (no outline, no box-shadow)' }};
            const bg = background(behind);
            const r = ratio(color, bg);
            if (r < 3) return {{ state: 'problem', text: describe(el) + ': focus ' + kind + ' on rgb(' + [bg.r, bg.g, bg.b].join(',') + ') is ' + r.toFixed(2) + ':1, under 3:1' }};
            return {{ state: 'ok' }};
        }})()"#
        );
        let mut problems = Vec::new();
        for _ in 0..(count * 2 + 4) {
            for kind in ["keyDown", "keyUp"] {
                self.call(
                    "Input.dispatchKeyEvent",
                    json!({ "type": kind, "key": "Tab", "code": "Tab",
                            "windowsVirtualKeyCode": 9, "nativeVirtualKeyCode": 9 }),
                )
                .await;
            }
            let answer = self.eval(&script).await;
            match answer["state"].as_str() {
                Some("repeat") => break,
                Some("problem") => problems.push(answer["text"].as_str().unwrap_or("").to_owned()),
                _ => {}
            }
        }
        self.eval(
            "document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0); true",
        )
        .await;
        problems
    }

    /// Asserts that keyboard focus is visible at 3:1 on every focusable element.
    pub async fn assert_focus_visible(&self) {
        let problems = self.focus_problems().await;
        assert!(problems.is_empty(), "{}: {problems:#?}", self.url().await);
    }

    /// Every accessibility problem of the current page at the current window size: axe-core's WCAG
    /// 2.1 AA violations, horizontal overflow, targets under 24×24 px and focus indicators under
    /// 3:1. Empty when none.
    pub async fn accessibility_problems(&self) -> Vec<String> {
        let mut problems: Vec<String> = self
            .axe_violations()
            .await
            .into_iter()
            .map(|v| format!("axe {v}"))
            .collect();
        problems.extend(
            self.horizontal_overflow()
                .await
                .map(|o| format!("overflow: {o}")),
        );
        problems.extend(
            self.small_targets()
                .await
                .into_iter()
                .map(|t| format!("target under 24px: {t}")),
        );
        problems.extend(
            self.focus_problems()
                .await
                .into_iter()
                .map(|f| format!("focus: {f}")),
        );
        problems
    }

    /// Asserts that the current page has no [`accessibility problems`](Self::accessibility_problems).
    pub async fn assert_accessible(&self) {
        let problems = self.accessibility_problems().await;
        assert!(problems.is_empty(), "{}: {problems:#?}", self.url().await);
    }

    /// Fills inputs by id and submits the form they belong to, waiting for the next page.
    pub async fn fill_and_submit(&self, fields: &[(&str, &str)]) {
        let mut script = String::from("(function() { let form;");
        for (id, value) in fields {
            script.push_str(&format!(
                "{{ const el = document.getElementById({id:?}); el.value = {value:?}; form = el.form; }}",
                id = id,
                value = value
            ));
        }
        script.push_str("window.__leaving = true; form.submit(); return true; })()");
        self.eval(&script).await;
        self.wait_until(
            "!window.__leaving && document.readyState === 'complete'",
            Duration::from_secs(15),
        )
        .await;
    }
}

/// A JavaScript `describe(el)` naming an element for a failure message.
const DESCRIBE: &str = r#"const describe = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
    (typeof el.className === 'string' && el.className ? '.' + el.className.trim().split(/\s+/).join('.') : '') +
    ' "' + (el.textContent || el.value || el.name || '').trim().replace(/\s+/g, ' ').slice(0, 40) + '"';"#;

/// Where `npm ci` puts axe-core: `node_modules/` at the workspace root.
pub fn axe_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../node_modules/axe-core/axe.min.js")
}

/// axe-core's source, read once; `None` when it is not installed.
pub fn axe_source() -> Option<&'static str> {
    static SOURCE: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    SOURCE
        .get_or_init(|| std::fs::read_to_string(axe_path()).ok())
        .as_deref()
}

fn strings(value: Value) -> Vec<String> {
    value
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

impl Drop for Chrome {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
