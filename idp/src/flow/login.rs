//! The knowledge-based login steps: user ID, password, and code display (password + TOTP).

use eid_core::{AuditOutcome, Authenticator, AuthenticatorKind, Loa, Person, PersonStatus};
use std::time::Duration;

use super::IdpError;
use super::account::AccountChange;
use super::complete::{Completion, complete};
use super::tx::LoginTx;
use crate::levels::{Advice, LevelTable, achieved};
use crate::lockout::{Attempt, Gate};
use crate::state::Idp;
use crate::totp;

/// Why an attempt failed, as shown to the person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Unknown user ID.
    UnknownUser,
    /// A secret was wrong (the passkey's own refusal is [`Failure::PasskeyRefused`]).
    WrongCredentials,
    /// The password was wrong (the user ID was accepted already: saying so reveals nothing new).
    /// `left`: failed attempts left before a lock-out, when few remain.
    WrongPassword {
        /// Attempts left before the person is locked, when few remain.
        left: Option<u64>,
    },
    /// The password or the code display's code was wrong (deliberately not saying which: the code
    /// must not become an oracle for the password).
    WrongPasswordOrCode {
        /// Attempts left before the person is locked, when few remain.
        left: Option<u64>,
    },
    /// The user is locked after too many failures.
    UserLocked,
    /// The address is blocked after too many failures.
    IpBlocked,
    /// The method is not enrolled for this person.
    NotEnrolled,
    /// The passkey's assertion was refused (its own message: no password or code was involved).
    PasskeyRefused,
    /// Too many app approval requests were started.
    AppRateLimited,
}

/// The outcome of a login step.
#[derive(Debug)]
pub enum LoginResult {
    /// Authenticated: answer and the new session cookie.
    Done {
        /// Where to go.
        completion: Completion,
        /// The new session cookie value.
        session_cookie: String,
    },
    /// Refused; show the page again with this message.
    Failed(Failure),
}

/// The login methods a person can use now, with their secret material.
pub struct Enrolment {
    /// The person.
    pub person: Person,
    /// The person's authenticators.
    pub authenticators: Vec<Authenticator>,
}

impl Enrolment {
    /// Loads the person of a transaction and their authenticators.
    pub async fn of_tx(idp: &Idp, tx: &LoginTx) -> Result<Option<Enrolment>, IdpError> {
        let Some(id) = tx.person else {
            return Ok(None);
        };
        let Some(person) = idp.persons.person(id).await? else {
            return Ok(None);
        };
        let authenticators = idp.authenticators.authenticators(id).await?;
        Ok(Some(Enrolment {
            person,
            authenticators,
        }))
    }

    /// The first authenticator of a kind.
    pub fn find(&self, kind: AuthenticatorKind) -> Option<&Authenticator> {
        self.authenticators.iter().find(|a| a.kind == kind)
    }

    /// Loads a person and their authenticators.
    pub async fn of_person(idp: &Idp, id: uuid::Uuid) -> Result<Option<Enrolment>, IdpError> {
        let Some(person) = idp.persons.person(id).await? else {
            return Ok(None);
        };
        let authenticators = idp.authenticators.authenticators(id).await?;
        Ok(Some(Enrolment {
            person,
            authenticators,
        }))
    }

    /// The highest level this person's methods reach (`None` without any method).
    pub fn best(&self, levels: &LevelTable) -> Option<Loa> {
        self.methods()
            .into_iter()
            .map(|m| achieved(self.person.ial, levels.aal(m)))
            .max()
    }

    /// What would let this person reach `required` (which none of their methods reaches).
    pub fn advice(&self, levels: &LevelTable, required: Loa) -> Advice {
        let has: Vec<AuthenticatorKind> = self.authenticators.iter().map(|a| a.kind).collect();
        let ial = self.person.ial;
        levels.advice(ial, &has, self.best(levels), required, |kind| {
            let change = match kind {
                AuthenticatorKind::App => AccountChange::PairApp,
                AuthenticatorKind::CodeDisplay => AccountChange::AddCodeDisplay,
                AuthenticatorKind::Passkey => AccountChange::EnrolPasskey,
                AuthenticatorKind::Password => AccountChange::SetPassword,
            };
            change.required(ial, levels)
        })
    }

    /// The login methods this person can use.
    pub fn methods(&self) -> Vec<AuthenticatorKind> {
        let has = |k| self.find(k).is_some();
        let mut methods = Vec::new();
        if has(AuthenticatorKind::Passkey) {
            methods.push(AuthenticatorKind::Passkey);
        }
        if has(AuthenticatorKind::App) {
            methods.push(AuthenticatorKind::App);
        }
        if has(AuthenticatorKind::Password) && has(AuthenticatorKind::CodeDisplay) {
            methods.push(AuthenticatorKind::CodeDisplay);
        }
        if has(AuthenticatorKind::Password) {
            methods.push(AuthenticatorKind::Password);
        }
        methods
    }

