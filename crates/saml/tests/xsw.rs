//! The signature-wrapping corpus against `dsig::verify`: the eight SAML Raider XSW variants,
//! signature stripping, comment injection in the NameID, a second unsigned assertion, a signature by
//! another key, SHA-1, DTDs and entities, oversized and deeply nested documents, and one case per
//! structural rule. Each case is refused with the typed error of the rule that must catch it first,
//! so removing that rule fails the case.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod dsig_support;

use dsig_support::*;
use eid_saml::dsig::{self, DsigError, Expected, SignatureAlg};
use eid_saml::xml::{QName, XmlError};

const EVIL_NAME_ID: &str =
    "https://data.gov.dk/model/core/eid/person/uuid/66666666-6666-4666-8666-666666666666";

/// A signed assertion (RSA-SHA256) without an XML declaration, and its key.
fn signed() -> (String, std::sync::Arc<eid_keys::SigningKey>) {
    let (s, k) = signed_assertion(SignatureAlg::RsaSha256);
    (strip_decl(&s).to_owned(), k)
}

/// Splits a signed assertion into (before the signature, the signature, after it).
fn split(signed: &str) -> (&str, &str, &str) {
    let start = signed.find("<ds:Signature").unwrap();
    let end = signed.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
    (&signed[..start], &signed[start..end], &signed[end..])
}

/// The attacker's assertion: the signed one with another NameID and `ID`, without the signature.
fn evil(signed: &str, id: &str) -> String {
    let (before, _, after) = split(signed);
    format!("{before}{after}")
        .replace(NAME_ID, EVIL_NAME_ID)
        .replacen("ID=\"_a1\"", &format!("ID=\"{id}\""), 1)
}

fn verify_assertion(xml: &str) -> Result<String, DsigError> {
    let (_, key) = signed();
    dsig::verify(
        xml,
        Expected::Only(QName::ASSERTION),
        &pinned(&key),
        &policy(),
    )
    .map(|v| v.element().attr("ID").unwrap_or_default().to_owned())
}

fn assert_refused(name: &str, xml: &str, check: impl Fn(&DsigError) -> bool) {
    match verify_assertion(xml) {
        Ok(id) => panic!("{name}: accepted (element {id})"),
        Err(e) => assert!(check(&e), "{name}: refused, but with {e:?}"),
    }
}

fn unexpected(e: &DsigError) -> bool {
    matches!(e, DsigError::UnexpectedElement(_))
}

#[test]
fn the_untouched_response_verifies() {
    let (s, _) = signed();
    assert_eq!(verify_assertion(&response(&s)).unwrap(), "_a1");
}

// SAML Raider's XSW3–XSW8 wrap the assertion; each puts a second `saml:Assertion` into the
// Response, which `Expected::Only` refuses.

#[test]
fn xsw3_evil_assertion_before_the_signed_one() {
    let (s, _) = signed();
    let xml = response(&format!("{}{s}", evil(&s, "_evil")));
    assert_refused("XSW3", &xml, unexpected);
}

#[test]
fn xsw4_evil_assertion_wrapping_the_signed_one() {
    let (s, _) = signed();
    let e = evil(&s, "_evil");
    let wrapped = e.replacen("</saml:Assertion>", &format!("{s}</saml:Assertion>"), 1);
    assert_refused("XSW4", &response(&wrapped), unexpected);
}

#[test]
fn xsw5_signature_moved_into_the_evil_assertion_original_appended() {
    let (s, _) = signed();
    let (before, sig, after) = split(&s);
    let original_unsigned = format!("{before}{after}");
    let e = evil(&s, "_evil");
    let e = e.replacen("</saml:Issuer>", &format!("</saml:Issuer>{sig}"), 1);
    assert_refused(
        "XSW5",
        &response(&format!("{e}{original_unsigned}")),
        unexpected,
    );
}

#[test]
fn xsw6_original_inside_the_signature_of_the_evil_assertion() {
    let (s, _) = signed();
    let (before, sig, after) = split(&s);
    let original_unsigned = format!("{before}{after}");
    let sig = sig.replacen(
        "</ds:Signature>",
        &format!("<ds:Object>{original_unsigned}</ds:Object></ds:Signature>"),
        1,
    );
    let e = evil(&s, "_evil").replacen("</saml:Issuer>", &format!("</saml:Issuer>{sig}"), 1);
    assert_refused("XSW6", &response(&e), unexpected);
}

