//! Acting on behalf of someone at an OIDC service: the "Who are you acting for?" page after a
//! login and in single sign-on, the principal as `sub` and the agent as `act`, the mandate as
//! authorization details, the re-check at the token endpoint and on refresh, forged choices, and
//! the audit on both persons' logs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use eid_core::Loa;
use harness::*;
use serde_json::{Value, json};

/// Karen's subject at the fake upstream (a UUID, as at the national authenticator).
const KAREN: &str = "6f0c4d2e-8b1a-4c3e-9f5d-2a7b8c9d0e1f";
const KAREN_CPR: &str = "0202505678";
const ANNA_CPR: &str = "0101701234";
const MANDATE: &str = "poa-karen-anna";

/// The broker with Anna (the agent, with her own CPR number and names) holding a power of
/// attorney from Karen for [`RP_C`]; Anna as the upstream's next login.
async fn setup() -> (Harness, eid_core::Identity) {
    let h = Harness::new().await;
    h.mandates.grant(
        "anna",
        power_of_attorney(MANDATE, KAREN, "Karen Hansen", KAREN_CPR, RP_C),
    );
    let mut anna = h.person("anna", Loa::Substantial);
    anna.cpr = Some(eid_core::Cpr::parse(ANNA_CPR).unwrap());
    anna.given_name = Some("Anna".into());
    anna.family_name = Some("Jensen".into());
    h.upstream.answer(anna.clone());
    (h, anna)
}

fn choose_karen() -> String {
    format!("mandate:{MANDATE}")
}

/// Anna logs in at service C, chooses to act for Karen, and gets a code.
async fn code_acting_for_karen(h: &Harness, browser: &mut Client) -> String {
    let page = h.login(browser, RP_C, &[]).await;
    h.choose_representation(browser, &page, &choose_karen())
        .await
        .code_for(RP_C)
}

async fn post_form(h: &Harness, path: &str, form: &[(&str, &str)]) -> Reply {
    h.post(&mut Client::at("198.51.100.7:443"), path, form)
        .await
}

async fn userinfo_reply(h: &Harness, access_token: &str) -> Reply {
    let request = axum::http::Request::builder()
        .uri("/userinfo")
        .header(
            axum::http::header::AUTHORIZATION,
            format!("Bearer {access_token}"),
        )
        .body(axum::body::Body::empty())
        .unwrap();
    h.send(&mut Client::at("198.51.100.7:443"), request).await
}

async fn userinfo(h: &Harness, access_token: &str) -> Value {
    let reply = userinfo_reply(h, access_token).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    serde_json::from_str(&reply.body).unwrap()
}

async fn refresh(h: &Harness, token: &str) -> Reply {
    post_form(
        h,
        "/token",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", token),
            ("client_id", RP_C),
            ("client_secret", &secret(RP_C)),
        ],
    )
    .await
}

