//! Client authentication at the broker's token, PAR, revocation and introspection endpoints:
//! `client_secret_basic`, `client_secret_post`, and `private_key_jwt` (RFC 7523) with a `jti` replay
//! cache.

use eid_core::AuditOutcome;
use eid_oidc::client_auth::{PresentedCredentials, authenticate_with_secret};
use eid_oidc::params::is_valid_identifier;
use eid_oidc::{OAuthError, RawParams, TokenEndpointAuthMethod};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

use super::audit::audit_refusal;
use crate::registry::RegisteredRp;
use crate::state::Broker;

/// Longest lifetime a client assertion may claim.
const MAX_ASSERTION_LIFETIME: i64 = 300;

#[derive(Debug, Deserialize)]
struct AssertionClaims {
    iss: String,
    sub: String,
    exp: i64,
    #[serde(default)]
    iat: Option<i64>,
    jti: Option<String>,
}

/// [`authenticate`], auditing a refusal as `kind` (with the error, the reason and `ip` if known)
/// through [`audit_refusal`]: a registered client is named and waited for; a `client_id` that
/// names none is budgeted, detached and truncated.
pub async fn authenticate_audited(
    broker: &Broker,
    authorization: Option<&str>,
    form: &RawParams,
    endpoint: &str,
    kind: &str,
    ip: Option<&str>,
) -> Result<Arc<RegisteredRp>, OAuthError> {
    match authenticate(broker, authorization, form, endpoint).await {
        Ok(rp) => Ok(rp),
        Err(e) => {
            let mut event = broker
                .event(kind, AuditOutcome::Failure)
                .detail("error", e.code.as_str())
                .detail("reason", e.description.clone());
            if let Some(ip) = ip {
                event = event.ip(ip);
            }
            let named = named_client(authorization, form);
            audit_refusal(broker, named.as_deref(), event).await?;
            Err(e)
        }
    }
}

/// The client a request's credentials name, to attribute a refusal to: Basic's user when the
/// header is sent (whatever the form says), else the form's `client_id`, else an assertion's
/// issuer.
fn named_client(authorization: Option<&str>, form: &RawParams) -> Option<String> {
    if authorization.is_some() {
        let presented = PresentedCredentials::from_request(authorization, &RawParams::default());
        return presented.ok()?.client_id().map(str::to_owned);
    }
    match (form.get("client_id"), form.get("client_assertion")) {
        (Some(id), _) => Some(id.to_owned()),
        (None, Some(assertion)) => unverified_issuer(assertion),
        (None, None) => None,
    }
}

/// Authenticates the client of a request; returns its registration.
pub async fn authenticate(
    broker: &Broker,
    authorization: Option<&str>,
    form: &RawParams,
    endpoint: &str,
) -> Result<Arc<RegisteredRp>, OAuthError> {
    let presented = PresentedCredentials::from_request(authorization, form)?;
    match &presented {
        PresentedCredentials::Assertion {
            client_id,
            assertion,
        } => verify_assertion(broker, client_id.as_deref(), assertion, endpoint).await,
        _ => {
            let client_id = presented
                .client_id()
                .ok_or_else(|| OAuthError::invalid_client("client_id is missing"))?;
            let rp = broker
                .registry
                .get(client_id)
                .ok_or_else(|| OAuthError::invalid_client("unknown client"))?;
            authenticate_with_secret(&rp.client, &presented)?;
            Ok(rp)
        }
    }
}

