//! The connector end to end in-process: the broker's authorization request, the country chooser,
//! the signed AuthnRequest (read as XA's proxy service reads it), XA's signed Response with its
//! encrypted assertion, the code and the ID token; and every refusal on the way.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod connector_support;

use connector_support::*;
use eid_saml::eidas::{
    EidasLoa, LEGAL_NAME, LEGAL_PERSON_IDENTIFIER, NATURAL_MINIMUM, PERSON_IDENTIFIER,
    ResponseOutcome, SpType, Status, SubStatus, TopStatus,
};

fn code_of(reply: &Reply) -> String {
    assert_eq!(reply.status, 303, "{}", reply.body);
    let location = reply.location.as_deref().unwrap();
    assert!(location.starts_with(REDIRECT_URI), "{location}");
    assert_eq!(
        reply.location_param(REDIRECT_URI, "state").as_deref(),
        Some("st-1")
    );
    assert_eq!(
        reply.location_param(REDIRECT_URI, "iss").as_deref(),
        Some(ISSUER)
    );
    reply.location_param(REDIRECT_URI, "code").expect("a code")
}

#[tokio::test]
async fn a_foreign_citizen_logs_in_and_the_broker_gets_the_contracted_claims() {
    let env = Env::new().await;
    let mut browser = Client::new();
    let (req, relay) = env.start_login(&mut browser).await;
    // The request as the proxy service reads it: the minimum data set required, one LoA
    // (substantial by default), SPType from our metadata only.
    assert_eq!(req.loa, EidasLoa::Substantial);
    assert_eq!(req.sp_type, SpType::Public);
    assert!(req.asks_natural_person());
    for def in NATURAL_MINIMUM {
        assert!(
            req.requested
                .iter()
                .any(|a| a.name == def.name && a.required)
        );
    }
    assert!(!req.requested.iter().any(|a| a.name == LEGAL_NAME.name));
    assert_eq!(req.issuer, format!("{ISSUER}/metadata"));
    assert!(relay.len() >= 32 && !relay.contains("XA"));

    let response = env.response(
        &req,
        env.success("_as-1", EidasLoa::High, alexandros()),
        &keys().xa,
    );
    let back = env.post_response(&mut browser, &response, &relay).await;
    let code = code_of(&back);

    let (status, tokens) = env.token(&code, VERIFIER, CLIENT_SECRET).await;
    assert_eq!(status, 200, "{tokens}");
    let id = id_token_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["iss"], ISSUER);
    assert_eq!(id["aud"], CLIENT_ID);
    assert_eq!(id["nonce"], "n-1");
    assert_eq!(id["sub"], "XA/DK/XA-12345");
    assert_eq!(id["eidas_person_identifier"], "XA/DK/XA-12345");
    assert_eq!(id["eidas_country"], "XA");
    assert_eq!(id["acr"], eid_core::Loa::High.as_uri());
    assert_eq!(id["amr"], serde_json::json!(["eidas"]));
    assert_eq!(id["given_name"], "Alexandros");
    assert_eq!(id["eidas_given_name_native"], "Αλέξανδρος");
    assert_eq!(id["family_name"], "Papadopoulos");
    assert!(id.get("eidas_family_name_native").is_none());
    assert_eq!(id["birthdate"], "1980-05-17");
    assert_eq!(
        id["exp"].as_i64().unwrap() - id["iat"].as_i64().unwrap(),
        300
    );
    assert!(id.get("eidas_legal_name").is_none());
    // Both events on the person's own log, under the key the broker gives them too.
    let person = eid_core::eidas::audit_id(
        &eid_core::eidas::PersonIdentifier::parse("XA/DK/XA-12345").unwrap(),
    );
    let login = env.audited("connector.login").await;
    assert_eq!(login.len(), 1);
    assert_eq!(login[0].person, Some(person));
    assert_eq!(login[0].details["loa"], "High");
    assert_eq!(login[0].details["country"], "XA");
    assert_eq!(login[0].details["legal_person"], false);
    let issued = env.audited("token.issued").await;
    assert_eq!(issued.len(), 1);
    assert_eq!(issued[0].person, Some(person));
    let text = serde_json::to_string(&[&login[0], &issued[0]]).unwrap();
    assert!(
        !text.contains("XA-12345") && !text.contains("Alexandros"),
        "{text}"
    );
}

