//! SAML 2.0 for the eID broker: the OIOSAML 3 and eIDAS profiles.
//!
//! This crate starts with the protocol vocabulary (attribute names, NameID formats, level mapping)
//! that the broker's attribute release needs; messages, bindings, signing, verification and
//! encryption arrive with the SAML issue, behind a small strict API (see DESIGN.md §7).

use eid_core::Loa;

pub mod binding;
pub mod dsig;
pub mod eidas;
pub mod enc;
pub mod messages;
pub mod metadata;
pub mod sp;
pub mod xml;

/// OIOSAML 3 attribute names (NameFormat `uri`).
pub mod attributes {
    /// Profile version: `OIO-SAML-3.0`.
    pub const SPEC_VERSION: &str = "https://data.gov.dk/model/core/specVersion";
    /// NSIS level of assurance: the bare word `Low`, `Substantial` or `High`.
    pub const NSIS_LOA: &str = "https://data.gov.dk/concept/core/nsis/loa";
    /// Identity-proofing level.
    pub const NSIS_IAL: &str = "https://data.gov.dk/concept/core/nsis/ial";
    /// Authenticator level.
    pub const NSIS_AAL: &str = "https://data.gov.dk/concept/core/nsis/aal";
    /// Given name(s).
    pub const FIRST_NAME: &str = "https://data.gov.dk/model/core/eid/firstName";
    /// Family name.
    pub const LAST_NAME: &str = "https://data.gov.dk/model/core/eid/lastName";
    /// Full name.
    pub const FULL_NAME: &str = "https://data.gov.dk/model/core/eid/fullName";
    /// CPR number (public services only).
    pub const CPR_NUMBER: &str = "https://data.gov.dk/model/core/eid/cprNumber";
    /// Date of birth.
    pub const DATE_OF_BIRTH: &str = "https://data.gov.dk/model/core/eid/dateOfBirth";
    /// OIO-BPP privileges, base64.
    pub const PRIVILEGES: &str = "https://data.gov.dk/model/core/eid/privilegesIntermediate";
}

/// The value of the `specVersion` attribute.
pub const OIOSAML_SPEC_VERSION: &str = "OIO-SAML-3.0";

/// The persistent NameID format.
pub const NAMEID_PERSISTENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent";

/// The persistent NameID of a person, from their pairwise UUID.
pub fn person_name_id(pairwise_uuid: &str) -> String {
    format!("https://data.gov.dk/model/core/eid/person/uuid/{pairwise_uuid}")
}

/// The `nsis/loa` attribute value of a level (the bare word, not the URI).
pub fn nsis_loa_attribute(loa: Loa) -> &'static str {
    loa.as_word()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_value_is_the_bare_word_and_name_id_has_the_uuid_prefix() {
        assert_eq!(nsis_loa_attribute(Loa::Substantial), "Substantial");
        assert_eq!(
            person_name_id("0f8e3c8e-3c7c-4c55-9a4b-1f0c3e2d1a00"),
            "https://data.gov.dk/model/core/eid/person/uuid/0f8e3c8e-3c7c-4c55-9a4b-1f0c3e2d1a00"
        );
    }
}
