//! The test harness: starts the whole stack in-process on loopback ports with its own data
//! directory, and gives tests browser-like HTTP clients and OIDC helpers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod chrome;
pub mod client;
pub mod cluster;
pub mod forms;
pub mod oidc;
pub mod stack;

pub use client::Browser;
pub use eidbroker::config::Component;
pub use stack::{StackBuilder, TestStack};
