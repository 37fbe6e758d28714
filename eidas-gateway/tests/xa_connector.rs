//! XA's connector and demo service, driven as a Danish citizen's browser and the Danish proxy
//! service would: the service's button, the AuthnRequest the proxy service reads, and Responses
//! built here as the Danish proxy service builds them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod xa_world;

use eid_core::Clock as _;
use eid_saml::dsig::SignatureAlg;
use eid_saml::eidas::{
    AssertionOut, Attribute, AttributeValue, AuthnRequest, DATE_OF_BIRTH, EidasLoa, FAMILY_NAME,
    GIVEN_NAME, PERSON_IDENTIFIER, RequestExpectations, ResponseKeys, ResponseOut, ResponseOutcome,
    SpType, Status, SubStatus, TopStatus, read_authn_request,
};
use eid_saml::enc::{DataAlg, EncryptOptions, KeyTransport, RecipientKey};
use eid_saml::messages::new_message_id;
use eid_web::testing::{Client, Reply};
use xa_world::*;

const ACS: &str = "/xa/connector/acs";

/// Opens the demo service and presses "Log in with your Danish eID" at `level`; returns the
/// AuthnRequest as the Danish proxy service reads it.
async fn start(world: &World, client: &mut Client, level: &str) -> AuthnRequest {
    let service = world.get(client, "/xa/service/").await;
    assert_eq!(service.status, 200, "{}", service.body);
    let posted = world
        .post(
            client,
            "/xa/service/login",
            &[("csrf", &service.input("csrf")), ("level", level)],
        )
        .await;
    assert_eq!(posted.status, 200, "{}", posted.body);
    assert_eq!(form_action(&posted), world.dk.sso_url);
    assert!(posted.body.contains("<script src=\"/xa/static/post.js\">"));
    let xml = decoded(&field(&posted, "SAMLRequest"));
    let peer = world.xa_metadata("/xa/connector/metadata").await;
    read_authn_request(
        &xml,
        &RequestExpectations {
            destination: &world.dk.sso_url,
            peer: &peer,
            policy: &pss_only(),
            now: world.clock.now(),
        },
    )
    .unwrap()
}

fn value(text: &str) -> Vec<AttributeValue> {
    vec![AttributeValue {
        value: text.into(),
        latin_script: true,
    }]
}

/// A Response as the Danish proxy service builds it, answering `in_response_to`.
fn dk_response(world: &World, in_response_to: &str, outcome: ResponseOutcome) -> String {
    let recipient = RecipientKey::from_certificate(&world.xa_keys.certificate).unwrap();
    let response = ResponseOut {
        id: new_message_id(),
        in_response_to: in_response_to.into(),
        issue_instant: world.clock.now(),
        destination: format!("{ORIGIN}{ACS}"),
        issuer: world.dk.proxy_entity.clone(),
        outcome,
    };
    let xml = response
        .to_signed_xml(&ResponseKeys {
            signing: &world.dk.keys.key,
            alg: SignatureAlg::RsaPssSha256,
            certificate_der: &world.dk.keys.certificate,
            sign_assertion: false,
            recipient: &recipient,
            encryption: EncryptOptions {
                data: DataAlg::Aes256Gcm,
                key_transport: KeyTransport::RsaOaep,
            },
        })
        .unwrap();
    encoded(&xml)
}

fn anna(world: &World, identifier: &str, loa: EidasLoa) -> ResponseOutcome {
    anna_in(world, &new_message_id(), identifier, loa)
}

