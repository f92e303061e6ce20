//! Data-key rotation over the in-memory store: key ids in sealed values,
//! reading with the previous key, re-sealing (idempotent, resumable), and
//! clear errors for a missing key.

use aes_gcm::aead::{Aead, KeyInit};
use base64::Engine as _;
use lettuce_domain::Secret;
use lettuce_domain::repo::RepoStatus;
use lettuce_engine::{AddRepoRequest, Engine, EngineSettings, Worker, key_id};
use lettuce_ports::license::LicenseStatus;
use lettuce_ports::store::MetadataStore;
use lettuce_ports::testing::auth::FakeAuth;
use lettuce_ports::testing::blob::MemoryBlobStore;
use lettuce_ports::testing::git::MemoryGitMirror;
use lettuce_ports::testing::index::MemoryIndexer;
use lettuce_ports::testing::license::FakeLicenseOracle;
use lettuce_ports::testing::queue::MemoryQueue;
use lettuce_ports::testing::secrets::MemorySecretStore;
use lettuce_ports::testing::store::MemoryStore;
use std::sync::Arc;

const ADMIN: &str = "admin-token-for-tests-0123456789";
const OLD: [u8; 32] = [1; 32];
const NEW: [u8; 32] = [2; 32];

struct Shared {
    store: Arc<MemoryStore>,
    mirror: Arc<MemoryGitMirror>,
    queue: Arc<MemoryQueue>,
    auth: Arc<FakeAuth>,
}

impl Shared {
    fn new() -> Self {
        Self {
            store: Arc::new(MemoryStore::new()),
            mirror: Arc::new(MemoryGitMirror::new(false)),
            queue: Arc::new(MemoryQueue::new()),
            auth: Arc::new(FakeAuth::new()),
        }
    }

    /// An engine (a process) over the shared store with these data keys.
    fn engine(&self, current: [u8; 32], previous: &[[u8; 32]]) -> Engine {
        let mut settings = EngineSettings::new(Secret::new(ADMIN), current);
        settings.previous_data_keys = previous.to_vec();
        Engine::builder()
            .store(self.store.clone())
            .queue(self.queue.clone())
            .blobs(Arc::new(MemoryBlobStore::new()))
            .secrets(Arc::new(MemorySecretStore::new()))
            .session_verifier(self.auth.clone())
            .sessions(self.auth.clone())
            .passwords(self.auth.clone())
            .mirror(self.mirror.clone())
            .indexer(Arc::new(MemoryIndexer::new()))
            .license(Arc::new(FakeLicenseOracle::with_status(LicenseStatus::ungated())))
            .settings(settings)
            .build()
            .unwrap()
    }
}

async fn sealed_values(store: &MemoryStore) -> Vec<String> {
    store
        .list_sealed(None, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.sealed)
        .collect()
}

