//! Build triggers (quay-api.md §1.15): a git repository whose pushes, posted
//! to the trigger's webhook, queue builds of the repository.
//!
//! `custom-git` triggers are made here, `github` ones by the OAuth callback
//! ([`super::github_triggers`]). A trigger is created inactive, then
//! activated with its config, which makes the webhook's write token (kept
//! only as a SHA-256, so a custom-git trigger's URL is shown once, at
//! activation; a GitHub trigger's goes to GitHub only) and the SSH key pair
//! a builder clones the git repository with. Triggers whose builds keep
//! failing are disabled by [`super::trigger_disable`].

use serde_json::{json, Map, Value};

use super::deploy_key::ssh_key_pair;
use super::github_triggers::GITHUB;
use super::push::{check_metadata, custom_git_push, github_push, Push};
use super::tagging::{determine_tags, should_skip};
use super::{resolve_context, Build, BuildInput, GitSource, JobConfig, Queued};
use crate::db::models::Account;
use crate::db::queries::builds as bq;
use crate::db::queries::repositories::RepositoryView;
use crate::db::queries::triggers::{self as q, Activation, TriggerWithRobot};
use crate::service::accounts::{constant_time_eq, sha256_hex};
use crate::service::{random_token, Error, Registry};

/// The service of triggers fed by any git server through the webhook.
pub const CUSTOM_GIT: &str = "custom-git";
/// Length of the webhook's write token.
const WRITE_TOKEN_LEN: usize = 64;
/// What stands for the write token in the stored webhook URL.
const HIDDEN_TOKEN: &str = "********";
/// Why a trigger was disabled by its administrator.
const USER_TOGGLED: &str = "user_toggled";

/// A build trigger as the API shows it. Its GitHub token is never shown
/// (`SecretString` hides it from `Debug` too).
#[derive(Debug, Clone)]
pub struct Trigger {
    id: i64,
    pub uuid: String,
    pub service: String,
    pub config: Map<String, Value>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub pull_robot: Option<String>,
    connected_user_id: i64,
    pull_robot_id: Option<i64>,
    write_token_sha256: Option<String>,
    /// The GitHub OAuth token, as stored (encrypted).
    pub(super) auth_token: Option<String>,
}

impl Trigger {
    pub(super) fn from_row((row, pull_robot): TriggerWithRobot) -> Trigger {
        let config = match serde_json::from_str(&row.config_json) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        Trigger {
            id: row.id,
            uuid: row.uuid,
            service: row.service,
            config,
            enabled: row.enabled,
            disabled_reason: row.disabled_reason,
            pull_robot,
            connected_user_id: row.connected_user_id,
            pull_robot_id: row.pull_robot_id,
            write_token_sha256: row.write_token_sha256,
            auth_token: row.auth_token,
        }
    }

    /// Whether setup is done: a custom-git trigger shows its credentials, a
    /// GitHub trigger has its webhook on GitHub (Quay's rules).
    pub fn is_active(&self) -> bool {
        match self.service.as_str() {
            GITHUB => self.config.contains_key("hook_id"),
            _ => self.config.contains_key("credentials"),
        }
    }

    pub(super) fn connected_user_id(&self) -> i64 {
        self.connected_user_id
    }

    /// The git URL of a custom-git trigger, `owner/name` of a GitHub one.
    pub fn build_source(&self) -> Option<&str> {
        self.config.get("build_source").and_then(Value::as_str)
    }

    /// Whether `code` is the trigger's write token.
    pub fn token_matches(&self, code: &str) -> bool {
        self.write_token_sha256
            .as_deref()
            .is_some_and(|h| constant_time_eq(h.as_bytes(), sha256_hex(code).as_bytes()))
    }
}

/// What a manual start of a trigger names: a commit (custom-git), or a
/// branch (`branch_name`) or ref (`refs` `{kind: branch|tag, name}`) of a
/// git host, its default branch when neither.
#[derive(Debug, Clone, Default)]
pub struct RunParameters {
    pub commit_sha: Option<String>,
    pub branch_name: Option<String>,
    pub refs: Option<Value>,
}

