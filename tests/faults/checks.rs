//! The suite's rules, as pure functions over what was recorded (each with a test that it fails
//! when broken, so the suite cannot pass vacuously): responses per fault window and recovery, every
//! release audited, no code or refresh token spent without an answer, no session moved to another
//! person.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::time::Duration;

use crate::record::{GrantUse, Identity, Kind, Op, Response};

/// The time from the end of a fault to the first success of every operation kind.
pub const RECOVERY_BOUND: Duration = Duration::from_secs(10);

/// One row of the table: a fault (or the baseline), from its start to the start of the next.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    pub name: String,
    /// When the fault was injected, since the load started.
    pub start: Duration,
    /// When it was over (node back, Redis back, clock right).
    pub end: Duration,
    /// Where this row's responses stop (the next fault's start, or the end of the load).
    pub until: Duration,
    /// Whether requests cut off mid-flight are part of this fault (a killed node).
    pub cuts_allowed: bool,
}

/// What a window's responses add up to.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub window: Window,
    pub by_kind: BTreeMap<Kind, usize>,
    /// First and last error, relative to the fault's start.
    pub error_window: Option<(Duration, Duration)>,
    /// From the fault's end to the first success of every operation kind (`None`: some kind
    /// never succeeded again within the window), and the slowest kind.
    pub recovery: Option<(Duration, Op)>,
    /// The non-2xx answers seen, by detail (`400 invalid_grant`), for the report.
    pub details: BTreeMap<String, usize>,
}

impl Row {
    /// Adds up the responses of `window`.
    pub fn of(window: &Window, responses: &[Response]) -> Row {
        let inside: Vec<&Response> = responses
            .iter()
            .filter(|r| r.at >= window.start && r.at < window.until)
            .collect();
        let mut by_kind = BTreeMap::new();
        let mut details = BTreeMap::new();
        for r in &inside {
            *by_kind.entry(r.kind).or_insert(0) += 1;
            if r.kind != Kind::Ok {
                *details
                    .entry(format!("{:?} {}", r.op, r.detail))
                    .or_insert(0) += 1;
            }
        }
        let errors = inside.iter().filter(|r| r.kind != Kind::Ok).map(|r| r.at);
        let error_window = errors
            .clone()
            .min()
            .zip(errors.max())
            .map(|(a, b)| (a - window.start, b - window.start));
        let mut recovery = Some((Duration::ZERO, Op::Login));
        for op in Op::ALL {
            let first = inside
                .iter()
                .filter(|r| r.op == op && r.kind == Kind::Ok && r.at >= window.end)
                .map(|r| r.at - window.end)
                .min();
            recovery = match (recovery, first) {
                (Some((slowest, _)), Some(t)) if t > slowest => Some((t, op)),
                (Some(r), Some(_)) => Some(r),
                _ => None,
            };
        }
        Row {
            window: window.clone(),
            by_kind,
            error_window,
            recovery,
            details,
        }
    }

    /// How many responses of `kind`.
    pub fn count(&self, kind: Kind) -> usize {
        self.by_kind.get(&kind).copied().unwrap_or(0)
    }

    /// What breaks the acceptance: answers that are neither a clean 503 nor a protocol error (a
    /// request cut off by a killed node only where the fault kills one), or no recovery within
    /// [`RECOVERY_BOUND`].
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let name = &self.window.name;
        for kind in [Kind::Other, Kind::Timeout] {
            if self.count(kind) > 0 {
                out.push(format!(
                    "{name}: {} answers of kind {kind:?}",
                    self.count(kind)
                ));
            }
        }
        if self.count(Kind::Cut) > 0 && !self.window.cuts_allowed {
            out.push(format!(
                "{name}: {} requests cut off",
                self.count(Kind::Cut)
            ));
        }
        match self.recovery {
            Some((t, _)) if t <= RECOVERY_BOUND => {}
            Some((t, op)) => out.push(format!("{name}: {op:?} recovered only after {t:?}")),
            None => out.push(format!("{name}: some operation never succeeded again")),
        }
        out
    }
}

