//! Activation of an identity and the person's self-service: authenticators and last logins.

use eid_core::ports::RemoveOutcome;
use eid_core::{
    AuditEvent, AuditOutcome, Authenticator, AuthenticatorKind, Cpr, Person, StoreError,
};
use eid_oidc::random::digest_key;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::{IdpError, account};
use crate::lockout::Gate;
use crate::state::Idp;
use crate::{password, totp};

/// Why an activation was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActivationError {
    /// The CPR number or activation code is wrong (not saying which).
    WrongCode,
    /// The identity is active already.
    AlreadyActive,
    /// The user ID is not acceptable.
    BadUserId,
    /// The user ID is taken.
    UserIdTaken,
    /// The password is too weak.
    WeakPassword,
    /// Too many attempts.
    Locked,
}

/// Checks a chosen user ID: 3–32 letters, digits, `.`, `_` or `-`.
pub fn valid_user_id(user_id: &str) -> bool {
    (3..=32).contains(&user_id.len())
        && user_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Activates an identity: CPR number and activation code, a chosen user ID and a password.
pub async fn activate(
    idp: &Idp,
    cpr: &str,
    code: &str,
    user_id: &str,
    new_password: &str,
    ip: &str,
) -> Result<Result<Person, ActivationError>, IdpError> {
    if idp
        .config
        .lockout
        .gate(idp.ephemeral.as_ref(), None, ip)
        .await?
        != Gate::Open
    {
        return Ok(Err(ActivationError::Locked));
    }
    let person = match Cpr::parse(cpr) {
        Ok(cpr) => idp.persons.person_by_cpr(&cpr).await?,
        Err(_) => None,
    };
    let Some(person) = person else {
        idp.config
            .lockout
            .record_failure(idp.ephemeral.as_ref(), None, ip)
            .await?;
        return Ok(Err(ActivationError::WrongCode));
    };
    // Counted before the code is compared, so parallel guesses cannot outrun the lock.
    let Ok(attempt) = idp
        .config
        .lockout
        .begin(idp.ephemeral.as_ref(), Some(person.id), ip)
        .await?
    else {
        return Ok(Err(ActivationError::Locked));
    };
    // The code is checked before anything is said about the identity: "already active" for a
    // wrong code would tell anyone holding a CPR number whether that person has a MitID.
    let presented = digest_key(code.trim());
    let stored = idp
        .persons
        .activation_code_hash(person.id, idp.clock.now())
        .await?;
    if !stored.is_some_and(|s| bool::from(s.as_bytes().ct_eq(presented.as_bytes()))) {
        attempt
            .failed(&idp.config.lockout, idp.ephemeral.as_ref())
            .await?;
        idp.audit(
            idp.event("activation.failure", AuditOutcome::Failure)
                .person(person.id)
                .ip(ip),
        )
        .await?;
        return Ok(Err(ActivationError::WrongCode));
    }
    attempt
        .succeeded(&idp.config.lockout, idp.ephemeral.as_ref())
        .await?;
    if person.user_id.is_some() {
        return Ok(Err(ActivationError::AlreadyActive));
    }
    let user_id = user_id.trim();
    if !valid_user_id(user_id) {
        return Ok(Err(ActivationError::BadUserId));
    }
    if password::check_strength(new_password).is_err() {
        return Ok(Err(ActivationError::WeakPassword));
    }
    if idp.persons.person_by_user_id(user_id).await?.is_some() {
        return Ok(Err(ActivationError::UserIdTaken));
    }
    if !idp
        .persons
        .consume_activation_code(person.id, &presented)
        .await?
    {
        return Ok(Err(ActivationError::WrongCode));
    }
    match idp.persons.set_user_id(person.id, user_id).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => return Ok(Err(ActivationError::UserIdTaken)),
        Err(e) => return Err(e.into()),
    }
    add_password(idp, person.id, new_password).await?;
    idp.audit(
        idp.event("activation.success", AuditOutcome::Success)
            .person(person.id)
            .ip(ip),
    )
    .await?;
    let person = idp
        .persons
        .person(person.id)
        .await?
        .ok_or(IdpError::TxExpired)?;
    Ok(Ok(person))
}

