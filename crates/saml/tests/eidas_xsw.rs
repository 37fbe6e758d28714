//! The signature-wrapping corpus of `xsw.rs` applied to eIDAS Responses and AuthnRequests through
//! `read_response` and `read_authn_request`: each mutation is refused by the signature layer (or
//! the safe parser) before any rule of the profile is looked at, while the untouched message and
//! the attacker's content signed properly are both accepted (so the refusal is the signature's).
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod eidas_support;

use eid_saml::dsig::SignatureAlg;
use eid_saml::eidas::{EidasError, EidasLoa, ResponseOutcome, SpType};
use eid_saml::enc::EncryptOptions;
use eidas_support::*;

const ALG: SignatureAlg = SignatureAlg::RsaPssSha256;

/// Splits a signed document (without declaration) into (before the signature, the signature,
/// after it).
fn split(signed: &str) -> (&str, &str, &str) {
    let start = signed.find("<ds:Signature").unwrap();
    let end = signed.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
    (&signed[..start], &signed[start..end], &signed[end..])
}

fn strip_decl(xml: &str) -> String {
    match xml.strip_prefix("<?xml") {
        Some(rest) => rest
            .split_once("?>")
            .map_or(xml, |(_, r)| r.trim_start())
            .to_owned(),
        None => xml.to_owned(),
    }
}

/// The wrapping corpus for a signed document whose root is `root` (a prefixed name) with `ID` =
/// `id`; `evil` turns the genuine unsigned content into the attacker's.
fn corpus(
    signed: &str,
    root: &str,
    id: &str,
    evil: &dyn Fn(&str) -> String,
) -> Vec<(String, String)> {
    let s = strip_decl(signed);
    let (before, sig, after) = split(&s);
    let genuine = format!("{before}{after}");
    let evil_doc = evil(&genuine).replacen(&format!("ID=\"{id}\""), "ID=\"_evil\"", 1);
    let evil_same_id = evil(&genuine);
    assert_ne!(
        evil_same_id, genuine,
        "the evil change must change something"
    );
    let with_object = sig.replacen(
        "</ds:Signature>",
        &format!("<ds:Object>{genuine}</ds:Object></ds:Signature>"),
        1,
    );
    let after_issuer = |doc: &str, insert: &str| {
        doc.replacen("</saml2:Issuer>", &format!("</saml2:Issuer>{insert}"), 1)
    };
    let local = root.split(':').nth(1).unwrap();
    let renamed = genuine
        .replace(&format!("<{root} "), "<saml2p:Wrapped ")
        .replace(&format!("</{root}>"), "</saml2p:Wrapped>");
    let mut cases = vec![
        ("stripped", genuine.clone()),
        (
            "XSW1 original in the signature's Object",
            after_issuer(&evil_doc, &with_object),
        ),
        (
            "XSW2 original beside the signature",
            after_issuer(&evil_doc, &format!("{genuine}{sig}")),
        ),
        (
            "original wrapped under another name in Extensions",
            after_issuer(
                &evil_doc,
                &format!("{sig}<saml2p:Extensions>{renamed}</saml2p:Extensions>"),
            ),
        ),
        (
            "evil content, signature kept",
            after_issuer(&evil_same_id, sig),
        ),
        (
            "evil keeps the ID, original in an Object",
            after_issuer(&evil_same_id, &with_object),
        ),
        (
            "signed original nested in the evil message",
            after_issuer(
                &evil_doc,
                &format!("<saml2p:Extensions>{s}</saml2p:Extensions>"),
            ),
        ),
        (
            "comment in the Issuer",
            s.replacen("</saml2:Issuer>", "<!---->.evil</saml2:Issuer>", 1),
        ),
        (
            "its ID carried by another element too",
            s.replacen(
                "</ds:Signature>",
                &format!("</ds:Signature><saml2p:Extensions><x ID=\"{id}\"/></saml2p:Extensions>"),
                1,
            ),
        ),
        (
            "reference to another element",
            s.replacen(&format!("URI=\"#{id}\""), "URI=\"#_other\"", 1),
        ),
        (
            "reference to the whole document",
            s.replacen(&format!("URI=\"#{id}\""), "URI=\"\"", 1),
        ),
        (
            "an Object in the signature",
            s.replacen("</ds:Signature>", "<ds:Object/></ds:Signature>", 1),
        ),
        ("two signatures", s.replacen(sig, &format!("{sig}{sig}"), 1)),
        ("a DOCTYPE", format!("<!DOCTYPE {local}>{s}")),
        (
            "an entity",
            format!(
                "<!DOCTYPE r [<!ENTITY x \"evil\">]>{}",
                s.replacen("</saml2:Issuer>", "&x;</saml2:Issuer>", 1)
            ),
        ),
        (
            "a SHA-1 digest",
            s.replacen(
                "http://www.w3.org/2001/04/xmlenc#sha256",
                "http://www.w3.org/2000/09/xmldsig#sha1",
                1,
            ),
        ),
        (
            "oversized",
            after_issuer(
                &s,
                &format!(
                    "<saml2p:Extensions>{}</saml2p:Extensions>",
                    " ".repeat(256 * 1024)
                ),
            ),
        ),
    ]
    .into_iter()
    .map(|(n, x)| (n.to_owned(), x))
    .collect::<Vec<_>>();
    cases.retain(|(_, x)| x != &s);
    assert_eq!(cases.len(), 17, "every mutation changed the document");
    cases
}

