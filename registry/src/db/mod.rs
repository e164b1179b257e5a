//! The database: one connection type over PostgreSQL and SQLite, pools, and
//! migrations. All SQL lives in [`queries`].
//!
//! SQLite runs in WAL mode with one writer connection (writes queue for it)
//! and a pool of readers; PostgreSQL uses one pool for both.

mod availability;
pub mod models;
pub mod queries;
pub mod schema;

use std::path::PathBuf;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{ManageConnection, NopErrorHandler, Pool, PooledConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use availability::{Reachability, Source};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Advisory-lock key that serializes migrations across replicas.
const MIGRATION_LOCK: i64 = 0x7175_6179;

/// Runs the same diesel expression on whichever backend `conn` is, for the
/// few statements the shared connection type cannot express (upserts, row
/// locks). The body is compiled once per backend.
#[macro_export]
macro_rules! per_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::DbConn::Pg($c) => $body,
            $crate::db::DbConn::Sqlite($c) => $body,
        }
    };
}

/// A connection to either backend; queries are written once against it.
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database: {0}")]
    Query(#[from] diesel::result::Error),
    /// No connection could be had: the database cannot be reached, or the
    /// pool stayed exhausted. The text is the driver's, for the log only.
    #[error("database connection: {0}")]
    Connection(String),
    #[error("database migration: {0}")]
    Migration(String),
    #[error("database task failed: {0}")]
    Task(String),
}

impl DbError {
    /// Whether the database failed because its disk is full: SQLite's
    /// `SQLITE_FULL`, PostgreSQL's `disk_full` (both name the cause in the message).
    pub fn is_full(&self) -> bool {
        let message = match self {
            DbError::Query(diesel::result::Error::DatabaseError(_, info)) => info.message().to_owned(),
            DbError::Query(_) | DbError::Migration(_) | DbError::Task(_) => return false,
            DbError::Connection(m) => m.clone(),
        };
        [
            "database or disk is full",
            "No space left on device",
            "Disk quota exceeded",
        ]
        .iter()
        .any(|m| message.contains(m))
    }

    /// Whether retrying later may succeed because the database (or the way
    /// to it) is down, rather than the request or the data being wrong.
    pub fn is_unavailable(&self) -> bool {
        use diesel::result::{DatabaseErrorKind as Kind, Error as E};
        match self {
            DbError::Connection(_) => true,
            DbError::Query(E::DatabaseError(Kind::ClosedConnection | Kind::UnableToSendCommand, _)) => true,
            DbError::Query(_) | DbError::Migration(_) | DbError::Task(_) => false,
        }
    }
}

/// Where the database lives, parsed from `DB_URI`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbTarget {
    Postgres(String),
    Sqlite(PathBuf),
}

impl DbTarget {
    /// Parses Quay's `DB_URI`: `sqlite:///relative/path`, `sqlite:////absolute`,
    /// or `postgresql://…` (also `postgres://` and `postgresql+driver://`).
    pub fn parse(uri: &str) -> Result<DbTarget, String> {
        if let Some(path) = uri.strip_prefix("sqlite:///") {
            if path.is_empty() {
                return Err("sqlite URI has no file path".into());
            }
            return Ok(DbTarget::Sqlite(PathBuf::from(path)));
        }
        let (scheme, rest) = uri.split_once("://").ok_or("expected scheme://")?;
        match scheme.split('+').next() {
            Some("postgresql" | "postgres") if !rest.is_empty() => {
                Ok(DbTarget::Postgres(format!("postgresql://{rest}")))
            }
            _ => Err(format!(
                "unsupported database scheme `{scheme}` (use sqlite:/// or postgresql://)"
            )),
        }
    }
}

impl std::fmt::Display for DbTarget {
    /// Shows where the database is without its password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DbTarget::Sqlite(p) => write!(f, "SQLite {}", p.display()),
            DbTarget::Postgres(url) => match url::Url::parse(url) {
                Ok(mut u) => {
                    if u.password().is_some() {
                        let _ = u.set_password(Some("***"));
                    }
                    write!(f, "PostgreSQL {u}")
                }
                Err(_) => f.write_str("PostgreSQL (unparsable URL)"),
            },
        }
    }
}

