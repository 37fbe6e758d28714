//! The registry's REST API: JSON over HTTP for what the portal does (list given, held and
//! pending mandates; prepare a grant and confirm its draft; request, approve, accept, decline,
//! revoke; a mandate's history; organisations' rights and powers), described by OpenAPI 3.1 at
//! `/api/openapi.json`.
//!
//! It is a resource server of the broker: callers send a broker access token
//! (`Authorization: Bearer`), which [`bearer`] checks at the broker's introspection endpoint
//! and turns into the registry's [`Authenticated`](crate::registry::Authenticated). The rules
//! are the registry's (fresh login at Substantial for changes that raise what a session may do,
//! no re-delegation, …); errors follow [`error`]'s policy. Bodies are read up to
//! [`wire::MAX_BODY`] bytes.
//!
//! Wiring: `api::router(ApiState::new(registry, ApiSettings::new(…), audit, clock)?)`, merged
//! into the delegation listener's routes before `Platform::finish`.

pub mod bearer;
pub mod error;
mod handlers;
pub mod openapi;
pub mod wire;

pub use bearer::{ApiConfigError, ApiSettings};
pub use error::ApiError;

use axum::Router;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use eid_core::{AuditEvent, AuditLog, AuditOutcome, Clock};
use std::sync::Arc;
use time::OffsetDateTime;

use crate::registry::{Authenticated, COMPONENT, Registry, RegistryError};
use bearer::{Introspector, bearer_token, caller, register_id};

/// One operation of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// This description.
    OpenApi,
    /// What the caller gave.
    Given,
    /// What the caller holds or asked for.
    Held,
    /// What awaits the caller's answer.
    Pending,
    /// Prepare a grant (the draft to confirm).
    PrepareGrant,
    /// Confirm a draft (the sign step).
    Confirm,
    /// Ask someone for a power of attorney.
    Request,
    /// Prepare the approval of a request (the draft to confirm).
    PrepareApproval,
    /// Accept a pending grant.
    Accept,
    /// Decline a pending grant or a request.
    Decline,
    /// Revoke.
    Revoke,
    /// One mandate and its history.
    Mandate,
    /// Organisations the caller administers.
    Organisations,
    /// An organisation's rights and powers.
    OrganisationMandates,
    /// Assign a business right.
    AssignRight,
    /// Grant a business power.
    GrantPower,
}

/// A route: method, path (axum syntax, which is also OpenAPI's), operation.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// `get` or `post`.
    pub method: &'static str,
    /// The path.
    pub path: &'static str,
    /// The operation.
    pub op: Op,
}

const fn route(method: &'static str, path: &'static str, op: Op) -> Route {
    Route { method, path, op }
}

/// Every route of the API; the router and the OpenAPI description are both made from it.
pub const ROUTES: &[Route] = &[
    route("get", "/api/openapi.json", Op::OpenApi),
    route("get", "/api/mandates/given", Op::Given),
    route("get", "/api/mandates/held", Op::Held),
    route("get", "/api/mandates/pending", Op::Pending),
    route("post", "/api/grants", Op::PrepareGrant),
    route("post", "/api/confirmations", Op::Confirm),
    route("post", "/api/requests", Op::Request),
    route("get", "/api/mandates/{id}", Op::Mandate),
    route("post", "/api/mandates/{id}/approval", Op::PrepareApproval),
    route("post", "/api/mandates/{id}/accept", Op::Accept),
    route("post", "/api/mandates/{id}/decline", Op::Decline),
    route("post", "/api/mandates/{id}/revoke", Op::Revoke),
    route("get", "/api/organisations", Op::Organisations),
    route(
        "get",
        "/api/organisations/{cvr}/mandates",
        Op::OrganisationMandates,
    ),
    route("post", "/api/organisations/{cvr}/rights", Op::AssignRight),
    route("post", "/api/organisations/{cvr}/powers", Op::GrantPower),
];

fn handler(op: Op) -> MethodRouter<ApiState> {
    use handlers as h;
    match op {
        Op::OpenApi => get(h::openapi),
        Op::Given => get(h::given),
        Op::Held => get(h::held),
        Op::Pending => get(h::pending),
        Op::PrepareGrant => post(h::prepare_grant),
        Op::Confirm => post(h::confirm),
        Op::Request => post(h::request),
        Op::Mandate => get(h::mandate),
        Op::PrepareApproval => post(h::prepare_approval),
        Op::Accept => post(h::accept),
        Op::Decline => post(h::decline),
        Op::Revoke => post(h::revoke),
        Op::Organisations => get(h::organisations),
        Op::OrganisationMandates => get(h::organisation_mandates),
        Op::AssignRight => post(h::assign_right),
        Op::GrantPower => post(h::grant_power),
    }
}

