//! Rate limiting and lock-out of failed login attempts, per user and per IP address. Counters live
//! in the ephemeral store, so the limits hold across every node that shares it.

use eid_core::{EphemeralStore, StoreError};
use serde::Deserialize;
use std::time::Duration;
use uuid::Uuid;

/// The lock-out policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockoutPolicy {
    /// Failed attempts for one user within `window_secs` that lock the user.
    pub max_user_failures: u64,
    /// Failed attempts from one IP address within `window_secs` that block the address.
    pub max_ip_failures: u64,
    /// The counting window, seconds.
    pub window_secs: u64,
    /// How long a lock lasts, seconds.
    pub lock_secs: u64,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        LockoutPolicy {
            max_user_failures: 5,
            max_ip_failures: 50,
            window_secs: 900,
            lock_secs: 900,
        }
    }
}

/// Whether an attempt may go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Go ahead.
    Open,
    /// The user is locked.
    UserLocked,
    /// The address is blocked.
    IpBlocked,
}

fn user_lock(user: Uuid) -> String {
    format!("idp:lock:user:{user}")
}
fn ip_lock(ip: &str) -> String {
    format!("idp:lock:ip:{ip}")
}
fn user_count(user: Uuid) -> String {
    format!("idp:fail:user:{user}")
}
fn ip_window(ip: &str) -> String {
    format!("idp:win:ip:{ip}")
}
fn ip_count(ip: &str, window: &str) -> String {
    format!("idp:fail:ip:{ip}:{window}")
}
fn ip_successes(ip: &str, window: &str) -> String {
    format!("idp:ok:ip:{ip}:{window}")
}

/// An attempt that was counted before it was evaluated (see [`LockoutPolicy::begin`]). Report its
/// result with [`Attempt::failed`] or [`Attempt::succeeded`].
#[derive(Debug, Clone)]
#[must_use = "report the attempt's result"]
pub struct Attempt {
    user: Option<(Uuid, u64)>,
    ip: String,
    /// The per-address window the attempt was counted in (its success is credited there).
    window: String,
    ip_open: u64,
}

impl LockoutPolicy {
    /// Checks the locks before an attempt is even evaluated.
    pub async fn gate(
        &self,
        store: &dyn EphemeralStore,
        user: Option<Uuid>,
        ip: &str,
    ) -> Result<Gate, StoreError> {
        if let Some(user) = user
            && store.get(&user_lock(user)).await?.is_some()
        {
            return Ok(Gate::UserLocked);
        }
        if store.get(&ip_lock(ip)).await?.is_some() {
            return Ok(Gate::IpBlocked);
        }
        Ok(Gate::Open)
    }

    /// Counts an attempt *before* it is evaluated, so that parallel attempts cannot all pass a
    /// check made before any of them was counted: each takes a number from the store's atomic
    /// counter, and those beyond the limit are refused unevaluated. `Ok(Err(gate))` is a refusal
    /// (the attempt must not be evaluated); `Ok(Ok(attempt))` may go ahead.
    ///
    /// Per user the count is of attempts since the last success (a success resets it). Per address
    /// it is of attempts minus successes *of the same window* ([`Self::ip_window_id`]): a success
    /// only takes back its own attempt, so the count is exactly the failures plus the attempts in
    /// flight. A busy shared address is never blocked by its successful logins, yet successes can
    /// never cancel a failure: an attacker alternating logins to an own account with guesses against
    /// others is blocked after `max_ip_failures` guesses, as without the successes. (The credit was
    /// once kept in a counter with its own window; as the two windows drifted apart, successes of
    /// one window cancelled failures of the next, without bound.)
    pub async fn begin(
        &self,
        store: &dyn EphemeralStore,
        user: Option<Uuid>,
        ip: &str,
    ) -> Result<Result<Attempt, Gate>, StoreError> {
        let gate = self.gate(store, user, ip).await?;
        if gate != Gate::Open {
            return Ok(Err(gate));
        }
        let window = Duration::from_secs(self.window_secs);
        let lock = Duration::from_secs(self.lock_secs);
        let mut counted_user = None;
        if let Some(user) = user {
            let n = store.incr(&user_count(user), window).await?;
            if n > self.max_user_failures {
                store.put(&user_lock(user), b"1", lock).await?;
                return Ok(Err(Gate::UserLocked));
            }
            counted_user = Some((user, n));
        }
        let ip_window = self.ip_window_id(store, ip).await?;
        let attempts = store.incr(&ip_count(ip, &ip_window), window).await?;
        let successes = store
            .get(&ip_successes(ip, &ip_window))
            .await?
            .and_then(|v| String::from_utf8(v).ok())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        let ip_open = attempts.saturating_sub(successes);
        if ip_open > self.max_ip_failures {
            store.put(&ip_lock(ip), b"1", lock).await?;
            return Ok(Err(Gate::IpBlocked));
        }
        Ok(Ok(Attempt {
            user: counted_user,
            ip: ip.to_owned(),
            window: ip_window,
            ip_open,
        }))
    }

