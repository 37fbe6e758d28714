//! The protocol-neutral login core: SSO sessions, the decision whether a request needs an
//! authentication, the completion of a login (level, "act on behalf of"), pairwise identifiers and
//! attribute release. No HTTP, no OIDC or SAML wire types: every frontend uses it.

pub mod decision;
pub mod login;
pub mod pairwise;
pub mod release;
pub mod representation;
pub mod session;

pub use decision::{AuthnRequest, Decision, decide, only_raises_level};
pub use login::{Completed, LoginStep, Rejection, complete, next_step};
pub use release::{Released, release};
pub use session::SsoSession;
