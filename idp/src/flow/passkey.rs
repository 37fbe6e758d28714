//! Passkeys (WebAuthn, webauthn-rs): login with user verification, by user ID or discoverable, and
//! enrolment. Each challenge is stored once and taken once, so an assertion cannot be replayed.

use eid_core::{AuditOutcome, Authenticator, AuthenticatorKind, Person};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use uuid::Uuid;
use webauthn_rs::prelude::{
    CreationChallengeResponse, DiscoverableAuthentication, Passkey, PasskeyAuthentication,
    PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential,
    RequestChallengeResponse,
};
use webauthn_rs_proto::ResidentKeyRequirement;

use super::IdpError;
use super::complete::complete;
use super::login::{Enrolment, Failure, LoginResult};
use super::tx::LoginTx;
use crate::state::Idp;

/// How long a WebAuthn challenge stays valid.
pub const CHALLENGE_TTL: Duration = Duration::from_secs(300);

#[derive(Serialize, Deserialize)]
enum AuthState {
    /// Credentials of a known person.
    Known(PasskeyAuthentication),
    /// Any discoverable credential; the person is found from the user handle.
    Discoverable(DiscoverableAuthentication),
}

fn auth_key(tx: &LoginTx) -> String {
    format!("idp:passkey-auth:{}", tx.id)
}

fn reg_key(person: Uuid) -> String {
    format!("idp:passkey-reg:{person}")
}

fn webauthn_err(e: impl std::fmt::Display) -> IdpError {
    IdpError::Webauthn(e.to_string())
}

/// The person's passkeys, decoded.
fn passkeys(authenticators: &[Authenticator]) -> Vec<(Uuid, Passkey)> {
    authenticators
        .iter()
        .filter(|a| a.kind == AuthenticatorKind::Passkey)
        .filter_map(|a| {
            serde_json::from_slice::<Passkey>(&a.secret)
                .ok()
                .map(|p| (a.id, p))
        })
        .collect()
}

/// Starts a passkey login: for the transaction's person if known, else a discoverable login.
pub async fn login_options(idp: &Idp, tx: &LoginTx) -> Result<RequestChallengeResponse, IdpError> {
    let known = match Enrolment::of_tx(idp, tx).await? {
        Some(enrolment) => passkeys(&enrolment.authenticators),
        None => Vec::new(),
    };
    let (mut options, state) = if known.is_empty() {
        let (options, state) = idp
            .webauthn
            .start_discoverable_authentication()
            .map_err(webauthn_err)?;
        (options, AuthState::Discoverable(state))
    } else {
        let creds: Vec<Passkey> = known.into_iter().map(|(_, p)| p).collect();
        let (options, state) = idp
            .webauthn
            .start_passkey_authentication(&creds)
            .map_err(webauthn_err)?;
        (options, AuthState::Known(state))
    };
    // A button press, not the autofill (conditional) UI.
    options.mediation = None;
    let bytes = serde_json::to_vec(&state).map_err(webauthn_err)?;
    idp.ephemeral
        .put(&auth_key(tx), &bytes, CHALLENGE_TTL)
        .await?;
    Ok(options)
}

/// Finishes a passkey login with the browser's assertion.
pub async fn login(
    idp: &Idp,
    tx: &mut LoginTx,
    credential: &PublicKeyCredential,
    previous_session: Option<&str>,
    ip: &str,
) -> Result<LoginResult, IdpError> {
    let Some(state) = idp.ephemeral.take(&auth_key(tx)).await? else {
        audit_failure(
            idp,
            tx.person,
            ip,
            "no pending challenge (expired or replayed)",
        )
        .await?;
        return Ok(LoginResult::Failed(Failure::PasskeyRefused));
    };
    let state: AuthState = serde_json::from_slice(&state).map_err(webauthn_err)?;
    let (person_id, result) = match state {
        AuthState::Known(state) => {
            let Some(person) = tx.person else {
                return Err(IdpError::TxExpired);
            };
            (
                person,
                idp.webauthn
                    .finish_passkey_authentication(credential, &state),
            )
        }
        AuthState::Discoverable(state) => {
            let Ok((person, cred_id)) = idp
                .webauthn
                .identify_discoverable_authentication(credential)
            else {
                audit_failure(idp, None, ip, "no user handle").await?;
                return Ok(LoginResult::Failed(Failure::PasskeyRefused));
            };
            let cred_id = cred_id.to_vec();
            let stored = passkeys(&idp.authenticators.authenticators(person).await?);
            let Some((_, passkey)) = stored
                .into_iter()
                .find(|(_, p)| p.cred_id().as_slice() == cred_id.as_slice())
            else {
                audit_failure(idp, Some(person), ip, "unknown credential").await?;
                return Ok(LoginResult::Failed(Failure::PasskeyRefused));
            };
            (
                person,
                idp.webauthn
                    .finish_discoverable_authentication_v2(credential, state, &passkey),
            )
        }
    };
    let Some(person) = idp
        .persons
        .person(person_id)
        .await?
        .filter(|p| p.status == eid_core::PersonStatus::Active)
    else {
        audit_failure(idp, Some(person_id), ip, "unknown or suspended person").await?;
        return Ok(LoginResult::Failed(Failure::PasskeyRefused));
    };
    tx.person = Some(person.id);
    let enrolment = Enrolment {
        authenticators: idp.authenticators.authenticators(person.id).await?,
        person,
    };
    let attempt = match super::login::begin(idp, &enrolment, ip).await? {
        Ok(attempt) => attempt,
        Err(failure) => return Ok(LoginResult::Failed(failure)),
    };
    let result = match result {
        Ok(result) if result.user_verified() => result,
        Ok(_) => return refuse(idp, attempt, &enrolment, ip, "user not verified").await,
        Err(e) => {
            let reason = format!("assertion refused: {e}");
            return refuse(idp, attempt, &enrolment, ip, &reason).await;
        }
    };
    attempt
        .succeeded(&idp.config.lockout, idp.ephemeral.as_ref())
        .await?;
    // Update the stored credential's counter (clone detection) and last use.
    for (id, mut passkey) in passkeys(&enrolment.authenticators) {
        if passkey.cred_id() == result.cred_id() {
            let updated = passkey.update_credential(&result) == Some(true);
            let secret = if updated {
                serde_json::to_vec(&passkey).ok()
            } else {
                None
            };
            idp.authenticators
                .record_use(id, idp.clock.now(), secret.as_deref())
                .await?;
        }
    }
    let (completion, session_cookie) = complete(
        idp,
        tx,
        &enrolment.person,
        AuthenticatorKind::Passkey,
        previous_session,
        ip,
    )
    .await?;
    Ok(LoginResult::Done {
        completion,
        session_cookie,
    })
}