#[tokio::test]
async fn acting_for_karen_gives_her_sub_annas_act_and_the_mandate_in_every_answer() {
    let (h, anna) = setup().await;
    let mut browser = Client::new();
    let page = h.login(&mut browser, RP_C, &[]).await;
    assert!(page.is_representation_choice(), "{page:?}");
    assert!(
        page.body.contains("Hvem handler du på vegne af?"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Service C"), "the service is named");
    assert!(
        page.body.contains("Mig selv (Anna Jensen)"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Karen Hansen"));
    assert!(page.body.contains("må se oplysninger og handle"));
    assert!(page.body.contains("uden slutdato"));
    assert!(!page.body.contains(KAREN_CPR), "no CPR number on the page");
    assert!(h.audited("token.issued").await.is_empty());

    let back = h
        .choose_representation(&mut browser, &page, &choose_karen())
        .await;
    let code = back.code_for(RP_C);
    let tokens = h.redeem(RP_C, &code).await;
    let claims = h.verified_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(claims["sub"], expected_sub(RP_C, KAREN), "the principal");
    assert_eq!(claims["act"], json!({ "sub": expected_sub(RP_C, "anna") }));
    assert_eq!(
        claims["cpr"], KAREN_CPR,
        "the principal's, to a service allowed CPR"
    );
    assert_eq!(claims["name"], "Karen Hansen");
    assert!(
        claims.get("given_name").is_none(),
        "never the agent's names"
    );
    let body = tokens.to_string();
    assert!(
        !body.contains(ANNA_CPR),
        "never the agent's CPR number: {body}"
    );
    let details = &claims["authorization_details"];
    assert_eq!(details, &tokens["authorization_details"], "{tokens}");
    assert_eq!(details[0]["type"], "urn:eidbroker:mandate");
    assert_eq!(details[0]["identifier"], MANDATE);
    assert_eq!(details[0]["mandate_type"], "power_of_attorney");
    assert_eq!(details[0]["principal_type"], "person");
    assert_eq!(details[0]["locations"], json!([RP_C]));
    assert_eq!(details[0]["actions"], json!(["read", "act"]));
    assert_eq!(
        details[0]["privileges"],
        json!(["urn:dk:example:housing:apply"])
    );

    let access = tokens["access_token"].as_str().unwrap();
    let info = userinfo(&h, access).await;
    assert_eq!(info["sub"], claims["sub"]);
    assert_eq!(info["act"], claims["act"]);
    assert_eq!(info["authorization_details"], *details);
    let introspected = post_form(
        &h,
        "/introspect",
        &[
            ("token", access),
            ("client_id", RP_C),
            ("client_secret", &secret(RP_C)),
        ],
    )
    .await;
    let introspected: Value = serde_json::from_str(&introspected.body).unwrap();
    assert_eq!(introspected["active"], true);
    assert_eq!(introspected["sub"], claims["sub"]);
    assert_eq!(introspected["act"], claims["act"]);
    assert_eq!(introspected["authorization_details"], *details);
    // The login behind the token, for resource servers that need a fresh one (the registry's API).
    assert_eq!(introspected["acr"], claims["acr"]);
    assert_eq!(introspected["auth_time"], claims["auth_time"]);

    // Both persons' logs: Anna's release names the mandate and Karen by her audit key (her
    // subject UUID at the national authenticator), Karen's names Anna; no CPR number anywhere.
    let issued = h.audited("token.issued").await;
    assert_eq!(issued.len(), 1);
    assert_eq!(issued[0].person, Some(anna.audit_id));
    assert_eq!(issued[0].details["mandate"], MANDATE);
    assert_eq!(issued[0].details["principal"], KAREN);
    let karen = uuid::Uuid::parse_str(KAREN).unwrap();
    let hers = h.audited_for(karen).await;
    assert_eq!(hers.len(), 1, "{hers:?}");
    assert_eq!(hers[0].kind, "representation.acted_for");
    assert_eq!(hers[0].details["agent"], anna.audit_id.to_string());
    assert_eq!(hers[0].client.as_deref(), Some(RP_C));
    assert_eq!(hers[0].details["mandate"], MANDATE);
    assert_eq!(hers[0].details["mandate_kind"], "power_of_attorney");
    // What of Karen's was released, by name: her CPR number and name went to service C.
    assert_eq!(hers[0].details["attributes"], json!(["cpr", "name"]));
    assert_eq!(issued[0].details["attributes"], json!(["cpr", "name"]));
    assert_eq!(issued[0].details["loa"], "Substantial");
    // Anna's own log says for whom she acted, in the same words as the release.
    let acted_as = h.audited("representation.acted_as").await;
    assert_eq!(acted_as.len(), 1, "{acted_as:?}");
    assert_eq!(acted_as[0].person, Some(anna.audit_id));
    assert_eq!(acted_as[0].client.as_deref(), Some(RP_C));
    assert_eq!(acted_as[0].details["principal"], KAREN);
    assert_eq!(acted_as[0].details["principal_type"], "person");
    assert_eq!(acted_as[0].details["mandate"], MANDATE);
    assert_eq!(acted_as[0].details["mandate_kind"], "power_of_attorney");
    // Each userinfo answer names the same release and the mandate.
    let info = h.audited("userinfo.released").await;
    assert_eq!(info.len(), 1, "{info:?}");
    assert_eq!(info[0].person, Some(anna.audit_id));
    assert_eq!(info[0].details["attributes"], json!(["cpr", "name"]));
    assert_eq!(info[0].details["loa"], "Substantial");
    assert_eq!(info[0].details["mandate"], MANDATE);
    assert_eq!(info[0].details["principal"], KAREN);
    for event in h.audited_for(anna.audit_id).await.iter().chain(&hers) {
        let text = serde_json::to_string(&event.details).unwrap();
        assert!(
            !text.contains(KAREN_CPR) && !text.contains(ANNA_CPR),
            "{text}"
        );
    }
    assert_eq!(
        h.mandates.rechecked(),
        vec![("anna".to_owned(), MANDATE.to_owned()); 4],
        "re-checked at the choice, the token endpoint, userinfo and introspection"
    );
}

#[tokio::test]
async fn choosing_myself_answers_as_the_person_with_no_actor() {
    let (h, _) = setup().await;
    let mut browser = Client::new();
    let page = h.login(&mut browser, RP_C, &[]).await;
    let code = h
        .choose_representation(&mut browser, &page, "self")
        .await
        .code_for(RP_C);
    let (_, claims) = h.id_token(RP_C, &code).await;
    assert_eq!(claims["sub"], expected_sub(RP_C, "anna"));
    assert_eq!(claims["cpr"], ANNA_CPR);
    assert!(claims.get("act").is_none() && claims.get("authorization_details").is_none());
}

#[tokio::test]
async fn cancelling_the_choice_tells_the_service_the_person_cancelled() {
    let (h, _) = setup().await;
    let mut browser = Client::new();
    let page = h.login(&mut browser, RP_C, &[]).await;
    let back = h.choose_representation(&mut browser, &page, "cancel").await;
    assert_eq!(back.error_for(RP_C), "access_denied");
}

#[tokio::test]
async fn the_choice_is_asked_again_at_each_login_in_single_sign_on() {
    let (h, _) = setup().await;
    let mut browser = Client::new();
    let code = code_acting_for_karen(&h, &mut browser).await;
    h.redeem(RP_C, &code).await;
    // Single sign-on at the same service: asked again, not answered as Karen silently.
    let again = h.authorize(&mut browser, RP_C, &[]).await;
    assert!(again.is_representation_choice(), "{again:?}");
    let code = h
        .choose_representation(&mut browser, &again, "self")
        .await
        .code_for(RP_C);
    let (_, claims) = h.id_token(RP_C, &code).await;
    assert_eq!(claims["sub"], expected_sub(RP_C, "anna"));
    // A service that does not accept representation: the person, no question, no lookup.
    let asked_before = h.mandates.asked.lock().unwrap().len();
    let code = h.authorize(&mut browser, RP_A, &[]).await.code_for(RP_A);
    let (_, claims) = h.id_token(RP_A, &code).await;
    assert_eq!(claims["sub"], expected_sub(RP_A, "anna"));
    assert!(claims.get("act").is_none());
    assert_eq!(h.mandates.asked.lock().unwrap().len(), asked_before);
}

#[tokio::test]
async fn a_choice_the_page_did_not_offer_is_refused_audited_and_ends_the_login() {
    let (h, anna) = setup().await;
    // Anna also holds a mandate elsewhere; Bea holds one for this very service.
    h.mandates.grant(
        "anna",
        power_of_attorney("poa-other-rp", KAREN, "Karen Hansen", KAREN_CPR, RP_A),
    );
    h.mandates.grant(
        "bea",
        power_of_attorney("poa-bea", KAREN, "Karen Hansen", KAREN_CPR, RP_C),
    );
    for forged in [
        "mandate:poa-other-rp",
        "mandate:poa-bea",
        "mandate:",
        "someone",
    ] {
        let mut browser = Client::new();
        let page = h.login(&mut browser, RP_C, &[]).await;
        let refused = h.choose_representation(&mut browser, &page, forged).await;
        assert_eq!(refused.status, 400, "{forged}: {refused:?}");
        assert!(refused.location.is_none());
        assert!(
            refused.body.contains("Dit valg kunne ikke bruges"),
            "{}",
            refused.body
        );
        // The choice is spent: even an offered one is now refused.
        let late = h
            .choose_representation(&mut browser, &page, &choose_karen())
            .await;
        assert_eq!(late.status, 400);
        assert!(late.body.contains("Dit login er udløbet"), "{}", late.body);
    }
    let rejected = h.audited("representation.choice_rejected").await;
    assert_eq!(rejected.len(), 4);
    assert!(rejected.iter().all(|e| e.person == Some(anna.audit_id)));
    assert!(h.audited("token.issued").await.is_empty());
}

#[tokio::test]
async fn a_choice_needs_its_own_pages_csrf_token_and_browser() {
    let (h, _) = setup().await;
    let mut browser = Client::new();
    let first = h.login(&mut browser, RP_C, &[]).await;
    let second = h.authorize(&mut browser, RP_C, &[]).await;
    assert!(second.is_representation_choice());
    assert_ne!(first.input("tx"), second.input("tx"));
    // The first page's choice with the second page's token: refused, audited.
    let mixed = h
        .post(
            &mut browser,
            "/login/represent",
            &[
                ("tx", &first.input("tx")),
                ("csrf", &second.input("csrf")),
                ("choice", &choose_karen()),
            ],
        )
        .await;
    assert_eq!(mixed.status, 403, "{mixed:?}");
    assert_eq!(h.audited("form.csrf_rejected").await.len(), 1);
    // Another browser cannot answer it at all.
    let stranger = h
        .choose_representation(&mut Client::new(), &first, &choose_karen())
        .await;
    assert_eq!(stranger.status, 400);
    // The page itself still works.
    h.choose_representation(&mut browser, &first, &choose_karen())
        .await
        .code_for(RP_C);
}

#[tokio::test]
async fn a_mandate_revoked_between_the_choice_and_the_token_request_yields_invalid_grant() {
    let (h, anna) = setup().await;
    let mut browser = Client::new();
    let code = code_acting_for_karen(&h, &mut browser).await;
    h.mandates.revoke(MANDATE);
    let refused = h.redeem_with(RP_C, &code, VERIFIER).await;
    assert_eq!(refused.status, 400, "{refused:?}");
    assert!(refused.body.contains("invalid_grant"), "{}", refused.body);
    assert!(h.audited("token.issued").await.is_empty());
    let withdrawn = h.audited("representation.mandate_withdrawn").await;
    assert_eq!(withdrawn.len(), 1);
    assert_eq!(withdrawn[0].person, Some(anna.audit_id));
    assert_eq!(withdrawn[0].details["at"], "token");
    assert_eq!(withdrawn[0].details["mandate"], MANDATE);
    // Anna's next login offers no such choice.
    let next = h.authorize(&mut browser, RP_C, &[]).await;
    next.code_for(RP_C);
}

#[tokio::test]
async fn a_mandate_revoked_while_the_choice_page_is_open_is_refused_to_the_service() {
    let (h, _) = setup().await;
    let mut browser = Client::new();
    let page = h.login(&mut browser, RP_C, &[]).await;
    h.mandates.revoke(MANDATE);
    let back = h
        .choose_representation(&mut browser, &page, &choose_karen())
        .await;
    assert_eq!(back.error_for(RP_C), "access_denied");
    let withdrawn = h.audited("representation.mandate_withdrawn").await;
    assert_eq!(withdrawn[0].details["at"], "choice");
}

#[tokio::test]
async fn a_refresh_keeps_the_representation_and_re_checks_it() {
    let (h, _) = setup().await;
    let mut browser = Client::new();
    let code = code_acting_for_karen(&h, &mut browser).await;
    let tokens = h.redeem(RP_C, &code).await;
    let first = refresh(&h, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(first.status, 200, "{first:?}");
    let refreshed: Value = serde_json::from_str(&first.body).unwrap();
    let claims = h.verified_claims(refreshed["id_token"].as_str().unwrap());
    assert_eq!(claims["sub"], expected_sub(RP_C, KAREN));
    assert_eq!(claims["act"]["sub"], expected_sub(RP_C, "anna"));
    assert_eq!(refreshed["authorization_details"][0]["identifier"], MANDATE);
    // The refresh is a release like the first one, on both logs.
    let issued = h.audited("token.issued").await;
    let again: Vec<_> = issued
        .iter()
        .filter(|e| e.details["grant_type"] == "refresh_token")
        .collect();
    assert_eq!(again.len(), 1, "{issued:?}");
    assert_eq!(again[0].details["attributes"], json!(["cpr", "name"]));
    assert_eq!(again[0].details["mandate"], MANDATE);
    assert_eq!(h.audited("representation.acted_for").await.len(), 2);
    assert_eq!(h.audited("representation.acted_as").await.len(), 2);
    h.mandates.revoke(MANDATE);
    let second = refresh(&h, refreshed["refresh_token"].as_str().unwrap()).await;
    assert_eq!(second.status, 400, "{second:?}");
    assert!(second.body.contains("invalid_grant"));
    let withdrawn = h.audited("representation.mandate_withdrawn").await;
    assert_eq!(withdrawn[0].details["at"], "refresh");
}

#[tokio::test]
async fn an_employee_acting_for_their_organisation_gets_a_pairwise_sub_of_the_organisation() {
    let (h, _) = setup().await;
    h.mandates.grant(
        "anna",
        business_right("right-demo", "12345678", "Demo ApS", RP_C),
    );
    let mut browser = Client::new();
    let page = h.login(&mut browser, RP_C, &[]).await;
    assert!(
        page.body.contains("Demo ApS (CVR 12345678)"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Rettighed fra din arbejdsplads"));
    let code = h
        .choose_representation(&mut browser, &page, "mandate:right-demo")
        .await
        .code_for(RP_C);
    let (_, claims) = h.id_token(RP_C, &code).await;
    assert_ne!(claims["sub"], expected_sub(RP_C, "anna"));
    assert!(!claims["sub"].as_str().unwrap().contains("12345678"));
    assert_eq!(claims["act"]["sub"], expected_sub(RP_C, "anna"));
    assert!(claims.get("cpr").is_none(), "{claims}");
    let details = &claims["authorization_details"][0];
    assert_eq!(details["principal_type"], "organisation");
    assert_eq!(
        details["organisation"],
        json!({"cvr": "12345678", "name": "Demo ApS"})
    );
    assert_eq!(details["actions"], json!(["read"]));
    // No person principal: only the agent's log holds the use, naming the organisation.
    assert!(h.audited("representation.acted_for").await.is_empty());
    let acted_as = h.audited("representation.acted_as").await;
    assert_eq!(acted_as.len(), 1, "{acted_as:?}");
    assert_eq!(acted_as[0].details["organisation"], "12345678");
    assert_eq!(acted_as[0].details["principal_type"], "organisation");
    assert!(acted_as[0].details.get("principal").is_none());
    assert_eq!(
        h.audited("token.issued").await[0].details["principal_cvr"],
        "12345678"
    );
}

#[tokio::test]
async fn the_choice_page_is_in_english_when_asked() {
    let (h, _) = setup().await;
    let mut browser = Client::new();
    browser.headers.push(("accept-language", "en".to_owned()));
    let page = h.login(&mut browser, RP_C, &[("ui_locales", "en")]).await;
    assert!(page.body.contains("lang=\"en\""));
    assert!(
        page.body.contains("Who are you acting for?"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Myself (Anna Jensen)"));
    assert!(page.body.contains("may see information and act"));
    assert!(!page.body.contains("Hvem"));
}

#[tokio::test]
async fn an_access_token_stops_with_its_mandate_at_userinfo_and_introspection() {
    let (h, anna) = setup().await;
    let mut browser = Client::new();
    let code = code_acting_for_karen(&h, &mut browser).await;
    let tokens = h.redeem(RP_C, &code).await;
    let access = tokens["access_token"].as_str().unwrap();
    let client_secret = secret(RP_C);
    let form = [
        ("token", access),
        ("client_id", RP_C),
        ("client_secret", client_secret.as_str()),
    ];
    let introspect = || post_form(&h, "/introspect", &form);
    let before: Value = serde_json::from_str(&introspect().await.body).unwrap();
    assert_eq!(before["active"], true);
    assert_eq!(userinfo(&h, access).await["sub"], expected_sub(RP_C, KAREN));

    h.mandates.revoke(MANDATE);
    let after: Value = serde_json::from_str(&introspect().await.body).unwrap();
    assert_eq!(
        after,
        json!({ "active": false }),
        "a revoked mandate's token is inactive"
    );
    let reply = userinfo_reply(&h, access).await;
    assert_eq!(reply.status, 401, "{reply:?}");
    assert!(reply.body.contains("invalid_token"), "{}", reply.body);
    let withdrawn = h.audited("representation.mandate_withdrawn").await;
    let at: Vec<&str> = withdrawn
        .iter()
        .map(|e| e.details["at"].as_str().unwrap())
        .collect();
    assert!(
        at.contains(&"introspect") && at.contains(&"userinfo"),
        "{at:?}"
    );
    assert!(withdrawn.iter().all(|e| e.person == Some(anna.audit_id)));
}
