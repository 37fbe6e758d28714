//! The registry's rules as pure functions over typed input and the time: who may give a power of
//! attorney, which login a change needs, which validity periods, scopes and privileges are allowed.

use eid_core::{Loa, Person, Privilege, Scope};
use time::{Date, Duration, OffsetDateTime};

use super::error::RegistryError;
use super::{Authenticated, RegistrySettings};

/// The age from which a person may give or hold a power of attorney.
pub const MIN_AGE: i32 = 15;
/// The most scopes one mandate may have.
pub const MAX_SCOPES: usize = 20;
/// The most privileges one right may have.
pub const MAX_PRIVILEGES: usize = 20;
/// How far ahead a mandate may start.
pub const MAX_START_AHEAD: Duration = Duration::days(366);
/// Tolerance for a start "now" computed on a clock slightly behind ours.
const START_SKEW: Duration = Duration::minutes(5);

/// Full years of age on `on`, for a person born on `birth` (a person born on 29 February has
/// their birthday on 1 March in other years).
pub fn age_on(birth: Date, on: Date) -> i32 {
    let had_birthday = (u8::from(on.month()), on.day()) >= (u8::from(birth.month()), birth.day());
    on.year() - birth.year() - i32::from(!had_birthday)
}

/// Whether `person` may be a party (give or hold) of a power of attorney at `now`: 15 or older
/// and legally competent.
pub fn may_be_party(person: &Person, now: OffsetDateTime) -> Result<(), RegistryError> {
    if age_on(person.birthdate, now.date()) < MIN_AGE {
        return Err(RegistryError::UnderAge);
    }
    if !person.legally_competent {
        return Err(RegistryError::NotLegallyCompetent);
    }
    Ok(())
}

/// A change that can raise what a session may do (grant, approve, accept, assign a right) needs
/// a login at Substantial or higher no older than the configured maximum, by the person
/// themselves (not a session acting for someone).
pub fn fresh_login(
    auth: &Authenticated,
    settings: &RegistrySettings,
    now: OffsetDateTime,
) -> Result<(), RegistryError> {
    any_login(auth)?;
    let age = now - auth.auth_time;
    let fresh = age <= settings.fresh_login && age >= -START_SKEW;
    if auth.loa < Loa::Substantial || !fresh {
        return Err(RegistryError::LoginNotFresh {
            required: Loa::Substantial,
        });
    }
    Ok(())
}

/// A change that only takes away (decline, revoke) needs a login by the person themselves, at
/// any level.
pub fn any_login(auth: &Authenticated) -> Result<(), RegistryError> {
    if auth.acting_for.is_some() {
        return Err(RegistryError::ReDelegation);
    }
    Ok(())
}

/// The validity period of a power of attorney: starts no earlier than `now` (a few minutes'
/// skew allowed; `None` is now) and at most a year ahead, ends after it starts, lasts at most the
/// configured maximum. Returns the start.
pub fn validity(
    from: Option<OffsetDateTime>,
    until: OffsetDateTime,
    now: OffsetDateTime,
    max: Duration,
) -> Result<OffsetDateTime, RegistryError> {
    let from = from.unwrap_or(now).max(now);
    if from < now - START_SKEW || from > now + MAX_START_AHEAD || until <= from {
        return Err(RegistryError::InvalidValidity);
    }
    if until - from > max {
        return Err(RegistryError::ValidityTooLong {
            max_days: max.whole_days(),
        });
    }
    Ok(from)
}

/// The end of a business right or power: none, or after `from`.
pub fn open_validity(
    from: OffsetDateTime,
    until: Option<OffsetDateTime>,
) -> Result<(), RegistryError> {
    match until {
        Some(u) if u <= from => Err(RegistryError::InvalidValidity),
        _ => Ok(()),
    }
}

/// Scopes sorted and deduplicated; 1 to [`MAX_SCOPES`] (0 allowed when `may_be_empty`).
pub fn scopes(mut scopes: Vec<Scope>, may_be_empty: bool) -> Result<Vec<Scope>, RegistryError> {
    scopes.sort();
    scopes.dedup();
    if scopes.len() > MAX_SCOPES || (scopes.is_empty() && !may_be_empty) {
        return Err(RegistryError::InvalidScopes { max: MAX_SCOPES });
    }
    Ok(scopes)
}

/// Privileges sorted and deduplicated; at most [`MAX_PRIVILEGES`].
pub fn privileges(mut privileges: Vec<Privilege>) -> Result<Vec<Privilege>, RegistryError> {
    privileges.sort();
    privileges.dedup();
    if privileges.len() > MAX_PRIVILEGES {
        return Err(RegistryError::InvalidPrivileges {
            max: MAX_PRIVILEGES,
        });
    }
    Ok(privileges)
}

