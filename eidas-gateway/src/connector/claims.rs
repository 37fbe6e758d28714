//! The claims of the connector's ID tokens, from a verified eIDAS assertion. THE NAMES ARE A
//! CONTRACT with the broker, which maps exactly these.

use eid_saml::eidas::{
    DATE_OF_BIRTH, EidasAssertion, FAMILY_NAME, GIVEN_NAME, LEGAL_NAME, LEGAL_PERSON_IDENTIFIER,
    PersonIdentifier,
};
use serde::{Deserialize, Serialize};

/// The longest name (given, family or legal) accepted, in characters.
pub const MAX_NAME_CHARS: usize = 256;

/// The person's claims, as the ID token carries them (besides `iss`, `aud`, times, `acr`, `amr`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EidasClaims {
    /// The eIDAS PersonIdentifier (`XA/DK/…`).
    pub sub: String,
    /// Given name(s), in Latin script.
    pub given_name: String,
    /// Family name(s), in Latin script.
    pub family_name: String,
    /// Date of birth, `YYYY-MM-DD`.
    pub birthdate: String,
    /// The PersonIdentifier again (= `sub`).
    pub eidas_person_identifier: String,
    /// The issuing country (ISO 3166-1 alpha-2).
    pub eidas_country: String,
    /// The given name in its original script, when it is not the Latin one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub eidas_given_name_native: Option<String>,
    /// The family name in its original script, when it is not the Latin one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub eidas_family_name_native: Option<String>,
    /// The LegalPersonIdentifier (with the legal-person scope).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub eidas_legal_person_identifier: Option<String>,
    /// The legal person's name, in Latin script (with the legal-person scope).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub eidas_legal_name: Option<String>,
}

/// Why an assertion's attributes do not make claims (the text names the rule, not the value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ClaimsError(pub &'static str);

/// A name fit for a claim: not blank, bounded, no control characters.
fn name(value: Option<&str>, what: &'static str) -> Result<String, ClaimsError> {
    let value = value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or(ClaimsError(what))?;
    if value.chars().count() > MAX_NAME_CHARS || value.chars().any(char::is_control) {
        return Err(ClaimsError(what));
    }
    Ok(value.to_owned())
}

/// The original-script value of an attribute, when there is one that differs from the Latin one.
fn native(
    assertion: &EidasAssertion,
    def: &eid_saml::eidas::AttributeDef,
    latin: &str,
    what: &'static str,
) -> Result<Option<String>, ClaimsError> {
    match assertion.attribute(def.name).and_then(|a| a.original()) {
        Some(original) if original.trim() != latin => name(Some(original), what).map(Some),
        _ => Ok(None),
    }
}

/// A date of birth: `YYYY-MM-DD`, a real date.
fn birthdate(value: Option<&str>) -> Result<String, ClaimsError> {
    let bad = ClaimsError("DateOfBirth missing or not YYYY-MM-DD");
    let value = value.ok_or(bad)?;
    time::Date::parse(
        value,
        &time::macros::format_description!("[year]-[month]-[day]"),
    )
    .map_err(|_| bad)?;
    if value.len() != 10 {
        return Err(bad);
    }
    Ok(value.to_owned())
}

