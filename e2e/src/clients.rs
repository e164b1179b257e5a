//! Real registry clients: skopeo, podman, oras-py, and an OCI layout maker.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tempfile::TempDir;

use crate::process::{run, Outcome};
use crate::Registry;

const CLIENT_TIMEOUT: Duration = Duration::from_secs(180);

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts").join(name)
}

/// An OCI image layout on disk made by `scripts/mkoci.py`.
#[derive(Debug, Clone)]
pub struct OciImage {
    pub dir: PathBuf,
    pub tag: String,
    pub manifest_digest: String,
    pub config_digest: String,
    pub layer_digest: String,
    pub diff_id: String,
}

impl OciImage {
    /// The skopeo transport reference, `oci:DIR:TAG`.
    pub fn reference(&self) -> String {
        format!("oci:{}:{}", self.dir.display(), self.tag)
    }

    /// Bytes of one of the layout's blobs (`sha256:<hex>`).
    pub fn blob(&self, digest: &str) -> Vec<u8> {
        read_blob(&self.dir.join("blobs").join("sha256"), digest)
    }
}

fn read_blob(dir: &Path, digest: &str) -> Vec<u8> {
    let hex = digest.trim_start_matches("sha256:");
    let path = dir.join(hex);
    fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Writes a one-layer OCI image whose `hello.txt` holds `content`.
pub fn mkoci(dir: &Path, tag: &str, content: &str) -> OciImage {
    mkoci_sized(dir, tag, content, 0)
}

/// Like [`mkoci`], with `random_bytes` incompressible bytes more in the layer.
pub fn mkoci_sized(dir: &Path, tag: &str, content: &str, random_bytes: usize) -> OciImage {
    let out = run(
        Command::new("python3")
            .arg(script("mkoci.py"))
            .arg(dir)
            .arg(tag)
            .arg(content)
            .arg(random_bytes.to_string()),
        CLIENT_TIMEOUT,
    )
    .ok();
    let fields: BTreeMap<&str, &str> = out.lines().filter_map(|l| l.split_once(' ')).collect();
    let field = |k: &str| {
        fields
            .get(k)
            .unwrap_or_else(|| panic!("mkoci.py printed no {k}: {out}"))
            .to_string()
    };
    OciImage {
        dir: dir.to_path_buf(),
        tag: tag.to_string(),
        manifest_digest: field("manifest"),
        config_digest: field("config"),
        layer_digest: field("layer"),
        diff_id: field("diff_id"),
    }
}

/// A `skopeo copy … dir:DIR` result: the manifest and blobs as files.
#[derive(Debug)]
pub struct PulledDir {
    pub dir: PathBuf,
}

impl PulledDir {
    pub fn manifest_bytes(&self) -> Vec<u8> {
        let p = self.dir.join("manifest.json");
        fs::read(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
    }

    pub fn manifest(&self) -> serde_json::Value {
        serde_json::from_slice(&self.manifest_bytes()).expect("manifest.json is JSON")
    }

    pub fn blob(&self, digest: &str) -> Vec<u8> {
        read_blob(&self.dir, digest)
    }
}

pub mod skopeo {
    use super::*;

    fn base(args: &[&str]) -> Command {
        let mut cmd = Command::new("skopeo");
        cmd.args(args);
        cmd
    }

    /// `skopeo copy SRC DEST`, with TLS off and credentials for each
    /// `docker://` side.
    pub fn copy(reg: &Registry, src: &str, dest: &str, extra: &[&str]) -> Outcome {
        let mut cmd = base(&["copy", "--src-tls-verify=false", "--dest-tls-verify=false"]);
        if let Some(creds) = reg.creds_arg() {
            if src.starts_with("docker://") {
                cmd.arg("--src-creds").arg(&creds);
            }
            if dest.starts_with("docker://") {
                cmd.arg("--dest-creds").arg(&creds);
            }
        }
        cmd.args(extra).arg(src).arg(dest);
        run(&mut cmd, CLIENT_TIMEOUT)
    }

    /// Logs in to `reg` as `user` in an auth file of its own, as a user
    /// would, and copies a new one-layer image (`random_bytes` more bytes
    /// in its layer) to `repo:tag`; returns how the copy ended, the image
    /// and the auth file (for more commands as that user).
    pub fn push_new_as(
        reg: &Registry,
        (user, secret): (&str, &str),
        repo: &str,
        tag: &str,
        random_bytes: usize,
    ) -> (Outcome, OciImage, PathBuf) {
        let work = reg.scratch(&crate::unique_name("push"));
        let auth = work.join("auth.json");
        let auth_arg = auth.display().to_string();
        let host = reg.host();
        let login = [
            "login",
            "--tls-verify=false",
            "--authfile",
            &auth_arg,
            "-u",
            user,
            "-p",
            secret,
            &host,
        ];
        run(&mut base(&login), CLIENT_TIMEOUT).ok();
        let image = mkoci_sized(&work.join("img"), tag, &crate::unique_name("image "), random_bytes);
        let dest = format!("docker://{host}/{repo}:{tag}");
        let copy = [
            "copy",
            "--dest-tls-verify=false",
            "--authfile",
            &auth_arg,
            &image.reference(),
            &dest,
        ];
        (run(&mut base(&copy), CLIENT_TIMEOUT), image, auth)
    }

    /// Copies `image` (`name:tag`) into a fresh `dir:` layout.
    pub fn pull_dir(reg: &Registry, image: &str, into: &Path) -> PulledDir {
        copy(
            reg,
            &format!("docker://{}", reg.image(image)),
            &format!("dir:{}", into.display()),
            &[],
        )
        .ok();
        PulledDir {
            dir: into.to_path_buf(),
        }
    }

    /// Runs a read-style skopeo command (`inspect`, `list-tags`, `delete`)
    /// on `docker://HOST/ns/<image>`.
    pub fn on_image(reg: &Registry, verb: &str, image: &str, extra: &[&str]) -> Outcome {
        let mut cmd = base(&[verb, "--tls-verify=false"]);
        if let Some(creds) = reg.creds_arg() {
            cmd.arg("--creds").arg(creds);
        }
        cmd.args(extra).arg(format!("docker://{}", reg.image(image)));
        run(&mut cmd, CLIENT_TIMEOUT)
    }

    /// `skopeo inspect` as JSON.
    pub fn inspect(reg: &Registry, image: &str) -> serde_json::Value {
        let out = on_image(reg, "inspect", image, &[]).ok();
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("inspect output ({e}): {out}"))
    }

    /// `skopeo inspect --raw`: the manifest bytes as served.
    pub fn inspect_raw(reg: &Registry, image: &str) -> Vec<u8> {
        on_image(reg, "inspect", image, &["--raw"]).ok().into_bytes()
    }

    /// `skopeo list-tags`, sorted.
    pub fn list_tags(reg: &Registry, repo: &str) -> Vec<String> {
        let out = on_image(reg, "list-tags", repo, &[]).ok();
        let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("list-tags ({e}): {out}"));
        let mut tags: Vec<String> = v["Tags"]
            .as_array()
            .unwrap_or_else(|| panic!("no Tags in {out}"))
            .iter()
            .filter_map(|t| t.as_str().map(str::to_string))
            .collect();
        tags.sort();
        tags
    }
}

