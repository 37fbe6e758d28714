//! SAML service providers registered through the admin API: a registration checked like the
//! configuration's, stored durably, seen by the SAML frontend at once; and every refusal (no or a
//! wrong token, a mismatched entity ID, invalid metadata, an oversized body, an entity ID that the
//! configuration or an OIDC client already has).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use axum::body::Body;
use axum::http::Request as HttpRequest;
use eid_core::{Loa, SamlServiceProviderRepository, SamlSpRegistration};
use harness::saml::{ACS, Request, SP, broker_certificate, read, sp_metadata};
use harness::{ADMIN_TOKEN, BrokerReply, Client, Harness, RP_A, Reply, UPSTREAM_AUTHORIZE};
use serde_json::{Value, json};

/// The admin path of an entity ID (percent-encoded).
pub fn sp_path(entity_id: &str) -> String {
    let encoded: String = url::form_urlencoded::byte_serialize(entity_id.as_bytes()).collect();
    format!("/admin/saml-service-providers/{encoded}")
}

/// An admin request with `token` (`None`: no `Authorization`) and a raw body.
async fn admin_raw(
    h: &Harness,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Vec<u8>,
) -> Reply {
    let mut request = HttpRequest::builder().method(method).uri(path);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    if !body.is_empty() {
        request = request.header("content-type", "application/json");
    }
    let request = request.body(Body::from(body)).unwrap();
    h.send(&mut Client::at("192.0.2.10:4000"), request).await
}

/// An admin request with the right token.
async fn admin(h: &Harness, method: &str, path: &str, body: Option<Value>) -> Reply {
    let body = body
        .map(|b| serde_json::to_vec(&b).unwrap())
        .unwrap_or_default();
    admin_raw(h, method, path, Some(ADMIN_TOKEN), body).await
}

fn registration(metadata: &str) -> Value {
    json!({
        "metadata": metadata, "name": "Registered service", "sector": "sector-registered",
        "release": ["cpr", "name"],
    })
}

fn error_of(reply: &Reply) -> String {
    let body: Value = serde_json::from_str(&reply.body).unwrap_or_else(|_| panic!("{reply:?}"));
    body["error"].as_str().unwrap_or_default().to_owned()
}

/// The harness without its configured service provider, so that the admin API may register it.
async fn without_configured_sp() -> Harness {
    let h = Harness::new().await;
    h.broker.registry.set_saml(Vec::new());
    h
}

#[tokio::test]
async fn a_service_registered_by_the_admin_api_logs_in_by_saml() {
    let h = without_configured_sp().await;
    let cert = broker_certificate(&h).await;
    let mut client = Client::new();
    // Not registered yet: the request is refused.
    let refused = h.get(&mut client, &Request::new(&h).redirect()).await;
    assert_eq!(refused.status, 400, "{refused:?}");

    let saved = admin(&h, "PUT", &sp_path(SP), Some(registration(&sp_metadata()))).await;
    assert_eq!(saved.status, 200, "{saved:?}");
    let saved: Value = serde_json::from_str(&saved.body).unwrap();
    assert_eq!(saved["entity_id"], SP);
    assert_eq!(saved["revision"], 1);
    assert!(saved.get("metadata_url").is_none());
    let events = h.audited("admin.saml_service_provider_saved").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].client.as_deref(), Some(SP));
    assert_eq!(events[0].details["metadata_from"], "document");

    // Read back, one and all.
    let one = admin(&h, "GET", &sp_path(SP), None).await;
    assert_eq!(one.status, 200);
    let one: Value = serde_json::from_str(&one.body).unwrap();
    assert_eq!(one["name"], "Registered service");
    assert_eq!(one["metadata"], sp_metadata());
    let all = admin(&h, "GET", "/admin/saml-service-providers", None).await;
    let all: Value = serde_json::from_str(&all.body).unwrap();
    assert_eq!(all.as_array().unwrap().len(), 1);

    // A login through it.
    let person = h.person("anna", Loa::Substantial);
    h.upstream.answer(person.clone());
    let request = Request::new(&h);
    let to_upstream = h.get(&mut client, &request.redirect()).await;
    assert!(to_upstream.goes_to(UPSTREAM_AUTHORIZE), "{to_upstream:?}");
    let back = h.callback(&mut client, &to_upstream).await;
    let answered = read(&back, &cert);
    assert_eq!(answered.action, ACS);
    assert!(answered.has_status("Success"), "{}", answered.response);
    let sp = h.broker.registry.saml(SP).unwrap();
    assert_eq!(sp.rp.name, "Registered service");
    assert_eq!(sp.rp.sector, "sector-registered");
}

