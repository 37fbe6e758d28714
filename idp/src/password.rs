//! Password hashing with Argon2id (PHC strings), and a check that costs the same for unknown users.

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Shortest password accepted at enrolment.
pub const MIN_LENGTH: usize = 8;

/// Hashes a password into a PHC string.
pub fn hash(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Checks a password against a PHC string. `None` (no password enrolled, unknown user) still spends
/// the time of a real check, so timing does not reveal which user IDs exist.
pub fn verify(password: &str, phc: Option<&str>) -> bool {
    static DUMMY: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash("not-a-real-password").ok());
    let (phc, real) = match phc {
        Some(phc) => (phc, true),
        None => match dummy.as_deref() {
            Some(d) => (d, false),
            None => return false,
        },
    };
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
        && real
}

/// Runs Argon2 off the async worker threads: on Tokio's blocking pool, at most as many at a time
/// as there are cores, so a burst of logins queues for the hash instead of stalling every other
/// request on the node. Cloning shares the limit.
#[derive(Debug, Clone)]
pub struct Hasher {
    permits: Arc<Semaphore>,
}

impl Hasher {
    /// At most `parallel` hashes at a time (at least one).
    pub fn new(parallel: usize) -> Hasher {
        Hasher {
            permits: Arc::new(Semaphore::new(parallel.max(1))),
        }
    }

    /// One hash at a time per core of this machine.
    pub fn per_core() -> Hasher {
        Hasher::new(std::thread::available_parallelism().map_or(1, usize::from))
    }

    /// [`verify`] on the blocking pool. A failed task (it cannot panic, but a runtime shutting down
    /// can cancel it) counts as a wrong password.
    pub async fn verify(&self, password: String, phc: Option<String>) -> bool {
        let Ok(_permit) = self.permits.acquire().await else {
            return false;
        };
        tokio::task::spawn_blocking(move || verify(&password, phc.as_deref()))
            .await
            .unwrap_or(false)
    }

    /// [`hash`] on the blocking pool.
    pub async fn hash(&self, password: String) -> Result<String, String> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| "hashing is shut down".to_owned())?;
        tokio::task::spawn_blocking(move || hash(&password))
            .await
            .map_err(|e| e.to_string())?
    }
}

/// Checks a new password's strength; the error says what to change.
pub fn check_strength(password: &str) -> Result<(), &'static str> {
    if password.chars().count() < MIN_LENGTH {
        return Err("too_short");
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_wrong_passwords_fail() {
        let phc = hash("correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(verify("correct horse", Some(&phc)));
        assert!(!verify("correct horsE", Some(&phc)));
        assert!(!verify("correct horse", None));
        assert!(!verify("x", Some("garbage")));
    }
}
