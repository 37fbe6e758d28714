//! The "sign" step: a grant is made only from an explicit confirmation of exactly what is
//! granted. [`Registry::prepare_grant`](super::Registry::prepare_grant) (or `prepare_approval`)
//! checks everything and returns a [`GrantDraft`], which waits in the ephemeral store; the portal
//! shows it and submits back its [`Confirmation`] (the draft's id and digest). The digest is a
//! SHA-256 over every field shown, so a confirmation of anything other than what was prepared
//! (another agent, scope, period, or a draft of another person) matches nothing.

use eid_core::{Access, MandateId, Party, RegisteredPerson, Scope};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// What a grant (or the approval of a request) will create, as shown to the grantor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantDraft {
    /// The id the mandate will have (for an approval: the request's id).
    pub id: MandateId,
    /// For an approval: the revision of the request approved (it must not have changed).
    pub approves_revision: Option<i64>,
    /// The grantor (the caller).
    pub principal: RegisteredPerson,
    /// Who will hold it.
    pub agent: Party,
    /// What it covers.
    pub scopes: Vec<Scope>,
    /// Read or act.
    pub access: Access,
    /// From when.
    #[serde(with = "time::serde::rfc3339")]
    pub valid_from: OffsetDateTime,
    /// Until when (exclusive).
    #[serde(with = "time::serde::rfc3339")]
    pub valid_until: OffsetDateTime,
    /// Whether it will wait for the agent's acceptance (else it is active at once).
    pub needs_acceptance: bool,
    /// When it was prepared.
    #[serde(with = "time::serde::rfc3339")]
    pub prepared_at: OffsetDateTime,
    /// Hex SHA-256 over all the fields above (see [`GrantDraft::compute_digest`]).
    pub digest: String,
}

impl GrantDraft {
    /// The digest of the draft's content (every field but `digest`).
    pub fn compute_digest(&self) -> String {
        let body = GrantDraft {
            digest: String::new(),
            ..self.clone()
        };
        // Serialising plain data with string keys cannot fail; an empty body would match nothing.
        let json = serde_json::to_vec(&body).unwrap_or_default();
        let d = ring::digest::digest(&ring::digest::SHA256, &json);
        data_encoding::HEXLOWER.encode(d.as_ref())
    }

    /// What the portal submits to confirm this draft.
    pub fn confirmation(&self) -> Confirmation {
        Confirmation {
            draft: self.id,
            digest: self.digest.clone(),
        }
    }

    /// The ephemeral-store key of a draft.
    pub(super) fn key(id: MandateId) -> String {
        format!("delegation:draft:{id}")
    }
}

/// The confirmation of a draft, as submitted by the portal or the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    /// The draft's id.
    pub draft: MandateId,
    /// The draft's digest as shown.
    pub digest: String,
}

impl Confirmation {
    /// Parses the two form fields: a hyphenated UUID and 64 lower-case hex digits.
    pub fn parse(draft: &str, digest: &str) -> Option<Confirmation> {
        let ok = digest.len() == 64
            && digest
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        Some(Confirmation {
            draft: MandateId::parse(draft)?,
            digest: ok.then(|| digest.to_owned())?,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn confirmation_parse_never_panics_and_keeps_only_well_formed(
            id in "\\PC{0,40}", digest in "[0-9a-fA-Fx]{0,70}"
        ) {
            if let Some(c) = Confirmation::parse(&id, &digest) {
                prop_assert_eq!(c.digest.len(), 64);
                prop_assert_eq!(c.draft.to_string(), id);
            }
        }
    }

    #[test]
    fn a_confirmation_is_a_uuid_and_a_sha256() {
        let id = MandateId::new();
        let d = "a".repeat(64);
        assert!(Confirmation::parse(&id.to_string(), &d).is_some());
        assert!(Confirmation::parse(&id.to_string(), &"A".repeat(64)).is_none());
        assert!(Confirmation::parse(&id.to_string(), &"a".repeat(63)).is_none());
        assert!(Confirmation::parse("not-a-uuid", &d).is_none());
    }
}
