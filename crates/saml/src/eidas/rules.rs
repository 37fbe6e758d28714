//! The rules an eIDAS message or metadata document can break ([`super::EidasError::Rule`]), and
//! the status a proxy service answers each with.

use super::{SubStatus, TopStatus};

// The envelope.
pub(crate) const VERSION: &str = "Version is not 2.0";
pub(crate) const ISSUER: &str = "the Issuer is not the expected peer";
pub(crate) const ISSUER_FORMAT: &str = "the Issuer format is not entity";
pub(crate) const NOT_CONNECTOR: &str = "the peer's metadata is not a connector's";
pub(crate) const NOT_PROXY_SERVICE: &str = "the peer's metadata is not a proxy service's";
pub(crate) const DESTINATION: &str = "the Destination is not this endpoint";
pub(crate) const UNSUPPORTED: &str = "an element the profile does not allow";

// The AuthnRequest.
pub(crate) const FORCE_AUTHN: &str = "ForceAuthn is not true";
pub(crate) const PASSIVE: &str = "IsPassive is true";
pub(crate) const SP_TYPE_BOTH: &str = "SPType is in both the request and the metadata";
pub(crate) const SP_TYPE_NEITHER: &str = "SPType is in neither the request nor the metadata";
pub(crate) const SP_TYPE_VALUE: &str = "SPType is not public or private, or occurs twice";
pub(crate) const REQUESTER_ID_TWICE: &str = "more than one RequesterID";
pub(crate) const REQUESTER_ID_VALUE: &str =
    "RequesterID is empty, longer than 1024 characters or has control characters";
pub(crate) const PROVIDER_NAME: &str = "ProviderName is too long or has control characters";
pub(crate) const ACS: &str = "AssertionConsumerServiceURL is not the connector's";
pub(crate) const BINDING: &str = "ProtocolBinding is not HTTP-POST";
pub(crate) const NAME_ID_POLICY: &str =
    "NameIDPolicy format is not persistent, transient or unspecified";
pub(crate) const ATTR_UNKNOWN: &str = "a requested attribute is not an eIDAS attribute";
pub(crate) const ATTR_TWICE: &str = "an attribute occurs twice";
pub(crate) const ATTR_NAME_FORMAT: &str = "a requested attribute's NameFormat is not uri";
pub(crate) const ATTR_TOO_MANY: &str = "too many attributes";
pub(crate) const MINIMUM_DATA_SET: &str =
    "neither the natural- nor the legal-person minimum data set is requested as required";
pub(crate) const LOA_COUNT: &str = "not exactly one level of assurance";
pub(crate) const LOA_NOT_NOTIFIED: &str = "a non-notified level of assurance";
pub(crate) const LOA_UNKNOWN: &str = "not an eIDAS level of assurance";
pub(crate) const COMPARISON: &str = "Comparison is neither minimum nor exact";

// The Response.
pub(crate) const IN_RESPONSE_TO: &str = "InResponseTo is not our request";
pub(crate) const PLAINTEXT_ASSERTION: &str = "a plaintext Assertion";
pub(crate) const ENCRYPTED_ASSERTION_COUNT: &str = "not exactly one EncryptedAssertion";
pub(crate) const FAILURE_WITH_ASSERTION: &str = "a failure status with an assertion";
pub(crate) const STATUS: &str = "the Status is not a known top-level code";
pub(crate) const ASSERTION_CONTENT: &str = "the assertion holds other than one each of Subject, Conditions and AuthnStatement and at most one AttributeStatement";
pub(crate) const NAME_ID_FORMAT: &str =
    "the NameID format is not persistent, transient or unspecified";
pub(crate) const CONFIRMATION: &str =
    "not one bearer SubjectConfirmation for our request at our ACS";
pub(crate) const AUDIENCE: &str = "we are not the only audience";
pub(crate) const CONDITION: &str = "a condition other than AudienceRestriction or OneTimeUse";
pub(crate) const LOA_TOO_LOW: &str = "the level of assurance is lower than requested";
pub(crate) const ATTR_MISSING: &str = "a required attribute is missing";
pub(crate) const ATTR_VALUE: &str = "an attribute value is malformed";
pub(crate) const PERSON_IDENTIFIER: &str =
    "the person identifier is malformed or not issued by the peer's country";

// Metadata.
pub(crate) const VALID_UNTIL: &str = "validUntil is missing";
pub(crate) const NODE_COUNTRY: &str = "NodeCountry is missing or not two upper-case letters";
pub(crate) const DESCRIPTOR: &str = "not exactly one SP or IdP SSO descriptor for SAML 2.0";
pub(crate) const ENDPOINT: &str = "no HTTP-POST endpoint at an https or loopback http URL";
pub(crate) const KEY_USE: &str = "a KeyDescriptor use is neither signing nor encryption";
pub(crate) const CERTIFICATE: &str = "a certificate is not usable";
pub(crate) const NO_SIGNING_KEY: &str = "no signing certificate";

/// The status a proxy service answers a request refused by `rule` with.
pub(crate) fn status(rule: &str) -> (TopStatus, Option<SubStatus>) {
    let sub = if rule == VERSION {
        return (TopStatus::VersionMismatch, None);
    } else if [
        ATTR_UNKNOWN,
        ATTR_TWICE,
        ATTR_NAME_FORMAT,
        ATTR_TOO_MANY,
        MINIMUM_DATA_SET,
    ]
    .contains(&rule)
    {
        SubStatus::InvalidAttrNameOrValue
    } else if rule == NAME_ID_POLICY {
        SubStatus::InvalidNameIdPolicy
    } else if [LOA_COUNT, LOA_NOT_NOTIFIED, LOA_UNKNOWN, COMPARISON].contains(&rule) {
        SubStatus::NoAuthnContext
    } else {
        SubStatus::RequestDenied
    };
    (TopStatus::Requester, Some(sub))
}