/// podman with all of its state (storage, config, auth file) in a temp dir.
pub struct Podman {
    dir: TempDir,
    creds: Option<String>,
}

impl Podman {
    /// podman that talks to `reg` over plain HTTP (its host is `insecure`).
    pub fn new(reg: &Registry) -> Podman {
        Podman::configured(&[reg.host()], reg.creds_arg())
    }

    /// podman that marks no registry insecure, so every pull and push
    /// verifies TLS certificates (pass `--cert-dir` for a private CA).
    pub fn verifying_tls(creds: Option<String>) -> Podman {
        Podman::configured(&[], creds)
    }

    fn configured(insecure_hosts: &[String], creds: Option<String>) -> Podman {
        let dir = tempfile::Builder::new()
            .prefix("e2e-podman-")
            .tempdir()
            .expect("temp dir");
        let d = dir.path().display().to_string();
        for sub in ["run", "root", "tmp"] {
            fs::create_dir_all(dir.path().join(sub)).expect("podman dirs");
        }
        let mut registries = "unqualified-search-registries = []\n".to_string();
        for host in insecure_hosts {
            registries.push_str(&format!("[[registry]]\nlocation = \"{host}\"\ninsecure = true\n"));
        }
        let files = [
            (
                "storage.conf",
                format!("[storage]\ndriver = \"vfs\"\nrunroot = \"{d}/run\"\ngraphroot = \"{d}/root\"\n"),
            ),
            (
                "containers.conf",
                format!(
                    "[engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n\
                     events_logfile_path = \"{d}/events.log\"\ntmp_dir = \"{d}/tmp\"\n"
                ),
            ),
            ("registries.conf", registries),
            ("auth.json", "{\"auths\":{}}\n".to_string()),
        ];
        for (name, text) in files {
            fs::write(dir.path().join(name), text).expect("write podman config");
        }
        Podman { dir, creds }
    }