async fn refuse(
    idp: &Idp,
    attempt: crate::lockout::Attempt,
    enrolment: &Enrolment,
    ip: &str,
    reason: &str,
) -> Result<LoginResult, IdpError> {
    let failure = super::login::refuse(
        idp,
        attempt,
        enrolment,
        AuthenticatorKind::Passkey,
        ip,
        reason,
    )
    .await?;
    Ok(LoginResult::Failed(match failure {
        Failure::WrongCredentials => Failure::PasskeyRefused,
        other => other,
    }))
}

async fn audit_failure(
    idp: &Idp,
    person: Option<Uuid>,
    ip: &str,
    reason: &str,
) -> Result<(), IdpError> {
    let mut event = idp
        .event("login.failure", AuditOutcome::Failure)
        .ip(ip)
        .detail("method", "passkey")
        .detail("reason", reason.to_owned());
    if let Some(person) = person {
        event = event.person(person);
    }
    idp.audit(event).await?;
    Ok(())
}

/// Starts enrolment of a new passkey for a logged-in person. The credential is discoverable (the
/// login page can offer it without a user ID) and requires user verification.
pub async fn registration_options(
    idp: &Idp,
    person: &Person,
) -> Result<CreationChallengeResponse, IdpError> {
    let existing = passkeys(&idp.authenticators.authenticators(person.id).await?);
    let exclude: Vec<_> = existing.iter().map(|(_, p)| p.cred_id().clone()).collect();
    let user_name = person
        .user_id
        .clone()
        .unwrap_or_else(|| person.id.to_string());
    let display = format!("{} {}", person.given_name, person.family_name);
    let (mut options, state): (CreationChallengeResponse, PasskeyRegistration) = idp
        .webauthn
        .start_passkey_registration(person.id, &user_name, &display, Some(exclude))
        .map_err(webauthn_err)?;
    if let Some(selection) = options.public_key.authenticator_selection.as_mut() {
        selection.resident_key = Some(ResidentKeyRequirement::Required);
        selection.require_resident_key = true;
    }
    let bytes = serde_json::to_vec(&state).map_err(webauthn_err)?;
    idp.ephemeral
        .put(&reg_key(person.id), &bytes, CHALLENGE_TTL)
        .await?;
    Ok(options)
}

/// Finishes enrolment of a passkey and stores it.
pub async fn register(
    idp: &Idp,
    person: &Person,
    credential: &RegisterPublicKeyCredential,
    label: &str,
) -> Result<Result<Uuid, String>, IdpError> {
    let Some(state) = idp.ephemeral.take(&reg_key(person.id)).await? else {
        return Ok(Err("no pending registration (expired)".into()));
    };
    let state: PasskeyRegistration = serde_json::from_slice(&state).map_err(webauthn_err)?;
    let passkey = match idp.webauthn.finish_passkey_registration(credential, &state) {
        Ok(passkey) => passkey,
        Err(e) => return Ok(Err(e.to_string())),
    };
    let authenticator = Authenticator {
        id: Uuid::new_v4(),
        person: person.id,
        kind: AuthenticatorKind::Passkey,
        label: label.to_owned(),
        secret: serde_json::to_vec(&passkey).map_err(webauthn_err)?,
        created_at: idp.clock.now(),
        last_used_at: None,
    };
    idp.authenticators.add_authenticator(&authenticator).await?;
    super::account::record(
        idp,
        person.id,
        "authenticator.added",
        Some(AuthenticatorKind::Passkey),
        None,
    )
    .await?;
    Ok(Ok(authenticator.id))
}
