//! Property tests: the eIDAS readers never panic on arbitrary or mutated input, a mutated signed
//! message is never accepted with changed content, and `PersonIdentifier::parse` accepts exactly
//! its grammar.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod eidas_support;

use std::sync::OnceLock;

use eid_saml::dsig::SignatureAlg;
use eid_saml::eidas::{self, PeerMetadata, PersonIdentifier, SpType};
use eid_saml::enc::EncryptOptions;
use eidas_support::*;
use proptest::prelude::*;

const ALG: SignatureAlg = SignatureAlg::EcdsaSha256;

struct World {
    proxy: PeerMetadata,
    connector: PeerMetadata,
    proxy_signer: Signer,
    request: String,
    response: String,
    metadata: String,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let p = proxy_signer(ALG);
        let c = connector_signer(ALG);
        let metadata = proxy_metadata_out(&p)
            .to_signed_xml(&p.key, p.alg, &p.cert)
            .unwrap();
        World {
            proxy: peer(&proxy_metadata_out(&p), &p),
            connector: peer(&connector_metadata_out(&c, None), &c),
            request: request_out(Some(SpType::Public))
                .to_signed_xml(&c.key, c.alg, &c.cert)
                .unwrap(),
            response: signed_response(&success(), &p, false, EncryptOptions::default()),
            metadata,
            proxy_signer: p,
        }
    })
}

/// A mutation of `s`: a character replaced, a range deleted, or a fragment inserted, at a
/// position chosen by `at` (a fraction of the length).
fn mutate(s: &str, kind: u8, at: f64, len: usize, fragment: &str) -> String {
    let mut cut = ((s.len() as f64) * at) as usize;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut end = (cut + len).min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    match kind % 3 {
        0 => format!("{}{fragment}{}", &s[..cut], &s[cut..]),
        1 => format!("{}{}", &s[..cut], &s[end..]),
        _ => format!("{}{fragment}{}", &s[..cut], &s[end..]),
    }
}

fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("<".to_owned()),
        Just("\"".to_owned()),
        Just("&amp;".to_owned()),
        Just("<!---->".to_owned()),
        Just("<saml2:Assertion/>".to_owned()),
        Just("x".to_owned()),
        "[ -~]{0,16}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, .. ProptestConfig::default() })]

    #[test]
    fn person_identifier_parse_never_panics_and_accepts_only_its_grammar(s in "\\PC{0,300}") {
        if let Some(p) = PersonIdentifier::parse(&s) {
            prop_assert!(s.len() <= PersonIdentifier::MAX_CHARS);
            prop_assert_eq!(p.as_str(), s.as_str());
            prop_assert!(p.issuing_country().bytes().all(|b| b.is_ascii_uppercase()));
            prop_assert!(!s.chars().any(char::is_whitespace));
        }
    }

    #[test]
    fn well_formed_person_identifiers_are_accepted(
        from in "[A-Z]{2}", to in "[A-Z]{2}", id in "[!-~]{1,250}",
    ) {
        let p = PersonIdentifier::new(&from, &to, &id).unwrap();
        prop_assert_eq!(p.issuing_country(), from.as_str());
        prop_assert_eq!(p.destination_country(), to.as_str());
    }

    #[test]
    fn the_readers_never_panic_on_arbitrary_text(s in "\\PC{0,2000}") {
        let w = world();
        let _ = read_request(&s, &w.connector);
        let _ = read_response(&s, &w.proxy);
        let _ = eidas::read_metadata(&s, &w.proxy_signer.pinned(), &policy(), NOW);
        let _ = eidas::request_issuer(&s);
        let _ = eidas::response_issuer(&s);
    }

    #[test]
    fn a_mutated_request_is_refused_or_reads_as_the_original(
        kind in any::<u8>(), at in 0.0f64..1.0, len in 1usize..32, frag in fragment(),
    ) {
        let w = world();
        let original = read_request(&w.request, &w.connector).unwrap();
        let mutated = mutate(&w.request, kind, at, len, &frag);
        if let Ok(r) = read_request(&mutated, &w.connector) {
            prop_assert_eq!(r, original);
        }
    }

    #[test]
    fn a_mutated_response_is_refused_or_reads_as_the_original(
        kind in any::<u8>(), at in 0.0f64..1.0, len in 1usize..32, frag in fragment(),
    ) {
        let w = world();
        let original = read_response(&w.response, &w.proxy).unwrap();
        let mutated = mutate(&w.response, kind, at, len, &frag);
        if let Ok(r) = read_response(&mutated, &w.proxy) {
            prop_assert_eq!(r, original);
        }
    }

    #[test]
    fn mutated_metadata_is_refused_or_reads_as_the_original(
        kind in any::<u8>(), at in 0.0f64..1.0, len in 1usize..32, frag in fragment(),
    ) {
        let w = world();
        let anchor = w.proxy_signer.pinned();
        let original = eidas::read_metadata(&w.metadata, &anchor, &policy(), NOW).unwrap();
        let mutated = mutate(&w.metadata, kind, at, len, &frag);
        if let Ok(m) = eidas::read_metadata(&mutated, &anchor, &policy(), NOW) {
            prop_assert_eq!(m.entity_id, original.entity_id);
            prop_assert_eq!(m.role, original.role);
            prop_assert_eq!(m.node_country, original.node_country);
            prop_assert_eq!(m.valid_until, original.valid_until);
        }
    }
}
