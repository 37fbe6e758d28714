//! Completing a login: the achieved level, the session, the audit event, and the answer to whoever
//! asked (an OIDC client gets a code, or `access_denied` when the level is too low).

use eid_core::{AuditOutcome, AuthenticatorKind, Loa, Person};
use eid_oidc::authorize::{error_redirect, success_redirect};
use eid_oidc::grant::{CodeGrant, Grants};
use eid_oidc::random::token256;
use eid_oidc::{AuthorizeRequest, ErrorCode, OAuthError};
use serde::{Deserialize, Serialize};
use url::Url;
use uuid::Uuid;

use super::IdpError;
use super::login::Enrolment;
use super::session::IdpSession;
use super::tx::{LoginTx, Purpose};
use crate::levels::{Advice, achieved, amr};
use crate::state::Idp;

/// Namespace of the authenticator's codes and tokens in the ephemeral store.
pub const GRANTS: &str = "idp";

/// What a code (and the tokens issued for it) stands for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdpGrant {
    /// The person.
    pub person: Uuid,
    /// Authentication time (Unix seconds).
    pub auth_time: i64,
    /// Achieved level.
    pub loa: Loa,
    /// Identity-proofing level.
    pub ial: Loa,
    /// Authenticator level.
    pub aal: Loa,
    /// RFC 8176 methods.
    pub amr: Vec<String>,
    /// The client's nonce.
    pub nonce: Option<String>,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// The session's `sid` towards the client (for its ID token and its logout).
    #[serde(default)]
    pub sid: Option<String>,
}

/// The answer after authentication.
#[derive(Debug, Clone, PartialEq)]
pub enum Completion {
    /// Send the browser to the client (with a code or an error).
    Redirect(Url),
    /// Show the self-service pages.
    Account,
    /// A step-up login for an account change did not reach the level the change needs.
    StepUpTooLow {
        /// What the change needs.
        required: Loa,
        /// What the person reached.
        achieved: Loa,
    },
    /// The login does not reach the level the client requires: show a page whose button returns
    /// `access_denied` to the client.
    LevelTooLow {
        /// What the client requires.
        required: Loa,
        /// What the person reached.
        achieved: Loa,
        /// The `access_denied` response to the client.
        back: Url,
        /// What would let the person reach the level.
        advice: Advice,
    },
}

/// The start of the `error_description` of the `access_denied` a client gets when the person
/// cannot reach (or did not reach) the level it asked for; the broker recognises it.
pub const LEVEL_NOT_REACHED: &str = "level of assurance not reached";

/// The `access_denied` redirect for a level the person did not reach: says which was asked for and
/// which the person reaches (protocol spelling; nothing about the person beyond the level).
pub fn level_not_reached(
    idp: &Idp,
    req: &AuthorizeRequest,
    required: Loa,
    reached: Option<Loa>,
) -> Result<Url, IdpError> {
    let reached = reached.map_or("none", Loa::as_word);
    access_denied(
        idp,
        req,
        &format!(
            "{LEVEL_NOT_REACHED}: the service requires {}, the person reaches {reached}",
            required.as_word()
        ),
    )
}

/// The `access_denied` redirect for a request.
pub fn access_denied(idp: &Idp, req: &AuthorizeRequest, why: &str) -> Result<Url, IdpError> {
    error_redirect(
        &req.redirect_uri,
        &OAuthError::new(ErrorCode::AccessDenied, why),
        req.state.as_deref(),
        &idp.config.issuer,
    )
    .map_err(|e| IdpError::BadRequest(e.to_string()))
}

/// Answers an OIDC request from a session that satisfies it: issues a code.
pub async fn issue_code(
    idp: &Idp,
    req: &AuthorizeRequest,
    session: &IdpSession,
) -> Result<Url, IdpError> {
    let grant = CodeGrant {
        grant_id: String::new(), // named by issue_code
        client_id: req.client_id.clone(),
        redirect_uri: req.redirect_uri.clone(),
        code_challenge: req.code_challenge.clone(),
        payload: IdpGrant {
            person: session.person,
            auth_time: session.auth_time,
            loa: session.loa,
            ial: session.ial,
            aal: session.aal,
            amr: amr(session.method)
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            nonce: req.nonce.clone(),
            scopes: req.scopes.clone(),
            sid: session.sid_for(&req.client_id),
        },
    };
    let code = Grants::new(idp.ephemeral.as_ref(), GRANTS)
        .issue_code(grant)
        .await?;
    success_redirect(
        &req.redirect_uri,
        &code,
        req.state.as_deref(),
        &idp.config.issuer,
    )
    .map_err(|e| IdpError::BadRequest(e.to_string()))
}

