//! `lettuce keys rotate`: re-seal every stored credential under the current
//! `LETTUCE_DATA_KEY` (see docs/secrets.md#rotating-the-data-key).

use indicatif::{ProgressBar, ProgressStyle};
use lettuce_bootstrap::Config;

/// Runs the rotation with a progress bar on stderr and a summary on stdout.
/// Fails (non-zero exit) when some value could not be opened with either key.
pub async fn rotate(config: &Config) -> anyhow::Result<()> {
    let rt = lettuce_bootstrap::wire(config).await?;
    let engine = &rt.engine;
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("re-sealing [{bar:40}] {pos}/{len} sealed values ({per_sec}, eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    eprintln!(
        "rotating stored credentials to data key {} (LETTUCE_DATA_KEY, from {})",
        engine.data_key_id(),
        rt.data_key_source
    );
    let report = engine
        .rotate_data_key(|p| {
            bar.set_length(p.total);
            bar.set_position(p.done);
        })
        .await;
    bar.finish_and_clear();
    let report = report?;
    if let Some(after) = &report.resumed_after {
        println!("resumed an interrupted rotation after {after}");
    }
    println!(
        "re-sealed {}, already current {}, changed meanwhile {}, failed {} (data key {})",
        report.resealed,
        report.already_current,
        report.changed_meanwhile,
        report.failed.len(),
        report.key_id
    );
    for (at, why) in &report.failed {
        eprintln!("  cannot re-seal {at}: {why}");
    }
    anyhow::ensure!(
        report.failed.is_empty(),
        "{} stored value(s) could not be opened with LETTUCE_DATA_KEY or LETTUCE_DATA_KEY_PREVIOUS; set LETTUCE_DATA_KEY_PREVIOUS to the key that sealed them and run `lettuce keys rotate` again",
        report.failed.len()
    );
    Ok(())
}
