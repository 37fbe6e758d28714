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