    fn password_hash(&self) -> Option<&str> {
        self.find(AuthenticatorKind::Password)
            .and_then(|a| std::str::from_utf8(&a.secret).ok())
    }
}

/// The user-ID step: remembers who is logging in.
pub async fn identify(
    idp: &Idp,
    tx: &mut LoginTx,
    user_id: &str,
    ip: &str,
) -> Result<Option<Failure>, IdpError> {
    match idp
        .config
        .lockout
        .gate(idp.ephemeral.as_ref(), None, ip)
        .await?
    {
        Gate::Open => {}
        _ => {
            audit_locked_out(idp, None, ip, Failure::IpBlocked).await?;
            return Ok(Some(Failure::IpBlocked));
        }
    }
    let user_id = user_id.trim();
    let person = if user_id.is_empty() || user_id.len() > 64 {
        None
    } else {
        idp.persons.person_by_user_id(user_id).await?
    };
    match person.filter(|p| p.status == PersonStatus::Active) {
        Some(person) => {
            tx.person = Some(person.id);
            tx.passkey_state = None;
            tx.app_request = None;
            tx.save(idp).await?;
            // A locked person is told on the next page, before typing a secret again; the user-ID
            // step already tells a known user ID from an unknown one, so this reveals no more.
            // Audited once per lock period: anyone who knows the user ID can submit it again and
            // again, and must not flood the person's log (My MitID shows the latest events).
            if idp
                .config
                .lockout
                .user_locked(idp.ephemeral.as_ref(), person.id)
                .await?
                && idp
                    .ephemeral
                    .put_if_absent(
                        &format!("idp:locked-noted:{}", person.id),
                        b"1",
                        std::time::Duration::from_secs(idp.config.lockout.lock_secs.max(1)),
                    )
                    .await?
            {
                audit_locked_out(idp, Some(person.id), ip, Failure::UserLocked).await?;
            }
            Ok(None)
        }
        None => {
            idp.config
                .lockout
                .record_failure(idp.ephemeral.as_ref(), None, ip)
                .await?;
            idp.audit(
                idp.event("login.unknown_user", AuditOutcome::Failure)
                    .ip(ip),
            )
            .await?;
            Ok(Some(Failure::UnknownUser))
        }
    }
}

/// Failed attempts left before a lock-out from which the person is warned.
pub const WARN_WHEN_LEFT: u64 = 2;

/// Reports a failed attempt (which may lock), audits and measures it; returns what to tell the
/// person.
pub(super) async fn refuse(
    idp: &Idp,
    attempt: Attempt,
    enrolment: &Enrolment,
    method: AuthenticatorKind,
    ip: &str,
    reason: &str,
) -> Result<Failure, IdpError> {
    Ok(refuse_counted(idp, attempt, enrolment, method, ip, reason)
        .await?
        .0)
}

/// [`refuse`], also returning the failed attempts left before a lock-out when few
/// ([`WARN_WHEN_LEFT`]) remain.
async fn refuse_counted(
    idp: &Idp,
    attempt: Attempt,
    enrolment: &Enrolment,
    method: AuthenticatorKind,
    ip: &str,
    reason: &str,
) -> Result<(Failure, Option<u64>), IdpError> {
    let left = attempt
        .remaining_after_failure(&idp.config.lockout)
        .filter(|n| (1..=WARN_WHEN_LEFT).contains(n));
    let gate = attempt
        .failed(&idp.config.lockout, idp.ephemeral.as_ref())
        .await?;
    idp.audit(
        idp.event("login.failure", AuditOutcome::Failure)
            .person(enrolment.person.id)
            .ip(ip)
            .detail("method", method.as_str())
            .detail("reason", reason),
    )
    .await?;
    idp.metrics.inc(
        "idp_login_failures_total",
        "Failed login attempts by method.",
        &[("method", method.as_str())],
    );
    Ok(match gate {
        Gate::UserLocked => (Failure::UserLocked, None),
        Gate::IpBlocked => (Failure::IpBlocked, None),
        Gate::Open => (Failure::WrongCredentials, left),
    })
}

/// Names the wrong secret of a refusal that left the gate open.
fn wrong(failure: (Failure, Option<u64>), name: fn(Option<u64>) -> Failure) -> Failure {
    match failure {
        (Failure::WrongCredentials, left) => name(left),
        (other, _) => other,
    }
}

/// Counts an attempt of the person before it is evaluated ([`crate::lockout::LockoutPolicy::begin`]);
/// a refusal by a lock is audited and returned as the failure to show.
pub(super) async fn begin(
    idp: &Idp,
    enrolment: &Enrolment,
    ip: &str,
) -> Result<Result<Attempt, Failure>, IdpError> {
    let failure = match idp
        .config
        .lockout
        .begin(idp.ephemeral.as_ref(), Some(enrolment.person.id), ip)
        .await?
    {
        Ok(attempt) => return Ok(Ok(attempt)),
        Err(Gate::UserLocked) => Failure::UserLocked,
        Err(Gate::IpBlocked | Gate::Open) => Failure::IpBlocked,
    };
    audit_locked_out(idp, Some(enrolment.person.id), ip, failure).await?;
    Ok(Err(failure))
}

