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
use subtle::ConstantTimeEq;
use url::Url;

use super::IdpError;
use super::session::IdpSession;
use crate::state::Idp;

/// The longest `id_token_hint` accepted.
pub const MAX_ID_TOKEN_HINT_LEN: usize = 8192;
/// The longest `logout_hint` accepted (a `sid` is 43 characters).
pub const MAX_LOGOUT_HINT_LEN: usize = 128;
/// The longest `client_id` accepted.
pub const MAX_CLIENT_ID_LEN: usize = 256;
/// The longest `post_logout_redirect_uri` accepted.
pub const MAX_URI_LEN: usize = 2048;
/// The longest `state` accepted (it is echoed to the client and put in a form).
pub const MAX_STATE_LEN: usize = 512;

/// Why a logout request is refused (shown on an error page; never a redirect).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogoutRejection {
    /// A parameter exceeds its bound or holds a control character.
    #[error("{0} is too long or malformed")]
    Malformed(&'static str),
    /// The hint's signature does not verify with this provider's keys.
    #[error("id_token_hint is not an ID token of this provider")]
    HintNotOurs,
    /// The hint's claims cannot be read.
    #[error("id_token_hint is malformed")]
    HintMalformed,
    /// The hint names another issuer.
    #[error("id_token_hint was issued by someone else")]
    HintForeign,
    /// `client_id` and the hint's audience differ, or `logout_hint` and the hint's `sid`.
    #[error("client_id or logout_hint differs from the id_token_hint")]
    HintMismatch,
    /// The return address is not registered for the client.
    #[error("post_logout_redirect_uri is not registered")]
    UnregisteredRedirect,
}

/// A logout request's parameters: bounded, not yet checked against keys or registrations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogoutParams {
    /// `id_token_hint`.
    pub id_token_hint: Option<String>,
    /// `logout_hint`: the session's `sid` towards the client.
    pub logout_hint: Option<String>,
    /// `client_id`.
    pub client_id: Option<String>,
    /// `post_logout_redirect_uri`.
    pub post_logout_redirect_uri: Option<String>,
    /// `state`.
    pub state: Option<String>,
}

fn bounded(
    params: &RawParams,
    name: &'static str,
    max: usize,
) -> Result<Option<String>, LogoutRejection> {
    match params.get(name) {
        None => Ok(None),
        Some(v) if v.len() > max || v.chars().any(char::is_control) => {
            Err(LogoutRejection::Malformed(name))
        }
        Some(v) => Ok(Some(v.to_owned())),
    }
}

