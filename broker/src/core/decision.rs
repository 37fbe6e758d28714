//! Does a request need an authentication at an upstream, and at which level?

use eid_core::Loa;
use serde::{Deserialize, Serialize};

use super::session::SsoSession;

/// An authentication request from any frontend, in protocol-neutral terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthnRequest {
    /// The requesting relying party.
    pub rp: String,
    /// The lowest level it accepts.
    pub min_loa: Option<Loa>,
    /// Authenticate again even with a session (`prompt=login`, `ForceAuthn`).
    pub force: bool,
    /// No interaction allowed (`prompt=none`, `IsPassive`).
    pub passive: bool,
    /// The authentication may be at most this old (seconds).
    pub max_age: Option<u64>,
    /// Whether the relying party accepts representation (acting on behalf of someone).
    pub accepts_representation: bool,
}

/// What to do with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The session satisfies it: answer at once (single sign-on).
    UseSession,
    /// Authenticate at an upstream at this level at least; `step_up` when a session exists but is
    /// too weak or too old.
    Authenticate {
        /// The level to ask the upstream for.
        min_loa: Option<Loa>,
        /// Whether a session exists (re-authentication, step-up).
        step_up: bool,
    },
    /// Authentication is needed but the request forbids interaction.
    LoginRequired,
}

/// Decides, at `now` (Unix seconds), what a request needs given the browser's session.
pub fn decide(request: &AuthnRequest, session: Option<&SsoSession>, now: i64) -> Decision {
    let needs = match session {
        None => Some(false),
        Some(s) => {
            let too_old = request.max_age.is_some_and(|max| {
                now.saturating_sub(s.auth_time) > i64::try_from(max).unwrap_or(i64::MAX)
            });
            let too_weak = request.min_loa.is_some_and(|min| s.loa < min);
            (request.force || too_old || too_weak).then_some(true)
        }
    };
    match needs {
        None => Decision::UseSession,
        Some(_) if request.passive => Decision::LoginRequired,
        Some(step_up) => Decision::Authenticate {
            min_loa: request.min_loa,
            step_up,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> AuthnRequest {
        AuthnRequest {
            rp: "rp".into(),
            min_loa: None,
            force: false,
            passive: false,
            max_age: None,
            accepts_representation: false,
        }
    }

    fn session(loa: Loa, auth_time: i64) -> SsoSession {
        SsoSession::for_test(loa, auth_time)
    }

    #[test]
    fn no_session_means_authenticate_or_login_required() {
        assert_eq!(
            decide(&request(), None, 100),
            Decision::Authenticate {
                min_loa: None,
                step_up: false
            }
        );
        let passive = AuthnRequest {
            passive: true,
            ..request()
        };
        assert_eq!(decide(&passive, None, 100), Decision::LoginRequired);
    }

    #[test]
    fn a_sufficient_session_is_used() {
        let r = AuthnRequest {
            min_loa: Some(Loa::Substantial),
            ..request()
        };
        assert_eq!(
            decide(&r, Some(&session(Loa::High, 90)), 100),
            Decision::UseSession
        );
    }

    #[test]
    fn a_weaker_session_steps_up_never_down() {
        let r = AuthnRequest {
            min_loa: Some(Loa::High),
            ..request()
        };
        assert_eq!(
            decide(&r, Some(&session(Loa::Substantial, 90)), 100),
            Decision::Authenticate {
                min_loa: Some(Loa::High),
                step_up: true
            }
        );
    }

    #[test]
    fn force_and_max_age_reauthenticate() {
        let forced = AuthnRequest {
            force: true,
            ..request()
        };
        assert!(matches!(
            decide(&forced, Some(&session(Loa::High, 99)), 100),
            Decision::Authenticate { step_up: true, .. }
        ));
        let young = AuthnRequest {
            max_age: Some(60),
            ..request()
        };
        assert_eq!(
            decide(&young, Some(&session(Loa::Low, 50)), 100),
            Decision::UseSession
        );
        assert!(matches!(
            decide(&young, Some(&session(Loa::Low, 10)), 100),
            Decision::Authenticate { .. }
        ));
    }
}
