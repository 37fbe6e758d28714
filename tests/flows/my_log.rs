//! "My log" end to end (issue 18): Anna logs in at the OIDC and the SAML demo services, acts for
//! Karen under the demo power of attorney, and someone tries a wrong password on her user ID;
//! Anna's `/my` shows each with its service, data and level, Karen's shows Anna's act on her
//! behalf, and nobody else's shows any of it. Nobody reads another person's log: not with a
//! person key in the address, nor with a forged or another browser's cookie, nor as the holder of
//! a power of attorney.

use eid_testkit::client::Page;
use eid_testkit::{Browser, Component, TestStack};
use serde_json::Value;

use crate::broker_support::{choices, choose, production_stack_with};
use crate::demo_saml::{Method, oidc_login, saml_complete};
use crate::idp_account::{ANNA_TOTP, totp_code};
use crate::support::enter_user_id;

const NOWHERE: &str = "http://localhost:1/";
const ANNA: &str = "6b0c6a52-3e0e-4f3a-9a39-0d5c1f1a0001";
const KAREN: &str = "6b0c6a52-3e0e-4f3a-9a39-0d5c1f1a0002";
const KAREN_TOTP: &str = "MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U";
const MIKKEL_TOTP: &str = "KRUGKIDROVUWG2ZAMJZG653OEBTG66BA";
const ANNA_CPR: &str = "0107709991";

fn broker(stack: &TestStack) -> &str {
    stack.url(Component::Broker)
}

fn demo(stack: &TestStack) -> &str {
    stack.url(Component::DemoRp)
}

/// Logs `user` in with password and code display from the authenticator's user-ID page.
async fn code_display_login(
    stack: &TestStack,
    browser: &Browser,
    user_page: &Page,
    user: &str,
    totp: &str,
) -> Page {
    assert!(
        user_page.url.starts_with(stack.url(Component::Idp)),
        "expected the authenticator: {user_page:?}"
    );
    let methods = enter_user_id(stack, browser, user_page, user).await;
    let password = format!("{user}-demo-pass");
    browser
        .post(
            &format!("{}/login/code-display", stack.url(Component::Idp)),
            &[
                ("tx", methods.must_input("tx").as_str()),
                ("csrf", methods.must_input("csrf").as_str()),
                ("password", password.as_str()),
                ("code", totp_code(totp, 0).as_str()),
            ],
            NOWHERE,
        )
        .await
}

/// `/my` in `browser`, logging `user` in first when the browser has no session good enough.
async fn my_log(stack: &TestStack, browser: &Browser, user: &str, totp: &str) -> Page {
    let page = browser.get(&format!("{}/my", broker(stack)), NOWHERE).await;
    let page = if page.url.starts_with(stack.url(Component::Idp)) {
        code_display_login(stack, browser, &page, user, totp).await
    } else {
        page
    };
    assert_eq!(page.status, 200, "{page:?}");
    assert!(
        page.url.starts_with(&format!("{}/my", broker(stack))),
        "{page:?}"
    );
    page
}

/// The whole log as exported.
async fn export(stack: &TestStack, browser: &Browser) -> Vec<Value> {
    let response = browser
        .get_raw(&format!("{}/my/export", broker(stack)))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response
            .headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["complete"], true);
    body["events"].as_array().unwrap().clone()
}

/// The ids of the events whose person is `person` in the shared audit log.
async fn stored_ids(stack: &TestStack, person: &str) -> Vec<String> {
    let durable = eid_store::SqlDurable::connect(&stack.settings.durable.url())
        .await
        .unwrap();
    let query = eid_core::my_log::PersonLogQuery::newest(person.parse().unwrap(), 500);
    let page = eid_core::AuditLog::person_log(&durable, &query)
        .await
        .unwrap();
    durable.close().await;
    page.events
        .into_iter()
        .map(|e| e.event.id.to_string())
        .collect()
}

fn ids(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect()
}

fn has(events: &[Value], kind: &str, service: Option<&str>) -> bool {
    events
        .iter()
        .any(|e| e["kind"] == kind && service.is_none_or(|s| e["service"] == s))
}

