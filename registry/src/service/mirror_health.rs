//! The health of repository mirroring (Quay's `/repository/mirror/health`):
//! how many enabled mirrors are syncing, succeeded, failed or never ran,
//! samples of the problems, and whether too many of those that ran fail.

use super::mirrors::status_name;
use super::{Error, Registry};
use crate::db::queries::mirrors::{self as q, HealthRow};

/// At most this many repositories of each problem are named.
const ISSUE_SAMPLES: usize = 5;
/// Mirroring is unhealthy when more than this share of the mirrors that
/// have run are failing.
const FAILURE_THRESHOLD: f64 = 0.2;
/// The largest page of the detailed listing.
pub const MAX_DETAIL_PAGE: usize = 1000;

#[derive(Debug, Clone, Default)]
pub struct MirrorHealth {
    pub healthy: bool,
    pub total: usize,
    pub syncing: usize,
    pub completed: usize,
    pub failed: usize,
    pub never_run: usize,
    /// Tags still to copy by the syncs under way.
    pub tags_pending: i64,
    /// (severity, message), most severe first.
    pub issues: Vec<(&'static str, String)>,
    /// With a detailed report: the page of mirrors and whether more follow.
    pub details: Option<(Vec<MirrorDetail>, bool)>,
}

#[derive(Debug, Clone)]
pub struct MirrorDetail {
    pub namespace: String,
    pub repository: String,
    pub sync_status: &'static str,
    pub retries_remaining: i32,
}

/// Which part of the detailed listing to return.
#[derive(Debug, Clone, Copy)]
pub struct DetailPage {
    pub limit: usize,
    pub offset: usize,
}

impl Registry {
    /// The health of every enabled mirror, or of one namespace's.
    pub async fn mirror_health(
        &self,
        namespace: Option<&str>,
        detail: Option<DetailPage>,
    ) -> Result<MirrorHealth, Error> {
        let ns = namespace.map(str::to_owned);
        let rows = self.db().read(move |c| Ok(q::health_rows(c, ns.as_deref())?)).await?;
        Ok(summarize(&rows, detail))
    }
}

fn summarize(rows: &[HealthRow], detail: Option<DetailPage>) -> MirrorHealth {
    let count = |s: i32| rows.iter().filter(|r| r.sync_status == s).count();
    let mut h = MirrorHealth {
        total: rows.len(),
        syncing: count(q::SYNCING),
        completed: count(q::SUCCESS),
        failed: count(q::FAIL),
        never_run: count(q::NEVER_RUN),
        tags_pending: rows
            .iter()
            .filter(|r| r.sync_status == q::SYNCING)
            .map(|r| i64::from((r.tags_total - r.tags_done).max(0)))
            .sum(),
        ..MirrorHealth::default()
    };
    let name = |r: &HealthRow| format!("{}/{}", r.namespace, r.repository);
    for r in rows
        .iter()
        .filter(|r| r.sync_status == q::NEVER_RUN)
        .take(ISSUE_SAMPLES)
    {
        h.issues
            .push(("warning", format!("Repository {} has never been synced", name(r))));
    }
    let exhausted = rows
        .iter()
        .filter(|r| r.sync_status == q::FAIL && r.retries_remaining == 0);
    for r in exhausted.take(ISSUE_SAMPLES) {
        h.issues.push((
            "error",
            format!("Repository {} has exhausted all retry attempts", name(r)),
        ));
    }
    let ran = h.total - h.never_run;
    h.healthy = true;
    if ran > 0 {
        let rate = h.failed as f64 / ran as f64;
        if rate > FAILURE_THRESHOLD {
            h.healthy = false;
            let message = format!(
                "{:.1}% of repositories are failing (threshold: {:.1}%)",
                rate * 100.0,
                FAILURE_THRESHOLD * 100.0
            );
            h.issues.insert(0, ("critical", message));
        }
    }
    h.details = detail.map(|page| {
        let limit = page.limit.clamp(1, MAX_DETAIL_PAGE);
        let listed: Vec<MirrorDetail> = rows
            .iter()
            .skip(page.offset)
            .take(limit)
            .map(|r| MirrorDetail {
                namespace: r.namespace.clone(),
                repository: r.repository.clone(),
                sync_status: status_name(r.sync_status),
                retries_remaining: r.retries_remaining,
            })
            .collect();
        (listed, rows.len() > page.offset.saturating_add(limit))
    });
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, status: i32, retries: i32) -> HealthRow {
        HealthRow {
            namespace: "org".into(),
            repository: name.into(),
            sync_status: status,
            retries_remaining: retries,
            tags_done: 1,
            tags_total: 4,
        }
    }

    #[test]
    fn more_than_a_fifth_of_run_mirrors_failing_is_unhealthy() {
        let rows = [
            row("a", q::SUCCESS, 3),
            row("b", q::SUCCESS, 3),
            row("c", q::SUCCESS, 3),
            row("d", q::SUCCESS, 3),
            row("e", q::FAIL, 2),
            row("f", q::NEVER_RUN, 3),
        ];
        let h = summarize(&rows, None);
        assert!(h.healthy, "1 of 5 that ran is exactly the threshold");
        assert_eq!((h.total, h.completed, h.failed, h.never_run), (6, 4, 1, 1));
        let mut rows = rows.to_vec();
        rows.push(row("g", q::FAIL, 0));
        let h = summarize(&rows, Some(DetailPage { limit: 2, offset: 5 }));
        assert!(!h.healthy);
        assert_eq!(h.issues[0].0, "critical");
        assert!(h.issues.iter().any(|(s, m)| *s == "error" && m.contains("org/g")));
        assert!(h.issues.iter().any(|(s, m)| *s == "warning" && m.contains("org/f")));
        let (page, more) = h.details.expect("details");
        assert_eq!(
            page.iter().map(|d| d.repository.as_str()).collect::<Vec<_>>(),
            ["f", "g"]
        );
        assert!(!more);
    }

    #[test]
    fn pending_tags_count_only_syncs_under_way() {
        let h = summarize(&[row("a", q::SYNCING, 3), row("b", q::SUCCESS, 3)], None);
        assert_eq!(h.tags_pending, 3);
    }
}
