//! A git server on the loopback for the build trigger tests: bare
//! repositories served by a real OpenSSH `sshd` (Debian's openssh-server)
//! with its own config, host key and `authorized_keys`, on a free port.
//! Clients log in as the user running the tests (root) with a key listed
//! in `authorized_keys` (read at each login, so keys can be authorized
//! after the start), so a clone proves that key was used.
//!
//! The server is killed on `Drop`.

use std::fs;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::process::{free_port, run};

const SSHD: &str = "/usr/sbin/sshd";
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A running `sshd` serving the bare repositories under its folder.
pub struct GitServer {
    child: Child,
    pub port: u16,
    dir: PathBuf,
}

/// Whether sshd, ssh-keygen and git can run here.
pub fn available() -> bool {
    Path::new(SSHD).exists()
        && Command::new("ssh-keygen").arg("-?").output().is_ok()
        && Command::new("git").arg("--version").output().is_ok()
}

impl GitServer {
    /// Starts `sshd` in `dir`, letting no one in yet.
    pub fn start(dir: &Path) -> GitServer {
        fs::create_dir_all(dir).expect("git server dir");
        let host_key = dir.join("host_key");
        let mut keygen = Command::new("ssh-keygen");
        keygen.args(["-q", "-t", "ed25519", "-N", "", "-f"]).arg(&host_key);
        run(&mut keygen, Duration::from_secs(30)).ok();
        fs::write(dir.join("authorized_keys"), "").expect("authorized_keys");
        // sshd refuses to start without its privilege separation folder.
        fs::create_dir_all("/run/sshd").expect("/run/sshd");
        let port = free_port();
        let d = dir.display();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\n\
             AuthorizedKeysFile {d}/authorized_keys\nPermitRootLogin prohibit-password\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n\
             LogLevel VERBOSE\n"
        );
        fs::write(dir.join("sshd_config"), config).expect("sshd_config");
        let child = Command::new(SSHD)
            .arg("-D")
            .arg("-f")
            .arg(dir.join("sshd_config"))
            .arg("-E")
            .arg(dir.join("sshd.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start sshd");
        let mut server = GitServer {
            child,
            port,
            dir: dir.to_owned(),
        };
        server.wait_ready();
        server
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("sshd exited with {status}:\n{}", self.log());
            }
            assert!(Instant::now() < deadline, "sshd not listening:\n{}", self.log());
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Lets in the holder of the private half of `public_key` (an
    /// `authorized_keys` line).
    pub fn authorize(&self, public_key: &str) {
        fs::write(self.dir.join("authorized_keys"), format!("{}\n", public_key.trim())).expect("authorized_keys");
    }

    /// Creates the bare repository `name` (default branch `main`); its path.
    pub fn bare_repository(&self, name: &str) -> PathBuf {
        let path = self.dir.join(name);
        let mut init = Command::new("git");
        init.args(["init", "--quiet", "--bare", "--initial-branch=main"])
            .arg(&path);
        run(&mut init, Duration::from_secs(30)).ok();
        path
    }

    /// The SSH URL clients clone `repository` (a path from
    /// [`GitServer::bare_repository`]) with.
    pub fn url(&self, repository: &Path) -> String {
        format!("ssh://root@127.0.0.1:{}{}", self.port, repository.display())
    }

    /// sshd's log (logins with the key that was used).
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("sshd.log")).unwrap_or_default()
    }
}

impl Drop for GitServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