/// The table the suite prints.
pub fn table(rows: &[Row]) -> String {
    let mut out = format!("{:<34} {:>8}", "fault", "requests");
    for kind in Kind::ALL {
        let _ = write!(out, " {:>7}", kind.heading());
    }
    let _ = writeln!(out, "  {:<15} {:<10} slowest", "error window", "recovery");
    for row in rows {
        let total: usize = row.by_kind.values().sum();
        let _ = write!(out, "{:<34} {total:>8}", row.window.name);
        for kind in Kind::ALL {
            let _ = write!(out, " {:>7}", row.count(kind));
        }
        let errors = row.error_window.map_or("none".to_owned(), |(a, b)| {
            format!("{:.1}-{:.1} s", a.as_secs_f64(), b.as_secs_f64())
        });
        let (recovery, slowest) = row
            .recovery
            .map_or(("never".to_owned(), String::new()), |(t, op)| {
                (format!("{:.1} s", t.as_secs_f64()), format!("{op:?}"))
            });
        let _ = writeln!(out, "  {errors:<15} {recovery:<10} {slowest}");
    }
    out
}

/// Releases received that have no audit row: per (person, grant type), how many token responses
/// the workers got against how many `token.issued` events the audit log holds.
pub fn unaudited(
    received: &BTreeMap<(String, String), usize>,
    audited: &BTreeMap<(String, String), usize>,
) -> Vec<String> {
    received
        .iter()
        .filter_map(|(key, &got)| {
            let rows = audited.get(key).copied().unwrap_or(0);
            (rows < got).then(|| {
                format!(
                    "person {} ({}): {got} releases received, {rows} audited",
                    key.0, key.1
                )
            })
        })
        .collect()
}

/// What became of a code or refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    /// Used with a 200, or refused cleanly at its first attempt (e.g. expired, or lost with Redis).
    Answered,
    /// A clean 503 or a cut, then refused, and Redis was restarted empty while it lived: lost,
    /// not spent.
    LostWithRedis,
    /// In flight on a node that was killed, then refused: allowed only while a node is killed.
    CutOnKilledNode,
    /// Spent without an answer: refused after a 503 (which promises a retry), after a cut not
    /// caused by a killed node, or never answered at all.
    SpentWithoutAnswer(String),
}

/// The fate of one code or refresh token; `cut_allowed(at)` says whether a cut at `at` was a
/// killed node's.
pub fn fate(usage: &GrantUse, cut_allowed: impl Fn(Duration) -> bool) -> Fate {
    if usage.attempts.iter().any(|a| a.kind == Kind::Ok) {
        return Fate::Answered;
    }
    let Some((last, earlier)) = usage.attempts.split_last() else {
        return Fate::SpentWithoutAnswer("never tried".to_owned());
    };
    if last.kind != Kind::Protocol {
        return Fate::SpentWithoutAnswer(format!("no answer: gave up after {:?}", last.kind));
    }
    let Some(before) = earlier.last() else {
        return Fate::Answered;
    };
    let refused = last.error.as_deref().unwrap_or("?");
    if usage.issued_epoch % 2 == 1 || usage.issued_epoch < last.redis_epoch {
        Fate::LostWithRedis
    } else if before.kind == Kind::Cut && cut_allowed(before.at) {
        Fate::CutOnKilledNode
    } else {
        Fate::SpentWithoutAnswer(format!("{:?}, then {refused}", before.kind))
    }
}

/// Codes and refresh tokens spent without an answer (with the worker and operation), and how many
/// were cut off on a killed node.
pub fn unanswered(
    grants: &[GrantUse],
    cut_allowed: impl Fn(Duration) -> bool,
) -> (Vec<String>, usize) {
    let mut cut = 0;
    let mut spent = Vec::new();
    for g in grants {
        match fate(g, &cut_allowed) {
            Fate::Answered | Fate::LostWithRedis => {}
            Fate::CutOnKilledNode => cut += 1,
            Fate::SpentWithoutAnswer(why) => {
                spent.push(format!("worker {} {:?}: {why}", g.worker, g.op));
            }
        }
    }
    (spent, cut)
}