#[test]
fn xsw7_signed_assertion_hidden_in_extensions() {
    let (s, _) = signed();
    let xml = response(&format!(
        "<samlp:Extensions>{s}</samlp:Extensions>{}",
        evil(&s, "_evil")
    ));
    assert_refused("XSW7", &xml, unexpected);
}

#[test]
fn xsw8_original_in_an_object_of_the_signature_evil_keeps_the_id() {
    let (s, _) = signed();
    let (before, sig, after) = split(&s);
    let original_unsigned = format!("{before}{after}");
    let sig = sig.replacen(
        "</ds:Signature>",
        &format!("<ds:Object>{original_unsigned}</ds:Object></ds:Signature>"),
        1,
    );
    let e = evil(&s, "_a1").replacen("</saml:Issuer>", &format!("</saml:Issuer>{sig}"), 1);
    assert_refused("XSW8", &response(&e), unexpected);
}

/// A signed AuthnRequest and its key.
fn signed_request() -> (String, std::sync::Arc<eid_keys::SigningKey>) {
    let key = key(SignatureAlg::RsaSha256);
    let xml = authn_request("_req1", "https://sp.example.dk/acs");
    let s =
        dsig::sign_enveloped(&xml, "_req1", &key, SignatureAlg::RsaSha256, &cert(&key)).unwrap();
    (strip_decl(&s).to_owned(), key)
}

fn verify_request(xml: &str, key: &eid_keys::SigningKey) -> Result<String, DsigError> {
    dsig::verify(
        xml,
        Expected::Root(QName::AUTHN_REQUEST),
        &pinned(key),
        &policy(),
    )
    .map(|v| {
        v.element()
            .attr("AssertionConsumerServiceURL")
            .unwrap_or_default()
            .to_owned()
    })
}

/// The attacker's request: another ACS URL and ID, the signed request's signature kept or moved.
fn evil_request(s: &str) -> String {
    s.replace("https://sp.example.dk/acs", "https://evil.example/acs")
        .replacen("ID=\"_req1\"", "ID=\"_evil\"", 1)
}

#[test]
fn xsw1_evil_request_with_the_original_inside_its_signature() {
    let (s, key) = signed_request();
    let (before, sig, after) = split(&s);
    let original_unsigned = format!("{before}{after}");
    let sig = sig.replacen(
        "</ds:Signature>",
        &format!("<ds:Object>{original_unsigned}</ds:Object></ds:Signature>"),
        1,
    );
    let (eb, _, ea) = split(&s);
    let xml = evil_request(&format!("{eb}{ea}")).replacen(
        "</saml:Issuer>",
        &format!("</saml:Issuer>{sig}"),
        1,
    );
    assert!(matches!(
        verify_request(&xml, &key),
        Err(DsigError::UnexpectedElement(_))
    ));
}

#[test]
fn xsw2_evil_request_with_the_original_beside_its_signature() {
    let (s, key) = signed_request();
    let (before, sig, after) = split(&s);
    let original_unsigned = format!("{before}{after}");
    let xml = evil_request(&format!("{before}{after}")).replacen(
        "</saml:Issuer>",
        &format!("</saml:Issuer>{original_unsigned}{sig}"),
        1,
    );
    assert!(matches!(
        verify_request(&xml, &key),
        Err(DsigError::UnexpectedElement(_))
    ));
}

