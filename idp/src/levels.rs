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
