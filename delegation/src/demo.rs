//! The registry's demo data (`config/demo/delegation.toml`): organisations with their first
//! administrator, employees' rights and powers of attorney in several states. Loaded at demo
//! start, idempotently. Demo data is seeded, not granted: it skips the sign step and the
//! notifications (an expired one is written expired through [`Registry::expire_due`], audited).

use eid_core::{
    Access, Author, Cpr, Cvr, MandateId, MandateKind, MandateRecord, MandateState, Organisation,
    Party, Privilege, Scope, StoreError,
};
use serde::Deserialize;
use std::path::Path;
use time::Duration;

use crate::registry::{Registry, RegistryError};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DemoFile {
    #[serde(default)]
    organisation: Vec<DemoOrganisation>,
    #[serde(default)]
    right: Vec<DemoRight>,
    #[serde(default)]
    power_of_attorney: Vec<DemoPower>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DemoOrganisation {
    cvr: Cvr,
    name: String,
    administrator: Cpr,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DemoRight {
    id: MandateId,
    organisation: Cvr,
    employee: Cpr,
    scopes: Vec<String>,
    #[serde(default)]
    privileges: Vec<Privilege>,
    access: Access,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DemoPower {
    id: MandateId,
    principal: Cpr,
    agent: Cpr,
    scopes: Vec<String>,
    access: Access,
    state: MandateState,
    /// Days from now to its end; negative for one that has run out.
    valid_days: i64,
}

/// Why the demo data could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid demo data.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The registry refused or failed.
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

/// What was loaded.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DemoLoaded {
    /// Organisations upserted.
    pub organisations: usize,
    /// Mandates newly inserted (not counting those already there).
    pub mandates: usize,
}

/// Loads the registry's demo data from `path` (see the module doc).
pub async fn load(path: &Path, registry: &Registry) -> Result<DemoLoaded, DemoError> {
    let shown = path.display().to_string();
    let invalid = |message: String| DemoError::Invalid {
        path: shown.clone(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|source| DemoError::Read {
        path: shown.clone(),
        source,
    })?;
    let file: DemoFile = toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
    let scopes = |keys: &[String]| -> Result<Vec<Scope>, DemoError> {
        keys.iter()
            .map(|k| Scope::from_key(k).map_err(|e| invalid(format!("scope {k:?}: {e}"))))
            .collect()
    };
    let now = registry.now();
    let mut loaded = DemoLoaded::default();
    for org in &file.organisation {
        let organisation = Organisation {
            cvr: org.cvr.clone(),
            name: org.name.clone(),
            created_at: now,
        };
        registry
            .register_organisation(&organisation, &org.administrator)
            .await?;
        loaded.organisations += 1;
    }
    let store = registry.store();
    let mut records = Vec::new();
    for r in &file.right {
        let org = store
            .organisation(&r.organisation)
            .await
            .map_err(RegistryError::from)?
            .ok_or_else(|| invalid(format!("right {}: unknown organisation", r.id)))?;
        let (_, employee) = registry.person_by_cpr(&r.employee).await?;
        records.push(MandateRecord {
            id: r.id,
            kind: MandateKind::BusinessRight,
            principal: Party::Organisation(org.as_ref()),
            agent: Party::Person(employee),
            scopes: scopes(&r.scopes)?,
            privileges: r.privileges.clone(),
            access: r.access,
            administrator: false,
            valid_from: now,
            valid_until: None,
            state: MandateState::Active,
            created_at: now,
            revision: 1,
        });
    }
    for p in &file.power_of_attorney {
        let (_, principal) = registry.person_by_cpr(&p.principal).await?;
        let (_, agent) = registry.person_by_cpr(&p.agent).await?;
        let until = now + Duration::days(p.valid_days);
        let from = if p.valid_days > 0 {
            now
        } else {
            until - Duration::days(30)
        };
        records.push(MandateRecord {
            id: p.id,
            kind: MandateKind::PowerOfAttorney,
            principal: Party::Person(principal),
            agent: Party::Person(agent),
            scopes: scopes(&p.scopes)?,
            privileges: Vec::new(),
            access: p.access,
            administrator: false,
            valid_from: from,
            valid_until: Some(until),
            state: p.state,
            created_at: from,
            revision: 1,
        });
    }
    for m in records {
        let by = match &m.principal {
            Party::Person(p) => Some(Author {
                key: p.key.clone(),
                name: p.name.clone(),
            }),
            Party::Organisation(_) => None,
        };
        match store.insert_mandate(&m, by.as_ref(), &[]).await {
            Ok(()) => loaded.mandates += 1,
            Err(StoreError::Conflict(_)) => {}
            Err(e) => return Err(RegistryError::from(e).into()),
        }
    }
    registry.expire_due(1000).await?;
    Ok(loaded)
}
