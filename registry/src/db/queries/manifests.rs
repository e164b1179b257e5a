use diesel::dsl::exists;
use diesel::prelude::*;

use super::tags::alive;
use crate::db::models::Manifest;
use crate::db::schema::{manifest, manifestblob, manifestchild, tag};
use crate::db::DbConn;

/// A new manifest row's contents.
pub struct NewManifest<'a> {
    pub repository_id: i64,
    pub digest: &'a str,
    pub media_type: &'a str,
    pub bytes: &'a [u8],
    pub config_media_type: Option<&'a str>,
    pub artifact_type: Option<&'a str>,
    pub subject: Option<&'a str>,
    pub layers_size: i64,
    pub now: i64,
}

/// Inserts the manifest unless the repository has it; returns its id and
/// whether it was new.
pub fn insert(c: &mut DbConn, m: &NewManifest<'_>) -> QueryResult<(i64, bool)> {
    if let Some(id) = id_of(c, m.repository_id, m.digest)? {
        return Ok((id, false));
    }
    diesel::insert_into(manifest::table)
        .values((
            manifest::repository_id.eq(m.repository_id),
            manifest::digest.eq(m.digest),
            manifest::media_type.eq(m.media_type),
            manifest::manifest_bytes.eq(m.bytes),
            manifest::config_media_type.eq(m.config_media_type),
            manifest::artifact_type.eq(m.artifact_type),
            manifest::subject.eq(m.subject),
            manifest::layers_compressed_size.eq(m.layers_size),
            manifest::created_ms.eq(m.now),
        ))
        .execute(c)?;
    let id = id_of(c, m.repository_id, m.digest)?.ok_or(diesel::result::Error::NotFound)?;
    Ok((id, true))
}

pub fn id_of(c: &mut DbConn, repo_id: i64, digest: &str) -> QueryResult<Option<i64>> {
    manifest::table
        .filter(manifest::repository_id.eq(repo_id))
        .filter(manifest::digest.eq(digest))
        .select(manifest::id)
        .first(c)
        .optional()
}

pub fn link_blobs(c: &mut DbConn, repo_id: i64, manifest_id: i64, blob_ids: &[i64]) -> QueryResult<()> {
    for b in blob_ids {
        diesel::insert_into(manifestblob::table)
            .values((
                manifestblob::repository_id.eq(repo_id),
                manifestblob::manifest_id.eq(manifest_id),
                manifestblob::blob_id.eq(*b),
            ))
            .execute(c)?;
    }
    Ok(())
}

pub fn link_children(c: &mut DbConn, repo_id: i64, manifest_id: i64, child_ids: &[i64]) -> QueryResult<()> {
    for m in child_ids {
        diesel::insert_into(manifestchild::table)
            .values((
                manifestchild::repository_id.eq(repo_id),
                manifestchild::manifest_id.eq(manifest_id),
                manifestchild::child_manifest_id.eq(*m),
            ))
            .execute(c)?;
    }
    Ok(())
}

/// The manifest if an alive tag (hidden ones included) holds it, directly or
/// as a child of a manifest that an alive tag holds, or, for a referrer,
/// its subject is held so (its own temporary tag may have ended).
pub fn find_visible(c: &mut DbConn, repo_id: i64, digest: &str, now: i64) -> QueryResult<Option<Manifest>> {
    if let Some(m) = find_held(c, repo_id, digest, now)? {
        return Ok(Some(m));
    }
    let Some(m) = manifest::table
        .filter(manifest::repository_id.eq(repo_id))
        .filter(manifest::digest.eq(digest))
        .select(Manifest::as_select())
        .first(c)
        .optional()?
    else {
        return Ok(None);
    };
    match &m.subject {
        Some(subject) if find_held(c, repo_id, subject, now)?.is_some() => Ok(Some(m)),
        _ => Ok(None),
    }
}

/// Forgets a manifest's subject (a referrer deleted by digest), so that the
/// subject no longer lists or holds it; returns whether it had one.
pub fn detach_subject(c: &mut DbConn, id: i64) -> QueryResult<bool> {
    let n = diesel::update(manifest::table.find(id).filter(manifest::subject.is_not_null()))
        .set(manifest::subject.eq(None::<String>))
        .execute(c)?;
    Ok(n > 0)
}

/// Records the subject of a referrer pushed again after it was detached.
pub fn attach_subject(c: &mut DbConn, id: i64, subject: &str) -> QueryResult<()> {
    diesel::update(manifest::table.find(id))
        .set(manifest::subject.eq(subject))
        .execute(c)
        .map(drop)
}

/// The manifest if an alive tag holds it, directly or through a parent.
fn find_held(c: &mut DbConn, repo_id: i64, digest: &str, now: i64) -> QueryResult<Option<Manifest>> {
    let tagged = tag::table.filter(tag::manifest_id.eq(manifest::id)).filter(alive(now));
    let parent_tagged = manifestchild::table
        .inner_join(tag::table.on(tag::manifest_id.eq(manifestchild::manifest_id)))
        .filter(manifestchild::child_manifest_id.eq(manifest::id))
        .filter(alive(now));
    manifest::table
        .filter(manifest::repository_id.eq(repo_id))
        .filter(manifest::digest.eq(digest))
        .filter(exists(tagged).or(exists(parent_tagged)))
        .select(Manifest::as_select())
        .first(c)
        .optional()
}

/// The manifest an alive, listed tag points at.
pub fn find_by_tag(c: &mut DbConn, repo_id: i64, name: &str, now: i64) -> QueryResult<Option<Manifest>> {
    tag::table
        .inner_join(manifest::table)
        .filter(tag::repository_id.eq(repo_id))
        .filter(tag::name.eq(name))
        .filter(tag::hidden.eq(false))
        .filter(alive(now))
        .select(Manifest::as_select())
        .first(c)
        .optional()
}

/// Ids of the manifests among `digests` that the repository has, as (digest, id).
pub fn ids_in_repo(c: &mut DbConn, repo_id: i64, digests: &[String]) -> QueryResult<Vec<(String, i64)>> {
    manifest::table
        .filter(manifest::repository_id.eq(repo_id))
        .filter(manifest::digest.eq_any(digests))
        .select((manifest::digest, manifest::id))
        .load(c)
}

/// Visible manifests whose `subject` is `subject`, in digest order: all of
/// them while the subject is held (see `find_visible`), else those an alive
/// tag holds.
pub fn referrers(c: &mut DbConn, repo_id: i64, subject: &str, now: i64) -> QueryResult<Vec<Manifest>> {
    let tagged = tag::table.filter(tag::manifest_id.eq(manifest::id)).filter(alive(now));
    let mut q = manifest::table
        .filter(manifest::repository_id.eq(repo_id))
        .filter(manifest::subject.eq(subject))
        .order(manifest::digest.asc())
        .select(Manifest::as_select())
        .into_boxed();
    if find_held(c, repo_id, subject, now)?.is_none() {
        q = q.filter(exists(tagged));
    }
    q.load(c)
}

/// The manifest's config media type and the summed size of what it references.
pub fn config_and_size(c: &mut DbConn, manifest_id: i64) -> QueryResult<(Option<String>, i64)> {
    manifest::table
        .find(manifest_id)
        .select((manifest::config_media_type, manifest::layers_compressed_size))
        .first(c)
}
