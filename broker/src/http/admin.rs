//! The admin API for the relying-party registry, authenticated by the admin token from the
//! configuration (`Authorization: Bearer …`).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use eid_core::{AuditOutcome, RpRegistration};
use std::sync::Arc;
use subtle::ConstantTimeEq;

use eid_oidc::params::{MAX_IDENTIFIER_LEN, is_valid_identifier};

use crate::registry::prepare;
use crate::state::Broker;

pub(super) fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

/// `Ok` if the request carries the admin token; otherwise the answer (404 when the admin API is
/// off, 401 audited when the token is missing or wrong).
pub(super) async fn authorized(broker: &Broker, headers: &HeaderMap) -> Result<(), Response> {
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
    if !is_valid_identifier(&client_id) {
        return error(StatusCode::NOT_FOUND, "no such relying party");
    }
    match broker.relying_parties.relying_party(&client_id).await {
        Ok(Some(rp)) => Json(rp).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, "no such relying party"),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    }
}

/// The shortest client secret accepted (128 bits of a random token encoded in 22 characters need
/// at least this much).
pub const MIN_CLIENT_SECRET_LEN: usize = 16;
/// The longest client secret accepted.
pub const MAX_CLIENT_SECRET_LEN: usize = 512;
/// Reads a registration from an admin request or a registration file: like the stored form, but a
/// plain `client_secret` is accepted and replaced by its digest.
///
/// One secret policy holds for every way in: a new secret is given in the clear, so that its length
/// can be checked, and only its digest is kept. A `client_secret_sha256` is accepted only when it is
/// the digest already stored for this client (`current`), so that a registration read from the admin
/// API can be written back unchanged; a digest of a secret nobody has checked is refused.
pub fn registration_from_json(
    mut value: serde_json::Value,
    current: Option<&RpRegistration>,
) -> Result<RpRegistration, String> {
    let obj = value.as_object_mut().ok_or("expected a JSON object")?;
    let secret = obj.remove("client_secret");
    let digest = obj
        .get("client_secret_sha256")
        .filter(|v| !v.is_null())
        .cloned();
    match (secret, digest) {
        (Some(_), Some(_)) => {
            return Err("give client_secret or client_secret_sha256, not both".into());
        }
        (Some(secret), None) => {
            let secret = secret.as_str().ok_or("client_secret must be a string")?;
            let chars = secret.chars().count();
            if chars < MIN_CLIENT_SECRET_LEN {
                return Err(format!(
                    "client_secret shorter than {MIN_CLIENT_SECRET_LEN} characters"
                ));
            }
            if chars > MAX_CLIENT_SECRET_LEN {
                return Err(format!(
                    "client_secret longer than {MAX_CLIENT_SECRET_LEN} characters"
                ));
            }
            obj.insert(
                "client_secret_sha256".into(),
                serde_json::Value::String(eid_oidc::client::secret_digest_hex(secret)),
            );
        }
        (None, Some(digest)) => {
            let unchanged = current
                .and_then(|rp| rp.client_secret_sha256.as_deref())
                .is_some_and(|stored| digest.as_str() == Some(stored));
            if !unchanged {
                return Err(format!(
                    "client_secret_sha256 is accepted only unchanged from the stored registration; \
                     give a new secret as client_secret (at least {MIN_CLIENT_SECRET_LEN} characters)"
                ));
            }
        }
        (None, None) => {}
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
    if !is_valid_identifier(&client_id) {
        return error(
            StatusCode::BAD_REQUEST,
            &format!("a client_id has 1 to {MAX_IDENTIFIER_LEN} bytes and no control characters"),
        );
    }
    let current = match broker.relying_parties.relying_party(&client_id).await {
        Ok(current) => current,
        Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    };
    let rp = match serde_json::from_slice(&body)
        .map_err(|e| e.to_string())
        .and_then(|value| registration_from_json(value, current.as_ref()))
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
    match saml_entity_taken(&broker, &client_id).await {
        Ok(false) => {}
        Ok(true) => {
            return error(
                StatusCode::CONFLICT,
                "the client_id is the entity ID of a SAML service provider",
            );
        }
        Err(r) => return r,
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

/// Whether `id` is a SAML service provider's entity ID (configured or stored): an OIDC client may
/// not share it (audit events and sessions name a relying party by it).
async fn saml_entity_taken(broker: &Broker, id: &str) -> Result<bool, Response> {
    if broker.registry.is_configured_saml(id) {
        return Ok(true);
    }
    broker
        .saml_service_providers
        .saml_sp(id)
        .await
        .map(|sp| sp.is_some())
        .map_err(|e| error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()))
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
    if !is_valid_identifier(&client_id) {
        return error(StatusCode::NOT_FOUND, "no such relying party");
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn registration(extra: serde_json::Value) -> serde_json::Value {
        let mut value = json!({
            "client_id": "svc",
            "client_name": "Service",
            "redirect_uris": ["https://svc.example.dk/cb"],
            "token_endpoint_auth_method": "client_secret_basic",
            "sector": "svc",
        });
        for (k, v) in extra.as_object().unwrap() {
            value[k] = v.clone();
        }
        value
    }

    #[test]
    fn a_new_secret_is_checked_and_only_its_digest_kept() {
        let rp = registration_from_json(
            registration(json!({ "client_secret": "0123456789abcdef" })),
            None,
        )
        .unwrap();
        assert_eq!(
            rp.client_secret_sha256.as_deref(),
            Some(eid_oidc::client::secret_digest_hex("0123456789abcdef").as_str())
        );
        let short = registration_from_json(registration(json!({ "client_secret": "short" })), None);
        assert!(short.unwrap_err().contains("shorter than 16"));
        let long = "x".repeat(MAX_CLIENT_SECRET_LEN + 1);
        let long = registration_from_json(registration(json!({ "client_secret": long })), None);
        assert!(long.unwrap_err().contains("longer than"));
    }

    #[test]
    fn a_digest_is_accepted_only_unchanged_from_the_stored_registration() {
        // The digest of "a": a one-character secret must not slip in as a digest.
        let weak = eid_oidc::client::secret_digest_hex("a");
        let refused =
            registration_from_json(registration(json!({ "client_secret_sha256": weak })), None);
        assert!(refused.unwrap_err().contains("client_secret_sha256"));
        let stored = registration_from_json(
            registration(json!({ "client_secret": "0123456789abcdef" })),
            None,
        )
        .unwrap();
        let round_trip = serde_json::to_value(&stored).unwrap();
        let again = registration_from_json(round_trip, Some(&stored)).unwrap();
        assert_eq!(again.client_secret_sha256, stored.client_secret_sha256);
        let other = registration_from_json(
            registration(json!({ "client_secret_sha256": weak })),
            Some(&stored),
        );
        assert!(other.is_err());
        let both = registration_from_json(
            registration(
                json!({ "client_secret": "0123456789abcdef", "client_secret_sha256": weak }),
            ),
            Some(&stored),
        );
        assert!(both.unwrap_err().contains("not both"));
    }

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            ".{0,40}".prop_map(serde_json::Value::String),
        ];
        leaf.prop_recursive(3, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
                prop::collection::btree_map(
                    prop_oneof![
                        Just("client_id".to_owned()),
                        Just("client_secret".to_owned()),
                        Just("client_secret_sha256".to_owned()),
                        Just("redirect_uris".to_owned()),
                        Just("sector".to_owned()),
                        "[a-z_]{1,12}",
                    ],
                    inner,
                    0..8
                )
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Whatever JSON an admin client sends, reading it neither panics nor keeps a plain secret,
        /// and an accepted registration's digest was computed here.
        #[test]
        fn any_admin_json_is_read_without_panic_and_never_keeps_a_plain_secret(
            value in json_value(),
            extra in json_value(),
        ) {
            let mut body = registration(json!({}));
            if let serde_json::Value::Object(m) = &extra {
                for (k, v) in m {
                    body[k] = v.clone();
                }
            }
            for candidate in [value, body] {
                let had_digest = candidate.get("client_secret_sha256").is_some_and(|v| !v.is_null());
                if let Ok(rp) = registration_from_json(candidate, None) {
                    prop_assert!(!had_digest, "a digest was accepted with nothing stored");
                    if let Some(d) = &rp.client_secret_sha256 {
                        prop_assert!(d.len() == 64 && d.bytes().all(|b| b.is_ascii_hexdigit()));
                    }
                }
            }
        }

    }
}
