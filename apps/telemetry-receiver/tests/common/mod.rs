//! Starting a receiver in-process on 127.0.0.1 and signing licenses with
//! the development key.
#![allow(dead_code)]

use lettuce_domain::Secret;
use lettuce_ports::clock::SystemClock;
use lettuce_telemetry_receiver::{ReceiverState, ReceiverStore, RunningReceiver};
use serde_json::json;
use std::path::Path;
use std::sync::Arc;

/// A running receiver.
pub struct Receiver {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Its storage (for direct assertions).
    pub store: ReceiverStore,
    running: RunningReceiver,
}

impl Receiver {
    /// Starts a receiver on `database_url` (migrated), with an optional token,
    /// verifying licenses with the compiled-in development key.
    pub async fn start(database_url: &str, token: Option<&str>) -> Receiver {
        let store = ReceiverStore::connect(database_url).await.expect("connect");
        store.migrate().await.expect("migrate");
        let (license_keys, _) =
            lettuce_license_ed25519::resolve_public_keys(None, Path::new("/nonexistent/public.pem"))
                .expect("compiled-in dev key");
        let state = Arc::new(ReceiverState {
            store: store.clone(),
            token: token.map(Secret::new),
            license_keys,
            clock: Arc::new(SystemClock),
        });
        let running = RunningReceiver::start(([127, 0, 0, 1], 0).into(), state)
            .await
            .expect("start");
        Receiver {
            base: running.base_url(),
            store,
            running,
        }
    }

    /// Starts one on a fresh SQLite file in `dir`.
    pub async fn sqlite(dir: &Path, token: Option<&str>) -> Receiver {
        Self::start(&lettuce_store_sea_orm::sqlite_url(&dir.join("receiver.db")), token).await
    }

    /// Stops it.
    pub async fn stop(self) {
        self.running.stop().await.expect("serve");
    }
}

/// A license signed with the development key (whose public half is
/// compiled in), or with another key when `forged`.
pub fn license_token(sub: &str, expires_in_days: i64, forged: bool) -> String {
    use lettuce_license_ed25519::testing::{claims, sign_dev_license, sign_forged_license};
    let claims = claims(sub, expires_in_days);
    if forged {
        sign_forged_license(&claims)
    } else {
        sign_dev_license(&claims)
    }
}

/// A valid heartbeat body.
pub fn ping(instance_id: &str, license_id: Option<&str>) -> serde_json::Value {
    json!({
        "instance_id": instance_id, "license_id": license_id, "version": "1.4.2",
        "repo_count": 47, "user_count": 12, "seat_count": if license_id.is_some() { json!(25) } else { json!(null) },
        "tokens_saved_24h": 184293, "uptime_hours": 412
    })
}
