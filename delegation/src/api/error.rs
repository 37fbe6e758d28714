//! The API's error policy, in one place: every failure is a JSON body
//! `{"error": <code>, "error_description": <what to do>}` with a 4xx status when the caller can
//! fix it (malformed input 400, no or bad token 401 with `WWW-Authenticate: Bearer`, a refusal
//! 403, nothing found 404, a state that does not allow it 409, a well-formed request the rules
//! refuse 422), and 503 only when the registry's store or the broker's introspection is down.
//! Refusals by the registry keep its stable reason as the code (see [`RegistryError::reason`]).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::registry::RegistryError;

/// Why an API request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No bearer token (RFC 6750 §3.1: no error code).
    #[error("send an access token of the broker as `Authorization: Bearer <token>`")]
    NoToken,
    /// The token is malformed, unknown, expired, revoked, or not one this API accepts.
    #[error("{0}")]
    InvalidToken(&'static str),
    /// The request is malformed (body, path or query).
    #[error("{0}")]
    BadRequest(String),
    /// The body is larger than the API reads.
    #[error("the request body is larger than {0} bytes")]
    TooLarge(usize),
    /// No operation at this path (or not with this method).
    #[error("no such API operation: see /api/openapi.json")]
    UnknownOperation,
    /// A route's path with another method.
    #[error("this operation does not take this method: see /api/openapi.json")]
    MethodNotAllowed,
    /// The body is not JSON.
    #[error("send the body as application/json")]
    NotJson,
    /// The registry refused or failed.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The broker's introspection endpoint could not be asked (not the caller's fault).
    #[error("the login service could not be reached: try again in a moment")]
    IntrospectionUnavailable,
}

impl ApiError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::NoToken | ApiError::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::NotJson => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::UnknownOperation => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::IntrospectionUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Registry(e) => registry_status(e),
        }
    }

    /// The `error` code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::NoToken => "invalid_request",
            ApiError::InvalidToken(_) => "invalid_token",
            ApiError::BadRequest(_) | ApiError::NotJson => "invalid_request",
            ApiError::TooLarge(_) => "request_too_large",
            ApiError::UnknownOperation => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::IntrospectionUnavailable => "temporarily_unavailable",
            // RFC 9470: the step-up a resource server asks for.
            ApiError::Registry(RegistryError::LoginNotFresh { .. }) => {
                "insufficient_user_authentication"
            }
            ApiError::Registry(RegistryError::Store(_)) => "temporarily_unavailable",
            ApiError::Registry(e) => e.reason(),
        }
    }

    /// The `WWW-Authenticate` challenge of a 401 (RFC 6750 §3, RFC 9470 §3).
    fn challenge(&self, fresh_login_secs: i64) -> Option<String> {
        match self {
            ApiError::NoToken => Some(r#"Bearer realm="delegation""#.to_owned()),
            ApiError::InvalidToken(why) => Some(format!(
                r#"Bearer realm="delegation", error="invalid_token", error_description="{why}""#
            )),
            ApiError::Registry(RegistryError::LoginNotFresh { required }) => Some(format!(
                r#"Bearer realm="delegation", error="insufficient_user_authentication", error_description="log in again to make this change", acr_values="{}", max_age={fresh_login_secs}"#,
                required.as_uri()
            )),
            _ => None,
        }
    }

    /// The response, telling a caller that must log in again the oldest login that will do.
    pub fn into_response_with(self, fresh_login_secs: i64) -> Response {
        if let ApiError::Registry(RegistryError::Store(e)) = &self {
            tracing::warn!(error = %e, "delegation API: store failed");
        }
        let description = match &self {
            ApiError::Registry(RegistryError::Store(_)) => {
                "the registry is not available: try again in a moment".to_owned()
            }
            other => other.to_string(),
        };
        let mut response = (
            self.status(),
            [(header::CACHE_CONTROL, "no-store")],
            Json(json!({ "error": self.code(), "error_description": description })),
        )
            .into_response();
        if let Some(challenge) = self
            .challenge(fresh_login_secs)
            .and_then(|c| HeaderValue::from_str(&c).ok())
        {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, challenge);
        }
        if self.status() == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.into_response_with(DEFAULT_FRESH_LOGIN_SECS)
    }
}

/// The fresh-login age told in challenges when the handler does not know the configured one.
const DEFAULT_FRESH_LOGIN_SECS: i64 = 300;

fn registry_status(e: &RegistryError) -> StatusCode {
    use RegistryError as E;
    match e {
        E::LoginNotFresh { .. } => StatusCode::UNAUTHORIZED,
        E::NotInRegister
        | E::ReDelegation
        | E::UnderAge
        | E::NotLegallyCompetent
        | E::NotAdministrator
        | E::WrongParty => StatusCode::FORBIDDEN,
        E::NotFound | E::DraftUnknown => StatusCode::NOT_FOUND,
        E::WrongState(_) | E::Changed => StatusCode::CONFLICT,
        E::PersonUnknown
        | E::PartyNotEligible
        | E::AgentIsGrantor
        | E::OrganisationUnknown
        | E::SameOrganisation
        | E::ValidityTooLong { .. }
        | E::InvalidValidity
        | E::InvalidScopes { .. }
        | E::InvalidPrivileges { .. }
        | E::DraftMismatch => StatusCode::UNPROCESSABLE_ENTITY,
        E::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use eid_core::{Loa, MandateState, StoreError};

    #[test]
    fn only_an_unavailable_store_or_broker_is_a_5xx() {
        use RegistryError as E;
        let all = [
            E::NotInRegister,
            E::ReDelegation,
            E::LoginNotFresh {
                required: Loa::Substantial,
            },
            E::UnderAge,
            E::NotLegallyCompetent,
            E::PersonUnknown,
            E::PartyNotEligible,
            E::AgentIsGrantor,
            E::OrganisationUnknown,
            E::SameOrganisation,
            E::NotAdministrator,
            E::ValidityTooLong { max_days: 1 },
            E::InvalidValidity,
            E::InvalidScopes { max: 1 },
            E::InvalidPrivileges { max: 1 },
            E::DraftUnknown,
            E::DraftMismatch,
            E::NotFound,
            E::WrongParty,
            E::WrongState(MandateState::Active),
            E::Changed,
        ];
        for e in all {
            let status = ApiError::Registry(e).status();
            assert!(status.is_client_error(), "{status}");
        }
        assert_eq!(
            ApiError::Registry(E::Store(StoreError::Unavailable("x".into()))).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }

    #[test]
    fn a_stale_login_is_told_to_step_up_as_rfc_9470_says() {
        let r = ApiError::Registry(RegistryError::LoginNotFresh {
            required: Loa::Substantial,
        })
        .into_response_with(300);
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let challenge = r.headers()[header::WWW_AUTHENTICATE].to_str().unwrap();
        assert!(challenge.contains(r#"error="insufficient_user_authentication""#));
        assert!(challenge.contains("nsis/loa/Substantial"));
        assert!(challenge.contains("max_age=300"));
    }
}
