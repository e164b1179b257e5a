//! GitHub build triggers (seed chapter 8): made by the OAuth callback with
//! the user's access token; activated by adding the trigger's deploy key and
//! a push webhook to the GitHub repository through GitHub's API; removed
//! from GitHub again, best effort, when deleted; started by hand at a
//! branch's or tag's head. The UI's setup helpers are in
//! [`super::github_sources`].

use secrecy::SecretString;
use serde_json::{json, Map, Value};

use super::github::{Failure, GithubClient};
use super::triggers::{RunParameters, Trigger};
use super::Error;
use crate::db::models::Account;
use crate::db::queries::repositories::RepositoryView;
use crate::db::queries::triggers::{self as q, NewTrigger};
use crate::service::Registry;

/// The service of triggers connected to GitHub.
pub const GITHUB: &str = "github";
/// GitHub's largest page.
pub(super) const PER_PAGE: &str = "per_page=100";

fn not_found() -> Error {
    Error::NotFound("Not Found".into())
}

/// `owner/name` of a GitHub repository, with GitHub's characters only, so
/// it is safe in an API path.
pub(super) fn is_full_name(source: &str) -> bool {
    let part = |s: &str| {
        !s.is_empty() && s != "." && s != ".." && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    };
    source
        .split_once('/')
        .is_some_and(|(owner, name)| part(owner) && part(name))
}

fn id_of(created: &Value) -> Option<i64> {
    created["id"].as_i64()
}

impl Registry {
    /// The GitHub client when `FEATURE_GITHUB_BUILD` is on (with builds).
    pub fn github(&self) -> Option<&GithubClient> {
        self.settings().builds.github.as_deref()
    }

    fn github_or_404(&self) -> Result<&GithubClient, Error> {
        self.github().ok_or_else(not_found)
    }

    /// Exchanges the OAuth `code` GitHub sent back and creates an inactive
    /// GitHub trigger holding the token, connected to `user`.
    pub async fn create_github_trigger(
        &self,
        repo: &RepositoryView,
        user: &Account,
        code: &str,
        redirect_uri: &str,
    ) -> Result<Trigger, Error> {
        let github = self.github_or_404()?;
        let token = {
            use secrecy::ExposeSecret as _;
            let token = github.exchange_code(code, redirect_uri).await?;
            self.encrypt_field(token.expose_secret()).await?
        };
        let uuid = uuid::Uuid::new_v4().to_string();
        let (id, repo_id, user_id, now) = (uuid.clone(), repo.id, user.id, crate::now_ms());
        self.db()
            .write(move |c| {
                let new = NewTrigger {
                    uuid: &id,
                    service: GITHUB,
                    repository_id: repo_id,
                    connected_user_id: user_id,
                    auth_token: Some(&token),
                    now,
                };
                Ok::<_, Error>(q::insert(c, &new)?)
            })
            .await?;
        self.trigger(repo, &uuid).await
    }

    /// The client and (decrypted) token of a GitHub trigger.
    pub(super) async fn github_of(&self, trigger: &Trigger) -> Result<(&GithubClient, SecretString), Error> {
        if trigger.service != GITHUB {
            return Err(Error::InvalidRequest(format!(
                "Not supported by {} build triggers",
                trigger.service
            )));
        }
        let github = self.github().ok_or_else(|| {
            Error::InvalidRequest("GitHub build triggers are not enabled (FEATURE_GITHUB_BUILD)".into())
        })?;
        let stored = trigger
            .auth_token
            .as_deref()
            .ok_or_else(|| Error::InvalidRequest("The trigger has no GitHub access token".into()))?;
        Ok((github, SecretString::from(self.decrypt_field(stored).await?)))
    }

    /// Adds the deploy key and the push webhook to the trigger's GitHub
    /// repository (`config.build_source`), and records them in `config` as
    /// Quay does. Nothing stays on GitHub when this fails.
    pub(super) async fn hook_github(
        &self,
        trigger: &Trigger,
        config: &mut Map<String, Value>,
        public_key: &str,
        webhook_url: &str,
    ) -> Result<(), Error> {
        let (github, token) = self.github_of(trigger).await?;
        let token = &token;
        let source = config
            .get("build_source")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if !is_full_name(&source) {
            return Err(Error::InvalidRequest(
                "config.build_source must name a GitHub repository as owner/name".into(),
            ));
        }
        let missing = format!("Unable to find GitHub repository for source: {source}");
        let repo = github
            .get(token, &format!("repos/{source}"))
            .await
            .map_err(|f| f.into_error(missing))?;
        let title = format!("{} Builder", github.settings.registry_title);
        let key = json!({"title": title, "key": public_key, "read_only": true});
        let deploy_key_id = github
            .post(token, &format!("repos/{source}/keys"), &key)
            .await
            .map_err(|f| f.into_error(format!("Unable to add deploy key to repository: {source}")))
            .and_then(|k| {
                id_of(&k)
                    .ok_or_else(|| Error::InvalidRequest(format!("Unable to add deploy key to repository: {source}")))
            })?;
        let hook = json!({
            "name": "web",
            "active": true,
            "events": ["push"],
            "config": {"url": webhook_url, "content_type": "json"},
        });
        let created = github.post(token, &format!("repos/{source}/hooks"), &hook).await;
        let hook_failed = format!("Unable to create webhook on repository: {source}");
        let hook_id = match created.map(|h| id_of(&h)) {
            Ok(Some(id)) => id,
            failed => {
                self.unhook_github(github, token, &source, Some(deploy_key_id), None)
                    .await;
                return Err(match failed {
                    Err(f) => f.into_error(hook_failed),
                    Ok(_) => Error::InvalidRequest(hook_failed),
                });
            }
        };
        config.insert(
            "credentials".into(),
            json!([{"name": "SSH Public Key", "value": public_key}]),
        );
        config.insert("deploy_key_id".into(), json!(deploy_key_id));
        config.insert("hook_id".into(), json!(hook_id));
        if let Some(branch) = repo["default_branch"].as_str() {
            config.insert("master_branch".into(), json!(branch));
        }
        Ok(())
    }

