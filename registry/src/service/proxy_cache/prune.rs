//! Room for a newly cached image in an organization with a quota: the
//! least recently pulled tags are expired (past the time machine, so that
//! garbage collection reclaims their space) until the image fits, as Quay's
//! proxy cache does. An image larger than the whole quota is refused.

use crate::db::queries::{self, proxy_cache as q};
use crate::db::DbConn;
use crate::service::quota::human_size;
use crate::service::{Error, Registry};

impl Registry {
    /// Makes room for `image_size` bytes in the organization's quota.
    pub(super) async fn make_room(&self, organization_id: i64, image_size: i64) -> Result<(), Error> {
        if !self.quota_policy().enabled {
            return Ok(());
        }
        self.db()
            .write(move |c| make_room(c, organization_id, image_size, crate::now_ms()))
            .await
    }
}

fn make_room(c: &mut DbConn, organization_id: i64, image_size: i64, now: i64) -> Result<(), Error> {
    let Some(quota) = queries::quota::quota_of(c, organization_id)? else {
        return Ok(());
    };
    let limit = quota.limit_bytes;
    if image_size > limit {
        return Err(Error::Forbidden(format!(
            "Quota has been exceeded on namespace: the image ({}) is larger than the namespace's quota ({})",
            human_size(image_size),
            human_size(limit)
        )));
    }
    let used = match queries::quota::namespace_size(c, organization_id)? {
        Some(s) => s,
        None => queries::quota::compute_namespace_size(c, organization_id)?,
    };
    let mut excess = used.saturating_add(image_size).saturating_sub(limit);
    if excess <= 0 {
        return Ok(());
    }
    for tag in q::tags_least_recently_pulled(c, organization_id, now)? {
        let (_, size) = queries::manifests::config_and_size(c, tag.manifest_id)?;
        let window_ms = queries::tags::window_s(c, tag.repository_id)?.saturating_mul(1000);
        let end = queries::tags::free_end_before(c, tag.repository_id, &tag.name, tag.id, now - window_ms)?;
        queries::tags::set_end(c, tag.id, Some(end))?;
        excess -= size;
        if excess <= 0 {
            return Ok(());
        }
    }
    Err(Error::QuotaExceeded)
}