#[test]
fn a_wrapped_request_in_extensions_is_not_read_the_root_is_and_its_reference_does_not_match() {
    // The root is an unsigned evil request; the genuine signed request sits in Extensions under
    // another element name, so only the root is an AuthnRequest. The signature is the root's child
    // only after moving it, and its reference names the genuine ID.
    let (s, key) = signed_request();
    let (before, sig, after) = split(&s);
    let genuine = format!("{before}{after}").replace("samlp:AuthnRequest", "samlp:Wrapped");
    let xml = evil_request(&format!("{before}{after}")).replacen(
        "</saml:Issuer>",
        &format!("</saml:Issuer>{sig}<samlp:Extensions>{genuine}</samlp:Extensions>"),
        1,
    );
    assert!(matches!(
        verify_request(&xml, &key),
        Err(DsigError::WrongReference)
    ));
    // Give the root the genuine ID too: the signed element's name differs, so the digest fails.
    let same_id = xml
        .replacen("ID=\"_evil\"", "ID=\"_x\"", 1)
        .replacen("ID=\"_req1\"", "ID=\"_y\"", 1)
        .replacen("ID=\"_x\"", "ID=\"_req1\"", 1);
    assert!(matches!(
        verify_request(&same_id, &key),
        Err(DsigError::Invalid)
    ));
}

#[test]
fn the_signed_request_verifies_and_reads_its_own_acs() {
    let (s, key) = signed_request();
    assert_eq!(
        verify_request(&s, &key).unwrap(),
        "https://sp.example.dk/acs"
    );
    assert!(matches!(
        verify_request(&evil_request(&s), &key),
        Err(DsigError::WrongReference)
    ));
}

#[test]
fn signature_stripping_is_refused() {
    let (s, _) = signed();
    let (before, _, after) = split(&s);
    assert_refused("stripped", &response(&format!("{before}{after}")), |e| {
        matches!(e, DsigError::Unsigned)
    });
}

#[test]
fn a_comment_inside_the_name_id_is_refused_at_parse() {
    // Canonicalisation drops comments, so the signature would still verify: the parser refuses.
    let (s, _) = signed();
    let injected = s.replacen("uuid/0f8e3c8e", "uuid/<!-- -->0f8e3c8e", 1);
    assert_refused("comment", &injected, |e| {
        matches!(e, DsigError::Xml(XmlError::Comment))
    });
}

#[test]
fn a_second_unsigned_assertion_is_refused() {
    let (s, _) = signed();
    let xml = response(&format!("{s}{}", evil(&s, "_evil")));
    assert_refused("second assertion", &xml, unexpected);
}

#[test]
fn an_assertion_that_is_not_a_child_of_the_root_is_refused_even_alone() {
    let (s, _) = signed();
    let xml = response(&format!("<samlp:Extensions>{s}</samlp:Extensions>"));
    assert_refused("nested", &xml, unexpected);
}

#[test]
fn a_signature_by_another_key_is_refused_even_with_its_certificate_in_key_info() {
    let other = other_key();
    let forged = dsig::sign_enveloped(
        &assertion_with("_a1", EVIL_NAME_ID),
        "_a1",
        &other,
        SignatureAlg::RsaSha256,
        &cert(&other),
    )
    .unwrap();
    assert_refused("other key", &forged, |e| matches!(e, DsigError::Invalid));
}

#[test]
fn tampered_content_is_refused() {
    let (s, _) = signed();
    assert_refused("tampered", &s.replace(NAME_ID, EVIL_NAME_ID), |e| {
        matches!(e, DsigError::Invalid)
    });
}

#[test]
fn sha1_digests_and_rsa_sha1_are_refused() {
    let (s, _) = signed();
    let sha1_digest = s.replace(
        "http://www.w3.org/2001/04/xmlenc#sha256",
        "http://www.w3.org/2000/09/xmldsig#sha1",
    );
    assert_refused("sha1 digest", &sha1_digest, |e| {
        matches!(e, DsigError::AlgorithmNotAllowed(_))
    });
    let rsa_sha1 = s.replace(
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
    );
    assert_refused("rsa-sha1", &rsa_sha1, |e| {
        matches!(e, DsigError::AlgorithmNotAllowed(_))
    });
    let inclusive = s.replacen(
        "<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"",
        "<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/TR/2001/REC-xml-c14n-20010315\"",
        1,
    );
    assert_refused("inclusive c14n", &inclusive, |e| {
        matches!(e, DsigError::AlgorithmNotAllowed(_))
    });
}