#[tokio::test(flavor = "multi_thread")]
async fn each_person_sees_their_own_logins_releases_and_acts_and_nobody_elses() {
    let stack = TestStack::builder()
        .demo_saml_service()
        .start()
        .await
        .unwrap();
    each_person_sees_their_own_log(&stack).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_on_redis_and_postgresql() {
    let Some((stack, db)) = production_stack_with(|b| b.demo_saml_service()).await else {
        return;
    };
    each_person_sees_their_own_log(&stack).await;
    drop(stack);
    db.drop_db().await.unwrap();
}

/// The whole scenario on `stack` (with the SAML demo service).
async fn each_person_sees_their_own_log(stack: &TestStack) {
    let anna = Browser::new();

    // Anna at the OIDC demo service (Substantial), then at the SAML demo service by single
    // sign-on as herself, then again acting for Karen.
    oidc_login(stack, &anna, Method::CodeDisplay(0)).await;
    let saml = |choice: &'static str| {
        let (stack, anna) = (stack, &anna);
        async move {
            let home = anna.get(&format!("{}/saml/", demo(stack)), NOWHERE).await;
            let page = anna
                .post(
                    &format!("{}/saml/login", demo(stack)),
                    &[("csrf", home.must_input("csrf").as_str())],
                    NOWHERE,
                )
                .await;
            let offered = choices(&page);
            let pick = offered
                .iter()
                .find(|c| c.starts_with(choice))
                .unwrap_or_else(|| panic!("{choice} not offered: {offered:?}"))
                .clone();
            let page = choose(stack, anna, &page, &pick, NOWHERE).await;
            saml_complete(stack, anna, &page).await
        }
    };
    saml("self").await;
    saml("mandate:").await;

    // Someone tries a wrong password on Anna's user ID.
    let stranger = Browser::new();
    let user_page = stranger
        .post(
            &format!("{}/login", demo(stack)),
            &[(
                "csrf",
                stranger
                    .get(&format!("{}/", demo(stack)), NOWHERE)
                    .await
                    .must_input("csrf")
                    .as_str(),
            )],
            NOWHERE,
        )
        .await;
    let methods = enter_user_id(stack, &stranger, &user_page, "anna").await;
    let wrong = stranger
        .post(
            &format!("{}/login/password", stack.url(Component::Idp)),
            &[
                ("tx", methods.must_input("tx").as_str()),
                ("csrf", methods.must_input("csrf").as_str()),
                ("password", "not-annas-password"),
            ],
            NOWHERE,
        )
        .await;
    assert!(
        wrong.url.starts_with(stack.url(Component::Idp)),
        "{wrong:?}"
    );

    // Anna's log, read through her own SSO session (Substantial: no new login).
    let page = my_log(stack, &anna, "anna", ANNA_TOTP).await;
    let body = &page.body;
    for expected in [
        "Du loggede ind på",
        "Oplysninger sendt til",
        "CPR-nummer",
        "Betydelig",
        "Du handlede på vegne af en anden hos",
        "Karen Jensen",
        "Forkert adgangskode til dit bruger-id",
    ] {
        assert!(
            body.contains(expected),
            "Anna's log lacks {expected:?}: {body}"
        );
    }
    assert!(
        !body.contains(ANNA_CPR),
        "the CPR number is named, never shown"
    );
    let anna_events = export(stack, &anna).await;
    assert!(has(&anna_events, "login.success", Some("demo-rp")));
    assert!(has(&anna_events, "token.issued", Some("demo-rp")));
    assert!(has(&anna_events, "saml.response_issued", None));
    assert!(has(&anna_events, "representation.acted_as", None));
    assert!(anna_events.iter().any(|e| e["kind"] == "login.failure"
        && e["outcome"] == "failure"
        && e["component"] == "idp"));
    let release = anna_events
        .iter()
        .find(|e| e["kind"] == "token.issued")
        .unwrap();
    assert!(
        release["details"]["attributes"]
            .as_array()
            .is_some_and(|a| a.iter().any(|n| n == "cpr")),
        "which data: {release}"
    );
    assert!(
        !serde_json::to_string(&anna_events)
            .unwrap()
            .contains(ANNA_CPR)
    );
    // Exactly her events: every one is hers, and none of hers is missing.
    let mut exported = ids(&anna_events);
    let mut stored = stored_ids(stack, ANNA).await;
    exported.sort();
    stored.sort();
    assert_eq!(exported, stored);

    // A person key in the address is refused, never read.
    for forged in [
        format!("{}/my?person={KAREN}", broker(stack)),
        format!("{}/my/export?person={KAREN}", broker(stack)),
        format!("{}/my?service=demo-rp&person={KAREN}", broker(stack)),
    ] {
        let page = anna.get(&forged, NOWHERE).await;
        assert_eq!(page.status, 400, "{forged}: {page:?}");
        assert!(!page.body.contains("Karen"), "{forged}");
    }
    // Each refusal is audited, on the log of the person who tried.
    let refused = export(stack, &anna)
        .await
        .into_iter()
        .filter(|e| e["kind"] == "my_log.rejected" && e["section"] == "refused")
        .count();
    assert_eq!(refused, 3);

    // Karen's log shows Anna's act on her behalf; she logs in herself (code display).
    let karen = Browser::new();
    let page = my_log(stack, &karen, "karen", KAREN_TOTP).await;
    assert!(
        page.body.contains("Nogen handlede på dine vegne hos"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("Anna Jensen"),
        "who acted: {}",
        page.body
    );
    let karen_events = export(stack, &karen).await;
    assert!(has(&karen_events, "representation.acted_for", None));
    assert!(
        !has(&karen_events, "token.issued", Some("demo-rp"))
            && !has(&karen_events, "login.failure", None),
        "none of Anna's own events: {karen_events:?}"
    );
    let mut exported = ids(&karen_events);
    let mut stored = stored_ids(stack, KAREN).await;
    exported.sort();
    stored.sort();
    assert_eq!(exported, stored);
    // Anna, holding Karen's power of attorney, still reads only her own log.
    let again = ids(&export(stack, &anna).await);
    for id in ids(&karen_events) {
        assert!(!again.contains(&id), "Anna read Karen's event {id}");
    }

    // Mikkel's log has none of it.
    let mikkel = Browser::new();
    let page = my_log(stack, &mikkel, "mikkel", MIKKEL_TOTP).await;
    // (The demo's powers of attorney between him, Anna and Karen are on his log, as his own.)
    for theirs in [
        "Forkert adgangskode",
        "Nogen handlede på dine vegne",
        "Du handlede på vegne af en anden",
    ] {
        assert!(!page.body.contains(theirs), "{theirs}: {}", page.body);
    }
    let mikkel_events = export(stack, &mikkel).await;
    assert!(mikkel_events.iter().all(|e| e["service"] != "demo-rp"));
    for id in ids(&mikkel_events) {
        assert!(!ids(&anna_events).contains(&id) && !ids(&karen_events).contains(&id));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_session_of_its_own_nobody_reads_a_log() {
    let stack = TestStack::builder().start().await.unwrap();
    // Anna has a session in her own browser.
    my_log(&stack, &Browser::new(), "anna", ANNA_TOTP).await;

    // A stranger's browser with no session, or with a forged session cookie, is sent to log in.
    for cookie in [None, Some("broker_session=forged-value-0123456789")] {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let mut request = client.get(format!("{}/my/export", broker(&stack)));
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 303, "{cookie:?}");
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        assert!(
            location.starts_with(stack.url(Component::Idp)),
            "to the authenticator: {location}"
        );
        assert!(!response.text().await.unwrap().contains("events"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_below_substantial_steps_up_before_the_log_is_shown() {
    let stack = TestStack::builder().start().await.unwrap();
    let karen = Browser::new();
    // Karen logs in with her password only (Low) at the demo service.
    let home = karen.get(&format!("{}/", demo(&stack)), NOWHERE).await;
    let user_page = karen
        .post(
            &format!("{}/login", demo(&stack)),
            &[("csrf", home.must_input("csrf").as_str())],
            NOWHERE,
        )
        .await;
    let methods = enter_user_id(&stack, &karen, &user_page, "karen").await;
    let page = karen
        .post(
            &format!("{}/login/password", stack.url(Component::Idp)),
            &[
                ("tx", methods.must_input("tx").as_str()),
                ("csrf", methods.must_input("csrf").as_str()),
                ("password", "karen-demo-pass"),
            ],
            NOWHERE,
        )
        .await;
    assert!(page.body.contains("Karen"), "{page:?}");
    // Her Low session does not show the log: the authenticator asks for more.
    let page = karen.get(&format!("{}/my", broker(&stack)), NOWHERE).await;
    assert!(
        page.url.starts_with(stack.url(Component::Idp)),
        "a step-up at the authenticator: {page:?}"
    );
    let page = code_display_login(&stack, &karen, &page, "karen", KAREN_TOTP).await;
    assert!(
        page.url.starts_with(&format!("{}/my", broker(&stack))),
        "{page:?}"
    );
    assert!(page.body.contains("Du loggede ind på"), "{}", page.body);
}
