//! `bench`: the built `eidbroker` measured out of process, as an operator runs it (DESIGN.md §10,
//! issue 14). It builds nothing: `cargo build --release -p eidbroker` first, on its own (built
//! together with this crate, Cargo would unify features into the measured binary).
//!
//! It starts `./target/release/eidbroker serve` with the demo configuration (or `--config`) and a
//! fresh data directory on the real disk, every broker thread pinned to CPU 0 (`taskset` on the
//! process start), and runs the load from this process pinned to CPU 1. Live SSO sessions come
//! from real password logins through the pages, one session per worker. Scenarios: the auth-code
//! flow with a live session, client credentials, the refresh grant. One JSON line per scenario:
//! flows/s, p50/p99, errors, the broker's CPU seconds per flow (/proc/<pid>/stat) and what
//! redis-server and postgres used meanwhile. `--memory` measures idle RSS and bytes per session.

mod cluster;
mod load;
mod logins;
mod memory;
mod pg;
mod saml;
mod server;

use anyhow::{Context, bail};
use load::{Scenario, Target, WorkerInput};
use logins::Rp;
use serde_json::json;
use server::ServerSpec;
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

const USAGE: &str = "\
bench [--bin ./target/release/eidbroker] [--config config/default.toml] [--data-dir DIR]
      [--ephemeral redis://127.0.0.1:6379] [--durable postgres://postgres@127.0.0.1:5432/DB]
      [--scenarios authcode,cc,refresh,saml] [--concurrency 50] [--seconds 10] [--warmup 2]
      [--port-base 8080] [--server-cpu 0] [--load-cpu 1] [--admin-token T] [--allow-tmpfs]
bench --memory [--sessions 2000] [--ephemeral redis://127.0.0.1:6379] [...]
bench --cluster http://localhost:8080 [--logins 2000] [--concurrency 8] [--load-cpu 0,1]

Starts the built broker pinned to --server-cpu, loads it from --load-cpu and prints one JSON line
per scenario. --memory prints idle RSS, RSS growth per SSO session and, with a Redis ephemeral
store, the bytes one SSO session takes in the store. The data directory (default
target/bench-data/run-<time>) must not be on tmpfs. --port-base moves the demo listeners
(8080, 8081, 8082, 8083, 8090) by the same offset. --cluster starts nothing: it makes --logins
full logins (the pages, the password, the code exchange), --concurrency at a time, through a
deployment already running (deploy/local-cluster.sh) and prints logins/s and the CPU every
eidbroker, haproxy, redis-server and postgres process used.";

/// Command-line options.
#[derive(Debug, Clone)]
pub struct Options {
    pub bin: PathBuf,
    pub config: PathBuf,
    pub data_dir: Option<PathBuf>,
    pub ephemeral: Option<String>,
    pub durable: Option<String>,
    pub scenarios: Vec<Scenario>,
    pub concurrency: usize,
    pub seconds: f64,
    pub warmup: f64,
    pub port_base: u16,
    pub server_cpu: String,
    pub load_cpu: String,
    pub admin_token: String,
    pub allow_tmpfs: bool,
    pub memory: bool,
    pub sessions: usize,
    pub cluster: Option<String>,
    pub logins: usize,
}

fn options() -> anyhow::Result<Options> {
    let mut o = Options {
        bin: "./target/release/eidbroker".into(),
        config: "config/default.toml".into(),
        data_dir: None,
        ephemeral: None,
        durable: None,
        scenarios: vec![
            Scenario::AuthCode,
            Scenario::ClientCredentials,
            Scenario::Refresh,
            Scenario::Saml,
            Scenario::Mandate,
        ],
        concurrency: 50,
        seconds: 10.0,
        warmup: 2.0,
        port_base: 8080,
        server_cpu: "0".into(),
        load_cpu: "1".into(),
        admin_token: "demo-admin-token-for-localhost-only".into(),
        allow_tmpfs: false,
        memory: false,
        sessions: 2000,
        cluster: None,
        logins: 2000,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--bin" => o.bin = value()?.into(),
            "--config" => o.config = value()?.into(),
            "--data-dir" => o.data_dir = Some(value()?.into()),
            "--ephemeral" => o.ephemeral = Some(value()?),
            "--durable" => o.durable = Some(value()?),
            "--scenarios" => {
                o.scenarios = value()?
                    .split(',')
                    .map(|s| match s.trim() {
                        "authcode" => Ok(Scenario::AuthCode),
                        "cc" => Ok(Scenario::ClientCredentials),
                        "refresh" => Ok(Scenario::Refresh),
                        "saml" => Ok(Scenario::Saml),
                        "mandate" => Ok(Scenario::Mandate),
                        other => bail!(
                            "unknown scenario {other:?} (authcode, cc, refresh, saml, mandate)"
                        ),
                    })
                    .collect::<anyhow::Result<_>>()?
            }
            "--concurrency" => o.concurrency = value()?.parse()?,
            "--seconds" => o.seconds = value()?.parse()?,
            "--warmup" => o.warmup = value()?.parse()?,
            "--port-base" => o.port_base = value()?.parse()?,
            "--server-cpu" => o.server_cpu = value()?,
            "--load-cpu" => o.load_cpu = value()?,
            "--admin-token" => o.admin_token = value()?,
            "--allow-tmpfs" => o.allow_tmpfs = true,
            "--memory" => o.memory = true,
            "--sessions" => o.sessions = value()?.parse()?,
            "--cluster" => o.cluster = Some(value()?),
            "--logins" => o.logins = value()?.parse()?,
            "--help" | "-h" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other}"),
        }
    }
    if !(1..=10_000).contains(&o.concurrency)
        || !(1..=100_000).contains(&o.sessions)
        || !(1..=60_000).contains(&o.logins)
    {
        bail!("--concurrency must be 1..=10000, --sessions 1..=100000 and --logins 1..=60000");
    }
    if !(o.seconds > 0.0 && o.seconds <= 3600.0 && o.warmup >= 0.0 && o.warmup <= 600.0) {
        bail!("--seconds must be in (0, 3600] and --warmup in [0, 600]");
    }
    Ok(o)
}

