//! Usage-log exports (quay-api.md §1.10, `…/exportlogs`): a request is a
//! `logexport` row; a worker pass claims due rows, writes the range's logs
//! as one JSON document into blob storage (a named object under
//! `EXPORT_ACTION_LOGS_STORAGE_PATH`), then tells the requester through the
//! callback URL (POST, SSRF-checked) and/or by email, with a signed link
//! the registry serves for `EXPORT_ACTION_LOGS_SECONDS` ([`link`]). Unlike
//! Quay this needs no storage with direct-download URLs. Files whose link
//! expired are deleted by the same pass.

mod link;

use bytes::Bytes;
use serde_json::{json, Value};

use super::logs::{with_accounts, LoggedAction};
use super::mail::Mail;
use super::notifications::{check_url, post_checked};
use super::{Error, Registry};
use crate::config::Config;
use crate::db::queries::log_exports::{self as q, LogExportRow, NewLogExport};
use crate::db::queries::logs::{self as lq, LogFilter};
use crate::format_date;

pub use link::ExportLinkError;

/// Renders one entry as the logs API shows it (the API layer's view,
/// handed in at startup so both stay identical).
pub type EntryView = fn(&LoggedAction) -> Value;

/// Claimed exports one pass works at most.
const BATCH: i64 = 10;
/// How long a claimed export stays invisible to other workers.
const LEASE_MS: i64 = 30 * 60 * 1000;
/// Tries before an export is reported as failed.
const MAX_ATTEMPTS: i32 = 3;
const RETRY_AFTER_MS: i64 = 60_000;
/// Rows read per query while gathering an export.
const READ_BATCH: i64 = 1_000;

/// Log export settings from `config.yaml`.
#[derive(Debug, Clone)]
pub struct LogExportPolicy {
    /// `FEATURE_LOG_EXPORT` (default on).
    pub enabled: bool,
    /// `EXPORT_ACTION_LOGS_SECONDS`: how long a download link works and
    /// the file is kept (default one hour, as in Quay).
    pub link_lifetime_s: i64,
    /// `EXPORT_ACTION_LOGS_STORAGE_PATH` (default `exportedactionlogs`).
    pub storage_path: String,
    /// `EXPORT_ACTION_LOGS_WORKER_POLL_PERIOD` in seconds (default 60; 0
    /// turns the loop off, for tests that run passes themselves).
    pub poll_every_s: u64,
    /// The entry view; without one, entries show their stored fields.
    pub entry_view: Option<EntryView>,
}

impl Default for LogExportPolicy {
    fn default() -> Self {
        LogExportPolicy {
            enabled: true,
            link_lifetime_s: 3600,
            storage_path: "exportedactionlogs".into(),
            poll_every_s: 60,
            entry_view: None,
        }
    }
}

impl LogExportPolicy {
    pub fn from_config(config: &Config) -> LogExportPolicy {
        let defaults = LogExportPolicy::default();
        let number = |key: &str| {
            config
                .other
                .get(key)
                .and_then(|v| v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok())))
        };
        LogExportPolicy {
            enabled: config.feature("LOG_EXPORT", true),
            link_lifetime_s: number("EXPORT_ACTION_LOGS_SECONDS")
                .and_then(|s| i64::try_from(s).ok())
                .map_or(defaults.link_lifetime_s, |s| s.max(1)),
            storage_path: config
                .other
                .get("EXPORT_ACTION_LOGS_STORAGE_PATH")
                .and_then(serde_yaml::Value::as_str)
                .map(|s| s.trim_matches('/').to_owned())
                .filter(|s| crate::storage::object_key(s).is_ok())
                .unwrap_or(defaults.storage_path),
            poll_every_s: number("EXPORT_ACTION_LOGS_WORKER_POLL_PERIOD").unwrap_or(defaults.poll_every_s),
            entry_view: None,
        }
    }
}

/// What `POST …/exportlogs` asks for, its scope already authorized.
#[derive(Debug, Clone)]
pub struct ExportRequest {
    pub requester_id: i64,
    /// The namespace (user or organization) whose logs are exported.
    pub account_id: i64,
    pub repository_id: Option<i64>,
    pub start_ms: i64,
    pub end_ms: i64,
    pub callback_url: Option<String>,
    pub callback_email: Option<String>,
    /// `scheme://host` the download link points at.
    pub link_base: String,
}

/// What one export pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportReport {
    pub exported: usize,
    pub failed: usize,
    /// Files deleted because their link expired.
    pub removed: usize,
}

