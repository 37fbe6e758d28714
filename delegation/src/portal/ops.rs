//! Changes the portal makes, as pending operations: a form (or a button) becomes an
//! [`Operation`] kept server-side for this browser and person, shown on a confirmation page (for
//! a grant or an approval: the registry's draft, the "sign" step), and carried out only when the
//! person confirms it. A change that can raise what a session may do needs a fresh login at
//! Substantial; when the login is too old or too weak, the operation waits while the person logs
//! in again and is shown again afterwards. No HTTP here.

use eid_core::{EphemeralStore, MandateId, PersonKey, StoreError};
use serde::{Deserialize, Serialize};
use std::time::Duration;

use super::forms::{GrantForm, PowerForm, RequestForm, RightForm};
use crate::registry::{
    Authenticated, Confirmation, GrantDraft, MandateView, Registry, RegistryError, rules,
};

/// A change the person asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Operation {
    /// Give a power of attorney (sign step).
    Grant(GrantForm),
    /// Ask for one.
    Request(RequestForm),
    /// Approve a request made to me (sign step).
    Approve(MandateId),
    /// Accept one given to me.
    Accept(MandateId),
    /// Say no to one given to me or asked of me.
    Decline(MandateId),
    /// End one.
    Revoke(MandateId),
    /// Assign a business right.
    AssignRight(RightForm),
    /// Give a business power.
    GrantPower(PowerForm),
}

impl Operation {
    /// Whether it needs a fresh login at Substantial (everything that can give or gain power).
    pub fn needs_fresh_login(&self) -> bool {
        !matches!(self, Operation::Decline(_) | Operation::Revoke(_))
    }

    /// Whether its confirmation is the registry's sign step.
    pub fn is_signed(&self) -> bool {
        matches!(self, Operation::Grant(_) | Operation::Approve(_))
    }
}

/// An operation waiting for its confirmation, and what came of it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pending {
    /// Its id (random, in the confirmation page's URL).
    pub id: String,
    /// Whose it is: another person's session in the same browser finds nothing.
    pub person: PersonKey,
    /// What to do.
    pub operation: Operation,
    /// For a signed operation: the draft shown.
    pub draft: Option<GrantDraft>,
    /// Once done: the mandate as it became.
    pub done: Option<Done>,
}

/// What a confirmed operation produced, for the receipt.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Done {
    /// The mandate's id.
    pub mandate: MandateId,
    /// Its state afterwards.
    pub state: eid_core::MandateState,
}

/// How long an operation waits (the registry's drafts wait as long).
pub const TTL: Duration = Duration::from_secs(15 * 60);

/// Where pending operations are kept, per browser.
pub struct Operations<'a> {
    /// The ephemeral store.
    pub store: &'a dyn EphemeralStore,
    /// The browser's binding (digest of its cookie).
    pub browser: &'a str,
}

impl Operations<'_> {
    fn key(&self, id: &str) -> String {
        format!("delegation:portal:op:{}:{id}", self.browser)
    }

    /// Keeps a new operation of `person`; returns it.
    pub async fn start(
        &self,
        person: &PersonKey,
        operation: Operation,
    ) -> Result<Pending, StoreError> {
        let pending = Pending {
            id: eid_oidc::random::token(16),
            person: person.clone(),
            operation,
            draft: None,
            done: None,
        };
        self.save(&pending).await?;
        Ok(pending)
    }

    /// Stores `pending` again.
    pub async fn save(&self, pending: &Pending) -> Result<(), StoreError> {
        let json =
            serde_json::to_vec(pending).map_err(|e| StoreError::Backend(format!("op: {e}")))?;
        self.store.put(&self.key(&pending.id), &json, TTL).await
    }

    /// The operation `id` of `person` in this browser, if any.
    pub async fn find(&self, id: &str, person: &PersonKey) -> Result<Option<Pending>, StoreError> {
        if id.len() > 64
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Ok(None);
        }
        let Some(bytes) = self.store.get(&self.key(id)).await? else {
            return Ok(None);
        };
        Ok(serde_json::from_slice::<Pending>(&bytes)
            .ok()
            .filter(|p| &p.person == person))
    }
}

