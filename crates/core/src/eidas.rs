//! A foreign EU citizen as the eIDAS connector vouches for them: the eIDAS PersonIdentifier and what
//! comes with it, each value validated once (PROTOCOLS.md §4.2).

use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

/// The country whose relying parties receive eIDAS identifiers from the connector (`YY` in
/// `XX/YY/id`).
pub const RECEIVING_COUNTRY: &str = "DK";
/// The longest PersonIdentifier (or LegalPersonIdentifier) kept, in bytes.
pub const MAX_IDENTIFIER_LEN: usize = 256;
/// The longest name (or legal name) kept, in characters.
pub const MAX_NAME_CHARS: usize = 256;

/// Why an eIDAS value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EidasValueError {
    /// Not `XX/DK/<id>` with `XX` a foreign country code and `<id>` visible ASCII, bounded.
    #[error("the person identifier is not XX/DK/<id>")]
    Identifier,
    /// Not two upper-case letters, or not the identifier's issuing country.
    #[error("the country is not the identifier's two-letter issuing country")]
    Country,
    /// Empty, too long, or with control characters.
    #[error("the text is empty, too long or holds control characters")]
    Text,
    /// Not `YYYY-MM-DD`.
    #[error("the date of birth is not YYYY-MM-DD")]
    Date,
}

/// Whether `s` is two upper-case ASCII letters (an ISO 3166-1 alpha-2 code, or eIDAS' `EL`).
pub fn valid_country(s: &str) -> bool {
    s.len() == 2 && s.bytes().all(|b| b.is_ascii_uppercase())
}

/// An eIDAS (legal) person identifier `XX/DK/<id>`: issued by the foreign country `XX` for
/// Danish relying parties; `<id>` is visible ASCII without whitespace, the whole at most
/// [`MAX_IDENTIFIER_LEN`] bytes. Its `Debug` hides the `<id>`.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PersonIdentifier(String);

impl PersonIdentifier {
    /// Parses `XX/DK/<id>`.
    pub fn parse(s: &str) -> Result<PersonIdentifier, EidasValueError> {
        let bad = EidasValueError::Identifier;
        if s.len() > MAX_IDENTIFIER_LEN {
            return Err(bad);
        }
        let mut parts = s.splitn(3, '/');
        let (Some(from), Some(to), Some(id)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad);
        };
        if !valid_country(from) || from == RECEIVING_COUNTRY || to != RECEIVING_COUNTRY {
            return Err(bad);
        }
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(bad);
        }
        Ok(PersonIdentifier(s.to_owned()))
    }

    /// The whole identifier.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The issuing country (`XX`).
    pub fn country(&self) -> &str {
        &self.0[..2]
    }
}

impl fmt::Debug for PersonIdentifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PersonIdentifier({}/…)", &self.0[..5])
    }
}

impl TryFrom<String> for PersonIdentifier {
    type Error = EidasValueError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        PersonIdentifier::parse(&value)
    }
}

impl From<PersonIdentifier> for String {
    fn from(value: PersonIdentifier) -> Self {
        value.0
    }
}

/// The domain label of [`audit_id`]: no other hash of an identifier in the system equals it.
const AUDIT_ID_LABEL: &[u8] = b"eid-broker eidas audit person key v1\x00";

/// The audit key of a foreign person ([`crate::AuditEvent::person`]): a version-8 UUID from the
/// first 16 bytes of SHA-256 over a domain label and the whole identifier. Every component
/// derives it alike without a shared secret (the broker for its login and release events, the
/// eIDAS connector for its own), so a foreign person's whole log is one query; being a UUIDv8 it
/// never equals a person-register id (those are random, version 4).
pub fn audit_id(id: &PersonIdentifier) -> Uuid {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(AUDIT_ID_LABEL);
    ctx.update(id.as_str().as_bytes());
    let digest = ctx.finish();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest.as_ref()[..16]);
    Uuid::new_v8(bytes)
}

/// A name or other free text from a foreign eID: trimmed, non-empty, at most
/// [`MAX_NAME_CHARS`] characters, no control characters.
pub fn clean_text(s: &str) -> Result<String, EidasValueError> {
    let t = s.trim();
    if t.is_empty() || t.chars().count() > MAX_NAME_CHARS || t.chars().any(char::is_control) {
        return Err(EidasValueError::Text);
    }
    Ok(t.to_owned())
}

/// A date of birth `YYYY-MM-DD` that is a real date.
pub fn clean_date(s: &str) -> Result<String, EidasValueError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    if s.len() != 10 {
        return Err(EidasValueError::Date);
    }
    time::Date::parse(s, &format).map_err(|_| EidasValueError::Date)?;
    Ok(s.to_owned())
}

/// A legal person the foreign citizen logged in for (scope `eidas_legal_person`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegalPerson {
    /// The eIDAS LegalPersonIdentifier (`XX/DK/…`).
    pub identifier: PersonIdentifier,
    /// The LegalName.
    pub name: String,
}

