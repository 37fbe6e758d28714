//! The SSO broker: an OpenID Connect provider towards services (and, with the SAML issue, a SAML
//! IdP), a protocol-neutral login core, and OIDC clients towards upstream identity providers.
//!
//! `core/` is the login core (no HTTP, no wire types), `oidc/` the OIDC frontend's protocol logic,
//! `upstream/` the generic upstream client, `http/` the handlers.

pub mod core;
pub mod http;
pub mod oidc;
pub mod registry;
pub mod settings;
pub mod state;
pub mod texts;
pub mod upstream;

pub use http::router;
pub use state::{Broker, BrokerConfig};
