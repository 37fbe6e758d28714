//! How long each section of a person's log is kept: `[broker.audit_retention_days]`, one number
//! of days per section ([`Section`]); the retention task deletes older events of that section.

use eid_core::my_log::Section;
use serde::Deserialize;

use super::{MAX_RETENTION_DAYS, SettingsError, invalid};

/// Days each section of the audit log is kept, as written (each defaults on its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAuditRetention {
    /// Logins (default 730: two years).
    pub logins: u32,
    /// Personal data released to services (default 1825: five years).
    pub releases: u32,
    /// Acts on behalf of someone (default 3650: ten years).
    pub acting: u32,
    /// Changes to authenticators and mandates (default 3650: ten years).
    pub changes: u32,
    /// Refused attempts (default 365: one year).
    pub refused: u32,
    /// Everything else (default 180, as the protocol messages).
    pub other: u32,
}

impl Default for RawAuditRetention {
    fn default() -> Self {
        RawAuditRetention {
            logins: 730,
            releases: 1825,
            acting: 3650,
            changes: 3650,
            refused: 365,
            other: 180,
        }
    }
}

impl RawAuditRetention {
    fn days(&self, section: Section) -> u32 {
        match section {
            Section::Logins => self.logins,
            Section::Releases => self.releases,
            Section::Acting => self.acting,
            Section::Changes => self.changes,
            Section::Refused => self.refused,
            Section::Other => self.other,
        }
    }

    /// Checks every section's days (1 to [`MAX_RETENTION_DAYS`]).
    pub fn validate(&self) -> Result<AuditRetention, SettingsError> {
        for section in Section::ALL {
            if !(1..=MAX_RETENTION_DAYS).contains(&self.days(section)) {
                return Err(invalid(
                    format!("audit_retention_days.{}", section.as_str()),
                    format!("must be between 1 and {MAX_RETENTION_DAYS}"),
                ));
            }
        }
        Ok(AuditRetention(*self))
    }
}

/// How long each section of the audit log is kept (validated).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditRetention(RawAuditRetention);

impl AuditRetention {
    /// How long `section`'s events are kept.
    pub fn keep(&self, section: Section) -> time::Duration {
        time::Duration::days(i64::from(self.0.days(section)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn defaults_keep_each_section_as_documented() {
        let kept = RawAuditRetention::default().validate().unwrap();
        let days = |s| kept.keep(s).whole_days();
        assert_eq!(days(Section::Logins), 730);
        assert_eq!(days(Section::Releases), 1825);
        assert_eq!(days(Section::Acting), 3650);
        assert_eq!(days(Section::Changes), 3650);
        assert_eq!(days(Section::Refused), 365);
        assert_eq!(days(Section::Other), 180);
    }

    #[test]
    fn each_section_is_kept_between_a_day_and_a_hundred_years() {
        for section in Section::ALL {
            for (days, ok) in [
                (0, false),
                (1, true),
                (MAX_RETENTION_DAYS, true),
                (MAX_RETENTION_DAYS + 1, false),
            ] {
                let mut raw = RawAuditRetention::default();
                match section {
                    Section::Logins => raw.logins = days,
                    Section::Releases => raw.releases = days,
                    Section::Acting => raw.acting = days,
                    Section::Changes => raw.changes = days,
                    Section::Refused => raw.refused = days,
                    Section::Other => raw.other = days,
                }
                match raw.validate() {
                    Ok(kept) => {
                        assert!(ok, "{section:?} {days}");
                        assert_eq!(kept.keep(section).whole_days(), i64::from(days));
                    }
                    Err(e) => {
                        assert!(!ok, "{section:?} {days}");
                        assert_eq!(
                            e.field,
                            format!("audit_retention_days.{}", section.as_str())
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn the_broker_section_refuses_a_section_kept_no_day() {
        let raw = crate::settings::RawBrokerSettings {
            audit_retention_days: RawAuditRetention {
                refused: 0,
                ..RawAuditRetention::default()
            },
            ..crate::settings::RawBrokerSettings::default()
        };
        let err = raw.validate(std::path::Path::new("d"), true).unwrap_err();
        assert_eq!(err.field, "audit_retention_days.refused");
    }

    #[test]
    fn a_section_not_written_keeps_its_default_and_an_unknown_one_is_refused() {
        let raw: RawAuditRetention =
            serde_json::from_value(serde_json::json!({ "refused": 90 })).unwrap();
        assert_eq!(raw.refused, 90);
        assert_eq!(raw.logins, 730);
        let err = serde_json::from_value::<RawAuditRetention>(serde_json::json!({ "login": 1 }))
            .unwrap_err();
        assert!(err.to_string().contains("login"), "{err}");
    }
}
