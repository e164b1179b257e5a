//! Build logs: live while the build runs (in Redis with `BUILDLOGS_REDIS`,
//! else in the `buildlogentry` table), then archived to blob storage as
//! Quay's log archive does: the gzip'd JSON `{start, total, logs}` at
//! `logarchive/<uuid>`, after which the live copy is deleted.
//!
//! Archiving is idempotent and never loses lines: the live copy is deleted
//! only after the archive is stored and the build marked archived. A build
//! whose archive could not be written (storage down) keeps its live copy
//! and is archived by a later worker pass.

use std::io::{Read as _, Write as _};

use bytes::Bytes;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use futures_util::TryStreamExt as _;
use serde_json::{json, Value};

use super::redis_logs::RedisLogs;
use super::LogLine;
use crate::db::queries::build_jobs as jq;
use crate::db::queries::builds as q;
use crate::db::queries::repositories::RepositoryView;
use crate::service::{Error, Registry};

/// Builds archived in one worker pass at most.
const ARCHIVE_BATCH: i64 = 50;

/// Where a build's archived logs are stored.
pub fn log_archive_key(uuid: &str) -> String {
    format!("logarchive/{uuid}")
}

/// Lines of a build's log from `start` on.
#[derive(Debug, Clone)]
pub struct LogPage {
    pub start: i64,
    /// The number of lines of the whole log.
    pub total: i64,
    pub lines: Vec<LogLine>,
    /// Read from the archive: the build has ended.
    pub archived: bool,
}

impl LogLine {
    /// Quay's log entry: `{message, type?, data?}`.
    pub fn to_json(&self) -> Value {
        let mut entry = json!({ "message": self.message });
        if let Some(kind) = &self.kind {
            entry["type"] = json!(kind);
        }
        if let Some(data) = &self.data {
            entry["data"] = data.clone();
        }
        entry
    }

    fn from_json(v: &Value) -> LogLine {
        LogLine {
            message: v["message"].as_str().unwrap_or_default().to_owned(),
            kind: v["type"].as_str().map(str::to_owned),
            data: v.get("data").filter(|d| !d.is_null()).cloned(),
        }
    }
}

fn archive_unreadable(e: impl std::fmt::Display) -> Error {
    tracing::warn!(error = %e, "reading archived build logs failed");
    Error::Unavailable("The archived build logs could not be read from storage; retry later".into())
}

/// The gzip'd archive of a whole log.
fn encode_archive(lines: &[LogLine]) -> Result<Bytes, std::io::Error> {
    let doc = json!({
        "start": 0,
        "total": lines.len(),
        "logs": lines.iter().map(LogLine::to_json).collect::<Vec<_>>(),
    });
    let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(doc.to_string().as_bytes())?;
    Ok(Bytes::from(gz.finish()?))
}

impl Registry {
    /// The Redis holding live logs, when `BUILDLOGS_REDIS` is configured.
    pub(super) fn live_redis(&self) -> Option<std::sync::Arc<RedisLogs>> {
        self.settings().builds.live_logs.clone()
    }

    /// Appends a line to the build's live log.
    pub(super) async fn append_live_log(&self, build_id: i64, uuid: &str, line: LogLine) -> Result<(), Error> {
        if let Some(redis) = self.live_redis() {
            return redis.append(uuid, &line.to_json().to_string()).await;
        }
        let data = line.data.map(|d| d.to_string());
        self.db()
            .write(move |c| {
                q::append_log_line(c, build_id, &line.message, line.kind.as_deref(), data.as_deref())?;
                Ok::<_, Error>(())
            })
            .await
    }

    /// The live log's length and its lines from `start` on.
    async fn read_live_logs(&self, build_id: i64, uuid: &str, start: i64) -> Result<(i64, Vec<LogLine>), Error> {
        if let Some(redis) = self.live_redis() {
            let (total, entries) = redis.read(uuid, start).await?;
            let lines = entries
                .iter()
                .map(|e| LogLine::from_json(&serde_json::from_str(e).unwrap_or(Value::Null)))
                .collect();
            return Ok((total, lines));
        }
        let (total, rows) = self.db().read(move |c| Ok(q::log_lines(c, build_id, start)?)).await?;
        let lines = rows
            .into_iter()
            .map(|r| LogLine {
                message: r.message,
                kind: r.kind,
                data: r.data_json.and_then(|d| serde_json::from_str(&d).ok()),
            })
            .collect();
        Ok((total, lines))
    }

    /// The archived log as stored (gzip'd JSON).
    async fn read_archive_bytes(&self, uuid: &str) -> Result<Vec<u8>, Error> {
        let stream = self
            .store()
            .read_object(&log_archive_key(uuid))
            .await
            .map_err(archive_unreadable)?;
        let chunks: Vec<Bytes> = stream.try_collect().await.map_err(archive_unreadable)?;
        let mut json = Vec::new();
        GzDecoder::new(chunks.concat().as_slice())
            .read_to_end(&mut json)
            .map_err(archive_unreadable)?;
        Ok(json)
    }

    async fn read_archive(&self, uuid: &str, start: i64) -> Result<(i64, Vec<LogLine>), Error> {
        let doc: Value = serde_json::from_slice(&self.read_archive_bytes(uuid).await?).map_err(archive_unreadable)?;
        let entries = doc["logs"].as_array().cloned().unwrap_or_default();
        let total = doc["total"].as_i64().unwrap_or(entries.len() as i64);
        let skip = usize::try_from(start).unwrap_or(usize::MAX);
        Ok((total, entries.iter().skip(skip).map(LogLine::from_json).collect()))
    }

