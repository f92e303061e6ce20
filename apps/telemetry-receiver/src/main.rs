//! `telemetry-receiver` — the vendor-side heartbeat receiver and ops
//! dashboard. See the crate docs and docs/telemetry.md.

use anyhow::Context;
use clap::{Parser, Subcommand};
use lettuce_domain::Secret;
use lettuce_telemetry_receiver::{ReceiverState, ReceiverStore, verified_claims};
use std::io::Read;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

/// Receives Lettuce heartbeats, stores them and serves an ops dashboard.
#[derive(Debug, Parser)]
#[command(
    name = "telemetry-receiver",
    version,
    about,
    after_help = "\
Environment: DATABASE_URL (sqlite://PATH or postgres://…; default sqlite://./telemetry-receiver.db), \
TELEMETRY_RECEIVER_BIND (default 127.0.0.1:8090), TELEMETRY_RECEIVER_TOKEN (protects the dashboard and API), \
TELEMETRY_RECEIVER_LICENSE_PUBLIC_KEY (verifies registered licenses). See docs/telemetry.md."
)]
struct Cli {
    /// Database (overrides DATABASE_URL).
    #[arg(long, global = true)]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the ingest endpoints, the dashboard and the JSON API (the default).
    Serve {
        /// Listen address (overrides TELEMETRY_RECEIVER_BIND; default 127.0.0.1:8090).
        #[arg(long)]
        bind: Option<SocketAddr>,
    },
    /// Apply the receiver's migrations and exit.
    Migrate,
    /// The license registry (what "licenses expiring within 30 days" is computed from).
    Licenses {
        #[command(subcommand)]
        command: LicenseCommand,
    },
}

#[derive(Debug, Subcommand)]
enum LicenseCommand {
    /// Verify a license key (as issued by `lettuce-license issue`) and add it
    /// to the registry. TOKEN may be `-` to read standard input.
    Add {
        /// The license JWT, or `-`.
        token: String,
    },
    /// List registered licenses, soonest expiry first.
    List,
}

/// The receiver's configuration, read once from the environment and flags.
struct Config {
    database_url: String,
    bind: SocketAddr,
    token: Option<Secret>,
    license_public_key: Option<String>,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

fn normalize_database_url(url: &str) -> String {
    if url.starts_with("sqlite:") && !url.contains('?') && !url.contains(":memory:") {
        format!("{url}?mode=rwc")
    } else {
        url.to_owned()
    }
}

impl Config {
    fn load(cli: &Cli) -> Result<Self, Vec<String>> {
        let mut errs = Vec::new();
        let database_url = cli
            .database_url
            .clone()
            .or_else(|| env("DATABASE_URL"))
            .map(|u| normalize_database_url(&u))
            .unwrap_or_else(|| lettuce_store_sea_orm::sqlite_url(std::path::Path::new("telemetry-receiver.db")));
        if lettuce_store_sea_orm::backend_of_url(&database_url).is_none() {
            errs.push(
                "DATABASE_URL: unsupported scheme — fix: use sqlite://PATH or postgres://USER:PASSWORD@HOST/DB".into(),
            );
        }
        let bind_flag = match &cli.command {
            Some(Command::Serve { bind }) => *bind,
            _ => None,
        };
        let bind = match (bind_flag, env("TELEMETRY_RECEIVER_BIND")) {
            (Some(b), _) => b,
            (None, Some(raw)) => raw.parse().unwrap_or_else(|_| {
                errs.push(format!(
                    "TELEMETRY_RECEIVER_BIND: `{raw}` is not a host:port address — fix: e.g. 127.0.0.1:8090 or 0.0.0.0:8090"
                ));
                SocketAddr::from(([127, 0, 0, 1], 8090))
            }),
            (None, None) => SocketAddr::from(([127, 0, 0, 1], 8090)),
        };
        let token = env("TELEMETRY_RECEIVER_TOKEN").map(Secret::new);
        if token.as_ref().is_some_and(|t| t.expose().len() < 16) {
            errs.push(
                "TELEMETRY_RECEIVER_TOKEN: shorter than 16 characters — fix: use a long random value, e.g. `openssl rand -hex 32`"
                    .into(),
            );
        }
        if errs.is_empty() {
            Ok(Self {
                database_url,
                bind,
                token,
                license_public_key: env("TELEMETRY_RECEIVER_LICENSE_PUBLIC_KEY"),
            })
        } else {
            Err(errs)
        }
    }

