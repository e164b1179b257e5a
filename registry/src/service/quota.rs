//! Namespace quotas (quay-api.md §1.12, §3.4): one quota per namespace with
//! Warning and Reject limits at a percentage of it, the bytes each namespace
//! and repository uses, and their enforcement on push.

mod manage;

use super::{Error, Registry};
use crate::db::queries::{self, quota::LimitRow};
use crate::db::DbConn;

/// `FEATURE_QUOTA_MANAGEMENT` and its companions.
#[derive(Debug, Clone, Copy, Default)]
pub struct QuotaPolicy {
    /// Sizes are counted and quotas can be managed.
    pub enabled: bool,
    /// Limits are enforced on push (`FEATURE_VERIFY_QUOTA`).
    pub verify: bool,
    /// A 100 % Reject limit for namespaces without a quota
    /// (`DEFAULT_SYSTEM_REJECT_QUOTA_BYTES`; 0 = none).
    pub default_reject_bytes: i64,
    /// Count existing namespaces in the background (`QUOTA_BACKFILL`).
    pub backfill: bool,
}

impl QuotaPolicy {
    fn enforced(&self) -> bool {
        self.enabled && self.verify
    }
}

/// The two kinds of limit.
pub const WARNING: &str = "Warning";
pub const REJECT: &str = "Reject";

/// A quota as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quota {
    /// 0 for the system default.
    pub id: i64,
    pub limit_bytes: i64,
    pub limits: Vec<QuotaLimit>,
    /// The synthetic quota of `DEFAULT_SYSTEM_REJECT_QUOTA_BYTES`.
    pub default_config: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaLimit {
    pub id: i64,
    /// `Warning` or `Reject`.
    pub kind: String,
    pub percent: i32,
}

/// What a namespace uses against its quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaReport {
    /// Bytes used.
    pub quota_bytes: i64,
    /// The quota's limit, if any applies.
    pub configured_quota: Option<i64>,
    /// Whether the usage was counted yet.
    pub counted: bool,
}

/// The thresholds in bytes that apply to a namespace.
#[derive(Debug, Clone, Default)]
struct Thresholds {
    /// The lowest Reject threshold.
    reject: Option<i64>,
    warnings: Vec<i64>,
}

impl Thresholds {
    fn of(policy: &QuotaPolicy, quota: Option<(i64, &[LimitRow])>) -> Thresholds {
        let Some((limit_bytes, limits)) = quota else {
            return Thresholds {
                reject: (policy.default_reject_bytes > 0).then_some(policy.default_reject_bytes),
                warnings: Vec::new(),
            };
        };
        let bytes = |l: &LimitRow| {
            i64::try_from(i128::from(limit_bytes) * i128::from(l.percent_of_limit) / 100).unwrap_or(i64::MAX)
        };
        Thresholds {
            reject: limits.iter().filter(|l| l.quota_type == REJECT).map(bytes).min(),
            warnings: limits.iter().filter(|l| l.quota_type == WARNING).map(bytes).collect(),
        }
    }

    fn load(c: &mut DbConn, policy: &QuotaPolicy, namespace_id: i64) -> diesel::QueryResult<Thresholds> {
        Ok(match queries::quota::quota_of(c, namespace_id)? {
            Some(q) => {
                let limits = queries::quota::limits_of(c, &[q.id])?;
                Thresholds::of(policy, Some((q.limit_bytes, &limits)))
            }
            None => Thresholds::of(policy, None),
        })
    }
}

/// A quota's limit in bytes from Quay's `limit` strings: a number with an
/// optional unit, decimal (`KB`…`YB`, also `K`…`Y`) or binary (`KiB`…`YiB`).
pub fn parse_size(text: &str) -> Option<i64> {
    let t = text.trim();
    let split = t
        .find(|ch: char| !(ch.is_ascii_digit() || ch == '.'))
        .unwrap_or(t.len());
    let (number, unit) = (t[..split].trim(), t[split..].trim());
    let value: f64 = number.parse().ok()?;
    let prefixes = ["", "K", "M", "G", "T", "P", "E", "Z", "Y"];
    let unit = unit.to_ascii_uppercase();
    let (prefix, binary) = if unit.is_empty() || unit == "B" {
        ("", false)
    } else if let Some(p) = unit.strip_suffix("IB") {
        (p, true)
    } else if let Some(p) = unit.strip_suffix('B') {
        (p, false)
    } else {
        (unit.as_str(), false)
    };
    let power = i32::try_from(prefixes.iter().position(|p| *p == prefix)?).ok()?;
    let base: f64 = if binary { 1024.0 } else { 1000.0 };
    let bytes = value * base.powi(power);
    (bytes.is_finite() && bytes >= 0.0 && bytes < i64::MAX as f64).then_some(bytes.round() as i64)
}