async fn verify_assertion(
    broker: &Broker,
    client_id: Option<&str>,
    assertion: &str,
    endpoint: &str,
) -> Result<Arc<RegisteredRp>, OAuthError> {
    let bad = |why: &str| OAuthError::invalid_client(format!("client assertion refused: {why}"));
    // The issuer names the client; read it before verifying only to find the client's keys.
    let unverified_iss = unverified_issuer(assertion).ok_or_else(|| bad("malformed"))?;
    if client_id.is_some_and(|id| id != unverified_iss) {
        return Err(bad("client_id differs from the assertion's issuer"));
    }
    let rp = broker
        .registry
        .get(&unverified_iss)
        .ok_or_else(|| OAuthError::invalid_client("unknown client"))?;
    if rp.client.auth_method != TokenEndpointAuthMethod::PrivateKeyJwt {
        return Err(OAuthError::invalid_client(format!(
            "client is registered for {}",
            rp.client.auth_method.as_str()
        )));
    }
    let jwks = rp.jwks.as_ref().ok_or_else(|| bad("client has no keys"))?;
    let header = decode_header(assertion).map_err(|_| bad("malformed header"))?;
    if !matches!(
        header.alg,
        Algorithm::ES256 | Algorithm::RS256 | Algorithm::PS256
    ) {
        return Err(bad("algorithm not allowed"));
    }
    let jwk = match &header.kid {
        Some(kid) => jwks.find(kid),
        None if jwks.keys.len() == 1 => jwks.keys.first(),
        None => None,
    }
    .ok_or_else(|| bad("unknown key"))?;
    let key = DecodingKey::from_jwk(jwk).map_err(|_| bad("unusable key"))?;
    let mut validation = Validation::new(header.alg);
    validation.set_audience(&[endpoint, broker.config.issuer.as_str()]);
    validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
    validation.leeway = 30;
    let claims = decode::<AssertionClaims>(assertion, &key, &validation)
        .map_err(|e| bad(&e.to_string()))?
        .claims;
    if claims.iss != rp.rp.id || claims.sub != rp.rp.id {
        return Err(bad("iss and sub must both be the client id"));
    }
    let now = broker.now();
    if claims.exp - claims.iat.unwrap_or(now) > MAX_ASSERTION_LIFETIME
        || claims.exp - now > MAX_ASSERTION_LIFETIME
    {
        return Err(bad("lifetime too long"));
    }
    let jti = claims
        .jti
        .filter(|j| !j.is_empty() && j.len() <= 256)
        .ok_or_else(|| bad("jti missing"))?;
    let ttl = Duration::from_secs(u64::try_from(claims.exp - now + 60).unwrap_or(60));
    let fresh = broker
        .ephemeral
        .put_if_absent(
            &format!(
                "broker:jti:{}:{}",
                rp.rp.id,
                eid_oidc::random::digest_key(&jti)
            ),
            b"1",
            ttl,
        )
        .await?;
    if !fresh {
        return Err(bad("jti replayed"));
    }
    Ok(rp)
}

/// The `iss` of a JWT's payload, unverified, if it is a well-formed identifier (it names the
/// client whose keys verify the rest).
fn unverified_issuer(jwt: &str) -> Option<String> {
    use base64::Engine;
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    value
        .get("iss")?
        .as_str()
        .filter(|iss| is_valid_identifier(iss))
        .map(str::to_owned)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use proptest::prelude::*;

    fn jwt_with(payload: &serde_json::Value) -> String {
        format!(
            "eyJhbGciOiJFUzI1NiJ9.{}.c2ln",
            URL_SAFE_NO_PAD.encode(payload.to_string())
        )
    }

    #[test]
    fn the_issuer_is_read_only_when_it_is_a_well_formed_identifier() {
        let iss = |v: serde_json::Value| unverified_issuer(&jwt_with(&v));
        assert_eq!(
            iss(serde_json::json!({ "iss": "rp-jwt" })),
            Some("rp-jwt".into())
        );
        assert_eq!(iss(serde_json::json!({ "iss": "rp\0" })), None);
        assert_eq!(iss(serde_json::json!({ "iss": "r".repeat(256) })), None);
        assert_eq!(iss(serde_json::json!({ "iss": 7 })), None);
        assert_eq!(iss(serde_json::json!({ "sub": "rp" })), None);
        assert_eq!(unverified_issuer("no-dots"), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any assertion text is read without a panic; an issuer that comes out is well formed.
        #[test]
        fn any_assertion_yields_at_most_a_well_formed_issuer(
            text in ".{0,120}",
            iss in ".{0,40}",
        ) {
            if let Some(found) = unverified_issuer(&text) {
                prop_assert!(is_valid_identifier(&found));
            }
            let read = unverified_issuer(&jwt_with(&serde_json::json!({ "iss": iss })));
            prop_assert_eq!(read.is_some(), is_valid_identifier(&iss));
            if let Some(found) = read {
                prop_assert_eq!(found, iss);
            }
        }
    }
}
