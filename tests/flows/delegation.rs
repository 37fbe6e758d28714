//! A power of attorney through the whole stack (issue 16's end-to-end acceptance): Anna gives her
//! son Mikkel a power of attorney in the delegation portal (the form, a fresh login at
//! Substantial, the sign page), Mikkel accepts it there, then logs in at the OIDC demo service
//! and at the SAML demo service acting for her; Anna revokes it, after which Mikkel is no longer
//! offered the choice and a code issued before the revocation is refused. The audit log names
//! both of them for the grant, the acceptance, each use and the revocation.
//!
//! Anna and Mikkel are chosen because the demo data does not get in the way: the demo mandates
//! between them are pending (Anna → Mikkel) or expired (Karen → Mikkel), and none names `demo-rp`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use eid_testkit::client::Page;
use eid_testkit::oidc::{Pkce, authorize_url, query, verify_id_token};
use eid_testkit::stack::{StackBuilder, TEST_CLIENT_SECRET};
use eid_testkit::{Browser, Component, TestStack};
use serde_json::Value;
use uuid::Uuid;

use crate::broker_support::{choices, choose};
use crate::idp_account::{ANNA_TOTP, MIKKEL, MIKKEL_TOTP, totp_code};
use crate::support::{ANNA, enter_user_id};

/// Where no test follows (every hop stays inside the stack).
const NOWHERE: &str = "http://localhost:1/";
const ANNA_CPR: &str = "0107709991";
const MIKKEL_CPR: &str = "2211009993";

fn portal(stack: &TestStack) -> &str {
    stack.url(Component::Delegation)
}

fn demo(stack: &TestStack) -> &str {
    stack.url(Component::DemoRp)
}

/// A demo person and how they log in at the authenticator.
#[derive(Clone, Copy)]
struct Person {
    user: &'static str,
    password: &'static str,
    totp: &'static str,
}

const ANNA_LOGIN: Person = Person {
    user: "anna",
    password: "anna-demo-pass",
    totp: ANNA_TOTP,
};
const MIKKEL_LOGIN: Person = Person {
    user: "mikkel",
    password: "mikkel-demo-pass",
    totp: MIKKEL_TOTP,
};

/// Logs `person` in on the authenticator's user-ID page: with the password alone (Low), or with
/// password and code display (Substantial); returns where the browser stops.
async fn authenticate(
    stack: &TestStack,
    browser: &Browser,
    user_page: &Page,
    person: Person,
    code_display: bool,
) -> Page {
    assert!(
        user_page.url.starts_with(stack.url(Component::Idp)),
        "expected the authenticator: {user_page:?}"
    );
    let methods = enter_user_id(stack, browser, user_page, person.user).await;
    let mut form = vec![
        ("tx", methods.must_input("tx")),
        ("csrf", methods.must_input("csrf")),
        ("password", person.password.to_owned()),
    ];
    let path = if code_display {
        form.push(("code", totp_code(person.totp, 0)));
        "code-display"
    } else {
        "password"
    };
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let idp = stack.url(Component::Idp);
    browser
        .post(&format!("{idp}/login/{path}"), &form, NOWHERE)
        .await
}

/// The ids of the mandate cards on a portal page (`<li class="card" id="m-{id}" …>`).
fn cards(page: &Page) -> Vec<String> {
    let needle = "class=\"card\" id=\"m-";
    page.body
        .match_indices(needle)
        .map(|(at, _)| {
            let start = at + needle.len();
            let end = start + page.body[start..].find('"').unwrap();
            page.body[start..end].to_owned()
        })
        .collect()
}

/// A button on a card (`accept`, `revoke`, …): its confirmation page.
async fn card_action(
    stack: &TestStack,
    browser: &Browser,
    page: &Page,
    id: &str,
    action: &str,
) -> Page {
    assert!(
        page.body.contains(&format!("id=\"{action}-{id}\"")),
        "no {action} button for {id}: {}",
        page.body
    );
    browser
        .post(
            &format!("{}/action", portal(stack)),
            &[
                ("csrf", page.must_input("csrf").as_str()),
                ("mandate", id),
                ("action", action),
            ],
            NOWHERE,
        )
        .await
}