/// What a push to a webhook did.
#[derive(Debug)]
pub enum PushOutcome {
    Queued(Box<Build>),
    Skipped,
}

/// An activated trigger: its view with the webhook URL carrying the write
/// token, shown this once.
#[derive(Debug)]
pub struct Activated {
    pub trigger: Trigger,
}

fn not_found() -> Error {
    Error::NotFound("Not Found".into())
}

/// The config a custom-git trigger is activated with: an object whose
/// `build_source` is a git URL.
fn check_config(config: Value) -> Result<Map<String, Value>, Error> {
    let Value::Object(config) = config else {
        return Err(Error::InvalidRequest("config must be an object".into()));
    };
    let source = config.get("build_source").and_then(Value::as_str).unwrap_or_default();
    if source.trim().is_empty() {
        return Err(Error::InvalidRequest(
            "config.build_source (a git URL) is required".into(),
        ));
    }
    for key in ["dockerfile_path", "context", "branchtag_regex"] {
        if config.get(key).is_some_and(|v| !v.is_string() && !v.is_null()) {
            return Err(Error::InvalidRequest(format!("config.{key} must be a string")));
        }
    }
    let templates = config.get("tag_templates");
    if templates.is_some_and(|t| !t.as_array().is_some_and(|a| a.iter().all(Value::is_string))) {
        return Err(Error::InvalidRequest(
            "config.tag_templates must be a list of strings".into(),
        ));
    }
    Ok(config)
}

/// The credentials Quay shows for a custom-git trigger.
fn credentials(public_key: &str, webhook_url: &str) -> Value {
    json!([
        {"name": "SSH Public Key", "value": public_key},
        {"name": "Webhook Endpoint URL", "value": webhook_url},
    ])
}

impl Registry {
    async fn trigger_rows(&self, repo: &RepositoryView, uuid: &str) -> Result<Trigger, Error> {
        let (repo_id, id) = (repo.id, uuid.to_owned());
        let row = self.db().read(move |c| Ok(q::find(c, repo_id, &id)?)).await?;
        row.map(Trigger::from_row).ok_or_else(not_found)
    }

    /// Creates an inactive custom-git trigger connected to `user`.
    pub async fn create_custom_trigger(&self, repo: &RepositoryView, user: &Account) -> Result<Trigger, Error> {
        let uuid = uuid::Uuid::new_v4().to_string();
        let (id, repo_id, user_id, now) = (uuid.clone(), repo.id, user.id, crate::now_ms());
        self.db()
            .write(move |c| {
                let new = q::NewTrigger {
                    uuid: &id,
                    service: CUSTOM_GIT,
                    repository_id: repo_id,
                    connected_user_id: user_id,
                    auth_token: None,
                    now,
                };
                Ok::<_, Error>(q::insert(c, &new)?)
            })
            .await?;
        self.trigger(repo, &uuid).await
    }

    /// The repository's triggers, oldest first.
    pub async fn list_triggers(&self, repo: &RepositoryView) -> Result<Vec<Trigger>, Error> {
        let repo_id = repo.id;
        let rows = self.db().read(move |c| Ok(q::of_repository(c, repo_id)?)).await?;
        Ok(rows.into_iter().map(Trigger::from_row).collect())
    }

    /// The trigger `uuid` of the repository; `NotFound` for others'.
    pub async fn trigger(&self, repo: &RepositoryView, uuid: &str) -> Result<Trigger, Error> {
        self.trigger_rows(repo, uuid).await
    }

    /// Enables or disables an activated trigger.
    pub async fn set_trigger_enabled(
        &self,
        repo: &RepositoryView,
        uuid: &str,
        enabled: bool,
    ) -> Result<Trigger, Error> {
        let trigger = self.trigger(repo, uuid).await?;
        if !trigger.is_active() {
            return Err(Error::InvalidRequest("Cannot update an unactivated trigger".into()));
        }
        let (id, now) = (trigger.id, crate::now_ms());
        self.db()
            .write(move |c| Ok::<_, Error>(q::set_enabled(c, id, enabled, Some(USER_TOGGLED), now)?))
            .await?;
        self.trigger(repo, uuid).await
    }

