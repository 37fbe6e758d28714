//! The HTTP-Redirect binding (SAML Bindings §3.4): raw deflate, base64 and URL encoding, with a
//! detached signature over the query as it was received.
//!
//! The signed octets are `SAMLRequest=…&RelayState=…&SigAlg=…` (or `SAMLResponse=…`) built from
//! the parameter values exactly as they appeared percent-encoded in the URL, never re-encoded:
//! re-encoding would let a message signed in one spelling be checked in another.

use super::keys::{PublicKeyKind, SpVerificationKey};
use super::{BindingError, MAX_INFLATED_BYTES, MAX_QUERY_BYTES, MessageKind, RelayState};
use base64::Engine as _;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use ring::signature;

/// The largest detached signature we read (RSA-8192 is 1,024 bytes).
const MAX_SIGNATURE_BYTES: usize = 1024;

/// Everything but RFC 3986 unreserved characters is percent-encoded in what we send.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Form-encodes a value we send: as above, with a space as `+`. This is exactly Python's
/// `quote_plus` (pysaml2) and close to Java's `URLEncoder` (OpenSAML): receivers that rebuild
/// the signed octets by re-encoding (pysaml2 does) then get our octets back.
fn encode_value(value: &str) -> String {
    utf8_percent_encode(value, QUERY_VALUE)
        .to_string()
        .replace("%20", "+")
}

/// A signature algorithm accepted for the Redirect binding's detached signature. SHA-1 and DSA
/// are not among them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigAlg {
    /// `http://www.w3.org/2001/04/xmldsig-more#rsa-sha256` (the OIOSAML default).
    RsaSha256,
    /// `http://www.w3.org/2001/04/xmldsig-more#rsa-sha384`.
    RsaSha384,
    /// `http://www.w3.org/2001/04/xmldsig-more#rsa-sha512`.
    RsaSha512,
    /// `http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1` (RSASSA-PSS, SHA-256).
    RsaPssSha256,
    /// `http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256` (P-256).
    EcdsaSha256,
}

impl SigAlg {
    /// Every accepted algorithm.
    pub const ALL: [SigAlg; 5] = [
        SigAlg::RsaSha256,
        SigAlg::RsaSha384,
        SigAlg::RsaSha512,
        SigAlg::RsaPssSha256,
        SigAlg::EcdsaSha256,
    ];

    /// The algorithm URI, as sent in `SigAlg`.
    pub fn uri(self) -> &'static str {
        match self {
            SigAlg::RsaSha256 => "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
            SigAlg::RsaSha384 => "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
            SigAlg::RsaSha512 => "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
            SigAlg::RsaPssSha256 => "http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1",
            SigAlg::EcdsaSha256 => "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
        }
    }

    /// Parses an algorithm URI, exactly (only the accepted ones).
    pub fn from_uri(uri: &str) -> Option<SigAlg> {
        SigAlg::ALL.into_iter().find(|a| a.uri() == uri)
    }

    /// The kind of key that signs with it.
    pub fn key_kind(self) -> PublicKeyKind {
        match self {
            SigAlg::EcdsaSha256 => PublicKeyKind::EcP256,
            _ => PublicKeyKind::Rsa,
        }
    }

    fn verifies(self, key: &SpVerificationKey, message: &[u8], sig: &[u8]) -> bool {
        let alg: &dyn signature::VerificationAlgorithm = match self {
            SigAlg::RsaSha256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            SigAlg::RsaSha384 => &signature::RSA_PKCS1_2048_8192_SHA384,
            SigAlg::RsaSha512 => &signature::RSA_PKCS1_2048_8192_SHA512,
            SigAlg::RsaPssSha256 => &signature::RSA_PSS_2048_8192_SHA256,
            // XML-DSig writes ECDSA as r‖s; some SAML stacks send DER here. Both are one signature.
            SigAlg::EcdsaSha256 if sig.len() == 64 => &signature::ECDSA_P256_SHA256_FIXED,
            SigAlg::EcdsaSha256 => &signature::ECDSA_P256_SHA256_ASN1,
        };
        signature::UnparsedPublicKey::new(alg, key.ring_bytes())
            .verify(message, sig)
            .is_ok()
    }
}

/// The detached signature of a received message.
#[derive(Debug, Clone, PartialEq, Eq)]
struct DetachedSignature {
    /// `SigAlg`, percent-decoded (compared exactly against the allow-list).
    sig_alg: String,
    /// `Signature`, base64-decoded.
    value: Vec<u8>,
    /// The octets the signature covers, from the query as received.
    signed_octets: Vec<u8>,
}

