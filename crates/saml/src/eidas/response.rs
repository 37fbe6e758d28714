//! The eIDAS Response: written by our proxy service, read by our connector (PROTOCOLS.md §4.3). The
//! Response is signed; its one assertion is encrypted to the connector (and optionally signed
//! first).

use std::sync::Arc;

use eid_keys::SigningKey;
use time::OffsetDateTime;

use super::{EidasError, EidasLoa, PeerMetadata, PersonIdentifier};
use crate::dsig::{AlgorithmPolicy, SignatureAlg};
use crate::enc::{DecryptPolicy, DecryptionKey, EncryptOptions, RecipientKey};

/// One value of an attribute.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AttributeValue {
    /// The text.
    pub value: String,
    /// `false` when the value is in a non-Latin script (`LatinScript="false"`); its Latin
    /// transliteration is then another value of the same attribute.
    pub latin_script: bool,
}

/// One attribute of an assertion.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Attribute {
    /// Its `Name` (a URI of [`super::definition`]; unknown names are dropped on reading).
    pub name: String,
    /// Its values (at least one).
    pub values: Vec<AttributeValue>,
}

impl Attribute {
    /// The value to use where one Latin-script text is needed: the first value not marked
    /// `LatinScript="false"` (the transliteration, where there is one). `None` when every value
    /// is marked non-Latin: a native-script name is never passed off as its transliteration.
    pub fn latin(&self) -> Option<&str> {
        self.values
            .iter()
            .find(|v| v.latin_script)
            .map(|v| v.value.as_str())
    }

    /// The value in the original script, if it differs from [`Attribute::latin`].
    pub fn original(&self) -> Option<&str> {
        self.values
            .iter()
            .find(|v| !v.latin_script)
            .map(|v| v.value.as_str())
    }
}

/// Top-level status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TopStatus {
    /// `urn:oasis:names:tc:SAML:2.0:status:Success`
    Success,
    /// `…:Requester`
    Requester,
    /// `…:Responder`
    Responder,
    /// `…:VersionMismatch`
    VersionMismatch,
}

/// Second-level status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SubStatus {
    /// `…:AuthnFailed`
    AuthnFailed,
    /// `…:RequestDenied` (also: the citizen declined to send their data)
    RequestDenied,
    /// `…:InvalidAttrNameOrValue`
    InvalidAttrNameOrValue,
    /// `…:InvalidNameIDPolicy`
    InvalidNameIdPolicy,
    /// `…:NoAuthnContext` (the level asked for cannot be reached)
    NoAuthnContext,
    /// Any other second-level code (read only).
    Other,
}

impl TopStatus {
    /// Every top-level code.
    pub const ALL: [TopStatus; 4] = [
        TopStatus::Success,
        TopStatus::Requester,
        TopStatus::Responder,
        TopStatus::VersionMismatch,
    ];

    /// Its URI.
    pub fn uri(self) -> &'static str {
        match self {
            TopStatus::Success => "urn:oasis:names:tc:SAML:2.0:status:Success",
            TopStatus::Requester => "urn:oasis:names:tc:SAML:2.0:status:Requester",
            TopStatus::Responder => "urn:oasis:names:tc:SAML:2.0:status:Responder",
            TopStatus::VersionMismatch => "urn:oasis:names:tc:SAML:2.0:status:VersionMismatch",
        }
    }

    /// The code a URI names, if it is a top-level one.
    pub fn from_uri(uri: &str) -> Option<TopStatus> {
        TopStatus::ALL.into_iter().find(|t| t.uri() == uri)
    }
}

impl SubStatus {
    /// Every second-level code we write.
    pub const KNOWN: [SubStatus; 5] = [
        SubStatus::AuthnFailed,
        SubStatus::RequestDenied,
        SubStatus::InvalidAttrNameOrValue,
        SubStatus::InvalidNameIdPolicy,
        SubStatus::NoAuthnContext,
    ];

