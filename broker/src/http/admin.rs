//! The admin API for the relying-party registry, authenticated by the admin token from the
//! configuration (`Authorization: Bearer …`).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use eid_core::{AuditOutcome, RelyingParty};
use std::sync::Arc;
use subtle::ConstantTimeEq;

use crate::registry::prepare;
use crate::state::Broker;

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

async fn authorized(broker: &Broker, headers: &HeaderMap) -> Result<(), Response> {
    let Some(expected) = broker.config.admin_token_sha256 else {
        return Err(error(StatusCode::NOT_FOUND, "the admin API is disabled"));
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let digest = ring::digest::digest(&ring::digest::SHA256, presented.as_bytes());
    if bool::from(digest.as_ref().ct_eq(&expected)) {
        Ok(())
    } else {
        let _ = broker
            .audit(broker.event("admin.rejected", AuditOutcome::Failure))
            .await;
        Err(error(StatusCode::UNAUTHORIZED, "admin token required"))
    }
}

/// `GET /admin/relying-parties`.
pub async fn list(State(broker): State<Arc<Broker>>, headers: HeaderMap) -> Response {
    if let Err(r) = authorized(&broker, &headers).await {
        return r;
    }
    match broker.relying_parties.relying_parties().await {
        Ok(all) => Json(all).into_response(),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    }
}

/// `GET /admin/relying-parties/{client_id}`.
pub async fn get(
    State(broker): State<Arc<Broker>>,
    headers: HeaderMap,
    Path(client_id): Path<String>,
) -> Response {
    if let Err(r) = authorized(&broker, &headers).await {
        return r;
    }
    match broker.relying_parties.relying_party(&client_id).await {
        Ok(Some(rp)) => Json(rp).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, "no such relying party"),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    }
}

/// Reads a registration from an admin request: like the stored form, but a plain `client_secret`
/// is accepted and replaced by its digest.
pub fn registration_from_json(mut value: serde_json::Value) -> Result<RelyingParty, String> {
    let obj = value.as_object_mut().ok_or("expected a JSON object")?;
    if let Some(secret) = obj.remove("client_secret") {
        let secret = secret.as_str().ok_or("client_secret must be a string")?;
        if secret.len() < 16 {
            return Err("client_secret shorter than 16 characters".into());
        }
        obj.insert(
            "client_secret_sha256".into(),
            serde_json::Value::String(eid_oidc::client::secret_digest_hex(secret)),
        );
    }
    serde_json::from_value(value).map_err(|e| e.to_string())
}

/// `PUT /admin/relying-parties/{client_id}`: registers or replaces.
pub async fn upsert(
    State(broker): State<Arc<Broker>>,
    headers: HeaderMap,
    Path(client_id): Path<String>,
    body: Bytes,
) -> Response {
    if let Err(r) = authorized(&broker, &headers).await {
        return r;
    }
    let rp = match serde_json::from_slice(&body)
        .map_err(|e| e.to_string())
        .and_then(registration_from_json)
    {
        Ok(rp) => rp,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e),
    };
    if rp.client_id != client_id {
        return error(
            StatusCode::BAD_REQUEST,
            "client_id in the body differs from the path",
        );
    }
    if let Err(e) = prepare(rp.clone()) {
        return error(StatusCode::BAD_REQUEST, &e.to_string());
    }
    let alg: Result<eid_keys::Alg, _> = rp.id_token_signed_response_alg.parse();
    if !alg.is_ok_and(|alg| broker.keys.signing_key(alg).is_some()) {
        return error(
            StatusCode::BAD_REQUEST,
            &format!(
                "the broker has no active {} key: run `eidbroker keygen --component broker --alg {} --state active`",
                rp.id_token_signed_response_alg, rp.id_token_signed_response_alg
            ),
        );
    }
    if let Err(e) = broker.relying_parties.upsert_relying_party(&rp).await {
        return error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string());
    }
    let _ = broker
        .registry
        .refresh(broker.relying_parties.as_ref())
        .await;
    let _ = broker
        .audit(
            broker
                .event("admin.relying_party_saved", AuditOutcome::Success)
                .client(client_id),
        )
        .await;
    Json(rp).into_response()
}

/// `DELETE /admin/relying-parties/{client_id}`.
pub async fn delete(
    State(broker): State<Arc<Broker>>,
    headers: HeaderMap,
    Path(client_id): Path<String>,
) -> Response {
    if let Err(r) = authorized(&broker, &headers).await {
        return r;
    }
    match broker
        .relying_parties
        .delete_relying_party(&client_id)
        .await
    {
        Ok(true) => {
            let _ = broker
                .registry
                .refresh(broker.relying_parties.as_ref())
                .await;
            let _ = broker
                .audit(
                    broker
                        .event("admin.relying_party_deleted", AuditOutcome::Success)
                        .client(client_id),
                )
                .await;
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(false) => error(StatusCode::NOT_FOUND, "no such relying party"),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    }
}