#[test]
fn dtds_external_entities_and_entity_expansion_are_refused() {
    let (s, _) = signed();
    let cases = [
        format!("<!DOCTYPE saml:Assertion>{s}"),
        format!(
            "<!DOCTYPE r [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>{}",
            s.replacen("Substantial", "&xxe;", 1)
        ),
        format!(
            "<!DOCTYPE r [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\"><!ENTITY d \"&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;\"><!ENTITY e \"&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;\"><!ENTITY f \"&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;\"><!ENTITY g \"&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;\"><!ENTITY h \"&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;\"><!ENTITY i \"&h;&h;&h;&h;&h;&h;&h;&h;&h;&h;\">]>{}",
            s.replacen("Substantial", "&i;", 1)
        ),
        format!("<?xml version=\"1.0\"?>\n<!DOCTYPE r SYSTEM \"http://evil.example/r.dtd\">{s}"),
    ];
    for (i, xml) in cases.iter().enumerate() {
        assert_refused(&format!("DTD case {i}"), xml, |e| {
            matches!(e, DsigError::Xml(XmlError::Doctype))
        });
    }
    // An undeclared entity (no DTD to declare it) is simply malformed.
    assert_refused(
        "undeclared entity",
        &s.replacen("Substantial", "&xxe;", 1),
        |e| matches!(e, DsigError::Xml(XmlError::Malformed(_))),
    );
}

#[test]
fn oversized_and_deeply_nested_documents_are_refused() {
    let (s, _) = signed();
    let padding = format!(
        "<samlp:Extensions>{}</samlp:Extensions>",
        " ".repeat(256 * 1024)
    );
    assert_refused("oversized", &response(&format!("{padding}{s}")), |e| {
        matches!(e, DsigError::Xml(XmlError::TooLarge { .. }))
    });
    let deep = format!(
        "<samlp:Extensions>{}{}</samlp:Extensions>",
        "<x>".repeat(100),
        "</x>".repeat(100)
    );
    assert_refused("deep", &response(&format!("{deep}{s}")), |e| {
        matches!(e, DsigError::Xml(XmlError::TooDeep { .. }))
    });
}

#[test]
fn an_id_carried_by_another_element_too_is_refused() {
    let (s, _) = signed();
    for attr in ["ID", "Id", "id", "AssertionID"] {
        let xml = response(&format!(
            "<samlp:Extensions><x {attr}=\"_a1\"/></samlp:Extensions>{s}"
        ));
        assert_refused(attr, &xml, |e| matches!(e, DsigError::DuplicateId));
    }
}

#[test]
fn a_missing_or_invalid_id_is_refused() {
    let (s, _) = signed();
    assert_refused("no ID", &s.replacen(" ID=\"_a1\"", "", 1), |e| {
        matches!(e, DsigError::MissingId)
    });
    assert_refused("bad ID", &s.replace("_a1", "1 a"), |e| {
        matches!(e, DsigError::MissingId)
    });
}

#[test]
fn the_reference_must_name_the_element() {
    let (s, _) = signed();
    assert_refused(
        "other URI",
        &s.replacen("URI=\"#_a1\"", "URI=\"#_other\"", 1),
        |e| matches!(e, DsigError::WrongReference),
    );
    assert_refused(
        "whole document",
        &s.replacen("URI=\"#_a1\"", "URI=\"\"", 1),
        |e| matches!(e, DsigError::WrongReference),
    );
}

#[test]
fn signature_structure_rules() {
    let (s, _) = signed();
    let malformed = |e: &DsigError| matches!(e, DsigError::Malformed(_));
    let object = s.replacen("</ds:Signature>", "<ds:Object/></ds:Signature>", 1);
    assert_refused("Object", &object, malformed);
    let xpath = s.replacen(
        "</ds:Transforms>",
        "<ds:Transform Algorithm=\"http://www.w3.org/TR/1999/REC-xpath-19991116\"><ds:XPath>1</ds:XPath></ds:Transform></ds:Transforms>",
        1,
    );
    assert_ne!(xpath, s);
    assert_refused("XPath transform", &xpath, malformed);
    let no_enveloped = s.replacen(
        "<ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/>",
        "",
        1,
    );
    assert_refused("no enveloped transform", &no_enveloped, malformed);
    let not_enveloped = s.replacen(
        "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
        "http://www.w3.org/2001/10/xml-exc-c14n#",
        1,
    );
    assert_refused("first transform not enveloped", &not_enveloped, malformed);
    let (_, sig, _) = split(&s);
    let reference =
        &sig[sig.find("<ds:Reference").unwrap()..sig.find("</ds:Reference>").unwrap() + 15];
    let two_refs = s.replacen(reference, &format!("{reference}{reference}"), 1);
    assert_refused("two references", &two_refs, malformed);
    let hmac_len = s.replacen(
        "rsa-sha256\"/>",
        "rsa-sha256\"><ds:HMACOutputLength>8</ds:HMACOutputLength></ds:SignatureMethod>",
        1,
    );
    assert_refused("method parameters", &hmac_len, malformed);
}