fn main() -> ExitCode {
    let o = match options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("bench: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    // Pin this process (one thread so far) to the load core before the runtime starts.
    let pinned = Command::new("taskset")
        .args([
            "-a",
            "-p",
            "-c",
            &o.load_cpu,
            &std::process::id().to_string(),
        ])
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !pinned {
        eprintln!(
            "bench: could not pin the load generator to CPU {} (taskset)",
            o.load_cpu
        );
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(o)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The demo relying party (config/demo/relying-parties.toml).
fn demo_rp() -> Rp {
    Rp {
        client_id: "demo-rp".into(),
        client_secret: "demo-rp-secret-for-localhost-only".into(),
        redirect_uri: "http://localhost:8090/callback".into(),
    }
}

const CC_CLIENT: (&str, &str) = ("bench-cc", "bench-cc-secret-0123456789");

/// The client of the mandate scenario: it accepts representation and declares the service area
/// the demo mandates name (config/demo/delegation.toml), so Anna is asked whom she acts for.
fn acting_rp() -> Rp {
    Rp {
        client_id: "bench-acting".into(),
        client_secret: "bench-acting-secret-0123456789".into(),
        redirect_uri: "http://localhost:8090/bench-acting/callback".into(),
    }
}

async fn run(o: Options) -> anyhow::Result<()> {
    if let Some(url) = &o.cluster {
        return cluster::run(url, &demo_rp(), o.logins, o.concurrency).await;
    }
    if !o.bin.is_file() {
        bail!(
            "no {}: run `cargo build --release -p eidbroker` in the project root first",
            o.bin.display()
        );
    }
    let unix = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let data_dir = o.data_dir.clone().unwrap_or_else(|| {
        PathBuf::from(format!(
            "target/bench-data/run-{unix}-{}",
            std::process::id()
        ))
    });
    if data_dir.exists() && std::fs::read_dir(&data_dir)?.next().is_some() {
        bail!(
            "the data directory {} is not empty: the benchmark wants a fresh one",
            data_dir.display()
        );
    }
    std::fs::create_dir_all(&data_dir)?;
    let fs = server::fs_type(&data_dir).unwrap_or_else(|| "unknown".into());
    if ["tmpfs", "ramfs"].contains(&fs.as_str()) && !o.allow_tmpfs {
        bail!(
            "{} is on {fs}, where fsync costs nothing: name a --data-dir on the real disk",
            data_dir.display()
        );
    }
    let (saml_sp, saml_section) = if o.scenarios.contains(&Scenario::Saml) && !o.memory {
        let broker_url = format!("http://localhost:{}", o.port_base);
        let (sp, section) = saml::BenchSp::create(&broker_url, &data_dir)?;
        (Some(Arc::new(sp)), Some(section))
    } else {
        (None, None)
    };
    let spec = ServerSpec {
        extra_config: saml_section,
        bin: o.bin.clone(),
        config: o.config.clone(),
        data_dir: data_dir.clone(),
        port_base: o.port_base,
        cpu: o.server_cpu.clone(),
        ephemeral: o.ephemeral.clone(),
        durable: o.durable.clone(),
        redis_prefix: format!("bench{unix}{}:", std::process::id()),
    };
    let redis = o.ephemeral.as_deref().filter(|e| e.starts_with("redis"));
    let header = json!({
        "bench": "eidbroker out of process", "bin": o.bin, "config": o.config, "data_dir": data_dir,
        "data_dir_fs": fs, "ephemeral": o.ephemeral.as_deref().unwrap_or("(config)"),
        "durable": o.durable.as_deref().map_or("(config)", redact_url),
        "server_cpu": o.server_cpu, "load_cpu": o.load_cpu, "unix_time": unix,
    });
    println!("{header}");
    let result = if o.memory {
        memory::run(&spec, &o, redis).await
    } else {
        // A fresh data directory has no keys yet, and only the demo on the memory store may
        // generate them: a first start on the embedded stores makes them.
        if redis.is_some() {
            spec.start_with("keys", None, None).await?.stop();
        }
        measure(&spec, &o, saml_sp).await
    };
    if let Some(url) = redis {
        memory::purge_prefix(url, &spec.redis_prefix).await.ok();
    }
    result
}

/// The URL without its password, for the printed header.
fn redact_url(url: &str) -> &str {
    if url.contains('@') && url.contains(':') {
        url.split_once('@').map_or(url, |(_, host)| host)
    } else {
        url
    }
}

/// PostgreSQL's write counters, when the durable store is PostgreSQL.
async fn pg_writes(o: &Options) -> anyhow::Result<Option<pg::PgWrites>> {
    match &o.durable {
        Some(url) => Ok(Some(pg::PgWrites::sample(url).await?)),
        None => Ok(None),
    }
}

/// [`pg_writes`] once every backend has flushed its statistics (at most once a second).
async fn pg_writes_settled(o: &Options) -> anyhow::Result<pg::PgWrites> {
    tokio::time::sleep(Duration::from_millis(1500)).await;
    pg_writes(o).await?.context("no PostgreSQL")
}

fn merge(line: &mut serde_json::Value, fields: serde_json::Value) {
    if let (Some(line), serde_json::Value::Object(fields)) = (line.as_object_mut(), fields) {
        line.extend(fields);
    }
}

async fn measure(
    spec: &ServerSpec,
    o: &Options,
    saml_sp: Option<Arc<saml::BenchSp>>,
) -> anyhow::Result<()> {
    let mut server = spec.start("bench").await?;
    let broker = spec.broker_url();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let disc: serde_json::Value = http
        .get(format!("{broker}/.well-known/openid-configuration"))
        .send()
        .await?
        .json()
        .await?;
    let path_of = |field: &str| -> anyhow::Result<String> {
        let url = url::Url::parse(
            disc[field]
                .as_str()
                .with_context(|| format!("discovery: no {field}"))?,
        )?;
        Ok(url.path().to_owned())
    };
    let rp = demo_rp();
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let target = |rp: &Rp| -> anyhow::Result<Arc<Target>> {
        Ok(Arc::new(Target {
            connect: format!("127.0.0.1:{}", spec.port_base),
            host: http::HeaderValue::from_str(&format!("localhost:{}", spec.port_base))?,
            authorize_prefix: format!(
                "{}?client_id={}&response_type=code&scope=openid&redirect_uri={}",
                path_of("authorization_endpoint")?,
                enc(&rp.client_id),
                enc(&rp.redirect_uri)
            ),
            token_path: path_of("token_endpoint")?,
            redirect_uri: rp.redirect_uri.clone(),
            basic: Target::basic_auth(&rp.client_id, &rp.client_secret)?,
            saml: saml_sp.clone(),
        }))
    };
    let wants_sessions = o
        .scenarios
        .iter()
        .any(|s| matches!(s, Scenario::AuthCode | Scenario::Refresh | Scenario::Saml));
    let mut sessions = Vec::new();
    if wants_sessions {
        let t = Instant::now();
        let before = pg_writes(o).await?;
        sessions = logins::login_many(&broker, &rp, &logins::USERS, o.concurrency, 4).await?;
        let secs = t.elapsed().as_secs_f64();
        eprintln!("bench: {} live SSO sessions in {secs:.1} s", sessions.len());
        // What one full login (pages, password, code exchange) writes to PostgreSQL.
        if let Some(before) = before {
            let after = pg_writes_settled(o).await?;
            let mut line = json!({ "scenario": "password_login", "logins": sessions.len() });
            merge(
                &mut line,
                before.per(&after, sessions.len() as u64, "login"),
            );
            println!("{line}");
        }
    }
    if o.scenarios.contains(&Scenario::ClientCredentials) {
        register_cc_client(&http, &broker, &o.admin_token).await?;
    }
    let mut acting_sessions = Vec::new();
    if o.scenarios.contains(&Scenario::Mandate) {
        register_acting_client(&http, &broker, &o.admin_token).await?;
        // Anna holds Karen's power of attorney for the area (the demo data): her sessions only.
        acting_sessions = logins::login_many(&broker, &rp, &["anna"], o.concurrency, 4).await?;
    }
    let cc_rp = Rp {
        client_id: CC_CLIENT.0.into(),
        client_secret: CC_CLIENT.1.into(),
        redirect_uri: rp.redirect_uri.clone(),
    };
    let acting = acting_rp();
    let ticks = server::clock_ticks();
    for &scenario in &o.scenarios {
        let (client, inputs): (&Rp, Vec<WorkerInput>) = match scenario {
            Scenario::ClientCredentials => (&cc_rp, vec![WorkerInput::default(); o.concurrency]),
            Scenario::Mandate => (
                &acting,
                acting_sessions
                    .iter()
                    .map(|s| WorkerInput {
                        cookie: Some(s.cookie.clone()),
                        refresh_token: None,
                    })
                    .collect(),
            ),
            Scenario::AuthCode | Scenario::Saml => (
                &rp,
                sessions
                    .iter()
                    .map(|s| WorkerInput {
                        cookie: Some(s.cookie.clone()),
                        refresh_token: None,
                    })
                    .collect(),
            ),
            Scenario::Refresh => (
                &rp,
                sessions
                    .iter()
                    .map(|s| WorkerInput {
                        cookie: None,
                        refresh_token: s.refresh_token.clone(),
                    })
                    .collect(),
            ),
        };
        let pid = server.pid();
        let sample = || CpuSample {
            at: Instant::now(),
            broker: server::cpu_ticks(pid).unwrap_or(0),
            own: server::cpu_ticks(std::process::id()).unwrap_or(0),
            redis: server::cpu_ticks_of("redis-server"),
            postgres: server::cpu_ticks_of("postgres"),
        };
        let mut start = None;
        let pg_before = pg_writes(o).await?;
        let mut open = || start = Some(sample());
        let (stats, window) = load::run(
            target(client)?,
            scenario,
            inputs,
            Duration::from_secs_f64(o.warmup),
            Duration::from_secs_f64(o.seconds),
            &mut open,
        )
        .await?;
        let end = sample();
        // Work the run left behind (e.g. audit events still queued) shows up in the next second.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let tail = server::cpu_ticks(pid)
            .unwrap_or(0)
            .saturating_sub(end.broker);
        let start = start.context("the measured window never opened")?;
        let wall = end.at.duration_since(start.at).as_secs_f64().max(1e-9);
        let secs = |a: u64, b: u64| b.saturating_sub(a) as f64 / ticks;
        let broker_cpu = secs(start.broker, end.broker);
        let flows = stats.flows;
        let window_s = window.as_secs_f64().max(1e-9);
        let mut line = json!({
            "scenario": scenario.name(),
            "ephemeral": o.ephemeral.as_deref().unwrap_or("(config)"),
            "durable": o.durable.as_deref().map_or("(config)", redact_url),
            "concurrency": o.concurrency,
            "duration_s": r3(window_s),
            "flows": flows,
            "flows_per_s": r3(flows as f64 / window_s),
            "p50_ms": stats.percentile_ms(50.0).map(r3),
            "p99_ms": stats.percentile_ms(99.0).map(r3),
            "max_ms": stats.lat_us.last().map(|us| r3(f64::from(*us) / 1000.0)),
            "errors": stats.errors,
            "broker_cpu_s": r3(broker_cpu),
            "broker_cpu_util": r3(broker_cpu / wall),
            "broker_cpu_us_per_flow": (flows > 0).then(|| r3(broker_cpu * 1e6 / flows as f64)),
            "broker_cpu_s_in_1s_after": r3(tail as f64 / ticks),
            "redis_cpu_s": r3(secs(start.redis, end.redis)),
            "postgres_cpu_s": r3(secs(start.postgres, end.postgres)),
            "loadgen_cpu_util": r3(secs(start.own, end.own) / wall),
        });
        if let Some(before) = pg_before {
            // Includes the warm-up: counted per flow of the whole run.
            let after = pg_writes_settled(o).await?;
            merge(
                &mut line,
                before.per(&after, stats.flows_with_warmup, "flow"),
            );
        }
        if scenario == Scenario::Saml {
            // The reference of issue 15: RSA signatures per second of `openssl speed` for the
            // same key size on the same core, measured now (the broker is idle meanwhile).
            // `openssl speed` divides by its CPU (user) time, so the like-for-like figure of
            // the broker is its flows per second of its own CPU; on an otherwise idle core the
            // two agree with the wall-clock rates (`ratio_wall`).
            let openssl = saml::openssl_sign_rate(&o.server_cpu)?;
            let per_cpu_s = flows as f64 / broker_cpu.max(1e-9);
            line["openssl_rsa_sign_per_cpu_s"] = json!(r3(openssl));
            line["flows_per_broker_cpu_s"] = json!(r3(per_cpu_s));
            line["ratio_to_openssl_sign"] = json!(r3(per_cpu_s / openssl));
            line["ratio_wall"] = json!(r3(flows as f64 / window_s / openssl));
        }
        println!("{line}");
    }
    server.stop();
    Ok(())
}

struct CpuSample {
    at: Instant,
    broker: u64,
    own: u64,
    redis: u64,
    postgres: u64,
}

fn r3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Registers the mandate scenario's client through the admin API and waits until it is served.
async fn register_acting_client(
    http: &reqwest::Client,
    broker: &str,
    admin_token: &str,
) -> anyhow::Result<()> {
    let rp = acting_rp();
    http.put(format!("{broker}/admin/relying-parties/{}", rp.client_id))
        .bearer_auth(admin_token)
        .json(&json!({
            "client_id": rp.client_id, "client_name": "Benchmark (acting for others)",
            "client_secret": rp.client_secret, "redirect_uris": [rp.redirect_uri],
            "token_endpoint_auth_method": "client_secret_basic", "sector": "acting.bench.example",
            "allowed_claims": ["name"], "accepts_representation": true,
            "service_areas": ["housing-benefit"], "grant_types": ["authorization_code"]
        }))
        .send()
        .await?
        .error_for_status()
        .context("registering bench-acting through the admin API")?;
    // Served once the registry snapshot is re-read (every 10 s): a client-credentials attempt
    // answers `unauthorized_client` (known, wrong grant) instead of `invalid_client` (unknown).
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = http
            .post(format!("{broker}/token"))
            .basic_auth(&rp.client_id, Some(&rp.client_secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await?;
        let body: serde_json::Value = r.json().await.unwrap_or_default();
        if body["error"] != "invalid_client" {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("bench-acting was not served within 15 s of its registration");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Registers the client-credentials client through the admin API and waits until it is served
/// (nodes re-read the registry every 10 s).
async fn register_cc_client(
    http: &reqwest::Client,
    broker: &str,
    admin_token: &str,
) -> anyhow::Result<()> {
    http.put(format!("{broker}/admin/relying-parties/{}", CC_CLIENT.0))
        .bearer_auth(admin_token)
        .json(&json!({
            "client_id": CC_CLIENT.0, "client_name": "benchmark", "client_secret": CC_CLIENT.1,
            "redirect_uris": [], "token_endpoint_auth_method": "client_secret_basic",
            "sector": "bench.example", "allowed_claims": [], "grant_types": ["client_credentials"]
        }))
        .send()
        .await?
        .error_for_status()
        .context("registering bench-cc through the admin API")?;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = http
            .post(format!("{broker}/token"))
            .basic_auth(CC_CLIENT.0, Some(CC_CLIENT.1))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await?;
        if r.status().is_success() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "bench-cc was not served within 15 s of its registration (HTTP {})",
                r.status()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