/// Stores a new authenticator and records it (audit and notification) as `event`.
async fn add(
    idp: &Idp,
    person: Uuid,
    kind: AuthenticatorKind,
    label: &str,
    secret: Vec<u8>,
    event: &str,
) -> Result<Uuid, IdpError> {
    let a = Authenticator {
        id: Uuid::new_v4(),
        person,
        kind,
        label: label.to_owned(),
        secret,
        created_at: idp.clock.now(),
        last_used_at: None,
    };
    idp.authenticators.add_authenticator(&a).await?;
    account::record(idp, person, event, Some(kind), None).await?;
    Ok(a.id)
}

/// Enrols a password (Argon2id).
pub async fn add_password(idp: &Idp, person: Uuid, new_password: &str) -> Result<Uuid, IdpError> {
    password_as(idp, person, new_password, "authenticator.added").await
}

async fn password_as(
    idp: &Idp,
    person: Uuid,
    new_password: &str,
    event: &str,
) -> Result<Uuid, IdpError> {
    let phc = idp
        .hasher
        .hash(new_password.to_owned())
        .await
        .map_err(IdpError::BadRequest)?;
    add(
        idp,
        person,
        AuthenticatorKind::Password,
        // A password has no name of its own; pages show the kind.
        "",
        phc.into_bytes(),
        event,
    )
    .await
}

fn totp_enrol_key(person: Uuid) -> String {
    format!("idp:totp-enrol:{person}")
}

/// How long a started code-display enrolment waits for its confirmation.
const CODE_DISPLAY_PENDING: Duration = Duration::from_secs(900);

/// A code-display enrolment under way: the new secret and the session that started it (by digest
/// of its id). Only that session sees the secret or confirms it: another session of the same
/// person (one opened with a password alone, say) must not copy it before it is confirmed.
#[derive(Serialize, Deserialize)]
struct PendingCodeDisplay {
    session: String,
    secret: Vec<u8>,
}

/// The digest that binds an enrolment to a session; `None` for a session without an id, which
/// cannot enrol.
fn session_binding(session_sid: &str) -> Option<String> {
    (!session_sid.is_empty()).then(|| digest_key(&format!("idp-totp-enrol:{session_sid}")))
}

async fn pending(idp: &Idp, person: Uuid) -> Result<Option<PendingCodeDisplay>, IdpError> {
    Ok(idp
        .ephemeral
        .get(&totp_enrol_key(person))
        .await?
        .and_then(|bytes| serde_json::from_slice(&bytes).ok()))
}

/// Starts enrolment of a code display from the session `session_sid`: a new secret, pending until
/// a code from it is confirmed in the same session. It replaces any enrolment pending before.
pub async fn start_code_display(
    idp: &Idp,
    person: Uuid,
    session_sid: &str,
) -> Result<Vec<u8>, IdpError> {
    let session = session_binding(session_sid)
        .ok_or_else(|| IdpError::BadRequest("a session without an id cannot enrol".into()))?;
    let pending = PendingCodeDisplay {
        session,
        secret: totp::new_secret(),
    };
    let bytes = serde_json::to_vec(&pending).map_err(|e| IdpError::BadRequest(e.to_string()))?;
    idp.ephemeral
        .put(&totp_enrol_key(person), &bytes, CODE_DISPLAY_PENDING)
        .await?;
    Ok(pending.secret)
}

/// The code-display secret pending for the session `session_sid`, if it started an enrolment.
pub async fn pending_code_display(
    idp: &Idp,
    person: Uuid,
    session_sid: &str,
) -> Result<Option<Vec<u8>>, IdpError> {
    let Some(session) = session_binding(session_sid) else {
        return Ok(None);
    };
    Ok(pending(idp, person)
        .await?
        .filter(|p| bool::from(p.session.as_bytes().ct_eq(session.as_bytes())))
        .map(|p| p.secret))
}

/// Whether some session of the person has a code-display enrolment under way (says nothing more).
pub async fn code_display_enrolment_pending(idp: &Idp, person: Uuid) -> Result<bool, IdpError> {
    Ok(pending(idp, person).await?.is_some())
}

