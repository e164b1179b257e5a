//! Failing fast while the database cannot be reached.
//!
//! A pool that is merely busy makes callers queue (up to [`QUEUE_LIMIT`]),
//! but once opening a connection has failed, callers are refused at once
//! until one succeeds again: r2d2 keeps retrying in the background (every
//! `connection_timeout / 2` at most), and that retry is what brings the
//! registry back when the database returns, without a restart.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::r2d2::{ManageConnection, Pool, PooledConnection};

use super::DbError;

/// How long a caller may queue for a connection of a healthy, busy pool.
pub const QUEUE_LIMIT: Duration = Duration::from_secs(30);

/// How often a queued caller looks whether the database became unreachable.
const SLICE: Duration = Duration::from_millis(100);

/// r2d2's `connection_timeout`: its background reconnects back off to half
/// of it, so the registry notices a returning database within two seconds.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(4);

/// libpq's own bound on opening a connection, for hosts that do not answer
/// at all (refused connections fail at once anyway).
const CONNECT_TIMEOUT_S: &str = "3";

/// Whether the last attempt to open a connection succeeded; shared by the
/// connection manager, which sets it, and the callers, who read it.
#[derive(Clone, Debug)]
pub struct Reachability(Arc<AtomicBool>);

impl Default for Reachability {
    fn default() -> Self {
        Reachability(Arc::new(AtomicBool::new(true)))
    }
}

impl Reachability {
    pub fn is_reachable(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    /// Records the outcome of opening a connection; the change is logged
    /// once, with the driver's message (which never reaches a client).
    pub fn record<T>(&self, outcome: &Result<T, DbError>) {
        let now = outcome.is_ok();
        let before = self.0.swap(now, Ordering::AcqRel);
        match outcome {
            Err(e) if before => tracing::error!(error = %e, "the database cannot be reached"),
            Err(e) => tracing::debug!(error = %e, "the database still cannot be reached"),
            Ok(_) if !before => tracing::info!("the database can be reached again"),
            Ok(_) => {}
        }
    }
}

/// A pool and the reachability its manager records.
pub struct Source<M: ManageConnection> {
    pub pool: Pool<M>,
    pub reachability: Reachability,
}

impl<M: ManageConnection> Clone for Source<M> {
    fn clone(&self) -> Self {
        Source {
            pool: self.pool.clone(),
            reachability: self.reachability.clone(),
        }
    }
}

impl<M: ManageConnection> Source<M> {
    /// A connection: queued for while the database is reachable, refused at
    /// once (or as soon as a connection attempt fails) while it is not.
    pub fn checkout(&self) -> Result<PooledConnection<M>, DbError> {
        let deadline = Instant::now() + QUEUE_LIMIT;
        loop {
            if !self.reachability.is_reachable() {
                // No wait, but a connection attempt is scheduled unless one
                // is pending: it is what finds the database back.
                return self.pool.get_timeout(Duration::ZERO).map_err(|_| unreachable());
            }
            match self.pool.get_timeout(SLICE) {
                Ok(conn) => return Ok(conn),
                Err(e) if Instant::now() >= deadline => {
                    return Err(DbError::Connection(format!(
                        "no free connection within {QUEUE_LIMIT:?}: {e}"
                    )))
                }
                Err(_) => {}
            }
        }
    }