#[tokio::test]
async fn a_pushed_request_names_the_service_and_country_and_asks_for_the_legal_person() {
    let env = Env::new().await;
    let mut broker = Client::new();
    let challenge = eid_oidc::pkce::s256_challenge(VERIFIER);
    let pushed = post(
        &env.router,
        &mut broker,
        "/eidas/connector/par",
        &[
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("redirect_uri", REDIRECT_URI),
            ("response_type", "code"),
            ("scope", "openid eidas_legal_person"),
            ("state", "st-1"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("acr_values", eid_core::Loa::High.as_uri()),
            ("service_name", "Skattestyrelsen"),
            ("country", "XA"),
        ],
    )
    .await;
    assert_eq!(pushed.status, 201, "{}", pushed.body);
    let json: serde_json::Value = serde_json::from_str(&pushed.body).unwrap();
    let request_uri = json["request_uri"].as_str().unwrap();
    let mut browser = Client::new();
    let path = format!(
        "/eidas/connector/authorize?client_id={CLIENT_ID}&request_uri={}",
        url::form_urlencoded::byte_serialize(request_uri.as_bytes()).collect::<String>()
    );
    // No chooser: the country was named.
    let form = get(&env.router, &mut browser, &path).await;
    assert!(form.body.contains("SAMLRequest"), "{}", form.body);
    let (req, relay) = env.read_request(&form).await;
    assert_eq!(req.loa, EidasLoa::High);
    assert_eq!(req.provider_name.as_deref(), Some("Skattestyrelsen"));
    assert_eq!(req.requester_id.as_deref(), Some("Skattestyrelsen"));
    for def in [&LEGAL_PERSON_IDENTIFIER, &LEGAL_NAME] {
        assert!(
            req.requested
                .iter()
                .any(|a| a.name == def.name && a.required)
        );
    }
    // The pushed request is used once.
    let again = get(&env.router, &mut browser, &path).await;
    assert_eq!(again.status, 400);

    let mut attributes = alexandros();
    attributes.push(attr(&LEGAL_PERSON_IDENTIFIER, &[("XA/DK/LP-777", true)]));
    attributes.push(attr(&LEGAL_NAME, &[("Xanadu Trading", true)]));
    let response = env.response(
        &req,
        env.success("_as-2", EidasLoa::High, attributes),
        &keys().xa,
    );
    let code = code_of(&env.post_response(&mut browser, &response, &relay).await);
    let (_, tokens) = env.token(&code, VERIFIER, CLIENT_SECRET).await;
    let id = id_token_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["eidas_legal_person_identifier"], "XA/DK/LP-777");
    assert_eq!(id["eidas_legal_name"], "Xanadu Trading");
}

#[tokio::test]
async fn a_response_signed_by_a_key_not_in_the_metadata_is_refused_after_one_refetch() {
    let env = Env::new().await;
    let mut browser = Client::new();
    let (req, relay) = env.start_login(&mut browser).await;
    let hits = env.server.hits();
    env.clock.advance(time::Duration::minutes(1));
    let response = env.response(
        &req,
        env.success("_as-3", EidasLoa::High, alexandros()),
        &keys().rogue,
    );
    let page = env.post_response(&mut browser, &response, &relay).await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(page.body.contains("id=\"back\""));
    assert!(page.body.contains("error=access_denied"));
    assert_eq!(
        env.server.hits(),
        hits + 1,
        "the metadata is fetched again once"
    );
    let refused = env.audited("connector.response_rejected").await;
    assert_eq!(refused.len(), 1);
    assert!(
        refused[0].details["reason"]
            .as_str()
            .unwrap()
            .contains("signature")
    );
}

#[tokio::test]
async fn a_replayed_response_is_refused() {
    let env = Env::new().await;
    let mut browser = Client::new();
    let (req, relay) = env.start_login(&mut browser).await;
    let response = env.response(
        &req,
        env.success("_as-4", EidasLoa::High, alexandros()),
        &keys().xa,
    );
    code_of(&env.post_response(&mut browser, &response, &relay).await);
    let again = env.post_response(&mut browser, &response, &relay).await;
    assert_eq!(again.status, 400);
    assert!(again.location.is_none());
    // Nor is it accepted for a new login of the same browser (another request ID).
    let (_, relay2) = env.start_login(&mut browser).await;
    let other = env.post_response(&mut browser, &response, &relay2).await;
    assert_eq!(other.status, 400);
    assert!(other.location.is_none());
    assert!(env.audited("connector.response_rejected").await.len() >= 2);
}

