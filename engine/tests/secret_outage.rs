//! The admin token read through the secret store: rotation in the store
//! takes effect, an outage fails only admin-token requests (with
//! `secret_store_unavailable`, 503) and recovers by itself.

use lettuce_domain::Secret;
use lettuce_engine::{Engine, EngineSettings, ErrorKind, SignupRequest};
use lettuce_ports::license::LicenseStatus;
use lettuce_ports::secrets::SecretHandle;
use lettuce_ports::testing::auth::FakeAuth;
use lettuce_ports::testing::blob::MemoryBlobStore;
use lettuce_ports::testing::git::MemoryGitMirror;
use lettuce_ports::testing::index::MemoryIndexer;
use lettuce_ports::testing::license::FakeLicenseOracle;
use lettuce_ports::testing::queue::MemoryQueue;
use lettuce_ports::testing::secrets::MemorySecretStore;
use lettuce_ports::testing::store::MemoryStore;
use std::sync::Arc;
use std::time::Duration;

const ADMIN: &str = "admin-token-from-the-store-0123";
const ROTATED: &str = "rotated-admin-token-in-the-store-4567";

fn engine(store: Arc<MemorySecretStore>) -> Engine {
    let auth = Arc::new(FakeAuth::new());
    let mut settings = EngineSettings::new(Secret::new(ADMIN), [5u8; 32]);
    settings.admin_token_handle =
        Some(SecretHandle::new(store.clone(), "CODEWAZE_ADMIN_TOKEN").with_ttl(Duration::ZERO));
    Engine::builder()
        .store(Arc::new(MemoryStore::new()))
        .queue(Arc::new(MemoryQueue::new()))
        .blobs(Arc::new(MemoryBlobStore::new()))
        .secrets(store)
        .session_verifier(auth.clone())
        .sessions(auth.clone())
        .passwords(auth)
        .mirror(Arc::new(MemoryGitMirror::new(false)))
        .indexer(Arc::new(MemoryIndexer::new()))
        .license(Arc::new(FakeLicenseOracle::with_status(LicenseStatus::ungated())))
        .settings(settings)
        .build()
        .unwrap()
}

#[tokio::test]
async fn outage_fails_only_requests_that_need_a_fresh_secret_and_recovers() {
    let store = Arc::new(MemorySecretStore::new().with("CODEWAZE_ADMIN_TOKEN", ADMIN));
    let e = engine(store.clone());
    let admin = e.authenticate(&Secret::new(ADMIN)).await.unwrap();
    let code = e.create_admin_invite(&admin, Default::default()).await.unwrap().code;
    let session = e
        .signup(SignupRequest {
            invite_code: code,
            email: "owner@example.com".into(),
            password: Secret::new("a long password"),
        })
        .await
        .unwrap()
        .token
        .token;

    store.set_unavailable(true);
    // A session token needs no secret: it keeps working.
    let user = e.authenticate(&session).await.unwrap();
    e.account(&user).await.unwrap();
    // The admin token needs a fresh read: 503 secret_store_unavailable.
    let err = e.authenticate(&Secret::new(ADMIN)).await.unwrap_err();
    assert_eq!(
        (err.code(), err.kind()),
        ("secret_store_unavailable", ErrorKind::Unavailable)
    );
    assert!(err.to_string().contains("CODEWAZE_ADMIN_TOKEN"), "{err}");
    assert!(!err.to_string().contains(ADMIN));

    // Back: recovers by itself; a rotation in the store takes effect.
    store.set_unavailable(false);
    assert!(e.authenticate(&Secret::new(ADMIN)).await.is_ok());
    store.insert("CODEWAZE_ADMIN_TOKEN", ROTATED);
    assert!(e.authenticate(&Secret::new(ROTATED)).await.is_ok());
    assert_eq!(
        e.authenticate(&Secret::new(ADMIN)).await.unwrap_err().code(),
        "unauthenticated",
        "the old admin token stops working after a rotation in the store"
    );
    // Removed from the store: refused, not a fallback to the start-up value.
    store.remove("CODEWAZE_ADMIN_TOKEN");
    assert!(e.authenticate(&Secret::new(ADMIN)).await.is_err());
}
