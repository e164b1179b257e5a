//! Pull counts per repository tag and per manifest digest
//! (`FEATURE_IMAGE_PULL_STATS`).

use diesel::prelude::*;

use crate::db::schema::pullstatistics as p;
use crate::db::DbConn;

/// `kind` of a tag's row.
pub const TAG: &str = "tag";
/// `kind` of a manifest digest's row.
pub const MANIFEST: &str = "manifest";

/// A pull counted so far: (count, last pull in ms, manifest digest).
pub type PullCount = (i64, i64, String);

/// Adds `pulls` pulls of `name` (a tag or a digest), the last at `last_ms`
/// serving `digest`.
pub fn record(
    c: &mut DbConn,
    repository_id: i64,
    kind: &str,
    name: &str,
    digest: &str,
    pulls: i64,
    last_ms: i64,
) -> QueryResult<()> {
    let row = (
        p::repository_id.eq(repository_id),
        p::kind.eq(kind),
        p::name.eq(name),
        p::pull_count.eq(pulls),
        p::last_pull_ms.eq(last_ms),
        p::manifest_digest.eq(digest),
    );
    crate::per_backend!(c, |c| diesel::insert_into(p::table)
        .values(row)
        .on_conflict((p::repository_id, p::kind, p::name))
        .do_update()
        .set((
            p::pull_count.eq(p::pull_count + pulls),
            p::last_pull_ms.eq(last_ms),
            p::manifest_digest.eq(digest),
        ))
        .execute(c))
    .map(drop)
}

/// The count of `name`, if it was ever pulled.
pub fn get(c: &mut DbConn, repository_id: i64, kind: &str, name: &str) -> QueryResult<Option<PullCount>> {
    p::table
        .filter(p::repository_id.eq(repository_id))
        .filter(p::kind.eq(kind))
        .filter(p::name.eq(name))
        .select((p::pull_count, p::last_pull_ms, p::manifest_digest))
        .first(c)
        .optional()
}

/// Forgets a repository's counts (it is being deleted).
pub fn delete_of_repository(c: &mut DbConn, repository_id: i64) -> QueryResult<usize> {
    diesel::delete(p::table.filter(p::repository_id.eq(repository_id))).execute(c)
}