fn invalid(message: impl Into<String>) -> Error {
    Error::InvalidRequest(message.into())
}

/// Quay's date format, for the document's details.
/// The stored fields of an entry, when no view was handed in.
fn plain_view(l: &LoggedAction) -> Value {
    json!({
        "kind": l.row.kind,
        "metadata": serde_json::from_str::<Value>(&l.row.metadata_json).unwrap_or_else(|_| json!({})),
        "ip": l.row.ip,
        "datetime": format_date(l.row.datetime_ms),
        "performer": l.performer.as_ref().map(|p| json!({"kind": "user", "name": p.username, "is_robot": p.robot})),
    })
}

impl Registry {
    /// Queues an export after checking the callback URL (SSRF rules as for
    /// webhooks) and email; returns the export id.
    pub async fn request_log_export(&self, req: ExportRequest) -> Result<String, Error> {
        let url = req.callback_url.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        let email = req
            .callback_email
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty());
        if url.is_none() && email.is_none() {
            return Err(invalid("Must specify a callback URL or email"));
        }
        if let Some(u) = &url {
            check_url(&self.settings().notifications.ssrf, u)
                .await
                .map_err(invalid)?;
        }
        if let Some(e) = &email {
            e.parse::<lettre::Address>()
                .map_err(|_| invalid(format!("Invalid callback email '{e}'")))?;
            if self.settings().notifications.mailer.is_none() {
                return Err(invalid(
                    "Mailing is not configured, so the export cannot be sent by email",
                ));
            }
        }
        let now = crate::now_ms();
        let row = NewLogExport {
            uuid: uuid::Uuid::new_v4().to_string(),
            requester_id: req.requester_id,
            account_id: Some(req.account_id),
            repository_id: req.repository_id,
            start_ms: req.start_ms,
            end_ms: req.end_ms,
            callback_url: url,
            callback_email: email,
            status: q::QUEUED.into(),
            available_after_ms: now,
            created_ms: now,
            link_base: req.link_base,
        };
        let id = row.uuid.clone();
        self.db().write(move |c| Ok::<_, Error>(q::insert(c, &row)?)).await?;
        Ok(id)
    }

    /// Deletes expired export files, then works off the exports due now.
    pub async fn run_log_exports_once(&self) -> Result<ExportReport, Error> {
        self.run_log_exports_at(crate::now_ms()).await
    }

    /// As [`Registry::run_log_exports_once`] at `now` (tests pass a later
    /// time to reach expiry without waiting).
    pub async fn run_log_exports_at(&self, now: i64) -> Result<ExportReport, Error> {
        let mut report = ExportReport {
            removed: self.remove_expired_log_exports(now).await?,
            ..ExportReport::default()
        };
        let claimed = self
            .db()
            .write(move |c| Ok::<_, Error>(q::claim_due(c, now, LEASE_MS, BATCH)?))
            .await?;
        for row in claimed {
            if self.export_one(&row, now).await? {
                report.exported += 1;
            } else {
                report.failed += 1;
            }
        }
        Ok(report)
    }

    /// Writes one export and reports it; `false` when it failed this time.
    async fn export_one(&self, row: &LogExportRow, now: i64) -> Result<bool, Error> {
        let (id, attempts) = (row.id, row.attempts + 1);
        match self.write_export(row).await {
            Ok(key) => {
                let expires_ms = now.saturating_add(self.settings().log_export.link_lifetime_s.saturating_mul(1000));
                self.db()
                    .write(move |c| Ok::<_, Error>(q::succeed(c, id, &key, expires_ms)?))
                    .await?;
                let url = self
                    .log_export_url(&row.link_base, &row.uuid, expires_ms / 1000)
                    .await?;
                self.report_export(row, "success", Some(&url)).await;
                Ok(true)
            }
            Err(e) => {
                tracing::warn!(export = %row.uuid, attempt = attempts, error = %e, "exporting usage logs failed");
                if attempts < MAX_ATTEMPTS {
                    let later = now.saturating_add(RETRY_AFTER_MS * i64::from(attempts));
                    self.db()
                        .write(move |c| Ok::<_, Error>(q::retry_later(c, id, attempts, later)?))
                        .await?;
                } else {
                    self.db()
                        .write(move |c| Ok::<_, Error>(q::fail(c, id, attempts)?))
                        .await?;
                    self.report_export(row, "failed", None).await;
                }
                Ok(false)
            }
        }
    }

    /// Gathers the export's logs into its JSON document in storage;
    /// returns the storage key.
    async fn write_export(&self, row: &LogExportRow) -> Result<String, Error> {
        let document = self.export_document(row).await?;
        let body = serde_json::to_vec(&document).map_err(|e| Error::Unsupported(e.to_string()))?;
        let key = format!("{}/{}.json", self.settings().log_export.storage_path, row.uuid);
        self.store().put_object(&key, Bytes::from(body)).await?;
        Ok(key)
    }

    async fn export_document(&self, row: &LogExportRow) -> Result<Value, Error> {
        let filter = LogFilter {
            account_id: row.account_id,
            repository_id: row.repository_id,
            performer_id: None,
            start_ms: row.start_ms,
            end_ms: row.end_ms,
        };
        let (account_id, repository_id) = (row.account_id, row.repository_id);
        let (logs, namespace, repository) = self
            .db()
            .read(move |c| {
                let mut logs = Vec::new();
                let mut before = None;
                loop {
                    let rows = lq::page(c, &filter, before, READ_BATCH)?;
                    let full = rows.len() == READ_BATCH as usize;
                    before = rows.last().map(|r| r.id);
                    logs.extend(with_accounts(c, rows)?);
                    if !full {
                        break;
                    }
                }
                let namespace = account_id.map(|id| q::account_name(c, id)).transpose()?.flatten();
                let repository = repository_id.map(|id| q::repository_name(c, id)).transpose()?.flatten();
                Ok((logs, namespace, repository))
            })
            .await?;
        let view = self.settings().log_export.entry_view.unwrap_or(plain_view);
        Ok(json!({
            "export_id": row.uuid,
            "details": {
                "start_time": format_date(row.start_ms),
                "end_time": format_date(row.end_ms),
                "namespace": namespace,
                "repository": repository,
            },
            "logs": logs.iter().map(view).collect::<Vec<_>>(),
        }))
    }

    /// Tells the requester how the export went; failures to tell are
    /// logged, the export stays as it is.
    async fn report_export(&self, row: &LogExportRow, status: &str, url: Option<&str>) {
        if let Some(callback) = &row.callback_url {
            let (account_id, repository_id) = (row.account_id, row.repository_id);
            let (namespace, repository) = self
                .db()
                .read(move |c| {
                    let namespace = account_id.map(|id| q::account_name(c, id)).transpose()?.flatten();
                    let repository = repository_id.map(|id| q::repository_name(c, id)).transpose()?.flatten();
                    Ok((namespace, repository))
                })
                .await
                .unwrap_or_default();
            let body = json!({
                "export_id": row.uuid,
                "start_time": chrono_day(row.start_ms),
                "end_time": chrono_day(row.end_ms - 1),
                "namespace": namespace,
                "repository": repository,
                "status": status,
                "exported_data_url": url,
            });
            if let Err(e) = post_checked(&self.settings().notifications, callback, &body, None).await {
                tracing::warn!(export = %row.uuid, error = %e, "export callback failed");
            }
        }
        if let Some(to) = &row.callback_email {
            let Some(mailer) = &self.settings().notifications.mailer else {
                return;
            };
            let body = match url {
                Some(u) => format!(
                    "The usage logs export {} you requested is ready.\n\nDownload it from:\n{u}\n\n\
                     The link expires in {} minutes.\n",
                    row.uuid,
                    self.settings().log_export.link_lifetime_s / 60
                ),
                None => format!(
                    "The usage logs export {} you requested could not be completed.\n",
                    row.uuid
                ),
            };
            let mail = Mail {
                to: to.clone(),
                subject: format!("Usage logs export {status}"),
                body,
            };
            if let Err(e) = mailer.send(&mail).await {
                tracing::warn!(export = %row.uuid, error = %e, "export email failed");
            }
        }
    }

    /// Deletes the files of exports whose link expired before `now`.
    async fn remove_expired_log_exports(&self, now: i64) -> Result<usize, Error> {
        let expired = self.db().read(move |c| Ok(q::expired(c, now, 100)?)).await?;
        let mut removed = 0;
        for (id, key) in expired {
            if let Some(key) = key {
                self.store().delete_object(&key).await?;
            }
            self.db()
                .write(move |c| Ok::<_, Error>(q::mark_expired(c, id)?))
                .await?;
            removed += 1;
        }
        Ok(removed)
    }
}

/// A day as `MM/DD/YYYY`, as the export was requested.
fn chrono_day(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.format("%m/%d/%Y").to_string())
        .unwrap_or_default()
}
