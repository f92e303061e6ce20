//! `lettuce` — the operator binary.
//!
//! `lettuce` with no subcommand is `lettuce serve`: the whole product in one
//! process on embedded defaults (SQLite, local blobs, SQLite job queue).

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use lettuce_bootstrap::{Config, ConfigErrors, EnvMap, LogFormat, Observability, ObservabilityConfig};
use std::net::SocketAddr;
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

/// Lettuce: a codebase navigator for AI coding agents.
#[derive(Debug, Parser)]
#[command(name = "lettuce", version, about, long_about = None, after_help = "Configuration comes from environment variables; see docs/configuration.md or run `lettuce config check`.")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (API, worker, or both). The default command.
    Serve(ServeArgs),
    /// Apply database migrations and exit (idempotent; `serve` also runs them).
    Migrate,
    /// Inspect the configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Index a local directory (respecting .gitignore) with a progress bar and
    /// print counts and timings. Runs again incrementally. No server needed.
    Index(IndexArgs),
    /// Measure navigation on a repository's own history: replay the last N
    /// commits (subject → files changed, at the parent commit) and print
    /// Acc@1/3/5, MRR and tokens per question for search_code and locate,
    /// beside a grep baseline computed in-process. Reads the clone's commits in
    /// place (no checkout); the same figures are served at /v1/repos/{id}/eval.
    Eval(EvalArgs),
    /// Serve MCP over stdio: with --repo, index that directory first and serve
    /// it; without, serve the repositories of the account whose API key is in
    /// LETTUCE_API_KEY on this instance (same configuration as `serve`).
    Mcp(McpArgs),
    /// Inspect or send the daily telemetry heartbeat (see docs/telemetry.md).
    Telemetry {
        #[command(subcommand)]
        command: TelemetryCommand,
    },
    /// Manage the data key that seals stored credentials (see docs/secrets.md).
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Re-seal every stored credential under the current LETTUCE_DATA_KEY,
    /// opening old ones with LETTUCE_DATA_KEY_PREVIOUS. Idempotent and
    /// resumable; shows a progress bar and ends with a summary.
    Rotate,
}

#[derive(Debug, clap::Args)]
struct IndexArgs {
    /// The directory to index.
    path: std::path::PathBuf,
}

#[derive(Debug, clap::Args)]
struct EvalArgs {
    /// A local git clone or bare repository (its HEAD's history is replayed, read in
    /// place; the clone is not touched).
    #[arg(long)]
    repo: std::path::PathBuf,
    /// Commits to replay.
    #[arg(short = 'n', long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=5000))]
    commits: u32,
    /// Print JSON instead of a table (every question is in its `cases`).
    #[arg(long)]
    json: bool,
    /// After the table, list the questions `locate` missed (no changed file in
    /// its first 3): the subject, the files the commit changed, and the files
    /// `locate` named instead.
    #[arg(long, conflicts_with = "json")]
    misses: bool,
}

#[derive(Debug, clap::Args)]
struct McpArgs {
    /// Index this local directory and serve it (no server, no account).
    #[arg(long)]
    repo: Option<std::path::PathBuf>,
}

#[derive(Debug, Subcommand)]
enum TelemetryCommand {
    /// Print the exact next heartbeat (pretty JSON on stdout) and, on stderr,
    /// whether it would be sent and why, where to, and the last receipt.
    Preview,
    /// Send one heartbeat now and print the receipt; exit non-zero when no
    /// receipt was verified or telemetry is off.
    Send(SendArgs),
}

