//! `eidbroker`: the national eID and single sign-on broker in one binary.

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use eidbroker::config::{self, Component, LogFormat, Settings};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// mimalloc: request paths allocate many small short-lived buffers, where glibc's allocator
/// measured ~15 % of a core under the benchmark.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The default configuration file, used when it exists and no other is named.
const DEFAULT_CONFIG: &str = "config/default.toml";

#[derive(Debug, Parser)]
#[command(name = "eidbroker", version, about = "National eID and single sign-on broker", long_about = None)]
struct Cli {
    /// Configuration file (TOML). Default: config/default.toml if it exists, else built-in defaults.
    /// Any setting can be overridden by EIDBROKER_<SECTION>__<KEY> environment variables.
    #[arg(long, global = true, env = "EIDBROKER_CONFIG")]
    config: Option<PathBuf>,
    /// Log format (overrides the configuration's log.format).
    #[arg(long, global = true, value_enum)]
    log_format: Option<LogFormat>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run components (all by default) on their listeners. With the repository's config/default.toml
    /// this is the demo on the embedded stores: no Redis or PostgreSQL needed, keys generated into
    /// ./data. Outside that single-node demo, keys and the pairwise secret must be provisioned.
    Serve(ServeArgs),
    /// Generate a signing key for a component, or rotate its keys.
    Keygen(KeygenArgs),
    /// Validate a configuration file; exit 0 when valid, else name the problem.
    CheckConfig(CheckConfigArgs),
    /// Apply pending database migrations to the durable store, then exit.
    Migrate,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Which components to run, comma separated.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = Component::ALL.to_vec())]
    components: Vec<Component>,
}

#[derive(Debug, Args)]
struct KeygenArgs {
    /// The component whose key directory receives the key.
    #[arg(long, value_enum)]
    component: Component,
    /// Signature algorithm: ES256 (EC P-256), RS256 or PS256 (RSA 3072).
    #[arg(long, default_value = "ES256")]
    alg: String,
    /// State of the new key: next (published, not yet used), active (signs) or retired.
    #[arg(long, default_value = "next", conflicts_with = "rotate")]
    state: String,
    /// Rotate: active keys of this algorithm become retired, the next key becomes active and a
    /// fresh next key is generated.
    #[arg(long)]
    rotate: bool,
    /// With --rotate: how long retired keys stay published (days).
    #[arg(long, default_value_t = 7)]
    retire_grace_days: i64,
}

#[derive(Debug, Args)]
struct CheckConfigArgs {
    /// The file to check (default: the --config file).
    file: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn config_path(explicit: Option<&Path>) -> Option<PathBuf> {
    explicit.map(Path::to_path_buf).or_else(|| {
        Path::new(DEFAULT_CONFIG)
            .is_file()
            .then(|| PathBuf::from(DEFAULT_CONFIG))
    })
}

fn load_settings(cli: &Cli) -> anyhow::Result<Settings> {
    let path = config_path(cli.config.as_deref());
    let mut settings = config::load(path.as_deref())?;
    if let Some(format) = cli.log_format {
        settings.log_format = format;
    }
    Ok(settings)
}

fn run(mut cli: Cli) -> anyhow::Result<ExitCode> {
    let command = cli.command.take().unwrap_or(Command::Serve(ServeArgs {
        components: Component::ALL.to_vec(),
    }));
    match command {
        Command::CheckConfig(args) => check_config(&cli, args.file.as_deref()),
        Command::Serve(args) => {
            let settings = load_settings(&cli)?;
            eidbroker::telemetry::init(settings.log_format, &settings.log_filter);
            runtime()?.block_on(serve(settings, args.components))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Keygen(args) => {
            let settings = load_settings(&cli)?;
            keygen(&settings, &args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate => {
            let settings = load_settings(&cli)?;
            eidbroker::telemetry::init(settings.log_format, &settings.log_filter);
            runtime()?.block_on(async {
                eidbroker::app::open_durable(&settings).await?;
                println!("migrations applied to {}", settings.durable.display_safe());
                anyhow::Ok(())
            })?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

async fn serve(settings: Settings, mut components: Vec<Component>) -> anyhow::Result<()> {
    components.sort();
    components.dedup();
    if !settings.demo_enabled {
        components.retain(|c| *c != Component::DemoRp);
    }
    let listeners = eidbroker::app::bind(&settings, &components).await?;
    let runtime = eidbroker::app::Runtime::open(settings, &components).await?;
    eidbroker::app::serve(runtime, listeners, eidbroker::app::shutdown_signal()).await
}

fn check_config(cli: &Cli, file: Option<&Path>) -> anyhow::Result<ExitCode> {
    let path = file
        .map(Path::to_path_buf)
        .or_else(|| config_path(cli.config.as_deref()));
    match config::load(path.as_deref()) {
        Ok(_) => {
            println!(
                "{}: valid",
                path.as_deref()
                    .map_or("built-in defaults".into(), |p| p.display().to_string())
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("invalid configuration: {e}");
            Ok(ExitCode::from(2))
        }
    }
}

fn keygen(settings: &Settings, args: &KeygenArgs) -> anyhow::Result<()> {
    let alg: eid_keys::Alg = args
        .alg
        .parse()
        .map_err(|e| anyhow::anyhow!("--alg: {e}"))?;
    let dir = settings.key_dir(args.component);
    if args.rotate {
        let now = time::OffsetDateTime::now_utc();
        eid_keys::rotate(&dir, alg, time::Duration::days(args.retire_grace_days), now)
            .with_context(|| format!("rotating {alg} keys in {}", dir.display()))?;
        println!(
            "rotated {alg} keys of {} in {}",
            args.component.name(),
            dir.display()
        );
    } else {
        let state: eid_keys::KeyState = args
            .state
            .parse()
            .map_err(|e| anyhow::anyhow!("--state: {e}"))?;
        let entry = eid_keys::generate(&dir, alg, state, None)
            .with_context(|| format!("generating a {alg} key in {}", dir.display()))?;
        println!(
            "generated {alg} key {} ({state}) for {} in {}",
            entry.kid.as_deref().unwrap_or("?"),
            args.component.name(),
            dir.display()
        );
    }
    announce_keys(settings, args.component);
    Ok(())
}

/// Tells the running nodes (on PostgreSQL) that `component`'s keys changed, so that they read them
/// within a second instead of at their next reload; best effort.
fn announce_keys(settings: &Settings, component: Component) {
    let eidbroker::config::DurableBackend::Postgres(url) = &settings.durable else {
        return;
    };
    let told = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|rt| {
            rt.block_on(eid_store::change_feed::publish_keys(url, component.name()))
                .map_err(anyhow::Error::from)
        });
    match told {
        Ok(()) => println!("told the running nodes"),
        Err(e) => println!(
            "could not tell the running nodes ({e}): they read the keys at their next reload \
             (keys.reload_interval_secs) or on SIGHUP"
        ),
    }
}
