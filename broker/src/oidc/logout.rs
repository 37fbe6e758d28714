//! Logout: RP-initiated logout ends the SSO session, sends a back-channel logout token to every
//! relying party of the session that registered a back-channel URI, and ends the upstream session
//! (a redirect to the upstream's end-session endpoint, returning to the broker).

use eid_core::AuditOutcome;
use eid_oidc::RawParams;
use eid_oidc::random::{digest_key, token256};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use url::Url;

use super::BrokerError;
use crate::core::SsoSession;
use crate::core::release::subject_for;
use crate::state::Broker;

/// The back-channel logout event (OIDC Back-Channel Logout 1.0).
pub const BACKCHANNEL_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// How long a relying party may take to accept a logout token.
pub const BACKCHANNEL_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the broker waits for the person to come back from the upstream's logout.
const CONTINUATION_TTL: Duration = Duration::from_secs(600);

/// Where to send the browser after logout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogoutContinuation {
    /// The relying party's registered post-logout redirect URI.
    pub post_logout_redirect_uri: Option<String>,
    /// Its state.
    pub state: Option<String>,
}

/// The outcome of a logout request.
#[derive(Debug)]
pub enum LogoutOutcome {
    /// Redirect to the upstream's end-session endpoint; `continuation` names what happens when the
    /// browser returns (set as a cookie).
    Upstream {
        /// The upstream logout URL.
        url: Url,
        /// The continuation id.
        continuation: String,
    },
    /// Redirect to the relying party's post-logout URI.
    Redirect(Url),
    /// Show the logged-out page.
    LoggedOut,
    /// The request cannot be honoured as asked (unregistered redirect, bad hint): show an error.
    Refused(String),
}

#[derive(Debug, Deserialize)]
struct HintClaims {
    iss: String,
    aud: serde_json::Value,
    sid: Option<String>,
}

fn hint_audience(aud: &serde_json::Value) -> Option<String> {
    match aud {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Array(a) if a.len() == 1 => a[0].as_str().map(str::to_owned),
        _ => None,
    }
}

/// Handles RP-initiated logout; a refused request is audited.
pub async fn logout(
    broker: &Broker,
    params: &RawParams,
    session_cookie: Option<&str>,
    post_logout_return: &str,
) -> Result<LogoutOutcome, BrokerError> {
    let outcome = logout_inner(broker, params, session_cookie, post_logout_return).await?;
    if let LogoutOutcome::Refused(why) = &outcome {
        let mut event = broker
            .event("logout.refused", AuditOutcome::Failure)
            .detail("reason", why.clone());
        if let Some(client) = params.get("client_id") {
            event = event.client(client.to_owned());
        }
        broker.audit(event).await?;
    }
    Ok(outcome)
}

async fn logout_inner(
    broker: &Broker,
    params: &RawParams,
    session_cookie: Option<&str>,
    post_logout_return: &str,
) -> Result<LogoutOutcome, BrokerError> {
    let mut hint_client = None;
    let mut hint_sid = None;
    if let Some(hint) = params.get("id_token_hint") {
        let Ok(verified) = broker.keys.verify_jws(hint) else {
            return Ok(LogoutOutcome::Refused(
                "id_token_hint is not an ID token of this broker".into(),
            ));
        };
        let Ok(claims) = serde_json::from_slice::<HintClaims>(&verified.payload) else {
            return Ok(LogoutOutcome::Refused("id_token_hint is malformed".into()));
        };
        if claims.iss != broker.config.issuer {
            return Ok(LogoutOutcome::Refused(
                "id_token_hint was issued by someone else".into(),
            ));
        }
        hint_client = hint_audience(&claims.aud);
        hint_sid = claims.sid;
    }
    let client_id = match (params.get("client_id"), hint_client.as_deref()) {
        (Some(a), Some(b)) if a != b => {
            return Ok(LogoutOutcome::Refused(
                "client_id differs from the hint".into(),
            ));
        }
        (Some(a), _) => Some(a.to_owned()),
        (None, b) => b.map(str::to_owned),
    };
    let post_logout = params.get("post_logout_redirect_uri");
    if let Some(uri) = post_logout {
        let registered = client_id
            .as_deref()
            .and_then(|id| broker.registry.get(id))
            .is_some_and(|rp| rp.client.has_post_logout_redirect_uri(uri));
        if !registered {
            return Ok(LogoutOutcome::Refused(
                "post_logout_redirect_uri is not registered for the client".into(),
            ));
        }
    }
    let session = match session_cookie {
        Some(cookie) => SsoSession::end_by_cookie(broker.ephemeral.as_ref(), cookie).await?,
        None => None,
    };
    let session = match (session, hint_sid) {
        (Some(s), _) => Some(s),
        (None, Some(sid)) => SsoSession::end_by_sid(broker.ephemeral.as_ref(), &sid).await?,
        (None, None) => None,
    };
    let continuation = LogoutContinuation {
        post_logout_redirect_uri: post_logout.map(str::to_owned),
        state: params.get("state").map(str::to_owned),
    };
    let Some(session) = session else {
        return finish(&continuation);
    };
    broker
        .audit(
            broker
                .event("logout", AuditOutcome::Success)
                .detail("relying_parties", session.rps.len())
                .detail("initiated_by", client_id.clone().unwrap_or_default()),
        )
        .await?;
    send_backchannel_logouts(broker, &session).await;
    let upstream = broker.upstreams.get(&session.identity.upstream);
    let upstream_url = match upstream {
        Some(client) if !session.identity.id_token.is_empty() => {
            client
                .end_session_url(&session.identity.id_token, Some(post_logout_return))
                .await
        }
        _ => None,
    };
    match upstream_url {
        Some(url) => {
            let id = token256();
            let bytes = serde_json::to_vec(&continuation)
                .map_err(|e| BrokerError::BadRequest(e.to_string()))?;
            broker
                .ephemeral
                .put(
                    &format!("broker:logout:{}", digest_key(&id)),
                    &bytes,
                    CONTINUATION_TTL,
                )
                .await?;
            Ok(LogoutOutcome::Upstream {
                url,
                continuation: id,
            })
        }
        None => finish(&continuation),
    }
}

