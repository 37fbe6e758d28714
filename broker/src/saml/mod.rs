//! The SAML 2.0 frontend towards service providers (the OIOSAML 3 IdP profile): our metadata
//! ([`idp`]), the single sign-on service receiving AuthnRequests ([`sso`]) and the Response that
//! answers them ([`response`]), single logout ([`slo`]), and the signed messages kept as evidence
//! ([`evidence`]). Plain functions; no HTTP types. The login itself is the
//! protocol-neutral core's, as for OIDC.

pub mod evidence;
pub mod idp;
pub mod privileges;
pub mod response;
pub mod slo;
pub mod sso;

use eid_core::{Lang, Loa};
use eid_saml::binding::{BindingError, PostForm};
use eid_saml::messages::MessageError;
use serde::{Deserialize, Serialize};
use std::time::Duration;

use crate::state::Broker;

/// Where our metadata is published (also our entity ID).
pub const METADATA_PATH: &str = "/saml/metadata";
/// The single sign-on service (Redirect and POST bindings).
pub const SSO_PATH: &str = "/saml/sso";
/// The single logout service named in our metadata (HTTP-Redirect and HTTP-POST; SOAP at
/// [`slo::SOAP_PATH`]).
pub const SLO_PATH: &str = "/saml/slo";
/// The script that submits the POST-binding form (no inline script under the CSP).
pub const POST_SCRIPT_PATH: &str = "/static/saml-post.js";
/// How far an AuthnRequest's `IssueInstant` may lie from our clock, either way.
pub const CLOCK_SKEW: time::Duration = time::Duration::minutes(5);
/// How long a request ID is remembered: longer than the whole window it is accepted in.
pub const REQUEST_ID_TTL: Duration = Duration::from_secs(2 * 5 * 60 + 60);
/// How long the assertion and its subject confirmation are valid.
pub const ASSERTION_TTL: time::Duration = time::Duration::minutes(5);
/// How long our metadata says it is valid.
pub const METADATA_VALIDITY: time::Duration = time::Duration::days(7);

/// Our entity ID: the metadata URL.
pub fn entity_id(broker: &Broker) -> String {
    format!("{}{METADATA_PATH}", broker.config.issuer)
}

/// Our SSO URL: the `Destination` every AuthnRequest must name.
pub fn sso_url(broker: &Broker) -> String {
    format!("{}{SSO_PATH}", broker.config.issuer)
}

/// A verified AuthnRequest as a pending login keeps it: what the answer needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SamlRequest {
    /// The request's `ID` (the Response's `InResponseTo`).
    pub request_id: String,
    /// The service provider's entity ID.
    pub sp: String,
    /// The ACS URL from the SP's metadata the Response goes to.
    pub acs: String,
    /// The `RelayState` to echo (at most 80 bytes, checked by the binding).
    pub relay_state: Option<String>,
    /// The lowest level the request accepts.
    pub min_loa: Option<Loa>,
    /// The language of the POST page.
    pub lang: Lang,
}

/// An auto-submitting form carrying a SAML message to a service, in the person's language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostPage {
    /// Where it posts and what.
    pub form: PostForm,
    /// The page language.
    pub lang: Lang,
}

/// Why an AuthnRequest is refused with an error page rather than a Response: the request or its
/// sender could not be verified, so nothing may be sent to the ACS it names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SsoRejection {
    /// The binding could not be decoded, or its signature is missing or wrong.
    #[error("binding: {0}")]
    Binding(#[from] BindingError),
    /// The message is not an acceptable AuthnRequest, or fails a check.
    #[error("message: {0}")]
    Message(#[from] MessageError),
    /// The `Issuer` is no registered service provider.
    #[error("unknown issuer")]
    UnknownSp,
    /// A POST-binding request without an XML signature, or one no metadata key verifies.
    #[error("signature: {0}")]
    Signature(String),
    /// The signed request names another issuer than the one whose key verified it.
    #[error("the signed request's issuer is not the service whose key verified it")]
    IssuerMismatch,
    /// The request ID was seen before.
    #[error("the request ID was used before")]
    Replayed,
    /// No SAMLRequest parameter, or the body is not a form.
    #[error("no SAML request")]
    NoRequest,
    /// The service registered no front-channel single logout endpoint to answer at.
    #[error("the service has no single logout endpoint")]
    NoSloEndpoint,
    /// A LogoutResponse that answers no LogoutRequest of ours still awaited (never sent,
    /// expired, or answered before).
    #[error("the LogoutResponse answers no awaited logout request")]
    UnknownLogoutRequest,
}

impl SsoRejection {
    /// A short, fixed reason for the audit log (never the input).
    pub fn reason(&self) -> String {
        self.to_string()
    }
}
