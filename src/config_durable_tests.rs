//! Tests of `store.durable` for PostgreSQL: libpq-style host lists and `target_session_attrs`.
#![allow(clippy::unwrap_used)]

use super::*;

fn durable(url: &str) -> Result<Settings, ConfigError> {
    from_toml_str(
        &format!("[demo]\nenabled = true\n[store]\ndurable = {url:?}\n"),
        "test.toml",
        &[],
    )
}

fn refused(url: &str) -> String {
    let err = durable(url).unwrap_err().to_string();
    assert!(err.starts_with("store.durable"), "{url}: {err}");
    assert!(!err.contains("secret"), "{url}: {err}");
    err
}

#[test]
fn a_host_list_with_read_write_or_any_is_accepted_as_written() {
    for url in [
        "postgres://eid:secret@db1:5432,db2:5433/eid?target_session_attrs=read-write",
        "postgresql://eid@db1,db2,[::1]:5434/eid?sslmode=require&target_session_attrs=any",
        "postgres://eid@db1:5432,db2:5432/eid",
        "postgres://eid@db1:5432/eid?target_session_attrs=read-write",
        "postgres://eid@db1:5432/eid",
    ] {
        let s = durable(url).unwrap();
        assert_eq!(s.durable, DurableBackend::Postgres(url.to_owned()));
        assert_eq!(s.durable.url(), url);
    }
}

#[test]
fn unimplemented_target_session_attrs_are_refused() {
    for attrs in [
        "standby",
        "prefer-standby",
        "primary",
        "read-only",
        "READ-WRITE",
        "",
    ] {
        let err = refused(&format!(
            "postgres://eid:secret@db1,db2/eid?target_session_attrs={attrs}"
        ));
        assert!(err.contains("target_session_attrs"), "{err}");
    }
}

#[test]
fn malformed_host_lists_are_refused() {
    for url in [
        "postgres://eid:secret@db1,,db2/eid",
        "postgres://eid:secret@db1,/eid",
        "postgres://eid:secret@,db2/eid",
        "postgres://eid:secret@db1:99999,db2/eid",
        "postgres://eid:secret@db1:0,db2/eid",
        "postgres://eid:secret@db1:x,db2/eid",
        "postgres://eid:secret@db1,db 2/eid",
        // One host is checked by `Url`, as before.
        "postgres://eid:secret@db1:port/eid",
    ] {
        refused(url);
    }
}

#[test]
fn a_host_list_is_shown_without_password_or_query() {
    let s = durable("postgres://eid:secret@db1:5432,db2:5433/eid?target_session_attrs=read-write")
        .unwrap();
    assert_eq!(s.durable.display_safe(), "postgres://db1:5432,db2:5433/eid");
}