/// Anna's assertion with the ID `assertion_id`.
fn anna_in(world: &World, assertion_id: &str, identifier: &str, loa: EidasLoa) -> ResponseOutcome {
    let now = world.clock.now();
    ResponseOutcome::Success(AssertionOut {
        id: assertion_id.into(),
        name_id: identifier.into(),
        name_id_format: eid_saml::NAMEID_PERSISTENT.into(),
        audience: format!("{ORIGIN}/xa/connector/metadata"),
        recipient: format!("{ORIGIN}{ACS}"),
        not_on_or_after: now + time::Duration::minutes(5),
        authn_instant: now,
        loa,
        attributes: vec![
            Attribute {
                name: PERSON_IDENTIFIER.name.into(),
                values: value(identifier),
            },
            Attribute {
                name: GIVEN_NAME.name.into(),
                values: value("Anna"),
            },
            Attribute {
                name: FAMILY_NAME.name.into(),
                values: value("Jensen"),
            },
            Attribute {
                name: DATE_OF_BIRTH.name.into(),
                values: value("1970-07-01"),
            },
        ],
    })
}

fn failure(sub: SubStatus) -> ResponseOutcome {
    ResponseOutcome::Failure(Status {
        top: TopStatus::Requester,
        sub: Some(sub),
        message: None,
    })
}

async fn deliver(world: &World, client: &mut Client, response: &str) -> Reply {
    world.post(client, ACS, &[("SAMLResponse", response)]).await
}

#[tokio::test]
async fn a_danish_citizen_logs_in_to_the_xa_service_and_it_shows_what_it_received() {
    let world = World::new().await;
    let mut client = english();
    let request = start(&world, &mut client, "high").await;
    assert_eq!(request.loa, EidasLoa::High);
    assert_eq!(request.sp_type, SpType::Public, "from XA's metadata");
    assert!(request.asks_natural_person());

    let response = dk_response(
        &world,
        &request.id,
        anna(&world, "DK/XA/a1b2c3", EidasLoa::High),
    );
    let page = deliver(&world, &mut client, &response).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("What XA received"));
    for shown in ["DK/XA/a1b2c3", "Anna", "Jensen", "1970-07-01", "high"] {
        assert!(page.body.contains(shown), "{shown} missing: {}", page.body);
    }

    let replayed = deliver(&world, &mut client, &response).await;
    assert_eq!(replayed.status, 400);
    assert!(!replayed.body.contains("DK/XA/a1b2c3"));
    assert!(
        world
            .refusal_audited("xa.connector.response", "no_pending")
            .await
    );
}

#[tokio::test]
async fn a_response_to_another_request_is_refused_and_the_real_one_still_counts() {
    let world = World::new().await;
    let mut client = Client::new();
    let request = start(&world, &mut client, "substantial").await;
    let other = dk_response(
        &world,
        &new_message_id(),
        anna(&world, "DK/XA/a1b2c3", EidasLoa::Substantial),
    );
    let refused = deliver(&world, &mut client, &other).await;
    assert_eq!(refused.status, 400);
    assert!(
        world
            .refusal_audited("xa.connector.response", "refused")
            .await
    );

    let real = dk_response(
        &world,
        &request.id,
        anna(&world, "DK/XA/a1b2c3", EidasLoa::Substantial),
    );
    assert_eq!(deliver(&world, &mut client, &real).await.status, 200);
}

#[tokio::test]
async fn an_assertion_id_is_accepted_once_even_in_an_answer_to_a_new_request() {
    let world = World::new().await;
    let mut client = Client::new();
    let assertion_id = new_message_id();
    let first = start(&world, &mut client, "substantial").await;
    let outcome = anna_in(&world, &assertion_id, "DK/XA/a1b2c3", EidasLoa::Substantial);
    let response = dk_response(&world, &first.id, outcome);
    assert_eq!(deliver(&world, &mut client, &response).await.status, 200);

    let second = start(&world, &mut client, "substantial").await;
    let outcome = anna_in(&world, &assertion_id, "DK/XA/a1b2c3", EidasLoa::Substantial);
    let reused = dk_response(&world, &second.id, outcome);
    let refused = deliver(&world, &mut client, &reused).await;
    assert_eq!(refused.status, 400);
    assert!(!refused.body.contains("DK/XA/a1b2c3"));
    assert!(
        world
            .refusal_audited("xa.connector.response", "replayed")
            .await
    );
}