#[derive(Debug, clap::Args)]
struct SendArgs {
    /// Send even when telemetry is off because of an honoured opt-out.
    #[arg(long)]
    force: bool,
    /// Tries before giving up (exponential backoff from 5 s between them).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10))]
    attempts: u32,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print the resolved configuration with secrets redacted; exit non-zero when invalid.
    Check,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Role {
    /// API and worker in one process.
    All,
    /// HTTP API only.
    Api,
    /// Background worker only.
    Worker,
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Which parts to run.
    #[arg(long, value_enum, default_value = "all")]
    role: Role,
    /// Listen address (overrides LETTUCE_BIND; default 127.0.0.1:8080).
    #[arg(long)]
    bind: Option<SocketAddr>,
}

/// mimalloc for every allocation of the process: with the `override`
/// feature the C libraries (tree-sitter, SQLite) use it too. See
/// docs/PERFORMANCE.md for what it buys the index.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let env = EnvMap::from_process();
    // Local commands need no server configuration.
    match &cli.command {
        Some(Command::Index(args)) => return run_local(&env, |c| async move { local::index(&c, &args.path).await }),
        Some(Command::Eval(args)) => {
            return run_local(&env, |c| async move {
                let output = eval::Output::of(args.json, args.misses);
                eval::eval(&c, &args.repo, args.commits as usize, output).await
            });
        }
        Some(Command::Mcp(McpArgs { repo: Some(path) })) => {
            return run_local(&env, |c| async move { local::mcp_local(&c, path).await });
        }
        _ => {}
    }
    let config = match Config::from_env(&env) {
        Ok(c) => c,
        Err(errors) => return config_failure(&errors),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let config_check_only = matches!(cli.command, Some(Command::Config { .. }));
    // Trace export runs on the runtime; `config check` exports nothing.
    let observability = {
        let _entered = runtime.enter();
        if config_check_only {
            Observability::init(config.log_format, &ObservabilityConfig::default())
        } else {
            Observability::init(config.log_format, &config.observability)
        }
    };
    if !config_check_only {
        // Deprecations: exactly one WARN each per process.
        for warning in &config.warnings {
            tracing::warn!("{warning}");
        }
    }
    let result = runtime.block_on(async move {
        match cli.command.unwrap_or(Command::Serve(ServeArgs {
            role: Role::All,
            bind: None,
        })) {
            Command::Serve(args) => serve(config, &env, args).await,
            Command::Migrate => {
                lettuce_bootstrap::migrate(&config).await?;
                println!("migrations applied");
                Ok(())
            }
            Command::Config {
                command: ConfigCommand::Check,
            } => config_check(&config).await,
            Command::Telemetry { command } => telemetry::run(&config, command).await,
            Command::Keys {
                command: KeysCommand::Rotate,
            } => keys::rotate(&config).await,
            Command::Mcp(_) => mcp_as_user(config, &env).await,
            Command::Index(_) | Command::Eval(_) => unreachable!("handled before the server configuration"),
        }
    });
    // Spans still buffered go out while the runtime still runs.
    observability.shutdown();
    // A blocking task (a git fetch stuck on a silent server) must not keep the
    // process alive after shutdown: its job was already released.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs a local command on its own runtime with local configuration.
fn run_local<F, Fut>(env: &EnvMap, f: F) -> ExitCode
where
    F: FnOnce(lettuce_bootstrap::local::LocalConfig) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let config = match lettuce_bootstrap::local::LocalConfig::from_env(env) {
        Ok(c) => c,
        Err(errors) => return config_failure(&errors),
    };
    let _logs = Observability::init(LogFormat::Pretty, &ObservabilityConfig::default());
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(f(config));
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `lettuce mcp` without `--repo`: the account of LETTUCE_API_KEY, over stdio.
async fn mcp_as_user(config: Config, env: &EnvMap) -> anyhow::Result<()> {
    let key = env.get("LETTUCE_API_KEY").context(
        "LETTUCE_API_KEY is not set: create an API key (POST /v1/api-keys) and export it, or use `lettuce mcp --repo PATH` for a local directory",
    )?;
    let rt = lettuce_bootstrap::wire(&config).await?;
    let caller = rt
        .engine
        .authenticate(&lettuce_domain::Secret::new(key))
        .await
        .map_err(|e| anyhow::anyhow!("LETTUCE_API_KEY: {e}"))?;
    caller.user().map_err(|e| anyhow::anyhow!("LETTUCE_API_KEY: {e}"))?;
    let result = lettuce_mcp::serve_stdio(lettuce_mcp::LettuceTools::for_caller(rt.engine.clone(), caller)).await;
    if let Err(e) = rt.engine.flush_usage().await {
        tracing::warn!(error = %e, "could not record usage at exit");
    }
    result.context("MCP over stdio")
}

fn config_failure(errors: &ConfigErrors) -> ExitCode {
    eprint!("{errors}");
    ExitCode::from(2)
}

/// Prints the configuration, then every secret-bearing variable with where
/// it comes from (read through the configured store; values redacted).
/// Fails when the secret store cannot be read.
async fn config_check(config: &Config) -> anyhow::Result<()> {
    use std::io::Write;
    let secrets = lettuce_bootstrap::secret_report(config).await?;
    let mut out = std::io::stdout().lock();
    let mut lines = vec!["configuration is valid".to_owned()];
    for (var, value) in config.describe() {
        lines.push(format!("  {var:<34} {value}"));
    }
    lines.push(format!(
        "  {:<34} {}",
        "(adapters in this build)",
        lettuce_bootstrap::enabled_features().join(", ")
    ));
    lines.push(format!(
        "secrets (source; values redacted), from {}:",
        config.secrets.location()
    ));
    for (var, shown) in secrets {
        lines.push(format!("  {var:<34} {shown}"));
    }
    for warning in &config.warnings {
        lines.push(format!("warning: {warning}"));
    }
    for line in lines {
        // A closed pipe (`| head`) is not an error worth a panic.
        if writeln!(out, "{line}").is_err() {
            break;
        }
    }
    Ok(())
}

async fn serve(config: Config, env: &EnvMap, args: ServeArgs) -> anyhow::Result<()> {
    let config = match args.bind {
        Some(b) => config.with_bind(b),
        None => config,
    };
    let rt = lettuce_bootstrap::wire(&config).await?;
    let cancel = CancellationToken::new();
    tokio::spawn(shutdown_on_signal(cancel.clone()));

    let mut tasks = tokio::task::JoinSet::new();
    // License: verified at boot (state and reason logged) and every hour; each
    // process keeps its own view, so every role runs this.
    // Telemetry: every process records that the instance is up (uptime) and
    // enqueues the hourly heartbeat job (one per hour across processes).
    rt.engine.refresh_license().await;
    rt.engine.log_telemetry_state().await;
    telemetry::tick(&rt.engine).await;
    {
        let engine = rt.engine.clone();
        let c = cancel.clone();
        tasks.spawn(async move {
            let mut every = tokio::time::interval(LICENSE_REFRESH);
            every.tick().await;
            loop {
                tokio::select! {
                    _ = c.cancelled() => return Ok(()),
                    _ = every.tick() => {
                        engine.refresh_license().await;
                        telemetry::tick(&engine).await;
                    }
                }
            }
        });
    }
    // Webhook check: every process enqueues the interval's check job (one
    // per interval across processes); a worker runs it.
    {
        let engine = rt.engine.clone();
        let c = cancel.clone();
        let interval = config.code_hosts.freshness.check_interval;
        tasks.spawn(async move {
            let mut every = tokio::time::interval(interval);
            loop {
                tokio::select! {
                    _ = c.cancelled() => return Ok(()),
                    _ = every.tick() => {
                        if let Err(e) = engine.freshness_tick().await {
                            tracing::warn!(error = %e, "could not schedule the webhook check; retrying next interval");
                        }
                    }
                }
            }
        });
    }
    // Metrics: one recorder per process; `/metrics` on the main port, or on
    // LETTUCE_METRICS_BIND with the probes when that is set.
    let render = lettuce_bootstrap::install_metrics();
    metrics::counter!("lettuce_process_starts_total", "role" => format!("{:?}", args.role).to_ascii_lowercase())
        .increment(1);
    let main_metrics = config.observability.metrics_bind.is_none().then(|| render.clone());
    let state = {
        let s = lettuce_http::AppState::new(rt.engine.clone());
        match &main_metrics {
            Some(r) => s.with_metrics(r.clone()),
            None => s,
        }
    };
    if let Some(bind) = config.observability.metrics_bind {
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .with_context(|| format!("cannot listen on {bind} (LETTUCE_METRICS_BIND)"))?;
        let app = lettuce_http::probe_router(state.clone().with_metrics(render.clone()));
        let c = cancel.clone();
        tasks.spawn(async move {
            lettuce_http::serve_router(listener, app, c.cancelled_owned())
                .await
                .context("metrics server failed")
        });
        tracing::info!(%bind, "serving /metrics, /healthz and /readyz on LETTUCE_METRICS_BIND");
    }
    {
        // Histograms are folded into their buckets here even when nobody scrapes.
        let render = render.clone();
        let c = cancel.clone();
        tasks.spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(10));
            loop {
                tokio::select! {
                    _ = c.cancelled() => return Ok(()),
                    _ = every.tick() => { let _ = render(); }
                }
            }
        });
    }
    if args.role == Role::Worker {
        // A worker serves no API, but Kubernetes probes every role. A worker
        // beside an API process on one machine (same LETTUCE_BIND) keeps
        // working without its probes rather than failing to start.
        match tokio::net::TcpListener::bind(config.bind).await {
            Ok(listener) => {
                let addr = listener.local_addr()?;
                let app = lettuce_http::probe_router(state);
                let c = cancel.clone();
                tasks.spawn(async move {
                    lettuce_http::serve_router(listener, app, c.cancelled_owned())
                        .await
                        .context("probe server failed")
                });
                tracing::info!(%addr, "worker probes on /healthz, /readyz and /metrics");
            }
            Err(e) => tracing::warn!(
                bind = %config.bind,
                error = %e,
                "the worker serves no probes: its address is taken (give the worker its own --bind or LETTUCE_BIND)"
            ),
        }
    } else {
        let listener = tokio::net::TcpListener::bind(config.bind)
            .await
            .with_context(|| format!("cannot listen on {} (set LETTUCE_BIND or --bind)", config.bind))?;
        let addr = listener.local_addr()?;
        let mcp = lettuce_mcp::http_router(
            rt.engine.clone(),
            lettuce_mcp::HttpOptions::for_urls([config.mcp_url.as_str(), config.web_url.as_str()], cancel.clone()),
        );
        let web = lettuce_web::router(lettuce_web::WebState::new(
            rt.engine.clone(),
            lettuce_web::WebOptions {
                config: lettuce_web::WebConfig::from_settings(&mut lettuce_ports::config::Settings::new(env)),
                web_url: config.web_url.clone(),
                mcp_url: config.mcp_url.clone(),
                admin_token_location: rt.admin_token_source.to_string(),
            },
        ));
        let app = lettuce_http::router_with(state, mcp.merge(web));
        let c = cancel.clone();
        tasks.spawn(async move {
            lettuce_http::serve_router(listener, app, c.cancelled_owned())
                .await
                .context("HTTP server failed")
        });
        print_banner(&config, &rt, addr);
    }
    if args.role != Role::Api {
        let worker = lettuce_engine::Worker::with_settings(rt.engine.clone(), rt.worker.clone());
        let c = cancel.clone();
        tasks.spawn(async move {
            worker.run(c).await;
            Ok(())
        });
    }
    tracing::info!(role = ?args.role, "lettuce is running; stop with Ctrl-C or SIGTERM");
    let mut result = Ok(());
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                result = Err(e);
                cancel.cancel();
            }
            Err(e) => {
                result = Err(anyhow::anyhow!("a server task panicked: {e}"));
                cancel.cancel();
            }
        }
    }
    if let Err(e) = rt.engine.flush_usage().await {
        tracing::warn!(error = %e, "could not record the last usage counters");
    }
    tracing::info!("lettuce stopped");
    result
}

