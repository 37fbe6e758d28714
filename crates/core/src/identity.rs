//! A person as the broker knows them after an upstream login, in no protocol's terms.

use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

use crate::eidas::EidasIdentity;
use crate::loa::Loa;
use crate::person::Cpr;

/// A person's stable key at the broker: the upstream that vouched for them and its subject
/// identifier there. Relying parties never see it (their subject identifiers derive from it).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PersonKey {
    /// The upstream's configured name.
    pub upstream: String,
    /// The upstream's subject identifier (for the national authenticator: the person's UUID).
    pub subject: String,
}

impl PersonKey {
    /// The input of pairwise identifiers, `<upstream>:<subject>` (fixed: changing it would give every
    /// person a new identifier at every service).
    pub fn pairwise_input(&self) -> String {
        format!("{}:{}", self.upstream, self.subject)
    }
}

/// A successful login of a person, as the broker keeps it in the session.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// Who, stably.
    pub person: PersonKey,
    /// The key of the person's audit events, shared with the component that knows the person
    /// (the authenticator's person id, or one derived from the foreign identifier).
    pub audit_id: Uuid,
    /// The achieved level.
    pub loa: Loa,
    /// Authentication methods (RFC 8176 values).
    pub amr: Vec<String>,
    /// When the person authenticated (Unix seconds).
    pub auth_time: i64,
    /// CPR number, when the upstream released one.
    pub cpr: Option<Cpr>,
    /// The eIDAS identity (PersonIdentifier `XX/DK/…`, country, native names), for a foreign
    /// person from an `eu_eid` upstream only; such a person has no CPR number.
    #[serde(default)]
    pub eidas_id: Option<EidasIdentity>,
    /// Given name.
    pub given_name: Option<String>,
    /// Family name.
    pub family_name: Option<String>,
    /// Date of birth, `YYYY-MM-DD`.
    pub birthdate: Option<String>,
    /// The upstream's session id of this login (opaque): the hint of the upstream's logout.
    pub upstream_sid: Option<String>,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("person", &self.person)
            .field("audit_id", &self.audit_id)
            .field("loa", &self.loa)
            .field("amr", &self.amr)
            .field("auth_time", &self.auth_time)
            .field("cpr", &self.cpr.as_ref().map(|_| "[redacted]"))
            .field("eidas_id", &self.eidas_id)
            .field("names", &"[redacted]")
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// A test identity of `subject` at upstream `idp` at `loa`, authenticated at `auth_time`.
    pub fn for_test(subject: &str, loa: Loa, auth_time: i64) -> Identity {
        Identity {
            person: PersonKey {
                upstream: "idp".into(),
                subject: subject.into(),
            },
            audit_id: Uuid::nil(),
            loa,
            amr: vec!["pwd".into()],
            auth_time,
            cpr: None,
            eidas_id: None,
            given_name: None,
            family_name: None,
            birthdate: None,
            upstream_sid: None,
        }
    }
}
