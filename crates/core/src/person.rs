//! Persons as the authenticator knows them, and their authenticators.

use serde::{Deserialize, Serialize};
use std::fmt;
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use crate::loa::Loa;

/// A CPR number: ten digits, the first six a date `DDMMYY`. Its `Debug` hides all but the birth
/// date part, so it cannot leak into logs by accident.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Cpr(String);

/// A string that is not a CPR number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a CPR number is ten digits, DDMMYY followed by four digits")]
pub struct CprError;

impl Cpr {
    /// Parses `DDMMYYXXXX` or `DDMMYY-XXXX`.
    pub fn parse(input: &str) -> Result<Cpr, CprError> {
        let digits: String = input.trim().chars().filter(|c| *c != '-').collect();
        if digits.len() != 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CprError);
        }
        let day: u8 = digits[0..2].parse().map_err(|_| CprError)?;
        let month: u8 = digits[2..4].parse().map_err(|_| CprError)?;
        // Substitute numbers (erstatningspersonnumre) add 60 to the day.
        if !((1..=31).contains(&day) || (61..=91).contains(&day)) || !(1..=12).contains(&month) {
            return Err(CprError);
        }
        Ok(Cpr(digits))
    }

    /// The ten digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Cpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cpr({}-****)", &self.0[..6])
    }
}

impl TryFrom<String> for Cpr {
    type Error = CprError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Cpr::parse(&value)
    }
}

impl From<Cpr> for String {
    fn from(value: Cpr) -> Self {
        value.0
    }
}

/// Whether a person may log in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PersonStatus {
    /// May log in.
    Active,
    /// May not log in (revoked, deceased, under investigation).
    Suspended,
}

impl PersonStatus {
    /// Stable stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            PersonStatus::Active => "active",
            PersonStatus::Suspended => "suspended",
        }
    }

    /// Parses the stored name.
    pub fn from_stored(s: &str) -> Option<Self> {
        match s {
            "active" => Some(PersonStatus::Active),
            "suspended" => Some(PersonStatus::Suspended),
            _ => None,
        }
    }
}

/// A person in the register.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Person {
    /// Stable identifier; the `sub` the authenticator gives the broker.
    pub id: Uuid,
    /// The CPR number: an attribute, never an identifier given to relying parties by default.
    pub cpr: Cpr,
    /// Given name(s).
    pub given_name: String,
    /// Family name.
    pub family_name: String,
    /// Date of birth.
    pub birthdate: Date,
    /// Identity-proofing level (IAL).
    pub ial: Loa,
    /// Active or suspended.
    pub status: PersonStatus,
    /// Whether the person is legally competent ("ved sin fornufts fulde brug", not under
    /// guardianship): only such a person may give a power of attorney. Registers that do not
    /// record it hold `true`.
    #[serde(default = "competent")]
    pub legally_competent: bool,
    /// The login user ID, chosen at activation; `None` until the identity is activated.
    pub user_id: Option<String>,
    /// When the person was registered.
    pub created_at: OffsetDateTime,
}

fn competent() -> bool {
    true
}

/// The kinds of authenticator a person can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthenticatorKind {
    /// A password (Argon2id hash).
    Password,
    /// A code display: TOTP secret, used together with the password.
    CodeDisplay,
    /// A WebAuthn passkey.
    Passkey,
    /// The app on a paired device, approving by number matching.
    App,
}

impl AuthenticatorKind {
    /// Every kind.
    pub const ALL: [AuthenticatorKind; 4] = [
        AuthenticatorKind::Password,
        AuthenticatorKind::CodeDisplay,
        AuthenticatorKind::Passkey,
        AuthenticatorKind::App,
    ];

    /// Stable stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthenticatorKind::Password => "password",
            AuthenticatorKind::CodeDisplay => "code_display",
            AuthenticatorKind::Passkey => "passkey",
            AuthenticatorKind::App => "app",
        }
    }

    /// Parses the stored name.
    pub fn from_stored(s: &str) -> Option<Self> {
        AuthenticatorKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One enrolled authenticator. `secret` is kind-specific and never leaves the authenticator
/// component: the Argon2id PHC string, the TOTP secret, the serialised passkey, the app device's key.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Authenticator {
    /// Identifier.
    pub id: Uuid,
    /// Whose it is.
    pub person: Uuid,
    /// What it is.
    pub kind: AuthenticatorKind,
    /// A name the person gave it ("Kodeviser i skuffen", "YubiKey"), at most
    /// [`Authenticator::LABEL_MAX`] characters; `""` when none was given (pages then show the kind's
    /// name in their language).
    pub label: String,
    /// Kind-specific secret material.
    pub secret: Vec<u8>,
    /// When it was enrolled.
    pub created_at: OffsetDateTime,
    /// When it was last used to log in.
    pub last_used_at: Option<OffsetDateTime>,
}

