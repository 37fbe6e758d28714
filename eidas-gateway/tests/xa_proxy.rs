//! XA's proxy service, driven as the Danish connector and a citizen of XA would: a signed
//! AuthnRequest, the login page, the consent page, and the Response the connector reads.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod xa_world;

use eid_core::Clock as _;
use eid_saml::dsig::SignatureAlg;
use eid_saml::eidas::{
    AuthnRequestOut, EidasLoa, FAMILY_NAME, GIVEN_NAME, NATURAL_MINIMUM, ReadResponse,
    RequestedAttribute, ResponseExpectations, SubStatus, read_response,
};
use eid_saml::enc::DecryptPolicy;
use eid_saml::messages::new_message_id;
use eid_web::testing::{Client, Reply};
use xa_world::*;

/// An AuthnRequest as the Danish connector builds it, signed with `key` (the connector's own
/// unless a test says otherwise).
fn dk_request(world: &World, loa: EidasLoa) -> (String, String) {
    dk_request_signed_by(world, loa, &world.dk.keys)
}

fn dk_request_signed_by(
    world: &World,
    loa: EidasLoa,
    keys: &eid_eidas_gateway::node::NodeKeys,
) -> (String, String) {
    let request = AuthnRequestOut {
        id: new_message_id(),
        issue_instant: world.clock.now(),
        issuer: world.dk.connector_entity.clone(),
        destination: format!("{ORIGIN}/xa/proxy/sso"),
        provider_name: Some("Borger.dk (demo)".into()),
        sp_type: None,
        requester_id: None,
        requested: NATURAL_MINIMUM
            .iter()
            .map(|d| RequestedAttribute {
                name: d.name.into(),
                required: true,
            })
            .collect(),
        loa,
        name_id_format: None,
    };
    let xml = request
        .to_signed_xml(&keys.key, SignatureAlg::RsaPssSha256, &keys.certificate)
        .unwrap();
    (request.id, encoded(&xml))
}

/// Posts the request; returns the handle of the pending login.
async fn arrive(world: &World, client: &mut Client, request: &str) -> String {
    let reply = world
        .post(
            client,
            "/xa/proxy/sso",
            &[("SAMLRequest", request), ("RelayState", "rs-1")],
        )
        .await;
    assert_eq!(reply.status, 303, "{}", reply.body);
    handle_of(&reply)
}

async fn log_in(world: &World, client: &mut Client, handle: &str, user: &str, pw: &str) -> Reply {
    let page = world
        .get(client, &format!("/xa/proxy/login?h={handle}"))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    let csrf = page.input("csrf");
    world
        .post(
            client,
            "/xa/proxy/login",
            &[
                ("h", handle),
                ("csrf", &csrf),
                ("username", user),
                ("password", pw),
                ("action", "login"),
            ],
        )
        .await
}

async fn decide(world: &World, client: &mut Client, handle: &str, decision: &str) -> Reply {
    let page = world
        .get(client, &format!("/xa/proxy/consent?h={handle}"))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    world
        .post(
            client,
            "/xa/proxy/consent",
            &[
                ("h", handle),
                ("csrf", &page.input("csrf")),
                ("decision", decision),
            ],
        )
        .await
}

/// Reads the auto-posted Response as the Danish connector would.
async fn connector_reads(
    world: &World,
    page: &Reply,
    request_id: &str,
    loa: EidasLoa,
) -> ReadResponse {
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(form_action(page), world.dk.acs_url);
    assert_eq!(field(page, "RelayState"), "rs-1");
    let xml = decoded(&field(page, "SAMLResponse"));
    let peer = world.xa_metadata("/xa/proxy/metadata").await;
    let required: Vec<String> = NATURAL_MINIMUM.iter().map(|d| d.name.to_owned()).collect();
    read_response(
        &xml,
        &ResponseExpectations {
            request_id,
            acs_url: &world.dk.acs_url,
            audience: &world.dk.connector_entity,
            requested_loa: loa,
            required: &required,
            peer: &peer,
            signature_policy: &pss_only(),
            decryption: &world.dk.keys.decryption,
            decrypt_policy: &DecryptPolicy::default(),
            now: world.clock.now(),
        },
    )
    .unwrap()
}

fn sub_status(read: &ReadResponse) -> Option<SubStatus> {
    match read {
        ReadResponse::Failure(status) => status.sub,
        ReadResponse::Success(_) => panic!("expected a failure status"),
    }
}

