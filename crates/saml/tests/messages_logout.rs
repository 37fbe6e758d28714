//! Single logout messages: what we write reads back; what we read is checked.
#![allow(clippy::unwrap_used)]

use eid_saml::messages::{
    LogoutRequest, LogoutRequestOut, LogoutResponse, LogoutResponseOut, MessageError, NameId,
    StatusCode, new_message_id,
};
use proptest::prelude::*;
use time::Duration;
use time::macros::datetime;

const SLO: &str = "https://broker.example.dk/saml/slo";

fn name_id() -> NameId {
    NameId {
        value:
            "https://data.gov.dk/model/core/eid/person/uuid/0f8e3c8e-3c7c-4c55-9a4b-1f0c3e2d1a00"
                .into(),
        format: Some("urn:oasis:names:tc:SAML:2.0:nameid-format:persistent".into()),
        name_qualifier: None,
        sp_name_qualifier: Some("https://sp.example.dk/saml?a&b".into()),
    }
}

fn request_out() -> LogoutRequestOut {
    let now = datetime!(2026-11-30 10:00:00 UTC);
    LogoutRequestOut {
        id: new_message_id(),
        issue_instant: now,
        destination: SLO.into(),
        not_on_or_after: now + Duration::minutes(5),
        issuer: "https://sp.example.dk/saml".into(),
        name_id: name_id(),
        session_index: "_s<1>".into(),
    }
}

#[test]
fn our_logout_request_reads_back() {
    let out = request_out();
    let req = LogoutRequest::parse(&out.to_xml()).unwrap();
    assert_eq!(req.id, out.id);
    assert_eq!(req.name_id, name_id());
    assert_eq!(req.session_indexes, vec!["_s<1>".to_owned()]);
    assert_eq!(req.issuer, "https://sp.example.dk/saml");
    req.check(out.issue_instant, Duration::minutes(5), SLO)
        .unwrap();
    assert_eq!(
        req.check(out.issue_instant, Duration::minutes(5), "https://other/slo"),
        Err(MessageError::WrongDestination)
    );
    assert_eq!(
        req.check(
            out.issue_instant + Duration::minutes(6),
            Duration::minutes(5),
            SLO
        ),
        Err(MessageError::Stale)
    );
}

#[test]
fn a_logout_request_past_its_not_on_or_after_is_refused() {
    let mut out = request_out();
    let window = Duration::minutes(5);
    let now = out.issue_instant + Duration::minutes(1);
    // Fresh by its IssueInstant, but its NotOnOrAfter (plus the skew) has passed.
    out.not_on_or_after = out.issue_instant - Duration::minutes(5);
    let req = LogoutRequest::parse(&out.to_xml()).unwrap();
    assert_eq!(req.check(now, window, SLO), Err(MessageError::Stale));
    out.not_on_or_after = out.issue_instant - Duration::minutes(4) + Duration::seconds(1);
    let req = LogoutRequest::parse(&out.to_xml()).unwrap();
    req.check(now, window, SLO).unwrap();
}

#[test]
fn logout_requests_without_a_plain_name_id_or_with_a_bad_version_are_refused() {
    let xml = request_out().to_xml();
    let encrypted = xml
        .replace("<saml:NameID", "<saml:EncryptedID><saml:X")
        .replace("</saml:NameID>", "</saml:X></saml:EncryptedID>");
    assert_eq!(
        LogoutRequest::parse(&encrypted),
        Err(MessageError::Unsupported("EncryptedID"))
    );
    let missing = xml.replace("saml:NameID", "saml:Other");
    assert_eq!(
        LogoutRequest::parse(&missing),
        Err(MessageError::MissingElement("NameID"))
    );
    let commented = xml.replace("1a00</saml:NameID>", "1a00<!---->x</saml:NameID>");
    assert_eq!(
        LogoutRequest::parse(&commented),
        Err(MessageError::BadElement("NameID"))
    );
    let v11 = xml.replace("Version=\"2.0\"", "Version=\"1.1\"");
    assert_eq!(
        LogoutRequest::parse(&v11),
        Err(MessageError::VersionMismatch)
    );
    let many = xml.replace(
        "<samlp:SessionIndex>",
        &format!(
            "{}<samlp:SessionIndex>",
            "<samlp:SessionIndex>x</samlp:SessionIndex>".repeat(16)
        ),
    );
    assert_eq!(LogoutRequest::parse(&many), Err(MessageError::TooLarge));
}

#[test]
fn our_logout_response_reads_back_with_its_status() {
    for status in [
        StatusCode::Success,
        StatusCode::PartialLogout,
        StatusCode::Requester,
    ] {
        let out = LogoutResponseOut {
            id: new_message_id(),
            in_response_to: "_req".into(),
            issue_instant: datetime!(2026-11-30 10:00:00 UTC),
            destination: Some("https://sp.example.dk/saml/slo".into()),
            issuer: "https://broker.example.dk/saml".into(),
            status,
        };
        let res = LogoutResponse::parse(&out.to_xml()).unwrap();
        assert_eq!(res.status, Some(status));
        assert_eq!(res.in_response_to.as_deref(), Some("_req"));
        assert_eq!(res.destination, out.destination);
    }
    let soap = LogoutResponseOut {
        id: new_message_id(),
        in_response_to: "_req".into(),
        issue_instant: datetime!(2026-11-30 10:00:00 UTC),
        destination: None,
        issuer: "https://broker.example.dk/saml".into(),
        status: StatusCode::Success,
    };
    assert!(!soap.to_xml().contains("Destination"));
    let unknown = soap.to_xml().replace("status:Success", "status:Whatever");
    assert_eq!(LogoutResponse::parse(&unknown).unwrap().status, None);
}

proptest! {
    #[test]
    fn parsing_arbitrary_text_never_panics(text in "\\PC{0,300}") {
        let _ = LogoutRequest::parse(&text);
        let _ = LogoutResponse::parse(&text);
    }

    #[test]
    fn parsing_mutated_logout_requests_never_panics(cut in 0usize..800, insert in "[<>&\"'=/a-z!\\- ]{0,12}") {
        let xml = request_out().to_xml();
        let cut = cut.min(xml.len());
        if xml.is_char_boundary(cut) {
            let _ = LogoutRequest::parse(&format!("{}{insert}{}", &xml[..cut], &xml[cut..]));
        }
    }
}