/// A name the person gave an authenticator that cannot be stored: empty, longer than
/// [`Authenticator::LABEL_MAX`] characters, or with a control or invisible formatting character.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a name is 1 to 40 printable characters")]
pub struct LabelError;

impl Authenticator {
    /// The longest name a person may give an authenticator, in characters.
    pub const LABEL_MAX: usize = 40;

    /// A name the person typed, made storable: surrounding spaces trimmed and inner runs of
    /// whitespace made one space; refused when empty, longer than [`Self::LABEL_MAX`] characters,
    /// or holding a control character or an invisible formatting character (bidirectional
    /// overrides, zero-width characters), which could make a name look like another.
    pub fn normalise_label(input: &str) -> Result<String, LabelError> {
        if input.chars().any(is_hidden) {
            return Err(LabelError);
        }
        let label = input.split_whitespace().collect::<Vec<_>>().join(" ");
        let n = label.chars().count();
        if n == 0 || n > Self::LABEL_MAX {
            return Err(LabelError);
        }
        Ok(label)
    }
}

/// Whether a character is unfit for a name people read: a control character, or one that is
/// invisible or reorders text (Unicode format characters such as bidi overrides, zero-width
/// characters, soft hyphen, tags; line and paragraph separators), with which a name can pass for
/// another.
pub fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{0600}'..='\u{0605}'
                | '\u{061C}'
                | '\u{06DD}'
                | '\u{070F}'
                | '\u{180E}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{FEFF}'
                | '\u{FFF9}'..='\u{FFFB}'
                | '\u{E0000}'..='\u{E007F}'
        )
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("id", &self.id)
            .field("person", &self.person)
            .field("kind", &self.kind)
            .field("label", &self.label)
            .field("secret", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpr_accepts_ten_digits_with_or_without_dash() {
        assert_eq!(
            Cpr::parse("010190-1234").map(|c| c.as_str().to_owned()),
            Ok("0101901234".into())
        );
        assert!(Cpr::parse("0101901234").is_ok());
        assert!(Cpr::parse("610190-1234").is_ok(), "a substitute number");
    }

    #[test]
    fn cpr_rejects_malformed_input() {
        for bad in [
            "",
            "123",
            "01019012345",
            "320190-1234",
            "600190-1234",
            "920190-1234",
            "011390-1234",
            "01019o1234",
        ] {
            assert!(Cpr::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn labels_are_trimmed_bounded_and_printable() {
        assert_eq!(
            Authenticator::normalise_label("  Kodeviser   i  skuffen "),
            Ok("Kodeviser i skuffen".into())
        );
        assert_eq!(
            Authenticator::normalise_label(&"æ".repeat(40)),
            Ok("æ".repeat(40))
        );
        for bad in [
            String::new(),
            "   ".into(),
            "æ".repeat(41),
            "a\u{0}b".into(),
            "a\nb".into(),
            "a\u{7f}b".into(),
            "a\u{202e}b".into(),
            "a\u{200b}b".into(),
        ] {
            assert_eq!(
                Authenticator::normalise_label(&bad),
                Err(LabelError),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn names_with_hidden_characters_are_refused_and_ordinary_ones_pass() {
        for c in [
            '\u{061C}',
            '\u{2064}',
            '\u{00AD}',
            '\u{E0041}',
            '\u{2029}',
            '\u{202E}',
            '\u{7}',
        ] {
            assert!(is_hidden(c), "{:04X}", u32::from(c));
            assert!(Authenticator::normalise_label(&format!("Kode{c}viser")).is_err());
        }
        assert!(!"Borger.dk – Flyttetjenesten, Ærø".chars().any(is_hidden));
    }

    #[test]
    fn cpr_debug_hides_the_serial_digits() {
        let cpr = Cpr::parse("0101901234").map(|c| format!("{c:?}"));
        assert_eq!(cpr, Ok("Cpr(010190-****)".into()));
    }
}