#[tokio::test]
async fn the_admin_api_needs_the_token() {
    let h = without_configured_sp().await;
    let body = serde_json::to_vec(&registration(&sp_metadata())).unwrap();
    for token in [None, Some("wrong-token-0123456789"), Some("")] {
        for (method, path, body) in [
            (
                "GET",
                "/admin/saml-service-providers".to_owned(),
                Vec::new(),
            ),
            ("GET", sp_path(SP), Vec::new()),
            ("PUT", sp_path(SP), body.clone()),
            ("DELETE", sp_path(SP), Vec::new()),
        ] {
            let reply = admin_raw(&h, method, &path, token, body).await;
            assert_eq!(
                reply.status, 401,
                "{method} {path} with {token:?}: {reply:?}"
            );
        }
    }
    assert_eq!(h.audited("admin.rejected").await.len(), 12);
    assert!(h.durable.saml_sps().await.unwrap().is_empty());
    assert!(h.broker.registry.saml(SP).is_none());
}

#[tokio::test]
async fn metadata_naming_another_entity_is_refused() {
    let h = without_configured_sp().await;
    let other = "https://other.example.dk/saml";
    let reply = admin(
        &h,
        "PUT",
        &sp_path(other),
        Some(registration(&sp_metadata())),
    )
    .await;
    assert_eq!(reply.status, 400, "{reply:?}");
    assert!(
        error_of(&reply).contains("differs from the entity ID"),
        "{reply:?}"
    );
    assert!(h.durable.saml_sps().await.unwrap().is_empty());
    assert!(h.broker.registry.saml(SP).is_none());
    assert!(
        h.audited("admin.saml_service_provider_saved")
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn invalid_registrations_are_refused_naming_the_problem() {
    let h = without_configured_sp().await;
    let expired = sp_metadata().replacen(
        "entityID=",
        "validUntil=\"2020-01-01T00:00:00Z\" entityID=",
        1,
    );
    let no_encryption_key = {
        let m = sp_metadata();
        let start = m.find("<md:KeyDescriptor use=\"encryption\">").unwrap();
        let end = m[start..].find("</md:KeyDescriptor>").unwrap() + start + 19;
        format!("{}{}", &m[..start], &m[end..])
    };
    let doctype = format!("<!DOCTYPE x [<!ENTITY e \"e\">]>{}", sp_metadata());
    let mut unknown_attribute = registration(&sp_metadata());
    unknown_attribute["release"] = json!(["shoe_size"]);
    let mut unknown_field = registration(&sp_metadata());
    unknown_field["surprise"] = json!(true);
    let mut both = registration(&sp_metadata());
    both["metadata_url"] = json!("https://sp.example.dk/metadata");
    let mut bidi_name = registration(&sp_metadata());
    bidi_name["name"] = json!("Service\u{202e}evil");
    let mut bad_area = registration(&sp_metadata());
    bad_area["service_areas"] = json!(["housing benefit"]);
    let mut twice = registration(&sp_metadata());
    twice["service_areas"] = json!(["housing", "housing"]);
    for (body, problem) in [
        (registration("<not-metadata/>"), "metadata"),
        (registration(&expired), "expired"),
        (
            registration(&no_encryption_key),
            "no encryption certificate",
        ),
        (registration(&doctype), "metadata"),
        (unknown_attribute, "shoe_size"),
        (unknown_field, "surprise"),
        (both, "not both"),
        (bidi_name, "name"),
        (bad_area, "service_areas"),
        (twice, "twice"),
    ] {
        let reply = admin(&h, "PUT", &sp_path(SP), Some(body)).await;
        assert_eq!(reply.status, 400, "{problem}: {reply:?}");
        assert!(error_of(&reply).contains(problem), "{problem}: {reply:?}");
    }
    let not_json = admin_raw(&h, "PUT", &sp_path(SP), Some(ADMIN_TOKEN), b"{".to_vec()).await;
    assert_eq!(not_json.status, 400);
    let control = admin(
        &h,
        "PUT",
        &sp_path("https://sp.example.dk/\u{7}"),
        Some(registration(&sp_metadata())),
    )
    .await;
    assert_eq!(control.status, 400, "{control:?}");
    assert!(h.durable.saml_sps().await.unwrap().is_empty());
    assert!(h.broker.registry.saml(SP).is_none());
}

#[tokio::test]
async fn an_oversized_body_is_refused() {
    let h = without_configured_sp().await;
    let padded = sp_metadata().replace(
        "<md:NameIDFormat>",
        &format!(
            "<md:Extensions>{}</md:Extensions><md:NameIDFormat>",
            " ".repeat(300 * 1024)
        ),
    );
    let reply = admin(&h, "PUT", &sp_path(SP), Some(registration(&padded))).await;
    assert_eq!(reply.status, 413, "{}", reply.status);
    assert!(h.durable.saml_sps().await.unwrap().is_empty());
    assert!(h.broker.registry.saml(SP).is_none());
}

#[tokio::test]
async fn a_configured_entity_id_or_an_oidc_client_id_is_refused() {
    // The harness configures the test service provider.
    let h = Harness::new().await;
    let configured = h.broker.registry.saml(SP).unwrap();
    let reply = admin(&h, "PUT", &sp_path(SP), Some(registration(&sp_metadata()))).await;
    assert_eq!(reply.status, 409, "{reply:?}");
    assert!(error_of(&reply).contains("configuration"), "{reply:?}");
    let reply = admin(&h, "DELETE", &sp_path(SP), None).await;
    assert_eq!(reply.status, 409, "{reply:?}");
    assert!(std::sync::Arc::ptr_eq(
        &h.broker.registry.saml(SP).unwrap(),
        &configured
    ));

    // An entity ID that is an OIDC client's id.
    let as_client = sp_metadata().replace(&format!("entityID=\"{SP}\""), "entityID=\"rp-a\"");
    let reply = admin(&h, "PUT", &sp_path(RP_A), Some(registration(&as_client))).await;
    assert_eq!(reply.status, 409, "{reply:?}");
    assert!(error_of(&reply).contains("OIDC"), "{reply:?}");
    assert!(h.durable.saml_sps().await.unwrap().is_empty());

    // And the other way round: an OIDC client may not take a SAML entity ID.
    let oidc = json!({
        "client_id": SP, "client_name": "Clash", "client_secret": "0123456789abcdef-secret",
        "token_endpoint_auth_method": "client_secret_post", "sector": "s",
        "redirect_uris": ["https://clash.example/cb"],
    });
    let reply = admin(
        &h,
        "PUT",
        &format!(
            "/admin/relying-parties/{}",
            sp_path(SP).rsplit('/').next().unwrap()
        ),
        Some(oidc),
    )
    .await;
    assert_eq!(reply.status, 409, "{reply:?}");
    assert!(error_of(&reply).contains("SAML"), "{reply:?}");
}

#[tokio::test]
async fn the_configuration_comes_first_over_a_stored_registration() {
    let h = Harness::new().await;
    // Written to the store behind the API's back (as by an older version or another node's
    // configuration): the configured registration stays.
    h.durable
        .upsert_saml_sp(&SamlSpRegistration {
            entity_id: SP.into(),
            name: "Stored impostor".into(),
            sector: "other-sector".into(),
            release: vec!["cpr".into()],
            aes_cbc: false,
            accepts_representation: false,
            requires_cpr: false,
            service_areas: Vec::new(),
            metadata: sp_metadata(),
            metadata_url: None,
        })
        .await
        .unwrap();
    h.broker.refresh_registry().await.unwrap();
    assert_eq!(h.broker.registry.saml(SP).unwrap().rp.name, "SAML service");
    // Without the configured one, the stored one is seen.
    h.broker.registry.set_saml(Vec::new());
    assert_eq!(
        h.broker.registry.saml(SP).unwrap().rp.name,
        "Stored impostor"
    );
}

#[tokio::test]
async fn a_deleted_service_provider_is_gone_at_once() {
    let h = without_configured_sp().await;
    let saved = admin(&h, "PUT", &sp_path(SP), Some(registration(&sp_metadata()))).await;
    assert_eq!(saved.status, 200, "{saved:?}");
    // Replacing counts the revision up.
    let mut renamed = registration(&sp_metadata());
    renamed["name"] = json!("Renamed service");
    let saved = admin(&h, "PUT", &sp_path(SP), Some(renamed)).await;
    let saved: Value = serde_json::from_str(&saved.body).unwrap();
    assert_eq!(saved["revision"], 2);
    assert_eq!(
        h.broker.registry.saml(SP).unwrap().rp.name,
        "Renamed service"
    );

    let deleted = admin(&h, "DELETE", &sp_path(SP), None).await;
    assert_eq!(deleted.status, 204, "{deleted:?}");
    assert!(h.broker.registry.saml(SP).is_none());
    let events = h.audited("admin.saml_service_provider_deleted").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].client.as_deref(), Some(SP));
    let again = admin(&h, "DELETE", &sp_path(SP), None).await;
    assert_eq!(again.status, 404);
    let gone = admin(&h, "GET", &sp_path(SP), None).await;
    assert_eq!(gone.status, 404);
    let refused = h
        .get(&mut Client::new(), &Request::new(&h).redirect())
        .await;
    assert_eq!(refused.status, 400, "{refused:?}");
}

#[tokio::test]
async fn a_service_registered_for_representation_declares_its_service_areas() {
    let h = without_configured_sp().await;
    let mut body = registration(&sp_metadata());
    body["accepts_representation"] = json!(true);
    body["service_areas"] = json!(["housing-benefit", "dk:tax"]);
    let saved = admin(&h, "PUT", &sp_path(SP), Some(body)).await;
    assert_eq!(saved.status, 200, "{saved:?}");
    let one: Value =
        serde_json::from_str(&admin(&h, "GET", &sp_path(SP), None).await.body).unwrap();
    assert_eq!(one["accepts_representation"], true);
    assert_eq!(one["service_areas"], json!(["housing-benefit", "dk:tax"]));
    let sp = h.broker.registry.saml(SP).unwrap();
    assert!(sp.rp.representation);
    assert_eq!(sp.rp.service_areas, vec!["housing-benefit", "dk:tax"]);
    // Without saying so, a service does not accept representation.
    let saved = admin(&h, "PUT", &sp_path(SP), Some(registration(&sp_metadata()))).await;
    assert_eq!(saved.status, 200);
    assert!(!h.broker.registry.saml(SP).unwrap().rp.representation);
}
