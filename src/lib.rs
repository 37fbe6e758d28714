//! The `eidbroker` binary's library half: configuration, wiring of the components onto their
//! listeners, and telemetry. `src/main.rs` holds the command line only.

pub mod app;
pub mod broker;
pub mod config;
pub mod demo;
pub mod demo_rp;
pub mod demo_saml_sp;
pub mod gateway;
pub mod keys;
pub mod telemetry;
