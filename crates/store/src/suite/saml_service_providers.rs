//! Behaviour suite of the SAML service-provider registry.

use eid_core::saml_registration::MAX_SAML_METADATA_BYTES;
use eid_core::{MetadataUrl, SamlServiceProviderRepository, SamlSpRegistration, StoredSamlSp};
use time::OffsetDateTime;
use uuid::Uuid;

/// A registration with every field set away from its default.
fn full(entity_id: &str) -> SamlSpRegistration {
    SamlSpRegistration {
        entity_id: entity_id.to_owned(),
        name: "Borgerservice Ærø 'quoted' \"name\" ✓".to_owned(),
        sector: "sector-kommune".to_owned(),
        release: vec!["cpr".to_owned(), "name".to_owned()],
        aes_cbc: true,
        accepts_representation: true,
        requires_cpr: false,
        service_areas: vec!["housing-benefit".to_owned()],
        metadata: format!(
            "<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" \
             entityID=\"{}\">\n  <!-- ünïcødé & \"quotes\" -->\n</md:EntityDescriptor>",
            entity_id.replace('"', "&quot;")
        ),
        metadata_url: Some(MetadataUrl {
            url: "https://sp.example.dk/metadata?x=1&y=%20".to_owned(),
            anchor_certificate: Some(
                "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".to_owned(),
            ),
            refresh_interval_secs: 3600,
            fetched_at: Some(
                OffsetDateTime::from_unix_timestamp_nanos(1_767_225_600_123_456_789)
                    .expect("a time"),
            ),
            last_error: Some("the signature does not verify".to_owned()),
        }),
    }
}

/// A registration with only the required fields and the defaults.
fn minimal(entity_id: &str) -> SamlSpRegistration {
    SamlSpRegistration {
        entity_id: entity_id.to_owned(),
        name: "Minimal".to_owned(),
        sector: "sector-minimal".to_owned(),
        release: Vec::new(),
        aes_cbc: false,
        accepts_representation: false,
        requires_cpr: false,
        service_areas: Vec::new(),
        metadata: "<EntityDescriptor/>".to_owned(),
        metadata_url: None,
    }
}

/// This run's registrations among everything listed (the registry may be shared), in listed order.
async fn listed_own(repo: &dyn SamlServiceProviderRepository, prefix: &str) -> Vec<StoredSamlSp> {
    repo.saml_sps()
        .await
        .unwrap()
        .into_iter()
        .filter(|sp| sp.registration.entity_id.starts_with(prefix))
        .collect()
}

async fn stored(repo: &dyn SamlServiceProviderRepository, entity_id: &str) -> StoredSamlSp {
    repo.saml_sp(entity_id).await.unwrap().expect("stored")
}