fn refused_by_signature_or_parser(name: &str, result: Result<impl std::fmt::Debug, EidasError>) {
    match result {
        Ok(v) => panic!("{name}: accepted: {v:?}"),
        Err(EidasError::Signature(_) | EidasError::Xml(_)) => {}
        Err(e) => panic!("{name}: refused by a later rule, not the signature: {e:?}"),
    }
}

#[test]
fn every_wrapping_of_a_response_is_refused() {
    let p = proxy_signer(ALG);
    let proxy = peer(&proxy_metadata_out(&p), &p);
    let genuine = signed_response(&success(), &p, false, EncryptOptions::default());
    assert!(read_response(&genuine, &proxy).is_ok());

    // The attacker's assertion: a valid one for the same request, for another person and level.
    let mut evil_assertion = assertion_out(attributes());
    evil_assertion.loa = EidasLoa::High;
    evil_assertion.name_id = "XA/DK/evil".into();
    evil_assertion.attributes[0] = attribute(
        eid_saml::eidas::PERSON_IDENTIFIER.name,
        vec![latin("XA/DK/evil")],
    );
    let evil_response = signed_response(
        &response_out(ResponseOutcome::Success(evil_assertion)),
        &stranger(ALG),
        false,
        EncryptOptions::default(),
    );
    let evil_part = encrypted_part(&evil_response);
    // Signed properly, the attacker's content is a valid Response: only the signature stops it.
    let properly = resign(&genuine, &p, |x| {
        replace(&x, &encrypted_part(&x), &evil_part)
    });
    assert!(read_response(&properly, &proxy).is_ok());

    let evil = |doc: &str| replace(doc, &encrypted_part(doc), &evil_part);
    for (name, xml) in corpus(&genuine, "saml2p:Response", RESPONSE_ID, &evil) {
        refused_by_signature_or_parser(&name, read_response(&xml, &proxy));
    }
}

#[test]
fn every_wrapping_of_an_authn_request_is_refused() {
    let c = connector_signer(ALG);
    let connector = peer(&connector_metadata_out(&c, None), &c);
    let genuine = request_out(Some(SpType::Public))
        .to_signed_xml(&c.key, c.alg, &c.cert)
        .unwrap();
    assert!(read_request(&genuine, &connector).is_ok());
    let evil = |doc: &str| replace(doc, "https://service.example.dk", "https://evil.example.dk");
    let properly = resign(&genuine, &c, |x| evil(&x));
    assert_eq!(
        read_request(&properly, &connector)
            .unwrap()
            .requester_id
            .as_deref(),
        Some("https://evil.example.dk")
    );
    for (name, xml) in corpus(&genuine, "saml2p:AuthnRequest", REQUEST_ID, &evil) {
        refused_by_signature_or_parser(&name, read_request(&xml, &connector));
    }
}