/// Confirms an operation on its confirmation (or sign) page; returns the receipt.
async fn confirm(stack: &TestStack, browser: &Browser, page: &Page) -> Page {
    let path = page.url.strip_prefix(portal(stack)).unwrap().to_owned();
    assert!(path.starts_with("/confirm/"), "{page:?}");
    let mut form = vec![("csrf", page.must_input("csrf"))];
    if let Some(digest) = page.input("digest") {
        form.push(("digest", digest));
    }
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let done = browser
        .post(&format!("{}{path}", portal(stack)), &form, NOWHERE)
        .await;
    assert_eq!(
        done.url,
        format!("{}{}", portal(stack), path.replace("/confirm/", "/done/")),
        "{done:?}"
    );
    assert_eq!(done.status, 200);
    done
}

/// Minimal HTML unescaping of a table cell (askama escapes `"`, `&`, `<`, `>`, `'`).
fn unescape(s: &str) -> String {
    s.replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The value of a row of a demo service's technical table.
fn row(page: &Page, name: &str) -> Option<String> {
    let needle = format!("<tr><td>{name}</td><td class=\"wrap\">");
    let start = page.body.find(&needle)? + needle.len();
    let end = start + page.body[start..].find('<')?;
    Some(unescape(&page.body[start..end]))
}

/// An authorization request of `demo-rp` made by the test itself (so that the code is not
/// redeemed by the demo service); returns where the browser stops: back at the demo service's
/// callback, or a page of the broker or the authenticator.
async fn demo_rp_authorize(stack: &TestStack, browser: &Browser, pkce: &Pkce) -> Page {
    let callback = format!("{}/callback", demo(stack));
    let url = authorize_url(
        stack.url(Component::Broker),
        "demo-rp",
        &callback,
        pkce,
        &[],
    );
    browser.get(&url, &callback).await
}

/// The code in a redirect to the demo service's callback.
fn demo_rp_code(stack: &TestStack, page: &Page) -> String {
    assert!(
        page.url.starts_with(&format!("{}/callback", demo(stack))),
        "not back at the demo service: {page:?}"
    );
    let q = query(&page.url);
    q.get("code")
        .cloned()
        .unwrap_or_else(|| panic!("no code in {}", page.url))
}

/// Redeems a code of `demo-rp` (`client_secret_basic`).
async fn demo_rp_exchange(stack: &TestStack, code: &str, pkce: &Pkce) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/token", stack.url(Component::Broker)))
        .basic_auth("demo-rp", Some(TEST_CLIENT_SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &format!("{}/callback", demo(stack))),
            ("code_verifier", &pkce.verifier),
        ])
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The verified ID token of a token response of `demo-rp`.
async fn id_token(stack: &TestStack, tokens: &Value) -> Value {
    verify_id_token(
        stack.url(Component::Broker),
        tokens["id_token"].as_str().expect("an ID token"),
        "demo-rp",
        "test-nonce",
    )
    .await
}

/// `Log på` at the SAML demo service; returns where the browser stops (the choice page, or the
/// broker's page posting the Response).
async fn saml_login(stack: &TestStack, browser: &Browser) -> Page {
    let home = browser
        .get(&format!("{}/saml/", demo(stack)), NOWHERE)
        .await;
    browser
        .post(
            &format!("{}/saml/login", demo(stack)),
            &[("csrf", home.must_input("csrf").as_str())],
            NOWHERE,
        )
        .await
}

/// Posts the broker's Response to the SAML demo service's ACS; returns its page.
async fn saml_complete(stack: &TestStack, browser: &Browser, page: &Page) -> Page {
    assert!(
        page.body.contains("name=\"SAMLResponse\""),
        "not a SAML POST page: {page:?}"
    );
    let page = browser
        .post(
            &format!("{}/saml/acs", demo(stack)),
            &[
                ("SAMLResponse", page.must_input("SAMLResponse").as_str()),
                ("RelayState", page.must_input("RelayState").as_str()),
            ],
            NOWHERE,
        )
        .await;
    assert_eq!(page.url, format!("{}/saml/", demo(stack)), "{page:?}");
    page
}

/// The last day of a power of attorney given today: a month on.
fn through() -> String {
    (time::OffsetDateTime::now_utc().date() + time::Duration::days(30)).to_string()
}

