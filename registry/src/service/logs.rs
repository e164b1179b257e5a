//! Usage logs (quay-api.md §1.10): rows of `logentry3`, written off the
//! request path, and reading them back.
//!
//! [`Registry::log_action`] only queues an entry; a background task writes
//! queued entries in batches, one transaction each. Entries may name their
//! performer, namespace or repository instead of giving ids (a /v2 pull
//! knows names only), so the request path never reads the database for
//! logging; the writer resolves names in its transaction.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use super::{Error, Registry};
use crate::db::models::Account;
use crate::db::queries::logs::{self as q, LogFilter, LogRow, NewLogRow};
use crate::db::{Db, DbConn, DbError};
use crate::oci::RepoName;

/// Entries the queue holds before callers write directly.
const QUEUE_CAPACITY: usize = 10_000;
/// Most rows one transaction writes.
const BATCH_ROWS: usize = 500;
/// Longest an entry waits for its batch to fill up.
const BATCH_WAIT: Duration = Duration::from_millis(200);
/// Tries at writing one batch before it is given up (a database that is
/// briefly unreachable or out of connections must not lose entries).
const WRITE_ATTEMPTS: u32 = 6;
/// Wait before the second try; doubled for each further one.
const FIRST_RETRY: Duration = Duration::from_millis(100);
/// Rows per page of a listing, as in Quay.
pub const PAGE_SIZE: i64 = 20;

/// One action to record.
#[derive(Debug, Clone)]
pub struct LogEntry {
    pub kind: &'static str,
    pub performer_id: Option<i64>,
    /// The performer's username, when only that is known.
    pub performer_name: Option<String>,
    /// The namespace (user or organization) the action belongs to.
    pub account_id: Option<i64>,
    pub account_name: Option<String>,
    pub repository_id: Option<i64>,
    /// The repository, when only its name is known.
    pub repository: Option<RepoName>,
    pub ip: Option<String>,
    pub metadata: Value,
    pub datetime_ms: i64,
}

impl LogEntry {
    /// An entry of `kind` performed now by `performer` (`None`: anonymous).
    pub fn new(kind: &'static str, performer: Option<&Account>, ip: Option<String>) -> LogEntry {
        LogEntry {
            kind,
            performer_id: performer.map(|a| a.id),
            performer_name: None,
            account_id: None,
            account_name: None,
            repository_id: None,
            repository: None,
            ip,
            metadata: Value::Object(serde_json::Map::new()),
            datetime_ms: crate::now_ms(),
        }
    }

    /// The performer by username, resolved when written.
    pub fn performer_named(mut self, username: Option<&str>) -> LogEntry {
        self.performer_name = username.map(str::to_owned);
        self
    }

    /// The namespace account the action belongs to.
    pub fn account(mut self, id: i64) -> LogEntry {
        self.account_id = Some(id);
        self
    }

    /// The namespace by name, resolved when written.
    pub fn account_named(mut self, name: &str) -> LogEntry {
        self.account_name = Some(name.to_owned());
        self
    }

    /// The repository and its namespace.
    pub fn repository(mut self, namespace_id: i64, repository_id: i64) -> LogEntry {
        self.account_id = Some(namespace_id);
        self.repository_id = Some(repository_id);
        self
    }

    /// The repository by name, resolved (with its namespace) when written.
    pub fn repository_named(mut self, repo: &RepoName) -> LogEntry {
        self.repository = Some(repo.clone());
        self
    }

    pub fn metadata(mut self, metadata: Value) -> LogEntry {
        self.metadata = metadata;
        self
    }
}

enum Msg {
    Entry(Box<LogEntry>),
    /// Answered once every entry queued before it is written.
    Flush(oneshot::Sender<()>),
}

/// The sending side of the log queue, held by the registry.
pub(super) struct LogQueue {
    tx: mpsc::Sender<Msg>,
}

impl LogQueue {
    /// Starts the writer on a thread of its own with its own runtime, so the
    /// queue lives as long as the registry does, not as long as whichever
    /// runtime happened to log first (an HTTP worker's, a test's).
    pub(super) fn start(db: &Db) -> Option<LogQueue> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let db = db.clone();
        std::thread::Builder::new()
            .name("usage-logs".into())
            .spawn(move || runtime.block_on(write_forever(db, rx)))
            .ok()?;
        Some(LogQueue { tx })
    }
}

/// Takes entries off the queue and writes them in batches until every
/// sender is gone; what is queued then is still written.
async fn write_forever(db: Db, mut rx: mpsc::Receiver<Msg>) {
    while let Some(first) = rx.recv().await {
        let mut batch = Vec::new();
        let mut waiting = Vec::new();
        let deadline = tokio::time::Instant::now() + BATCH_WAIT;
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            match msg {
                Msg::Entry(e) => batch.push(*e),
                Msg::Flush(done) => {
                    waiting.push(done);
                    break;
                }
            }
            if batch.len() >= BATCH_ROWS {
                break;
            }
            next = tokio::time::timeout_at(deadline, rx.recv()).await.ok().flatten();
        }
        write_with_retries(&db, batch).await;
        for done in waiting {
            let _ = done.send(());
        }
    }
}

