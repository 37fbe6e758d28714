//! The demo data of the registry loads idempotently and gives the lookup what the demo shows.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use eid_core::{
    Clock, Cpr, FixedClock, Identity, Loa, MandateLookup, MandateState, Person, PersonKey,
    PersonRepository, PersonStatus, Principal, ServiceRef, SystemClock,
};
use eid_delegation::lookup::RegistryLookup;
use eid_delegation::registry::{Authenticated, Registry, RegistryDeps, RegistrySettings};
use eid_store::{MemoryEphemeral, SqlDurable};
use std::path::Path;
use std::sync::Arc;
use time::OffsetDateTime;
use uuid::Uuid;

/// The demo persons the registry's demo data names (ids and CPR numbers as in persons.toml).
fn demo_persons() -> Vec<Person> {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/demo/persons.toml"),
    )
    .unwrap();
    let file: toml::Value = toml::from_str(&text).unwrap();
    file["person"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| Person {
            id: Uuid::parse_str(p["id"].as_str().unwrap()).unwrap(),
            cpr: Cpr::parse(p["cpr"].as_str().unwrap()).unwrap(),
            given_name: p["given_name"].as_str().unwrap().into(),
            family_name: p["family_name"].as_str().unwrap().into(),
            birthdate: time::Date::parse(
                p["birthdate"].as_str().unwrap(),
                &time::macros::format_description!("[year]-[month]-[day]"),
            )
            .unwrap(),
            ial: Loa::Substantial,
            status: PersonStatus::Active,
            legally_competent: p
                .get("legally_competent")
                .and_then(toml::Value::as_bool)
                .unwrap_or(true),
            user_id: None,
            created_at: OffsetDateTime::UNIX_EPOCH,
        })
        .collect()
}

fn by_name<'a>(persons: &'a [Person], name: &str) -> &'a Person {
    persons.iter().find(|p| p.given_name == name).unwrap()
}

#[tokio::test]
async fn the_demo_data_loads_once_and_shows_each_state() {
    let db = SqlDurable::connect_and_migrate("sqlite::memory:")
        .await
        .unwrap();
    let persons = demo_persons();
    for p in &persons {
        db.upsert_person(p).await.unwrap();
    }
    assert!(
        persons
            .iter()
            .any(|p| !p.legally_competent && p.given_name == "Erik"),
        "an incompetent adult in the demo register"
    );
    let clock = FixedClock::new(SystemClock.now());
    let registry = Registry::new(
        RegistrySettings::default(),
        RegistryDeps {
            persons: Arc::new(db.clone()),
            store: Arc::new(db.clone()),
            drafts: Arc::new(MemoryEphemeral::new()),
            audit: Arc::new(db.clone()),
            clock: Arc::new(clock.clone()),
        },
    );
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/demo/delegation.toml");
    let first = eid_delegation::demo::load(&file, &registry).await.unwrap();
    assert_eq!((first.organisations, first.mandates), (1, 4));
    let again = eid_delegation::demo::load(&file, &registry).await.unwrap();
    assert_eq!(again.mandates, 0, "idempotent");

    let lookup = RegistryLookup::new(Arc::new(db.clone()));
    // The SAML demo service declares the area the demo mandates name; the OIDC demo service does
    // not, so the benchmarks' logins there meet no choice.
    let areas = ["housing-benefit".to_owned()];
    let service = ServiceRef {
        id: "http://localhost:8090/saml/metadata",
        areas: &areas,
    };
    let usable = |name: &str| {
        let p = by_name(&persons, name);
        let identity = Identity::for_test(&p.id.to_string(), Loa::Substantial, 0);
        let lookup = lookup.clone();
        let at = clock.now();
        async move { lookup.mandates(&identity, service, at).await.unwrap() }
    };
    let anna = usable("Anna").await;
    assert_eq!(anna.len(), 1);
    assert!(matches!(&anna[0].principal, Principal::Person { name, .. } if name == "Karen Jensen"));
    let peter = usable("Peter").await;
    assert!(
        matches!(&peter[0].principal, Principal::Organisation { cvr, .. } if cvr == "12345678")
    );
    assert!(usable("Mikkel").await.is_empty(), "pending and expired");
    let plain = ServiceRef {
        id: "demo-rp",
        areas: &[],
    };
    let anna_key = Identity::for_test(
        &by_name(&persons, "Anna").id.to_string(),
        Loa::Substantial,
        0,
    );
    assert!(
        lookup
            .mandates(&anna_key, plain, clock.now())
            .await
            .unwrap()
            .is_empty(),
        "nothing at the OIDC demo service"
    );

    let mikkel = by_name(&persons, "Mikkel");
    let held = registry
        .held(
            &Authenticated {
                person: PersonKey {
                    upstream: "idp".into(),
                    subject: mikkel.id.to_string(),
                },
                loa: Loa::Low,
                auth_time: clock.now(),
                acting_for: None,
            },
            10,
        )
        .await
        .unwrap();
    let mut states: Vec<_> = held.iter().map(|v| v.record.state).collect();
    states.sort_by_key(|s| s.as_str());
    assert_eq!(states, vec![MandateState::Expired, MandateState::Pending]);
}
