//! Parallel wrong guesses cannot get more attempts verified than the lock-out allows: each attempt
//! is counted before its password is checked.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, header};
use harness::{ANNA, Client, Harness};
use tower::ServiceExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_wrong_passwords_never_get_more_than_the_allowed_attempts_verified() {
    let h = Harness::new().await;
    let allowed = h.idp.config.lockout.max_user_failures;
    let mut client = Client::new();
    let methods = h.start_account_login(&mut client, "anna").await;
    let (tx, csrf) = (methods.input("tx"), methods.input("csrf"));
    let cookies = client
        .cookies
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ");
    let parallel = 24;
    let mut posts = tokio::task::JoinSet::new();
    for _ in 0..parallel {
        let router = h.router.clone();
        let body = format!("tx={tx}&csrf={csrf}&password=wrong-guess");
        let mut request = Request::post("/login/password")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::COOKIE, cookies.clone())
            .body(Body::from(body))
            .unwrap();
        request.extensions_mut().insert(ConnectInfo(client.addr));
        posts.spawn(async move { router.oneshot(request).await.unwrap().status() });
    }
    while let Some(status) = posts.join_next().await {
        assert_eq!(status.unwrap(), 401);
    }
    let verified = h
        .audited("login.failure")
        .await
        .into_iter()
        .filter(|e| e.person.map(|p| p.to_string()) == Some(ANNA.to_owned()))
        .count();
    let refused_unverified = h.audited("login.locked_out").await.len();
    assert!(
        u64::try_from(verified).unwrap() <= allowed,
        "{verified} guesses were verified; at most {allowed} may be"
    );
    assert_eq!(
        verified + refused_unverified,
        parallel,
        "every attempt is audited"
    );
    // And the right password is now refused too: the user is locked.
    let right = h
        .submit_password(&mut client, &methods, "anna-pass-1")
        .await;
    assert_eq!(right.status, 401);
}