#[tokio::test]
async fn an_assertion_id_is_used_once() {
    let env = Env::new().await;
    let mut browser = Client::new();
    let (req, relay) = env.start_login(&mut browser).await;
    let first = env.response(
        &req,
        env.success("_same", EidasLoa::High, alexandros()),
        &keys().xa,
    );
    code_of(&env.post_response(&mut browser, &first, &relay).await);
    // A new login answered with a new Response carrying an assertion ID seen before.
    let (req2, relay2) = env.start_login(&mut browser).await;
    let second = env.response(
        &req2,
        env.success("_same", EidasLoa::High, alexandros()),
        &keys().xa,
    );
    let page = env.post_response(&mut browser, &second, &relay2).await;
    assert_eq!(page.status, 400, "{}", page.body);
    let refused = env.audited("connector.response_rejected").await;
    assert!(
        refused
            .iter()
            .any(|e| e.details["reason"] == "assertion replayed")
    );
}

#[tokio::test]
async fn an_authentication_from_before_our_request_is_refused() {
    let env = Env::new().await;
    let mut browser = Client::new();
    let (req, relay) = env.start_login(&mut browser).await;
    // We asked with ForceAuthn="true"; the proxy service answers from a session of an hour ago.
    let mut outcome = env.success("_old", EidasLoa::High, alexandros());
    if let ResponseOutcome::Success(a) = &mut outcome {
        a.authn_instant -= time::Duration::hours(1);
    }
    let page = env
        .post_response(
            &mut browser,
            &env.response(&req, outcome, &keys().xa),
            &relay,
        )
        .await;
    assert_eq!(page.status, 400, "{}", page.body);
    let refused = env.audited("connector.response_rejected").await;
    let force = refused
        .iter()
        .find(|e| {
            e.details["reason"]
                .as_str()
                .unwrap_or("")
                .contains("ForceAuthn")
        })
        .unwrap();
    // A verified Response: the refusal is on the person's own log.
    let person = eid_core::eidas::audit_id(
        &eid_core::eidas::PersonIdentifier::parse("XA/DK/XA-12345").unwrap(),
    );
    assert_eq!(force.person, Some(person));
    assert!(env.audited("connector.login").await.is_empty());
}

#[tokio::test]
async fn a_refusal_is_never_put_on_the_log_of_another_countrys_citizen() {
    let env = Env::new().await;
    let mut browser = Client::new();
    let (req, relay) = env.start_login(&mut browser).await;
    // XA's node asserts an identifier YY issued: refused, and written on nobody's log.
    let mut attributes = alexandros();
    attributes[0] = attr(&PERSON_IDENTIFIER, &[("YY/DK/YY-777", true)]);
    let page = env
        .post_response(
            &mut browser,
            &env.response(
                &req,
                env.success("_yy", EidasLoa::High, attributes),
                &keys().xa,
            ),
            &relay,
        )
        .await;
    assert_eq!(page.status, 400, "{}", page.body);
    let refused = env.audited("connector.response_rejected").await;
    let other = refused
        .iter()
        .find(|e| {
            e.details["reason"]
                .as_str()
                .unwrap_or("")
                .contains("not issued by the peer's country")
        })
        .unwrap_or_else(|| panic!("{refused:?}"));
    assert_eq!(other.person, None);
}

#[tokio::test]
async fn a_response_to_another_login_is_refused() {
    let env = Env::new().await;
    let mut browser = Client::new();
    let (req_a, _relay_a) = env.start_login(&mut browser).await;
    let (_req_b, relay_b) = env.start_login(&mut browser).await;
    let response = env.response(
        &req_a,
        env.success("_as-5", EidasLoa::High, alexandros()),
        &keys().xa,
    );
    let page = env.post_response(&mut browser, &response, &relay_b).await;
    assert_eq!(page.status, 400);
    assert!(page.location.is_none());
    assert_eq!(env.audited("connector.response_rejected").await.len(), 1);
}

