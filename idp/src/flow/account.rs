//! Changes a person makes to their own authenticators in self-service ("My MitID"): which login each
//! one needs, and the audit event and notification each one leaves.
//!
//! A change needs a *fresh* login ([`FRESH_LOGIN`]) at a level at least as high as the highest
//! level the change can give this person, and never below Substantial. What a change can give is
//! bounded like every login: min(identity proofing, authenticator) ([`crate::levels::achieved`]).
//! So a password alone (Low) changes nothing; a person proofed at Substantial enrols a passkey with
//! a Substantial login (the passkey can give them no more); a person proofed at High needs a High
//! login to enrol a passkey, which would otherwise turn a Substantial login into High. Removing
//! gives no level, but a password alone must not strip a person's other authenticators either.

use eid_core::{AuditOutcome, AuthenticatorKind, Loa, Person};
use eid_store::notifications::Notification;
use std::time::Duration;
use uuid::Uuid;

use super::IdpError;
use super::session::IdpSession;
use super::tx::{LoginTx, Purpose};
use crate::levels::{LevelTable, achieved};
use crate::state::Idp;

/// How recent the login behind an account change must be. Five minutes, as MitID asks for a new
/// approval before changes: long enough to finish the change, short enough that a session left
/// open on a shared computer cannot be used to take over the account.
pub const FRESH_LOGIN: Duration = Duration::from_secs(300);

/// A change to a person's own authenticators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountChange {
    /// Start or confirm enrolment of a code display.
    AddCodeDisplay,
    /// Make a pairing code for the app.
    PairApp,
    /// Enrol a passkey.
    EnrolPasskey,
    /// Remove an authenticator.
    Remove,
    /// Set or change the password.
    SetPassword,
    /// Rename an authenticator.
    Rename,
}

impl AccountChange {
    /// Every change, for tests and tables.
    pub const ALL: [AccountChange; 6] = [
        AccountChange::AddCodeDisplay,
        AccountChange::PairApp,
        AccountChange::EnrolPasskey,
        AccountChange::Remove,
        AccountChange::SetPassword,
        AccountChange::Rename,
    ];

    /// A stable name, for audit events and notifications.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountChange::AddCodeDisplay => "add_code_display",
            AccountChange::PairApp => "pair_app",
            AccountChange::EnrolPasskey => "enrol_passkey",
            AccountChange::Remove => "remove_authenticator",
            AccountChange::SetPassword => "set_password",
            AccountChange::Rename => "rename_authenticator",
        }
    }

    /// The highest authenticator level the change can give.
    fn reach(self, levels: &LevelTable) -> Loa {
        match self {
            AccountChange::AddCodeDisplay => levels.aal(AuthenticatorKind::CodeDisplay),
            AccountChange::PairApp => levels.aal(AuthenticatorKind::App),
            AccountChange::EnrolPasskey => levels.aal(AuthenticatorKind::Passkey),
            // The password is also a factor of the code-display login.
            AccountChange::SetPassword => levels
                .aal(AuthenticatorKind::Password)
                .max(levels.aal(AuthenticatorKind::CodeDisplay)),
            // Neither gives a level, but a password alone must not change the others.
            AccountChange::Remove | AccountChange::Rename => Loa::Substantial,
        }
    }

    /// The level a login needs for this change by a person proofed at `ial`.
    pub fn required(self, ial: Loa, levels: &LevelTable) -> Loa {
        achieved(ial, self.reach(levels)).max(Loa::Substantial)
    }
}

/// Whether a session may make a change now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Go ahead.
    Allowed,
    /// Log in again, at least at this level.
    StepUp(Loa),
}

/// Decides whether `session` (of a person proofed at `ial`) may make `change` at `now` (Unix
/// seconds): its login must be fresh and at least at the required level.
pub fn permission(
    session: &IdpSession,
    ial: Loa,
    change: AccountChange,
    levels: &LevelTable,
    now: i64,
) -> Permission {
    let required = change.required(ial, levels);
    let age = u64::try_from(now.saturating_sub(session.auth_time)).unwrap_or(0);
    if session.loa >= required && age <= FRESH_LOGIN.as_secs() {
        Permission::Allowed
    } else {
        Permission::StepUp(required)
    }
}