/// What the confirmation page of an operation shows.
#[derive(Debug)]
pub enum Shown {
    /// The person must log in again (fresh, at Substantial) first.
    LoginAgain,
    /// The registry's draft to sign.
    Sign(Box<GrantDraft>),
    /// A plain confirmation.
    Confirm,
    /// Already done: show the receipt.
    Done,
}

/// Whether `auth` may go on with `op` without logging in again: a fresh login at Substantial
/// when the operation needs it. A session acting for someone goes on, so that the registry refuses
/// (and audits) the attempt itself.
fn fresh_enough(registry: &Registry, auth: &Authenticated, op: &Operation) -> bool {
    !op.needs_fresh_login()
        || auth.acting_for.is_some()
        || rules::fresh_login(auth, registry.settings(), registry.now()).is_ok()
}

/// The confirmation page of `pending`: for a grant or approval the draft (prepared now, or the
/// one prepared before if it has not run out).
pub async fn show(
    registry: &Registry,
    auth: &Authenticated,
    pending: &mut Pending,
) -> Result<Shown, RegistryError> {
    if pending.done.is_some() {
        return Ok(Shown::Done);
    }
    if !fresh_enough(registry, auth, &pending.operation) {
        return Ok(Shown::LoginAgain);
    }
    let now = registry.now();
    if let Some(draft) = &pending.draft
        && now <= draft.prepared_at + registry.settings().draft_ttl
    {
        return Ok(Shown::Sign(Box::new(draft.clone())));
    }
    let draft = match &pending.operation {
        Operation::Grant(form) => {
            let input = form.input().ok_or(RegistryError::InvalidValidity)?;
            registry.prepare_grant(auth, input).await?
        }
        Operation::Approve(id) => registry.prepare_approval(auth, *id).await?,
        _ => return Ok(Shown::Confirm),
    };
    pending.draft = Some(draft.clone());
    Ok(Shown::Sign(Box::new(draft)))
}

/// What confirming an operation did.
#[derive(Debug)]
pub enum Outcome {
    /// The person must log in again first; the operation waits.
    LoginAgain,
    /// Done (now, or before).
    Done(Done),
}

/// Carries out `pending` as confirmed (for a signed operation, exactly the draft shown: the
/// confirmation names its digest).
pub async fn confirm(
    registry: &Registry,
    auth: &Authenticated,
    pending: &mut Pending,
    digest: Option<&str>,
) -> Result<Outcome, RegistryError> {
    if let Some(done) = &pending.done {
        return Ok(Outcome::Done(done.clone()));
    }
    if !fresh_enough(registry, auth, &pending.operation) {
        return Ok(Outcome::LoginAgain);
    }
    let view: MandateView = match &pending.operation {
        Operation::Grant(_) | Operation::Approve(_) => {
            let draft = pending.draft.as_ref().ok_or(RegistryError::DraftUnknown)?;
            let confirmation =
                Confirmation::parse(&draft.id.to_string(), digest.unwrap_or_default())
                    .ok_or(RegistryError::DraftMismatch)?;
            registry.confirm(auth, &confirmation).await?
        }
        Operation::Request(form) => {
            let input = form.input().ok_or(RegistryError::InvalidValidity)?;
            registry.request(auth, input).await?
        }
        Operation::Accept(id) => registry.accept(auth, *id).await?,
        Operation::Decline(id) => registry.decline(auth, *id).await?,
        Operation::Revoke(id) => registry.revoke(auth, *id).await?,
        Operation::AssignRight(form) => registry.assign_right(auth, form.input()).await?,
        Operation::GrantPower(form) => registry.grant_business_power(auth, form.input()).await?,
    };
    let done = Done {
        mandate: view.record.id,
        state: view.state,
    };
    pending.done = Some(done.clone());
    Ok(Outcome::Done(done))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_takes_power_away_goes_without_a_fresh_login() {
        let id = MandateId::new();
        assert!(!Operation::Revoke(id).needs_fresh_login());
        assert!(!Operation::Decline(id).needs_fresh_login());
        assert!(Operation::Accept(id).needs_fresh_login());
        assert!(Operation::Approve(id).needs_fresh_login());
        assert!(Operation::Approve(id).is_signed());
        assert!(!Operation::Accept(id).is_signed());
    }
}