    /// The id of the address's current counting window: random, made by the first attempt of a
    /// window and kept for `window_secs`. The attempt and success counters of an address are keyed
    /// by it, so both always cover the same attempts.
    async fn ip_window_id(
        &self,
        store: &dyn EphemeralStore,
        ip: &str,
    ) -> Result<String, StoreError> {
        let ttl = Duration::from_secs(self.window_secs);
        for _ in 0..2 {
            let fresh = Uuid::new_v4().simple().to_string();
            if store
                .put_if_absent(&ip_window(ip), fresh.as_bytes(), ttl)
                .await?
            {
                return Ok(fresh);
            }
            // Another attempt made it first; it may expire in between, then try once more.
            if let Some(id) = store
                .get(&ip_window(ip))
                .await?
                .and_then(|v| String::from_utf8(v).ok())
            {
                return Ok(id);
            }
        }
        Err(StoreError::Backend(
            "no lock-out window for the address".into(),
        ))
    }

    /// Counts a failed attempt, locking the user or address when a limit is reached; returns the gate
    /// for the next attempt.
    pub async fn record_failure(
        &self,
        store: &dyn EphemeralStore,
        user: Option<Uuid>,
        ip: &str,
    ) -> Result<Gate, StoreError> {
        let window = Duration::from_secs(self.window_secs);
        let lock = Duration::from_secs(self.lock_secs);
        let mut gate = Gate::Open;
        if let Some(user) = user {
            let failures = store.incr(&user_count(user), window).await?;
            if failures >= self.max_user_failures {
                store.put(&user_lock(user), b"1", lock).await?;
                store.delete(&user_count(user)).await?;
                gate = Gate::UserLocked;
            }
        }
        let ip_window = self.ip_window_id(store, ip).await?;
        let failures = store.incr(&ip_count(ip, &ip_window), window).await?;
        if failures >= self.max_ip_failures {
            store.put(&ip_lock(ip), b"1", lock).await?;
            store.delete(&ip_count(ip, &ip_window)).await?;
            if gate == Gate::Open {
                gate = Gate::IpBlocked;
            }
        }
        Ok(gate)
    }

    /// Whether the person is locked now (checked before they are asked for a secret).
    pub async fn user_locked(
        &self,
        store: &dyn EphemeralStore,
        user: Uuid,
    ) -> Result<bool, StoreError> {
        Ok(store.get(&user_lock(user)).await?.is_some())
    }

    /// Clears the user's failure count after a successful login.
    ///
    /// (Prefer [`begin`](Self::begin) for anything that verifies a secret.)
    pub async fn record_success(
        &self,
        store: &dyn EphemeralStore,
        user: Uuid,
    ) -> Result<(), StoreError> {
        store.delete(&user_count(user)).await.map(|_| ())
    }
}

