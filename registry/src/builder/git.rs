//! The context of a triggered build: a clone of the trigger's git
//! repository at the pushed commit, made with the `git` CLI and the
//! trigger's deploy key.
//!
//! The key is written (mode 0600) to the build's work folder beside the
//! clone, never inside it, and removed as soon as the clone is done; ssh
//! uses only that key, accepts a host key it has not seen before and
//! keeps it in the work folder, and never prompts.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use tokio::io::AsyncWriteExt as _;
use tokio::process::Command;

use super::{redact, run_command, GitSource, Manager};

/// Where the clone goes within the work folder.
const CLONE_DIR: &str = "context";

/// Clones `git` into the work folder and checks out its commit (or, when
/// only a ref is known, that branch's or tag's head); returns the clone.
pub(super) async fn clone(manager: &Manager, git: &GitSource, work: &Path) -> anyhow::Result<PathBuf> {
    let url = git.url.trim();
    if url.is_empty() || url.starts_with('-') {
        anyhow::bail!("the trigger's git URL {url:?} cannot be cloned");
    }
    let shown_url = redact(url);
    let ssh = work.join("ssh");
    tokio::fs::create_dir_all(&ssh).await?;
    let key = match &git.private_key {
        Some(k) => Some(write_key(&ssh.join("deploy_key"), k).await?),
        None => None,
    };
    let root = work.join(CLONE_DIR);
    let result = clone_at(manager, git, url, &root, &SshSetup { key, dir: ssh.clone() }).await;
    let _ = tokio::fs::remove_dir_all(&ssh).await;
    result.with_context(|| format!("cloning {shown_url} failed"))?;
    Ok(root)
}

/// The ssh settings of one build's git commands.
struct SshSetup {
    key: Option<PathBuf>,
    dir: PathBuf,
}

impl SshSetup {
    /// `GIT_SSH_COMMAND`: only the deploy key, host keys kept in the work
    /// folder, no prompts.
    fn command(&self) -> String {
        let known_hosts = self.dir.join("known_hosts");
        let mut command = String::from("ssh");
        if let Some(key) = &self.key {
            command.push_str(&format!(" -i {} -o IdentitiesOnly=yes", quote(key)));
        }
        command.push_str(&format!(
            " -o StrictHostKeyChecking=accept-new -o UserKnownHostsFile={} -o BatchMode=yes",
            quote(&known_hosts)
        ));
        command
    }

    /// A git command with these settings.
    fn git(&self) -> Command {
        let mut command = Command::new("git");
        command
            .env("GIT_SSH_COMMAND", self.command())
            .env("GIT_TERMINAL_PROMPT", "0")
            .env_remove("GIT_SSH");
        command
    }
}

async fn clone_at(manager: &Manager, git: &GitSource, url: &str, root: &Path, ssh: &SshSetup) -> anyhow::Result<()> {
    let shown_url = redact(url);
    let dest = root.display().to_string();
    let branch = git.git_ref.as_deref().and_then(ref_name);
    let mut clone = ssh.git();
    clone.args(["clone", "--quiet"]);
    let shown = if !git.sha.is_empty() {
        clone.arg("--no-checkout");
        format!("git clone --no-checkout {shown_url}")
    } else if let Some(name) = branch {
        clone.args(["--branch", name]);
        format!("git clone --branch {name} {shown_url}")
    } else {
        format!("git clone {shown_url}")
    };
    clone.args(["--", url, &dest]);
    run_command(manager, clone, &shown).await?;
    if !git.sha.is_empty() {
        let mut checkout = ssh.git();
        checkout.current_dir(root).args([
            "-c",
            "advice.detachedHead=false",
            "checkout",
            "--quiet",
            "--detach",
            &git.sha,
            "--",
        ]);
        run_command(manager, checkout, &format!("git checkout {}", git.sha)).await?;
    }
    let mut submodules = ssh.git();
    submodules
        .current_dir(root)
        .args(["submodule", "update", "--quiet", "--init", "--recursive"]);
    run_command(manager, submodules, "git submodule update --init --recursive").await
}

/// The branch or tag name of `refs/heads/<name>` or `refs/tags/<name>`.
fn ref_name(git_ref: &str) -> Option<&str> {
    git_ref
        .strip_prefix("refs/heads/")
        .or_else(|| git_ref.strip_prefix("refs/tags/"))
        .filter(|n| !n.is_empty() && !n.starts_with('-'))
}

/// Writes the private key readable by its owner only; ssh refuses others.
async fn write_key(path: &Path, key: &str) -> anyhow::Result<PathBuf> {
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .await
        .context("writing the deploy key")?;
    let mut text = key.trim_end().to_owned();
    text.push('\n');
    file.write_all(text.as_bytes())
        .await
        .context("writing the deploy key")?;
    file.flush().await?;
    Ok(path.to_owned())
}

/// `path` quoted for the shell that runs `GIT_SSH_COMMAND`.
fn quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_uses_only_the_deploy_key_and_the_work_folders_known_hosts() {
        let setup = SshSetup {
            key: Some(PathBuf::from("/w/ssh/deploy_key")),
            dir: PathBuf::from("/w/it's/ssh"),
        };
        assert_eq!(
            setup.command(),
            "ssh -i '/w/ssh/deploy_key' -o IdentitiesOnly=yes -o StrictHostKeyChecking=accept-new \
             -o UserKnownHostsFile='/w/it'\\''s/ssh/known_hosts' -o BatchMode=yes"
        );
    }

    #[test]
    fn only_branch_and_tag_refs_name_something_to_clone() {
        assert_eq!(ref_name("refs/heads/main"), Some("main"));
        assert_eq!(ref_name("refs/tags/v1.0"), Some("v1.0"));
        assert_eq!(ref_name("refs/remotes/origin/x"), None);
        assert_eq!(ref_name("refs/heads/--upload-pack=x"), None);
    }
}