    fn license_keys(&self) -> anyhow::Result<Vec<lettuce_license_ed25519::PublicKey>> {
        let (keys, source) = lettuce_license_ed25519::resolve_public_keys(
            self.license_public_key.as_deref(),
            std::path::Path::new(lettuce_license_ed25519::DEFAULT_PUBLIC_KEY_PATH),
        )
        .map_err(|e| {
            anyhow::anyhow!("TELEMETRY_RECEIVER_LICENSE_PUBLIC_KEY: {e} — fix: set it to a PEM file path or inline PEM")
        })?;
        if matches!(source, lettuce_license_ed25519::KeySource::CompiledIn) {
            tracing::warn!(
                "verifying registered licenses with the compiled-in development key; set TELEMETRY_RECEIVER_LICENSE_PUBLIC_KEY to the production public key"
            );
        }
        Ok(keys)
    }
}

async fn open_store(config: &Config) -> anyhow::Result<ReceiverStore> {
    let store = ReceiverStore::connect(&config.database_url)
        .await
        .context("opening the receiver database (DATABASE_URL)")?;
    store.migrate().await.context("applying the receiver's migrations")?;
    Ok(store)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,sea_orm=warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let config = match Config::load(&cli) {
        Ok(c) => c,
        Err(errs) => {
            eprintln!("invalid configuration:");
            for e in errs {
                eprintln!("  - {e}");
            }
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli, config: Config) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve { bind: None }) {
        Command::Serve { .. } => serve(config).await,
        Command::Migrate => {
            open_store(&config).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Licenses {
            command: LicenseCommand::Add { token },
        } => {
            let token = if token == "-" {
                let mut s = String::new();
                std::io::stdin()
                    .read_to_string(&mut s)
                    .context("reading the license from stdin")?;
                s
            } else {
                token
            };
            let keys = config.license_keys()?;
            let claims = verified_claims(token.trim(), &keys).map_err(|e| anyhow::anyhow!("{e}"))?;
            let store = open_store(&config).await?;
            let l = store.register_license(&claims, chrono::Utc::now()).await?;
            println!("registered {}", describe(&l));
            Ok(())
        }
        Command::Licenses {
            command: LicenseCommand::List,
        } => {
            let store = open_store(&config).await?;
            for l in store.licenses().await? {
                println!("{}", describe(&l));
            }
            Ok(())
        }
    }
}

/// One line about a registered license.
fn describe(l: &lettuce_telemetry_receiver::store::RegisteredLicense) -> String {
    format!(
        "{}\tcustomer {}\ttier {}\t{} seats\texpires {}",
        l.license_id,
        l.customer_id,
        l.tier,
        l.seats,
        l.expires_at.to_rfc3339()
    )
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let store = open_store(&config).await?;
    let license_keys = config.license_keys()?;
    if config.token.is_none() && !config.bind.ip().is_loopback() {
        tracing::warn!(
            bind = %config.bind,
            "the dashboard and JSON API are open to anyone who can reach this address; set TELEMETRY_RECEIVER_TOKEN"
        );
    }
    let listener = tokio::net::TcpListener::bind(config.bind).await.with_context(|| {
        format!(
            "cannot listen on {} (set TELEMETRY_RECEIVER_BIND or --bind)",
            config.bind
        )
    })?;
    let addr = listener.local_addr()?;
    let state = Arc::new(ReceiverState {
        store,
        token: config.token,
        license_keys,
        clock: Arc::new(lettuce_ports::clock::SystemClock),
    });
    tracing::info!(%addr, backend = state.store.backend(), "telemetry receiver listening: POST /v1/heartbeat, dashboard at /");
    eprintln!("telemetry receiver listening on http://{addr}");
    lettuce_telemetry_receiver::serve(listener, state, shutdown_signal())
        .await
        .context("serving")
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
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
        () = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("shutting down");
}