/// The claims of `assertion`: its PersonIdentifier must be issued by `country` (the one chosen)
/// for `our_country`, its names and date of birth well-formed; with `legal`, the legal-person
/// identifier and name too.
pub fn claims(
    assertion: &EidasAssertion,
    country: &str,
    our_country: &str,
    legal: bool,
) -> Result<EidasClaims, ClaimsError> {
    let id = assertion
        .person_identifier()
        .ok_or(ClaimsError("PersonIdentifier missing or malformed"))?;
    if id.issuing_country() != country {
        return Err(ClaimsError(
            "PersonIdentifier issued by another country than the one chosen",
        ));
    }
    if id.destination_country() != our_country {
        return Err(ClaimsError("PersonIdentifier meant for another country"));
    }
    let latin = |def: &eid_saml::eidas::AttributeDef| {
        assertion
            .attribute(def.name)
            .and_then(eid_saml::eidas::Attribute::latin)
    };
    let given_name = name(latin(&GIVEN_NAME), "CurrentGivenName missing or malformed")?;
    let family_name = name(
        latin(&FAMILY_NAME),
        "CurrentFamilyName missing or malformed",
    )?;
    let (legal_id, legal_name) = if legal {
        let legal_id = latin(&LEGAL_PERSON_IDENTIFIER)
            .and_then(PersonIdentifier::parse)
            .ok_or(ClaimsError("LegalPersonIdentifier missing or malformed"))?;
        if legal_id.destination_country() != our_country {
            return Err(ClaimsError(
                "LegalPersonIdentifier meant for another country",
            ));
        }
        let legal_name = name(latin(&LEGAL_NAME), "LegalName missing or malformed")?;
        (Some(legal_id.as_str().to_owned()), Some(legal_name))
    } else {
        (None, None)
    };
    Ok(EidasClaims {
        sub: id.as_str().to_owned(),
        eidas_given_name_native: native(
            assertion,
            &GIVEN_NAME,
            &given_name,
            "CurrentGivenName malformed",
        )?,
        eidas_family_name_native: native(
            assertion,
            &FAMILY_NAME,
            &family_name,
            "CurrentFamilyName malformed",
        )?,
        given_name,
        family_name,
        birthdate: birthdate(latin(&DATE_OF_BIRTH))?,
        eidas_person_identifier: id.as_str().to_owned(),
        eidas_country: id.issuing_country().to_owned(),
        eidas_legal_person_identifier: legal_id,
        eidas_legal_name: legal_name,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use eid_saml::eidas::{Attribute, AttributeValue, EidasLoa, PERSON_IDENTIFIER};

    fn attr(def: &eid_saml::eidas::AttributeDef, values: &[(&str, bool)]) -> Attribute {
        Attribute {
            name: def.name.to_owned(),
            values: values
                .iter()
                .map(|(v, latin)| AttributeValue {
                    value: (*v).to_owned(),
                    latin_script: *latin,
                })
                .collect(),
        }
    }

    fn assertion(attributes: Vec<Attribute>) -> EidasAssertion {
        EidasAssertion {
            id: "_a".into(),
            name_id: "XA/DK/123".into(),
            loa: EidasLoa::Substantial,
            authn_instant: time::OffsetDateTime::UNIX_EPOCH,
            not_on_or_after: time::OffsetDateTime::UNIX_EPOCH,
            attributes,
        }
    }

    fn natural(id: &str) -> Vec<Attribute> {
        vec![
            attr(&PERSON_IDENTIFIER, &[(id, true)]),
            attr(&GIVEN_NAME, &[("Αλέξανδρος", false), ("Alexandros", true)]),
            attr(&FAMILY_NAME, &[("Papadopoulos", true)]),
            attr(&DATE_OF_BIRTH, &[("1980-02-29", true)]),
        ]
    }

    #[test]
    fn a_natural_person_becomes_the_contracted_claims() {
        let c = claims(&assertion(natural("XA/DK/123")), "XA", "DK", false).unwrap();
        assert_eq!(c.sub, "XA/DK/123");
        assert_eq!(c.eidas_person_identifier, c.sub);
        assert_eq!(c.eidas_country, "XA");
        assert_eq!(c.given_name, "Alexandros");
        assert_eq!(c.eidas_given_name_native.as_deref(), Some("Αλέξανδρος"));
        assert_eq!(c.family_name, "Papadopoulos");
        assert_eq!(c.eidas_family_name_native, None);
        assert_eq!(c.birthdate, "1980-02-29");
        let json = serde_json::to_value(&c).unwrap();
        assert!(json.get("eidas_family_name_native").is_none());
        assert!(json.get("eidas_legal_name").is_none());
    }

    #[test]
    fn the_identifier_must_come_from_the_chosen_country_for_ours() {
        assert!(claims(&assertion(natural("XB/DK/123")), "XA", "DK", false).is_err());
        assert!(claims(&assertion(natural("XA/SE/123")), "XA", "DK", false).is_err());
    }

    #[test]
    fn a_missing_name_or_bad_date_is_refused() {
        let mut a = natural("XA/DK/1");
        a.retain(|x| x.name != FAMILY_NAME.name);
        assert!(claims(&assertion(a), "XA", "DK", false).is_err());
        let mut a = natural("XA/DK/1");
        a[3] = attr(&DATE_OF_BIRTH, &[("1981-02-29", true)]);
        assert!(claims(&assertion(a), "XA", "DK", false).is_err());
    }

    #[test]
    fn the_legal_person_scope_needs_its_attributes() {
        assert!(claims(&assertion(natural("XA/DK/1")), "XA", "DK", true).is_err());
        let mut a = natural("XA/DK/1");
        a.push(attr(&LEGAL_PERSON_IDENTIFIER, &[("XA/DK/LP-9", true)]));
        a.push(attr(&LEGAL_NAME, &[("Xanadu Trading", true)]));
        let c = claims(&assertion(a), "XA", "DK", true).unwrap();
        assert_eq!(
            c.eidas_legal_person_identifier.as_deref(),
            Some("XA/DK/LP-9")
        );
        assert_eq!(c.eidas_legal_name.as_deref(), Some("Xanadu Trading"));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            /// Whatever the attributes hold, claims are refused or well-formed: the subject is
            /// the chosen country's identifier for ours, names bounded without control
            /// characters, the date a real `YYYY-MM-DD`.
            #[test]
            fn any_attributes_give_well_formed_claims_or_none(
                id in "\\PC{0,40}|XA/DK/[!-~]{1,20}",
                given in "\\PC{0,300}",
                family in "\\PC{0,40}",
                date in "\\PC{0,12}|[0-9]{4}-[0-9]{2}-[0-9]{2}",
                latin in any::<bool>(),
            ) {
                let a = assertion(vec![
                    attr(&PERSON_IDENTIFIER, &[(id.as_str(), true)]),
                    attr(&GIVEN_NAME, &[(given.as_str(), latin)]),
                    attr(&FAMILY_NAME, &[(family.as_str(), true)]),
                    attr(&DATE_OF_BIRTH, &[(date.as_str(), true)]),
                ]);
                if let Ok(c) = claims(&a, "XA", "DK", false) {
                    prop_assert!(c.sub.starts_with("XA/DK/"));
                    prop_assert_eq!(&c.sub, &c.eidas_person_identifier);
                    for n in [&c.given_name, &c.family_name] {
                        prop_assert!(!n.is_empty() && n.chars().count() <= MAX_NAME_CHARS);
                        prop_assert!(!n.chars().any(char::is_control));
                    }
                    prop_assert_eq!(c.birthdate.len(), 10);
                }
            }
        }
    }
}
