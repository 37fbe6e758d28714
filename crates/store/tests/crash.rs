//! "A durable write acknowledged to a caller survives a process kill": a child process (this test
//! binary, re-executed) records an audit event through the group-commit writer, reports the
//! acknowledgement and is then killed with SIGKILL; the parent reopens the database and finds it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use eid_core::{AuditEvent, AuditLog, AuditOutcome};
use eid_store::testing::{TempPostgresDb, postgres_url_or_skip};
use eid_store::{AuditWriter, SqlDurable};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;
use time::OffsetDateTime;
use uuid::Uuid;

const CHILD_DB: &str = "EID_CRASH_CHILD_DB";
const CHILD_PERSON: &str = "EID_CRASH_CHILD_PERSON";
const CHILD_TEST: &str = "crash_child";

/// The child's side. Does nothing unless run by a parent below (the env var is set).
#[tokio::test]
async fn crash_child() {
    let Ok(url) = std::env::var(CHILD_DB) else {
        return;
    };
    let person: Uuid = std::env::var(CHILD_PERSON).unwrap().parse().unwrap();
    let db = SqlDurable::connect(&url).await.unwrap();
    let writer = AuditWriter::spawn(Arc::new(db), 64);
    let event = AuditEvent::new(
        OffsetDateTime::now_utc(),
        "broker",
        "token.issued",
        AuditOutcome::Success,
    )
    .person(person)
    .detail("crash", "test");
    let id = event.id;
    writer.record(event).await.unwrap();
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        // libtest has already printed "test crash_child ... " without a newline.
        writeln!(out, "\nACKED {id}").unwrap();
        out.flush().unwrap();
    }
    loop {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}

/// Runs the child against `url`, waits for its `ACKED <id>` line, kills it with SIGKILL and
/// returns the acknowledged id.
fn run_and_kill_child(url: &str, person: Uuid) -> Uuid {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args([CHILD_TEST, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_DB, url)
        .env(CHILD_PERSON, person.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(at) = line.find("ACKED ") {
                let _ = tx.send(Some(line[at + 6..].trim().to_owned()));
                return;
            }
        }
        // The child's stdout closed without an acknowledgement: it failed (its stderr says why).
        let _ = tx.send(None);
    });
    let acked = rx.recv_timeout(Duration::from_secs(60));
    // SIGKILL on Unix: no destructors, no flushing, no orderly shutdown.
    child.kill().unwrap();
    let status = child.wait().unwrap();
    let id = match acked {
        Ok(Some(id)) => id,
        Ok(None) => panic!("child exited without acknowledging an event: {status:?}"),
        Err(e) => panic!("child did not acknowledge an event within 60 s: {e}"),
    };
    assert!(
        !status.success(),
        "child was killed, not finished: {status:?}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(9), "killed by SIGKILL");
    }
    id.parse().unwrap()
}

async fn assert_survived(url: &str, person: Uuid, id: Uuid) {
    let db = SqlDurable::connect(url).await.unwrap();
    let events = db.for_person(person, 10).await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.id == id && e.kind == "token.issued"),
        "acknowledged event {id} lost after kill -9: {events:?}"
    );
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_acknowledged_event_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("crash.db").display());
    SqlDurable::connect_and_migrate(&url)
        .await
        .unwrap()
        .close()
        .await;
    let person = Uuid::new_v4();
    let id = {
        let url = url.clone();
        tokio::task::spawn_blocking(move || run_and_kill_child(&url, person))
            .await
            .unwrap()
    };
    assert_survived(&url, person, id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_acknowledged_event_survives_kill_9() {
    let Some(server) = postgres_url_or_skip() else {
        return;
    };
    let temp = TempPostgresDb::create(&server).await.unwrap();
    SqlDurable::connect_and_migrate(&temp.url)
        .await
        .unwrap()
        .close()
        .await;
    let person = Uuid::new_v4();
    let id = {
        let url = temp.url.clone();
        tokio::task::spawn_blocking(move || run_and_kill_child(&url, person))
            .await
            .unwrap()
    };
    assert_survived(&temp.url, person, id).await;
    temp.drop_db().await.unwrap();
}
