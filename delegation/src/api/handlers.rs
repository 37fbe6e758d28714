//! Thin handlers: authenticate, parse, call the registry, answer with [`wire`]'s views. The
//! caller is checked before the input, so an unauthenticated request learns nothing of it.

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use eid_core::{Cvr, MandateId, Side};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::error::ApiError;
use super::wire::{self, ListQuery, OrganisationQuery, SideParam};
use super::{ApiState, openapi as description};
use crate::registry::GrantDraft;

type ApiResult = Result<Value, ApiError>;

async fn body<T: DeserializeOwned>(headers: &HeaderMap, body: Body) -> Result<T, ApiError> {
    let bytes = axum::body::to_bytes(body, wire::MAX_BODY)
        .await
        .map_err(|_| ApiError::TooLarge(wire::MAX_BODY))?;
    wire::parse_json(headers, &bytes)
}

fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(q)| q)
        .map_err(|e| ApiError::BadRequest(format!("query: {}", e.body_text())))
}

fn mandate_id(id: &str) -> Result<MandateId, ApiError> {
    MandateId::parse(id).ok_or_else(|| ApiError::BadRequest("id: a mandate id is a UUID".into()))
}

fn cvr(cvr: &str) -> Result<Cvr, ApiError> {
    Cvr::parse(cvr).map_err(|e| ApiError::BadRequest(format!("cvr: {e}")))
}

fn draft(s: &ApiState, d: &GrantDraft) -> Value {
    wire::draft(d, d.prepared_at + s.registry().settings().draft_ttl)
}

/// Any path under `/api/` that is not a route.
pub async fn not_found(State(s): State<ApiState>) -> Response {
    s.respond(StatusCode::NOT_FOUND, Err(ApiError::UnknownOperation))
}

/// A route's path with another method.
pub async fn not_allowed(State(s): State<ApiState>) -> Response {
    s.respond(StatusCode::OK, Err(ApiError::MethodNotAllowed))
}

/// `GET /api/openapi.json`.
pub async fn openapi(State(s): State<ApiState>) -> Response {
    s.respond(StatusCode::OK, Ok(description::document()))
}

