//! The register of XA's demo persons (`config/demo/eidas-xa.toml`): who may log in at XA's proxy
//! service, and what it says about them.
//!
//! Passwords are stored and compared as **plain demo values**, in constant time. The register is a
//! public file of the repository, so a hash would hide nothing that is not already published next
//! to it; the constant-time comparison is kept so that the login page is no timing oracle, and so
//! that nobody copies a variable-time comparison from here. A real proxy service has no passwords
//! at all: it hands the citizen to its national eID.

use std::collections::HashSet;
use std::path::Path;

use eid_saml::eidas::EidasLoa;
use serde::Deserialize;
use subtle::ConstantTimeEq;

/// The longest username, password or name the register or the login form holds.
pub const MAX_FIELD_CHARS: usize = 128;

/// A name as written in the person's own script, with its Latin transliteration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name {
    /// In Latin script.
    pub latin: String,
    /// In the native script, when the name is not written in Latin script.
    pub native: Option<String>,
}

/// One demo person of XA.
#[derive(Clone)]
pub struct XaPerson {
    /// The username of the login page.
    pub username: String,
    password: String,
    /// The last part of the PersonIdentifier (`XA/<destination>/<id>`).
    pub id: String,
    /// `CurrentGivenName`.
    pub given_name: Name,
    /// `CurrentFamilyName`.
    pub family_name: Name,
    /// `DateOfBirth`.
    pub birthdate: time::Date,
    /// The level of the person's eID.
    pub level: EidasLoa,
}

impl std::fmt::Debug for XaPerson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Personal data stays out of logs: the username only.
        f.debug_struct("XaPerson")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// The register.
