//! Writes one of each message we send into `target/tmp/saml-samples/`, for the checks by
//! implementations no one here wrote, run by hand (they need a pysaml2 virtual environment):
//!
//! ```sh
//! cargo test -p eid-saml --test messages_samples
//! python3 -m venv /tmp/venv && /tmp/venv/bin/pip install pysaml2
//! /tmp/venv/bin/python crates/saml/tests/fixtures/binding_pysaml2_check.py target/tmp/saml-samples
//! ```
//!
//! The script validates every message against the SAML 2.0 XML schemas, loads our IdP metadata
//! into pysaml2's metadata store, reads the assertion with pysaml2, and has pysaml2 verify our
//! signed Redirect URL.
#![allow(clippy::unwrap_used)]

use eid_core::Loa;
use eid_keys::{Alg, SigningKey};
use eid_saml::binding::{MessageKind, RelayState, SigAlg, decode_redirect, signed_redirect_url};
use eid_saml::messages::{
    Assertion, AssertionAttribute, EncryptedAssertion, LogoutRequestOut, LogoutResponseOut,
    NS_ASSERTION, NameId, Response, StatusCode, new_message_id,
};
use eid_saml::metadata::IdpMetadata;
use time::Duration;
use time::macros::datetime;

fn cert(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    pem::parse(std::fs::read_to_string(path).unwrap())
        .unwrap()
        .contents()
        .to_vec()
}

#[test]
fn writes_samples_for_the_independent_checks() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("saml-samples");
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, text: &str| std::fs::write(dir.join(name), text).unwrap();
    let now = datetime!(2026-11-30 10:00:00 UTC);
    let broker = "https://broker.example.dk/saml";
    let sp = "https://sp.example.dk/saml";

    let md = IdpMetadata {
        id: new_message_id(),
        entity_id: broker.into(),
        valid_until: now + Duration::days(7),
        sso_url: format!("{broker}/sso"),
        slo_url: format!("{broker}/slo"),
        signing_certificates: vec![cert("binding-sp-rsa.crt"), cert("binding-other-rsa.crt")],
        encryption_certificate: cert("binding-sp-rsa.crt"),
    };
    write("idp-metadata.xml", &md.to_xml());

    let assertion = Assertion {
        id: new_message_id(),
        issue_instant: now,
        issuer: broker.into(),
        subject: uuid::Uuid::new_v4(),
        sp_name_qualifier: Some(sp.into()),
        recipient: format!("{sp}/acs"),
        in_response_to: "_r1".into(),
        confirmation_not_on_or_after: now + Duration::minutes(5),
        not_before: now,
        not_on_or_after: now + Duration::hours(1),
        audience: sp.into(),
        authn_instant: now,
        session_index: "_s1".into(),
        loa: Loa::High,
        attributes: vec![AssertionAttribute {
            name: eid_saml::attributes::FULL_NAME.into(),
            values: vec!["Anna <&> Ærø".into()],
        }],
    };
    write("assertion.xml", &assertion.to_xml());

    let encrypted = EncryptedAssertion::from_encrypted_xml(format!(
        r#"<saml:EncryptedAssertion xmlns:saml="{NS_ASSERTION}"><xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#"><xenc:CipherData><xenc:CipherValue>AAAA</xenc:CipherValue></xenc:CipherData></xenc:EncryptedData></saml:EncryptedAssertion>"#
    ))
    .unwrap();
    let response = Response {
        id: new_message_id(),
        in_response_to: "_r1".into(),
        issue_instant: now,
        destination: format!("{sp}/acs"),
        issuer: broker.into(),
    };
    write("response.xml", &response.success_xml(&encrypted));
    write(
        "response-nopassive.xml",
        &response.failure_xml(StatusCode::NoPassive),
    );

    let logout = LogoutRequestOut {
        id: new_message_id(),
        issue_instant: now,
        destination: format!("{sp}/slo"),
        not_on_or_after: now + Duration::minutes(5),
        issuer: broker.into(),
        name_id: NameId {
            value: assertion.name_id(),
            format: Some(eid_saml::NAMEID_PERSISTENT.into()),
            name_qualifier: None,
            sp_name_qualifier: Some(sp.into()),
        },
        session_index: "_s1".into(),
    };
    write("logout-request.xml", &logout.to_xml());
    let logout_response = LogoutResponseOut {
        id: new_message_id(),
        in_response_to: "_x".into(),
        issue_instant: now,
        destination: Some(format!("{sp}/slo")),
        issuer: broker.into(),
        status: StatusCode::PartialLogout,
    };
    write("logout-response.xml", &logout_response.to_xml());

    // A signed Redirect URL from the key store's RSA key, and that key's public half.
    let pem = eid_keys::generate_pem(Alg::RS256, 3072).unwrap();
    let key = SigningKey::from_pem(pem.as_bytes(), Alg::RS256).unwrap();
    let relay = RelayState::new("a b+c/é").unwrap();
    let url = signed_redirect_url(
        &format!("{sp}/slo"),
        MessageKind::Request,
        &logout.to_xml(),
        Some(&relay),
        SigAlg::RsaSha256,
        |octets| key.sign(octets),
    )
    .unwrap();
    write("logout-request-url.txt", &url);
    let public = pem::encode(&pem::Pem::new("RSA PUBLIC KEY", key.public_key_bytes()));
    write("logout-request-url.key.pem", &public);
    let msg = decode_redirect(url.split_once('?').unwrap().1, MessageKind::Request).unwrap();
    assert_eq!(msg.relay_state(), Some(&relay));
}
