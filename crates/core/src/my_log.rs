//! A person's own log ("my log"): the audit events that concern them, in sections a citizen
//! understands, read newest first by person and time, a page at a time.
//!
//! Every component writes its events with the same person key ([`crate::AuditEvent::person`]: the
//! authenticator's person id, or [`crate::eidas::audit_id`] of a foreign person), so one indexed
//! query reads a person's whole log. The sections are defined here, once, by event kind and
//! outcome ([`Selector`]): the log's filters, its texts and the retention rules all use them.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{AuditEvent, AuditOutcome};

/// The parts of a person's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Section {
    /// Logins: at the broker (which service, upstream, level), at the authenticator (which
    /// method), and foreign eID logins at the eIDAS connector.
    Logins,
    /// Personal data released to a service (which attributes, at which level, for whom).
    Releases,
    /// Acts on behalf of someone: by me for others, and by others for me.
    Acting,
    /// Changes to my authenticators and my mandates.
    Changes,
    /// Refused attempts: a wrong password, a lock-out, a refused login or request.
    Refused,
    /// Everything else that concerns the person (logouts, …).
    Other,
}

/// Event kinds of successful logins.
const LOGINS: &[&str] = &[
    "login.success",
    "login.session_continued",
    "connector.login",
];
/// Event kinds of released personal data.
const RELEASES: &[&str] = &["token.issued", "userinfo.released", "saml.response_issued"];
/// Event kinds of acts on behalf of someone: `acted_for` on the principal's log, `acted_as` on
/// the agent's.
const ACTING: &[&str] = &["representation.acted_for", "representation.acted_as"];
/// Event kinds of changes to a person's authenticators and mandates (successful ones).
const CHANGES: &[&str] = &["activation.success"];
/// Kind prefixes of changes.
const CHANGE_PREFIXES: &[&str] = &["authenticator.", "delegation."];

/// Which events a [`Section`] holds: by outcome and kind, in a form a store can turn into one
/// `WHERE` clause (`outcome = ? AND [NOT] (kind IN (…) OR kind LIKE 'prefix%' …)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    /// The outcome the events have.
    pub outcome: AuditOutcome,
    /// Kinds matched exactly.
    pub kinds: Vec<&'static str>,
    /// Kind prefixes matched (`authenticator.` matches `authenticator.added`).
    pub prefixes: Vec<&'static str>,
    /// Every kind matches (the kind lists are then empty).
    pub any_kind: bool,
    /// The section is every event of `outcome` *not* matched by the lists.
    pub negate: bool,
}

impl Selector {
    /// Whether the selector holds an event of `kind` and `outcome`.
    pub fn matches(&self, kind: &str, outcome: AuditOutcome) -> bool {
        if outcome != self.outcome {
            return false;
        }
        if self.any_kind {
            return true;
        }
        let listed =
            self.kinds.contains(&kind) || self.prefixes.iter().any(|p| kind.starts_with(p));
        listed != self.negate
    }
}

impl Section {
    /// Every section, in the order the log shows its filters.
    pub const ALL: [Section; 6] = [
        Section::Logins,
        Section::Releases,
        Section::Acting,
        Section::Changes,
        Section::Refused,
        Section::Other,
    ];

    /// Stable name (filters, export, configuration).
    pub fn as_str(self) -> &'static str {
        match self {
            Section::Logins => "logins",
            Section::Releases => "releases",
            Section::Acting => "acting",
            Section::Changes => "changes",
            Section::Refused => "refused",
            Section::Other => "other",
        }
    }

    /// Parses [`Self::as_str`].
    pub fn parse(s: &str) -> Option<Section> {
        Section::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The section an event belongs to.
    pub fn of(kind: &str, outcome: AuditOutcome) -> Section {
        Section::ALL
            .into_iter()
            .find(|s| s.selector().matches(kind, outcome))
            .unwrap_or(Section::Other)
    }

    /// The section of `event`.
    pub fn of_event(event: &AuditEvent) -> Section {
        Section::of(&event.kind, event.outcome)
    }

    /// Which events the section holds.
    pub fn selector(self) -> Selector {
        let listed = |kinds: &[&'static str], prefixes: &[&'static str]| Selector {
            outcome: AuditOutcome::Success,
            kinds: kinds.to_vec(),
            prefixes: prefixes.to_vec(),
            any_kind: false,
            negate: false,
        };
        match self {
            Section::Logins => listed(LOGINS, &[]),
            Section::Releases => listed(RELEASES, &[]),
            Section::Acting => listed(ACTING, &[]),
            Section::Changes => listed(CHANGES, CHANGE_PREFIXES),
            Section::Refused => Selector {
                outcome: AuditOutcome::Failure,
                kinds: Vec::new(),
                prefixes: Vec::new(),
                any_kind: true,
                negate: false,
            },
            Section::Other => Selector {
                negate: true,
                ..listed(
                    &[LOGINS, RELEASES, ACTING, CHANGES].concat(),
                    CHANGE_PREFIXES,
                )
            },
        }
    }
}

