//! Acting on behalf of someone, in no protocol's terms: which mandates the registry's answer may
//! offer (bounded, well formed), the person's choice on the "Who are you acting for?" page, and the
//! re-check of a chosen mandate before anything is released under it.

use eid_core::{Identity, Mandate, MandateLookup, Principal, ServiceRef, StoreError};
use time::OffsetDateTime;

use eid_core::RelyingParty;

/// The longest mandate id the broker accepts (from the registry and in the choice form).
pub const MAX_MANDATE_ID: usize = 128;
/// The most mandates one choice page offers.
pub const MAX_OFFERED: usize = 20;
/// The most privileges of one mandate the broker passes on.
pub const MAX_PRIVILEGES: usize = 32;
/// The longest privilege URI, scope or name passed on.
pub const MAX_VALUE: usize = 256;

/// Whether `s` is a short printable value (no control characters, no markup quotes needed).
fn printable(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && !s.chars().any(char::is_control)
}

/// A mandate id: printable ASCII without spaces, at most [`MAX_MANDATE_ID`] bytes.
pub fn valid_mandate_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_MANDATE_ID && id.bytes().all(|b| b.is_ascii_graphic())
}

/// Whether a mandate from the registry is fit to offer and release: a valid id, a principal with
/// a name (and an eight-digit CVR number for an organisation), bounded scopes and privileges whose
/// privileges are absolute URIs. Anything else is left out of the choice (and logged), never
/// passed on to a relying party.
pub fn usable(m: &Mandate) -> bool {
    let principal = match &m.principal {
        Principal::Person { person, name, .. } => {
            printable(name, MAX_VALUE)
                && printable(&person.upstream, MAX_VALUE)
                && printable(&person.subject, MAX_VALUE)
        }
        Principal::Organisation { cvr, name } => {
            printable(name, MAX_VALUE) && cvr.len() == 8 && cvr.bytes().all(|b| b.is_ascii_digit())
        }
    };
    valid_mandate_id(&m.id)
        && principal
        && m.scopes.len() <= MAX_PRIVILEGES
        && m.scopes.iter().all(|s| printable(s, MAX_VALUE))
        && m.privileges.len() <= MAX_PRIVILEGES
        && m.privileges.iter().all(|p| {
            printable(p, MAX_VALUE)
                && !p.contains(char::is_whitespace)
                && url::Url::parse(p).is_ok()
        })
}

/// The mandates of a lookup that may be offered: the [`usable`] ones, the first [`MAX_OFFERED`].
pub fn offerable(found: Vec<Mandate>) -> Vec<Mandate> {
    let before = found.len();
    let kept: Vec<Mandate> = found.into_iter().filter(usable).take(MAX_OFFERED).collect();
    if kept.len() < before {
        tracing::warn!(
            dropped = before - kept.len(),
            "mandates from the registry left out of the choice (malformed or too many)"
        );
    }
    kept
}

/// What the person chose on the "Who are you acting for?" page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// To act as themselves.
    Myself,
    /// To act under the mandate with this id.
    Mandate(String),
    /// To give up the login.
    Cancel,
}

impl Choice {
    /// The form value of a choice.
    pub fn value(&self) -> String {
        match self {
            Choice::Myself => "self".into(),
            Choice::Cancel => "cancel".into(),
            Choice::Mandate(id) => format!("mandate:{id}"),
        }
    }

    /// Parses a form value; `None` for anything else.
    pub fn parse(value: &str) -> Option<Choice> {
        match value {
            "self" => Some(Choice::Myself),
            "cancel" => Some(Choice::Cancel),
            _ => value
                .strip_prefix("mandate:")
                .filter(|id| valid_mandate_id(id))
                .map(|id| Choice::Mandate(id.to_owned())),
        }
    }
}

/// The outcome of re-checking a chosen mandate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recheck {
    /// Still valid for this agent at this relying party, for the same principal: the registry's
    /// current version of it.
    Valid(Mandate),
    /// Revoked, expired, out of scope, never the agent's, or now for someone else.
    Withdrawn,
}