/// Refuses a change that needs a new login: audits the refusal and starts a step-up login for the
/// same person in this browser, which returns to the account page. Returns the transaction id.
pub async fn start_step_up(
    idp: &Idp,
    person: &Person,
    change: AccountChange,
    required: Loa,
    browser_cookie: &str,
    lang: eid_core::Lang,
) -> Result<String, IdpError> {
    idp.audit(
        idp.event("account.step_up_required", AuditOutcome::Failure)
            .person(person.id)
            .detail("change", change.as_str())
            .detail("required", required.as_word()),
    )
    .await?;
    let mut tx = LoginTx::new(Purpose::Account, browser_cookie, lang);
    tx.person = Some(person.id);
    tx.step_up = Some(required);
    tx.save(idp).await?;
    Ok(tx.id)
}

/// Records a change that was made: an audit event, and a message to the person through the
/// notification outbox (so a change they did not make does not go unnoticed).
pub async fn record(
    idp: &Idp,
    person: Uuid,
    event: &str,
    kind: Option<AuthenticatorKind>,
    ip: Option<&str>,
) -> Result<(), IdpError> {
    let mut audit = idp.event(event, AuditOutcome::Success).person(person);
    let mut details = serde_json::Map::new();
    if let Some(kind) = kind {
        audit = audit.detail("kind", kind.as_str());
        details.insert("kind".into(), kind.as_str().into());
    }
    if let Some(ip) = ip {
        audit = audit.ip(ip);
    }
    idp.notifications
        .enqueue(&Notification::new(
            person,
            event,
            serde_json::Value::Object(details),
            idp.clock.now(),
        ))
        .await?;
    idp.audit(audit).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use eid_core::AuthenticatorKind;

    fn session(loa: Loa, auth_time: i64) -> IdpSession {
        IdpSession {
            sid: String::new(),
            person: Uuid::nil(),
            auth_time,
            loa,
            ial: Loa::High,
            aal: loa,
            method: AuthenticatorKind::Password,
        }
    }

    #[test]
    fn a_password_alone_may_make_no_change() {
        let levels = LevelTable::default();
        for change in AccountChange::ALL {
            assert_eq!(
                permission(&session(Loa::Low, 1000), Loa::High, change, &levels, 1000),
                Permission::StepUp(change.required(Loa::High, &levels)),
                "{change:?}"
            );
        }
    }

    #[test]
    fn the_required_level_is_what_the_change_can_give_never_below_substantial() {
        let levels = LevelTable::default();
        assert_eq!(
            AccountChange::EnrolPasskey.required(Loa::High, &levels),
            Loa::High
        );
        // Proofed at Substantial, a passkey can give no more than Substantial.
        assert_eq!(
            AccountChange::EnrolPasskey.required(Loa::Substantial, &levels),
            Loa::Substantial
        );
        for change in AccountChange::ALL {
            for ial in Loa::ALL {
                assert!(change.required(ial, &levels) >= Loa::Substantial);
            }
        }
        assert_eq!(
            AccountChange::PairApp.required(Loa::High, &levels),
            Loa::Substantial
        );
    }

    #[test]
    fn a_substantial_login_cannot_enrol_a_passkey_that_gives_high() {
        let levels = LevelTable::default();
        let s = session(Loa::Substantial, 1000);
        assert_eq!(
            permission(&s, Loa::High, AccountChange::EnrolPasskey, &levels, 1000),
            Permission::StepUp(Loa::High)
        );
        assert_eq!(
            permission(&s, Loa::High, AccountChange::PairApp, &levels, 1000),
            Permission::Allowed
        );
    }

    #[test]
    fn a_login_older_than_five_minutes_is_stale() {
        let levels = LevelTable::default();
        let s = session(Loa::High, 1000);
        let fresh_until = 1000 + i64::try_from(FRESH_LOGIN.as_secs()).unwrap_or(300);
        for change in AccountChange::ALL {
            assert_eq!(
                permission(&s, Loa::High, change, &levels, fresh_until),
                Permission::Allowed
            );
            assert_eq!(
                permission(&s, Loa::High, change, &levels, fresh_until + 1),
                Permission::StepUp(change.required(Loa::High, &levels))
            );
        }
    }
}
