//! A private PostgreSQL server for tests that must stop and start it (the
//! shared one `e2e/run` provides must stay up): `initdb` and `pg_ctl` from
//! the PostgreSQL 15 binaries, as the `postgres` user when running as root.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tempfile::TempDir;

use crate::is_root;
use crate::process::{free_port, run, Outcome};

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// A PostgreSQL server of one test alone, in a temp dir; stopped on drop.
pub struct Postgres {
    dir: TempDir,
    pub port: u16,
    running: bool,
}

/// Runs `script` as the `postgres` user when root (initdb refuses root).
fn as_postgres(script: &str) -> Outcome {
    let mut cmd = if is_root() {
        let mut c = Command::new("su");
        c.args(["postgres", "-s", "/bin/sh", "-c", script]);
        c
    } else {
        let mut c = Command::new("sh");
        c.args(["-c", script]);
        c
    };
    run(&mut cmd, Duration::from_secs(120))
}

impl Postgres {
    /// Whether the PostgreSQL binaries are installed.
    pub fn available() -> bool {
        Path::new(PG_BIN).join("initdb").is_file()
    }

    /// A new, stopped cluster on a free port.
    pub fn init() -> Postgres {
        let dir = tempfile::Builder::new().prefix("e2e-pg-").tempdir().expect("temp dir");
        if is_root() {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
            run(
                Command::new("chown").arg("postgres:postgres").arg(dir.path()),
                Duration::from_secs(10),
            )
            .ok();
        }
        let pg = Postgres {
            port: free_port(),
            dir,
            running: false,
        };
        as_postgres(&format!(
            "{PG_BIN}/initdb -D '{}' -U postgres --auth=trust -E UTF8 --no-sync",
            pg.data().display()
        ))
        .ok();
        pg
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// `postgresql://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the server (again) on its port and waits until it accepts connections.
    pub fn start(&mut self) {
        as_postgres(&format!(
            "{PG_BIN}/pg_ctl -D '{data}' -l '{log}' -o \"-p {port} -k '{sock}' -c listen_addresses=127.0.0.1 -c fsync=off\" -w start",
            data = self.data().display(),
            log = self.dir.path().join("server.log").display(),
            port = self.port,
            sock = self.dir.path().display(),
        ))
        .ok();
        self.running = true;
    }

    /// Stops the server the hard way, as a crash or a lost node would.
    pub fn stop(&mut self) {
        as_postgres(&format!(
            "{PG_BIN}/pg_ctl -D '{}' -m immediate -w stop",
            self.data().display()
        ))
        .ok();
        self.running = false;
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if self.running {
            let _ = as_postgres(&format!(
                "{PG_BIN}/pg_ctl -D '{}' -m immediate -w stop",
                self.data().display()
            ));
        }
    }
}
