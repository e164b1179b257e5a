//! One behaviour suite for every `BlobStore` backend.
//!
//! Each case is an async function taking a `DynStore`; the `suite!` macro runs
//! every case against the memory, file-system (direct and buffered writes)
//! and S3 backends. The S3 runs use
//! the server at `REGISTRY_TEST_S3_ENDPOINT` (e.g. `http://127.0.0.1:9000`,
//! moto) with a fresh bucket per test; without that variable they are skipped
//! locally and fail when `CI=true`.

use std::io;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::{stream, StreamExt, TryStreamExt};
use object_store::ObjectStore;
use registry::oci::{Algorithm, Digest, Hasher};
use registry::storage::{BlobStore, ByteStream, DynStore, FsStore, MemoryStore, S3Config, S3Store, StorageError};

const MIB: usize = 1 << 20;

// ---------------------------------------------------------------- helpers

/// Deterministic, non-repeating-looking test bytes.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    let mut x = u32::from(seed).wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x.to_le_bytes()[0]
        })
        .collect()
}

/// A body of `data` delivered in pieces of at most `piece` bytes.
fn body(data: &[u8], piece: usize) -> ByteStream<'static> {
    let pieces: Vec<io::Result<Bytes>> = data
        .chunks(piece.max(1))
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    stream::iter(pieces).boxed()
}

fn small_body(data: &[u8]) -> ByteStream<'static> {
    body(data, 64 * 1024)
}

async fn collect(s: ByteStream<'static>) -> Vec<u8> {
    let chunks: Vec<Bytes> = s.try_collect().await.expect("stream reads to the end");
    chunks.concat()
}

async fn read_all(store: &DynStore, digest: &Digest) -> Vec<u8> {
    collect(store.read(digest, None).await.expect("blob readable")).await
}

async fn read_range(store: &DynStore, digest: &Digest, start: u64, end: u64) -> Vec<u8> {
    collect(store.read(digest, Some(start..end)).await.expect("range readable")).await
}

async fn upload_bytes(store: &DynStore, id: &str, size: u64) -> Vec<u8> {
    collect(store.read_upload(id, size).await.expect("upload readable")).await
}

fn upload_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Creates an upload, appends `parts` one after the other and commits them.
async fn push(store: &DynStore, parts: &[&[u8]]) -> (Digest, Vec<u8>) {
    let whole = parts.concat();
    let digest = Digest::sha256_of(&whole);
    let id = upload_id();
    store.create_upload(&id).await.expect("create upload");
    let mut offset = 0u64;
    for part in parts {
        let n = store.append_upload(&id, offset, body(part, MIB)).await.expect("append");
        assert_eq!(n, part.len() as u64);
        offset += n;
    }
    store.commit_upload(&id, offset, &digest).await.expect("commit");
    (digest, whole)
}

// ------------------------------------------------------------------ cases

async fn stat_of_a_missing_blob_is_none(store: DynStore) {
    let digest = Digest::sha256_of(b"never stored");
    assert_eq!(store.stat(&digest).await.expect("stat"), None);
}

async fn reading_a_missing_blob_is_not_found(store: DynStore) {
    let digest = Digest::sha256_of(b"never stored");
    let err = store
        .read(&digest, None)
        .await
        .err()
        .expect("read of a missing blob fails");
    assert!(matches!(err, StorageError::NotFound), "got {err:?}");
    let err = store
        .read(&digest, Some(0..3))
        .await
        .err()
        .expect("ranged read of a missing blob fails");
    assert!(matches!(err, StorageError::NotFound), "got {err:?}");
}

async fn a_committed_upload_reads_back_whole_and_by_range(store: DynStore) {
    let data = pattern(100_000, 1);
    let (digest, whole) = push(&store, &[&data]).await;
    assert_eq!(store.stat(&digest).await.expect("stat"), Some(100_000));
    assert_eq!(read_all(&store, &digest).await, whole);
    assert_eq!(read_range(&store, &digest, 0, 10).await, whole[..10]);
    assert_eq!(read_range(&store, &digest, 4_321, 54_321).await, whole[4_321..54_321]);
    assert_eq!(read_range(&store, &digest, 99_990, 100_000).await, whole[99_990..]);
    assert_eq!(read_range(&store, &digest, 0, 100_000).await, whole);
}

