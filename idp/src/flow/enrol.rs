//! Activation of an identity and the person's self-service: authenticators and last logins.

use eid_core::ports::RemoveOutcome;
use eid_core::{
    AuditEvent, AuditOutcome, Authenticator, AuthenticatorKind, Cpr, Person, StoreError,
};
use eid_oidc::random::digest_key;
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
        "Password",
        phc.into_bytes(),
        event,
    )
    .await
}

fn totp_enrol_key(person: Uuid) -> String {
    format!("idp:totp-enrol:{person}")
}

/// Starts enrolment of a code display: a new secret, pending until a code from it is confirmed.
pub async fn start_code_display(idp: &Idp, person: Uuid) -> Result<Vec<u8>, IdpError> {
    let secret = totp::new_secret();
    idp.ephemeral
        .put(&totp_enrol_key(person), &secret, Duration::from_secs(900))
        .await?;
    Ok(secret)
}

/// The pending code-display secret, if enrolment is under way.
pub async fn pending_code_display(idp: &Idp, person: Uuid) -> Result<Option<Vec<u8>>, IdpError> {
    Ok(idp.ephemeral.get(&totp_enrol_key(person)).await?)
}

/// Confirms a code display with a code from it; returns whether it was enrolled.
pub async fn confirm_code_display(
    idp: &Idp,
    person: Uuid,
    code: &str,
    label: &str,
) -> Result<bool, IdpError> {
    let Some(secret) = pending_code_display(idp, person).await? else {
        return Ok(false);
    };
    if totp::verify(&secret, code, idp.clock.now().unix_timestamp()).is_none() {
        return Ok(false);
    }
    if idp.ephemeral.take(&totp_enrol_key(person)).await?.is_none() {
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
