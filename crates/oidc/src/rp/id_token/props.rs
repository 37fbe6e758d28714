//! Property tests of the upstream ID token's parsers: whatever the upstream (or someone in its
//! place) sends, nothing panics, only a token signed by a published key verifies, and only claims
//! that meet every rule pass.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proptest::prelude::*;
use std::sync::OnceLock;

use super::*;

fn key() -> &'static eid_keys::SigningKey {
    static KEY: OnceLock<eid_keys::SigningKey> = OnceLock::new();
    KEY.get_or_init(|| {
        let pem = eid_keys::generate_pem(eid_keys::Alg::ES256, 0).expect("key");
        eid_keys::SigningKey::from_pem(pem.as_bytes(), eid_keys::Alg::ES256).expect("key")
    })
}

fn keys() -> JwksKeys {
    JwksKeys::from_json(&serde_json::json!({ "keys": [key().public_jwk()] }))
}

fn b64(s: &str) -> String {
    URL_SAFE_NO_PAD.encode(s.as_bytes())
}

/// JSON values of a few levels, for headers, claims and JWKS documents.
fn json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        prop_oneof![
            "[ -~]{0,12}",
            Just("ES256".to_owned()),
            Just("EC".to_owned()),
            Just("P-256".to_owned())
        ]
        .prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            proptest::collection::btree_map(
                prop_oneof![
                    "[a-z]{1,4}",
                    Just("alg".to_owned()),
                    Just("kid".to_owned()),
                    Just("keys".to_owned()),
                    Just("kty".to_owned()),
                    Just("crv".to_owned()),
                    Just("x".to_owned()),
                    Just("y".to_owned()),
                    Just("n".to_owned()),
                    Just("e".to_owned()),
                ],
                inner,
                0..5
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any text, and any three parts of encoded JSON, are refused without a panic.
    #[test]
    fn forged_tokens_never_verify(
        text in ".{0,200}",
        header in json(),
        claims in json(),
        signature in "[A-Za-z0-9_-]{0,90}",
    ) {
        let keys = keys();
        prop_assert!(verify_signature(&text, &keys).is_err());
        let token = format!("{}.{}.{signature}", b64(&header.to_string()), b64(&claims.to_string()));
        prop_assert!(verify_signature(&token, &keys).is_err());
    }

    /// A genuine token verifies; changing any one character of it makes it fail.
    #[test]
    fn a_genuine_token_verifies_and_any_change_is_refused(
        sub in "[a-z0-9-]{1,36}",
        at in any::<prop::sample::Index>(),
        replacement in "[A-Za-z0-9_.-]",
    ) {
        let claims = serde_json::json!({
            "iss": "https://idp.example", "sub": sub, "aud": "broker", "exp": 2, "iat": 1,
        });
        let token = key().sign_claims(Some("JWT"), &claims).unwrap();
        prop_assert_eq!(verify_signature(&token, &keys()).unwrap().sub, sub);
        let i = at.index(token.len());
        if token[i..].chars().next() != replacement.chars().next() {
            let tampered = format!("{}{replacement}{}", &token[..i], &token[i + 1..]);
            prop_assert!(verify_signature(&tampered, &keys()).is_err(), "{}", tampered);
        }
    }

    /// Any JWKS document is read without a panic, and never yields more keys than it lists.
    #[test]
    fn any_jwks_document_is_read_safely(doc in json(), entries in proptest::collection::vec(json(), 0..4)) {
        let listed_in_doc = doc.get("keys").and_then(|k| k.as_array()).map_or(0, Vec::len);
        prop_assert!(JwksKeys::from_json(&doc).len() <= listed_in_doc);
        let listed = serde_json::json!({ "keys": entries });
        prop_assert!(JwksKeys::from_json(&listed).len() <= entries.len());
    }

    /// Claims pass exactly when no rule is broken: each of issuer, audience, expiry, issue time,
    /// nonce and level is either right or spoiled with an arbitrary wrong value.
    #[test]
    fn claims_pass_exactly_when_every_rule_holds(
        iss in proptest::option::of("[ -~]{0,20}"),
        aud in proptest::option::of("[a-z]{0,8}"),
        expired_by in proptest::option::of(60i64..100_000),
        issued_ahead_by in proptest::option::of(61i64..100_000),
        nonce in proptest::option::of(proptest::option::of("[a-z0-9-]{0,6}")),
        acr in proptest::option::of(proptest::option::of(prop_oneof![
            Just("https://data.gov.dk/concept/core/nsis/loa/Low".to_owned()),
            "[ -~]{0,20}",
        ])),
    ) {
        let now = 1_800_000_000;
        let iss = iss.filter(|i| i != "https://idp.example");
        let aud = aud.filter(|a| a != "broker");
        let nonce = nonce.filter(|n| n.as_deref() != Some("n-1"));
        let acr = acr.filter(|a| a.as_deref().and_then(|v| Loa::parse(v).ok()).is_none_or(|l| l < Loa::Substantial));
        let spoiled = iss.is_some() || aud.is_some() || expired_by.is_some()
            || issued_ahead_by.is_some() || nonce.is_some() || acr.is_some();
        let claims = IdTokenClaims {
            iss: iss.unwrap_or_else(|| "https://idp.example".into()),
            sub: "s".into(),
            aud: Audience::One(aud.unwrap_or_else(|| "broker".into())),
            azp: None,
            exp: expired_by.map_or(now + 300, |by| now - by),
            iat: issued_ahead_by.map_or(now, |by| now + by),
            nbf: None,
            auth_time: Some(now - 10),
            nonce: nonce.unwrap_or_else(|| Some("n-1".into())),
            acr: acr.unwrap_or_else(|| {
                Some("https://data.gov.dk/concept/core/nsis/loa/Substantial".into())
            }),
            amr: vec![],
            cpr: None,
            given_name: None,
            family_name: None,
            birthdate: None,
            sid: None,
            eidas: Default::default(),
        };
        let expected = Expected {
            issuer: "https://idp.example",
            client_id: "broker",
            nonce: "n-1",
            acr_min: Some(Loa::Substantial),
            max_age: None,
            now,
        };
        prop_assert_eq!(check_claims(&claims, &expected).is_ok(), !spoiled, "{:?}", claims);
    }
}