async fn several_appends_at_increasing_offsets_make_one_blob(store: DynStore) {
    let (a, b, c) = (pattern(1000, 2), pattern(1, 3), pattern(70_000, 4));
    let (digest, whole) = push(&store, &[&a, &b, &c]).await;
    assert_eq!(store.stat(&digest).await.expect("stat"), Some(71_001));
    assert_eq!(read_all(&store, &digest).await, whole);
    assert_eq!(read_range(&store, &digest, 999, 1002).await, whole[999..1002]);
}

async fn a_re_append_at_an_earlier_offset_replaces_what_came_after_it(store: DynStore) {
    let id = upload_id();
    store.create_upload(&id).await.expect("create");
    let (a, b, c) = (pattern(500, 5), pattern(600, 6), pattern(700, 7));
    store.append_upload(&id, 0, small_body(&a)).await.expect("append a");
    store.append_upload(&id, 500, small_body(&b)).await.expect("append b");
    // The second append is retried at the offset it started from...
    store
        .append_upload(&id, 500, small_body(&c))
        .await
        .expect("re-append c");
    let expected = [a.as_slice(), c.as_slice()].concat();
    assert_eq!(upload_bytes(&store, &id, 10_000).await, expected);
    // ...and an append into the middle of what is there cuts it at that point.
    let d = pattern(50, 8);
    store
        .append_upload(&id, 200, small_body(&d))
        .await
        .expect("append d inside a");
    let expected = [&a[..200], d.as_slice()].concat();
    assert_eq!(upload_bytes(&store, &id, 10_000).await, expected);
    let digest = Digest::sha256_of(&expected);
    store.commit_upload(&id, 250, &digest).await.expect("commit");
    assert_eq!(read_all(&store, &digest).await, expected);
}

async fn an_append_whose_body_fails_midway_can_be_retried_at_the_same_offset(store: DynStore) {
    let id = upload_id();
    store.create_upload(&id).await.expect("create");
    let a = pattern(3000, 9);
    store.append_upload(&id, 0, small_body(&a)).await.expect("append a");
    // More than one S3 part arrives before the client goes away.
    let broken = pattern(9 * MIB, 10);
    let failing = body(&broken, MIB)
        .chain(stream::once(async { Err(io::Error::other("client went away")) }))
        .boxed();
    assert!(store.append_upload(&id, 3000, failing).await.is_err());
    let b = pattern(4000, 11);
    assert_eq!(
        store.append_upload(&id, 3000, small_body(&b)).await.expect("retry"),
        4000
    );
    let expected = [a.as_slice(), b.as_slice()].concat();
    assert_eq!(upload_bytes(&store, &id, 7000).await, expected);
    let digest = Digest::sha256_of(&expected);
    store.commit_upload(&id, 7000, &digest).await.expect("commit");
    assert_eq!(read_all(&store, &digest).await, expected);
}

async fn read_upload_returns_what_was_appended_up_to_the_size_asked(store: DynStore) {
    let id = upload_id();
    store.create_upload(&id).await.expect("create");
    assert_eq!(upload_bytes(&store, &id, 0).await, b"");
    let (a, b) = (pattern(300, 12), pattern(400, 13));
    store.append_upload(&id, 0, small_body(&a)).await.expect("append a");
    store.append_upload(&id, 300, small_body(&b)).await.expect("append b");
    let whole = [a.as_slice(), b.as_slice()].concat();
    assert_eq!(upload_bytes(&store, &id, 700).await, whole);
    assert_eq!(upload_bytes(&store, &id, 350).await, whole[..350]);
    assert_eq!(upload_bytes(&store, &id, 300).await, whole[..300]);
    assert_eq!(upload_bytes(&store, &id, 0).await, b"");
    store.cancel_upload(&id).await.expect("cancel");
}

async fn committing_an_existing_digest_just_drops_the_upload(store: DynStore) {
    let data = pattern(2048, 14);
    let (digest, whole) = push(&store, &[&data]).await;
    let id = upload_id();
    store.create_upload(&id).await.expect("create");
    store.append_upload(&id, 0, small_body(&data)).await.expect("append");
    store
        .commit_upload(&id, 2048, &digest)
        .await
        .expect("commit of a known digest");
    assert_eq!(read_all(&store, &digest).await, whole);
    assert!(store.read_upload(&id, 2048).await.is_err(), "the upload is gone");
}

