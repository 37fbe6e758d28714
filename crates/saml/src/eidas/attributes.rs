//! eIDAS attributes (PROTOCOLS.md §4.2): names, friendly names, value types, which need a
//! Latin-script transliteration, and the PersonIdentifier's `XX/YY/id` form.

use std::fmt;

/// One eIDAS attribute as the profile defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttributeDef {
    /// Its `Name` (URI).
    pub name: &'static str,
    /// Its `FriendlyName`.
    pub friendly: &'static str,
    /// The `xsi:type` of its values (e.g. `eidas-natural:PersonIdentifierType`).
    pub xsi_type: &'static str,
    /// Whether a non-Latin value must come with a Latin transliteration (`LatinScript`).
    pub transliterated: bool,
    /// Whether it is a legal-person attribute.
    pub legal: bool,
}

/// `…/naturalperson/PersonIdentifier`.
pub const PERSON_IDENTIFIER: AttributeDef = AttributeDef {
    name: "http://eidas.europa.eu/attributes/naturalperson/PersonIdentifier",
    friendly: "PersonIdentifier",
    xsi_type: "eidas-natural:PersonIdentifierType",
    transliterated: false,
    legal: false,
};
/// `…/naturalperson/CurrentFamilyName`.
pub const FAMILY_NAME: AttributeDef = AttributeDef {
    name: "http://eidas.europa.eu/attributes/naturalperson/CurrentFamilyName",
    friendly: "FamilyName",
    xsi_type: "eidas-natural:CurrentFamilyNameType",
    transliterated: true,
    legal: false,
};
/// `…/naturalperson/CurrentGivenName`.
pub const GIVEN_NAME: AttributeDef = AttributeDef {
    name: "http://eidas.europa.eu/attributes/naturalperson/CurrentGivenName",
    friendly: "FirstName",
    xsi_type: "eidas-natural:CurrentGivenNameType",
    transliterated: true,
    legal: false,
};
/// `…/naturalperson/DateOfBirth` (`YYYY-MM-DD`).
pub const DATE_OF_BIRTH: AttributeDef = AttributeDef {
    name: "http://eidas.europa.eu/attributes/naturalperson/DateOfBirth",
    friendly: "DateOfBirth",
    xsi_type: "eidas-natural:DateOfBirthType",
    transliterated: false,
    legal: false,
};
/// `…/legalperson/LegalPersonIdentifier`.
pub const LEGAL_PERSON_IDENTIFIER: AttributeDef = AttributeDef {
    name: "http://eidas.europa.eu/attributes/legalperson/LegalPersonIdentifier",
    friendly: "LegalPersonIdentifier",
    xsi_type: "eidas-legal:LegalPersonIdentifierType",
    transliterated: false,
    legal: true,
};
/// `…/legalperson/LegalName`.
pub const LEGAL_NAME: AttributeDef = AttributeDef {
    name: "http://eidas.europa.eu/attributes/legalperson/LegalName",
    friendly: "LegalName",
    xsi_type: "eidas-legal:LegalNameType",
    transliterated: true,
    legal: true,
};

/// The natural-person minimum data set, required in every natural-person request.
pub const NATURAL_MINIMUM: [&AttributeDef; 4] =
    [&PERSON_IDENTIFIER, &FAMILY_NAME, &GIVEN_NAME, &DATE_OF_BIRTH];

/// The legal-person minimum data set.
pub const LEGAL_MINIMUM: [&AttributeDef; 2] = [&LEGAL_PERSON_IDENTIFIER, &LEGAL_NAME];

/// The definition of the attribute called `name` (a URI), if the profile knows it.
pub fn definition(name: &str) -> Option<&'static AttributeDef> {
    let _ = name;
    todo!("eidas: attribute definitions (every natural- and legal-person attribute of §4.2)")
}

/// A `PersonIdentifier` (or `LegalPersonIdentifier`): `XX/YY/<id>`, `XX` the issuing country and
/// `YY` the destination (ISO 3166-1 alpha-2, upper case; `EL` for Greece), `<id>` visible
/// characters, no whitespace, at most 256 characters in all.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct PersonIdentifier(String);

impl PersonIdentifier {
    /// The longest identifier accepted.
    pub const MAX_CHARS: usize = 256;

    /// Reads and checks an identifier.
    pub fn parse(s: &str) -> Option<PersonIdentifier> {
        let _ = s;
        todo!("eidas: PersonIdentifier::parse")
    }

    /// An identifier from its parts (checked as [`PersonIdentifier::parse`] checks).
    pub fn new(issuing: &str, destination: &str, id: &str) -> Option<PersonIdentifier> {
        PersonIdentifier::parse(&format!("{issuing}/{destination}/{id}"))
    }

    /// The issuing country (`XX`).
    pub fn issuing_country(&self) -> &str {
        &self.0[..2]
    }

    /// The destination country (`YY`).
    pub fn destination_country(&self) -> &str {
        &self.0[3..5]
    }

    /// The whole identifier.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PersonIdentifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