#[tokio::test]
async fn a_response_posted_by_another_browser_is_refused_and_the_login_stays() {
    let env = Env::new().await;
    let mut victim = Client::new();
    let (req, relay) = env.start_login(&mut victim).await;
    let response = env.response(
        &req,
        env.success("_as-6", EidasLoa::High, alexandros()),
        &keys().xa,
    );
    let mut other = Client::at("198.51.100.7:40000");
    // A first cross-site post without our cookie is bounced through our own page…
    let bounce = env.post_response(&mut other, &response, &relay).await;
    assert_eq!(bounce.status, 200);
    assert!(bounce.body.contains("name=\"reposted\""));
    // …and the re-post, still without the cookie of the login's browser, is refused.
    let reposted = post(
        &env.router,
        &mut other,
        "/eidas/connector/acs",
        &[
            ("SAMLResponse", &response),
            ("RelayState", &relay),
            ("reposted", "1"),
        ],
    )
    .await;
    assert_eq!(reposted.status, 403);
    let mut stranger = Client::new();
    stranger
        .cookies
        .insert("eidas_connector_browser".into(), "someone-else".into());
    assert_eq!(
        env.post_response(&mut stranger, &response, &relay)
            .await
            .status,
        403
    );
    assert_eq!(env.audited("connector.response_rejected").await.len(), 2);
    // The login's own browser still finishes it.
    code_of(&env.post_response(&mut victim, &response, &relay).await);
}

#[tokio::test]
async fn a_level_below_the_requested_one_is_refused() {
    let env = Env::new().await;
    let mut browser = Client::new();
    let form = env
        .to_proxy(
            &mut browser,
            &[("acr_values", eid_core::Loa::High.as_uri())],
        )
        .await;
    let (req, relay) = env.read_request(&form).await;
    assert_eq!(req.loa, EidasLoa::High);
    let response = env.response(
        &req,
        env.success("_as-7", EidasLoa::Substantial, alexandros()),
        &keys().xa,
    );
    let page = env.post_response(&mut browser, &response, &relay).await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("error=access_denied"));
    assert!(env.audited("connector.login").await.is_empty());
}

#[tokio::test]
async fn a_denial_shows_a_page_whose_button_returns_access_denied() {
    let env = Env::new().await;
    let mut browser = Client::new();
    browser.headers.push(("accept-language", "en".into()));
    let (req, relay) = env.start_login(&mut browser).await;
    let denied = Env::failure(Status {
        top: TopStatus::Requester,
        sub: Some(SubStatus::RequestDenied),
        message: None,
    });
    let response = env.response(&req, denied, &keys().xa);
    let page = env.post_response(&mut browser, &response, &relay).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("You cancelled the login"));
    assert!(page.body.contains("Xanadu"));
    let href_start = page.body.find("id=\"back\" href=\"").unwrap() + "id=\"back\" href=\"".len();
    let href = &page.body[href_start..];
    let href = html_unescape(&href[..href.find('"').unwrap()]);
    let url = url::Url::parse(&href).unwrap();
    assert!(href.starts_with(REDIRECT_URI));
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(q["error"], "access_denied");
    assert_eq!(q["state"], "st-1");
    assert_eq!(q["iss"], ISSUER);
    assert_eq!(env.audited("connector.login_failed").await.len(), 1);
}

#[tokio::test]
async fn a_responder_error_returns_temporarily_unavailable() {
    let env = Env::new().await;
    let mut browser = Client::new();
    let (req, relay) = env.start_login(&mut browser).await;
    let failed = Env::failure(Status {
        top: TopStatus::Responder,
        sub: None,
        message: Some("down".into()),
    });
    let page = env
        .post_response(
            &mut browser,
            &env.response(&req, failed, &keys().xa),
            &relay,
        )
        .await;
    assert_eq!(page.status, 503);
    assert!(page.body.contains("error=temporarily_unavailable"));
}

/// Undoes the escaping of `&` in an attribute (askama writes `&#38;`).
fn html_unescape(s: &str) -> String {
    s.replace("&#38;", "&").replace("&amp;", "&")
}