async fn cancel_removes_the_upload_and_cancelling_an_absent_one_is_ok(store: DynStore) {
    let id = upload_id();
    store.create_upload(&id).await.expect("create");
    store
        .append_upload(&id, 0, small_body(b"some bytes"))
        .await
        .expect("append");
    store.cancel_upload(&id).await.expect("cancel");
    assert!(
        store.append_upload(&id, 10, small_body(b"more")).await.is_err(),
        "append after cancel fails"
    );
    assert!(store.read_upload(&id, 10).await.is_err(), "read after cancel fails");
    store.cancel_upload(&id).await.expect("cancel again");
    store
        .cancel_upload(&upload_id())
        .await
        .expect("cancel of an unknown upload");
}

async fn appending_to_an_upload_that_was_never_created_fails(store: DynStore) {
    assert!(store.append_upload(&upload_id(), 0, small_body(b"x")).await.is_err());
}

async fn deleting_an_absent_blob_is_ok_and_a_deleted_blob_is_gone(store: DynStore) {
    store
        .delete(&Digest::sha256_of(b"never stored"))
        .await
        .expect("delete of absent");
    let (digest, _) = push(&store, &[b"short-lived"]).await;
    assert_eq!(store.stat(&digest).await.expect("stat"), Some(11));
    store.delete(&digest).await.expect("delete");
    assert_eq!(store.stat(&digest).await.expect("stat"), None);
    assert!(matches!(
        store.read(&digest, None).await.err(),
        Some(StorageError::NotFound)
    ));
    store.delete(&digest).await.expect("delete twice");
}

async fn a_zero_byte_blob_can_be_stored_and_read(store: DynStore) {
    let digest = Digest::sha256_of(b"");
    let id = upload_id();
    store.create_upload(&id).await.expect("create");
    assert_eq!(
        store
            .append_upload(&id, 0, stream::empty().boxed())
            .await
            .expect("empty append"),
        0
    );
    store.commit_upload(&id, 0, &digest).await.expect("commit");
    assert_eq!(store.stat(&digest).await.expect("stat"), Some(0));
    assert_eq!(read_all(&store, &digest).await, b"");
    assert_eq!(read_range(&store, &digest, 0, 0).await, b"");
}

async fn a_twelve_mib_blob_appended_in_three_parts_reads_back_identical(store: DynStore) {
    let data = pattern(12 * MIB, 15);
    let (digest, whole) = push(&store, &[&data[..4 * MIB], &data[4 * MIB..8 * MIB], &data[8 * MIB..]]).await;
    assert_eq!(store.stat(&digest).await.expect("stat"), Some(12 * MIB as u64));
    let back = read_all(&store, &digest).await;
    assert!(back == whole, "12 MiB blob differs");
    let (s, e) = (5 * MIB as u64 - 7, 9 * MIB as u64 + 3);
    assert!(read_range(&store, &digest, s, e).await == whole[s as usize..e as usize]);
}

async fn one_large_append_streams_into_a_blob(store: DynStore) {
    // A single append larger than an S3 part: multipart chunk, then copied.
    let data = pattern(11 * MIB + 5, 16);
    let (digest, whole) = push(&store, &[&data]).await;
    assert_eq!(store.stat(&digest).await.expect("stat"), Some(data.len() as u64));
    assert!(read_all(&store, &digest).await == whole, "large blob differs");
}

async fn commit_with_a_smaller_size_keeps_only_that_many_bytes(store: DynStore) {
    let id = upload_id();
    store.create_upload(&id).await.expect("create");
    let (a, b) = (pattern(1000, 17), pattern(1000, 18));
    store.append_upload(&id, 0, small_body(&a)).await.expect("append a");
    store.append_upload(&id, 1000, small_body(&b)).await.expect("append b");
    let kept = [a.as_slice(), &b[..234]].concat();
    let digest = Digest::sha256_of(&kept);
    store.commit_upload(&id, 1234, &digest).await.expect("commit");
    assert_eq!(store.stat(&digest).await.expect("stat"), Some(1234));
    assert_eq!(read_all(&store, &digest).await, kept);

    // Also when the size cuts the only chunk.
    let id = upload_id();
    store.create_upload(&id).await.expect("create");
    store.append_upload(&id, 0, small_body(&a)).await.expect("append a");
    let digest = Digest::sha256_of(&a[..10]);
    store.commit_upload(&id, 10, &digest).await.expect("commit");
    assert_eq!(read_all(&store, &digest).await, a[..10]);
}

