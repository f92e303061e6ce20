//! `lettuce telemetry preview|send` and the serve loop's hourly tick.

use crate::TelemetryCommand;
use anyhow::Context;
use lettuce_bootstrap::Config;
use lettuce_engine::{Engine, TelemetryStatus};

/// Runs a `lettuce telemetry …` command.
pub(crate) async fn run(config: &Config, command: TelemetryCommand) -> anyhow::Result<()> {
    let rt = lettuce_bootstrap::wire(config).await?;
    let engine = &rt.engine;
    // The license as the server sees it (including a key uploaded through
    // the admin API): license_id and seat_count come from it.
    engine.refresh_license().await;
    match command {
        TelemetryCommand::Preview => {
            let preview = engine.telemetry_preview().await.context("building the heartbeat")?;
            println!("{}", preview.heartbeat.to_pretty_json());
            describe(&preview.status);
            Ok(())
        }
        TelemetryCommand::Send(args) => {
            let preview = engine.telemetry_preview().await.context("building the heartbeat")?;
            let status = &preview.status;
            if status.endpoint.is_none() {
                anyhow::bail!("{}", status.reason);
            }
            if !status.sending && !args.force {
                anyhow::bail!("nothing sent: {} (use --force to send one anyway)", status.reason);
            }
            if let Some(c) = status.decision.contradiction() {
                eprintln!("note: {c}");
            }
            let endpoint = status.endpoint.clone().unwrap_or_default();
            eprintln!("sending to {endpoint}:");
            println!("{}", preview.heartbeat.to_pretty_json());
            match engine.send_heartbeat(args.attempts).await? {
                Ok(receipt) => {
                    eprintln!(
                        "verified: receipt {} (stored by the receiver at {}, verified at {})",
                        receipt.receipt_id,
                        receipt.received_at.to_rfc3339(),
                        receipt.verified_at.to_rfc3339()
                    );
                    Ok(())
                }
                Err(e) => Err(anyhow::anyhow!("the heartbeat was not verified ({}): {e}", e.kind())),
            }
        }
    }
}

/// The state lines `preview` prints on stderr.
fn describe(status: &TelemetryStatus) {
    eprintln!(
        "would send: {} — {}",
        if status.sending { "yes" } else { "no" },
        status.reason
    );
    eprintln!(
        "license allows opting out: {}",
        if status.opt_out_allowed { "yes" } else { "no" }
    );
    eprintln!("instance id: {}", status.instance_id);
    if let Some(endpoint) = &status.endpoint {
        eprintln!("endpoint: {endpoint}");
    }
    eprintln!("schedule: checked hourly by a worker; sent once a day (retried hourly until a receipt is verified)");
    match &status.last_receipt {
        Some(r) => eprintln!(
            "last verified receipt: {} at {} ({})",
            r.receipt_id,
            r.verified_at.to_rfc3339(),
            r.endpoint
        ),
        None => eprintln!("last verified receipt: none yet"),
    }
    if let Some(f) = &status.last_failure {
        eprintln!("last failure: {} at {}: {}", f.kind, f.at.to_rfc3339(), f.message);
    }
    if let Some(days) = status.receipt_overdue_days {
        eprintln!("warning: no telemetry receipt verified in {days} days");
    }
}

/// The hourly telemetry tick; failures are logged, never fatal.
pub(crate) async fn tick(engine: &Engine) {
    if let Err(e) = engine.telemetry_tick().await {
        tracing::warn!(error = %e, "telemetry tick failed; retrying next hour");
    }
}
