//! Manifest labels (quay-api.md §1.9): stored at push from the image config
//! and managed through `/api/v1/repository/{repo}/manifest/{digest}/labels`.

use diesel::prelude::*;

use crate::db::schema::label;
use crate::db::DbConn;

/// Where a label came from (quay-api.md §4 `Label.source_type`).
pub const SOURCE_MANIFEST: &str = "manifest";
pub const SOURCE_API: &str = "api";

/// One label of a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct LabelRow {
    pub uuid: String,
    pub key: String,
    pub value: String,
    pub media_type: String,
    pub source_type: String,
}

const COLUMNS: (
    label::uuid,
    label::key,
    label::value,
    label::media_type,
    label::source_type,
) = (
    label::uuid,
    label::key,
    label::value,
    label::media_type,
    label::source_type,
);

/// A label to store.
pub struct NewLabel<'a> {
    pub repository_id: i64,
    pub manifest_id: i64,
    pub key: &'a str,
    pub value: &'a str,
    pub media_type: &'a str,
    pub source_type: &'a str,
    pub now: i64,
}

/// Stores the label under a fresh uuid; returns the uuid.
pub fn insert(c: &mut DbConn, l: &NewLabel<'_>) -> QueryResult<String> {
    let uuid = uuid::Uuid::new_v4().to_string();
    diesel::insert_into(label::table)
        .values((
            label::uuid.eq(&uuid),
            label::repository_id.eq(l.repository_id),
            label::manifest_id.eq(l.manifest_id),
            label::key.eq(l.key),
            label::value.eq(l.value),
            label::media_type.eq(l.media_type),
            label::source_type.eq(l.source_type),
            label::created_ms.eq(l.now),
        ))
        .execute(c)?;
    Ok(uuid)
}

/// The manifest's labels in the order they were added.
pub fn of_manifest(c: &mut DbConn, manifest_id: i64) -> QueryResult<Vec<LabelRow>> {
    label::table
        .filter(label::manifest_id.eq(manifest_id))
        .order(label::id.asc())
        .select(COLUMNS)
        .load(c)
}

/// The labels from their configs of these manifests, as (manifest id, key, value).
pub fn from_configs_of(c: &mut DbConn, manifest_ids: &[i64]) -> QueryResult<Vec<(i64, String, String)>> {
    label::table
        .filter(label::manifest_id.eq_any(manifest_ids))
        .filter(label::source_type.eq(SOURCE_MANIFEST))
        .select((label::manifest_id, label::key, label::value))
        .load(c)
}

/// The manifest's label with this uuid.
pub fn find(c: &mut DbConn, manifest_id: i64, uuid: &str) -> QueryResult<Option<LabelRow>> {
    label::table
        .filter(label::manifest_id.eq(manifest_id))
        .filter(label::uuid.eq(uuid))
        .select(COLUMNS)
        .first(c)
        .optional()
}

/// Deletes the manifest's label with this uuid; returns whether there was one.
pub fn delete(c: &mut DbConn, manifest_id: i64, uuid: &str) -> QueryResult<bool> {
    diesel::delete(
        label::table
            .filter(label::manifest_id.eq(manifest_id))
            .filter(label::uuid.eq(uuid)),
    )
    .execute(c)
    .map(|n| n > 0)
}

/// Deletes every label of the manifest (before the manifest row goes).
pub fn delete_of_manifest(c: &mut DbConn, manifest_id: i64) -> QueryResult<usize> {
    diesel::delete(label::table.filter(label::manifest_id.eq(manifest_id))).execute(c)
}