async fn a_committed_upload_is_gone(store: DynStore) {
    let id = upload_id();
    store.create_upload(&id).await.expect("create");
    store
        .append_upload(&id, 0, small_body(b"payload"))
        .await
        .expect("append");
    store
        .commit_upload(&id, 7, &Digest::sha256_of(b"payload"))
        .await
        .expect("commit");
    assert!(
        store.read_upload(&id, 7).await.is_err(),
        "read of a committed upload fails"
    );
    assert!(
        store.append_upload(&id, 7, small_body(b"!")).await.is_err(),
        "append to a committed upload fails"
    );
}

async fn a_named_object_is_written_read_replaced_and_deleted(store: DynStore) {
    let key = format!("exportedactionlogs/{}.json", upload_id());
    assert!(matches!(store.read_object(&key).await, Err(StorageError::NotFound)));
    store
        .put_object(&key, Bytes::from_static(b"first"))
        .await
        .expect("put object");
    store
        .put_object(&key, Bytes::from_static(b"second version"))
        .await
        .expect("replace object");
    let read = collect(store.read_object(&key).await.expect("object readable")).await;
    assert_eq!(read, b"second version");
    store.delete_object(&key).await.expect("delete object");
    store
        .delete_object(&key)
        .await
        .expect("deleting an absent object is ok");
    assert!(matches!(store.read_object(&key).await, Err(StorageError::NotFound)));
}

async fn a_streamed_object_is_stored_whole_and_a_failed_stream_stores_nothing(store: DynStore) {
    let key = format!("userfiles/{}", upload_id());
    let data = pattern(20 * MIB + 123, 7);
    let size = store
        .put_object_stream(&key, body(&data, 256 * 1024))
        .await
        .expect("streamed put");
    assert_eq!(size, data.len() as u64);
    let read = collect(store.read_object(&key).await.expect("object readable")).await;
    assert!(read == data, "the object reads back byte for byte");

    let broken = format!("userfiles/{}", upload_id());
    let pieces: Vec<io::Result<Bytes>> = vec![
        Ok(Bytes::from(pattern(9 * MIB, 8))),
        Err(io::Error::new(io::ErrorKind::UnexpectedEof, "client went away")),
    ];
    assert!(
        store
            .put_object_stream(&broken, stream::iter(pieces).boxed())
            .await
            .is_err(),
        "a failing stream fails the put"
    );
    assert!(
        matches!(store.read_object(&broken).await, Err(StorageError::NotFound)),
        "nothing of it is stored"
    );
}

async fn object_keys_cannot_reach_blobs_uploads_or_leave_the_store(store: DynStore) {
    let (digest, _) = push(&store, &[b"protected"]).await;
    let blob_key = registry::storage::blob_key(&digest);
    for key in [
        blob_key.as_str(),
        "uploads/x",
        "../escape",
        "a//b",
        "",
        "a/../b",
        "a\\b",
    ] {
        assert!(
            store.put_object(key, Bytes::from_static(b"x")).await.is_err(),
            "{key:?} refused"
        );
        assert!(store.delete_object(key).await.is_err(), "{key:?} refused");
    }
    assert_eq!(read_all(&store, &digest).await, b"protected");
}

async fn uploads_are_listed_once_written_before_the_bound_and_not_when_newer(store: DynStore) {
    let hour = Duration::from_secs(3600);
    let id = upload_id();
    store.create_upload(&id).await.expect("create");
    store
        .append_upload(&id, 0, small_body(b"abandoned"))
        .await
        .expect("append");
    let empty = upload_id();
    store.create_upload(&empty).await.expect("create");
    push(&store, &[b"committed"]).await;
    store
        .put_object("exports/log.json", Bytes::from_static(b"{}"))
        .await
        .expect("put object");

    let later = SystemTime::now() + hour;
    let mut listed = store.uploads_written_before(later).await.expect("listing");
    listed.sort();
    let mut expected = vec![id.clone(), empty.clone()];
    expected.sort();
    assert_eq!(
        listed, expected,
        "uploads only: no blob, no named object, no committed upload"
    );

    let earlier = SystemTime::now() - hour;
    let listed = store.uploads_written_before(earlier).await.expect("listing");
    assert!(listed.is_empty(), "nothing was written before {earlier:?}: {listed:?}");

    for id in [&id, &empty] {
        store.cancel_upload(id).await.expect("cancel a listed upload");
    }
    let listed = store.uploads_written_before(later).await.expect("listing");
    assert!(listed.is_empty(), "cancelling a listed id removes it: {listed:?}");
}