/// Where the browser goes once every session is ended.
pub fn finish(continuation: &LogoutContinuation) -> Result<LogoutOutcome, BrokerError> {
    match &continuation.post_logout_redirect_uri {
        Some(uri) => {
            let mut url = Url::parse(uri).map_err(|e| BrokerError::BadRequest(e.to_string()))?;
            if let Some(state) = &continuation.state {
                url.query_pairs_mut().append_pair("state", state);
            }
            Ok(LogoutOutcome::Redirect(url))
        }
        None => Ok(LogoutOutcome::LoggedOut),
    }
}

/// The browser is back from the upstream's logout.
pub async fn upstream_done(
    broker: &Broker,
    continuation: Option<&str>,
) -> Result<LogoutOutcome, BrokerError> {
    let stored = match continuation {
        Some(id) if id.len() <= 64 => {
            broker
                .ephemeral
                .take(&format!("broker:logout:{}", digest_key(id)))
                .await?
        }
        _ => None,
    };
    match stored.and_then(|b| serde_json::from_slice::<LogoutContinuation>(&b).ok()) {
        Some(continuation) => finish(&continuation),
        None => Ok(LogoutOutcome::LoggedOut),
    }
}

#[derive(Serialize)]
struct LogoutToken<'a> {
    iss: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
    jti: String,
    sub: String,
    sid: &'a str,
    events: serde_json::Value,
}

/// Delivers a logout token to every relying party of the session with a back-channel URI, in
/// parallel, each within [`BACKCHANNEL_TIMEOUT`]; every delivery is audited.
pub async fn send_backchannel_logouts(broker: &Broker, session: &SsoSession) {
    let deliveries = session.rps.iter().filter_map(|client_id| {
        let rp = broker.registry.get(client_id)?;
        let uri = rp.rp.backchannel_logout_uri.clone()?;
        Some(async move {
            let now = broker.now();
            let claims = LogoutToken {
                iss: &broker.config.issuer,
                aud: &rp.rp.client_id,
                iat: now,
                exp: now + 120,
                jti: token256(),
                sub: subject_for(&rp.rp, session, &broker.pairwise),
                sid: &session.sid,
                events: serde_json::json!({ BACKCHANNEL_EVENT: {} }),
            };
            let alg = match rp.rp.id_token_signed_response_alg.as_str() {
                "RS256" => eid_keys::Alg::RS256,
                "PS256" => eid_keys::Alg::PS256,
                _ => eid_keys::Alg::ES256,
            };
            let token = broker
                .keys
                .signing_key(alg)
                .and_then(|key| key.sign_claims(Some("logout+jwt"), &claims).ok());
            let delivered = match token {
                Some(token) => broker
                    .http
                    .post(&uri)
                    .timeout(BACKCHANNEL_TIMEOUT)
                    .form(&[("logout_token", token)])
                    .send()
                    .await
                    .map(|r| r.status().is_success())
                    .unwrap_or(false),
                None => false,
            };
            let outcome = if delivered {
                AuditOutcome::Success
            } else {
                AuditOutcome::Failure
            };
            let _ = broker
                .audit(
                    broker
                        .event("logout.backchannel", outcome)
                        .client(rp.rp.client_id.clone()),
                )
                .await;
        })
    });
    futures::future::join_all(deliveries).await;
}