/// Confirms the code display pending for the session `session_sid` with a code from it; returns
/// whether it was enrolled.
pub async fn confirm_code_display(
    idp: &Idp,
    person: Uuid,
    session_sid: &str,
    code: &str,
    label: &str,
) -> Result<bool, IdpError> {
    let Some(secret) = pending_code_display(idp, person, session_sid).await? else {
        return Ok(false);
    };
    if totp::verify(&secret, code, idp.clock.now().unix_timestamp()).is_none() {
        return Ok(false);
    }
    // Taken once; if another session of the person started anew in between, the secret taken is
    // not this one and nothing is enrolled (that session starts again).
    let taken = idp.ephemeral.take(&totp_enrol_key(person)).await?;
    let same = taken
        .and_then(|bytes| serde_json::from_slice::<PendingCodeDisplay>(&bytes).ok())
        .is_some_and(|p| bool::from(p.secret.ct_eq(&secret)));
    if !same {
        return Ok(false);
    }
    add(
        idp,
        person,
        AuthenticatorKind::CodeDisplay,
        label,
        secret,
        "authenticator.added",
    )
    .await?;
    Ok(true)
}

/// Gives the person's authenticator `authenticator` the name `label` (checked with
/// [`eid_core::Authenticator::normalise_label`] by the caller); audited (the kind, never the name)
/// and notified. Returns whether the person holds such an authenticator that can be named (a
/// password has no name: there is only ever one).
pub async fn rename(
    idp: &Idp,
    person: Uuid,
    authenticator: Uuid,
    label: &str,
) -> Result<bool, IdpError> {
    let Some(kind) = idp
        .authenticators
        .authenticators(person)
        .await?
        .into_iter()
        .find(|a| a.id == authenticator && a.kind != AuthenticatorKind::Password)
        .map(|a| a.kind)
    else {
        return Ok(false);
    };
    let renamed = idp
        .authenticators
        .rename_authenticator(person, authenticator, label)
        .await?;
    if renamed {
        account::record(idp, person, "authenticator.renamed", Some(kind), None).await?;
    }
    Ok(renamed)
}

/// Sets the person's password: a new one is added and the old one (if any) removed. If the old one
/// cannot be removed, the new one is withdrawn again, so the person keeps exactly one password.
pub async fn set_password(idp: &Idp, person: Uuid, new_password: &str) -> Result<(), IdpError> {
    let old: Vec<Uuid> = idp
        .authenticators
        .authenticators(person)
        .await?
        .iter()
        .filter(|a| a.kind == AuthenticatorKind::Password)
        .map(|a| a.id)
        .collect();
    let event = if old.is_empty() {
        "authenticator.added"
    } else {
        "password.changed"
    };
    let new = password_as(idp, person, new_password, event).await?;
    for id in old {
        match idp.authenticators.remove_authenticator(person, id).await {
            Ok(_) => {}
            Err(e) => {
                let _ = idp.authenticators.remove_authenticator(person, new).await;
                return Err(e.into());
            }
        }
    }
    Ok(())
}

/// Removes an authenticator; the last one is refused.
pub async fn remove(
    idp: &Idp,
    person: Uuid,
    authenticator: Uuid,
) -> Result<RemoveOutcome, IdpError> {
    let kind = idp
        .authenticators
        .authenticators(person)
        .await?
        .into_iter()
        .find(|a| a.id == authenticator)
        .map(|a| a.kind);
    let outcome = idp
        .authenticators
        .remove_authenticator(person, authenticator)
        .await?;
    if outcome == RemoveOutcome::Removed {
        account::record(idp, person, "authenticator.removed", kind, None).await?;
    }
    Ok(outcome)
}

/// The person's latest logins (successes and failures), newest first.
pub async fn last_logins(idp: &Idp, person: Uuid, limit: u32) -> Result<Vec<AuditEvent>, IdpError> {
    let events = idp
        .audit_log
        .for_person(person, limit.saturating_mul(4))
        .await?;
    Ok(events
        .into_iter()
        .filter(|e| e.kind.starts_with("login."))
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .collect())
}
