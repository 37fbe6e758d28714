//! The "Who are you acting for?" page in headless Chromium, in Danish and English, at a desktop and
//! a phone width: axe-core (WCAG 2.1 AA) finds nothing, nothing scrolls sideways, every target is
//! at least 24×24 px and keyboard focus shows.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use axum::Router;
use axum::response::Html;
use axum::routing::get;
use eid_core::Loa;
use eid_testkit::chrome::Chrome;
use harness::*;
use std::net::SocketAddr;

/// The choice page as the broker shows it to Anna (who holds a power of attorney and a business
/// right at [`RP_C`]) in `lang`.
async fn choice_page(h: &Harness, lang: &str) -> String {
    let mut anna = h.person("anna", Loa::Substantial);
    anna.given_name = Some("Anna".into());
    anna.family_name = Some("Jensen".into());
    h.upstream.answer(anna);
    let mut browser = Client::new();
    browser.headers.push(("accept-language", lang.to_owned()));
    let page = h.login(&mut browser, RP_C, &[]).await;
    assert!(page.is_representation_choice(), "{page:?}");
    page.body
}

#[tokio::test(flavor = "multi_thread")]
async fn the_choice_page_passes_axe_and_the_size_and_focus_checks_in_both_languages() {
    let Some(chrome) = Chrome::launch_with_axe().await else {
        return;
    };
    let h = Harness::new().await;
    h.mandates.grant(
        "anna",
        power_of_attorney(
            "poa-1",
            "karen",
            "Karen Margrethe Hansen-Østergaard",
            "0202505678",
            RP_C,
        ),
    );
    h.mandates.grant(
        "anna",
        business_right("right-1", "12345678", "Demo Regnskab og Revision ApS", RP_C),
    );
    let pages = [
        ("da", choice_page(&h, "da").await),
        ("en", choice_page(&h, "en").await),
    ];
    // The pages as rendered, served beside the broker's own stylesheet.
    let mut app = Router::new();
    for (lang, body) in &pages {
        let body = body.clone();
        app = app.route(
            &format!("/choice/{lang}"),
            get(move || async move { Html(body) }),
        );
    }
    let app = app.fallback_service(h.router.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    let mut problems = Vec::new();
    for (lang, _) in &pages {
        chrome
            .goto(&format!("http://localhost:{port}/choice/{lang}"))
            .await;
        let styled = chrome
            .eval("getComputedStyle(document.querySelector('button')).minHeight")
            .await;
        assert_ne!(styled, serde_json::json!(""), "the stylesheet loads");
        for (width, height) in [(1280, 900), (390, 844)] {
            chrome.set_viewport(width, height).await;
            for problem in chrome.accessibility_problems().await {
                problems.push(format!("[{lang}] at {width}px: {problem}"));
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}