/// The path prefix of every route.
pub const PREFIX: &str = "/api";

/// The API's routes under [`PREFIX`] (merge them into the delegation listener's router); any
/// other path or method under it gets a JSON 404 or 405.
pub fn router(state: ApiState) -> Router {
    let mut api = Router::new();
    for r in ROUTES {
        let path = r.path.strip_prefix(PREFIX).unwrap_or(r.path);
        api = api.route(path, handler(r.op));
    }
    let api = api
        .fallback(handlers::not_found)
        .method_not_allowed_fallback(handlers::not_allowed)
        .with_state(state);
    Router::new().nest(PREFIX, api)
}

/// What the API works with.
#[derive(Clone)]
pub struct ApiState(Arc<Inner>);

struct Inner {
    registry: Registry,
    introspector: Introspector,
    audit: Arc<dyn AuditLog>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState")
            .field("introspector", &self.0.introspector)
            .finish_non_exhaustive()
    }
}

impl ApiState {
    /// The API over `registry`, asking the broker per `settings`, auditing token refusals to
    /// `audit` (the registry's log) with the time of `clock` (the registry's).
    pub fn new(
        registry: Registry,
        settings: ApiSettings,
        audit: Arc<dyn AuditLog>,
        clock: Arc<dyn Clock>,
    ) -> Result<ApiState, ApiConfigError> {
        Ok(ApiState(Arc::new(Inner {
            registry,
            introspector: Introspector::new(settings)?,
            audit,
            clock,
        })))
    }

    pub(crate) fn registry(&self) -> &Registry {
        &self.0.registry
    }

    pub(crate) fn now(&self) -> OffsetDateTime {
        self.0.clock.now()
    }

    /// The caller of a request, from its bearer token. A refused token that the broker says is
    /// active (a person's token of a client the API does not accept, …) is audited, once per
    /// answer from the broker (a cached answer is not audited again, which bounds the events a
    /// replayed token can cause).
    pub(crate) async fn caller(&self, headers: &HeaderMap) -> Result<Authenticated, ApiError> {
        let token = bearer_token(
            headers
                .get(axum::http::header::AUTHORIZATION)
                .map(|v| v.as_bytes()),
        )?;
        let now = self.now();
        let (answer, fresh) = self.0.introspector.introspect(token, now).await?;
        let settings = self.0.introspector.settings();
        match caller(&answer, &settings.accepted_clients, now) {
            Ok(who) => Ok(who),
            Err(refusal) => {
                if answer.active && fresh {
                    let mut event = AuditEvent::new(
                        now,
                        COMPONENT,
                        "delegation.api_refused",
                        AuditOutcome::Failure,
                    )
                    .detail("reason", refusal.reason());
                    if let Some(client) = answer.client_id.as_deref().filter(|c| c.len() <= 200) {
                        event = event.client(client);
                    }
                    let person = answer
                        .sub
                        .as_deref()
                        .and_then(|s| {
                            Authenticated::from_public_subject(s, eid_core::Loa::Low, now, None)
                        })
                        .and_then(|a| {
                            register_id(&a.person, &self.0.registry.settings().national_upstream)
                        });
                    if let Some(id) = person {
                        event = event.person(id);
                    }
                    self.0
                        .audit
                        .append(&[event])
                        .await
                        .map_err(|e| ApiError::Registry(RegistryError::Store(e)))?;
                }
                Err(ApiError::InvalidToken(refusal.description()))
            }
        }
    }

    /// The answer to a request: the value as JSON (`status` on success), or the error.
    pub(crate) fn respond(
        &self,
        status: axum::http::StatusCode,
        result: Result<serde_json::Value, ApiError>,
    ) -> Response {
        match result {
            Ok(value) => (
                status,
                [(axum::http::header::CACHE_CONTROL, "no-store")],
                axum::Json(value),
            )
                .into_response(),
            Err(e) => e.into_response_with(self.0.registry.settings().fresh_login.whole_seconds()),
        }
    }
}
