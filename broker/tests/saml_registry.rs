//! Registering SAML service providers from their metadata: what is refused, and what the
//! registration holds.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use eid_broker::registry::{SamlSpConfig, prepare_saml};
use eid_core::Attribute;
use harness::saml::{ACS, SP, sp_metadata};
use time::OffsetDateTime;

fn register(
    metadata: &str,
    release: &[&str],
    aes_cbc: bool,
) -> Result<eid_broker::registry::RegisteredSp, String> {
    let release: Vec<String> = release.iter().map(|s| (*s).to_owned()).collect();
    prepare_saml(
        &SamlSpConfig {
            metadata,
            name: "SAML service",
            sector: "sector",
            release: &release,
            aes_cbc,
            representation: false,
            requires_cpr: false,
            service_areas: &[],
        },
        OffsetDateTime::now_utc(),
    )
    .map_err(|e| e.to_string())
}

#[test]
fn a_service_is_registered_from_its_metadata() {
    let sp = register(&sp_metadata(), &["cpr"], false).unwrap();
    assert_eq!(sp.rp.id, SP);
    assert!(sp.rp.may_receive(Attribute::Cpr));
    assert!(!sp.rp.may_receive(Attribute::Name));
    assert_eq!(sp.sp.acs[0].location, ACS);
    assert_eq!(sp.encryption.data, eid_saml::enc::DataAlg::Aes256Gcm);
    let cbc = register(&sp_metadata(), &[], true).unwrap();
    assert_eq!(cbc.encryption.data, eid_saml::enc::DataAlg::Aes256Cbc);
}

#[test]
fn metadata_without_an_encryption_key_is_refused() {
    let metadata = sp_metadata();
    let start = metadata
        .find("<md:KeyDescriptor use=\"encryption\">")
        .unwrap();
    let end = metadata[start..].find("</md:KeyDescriptor>").unwrap()
        + start
        + "</md:KeyDescriptor>".len();
    let without = format!("{}{}", &metadata[..start], &metadata[end..]);
    let e = register(&without, &[], false).unwrap_err();
    assert!(e.contains("no encryption certificate"), "{e}");
}

#[test]
fn an_unknown_attribute_or_broken_or_expired_metadata_is_refused() {
    let e = register(&sp_metadata(), &["shoe_size"], false).unwrap_err();
    assert!(e.contains("shoe_size"), "{e}");
    let e = register("<md:EntityDescriptor/>", &[], false).unwrap_err();
    assert!(e.contains("metadata"), "{e}");
    let expired = sp_metadata().replacen(
        "entityID=",
        "validUntil=\"2020-01-01T00:00:00Z\" entityID=",
        1,
    );
    let e = register(&expired, &[], false).unwrap_err();
    assert!(e.contains("expired"), "{e}");
}
