//! The MitID-style authenticator: a person register, four kinds of authenticator (passkey, app
//! approval, code display, password), self-service, and an OIDC provider towards the broker.
//!
//! `flow/` holds the protocol logic (no HTTP types); `http/` translates requests and outcomes.

pub mod activity;
pub mod flow;
pub mod http;
pub mod levels;
pub mod lockout;
pub mod password;
pub mod settings;
pub mod state;
pub mod texts;
pub mod totp;

pub use http::router;
pub use levels::LevelTable;
pub use lockout::LockoutPolicy;
pub use state::{Idp, IdpConfig, IdpDeps};