/// Sessions that moved to another person: a worker whose tokens for one client name two subjects,
/// an ID token answering another login's nonce, or two workers given the same subject.
pub fn moved_sessions(identities: &[Identity]) -> Vec<String> {
    let mut out = Vec::new();
    let mut first: BTreeMap<(usize, &str), &str> = BTreeMap::new();
    for id in identities {
        if !id.nonce_matches {
            out.push(format!(
                "worker {}: an ID token for another login's nonce",
                id.worker
            ));
        }
        let sub = *first.entry((id.worker, &id.client)).or_insert(&id.sub);
        if sub != id.sub {
            out.push(format!("worker {}: sub {} after {sub}", id.worker, id.sub));
        }
    }
    let mut owner: HashMap<(&str, &str), usize> = HashMap::new();
    for ((worker, client), sub) in first {
        if let Some(other) = owner.insert((client, sub), worker) {
            out.push(format!(
                "workers {other} and {worker} share sub {sub} at {client}"
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Attempt;

    const S: fn(u64) -> Duration = Duration::from_secs;

    fn response(at: u64, op: Op, kind: Kind) -> Response {
        Response {
            at: S(at),
            worker: 0,
            op,
            kind,
            detail: String::new(),
        }
    }

    fn window(cuts_allowed: bool) -> Window {
        Window {
            name: "f".into(),
            start: S(10),
            end: S(12),
            until: S(30),
            cuts_allowed,
        }
    }

    /// Every operation succeeding at `at`.
    fn all_ok(at: u64) -> Vec<Response> {
        Op::ALL
            .iter()
            .map(|op| response(at, *op, Kind::Ok))
            .collect()
    }

    #[test]
    fn a_clean_fault_passes_with_its_error_window_and_recovery() {
        let mut rs = vec![
            response(11, Op::Exchange, Kind::Unavailable),
            response(13, Op::Refresh, Kind::Protocol),
        ];
        rs.extend(all_ok(14));
        rs.push(response(40, Op::Login, Kind::Other)); // the next window's
        let row = Row::of(&window(false), &rs);
        assert_eq!(row.problems(), Vec::<String>::new());
        assert_eq!(row.error_window, Some((S(1), S(3))));
        assert_eq!(row.recovery.map(|r| r.0), Some(S(2)));
        assert_eq!(row.count(Kind::Ok), 4);
    }

    #[test]
    fn an_unclean_answer_a_timeout_or_a_cut_outside_a_killed_node_fails_the_fault() {
        for kind in [Kind::Other, Kind::Timeout, Kind::Cut] {
            let mut rs = all_ok(14);
            rs.push(response(11, Op::Exchange, kind));
            assert_eq!(Row::of(&window(false), &rs).problems().len(), 1, "{kind:?}");
        }
        let mut rs = all_ok(14);
        rs.push(response(11, Op::Exchange, Kind::Cut));
        assert!(Row::of(&window(true), &rs).problems().is_empty());
    }

    #[test]
    fn an_operation_that_never_succeeds_again_or_recovers_late_fails_the_fault() {
        let mut rs = all_ok(14);
        rs.retain(|r| r.op != Op::Refresh);
        assert_eq!(Row::of(&window(false), &rs).problems().len(), 1);
        let mut rs = all_ok(14);
        rs.push(response(11, Op::Refresh, Kind::Unavailable));
        rs.retain(|r| r.op != Op::Refresh || r.kind != Kind::Ok);
        rs.push(response(23, Op::Refresh, Kind::Ok));
        let row = Row::of(&window(false), &rs);
        assert_eq!(row.recovery, Some((S(11), Op::Refresh)));
        assert_eq!(row.problems().len(), 1);
    }

    #[test]
    fn a_release_without_its_audit_row_is_found() {
        let key = ("p1".to_owned(), "authorization_code".to_owned());
        let received = BTreeMap::from([(key.clone(), 3)]);
        assert!(unaudited(&received, &BTreeMap::from([(key.clone(), 3)])).is_empty());
        assert!(unaudited(&received, &BTreeMap::from([(key.clone(), 4)])).is_empty());
        assert_eq!(unaudited(&received, &BTreeMap::from([(key, 2)])).len(), 1);
        assert_eq!(unaudited(&received, &BTreeMap::new()).len(), 1);
    }

    fn attempt(at: u64, kind: Kind, error: Option<&str>, epoch: u32) -> Attempt {
        Attempt {
            at: S(at),
            kind,
            error: error.map(str::to_owned),
            redis_epoch: epoch,
        }
    }

    fn usage(attempts: Vec<Attempt>) -> GrantUse {
        GrantUse {
            worker: 1,
            op: Op::Exchange,
            issued_epoch: 0,
            attempts,
        }
    }

    #[test]
    fn a_code_refused_after_a_503_was_spent_without_an_answer() {
        let never = |_| false;
        let ok = usage(vec![
            attempt(1, Kind::Unavailable, None, 0),
            attempt(2, Kind::Ok, None, 0),
        ]);
        assert_eq!(fate(&ok, never), Fate::Answered);
        let refused = usage(vec![attempt(1, Kind::Protocol, Some("invalid_grant"), 0)]);
        assert_eq!(fate(&refused, never), Fate::Answered);
        let spent = usage(vec![
            attempt(1, Kind::Unavailable, None, 0),
            attempt(2, Kind::Protocol, Some("invalid_grant"), 0),
        ]);
        assert!(matches!(fate(&spent, never), Fate::SpentWithoutAnswer(_)));
        let (found, _) = unanswered(&[ok, refused, spent], never);
        assert_eq!(found.len(), 1);
    }

    #[test]
    fn a_code_lost_with_redis_or_cut_by_a_killed_node_is_told_apart() {
        let lost = usage(vec![
            attempt(1, Kind::Unavailable, None, 0),
            attempt(2, Kind::Protocol, Some("invalid_grant"), 1),
        ]);
        assert_eq!(fate(&lost, |_| false), Fate::LostWithRedis);
        // The 503 while Redis was down, the refusal from the empty one: the code lived in the old.
        let during = usage(vec![
            attempt(1, Kind::Unavailable, None, 1),
            attempt(2, Kind::Protocol, Some("invalid_grant"), 1),
        ]);
        assert_eq!(fate(&during, |_| false), Fate::LostWithRedis);
        let made_while_restarting = GrantUse {
            issued_epoch: 1,
            ..during.clone()
        };
        assert_eq!(fate(&made_while_restarting, |_| false), Fate::LostWithRedis);
        // Made in the new Redis and refused there after a 503: spent.
        let after = GrantUse {
            issued_epoch: 2,
            attempts: vec![
                attempt(3, Kind::Unavailable, None, 2),
                attempt(4, Kind::Protocol, Some("invalid_grant"), 2),
            ],
            ..during
        };
        assert!(matches!(
            fate(&after, |_| false),
            Fate::SpentWithoutAnswer(_)
        ));
        let cut = usage(vec![
            attempt(5, Kind::Cut, None, 0),
            attempt(6, Kind::Protocol, Some("invalid_grant"), 0),
        ]);
        assert_eq!(fate(&cut, |t| t == S(5)), Fate::CutOnKilledNode);
        assert!(matches!(fate(&cut, |_| false), Fate::SpentWithoutAnswer(_)));
        assert_eq!(unanswered(&[cut], |t| t == S(5)), (vec![], 1));
    }

    #[test]
    fn a_code_never_answered_was_spent_without_an_answer() {
        let given_up = usage(vec![
            attempt(1, Kind::Unavailable, None, 0),
            attempt(9, Kind::Timeout, None, 0),
        ]);
        assert!(matches!(
            fate(&given_up, |_| true),
            Fate::SpentWithoutAnswer(_)
        ));
        assert!(matches!(
            fate(&usage(vec![]), |_| true),
            Fate::SpentWithoutAnswer(_)
        ));
    }

    fn identity(worker: usize, sub: &str) -> Identity {
        Identity {
            worker,
            client: "demo-rp".into(),
            sub: sub.into(),
            nonce_matches: true,
        }
    }

    #[test]
    fn swapped_tokens_a_foreign_nonce_or_a_shared_subject_are_moved_sessions() {
        let fine = vec![
            identity(0, "a"),
            identity(1, "b"),
            identity(0, "a"),
            identity(1, "b"),
        ];
        assert!(moved_sessions(&fine).is_empty());
        // Worker 0's second token went to worker 1 and the other way round.
        let swapped = vec![
            identity(0, "a"),
            identity(1, "b"),
            identity(1, "a"),
            identity(0, "b"),
        ];
        assert_eq!(moved_sessions(&swapped).len(), 2);
        let mut foreign = identity(0, "a");
        foreign.nonce_matches = false;
        assert_eq!(moved_sessions(&[foreign]).len(), 1);
        assert_eq!(
            moved_sessions(&[identity(0, "a"), identity(1, "a")]).len(),
            1
        );
    }
}