/// Anna gives Mikkel a power of attorney for the OIDC demo service and the SAML demo service's
/// area in the portal; returns its id. Her first login is with the password alone: the sign page
/// comes only after a fresh login at Substantial.
async fn anna_grants(stack: &TestStack, anna: &Browser) -> String {
    let user_page = anna.get(&format!("{}/grant", portal(stack)), NOWHERE).await;
    let form = authenticate(stack, anna, &user_page, ANNA_LOGIN, false).await;
    assert_eq!(form.url, format!("{}/grant", portal(stack)), "{form:?}");
    for scope in ["rp:demo-rp", "area:housing-benefit"] {
        assert!(
            form.body.contains(&format!("value=\"{scope}\"")),
            "{scope} offered: {}",
            form.body
        );
    }
    let before = cards(&anna.get(&format!("{}/", portal(stack)), NOWHERE).await);
    let through = through();
    let submitted = anna
        .post(
            &format!("{}/grant", portal(stack)),
            &[
                ("csrf", form.must_input("csrf").as_str()),
                ("holder", MIKKEL_CPR),
                ("scope", "rp:demo-rp"),
                ("scope", "area:housing-benefit"),
                ("access", "act"),
                ("through", through.as_str()),
            ],
            NOWHERE,
        )
        .await;
    // Not the sign page: a login at Low a moment ago is not enough to give power away.
    assert!(
        submitted.url.starts_with(stack.url(Component::Idp)),
        "a fresh login first: {submitted:?}"
    );
    assert!(!submitted.body.contains("id=\"sign\""));
    let sign = authenticate(stack, anna, &submitted, ANNA_LOGIN, true).await;
    assert!(
        sign.url.starts_with(&format!("{}/confirm/", portal(stack))),
        "{sign:?}"
    );
    assert!(
        sign.body.contains("id=\"sign\""),
        "the sign page: {}",
        sign.body
    );
    assert_eq!(sign.by_id("principal").as_deref(), Some("Anna Jensen"));
    assert_eq!(sign.by_id("agent").as_deref(), Some("Mikkel Jensen"));
    assert!(!sign.body.contains(MIKKEL_CPR), "no CPR number on the page");
    confirm(stack, anna, &sign).await;
    let overview = anna.get(&format!("{}/", portal(stack)), NOWHERE).await;
    let new: Vec<String> = cards(&overview)
        .into_iter()
        .filter(|id| !before.contains(id))
        .collect();
    assert_eq!(new.len(), 1, "the new power of attorney: {}", overview.body);
    new[0].clone()
}

/// Mikkel logs in to the portal with his code display and accepts the power of attorney `id`.
async fn mikkel_accepts(stack: &TestStack, mikkel: &Browser, id: &str) {
    let home = mikkel.get(&format!("{}/", portal(stack)), NOWHERE).await;
    let user_page = mikkel
        .post(
            &format!("{}/login", portal(stack)),
            &[("csrf", home.must_input("csrf").as_str())],
            NOWHERE,
        )
        .await;
    let overview = authenticate(stack, mikkel, &user_page, MIKKEL_LOGIN, true).await;
    assert_eq!(overview.url, format!("{}/", portal(stack)), "{overview:?}");
    let shown = cards(&overview);
    assert!(shown.iter().any(|c| c == id), "{}", overview.body);
    let confirmation = card_action(stack, mikkel, &overview, id, "accept").await;
    confirm(stack, mikkel, &confirmation).await;
    let overview = mikkel.get(&format!("{}/", portal(stack)), NOWHERE).await;
    assert!(
        overview
            .body
            .contains(&format!("id=\"m-{id}\" data-state=\"Aktiv\"")),
        "{}",
        overview.body
    );
    assert!(
        !overview.body.contains(&format!("id=\"accept-{id}\"")),
        "accepted: {}",
        overview.body
    );
}