async fn health_is_ok(store: DynStore) {
    store.health().await.expect("healthy");
}

// ---------------------------------------------------------------- backends

/// A store plus whatever must live as long as it.
struct Fixture {
    store: DynStore,
    _dir: Option<tempfile::TempDir>,
}

async fn memory() -> Option<Fixture> {
    Some(Fixture {
        store: std::sync::Arc::new(MemoryStore::new()),
        _dir: None,
    })
}

async fn fs() -> Option<Fixture> {
    // Under target/, on a disk: /tmp may be a tmpfs, which takes no O_DIRECT.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    let store = FsStore::new(dir.path().join("storage")).await.expect("fs store");
    assert!(store.direct_io(), "uploads use O_DIRECT on {}", dir.path().display());
    Some(Fixture {
        store: std::sync::Arc::new(store),
        _dir: Some(dir),
    })
}

/// The file-system store with plain buffered writes, as on file systems
/// that refuse `O_DIRECT` (tmpfs).
async fn fs_buffered() -> Option<Fixture> {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = FsStore::with_direct_io(dir.path().join("storage"), false)
        .await
        .expect("fs store");
    Some(Fixture {
        store: std::sync::Arc::new(store),
        _dir: Some(dir),
    })
}

async fn s3() -> Option<Fixture> {
    let server = S3Server::from_env()?;
    let bucket = server.create_bucket().await;
    let store = S3Store::new(server.config(&bucket, "/quay/storage/"))
        .await
        .expect("s3 store");
    Some(Fixture {
        store: std::sync::Arc::new(store),
        _dir: None,
    })
}

macro_rules! suite {
    ($($case:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test]
                async fn $case() {
                    let fx = super::memory().await.expect("memory store");
                    super::$case(fx.store.clone()).await;
                }
            )*
        }
        mod fs {
            $(
                #[tokio::test]
                async fn $case() {
                    let fx = super::fs().await.expect("fs store");
                    super::$case(fx.store.clone()).await;
                }
            )*
        }
        mod fs_buffered {
            $(
                #[tokio::test]
                async fn $case() {
                    let fx = super::fs_buffered().await.expect("fs store");
                    super::$case(fx.store.clone()).await;
                }
            )*
        }
        mod s3 {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(fx) = super::s3().await else { return };
                    super::$case(fx.store.clone()).await;
                }
            )*
        }
    };
}

suite!(
    stat_of_a_missing_blob_is_none,
    reading_a_missing_blob_is_not_found,
    a_committed_upload_reads_back_whole_and_by_range,
    several_appends_at_increasing_offsets_make_one_blob,
    a_re_append_at_an_earlier_offset_replaces_what_came_after_it,
    an_append_whose_body_fails_midway_can_be_retried_at_the_same_offset,
    read_upload_returns_what_was_appended_up_to_the_size_asked,
    committing_an_existing_digest_just_drops_the_upload,
    cancel_removes_the_upload_and_cancelling_an_absent_one_is_ok,
    appending_to_an_upload_that_was_never_created_fails,
    deleting_an_absent_blob_is_ok_and_a_deleted_blob_is_gone,
    a_zero_byte_blob_can_be_stored_and_read,
    a_twelve_mib_blob_appended_in_three_parts_reads_back_identical,
    one_large_append_streams_into_a_blob,
    commit_with_a_smaller_size_keeps_only_that_many_bytes,
    a_committed_upload_is_gone,
    a_named_object_is_written_read_replaced_and_deleted,
    a_streamed_object_is_stored_whole_and_a_failed_stream_stores_nothing,
    object_keys_cannot_reach_blobs_uploads_or_leave_the_store,
    health_is_ok,
    uploads_are_listed_once_written_before_the_bound_and_not_when_newer,
    hashed_appends_hash_exactly_the_bytes_stored,
);