/// Bytes in Quay's human form, e.g. `10.0 GiB`.
pub fn human_size(bytes: i64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < units.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", units[unit])
}

/// Counts a new manifest's blobs and enforces the namespace's limits, inside
/// the push's transaction (the repository is locked). Returns
/// `QuotaExceeded` when the push would cross a Reject limit; records a
/// `quota_warning` when it crosses a Warning limit.
pub(super) fn account_push(
    c: &mut DbConn,
    policy: &QuotaPolicy,
    repo_id: i64,
    blob_ids: &[i64],
    now: i64,
) -> Result<(), Error> {
    let namespace_id = queries::quota::namespace_of(c, repo_id)?;
    // With quotas off, sizes counted earlier are still kept current, so
    // turning quotas back on finds them right.
    let size = if policy.enabled {
        queries::quota::lock_namespace_size(c, namespace_id, true, now)?
    } else {
        queries::quota::lock_namespace_row(c, namespace_id)?
    };
    let Some(size) = size else {
        return Ok(());
    };
    queries::quota::ensure_repository_size(c, repo_id, now)?;
    let (repo_delta, ns_delta) = queries::quota::unshared_sizes(c, namespace_id, repo_id, blob_ids, None)?;
    if policy.enforced() && ns_delta > 0 {
        let thresholds = Thresholds::load(c, policy, namespace_id)?;
        let after = size.saturating_add(ns_delta);
        if thresholds.reject.is_some_and(|r| after > r) {
            return Err(Error::QuotaExceeded);
        }
        if let Some(w) = thresholds.warnings.iter().filter(|w| size <= **w && after > **w).min() {
            queries::quota::record_event(c, namespace_id, "quota_warning", after, *w, now)?;
        }
    }
    queries::quota::add_sizes(c, namespace_id, ns_delta, repo_id, repo_delta)?;
    Ok(())
}

impl Registry {
    pub fn quota_policy(&self) -> &QuotaPolicy {
        &self.settings().quota
    }

    /// Refuses a blob upload into a namespace already at its Reject limit,
    /// or (with `adding`) one this many bytes would push over it.
    pub(super) async fn check_upload_quota(&self, repo_id: i64, adding: Option<(&str, i64)>) -> Result<(), Error> {
        let policy = *self.quota_policy();
        if !policy.enforced() {
            return Ok(());
        }
        let adding = adding.map(|(d, n)| (d.to_owned(), n));
        let refused = self
            .db()
            .read(move |c| {
                let namespace_id = queries::quota::namespace_of(c, repo_id)?;
                let thresholds = Thresholds::load(c, &policy, namespace_id)?;
                let Some(reject) = thresholds.reject else {
                    return Ok(None);
                };
                let size = match queries::quota::namespace_size(c, namespace_id)? {
                    Some(s) => s,
                    None => queries::quota::compute_namespace_size(c, namespace_id)?,
                };
                let extra = match &adding {
                    Some((digest, n)) if !queries::quota::namespace_has_blob(c, namespace_id, digest)? => *n,
                    _ => 0,
                };
                let over = if adding.is_some() {
                    extra > 0 && size.saturating_add(extra) > reject
                } else {
                    size >= reject
                };
                Ok(over.then_some((namespace_id, size.saturating_add(extra), reject)))
            })
            .await?;
        match refused {
            Some((namespace_id, size, reject)) => {
                self.record_quota_event(namespace_id, "quota_error", size, reject).await;
                Err(Error::QuotaExceeded)
            }
            None => Ok(()),
        }
    }

    /// Records that a push into the repository's namespace was refused.
    pub(super) async fn record_quota_refusal(&self, repo_id: i64) {
        let policy = *self.quota_policy();
        let found = self
            .db()
            .read(move |c| {
                let namespace_id = queries::quota::namespace_of(c, repo_id)?;
                let thresholds = Thresholds::load(c, &policy, namespace_id)?;
                let size = queries::quota::namespace_size(c, namespace_id)?.unwrap_or(0);
                Ok((namespace_id, size, thresholds.reject.unwrap_or(0)))
            })
            .await;
        if let Ok((namespace_id, size, reject)) = found {
            self.record_quota_event(namespace_id, "quota_error", size, reject).await;
        }
    }

