//! App approval with a clock the test moves: an expired request cannot be approved; and the
//! device's answer is written once, so an approval racing a refusal (either way round) loses.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use async_trait::async_trait;
use eid_core::{EphemeralStore, StoreError, Taken};
use eid_idp::texts::EN;
use eid_store::MemoryEphemeral;
use harness::{Client, Harness};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

#[tokio::test]
async fn an_expired_request_cannot_be_approved() {
    let h = Harness::new().await;
    let mut device = h.pair_app("anna", "anna-pass-1").await;
    let mut browser = Client::new();
    let methods = h.start_account_login(&mut browser, "anna").await;
    let form = [("tx", methods.input("tx")), ("csrf", methods.input("csrf"))];
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let wait = h.post(&mut browser, "/login/app/start", &pairs).await;
    let number = {
        let marker = "id=\"number\">";
        let start = wait.body.find(marker).unwrap() + marker.len();
        wait.body[start..start + 2].to_owned()
    };
    let app = h.get(&mut device, "/app").await;
    let request = app.input("request");
    // The request lives `app_request_ttl`; the person answers one second too late.
    let ttl = h.idp.config.app_request_ttl;
    h.clock
        .advance(time::Duration::try_from(ttl).unwrap() + time::Duration::seconds(1));
    let answer = h
        .post(
            &mut device,
            "/app/respond",
            &[
                ("csrf", &app.input("csrf")),
                ("request", &request),
                ("number", &number),
                ("answer", "approve"),
            ],
        )
        .await;
    assert!(
        [
            eid_idp::texts::DA.app_expired_done,
            eid_idp::texts::EN.app_expired_done
        ]
        .iter()
        .any(|t| answer.body.contains(t)),
        "{}",
        answer.body
    );
    let finished = h.post(&mut browser, "/login/app/finish", &pairs).await;
    assert_ne!(
        finished.location.as_deref(),
        Some("/account"),
        "{}",
        finished.body
    );
    assert!(!browser.cookies.contains_key("idp_session"));
    assert!(
        h.audited("login.success")
            .await
            .iter()
            .all(|e| { e.details.get("method").and_then(|m| m.as_str()) != Some("app") })
    );
}

// ---------------------------------------------------------------------------------------------
// An approval racing a refusal: one answer is written, and the other is told it came too late.

/// The memory store with a gate that stages the race deterministically: while armed, each read of
/// a request's answer (the last read before an answer is written) reads its value, then waits
/// until both racers have read theirs, and goes on in arrival order 150 ms apart. Both racers have
/// then seen the request unanswered: without an atomic transition both would write.
#[derive(Debug, Default)]
struct GatedStore {
    inner: MemoryEphemeral,
    armed: AtomicBool,
    arrived: AtomicUsize,
}

impl GatedStore {
    fn arm(&self) {
        self.arrived.store(0, Ordering::SeqCst);
        self.armed.store(true, Ordering::SeqCst);
    }

    async fn wait_for_arrivals(&self, n: usize) {
        for _ in 0..500 {
            if self.arrived.load(Ordering::SeqCst) >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the racers did not arrive");
    }
}

#[async_trait]
impl EphemeralStore for GatedStore {
    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError> {
        self.inner.put(key, value, ttl).await
    }
    async fn put_if_absent(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        self.inner.put_if_absent(key, value, ttl).await
    }
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let value = self.inner.get(key).await;
        if key.starts_with("idp:app-answer:") && self.armed.load(Ordering::SeqCst) {
            let place = self.arrived.fetch_add(1, Ordering::SeqCst);
            if place >= 1 {
                self.armed.store(false, Ordering::SeqCst);
            }
            self.wait_for_arrivals(2).await;
            tokio::time::sleep(Duration::from_millis(150 * place as u64)).await;
        }
        value
    }
    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.take(key).await
    }
    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        self.inner.delete(key).await
    }
    async fn take_once(
        &self,
        key: &str,
        tombstone: &str,
        marker: Option<&[u8]>,
        memory: Duration,
    ) -> Result<Taken, StoreError> {
        self.inner.take_once(key, tombstone, marker, memory).await
    }
    async fn incr(&self, key: &str, ttl: Duration) -> Result<u64, StoreError> {
        self.inner.incr(key, ttl).await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
}