#[test]
fn two_signatures_on_the_element_or_too_many_in_the_document_are_refused() {
    let (s, _) = signed();
    let (_, sig, _) = split(&s);
    let two = s.replacen("</saml:Issuer>", &format!("</saml:Issuer>{sig}"), 1);
    assert_refused("two", &two, |e| matches!(e, DsigError::MultipleSignatures));
    let many = response(&format!(
        "<samlp:Extensions>{}</samlp:Extensions>{s}",
        sig.repeat(4)
    ));
    assert_refused("many", &many, |e| {
        matches!(e, DsigError::MultipleSignatures)
    });
}

#[test]
fn no_pinned_keys_is_an_error_not_a_pass() {
    let none: [&[u8]; 0] = [];
    assert!(matches!(
        dsig::PinnedKeys::from_certificates(none),
        Err(DsigError::PinnedKey(_))
    ));
    assert!(matches!(
        dsig::PinnedKeys::from_certificates([b"not a certificate".as_slice()]),
        Err(DsigError::PinnedKey(_))
    ));
}

#[test]
fn a_logout_request_is_protected_the_same_way() {
    let key = key(SignatureAlg::RsaSha256);
    let xml = r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_lo1" Version="2.0" IssueInstant="2026-11-30T10:00:00Z" Destination="https://broker.example.dk/saml/slo"><saml:Issuer>https://sp.example.dk</saml:Issuer><saml:NameID>https://data.gov.dk/model/core/eid/person/uuid/0f8e3c8e</saml:NameID><samlp:SessionIndex>s1</samlp:SessionIndex></samlp:LogoutRequest>"#;
    let s = dsig::sign_enveloped(xml, "_lo1", &key, SignatureAlg::RsaSha256, &cert(&key)).unwrap();
    let s = strip_decl(&s).to_owned();
    let expected = Expected::Root(QName::LOGOUT_REQUEST);
    assert!(dsig::verify(&s, expected, &pinned(&key), &policy()).is_ok());
    // XSW1: an evil request whose signature carries the genuine one in an Object.
    let (before, sig, after) = split(&s);
    let genuine = format!("{before}{after}");
    let evil = genuine
        .replace("SessionIndex>s1<", "SessionIndex>s2<")
        .replacen("ID=\"_lo1\"", "ID=\"_evil\"", 1);
    let xsw1 = evil.replacen(
        "</saml:Issuer>",
        &format!(
            "</saml:Issuer>{}",
            sig.replacen(
                "</ds:Signature>",
                &format!("<ds:Object>{genuine}</ds:Object></ds:Signature>"),
                1
            )
        ),
        1,
    );
    assert!(matches!(
        dsig::verify(&xsw1, expected, &pinned(&key), &policy()),
        Err(DsigError::UnexpectedElement(_))
    ));
    // Stripped, tampered, and signed by another key.
    assert!(matches!(
        dsig::verify(&genuine, expected, &pinned(&key), &policy()),
        Err(DsigError::Unsigned)
    ));
    assert!(matches!(
        dsig::verify(
            &s.replace(">s1<", ">s2<"),
            expected,
            &pinned(&key),
            &policy()
        ),
        Err(DsigError::Invalid)
    ));
    assert!(matches!(
        dsig::verify(&s, expected, &pinned(&other_key()), &policy()),
        Err(DsigError::Invalid)
    ));
}
