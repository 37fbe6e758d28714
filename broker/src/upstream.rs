//! Upstreams: the broker as an OpenID Connect relying party of the identity providers it federates
//! (idp/, the eIDAS connector, any other OIDC provider added by configuration).
//!
//! The client itself lives in [`eid_oidc::rp`] (feature `rp`), so that the delegation portal and the
//! eIDAS proxy service, relying parties of the broker, can use it without depending on the broker.
//! Everything is re-exported here under its old path.

pub use eid_oidc::rp::*;
