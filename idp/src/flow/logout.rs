//! RP-initiated logout at the authenticator (OIDC RP-Initiated Logout 1.0), with the `sid` of
//! Front/Back-Channel Logout 1.0 as the `logout_hint`.
//!
//! `GET /logout` ends the browser's session only when the request names that session: its
//! `logout_hint` (or the `sid` of a valid `id_token_hint` of this provider) equals the session's
//! `sid` towards the asking client ([`IdpSession::sid_for`]), which only that client learnt, in an
//! ID token. A link on any other web page (logout CSRF) cannot know it: such a request ends nothing
//! and gets a confirmation page, whose CSRF-protected form ends the session when the person
//! confirms. A hint that does not name the browser's session is audited. The return address must be
//! registered exactly for the client; a browser without a session has nothing to end and goes back.

use eid_core::AuditOutcome;
use eid_oidc::RawParams;
use eid_oidc::logout::{Hint, LogoutParams, hint_from_claims};
use subtle::ConstantTimeEq;
use url::Url;

use super::IdpError;
use super::session::IdpSession;
use crate::state::Idp;

/// Why a logout request is refused (shown on an error page; never a redirect).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogoutRejection {
    /// A parameter is over-long or malformed, or the hint's claims are malformed or another
    /// issuer's.
    #[error(transparent)]
    Request(#[from] eid_oidc::logout::LogoutRejection),
    /// The hint's signature does not verify with this provider's keys.
    #[error("id_token_hint is not an ID token of this provider")]
    HintNotOurs,
    /// `client_id` and the hint's audience differ, or `logout_hint` and the hint's `sid`.
    #[error("client_id or logout_hint differs from the id_token_hint")]
    HintMismatch,
    /// The return address is not registered for the client.
    #[error("post_logout_redirect_uri is not registered")]
    UnregisteredRedirect,
}

/// Where the browser goes once logged out (carried through the confirmation form).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogoutContinuation {
    /// The client asking, when known.
    pub client_id: Option<String>,
    /// Its registered post-logout redirect URI.
    pub post_logout_redirect_uri: Option<String>,
    /// Its state.
    pub state: Option<String>,
}

/// The outcome of a logout request.
#[derive(Debug)]
pub enum LogoutOutcome {
    /// Ask the person to confirm; nothing has been ended.
    Confirm(LogoutContinuation),
    /// Back to the client's registered post-logout URI.
    Redirect(Url),
    /// Show the logged-out page.
    LoggedOut,
    /// The request cannot be honoured as asked: show an error, end nothing.
    Refused(LogoutRejection),
}

impl LogoutOutcome {
    /// Whether the browser's session cookie is to be removed (only once its session was ended, or
    /// there was none).
    pub fn ends_session(&self) -> bool {
        !matches!(self, LogoutOutcome::Confirm(_) | LogoutOutcome::Refused(_))
    }
}

/// A request after every check: the `sid` it names (if any) and where to go afterwards.
struct Checked {
    sid: Option<String>,
    continuation: LogoutContinuation,
}

/// One of two optional values that must agree when both are given.
fn agreed(a: Option<String>, b: Option<String>) -> Result<Option<String>, LogoutRejection> {
    match (a, b) {
        (Some(a), Some(b)) if a != b => Err(LogoutRejection::HintMismatch),
        (a, b) => Ok(a.or(b)),
    }
}

fn check(idp: &Idp, params: LogoutParams) -> Result<Checked, LogoutRejection> {
    let (aud, hint_sid) = match &params.id_token_hint {
        Some(raw) => {
            let verified = idp
                .keys
                .verify_jws(raw)
                .map_err(|_| LogoutRejection::HintNotOurs)?;
            let Hint { client_id, sid } = hint_from_claims(&verified.payload, &idp.config.issuer)?;
            (Some(client_id), sid)
        }
        None => (None, None),
    };
    let client_id = agreed(params.client_id, aud)?;
    let sid = agreed(params.logout_hint, hint_sid)?;
    if let Some(uri) = &params.post_logout_redirect_uri {
        let registered = client_id
            .as_deref()
            .and_then(|id| idp.clients.get(id))
            .is_some_and(|c| c.has_post_logout_redirect_uri(uri));
        if !registered {
            return Err(LogoutRejection::UnregisteredRedirect);
        }
    }
    Ok(Checked {
        sid,
        continuation: LogoutContinuation {
            client_id,
            post_logout_redirect_uri: params.post_logout_redirect_uri,
            state: params.state,
        },
    })
}

/// Whether `hint` is the session's `sid` towards `client_id` (compared in constant time).
fn names_session(session: &IdpSession, client_id: Option<&str>, hint: &str) -> bool {
    client_id
        .and_then(|id| session.sid_for(id))
        .is_some_and(|sid| bool::from(sid.as_bytes().ct_eq(hint.as_bytes())))
}