/// Whether a grant with these scopes waits for the agent's acceptance: yes when any scope needs
/// it (the configured per-scope setting, by default yes).
pub fn needs_acceptance(settings: &RegistrySettings, scopes: &[Scope]) -> bool {
    scopes.iter().any(|s| {
        settings
            .acceptance
            .get(s)
            .copied()
            .unwrap_or(settings.acceptance_by_default)
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use eid_core::{Cpr, PersonKey, PersonStatus};
    use time::macros::{date, datetime};
    use uuid::Uuid;

    fn person(birth: Date, competent: bool) -> Person {
        Person {
            id: Uuid::nil(),
            cpr: Cpr::parse("0101901234").unwrap(),
            given_name: "A".into(),
            family_name: "B".into(),
            birthdate: birth,
            ial: Loa::Substantial,
            status: PersonStatus::Active,
            legally_competent: competent,
            user_id: None,
            created_at: datetime!(2020-01-01 0:00 UTC),
        }
    }

    fn auth(loa: Loa, auth_time: OffsetDateTime) -> Authenticated {
        Authenticated {
            person: PersonKey {
                upstream: "idp".into(),
                subject: Uuid::nil().to_string(),
            },
            loa,
            auth_time,
            acting_for: None,
        }
    }

    #[test]
    fn the_caller_comes_from_the_public_subject() {
        let now = datetime!(2026-06-10 12:00 UTC);
        let a = Authenticated::from_public_subject("idp:6b0c-1", Loa::High, now, None).unwrap();
        assert_eq!(a.person.upstream, "idp");
        assert_eq!(a.person.subject, "6b0c-1");
        for bad in ["", "idp", ":x", "idp:", &format!("idp:{}", "x".repeat(520))] {
            assert!(Authenticated::from_public_subject(bad, Loa::High, now, None).is_none());
        }
    }

    proptest::proptest! {
        #[test]
        fn public_subjects_parse_without_panic_and_round_trip(s in "\\PC{0,60}") {
            let now = datetime!(2026-06-10 12:00 UTC);
            if let Some(a) = Authenticated::from_public_subject(&s, Loa::Low, now, None) {
                proptest::prop_assert_eq!(a.person.pairwise_input(), s);
            }
        }
    }

    #[test]
    fn a_person_is_fifteen_from_their_fifteenth_birthday() {
        assert_eq!(age_on(date!(2011 - 06 - 10), date!(2026 - 06 - 09)), 14);
        assert_eq!(age_on(date!(2011 - 06 - 10), date!(2026 - 06 - 10)), 15);
        assert_eq!(age_on(date!(2008 - 02 - 29), date!(2023 - 02 - 28)), 14);
        assert_eq!(age_on(date!(2008 - 02 - 29), date!(2023 - 03 - 01)), 15);
    }

    #[test]
    fn an_under_age_or_incompetent_person_may_not_be_party() {
        let now = datetime!(2026-06-10 12:00 UTC);
        assert!(may_be_party(&person(date!(2011 - 06 - 10), true), now).is_ok());
        assert!(matches!(
            may_be_party(&person(date!(2011 - 06 - 11), true), now),
            Err(RegistryError::UnderAge)
        ));
        assert!(matches!(
            may_be_party(&person(date!(1950 - 01 - 01), false), now),
            Err(RegistryError::NotLegallyCompetent)
        ));
    }

    #[test]
    fn a_grant_needs_a_fresh_substantial_login_by_the_person_themselves() {
        let s = RegistrySettings::default();
        let now = datetime!(2026-06-10 12:00 UTC);
        assert!(fresh_login(&auth(Loa::Substantial, now - Duration::minutes(4)), &s, now).is_ok());
        assert!(fresh_login(&auth(Loa::High, now), &s, now).is_ok());
        for stale in [
            auth(Loa::Low, now),
            auth(Loa::Substantial, now - Duration::minutes(6)),
            auth(Loa::High, now + Duration::hours(1)),
        ] {
            assert!(matches!(
                fresh_login(&stale, &s, now),
                Err(RegistryError::LoginNotFresh { .. })
            ));
        }
        let acting = Authenticated {
            acting_for: Some("m".into()),
            ..auth(Loa::High, now)
        };
        assert!(matches!(
            fresh_login(&acting, &s, now),
            Err(RegistryError::ReDelegation)
        ));
        assert!(matches!(
            any_login(&acting),
            Err(RegistryError::ReDelegation)
        ));
    }

    #[test]
    fn validity_is_bounded_by_the_maximum_and_never_in_the_past() {
        let now = datetime!(2026-06-10 12:00 UTC);
        let max = Duration::days(365);
        assert_eq!(validity(None, now + max, now, max).unwrap(), now);
        assert!(matches!(
            validity(None, now + max + Duration::seconds(1), now, max),
            Err(RegistryError::ValidityTooLong { max_days: 365 })
        ));
        assert!(matches!(
            validity(None, now, now, max),
            Err(RegistryError::InvalidValidity)
        ));
        assert!(matches!(
            validity(
                Some(now + Duration::days(400)),
                now + Duration::days(401),
                now,
                max
            ),
            Err(RegistryError::InvalidValidity)
        ));
        // A start in the past is moved to now.
        assert_eq!(
            validity(
                Some(now - Duration::days(3)),
                now + Duration::days(1),
                now,
                max
            )
            .unwrap(),
            now
        );
    }

    #[test]
    fn scopes_are_bounded_and_acceptance_is_per_scope_default_yes() {
        assert!(scopes(Vec::new(), false).is_err());
        assert!(scopes(Vec::new(), true).unwrap().is_empty());
        let many: Vec<Scope> = (0..=MAX_SCOPES)
            .map(|i| Scope::service(&format!("rp{i}")).unwrap())
            .collect();
        assert!(scopes(many, false).is_err());
        let a = Scope::service("a").unwrap();
        assert_eq!(
            scopes(vec![a.clone(), a.clone()], false).unwrap(),
            vec![a.clone()]
        );

        let mut s = RegistrySettings::default();
        assert!(needs_acceptance(&s, std::slice::from_ref(&a)));
        s.acceptance.insert(a.clone(), false);
        assert!(!needs_acceptance(&s, std::slice::from_ref(&a)));
        assert!(needs_acceptance(&s, &[a, Scope::area("x").unwrap()]));
    }
}
