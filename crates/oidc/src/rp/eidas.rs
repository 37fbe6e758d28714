//! The claim mapping of an upstream: which person claims of its ID tokens are read. A national
//! authenticator's `cpr`; the eIDAS connector's `eidas_*` claims (its contract: `sub` = the eIDAS
//! PersonIdentifier, `eidas_person_identifier`, `eidas_country`, native names, a legal person),
//! each validated with [`eid_core::eidas`]: a malformed identifier fails the login, a malformed
//! optional claim is dropped with a warning.

use eid_core::eidas::{EidasIdentity, LegalPerson, PersonIdentifier, clean_text, valid_country};
use serde::{Deserialize, Serialize};

use super::UpstreamError;

/// Which person claims an upstream's ID tokens are read for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimMapping {
    /// A national authenticator: `cpr` is read, `eidas_*` claims are ignored.
    #[default]
    National,
    /// The eIDAS connector: the `eidas_*` claims are read and required (the identifier must be
    /// `sub`), `cpr` is ignored.
    Eidas,
}

/// The eIDAS claims of an ID token, as sent (nothing checked yet).
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct RawEidasClaims {
    #[serde(default)]
    pub eidas_person_identifier: Option<String>,
    #[serde(default)]
    pub eidas_country: Option<String>,
    #[serde(default)]
    pub eidas_given_name_native: Option<String>,
    #[serde(default)]
    pub eidas_family_name_native: Option<String>,
    #[serde(default)]
    pub eidas_legal_person_identifier: Option<String>,
    #[serde(default)]
    pub eidas_legal_name: Option<String>,
}

/// An optional text claim, dropped (with a warning naming the claim, never its value) if malformed.
fn optional_text(upstream: &str, name: &str, value: Option<&str>) -> Option<String> {
    let value = value?;
    match clean_text(value) {
        Ok(text) => Some(text),
        Err(_) => {
            tracing::warn!(
                upstream,
                claim = name,
                "malformed optional eIDAS claim dropped"
            );
            None
        }
    }
}

/// The standard person claims of an eIDAS upstream (`given_name`, `family_name`, `birthdate`),
/// each dropped with a warning when malformed.
pub(crate) fn clean_person_claims(
    upstream: &str,
    given_name: Option<String>,
    family_name: Option<String>,
    birthdate: Option<String>,
) -> (Option<String>, Option<String>, Option<String>) {
    let birthdate = birthdate.and_then(|d| match eid_core::eidas::clean_date(&d) {
        Ok(d) => Some(d),
        Err(_) => {
            tracing::warn!(
                upstream,
                claim = "birthdate",
                "malformed eIDAS claim dropped"
            );
            None
        }
    });
    (
        optional_text(upstream, "given_name", given_name.as_deref()),
        optional_text(upstream, "family_name", family_name.as_deref()),
        birthdate,
    )
}