    /// Its URI (none for [`SubStatus::Other`]).
    pub fn uri(self) -> Option<&'static str> {
        Some(match self {
            SubStatus::AuthnFailed => "urn:oasis:names:tc:SAML:2.0:status:AuthnFailed",
            SubStatus::RequestDenied => "urn:oasis:names:tc:SAML:2.0:status:RequestDenied",
            SubStatus::InvalidAttrNameOrValue => {
                "urn:oasis:names:tc:SAML:2.0:status:InvalidAttrNameOrValue"
            }
            SubStatus::InvalidNameIdPolicy => {
                "urn:oasis:names:tc:SAML:2.0:status:InvalidNameIDPolicy"
            }
            SubStatus::NoAuthnContext => "urn:oasis:names:tc:SAML:2.0:status:NoAuthnContext",
            SubStatus::Other => return None,
        })
    }

    /// The code a URI names ([`SubStatus::Other`] for any other SAML or eIDAS code).
    pub fn from_uri(uri: &str) -> SubStatus {
        SubStatus::KNOWN
            .into_iter()
            .find(|s| s.uri() == Some(uri))
            .unwrap_or(SubStatus::Other)
    }
}

/// A Response's status.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Status {
    /// The top-level code.
    pub top: TopStatus,
    /// The second-level code, if any.
    pub sub: Option<SubStatus>,
    /// `StatusMessage` (bounded; shown to nobody but operators).
    pub message: Option<String>,
}

/// The assertion of a successful Response.
#[derive(Debug, Clone)]
pub struct AssertionOut {
    /// The assertion's `ID`.
    pub id: String,
    /// The NameID (the PersonIdentifier's text, format `persistent`, unless the request asked for
    /// `transient`).
    pub name_id: String,
    /// The NameID format URI.
    pub name_id_format: String,
    /// The connector's entity ID (`AudienceRestriction`).
    pub audience: String,
    /// The connector's ACS (`SubjectConfirmationData@Recipient`).
    pub recipient: String,
    /// End of the bearer confirmation and of the conditions.
    pub not_on_or_after: OffsetDateTime,
    /// When the person authenticated.
    pub authn_instant: OffsetDateTime,
    /// The achieved level.
    pub loa: EidasLoa,
    /// The released attributes (only requested ones).
    pub attributes: Vec<Attribute>,
}

/// What a Response says.
#[derive(Debug, Clone)]
pub enum ResponseOutcome {
    /// Success, with the assertion.
    Success(AssertionOut),
    /// A failure status and no assertion.
    Failure(Status),
}

/// A Response our proxy service sends (HTTP-POST).
#[derive(Debug, Clone)]
pub struct ResponseOut {
    /// Its `ID`.
    pub id: String,
    /// `InResponseTo`: the AuthnRequest's ID.
    pub in_response_to: String,
    /// `IssueInstant`.
    pub issue_instant: OffsetDateTime,
    /// `Destination`: the connector's ACS from its metadata.
    pub destination: String,
    /// `Issuer` (Response and assertion): our proxy service's metadata URL.
    pub issuer: String,
    /// Success or failure.
    pub outcome: ResponseOutcome,
}

/// The keys and algorithms of one Response.
pub struct ResponseKeys<'a> {
    /// Our signing key.
    pub signing: &'a Arc<SigningKey>,
    /// Its signature algorithm (per peer).
    pub alg: SignatureAlg,
    /// Its certificate (`KeyInfo`).
    pub certificate_der: &'a [u8],
    /// Whether the assertion is signed too, before encryption (some national profiles require it).
    pub sign_assertion: bool,
    /// The connector's encryption key, from its metadata.
    pub recipient: &'a RecipientKey,
    /// The encryption algorithms (per peer).
    pub encryption: EncryptOptions,
}

impl ResponseOut {
    /// The signed Response, with its assertion encrypted (and first signed when asked), ready for
    /// base64 in an HTTP-POST form's `SAMLResponse`.
    pub fn to_signed_xml(&self, keys: &ResponseKeys<'_>) -> Result<String, EidasError> {
        super::response_write::write(self, keys)
    }
}

