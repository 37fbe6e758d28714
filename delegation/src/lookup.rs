//! [`MandateLookup`] over the registry's store: the broker's back-channel question "which mandates
//! may this person use at this service now?", answered by one indexed query
//! ([`DelegationRepository::usable`]). In the single binary it is an in-process call.

use async_trait::async_trait;
use eid_core::{
    DelegationRepository, Identity, Mandate, MandateLookup, Principal, ServiceRef, StoreError,
};
use std::sync::Arc;
use time::OffsetDateTime;

/// The registry as the broker's [`MandateLookup`].
#[derive(Clone)]
pub struct RegistryLookup {
    store: Arc<dyn DelegationRepository>,
}

impl std::fmt::Debug for RegistryLookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryLookup").finish_non_exhaustive()
    }
}

impl RegistryLookup {
    /// A lookup over `store`.
    pub fn new(store: Arc<dyn DelegationRepository>) -> RegistryLookup {
        RegistryLookup { store }
    }
}

#[async_trait]
impl MandateLookup for RegistryLookup {
    /// Powers of attorney give [`Principal::Person`]; business rights the agent's employer, and
    /// business powers (or powers of attorney) held by the employer for the service, when the
    /// agent holds a right covering it there, [`Principal::Organisation`] (or the person). Only
    /// active mandates within their validity at `at`; never one whose principal is the agent.
    async fn mandates(
        &self,
        agent: &Identity,
        service: ServiceRef<'_>,
        at: OffsetDateTime,
    ) -> Result<Vec<Mandate>, StoreError> {
        let mut found = self.store.usable(&agent.person, service, at).await?;
        found.retain(|m| {
            !matches!(&m.principal, Principal::Person { person, .. } if *person == agent.person)
                && m.valid_until.is_none_or(|until| at < until)
        });
        Ok(found)
    }
}

/// How long "no mandates for this person at this service" is remembered.
pub const NEGATIVE_TTL: std::time::Duration = std::time::Duration::from_secs(10);
/// The most answers remembered; when full, all are forgotten.
const NEGATIVE_MAX: usize = 100_000;

/// A [`MandateLookup`] that remembers, for [`NEGATIVE_TTL`], that a person holds no mandate at a
/// service, so that logins at a service accepting representation by the many who act for nobody
/// cost no registry query each. Only the absence of mandates is remembered: a mandate found is
/// never cached, and the re-check of a chosen mandate ([`MandateLookup::mandate`]) always asks the
/// registry, so a revocation still takes effect at once. A mandate that becomes usable is offered
/// at most [`NEGATIVE_TTL`] later.
pub struct CachedLookup {
    inner: Arc<dyn MandateLookup>,
    none_until: std::sync::Mutex<std::collections::HashMap<(String, String), std::time::Instant>>,
}

impl std::fmt::Debug for CachedLookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedLookup").finish_non_exhaustive()
    }
}

impl CachedLookup {
    /// A cache in front of `inner`.
    pub fn new(inner: Arc<dyn MandateLookup>) -> CachedLookup {
        CachedLookup {
            inner,
            none_until: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    fn key(agent: &Identity, service: ServiceRef<'_>) -> (String, String) {
        (agent.person.pairwise_input(), service.id.to_owned())
    }
}

#[async_trait]
impl MandateLookup for CachedLookup {
    async fn mandates(
        &self,
        agent: &Identity,
        service: ServiceRef<'_>,
        at: OffsetDateTime,
    ) -> Result<Vec<Mandate>, StoreError> {
        let key = Self::key(agent, service);
        let now = std::time::Instant::now();
        {
            let map = self.none_until.lock().unwrap_or_else(|p| p.into_inner());
            if map.get(&key).is_some_and(|until| now < *until) {
                return Ok(Vec::new());
            }
        }
        let found = self.inner.mandates(agent, service, at).await?;
        let mut map = self.none_until.lock().unwrap_or_else(|p| p.into_inner());
        if found.is_empty() {
            if map.len() >= NEGATIVE_MAX {
                map.clear();
            }
            map.insert(key, now + NEGATIVE_TTL);
        } else {
            map.remove(&key);
        }
        Ok(found)
    }

    async fn mandate(
        &self,
        agent: &Identity,
        id: &str,
        service: ServiceRef<'_>,
        at: OffsetDateTime,
    ) -> Result<Option<Mandate>, StoreError> {
        self.inner.mandate(agent, id, service, at).await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use eid_core::{Access, Loa, MandateKind, PersonKey};
    use std::sync::Mutex;

    /// Holds the mandates it is given and counts the questions.
    #[derive(Default)]
    struct Counting {
        held: Mutex<Vec<Mandate>>,
        asked: Mutex<u32>,
    }

    #[async_trait]
    impl MandateLookup for Counting {
        async fn mandates(
            &self,
            _agent: &Identity,
            _service: ServiceRef<'_>,
            _at: OffsetDateTime,
        ) -> Result<Vec<Mandate>, StoreError> {
            *self.asked.lock().unwrap() += 1;
            Ok(self.held.lock().unwrap().clone())
        }
    }

    fn mandate() -> Mandate {
        Mandate {
            id: "m1".into(),
            kind: MandateKind::PowerOfAttorney,
            principal: Principal::Person {
                person: PersonKey {
                    upstream: "idp".into(),
                    subject: "mother".into(),
                },
                cpr: None,
                name: "Mor".into(),
            },
            access: Access::Act,
            scopes: vec!["rp:rp".into()],
            privileges: Vec::new(),
            valid_until: None,
        }
    }

    #[tokio::test]
    async fn only_the_absence_of_mandates_is_remembered_and_the_recheck_always_asks() {
        let inner = Arc::new(Counting::default());
        let cached = CachedLookup::new(inner.clone());
        let anna = Identity::for_test("anna", Loa::Substantial, 0);
        let rp = ServiceRef {
            id: "rp",
            areas: &[],
        };
        let at = OffsetDateTime::now_utc();
        assert!(cached.mandates(&anna, rp, at).await.unwrap().is_empty());
        assert!(cached.mandates(&anna, rp, at).await.unwrap().is_empty());
        assert_eq!(*inner.asked.lock().unwrap(), 1, "the absence is remembered");
        let other = ServiceRef {
            id: "other",
            areas: &[],
        };
        cached.mandates(&anna, other, at).await.unwrap();
        assert_eq!(*inner.asked.lock().unwrap(), 2, "per service");

        // Found mandates are never remembered: a revocation shows at the next question.
        inner.held.lock().unwrap().push(mandate());
        let karen = Identity::for_test("karen", Loa::Substantial, 0);
        assert_eq!(cached.mandates(&karen, rp, at).await.unwrap().len(), 1);
        inner.held.lock().unwrap().clear();
        assert!(cached.mandates(&karen, rp, at).await.unwrap().is_empty());
        assert_eq!(*inner.asked.lock().unwrap(), 4);
        // The re-check of a chosen mandate always asks.
        inner.held.lock().unwrap().push(mandate());
        assert!(
            cached
                .mandate(&karen, "m1", rp, at)
                .await
                .unwrap()
                .is_some()
        );
        assert_eq!(*inner.asked.lock().unwrap(), 5);
    }
}
