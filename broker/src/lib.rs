//! The SSO broker: an OpenID Connect provider towards services (and, with the SAML issue, a SAML
//! IdP), a protocol-neutral login core, and upstream identity providers reached through
//! [`eid_oidc::rp`].
//!
//! `core/` is the login core (no HTTP, no wire types); `login/` carries a login from a frontend's
//! request through an upstream and back (the pending login, the callback); `oidc/` is the OIDC
//! frontend's protocol logic; `logout` carries a session's end to every relying party and the
//! upstream; `ports` and `adapters` are the upstreams (over `eid_oidc::rp`) and back-channel
//! logout; `http/` holds the handlers.

pub mod adapters;
pub mod core;
pub mod http;
pub mod login;
pub mod logout;
pub mod my;
pub mod oidc;
pub mod ports;
pub mod registry;
pub mod saml;
pub mod saml_metadata;
pub mod settings;
pub mod state;
#[cfg(test)]
pub(crate) mod testing;
pub mod texts;

pub use http::router;
pub use state::{Broker, BrokerConfig, BrokerDeps};
