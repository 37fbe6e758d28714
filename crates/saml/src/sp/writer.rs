//! What an SP writes: its AuthnRequest (signed by the Redirect binding) and its metadata.

use crate::NAMEID_PERSISTENT;
use crate::messages::writer::{XmlWriter, instant};
use crate::messages::{BINDING_POST, BINDING_REDIRECT, BINDING_SOAP, NS_ASSERTION, NS_PROTOCOL};
use crate::metadata::{NS_DSIG, NS_METADATA};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use eid_core::Loa;
use time::OffsetDateTime;

/// An AuthnRequest as an OIOSAML SP sends it: an explicit HTTP-POST ACS and, when a level is
/// wanted, that NSIS level with `Comparison="minimum"` (OIO-SP-06).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthnRequestOut {
    /// `ID` (see [`crate::messages::new_message_id`]).
    pub id: String,
    /// `IssueInstant`.
    pub issue_instant: OffsetDateTime,
    /// `Destination`: the IdP's SSO URL.
    pub destination: String,
    /// `Issuer`: our entity ID.
    pub issuer: String,
    /// `AssertionConsumerServiceURL`: our ACS, as in our metadata.
    pub acs_url: String,
    /// `ForceAuthn`: ask the person to authenticate again.
    pub force_authn: bool,
    /// The lowest NSIS level accepted, if any.
    pub min_loa: Option<Loa>,
}

impl AuthnRequestOut {
    /// The request as XML (unsigned: the Redirect binding signs the query).
    pub fn to_xml(&self) -> String {
        let mut w = XmlWriter::new();
        let issue_instant = instant(self.issue_instant);
        let mut attrs = vec![
            ("xmlns:samlp", NS_PROTOCOL),
            ("xmlns:saml", NS_ASSERTION),
            ("ID", self.id.as_str()),
            ("Version", "2.0"),
            ("IssueInstant", issue_instant.as_str()),
            ("Destination", self.destination.as_str()),
            ("AssertionConsumerServiceURL", self.acs_url.as_str()),
            ("ProtocolBinding", BINDING_POST),
        ];
        if self.force_authn {
            attrs.push(("ForceAuthn", "true"));
        }
        w.open("samlp:AuthnRequest", &attrs)
            .leaf("saml:Issuer", &[], &self.issuer);
        if let Some(loa) = self.min_loa {
            w.open("samlp:RequestedAuthnContext", &[("Comparison", "minimum")])
                .leaf("saml:AuthnContextClassRef", &[], loa.as_uri())
                .close("samlp:RequestedAuthnContext");
        }
        w.close("samlp:AuthnRequest").finish()
    }
}

/// An SP's metadata: signed requests, signed assertions wanted, one HTTP-POST ACS, single logout
/// by HTTP-Redirect and SOAP, persistent NameIDs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpMetadataOut {
    /// `entityID`.
    pub entity_id: String,
    /// The ACS (HTTP-POST, index 0, default).
    pub acs_url: String,
    /// The single logout endpoint by HTTP-Redirect (requests and responses), if any.
    pub slo_redirect_url: Option<String>,
    /// The single logout endpoint by SOAP (the IdP's back-channel requests), if any.
    pub slo_soap_url: Option<String>,
    /// The signing certificate (DER).
    pub signing_certificate: Vec<u8>,
    /// The encryption certificate (DER).
    pub encryption_certificate: Vec<u8>,
}

impl SpMetadataOut {
    /// The metadata as XML (unsigned: it reaches the IdP by configuration, not by a fetch).
    pub fn to_xml(&self) -> String {
        let mut w = XmlWriter::new();
        w.open(
            "md:EntityDescriptor",
            &[
                ("xmlns:md", NS_METADATA),
                ("xmlns:ds", NS_DSIG),
                ("entityID", &self.entity_id),
            ],
        )
        .open(
            "md:SPSSODescriptor",
            &[
                ("AuthnRequestsSigned", "true"),
                ("WantAssertionsSigned", "true"),
                ("protocolSupportEnumeration", NS_PROTOCOL),
            ],
        );
        for (usage, der) in [
            ("signing", &self.signing_certificate),
            ("encryption", &self.encryption_certificate),
        ] {
            w.open("md:KeyDescriptor", &[("use", usage)])
                .open("ds:KeyInfo", &[])
                .open("ds:X509Data", &[])
                .leaf("ds:X509Certificate", &[], &STANDARD.encode(der))
                .close("ds:X509Data")
                .close("ds:KeyInfo")
                .close("md:KeyDescriptor");
        }
        for (binding, url) in [
            (BINDING_REDIRECT, &self.slo_redirect_url),
            (BINDING_SOAP, &self.slo_soap_url),
        ] {
            if let Some(url) = url {
                w.empty(
                    "md:SingleLogoutService",
                    &[("Binding", binding), ("Location", url)],
                );
            }
        }
        w.leaf("md:NameIDFormat", &[], NAMEID_PERSISTENT).empty(
            "md:AssertionConsumerService",
            &[
                ("Binding", BINDING_POST),
                ("Location", &self.acs_url),
                ("index", "0"),
                ("isDefault", "true"),
            ],
        );
        w.close("md:SPSSODescriptor")
            .close("md:EntityDescriptor")
            .finish()
    }
}