/// Where a page of a person's log ends: the position of its last event, in the store's order
/// (time, then insertion). Opaque to the person; written `<at_us>.<seq>` in links.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LogCursor {
    /// The event's time, Unix microseconds.
    pub at_us: i64,
    /// The store's insertion order among events of the same microsecond.
    pub seq: i64,
}

impl LogCursor {
    /// Parses `<at_us>.<seq>` (two decimal integers, bounded in length); anything else is `None`.
    pub fn parse(s: &str) -> Option<LogCursor> {
        if s.len() > 41 {
            return None;
        }
        let (at, seq) = s.split_once('.')?;
        let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        if !digits(at) || !digits(seq) {
            return None;
        }
        Some(LogCursor {
            at_us: at.parse().ok()?,
            seq: seq.parse().ok()?,
        })
    }
}

impl std::fmt::Display for LogCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.at_us, self.seq)
    }
}

/// Most events one page may ask for.
pub const MAX_PAGE: u32 = 500;

/// What to read of one person's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonLogQuery {
    /// Whose log. Only ever the logged-in person's own key.
    pub person: Uuid,
    /// Events at or after this time.
    pub since: Option<OffsetDateTime>,
    /// Events before this time.
    pub until: Option<OffsetDateTime>,
    /// Events concerning this relying party (its registered id).
    pub client: Option<String>,
    /// Events of this section.
    pub section: Option<Section>,
    /// Events strictly older than this position (the previous page's [`LogPage::next`]).
    pub before: Option<LogCursor>,
    /// Most events returned (at most [`MAX_PAGE`]).
    pub limit: u32,
}

impl PersonLogQuery {
    /// The newest `limit` events of `person`, unfiltered.
    pub fn newest(person: Uuid, limit: u32) -> PersonLogQuery {
        PersonLogQuery {
            person,
            since: None,
            until: None,
            client: None,
            section: None,
            before: None,
            limit,
        }
    }
}

/// One event of a person's log with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedEvent {
    /// Where it is in the log.
    pub cursor: LogCursor,
    /// The event.
    pub event: AuditEvent,
}

/// A page of a person's log, newest first.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LogPage {
    /// The events.
    pub events: Vec<LoggedEvent>,
    /// Where the next (older) page starts, when there may be one.
    pub next: Option<LogCursor>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_is_in_exactly_one_section() {
        let kinds = [
            "login.success",
            "connector.login",
            "token.issued",
            "saml.response_issued",
            "representation.acted_for",
            "representation.acted_as",
            "authenticator.added",
            "delegation.granted",
            "activation.success",
            "logout.frontchannel",
            "something.else",
        ];
        for kind in kinds {
            for outcome in [AuditOutcome::Success, AuditOutcome::Failure] {
                let holding: Vec<_> = Section::ALL
                    .into_iter()
                    .filter(|s| s.selector().matches(kind, outcome))
                    .collect();
                assert_eq!(holding.len(), 1, "{kind} {outcome:?}: {holding:?}");
                assert_eq!(holding[0], Section::of(kind, outcome));
            }
        }
        assert_eq!(
            Section::of("login.failure", AuditOutcome::Failure),
            Section::Refused
        );
        assert_eq!(
            Section::of("delegation.revoked", AuditOutcome::Success),
            Section::Changes
        );
        assert_eq!(
            Section::of("logout.backchannel", AuditOutcome::Success),
            Section::Other
        );
    }

    #[test]
    fn cursors_round_trip_and_refuse_anything_else() {
        let c = LogCursor {
            at_us: 1_764_000_000_000_000,
            seq: 42,
        };
        assert_eq!(LogCursor::parse(&c.to_string()), Some(c));
        for bad in ["", ".", "1.", ".1", "-1.2", "1.2.3", "a.b", "1 .2", "+1.2"] {
            assert_eq!(LogCursor::parse(bad), None, "{bad}");
        }
        assert_eq!(LogCursor::parse(&format!("{}.1", u64::MAX)), None);
        assert_eq!(LogCursor::parse(&"1".repeat(100)), None);
    }

    #[test]
    fn sections_parse_their_names() {
        for s in Section::ALL {
            assert_eq!(Section::parse(s.as_str()), Some(s));
        }
        assert_eq!(Section::parse("all"), None);
    }
}
