//! OpenID Connect provider building blocks, shared by every OIDC provider in the system (the broker
//! towards services, the authenticator and the eIDAS connector towards the broker).
//!
//! Plain functions and types over validated input: no HTTP framework, no storage driver.
//!
//! With the `rp` feature (off by default), the `rp` module is the other side: an OpenID Connect
//! relying-party client of one upstream provider (discovery, authorization-code flow with PKCE, ID
//! token checks), used by the broker towards the identity providers it federates and by the
//! broker's own relying parties (the delegation portal, the eIDAS proxy service) without depending
//! on the broker. It makes HTTP requests with `reqwest` and `openidconnect`, which the providers do
//! not compile without the feature; it still holds no HTTP framework types.

pub mod authorize;
pub mod client;
pub mod client_auth;
pub mod error;
pub mod grant;
pub mod logout;
pub mod params;
pub mod pkce;
pub mod random;
#[cfg(feature = "rp")]
pub mod rp;
pub mod seal;

pub use authorize::{AuthorizeRequest, Prompt, RawParams};
pub use client::{ClientRegistration, TokenEndpointAuthMethod};
pub use error::{ErrorCode, OAuthError};
