//! NSIS levels of the login methods, and the `amr` values (RFC 8176) they produce.

use eid_core::{AuthenticatorKind, Loa};
use serde::Deserialize;

/// The authenticator-assurance level each login method reaches. Configurable; the defaults follow
/// NSIS practice for MitID: password alone Low, code display with password Substantial, app
/// approval Substantial, passkey with user verification High.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LevelTable {
    /// Password alone.
    pub password: Loa,
    /// Password plus a code display (TOTP) code.
    pub code_display: Loa,
    /// Approval in the app on a paired device, with number matching.
    pub app: Loa,
    /// A passkey with user verification.
    pub passkey: Loa,
}

impl Default for LevelTable {
    fn default() -> Self {
        LevelTable {
            password: Loa::Low,
            code_display: Loa::Substantial,
            app: Loa::Substantial,
            passkey: Loa::High,
        }
    }
}

impl LevelTable {
    /// The authenticator level of a login method.
    pub fn aal(&self, method: AuthenticatorKind) -> Loa {
        match method {
            AuthenticatorKind::Password => self.password,
            AuthenticatorKind::CodeDisplay => self.code_display,
            AuthenticatorKind::App => self.app,
            AuthenticatorKind::Passkey => self.passkey,
        }
    }
}

/// The `amr` values of a login method.
pub fn amr(method: AuthenticatorKind) -> &'static [&'static str] {
    match method {
        AuthenticatorKind::Password => &["pwd"],
        AuthenticatorKind::CodeDisplay => &["pwd", "otp", "mfa"],
        // A key held in the app, confirmed on a second channel by number matching.
        AuthenticatorKind::App => &["swk", "mca", "mfa"],
        // Possession of the credential plus user verification (PIN or biometrics).
        AuthenticatorKind::Passkey => &["hwk", "user", "mfa"],
    }
}

/// The level a login reaches: the lower of identity proofing and authenticator.
pub fn achieved(ial: Loa, aal: Loa) -> Loa {
    ial.min(aal)
}

/// What would let a person reach a level that none of their login methods reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Advice {
    /// Adding one of these authenticators reaches the level (the person's identity is proofed
    /// high enough). `self_service`: the person can add them under My MitID with the methods they
    /// have now (an account change needs a login at the level it gives, at least Substantial).
    Add {
        /// The kinds that would reach the level, in the order to suggest them.
        kinds: Vec<AuthenticatorKind>,
        /// Whether My MitID lets the person add one of them today.
        self_service: bool,
    },
    /// The identity is proofed below the level: no authenticator helps until it is proofed again.
    ProveIdentity,
    /// No login method reaches the level at all (the level table stops below it).
    Unreachable,
    /// The person has these methods, which reach the level, but logged in with another.
    UseMethod(Vec<AuthenticatorKind>),
}

impl Advice {
    /// The advice's name in audit events.
    pub fn as_word(&self) -> &'static str {
        match self {
            Advice::Add {
                self_service: true, ..
            } => "add_authenticator",
            Advice::Add {
                self_service: false,
                ..
            } => "add_authenticator_with_support",
            Advice::ProveIdentity => "prove_identity",
            Advice::Unreachable => "unreachable",
            Advice::UseMethod(_) => "use_another_method",
        }
    }
}

/// The kinds to suggest, in order: the app and the code display reach Substantial by default, the
/// passkey High. The password alone is never suggested.
const SUGGESTED: [AuthenticatorKind; 3] = [
    AuthenticatorKind::App,
    AuthenticatorKind::CodeDisplay,
    AuthenticatorKind::Passkey,
];

impl LevelTable {
    /// What would let a person proofed at `ial`, whose methods reach at best `best`, reach
    /// `required`; `has` are the kinds they have. `self_service(kind)` is the level a login must
    /// reach to add that kind under My MitID.
    pub fn advice(
        &self,
        ial: Loa,
        has: &[AuthenticatorKind],
        best: Option<Loa>,
        required: Loa,
        needed_to_add: impl Fn(AuthenticatorKind) -> Loa,
    ) -> Advice {
        if ial < required {
            return Advice::ProveIdentity;
        }
        let reaching = SUGGESTED
            .into_iter()
            .filter(|k| !has.contains(k) && achieved(ial, self.aal(*k)) >= required);
        // Only the least that is enough: the app or a code display for Substantial, not a passkey.
        let Some(least) = reaching.clone().map(|k| self.aal(k)).min() else {
            return Advice::Unreachable;
        };
        let kinds: Vec<AuthenticatorKind> = reaching.filter(|k| self.aal(*k) == least).collect();
        if kinds.is_empty() {
            return Advice::Unreachable;
        }
        let addable: Vec<AuthenticatorKind> = kinds
            .iter()
            .copied()
            .filter(|k| best.is_some_and(|b| b >= needed_to_add(*k)))
            .collect();
        if addable.is_empty() {
            Advice::Add {
                kinds,
                self_service: false,
            }
        } else {
            Advice::Add {
                kinds: addable,
                self_service: true,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn achieved_level_is_the_minimum_of_ial_and_aal() {
        let t = LevelTable::default();
        assert_eq!(
            achieved(Loa::High, t.aal(AuthenticatorKind::Password)),
            Loa::Low
        );
        assert_eq!(
            achieved(Loa::Substantial, t.aal(AuthenticatorKind::Passkey)),
            Loa::Substantial
        );
        assert_eq!(
            achieved(Loa::High, t.aal(AuthenticatorKind::Passkey)),
            Loa::High
        );
    }

    #[test]
    fn advice_names_what_reaches_the_level_for_this_person() {
        use AuthenticatorKind::{App, CodeDisplay, Passkey, Password};
        let t = LevelTable::default();
        let add_needs = |k: AuthenticatorKind| achieved(Loa::High, t.aal(k)).max(Loa::Substantial);
        // Password only, asked for Substantial: the app or a code display (but adding one needs a
        // Substantial login, which a password cannot give).
        assert_eq!(
            t.advice(
                Loa::High,
                &[Password],
                Some(Loa::Low),
                Loa::Substantial,
                add_needs
            ),
            Advice::Add {
                kinds: vec![App, CodeDisplay],
                self_service: false
            }
        );
        // Code display, asked for High, proofed High: a passkey.
        assert_eq!(
            t.advice(
                Loa::High,
                &[Password, CodeDisplay],
                Some(Loa::Substantial),
                Loa::High,
                |_| Loa::Substantial
            ),
            Advice::Add {
                kinds: vec![Passkey],
                self_service: true
            }
        );
        // Proofed only at Substantial, asked for High: no authenticator helps.
        assert_eq!(
            t.advice(
                Loa::Substantial,
                &[Password, CodeDisplay],
                Some(Loa::Substantial),
                Loa::High,
                add_needs
            ),
            Advice::ProveIdentity
        );
    }

    #[test]
    fn amr_values_are_rfc8176() {
        const RFC8176: &[&str] = &[
            "face", "fpt", "geo", "hwk", "iris", "kba", "mca", "mfa", "otp", "pin", "pop", "pwd",
            "rba", "retina", "sc", "sms", "swk", "tel", "user", "vbm", "wia",
        ];
        for kind in AuthenticatorKind::ALL {
            assert!(amr(kind).iter().all(|v| RFC8176.contains(v)), "{kind:?}");
        }
    }
}
