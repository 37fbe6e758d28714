//! A person's own log ([`eid_core::my_log`]) on [`SqlDurable`]: reading it a page at a time, and
//! deleting one section's expired events (retention).
//!
//! A page is one statement through the person index `audit_events_person_at (person, at_us, seq)`:
//! the filters (period, service, section) are conditions of the same statement, and the page's
//! start is a keyset condition `(at_us, seq) < (cursor)`, so a deep page costs what the first one
//! does. Every value is bound; the statement's text is built only from constant fragments and
//! placeholders, so its shape depends on which filters are set, never on their values.

use super::audit::{SELECT_COLUMNS, decode};
use super::{SqlDurable, map_err, micros};
use crate::audit_text::{AuditText, MAX_CLIENT_BYTES};
use eid_core::StoreError;
use eid_core::my_log::{LogCursor, LogPage, LoggedEvent, MAX_PAGE, PersonLogQuery, Selector};
use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, Row};
use time::OffsetDateTime;

/// Most distinct event kinds a retention delete names one by one (SQLite allows 500 terms in a
/// compound statement); a log with more kinds is deleted by a scan of the time order instead.
pub(crate) const MAX_KINDS: usize = 200;

/// A value bound to a placeholder.
#[derive(Debug, Clone, PartialEq)]
enum Arg {
    Text(String),
    Int(i64),
}

/// A statement under construction: its text and the values of its placeholders, in order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Statement {
    sql: String,
    args: Vec<Arg>,
}

impl Statement {
    fn new(sql: &str) -> Statement {
        Statement {
            sql: sql.to_owned(),
            args: Vec::new(),
        }
    }

    /// Appends constant SQL.
    fn sql(&mut self, fragment: &str) -> &mut Self {
        self.sql.push_str(fragment);
        self
    }

    /// Appends a placeholder for `arg`.
    fn bind(&mut self, arg: Arg) -> &mut Self {
        self.args.push(arg);
        self.sql.push('$');
        self.sql.push_str(&self.args.len().to_string());
        self
    }

    fn text(&mut self, value: impl Into<String>) -> &mut Self {
        self.bind(Arg::Text(value.into()))
    }

    fn int(&mut self, value: i64) -> &mut Self {
        self.bind(Arg::Int(value))
    }

    /// The statement's text.
    #[cfg(test)]
    pub(crate) fn as_sql(&self) -> &str {
        &self.sql
    }

    /// The statement with `prefix` before its text (`EXPLAIN `), for plan checks.
    #[cfg(test)]
    pub(crate) fn prefixed(&self, prefix: &str) -> Statement {
        Statement {
            sql: format!("{prefix}{}", self.sql),
            args: self.args.clone(),
        }
    }

    /// The query, its values bound.
    pub(crate) fn query(&self) -> Query<'static, Any, AnyArguments> {
        let mut query = sqlx::query::<Any>(sqlx::AssertSqlSafe(self.sql.clone()));
        for arg in &self.args {
            query = match arg {
                Arg::Text(s) => query.bind(s.clone()),
                Arg::Int(i) => query.bind(*i),
            };
        }
        query
    }
}

/// Appends ` AND <the events selector holds>`: `outcome = ? AND [NOT] (kind IN (…) OR
/// substr(kind, 1, n) = prefix …)`. The same meaning as [`Selector::matches`].
fn push_selector(st: &mut Statement, selector: &Selector) {
    st.sql(" AND outcome = ").text(selector.outcome.as_str());
    if selector.any_kind {
        return;
    }
    st.sql(if selector.negate {
        " AND NOT ("
    } else {
        " AND ("
    });
    let mut terms = 0;
    if !selector.kinds.is_empty() {
        st.sql("kind IN (");
        for (i, kind) in selector.kinds.iter().enumerate() {
            if i > 0 {
                st.sql(", ");
            }
            st.text(*kind);
        }
        st.sql(")");
        terms += 1;
    }
    for prefix in &selector.prefixes {
        if terms > 0 {
            st.sql(" OR ");
        }
        // Characters, as both databases' substr counts them.
        let chars = i64::try_from(prefix.chars().count()).unwrap_or(i64::MAX);
        st.sql("substr(kind, 1, CAST(")
            .int(chars)
            .sql(" AS INTEGER)) = ")
            .text(*prefix);
        terms += 1;
    }
    if terms == 0 {
        st.sql("1 = 0");
    }
    st.sql(")");
}

/// The one statement that reads a page of `query`, asking for `limit + 1` events (the extra one
/// tells whether there is a next page). `limit` is already clamped and non-zero.
pub(crate) fn page_statement(query: &PersonLogQuery, limit: u32) -> Statement {
    let mut st = Statement::new(&format!(
        "SELECT {SELECT_COLUMNS}, seq FROM audit_events WHERE person = "
    ));
    st.text(query.person.to_string());
    if let Some(since) = query.since {
        st.sql(" AND at_us >= ").int(micros(since));
    }
    if let Some(until) = query.until {
        st.sql(" AND at_us < ").int(micros(until));
    }
    if let Some(client) = &query.client {
        // As stored: escaped and bounded (so a NUL never reaches PostgreSQL).
        st.sql(" AND client = ")
            .text(AuditText::new(client, MAX_CLIENT_BYTES).into_string());
    }
    if let Some(section) = query.section {
        push_selector(&mut st, &section.selector());
    }
    if let Some(before) = query.before {
        st.sql(" AND (at_us, seq) < (")
            .int(before.at_us)
            .sql(", ")
            .int(before.seq)
            .sql(")");
    }
    st.sql(" ORDER BY at_us DESC, seq DESC LIMIT ")
        .int(i64::from(limit) + 1);
    st
}

