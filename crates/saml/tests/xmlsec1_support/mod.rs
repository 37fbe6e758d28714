//! Driving the `xmlsec1` command line from the interop tests: whether it is installed, running it,
//! and the files it reads.
#![allow(dead_code, clippy::expect_used, clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use base64::Engine as _;

/// Whether `xmlsec1` runs here; prints the `SKIP` line (or fails under `REQUIRE_SERVICES`) if not.
pub fn xmlsec1_or_skip() -> bool {
    let ok = Command::new("xmlsec1")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eid_store::testing::skip("xmlsec1 is not installed (apt-get install xmlsec1)");
    }
    ok
}

/// Runs xmlsec1 and returns (success, stdout, stderr).
pub fn xmlsec1(args: &[&str]) -> (bool, String, String) {
    let out = Command::new("xmlsec1")
        .args(args)
        .output()
        .expect("runs xmlsec1");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A DER certificate as PEM.
pub fn cert_pem(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    )
}

/// Writes `content` to `dir/name`; returns the path.
pub fn write(dir: &Path, name: &str, content: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path.to_str().unwrap().to_owned()
}