/// Writes a batch, trying again with growing pauses while the database
/// fails; if it never succeeds, writes the entries one by one, so one entry
/// the database refuses does not take the others with it.
async fn write_with_retries(db: &Db, batch: Vec<LogEntry>) {
    let batch = Arc::new(batch);
    let mut pause = FIRST_RETRY;
    for attempt in 1..=WRITE_ATTEMPTS {
        match write_batch(db, batch.clone()).await {
            Ok(_) => return,
            Err(e) => tracing::warn!(error = %e, attempt, rows = batch.len(), "writing usage logs failed"),
        }
        if attempt < WRITE_ATTEMPTS {
            tokio::time::sleep(pause).await;
            pause *= 2;
        }
    }
    if batch.len() > 1 {
        for entry in batch.iter() {
            if let Err(e) = write_batch(db, Arc::new(vec![entry.clone()])).await {
                tracing::error!(error = %e, kind = entry.kind, "writing a usage log failed; entry lost");
            }
        }
    } else {
        tracing::error!(rows = batch.len(), "writing usage logs failed; entries lost");
    }
}

async fn write_batch(db: &Db, batch: Arc<Vec<LogEntry>>) -> Result<usize, DbError> {
    if batch.is_empty() {
        return Ok(0);
    }
    db.write(move |c| {
        let rows = resolve(c, &batch)?;
        Ok(q::insert_all(c, &rows)?)
    })
    .await
}

/// Turns entries into rows, looking up the names they carry.
fn resolve(c: &mut DbConn, batch: &[LogEntry]) -> Result<Vec<NewLogRow>, DbError> {
    let mut names = Names::default();
    let mut rows = Vec::with_capacity(batch.len());
    for e in batch {
        let performer_id = match (e.performer_id, &e.performer_name) {
            (None, Some(name)) => names.account(c, name)?,
            (id, _) => id,
        };
        let mut account_id = match (e.account_id, &e.account_name) {
            (None, Some(name)) => names.account(c, name)?,
            (id, _) => id,
        };
        let mut repository_id = e.repository_id;
        if let (None, Some(repo)) = (repository_id, &e.repository) {
            if let Some((ns, id)) = names.repository(c, repo)? {
                account_id = account_id.or(Some(ns));
                repository_id = Some(id);
            }
        }
        rows.push(NewLogRow {
            kind: e.kind.to_owned(),
            account_id,
            performer_id,
            repository_id,
            datetime_ms: e.datetime_ms,
            ip: e.ip.clone(),
            metadata_json: e.metadata.to_string(),
        });
    }
    Ok(rows)
}

/// Ids of the names one batch mentions, each looked up once.
#[derive(Default)]
struct Names {
    accounts: HashMap<String, Option<i64>>,
    repositories: HashMap<String, Option<(i64, i64)>>,
}

impl Names {
    fn account(&mut self, c: &mut DbConn, name: &str) -> Result<Option<i64>, DbError> {
        if let Some(id) = self.accounts.get(name) {
            return Ok(*id);
        }
        let id = q::account_id(c, name)?;
        self.accounts.insert(name.to_owned(), id);
        Ok(id)
    }

    /// The namespace id and id of a repository.
    fn repository(&mut self, c: &mut DbConn, repo: &RepoName) -> Result<Option<(i64, i64)>, DbError> {
        let key = repo.to_string();
        if let Some(found) = self.repositories.get(&key) {
            return Ok(*found);
        }
        let found = crate::db::queries::repositories::find(c, repo.namespace(), repo.name())?
            .map(|r| (r.namespace_user_id, r.id));
        self.repositories.insert(key, found);
        Ok(found)
    }
}

/// What a log listing asks for.
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    pub account_id: Option<i64>,
    pub repository_id: Option<i64>,
    /// Only actions of this username; an unknown one matches nothing.
    pub performer: Option<String>,
    pub start_ms: i64,
    pub end_ms: i64,
}

/// An account as a log view shows it.
#[derive(Debug, Clone)]
pub struct LogAccount {
    pub username: String,
    pub robot: bool,
    pub organization: bool,
}

/// A stored entry with its performer and namespace.
#[derive(Debug, Clone)]
pub struct LoggedAction {
    pub row: LogRow,
    pub performer: Option<LogAccount>,
    pub namespace: Option<LogAccount>,
}

/// One page of a listing; `next_before` continues it.
#[derive(Debug, Clone)]
pub struct LogPage {
    pub logs: Vec<LoggedAction>,
    pub next_before: Option<i64>,
}

/// How many actions of a kind happened on one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AggregatedCount {
    pub kind: String,
    pub count: i64,
    /// Midnight UTC of the day.
    pub day_ms: i64,
}

