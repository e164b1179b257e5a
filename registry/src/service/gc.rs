//! Online garbage collection: one pass ends the cosign sibling tags of
//! images nothing else holds, deletes unrecoverable tags, then manifests
//! nothing holds (repeated until none is left), then blob rows nothing
//! references, and last the bytes of deleted blob rows.
//!
//! Every deletion is its own short transaction that re-checks references
//! under a lock (see `db::queries::gc`), so pushes, pulls and other passes
//! run meanwhile. Bytes go only after their row, through the `deletedblob`
//! queue written in the row's transaction: a crash in between leaves queued
//! bytes that a later pass deletes, never a row without bytes. A push that
//! stores a digest again cancels its queued deletion and re-checks that the
//! bytes are still there before its row becomes visible.

use tokio::runtime::Handle;

use super::{Error, Registry};
use crate::db::queries::{self, gc};
use crate::db::{Db, DbConn};
use crate::oci::Digest;
use crate::storage::DynStore;

/// Rows handled per batch.
const BATCH: i64 = 500;

/// How to run a pass.
#[derive(Debug, Clone, Copy, Default)]
pub struct GcOptions {
    /// Report what would be removed and remove nothing.
    pub dry_run: bool,
    /// Collect as if it were this time (ms); the clock otherwise.
    pub now_ms: Option<i64>,
}

/// What a pass removed (or, dry, would remove).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Tag rows deleted (unrecoverable, expired temporary, or of deleted repositories).
    pub tags: usize,
    /// Cosign sibling tags (`sha256-<hex>.sig/.att/.sbom`) ended because
    /// nothing else holds their image any more.
    pub cosign_tags_ended: usize,
    /// Upload holds of deleted repositories released.
    pub uploads_released: usize,
    /// Digests of the manifests deleted.
    pub manifests: Vec<String>,
    /// Digests of the blob rows deleted.
    pub blobs: Vec<String>,
    /// Digests whose contents were deleted from storage.
    pub contents_deleted: Vec<String>,
    /// How many bytes of storage those contents took.
    pub bytes_deleted: u64,
}

impl GcReport {
    pub fn is_empty(&self) -> bool {
        *self == GcReport::default()
    }
}

/// Runs each step either in its own transaction or, for a dry run, inside
/// one transaction that is rolled back at the end.
trait Steps {
    fn step<T>(&mut self, f: impl FnOnce(&mut DbConn) -> Result<T, Error>) -> Result<T, Error>;
}

struct Online<'a>(&'a Db);

impl Steps for Online<'_> {
    fn step<T>(&mut self, f: impl FnOnce(&mut DbConn) -> Result<T, Error>) -> Result<T, Error> {
        self.0.write_blocking(f)
    }
}

struct Rehearsal<'a>(&'a mut DbConn);

impl Steps for Rehearsal<'_> {
    fn step<T>(&mut self, f: impl FnOnce(&mut DbConn) -> Result<T, Error>) -> Result<T, Error> {
        f(self.0)
    }
}

/// Why the dry run's transaction ends without committing.
enum DryRunEnd {
    Done(Box<GcReport>),
    Failed(Error),
}

impl From<crate::db::DbError> for DryRunEnd {
    fn from(e: crate::db::DbError) -> Self {
        DryRunEnd::Failed(e.into())
    }
}

impl From<diesel::result::Error> for DryRunEnd {
    fn from(e: diesel::result::Error) -> Self {
        DryRunEnd::Failed(e.into())
    }
}

impl Registry {
    /// One garbage-collection pass.
    pub async fn collect_garbage(&self, opts: GcOptions) -> Result<GcReport, Error> {
        let (db, store, handle) = (self.db().clone(), self.store().clone(), Handle::current());
        let now = opts.now_ms.unwrap_or_else(crate::now_ms);
        blocking(move || {
            if opts.dry_run {
                return dry_run(&db, &store, &handle, now);
            }
            let mut report = GcReport::default();
            delete_rows(&mut Online(&db), now, &mut report, true)?;
            (report.contents_deleted, report.bytes_deleted) = drain(&db, &store, &handle)?;
            Ok(report)
        })
        .await
    }