    /// The podman `--creds` value, if the registry needs credentials.
    pub fn creds(&self) -> Option<&str> {
        self.creds.as_deref()
    }

    /// `podman ARGS…` in this instance's environment.
    pub fn run(&self, args: &[&str]) -> Outcome {
        let d = self.dir.path();
        let mut cmd = Command::new("podman");
        cmd.args(args)
            .env("CONTAINERS_STORAGE_CONF", d.join("storage.conf"))
            .env("CONTAINERS_CONF", d.join("containers.conf"))
            .env("CONTAINERS_REGISTRIES_CONF", d.join("registries.conf"))
            .env("REGISTRY_AUTH_FILE", d.join("auth.json"))
            .env("TMPDIR", d.join("tmp"));
        run(&mut cmd, CLIENT_TIMEOUT)
    }

    /// Pulls or pushes with TLS off and the registry's credentials.
    pub fn transfer(&self, verb: &str, args: &[&str]) -> Outcome {
        let mut all = vec![verb, "--tls-verify=false"];
        if let Some(c) = &self.creds {
            all.extend(["--creds", c.as_str()]);
        }
        all.extend(args);
        self.run(&all)
    }
}

pub mod oras {
    use super::*;

    fn cmd(reg: &Registry, workdir: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(reg.env.python());
        cmd.arg(script("oras_client.py"))
            .args(args)
            .current_dir(workdir)
            .env("DOCKER_CONFIG", workdir.join(".docker"))
            .env_remove("AWS_CA_BUNDLE");
        if let Some(c) = reg.creds_arg() {
            cmd.arg("--creds").arg(c);
        }
        cmd
    }

    /// Pushes `files` (relative to `workdir`, each optionally `path:mediatype`)
    /// to `image` (`name:tag`); `config` is `path:mediatype`; a `chunk_size`
    /// makes oras upload each file with POST + several PATCH + PUT.
    /// Returns the manifest digest the registry reported.
    pub fn push(
        reg: &Registry,
        workdir: &Path,
        image: &str,
        files: &[&str],
        config: Option<&str>,
        chunk_size: Option<usize>,
    ) -> String {
        let target = reg.image(image);
        let mut c = cmd(reg, workdir, &["push", &reg.host(), &target]);
        if let Some(cfg) = config {
            c.arg("--config").arg(cfg);
        }
        if let Some(n) = chunk_size {
            c.arg("--chunk-size").arg(n.to_string());
        }
        c.args(files);
        run(&mut c, CLIENT_TIMEOUT).ok().trim().to_string()
    }

    /// Pulls `image` into `outdir`; returns the written paths.
    pub fn pull(reg: &Registry, workdir: &Path, image: &str, outdir: &Path) -> Vec<PathBuf> {
        let target = reg.image(image);
        let out_arg = outdir.display().to_string();
        let mut c = cmd(reg, workdir, &["pull", &reg.host(), &target, &out_arg]);
        run(&mut c, CLIENT_TIMEOUT)
            .ok()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(PathBuf::from)
            .collect()
    }
}