impl Attempt {
    /// How many more failed attempts of the person the policy allows after this one fails (`None`
    /// for an attempt not tied to a person). The count only grows until a success resets it.
    pub fn remaining_after_failure(&self, policy: &LockoutPolicy) -> Option<u64> {
        self.user
            .map(|(_, n)| policy.max_user_failures.saturating_sub(n))
    }

    /// The attempt failed: locks the user or the address when it was the last one allowed;
    /// returns the gate for the next attempt.
    pub async fn failed(
        self,
        policy: &LockoutPolicy,
        store: &dyn EphemeralStore,
    ) -> Result<Gate, StoreError> {
        let lock = Duration::from_secs(policy.lock_secs);
        let mut gate = Gate::Open;
        if let Some((user, n)) = self.user
            && n >= policy.max_user_failures
        {
            store.put(&user_lock(user), b"1", lock).await?;
            store.delete(&user_count(user)).await?;
            gate = Gate::UserLocked;
        }
        if self.ip_open >= policy.max_ip_failures {
            store.put(&ip_lock(&self.ip), b"1", lock).await?;
            if gate == Gate::Open {
                gate = Gate::IpBlocked;
            }
        }
        Ok(gate)
    }

    /// The attempt succeeded: the user's count starts again, and the address gets this attempt back
    /// (in the window it was counted in, never in a later one).
    pub async fn succeeded(
        self,
        policy: &LockoutPolicy,
        store: &dyn EphemeralStore,
    ) -> Result<(), StoreError> {
        if let Some((user, _)) = self.user {
            store.delete(&user_count(user)).await?;
        }
        store
            .incr(
                &ip_successes(&self.ip, &self.window),
                Duration::from_secs(policy.window_secs),
            )
            .await?;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use eid_store::memory::MemoryEphemeral;

    #[tokio::test]
    async fn five_failures_lock_the_user_not_others() {
        let store = MemoryEphemeral::new();
        let policy = LockoutPolicy::default();
        let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());
        for _ in 0..4 {
            assert_eq!(
                policy
                    .record_failure(&store, Some(alice), "10.0.0.1")
                    .await
                    .unwrap(),
                Gate::Open
            );
        }
        assert_eq!(
            policy
                .record_failure(&store, Some(alice), "10.0.0.1")
                .await
                .unwrap(),
            Gate::UserLocked
        );
        assert_eq!(
            policy.gate(&store, Some(alice), "10.0.0.2").await.unwrap(),
            Gate::UserLocked
        );
        assert_eq!(
            policy.gate(&store, Some(bob), "10.0.0.1").await.unwrap(),
            Gate::Open
        );
    }

    #[tokio::test]
    async fn attempts_are_counted_before_they_are_evaluated() {
        let store = MemoryEphemeral::new();
        let policy = LockoutPolicy::default();
        let alice = Uuid::new_v4();
        // Five attempts in flight at once (none reported yet): the sixth is refused unevaluated.
        let mut in_flight = Vec::new();
        for _ in 0..5 {
            in_flight.push(
                policy
                    .begin(&store, Some(alice), "ip")
                    .await
                    .unwrap()
                    .unwrap(),
            );
        }
        assert_eq!(
            policy
                .begin(&store, Some(alice), "ip")
                .await
                .unwrap()
                .unwrap_err(),
            Gate::UserLocked
        );
        // A success among them starts the count again once the lock is gone.
        let first = in_flight.remove(0);
        first.succeeded(&policy, &store).await.unwrap();
        assert_eq!(
            policy.gate(&store, Some(alice), "ip").await.unwrap(),
            Gate::UserLocked,
            "the lock taken meanwhile stays"
        );
    }

    #[tokio::test]
    async fn successes_from_an_address_do_not_block_it() {
        let store = MemoryEphemeral::new();
        let policy = LockoutPolicy {
            max_ip_failures: 3,
            ..LockoutPolicy::default()
        };
        for _ in 0..10 {
            let attempt = policy
                .begin(&store, Some(Uuid::new_v4()), "10.1.1.1")
                .await
                .unwrap()
                .unwrap();
            attempt.succeeded(&policy, &store).await.unwrap();
        }
        assert_eq!(
            policy.gate(&store, None, "10.1.1.1").await.unwrap(),
            Gate::Open
        );
    }