struct Manager {
    target: DbTarget,
    writer: bool,
    reachability: Reachability,
}

impl ManageConnection for Manager {
    type Connection = DbConn;
    type Error = DbError;

    fn connect(&self) -> Result<DbConn, DbError> {
        let outcome = self.open();
        self.reachability.record(&outcome);
        outcome
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), DbError> {
        conn.batch_execute("SELECT 1").map_err(DbError::from)
    }

    fn has_broken(&self, _conn: &mut DbConn) -> bool {
        false
    }
}

impl Manager {
    fn open(&self) -> Result<DbConn, DbError> {
        let conn_err = |e: ConnectionError| DbError::Connection(e.to_string());
        match &self.target {
            DbTarget::Postgres(url) => {
                let url = availability::with_connect_timeout(url);
                Ok(DbConn::Pg(PgConnection::establish(&url).map_err(conn_err)?))
            }
            DbTarget::Sqlite(path) => {
                let mut c = SqliteConnection::establish(&path.to_string_lossy()).map_err(conn_err)?;
                let pragmas = if self.writer {
                    "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;"
                } else {
                    "PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;"
                };
                c.batch_execute(pragmas)?;
                Ok(DbConn::Sqlite(c))
            }
        }
    }
}

type DbPool = Source<Manager>;

/// Handle to the database, cheap to clone.
#[derive(Clone)]
pub struct Db {
    readers: DbPool,
    writers: DbPool,
    sqlite: bool,
    target: DbTarget,
}

impl Db {
    /// (pool, connections open, idle) of the reader and writer pools.
    pub fn pool_use(&self) -> Vec<(&'static str, u32, u32)> {
        let (r, w) = (self.readers.pool.state(), self.writers.pool.state());
        vec![
            ("reader", r.connections, r.idle_connections),
            ("writer", w.connections, w.idle_connections),
        ]
    }

