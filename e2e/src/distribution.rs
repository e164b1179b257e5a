//! CNCF Distribution (Debian's `docker-registry`) as a peer of the tests:
//! an upstream for proxy-cache organizations and repository mirrors.

use std::fs;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::process::free_port;

/// Where Debian installs it.
pub const DISTRIBUTION: &str = "/usr/bin/docker-registry";

/// A running Distribution on 127.0.0.1 with filesystem storage; stopped
/// when dropped.
pub struct Distribution {
    /// `127.0.0.1:<port>`.
    pub host: String,
    child: Child,
}

impl Distribution {
    /// Whether Distribution is installed (the test command installs it).
    pub fn installed() -> bool {
        Path::new(DISTRIBUTION).is_file()
    }

    /// Starts Distribution with its storage and log under `dir`; with
    /// `htpasswd` = `(user, password)`, behind htpasswd Basic auth. Returns
    /// once `/v2/` answers.
    pub fn start(dir: &Path, htpasswd: Option<(&str, &str)>) -> Distribution {
        fs::create_dir_all(dir.join("data")).expect("distribution dir");
        let port = free_port();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.join("data").display()
        );
        if let Some((user, password)) = htpasswd {
            let hash = bcrypt::hash(password, 4).expect("bcrypt");
            fs::write(dir.join("htpasswd"), format!("{user}:{hash}\n")).expect("htpasswd");
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: upstream\n    path: {}\n",
                dir.join("htpasswd").display()
            ));
        }
        fs::write(dir.join("config.yml"), config).expect("distribution config");
        let log = fs::File::create(dir.join("distribution.log")).expect("log");
        let mut cmd = Command::new(DISTRIBUTION);
        cmd.arg("serve").arg(dir.join("config.yml"));
        // REGISTRY_* variables would override Distribution's configuration.
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("REGISTRY_") {
                cmd.env_remove(k);
            }
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn docker-registry");
        let upstream = Distribution {
            host: format!("127.0.0.1:{port}"),
            child,
        };
        let client = reqwest::blocking::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            // 200, or 401 behind htpasswd: either way it serves.
            let ready = client
                .get(format!("http://{}/v2/", upstream.host))
                .timeout(Duration::from_secs(2))
                .send()
                .is_ok_and(|r| r.status().is_success() || r.status() == reqwest::StatusCode::UNAUTHORIZED);
            if ready {
                return upstream;
            }
            assert!(Instant::now() < deadline, "docker-registry did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Distribution {
    fn drop(&mut self) {
        self.stop();
    }
}