mod eval;
mod keys;
mod local;
mod telemetry;

/// How often the license is re-verified (and the telemetry tick runs).
const LICENSE_REFRESH: std::time::Duration = std::time::Duration::from_secs(3600);

fn print_banner(config: &Config, rt: &lettuce_bootstrap::Runtime, addr: SocketAddr) {
    let url = format!("http://{addr}");
    let token_cmd = match &rt.admin_token_source {
        lettuce_bootstrap::SecretSource::File(p) => format!("$(cat {})", p.display()),
        lettuce_bootstrap::SecretSource::Store { backend: "env", .. } | lettuce_bootstrap::SecretSource::Env(_) => {
            "$CODEWAZE_ADMIN_TOKEN".to_owned()
        }
        lettuce_bootstrap::SecretSource::Store { backend, .. } => {
            format!("<CODEWAZE_ADMIN_TOKEN from the {backend} secret store>")
        }
        _ => "<CODEWAZE_ADMIN_TOKEN>".to_owned(),
    };
    eprintln!();
    eprintln!("  Lettuce {} is listening on {url}", env!("CARGO_PKG_VERSION"));
    eprintln!("  Public URL (LETTUCE_WEB_URL): {}", config.web_url);
    eprintln!("  Admin token: {}", rt.admin_token_source);
    eprintln!();
    eprintln!(
        "  Open {} in a browser to create the first user (the web app asks for the admin token),",
        config.web_url
    );
    eprintln!("  or with curl:");
    eprintln!("    curl -s -X POST {url}/api/admin/invites -H \"Authorization: Bearer {token_cmd}\"");
    eprintln!("    curl -s -X POST {url}/v1/auth/signup -H 'Content-Type: application/json' \\");
    eprintln!("      -d '{{\"invite_code\":\"<code>\",\"email\":\"you@example.com\",\"password\":\"<10+ chars>\"}}'");
    eprintln!();
}

async fn shutdown_on_signal(cancel: CancellationToken) {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("SIGINT received; shutting down"),
        () = term => tracing::info!("SIGTERM received; shutting down"),
    }
    cancel.cancel();
}