    /// Deletes the trigger; returns it as it was. An active GitHub
    /// trigger's deploy key and webhook are removed from GitHub first, best
    /// effort, as Quay does.
    pub async fn delete_trigger(&self, repo: &RepositoryView, uuid: &str) -> Result<Trigger, Error> {
        let trigger = self.trigger(repo, uuid).await?;
        if trigger.is_active() {
            self.unhook_trigger(&trigger).await;
        }
        let id = trigger.id;
        self.db().write(move |c| Ok::<_, Error>(q::delete(c, id)?)).await?;
        Ok(trigger)
    }

    /// Activates an inactive trigger as the user it is connected to: stores
    /// `config` with its credentials, the write token's hash, the deploy
    /// key and the pull robot (of the repository's namespace).
    /// `webhook_base` is `(scheme, host)` of the registry's public URL.
    pub async fn activate_trigger(
        &self,
        repo: &RepositoryView,
        caller: &Account,
        uuid: &str,
        config: Value,
        pull_robot: Option<&str>,
        webhook_base: (&str, &str),
    ) -> Result<Activated, Error> {
        let trigger = self.trigger(repo, uuid).await?;
        if trigger.is_active() || trigger.write_token_sha256.is_some() {
            return Err(Error::InvalidRequest(
                "Trigger config is not sufficient for activation.".into(),
            ));
        }
        if trigger.connected_user_id != caller.id {
            return Err(Error::Forbidden("Unauthorized".into()));
        }
        let robot = match pull_robot.filter(|n| !n.is_empty()) {
            Some(name) => {
                let robot = self.pull_robot(caller, name).await?;
                if name.split_once('+').map(|(ns, _)| ns) != Some(repo.namespace.as_str()) {
                    return Err(Error::Forbidden("Unauthorized".into()));
                }
                Some(robot)
            }
            None => None,
        };
        let mut config = check_config(config)?;
        let code = random_token(WRITE_TOKEN_LEN);
        let (scheme, host) = webhook_base;
        let url = |token: &str| format!("{scheme}://$token:{token}@{host}/webhooks/push/trigger/{uuid}");
        let (public_key, private_key) = ssh_key_pair()?;
        let private_key = self.encrypt_field(&private_key).await?;
        let github = trigger.service == GITHUB;
        if github {
            self.hook_github(&trigger, &mut config, &public_key, &url(&code))
                .await?;
        } else {
            config.insert("credentials".into(), credentials(&public_key, &url(HIDDEN_TOKEN)));
        }
        let stored = serde_json::to_string(&config).map_err(|e| Error::InvalidRequest(e.to_string()))?;
        let (id, hash, robot_id) = (trigger.id, sha256_hex(&code), robot.as_ref().map(|r| r.id));
        let activated = self
            .db()
            .write(move |c| {
                let a = Activation {
                    config_json: &stored,
                    write_token_sha256: &hash,
                    private_key: &private_key,
                    pull_robot_id: robot_id,
                };
                Ok::<_, Error>(q::activate(c, id, &a)?)
            })
            .await;
        if github && !matches!(activated, Ok(true)) {
            // Another activation won, or the database failed: what this one
            // added to GitHub goes.
            let mut hooked = trigger.clone();
            hooked.config = config;
            self.unhook_trigger(&hooked).await;
        }
        if !activated? {
            return Err(Error::InvalidRequest(
                "Trigger config is not sufficient for activation.".into(),
            ));
        }
        let mut trigger = self.trigger(repo, uuid).await?;
        if !github {
            trigger
                .config
                .insert("credentials".into(), credentials(&public_key, &url(&code)));
        }
        Ok(Activated { trigger })
    }

    /// Queues a build from an enabled, active trigger: of `commit_sha` for
    /// a custom-git trigger, of a branch or tag's head for a GitHub one.
    pub async fn start_trigger(
        &self,
        repo: &RepositoryView,
        caller: &Account,
        uuid: &str,
        run: &RunParameters,
    ) -> Result<Build, Error> {
        let trigger = self.trigger(repo, uuid).await?;
        if !trigger.enabled {
            return Err(Error::InvalidRequest("Trigger is not enabled.".into()));
        }
        if !trigger.is_active() {
            return Err(Error::InvalidRequest("Trigger is not active.".into()));
        }
        let metadata = if trigger.service == GITHUB {
            self.github_start_metadata(&trigger, run).await?
        } else {
            let commit = run
                .commit_sha
                .as_deref()
                .ok_or_else(|| Error::InvalidRequest("missing required parameter".into()))?;
            json!({"commit": commit, "git_url": trigger.build_source()})
        };
        check_metadata(&metadata)?;
        self.trigger_build(repo, &trigger, metadata, Some(caller)).await
    }

