//! The `eidbroker` binary: help, check-config, keygen, and a served key; graceful shutdown.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_eidbroker");

fn run(args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env_remove("EIDBROKER_CONFIG")
        .output()
        .unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn every_subcommand_has_help() {
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["keygen", "--help"],
        vec!["check-config", "--help"],
        vec!["migrate", "--help"],
    ] {
        let out = run(&args);
        assert!(out.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage"),
            "{args:?}"
        );
    }
}

#[test]
fn check_config_accepts_the_demo_file_and_names_the_missing_secrets_of_the_production_example() {
    let demo = format!("{}/config/default.toml", env!("CARGO_MANIFEST_DIR"));
    let out = run(&["check-config", &demo]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The production example names secret files an operator provides; here they are absent.
    let production = format!(
        "{}/config/production.example.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    let out = run(&["check-config", &production]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/etc/eidbroker/"), "{err}");
}

fn check(text: &str) -> (bool, String) {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(text.as_bytes()).unwrap();
    let out = run(&["check-config", file.path().to_str().unwrap()]);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_config_names_the_field_and_the_problem() {
    let (ok, err) = check("[store]\nephemerall = \"memory\"\n");
    assert!(!ok && err.contains("ephemerall"), "{err}");
    let (ok, err) =
        check("[broker]\nlisten = \"127.0.0.1:8080\"\npublic_url = \"localhost 8080\"\n");
    assert!(!ok && err.contains("broker.public_url"), "{err}");
    let (ok, err) =
        check("[[keys.files]]\ncomponent = \"idp\"\nfile = \"/nope/key.pem\"\nalg = \"ES256\"\n");
    assert!(
        !ok && err.contains("keys.files[0].file") && err.contains("/nope/key.pem"),
        "{err}"
    );
    let (ok, err) = check("[store]\nephemeral = \"memcached://x\"\n");
    assert!(!ok && err.contains("store.ephemeral"), "{err}");
    let (ok, err) = check("shutdown_drain_secs = 1000\n");
    assert!(!ok && err.contains("shutdown_drain_secs"), "{err}");
    let (ok, err) = check("this is not toml");
    assert!(!ok && !err.is_empty());
}

fn config_without_demo(dir: &std::path::Path, ports: &[u16; 5]) -> std::path::PathBuf {
    config_without_demo_with(dir, ports, "")
}

/// [`config_without_demo`] with `top` (top-level keys) first.
fn config_without_demo_with(
    dir: &std::path::Path,
    ports: &[u16; 5],
    top: &str,
) -> std::path::PathBuf {
    let mut text = format!(
        "{top}data_dir = {:?}\n[demo]\nenabled = false\n",
        dir.display().to_string()
    );
    for (section, port) in ["broker", "idp", "delegation", "eidas_gateway", "demo_rp"]
        .iter()
        .zip(ports)
    {
        text.push_str(&format!(
            "[{section}]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"http://localhost:{port}\"\n"
        ));
        if *section == "broker" {
            text.push_str(&format!(
                "pairwise_secret_file = {:?}\n",
                dir.join("broker/pairwise.secret").display().to_string()
            ));
        }
    }
    let path = dir.join("eidbroker.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn serve_without_keys_outside_the_demo_says_what_to_run() {
    let dir = tempfile::tempdir().unwrap();
    let ports = [
        free_port(),
        free_port(),
        free_port(),
        free_port(),
        free_port(),
    ];
    let config = config_without_demo(dir.path(), &ports);
    let out = run(&["--config", config.to_str().unwrap(), "serve"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("eidbroker keygen"), "{err}");
}

#[test]
fn keygen_writes_keys_that_serve_publishes_and_sigterm_drains_then_stops_it_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let ports = [
        free_port(),
        free_port(),
        free_port(),
        free_port(),
        free_port(),
    ];
    // Two seconds of draining: `/readyz` fails at once, requests are still served meanwhile.
    let config = config_without_demo_with(dir.path(), &ports, "shutdown_drain_secs = 2\n");
    let config = config.to_str().unwrap();
    let mut idp_kid = String::new();
    for component in ["broker", "idp", "eidas-gateway"] {
        let out = run(&[
            "--config",
            config,
            "keygen",
            "--component",
            component,
            "--alg",
            "ES256",
            "--state",
            "active",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let printed = String::from_utf8_lossy(&out.stdout).into_owned();
        if component == "idp" {
            idp_kid = printed.split_whitespace().nth(3).unwrap().to_owned();
        }
    }
    // Outside the demo the operator provides the broker's pairwise secret too.
    std::fs::create_dir_all(dir.path().join("broker")).unwrap();
    std::fs::write(
        dir.path().join("broker/pairwise.secret"),
        "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA",
    )
    .unwrap();
    let out = run(&["--config", config, "migrate"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut child = Command::new(BIN)
        .args(["--config", config, "--log-format", "json", "serve"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let jwks_url = format!("http://127.0.0.1:{}/jwks", ports[1]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut jwks = String::new();
    while Instant::now() < deadline {
        if let Ok(body) = reqwest::blocking_get(&jwks_url) {
            jwks = body;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(jwks.contains(&idp_kid), "kid {idp_kid} not in {jwks}");
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let readyz = format!("http://127.0.0.1:{}/readyz", ports[1]);
    let deadline = Instant::now() + Duration::from_secs(1);
    while reqwest::blocking_status(&readyz) != Some(503) {
        assert!(
            Instant::now() < deadline,
            "/readyz still ready after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        reqwest::blocking_get(&jwks_url).is_ok(),
        "a draining node still serves"
    );
    assert!(
        child.try_wait().unwrap().is_none(),
        "stopped without draining"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "no exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "exit after SIGTERM: {exit:?}");
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with('{') && l.contains("\"listening\"")),
        "JSON logs: {stderr}"
    );
}

mod reqwest {
    /// The status of a blocking GET, `None` without an answer.
    pub fn blocking_status(url: &str) -> Option<u16> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        rt.block_on(async { ::reqwest::get(url).await.ok().map(|r| r.status().as_u16()) })
    }

    /// A tiny blocking GET over the async client (the test itself is synchronous).
    pub fn blocking_get(url: &str) -> Result<String, ()> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|_| ())?;
        rt.block_on(async {
            let r = ::reqwest::get(url).await.map_err(|_| ())?;
            if !r.status().is_success() {
                return Err(());
            }
            r.text().await.map_err(|_| ())
        })
    }
}
