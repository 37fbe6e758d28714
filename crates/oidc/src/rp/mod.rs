//! The OpenID Connect relying-party client (feature `rp`). The broker uses it towards the identity
//! providers it federates (its "upstreams": idp/, the eIDAS connector, any other OIDC provider added by
//! configuration; re-exported as `eid_broker::upstream`); the delegation portal, the eIDAS proxy
//! service and the demo relying party use it towards the broker.
//!
//! Protocol logic only, no axum types. One [`UpstreamClient`] per configured upstream:
//!
//! 1. [`UpstreamClient::begin`] returns the authorization URL to redirect the browser to and a
//!    [`PendingUpstream`] (state, nonce, PKCE verifier, requested minimum level) that the caller keeps in
//!    the ephemeral store, keyed by its `state`, until the callback.
//! 2. [`UpstreamClient::complete`] takes the callback's query parameters and that pending record, checks
//!    the authorization response (state, RFC 9207 `iss`, error), exchanges the code and validates the ID
//!    token, and returns the [`UpstreamIdentity`].
//!
//! Crates: `openidconnect` does discovery (issuer check), the authorization URL, PKCE and the code
//! exchange, over a `reqwest` client with redirects off and 5 s timeouts. The ID token is verified with
//! `jsonwebtoken` (`aws_lc_rs` backend) against keys decoded once from the JWKS and cached, because
//! `openidconnect`'s verifier decodes the JWK again and verifies with RustCrypto on every call, has no
//! clock-skew allowance and cannot refresh the JWKS on an unknown `kid`; the claim checks are ours
//! (see [`id_token`]) so that each failure says which check failed.

mod callback;
mod client;
mod config;
mod discovery;
mod eidas;
mod error;
mod id_token;

use std::fmt;

use eid_core::{EidasIdentity, Loa};
use serde::{Deserialize, Serialize};

pub use crate::params::{MAX_SERVICE_NAME_CHARS, valid_service_name};
pub use client::{HTTP_TIMEOUT, UpstreamClient};
pub use config::UpstreamConfig;
pub use discovery::JWKS_REFRESH_MIN_INTERVAL;
pub use eidas::ClaimMapping;
pub use error::UpstreamError;
pub use id_token::{ACCEPTED_ALGS, CLOCK_SKEW_SECS};

/// What the login core asks of an upstream login.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpstreamRequest {
    /// The lowest acceptable level (sent as `acr_values` and checked against the ID token's `acr`).
    pub acr_min: Option<Loa>,
    /// Re-authenticate even if the upstream has a session (`prompt=login`).
    pub force_login: bool,
    /// `max_age` in seconds (the ID token's `auth_time` is checked against it).
    pub max_age: Option<u64>,
    /// `login_hint`.
    pub login_hint: Option<String>,
    /// `ui_locales`, space-separated language tags.
    pub ui_locales: Option<String>,
    /// The display name of the service the person logs in to, for the upstream's pages
    /// (`service_name`). Sent only in a pushed request (RFC 9126), authenticated with the client
    /// secret, so that nobody can make the upstream name a service of their choosing; never in a
    /// plain redirect. Must pass [`valid_service_name`], else it is not sent.
    pub service_name: Option<String>,
    /// The person's country for an eIDAS upstream (two upper-case letters), sent as the
    /// authorization parameter `country` (in the pushed request too) so that the connector can
    /// skip its country chooser. Sent only by clients with [`ClaimMapping::Eidas`] and only when
    /// it passes [`eid_core::eidas::valid_country`].
    pub country: Option<String>,
    /// The relying party asked for the legal person the person represents: an eIDAS upstream is
    /// asked for the scope [`LEGAL_PERSON_SCOPE`] (its legal-person minimum data set). Ignored by
    /// other upstreams.
    pub legal_person: bool,
}

/// The scope by which the broker asks an eIDAS upstream (and a relying party asks the broker) for
/// the legal person's minimum data set besides the natural person's.
pub const LEGAL_PERSON_SCOPE: &str = "eidas_legal_person";

/// What must be kept between [`UpstreamClient::begin`] and [`UpstreamClient::complete`] (single use).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingUpstream {
    /// The upstream's configured name.
    pub upstream: String,
    /// The `state` sent; the callback must carry it.
    pub state: String,
    /// The `nonce` sent; the ID token must carry it.
    pub nonce: String,
    /// The PKCE verifier whose S256 challenge was sent.
    pub pkce_verifier: String,
    /// The requested minimum level.
    pub acr_min: Option<Loa>,
    /// The requested `max_age`.
    pub max_age: Option<u64>,
}

impl fmt::Debug for PendingUpstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingUpstream")
            .field("upstream", &self.upstream)
            .field("state", &self.state)
            .field("nonce", &self.nonce)
            .field("pkce_verifier", &"[redacted]")
            .field("acr_min", &self.acr_min)
            .field("max_age", &self.max_age)
            .finish()
    }
}

/// A person as an upstream vouched for them, after every check.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamIdentity {
    /// The upstream's configured name.
    pub upstream: String,
    /// The upstream's `sub` (for idp/: the person's stable UUID).
    pub subject: String,
    /// The achieved level (`acr`).
    pub loa: Loa,
    /// `amr` values.
    pub amr: Vec<String>,
    /// When the person authenticated (`auth_time`, else `iat`), Unix seconds.
    pub auth_time: i64,
    /// CPR number, if the upstream released it (never read from an eIDAS upstream).
    pub cpr: Option<String>,
    /// The eIDAS identity, from an upstream with [`ClaimMapping::Eidas`] only (always there for
    /// one: its login fails without a valid identifier).
    #[serde(default)]
    pub eidas: Option<EidasIdentity>,
    /// Given name.
    pub given_name: Option<String>,
    /// Family name.
    pub family_name: Option<String>,
    /// Date of birth, `YYYY-MM-DD`.
    pub birthdate: Option<String>,
    /// The raw ID token. Never kept in the session nor sent on (it holds the CPR number).
    pub id_token: String,
    /// The upstream's `sid` for this login (opaque, nothing personal): the `logout_hint` of the
    /// upstream's logout. `None` when the upstream sent none, or one longer than [`MAX_SID_LEN`] or
    /// with other than visible ASCII.
    #[serde(default)]
    pub sid: Option<String>,
}

/// The longest upstream `sid` kept.
pub const MAX_SID_LEN: usize = 128;

/// An upstream's `sid` if it is fit to keep and to put in a URL.
pub(crate) fn usable_sid(sid: Option<String>) -> Option<String> {
    sid.filter(|s| {
        !s.is_empty() && s.len() <= MAX_SID_LEN && s.bytes().all(|b| b.is_ascii_graphic())
    })
}

impl fmt::Debug for UpstreamIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpstreamIdentity")
            .field("upstream", &self.upstream)
            .field("subject", &self.subject)
            .field("loa", &self.loa)
            .field("amr", &self.amr)
            .field("auth_time", &self.auth_time)
            .field("cpr", &self.cpr.as_ref().map(|_| "[redacted]"))
            .field("given_name", &self.given_name)
            .field("family_name", &self.family_name)
            .field("birthdate", &self.birthdate)
            .field("eidas", &self.eidas)
            .finish_non_exhaustive()
    }
}