/// A message received by the Redirect binding: inflated, bounded, not yet trusted. Its `Debug`
/// shows sizes only (the XML may name a person).
#[derive(Clone, PartialEq, Eq)]
pub struct RedirectMessage {
    kind: MessageKind,
    xml: String,
    relay_state: Option<RelayState>,
    signature: Option<DetachedSignature>,
}

/// Decodes the raw query string of a Redirect-binding request (everything after `?`, exactly as
/// received, still percent-encoded). Parameters other than the five SAML ones are ignored; a
/// SAML parameter given twice is refused.
pub fn decode_redirect(
    raw_query: &str,
    kind: MessageKind,
) -> Result<RedirectMessage, BindingError> {
    if raw_query.len() > MAX_QUERY_BYTES {
        return Err(BindingError::TooLarge);
    }
    let raw_query = raw_query.strip_prefix('?').unwrap_or(raw_query);
    let mut request = None;
    let mut response = None;
    let mut relay = None;
    let mut sig_alg = None;
    let mut sig = None;
    for pair in raw_query.split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (slot, name) = match name {
            "SAMLRequest" => (&mut request, "SAMLRequest"),
            "SAMLResponse" => (&mut response, "SAMLResponse"),
            "RelayState" => (&mut relay, "RelayState"),
            "SigAlg" => (&mut sig_alg, "SigAlg"),
            "Signature" => (&mut sig, "Signature"),
            _ => continue,
        };
        if slot.replace(value).is_some() {
            return Err(BindingError::DuplicateParameter(name));
        }
    }
    let param = kind.parameter();
    let raw_message = match (kind, request, response) {
        (MessageKind::Request, Some(m), None) | (MessageKind::Response, None, Some(m)) => m,
        _ => return Err(BindingError::MissingMessage(param)),
    };
    let xml = inflate_message(raw_message, param)?;
    let relay_state = relay
        .map(|raw| RelayState::new(form_decode(raw, "RelayState")?))
        .transpose()?;
    let signature = match (sig_alg, sig) {
        (None, None) => None,
        (Some(raw_alg), Some(raw_sig)) => {
            let value = base64_decode(&percent_decode(raw_sig, "Signature")?, "Signature")?;
            if value.is_empty() || value.len() > MAX_SIGNATURE_BYTES {
                return Err(BindingError::BadEncoding("Signature"));
            }
            let mut signed_octets = format!("{param}={raw_message}");
            if let Some(raw_relay) = relay {
                signed_octets.push_str("&RelayState=");
                signed_octets.push_str(raw_relay);
            }
            signed_octets.push_str("&SigAlg=");
            signed_octets.push_str(raw_alg);
            Some(DetachedSignature {
                sig_alg: form_decode(raw_alg, "SigAlg")?,
                value,
                signed_octets: signed_octets.into_bytes(),
            })
        }
        _ => return Err(BindingError::Unsigned),
    };
    Ok(RedirectMessage {
        kind,
        xml,
        relay_state,
        signature,
    })
}

impl std::fmt::Debug for RedirectMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedirectMessage")
            .field("kind", &self.kind)
            .field("xml_bytes", &self.xml.len())
            .field(
                "relay_state_bytes",
                &self.relay_state.as_ref().map(|r| r.0.len()),
            )
            .field("signed", &self.signature.is_some())
            .finish()
    }
}

impl RedirectMessage {
    /// `SAMLRequest` or `SAMLResponse`.
    pub fn kind(&self) -> MessageKind {
        self.kind
    }

    /// The inflated XML before its signature is checked: only to find the sender (the
    /// `Issuer`) whose metadata keys [`RedirectMessage::verify`] then needs.
    pub fn xml_unverified(&self) -> &str {
        &self.xml
    }

    /// The `RelayState`, if one was sent.
    pub fn relay_state(&self) -> Option<&RelayState> {
        self.relay_state.as_ref()
    }

    /// Whether the message carries a detached signature (checked or not).
    pub fn is_signed(&self) -> bool {
        self.signature.is_some()
    }