/// Anna's paired phone, an app login waiting in a browser, and the phone's page of the request.
struct Race {
    h: Harness,
    store: Arc<GatedStore>,
    device: Client,
    browser: Client,
    login: Vec<(&'static str, String)>,
    number: String,
    app: harness::Reply,
}

async fn race() -> Race {
    let store = Arc::new(GatedStore::default());
    let h = Harness::with_store(|_| {}, store.clone()).await;
    let mut device = h.pair_app("anna", "anna-pass-1").await;
    device.headers.push(("accept-language", "en".to_owned()));
    let mut browser = Client::new();
    let methods = h.start_account_login(&mut browser, "anna").await;
    let login = vec![("tx", methods.input("tx")), ("csrf", methods.input("csrf"))];
    let pairs: Vec<(&str, &str)> = login.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let wait = h.post(&mut browser, "/login/app/start", &pairs).await;
    let number = {
        let marker = "id=\"number\">";
        let start = wait.body.find(marker).unwrap() + marker.len();
        wait.body[start..start + 2].to_owned()
    };
    let app = h.get(&mut device, "/app").await;
    Race {
        h,
        store,
        device,
        browser,
        login,
        number,
        app,
    }
}

impl Race {
    fn wrong_number(&self) -> String {
        let n: u8 = self.number.parse().unwrap();
        (if n == 99 { 10 } else { n + 1 }).to_string()
    }

    /// Sends an answer from the phone's page in its own task.
    fn answer(&self, number: &str, how: &'static str) -> tokio::task::JoinHandle<harness::Reply> {
        let router = self.h.router.clone();
        let mut device = self.device.clone();
        let form = [
            ("csrf", self.app.input("csrf")),
            ("request", self.app.input("request")),
            ("number", number.to_owned()),
            ("answer", how.to_owned()),
        ];
        tokio::spawn(async move {
            let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            eid_web::testing::post(&router, &mut device, "/app/respond", &pairs).await
        })
    }

    /// Races `first` against `second`: both read the pending request before either answers, and
    /// `first` answers first.
    async fn run(
        &self,
        first: (&str, &'static str),
        second: (&str, &'static str),
    ) -> (harness::Reply, harness::Reply) {
        self.store.arm();
        let a = self.answer(first.0, first.1);
        self.store.wait_for_arrivals(1).await;
        let b = self.answer(second.0, second.1);
        (a.await.unwrap(), b.await.unwrap())
    }

    async fn browser_status(&mut self) -> String {
        let tx = self.login[0].1.clone();
        let reply = self
            .h
            .get(&mut self.browser, &format!("/login/app/status?tx={tx}"))
            .await;
        let json: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
        json["status"].as_str().unwrap().to_owned()
    }

    async fn finish(&mut self) -> harness::Reply {
        let pairs: Vec<(&str, &str)> = self.login.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.h
            .post(&mut self.browser, "/login/app/finish", &pairs)
            .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_approval_after_a_wrong_number_loses() {
    let mut race = race().await;
    let (refused, approved) = race
        .run(
            (&race.wrong_number(), "approve"),
            (&race.number.clone(), "approve"),
        )
        .await;
    assert!(
        refused.body.contains(EN.app_wrong_number),
        "{}",
        refused.body
    );
    assert!(
        approved.body.contains(EN.app_already_refused),
        "{}",
        approved.body
    );
    assert!(
        !approved.body.contains(EN.app_approved),
        "{}",
        approved.body
    );
    assert_eq!(race.browser_status().await, "refused");
    let finished = race.finish().await;
    assert_ne!(finished.location.as_deref(), Some("/account"));
    assert!(!race.browser.cookies.contains_key("idp_session"));
    // One answer, audited once.
    assert_eq!(race.h.audited("app.response").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refusal_after_an_approval_loses() {
    let mut race = race().await;
    let (approved, refused) = race
        .run((&race.number.clone(), "approve"), ("", "refuse"))
        .await;
    assert!(approved.body.contains(EN.app_approved), "{}", approved.body);
    assert!(
        refused.body.contains(EN.app_already_approved),
        "{}",
        refused.body
    );
    assert_eq!(race.browser_status().await, "approved");
    let finished = race.finish().await;
    assert_eq!(
        finished.location.as_deref(),
        Some("/account"),
        "{}",
        finished.body
    );
    assert_eq!(race.h.audited("app.response").await.len(), 1);
}