    /// Waits up to `limit` for the first connection, as a start-up check.
    pub fn wait_for_first(&self, limit: Duration) -> Result<(), DbError> {
        self.pool
            .get_timeout(limit)
            .map(drop)
            .map_err(|e| DbError::Connection(e.to_string()))
    }
}

fn unreachable() -> DbError {
    DbError::Connection("the database cannot be reached".into())
}

/// The PostgreSQL URL with libpq's `connect_timeout`, unless it names one.
pub fn with_connect_timeout(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if !u.query_pairs().any(|(k, _)| k == "connect_timeout") => {
            u.query_pairs_mut().append_pair("connect_timeout", CONNECT_TIMEOUT_S);
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connect_timeout_is_added_unless_the_url_has_one() {
        assert_eq!(
            with_connect_timeout("postgresql://u:p@h:5432/db"),
            "postgresql://u:p@h:5432/db?connect_timeout=3"
        );
        assert_eq!(
            with_connect_timeout("postgresql://h/db?sslmode=disable"),
            "postgresql://h/db?sslmode=disable&connect_timeout=3"
        );
        assert_eq!(
            with_connect_timeout("postgresql://h/db?connect_timeout=10"),
            "postgresql://h/db?connect_timeout=10"
        );
    }

    /// Connections that open only while `up` holds, like a database server
    /// that can be stopped and started.
    struct Switchable {
        up: Arc<AtomicBool>,
        reachability: Reachability,
    }

    impl ManageConnection for Switchable {
        type Connection = ();
        type Error = DbError;

        fn connect(&self) -> Result<(), DbError> {
            let outcome = if self.up.load(Ordering::SeqCst) {
                Ok(())
            } else {
                Err(DbError::Connection(
                    "connection to server at 127.0.0.1, port 1 failed".into(),
                ))
            };
            self.reachability.record(&outcome);
            outcome
        }

        fn is_valid(&self, _: &mut ()) -> Result<(), DbError> {
            match self.up.load(Ordering::SeqCst) {
                true => Ok(()),
                false => Err(DbError::Connection("server closed the connection".into())),
            }
        }

        fn has_broken(&self, _: &mut ()) -> bool {
            false
        }
    }

    /// Counts callers that waited a whole slice for a connection.
    #[derive(Debug, Default, Clone)]
    struct Waits(Arc<std::sync::atomic::AtomicUsize>);

    impl r2d2::HandleEvent for Waits {
        fn handle_timeout(&self, _: r2d2::event::TimeoutEvent) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn source(up: &Arc<AtomicBool>, size: u32, waits: Waits) -> Source<Switchable> {
        let reachability = Reachability::default();
        let pool = Pool::builder()
            .max_size(size)
            .min_idle(Some(0))
            .connection_timeout(Duration::from_millis(400))
            .error_handler(Box::new(r2d2::NopErrorHandler))
            .event_handler(Box::new(waits))
            .build_unchecked(Switchable {
                up: up.clone(),
                reachability: reachability.clone(),
            });
        Source { pool, reachability }
    }

    #[test]
    fn an_unreachable_database_refuses_callers_and_they_get_connections_again_once_it_is_back() {
        let up = Arc::new(AtomicBool::new(true));
        let source = source(&up, 4, Waits::default());
        drop(source.checkout().expect("database up"));

        up.store(false, Ordering::SeqCst);
        let Err(refused) = source.checkout() else {
            panic!("a connection although the database is down")
        };
        assert!(refused.is_unavailable(), "{refused}");
        assert!(refused.to_string().contains("cannot be reached"), "{refused}");
        assert!(!source.reachability.is_reachable());

        up.store(true, Ordering::SeqCst);
        let deadline = Instant::now() + Duration::from_secs(30);
        while source.checkout().is_err() {
            assert!(Instant::now() < deadline, "no connection after the database came back");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(source.reachability.is_reachable());
    }

    #[test]
    fn a_database_found_unreachable_outside_the_pool_is_found_back_by_the_pool() {
        let up = Arc::new(AtomicBool::new(true));
        let source = source(&up, 4, Waits::default());
        source
            .reachability
            .record::<()>(&Err(DbError::Connection("a health check failed".into())));
        let deadline = Instant::now() + Duration::from_secs(30);
        while source.checkout().is_err() {
            assert!(Instant::now() < deadline, "the pool never tried to connect again");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn a_busy_pool_of_a_reachable_database_makes_callers_wait_instead_of_failing() {
        let up = Arc::new(AtomicBool::new(true));
        let waits = Waits::default();
        let source = source(&up, 1, waits.clone());
        let held = source.checkout().expect("the only connection");
        let queued = {
            let source = source.clone();
            std::thread::spawn(move || source.checkout().map(drop))
        };
        while waits.0.load(Ordering::SeqCst) < 2 {
            std::thread::yield_now();
        }
        drop(held);
        queued
            .join()
            .expect("queued caller")
            .expect("a connection once one was free");
    }

    #[test]
    fn reachability_follows_the_last_connection_attempt() {
        let r = Reachability::default();
        assert!(r.is_reachable());
        r.record::<()>(&Err(DbError::Connection("refused".into())));
        assert!(!r.is_reachable());
        r.record(&Ok(()));
        assert!(r.is_reachable());
    }
}
