//! In-memory [`BlobStore`] and its contract suite.

use crate::blob::{BlobError, BlobStore, validate_key, validate_prefix};
use crate::testing::lock;
use async_trait::async_trait;
use bytes::Bytes;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// A [`BlobStore`] backed by a sorted map. `Debug` shows the keys and sizes,
/// never the contents.
#[derive(Default)]
pub struct MemoryBlobStore {
    blobs: Mutex<BTreeMap<String, Bytes>>,
}

impl std::fmt::Debug for MemoryBlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let blobs = lock(&self.blobs);
        f.debug_map()
            .entries(blobs.iter().map(|(k, v)| (k.clone(), v.len())))
            .finish()
    }
}

impl MemoryBlobStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every key, sorted (test inspection).
    pub fn keys(&self) -> Vec<String> {
        lock(&self.blobs).keys().cloned().collect()
    }

    /// Number of stored blobs.
    pub fn len(&self) -> usize {
        lock(&self.blobs).len()
    }

    /// Whether the store holds no blob.
    pub fn is_empty(&self) -> bool {
        lock(&self.blobs).is_empty()
    }
}

#[async_trait]
impl BlobStore for MemoryBlobStore {
    fn backend(&self) -> &'static str {
        "memory"
    }

    async fn put(&self, key: &str, data: Bytes) -> Result<(), BlobError> {
        validate_key(key)?;
        lock(&self.blobs).insert(key.to_owned(), data);
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Bytes, BlobError> {
        validate_key(key)?;
        lock(&self.blobs)
            .get(key)
            .cloned()
            .ok_or_else(|| BlobError::NotFound { key: key.to_owned() })
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        validate_key(key)?;
        lock(&self.blobs).remove(key);
        Ok(())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, BlobError> {
        validate_prefix(prefix)?;
        let blobs = lock(&self.blobs);
        Ok(blobs
            .range(prefix.to_owned()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, _)| k.clone())
            .collect())
    }

    async fn ping(&self) -> Result<(), BlobError> {
        Ok(())
    }
}