async fn hashed_appends_hash_exactly_the_bytes_stored(store: DynStore) {
    let data = pattern(5 * MIB + 777, 21);
    let id = upload_id();
    store.create_upload(&id).await.expect("create upload");
    let mut hasher = Hasher::new(Algorithm::Sha256);
    let mut offset = 0u64;
    // Part ends off any block boundary, odd piece sizes.
    let cuts = [0, 3 * MIB + 5, 3 * MIB + 4101, data.len()];
    for w in cuts.windows(2) {
        let part = &data[w[0]..w[1]];
        let (n, h) = store
            .append_upload_hashed(&id, offset, body(part, 65_537), hasher)
            .await
            .expect("hashed append");
        assert_eq!(n, part.len() as u64);
        hasher = h;
        offset += n;
    }
    let digest = hasher.finish();
    assert_eq!(digest, Digest::sha256_of(&data), "the hash covers every byte once");
    store.commit_upload(&id, offset, &digest).await.expect("commit");
    assert_eq!(read_all(&store, &digest).await, data);
}

// ------------------------------------------------ file-system-only checks

#[tokio::test]
async fn fs_upload_listing_leaves_out_what_is_not_a_plain_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("storage");
    let store = FsStore::with_direct_io(&root, false).await.expect("fs store");
    let id = upload_id();
    store.create_upload(&id).await.expect("create");
    let uploads = root.join("uploads");
    std::fs::create_dir(uploads.join("a-directory")).expect("directory");
    std::fs::write(uploads.join("a-directory").join("inside"), b"x").expect("file in it");
    let outside = dir.path().join("outside");
    std::fs::write(&outside, b"not the store's").expect("file outside");
    std::os::unix::fs::symlink(&outside, uploads.join("a-link")).expect("symlink");
    std::os::unix::fs::symlink(dir.path().join("missing"), uploads.join("a-dangling-link")).expect("symlink");

    let later = SystemTime::now() + Duration::from_secs(3600);
    let listed = store.uploads_written_before(later).await.expect("listing");
    assert_eq!(listed, vec![id]);
    assert!(outside.exists(), "what a link points to is untouched");
}

// ------------------------------------------------------- S3-only checks