/// The audit event of a logout request, naming the client only when it is registered.
fn event(
    idp: &Idp,
    kind: &str,
    outcome: AuditOutcome,
    client_id: Option<&str>,
) -> eid_core::AuditEvent {
    let event = idp.event(kind, outcome);
    match client_id.and_then(|id| idp.clients.get(id)) {
        Some(client) => event.client(client.client_id.clone()),
        None => event,
    }
}

/// Handles `GET /logout`: ends the browser's session only when the request names it (see the
/// module documentation); a refused request and a hint naming no session of this browser are
/// audited.
pub async fn logout(
    idp: &Idp,
    params: &RawParams,
    session_cookie: Option<&str>,
) -> Result<LogoutOutcome, IdpError> {
    let checked = match LogoutParams::from_raw(params)
        .map_err(LogoutRejection::from)
        .and_then(|p| check(idp, p))
    {
        Ok(c) => c,
        Err(why) => {
            idp.audit(
                event(
                    idp,
                    "logout.refused",
                    AuditOutcome::Failure,
                    params.get("client_id"),
                )
                .detail("reason", why.to_string()),
            )
            .await?;
            return Ok(LogoutOutcome::Refused(why));
        }
    };
    let continuation = checked.continuation;
    let (Some(cookie), Some(session)) =
        (session_cookie, IdpSession::find(idp, session_cookie).await?)
    else {
        // No session in this browser: nothing to end.
        return finish(&continuation);
    };
    let client_id = continuation.client_id.as_deref();
    match checked.sid.as_deref() {
        Some(hint) if names_session(&session, client_id, hint) => {
            end(idp, cookie, &session, &continuation).await
        }
        Some(_) => {
            idp.audit(
                event(
                    idp,
                    "logout.hint_mismatch",
                    AuditOutcome::Failure,
                    client_id,
                )
                .person(session.person),
            )
            .await?;
            Ok(LogoutOutcome::Confirm(continuation))
        }
        None => Ok(LogoutOutcome::Confirm(continuation)),
    }
}

/// Handles the confirmation form (`POST /logout/confirm`), whose CSRF token the caller has checked:
/// ends the browser's session (if any) and continues as the request asked.
pub async fn confirm(
    idp: &Idp,
    form: &RawParams,
    session_cookie: Option<&str>,
) -> Result<LogoutOutcome, IdpError> {
    let checked = LogoutParams::from_raw(form)
        .map_err(LogoutRejection::from)
        .and_then(|p| {
            check(
                idp,
                LogoutParams {
                    id_token_hint: None,
                    logout_hint: None,
                    ..p
                },
            )
        });
    let continuation = match checked {
        Ok(c) => c.continuation,
        Err(why) => {
            idp.audit(
                event(
                    idp,
                    "logout.refused",
                    AuditOutcome::Failure,
                    form.get("client_id"),
                )
                .detail("reason", why.to_string()),
            )
            .await?;
            return Ok(LogoutOutcome::Refused(why));
        }
    };
    let session = IdpSession::find(idp, session_cookie).await?;
    match (session_cookie, session) {
        (Some(cookie), Some(session)) => end(idp, cookie, &session, &continuation).await,
        _ => finish(&continuation),
    }
}

async fn end(
    idp: &Idp,
    cookie: &str,
    session: &IdpSession,
    continuation: &LogoutContinuation,
) -> Result<LogoutOutcome, IdpError> {
    IdpSession::end(idp, cookie).await?;
    let client_id = continuation.client_id.as_deref();
    idp.audit(event(idp, "logout", AuditOutcome::Success, client_id).person(session.person))
        .await?;
    finish(continuation)
}

/// Where the browser goes once the session is ended.
fn finish(continuation: &LogoutContinuation) -> Result<LogoutOutcome, IdpError> {
    match &continuation.post_logout_redirect_uri {
        Some(uri) => {
            let mut url = Url::parse(uri).map_err(|e| IdpError::BadRequest(e.to_string()))?;
            if let Some(state) = &continuation.state {
                url.query_pairs_mut().append_pair("state", state);
            }
            Ok(LogoutOutcome::Redirect(url))
        }
        None => Ok(LogoutOutcome::LoggedOut),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_hint_names_a_session_only_with_its_sid_towards_that_client() {
        let session = IdpSession {
            sid: "session-secret".into(),
            person: uuid::Uuid::nil(),
            auth_time: 0,
            loa: eid_core::Loa::Low,
            ial: eid_core::Loa::Low,
            aal: eid_core::Loa::Low,
            method: eid_core::AuthenticatorKind::Password,
        };
        let sid = session.sid_for("broker").unwrap();
        assert!(names_session(&session, Some("broker"), &sid));
        assert!(!names_session(&session, Some("other"), &sid));
        assert!(!names_session(&session, None, &sid));
        assert!(!names_session(&session, Some("broker"), "session-secret"));
        let old = IdpSession {
            sid: String::new(),
            ..session
        };
        assert!(!names_session(
            &old,
            Some("broker"),
            &super::super::session::client_sid("", "broker")
        ));
    }
}
