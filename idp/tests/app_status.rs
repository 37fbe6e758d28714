//! The app's page follows its pending request by itself: `GET /app/status`, which its script polls,
//! answers only a paired device (by its cookie, like `/app`), names the request waiting for that
//! device by a tag and says how many seconds it has left, and nothing else: not another device's
//! request, not the service, not the person.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use harness::{Client, Harness, Reply};

/// The status as the device's page sees it: 200 and its JSON.
async fn status(h: &Harness, device: &mut Client) -> serde_json::Value {
    let reply = h.get(device, "/app/status").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    serde_json::from_str(&reply.body).unwrap()
}

/// Starts an app login for `user` in a fresh browser; returns the waiting page and the browser.
async fn start(h: &Harness, user: &str) -> (Client, Reply, Vec<(&'static str, String)>) {
    let mut browser = Client::new();
    let methods = h.start_account_login(&mut browser, user).await;
    let form = vec![("tx", methods.input("tx")), ("csrf", methods.input("csrf"))];
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let wait = h.post(&mut browser, "/login/app/start", &pairs).await;
    assert_eq!(wait.status, 200, "{}", wait.body);
    (browser, wait, form)
}

fn number(wait: &Reply) -> String {
    let marker = "id=\"number\">";
    let start = wait.body.find(marker).unwrap() + marker.len();
    wait.body[start..start + 2].to_owned()
}

#[tokio::test]
async fn the_status_is_refused_without_a_paired_device() {
    let h = Harness::new().await;
    let _device = h.pair_app("anna", "anna-pass-1").await;
    let _waiting = start(&h, "anna").await;
    let mut stranger = Client::new();
    let refused = h.get(&mut stranger, "/app/status").await;
    assert_eq!(refused.status, 401, "{}", refused.body);
    let json: serde_json::Value = serde_json::from_str(&refused.body).unwrap();
    assert_eq!(json, serde_json::json!({ "error": "not_paired" }));
    // A forged cookie: Anna's person id with a made-up device and secret.
    let mut forged = Client::new();
    forged.cookies.insert(
        "idp_device".into(),
        format!(
            "{}.6b0c6a52-3e0e-4f3a-9a39-0d5c1f1a9999.not-the-secret",
            harness::ANNA
        ),
    );
    let refused = h.get(&mut forged, "/app/status").await;
    assert_eq!(refused.status, 401, "{}", refused.body);
    assert!(!refused.body.contains("request\""), "{}", refused.body);
    // Nonsense of any length is refused the same way, never a 5xx.
    for junk in ["", ".", "..", "a.b.c", &"x".repeat(3000)] {
        let mut client = Client::new();
        client.cookies.insert("idp_device".into(), junk.to_owned());
        let refused = h.get(&mut client, "/app/status").await;
        assert_eq!(refused.status, 401, "{junk:?}: {}", refused.body);
    }
}

#[tokio::test]
async fn the_status_follows_the_devices_pending_request() {
    let h = Harness::new().await;
    let mut device = h.pair_app("anna", "anna-pass-1").await;
    let empty = status(&h, &mut device).await;
    assert_eq!(
        empty,
        serde_json::json!({ "request": null, "seconds_left": 0 })
    );

    // A request comes: the status names it by the tag the page carries, with its seconds left.
    let (_browser, first, _) = start(&h, "anna").await;
    let page = h.get(&mut device, "/app").await;
    let tag = page.input("request-tag");
    let now = status(&h, &mut device).await;
    assert_eq!(now["request"], serde_json::json!(tag));
    assert_eq!(now["seconds_left"], 120);
    // Only the tag: not the request's id (which answers it), the number, the service or the person.
    let body = h.get(&mut device, "/app/status").await.body;
    assert!(!body.contains(&page.input("request")), "{body}");
    // The two-digit number is compared as a value: as a substring it would match "120" or a tag.
    assert_ne!(now["request"], serde_json::json!(number(&first)), "{body}");
    let keys: Vec<&String> = now.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["request", "seconds_left"], "{now}");
    h.clock.advance(time::Duration::seconds(30));
    assert_eq!(status(&h, &mut device).await["seconds_left"], 90);

    // A newer request replaces it: another tag.
    let (_browser, _second, _) = start(&h, "anna").await;
    let newer = status(&h, &mut device).await;
    assert_ne!(newer["request"], serde_json::json!(tag));
    assert!(newer["request"].is_string(), "{newer}");
    assert_eq!(
        newer["request"],
        serde_json::json!(h.get(&mut device, "/app").await.input("request-tag"))
    );

    // Its time runs out: gone, without the phone doing anything.
    h.clock.advance(time::Duration::seconds(121));
    assert_eq!(
        status(&h, &mut device).await,
        serde_json::json!({ "request": null, "seconds_left": 0 })
    );
}

#[tokio::test]
async fn an_answered_request_leaves_the_status_and_another_persons_never_shows() {
    let h = Harness::new().await;
    let mut annas = h.pair_app("anna", "anna-pass-1").await;
    let mut mikkels = h.pair_app("mikkel", "mikkel-pass-1").await;
    let (_browser, wait, _) = start(&h, "anna").await;
    // Mikkel's device is told nothing of Anna's request.
    assert_eq!(
        status(&h, &mut mikkels).await,
        serde_json::json!({ "request": null, "seconds_left": 0 })
    );
    assert!(status(&h, &mut annas).await["request"].is_string());
    let app = h.get(&mut annas, "/app").await;
    h.post(
        &mut annas,
        "/app/respond",
        &[
            ("csrf", &app.input("csrf")),
            ("request", &app.input("request")),
            ("number", &number(&wait)),
            ("answer", "approve"),
        ],
    )
    .await;
    assert_eq!(
        status(&h, &mut annas).await["request"],
        serde_json::Value::Null
    );
}

#[tokio::test]
async fn the_paired_page_carries_the_poll_and_the_unpaired_page_does_not() {
    let h = Harness::new().await;
    let mut device = h.pair_app("anna", "anna-pass-1").await;
    let (_browser, _wait, _) = start(&h, "anna").await;
    let page = h.get(&mut device, "/app").await;
    assert!(
        page.body.contains("<script src=\"/static/app.js\" defer>"),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains("<script>"),
        "no inline script: {}",
        page.body
    );
    // The text the script shows when the time runs out is the page's own, in its language.
    assert!(
        page.body.contains(eid_idp::texts::DA.app_expired_here)
            || page.body.contains(eid_idp::texts::EN.app_expired_here),
        "{}",
        page.body
    );
    let mut stranger = Client::new();
    let unpaired = h.get(&mut stranger, "/app").await;
    assert!(
        !unpaired.body.contains("/static/app.js"),
        "{}",
        unpaired.body
    );
    let script = h.get(&mut stranger, "/static/app.js").await;
    assert_eq!(script.status, 200);
    assert!(script.body.contains("/app/status"), "{}", script.body);
}
