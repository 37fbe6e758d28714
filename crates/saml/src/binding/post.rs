//! The HTTP-POST binding (SAML Bindings §3.5): a base64 form field, and the data of the
//! auto-submitting form that carries our messages (the page template renders it, escaped; the
//! broker serves the small script that submits it, with a `<noscript>` button as fallback).

use super::redirect::base64_decode;
use super::{
    BindingError, MAX_POSTED_REQUEST_BASE64, MAX_POSTED_RESPONSE_BASE64, MessageKind, RelayState,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// A message received by HTTP-POST: decoded, bounded, not yet trusted (its enveloped signature
/// is checked by the XML signature verifier). Its `Debug` shows sizes only.
#[derive(Clone, PartialEq, Eq)]
pub struct PostMessage {
    /// Which parameter carried it.
    pub kind: MessageKind,
    /// The XML, decoded from base64; untrusted until verified.
    pub xml: String,
    /// The `RelayState`, if one was posted.
    pub relay_state: Option<RelayState>,
}

impl std::fmt::Debug for PostMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostMessage")
            .field("kind", &self.kind)
            .field("xml_bytes", &self.xml.len())
            .field(
                "relay_state_bytes",
                &self.relay_state.as_ref().map(|r| r.0.len()),
            )
            .finish()
    }
}

/// Decodes the posted `SAMLRequest` or `SAMLResponse` field (base64, line breaks allowed) and
/// the optional `RelayState` field, both already form-decoded by the web layer.
pub fn decode_post(
    kind: MessageKind,
    message_field: &str,
    relay_state_field: Option<&str>,
) -> Result<PostMessage, BindingError> {
    let bound = match kind {
        MessageKind::Request => MAX_POSTED_REQUEST_BASE64,
        MessageKind::Response => MAX_POSTED_RESPONSE_BASE64,
    };
    if message_field.len() > bound {
        return Err(BindingError::TooLarge);
    }
    let param = kind.parameter();
    let bytes = base64_decode(message_field, param)?;
    if bytes.is_empty() {
        return Err(BindingError::MissingMessage(param));
    }
    let xml = String::from_utf8(bytes).map_err(|_| BindingError::BadEncoding(param))?;
    let relay_state = relay_state_field.map(RelayState::new).transpose()?;
    Ok(PostMessage {
        kind,
        xml,
        relay_state,
    })
}

/// What the auto-submitting form holds: where it posts and its hidden fields. Values are raw;
/// the template escapes them as attribute values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostForm {
    /// The form's `action` (the peer's ACS or SLO URL from its metadata).
    pub action: String,
    /// Hidden fields in order: `SAMLResponse` or `SAMLRequest`, then `RelayState` if any.
    pub fields: Vec<(&'static str, String)>,
}

impl PostForm {
    /// The form that posts `xml` as `kind` to `action`, with the `RelayState` echoed.
    pub fn new(
        action: &str,
        kind: MessageKind,
        xml: &str,
        relay_state: Option<&RelayState>,
    ) -> PostForm {
        let mut fields = vec![(kind.parameter(), STANDARD.encode(xml.as_bytes()))];
        if let Some(relay) = relay_state {
            fields.push(("RelayState", relay.as_str().to_owned()));
        }
        PostForm {
            action: action.to_owned(),
            fields,
        }
    }
}