/// Everything [`SamlServiceProviderRepository`] promises: every field round-trips; upsert inserts
/// at revision 1 or replaces the whole registration and counts the revision up; a conditional
/// replace writes only over the revision it names (never a deleted or missing one), and of
/// concurrent replaces over one revision exactly one wins; lookups are exact; the list is ordered
/// by entity ID (bytewise); oversized metadata and unstorable ids are refused alike; delete says
/// whether a registration existed. Uses random entity IDs and removes them at the end, so it can
/// run repeatedly and concurrently.
pub async fn saml_service_provider_repository_behaviour(repo: &dyn SamlServiceProviderRepository) {
    let prefix = format!("https://sp-{}.example.dk/", Uuid::new_v4().simple());
    let id = |name: &str| format!("{prefix}{name}");

    // Nothing of this run yet.
    assert_eq!(repo.saml_sp(&id("a")).await.unwrap(), None);
    assert!(!repo.delete_saml_sp(&id("a")).await.unwrap());
    assert!(listed_own(repo, &prefix).await.is_empty());
    // A conditional replace never creates a registration.
    assert!(!repo.replace_saml_sp(&full(&id("a")), 0).await.unwrap());
    assert!(!repo.replace_saml_sp(&full(&id("a")), 1).await.unwrap());
    assert_eq!(repo.saml_sp(&id("a")).await.unwrap(), None);

    // Insert and read back, every field intact, at revision 1, stamped now.
    let before = OffsetDateTime::now_utc() - time::Duration::seconds(1);
    let a = full(&id("a"));
    repo.upsert_saml_sp(&a).await.unwrap();
    let first = stored(repo, &a.entity_id).await;
    assert_eq!(first.registration, a);
    assert_eq!(first.revision, 1);
    assert!(first.updated_at >= before, "{:?}", first.updated_at);
    assert!(first.updated_at <= OffsetDateTime::now_utc() + time::Duration::seconds(1));

    // Upsert replaces the whole registration (no merging of fields) and counts up.
    let a = SamlSpRegistration {
        name: "Renamed".to_owned(),
        ..minimal(&a.entity_id)
    };
    repo.upsert_saml_sp(&a).await.unwrap();
    let second = stored(repo, &a.entity_id).await;
    assert_eq!(second.registration, a);
    assert_eq!(second.revision, 2);
    assert_eq!(listed_own(repo, &prefix).await, vec![second.clone()]);

    // A replace over a stale revision changes nothing; over the current one it replaces.
    let refreshed = SamlSpRegistration {
        metadata: "<refreshed/>".to_owned(),
        ..a.clone()
    };
    assert!(!repo.replace_saml_sp(&refreshed, 1).await.unwrap());
    assert!(!repo.replace_saml_sp(&refreshed, 3).await.unwrap());
    assert_eq!(stored(repo, &a.entity_id).await, second);
    assert!(repo.replace_saml_sp(&refreshed, 2).await.unwrap());
    let third = stored(repo, &a.entity_id).await;
    assert_eq!(third.registration, refreshed);
    assert_eq!(third.revision, 3);
    assert!(!repo.replace_saml_sp(&a, 2).await.unwrap(), "used once");

    // Lookups are exact: case matters, a prefix or a LIKE pattern matches nothing.
    assert_eq!(repo.saml_sp(&id("A")).await.unwrap(), None);
    assert_eq!(repo.saml_sp(&prefix).await.unwrap(), None);
    assert_eq!(repo.saml_sp(&id("%")).await.unwrap(), None);
    assert_eq!(repo.saml_sp(&id("_")).await.unwrap(), None);
    assert!(!repo.delete_saml_sp(&id("%")).await.unwrap());
    // An id no backend can store (PostgreSQL refuses NUL) is not there; storing it is refused.
    assert_eq!(repo.saml_sp(&id("a\0b")).await.unwrap(), None);
    assert!(!repo.delete_saml_sp(&id("a\0b")).await.unwrap());
    assert!(repo.upsert_saml_sp(&minimal(&id("a\0b"))).await.is_err());
    assert!(
        repo.replace_saml_sp(&minimal(&id("a\0b")), 1)
            .await
            .is_err()
    );

    // Metadata up to the bound is kept byte for byte; one byte more is refused, even by a replace.
    let mut big = minimal(&id("big"));
    big.metadata = "x".repeat(MAX_SAML_METADATA_BYTES);
    repo.upsert_saml_sp(&big).await.unwrap();
    assert_eq!(stored(repo, &big.entity_id).await.registration, big);
    let mut too_big = big.clone();
    too_big.metadata.push('x');
    assert!(repo.upsert_saml_sp(&too_big).await.is_err());
    assert!(repo.replace_saml_sp(&too_big, 1).await.is_err());
    assert_eq!(stored(repo, &big.entity_id).await.registration, big);

    // Odd entity IDs are distinct and listed in bytewise order.
    let odd = [
        "B",
        "_",
        "A",
        "ä-ünïcødé",
        "鍵",
        "with space",
        "quote'\"back\\slash",
        "%",
        "new\nline",
        "case",
        "CASE",
        "path?q=1&r=2",
    ];
    for (i, name) in odd.iter().enumerate() {
        let sp = SamlSpRegistration {
            name: format!("odd {i}"),
            ..full(&id(name))
        };
        repo.upsert_saml_sp(&sp).await.unwrap();
    }
    for (i, name) in odd.iter().enumerate() {
        let found = repo.saml_sp(&id(name)).await.unwrap();
        assert_eq!(
            found.map(|sp| sp.registration.name),
            Some(format!("odd {i}")),
            "odd entity ID {name:?}"
        );
    }
    let listed = listed_own(repo, &prefix).await;
    let listed_ids: Vec<&str> = listed
        .iter()
        .map(|sp| sp.registration.entity_id.as_str())
        .collect();
    let mut expected_ids: Vec<String> = odd.iter().map(|name| id(name)).collect();
    expected_ids.push(a.entity_id.clone());
    expected_ids.push(big.entity_id.clone());
    expected_ids.sort();
    assert_eq!(
        listed_ids, expected_ids,
        "listed in bytewise entity ID order"
    );

    // Delete: true once, then false; only that registration goes; a replace cannot revive it.
    assert!(repo.delete_saml_sp(&id("case")).await.unwrap());
    assert!(!repo.delete_saml_sp(&id("case")).await.unwrap());
    assert_eq!(repo.saml_sp(&id("case")).await.unwrap(), None);
    assert!(!repo.replace_saml_sp(&full(&id("case")), 1).await.unwrap());
    assert_eq!(repo.saml_sp(&id("case")).await.unwrap(), None);
    assert!(repo.saml_sp(&id("CASE")).await.unwrap().is_some());
    // A deleted entity ID can be registered again, from revision 1.
    repo.upsert_saml_sp(&minimal(&id("case"))).await.unwrap();
    assert_eq!(stored(repo, &id("case")).await.revision, 1);

    // Concurrent replaces over one revision (as two nodes refreshing at once): exactly one wins.
    let raced = id("raced");
    repo.upsert_saml_sp(&minimal(&raced)).await.unwrap();
    let variant = |n: u32| SamlSpRegistration {
        name: format!("racer {n}"),
        ..full(&raced)
    };
    let racers = [0, 1, 2, 3, 4, 5].map(variant);
    let [v0, v1, v2, v3, v4, v5] = &racers;
    let (r0, r1, r2, r3, r4, r5) = tokio::join!(
        repo.replace_saml_sp(v0, 1),
        repo.replace_saml_sp(v1, 1),
        repo.replace_saml_sp(v2, 1),
        repo.replace_saml_sp(v3, 1),
        repo.replace_saml_sp(v4, 1),
        repo.replace_saml_sp(v5, 1),
    );
    let won: Vec<bool> = [r0, r1, r2, r3, r4, r5]
        .into_iter()
        .map(|r| r.expect("a racing replace"))
        .collect();
    assert_eq!(won.iter().filter(|w| **w).count(), 1, "{won:?}");
    let winner = stored(repo, &raced).await;
    assert_eq!(winner.revision, 2);
    let n = won.iter().position(|w| *w).unwrap_or_default();
    assert_eq!(winner.registration, racers[n]);

    // Concurrent upserts all succeed and each counts the revision.
    let (u0, u1, u2) = tokio::join!(
        repo.upsert_saml_sp(v0),
        repo.upsert_saml_sp(v1),
        repo.upsert_saml_sp(v2),
    );
    for result in [u0, u1, u2] {
        result.expect("a racing upsert");
    }
    assert_eq!(stored(repo, &raced).await.revision, 5);

    // Clean up, so a shared registry does not grow with every run.
    for sp in listed_own(repo, &prefix).await {
        assert!(
            repo.delete_saml_sp(&sp.registration.entity_id)
                .await
                .unwrap()
        );
    }
    assert!(listed_own(repo, &prefix).await.is_empty());
}
