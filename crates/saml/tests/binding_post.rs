//! HTTP-POST binding: decoding a posted message within its bounds, and the auto-submitting
//! form's data for what we send.
#![allow(clippy::unwrap_used)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use eid_saml::binding::{BindingError, MessageKind, PostForm, RelayState, decode_post};
use proptest::prelude::*;

const XML: &str =
    "<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\">æ&amp;</samlp:Response>";

#[test]
fn a_form_built_by_us_decodes_back_to_the_same_message() {
    let relay = RelayState::new("rs-1 <&\">").unwrap();
    let form = PostForm::new(
        "https://sp.example.dk/acs",
        MessageKind::Response,
        XML,
        Some(&relay),
    );
    assert_eq!(form.action, "https://sp.example.dk/acs");
    assert_eq!(form.fields[0].0, "SAMLResponse");
    assert_eq!(form.fields[1], ("RelayState", "rs-1 <&\">".to_owned()));
    let msg = decode_post(
        MessageKind::Response,
        &form.fields[0].1,
        Some(&form.fields[1].1),
    )
    .unwrap();
    assert_eq!(msg.xml, XML);
    assert_eq!(msg.relay_state, Some(relay));
    // Debug output (logs) shows sizes, never the message.
    assert!(!format!("{msg:?}").contains("samlp"));
    let no_relay = PostForm::new("https://x/acs", MessageKind::Request, XML, None);
    assert_eq!(no_relay.fields.len(), 1);
    assert_eq!(no_relay.fields[0].0, "SAMLRequest");
}

#[test]
fn base64_with_line_breaks_and_without_padding_is_read() {
    let b64 = STANDARD.encode(XML);
    let wrapped: String = b64
        .as_bytes()
        .chunks(76)
        .map(|c| format!("{}\r\n", std::str::from_utf8(c).unwrap()))
        .collect();
    assert_eq!(
        decode_post(MessageKind::Request, &wrapped, None)
            .unwrap()
            .xml,
        XML
    );
    let unpadded = b64.trim_end_matches('=');
    assert_eq!(
        decode_post(MessageKind::Request, unpadded, None)
            .unwrap()
            .xml,
        XML
    );
}

#[test]
fn oversized_posts_are_refused_before_decoding() {
    let request = "A".repeat(96 * 1024 + 4);
    assert_eq!(
        decode_post(MessageKind::Request, &request, None),
        Err(BindingError::TooLarge)
    );
    let response = "A".repeat(512 * 1024 + 4);
    assert_eq!(
        decode_post(MessageKind::Response, &response, None),
        Err(BindingError::TooLarge)
    );
    // A response may be larger than a request (encrypted assertions).
    let big = STANDARD.encode("x".repeat(100 * 1024));
    assert!(decode_post(MessageKind::Response, &big, None).is_ok());
    assert_eq!(
        decode_post(MessageKind::Request, &big, None),
        Err(BindingError::TooLarge)
    );
}

#[test]
fn bad_base64_bad_utf8_empty_and_long_relay_state_are_refused() {
    assert_eq!(
        decode_post(MessageKind::Request, "not base64!", None),
        Err(BindingError::BadEncoding("SAMLRequest"))
    );
    assert_eq!(
        decode_post(MessageKind::Response, &STANDARD.encode([0xff, 0xfe]), None),
        Err(BindingError::BadEncoding("SAMLResponse"))
    );
    assert_eq!(
        decode_post(MessageKind::Request, "", None),
        Err(BindingError::MissingMessage("SAMLRequest"))
    );
    let ok = STANDARD.encode(XML);
    assert!(decode_post(MessageKind::Request, &ok, Some(&"r".repeat(80))).is_ok());
    assert_eq!(
        decode_post(MessageKind::Request, &ok, Some(&"r".repeat(81))),
        Err(BindingError::RelayStateTooLong)
    );
}

proptest! {
    #[test]
    fn decode_post_never_panics(field in "\\PC{0,300}", relay in proptest::option::of("\\PC{0,100}")) {
        let _ = decode_post(MessageKind::Request, &field, relay.as_deref());
        let _ = decode_post(MessageKind::Response, &field, relay.as_deref());
    }
}
