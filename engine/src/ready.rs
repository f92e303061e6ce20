//! Readiness: can this process serve requests?

use crate::builder::Engine;

/// One readiness check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadyCheck {
    /// `metadata_store`, `blob_store`, `job_queue`.
    pub name: &'static str,
    /// `None` when healthy, else what failed.
    pub error: Option<String>,
}

/// All readiness checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadyReport {
    /// The checks, in a fixed order.
    pub checks: Vec<ReadyCheck>,
}

impl ReadyReport {
    /// True when every check passed.
    pub fn is_ready(&self) -> bool {
        self.checks.iter().all(|c| c.error.is_none())
    }
}

impl Engine {
    /// Pings the metadata store, the blob store and the job queue
    /// (concurrently, each bounded to 5 s).
    pub async fn readiness(&self) -> ReadyReport {
        let limit = std::time::Duration::from_secs(5);
        let store = tokio::time::timeout(limit, self.inner.store.ping());
        let blobs = tokio::time::timeout(limit, self.inner.blobs.ping());
        let queue = tokio::time::timeout(limit, self.inner.queue.stats());
        let (s, b, q) = tokio::join!(store, blobs, queue);
        let to_err = |r: Result<Result<(), String>, _>| match r {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e),
            Err(_) => Some("timed out after 5 s".to_owned()),
        };
        ReadyReport {
            checks: vec![
                ReadyCheck {
                    name: "metadata_store",
                    error: to_err(s.map(|r| r.map_err(|e| e.to_string()))),
                },
                ReadyCheck {
                    name: "blob_store",
                    error: to_err(b.map(|r| r.map_err(|e| e.to_string()))),
                },
                ReadyCheck {
                    name: "job_queue",
                    error: to_err(q.map(|r| r.map(|_| ()).map_err(|e| e.to_string()))),
                },
            ],
        }
    }
}
