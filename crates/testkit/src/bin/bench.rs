//! `bench`: drives real HTTP flows against the whole stack and prints flows/s and latency
//! percentiles (DESIGN.md §10).
//!
//! The stack runs in this process on a runtime with one worker thread (the server's core); the load
//! generator runs on a second single-thread runtime (the client's core). Run it confined to two cores
//! for comparable figures: `taskset -c 0,1 cargo run --release -p eid-testkit --bin bench`.
//!
//! Scenarios: the OIDC authorization-code flow with a live SSO session (authorize → code → token
//! with PKCE, an ES256 ID token, audit logged), and the client-credentials grant.

use eid_testkit::client::Browser;
use eid_testkit::oidc::{Pkce, authorize_url, query};
use eid_testkit::stack::{TEST_CLIENT_SECRET, TEST_REDIRECT_URI};
use eid_testkit::{Component, TestStack};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The same allocator as the `eidbroker` binary, so the figures match what operators run.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Options {
    seconds: u64,
    concurrency: usize,
    redis: Option<String>,
}

fn options() -> Options {
    let mut o = Options {
        seconds: 10,
        concurrency: 50,
        redis: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => {
                o.seconds = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(o.seconds)
            }
            "--concurrency" => {
                o.concurrency = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(o.concurrency)
            }
            "--redis" => o.redis = args.next(),
            "--help" | "-h" => {
                println!(
                    "bench [--seconds N] [--concurrency N] [--redis redis://127.0.0.1:6379]\n\
                     Starts the stack in-process and measures the auth-code flow with a live session and the\n\
                     client-credentials grant over HTTP."
                );
                std::process::exit(0);
            }
            other => {
                eprintln!("unknown argument {other}; see --help");
                std::process::exit(2);
            }
        }
    }
    o
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn report(name: &str, mut latencies: Vec<Duration>, errors: usize, elapsed: Duration) {
    latencies.sort();
    let rate = latencies.len() as f64 / elapsed.as_secs_f64();
    println!(
        "{name:<40} {rate:>10.0} /s   p50 {:>7.2} ms   p99 {:>7.2} ms   ({} ok, {errors} errors)",
        percentile(&latencies, 50.0).as_secs_f64() * 1e3,
        percentile(&latencies, 99.0).as_secs_f64() * 1e3,
        latencies.len(),
    );
}

/// Runs `workers` copies of `step` until the deadline; collects latencies.
async fn drive<F, Fut>(workers: usize, seconds: u64, step: F) -> (Vec<Duration>, usize, Duration)
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let step = Arc::new(step);
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(workers);
    for _ in 0..workers {
        let step = step.clone();
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(4096);
            let mut errors = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                if step().await {
                    latencies.push(t.elapsed());
                } else {
                    errors += 1;
                }
            }
            (latencies, errors)
        }));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    let mut errors = 0;
    for task in tasks {
        if let Ok((l, e)) = task.await {
            all.extend(l);
            errors += e;
        }
    }
    (all, errors, started.elapsed())
}

async fn auth_code_flow(browser: Browser, broker: String, http: reqwest::Client) -> bool {
    let pkce = Pkce::new();
    let url = authorize_url(&broker, "rp-a", TEST_REDIRECT_URI, &pkce, &[]);
    let Ok(response) = browser.http.get(&url).send().await else {
        return false;
    };
    let Some(location) = response
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
    else {
        return false;
    };
    let Some(code) = query(location).get("code").cloned() else {
        return false;
    };
    let Ok(token) = http
        .post(format!("{broker}/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", TEST_REDIRECT_URI),
            ("code_verifier", pkce.verifier.as_str()),
            ("client_id", "rp-a"),
            ("client_secret", TEST_CLIENT_SECRET),
        ])
        .send()
        .await
    else {
        return false;
    };
    token.status().is_success() && token.bytes().await.is_ok()
}

async fn client_credentials(broker: String, http: reqwest::Client) -> bool {
    match http
        .post(format!("{broker}/token"))
        .basic_auth("bench-svc", Some("bench-service-secret-0123"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
    {
        Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
        Err(_) => false,
    }
}

fn main() -> anyhow::Result<()> {
    let o = options();
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let mut builder = TestStack::builder();
    if let Some(redis) = &o.redis {
        builder = builder.ephemeral(redis);
    }
    let stack = server.block_on(builder.start())?;
    let broker = stack.url(Component::Broker).to_owned();
    let client = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    client.block_on(async {
        // A service client for the client-credentials scenario.
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
        http.put(format!("{broker}/admin/relying-parties/bench-svc"))
            .bearer_auth(eid_testkit::stack::ADMIN_TOKEN)
            .json(&serde_json::json!({
                "client_id": "bench-svc", "client_name": "Bench service", "client_secret": "bench-service-secret-0123",
                "token_endpoint_auth_method": "client_secret_basic", "sector": "bench", "grant_types": ["client_credentials"]
            }))
            .send()
            .await?
            .error_for_status()?;
        // One real login gives the browser a live SSO session.
        let browser = Browser::new();
        let pkce = Pkce::new();
        // The broker's only upstream fits: it goes straight on to the authenticator's user-ID page.
        let user_page = browser.get(&authorize_url(&broker, "rp-a", TEST_REDIRECT_URI, &pkce, &[]), TEST_REDIRECT_URI).await;
        let idp = stack.url(Component::Idp).to_owned();
        let methods = browser
            .post(
                &format!("{idp}/login/user"),
                &[("tx", &user_page.must_input("tx")), ("csrf", &user_page.must_input("csrf")), ("user_id", "karen")],
                TEST_REDIRECT_URI,
            )
            .await;
        let back = browser
            .post(
                &format!("{idp}/login/password"),
                &[("tx", &methods.must_input("tx")), ("csrf", &methods.must_input("csrf")), ("password", "karen-demo-pass")],
                TEST_REDIRECT_URI,
            )
            .await;
        anyhow::ensure!(back.url.contains("code="), "the warm-up login failed: {}", back.url);
        println!(
            "bench: {} s per scenario, {} concurrent, ephemeral store {}",
            o.seconds,
            o.concurrency,
            o.redis.as_deref().unwrap_or("memory")
        );
        let (b, h) = (broker.clone(), http.clone());
        let (lat, err, el) = drive(o.concurrency, o.seconds, move || auth_code_flow(browser.clone(), b.clone(), h.clone())).await;
        report("auth-code flow with a live SSO session", lat, err, el);
        let (b, h) = (broker.clone(), http.clone());
        let (lat, err, el) = drive(o.concurrency, o.seconds, move || client_credentials(b.clone(), h.clone())).await;
        report("client credentials", lat, err, el);
        anyhow::Ok(())
    })?;
    server.block_on(stack.stop());
    Ok(())
}