/// The eIDAS identity of an ID token whose `sub` is `sub`: the identifier must be present, equal
/// `sub` and be `XX/DK/<id>`; `eidas_country`, when sent, must be its `XX`. Optional claims that
/// are malformed are dropped; a legal person only with both a valid identifier and a name.
pub(crate) fn read(
    upstream: &str,
    sub: &str,
    raw: &RawEidasClaims,
) -> Result<EidasIdentity, UpstreamError> {
    let bad = |s: &str| UpstreamError::IdToken(format!("eIDAS claims: {s}"));
    let identifier = raw
        .eidas_person_identifier
        .as_deref()
        .ok_or_else(|| bad("eidas_person_identifier is missing"))?;
    let identifier = PersonIdentifier::parse(identifier)
        .map_err(|_| bad("eidas_person_identifier is not XX/DK/<id>"))?;
    if identifier.as_str() != sub {
        return Err(bad("sub is not the eidas_person_identifier"));
    }
    match raw.eidas_country.as_deref() {
        Some(c) if !valid_country(c) || c != identifier.country() => {
            return Err(bad("eidas_country is not the identifier's issuing country"));
        }
        _ => {}
    }
    let legal_person = match (
        raw.eidas_legal_person_identifier.as_deref(),
        raw.eidas_legal_name.as_deref(),
    ) {
        (None, None) => None,
        (id, name) => {
            let id = id.and_then(|i| PersonIdentifier::parse(i).ok());
            let name = optional_text(upstream, "eidas_legal_name", name);
            match (id, name) {
                (Some(identifier), Some(name)) => Some(LegalPerson { identifier, name }),
                _ => {
                    tracing::warn!(
                        upstream,
                        "incomplete or malformed eIDAS legal person dropped"
                    );
                    None
                }
            }
        }
    };
    Ok(EidasIdentity {
        country: identifier.country().to_owned(),
        person_identifier: identifier,
        given_name_native: optional_text(
            upstream,
            "eidas_given_name_native",
            raw.eidas_given_name_native.as_deref(),
        ),
        family_name_native: optional_text(
            upstream,
            "eidas_family_name_native",
            raw.eidas_family_name_native.as_deref(),
        ),
        legal_person,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn raw(id: &str) -> RawEidasClaims {
        RawEidasClaims {
            eidas_person_identifier: Some(id.into()),
            eidas_country: Some(id[..2].into()),
            ..RawEidasClaims::default()
        }
    }

    #[test]
    fn a_good_identifier_is_read_with_its_country() {
        let mut r = raw("XA/DK/123");
        r.eidas_family_name_native = Some("Παπαδόπουλος".into());
        r.eidas_given_name_native = Some("bad\u{7}".into());
        let e = read("eidas", "XA/DK/123", &r).unwrap();
        assert_eq!(e.person_identifier.as_str(), "XA/DK/123");
        assert_eq!(e.country, "XA");
        assert_eq!(e.family_name_native.as_deref(), Some("Παπαδόπουλος"));
        assert_eq!(
            e.given_name_native, None,
            "malformed optional claims are dropped"
        );
    }

    #[test]
    fn a_missing_or_malformed_identifier_or_another_sub_fails() {
        let none = RawEidasClaims::default();
        assert!(read("eidas", "XA/DK/1", &none).is_err());
        for bad in ["XA/SE/1", "DK/DK/1", "XA/DK/a b", "xa/DK/1"] {
            let mut r = raw("XA/DK/1");
            r.eidas_person_identifier = Some(bad.into());
            assert!(read("eidas", bad, &r).is_err(), "{bad}");
        }
        assert!(read("eidas", "XA/DK/2", &raw("XA/DK/1")).is_err());
    }

    #[test]
    fn the_country_must_be_the_identifiers() {
        let mut r = raw("XA/DK/1");
        r.eidas_country = Some("SE".into());
        assert!(read("eidas", "XA/DK/1", &r).is_err());
        r.eidas_country = Some("xa".into());
        assert!(read("eidas", "XA/DK/1", &r).is_err());
        r.eidas_country = None;
        assert_eq!(read("eidas", "XA/DK/1", &r).unwrap().country, "XA");
    }

    #[test]
    fn a_legal_person_needs_a_valid_identifier_and_a_name() {
        let mut r = raw("XA/DK/1");
        r.eidas_legal_person_identifier = Some("XA/DK/LP-9".into());
        r.eidas_legal_name = Some("Example Ltd".into());
        let lp = read("eidas", "XA/DK/1", &r).unwrap().legal_person.unwrap();
        assert_eq!(lp.identifier.as_str(), "XA/DK/LP-9");
        r.eidas_legal_name = None;
        assert_eq!(read("eidas", "XA/DK/1", &r).unwrap().legal_person, None);
        r.eidas_legal_name = Some("Example Ltd".into());
        r.eidas_legal_person_identifier = Some("LP-9".into());
        assert_eq!(read("eidas", "XA/DK/1", &r).unwrap().legal_person, None);
    }

    proptest! {
        #[test]
        fn whatever_is_read_is_valid(
            id in "[A-Z]{2}/[A-Z]{2}/\\PC{0,12}|\\PC{0,20}",
            country in proptest::option::of("[A-Za-z]{2}|\\PC{0,3}"),
            given in proptest::option::of("\\PC{0,20}|[\\x00-\\x20]{0,4}"),
            legal_id in proptest::option::of("[A-Z]{2}/DK/[!-~]{0,8}|\\PC{0,8}"),
            legal_name in proptest::option::of("\\PC{0,10}"),
        ) {
            let r = RawEidasClaims {
                eidas_person_identifier: Some(id.clone()),
                eidas_country: country,
                eidas_given_name_native: given,
                eidas_family_name_native: None,
                eidas_legal_person_identifier: legal_id,
                eidas_legal_name: legal_name,
            };
            if let Ok(e) = read("eidas", &id, &r) {
                prop_assert_eq!(PersonIdentifier::parse(&id), Ok(e.person_identifier.clone()));
                prop_assert!(valid_country(&e.country) && id.starts_with(&e.country));
                for t in [e.given_name_native.as_deref(), e.legal_person.as_ref().map(|l| l.name.as_str())].into_iter().flatten() {
                    prop_assert!(!t.is_empty() && !t.chars().any(char::is_control));
                }
            }
        }
    }
}
