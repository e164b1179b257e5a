//! Removal of abandoned uploads: rows nobody touched for
//! `upload_stale_after_s` with their bytes, then upload bytes that no row
//! knows of (left by a crash between removing a row and its bytes, by older
//! versions that stored bytes before the row, or scratch files of an
//! interrupted write), so that they never fill the disk.
//!
//! Bytes written within the stale bound are never touched: an upload is
//! created row first, so bytes without a row that are that recent may be an
//! upload starting or a write in progress.

use std::collections::HashSet;
use std::time::{Duration, UNIX_EPOCH};

use super::{Error, Registry};
use crate::db::queries;
use crate::db::DbError;

/// Stale rows removed per pass, at most.
const STALE_ROWS_PER_PASS: i64 = 500;

/// Upload ids looked up in the database per query.
const IDS_PER_QUERY: usize = 500;

impl Registry {
    /// Removes uploads nobody touched for `upload_stale_after_s`, and upload
    /// bytes as old that have no row; returns how many of both.
    pub async fn clean_stale_uploads(&self) -> Result<usize, Error> {
        let before = crate::now_ms() - self.settings().upload_stale_after_s * 1000;
        let stale = self
            .db()
            .read(move |c| Ok(queries::uploads::stale(c, before, STALE_ROWS_PER_PASS)?))
            .await
            .map_err(|e: DbError| Error::Db(e))?;
        for uuid in &stale {
            self.discard_upload(uuid).await?;
        }
        let orphans = self.remove_orphan_uploads(before).await?;
        Ok(stale.len() + orphans)
    }

    /// Removes the upload bytes written before `before` (ms since the epoch)
    /// that have no row; returns how many.
    async fn remove_orphan_uploads(&self, before: i64) -> Result<usize, Error> {
        let Ok(before) = u64::try_from(before) else {
            return Ok(0);
        };
        let listed = self
            .store()
            .uploads_written_before(UNIX_EPOCH + Duration::from_millis(before))
            .await?;
        let mut removed = 0;
        for batch in listed.chunks(IDS_PER_QUERY) {
            let ids = batch.to_vec();
            let known: HashSet<String> = self
                .db()
                .read(move |c| Ok(queries::uploads::existing(c, &ids)?))
                .await
                .map_err(|e: DbError| Error::Db(e))?
                .into_iter()
                .collect();
            for id in batch.iter().filter(|id| !known.contains(*id)) {
                self.store().cancel_upload(id).await?;
                removed += 1;
            }
        }
        if removed > 0 {
            tracing::info!(removed, "removed upload bytes that had no upload row");
        }
        Ok(removed)
    }
}