/// Audits an attempt refused by a lock before it was evaluated.
async fn audit_locked_out(
    idp: &Idp,
    person: Option<uuid::Uuid>,
    ip: &str,
    failure: Failure,
) -> Result<(), IdpError> {
    let reason = if failure == Failure::UserLocked {
        "user locked"
    } else {
        "address blocked"
    };
    let mut event = idp
        .event("login.locked_out", AuditOutcome::Failure)
        .ip(ip)
        .detail("reason", reason);
    if let Some(person) = person {
        event = event.person(person);
    }
    idp.audit(event).await?;
    Ok(())
}

/// Logs in with the password alone.
pub async fn with_password(
    idp: &Idp,
    tx: &LoginTx,
    password_input: &str,
    previous_session: Option<&str>,
    ip: &str,
) -> Result<LoginResult, IdpError> {
    let Some(enrolment) = Enrolment::of_tx(idp, tx).await? else {
        return Err(IdpError::TxExpired);
    };
    let attempt = match begin(idp, &enrolment, ip).await? {
        Ok(attempt) => attempt,
        Err(failure) => return Ok(LoginResult::Failed(failure)),
    };
    let verified = idp
        .hasher
        .verify(
            password_input.to_owned(),
            enrolment.password_hash().map(str::to_owned),
        )
        .await;
    if !verified {
        let failure = refuse_counted(
            idp,
            attempt,
            &enrolment,
            AuthenticatorKind::Password,
            ip,
            "wrong password",
        )
        .await?;
        return Ok(LoginResult::Failed(wrong(failure, |left| {
            Failure::WrongPassword { left }
        })));
    }
    attempt
        .succeeded(&idp.config.lockout, idp.ephemeral.as_ref())
        .await?;
    if let Some(a) = enrolment.find(AuthenticatorKind::Password) {
        idp.authenticators
            .record_use(a.id, idp.clock.now(), None)
            .await?;
    }
    let (completion, session_cookie) = complete(
        idp,
        tx,
        &enrolment.person,
        AuthenticatorKind::Password,
        previous_session,
        ip,
    )
    .await?;
    Ok(LoginResult::Done {
        completion,
        session_cookie,
    })
}

/// Logs in with the password and a code from the code display. A code is accepted once: a second
/// use within its time step is refused.
pub async fn with_code_display(
    idp: &Idp,
    tx: &LoginTx,
    password_input: &str,
    code: &str,
    previous_session: Option<&str>,
    ip: &str,
) -> Result<LoginResult, IdpError> {
    let Some(enrolment) = Enrolment::of_tx(idp, tx).await? else {
        return Err(IdpError::TxExpired);
    };
    let Some(device) = enrolment.find(AuthenticatorKind::CodeDisplay) else {
        return Ok(LoginResult::Failed(Failure::NotEnrolled));
    };
    let attempt = match begin(idp, &enrolment, ip).await? {
        Ok(attempt) => attempt,
        Err(failure) => return Ok(LoginResult::Failed(failure)),
    };
    let password_ok = idp
        .hasher
        .verify(
            password_input.to_owned(),
            enrolment.password_hash().map(str::to_owned),
        )
        .await;
    let step = totp::verify(&device.secret, code, idp.clock.now().unix_timestamp());
    let (true, Some(step)) = (password_ok, step) else {
        let failure = refuse_counted(
            idp,
            attempt,
            &enrolment,
            AuthenticatorKind::CodeDisplay,
            ip,
            "wrong password or code",
        )
        .await?;
        return Ok(LoginResult::Failed(wrong(failure, |left| {
            Failure::WrongPasswordOrCode { left }
        })));
    };
    let replay_key = format!("idp:totp-used:{}:{step}", device.id);
    let window =
        Duration::from_secs(u64::try_from(totp::STEP * (2 * totp::DRIFT_STEPS + 2)).unwrap_or(150));
    if !idp
        .ephemeral
        .put_if_absent(&replay_key, b"1", window)
        .await?
    {
        let failure = refuse_counted(
            idp,
            attempt,
            &enrolment,
            AuthenticatorKind::CodeDisplay,
            ip,
            "code already used",
        )
        .await?;
        // Said like a wrong password or code: "already used" would tell whoever holds a spent
        // code that the password they tried is right.
        return Ok(LoginResult::Failed(wrong(failure, |left| {
            Failure::WrongPasswordOrCode { left }
        })));
    }
    attempt
        .succeeded(&idp.config.lockout, idp.ephemeral.as_ref())
        .await?;
    idp.authenticators
        .record_use(device.id, idp.clock.now(), None)
        .await?;
    let (completion, session_cookie) = complete(
        idp,
        tx,
        &enrolment.person,
        AuthenticatorKind::CodeDisplay,
        previous_session,
        ip,
    )
    .await?;
    Ok(LoginResult::Done {
        completion,
        session_cookie,
    })
}