/// Checks the [`BlobStore`] contract. Everything happens under a fresh
/// random prefix (`contract-<uuid>/`) and is deleted at the end, so the suite
/// can run against a shared bucket.
///
/// Covers: ping; put/get roundtrip; overwrite replaces; get of a missing key
/// is `NotFound`; deleting a missing key is fine; delete then get is
/// `NotFound`; `list` is sorted, scoped to its prefix (sibling prefixes that
/// merely share characters are excluded) and includes nested keys; invalid
/// keys and prefixes are `InvalidKey`; a 1 MiB value and an empty value
/// roundtrip exactly.
///
/// # Panics
///
/// On the first broken rule, with a message naming it.
pub async fn blob_store_contract(store: &dyn BlobStore) {
    let b = store.backend();
    let root = format!("contract-{}/", uuid::Uuid::new_v4());
    let key = |k: &str| format!("{root}{k}");

    store
        .ping()
        .await
        .unwrap_or_else(|e| panic!("[{b}] ping must succeed on a reachable store: {e}"));

    // Roundtrip and overwrite.
    let k1 = key("obj/one.bin");
    store
        .put(&k1, Bytes::from_static(b"first value"))
        .await
        .unwrap_or_else(|e| panic!("[{b}] put({k1}) failed: {e}"));
    let got = store
        .get(&k1)
        .await
        .unwrap_or_else(|e| panic!("[{b}] get({k1}) after put failed: {e}"));
    assert_eq!(
        &got[..],
        b"first value",
        "[{b}] get must return exactly what put stored"
    );
    store
        .put(&k1, Bytes::from_static(b"second"))
        .await
        .unwrap_or_else(|e| panic!("[{b}] overwriting put failed: {e}"));
    let got = store
        .get(&k1)
        .await
        .unwrap_or_else(|e| panic!("[{b}] get after overwrite failed: {e}"));
    assert_eq!(
        &got[..],
        b"second",
        "[{b}] put over an existing key must replace the whole value"
    );

    // Missing keys.
    let missing = key("obj/missing.bin");
    match store.get(&missing).await {
        Err(BlobError::NotFound { .. }) => {}
        other => panic!("[{b}] get of a missing key must be BlobError::NotFound, got {other:?}"),
    }
    store
        .delete(&missing)
        .await
        .unwrap_or_else(|e| panic!("[{b}] deleting a missing key must not be an error: {e}"));
    store
        .delete(&k1)
        .await
        .unwrap_or_else(|e| panic!("[{b}] delete({k1}) failed: {e}"));
    match store.get(&k1).await {
        Err(BlobError::NotFound { .. }) => {}
        other => panic!("[{b}] get after delete must be BlobError::NotFound, got {other:?}"),
    }

    // Listing: sorted, scoped to the prefix, nested keys included.
    let listed_keys = ["list/b", "list/a", "list/nested/deep/c", "list/a-sibling-file"];
    let outside = ["list-x/not-mine", "listx", "other/z"];
    for k in listed_keys.iter().chain(outside.iter()) {
        store
            .put(&key(k), Bytes::from(k.as_bytes().to_vec()))
            .await
            .unwrap_or_else(|e| panic!("[{b}] put({k}) failed: {e}"));
    }
    let list_prefix = key("list/");
    let listed = store
        .list(&list_prefix)
        .await
        .unwrap_or_else(|e| panic!("[{b}] list({list_prefix}) failed: {e}"));
    let mut want: Vec<String> = listed_keys.iter().map(|k| key(k)).collect();
    want.sort();
    assert_eq!(
        listed, want,
        "[{b}] list(prefix) must return exactly the keys under the prefix (nested ones included, keys under \
         sibling prefixes like `list-x/` excluded), sorted"
    );
    let all = store
        .list(&root)
        .await
        .unwrap_or_else(|e| panic!("[{b}] list({root}) failed: {e}"));
    let mut want_all: Vec<String> = listed_keys.iter().chain(outside.iter()).map(|k| key(k)).collect();
    want_all.sort();
    assert_eq!(
        all, want_all,
        "[{b}] list(root prefix) must return every key under it, sorted"
    );
    let empty = store
        .list(&key("nothing-here/"))
        .await
        .unwrap_or_else(|e| panic!("[{b}] list of an empty prefix failed: {e}"));
    assert!(
        empty.is_empty(),
        "[{b}] list of a prefix with no keys must be empty, got {empty:?}"
    );

    // Invalid keys and prefixes.
    for bad in ["", "a//b", "../x", "a/./b", "sp ace", "/abs", "trailing/"] {
        match store.put(bad, Bytes::from_static(b"x")).await {
            Err(BlobError::InvalidKey { .. }) => {}
            other => panic!("[{b}] put({bad:?}) must be BlobError::InvalidKey, got {other:?}"),
        }
        match store.get(bad).await {
            Err(BlobError::InvalidKey { .. }) => {}
            other => panic!("[{b}] get({bad:?}) must be BlobError::InvalidKey, got {other:?}"),
        }
    }
    for bad in ["abc", "a//", "../", "sp ace/"] {
        match store.list(bad).await {
            Err(BlobError::InvalidKey { .. }) => {}
            other => panic!(
                "[{b}] list({bad:?}) must be BlobError::InvalidKey (a prefix is empty or a key + '/'), got {other:?}"
            ),
        }
    }

    // Large and empty values.
    let big: Vec<u8> = (0..1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let kb = key("big/one-mebibyte.bin");
    store
        .put(&kb, Bytes::from(big.clone()))
        .await
        .unwrap_or_else(|e| panic!("[{b}] put of a 1 MiB value failed: {e}"));
    let got = store
        .get(&kb)
        .await
        .unwrap_or_else(|e| panic!("[{b}] get of a 1 MiB value failed: {e}"));
    assert!(
        got.len() == big.len() && got[..] == big[..],
        "[{b}] a 1 MiB value must roundtrip byte for byte"
    );
    let ke = key("empty.bin");
    store
        .put(&ke, Bytes::new())
        .await
        .unwrap_or_else(|e| panic!("[{b}] put of an empty value failed: {e}"));
    let got = store
        .get(&ke)
        .await
        .unwrap_or_else(|e| panic!("[{b}] get of an empty value failed: {e}"));
    assert!(
        got.is_empty(),
        "[{b}] an empty value must roundtrip as empty, got {} bytes",
        got.len()
    );

    // put_file: stores a local file's contents; the file may go away after.
    let dir = tempfile::tempdir().expect("temp dir");
    let src = dir.path().join("segment.idx");
    std::fs::write(&src, b"file contents").expect("write temp file");
    let kf = key("files/segment.idx");
    store
        .put_file(&kf, &src)
        .await
        .unwrap_or_else(|e| panic!("[{b}] put_file({kf}) failed: {e}"));
    std::fs::remove_file(&src).expect("remove temp file");
    let got = store
        .get(&kf)
        .await
        .unwrap_or_else(|e| panic!("[{b}] get({kf}) after put_file failed: {e}"));
    assert_eq!(&got[..], b"file contents", "[{b}] put_file must store the file's bytes");
    if let Some(path) = store.local_path(&kf) {
        let on_disk =
            std::fs::read(&path).unwrap_or_else(|e| panic!("[{b}] local_path {} unreadable: {e}", path.display()));
        assert_eq!(
            on_disk, b"file contents",
            "[{b}] local_path must point at the stored value"
        );
    }
    assert!(
        store.local_path("../escape").is_none(),
        "[{b}] local_path must refuse invalid keys"
    );

    // Clean up.
    for k in store
        .list(&root)
        .await
        .unwrap_or_else(|e| panic!("[{b}] list for cleanup failed: {e}"))
    {
        store
            .delete(&k)
            .await
            .unwrap_or_else(|e| panic!("[{b}] delete({k}) failed: {e}"));
    }
    let left = store
        .list(&root)
        .await
        .unwrap_or_else(|e| panic!("[{b}] list after cleanup failed: {e}"));
    assert!(
        left.is_empty(),
        "[{b}] after deleting every key, list must be empty, got {left:?}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_store_passes_contract() {
        let store = MemoryBlobStore::new();
        store.put("keep/me", Bytes::from_static(b"other data")).await.unwrap();
        blob_store_contract(&store).await;
        assert_eq!(
            store.keys(),
            vec!["keep/me".to_owned()],
            "the contract cleans up after itself only"
        );
        assert_eq!(store.len(), 1);
        assert!(format!("{store:?}").contains("keep/me"));
        assert!(!format!("{store:?}").contains("other data"));
    }

    /// A store whose `list` ignores segment boundaries: the contract must notice.
    #[derive(Debug, Default)]
    struct SloppyList(MemoryBlobStore);

    #[async_trait]
    impl BlobStore for SloppyList {
        fn backend(&self) -> &'static str {
            "sloppy"
        }
        async fn put(&self, key: &str, data: Bytes) -> Result<(), BlobError> {
            self.0.put(key, data).await
        }
        async fn get(&self, key: &str) -> Result<Bytes, BlobError> {
            self.0.get(key).await
        }
        async fn delete(&self, key: &str) -> Result<(), BlobError> {
            self.0.delete(key).await
        }
        async fn list(&self, prefix: &str) -> Result<Vec<String>, BlobError> {
            validate_prefix(prefix)?;
            let p = prefix.trim_end_matches('/');
            Ok(self.0.keys().into_iter().filter(|k| k.starts_with(p)).collect())
        }
        async fn ping(&self) -> Result<(), BlobError> {
            Ok(())
        }
    }

    #[tokio::test]
    #[should_panic(expected = "sibling prefixes")]
    async fn contract_catches_unscoped_list() {
        blob_store_contract(&SloppyList::default()).await;
    }

    #[tokio::test]
    async fn list_everything() {
        let store = MemoryBlobStore::new();
        assert!(store.is_empty());
        store.put("b/x", Bytes::new()).await.unwrap();
        store.put("a", Bytes::new()).await.unwrap();
        assert_eq!(store.list("").await.unwrap(), vec!["a".to_owned(), "b/x".to_owned()]);
    }
}