/// The distinct event kinds in the log, at most `max` (a walk of the kind index: one index
/// descent per kind, however many events there are).
fn kinds_statement(max: usize) -> Statement {
    let mut st = Statement::new(
        "WITH RECURSIVE kinds(kind, n) AS (SELECT min(kind), 1 FROM audit_events UNION ALL \
         SELECT (SELECT kind FROM audit_events WHERE kind > kinds.kind ORDER BY kind LIMIT 1), \
         n + 1 FROM kinds WHERE kinds.kind IS NOT NULL AND n < ",
    );
    st.int(i64::try_from(max).unwrap_or(i64::MAX))
        .sql(") SELECT kind FROM kinds WHERE kind IS NOT NULL");
    st
}

/// Deletes the oldest `max` events of `kinds` with `outcome` before `before`: for each kind its
/// oldest `max` through the kind index, then the oldest `max` of those, so the statement reads
/// at most `max` index entries per kind however long the log.
fn delete_by_kinds_statement(
    kinds: &[String],
    outcome: &str,
    before: OffsetDateTime,
    max: u32,
) -> Statement {
    let mut st = Statement::new("DELETE FROM audit_events WHERE seq IN (SELECT seq FROM (");
    for (i, kind) in kinds.iter().enumerate() {
        if i > 0 {
            st.sql(" UNION ALL ");
        }
        st.sql("SELECT seq, at_us FROM (SELECT seq, at_us FROM audit_events WHERE kind = ")
            .text(kind.as_str())
            .sql(" AND outcome = ")
            .text(outcome)
            .sql(" AND at_us < ")
            .int(micros(before))
            .sql(" ORDER BY at_us, seq LIMIT ")
            .int(i64::from(max))
            .sql(&format!(") AS k{i}"));
    }
    st.sql(" ORDER BY at_us, seq LIMIT ")
        .int(i64::from(max))
        .sql(") AS oldest)");
    st
}

/// Deletes the oldest `max` events `selector` holds before `before`, in time order with the
/// selector as a filter (for a log with more than [`MAX_KINDS`] kinds).
fn delete_by_scan_statement(selector: &Selector, before: OffsetDateTime, max: u32) -> Statement {
    let mut st = Statement::new(
        "DELETE FROM audit_events WHERE seq IN (SELECT seq FROM audit_events WHERE at_us < ",
    );
    st.int(micros(before));
    push_selector(&mut st, selector);
    st.sql(" ORDER BY at_us, seq LIMIT ")
        .int(i64::from(max))
        .sql(")");
    st
}

impl SqlDurable {
    /// [`eid_core::AuditLog::person_log`].
    pub(super) async fn read_person_log(
        &self,
        query: &PersonLogQuery,
    ) -> Result<LogPage, StoreError> {
        let limit = query.limit.min(MAX_PAGE);
        if limit == 0 {
            return Ok(LogPage::default());
        }
        let st = page_statement(query, limit);
        self.with_timeout("audit person_log", async {
            // Not a prepared statement kept per connection: PostgreSQL would, after five runs,
            // plan it once for any person (an average person's hundred events), and a person
            // with twenty thousand filtered by service would then be read whole and sorted
            // (50 ms instead of 2). Planned each time, it is planned for this person.
            let rows = st
                .query()
                .persistent(false)
                .fetch_all(&self.pool)
                .await
                .map_err(map_err)?;
            let more = rows.len() > limit as usize;
            let mut events = Vec::with_capacity(rows.len().min(limit as usize));
            for row in rows.iter().take(limit as usize) {
                let event = decode(row)?;
                let cursor = LogCursor {
                    at_us: row.try_get(1).map_err(map_err)?,
                    seq: row.try_get(9).map_err(map_err)?,
                };
                events.push(LoggedEvent { cursor, event });
            }
            let next = if more {
                events.last().map(|e| e.cursor)
            } else {
                None
            };
            Ok(LogPage { events, next })
        })
        .await
    }

    /// [`eid_core::AuditLog::delete_events_before`], naming the kinds one by one when the log
    /// has at most `max_kinds` of them.
    pub(crate) async fn delete_selected_before(
        &self,
        selector: &Selector,
        before: OffsetDateTime,
        max: u32,
        max_kinds: usize,
    ) -> Result<u64, StoreError> {
        if max == 0 {
            return Ok(0);
        }
        self.with_timeout("audit retention", async {
            let kinds: Vec<String> = kinds_statement(max_kinds + 1)
                .query()
                .fetch_all(&self.pool)
                .await
                .map_err(map_err)?
                .iter()
                .map(|row| row.try_get(0))
                .collect::<Result<_, _>>()
                .map_err(map_err)?;
            let st = if kinds.len() > max_kinds {
                delete_by_scan_statement(selector, before, max)
            } else {
                let held: Vec<String> = kinds
                    .into_iter()
                    .filter(|k| selector.matches(k, selector.outcome))
                    .collect();
                if held.is_empty() {
                    return Ok(0);
                }
                delete_by_kinds_statement(&held, selector.outcome.as_str(), before, max)
            };
            let done = st.query().execute(&self.pool).await.map_err(map_err)?;
            Ok(done.rows_affected())
        })
        .await
    }
}

#[cfg(test)]
#[path = "person_log_tests.rs"]
mod tests;