/// Completes a successful authentication of `person` with `method`: starts a new session (rotating
/// the cookie), audits, and answers the transaction's purpose. Returns the answer and the new
/// session cookie.
pub async fn complete(
    idp: &Idp,
    tx: &LoginTx,
    person: &Person,
    method: AuthenticatorKind,
    previous_session: Option<&str>,
    ip: &str,
) -> Result<(Completion, String), IdpError> {
    if !tx.finish(idp).await? {
        // Completed already (a double submit or a replay): nothing more is issued.
        return Err(IdpError::TxExpired);
    }
    let aal = idp.config.levels.aal(method);
    let loa = achieved(person.ial, aal);
    idp.config
        .lockout
        .record_success(idp.ephemeral.as_ref(), person.id)
        .await?;
    let session = IdpSession {
        sid: token256(),
        person: person.id,
        auth_time: idp.clock.now().unix_timestamp(),
        loa,
        ial: person.ial,
        aal,
        method,
    };
    let cookie = session.start(idp, previous_session).await?;
    let client = match &tx.purpose {
        Purpose::Oidc(req) => Some(req.client_id.clone()),
        Purpose::Account => None,
    };
    let mut event = idp
        .event("login.success", AuditOutcome::Success)
        .person(person.id)
        .ip(ip)
        .detail("method", method.as_str())
        .detail("loa", loa.as_word());
    if let Some(client) = &client {
        event = event.client(client.clone());
    }
    // The service's own name as the client pushed it (not personal data), so that My MitID can
    // say where the person logged in.
    if let Some(service) = &tx.service_name {
        event = event.detail("service", service.clone());
    }
    idp.audit(event).await?;
    idp.metrics.inc(
        "idp_logins_total",
        "Completed logins by method and level.",
        &[("method", method.as_str()), ("loa", loa.as_word())],
    );
    let completion = match &tx.purpose {
        Purpose::Account => match tx.step_up {
            Some(required) if loa < required => Completion::StepUpTooLow {
                required,
                achieved: loa,
            },
            _ => Completion::Account,
        },
        Purpose::Oidc(req) => answer_request(idp, req, &session).await?,
    };
    Ok((completion, cookie))
}

/// Answers an OIDC request from a session: a code if the level suffices, else the too-low page.
pub async fn answer_request(
    idp: &Idp,
    req: &AuthorizeRequest,
    session: &IdpSession,
) -> Result<Completion, IdpError> {
    match req.acr_min {
        Some(required) if session.loa < required => {
            let advice = match Enrolment::of_person(idp, session.person).await? {
                Some(enrolment) => {
                    let levels = &idp.config.levels;
                    let reaching: Vec<AuthenticatorKind> = enrolment
                        .methods()
                        .into_iter()
                        .filter(|m| achieved(enrolment.person.ial, levels.aal(*m)) >= required)
                        .collect();
                    if reaching.is_empty() {
                        enrolment.advice(levels, required)
                    } else {
                        // The person has a method that reaches the level but logged in with another.
                        Advice::UseMethod(reaching)
                    }
                }
                None => Advice::Unreachable,
            };
            idp.audit(
                idp.event("login.level_too_low", AuditOutcome::Failure)
                    .person(session.person)
                    .client(req.client_id.clone())
                    .detail("required", required.as_word())
                    .detail("achieved", session.loa.as_word())
                    .detail("advice", advice.as_word()),
            )
            .await?;
            Ok(Completion::LevelTooLow {
                required,
                achieved: session.loa,
                back: level_not_reached(idp, req, required, Some(session.loa))?,
                advice,
            })
        }
        _ => Ok(Completion::Redirect(issue_code(idp, req, session).await?)),
    }
}