#[tokio::test]
async fn s3_blobs_sit_at_prefix_slash_blob_key_and_uploads_leave_nothing_behind() {
    let Some(server) = S3Server::from_env() else {
        return;
    };
    for (prefix, root) in [("/quay/storage/", "quay/storage/"), ("", "")] {
        let bucket = server.create_bucket().await;
        let store = S3Store::new(server.config(&bucket, prefix)).await.expect("s3 store");
        let data = b"layout check".to_vec();
        let digest = Digest::sha256_of(&data);
        let id = upload_id();
        store.create_upload(&id).await.expect("create");
        store.append_upload(&id, 0, small_body(&data)).await.expect("append");
        store
            .commit_upload(&id, data.len() as u64, &digest)
            .await
            .expect("commit");
        let hex = digest.hex();
        let key = format!("{root}sha256/{}/{hex}", &hex[..2]);
        let raw = server.raw_store(&bucket);
        let body = raw
            .get(&object_store::path::Path::from(key.as_str()))
            .await
            .expect("blob object exists")
            .bytes()
            .await
            .expect("blob object body");
        assert_eq!(body.as_ref(), data.as_slice());
        let keys: Vec<String> = raw
            .list(None)
            .map_ok(|m| m.location.to_string())
            .try_collect()
            .await
            .expect("listing");
        assert_eq!(keys, vec![key], "only the blob is left");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_an_abandoned_large_append_leaves_no_multipart_upload_behind() {
    let Some(server) = S3Server::from_env() else { return };
    let bucket = server.create_bucket().await;
    let store = S3Store::new(server.config(&bucket, "p")).await.expect("s3 store");
    let id = upload_id();
    store.create_upload(&id).await.expect("create");
    // More than a part arrives, then the client stalls and the request is dropped.
    let data = pattern(9 * MIB, 19);
    let stalled = body(&data, MIB).chain(stream::pending()).boxed();
    let started = tokio::time::timeout(std::time::Duration::from_secs(3), store.append_upload(&id, 0, stalled)).await;
    assert!(started.is_err(), "the append was still waiting for its body");
    let mut pending = String::new();
    for _ in 0..50 {
        let (status, listing) = server.request("GET", &format!("/{bucket}"), "uploads=").await;
        assert_eq!(status, 200);
        pending = String::from_utf8_lossy(&listing).into_owned();
        if !pending.contains("<Upload>") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(!pending.contains("<Upload>"), "multipart upload left open: {pending}");
    assert_eq!(
        upload_bytes(&(std::sync::Arc::new(store) as DynStore), &id, 100).await,
        b""
    );
}

#[tokio::test]
async fn s3_health_fails_when_the_bucket_is_missing() {
    let Some(server) = S3Server::from_env() else {
        return;
    };
    let store = S3Store::new(server.config("no-such-bucket-for-registry-tests", "x"))
        .await
        .expect("no request made");
    assert!(store.health().await.is_err());
}

/// The S3-compatible server named by the environment.
struct S3Server {
    endpoint: String,
    access_key: String,
    secret_key: String,
    region: String,
    http: reqwest::Client,
}

impl S3Server {
    /// `None` (with a note) when no server is configured, unless on CI.
    fn from_env() -> Option<S3Server> {
        let var = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
        let Ok(endpoint) = std::env::var("REGISTRY_TEST_S3_ENDPOINT") else {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("REGISTRY_TEST_S3_ENDPOINT is not set; S3 storage tests must run on CI");
            }
            eprintln!("note: skipping S3 storage test, set REGISTRY_TEST_S3_ENDPOINT (e.g. http://127.0.0.1:9000)");
            return None;
        };
        Some(S3Server {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            access_key: var("REGISTRY_TEST_S3_ACCESS_KEY", "testing"),
            secret_key: var("REGISTRY_TEST_S3_SECRET_KEY", "testing"),
            region: var("REGISTRY_TEST_S3_REGION", "us-east-1"),
            http: reqwest::Client::new(),
        })
    }

    fn config(&self, bucket: &str, prefix: &str) -> S3Config {
        S3Config {
            endpoint: Some(self.endpoint.clone()),
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
            access_key: Some(self.access_key.clone()),
            secret_key: Some(self.secret_key.clone()),
            region: self.region.clone(),
        }
    }

    /// A plain client of the bucket, to look at what the store left there.
    fn raw_store(&self, bucket: &str) -> object_store::aws::AmazonS3 {
        object_store::aws::AmazonS3Builder::new()
            .with_endpoint(&self.endpoint)
            .with_allow_http(true)
            .with_bucket_name(bucket)
            .with_region(&self.region)
            .with_access_key_id(&self.access_key)
            .with_secret_access_key(&self.secret_key)
            .build()
            .expect("raw S3 client")
    }

    /// Creates a fresh, uniquely named bucket.
    async fn create_bucket(&self) -> String {
        let bucket = format!("registry-test-{}", uuid::Uuid::new_v4().simple());
        let body = if self.region == "us-east-1" {
            String::new()
        } else {
            format!(
                "<CreateBucketConfiguration><LocationConstraint>{}</LocationConstraint></CreateBucketConfiguration>",
                self.region
            )
        };
        let (status, answer) = self
            .request_with_body("PUT", &format!("/{bucket}"), "", body.into_bytes())
            .await;
        assert!(
            status == 200,
            "CreateBucket {bucket}: {status} {}",
            String::from_utf8_lossy(&answer)
        );
        bucket
    }

    /// Sends a path-style request. The test S3 server (moto) accepts
    /// unsigned requests, which keeps request signing out of the tests.
    async fn request(&self, method: &str, path: &str, query: &str) -> (u16, Vec<u8>) {
        self.request_with_body(method, path, query, Vec::new()).await
    }

    async fn request_with_body(&self, method: &str, path: &str, query: &str, body: Vec<u8>) -> (u16, Vec<u8>) {
        let mut url = reqwest::Url::parse(&format!("{}{}", self.endpoint, path)).expect("endpoint URL");
        if !query.is_empty() {
            url.set_query(Some(query));
        }
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let response = self
            .http
            .request(method, url)
            .body(body)
            .send()
            .await
            .expect("S3 server answers");
        let status = response.status().as_u16();
        (status, response.bytes().await.expect("S3 response body").to_vec())
    }
}