    /// The build's log from `start` on: live while it runs, then from the
    /// archive.
    pub async fn build_logs(&self, repo: &RepositoryView, uuid: &str, start: i64) -> Result<LogPage, Error> {
        let row = self.build_row(repo, uuid).await?.0;
        if !row.logs_archived {
            let (total, lines) = self.read_live_logs(row.id, &row.uuid, start).await?;
            // The archiver may have deleted the live copy since the row was read.
            let moved = total == 0 && self.build_row(repo, uuid).await?.0.logs_archived;
            if !moved {
                return Ok(LogPage {
                    start,
                    total,
                    lines,
                    archived: false,
                });
            }
        }
        let (total, lines) = self.read_archive(&row.uuid, start).await?;
        Ok(LogPage {
            start,
            total,
            lines,
            archived: true,
        })
    }

    /// `namespace/name` of the repository of build `uuid`, if it exists.
    pub async fn build_repository_path(&self, uuid: &str) -> Result<Option<String>, Error> {
        let id = uuid.to_owned();
        Ok(self
            .db()
            .read(move |c| match jq::by_uuid(c, &id)? {
                Some(row) => Ok(Some(jq::repository_of(c, row.id)?)),
                None => Ok(None),
            })
            .await?
            .map(|(ns, name, _)| format!("{ns}/{name}")))
    }

    /// The repository of build `uuid`, whoever asks (for superusers).
    pub async fn build_repository(
        &self,
        uuid: &str,
    ) -> Result<Option<crate::db::queries::repositories::RepositoryView>, Error> {
        let id = uuid.to_owned();
        Ok(self
            .db()
            .read(move |c| match jq::by_uuid(c, &id)? {
                Some(row) => {
                    let (ns, name, _) = jq::repository_of(c, row.id)?;
                    Ok(crate::db::queries::repositories::find_view(c, &ns, &name)?)
                }
                None => Ok(None),
            })
            .await?)
    }

    /// The whole log as a JSON file `{start, total, logs}` (what
    /// `/buildlogs/{uuid}` downloads).
    pub async fn build_log_file(&self, repo: &RepositoryView, uuid: &str) -> Result<Vec<u8>, Error> {
        let row = self.build_row(repo, uuid).await?.0;
        if row.logs_archived {
            return self.read_archive_bytes(&row.uuid).await;
        }
        let page = self.build_logs(repo, uuid, 0).await?;
        let doc = json!({
            "start": 0,
            "total": page.total,
            "logs": page.lines.iter().map(LogLine::to_json).collect::<Vec<_>>(),
        });
        Ok(doc.to_string().into_bytes())
    }

    /// Archives the log of an ended build and deletes its live copy; false
    /// when it was archived already (here or by another replica).
    pub async fn archive_build_logs(&self, build_id: i64) -> Result<bool, Error> {
        let Some(row) = self
            .db()
            .read(move |c| Ok(q::find_by_id(c, build_id)?))
            .await?
            .map(|r| r.0)
        else {
            return Ok(false);
        };
        if row.logs_archived {
            return Ok(false);
        }
        let (_, lines) = self.read_live_logs(build_id, &row.uuid, 0).await?;
        let body = encode_archive(&lines).map_err(|e| Error::Storage(e.into()))?;
        self.store().put_object(&log_archive_key(&row.uuid), body).await?;
        let redis = self.live_redis();
        let in_db = redis.is_none();
        let marked = self
            .db()
            .write(move |c| {
                let marked = q::mark_logs_archived(c, build_id)?;
                if marked && in_db {
                    q::delete_log_lines(c, build_id)?;
                }
                Ok::<_, Error>(marked)
            })
            .await?;
        if let (true, Some(redis)) = (marked, redis) {
            // Left behind, the list still expires with its TTL.
            if let Err(e) = redis.delete(&row.uuid).await {
                tracing::warn!(error = %e, build = %row.uuid, "could not delete the archived live logs");
            }
        }
        Ok(marked)
    }

    /// Archives when a build ended; a failure leaves the live copy for the
    /// archiving worker and is logged, never the caller's.
    pub(super) async fn archive_ended_build(&self, build_id: i64) {
        if let Err(e) = self.archive_build_logs(build_id).await {
            tracing::warn!(error = %e, build_id, "archiving build logs failed; a worker pass retries");
        }
    }

    /// One worker pass: archives the logs of ended builds not archived yet
    /// (those whose archiving failed when they ended); returns how many.
    pub async fn archive_ended_build_logs(&self) -> Result<usize, Error> {
        let ended = self.db().read(|c| Ok(q::ended_unarchived(c, ARCHIVE_BATCH)?)).await?;
        let mut archived = 0;
        let mut failure = None;
        for id in ended {
            match self.archive_build_logs(id).await {
                Ok(true) => archived += 1,
                Ok(false) => {}
                Err(e) => failure = Some(e),
            }
        }
        match failure {
            Some(e) if archived == 0 => Err(e),
            Some(e) => {
                tracing::warn!(error = %e, archived, "some build logs could not be archived");
                Ok(archived)
            }
            None => Ok(archived),
        }
    }
}
