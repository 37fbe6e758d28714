//! Does a request need an authentication at an upstream, and at which level?

use eid_core::{Identity, Loa};
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

/// Whether the session's authentication is older than the request's `max_age` at `now`.
fn too_old(request: &AuthnRequest, session: &SsoSession, now: i64) -> bool {
    request.max_age.is_some_and(|max| {
        now.saturating_sub(session.auth_time) > i64::try_from(max).unwrap_or(i64::MAX)
    })
}

/// Whether the session is below the request's level.
fn too_weak(request: &AuthnRequest, session: &SsoSession) -> bool {
    request.min_loa.is_some_and(|min| session.loa < min)
}

/// Decides, at `now` (Unix seconds), what a request needs given the browser's session.
pub fn decide(request: &AuthnRequest, session: Option<&SsoSession>, now: i64) -> Decision {
    let needs = match session {
        None => Some(false),
        Some(s) => {
            (request.force || too_old(request, s, now) || too_weak(request, s)).then_some(true)
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

/// Whether authenticating for `request` only raises `session`'s level (a step-up): the session is
/// too weak but recent enough, and no new login is forced. A forced or too-old one re-authenticates
/// from scratch (`prompt=login`, `ForceAuthn`, `max_age=0`), after which anyone may log in.
pub fn only_raises_level(request: &AuthnRequest, session: &SsoSession, now: i64) -> bool {
    !request.force && too_weak(request, session) && !too_old(request, session, now)
}

/// A successful login's effect on the browser's session.
#[derive(Debug, Clone, PartialEq)]
pub struct AfterLogin {
    /// The session to keep for single sign-on.
    pub session: SsoSession,
    /// The same session as this login alone proves it (its level and time), to answer the
    /// request that asked for the login: never more than happened.
    pub this_login: SsoSession,
}

/// The session after a successful login of `identity`. The same person continues their session,
/// whose level never goes down: a weaker re-authentication (forced, or for a recent `auth_time`)
/// leaves the stronger level, its time and its identity in place. Anyone else starts a new one.
pub fn after_login(existing: Option<SsoSession>, identity: Identity) -> AfterLogin {
    let session = match existing {
        Some(s) if s.identity.person == identity.person => {
            if identity.loa >= s.loa {
                SsoSession {
                    loa: identity.loa,
                    auth_time: identity.auth_time,
                    identity: identity.clone(),
                    ..s
                }
            } else {
                // The stronger login stands, but the upstream's session is now this login's: its
                // `sid` is what names it at logout.
                let mut kept = s;
                kept.identity.upstream_sid = identity.upstream_sid.clone();
                kept
            }
        }
        _ => SsoSession::new(identity.clone()),
    };
    let this_login = SsoSession {
        loa: identity.loa,
        auth_time: identity.auth_time,
        identity,
        ..session.clone()
    };
    AfterLogin {
        session,
        this_login,
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

    fn login(loa: Loa, auth_time: i64) -> Identity {
        session(loa, auth_time).identity
    }

    #[test]
    fn a_weaker_reauthentication_keeps_the_stronger_level() {
        let high = session(Loa::High, 100);
        let mut weaker = login(Loa::Substantial, 200);
        weaker.upstream_sid = Some("the-upstream-session-now".into());
        let after = after_login(Some(high.clone()), weaker);
        assert_eq!(
            (after.session.loa, after.session.auth_time),
            (Loa::High, 100)
        );
        assert_eq!(after.session.identity.loa, Loa::High);
        assert_eq!(after.session.sid, high.sid);
        assert_eq!(
            after.session.identity.upstream_sid.as_deref(),
            Some("the-upstream-session-now"),
            "the upstream's logout names its current session"
        );
        // The request that asked for this login is answered with what it proved.
        assert_eq!(
            (after.this_login.loa, after.this_login.auth_time),
            (Loa::Substantial, 200)
        );
        assert_eq!(after.this_login.sid, high.sid);
        // A later request at High is still answered from the session.
        let r = AuthnRequest {
            min_loa: Some(Loa::High),
            ..request()
        };
        assert_eq!(decide(&r, Some(&after.session), 300), Decision::UseSession);
    }

    #[test]
    fn a_stronger_or_equal_reauthentication_raises_and_refreshes_the_session() {
        let after = after_login(Some(session(Loa::Substantial, 100)), login(Loa::High, 200));
        assert_eq!(
            (after.session.loa, after.session.auth_time),
            (Loa::High, 200)
        );
        let after = after_login(Some(session(Loa::High, 100)), login(Loa::High, 200));
        assert_eq!(after.session.auth_time, 200);
    }

    #[test]
    fn another_person_starts_a_new_session() {
        let mut other = login(Loa::Low, 200);
        other.person.subject = "someone-else".into();
        let after = after_login(Some(session(Loa::High, 100)), other);
        assert_eq!(after.session.loa, Loa::Low);
        assert_ne!(after.session.sid, "sid");
        assert!(after.session.rps.is_empty());
    }

    #[test]
    fn only_a_weak_recent_unforced_session_is_merely_raised() {
        let high = AuthnRequest {
            min_loa: Some(Loa::High),
            ..request()
        };
        let weak = session(Loa::Substantial, 90);
        assert!(only_raises_level(&high, &weak, 100));
        assert!(!only_raises_level(&high, &session(Loa::High, 90), 100));
        let forced = AuthnRequest {
            force: true,
            ..high.clone()
        };
        assert!(!only_raises_level(&forced, &weak, 100));
        let fresh = AuthnRequest {
            max_age: Some(0),
            ..high
        };
        assert!(!only_raises_level(&fresh, &weak, 100));
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