const DAY_MS: i64 = 86_400_000;

impl Registry {
    /// Records an action without waiting for the database: the entry is
    /// queued for the writer, or written by a spawned task when the queue
    /// is full (never dropped).
    pub fn log_action(&self, entry: LogEntry) {
        let queue = self.inner.logs.get_or_init(|| LogQueue::start(self.db()));
        let entry = match queue {
            Some(q) => match q.tx.try_send(Msg::Entry(Box::new(entry))) {
                Ok(()) => return,
                Err(
                    mpsc::error::TrySendError::Full(Msg::Entry(e)) | mpsc::error::TrySendError::Closed(Msg::Entry(e)),
                ) => *e,
                Err(_) => return,
            },
            None => entry,
        };
        let db = self.db().clone();
        let write = async move { write_with_retries(&db, vec![entry]).await };
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => drop(handle.spawn(write)),
            Err(_) => tracing::warn!("usage log dropped: no async runtime"),
        }
    }

    /// Waits until every entry queued so far is written.
    pub async fn flush_logs(&self) {
        let Some(Some(queue)) = self.inner.logs.get() else {
            return;
        };
        let (done, wait) = oneshot::channel();
        if queue.tx.send(Msg::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }

    /// One page of matching entries, newest first.
    pub async fn list_logs(&self, query: LogQuery, before_id: Option<i64>) -> Result<LogPage, Error> {
        self.db()
            .read(move |c| {
                let Some(filter) = filter_of(c, &query)? else {
                    return Ok(LogPage {
                        logs: Vec::new(),
                        next_before: None,
                    });
                };
                let mut rows = q::page(c, &filter, before_id, PAGE_SIZE + 1)?;
                let more = rows.len() > PAGE_SIZE as usize;
                rows.truncate(PAGE_SIZE as usize);
                let next_before = more.then(|| rows.last().map(|r| r.id)).flatten();
                let logs = with_accounts(c, rows)?;
                Ok(LogPage { logs, next_before })
            })
            .await
            .map_err(Error::from)
    }

    /// Counts of matching entries per UTC day and kind.
    pub async fn aggregate_logs(&self, query: LogQuery) -> Result<Vec<AggregatedCount>, Error> {
        let rows = self
            .db()
            .read(move |c| match filter_of(c, &query)? {
                Some(filter) => Ok(q::kinds_and_times(c, &filter)?),
                None => Ok(Vec::new()),
            })
            .await?;
        let mut counts: HashMap<(String, i64), i64> = HashMap::new();
        for (kind, at) in rows {
            *counts.entry((kind, at.div_euclid(DAY_MS) * DAY_MS)).or_default() += 1;
        }
        let mut out: Vec<AggregatedCount> = counts
            .into_iter()
            .map(|((kind, day_ms), count)| AggregatedCount { kind, count, day_ms })
            .collect();
        out.sort_by(|a, b| (a.day_ms, &a.kind).cmp(&(b.day_ms, &b.kind)));
        Ok(out)
    }

    /// Deletes entries older than `max_age_s`; returns how many went.
    pub async fn prune_logs(&self, max_age_s: i64) -> Result<usize, Error> {
        let before = crate::now_ms() - max_age_s.saturating_mul(1000);
        let mut total = 0;
        loop {
            let n = self
                .db()
                .write(move |c| Ok::<_, Error>(q::delete_older_than(c, before, 5_000)?))
                .await?;
            total += n;
            if n < 5_000 {
                return Ok(total);
            }
        }
    }
}

/// The filter of a query; `None` when its performer does not exist.
fn filter_of(c: &mut DbConn, query: &LogQuery) -> Result<Option<LogFilter>, DbError> {
    let performer_id = match &query.performer {
        Some(name) => match q::account_id(c, name)? {
            Some(id) => Some(id),
            None => return Ok(None),
        },
        None => None,
    };
    Ok(Some(LogFilter {
        account_id: query.account_id,
        repository_id: query.repository_id,
        performer_id,
        start_ms: query.start_ms,
        end_ms: query.end_ms,
    }))
}

pub(super) fn with_accounts(c: &mut DbConn, rows: Vec<LogRow>) -> Result<Vec<LoggedAction>, DbError> {
    let mut ids: Vec<i64> = rows
        .iter()
        .flat_map(|r| [r.performer_id, r.account_id])
        .flatten()
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let names: HashMap<i64, LogAccount> = q::account_names(c, &ids)?
        .into_iter()
        .map(|(id, username, robot, organization)| {
            (
                id,
                LogAccount {
                    username,
                    robot,
                    organization,
                },
            )
        })
        .collect();
    Ok(rows
        .into_iter()
        .map(|row| LoggedAction {
            performer: row.performer_id.and_then(|id| names.get(&id).cloned()),
            namespace: row.account_id.and_then(|id| names.get(&id).cloned()),
            row,
        })
        .collect())
}