    /// Opens pools; the SQLite file and its folder are created when missing.
    pub fn open(target: &DbTarget, max_connections: u32) -> Result<Db, DbError> {
        let reachability = Reachability::default();
        let build = |writer: bool, size: u32| {
            let pool = Pool::builder()
                .max_size(size)
                .min_idle(Some(if writer { 1 } else { 0 }))
                .connection_timeout(availability::CONNECTION_TIMEOUT)
                // Connection failures are logged once by `Reachability`.
                .error_handler(Box::new(NopErrorHandler))
                .build_unchecked(Manager {
                    target: target.clone(),
                    writer,
                    reachability: reachability.clone(),
                });
            let source = Source {
                pool,
                reachability: reachability.clone(),
            };
            source.wait_for_first(availability::QUEUE_LIMIT)?;
            Ok::<_, DbError>(source)
        };
        match target {
            DbTarget::Sqlite(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|e| DbError::Connection(format!("{}: {e}", dir.display())))?;
                }
                let writers = build(true, 1)?;
                let readers = build(false, max_connections.max(2))?;
                Ok(Db {
                    readers,
                    writers,
                    sqlite: true,
                    target: target.clone(),
                })
            }
            DbTarget::Postgres(_) => {
                let pool = build(true, max_connections.max(2))?;
                Ok(Db {
                    readers: pool.clone(),
                    writers: pool,
                    sqlite: false,
                    target: target.clone(),
                })
            }
        }
    }

    fn conn(pool: &DbPool) -> Result<PooledConnection<Manager>, DbError> {
        pool.checkout()
    }

    /// Whether the database answers a trivial query on a connection of its
    /// own (so a busy pool does not make it look down), bounded by the
    /// connect timeout. The outcome also tells the pools whether the
    /// database can be reached again.
    pub async fn ping(&self) -> bool {
        let manager = Manager {
            target: self.target.clone(),
            writer: false,
            reachability: self.readers.reachability.clone(),
        };
        run_blocking(move || {
            let mut conn = manager.connect()?;
            conn.batch_execute("SELECT 1").map_err(DbError::from)
        })
        .await
        .is_ok()
    }

    /// Applies pending migrations; safe to call from many replicas at once.
    pub fn migrate(&self) -> Result<Vec<String>, DbError> {
        let mut conn = Self::conn(&self.writers)?;
        let mig = |e: Box<dyn std::error::Error + Send + Sync>| DbError::Migration(e.to_string());
        let names = |v: Vec<diesel::migration::MigrationVersion<'_>>| v.iter().map(|v| v.to_string()).collect();
        match &mut *conn {
            DbConn::Sqlite(c) => {
                // Processes sharing the file take turns, like PostgreSQL's advisory lock.
                let _turn = self.sqlite_migration_lock()?;
                c.run_pending_migrations(SQLITE_MIGRATIONS).map(names).map_err(mig)
            }
            DbConn::Pg(c) => {
                c.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))?;
                let result: Result<Vec<String>, DbError> =
                    c.run_pending_migrations(POSTGRES_MIGRATIONS).map(names).map_err(mig);
                c.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))?;
                result
            }
        }
    }

    /// An exclusive lock on `<database>.migrate.lock`, held until dropped.
    fn sqlite_migration_lock(&self) -> Result<std::fs::File, DbError> {
        let DbTarget::Sqlite(path) = &self.target else {
            return Err(DbError::Migration("not an SQLite database".into()));
        };
        let lock_path = path.with_extension("migrate.lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| DbError::Migration(format!("{}: {e}", lock_path.display())))?;
        file.lock()
            .map_err(|e| DbError::Migration(format!("{}: {e}", lock_path.display())))?;
        Ok(file)
    }

    /// Runs read-only work on a pooled connection off the async runtime.
    pub async fn read<T, F>(&self, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T, DbError> + Send + 'static,
    {
        let pool = self.readers.clone();
        run_blocking(move || f(&mut *Self::conn(&pool)?)).await
    }

    /// Runs `f` in one write transaction: committed when it returns `Ok`,
    /// rolled back on `Err`. SQLite takes the write lock up front (IMMEDIATE)
    /// so concurrent writers wait instead of failing.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + From<diesel::result::Error> + Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
    {
        let pool = self.writers.clone();
        let sqlite = self.sqlite;
        run_blocking(move || {
            let mut conn = Self::conn(&pool)?;
            if sqlite {
                sqlite_immediate(&mut conn, f)
            } else {
                conn.transaction(|c| f(c))
            }
        })
        .await
    }

    /// [`Db::write`] for a change whose loss in an operating-system crash or
    /// power cut harms nothing, such as a lease or upload progress a client
    /// would send again: committed without waiting for the disk (SQLite
    /// `synchronous = NORMAL`, PostgreSQL `synchronous_commit = off`). It is
    /// still atomic and survives a crash of this process, and the next
    /// ordinary [`Db::write`] makes it durable too.
    pub async fn write_unsynced<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + From<diesel::result::Error> + Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
    {
        let pool = self.writers.clone();
        let sqlite = self.sqlite;
        run_blocking(move || {
            let mut conn = Self::conn(&pool)?;
            if sqlite {
                conn.batch_execute("PRAGMA synchronous = NORMAL")
                    .map_err(DbError::from)?;
                let result = sqlite_immediate(&mut conn, f);
                conn.batch_execute("PRAGMA synchronous = FULL").map_err(DbError::from)?;
                result
            } else {
                conn.transaction(|c| {
                    c.batch_execute("SET LOCAL synchronous_commit TO OFF")
                        .map_err(DbError::from)?;
                    f(c)
                })
            }
        })
        .await
    }
}

impl Db {
    /// [`Db::write`] for code already off the async runtime (a blocking
    /// task), so one such task can run many short transactions.
    pub fn write_blocking<T, E, F>(&self, f: F) -> Result<T, E>
    where
        E: From<DbError> + From<diesel::result::Error>,
        F: FnOnce(&mut DbConn) -> Result<T, E>,
    {
        let mut conn = Self::conn(&self.writers)?;
        if self.sqlite {
            sqlite_immediate(&mut conn, f)
        } else {
            conn.transaction(|c| f(c))
        }
    }

    /// [`Db::read`] for code already off the async runtime.
    pub fn read_blocking<T, E, F>(&self, f: F) -> Result<T, E>
    where
        E: From<DbError>,
        F: FnOnce(&mut DbConn) -> Result<T, E>,
    {
        f(&mut *Self::conn(&self.readers)?)
    }
}

fn sqlite_immediate<T, E, F>(conn: &mut DbConn, f: F) -> Result<T, E>
where
    E: From<DbError>,
    F: FnOnce(&mut DbConn) -> Result<T, E>,
{
    conn.batch_execute("BEGIN IMMEDIATE").map_err(DbError::from)?;
    match f(conn) {
        Ok(v) => {
            if let Err(e) = conn.batch_execute("COMMIT") {
                let _ = conn.batch_execute("ROLLBACK");
                return Err(DbError::from(e).into());
            }
            Ok(v)
        }
        Err(e) => {
            conn.batch_execute("ROLLBACK").map_err(DbError::from)?;
            Err(e)
        }
    }
}

impl From<diesel::result::Error> for crate::service::Error {
    fn from(e: diesel::result::Error) -> Self {
        DbError::from(e).into()
    }
}

async fn run_blocking<T, E, F>(f: F) -> Result<T, E>
where
    T: Send + 'static,
    E: From<DbError> + Send + 'static,
    F: FnOnce() -> Result<T, E> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| DbError::Task(e.to_string()))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn db_uri_forms_are_understood() {
        assert_eq!(
            DbTarget::parse("sqlite:///data/r.db"),
            Ok(DbTarget::Sqlite("data/r.db".into()))
        );
        assert_eq!(
            DbTarget::parse("sqlite:////tmp/r.db"),
            Ok(DbTarget::Sqlite("/tmp/r.db".into()))
        );
        assert_eq!(
            DbTarget::parse("postgresql+psycopg2://u:p@h:5432/quay"),
            Ok(DbTarget::Postgres("postgresql://u:p@h:5432/quay".into()))
        );
        assert!(DbTarget::parse("mysql://x").is_err());
        assert!(DbTarget::parse("nonsense").is_err());
        assert!(DbTarget::parse("sqlite:///").is_err());
    }

    #[derive(diesel::QueryableByName)]
    struct Sync {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        synchronous: i32,
    }

    #[tokio::test]
    async fn an_unsynced_write_commits_and_leaves_later_writes_synced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open(&DbTarget::Sqlite(dir.path().join("t.db")), 2).expect("open");
        db.write(|c| c.batch_execute("CREATE TABLE t (v INTEGER)").map_err(DbError::from))
            .await
            .expect("create");
        let level = |db: &Db| {
            let pool = db.writers.clone();
            async move {
                run_blocking(move || {
                    let mut c = Db::conn(&pool)?;
                    let rows: Vec<Sync> = diesel::sql_query("PRAGMA synchronous").load(&mut *c)?;
                    Ok::<_, DbError>(rows[0].synchronous)
                })
                .await
                .expect("pragma")
            }
        };
        assert_eq!(level(&db).await, 2, "FULL");
        db.write_unsynced(|c| c.batch_execute("INSERT INTO t VALUES (1)").map_err(DbError::from))
            .await
            .expect("insert");
        let failed: Result<(), DbError> = db
            .write_unsynced(|c| {
                c.batch_execute("INSERT INTO t VALUES (2)")?;
                Err(DbError::Connection("refused".into()))
            })
            .await;
        assert!(failed.is_err());
        assert_eq!(level(&db).await, 2, "back to FULL after both, also after a rollback");
        let n: i64 = db
            .read(|c| {
                diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
                    "(SELECT count(*) FROM t)",
                ))
                .get_result(c)
                .map_err(DbError::from)
            })
            .await
            .expect("count");
        assert_eq!(n, 1, "the first insert committed, the second rolled back");
    }

    #[test]
    fn database_password_is_not_displayed() {
        let t = DbTarget::parse("postgresql://quay:hunter2@db:5432/quay").expect("valid");
        let shown = t.to_string();
        assert!(!shown.contains("hunter2") && shown.contains("db:5432"), "{shown}");
    }
}
