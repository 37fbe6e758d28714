//! The protocol-neutral login core: SSO sessions, the decision whether a request needs an
//! authentication, identity resolution into pairwise identifiers, and attribute release. No HTTP, no
//! OIDC or SAML wire types: the OIDC frontend today and the SAML frontend later both use it.

pub mod decision;
pub mod pairwise;
pub mod release;
pub mod session;

pub use decision::{AuthnRequest, Decision, decide};
pub use session::SsoSession;
