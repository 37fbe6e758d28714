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
pub const NATURAL_MINIMUM: [&AttributeDef; 4] = [
    &PERSON_IDENTIFIER,
    &FAMILY_NAME,
    &GIVEN_NAME,
    &DATE_OF_BIRTH,
];

/// The legal-person minimum data set.
pub const LEGAL_MINIMUM: [&AttributeDef; 2] = [&LEGAL_PERSON_IDENTIFIER, &LEGAL_NAME];

/// A definition from its parts (the constants below).
const fn def(
    name: &'static str,
    friendly: &'static str,
    xsi_type: &'static str,
    transliterated: bool,
    legal: bool,
) -> AttributeDef {
    AttributeDef {
        name,
        friendly,
        xsi_type,
        transliterated,
        legal,
    }
}

/// Every attribute of the profile (eIDAS SAML Attribute Profile 1.2 and the EU node 2.9's
/// additions), natural persons first.
pub const ALL: [&AttributeDef; 26] = [
    &PERSON_IDENTIFIER,
    &FAMILY_NAME,
    &GIVEN_NAME,
    &DATE_OF_BIRTH,
    &def(
        "http://eidas.europa.eu/attributes/naturalperson/BirthName",
        "BirthName",
        "eidas-natural:BirthNameType",
        true,
        false,
    ),
    &def(
        "http://eidas.europa.eu/attributes/naturalperson/PlaceOfBirth",
        "PlaceOfBirth",
        "eidas-natural:PlaceOfBirthType",
        false,
        false,
    ),
    &def(
        "http://eidas.europa.eu/attributes/naturalperson/CurrentAddress",
        "CurrentAddress",
        "eidas-natural:CurrentAddressType",
        false,
        false,
    ),
    &def(
        "http://eidas.europa.eu/attributes/naturalperson/Gender",
        "Gender",
        "eidas-natural:GenderType",
        false,
        false,
    ),
    &def(
        "http://eidas.europa.eu/attributes/naturalperson/PhoneNumber",
        "PhoneNumber",
        "eidas-natural:PhoneNumberType",
        false,
        false,
    ),
    &def(
        "http://eidas.europa.eu/attributes/naturalperson/Nationality",
        "Nationality",
        "eidas-natural:NationalityType",
        false,
        false,
    ),
    &def(
        "http://eidas.europa.eu/attributes/naturalperson/CountryOfBirth",
        "CountryOfBirth",
        "eidas-natural:CountryOfBirthType",
        false,
        false,
    ),
    &def(
        "http://eidas.europa.eu/attributes/naturalperson/TownOfBirth",
        "TownOfBirth",
        "eidas-natural:TownOfBirthType",
        false,
        false,
    ),
    &def(
        "http://eidas.europa.eu/attributes/naturalperson/CountryOfResidence",
        "CountryOfResidence",
        "eidas-natural:CountryOfResidenceType",
        false,
        false,
    ),
    &def(
        "http://eidas.europa.eu/attributes/naturalperson/EmailAddress",
        "EmailAddress",
        "eidas-natural:EmailAddressType",
        false,
        false,
    ),
    &LEGAL_PERSON_IDENTIFIER,
    &LEGAL_NAME,
    &def(
        "http://eidas.europa.eu/attributes/legalperson/LegalPersonAddress",
        "LegalAddress",
        "eidas-legal:LegalPersonAddressType",
        false,
        true,
    ),
    &def(
        "http://eidas.europa.eu/attributes/legalperson/VATRegistrationNumber",
        "VATRegistration",
        "eidas-legal:VATRegistrationNumberType",
        false,
        true,
    ),
    &def(
        "http://eidas.europa.eu/attributes/legalperson/TaxReference",
        "TaxReference",
        "eidas-legal:TaxReferenceType",
        false,
        true,
    ),
    &def(
        "http://eidas.europa.eu/attributes/legalperson/D-2012-17-EUIdentifier",
        "D-2012-17-EUIdentifier",
        "eidas-legal:D-2012-17-EUIdentifierType",
        false,
        true,
    ),
    &def(
        "http://eidas.europa.eu/attributes/legalperson/LEI",
        "LEI",
        "eidas-legal:LEIType",
        false,
        true,
    ),
    &def(
        "http://eidas.europa.eu/attributes/legalperson/EORI",
        "EORI",
        "eidas-legal:EORIType",
        false,
        true,
    ),
    &def(
        "http://eidas.europa.eu/attributes/legalperson/SEED",
        "SEED",
        "eidas-legal:SEEDType",
        false,
        true,
    ),
    &def(
        "http://eidas.europa.eu/attributes/legalperson/SIC",
        "SIC",
        "eidas-legal:SICType",
        false,
        true,
    ),
    &def(
        "http://eidas.europa.eu/attributes/legalperson/LegalPhoneNumber",
        "LegalPhoneNumber",
        "eidas-legal:LegalPhoneNumberType",
        false,
        true,
    ),
    &def(
        "http://eidas.europa.eu/attributes/legalperson/LegalEmailAddress",
        "LegalEmailAddress",
        "eidas-legal:LegalEmailAddressType",
        false,
        true,
    ),
];

/// The definition of the attribute called `name` (a URI), if the profile knows it.
pub fn definition(name: &str) -> Option<&'static AttributeDef> {
    ALL.into_iter().find(|d| d.name == name)
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
        let country = |c: &str| c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase());
        let mut parts = s.splitn(3, '/');
        let (issuing, destination, id) = (parts.next()?, parts.next()?, parts.next()?);
        let id_ok = (1..=250).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic());
        (s.len() <= Self::MAX_CHARS && country(issuing) && country(destination) && id_ok)
            .then(|| PersonIdentifier(s.to_owned()))
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