impl LogoutParams {
    /// Reads the parameters, refusing an over-long or malformed one.
    pub fn from_raw(params: &RawParams) -> Result<Self, LogoutRejection> {
        Ok(LogoutParams {
            id_token_hint: bounded(params, "id_token_hint", MAX_ID_TOKEN_HINT_LEN)?,
            logout_hint: bounded(params, "logout_hint", MAX_LOGOUT_HINT_LEN)?,
            client_id: bounded(params, "client_id", MAX_CLIENT_ID_LEN)?,
            post_logout_redirect_uri: bounded(params, "post_logout_redirect_uri", MAX_URI_LEN)?,
            state: bounded(params, "state", MAX_STATE_LEN)?,
        })
    }
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

#[derive(serde::Deserialize)]
struct HintClaims {
    iss: String,
    aud: serde_json::Value,
    sid: Option<String>,
}

/// A request after every check: the `sid` it names (if any) and where to go afterwards.
struct Checked {
    sid: Option<String>,
    continuation: LogoutContinuation,
}

/// Reads a verified `id_token_hint`'s claims: issued by `issuer` to exactly one audience. Returns
/// that audience and the hint's `sid`. An expired hint is accepted (RP-Initiated Logout 1.0 §2).
fn hint_claims(payload: &[u8], issuer: &str) -> Result<(String, Option<String>), LogoutRejection> {
    let claims: HintClaims =
        serde_json::from_slice(payload).map_err(|_| LogoutRejection::HintMalformed)?;
    if claims.iss != issuer {
        return Err(LogoutRejection::HintForeign);
    }
    let aud = match &claims.aud {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Array(a) if a.len() == 1 => a[0].as_str().map(str::to_owned),
        _ => None,
    }
    .ok_or(LogoutRejection::HintMalformed)?;
    Ok((aud, claims.sid))
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
            let (aud, sid) = hint_claims(&verified.payload, &idp.config.issuer)?;
            (Some(aud), sid)
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
    let checked = match LogoutParams::from_raw(params).and_then(|p| check(idp, p)) {
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
    let checked = LogoutParams::from_raw(form).and_then(|p| {
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
    use proptest::prelude::*;

    const ISSUER: &str = "https://idp.example";

    #[test]
    fn a_hint_names_one_audience_of_this_issuer() {
        assert_eq!(
            hint_claims(
                br#"{"iss":"https://idp.example","aud":["b"],"sid":"s"}"#,
                ISSUER
            ),
            Ok(("b".into(), Some("s".into())))
        );
        assert_eq!(
            hint_claims(br#"{"iss":"https://evil","aud":"b"}"#, ISSUER),
            Err(LogoutRejection::HintForeign)
        );
        assert_eq!(
            hint_claims(br#"{"iss":"https://idp.example","aud":["a","b"]}"#, ISSUER),
            Err(LogoutRejection::HintMalformed)
        );
    }

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

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any parameters are either read back unchanged within their bounds, or refused as
        /// malformed.
        #[test]
        fn logout_parameters_are_read_back_or_refused(
            id_token_hint in proptest::option::of(".{0,40}"),
            logout_hint in proptest::option::of("(?s).{0,200}"),
            client in proptest::option::of("\\PC{0,300}"),
            uri in proptest::option::of(".{0,60}"),
            state in proptest::option::of("(?s).{0,600}"),
        ) {
            let mut pairs = Vec::new();
            for (k, v) in [("id_token_hint", &id_token_hint), ("logout_hint", &logout_hint),
                           ("client_id", &client), ("post_logout_redirect_uri", &uri),
                           ("state", &state)] {
                if let Some(v) = v {
                    pairs.push((k.to_owned(), v.clone()));
                }
            }
            let Ok(raw) = RawParams::from_pairs(pairs) else { return Ok(()); };
            let fits = |v: &Option<String>, max: usize| v.as_ref().is_none_or(|s| {
                s.len() <= max && !s.chars().any(char::is_control)
            });
            let all_fit = fits(&id_token_hint, MAX_ID_TOKEN_HINT_LEN)
                && fits(&logout_hint, MAX_LOGOUT_HINT_LEN)
                && fits(&client, MAX_CLIENT_ID_LEN)
                && fits(&uri, MAX_URI_LEN)
                && fits(&state, MAX_STATE_LEN);
            match LogoutParams::from_raw(&raw) {
                Ok(p) => {
                    prop_assert!(all_fit);
                    let back = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
                    prop_assert_eq!(p.id_token_hint, back(&id_token_hint));
                    prop_assert_eq!(p.logout_hint, back(&logout_hint));
                    prop_assert_eq!(p.client_id, back(&client));
                    prop_assert_eq!(p.post_logout_redirect_uri, back(&uri));
                    prop_assert_eq!(p.state, back(&state));
                }
                Err(LogoutRejection::Malformed(_)) => prop_assert!(!all_fit),
                Err(other) => prop_assert!(false, "unexpected {other:?}"),
            }
        }

        /// Arbitrary bytes as hint claims never panic; a hint is accepted only from our issuer.
        #[test]
        fn hint_claims_never_panic_and_need_our_issuer(
            payload in proptest::collection::vec(any::<u8>(), 0..200),
            aud in "[a-z-]{1,12}",
            iss in "https://[a-z.]{1,20}",
        ) {
            let _ = hint_claims(&payload, ISSUER);
            let claims = serde_json::json!({ "iss": iss, "aud": aud }).to_string();
            let read = hint_claims(claims.as_bytes(), ISSUER);
            if iss == ISSUER {
                prop_assert_eq!(read, Ok((aud, None)));
            } else {
                prop_assert_eq!(read, Err(LogoutRejection::HintForeign));
            }
        }
    }
}
