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
                    panic!("{method} failed: {error}");
                }
                return value["result"].clone();
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

    /// Navigates and waits for the page to load.
    pub async fn goto(&self, url: &str) {
        self.call("Page.navigate", json!({ "url": url })).await;
        self.wait_until(
            "document.readyState === 'complete'",
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
        loop {
            if self.eval(&script).await == json!(true) {
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

    /// Basic accessibility problems of the current page (WCAG 2.1 checks a script can make): a `lang`
    /// on `<html>`, a `<main>` landmark, exactly one `<h1>`, a label for every visible form control,
    /// a name for every button and link, and `alt` on every image. Empty when none.
    pub async fn accessibility_problems(&self) -> Vec<String> {
        let script = r#"(function() {
            const problems = [];
            const lang = document.documentElement.getAttribute('lang');
            if (!lang || !/^(da|en)$/.test(lang)) problems.push('html lang missing or unknown: ' + lang);
            if (!document.querySelector('main')) problems.push('no <main> landmark');
            const h1 = document.querySelectorAll('h1').length;
            if (h1 !== 1) problems.push('expected one <h1>, found ' + h1);
            for (const el of document.querySelectorAll('input, select, textarea')) {
                if (el.type === 'hidden') continue;
                const labelled = (el.id && document.querySelector('label[for="' + el.id + '"]')) ||
                    el.getAttribute('aria-label') || el.getAttribute('aria-labelledby') || el.closest('label');
                if (!labelled) problems.push('form control without a label: ' + (el.name || el.id));
            }
            for (const el of document.querySelectorAll('button, a[href]')) {
                if (el.hidden || el.closest('[hidden]')) continue;
                const name = (el.textContent || '').trim() || el.getAttribute('aria-label');
                if (!name) problems.push('control without a name: ' + el.outerHTML.slice(0, 80));
            }
            for (const img of document.querySelectorAll('img')) {
                if (!img.hasAttribute('alt')) problems.push('image without alt');
            }
            if (!document.title) problems.push('no title');
            return problems;
        })()"#;
        self.eval(script)
            .await
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
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

impl Drop for Chrome {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
