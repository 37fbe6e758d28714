//! "My log": a person reads every login, every release of their data and every act on their
//! behalf ([`eid_core::my_log`]), through the broker's own single sign-on session at level
//! Substantial or higher (a weaker or missing session logs in first, through the same login core
//! as every relying party, with this page as a built-in registration that receives nothing).
//!
//! Only the session's own person key is ever read: nothing in a request names whose log it is.

pub mod filter;
pub mod texts;
pub mod view;

use eid_core::relying_party::SamlSp;
use eid_core::{Lang, Loa, Protocol, RelyingParty, SubjectType};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::sync::Arc;

use crate::core::AuthnRequest;
use crate::login::Refusal;
use crate::oidc::BrokerError;
use crate::state::Broker;

/// The id of the built-in registration of the log page (reserved: no relying party may have it,
/// see [`eid_core::relying_party::RESERVED_ID_PREFIX`]).
pub const MY_LOG_ID: &str = "eidbroker:my-log";
/// The level a session needs to read the log.
pub const MIN_LOA: Loa = Loa::Substantial;
/// Most events an export or an overview reads (a person's whole log in practice: years of
/// history are thousands of events).
pub const MAX_EXPORT: usize = 200_000;

/// What the log reads, as the broker's deployment provides it.
#[derive(Clone)]
pub struct MyLogSources {
    /// The audit log, read by person.
    pub log: Arc<dyn eid_core::AuditLog>,
    /// The person register, for the names of people who acted for the person (or they for).
    pub persons: Option<Arc<dyn eid_core::PersonRepository>>,
}

impl std::fmt::Debug for MyLogSources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MyLogSources").finish_non_exhaustive()
    }
}

/// A login begun by the log page: where to go back to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MyLogRequest {
    /// The page language.
    pub lang: Lang,
    /// The page's query to return to, as [`filter::LogFilter::to_query`] wrote it (never the
    /// browser's own text).
    pub query: String,
}

/// The built-in registration of the log page: its name in `lang`; it receives no attribute, is
/// never offered representation and needs no CPR number.
pub fn registration(lang: Lang) -> RelyingParty {
    RelyingParty {
        id: MY_LOG_ID.to_owned(),
        name: texts::texts(lang).title.to_owned(),
        sector: MY_LOG_ID.to_owned(),
        subject_type: SubjectType::Pairwise,
        release: BTreeSet::new(),
        representation: false,
        requires_cpr: false,
        service_areas: Vec::new(),
        // No endpoint: nothing can be sent to it.
        protocol: Protocol::Saml(SamlSp {
            entity_id: MY_LOG_ID.to_owned(),
            acs: Vec::new(),
            slo: Vec::new(),
            signing_certificates: Vec::new(),
            encryption_certificate: None,
        }),
    }
}

/// What the log page asks of a session.
pub fn authn() -> AuthnRequest {
    AuthnRequest {
        rp: MY_LOG_ID.to_owned(),
        min_loa: Some(MIN_LOA),
        force: false,
        passive: false,
        max_age: None,
    }
}

fn page_url(broker: &Broker, path: &str, query: &str) -> Result<url::Url, BrokerError> {
    let mut url = url::Url::parse(&format!("{}{path}", broker.config.issuer))
        .map_err(|e| BrokerError::BadRequest(e.to_string()))?;
    if !query.is_empty() {
        url.set_query(Some(query));
    }
    Ok(url)
}

/// Back to the page after a login.
pub fn back_to(broker: &Broker, req: &MyLogRequest) -> Result<url::Url, BrokerError> {
    page_url(broker, "/my", &req.query)
}

/// To the page that says the login did not happen and what to do.
pub fn not_logged_in(
    broker: &Broker,
    req: &MyLogRequest,
    refusal: Refusal,
) -> Result<url::Url, BrokerError> {
    let why = match refusal {
        Refusal::Cancelled => "cancelled",
        Refusal::LevelNotReached => "level",
        Refusal::Unavailable => "unavailable",
        _ => "failed",
    };
    page_url(
        broker,
        "/my/not-logged-in",
        &format!("why={why}&lang={}", req.lang.tag()),
    )
}