#[tokio::test]
async fn a_citizen_of_xa_logs_in_consents_and_the_connector_reads_native_and_latin_names() {
    let world = World::new().await;
    let mut client = english();
    let (id, request) = dk_request(&world, EidasLoa::Substantial);
    let handle = arrive(&world, &mut client, &request).await;

    let login = world
        .get(&mut client, &format!("/xa/proxy/login?h={handle}"))
        .await;
    assert!(login.body.contains("fictitious") || login.body.contains("made-up"));
    assert!(login.body.contains("Borger.dk (demo)"));
    let (user, pw, person_id) = ELENI;
    let logged_in = log_in(&world, &mut client, &handle, user, pw).await;
    assert_eq!(logged_in.status, 303, "{}", logged_in.body);

    let consent = world
        .get(&mut client, &format!("/xa/proxy/consent?h={handle}"))
        .await;
    assert!(consent.body.contains(&format!("XA/DK/{person_id}")));
    assert!(consent.body.contains("Ελένη") && consent.body.contains("Eleni"));
    let sent = decide(&world, &mut client, &handle, "send").await;

    let ReadResponse::Success(assertion) =
        connector_reads(&world, &sent, &id, EidasLoa::Substantial).await
    else {
        panic!("expected success");
    };
    assert_eq!(
        assertion.person_identifier().unwrap().as_str(),
        format!("XA/DK/{person_id}")
    );
    assert_eq!(assertion.loa, EidasLoa::High, "the person's own level");
    for (name, native, latin) in [
        (GIVEN_NAME.name, "Ελένη", "Eleni"),
        (FAMILY_NAME.name, "Παπαδάκη", "Papadaki"),
    ] {
        let a = assertion.attribute(name).unwrap();
        assert_eq!(a.original(), Some(native));
        assert_eq!(a.latin(), Some(latin));
    }
    assert!(
        world
            .audited("xa.proxy.response")
            .await
            .iter()
            .any(|e| e.outcome == eid_core::AuditOutcome::Success)
    );

    // The login is over: its handle opens nothing any more.
    let again = world
        .get(&mut client, &format!("/xa/proxy/consent?h={handle}"))
        .await;
    assert_eq!(again.status, 400);
}

#[tokio::test]
async fn a_wrong_password_says_so_and_the_last_attempt_ends_the_login_with_authn_failed() {
    let world = World::new().await;
    let mut client = english();
    let (id, request) = dk_request(&world, EidasLoa::Low);
    let handle = arrive(&world, &mut client, &request).await;
    let (user, _, _) = JONAS;
    let first = log_in(&world, &mut client, &handle, user, "wrong").await;
    assert_eq!(first.status, 401);
    assert!(first.body.contains("username or password is wrong"));
    assert!(first.body.contains("4 attempts left"));
    let mut last = first;
    for _ in 1..eid_eidas_gateway::xa::proxy::MAX_ATTEMPTS {
        last = log_in(&world, &mut client, &handle, user, "wrong").await;
    }
    assert_eq!(
        sub_status(&connector_reads(&world, &last, &id, EidasLoa::Low).await),
        Some(SubStatus::AuthnFailed)
    );
    assert!(
        world
            .refusal_audited("xa.proxy.login", "wrong username or password")
            .await
    );
}

#[tokio::test]
async fn do_not_send_answers_request_denied_and_so_does_cancel() {
    let world = World::new().await;
    let mut client = Client::new();
    let (id, request) = dk_request(&world, EidasLoa::Substantial);
    let handle = arrive(&world, &mut client, &request).await;
    let (user, pw, _) = ELENI;
    log_in(&world, &mut client, &handle, user, pw).await;
    let declined = decide(&world, &mut client, &handle, "decline").await;
    assert_eq!(
        sub_status(&connector_reads(&world, &declined, &id, EidasLoa::Substantial).await),
        Some(SubStatus::RequestDenied)
    );

    let (id, request) = dk_request(&world, EidasLoa::Substantial);
    let handle = arrive(&world, &mut client, &request).await;
    let page = world
        .get(&mut client, &format!("/xa/proxy/login?h={handle}"))
        .await;
    let cancelled = world
        .post(
            &mut client,
            "/xa/proxy/login",
            &[
                ("h", &handle),
                ("csrf", &page.input("csrf")),
                ("action", "cancel"),
            ],
        )
        .await;
    assert_eq!(
        sub_status(&connector_reads(&world, &cancelled, &id, EidasLoa::Substantial).await),
        Some(SubStatus::RequestDenied)
    );
}

#[tokio::test]
async fn a_replayed_request_id_is_refused_and_audited() {
    let world = World::new().await;
    let (_, request) = dk_request(&world, EidasLoa::Low);
    arrive(&world, &mut Client::new(), &request).await;
    let replay = world
        .post(
            &mut Client::new(),
            "/xa/proxy/sso",
            &[("SAMLRequest", &request)],
        )
        .await;
    assert_eq!(replay.status, 400);
    assert!(replay.location.is_none());
    assert!(world.refusal_audited("xa.proxy.request", "replayed").await);
}

#[tokio::test]
async fn a_person_below_the_requested_level_gets_no_authn_context() {
    let world = World::new().await;
    let mut client = Client::new();
    let (id, request) = dk_request(&world, EidasLoa::High);
    let handle = arrive(&world, &mut client, &request).await;
    let (user, pw, _) = JONAS;
    let answered = log_in(&world, &mut client, &handle, user, pw).await;
    assert_eq!(
        sub_status(&connector_reads(&world, &answered, &id, EidasLoa::High).await),
        Some(SubStatus::NoAuthnContext)
    );
    assert!(
        world
            .refusal_audited("xa.proxy.login", "level too low")
            .await
    );
}

