//! End-to-end flows through the whole stack, in-process on loopback ports.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod broker_bounds;
mod broker_faults;
mod broker_logout;
mod broker_oidc;
mod broker_support;
mod broker_tokens;
mod browser_app;
mod browser_eidas;
mod browser_my_log;
mod browser_pages;
mod browser_passkey;
mod browser_saml;
mod browser_support;
mod cli;
mod delegation;
mod demo_saml;
mod eidas;
mod foundation;
mod hostile_requests;
mod idp_account;
mod idp_app;
mod idp_enrol;
mod idp_passkey;
mod idp_password;
mod idp_totp;
mod logs_hold_no_cpr;
mod my_log;
mod nodes;
mod privacy;
mod redis_ephemeral;
mod saml_pysaml2;
mod support;