    /// One round of the spraying attack: a successful login to the attacker's own account, then a
    /// wrong guess against someone else's. Returns the gate after the guess.
    async fn own_success_then_guess(policy: &LockoutPolicy, store: &MemoryEphemeral) -> Gate {
        let (own, victim) = (Uuid::from_u128(1), Uuid::new_v4());
        match policy.begin(store, Some(own), "10.6.6.6").await.unwrap() {
            Ok(attempt) => attempt.succeeded(policy, store).await.unwrap(),
            Err(gate) => return gate,
        }
        match policy.begin(store, Some(victim), "10.6.6.6").await.unwrap() {
            Ok(attempt) => attempt.failed(policy, store).await.unwrap(),
            Err(gate) => gate,
        }
    }

    #[tokio::test]
    async fn own_successes_do_not_cancel_guesses_against_others_from_one_address() {
        let store = MemoryEphemeral::new();
        let policy = LockoutPolicy {
            max_ip_failures: 3,
            window_secs: 2,
            ..LockoutPolicy::default()
        };
        // Successes banked late in one window must not pay for guesses in the next one.
        let _ = policy
            .record_failure(&store, None, "10.6.6.6")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(1200)).await;
        for _ in 0..20 {
            let own = policy
                .begin(&store, Some(Uuid::from_u128(1)), "10.6.6.6")
                .await
                .unwrap()
                .unwrap();
            own.succeeded(&policy, &store).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let mut guesses = 0;
        while own_success_then_guess(&policy, &store).await == Gate::Open {
            guesses += 1;
            assert!(guesses < 20, "the address is never blocked");
        }
        assert_eq!(guesses + 1, 3, "blocked at the per-address limit");
        assert_eq!(
            policy.gate(&store, None, "10.6.6.6").await.unwrap(),
            Gate::IpBlocked
        );
    }

    #[tokio::test]
    async fn alternating_own_successes_and_guesses_is_cut_off_at_the_limit() {
        let store = MemoryEphemeral::new();
        let policy = LockoutPolicy {
            max_ip_failures: 5,
            ..LockoutPolicy::default()
        };
        let mut gates = Vec::new();
        for _ in 0..8 {
            gates.push(own_success_then_guess(&policy, &store).await);
        }
        assert_eq!(&gates[..4], &[Gate::Open; 4]);
        assert!(
            gates[4..].iter().all(|g| *g == Gate::IpBlocked),
            "{gates:?}"
        );
    }

    #[tokio::test]
    async fn success_resets_the_count() {
        let store = MemoryEphemeral::new();
        let policy = LockoutPolicy::default();
        let alice = Uuid::new_v4();
        for _ in 0..4 {
            policy
                .record_failure(&store, Some(alice), "ip")
                .await
                .unwrap();
        }
        policy.record_success(&store, alice).await.unwrap();
        assert_eq!(
            policy
                .record_failure(&store, Some(alice), "ip")
                .await
                .unwrap(),
            Gate::Open
        );
    }

    #[tokio::test]
    async fn many_failures_from_one_address_block_it() {
        let store = MemoryEphemeral::new();
        let policy = LockoutPolicy {
            max_ip_failures: 3,
            ..LockoutPolicy::default()
        };
        for _ in 0..2 {
            policy
                .record_failure(&store, None, "10.9.9.9")
                .await
                .unwrap();
        }
        assert_eq!(
            policy
                .record_failure(&store, None, "10.9.9.9")
                .await
                .unwrap(),
            Gate::IpBlocked
        );
        assert_eq!(
            policy.gate(&store, None, "10.9.9.9").await.unwrap(),
            Gate::IpBlocked
        );
    }
}