#[tokio::test]
async fn a_request_signed_by_a_key_not_in_the_connectors_metadata_is_refused() {
    let world = World::new().await;
    let dir = tempfile::tempdir().unwrap();
    let stranger = eid_eidas_gateway::node::NodeKeys::load(dir.path(), "stranger", true).unwrap();
    let (_, request) = dk_request_signed_by(&world, EidasLoa::Low, &stranger);
    let refused = world
        .post(
            &mut Client::new(),
            "/xa/proxy/sso",
            &[("SAMLRequest", &request)],
        )
        .await;
    assert_eq!(refused.status, 400);
    assert!(world.refusal_audited("xa.proxy.request", "refused").await);
}

#[tokio::test]
async fn a_pending_login_belongs_to_its_browser_and_its_forms_need_the_csrf_token() {
    let world = World::new().await;
    let mut client = Client::new();
    let (_, request) = dk_request(&world, EidasLoa::Low);
    let handle = arrive(&world, &mut client, &request).await;
    // Another browser, with a login of its own (so its own cookie), cannot open this one.
    let mut stranger = Client::new();
    let (_, own) = dk_request(&world, EidasLoa::Low);
    arrive(&world, &mut stranger, &own).await;
    let other = world
        .get(&mut stranger, &format!("/xa/proxy/login?h={handle}"))
        .await;
    assert_eq!(other.status, 400);
    assert!(world.refusal_audited("xa.proxy.login", "no_pending").await);
    let (user, pw, _) = ELENI;
    let forged = world
        .post(
            &mut client,
            "/xa/proxy/login",
            &[
                ("h", &handle),
                ("csrf", "forged"),
                ("username", user),
                ("password", pw),
            ],
        )
        .await;
    assert_eq!(forged.status, 403);
    assert!(world.refusal_audited("xa.proxy.login", "csrf").await);
    // No consent before a login.
    let early = world
        .get(&mut client, &format!("/xa/proxy/consent?h={handle}"))
        .await;
    assert_eq!(early.status, 400);
}

#[tokio::test]
async fn a_request_that_is_no_saml_is_an_error_page_not_a_crash() {
    let world = World::new().await;
    for body in [
        vec![("SAMLRequest", "%%%")],
        vec![("SAMLRequest", "PG5vdC1zYW1sLz4=")],
        vec![("RelayState", "x")],
        vec![("SAMLRequest", "QQ=="), ("SAMLRequest", "QQ==")],
    ] {
        let reply = world.post(&mut Client::new(), "/xa/proxy/sso", &body).await;
        assert_eq!(reply.status, 400, "{body:?}: {}", reply.body);
    }
}

#[tokio::test]
async fn the_proxy_metadata_is_signed_and_offers_every_level() {
    let world = World::new().await;
    let md = world.xa_metadata("/xa/proxy/metadata").await;
    assert_eq!(md.node_country, "XA");
    match md.role {
        eid_saml::eidas::NodeRole::ProxyService { sso_url, loas, .. } => {
            assert_eq!(sso_url, format!("{ORIGIN}/xa/proxy/sso"));
            assert_eq!(loas.len(), 3);
        }
        other => panic!("{other:?}"),
    }
}

/// A login page asked for with no pending login, from the socket peer `peer` claiming to be
/// forwarded for `forwarded`: the address its refusal was audited with.
async fn refusal_address(world: &World, peer: [u8; 4], forwarded: &str) -> Option<String> {
    use tower::ServiceExt as _;
    let mut request = axum::http::Request::get("/xa/proxy/login?h=none")
        .header("x-forwarded-for", forwarded)
        .body(axum::body::Body::empty())
        .unwrap();
    request
        .extensions_mut()
        .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((
            peer, 40000,
        ))));
    let response = world.router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), 400);
    // Newest first.
    let events = world.audited("xa.proxy.login").await;
    events.first().and_then(|e| e.ip.clone())
}

#[tokio::test]
async fn the_audit_names_the_forwarded_client_only_behind_a_trusted_proxy() {
    let world = World::behind(&["127.0.0.2".parse().unwrap()]).await;
    assert_eq!(
        refusal_address(&world, [127, 0, 0, 2], "203.0.113.1, 198.51.100.7").await,
        Some("198.51.100.7".to_owned())
    );
    // Anyone else's header is their own claim: the audit names the peer.
    assert_eq!(
        refusal_address(&world, [127, 0, 0, 9], "198.51.100.8").await,
        Some("127.0.0.9".to_owned())
    );
    // Without trusted proxies (the default) nobody's header is believed.
    let world = World::new().await;
    assert_eq!(
        refusal_address(&world, [127, 0, 0, 2], "198.51.100.7").await,
        Some("127.0.0.2".to_owned())
    );
}
