//! The registry test harness: an in-memory SQLite (or a given) store with the demo-like persons,
//! a fixed clock, and helpers to log in, grant and look up.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use eid_core::{
    Access, AuditLog, Clock, Cpr, FixedClock, Identity, Loa, MandateLookup, Person, PersonKey,
    PersonRepository, PersonStatus, Scope, ServiceRef,
};
use eid_delegation::lookup::RegistryLookup;
use eid_delegation::registry::{
    AgentRef, Authenticated, GrantInput, Registry, RegistryDeps, RegistryError, RegistrySettings,
};
use eid_store::{MemoryEphemeral, SqlDurable};
use std::sync::Arc;
use time::macros::{date, datetime};
use time::{Date, Duration, OffsetDateTime};
use uuid::Uuid;

pub const RP: &str = "demo-rp";
pub const NOW: OffsetDateTime = datetime!(2026-06-10 12:00 UTC);

pub struct H {
    pub reg: Registry,
    pub db: SqlDurable,
    pub clock: FixedClock,
    pub lookup: RegistryLookup,
    pub karen: Person,
    pub anna: Person,
    pub mikkel: Person,
    pub erik: Person,
    pub ida: Person,
    pub peter: Person,
}

pub fn person(n: u8, name: &str, cpr: &str, birth: Date, competent: bool) -> Person {
    Person {
        id: Uuid::from_u128(0x6b0c_0000_0000_0000_0000_0000_0000_0000 + u128::from(n)),
        cpr: Cpr::parse(cpr).unwrap(),
        given_name: name.into(),
        family_name: "Jensen".into(),
        birthdate: birth,
        ial: Loa::Substantial,
        status: PersonStatus::Active,
        legally_competent: competent,
        user_id: None,
        created_at: NOW,
    }
}

pub async fn harness_on(db: SqlDurable, settings: RegistrySettings) -> H {
    let clock = FixedClock::new(NOW);
    let h = H {
        karen: person(1, "Karen", "1503459992", date!(1945 - 03 - 15), true),
        anna: person(2, "Anna", "0107709991", date!(1970 - 07 - 01), true),
        mikkel: person(3, "Mikkel", "2211009993", date!(2000 - 11 - 22), true),
        erik: person(4, "Erik", "0402559996", date!(1955 - 02 - 04), false),
        // Fifteen tomorrow.
        ida: person(5, "Ida", "1106119997", date!(2011 - 06 - 11), true),
        peter: person(6, "Peter", "0905859994", date!(1985 - 05 - 09), true),
        reg: Registry::new(
            settings,
            RegistryDeps {
                persons: Arc::new(db.clone()),
                store: Arc::new(db.clone()),
                drafts: Arc::new(MemoryEphemeral::new()),
                audit: Arc::new(db.clone()),
                clock: Arc::new(clock.clone()),
            },
        ),
        lookup: RegistryLookup::new(Arc::new(db.clone())),
        db,
        clock,
    };
    for p in [&h.karen, &h.anna, &h.mikkel, &h.erik, &h.ida, &h.peter] {
        h.db.upsert_person(p).await.unwrap();
    }
    h
}

pub async fn harness() -> H {
    harness_with(RegistrySettings::default()).await
}

pub async fn harness_with(settings: RegistrySettings) -> H {
    let db = SqlDurable::connect_and_migrate("sqlite::memory:")
        .await
        .unwrap();
    harness_on(db, settings).await
}

pub fn key(p: &Person) -> PersonKey {
    PersonKey {
        upstream: "idp".into(),
        subject: p.id.to_string(),
    }
}

impl H {
    /// A fresh login at Substantial, now.
    pub fn auth(&self, p: &Person) -> Authenticated {
        Authenticated {
            person: key(p),
            loa: Loa::Substantial,
            auth_time: self.clock.now(),
            acting_for: None,
        }
    }

    pub fn grant_to(&self, agent: &Person) -> GrantInput {
        GrantInput {
            agent: AgentRef::Person(agent.cpr.clone()),
            scopes: vec![Scope::service(RP).unwrap()],
            access: Access::Act,
            valid_from: None,
            valid_until: self.clock.now() + Duration::days(30),
        }
    }

    /// Karen gives `agent` a power of attorney for the demo service (prepare + confirm).
    pub async fn granted(&self, from: &Person, agent: &Person) -> eid_core::MandateId {
        let draft = self
            .reg
            .prepare_grant(&self.auth(from), self.grant_to(agent))
            .await
            .unwrap();
        self.reg
            .confirm(&self.auth(from), &draft.confirmation())
            .await
            .unwrap()
            .record
            .id
    }

    pub async fn usable(&self, agent: &Person, rp: &str) -> Vec<eid_core::Mandate> {
        let identity = Identity::for_test(&agent.id.to_string(), Loa::Substantial, 0);
        self.lookup
            .mandates(
                &identity,
                ServiceRef { id: rp, areas: &[] },
                self.clock.now(),
            )
            .await
            .unwrap()
    }

    /// The reasons of the refusals audited for `p`.
    pub async fn refusals(&self, p: &Person) -> Vec<String> {
        AuditLog::for_person(&self.db, p.id, 100)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.kind == "delegation.refused")
            .map(|e| e.details["reason"].as_str().unwrap().to_owned())
            .collect()
    }
}

pub fn is<T: std::fmt::Debug>(r: Result<T, RegistryError>, reason: &str) {
    match r {
        Err(e) => assert_eq!(e.reason(), reason, "{e}"),
        Ok(v) => panic!("expected {reason}, got {v:?}"),
    }
}