/// What a connector checks a Response against.
pub struct ResponseExpectations<'a> {
    /// The ID of our outstanding request (`InResponseTo` of the Response and of the
    /// confirmation).
    pub request_id: &'a str,
    /// Our ACS (`Destination`, `Recipient`).
    pub acs_url: &'a str,
    /// Our connector's entity ID (the only audience).
    pub audience: &'a str,
    /// The level we asked for (the achieved one must be at least it).
    pub requested_loa: EidasLoa,
    /// Attribute names we asked for with `isRequired`: each must be present.
    pub required: &'a [String],
    /// The proxy service's verified metadata (its entity ID must be the `Issuer`; its keys verify
    /// the Response, and the assertion if it is signed).
    pub peer: &'a PeerMetadata,
    /// The algorithms its signatures may use.
    pub signature_policy: &'a AlgorithmPolicy,
    /// Our decryption key.
    pub decryption: &'a DecryptionKey,
    /// The algorithms its encryption may use.
    pub decrypt_policy: &'a DecryptPolicy,
    /// Now (times are checked with the usual skew).
    pub now: OffsetDateTime,
}

/// A verified assertion, as far as the connector uses it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EidasAssertion {
    /// The assertion's `ID` (remember it until `not_on_or_after`, so it is used once).
    pub id: String,
    /// The NameID's text.
    pub name_id: String,
    /// The achieved level (≥ the requested one).
    pub loa: EidasLoa,
    /// `AuthnInstant`.
    #[serde(with = "time::serde::timestamp")]
    pub authn_instant: OffsetDateTime,
    /// End of the bearer confirmation.
    #[serde(with = "time::serde::timestamp")]
    pub not_on_or_after: OffsetDateTime,
    /// The attributes with known names.
    pub attributes: Vec<Attribute>,
}

impl EidasAssertion {
    /// The attribute called `name`.
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }

    /// The PersonIdentifier, if present and well-formed.
    pub fn person_identifier(&self) -> Option<PersonIdentifier> {
        self.attribute(super::PERSON_IDENTIFIER.name)
            .and_then(Attribute::latin)
            .and_then(PersonIdentifier::parse)
    }
}

/// What a verified Response says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadResponse {
    /// Success: the one decrypted, checked assertion.
    Success(EidasAssertion),
    /// The proxy service reports a failure (signed, answering our request, no assertion).
    Failure(Status),
}

/// The `Issuer` of a (not yet verified) Response, to choose whose metadata verifies it. Never
/// trusted for anything else.
pub fn response_issuer(xml: &str) -> Result<String, EidasError> {
    super::read::unverified_issuer(xml, crate::xml::QName::RESPONSE)
}

/// Verifies and checks a Response (the XML of a POSTed `SAMLResponse`): signature by the proxy
/// service's metadata keys over the Response element itself; `Issuer`, `Destination`,
/// `InResponseTo`, `IssueInstant`; a failure status is returned as [`ReadResponse::Failure`];
/// on success exactly one `EncryptedAssertion` and no plaintext `Assertion`, decrypted with our key;
/// if the decrypted assertion carries a signature, it must verify with the same pinned keys;
/// inside it exactly one Subject with one NameID, one bearer SubjectConfirmation (`Recipient`,
/// `NotOnOrAfter`, `InResponseTo`), Conditions with our audience only and a valid window, one
/// AuthnStatement whose level is a notified one ≥ the requested, at most one AttributeStatement
/// holding every required attribute, the assertion `Issuer` = the Response's.
pub fn read_response(
    xml: &str,
    expect: &ResponseExpectations<'_>,
) -> Result<ReadResponse, EidasError> {
    super::response_read::read(xml, expect)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(value: &str, latin_script: bool) -> AttributeValue {
        AttributeValue {
            value: value.into(),
            latin_script,
        }
    }

    #[test]
    fn the_latin_value_is_never_a_native_one() {
        let both = Attribute {
            name: "n".into(),
            values: vec![value("Ελένη", false), value("Eleni", true)],
        };
        assert_eq!(both.latin(), Some("Eleni"));
        assert_eq!(both.original(), Some("Ελένη"));
        let native_only = Attribute {
            name: "n".into(),
            values: vec![value("Ελένη", false)],
        };
        assert_eq!(native_only.latin(), None);
    }
}
