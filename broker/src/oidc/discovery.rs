//! The broker's discovery document.

use crate::state::Broker;

/// `/.well-known/openid-configuration`.
pub fn discovery(broker: &Broker) -> serde_json::Value {
    let iss = &broker.config.issuer;
    serde_json::json!({
        "issuer": iss,
        "authorization_endpoint": format!("{iss}/authorize"),
        "pushed_authorization_request_endpoint": format!("{iss}/par"),
        "token_endpoint": format!("{iss}/token"),
        "userinfo_endpoint": format!("{iss}/userinfo"),
        "jwks_uri": format!("{iss}/jwks"),
        "revocation_endpoint": format!("{iss}/revoke"),
        "introspection_endpoint": format!("{iss}/introspect"),
        "end_session_endpoint": format!("{iss}/logout"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["pairwise", "public"],
        "id_token_signing_alg_values_supported": ["ES256", "RS256", "PS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["ES256", "RS256", "PS256"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": super::tokens::SUPPORTED_SCOPES,
        "acr_values_supported": eid_core::Loa::ALL.iter().map(|l| l.as_uri()).collect::<Vec<_>>(),
        "claims_supported": ["sub", "acr", "amr", "auth_time", "sid", "loa", "cpr", "name", "given_name", "family_name", "birthdate", "eidas_person_identifier", "eidas_country"],
        "prompt_values_supported": ["none", "login"],
        "ui_locales_supported": ["da", "en"],
        "authorization_response_iss_parameter_supported": true,
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        "require_pushed_authorization_requests": false,
        "request_parameter_supported": false,
        "claims_parameter_supported": false,
    })
}
