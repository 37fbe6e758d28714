//! OpenID Connect provider building blocks, shared by every OIDC provider in the system (the broker
//! towards services, the authenticator and the eIDAS connector towards the broker).
//!
//! Plain functions and types over validated input: no HTTP framework, no storage driver.

pub mod authorize;
pub mod client;
pub mod client_auth;
pub mod error;
pub mod grant;
pub mod logout;
pub mod params;
pub mod pkce;
pub mod random;

pub use authorize::{AuthorizeRequest, Prompt, RawParams};
pub use client::{ClientRegistration, TokenEndpointAuthMethod};
pub use error::{ErrorCode, OAuthError};