    /// The row-deleting steps of a pass alone, without deleting any bytes
    /// (what a pass that crashed before its last step leaves behind).
    pub async fn collect_garbage_rows(&self, now_ms: i64) -> Result<GcReport, Error> {
        let db = self.db().clone();
        blocking(move || {
            let mut report = GcReport::default();
            delete_rows(&mut Online(&db), now_ms, &mut report, true)?;
            Ok(report)
        })
        .await
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, Error> + Send + 'static) -> Result<T, Error> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| crate::db::DbError::Task(format!("garbage collection: {e}")))?
}

fn dry_run(db: &Db, store: &DynStore, handle: &Handle, now: i64) -> Result<GcReport, Error> {
    let ended = db.write_blocking(|c| {
        let mut report = GcReport::default();
        if let Err(e) = delete_rows(&mut Rehearsal(c), now, &mut report, false) {
            return Err(DryRunEnd::Failed(e));
        }
        report.contents_deleted = report.blobs.clone();
        match gc::pending_deletions(c, 0, i64::MAX) {
            Ok(pending) => {
                for (_, digest) in pending {
                    if !report.contents_deleted.contains(&digest) && !gc::blob_row_exists(c, &digest)? {
                        report.contents_deleted.push(digest);
                    }
                }
            }
            Err(e) => return Err(e.into()),
        }
        for digest in &report.contents_deleted {
            report.bytes_deleted += stored_size(store, handle, digest);
        }
        Err::<(), _>(DryRunEnd::Done(Box::new(report)))
    });
    match ended {
        Ok(()) => Ok(GcReport::default()),
        Err(DryRunEnd::Done(report)) => Ok(*report),
        Err(DryRunEnd::Failed(e)) => Err(e),
    }
}

/// Steps (a) to (c). `tolerant` skips single items that fail (each in its
/// own transaction) instead of failing the pass.
fn delete_rows(s: &mut impl Steps, now: i64, report: &mut GcReport, tolerant: bool) -> Result<(), Error> {
    report.uploads_released += s.step(|c| Ok(gc::release_deleted_repo_uploads(c)?))?;
    report.cosign_tags_ended += end_cosign_tags(s, now, tolerant)?;
    report.tags += delete_tags(s, now)?;
    loop {
        let manifests = delete_manifests(s, tolerant)?;
        let blobs = delete_blob_rows(s, now, tolerant)?;
        if manifests.is_empty() && blobs.is_empty() {
            return Ok(());
        }
        report.manifests.extend(manifests);
        report.blobs.extend(blobs);
    }
}

fn delete_tags(s: &mut impl Steps, now: i64) -> Result<usize, Error> {
    let windows = s.step(|c| Ok(gc::namespace_windows(c)?))?;
    let mut deleted = 0;
    for window in windows {
        loop {
            let n = s.step(|c| {
                let ids = gc::unrecoverable_tags(c, now, window, BATCH)?;
                Ok(gc::delete_tags(c, &ids)?)
            })?;
            deleted += n;
            if n == 0 {
                break;
            }
        }
    }
    Ok(deleted)
}

/// Ends (like a delete, so the time machine still applies) the cosign
/// sibling tags of images that nothing but such tags holds: no other alive
/// tag, hidden ones included, and no parent manifest. Signatures stored in
/// another repository (`COSIGN_REPOSITORY`) have no image here and stay.
fn end_cosign_tags(s: &mut impl Steps, now: i64, tolerant: bool) -> Result<usize, Error> {
    let mut ended = 0;
    let mut after = 0;
    loop {
        let candidates = s.step(|c| Ok(gc::cosign_tag_candidates(c, now, after, BATCH)?))?;
        let Some((last, _, _)) = candidates.last() else {
            return Ok(ended);
        };
        after = *last;
        for (_, repo_id, name) in candidates {
            let Some(subject) = cosign_subject(&name) else { continue };
            let done = s.step(|c| {
                queries::repositories::lock(c, repo_id)?;
                let Some(held) = gc::manifest_holders(c, repo_id, &subject, now)? else {
                    return Ok(false);
                };
                if held.is_child
                    || held
                        .tags
                        .iter()
                        .any(|(t, hidden)| *hidden || cosign_subject(t).is_none())
                {
                    return Ok(false);
                }
                Ok(queries::tags::end(c, repo_id, &name, now)?)
            });
            match done {
                Ok(done) => ended += usize::from(done),
                Err(e) if tolerant => {
                    tracing::warn!(error = %e, tag = %name, "garbage collection skipped a cosign tag");
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// The image digest a cosign sibling tag (`sha256-<64 hex>.sig`, `.att` or
/// `.sbom`) belongs to.
fn cosign_subject(tag: &str) -> Option<String> {
    let rest = tag.strip_prefix("sha256-")?;
    let (hex, suffix) = rest.split_once('.')?;
    let is_hex = hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    (is_hex && matches!(suffix, "sig" | "att" | "sbom")).then(|| format!("sha256:{hex}"))
}

/// Deletes unreferenced manifests, round after round until a round deletes
/// none (deleting a parent frees its children; deleting a subject frees its
/// referrers).
fn delete_manifests(s: &mut impl Steps, tolerant: bool) -> Result<Vec<String>, Error> {
    let mut deleted = Vec::new();
    loop {
        let before = deleted.len();
        let mut after = 0;
        loop {
            let candidates = s.step(|c| Ok(gc::unreferenced_manifests(c, after, None, BATCH)?))?;
            let Some((last, _, _)) = candidates.last() else { break };
            after = *last;
            for (id, repo_id, digest) in candidates {
                let gone = s.step(|c| {
                    queries::repositories::lock(c, repo_id)?;
                    Ok(gc::delete_manifest_if_unreferenced(c, id)?)
                });
                match gone {
                    Ok(true) => deleted.push(digest),
                    Ok(false) => {}
                    Err(e) if tolerant => {
                        tracing::warn!(error = %e, manifest = %digest, "garbage collection skipped a manifest");
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        if deleted.len() == before {
            return Ok(deleted);
        }
    }
}

/// Deletes unreferenced blob rows, queueing their bytes; returns their digests.
fn delete_blob_rows(s: &mut impl Steps, now: i64, tolerant: bool) -> Result<Vec<String>, Error> {
    let mut deleted = Vec::new();
    let mut after = 0;
    loop {
        let candidates = s.step(|c| Ok(gc::unreferenced_blobs(c, now, after, None, BATCH)?))?;
        let Some((last, _)) = candidates.last() else {
            return Ok(deleted);
        };
        after = *last;
        for (id, digest) in candidates {
            match s.step(|c| Ok(gc::delete_blob_if_unreferenced(c, id, now)?)) {
                Ok(Some(_)) => deleted.push(digest),
                Ok(None) => {}
                Err(e) if tolerant => {
                    tracing::warn!(error = %e, blob = %digest, "garbage collection skipped a blob");
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// Deletes the bytes of queued blobs that no row has again; returns their
/// digests. Each deletion holds its queue entry (and on SQLite the writer)
/// while the bytes go, so a push of the same digest waits and then sees
/// them gone.
/// The size of a digest's stored contents; 0 when it is not stored (or
/// cannot be read: the count is a report, not a reason to keep the bytes).
fn stored_size(store: &DynStore, handle: &Handle, digest: &str) -> u64 {
    match digest.parse::<Digest>() {
        Ok(d) => handle.block_on(store.stat(&d)).ok().flatten().unwrap_or(0),
        Err(_) => 0,
    }
}

/// Deletes the contents queued for deletion that no blob row holds again;
/// returns their digests and how many bytes they took.
fn drain(db: &Db, store: &DynStore, handle: &Handle) -> Result<(Vec<String>, u64), Error> {
    let (mut deleted, mut bytes) = (Vec::new(), 0);
    let mut after = 0;
    loop {
        let pending = db.read_blocking(|c| Ok::<_, Error>(gc::pending_deletions(c, after, BATCH)?))?;
        let Some((last, _)) = pending.last() else {
            return Ok((deleted, bytes));
        };
        after = *last;
        for (id, _) in pending {
            let removed = db.write_blocking(|c| {
                let Some(digest) = gc::claim_deletion(c, id)? else {
                    return Ok::<_, Error>(None);
                };
                let mut removed = None;
                if !gc::blob_row_exists(c, &digest)? {
                    let size = stored_size(store, handle, &digest);
                    if let Ok(d) = digest.parse::<Digest>() {
                        handle.block_on(store.delete(&d))?;
                    }
                    removed = Some((digest, size));
                }
                gc::forget_deletion(c, id)?;
                Ok(removed)
            });
            match removed {
                Ok(Some((d, size))) => {
                    deleted.push(d);
                    bytes += size;
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "deleting blob bytes failed; a later pass retries"),
            }
        }
    }
}

/// For a push that created a blob row: cancels queued deletions of the
/// digest and checks, inside the push's transaction, that the bytes are
/// still stored (a drain may have deleted them after the push wrote them).
pub(super) fn confirm_new_blob(
    c: &mut DbConn,
    handle: &Handle,
    store: &DynStore,
    digest: &Digest,
) -> Result<(), Error> {
    gc::cancel_deletions(c, &digest.to_string())?;
    match handle.block_on(store.stat(digest))? {
        Some(_) => Ok(()),
        None => Err(Error::BlobUploadInvalid(
            "the blob's content was removed while it was being stored; push it again".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::cosign_subject;

    #[test]
    fn only_exact_cosign_sibling_names_name_an_image() {
        let hex = "ab".repeat(32);
        for suffix in ["sig", "att", "sbom"] {
            assert_eq!(
                cosign_subject(&format!("sha256-{hex}.{suffix}")),
                Some(format!("sha256:{hex}"))
            );
        }
        for name in [
            format!("sha256-{hex}.sig2"),
            format!("sha256-{hex}"),
            format!("sha256-{}.sig", &hex[1..]),
            format!("sha256-{}.sig", hex.to_uppercase()),
            format!("sha512-{hex}.sig"),
            "latest".to_owned(),
        ] {
            assert_eq!(cosign_subject(&name), None, "{name}");
        }
    }
}