    /// Checks the detached signature with the sender's metadata keys and returns the XML it
    /// covers. Refused: no signature, a `SigAlg` outside the allow-list, a `SigAlg` that fits
    /// none of the keys, no keys, or a signature no key verifies.
    pub fn verify(&self, keys: &[SpVerificationKey]) -> Result<&str, BindingError> {
        let sig = self.signature.as_ref().ok_or(BindingError::Unsigned)?;
        let alg = SigAlg::from_uri(&sig.sig_alg).ok_or(BindingError::UnsupportedSigAlg)?;
        if keys.is_empty() {
            return Err(BindingError::NoKey);
        }
        let mut fitting = keys
            .iter()
            .filter(|k| k.kind() == alg.key_kind())
            .peekable();
        if fitting.peek().is_none() {
            return Err(BindingError::SigAlgKeyMismatch);
        }
        if fitting.any(|key| alg.verifies(key, &sig.signed_octets, &sig.value)) {
            Ok(&self.xml)
        } else {
            Err(BindingError::BadSignature)
        }
    }

    /// [`RedirectMessage::verify`] with the sender's certificates (DER) from its metadata.
    pub fn verify_with_certificates(&self, certificates: &[Vec<u8>]) -> Result<&str, BindingError> {
        let keys = certificates
            .iter()
            .map(|der| SpVerificationKey::from_certificate_der(der))
            .collect::<Result<Vec<_>, _>>()?;
        self.verify(&keys)
    }
}

/// The URL that carries an unsigned message to `destination` by HTTP-Redirect.
pub fn redirect_url(
    destination: &str,
    kind: MessageKind,
    xml: &str,
    relay_state: Option<&RelayState>,
) -> Result<String, BindingError> {
    let query = unsigned_query(kind, xml, relay_state);
    join_url(destination, &query)
}

/// The URL that carries a message to `destination` by HTTP-Redirect, signed by `sign` (the key
/// store's signer for `alg`) over the query octets, which are then sent exactly as signed.
pub fn signed_redirect_url<E: std::fmt::Display>(
    destination: &str,
    kind: MessageKind,
    xml: &str,
    relay_state: Option<&RelayState>,
    alg: SigAlg,
    sign: impl FnOnce(&[u8]) -> Result<Vec<u8>, E>,
) -> Result<String, BindingError> {
    let mut query = unsigned_query(kind, xml, relay_state);
    query.push_str("&SigAlg=");
    query.push_str(&encode_value(alg.uri()));
    let signature = sign(query.as_bytes()).map_err(|e| BindingError::Signing(e.to_string()))?;
    query.push_str("&Signature=");
    query.push_str(&encode_value(&STANDARD.encode(signature)));
    join_url(destination, &query)
}

fn unsigned_query(kind: MessageKind, xml: &str, relay_state: Option<&RelayState>) -> String {
    let deflated = miniz_oxide::deflate::compress_to_vec(xml.as_bytes(), 6);
    let mut query = format!("{}=", kind.parameter());
    query.push_str(&encode_value(&STANDARD.encode(deflated)));
    if let Some(relay) = relay_state {
        query.push_str("&RelayState=");
        query.push_str(&encode_value(relay.as_str()));
    }
    query
}

fn join_url(destination: &str, query: &str) -> Result<String, BindingError> {
    if destination.is_empty() || destination.contains('#') {
        return Err(BindingError::BadDestination);
    }
    let sep = if destination.contains('?') { '&' } else { '?' };
    Ok(format!("{destination}{sep}{query}"))
}

/// Percent-decodes, base64-decodes and inflates the message parameter, within the bounds.
fn inflate_message(raw: &str, param: &'static str) -> Result<String, BindingError> {
    let deflated = base64_decode(&percent_decode(raw, param)?, param)?;
    let xml = miniz_oxide::inflate::decompress_to_vec_with_limit(&deflated, MAX_INFLATED_BYTES)
        .map_err(|e| match e.status {
            miniz_oxide::inflate::TINFLStatus::HasMoreOutput => BindingError::InflatedTooLarge,
            _ => BindingError::BadDeflate,
        })?;
    String::from_utf8(xml).map_err(|_| BindingError::BadEncoding(param))
}

/// Percent-decodes a base64 value; `+` stays `+` (a base64 character some senders leave as is).
fn percent_decode(raw: &str, param: &'static str) -> Result<String, BindingError> {
    percent_decode_str(raw)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| BindingError::BadEncoding(param))
}

/// Form-decodes a text value (`+` is a space).
fn form_decode(raw: &str, param: &'static str) -> Result<String, BindingError> {
    percent_decode(&raw.replace('+', " "), param)
}

/// Standard base64 with or without padding, ignoring the line breaks some encoders insert.
pub(crate) fn base64_decode(text: &str, param: &'static str) -> Result<Vec<u8>, BindingError> {
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    LENIENT
        .decode(compact)
        .map_err(|_| BindingError::BadEncoding(param))
}