/// A legacy `v1.` value (before key ids), as earlier versions wrote it.
fn seal_v1(key: &[u8; 32], plaintext: &[u8]) -> String {
    let cipher = aes_gcm::Aes256Gcm::new_from_slice(key).unwrap();
    let nonce = [7u8; 12];
    let mut out = nonce.to_vec();
    out.extend(cipher.encrypt(&nonce.into(), plaintext).unwrap());
    format!("v1.{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(out))
}

async fn add_repo(
    engine: &Engine,
    shared: &Shared,
    url_with_creds: &str,
    plain_url: &str,
) -> lettuce_domain::repo::Repo {
    shared
        .mirror
        .add_remote(plain_url, "main", vec![("a.txt".into(), b"a".to_vec())]);
    let admin = engine.authenticate(&Secret::new(ADMIN)).await.unwrap();
    let code = engine
        .create_admin_invite(&admin, Default::default())
        .await
        .unwrap()
        .code;
    let signup = engine
        .signup(lettuce_engine::SignupRequest {
            invite_code: code,
            email: format!("u{}@example.com", uuid::Uuid::new_v4().simple()),
            password: Secret::new("a long password"),
        })
        .await
        .unwrap();
    let user = engine.authenticate(&signup.token.token).await.unwrap();
    engine
        .add_repo(
            &user,
            AddRepoRequest {
                url: url_with_creds.into(),
                branch: None,
            },
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn rotation_reseals_everything_under_the_new_key_and_is_idempotent() {
    let shared = Shared::new();
    let old = shared.engine(OLD, &[]);
    let repo = add_repo(
        &old,
        &shared,
        "https://x-access-token:ghp_ROTATE_ME@github.com/acme/a.git",
        "https://github.com/acme/a.git",
    )
    .await;
    let sealed = repo.sealed_credentials.clone().unwrap();
    assert!(
        sealed.starts_with(&format!("v2.{}.", key_id(&OLD))),
        "key id recorded: {sealed}"
    );
    // A legacy v1 value from before key ids.
    let mut legacy = repo.clone();
    legacy.id = lettuce_domain::RepoId(uuid::Uuid::now_v7());
    legacy.url = "https://github.com/acme/legacy.git".into();
    legacy.sealed_credentials = Some(seal_v1(&OLD, b"x-access-token\nghp_LEGACY"));
    shared.store.create_repo(&legacy).await.unwrap();

    // New processes: the new key, the old one as previous.
    let rotating = shared.engine(NEW, &[OLD]);
    let mut seen = Vec::new();
    let report = rotating.rotate_data_key(|p| seen.push(p)).await.unwrap();
    assert_eq!(
        (report.resealed, report.already_current, report.failed.len()),
        (2, 0, 0),
        "{report:?}"
    );
    assert_eq!(report.key_id, key_id(&NEW));
    assert_eq!(seen.last().map(|p| (p.done, p.total)), Some((2, 2)));
    for v in sealed_values(&shared.store).await {
        assert!(v.starts_with(&format!("v2.{}.", key_id(&NEW))), "{v}");
    }
    // Idempotent: a second run changes nothing.
    let again = rotating.rotate_data_key(|_| {}).await.unwrap();
    assert_eq!((again.resealed, again.already_current), (0, 2), "{again:?}");

    // Without the previous key, everything still opens: the clone uses the
    // re-sealed credentials.
    let after = shared.engine(NEW, &[]);
    Worker::new(after.clone()).run_until_idle().await.unwrap();
    let req = shared.mirror.sync_requests().pop().unwrap();
    assert_eq!(req.url.credentials().unwrap().password.expose(), "ghp_ROTATE_ME");
    let stored = shared.store.get_repo_unscoped(repo.id).await.unwrap();
    assert_eq!(stored.status, RepoStatus::Ready, "{:?}", stored.error);
}

#[tokio::test]
async fn a_missing_key_is_a_clear_error_naming_the_variables() {
    let shared = Shared::new();
    let old = shared.engine(OLD, &[]);
    add_repo(
        &old,
        &shared,
        "https://x-access-token:ghp_UNREADABLE@github.com/acme/b.git",
        "https://github.com/acme/b.git",
    )
    .await;
    // Rotated to NEW without setting LETTUCE_DATA_KEY_PREVIOUS.
    let forgot = shared.engine(NEW, &[]);
    let report = forgot.rotate_data_key(|_| {}).await.unwrap();
    assert_eq!(report.failed.len(), 1, "{report:?}");
    let why = &report.failed[0].1;
    assert!(
        why.contains(&key_id(&OLD)) && why.contains("LETTUCE_DATA_KEY_PREVIOUS"),
        "{why}"
    );
    assert!(!why.contains("ghp_UNREADABLE"));
    // The value is left as it was: set the previous key and run again.
    let fixed = shared.engine(NEW, &[OLD]).rotate_data_key(|_| {}).await.unwrap();
    assert_eq!((fixed.resealed, fixed.failed.len()), (1, 0));

    // The clone of a value no key opens fails with that message, not garbage.
    let shared2 = Shared::new();
    let e1 = shared2.engine(OLD, &[]);
    let repo = add_repo(
        &e1,
        &shared2,
        "https://x-access-token:ghp_GONE@github.com/acme/c.git",
        "https://github.com/acme/c.git",
    )
    .await;
    Worker::new(shared2.engine(NEW, &[])).run_until_idle().await.unwrap();
    let failed = shared2.store.get_repo_unscoped(repo.id).await.unwrap();
    assert!(
        shared2.mirror.sync_requests().is_empty(),
        "no clone with undecryptable credentials"
    );
    let _ = failed;
}

#[tokio::test]
async fn an_interrupted_rotation_resumes_after_its_cursor() {
    let shared = Shared::new();
    let old = shared.engine(OLD, &[]);
    for name in ["d", "e", "f"] {
        add_repo(
            &old,
            &shared,
            &format!("https://x-access-token:ghp_{name}@github.com/acme/{name}.git"),
            &format!("https://github.com/acme/{name}.git"),
        )
        .await;
    }
    let all = shared.store.list_sealed(None, 10).await.unwrap();
    assert_eq!(all.len(), 3);
    // An earlier run for the same key stopped after the first value.
    let cursor = serde_json::json!({"key_id": key_id(&NEW), "column": all[0].at.column, "row": all[0].at.row});
    shared
        .store
        .put_setting("keys.rotate.cursor", &cursor.to_string())
        .await
        .unwrap();
    let rotating = shared.engine(NEW, &[OLD]);
    let report = rotating.rotate_data_key(|_| {}).await.unwrap();
    assert!(report.resumed_after.is_some(), "{report:?}");
    assert_eq!(report.resealed, 2, "only the values after the cursor: {report:?}");
    // The finished run cleared the cursor: the next run sees everything and
    // re-seals the one value the "interrupted" run never reached.
    let rest = rotating.rotate_data_key(|_| {}).await.unwrap();
    assert_eq!((rest.resealed, rest.already_current, rest.resumed_after), (1, 2, None));
    // A cursor of another key is ignored.
    let stale = serde_json::json!({"key_id": "0000000000000000", "column": all[2].at.column, "row": all[2].at.row});
    shared
        .store
        .put_setting("keys.rotate.cursor", &stale.to_string())
        .await
        .unwrap();
    let full = rotating.rotate_data_key(|_| {}).await.unwrap();
    assert_eq!((full.already_current, full.resumed_after), (3, None));
}