/// Re-checks `chosen` for `agent` at `rp` at `now` with the registry: the mandate must still be
/// found, [`usable`], and name the same principal.
pub async fn recheck(
    lookup: &dyn MandateLookup,
    agent: &Identity,
    chosen: &Mandate,
    rp: &RelyingParty,
    now: OffsetDateTime,
) -> Result<Recheck, StoreError> {
    let service = ServiceRef {
        id: &rp.id,
        areas: &rp.service_areas,
    };
    Ok(
        match lookup.mandate(agent, &chosen.id, service, now).await? {
            Some(current)
                if current.id == chosen.id
                    && same_principal(&current.principal, &chosen.principal)
                    && usable(&current) =>
            {
                Recheck::Valid(current)
            }
            _ => Recheck::Withdrawn,
        },
    )
}

/// Whether two principals are the same party (names may change; keys and numbers may not).
fn same_principal(a: &Principal, b: &Principal) -> bool {
    match (a, b) {
        (Principal::Person { person: p, .. }, Principal::Person { person: q, .. }) => p == q,
        (Principal::Organisation { cvr: c, .. }, Principal::Organisation { cvr: d, .. }) => c == d,
        _ => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use eid_core::{Access, MandateKind, PersonKey};
    use proptest::prelude::*;

    pub(crate) fn mandate(id: &str) -> Mandate {
        Mandate {
            id: id.into(),
            kind: MandateKind::PowerOfAttorney,
            principal: Principal::Person {
                person: PersonKey {
                    upstream: "idp".into(),
                    subject: "mother".into(),
                },
                cpr: None,
                name: "Mor".into(),
            },
            access: Access::Read,
            scopes: vec!["rp".into()],
            privileges: vec!["urn:dk:example:privilege:read".into()],
            valid_until: None,
        }
    }

    #[test]
    fn a_well_formed_mandate_is_usable_and_each_malformed_part_is_not() {
        assert!(usable(&mandate("m1")));
        let mut m = mandate("m 1");
        assert!(!usable(&m), "a space in the id");
        m = mandate(&"m".repeat(MAX_MANDATE_ID + 1));
        assert!(!usable(&m), "an over-long id");
        m = mandate("m1");
        m.privileges = vec!["not a uri".into()];
        assert!(!usable(&m), "a privilege that is not a URI");
        m = mandate("m1");
        m.privileges = vec!["urn:x:y".into(); MAX_PRIVILEGES + 1];
        assert!(!usable(&m), "too many privileges");
        m = mandate("m1");
        m.principal = Principal::Organisation {
            cvr: "1234567".into(),
            name: "Firma".into(),
        };
        assert!(!usable(&m), "a CVR number of seven digits");
        m.principal = Principal::Organisation {
            cvr: "12345678".into(),
            name: "Firma\u{0}".into(),
        };
        assert!(!usable(&m), "a control character in the name");
    }

    #[test]
    fn at_most_twenty_mandates_are_offered_and_malformed_ones_never() {
        let mut found: Vec<Mandate> = (0..30).map(|i| mandate(&format!("m{i}"))).collect();
        found.insert(0, mandate("bad id"));
        let offered = offerable(found);
        assert_eq!(offered.len(), MAX_OFFERED);
        assert_eq!(offered[0].id, "m0");
    }

    #[test]
    fn the_choice_form_value_is_self_cancel_or_a_mandate_id() {
        assert_eq!(Choice::parse("self"), Some(Choice::Myself));
        assert_eq!(Choice::parse("cancel"), Some(Choice::Cancel));
        assert_eq!(
            Choice::parse("mandate:m-1"),
            Some(Choice::Mandate("m-1".into()))
        );
        for bad in [
            "",
            "Self",
            "mandate:",
            "mandate:a b",
            "m-1",
            "mandate:\u{7f}",
        ] {
            assert_eq!(Choice::parse(bad), None, "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn parsing_any_form_value_never_panics_and_round_trips(value in ".{0,300}") {
            if let Some(choice) = Choice::parse(&value) {
                prop_assert_eq!(Choice::parse(&choice.value()), Some(choice));
            }
        }

        #[test]
        fn every_valid_mandate_id_round_trips(id in "[!-~]{1,128}") {
            let choice = Choice::Mandate(id.clone());
            prop_assert_eq!(Choice::parse(&choice.value()), Some(Choice::Mandate(id)));
        }
    }
}
