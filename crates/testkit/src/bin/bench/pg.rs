//! What PostgreSQL did meanwhile, from its own statistics: transactions of the database (reads
//! included), rows it wrote, and WAL bytes of the server (with nothing else writing: the broker's).

use anyhow::Context;
use sqlx::Connection;

/// Counters at one instant.
#[derive(Debug, Clone, Copy)]
pub struct PgWrites {
    transactions: i64,
    rows: i64,
    wal_bytes: i64,
}

impl PgWrites {
    /// Reads the counters on a fresh connection (statistics are flushed by each backend at most
    /// once a second: wait that long after the work before sampling).
    pub async fn sample(url: &str) -> anyhow::Result<PgWrites> {
        let mut conn = sqlx::postgres::PgConnection::connect(url)
            .await
            .context("connecting to PostgreSQL for its statistics")?;
        let (transactions, rows, wal_bytes): (i64, i64, i64) = sqlx::query_as(
            "SELECT xact_commit, tup_inserted + tup_updated + tup_deleted, \
                    (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint \
             FROM pg_stat_database WHERE datname = current_database()",
        )
        .fetch_one(&mut conn)
        .await
        .context("reading pg_stat_database")?;
        conn.close().await?;
        Ok(PgWrites {
            transactions,
            rows,
            wal_bytes,
        })
    }

    /// What was written between `self` and `later`, per one of `count` units, as JSON fields
    /// named `pg_<what>_per_<unit>`.
    pub fn per(&self, later: &PgWrites, count: u64, unit: &str) -> serde_json::Value {
        let n = count.max(1) as f64;
        let each = |a: i64, b: i64| ((b - a) as f64 / n * 100.0).round() / 100.0;
        serde_json::json!({
            format!("pg_transactions_per_{unit}"): each(self.transactions, later.transactions),
            format!("pg_rows_written_per_{unit}"): each(self.rows, later.rows),
            format!("pg_wal_bytes_per_{unit}"): each(self.wal_bytes, later.wal_bytes),
        })
    }
}