/// What the eIDAS connector vouched for about a foreign person, validated.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EidasIdentity {
    /// The PersonIdentifier (`XX/DK/…`): the person's key at the broker.
    pub person_identifier: PersonIdentifier,
    /// The issuing country (the identifier's `XX`).
    pub country: String,
    /// The given name in its original script, when that is not Latin.
    pub given_name_native: Option<String>,
    /// The family name in its original script, when that is not Latin.
    pub family_name_native: Option<String>,
    /// The legal person, when the login was for one.
    pub legal_person: Option<LegalPerson>,
}

impl fmt::Debug for EidasIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EidasIdentity")
            .field("person_identifier", &self.person_identifier)
            .field("country", &self.country)
            .field("legal_person", &self.legal_person.is_some())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn identifiers_follow_xx_dk_id() {
        for good in [
            "XA/DK/123",
            "SE/DK/199001011234",
            "EL/DK/a-b_c:d",
            "ES/DK/02635542Y",
        ] {
            let id = PersonIdentifier::parse(good).unwrap();
            assert_eq!(id.as_str(), good);
            assert_eq!(id.country(), &good[..2]);
        }
        for bad in [
            "",
            "XA/DK/",
            "XA/SE/123",
            "DK/DK/123",
            "xa/DK/123",
            "XAA/DK/123",
            "X/DK/123",
            "XA/DK/12 3",
            "XA/DK/12\n3",
            "XA/DK/ø",
            "XA-DK-123",
            "XA/DK",
        ] {
            assert_eq!(
                PersonIdentifier::parse(bad),
                Err(EidasValueError::Identifier),
                "{bad:?}"
            );
        }
        let long = format!("XA/DK/{}", "1".repeat(MAX_IDENTIFIER_LEN - 6));
        assert!(PersonIdentifier::parse(&long).is_ok());
        assert!(PersonIdentifier::parse(&format!("{long}1")).is_err());
    }

    #[test]
    fn debug_hides_the_id() {
        let id = PersonIdentifier::parse("XA/DK/secret-123").unwrap();
        assert!(!format!("{id:?}").contains("secret"));
    }

    /// A known answer: every component must derive the same key, and a changed derivation would
    /// split each foreign person's log in two. Checked independently (`printf 'eid-broker eidas
    /// audit person key v1\0XA/DK/123' | sha256sum`, first 16 bytes, UUIDv8 bits).
    #[test]
    fn a_foreign_persons_audit_key_is_a_fixed_v8_hash_of_the_identifier() {
        let id = PersonIdentifier::parse("XA/DK/123").unwrap();
        let key = audit_id(&id);
        assert_eq!(key.get_version_num(), 8);
        assert_eq!(key.to_string(), "c7f58f95-d8fc-8c37-bbc4-131179a22b1d");
        assert_eq!(
            key,
            audit_id(&PersonIdentifier::parse("XA/DK/123").unwrap())
        );
        assert_ne!(
            key,
            audit_id(&PersonIdentifier::parse("XA/DK/124").unwrap())
        );
        assert_ne!(
            key,
            audit_id(&PersonIdentifier::parse("XB/DK/123").unwrap())
        );
    }

    #[test]
    fn texts_and_dates() {
        assert_eq!(clean_text("  Ἀλέξανδρος ").unwrap(), "Ἀλέξανδρος");
        assert!(clean_text("").is_err() && clean_text("   ").is_err());
        assert!(clean_text("a\u{0}b").is_err() && clean_text("a\u{1b}[31m").is_err());
        assert!(clean_text(&"a".repeat(MAX_NAME_CHARS + 1)).is_err());
        assert_eq!(clean_date("1990-02-28").unwrap(), "1990-02-28");
        for bad in ["1990-02-30", "1990-2-28", "28-02-1990", "", "1990-02-28T00"] {
            assert!(clean_date(bad).is_err(), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn any_accepted_identifier_is_well_formed(s in "\\PC{0,40}|[A-Z]{2}/[A-Z]{2}/[ -~]{0,20}") {
            if let Ok(id) = PersonIdentifier::parse(&s) {
                prop_assert!(s.len() <= MAX_IDENTIFIER_LEN);
                prop_assert!(valid_country(id.country()) && id.country() != "DK");
                prop_assert_eq!(&s[2..6], "/DK/");
                prop_assert!(s[6..].bytes().all(|b| b.is_ascii_graphic()) && s.len() > 6);
            }
        }

        #[test]
        fn well_formed_identifiers_are_accepted(
            from in "[A-Z]{2}", id in "[!-~]{1,100}"
        ) {
            let s = format!("{from}/DK/{id}");
            prop_assert_eq!(PersonIdentifier::parse(&s).is_ok(), from != "DK");
        }

        #[test]
        fn cleaned_text_has_no_control_characters(s in "\\PC{0,300}|[\\x00-\\x7f]{0,20}") {
            if let Ok(t) = clean_text(&s) {
                prop_assert!(!t.is_empty() && t.chars().count() <= MAX_NAME_CHARS);
                prop_assert!(!t.chars().any(char::is_control));
            }
        }
    }
}
