//! HTTP-Redirect binding: pysaml2's signed requests verify with the SP's metadata key; every
//! rule (SigAlg allow-list, key pinning, raw query octets, inflate and size bounds, RelayState
//! bound) has its refusal.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use eid_keys::{Alg, SigningKey};
use eid_saml::binding::{
    BindingError, MessageKind, PublicKeyKind, RelayState, SigAlg, SpVerificationKey,
    decode_redirect, redirect_url, signed_redirect_url,
};
use eid_saml::messages::{AuthnRequest, LogoutRequest};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use proptest::prelude::*;

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn cert(name: &str) -> Vec<u8> {
    pem::parse(fixture(name)).unwrap().contents().to_vec()
}

fn sp_rsa() -> Vec<u8> {
    cert("binding-sp-rsa.crt")
}

fn query_param<'a>(query: &'a str, name: &str) -> &'a str {
    query
        .split('&')
        .find_map(|p| p.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
        .unwrap()
}

fn replace_param(query: &str, name: &str, raw: &str) -> String {
    query
        .split('&')
        .map(|p| match p.split_once('=') {
            Some((n, _)) if n == name => format!("{n}={raw}"),
            _ => p.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn enc(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

#[test]
fn a_pysaml2_authn_request_signed_with_rsa_sha256_verifies_with_the_metadata_key() {
    let msg = decode_redirect(
        &fixture("binding-authn-rsa-sha256.txt"),
        MessageKind::Request,
    )
    .unwrap();
    assert!(msg.is_signed());
    assert_eq!(msg.relay_state().unwrap().as_str(), "r+1 /?&=æ");
    assert!(!format!("{msg:?}").contains("Issuer"));
    let xml = msg.verify_with_certificates(&[sp_rsa()]).unwrap();
    let req = AuthnRequest::parse(xml).unwrap();
    assert_eq!(req.issuer, "https://sp.example.dk/saml");
    assert!(req.force_authn);
}

#[test]
fn pss_and_ecdsa_signed_requests_verify() {
    let pss = decode_redirect(&fixture("binding-authn-rsa-pss.txt"), MessageKind::Request).unwrap();
    pss.verify_with_certificates(&[sp_rsa()]).unwrap();
    let ec = decode_redirect(&fixture("binding-authn-ecdsa.txt"), MessageKind::Request).unwrap();
    // pysaml2's side (`cryptography`) sends a DER ECDSA signature; the key store's is r‖s.
    ec.verify_with_certificates(&[cert("binding-sp-ec.crt")])
        .unwrap();
    // The SP's RSA and EC certificates together: each SigAlg finds its key.
    ec.verify_with_certificates(&[sp_rsa(), cert("binding-sp-ec.crt")])
        .unwrap();
}

#[test]
fn a_pysaml2_logout_request_verifies_and_parses() {
    let msg = decode_redirect(
        &fixture("binding-logout-rsa-sha256.txt"),
        MessageKind::Request,
    )
    .unwrap();
    let xml = msg.verify_with_certificates(&[sp_rsa()]).unwrap();
    let req = LogoutRequest::parse(xml).unwrap();
    assert_eq!(req.session_indexes, vec!["sess-1".to_owned()]);
    assert_eq!(msg.relay_state().unwrap().as_str(), "lo");
}

#[test]
fn a_signature_by_another_key_is_refused() {
    let msg = decode_redirect(
        &fixture("binding-authn-rsa-sha256.txt"),
        MessageKind::Request,
    )
    .unwrap();
    assert_eq!(
        msg.verify_with_certificates(&[cert("binding-other-rsa.crt")]),
        Err(BindingError::BadSignature)
    );
    assert_eq!(msg.verify(&[]), Err(BindingError::NoKey));
}

#[test]
fn a_signature_over_a_re_encoded_query_is_refused() {
    let query = fixture("binding-authn-rsa-sha256.txt");
    // The same RelayState value spelled differently (%20 for +): the signed octets differ.
    let relay = query_param(&query, "RelayState");
    assert!(relay.contains('+'));
    let respelled = replace_param(&query, "RelayState", &relay.replace('+', "%20"));
    let msg = decode_redirect(&respelled, MessageKind::Request).unwrap();
    assert_eq!(msg.relay_state().unwrap().as_str(), "r+1 /?&=æ");
    assert_eq!(
        msg.verify_with_certificates(&[sp_rsa()]),
        Err(BindingError::BadSignature)
    );
    // Lower-case percent escapes in SAMLRequest: the same message, other octets.
    let req = query_param(&query, "SAMLRequest");
    let lower = req.replace("%2F", "%2f").replace("%2B", "%2b");
    assert_ne!(lower, req);
    let msg = decode_redirect(
        &replace_param(&query, "SAMLRequest", &lower),
        MessageKind::Request,
    )
    .unwrap();
    assert_eq!(
        msg.verify_with_certificates(&[sp_rsa()]),
        Err(BindingError::BadSignature)
    );
}

#[test]
fn parameter_order_in_the_url_does_not_change_the_signed_octets() {
    let query = fixture("binding-authn-rsa-sha256.txt");
    let mut parts: Vec<&str> = query.split('&').collect();
    parts.reverse();
    let msg = decode_redirect(
        &format!("foo=bar&{}", parts.join("&")),
        MessageKind::Request,
    )
    .unwrap();
    msg.verify_with_certificates(&[sp_rsa()]).unwrap();
}

#[test]
fn a_tampered_relay_state_is_refused() {
    let query = fixture("binding-authn-rsa-sha256.txt");
    let msg = decode_redirect(
        &replace_param(&query, "RelayState", "evil"),
        MessageKind::Request,
    )
    .unwrap();
    assert_eq!(
        msg.verify_with_certificates(&[sp_rsa()]),
        Err(BindingError::BadSignature)
    );
    // Dropping RelayState changes the octets too.
    let dropped: Vec<&str> = query
        .split('&')
        .filter(|p| !p.starts_with("RelayState="))
        .collect();
    let msg = decode_redirect(&dropped.join("&"), MessageKind::Request).unwrap();
    assert_eq!(
        msg.verify_with_certificates(&[sp_rsa()]),
        Err(BindingError::BadSignature)
    );
}

#[test]
fn sha1_unknown_and_missing_sig_algs_are_refused() {
    let query = fixture("binding-authn-rsa-sha256.txt");
    for alg in [
        "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
        "http://www.w3.org/2000/09/xmldsig#dsa-sha1",
        "http://www.w3.org/2001/04/xmldsig-more#rsa-md5",
        "rsa-sha256",
        "",
    ] {
        let msg = decode_redirect(
            &replace_param(&query, "SigAlg", &enc(alg)),
            MessageKind::Request,
        )
        .unwrap();
        assert_eq!(
            msg.verify_with_certificates(&[sp_rsa()]),
            Err(BindingError::UnsupportedSigAlg),
            "{alg}"
        );
    }
    let no_alg: Vec<&str> = query
        .split('&')
        .filter(|p| !p.starts_with("SigAlg="))
        .collect();
    assert_eq!(
        decode_redirect(&no_alg.join("&"), MessageKind::Request),
        Err(BindingError::Unsigned)
    );
    let no_sig: Vec<&str> = query
        .split('&')
        .filter(|p| !p.starts_with("Signature="))
        .collect();
    assert_eq!(
        decode_redirect(&no_sig.join("&"), MessageKind::Request),
        Err(BindingError::Unsigned)
    );
    let unsigned: Vec<&str> = query
        .split('&')
        .filter(|p| !p.starts_with("Signature=") && !p.starts_with("SigAlg="))
        .collect();
    let msg = decode_redirect(&unsigned.join("&"), MessageKind::Request).unwrap();
    assert!(!msg.is_signed());
    assert_eq!(
        msg.verify_with_certificates(&[sp_rsa()]),
        Err(BindingError::Unsigned)
    );
}

#[test]
fn a_sig_alg_that_does_not_fit_the_key_is_refused() {
    // RSA signature relabelled as ECDSA: only the RSA key is known.
    let query = fixture("binding-authn-rsa-sha256.txt");
    let relabelled = replace_param(&query, "SigAlg", &enc(SigAlg::EcdsaSha256.uri()));
    let msg = decode_redirect(&relabelled, MessageKind::Request).unwrap();
    assert_eq!(
        msg.verify_with_certificates(&[sp_rsa()]),
        Err(BindingError::SigAlgKeyMismatch)
    );
    // PKCS#1 v1.5 signature relabelled as PSS: same key kind, no verification.
    let pss = replace_param(&query, "SigAlg", &enc(SigAlg::RsaPssSha256.uri()));
    let msg = decode_redirect(&pss, MessageKind::Request).unwrap();
    assert_eq!(
        msg.verify_with_certificates(&[sp_rsa()]),
        Err(BindingError::BadSignature)
    );
}

#[test]
fn a_deflate_bomb_is_refused_within_the_bound() {
    let bomb = miniz_oxide::deflate::compress_to_vec(&vec![b' '; 8 * 1024 * 1024], 10);
    assert!(bomb.len() < 16 * 1024, "{}", bomb.len());
    let query = format!("SAMLRequest={}", enc(&STANDARD.encode(&bomb)));
    assert_eq!(
        decode_redirect(&query, MessageKind::Request),
        Err(BindingError::InflatedTooLarge)
    );
    // Just over the bound is refused; just under it passes the binding.
    let over = miniz_oxide::deflate::compress_to_vec(&vec![b'a'; 64 * 1024 + 1], 6);
    let query = format!("SAMLRequest={}", enc(&STANDARD.encode(&over)));
    assert_eq!(
        decode_redirect(&query, MessageKind::Request),
        Err(BindingError::InflatedTooLarge)
    );
    let at = miniz_oxide::deflate::compress_to_vec(&vec![b'a'; 64 * 1024], 6);
    let query = format!("SAMLRequest={}", enc(&STANDARD.encode(&at)));
    assert!(decode_redirect(&query, MessageKind::Request).is_ok());
}

#[test]
fn an_oversized_query_is_refused() {
    let query = format!("SAMLRequest={}", "A".repeat(16 * 1024));
    assert_eq!(
        decode_redirect(&query, MessageKind::Request),
        Err(BindingError::TooLarge)
    );
}

#[test]
fn relay_state_of_80_bytes_is_accepted_and_81_refused() {
    let deflated = miniz_oxide::deflate::compress_to_vec(b"<x/>", 6);
    let message = enc(&STANDARD.encode(deflated));
    let ok = format!("SAMLRequest={message}&RelayState={}", "æ".repeat(40));
    assert_eq!(
        decode_redirect(&ok, MessageKind::Request)
            .unwrap()
            .relay_state()
            .unwrap()
            .as_str()
            .len(),
        80
    );
    let long = format!("SAMLRequest={message}&RelayState={}a", "æ".repeat(40));
    assert_eq!(
        decode_redirect(&long, MessageKind::Request),
        Err(BindingError::RelayStateTooLong)
    );
    assert_eq!(
        RelayState::new("x".repeat(81)),
        Err(BindingError::RelayStateTooLong)
    );
}

#[test]
fn duplicate_missing_and_misdirected_message_parameters_are_refused() {
    let query = fixture("binding-authn-rsa-sha256.txt");
    let first = query.split('&').next().unwrap();
    assert_eq!(
        decode_redirect(&format!("{query}&{first}"), MessageKind::Request),
        Err(BindingError::DuplicateParameter("SAMLRequest"))
    );
    assert_eq!(
        decode_redirect(&format!("{query}&RelayState=x"), MessageKind::Request),
        Err(BindingError::DuplicateParameter("RelayState"))
    );
    assert_eq!(
        decode_redirect(&query, MessageKind::Response),
        Err(BindingError::MissingMessage("SAMLResponse"))
    );
    assert_eq!(
        decode_redirect("RelayState=x", MessageKind::Request),
        Err(BindingError::MissingMessage("SAMLRequest"))
    );
    assert_eq!(
        decode_redirect("SAMLRequest=%%%", MessageKind::Request),
        Err(BindingError::BadEncoding("SAMLRequest"))
    );
    assert_eq!(
        decode_redirect("SAMLRequest=AAAA", MessageKind::Request),
        Err(BindingError::BadDeflate)
    );
}

fn key_store_key(alg: Alg) -> SigningKey {
    let pem = eid_keys::generate_pem(alg, 3072).unwrap();
    SigningKey::from_pem(pem.as_bytes(), alg).unwrap()
}

#[test]
fn our_signed_urls_round_trip_through_our_verifier_for_every_alg() {
    let ec = key_store_key(Alg::ES256);
    let rsa = key_store_key(Alg::RS256);
    let ec_pub = SpVerificationKey::from_public_key(PublicKeyKind::EcP256, ec.public_key_bytes());
    let rsa_pub = SpVerificationKey::from_public_key(PublicKeyKind::Rsa, rsa.public_key_bytes());
    let xml = "<samlp:LogoutResponse xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\"/>";
    let relay = RelayState::new("a b+c&d=é/?").unwrap();
    for (alg, key, public) in [
        (SigAlg::EcdsaSha256, &ec, &ec_pub),
        (SigAlg::RsaSha256, &rsa, &rsa_pub),
        (SigAlg::RsaPssSha256, &rsa, &rsa_pub),
    ] {
        let key_alg = match alg {
            SigAlg::EcdsaSha256 => Alg::ES256,
            SigAlg::RsaPssSha256 => Alg::PS256,
            _ => Alg::RS256,
        };
        let url = signed_redirect_url(
            "https://sp.example.dk/slo?x=1",
            MessageKind::Response,
            xml,
            Some(&relay),
            alg,
            |octets| key.sign_as(key_alg, octets),
        )
        .unwrap();
        let query = url.strip_prefix("https://sp.example.dk/slo?").unwrap();
        assert!(query.starts_with("x=1&SAMLResponse="));
        // Form encoding as pysaml2's quote_plus writes it, so that re-encoding receivers
        // rebuild the same signed octets.
        assert!(
            query.contains("&RelayState=a+b%2Bc%26d%3D%C3%A9%2F%3F&SigAlg="),
            "{query}"
        );
        let msg = decode_redirect(query, MessageKind::Response).unwrap();
        assert_eq!(msg.relay_state(), Some(&relay));
        assert_eq!(msg.verify(std::slice::from_ref(public)).unwrap(), xml);
        let other = if public.kind() == PublicKeyKind::Rsa {
            &ec_pub
        } else {
            &rsa_pub
        };
        assert_eq!(
            msg.verify(std::slice::from_ref(other)),
            Err(BindingError::SigAlgKeyMismatch)
        );
    }
    let plain = redirect_url("https://sp.example.dk/slo", MessageKind::Request, xml, None).unwrap();
    let msg = decode_redirect(plain.split_once('?').unwrap().1, MessageKind::Request).unwrap();
    assert_eq!(msg.xml_unverified(), xml);
    assert!(!msg.is_signed());
    assert_eq!(
        redirect_url(
            "https://sp.example.dk/slo#f",
            MessageKind::Request,
            xml,
            None
        ),
        Err(BindingError::BadDestination)
    );
    let failing = signed_redirect_url(
        "https://sp.example.dk/slo",
        MessageKind::Request,
        xml,
        None,
        SigAlg::RsaSha256,
        |_| Err::<Vec<u8>, _>("hsm offline"),
    );
    assert!(matches!(failing, Err(BindingError::Signing(_))));
}

#[test]
fn certificates_with_unsupported_keys_or_garbage_are_refused() {
    assert!(matches!(
        SpVerificationKey::from_certificate_der(b"not a certificate"),
        Err(BindingError::BadCertificate(_))
    ));
    let mut trailing = sp_rsa();
    trailing.push(0);
    assert!(matches!(
        SpVerificationKey::from_certificate_der(&trailing),
        Err(BindingError::BadCertificate(_))
    ));
    assert_eq!(
        SpVerificationKey::from_certificate_der(&cert("binding-sp-ec.crt"))
            .unwrap()
            .kind(),
        PublicKeyKind::EcP256
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn decode_redirect_never_panics(query in "[A-Za-z=&%+/0-9]{0,400}") {
        let _ = decode_redirect(&query, MessageKind::Request);
        let _ = decode_redirect(&format!("SAMLRequest={query}"), MessageKind::Request);
    }

    #[test]
    fn decode_redirect_never_panics_on_deflated_garbage(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let query = format!("SAMLRequest={}&SigAlg=x&Signature=AAAA", enc(&STANDARD.encode(&bytes)));
        if let Ok(msg) = decode_redirect(&query, MessageKind::Request) {
            let _ = msg.verify_with_certificates(&[sp_rsa()]);
        }
    }

    #[test]
    fn certificate_parsing_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = SpVerificationKey::from_certificate_der(&bytes);
    }

    #[test]
    fn any_relay_state_up_to_80_bytes_round_trips(relay in "\\PC{0,20}") {
        prop_assume!(relay.len() <= 80);
        let relay = RelayState::new(relay).unwrap();
        let url = redirect_url("https://x.example/s", MessageKind::Request, "<a/>", Some(&relay)).unwrap();
        let msg = decode_redirect(url.split_once('?').unwrap().1, MessageKind::Request).unwrap();
        prop_assert_eq!(msg.relay_state(), Some(&relay));
    }
}
