//! Contract tests for `ObjectStoreBlobs::memory`.

use lettuce_blob_object_store::ObjectStoreBlobs;
use lettuce_ports::blob::BlobStore;
use lettuce_ports::testing::blob::blob_store_contract;

#[tokio::test]
async fn memory_store_meets_the_contract() {
    let store = ObjectStoreBlobs::memory();
    assert_eq!(store.backend(), "memory");
    blob_store_contract(&store).await;
}

#[tokio::test]
async fn debug_names_the_backend() {
    let s = format!("{:?}", ObjectStoreBlobs::memory());
    assert!(s.contains("memory"), "{s}");
}
