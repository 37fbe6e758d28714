//! Behaviour suite of the relying-party registry.

use eid_core::{RelyingPartyRepository, RpRegistration, SubjectType};
use serde_json::json;
use uuid::Uuid;

/// A registration with every field set away from its default.
fn full(client_id: &str) -> RpRegistration {
    RpRegistration {
        client_id: client_id.to_owned(),
        client_name: "Borgerservice Ærø 'quoted' \"name\" ✓".to_owned(),
        redirect_uris: vec![
            "https://rp.example/cb".to_owned(),
            "https://rp.example/cb?x=1&y=%20".to_owned(),
        ],
        post_logout_redirect_uris: vec!["https://rp.example/bye".to_owned()],
        backchannel_logout_uri: Some("https://rp.example/bcl".to_owned()),
        token_endpoint_auth_method: "private_key_jwt".to_owned(),
        client_secret_sha256: Some("ab".repeat(32)),
        jwks: Some(json!({
            "keys": [{
                "kty": "EC", "crv": "P-256", "kid": "k1", "use": "sig",
                "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
                "nested": {"n": 1.5, "b": true, "z": null, "list": [1, "two"]}
            }]
        })),
        sector: "sector-kommune".to_owned(),
        subject_type: SubjectType::Public,
        allowed_claims: vec!["cpr".to_owned(), "name".to_owned(), "birthdate".to_owned()],
        accepts_representation: true,
        requires_cpr: false,
        service_areas: Vec::new(),
        id_token_signed_response_alg: "PS256".to_owned(),
        grant_types: vec![
            "authorization_code".to_owned(),
            "refresh_token".to_owned(),
            "client_credentials".to_owned(),
        ],
        require_pushed_authorization_requests: true,
        offline_access: true,
    }
}

/// A registration with only the required fields and the defaults (also for other tests that need
/// any valid registration).
pub fn minimal(client_id: &str) -> RpRegistration {
    RpRegistration {
        client_id: client_id.to_owned(),
        client_name: "Minimal".to_owned(),
        redirect_uris: Vec::new(),
        post_logout_redirect_uris: Vec::new(),
        backchannel_logout_uri: None,
        token_endpoint_auth_method: "client_secret_basic".to_owned(),
        client_secret_sha256: None,
        jwks: None,
        sector: "sector-minimal".to_owned(),
        subject_type: SubjectType::Pairwise,
        allowed_claims: Vec::new(),
        accepts_representation: false,
        requires_cpr: false,
        service_areas: Vec::new(),
        id_token_signed_response_alg: "ES256".to_owned(),
        grant_types: vec!["authorization_code".to_owned()],
        require_pushed_authorization_requests: false,
        offline_access: false,
    }
}

/// This run's registrations among everything listed (the registry may be shared), in listed order.
async fn listed_own(repo: &dyn RelyingPartyRepository, prefix: &str) -> Vec<RpRegistration> {
    repo.relying_parties()
        .await
        .unwrap()
        .into_iter()
        .filter(|rp| rp.client_id.starts_with(prefix))
        .collect()
}