    /// The builds the trigger queued, newest first.
    pub async fn trigger_builds(&self, repo: &RepositoryView, uuid: &str, limit: i64) -> Result<Vec<Build>, Error> {
        let id = self.trigger(repo, uuid).await?.id;
        let rows = self.db().read(move |c| Ok(bq::of_trigger(c, id, limit)?)).await?;
        let now = crate::now_ms();
        Ok(rows.into_iter().map(|r| Build::from_row(r, now)).collect())
    }

    /// The trigger a webhook names, with its repository; `None` when no
    /// trigger or repository has it.
    pub async fn webhook_trigger(&self, uuid: &str) -> Result<Option<(Trigger, RepositoryView)>, Error> {
        let id = uuid.to_owned();
        let found = self
            .db()
            .read(move |c| {
                let Some(row) = q::find_by_uuid(c, &id)? else {
                    return Ok(None);
                };
                let repo = crate::db::queries::repositories::find_view_by_id(c, row.0.repository_id)?;
                Ok(repo.map(|r| (Trigger::from_row(row), r)))
            })
            .await?;
        Ok(found)
    }

    /// Queues the build a push posted to a custom-git trigger asks for,
    /// unless the trigger's rules skip it.
    pub async fn push_to_trigger(
        &self,
        repo: &RepositoryView,
        trigger: &Trigger,
        body: &[u8],
    ) -> Result<PushOutcome, Error> {
        let push = match trigger.service.as_str() {
            GITHUB => github_push(body, trigger.config.get("master_branch").and_then(Value::as_str))?,
            _ => custom_git_push(body, trigger.build_source().unwrap_or_default())?,
        };
        let Push::Build(metadata) = push else {
            return Ok(PushOutcome::Skipped);
        };
        if should_skip(&trigger.config, &metadata) {
            return Ok(PushOutcome::Skipped);
        }
        if !trigger.enabled {
            return Err(Error::InvalidRequest(
                "This build trigger is currently disabled. Please re-enable to continue.".into(),
            ));
        }
        let build = self.trigger_build(repo, trigger, metadata, None).await?;
        Ok(PushOutcome::Queued(Box::new(build)))
    }

    /// Queues a build of the trigger's git repository at the metadata's
    /// commit, with the tags its rules give.
    async fn trigger_build(
        &self,
        repo: &RepositoryView,
        trigger: &Trigger,
        metadata: Value,
        manual: Option<&Account>,
    ) -> Result<Build, Error> {
        let setting = |key: &str| trigger.config.get(key).and_then(Value::as_str).map(str::to_owned);
        let input = BuildInput {
            dockerfile_path: setting("dockerfile_path").filter(|p| !p.is_empty()),
            context: setting("context").filter(|p| !p.is_empty()),
            ..BuildInput::default()
        };
        let (context, build_subdir) = resolve_context(&input);
        let commit = metadata["commit"].as_str().unwrap_or_default().to_owned();
        let job = JobConfig {
            docker_tags: determine_tags(&trigger.config, &metadata),
            build_subdir,
            context,
            archive_url: None,
            is_manual: manual.is_some(),
            manual_user: manual.map(|u| u.username.clone()),
            git: Some(GitSource {
                url: metadata["git_url"].as_str().unwrap_or_default().to_owned(),
                sha: commit.clone(),
            }),
            trigger_metadata: metadata,
        };
        let queued = Queued {
            display_name: commit.chars().take(7).collect(),
            resource_key: None,
            pull_robot_id: trigger.pull_robot_id,
            manual_user_id: manual.map(|u| u.id),
            trigger_id: Some(trigger.id),
        };
        self.queue_build(repo, &job, queued).await
    }
}