#[tokio::test]
async fn a_response_for_a_request_of_another_browser_is_refused() {
    let world = World::new().await;
    let mut started = Client::new();
    let request = start(&world, &mut started, "substantial").await;
    let response = dk_response(
        &world,
        &request.id,
        anna(&world, "DK/XA/a1b2c3", EidasLoa::Substantial),
    );
    let mut stranger = Client::new();
    world.get(&mut stranger, "/xa/service/").await;
    assert_eq!(deliver(&world, &mut stranger, &response).await.status, 400);
}

#[tokio::test]
async fn an_identifier_not_meant_for_xa_is_refused() {
    let world = World::new().await;
    let mut client = Client::new();
    let request = start(&world, &mut client, "substantial").await;
    let response = dk_response(
        &world,
        &request.id,
        anna(&world, "DK/FR/a1b2c3", EidasLoa::Substantial),
    );
    let refused = deliver(&world, &mut client, &response).await;
    assert_eq!(refused.status, 400);
    assert!(
        world
            .refusal_audited("xa.connector.response", "identifier")
            .await
    );
}

#[tokio::test]
async fn a_declined_login_shows_that_nothing_was_received() {
    let world = World::new().await;
    let mut client = english();
    let request = start(&world, &mut client, "substantial").await;
    let declined = dk_response(&world, &request.id, failure(SubStatus::RequestDenied));
    let page = deliver(&world, &mut client, &declined).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Nothing was received"));
    assert!(page.body.contains("You chose not to send your details"));
    assert!(page.body.contains("href=\"/xa/service/\""));

    let request = start(&world, &mut client, "substantial").await;
    let failed = dk_response(&world, &request.id, failure(SubStatus::AuthnFailed));
    let page = deliver(&world, &mut client, &failed).await;
    assert!(page.body.contains("The login failed"));
}

#[tokio::test]
async fn a_response_without_the_cookie_is_reposted_once_from_xas_own_origin() {
    let world = World::new().await;
    let mut client = Client::new();
    let request = start(&world, &mut client, "substantial").await;
    let response = dk_response(
        &world,
        &request.id,
        anna(&world, "DK/XA/a1b2c3", EidasLoa::Substantial),
    );
    // The cross-site POST arrives without the Lax cookie.
    let mut cookieless = client.clone();
    cookieless.cookies.clear();
    let bounce = deliver(&world, &mut cookieless, &response).await;
    assert_eq!(bounce.status, 200);
    assert_eq!(form_action(&bounce), format!("{ORIGIN}{ACS}"));
    assert_eq!(field(&bounce, "reposted"), "1");
    assert_eq!(field(&bounce, "SAMLResponse"), response);
    // Our own page posts it again, now with the cookie.
    let page = world
        .post(
            &mut client,
            ACS,
            &[("SAMLResponse", &response), ("reposted", "1")],
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("DK/XA/a1b2c3"));
    // A re-posted message is never bounced again.
    let again = world
        .post(
            &mut cookieless,
            ACS,
            &[("SAMLResponse", &response), ("reposted", "1")],
        )
        .await;
    assert_eq!(again.status, 400);
}

#[tokio::test]
async fn the_service_form_needs_its_csrf_token_and_a_known_level() {
    let world = World::new().await;
    let mut client = Client::new();
    let service = world.get(&mut client, "/xa/service/").await;
    let forged = world
        .post(
            &mut client,
            "/xa/service/login",
            &[("csrf", "forged"), ("level", "high")],
        )
        .await;
    assert_eq!(forged.status, 403);
    let odd = world
        .post(
            &mut client,
            "/xa/service/login",
            &[("csrf", &service.input("csrf")), ("level", "low")],
        )
        .await;
    assert_eq!(odd.status, 400);
}

#[tokio::test]
async fn the_connector_metadata_is_signed_with_sp_type_and_acs() {
    let world = World::new().await;
    let md = world.xa_metadata("/xa/connector/metadata").await;
    assert_eq!(md.node_country, "XA");
    assert_eq!(
        md.role,
        eid_saml::eidas::NodeRole::Connector {
            acs_url: format!("{ORIGIN}{ACS}"),
            sp_type: Some(SpType::Public),
        }
    );
}