/// `GET /api/mandates/given`.
pub async fn given(
    State(s): State<ApiState>,
    headers: HeaderMap,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Response {
    let r: ApiResult = async {
        let me = s.caller(&headers).await?;
        let limit = query(q)?.limit()?;
        Ok(wire::mandates(&s.registry().given(&me, limit).await?))
    }
    .await;
    s.respond(StatusCode::OK, r)
}

/// `GET /api/mandates/held`.
pub async fn held(
    State(s): State<ApiState>,
    headers: HeaderMap,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Response {
    let r: ApiResult = async {
        let me = s.caller(&headers).await?;
        let limit = query(q)?.limit()?;
        Ok(wire::mandates(&s.registry().held(&me, limit).await?))
    }
    .await;
    s.respond(StatusCode::OK, r)
}

/// `GET /api/mandates/pending`.
pub async fn pending(State(s): State<ApiState>, headers: HeaderMap) -> Response {
    let r: ApiResult = async {
        let me = s.caller(&headers).await?;
        let held = s.registry().held(&me, wire::MAX_LIMIT).await?;
        let given = s.registry().given(&me, wire::MAX_LIMIT).await?;
        Ok(wire::pending(&held, &given))
    }
    .await;
    s.respond(StatusCode::OK, r)
}

/// `POST /api/grants`.
pub async fn prepare_grant(State(s): State<ApiState>, headers: HeaderMap, b: Body) -> Response {
    let r: ApiResult = async {
        let me = s.caller(&headers).await?;
        let input = body::<wire::GrantBody>(&headers, b).await?.into_input()?;
        let d = s.registry().prepare_grant(&me, input).await?;
        Ok(draft(&s, &d))
    }
    .await;
    s.respond(StatusCode::CREATED, r)
}

/// `POST /api/confirmations`.
pub async fn confirm(State(s): State<ApiState>, headers: HeaderMap, b: Body) -> Response {
    let r: ApiResult = async {
        let me = s.caller(&headers).await?;
        let c = body::<wire::ConfirmBody>(&headers, b)
            .await?
            .into_confirmation()?;
        Ok(wire::mandate(&s.registry().confirm(&me, &c).await?))
    }
    .await;
    s.respond(StatusCode::OK, r)
}

/// `POST /api/requests`.
pub async fn request(State(s): State<ApiState>, headers: HeaderMap, b: Body) -> Response {
    let r: ApiResult = async {
        let me = s.caller(&headers).await?;
        let input = body::<wire::RequestBody>(&headers, b).await?.into_input()?;
        Ok(wire::mandate(&s.registry().request(&me, input).await?))
    }
    .await;
    s.respond(StatusCode::CREATED, r)
}

/// `GET /api/mandates/{id}`.
pub async fn mandate(
    State(s): State<ApiState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let r: ApiResult = async {
        let me = s.caller(&headers).await?;
        let (view, history) = s.registry().history(&me, mandate_id(&id)?).await?;
        Ok(json!({ "mandate": wire::mandate(&view), "history": wire::history(&history) }))
    }
    .await;
    s.respond(StatusCode::OK, r)
}

/// `POST /api/mandates/{id}/approval`.
pub async fn prepare_approval(
    State(s): State<ApiState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let r: ApiResult = async {
        let me = s.caller(&headers).await?;
        let d = s.registry().prepare_approval(&me, mandate_id(&id)?).await?;
        Ok(draft(&s, &d))
    }
    .await;
    s.respond(StatusCode::CREATED, r)
}

/// The three state changes by id.
#[derive(Clone, Copy)]
enum Change {
    Accept,
    Decline,
    Revoke,
}

async fn change(s: &ApiState, headers: &HeaderMap, id: &str, change: Change) -> Response {
    let r: ApiResult = async {
        let me = s.caller(headers).await?;
        let id = mandate_id(id)?;
        let reg = s.registry();
        let view = match change {
            Change::Accept => reg.accept(&me, id).await,
            Change::Decline => reg.decline(&me, id).await,
            Change::Revoke => reg.revoke(&me, id).await,
        }?;
        Ok(wire::mandate(&view))
    }
    .await;
    s.respond(StatusCode::OK, r)
}

/// `POST /api/mandates/{id}/accept`.
pub async fn accept(
    State(s): State<ApiState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    change(&s, &headers, &id, Change::Accept).await
}

/// `POST /api/mandates/{id}/decline`.
pub async fn decline(
    State(s): State<ApiState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    change(&s, &headers, &id, Change::Decline).await
}

/// `POST /api/mandates/{id}/revoke`.
pub async fn revoke(
    State(s): State<ApiState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    change(&s, &headers, &id, Change::Revoke).await
}

/// `GET /api/organisations`.
pub async fn organisations(State(s): State<ApiState>, headers: HeaderMap) -> Response {
    let r: ApiResult = async {
        let me = s.caller(&headers).await?;
        let orgs = s.registry().administered(&me).await?;
        Ok(json!({
            "organisations": orgs
                .iter()
                .map(|o| json!({ "cvr": o.cvr, "name": o.name }))
                .collect::<Vec<_>>()
        }))
    }
    .await;
    s.respond(StatusCode::OK, r)
}

/// `GET /api/organisations/{cvr}/mandates`.
pub async fn organisation_mandates(
    State(s): State<ApiState>,
    headers: HeaderMap,
    Path(org): Path<String>,
    q: Result<Query<OrganisationQuery>, QueryRejection>,
) -> Response {
    let r: ApiResult = async {
        let me = s.caller(&headers).await?;
        let org = cvr(&org)?;
        let q = query(q)?;
        let limit = ListQuery { limit: q.limit }.limit()?;
        let side = match q.side.unwrap_or(SideParam::Given) {
            SideParam::Given => Side::Given,
            SideParam::Held => Side::Held,
        };
        let list = s
            .registry()
            .organisation_mandates(&me, &org, side, limit)
            .await?;
        Ok(wire::mandates(&list))
    }
    .await;
    s.respond(StatusCode::OK, r)
}

/// `POST /api/organisations/{cvr}/rights`.
pub async fn assign_right(
    State(s): State<ApiState>,
    headers: HeaderMap,
    Path(org): Path<String>,
    b: Body,
) -> Response {
    let r: ApiResult = async {
        let me = s.caller(&headers).await?;
        let org = cvr(&org)?;
        let input = body::<wire::RightBody>(&headers, b)
            .await?
            .into_input(org)?;
        Ok(wire::mandate(&s.registry().assign_right(&me, input).await?))
    }
    .await;
    s.respond(StatusCode::CREATED, r)
}

/// `POST /api/organisations/{cvr}/powers`.
pub async fn grant_power(
    State(s): State<ApiState>,
    headers: HeaderMap,
    Path(org): Path<String>,
    b: Body,
) -> Response {
    let r: ApiResult = async {
        let me = s.caller(&headers).await?;
        let org = cvr(&org)?;
        let input = body::<wire::PowerBody>(&headers, b)
            .await?
            .into_input(org)?;
        Ok(wire::mandate(
            &s.registry().grant_business_power(&me, input).await?,
        ))
    }
    .await;
    s.respond(StatusCode::CREATED, r)
}
