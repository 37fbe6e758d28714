//! Storage backends of the eID broker: implementations of the ports in [`eid_core::ports`].
//!
//! | port | embedded default | production |
//! |---|---|---|
//! | [`EphemeralStore`](eid_core::EphemeralStore) | [`memory::MemoryEphemeral`] | [`redis::RedisEphemeral`] |
//! | [`AuditLog`](eid_core::AuditLog), [`DurableHealth`](eid_core::DurableHealth) | [`sql::SqlDurable`] on SQLite | [`sql::SqlDurable`] on PostgreSQL |
//! | [`PersonRepository`](eid_core::PersonRepository), [`AuthenticatorRepository`](eid_core::AuthenticatorRepository) | [`sql::SqlDurable`] on SQLite | [`sql::SqlDurable`] on PostgreSQL |
//! | [`RelyingPartyRepository`](eid_core::RelyingPartyRepository) | [`sql::SqlDurable`] on SQLite | [`sql::SqlDurable`] on PostgreSQL |
//! | [`SamlServiceProviderRepository`](eid_core::SamlServiceProviderRepository) | [`sql::SqlDurable`] on SQLite | [`sql::SqlDurable`] on PostgreSQL |
//! | [`DelegationRepository`](eid_core::DelegationRepository) | [`sql::SqlDurable`] on SQLite | [`sql::SqlDurable`] on PostgreSQL |
//! | [`ProtocolMessageLog`](eid_core::ProtocolMessageLog) | [`sql::SqlDurable`] on SQLite | [`sql::SqlDurable`] on PostgreSQL |
//!
//! Durable writes on request paths go through the group-commit [`audit_writer::AuditWriter`]
//! (signed protocol messages with the audit event of their act); [`retention`] deletes what has
//! expired.
//! With the `testing` feature (tests only), `suite` holds the behaviour test-suites every backend
//! must pass and `testing` the helpers the tests use to find (or skip) the Redis and PostgreSQL
//! servers; production builds do not contain them.

pub mod audit_text;
pub mod audit_writer;
pub mod change_feed;
pub mod memory;
pub mod notifications;
pub mod redis;
pub mod retention;
pub mod sql;
#[cfg(any(test, feature = "testing"))]
pub mod suite;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use audit_writer::{AuditWriter, Backlog};
pub use memory::{MemoryEphemeral, MemoryLimits};
pub use redis::RedisEphemeral;
pub use sql::{Backend, SqlDurable};

pub use eid_core::StoreError;

/// Returns `url` without credentials or query parameters, safe to log: `scheme://host:port/path`.
///
/// Both the userinfo (`user:password@`) and the query (`?password=…`) may hold secrets, so both go.
pub fn redact_url(url: &str) -> String {
    let without_query = url.split(['?', '#']).next().unwrap_or("");
    let Some((scheme, rest)) = without_query.split_once("://") else {
        // Not a hierarchical URL (e.g. `sqlite::memory:`); it has no authority to strip.
        return without_query.to_owned();
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let host = match authority.rfind('@') {
        Some(i) => &authority[i + 1..],
        None => authority,
    };
    let mut out = String::with_capacity(scheme.len() + 3 + host.len() + path.len());
    out.push_str(scheme);
    out.push_str("://");
    out.push_str(host);
    out.push_str(path);
    out
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn redact_url_strips_userinfo_and_query() {
        assert_eq!(
            redact_url("redis://user:secret@cache:6379/0"),
            "redis://cache:6379/0"
        );
        assert_eq!(
            redact_url("postgres://u:p%40ss@db.example/eid?password=x&sslmode=require"),
            "postgres://db.example/eid"
        );
        assert_eq!(
            redact_url("redis://:pw@127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
        assert_eq!(
            redact_url("sqlite:///var/lib/eid.db?mode=rwc"),
            "sqlite:///var/lib/eid.db"
        );
        assert_eq!(redact_url("sqlite::memory:"), "sqlite::memory:");
        assert_eq!(
            redact_url("postgres://u:pw@h1:5432,h2:5433/eid?target_session_attrs=read-write"),
            "postgres://h1:5432,h2:5433/eid"
        );
    }
}