/// Everything [`RelyingPartyRepository`] promises: every field round-trips; upsert inserts or
/// replaces the whole registration; lookups are exact (case, odd characters, no wildcards); the
/// list is ordered by client id (bytewise, the same on every backend); delete says whether a
/// registration existed; concurrent upserts of one client id all succeed and one of them wins.
/// Uses random client ids and removes them at the end, so it can run repeatedly and concurrently.
pub async fn relying_party_repository_behaviour(repo: &dyn RelyingPartyRepository) {
    let prefix = format!("rp-{}-", Uuid::new_v4().simple());
    let id = |name: &str| format!("{prefix}{name}");

    // Nothing of this run yet.
    assert_eq!(repo.relying_party(&id("a")).await.unwrap(), None);
    assert!(!repo.delete_relying_party(&id("a")).await.unwrap());
    assert!(listed_own(repo, &prefix).await.is_empty());

    // Insert and read back, every field intact; upsert is idempotent.
    let a = full(&id("a"));
    repo.upsert_relying_party(&a).await.unwrap();
    assert_eq!(
        repo.relying_party(&a.client_id).await.unwrap(),
        Some(a.clone())
    );
    repo.upsert_relying_party(&a)
        .await
        .expect("upsert is idempotent");
    assert_eq!(
        repo.relying_party(&a.client_id).await.unwrap(),
        Some(a.clone())
    );

    // Upsert of an existing client id replaces the whole registration (no merging of fields).
    let a = RpRegistration {
        client_name: "Renamed".to_owned(),
        ..minimal(&a.client_id)
    };
    repo.upsert_relying_party(&a).await.unwrap();
    assert_eq!(
        repo.relying_party(&a.client_id).await.unwrap(),
        Some(a.clone())
    );
    assert_eq!(listed_own(repo, &prefix).await, vec![a.clone()]);

    // Lookups are exact: case matters, a prefix or a LIKE pattern matches nothing.
    assert_eq!(repo.relying_party(&id("A")).await.unwrap(), None);
    assert_eq!(repo.relying_party(&prefix).await.unwrap(), None);
    assert_eq!(repo.relying_party(&id("%")).await.unwrap(), None);
    assert_eq!(repo.relying_party(&id("_")).await.unwrap(), None);
    assert!(!repo.delete_relying_party(&id("A")).await.unwrap());
    assert!(!repo.delete_relying_party(&id("%")).await.unwrap());
    // An id no backend can store (PostgreSQL refuses NUL) is simply not there; storing it is
    // refused alike on every backend.
    assert_eq!(repo.relying_party(&id("a\0b")).await.unwrap(), None);
    assert_eq!(repo.relying_party("\0").await.unwrap(), None);
    assert!(!repo.delete_relying_party(&id("a\0b")).await.unwrap());
    assert!(
        repo.upsert_relying_party(&minimal(&id("a\0b")))
            .await
            .is_err()
    );

    // Odd client ids, including ones differing from others only in case, are distinct and listed in
    // bytewise order (upper case before `_` before lower case, ASCII before the rest).
    let odd = [
        "B",
        "_",
        "Z9",
        "A",
        "ä-ünïcødé",
        "鍵",
        "0",
        "with space",
        "quote'\"back\\slash",
        "%",
        "new\nline",
        "case",
        "CASE",
        "https://rp.example/path?q=1",
    ];
    for (i, name) in odd.iter().enumerate() {
        let rp = RpRegistration {
            client_name: format!("odd {i}"),
            ..full(&id(name))
        };
        repo.upsert_relying_party(&rp).await.unwrap();
    }
    for (i, name) in odd.iter().enumerate() {
        let stored = repo.relying_party(&id(name)).await.unwrap();
        assert_eq!(
            stored.map(|rp| rp.client_name),
            Some(format!("odd {i}")),
            "odd client id {name:?}"
        );
    }
    let listed = listed_own(repo, &prefix).await;
    let listed_ids: Vec<&str> = listed.iter().map(|rp| rp.client_id.as_str()).collect();
    let mut expected_ids: Vec<String> = odd.iter().map(|name| id(name)).collect();
    expected_ids.push(a.client_id.clone());
    expected_ids.sort();
    assert_eq!(
        listed_ids, expected_ids,
        "listed in bytewise client id order"
    );
    assert_eq!(
        listed.iter().find(|rp| rp.client_id == a.client_id),
        Some(&a),
        "the list holds whole registrations"
    );

    // Delete: true once, then false; only that registration goes.
    assert!(repo.delete_relying_party(&id("case")).await.unwrap());
    assert!(!repo.delete_relying_party(&id("case")).await.unwrap());
    assert_eq!(repo.relying_party(&id("case")).await.unwrap(), None);
    assert!(repo.relying_party(&id("CASE")).await.unwrap().is_some());
    let listed = listed_own(repo, &prefix).await;
    assert_eq!(listed.len(), expected_ids.len() - 1);
    assert!(listed.iter().all(|rp| rp.client_id != id("case")));
    // A deleted client id can be registered again.
    let again = minimal(&id("case"));
    repo.upsert_relying_party(&again).await.unwrap();
    assert_eq!(
        repo.relying_party(&again.client_id).await.unwrap(),
        Some(again)
    );

    // Concurrent upserts of one new client id (as from several nodes): all succeed, one wins.
    let raced = id("raced");
    let variant = |n: u32| RpRegistration {
        client_name: format!("racer {n}"),
        ..full(&raced)
    };
    let racers = [0, 1, 2, 3, 4, 5].map(variant);
    let [v0, v1, v2, v3, v4, v5] = &racers;
    let (r0, r1, r2, r3, r4, r5) = tokio::join!(
        repo.upsert_relying_party(v0),
        repo.upsert_relying_party(v1),
        repo.upsert_relying_party(v2),
        repo.upsert_relying_party(v3),
        repo.upsert_relying_party(v4),
        repo.upsert_relying_party(v5),
    );
    for (n, result) in [r0, r1, r2, r3, r4, r5].into_iter().enumerate() {
        result.unwrap_or_else(|e| panic!("racing upsert {n}: {e:?}"));
    }
    let winner = repo.relying_party(&raced).await.unwrap().expect("stored");
    assert!(racers.contains(&winner), "{winner:?}");

    // Clean up, so a shared registry does not grow with every run.
    for rp in listed_own(repo, &prefix).await {
        assert!(repo.delete_relying_party(&rp.client_id).await.unwrap());
    }
    assert!(listed_own(repo, &prefix).await.is_empty());
}