#[derive(Debug, Clone)]
pub struct Register {
    persons: Vec<XaPerson>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegister {
    persons: Vec<RawPerson>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPerson {
    username: String,
    password: String,
    id: String,
    given_name: String,
    given_name_native: Option<String>,
    family_name: String,
    family_name_native: Option<String>,
    birthdate: String,
    level: EidasLoa,
}

/// Why the register cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// The file cannot be read.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// It is no register.
    #[error("{0}")]
    Toml(#[from] toml::de::Error),
    /// A value is not acceptable (`persons[i].field: problem`).
    #[error("persons[{index}].{field}: {problem}")]
    Invalid {
        /// The person's position.
        index: usize,
        /// The field.
        field: &'static str,
        /// What is wrong.
        problem: &'static str,
    },
    /// No persons.
    #[error("the register has no persons")]
    Empty,
}

fn printable(s: &str) -> bool {
    !s.is_empty() && s.chars().count() <= MAX_FIELD_CHARS && !s.chars().any(char::is_control)
}

fn latin(s: &str) -> bool {
    // Latin letters with their diacritics, and what names carry besides letters.
    s.chars()
        .all(|c| c.is_ascii() || matches!(c, '\u{00C0}'..='\u{024F}' | '\u{1E00}'..='\u{1EFF}'))
}

impl Register {
    /// Reads and checks the register file.
    pub fn load(path: &Path) -> Result<Register, RegisterError> {
        Register::parse(&std::fs::read_to_string(path)?)
    }

    /// Parses and checks a register: usernames of `[a-z0-9._-]` and unique, ids of
    /// `[A-Za-z0-9-]` (at most 64) and unique, names printable with Latin forms in Latin script,
    /// birthdates `YYYY-MM-DD`.
    pub fn parse(text: &str) -> Result<Register, RegisterError> {
        let raw: RawRegister = toml::from_str(text)?;
        let mut persons = Vec::new();
        let (mut usernames, mut ids) = (HashSet::new(), HashSet::new());
        for (index, p) in raw.persons.into_iter().enumerate() {
            let bad = |field, problem| RegisterError::Invalid {
                index,
                field,
                problem,
            };
            if p.username.is_empty()
                || p.username.len() > 32
                || !p
                    .username
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b".-_".contains(&b))
            {
                return Err(bad("username", "1–32 of a-z, 0-9, '.', '-', '_'"));
            }
            if !usernames.insert(p.username.clone()) {
                return Err(bad("username", "repeated"));
            }
            if !printable(&p.password) {
                return Err(bad("password", "1–128 printable characters"));
            }
            if p.id.is_empty()
                || p.id.len() > 64
                || !p.id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            {
                return Err(bad("id", "1–64 of A-Z, a-z, 0-9, '-'"));
            }
            if !ids.insert(p.id.clone()) {
                return Err(bad("id", "repeated"));
            }
            let name = |latin_form: String,
                        native: Option<String>,
                        field: &'static str|
             -> Result<Name, RegisterError> {
                if !printable(&latin_form) || !latin(&latin_form) {
                    return Err(bad(field, "1–128 printable characters in Latin script"));
                }
                if let Some(n) = &native
                    && (!printable(n) || latin(n))
                {
                    return Err(bad(
                        field,
                        "the native form: printable, not in Latin script",
                    ));
                }
                Ok(Name {
                    latin: latin_form,
                    native,
                })
            };
            let given_name = name(p.given_name, p.given_name_native, "given_name")?;
            let family_name = name(p.family_name, p.family_name_native, "family_name")?;
            let birthdate = time::Date::parse(
                &p.birthdate,
                time::macros::format_description!("[year]-[month]-[day]"),
            )
            .map_err(|_| bad("birthdate", "YYYY-MM-DD"))?;
            persons.push(XaPerson {
                username: p.username,
                password: p.password,
                id: p.id,
                given_name,
                family_name,
                birthdate,
                level: p.level,
            });
        }
        if persons.is_empty() {
            return Err(RegisterError::Empty);
        }
        Ok(Register { persons })
    }

    /// The person with `username` whose password is `password`. Every password of the register
    /// is compared, in constant time, so neither a wrong password nor an unknown username answers
    /// faster than the other.
    pub fn authenticate(&self, username: &str, password: &str) -> Option<&XaPerson> {
        let mut found = None;
        for person in &self.persons {
            let same_password: bool = person.password.as_bytes().ct_eq(password.as_bytes()).into();
            if same_password && person.username == username {
                found = Some(person);
            }
        }
        found
    }

    /// The person with `username`.
    pub fn person(&self, username: &str) -> Option<&XaPerson> {
        self.persons.iter().find(|p| p.username == username)
    }

    /// Every person, in register order.
    pub fn persons(&self) -> &[XaPerson] {
        &self.persons
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const ONE: &str = r#"
        [[persons]]
        username = "eleni"
        password = "pw-1"
        id = "XA-1"
        given_name = "Eleni"
        given_name_native = "Ελένη"
        family_name = "Papadaki"
        birthdate = "1988-04-17"
        level = "high"
    "#;

    #[test]
    fn the_demo_register_reads_and_has_a_person_with_a_greek_name() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/demo/eidas-xa.toml");
        let register = Register::load(&path).unwrap();
        assert!((3..=4).contains(&register.persons().len()));
        assert!(register.persons().iter().any(|p| {
            p.given_name
                .native
                .as_deref()
                .is_some_and(|n| n.chars().any(|c| ('\u{0370}'..='\u{03FF}').contains(&c)))
        }));
    }

    #[test]
    fn only_the_right_password_of_the_right_person_authenticates() {
        let register = Register::parse(ONE).unwrap();
        assert_eq!(register.authenticate("eleni", "pw-1").unwrap().id, "XA-1");
        assert!(register.authenticate("eleni", "pw-2").is_none());
        assert!(register.authenticate("eleni", "").is_none());
        assert!(register.authenticate("jonas", "pw-1").is_none());
    }

    #[test]
    fn a_native_form_in_latin_script_or_a_latin_form_in_another_is_refused() {
        let native_latin = ONE.replace("Ελένη", "Elena");
        assert!(Register::parse(&native_latin).is_err());
        let greek_latin = ONE.replace("given_name = \"Eleni\"", "given_name = \"Ελένη\"");
        assert!(Register::parse(&greek_latin).is_err());
    }

    #[test]
    fn odd_ids_usernames_dates_and_repeats_are_refused() {
        for (from, to) in [
            ("XA-1", "XA 1"),
            ("XA-1", "XA/1"),
            ("eleni\"", "Eleni\""),
            ("1988-04-17", "17.04.1988"),
            ("\"high\"", "\"medium\""),
        ] {
            assert!(Register::parse(&ONE.replace(from, to)).is_err(), "{to}");
        }
        let twice = format!("{ONE}\n{}", ONE.replace("XA-1", "XA-2"));
        assert!(Register::parse(&twice).is_err());
        assert!(Register::parse("persons = []").is_err());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]

        /// Any text is a register or refused, never a panic; a register read always has persons
        /// with well-formed ids.
        #[test]
        fn any_text_is_read_or_refused(text in "\\PC{0,200}", id in "\\PC{0,20}") {
            if let Ok(r) = Register::parse(&text) {
                proptest::prop_assert!(!r.persons().is_empty());
            }
            let edited = ONE.replace("XA-1", &id.replace(['"', '\\'], ""));
            if let Ok(r) = Register::parse(&edited) {
                let ok = r.persons().iter().all(|p| {
                    !p.id.is_empty() && p.id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                });
                proptest::prop_assert!(ok);
            }
        }
    }

    #[test]
    fn debug_shows_no_personal_data() {
        let register = Register::parse(ONE).unwrap();
        let shown = format!("{register:?}");
        assert!(!shown.contains("Papadaki") && !shown.contains("pw-1") && !shown.contains("1988"));
    }
}
