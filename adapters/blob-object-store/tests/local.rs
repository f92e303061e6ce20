//! Contract and adapter-specific tests for `ObjectStoreBlobs::local`.
#![cfg(feature = "fs")]

use bytes::Bytes;
use lettuce_blob_object_store::ObjectStoreBlobs;
use lettuce_ports::blob::{BlobError, BlobStore};
use lettuce_ports::testing::blob::blob_store_contract;

#[tokio::test]
async fn local_store_meets_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let store = ObjectStoreBlobs::local(&dir.path().join("blobs")).unwrap();
    assert_eq!(store.backend(), "fs");
    blob_store_contract(&store).await;
}

#[tokio::test]
async fn local_creates_nested_root_and_pings_when_empty() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("a").join("b").join("blobs");
    let store = ObjectStoreBlobs::local(&root).unwrap();
    assert!(root.is_dir());
    store.ping().await.unwrap();
    assert!(store.list("").await.unwrap().is_empty());
    assert!(store.list("repos/").await.unwrap().is_empty());
}

#[tokio::test]
async fn ping_fails_when_the_directory_disappears() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("blobs");
    let store = ObjectStoreBlobs::local(&root).unwrap();
    std::fs::remove_dir_all(&root).unwrap();
    let err = store.ping().await.unwrap_err();
    assert!(matches!(err, BlobError::Backend { backend: "fs", .. }), "{err:?}");
}

#[tokio::test]
async fn local_keys_cannot_escape_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("inner").join("blobs");
    let store = ObjectStoreBlobs::local(&root).unwrap();
    let before = snapshot_tree(dir.path());
    for key in [
        "a/../../etc",
        "../escape",
        "..",
        "a/./b",
        "/abs",
        "a//b",
        "a/b/",
        "a\\..\\b",
        "a b",
        "ü",
    ] {
        let data = Bytes::from_static(b"x");
        assert!(
            matches!(store.put(key, data).await, Err(BlobError::InvalidKey { .. })),
            "put {key:?}"
        );
        assert!(
            matches!(store.get(key).await, Err(BlobError::InvalidKey { .. })),
            "get {key:?}"
        );
        assert!(
            matches!(store.delete(key).await, Err(BlobError::InvalidKey { .. })),
            "delete {key:?}"
        );
    }
    for prefix in ["../", "a/../", "a", "/"] {
        assert!(
            matches!(store.list(prefix).await, Err(BlobError::InvalidKey { .. })),
            "list {prefix:?}"
        );
    }
    assert_eq!(
        before,
        snapshot_tree(dir.path()),
        "nothing may be written for a refused key"
    );
}

#[tokio::test]
async fn local_files_live_under_the_root_and_listing_is_relative_and_sorted() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("blobs");
    let store = ObjectStoreBlobs::local(&root).unwrap();
    for key in [
        "repos/r2/HEAD",
        "repos/r1/manifests/c.json",
        "repos/r1/HEAD",
        "other.txt",
    ] {
        store.put(key, Bytes::from(key.as_bytes().to_vec())).await.unwrap();
    }
    assert_eq!(std::fs::read(root.join("repos/r1/HEAD")).unwrap(), b"repos/r1/HEAD");
    assert_eq!(
        store.list("").await.unwrap(),
        [
            "other.txt",
            "repos/r1/HEAD",
            "repos/r1/manifests/c.json",
            "repos/r2/HEAD"
        ]
    );
    assert_eq!(
        store.list("repos/r1/").await.unwrap(),
        ["repos/r1/HEAD", "repos/r1/manifests/c.json"]
    );
    // A prefix is a segment boundary: "repos/r" does not match "repos/r1".
    assert!(store.list("repos/r/").await.unwrap().is_empty());

    // A fresh store over the same directory sees the same data.
    let reopened = ObjectStoreBlobs::local(&root).unwrap();
    assert_eq!(
        reopened.get("other.txt").await.unwrap(),
        Bytes::from_static(b"other.txt")
    );

    // Deleting the last key of a directory cleans the directory up.
    store.delete("repos/r2/HEAD").await.unwrap();
    assert!(!root.join("repos/r2").exists());
    store.delete("repos/r2/HEAD").await.unwrap();
}

#[tokio::test]
async fn overwrite_replaces_the_whole_value_and_leaves_no_staging_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("blobs");
    let store = ObjectStoreBlobs::local(&root).unwrap();
    store.put("k/v", Bytes::from(vec![b'a'; 1 << 20])).await.unwrap();
    store.put("k/v", Bytes::from_static(b"short")).await.unwrap();
    assert_eq!(store.get("k/v").await.unwrap(), Bytes::from_static(b"short"));
    let names: Vec<_> = std::fs::read_dir(root.join("k"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["v"], "staging files must be renamed away");
}

#[tokio::test]
async fn concurrent_readers_never_see_a_torn_value() {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(ObjectStoreBlobs::local(&dir.path().join("blobs")).unwrap());
    let a = Bytes::from(vec![b'a'; 256 * 1024]);
    let b = Bytes::from(vec![b'b'; 128 * 1024]);
    store.put("x", a.clone()).await.unwrap();
    let writer = {
        let (store, a, b) = (store.clone(), a.clone(), b.clone());
        tokio::spawn(async move {
            for i in 0..20 {
                store
                    .put("x", if i % 2 == 0 { b.clone() } else { a.clone() })
                    .await
                    .unwrap();
            }
        })
    };
    for _ in 0..40 {
        let got = store.get("x").await.unwrap();
        assert!(got == a || got == b, "torn read of {} bytes", got.len());
    }
    writer.await.unwrap();
}

fn snapshot_tree(root: &std::path::Path) -> Vec<std::path::PathBuf> {
    fn walk(p: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(p).unwrap() {
            let e = e.unwrap();
            out.push(e.path());
            if e.file_type().unwrap().is_dir() {
                walk(&e.path(), out);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, &mut out);
    out.sort();
    out
}
