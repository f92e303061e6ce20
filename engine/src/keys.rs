//! Data-key rotation: re-seal every stored credential under the current
//! `LETTUCE_DATA_KEY` (`lettuce keys rotate`).
//!
//! Walks `MetadataStore::list_sealed` (every table with sealed data, in a
//! stable order) in batches; values already under the current key are left
//! alone, others are opened with whichever configured key sealed them and
//! written back with `MetadataStore::reseal` (compare-and-swap, so a value
//! changed concurrently is skipped, never overwritten). Progress is kept in
//! the instance setting [`CURSOR_SETTING`] (with the current key id), so an
//! interrupted run resumes where it stopped; a finished run clears it.

use crate::builder::Engine;
use crate::crypto::DataKeys;
use crate::error::EngineError;
use lettuce_ports::store::SealedRef;
use serde::{Deserialize, Serialize};

/// Instance setting holding the position of an unfinished rotation.
pub const CURSOR_SETTING: &str = "keys.rotate.cursor";
const BATCH: usize = 200;

#[derive(Serialize, Deserialize)]
struct Cursor {
    key_id: String,
    column: String,
    row: String,
}

/// Where a rotation is, for progress bars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RotationProgress {
    /// Values looked at so far in this run (resumed runs start after the
    /// values an earlier run finished).
    pub done: u64,
    /// Sealed values in the store (an estimate: it may change meanwhile).
    pub total: u64,
}

/// What a rotation did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RotationReport {
    /// The current key id (the one everything is sealed with afterwards).
    pub key_id: String,
    /// Re-sealed under the current key.
    pub resealed: u64,
    /// Already under the current key.
    pub already_current: u64,
    /// Changed by someone else while being re-sealed (left alone; a new write
    /// is sealed with the current key anyway).
    pub changed_meanwhile: u64,
    /// Values looked at before this run resumed (from an interrupted run).
    pub resumed_after: Option<String>,
    /// Values no configured key opens: where, and why.
    pub failed: Vec<(SealedRef, String)>,
}

impl Engine {
    /// The id of the current data key.
    pub fn data_key_id(&self) -> &str {
        self.inner.keys.current_id()
    }

    /// Re-seals every stored credential under the current data key (see the
    /// module docs). Idempotent and resumable. `progress` is called after
    /// each value. Values no configured key can open are reported in
    /// [`RotationReport::failed`] and left as they are.
    pub async fn rotate_data_key(
        &self,
        mut progress: impl FnMut(RotationProgress),
    ) -> Result<RotationReport, EngineError> {
        let store = &self.inner.store;
        let keys: &DataKeys = &self.inner.keys;
        let current = keys.current_id().to_owned();
        let total = store.count_sealed().await?;
        let mut report = RotationReport {
            key_id: current.clone(),
            ..RotationReport::default()
        };
        // Resume an interrupted run for the same key.
        let mut cursor: Option<SealedRef> = match store.get_setting(CURSOR_SETTING).await? {
            Some(raw) => match serde_json::from_str::<Cursor>(&raw) {
                Ok(c) if c.key_id == current => {
                    report.resumed_after = Some(format!("{} of {}", c.column, c.row));
                    Some(SealedRef {
                        column: c.column,
                        row: c.row,
                    })
                }
                _ => None,
            },
            None => None,
        };
        let mut done = 0u64;
        loop {
            let batch = store.list_sealed(cursor.as_ref(), BATCH).await?;
            let Some(last) = batch.last() else { break };
            let last = last.at.clone();
            for v in batch {
                done += 1;
                if DataKeys::sealed_key_id(&v.sealed) == Some(current.as_str()) {
                    report.already_current += 1;
                } else {
                    match keys.open(&v.sealed) {
                        Err(why) => {
                            tracing::error!(at = %v.at, error = %why, "cannot re-seal a stored credential");
                            report.failed.push((v.at.clone(), why));
                        }
                        Ok(plain) => {
                            let new = keys.seal(&plain).map_err(EngineError::Internal)?;
                            if store.reseal(&v.at, &v.sealed, &new).await? {
                                report.resealed += 1;
                            } else {
                                report.changed_meanwhile += 1;
                            }
                        }
                    }
                }
                progress(RotationProgress {
                    done,
                    total: total.max(done),
                });
            }
            let c = Cursor {
                key_id: current.clone(),
                column: last.column.clone(),
                row: last.row.clone(),
            };
            let json = serde_json::to_string(&c).map_err(|e| EngineError::Internal(e.to_string()))?;
            store.put_setting(CURSOR_SETTING, &json).await?;
            cursor = Some(last);
        }
        // Finished: the next run starts from the beginning (and finds
        // everything current). Failures stay to be fixed and retried.
        store.put_setting(CURSOR_SETTING, "").await?;
        tracing::info!(
            key_id = %current,
            resealed = report.resealed,
            already_current = report.already_current,
            changed_meanwhile = report.changed_meanwhile,
            failed = report.failed.len(),
            "data-key rotation finished"
        );
        Ok(report)
    }
}