/// Anna revokes `id` in the portal (no fresh login: taking power away needs none).
async fn anna_revokes(stack: &TestStack, anna: &Browser, id: &str) {
    let overview = anna.get(&format!("{}/", portal(stack)), NOWHERE).await;
    let confirmation = card_action(stack, anna, &overview, id, "revoke").await;
    assert!(
        confirmation
            .url
            .starts_with(&format!("{}/confirm/", portal(stack))),
        "{confirmation:?}"
    );
    confirm(stack, anna, &confirmation).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_power_of_attorney_given_in_the_portal_is_used_at_both_demo_services_until_revoked() {
    // A data directory of the test's own: the audit log is read after the stack stopped.
    let data_dir = tempfile::tempdir().unwrap();
    power_of_attorney_end_to_end(TestStack::builder().data_dir(data_dir.path().to_owned())).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_on_redis_and_postgresql() {
    let (Some(redis), Some(postgres)) = (
        eid_store::testing::redis_url_or_skip(),
        eid_store::testing::postgres_url_or_skip(),
    ) else {
        return;
    };
    let db = eid_store::testing::TempPostgresDb::create(&postgres)
        .await
        .unwrap();
    power_of_attorney_end_to_end(TestStack::builder().ephemeral(&redis).durable(&db.url)).await;
    db.drop_db().await.unwrap();
}

/// The whole scenario on a stack of `builder` (with the SAML demo service and the portal).
async fn power_of_attorney_end_to_end(builder: StackBuilder) {
    let stack = builder
        .demo_saml_service()
        .delegation_portal()
        .start()
        .await
        .unwrap();
    let durable = stack.settings.durable.url();
    let anna = Browser::new();
    let mikkel = Browser::new();

    let id = anna_grants(&stack, &anna).await;
    mikkel_accepts(&stack, &mikkel, &id).await;
    let choice = format!("mandate:{id}");

    // Mikkel at the OIDC demo service (single sign-on from the portal): the broker asks whom he
    // acts for, offering Anna's new power of attorney only (not her pending or Karen's expired).
    let home = mikkel.get(&format!("{}/", demo(&stack)), NOWHERE).await;
    let page = mikkel
        .post(
            &format!("{}/login", demo(&stack)),
            &[("csrf", home.must_input("csrf").as_str())],
            NOWHERE,
        )
        .await;
    assert_eq!(
        choices(&page),
        ["self", choice.as_str(), "cancel"],
        "{}",
        page.body
    );
    assert!(page.body.contains("Anna Jensen"), "{}", page.body);
    assert!(!page.body.contains(ANNA_CPR) && !page.body.contains(MIKKEL_CPR));
    let shown = choose(&stack, &mikkel, &page, &choice, NOWHERE).await;
    assert_eq!(shown.url, format!("{}/", demo(&stack)), "{shown:?}");
    let acting_sub = row(&shown, "sub").expect("the demo service shows sub");
    let act: Value = serde_json::from_str(&row(&shown, "act").expect("act")).unwrap();
    let details: Value =
        serde_json::from_str(&row(&shown, "authorization_details").expect("details")).unwrap();

    // Mikkel's own and Anna's own subjects at the demo service, from codes the test redeems.
    let pkce = Pkce::new();
    let page = demo_rp_authorize(&stack, &mikkel, &pkce).await;
    let back = choose(
        &stack,
        &mikkel,
        &page,
        "self",
        &format!("{}/callback", demo(&stack)),
    )
    .await;
    let (status, tokens) = demo_rp_exchange(&stack, &demo_rp_code(&stack, &back), &pkce).await;
    assert_eq!(status, 200, "{tokens}");
    let mikkel_own = id_token(&stack, &tokens).await;
    assert!(mikkel_own.get("act").is_none(), "as himself: {mikkel_own}");
    assert!(tokens.get("authorization_details").is_none(), "{tokens}");
    let pkce = Pkce::new();
    let back = demo_rp_authorize(&stack, &anna, &pkce).await;
    assert!(choices(&back).is_empty(), "Anna holds nothing for demo-rp");
    let (status, tokens) = demo_rp_exchange(&stack, &demo_rp_code(&stack, &back), &pkce).await;
    assert_eq!(status, 200, "{tokens}");
    let anna_own = id_token(&stack, &tokens).await;

    assert_eq!(
        acting_sub, anna_own["sub"],
        "sub: Anna's pairwise id at demo-rp"
    );
    assert_eq!(
        act["sub"], mikkel_own["sub"],
        "act.sub: Mikkel's pairwise id at demo-rp"
    );
    assert_ne!(anna_own["sub"], mikkel_own["sub"]);
    assert_eq!(details[0]["identifier"], id.as_str(), "{details}");

    // The same through the test's own code: the token response carries the mandate too.
    let pkce = Pkce::new();
    let page = demo_rp_authorize(&stack, &mikkel, &pkce).await;
    let back = choose(
        &stack,
        &mikkel,
        &page,
        &choice,
        &format!("{}/callback", demo(&stack)),
    )
    .await;
    let (status, tokens) = demo_rp_exchange(&stack, &demo_rp_code(&stack, &back), &pkce).await;
    assert_eq!(status, 200, "{tokens}");
    let claims = id_token(&stack, &tokens).await;
    assert_eq!(claims["sub"], anna_own["sub"]);
    assert_eq!(claims["act"]["sub"], mikkel_own["sub"]);
    assert_eq!(tokens["authorization_details"], details, "{tokens}");
    assert_eq!(claims["authorization_details"], details);

    // Mikkel at the SAML demo service, acting for Anna: his own NameID and name, and a privilege
    // group scoped to her.
    let page = saml_login(&stack, &mikkel).await;
    let offered = choices(&page);
    assert_eq!(
        offered,
        ["self", choice.as_str(), "cancel"],
        "{}",
        page.body
    );
    let page = choose(&stack, &mikkel, &page, &choice, NOWHERE).await;
    let page = saml_complete(&stack, &mikkel, &page).await;
    assert!(page.body.contains("Mikkel Jensen"), "{}", page.body);
    let acting_name_id = row(&page, "NameID").expect("the NameID");
    let value = row(
        &page,
        "https://data.gov.dk/model/core/eid/privilegesIntermediate",
    )
    .unwrap_or_else(|| panic!("no privileges attribute: {}", page.body));
    let bpp = String::from_utf8(STANDARD.decode(value.trim()).unwrap()).unwrap();
    assert!(bpp.contains("PrivilegeGroup"), "{bpp}");
    assert!(
        bpp.contains(&format!("urn:dk:gov:saml:cprNumberIdentifier:{ANNA_CPR}")),
        "scoped to Anna: {bpp}"
    );
    assert!(!bpp.contains(MIKKEL_CPR), "{bpp}");

    // A code issued while the power of attorney holds, not redeemed before Anna revokes it.
    let early = Pkce::new();
    let page = demo_rp_authorize(&stack, &mikkel, &early).await;
    let back = choose(
        &stack,
        &mikkel,
        &page,
        &choice,
        &format!("{}/callback", demo(&stack)),
    )
    .await;
    let early_code = demo_rp_code(&stack, &back);

    anna_revokes(&stack, &anna, &id).await;

    let (status, refused) = demo_rp_exchange(&stack, &early_code, &early).await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["error"], "invalid_grant", "{refused}");
    // Mikkel's next logins offer no choice: straight back to each service as himself.
    let pkce = Pkce::new();
    let back = demo_rp_authorize(&stack, &mikkel, &pkce).await;
    assert!(choices(&back).is_empty(), "{}", back.body);
    let (status, tokens) = demo_rp_exchange(&stack, &demo_rp_code(&stack, &back), &pkce).await;
    assert_eq!(status, 200, "{tokens}");
    let again = id_token(&stack, &tokens).await;
    assert_eq!(again["sub"], mikkel_own["sub"]);
    assert!(again.get("act").is_none());
    let page = saml_login(&stack, &mikkel).await;
    assert!(choices(&page).is_empty(), "{}", page.body);
    let page = saml_complete(&stack, &mikkel, &page).await;
    assert_eq!(
        row(&page, "NameID").as_deref(),
        Some(acting_name_id.as_str()),
        "acting for Anna, Mikkel logged in under his own NameID"
    );
    assert!(
        row(
            &page,
            "https://data.gov.dk/model/core/eid/privilegesIntermediate"
        )
        .is_none(),
        "no privileges after the revocation"
    );

    // The audit trail: both persons' own logs name the grant, the acceptance, each use and the
    // revocation.
    stack.stop().await;
    let (anna_log, mikkel_log) = audit_logs(&durable).await;
    check_audit(&anna_log, &mikkel_log, &id);
}

/// Anna's and Mikkel's own audit logs (by register id) in the durable store at `url`.
async fn audit_logs(url: &str) -> (Vec<eid_core::AuditEvent>, Vec<eid_core::AuditEvent>) {
    let durable = eid_store::SqlDurable::connect(url).await.unwrap();
    let anna = Uuid::parse_str(ANNA).unwrap();
    let mikkel = Uuid::parse_str(MIKKEL).unwrap();
    let a = eid_core::AuditLog::for_person(&durable, anna, 1000)
        .await
        .unwrap();
    let m = eid_core::AuditLog::for_person(&durable, mikkel, 1000)
        .await
        .unwrap();
    durable.close().await;
    (a, m)
}

/// The audit trail of mandate `id` on each person's own log (by register id): the grant, the
/// acceptance and the revocation on both, naming the other; each use on the agent's log naming
/// the principal and on the principal's naming the agent; the refused code on the agent's. No
/// CPR number in any of it.
fn check_audit(anna_log: &[eid_core::AuditEvent], mikkel_log: &[eid_core::AuditEvent], id: &str) {
    let of = |log: &[eid_core::AuditEvent], kind: &str| -> Vec<eid_core::AuditEvent> {
        log.iter()
            .filter(|e| e.kind == kind && e.details["mandate"] == id)
            .cloned()
            .collect()
    };
    for kind in [
        "delegation.granted",
        "delegation.accepted",
        "delegation.revoked",
    ] {
        let a = of(anna_log, kind);
        assert_eq!(a.len(), 1, "{kind} once on Anna's log: {a:?}");
        assert_eq!(a[0].details["role"], "principal");
        assert_eq!(a[0].details["counterpart"], MIKKEL);
        let m = of(mikkel_log, kind);
        assert_eq!(m.len(), 1, "{kind} once on Mikkel's log: {m:?}");
        assert_eq!(m[0].details["role"], "agent");
        assert_eq!(m[0].details["counterpart"], ANNA);
    }
    // Who did it: Anna gave and revoked, Mikkel accepted.
    assert_eq!(of(mikkel_log, "delegation.granted")[0].details["by"], ANNA);
    assert_eq!(of(anna_log, "delegation.accepted")[0].details["by"], MIKKEL);
    assert_eq!(of(mikkel_log, "delegation.revoked")[0].details["by"], ANNA);

    let saml = |e: &eid_core::AuditEvent| {
        e.client
            .as_deref()
            .is_some_and(|c| c.ends_with("/saml/metadata"))
    };
    let demo_rp = |e: &eid_core::AuditEvent| e.client.as_deref() == Some("demo-rp");
    // Each use: two tokens at demo-rp (the demo service's and the test's own), one assertion.
    let tokens = of(mikkel_log, "token.issued");
    let assertions = of(mikkel_log, "saml.response_issued");
    assert_eq!(tokens.len(), 2, "{tokens:?}");
    assert!(tokens.iter().all(demo_rp));
    assert_eq!(assertions.len(), 1, "{assertions:?}");
    assert!(assertions.iter().all(saml));
    for e in tokens.iter().chain(&assertions) {
        assert_eq!(e.details["principal"], ANNA, "{e:?}");
        assert_eq!(e.details["principal_type"], "person");
    }
    let acted = of(anna_log, "representation.acted_for");
    assert_eq!(acted.len(), 3, "{acted:?}");
    assert!(acted.iter().all(|e| e.details["agent"] == MIKKEL));
    // And Mikkel's side of each use.
    let acted_as = of(mikkel_log, "representation.acted_as");
    assert_eq!(acted_as.len(), 3, "{acted_as:?}");
    assert!(acted_as.iter().all(|e| e.details["principal"] == ANNA));
    assert_eq!(acted.iter().filter(|e| demo_rp(e)).count(), 2);
    assert_eq!(acted.iter().filter(|e| saml(e)).count(), 1);
    // The code issued before the revocation, refused at the token endpoint.
    let withdrawn = of(mikkel_log, "representation.mandate_withdrawn");
    assert_eq!(withdrawn.len(), 1, "{withdrawn:?}");
    assert_eq!(withdrawn[0].details["at"], "token");
    assert_eq!(withdrawn[0].details["principal"], ANNA);

    for e in anna_log.iter().chain(mikkel_log) {
        let text = serde_json::to_string(e).unwrap();
        assert!(
            !text.contains(ANNA_CPR) && !text.contains(MIKKEL_CPR),
            "a CPR number in the audit log: {text}"
        );
    }
}