    /// Removes what activation added to GitHub; failures are only logged,
    /// as Quay eats them when a trigger is deleted.
    pub(super) async fn unhook_trigger(&self, trigger: &Trigger) {
        let Ok((github, token)) = self.github_of(trigger).await else {
            return;
        };
        let token = &token;
        let Some(source) = trigger.build_source().filter(|s| is_full_name(s)) else {
            return;
        };
        let id = |key: &str| trigger.config.get(key).and_then(Value::as_i64);
        self.unhook_github(github, token, source, id("deploy_key_id"), id("hook_id"))
            .await;
    }

    async fn unhook_github(
        &self,
        github: &GithubClient,
        token: &SecretString,
        source: &str,
        deploy_key_id: Option<i64>,
        hook_id: Option<i64>,
    ) {
        let removals = [("keys", deploy_key_id), ("hooks", hook_id)];
        for (kind, id) in removals {
            let Some(id) = id else { continue };
            if let Err(f) = github.delete(token, &format!("repos/{source}/{kind}/{id}")).await {
                tracing::warn!(%source, kind, id, failure = %f, "could not remove a trigger's {kind} from GitHub");
            }
        }
    }

    /// The metadata of a manual start of a GitHub trigger, as Quay's
    /// handler makes it: the named branch's or tag's head (the default
    /// branch when none is named), with the commit's details from GitHub.
    pub(super) async fn github_start_metadata(&self, trigger: &Trigger, run: &RunParameters) -> Result<Value, Error> {
        let (github, token) = self.github_of(trigger).await?;
        let token = &token;
        let source = trigger.build_source().filter(|s| is_full_name(s)).unwrap_or_default();
        let start_failed = |f: Failure| f.into_error("Unable to start build trigger");
        let repo = github
            .get(token, &format!("repos/{source}"))
            .await
            .map_err(start_failed)?;
        let (kind, name) = match run.refs.as_ref().filter(|r| r.is_object()) {
            Some(r) => (
                r["kind"].as_str().unwrap_or("branch"),
                r["name"].as_str().unwrap_or_default(),
            ),
            None => ("branch", run.branch_name.as_deref().unwrap_or_default()),
        };
        let default_branch = repo["default_branch"].as_str().unwrap_or("master");
        let name = if name.is_empty() { default_branch } else { name };
        let encoded: String = url::form_urlencoded::byte_serialize(name.as_bytes()).collect();
        let (git_ref, sha) = if kind == "tag" {
            let tags = github
                .get(token, &format!("repos/{source}/tags?{PER_PAGE}"))
                .await
                .map_err(start_failed)?;
            let tag = tags.as_array().into_iter().flatten().find(|t| t["name"] == name);
            let sha = tag.and_then(|t| t["commit"]["sha"].as_str());
            let sha = sha.ok_or_else(|| Error::InvalidRequest("Could not find tag in repository".into()))?;
            (format!("refs/tags/{name}"), sha.to_owned())
        } else {
            let branch = github
                .get(token, &format!("repos/{source}/branches/{encoded}"))
                .await
                .map_err(|f| f.into_error("Could not find branch in repository"))?;
            let sha = branch["commit"]["sha"].as_str().unwrap_or_default().to_owned();
            (format!("refs/heads/{name}"), sha)
        };
        let commit = github
            .get(token, &format!("repos/{source}/commits/{sha}"))
            .await
            .map_err(start_failed)?;
        let mut info = json!({
            "url": commit["html_url"],
            "message": commit["commit"]["message"],
            "date": commit["commit"]["committer"]["date"],
        });
        for person in ["author", "committer"] {
            if let Some(login) = commit[person]["login"].as_str() {
                info[person] = json!({
                    "username": login,
                    "avatar_url": commit[person]["avatar_url"],
                    "url": commit[person]["html_url"],
                });
            }
        }
        Ok(json!({
            "commit": sha,
            "ref": git_ref,
            "default_branch": default_branch,
            "git_url": repo["ssh_url"],
            "commit_info": info,
        }))
    }

    /// The trigger `uuid` if `caller` is its connected user, as Quay's
    /// helpers require.
    pub(super) async fn own_trigger(
        &self,
        repo: &RepositoryView,
        caller: &Account,
        uuid: &str,
    ) -> Result<Trigger, Error> {
        let trigger = self.trigger(repo, uuid).await?;
        if trigger.connected_user_id() != caller.id {
            return Err(Error::Forbidden("Unauthorized".into()));
        }
        Ok(trigger)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_sources_are_owner_slash_name_without_path_tricks() {
        for ok in ["octo-org/hello-app", "a/b.c", "A_1/x"] {
            assert!(is_full_name(ok), "{ok}");
        }
        for bad in ["", "octo", "a/b/c", "../x", "a/..", "a/b?x=1", "a/b c", "/b", "a/"] {
            assert!(!is_full_name(bad), "{bad}");
        }
    }
}