    async fn record_quota_event(&self, namespace_id: i64, kind: &'static str, size: i64, limit: i64) {
        let now = crate::now_ms();
        let result = self
            .db()
            .write(move |c| Ok::<_, Error>(queries::quota::record_event(c, namespace_id, kind, size, limit, now)?))
            .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not record a quota event");
        }
    }

    /// The recorded `quota_warning` / `quota_error` events of a namespace,
    /// as (kind, bytes used, threshold bytes, time ms), oldest first.
    pub async fn quota_events(&self, namespace_id: i64) -> Result<Vec<(String, i64, i64, i64)>, Error> {
        Ok(self
            .db()
            .read(move |c| Ok(queries::quota::events_of(c, namespace_id)?))
            .await?)
    }
}

fn limit_view(l: LimitRow) -> QuotaLimit {
    QuotaLimit {
        id: l.id,
        kind: l.quota_type,
        percent: l.percent_of_limit,
    }
}

fn check_limit_bytes(limit_bytes: i64) -> Result<(), Error> {
    if limit_bytes <= 0 {
        return Err(Error::InvalidRequest("Quota limit must be greater than zero".into()));
    }
    Ok(())
}

/// A limit's type in Quay's spelling and its percentage (1–100).
fn check_limit(kind: &str, percent: i64) -> Result<(&'static str, i32), Error> {
    let kind = match kind.to_ascii_lowercase().as_str() {
        "warning" => WARNING,
        "reject" => REJECT,
        _ => {
            return Err(Error::InvalidRequest(format!(
                "Invalid quota type '{kind}': must be 'Warning' or 'Reject'"
            )))
        }
    };
    match i32::try_from(percent) {
        Ok(p) if (1..=100).contains(&p) => Ok((kind, p)),
        _ => Err(Error::InvalidRequest(
            "threshold_percent must be between 1 and 100".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_in_quay_units() {
        assert_eq!(parse_size("10 MiB"), Some(10 * 1024 * 1024));
        assert_eq!(parse_size("500MiB"), Some(500 * 1024 * 1024));
        assert_eq!(parse_size("10 GiB"), Some(10 * 1024 * 1024 * 1024));
        assert_eq!(parse_size("1.5 KB"), Some(1500));
        assert_eq!(parse_size("2 K"), Some(2000));
        assert_eq!(parse_size("42"), Some(42));
        assert_eq!(parse_size("42 B"), Some(42));
        assert_eq!(parse_size("1 TB"), Some(1_000_000_000_000));
        assert_eq!(parse_size("ten MiB"), None);
        assert_eq!(parse_size("10 QiB"), None);
        assert_eq!(parse_size("-1 MiB"), None);
        assert_eq!(parse_size("100 YiB"), None);
    }

    #[test]
    fn sizes_print_like_quay() {
        assert_eq!(human_size(10 * 1024 * 1024 * 1024), "10.0 GiB");
        assert_eq!(human_size(100 * 1024 * 1024), "100.0 MiB");
        assert_eq!(human_size(512), "512.0 B");
    }

    #[test]
    fn the_lowest_reject_wins_and_the_default_applies_without_quota() {
        let limits = vec![
            LimitRow {
                id: 1,
                quota_id: 1,
                quota_type: REJECT.into(),
                percent_of_limit: 80,
            },
            LimitRow {
                id: 2,
                quota_id: 1,
                quota_type: WARNING.into(),
                percent_of_limit: 50,
            },
        ];
        let policy = QuotaPolicy {
            enabled: true,
            verify: true,
            default_reject_bytes: 0,
            backfill: true,
        };
        let t = Thresholds::of(&policy, Some((1000, &limits)));
        assert_eq!(t.reject, Some(800));
        assert_eq!(t.warnings, vec![500]);
        let none = Thresholds::of(&policy, None);
        assert!(none.reject.is_none() && none.warnings.is_empty());
        let with_default = QuotaPolicy {
            default_reject_bytes: 5000,
            ..policy
        };
        assert_eq!(Thresholds::of(&with_default, None).reject, Some(5000));
        // A quota without limits does not enforce anything, even with a default.
        let bare = Thresholds::of(&with_default, Some((1000, &[])));
        assert!(bare.reject.is_none() && bare.warnings.is_empty());
    }

    #[test]
    fn limits_take_quay_types_and_percentages() {
        assert_eq!(check_limit("warning", 50).expect("valid"), (WARNING, 50));
        assert_eq!(check_limit("Reject", 100).expect("valid"), (REJECT, 100));
        assert!(check_limit("Soft", 50).is_err());
        assert!(check_limit(REJECT, 0).is_err());
        assert!(check_limit(REJECT, 101).is_err());
    }
}
