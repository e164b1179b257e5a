//! Repository builds (quay-api.md §1.14, `FEATURE_BUILD_SUPPORT`): the
//! queue of requested builds and the user files that carry their contexts.
//!
//! A build is requested from an uploaded file (`POST /filedrop/`, then a PUT
//! of the bytes) or from an archive URL, and waits in phase `waiting` until a
//! build manager claims it ([`jobs`]); it can be cancelled until it finishes.
//! Build triggers queue builds of git commits pushed to their webhook.

mod deploy_key;
mod github;
mod github_sources;
mod github_triggers;
mod input;
mod jobs;
mod logs;
mod push;
mod redis_logs;
mod settings;
pub mod tagging;
mod trigger_disable;
mod triggers;
mod userfiles;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest as _, Sha224};

use super::{Error, Registry};
use crate::config::{Config, ConfigError};
use crate::db::models::Account;
use crate::db::queries::builds::{self as q, BuildWithRobot, NewBuild};
use crate::db::queries::repositories::RepositoryView;

pub use github::{GithubClient, GithubSettings, GITHUB_TRIGGER_CONFIG};
pub use github_triggers::GITHUB;
use input::{check_archive_url, check_tags, present};
pub use input::{resolve_context, BuildInput};
pub use jobs::{is_running, BuildPack, ClaimedBuild, GitPack};
pub use logs::{log_archive_key, LogPage};
pub use push::{custom_git_push, Push};
pub use redis_logs::{RedisLogs, RedisSettings};
pub use settings::{
    BuildManagerSettings, ContainerRuntime, Distribution, Executor, ExecutorKind, KubernetesExecutor, LocalOptions,
};
pub use trigger_disable::{valid_threshold, TriggerDisablePolicy, THRESHOLD_KEYS};
pub use triggers::{Activated, PushOutcome, RunParameters, Trigger, CUSTOM_GIT};
pub use userfiles::userfile_key;

/// Largest user file accepted (1 GiB).
pub const MAX_USERFILE_BYTES: u64 = 1 << 30;

/// A running build whose last heartbeat is older than this has failed.
pub(crate) const HEARTBEAT_TIMEOUT_MS: i64 = 60_000;

/// Phases after which a build does not change any more.
const TERMINAL_PHASES: [&str; 5] = ["complete", "error", "internalerror", "cancelled", "expired"];

/// Build settings from `config.yaml`.
#[derive(Debug, Clone, Default)]
pub struct BuildPolicy {
    /// `FEATURE_BUILD_SUPPORT` (on by default, as in Quay; see
    /// [`builds_enabled`]); when off the build API, the file drop and the
    /// build manager do not exist.
    pub enabled: bool,
    /// `FEATURE_READER_BUILD_LOGS`: readers may see build logs, not only writers.
    pub reader_build_logs: bool,
    /// `BUILD_MANAGER`, when builds are on.
    pub manager: Option<BuildManagerSettings>,
    /// When successive failed builds disable a trigger.
    pub trigger_disable: TriggerDisablePolicy,
    /// The live logs' Redis (`BUILDLOGS_REDIS`), when builds are on and it
    /// is configured; the database holds live logs otherwise.
    pub live_logs: Option<Arc<RedisLogs>>,
    /// `DEFAULT_NAMESPACE_MAXIMUM_BUILD_COUNT`: builds a namespace may have
    /// waiting or running at once; unlimited when absent (Quay's default).
    pub max_queued_builds: Option<i64>,
    /// GitHub triggers (`FEATURE_GITHUB_BUILD` with `GITHUB_TRIGGER_CONFIG`),
    /// when builds are on.
    pub github: Option<Arc<GithubClient>>,
}

/// The config key of the limit on a namespace's unfinished builds.
pub const MAX_BUILDS_KEY: &str = "DEFAULT_NAMESPACE_MAXIMUM_BUILD_COUNT";

/// `FEATURE_BUILD_SUPPORT`: on unless turned off, as in Quay. Without
/// `BUILD_MANAGER`, builds run on this machine (the local executor, with
/// buildah); a host without buildah fails each build with that reason.
pub fn builds_enabled(config: &Config) -> bool {
    config.feature("BUILD_SUPPORT", true)
}

/// Checks the build settings that are not `BUILD_MANAGER`'s:
/// `BUILDLOGS_REDIS` (only when builds are on: Quay's configs carry it
/// whether or not they build), the queued build limit and, with
/// `FEATURE_GITHUB_BUILD`, `GITHUB_TRIGGER_CONFIG`.
pub fn validate_config(config: &Config) -> Result<(), ConfigError> {
    if builds_enabled(config) {
        if let Some(s) = RedisSettings::from_config(config)? {
            RedisLogs::new(&s)?;
        }
    }
    max_queued_builds(config)?;
    if let Some(settings) = GithubSettings::from_config(config)? {
        GithubClient::new(settings)?;
    }
    Ok(())
}

fn max_queued_builds(config: &Config) -> Result<Option<i64>, ConfigError> {
    match config.other.get(MAX_BUILDS_KEY) {
        None | Some(serde_yaml::Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .filter(|n| *n >= 0)
            .map(Some)
            .ok_or_else(|| ConfigError::Field {
                field: MAX_BUILDS_KEY.into(),
                message: "must be a whole number of builds, or null for no limit".into(),
            }),
    }
}

impl BuildPolicy {
    pub fn from_config(config: &Config) -> BuildPolicy {
        let enabled = builds_enabled(config);
        BuildPolicy {
            enabled,
            reader_build_logs: config.feature("READER_BUILD_LOGS", false),
            // All validated when the config was loaded.
            manager: BuildManagerSettings::from_config(config).ok().flatten(),
            trigger_disable: TriggerDisablePolicy::from_config(config),
            live_logs: RedisSettings::from_config(config)
                .ok()
                .flatten()
                .filter(|_| enabled)
                .and_then(|s| RedisLogs::new(&s).ok())
                .map(Arc::new),
            max_queued_builds: max_queued_builds(config).ok().flatten(),
            github: GithubSettings::from_config(config)
                .ok()
                .flatten()
                .filter(|_| enabled)
                .and_then(|s| GithubClient::new(s).ok())
                .map(Arc::new),
        }
    }
}

/// What a build runs on, as stored in `job_config_json` (Quay's names).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobConfig {
    pub docker_tags: Vec<String>,
    /// The Dockerfile's path within the context archive.
    pub build_subdir: String,
    pub context: String,
    pub archive_url: Option<String>,
    pub is_manual: bool,
    pub manual_user: Option<String>,
    pub trigger_metadata: Value,
    /// For a build of a trigger: the git repository and commit to clone,
    /// with the trigger's deploy key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub git: Option<GitSource>,
}

/// A commit of a git repository, the context of a triggered build.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitSource {
    pub url: String,
    pub sha: String,
}

/// A build as the API shows it.
#[derive(Debug, Clone)]
pub struct Build {
    pub uuid: String,
    /// The reported phase: a running build without heartbeat shows
    /// `internalerror`, and one with no retries left `expired`.
    pub phase: String,
    pub started_ms: i64,
    pub display_name: String,
    pub job: JobConfig,
    pub resource_key: Option<String>,
    pub pull_robot: Option<String>,
    pub error: Option<String>,
    pub logs_archived: bool,
    /// The trigger that queued the build, while it exists.
    pub trigger: Option<Trigger>,
}

/// The rows of a build besides its job.
struct Queued {
    display_name: String,
    resource_key: Option<String>,
    pull_robot_id: Option<i64>,
    manual_user_id: Option<i64>,
    trigger_id: Option<i64>,
}

/// One line of a build's log.
#[derive(Debug, Clone)]
pub struct LogLine {
    pub message: String,
    pub kind: Option<String>,
    pub data: Option<Value>,
}

impl Build {
    fn from_row((row, pull_robot, trigger): BuildWithRobot, now: i64) -> Build {
        let mut phase = row.phase;
        if !TERMINAL_PHASES.contains(&phase.as_str())
            && row.heartbeat_ms.is_some_and(|h| now - h > HEARTBEAT_TIMEOUT_MS)
        {
            phase = "internalerror".into();
        }
        if phase == "internalerror" && row.retries_remaining <= 0 {
            phase = "expired".into();
        }
        Build {
            uuid: row.uuid,
            phase,
            started_ms: row.started_ms,
            display_name: row.display_name,
            job: serde_json::from_str(&row.job_config_json).unwrap_or_default(),
            resource_key: row.resource_key,
            pull_robot,
            error: row.error,
            logs_archived: row.logs_archived,
            trigger: trigger.map(|t| Trigger::from_row((t, None))),
        }
    }
}

fn short_hex(digest: &[u8]) -> String {
    hex::encode(digest)[..7].to_owned()
}

impl Registry {
    /// The robot named `name` if `caller` administers its namespace.
    async fn pull_robot(&self, caller: &Account, name: &str) -> Result<Account, Error> {
        let Some((namespace, _)) = name.split_once('+') else {
            return Err(Error::Forbidden("Unauthorized".into()));
        };
        let robot = self
            .account(name)
            .await?
            .filter(|a| a.robot)
            .ok_or_else(|| Error::NotFound("Not Found".into()))?;
        if !self.administers_namespace(Some(caller), namespace).await? {
            return Err(Error::Forbidden("Unauthorized".into()));
        }
        Ok(robot)
    }

    /// Queues a build of the repository requested by `caller`.
    pub async fn request_build(
        &self,
        repo: &RepositoryView,
        caller: &Account,
        input: BuildInput,
    ) -> Result<Build, Error> {
        let input = BuildInput {
            file_id: present(input.file_id),
            archive_url: present(input.archive_url),
            ..input
        };
        if input.file_id.is_none() && input.archive_url.is_none() {
            return Err(Error::InvalidRequest("file_id or archive_url required".into()));
        }
        if let Some(url) = &input.archive_url {
            check_archive_url(url)?;
        }
        let (context, build_subdir) = resolve_context(&input);
        let tags = check_tags(input.docker_tags.clone())?;
        let robot = match present(input.pull_robot.clone()) {
            Some(name) => Some(self.pull_robot(caller, &name).await?),
            None => None,
        };
        let display_name = match (&input.file_id, &input.archive_url) {
            (Some(id), _) => self.userfile_name(caller, id).await?,
            (None, Some(url)) => short_hex(&Sha224::digest(url.as_bytes())),
            (None, None) => String::new(),
        };
        let job = JobConfig {
            docker_tags: tags,
            build_subdir,
            context,
            archive_url: input.archive_url.clone(),
            is_manual: true,
            manual_user: Some(caller.username.clone()),
            trigger_metadata: Value::Object(Default::default()),
            git: None,
        };
        let queued = Queued {
            display_name,
            resource_key: input.file_id,
            pull_robot_id: robot.map(|r| r.id),
            manual_user_id: Some(caller.id),
            trigger_id: None,
        };
        self.queue_build(repo, &job, queued).await
    }

    /// Stores a build in phase `waiting` and fires `build_queued`.
    async fn queue_build(&self, repo: &RepositoryView, job: &JobConfig, queued: Queued) -> Result<Build, Error> {
        self.check_queued_builds(repo).await?;
        let job_json = serde_json::to_string(job).map_err(|e| Error::InvalidRequest(e.to_string()))?;
        let uuid = uuid::Uuid::new_v4().to_string();
        let (repo_id, now, id) = (repo.id, crate::now_ms(), uuid.clone());
        self.db()
            .write(move |c| {
                let new = NewBuild {
                    uuid: &id,
                    repository_id: repo_id,
                    started_ms: now,
                    display_name: &queued.display_name,
                    job_config_json: &job_json,
                    resource_key: queued.resource_key.as_deref(),
                    pull_robot_id: queued.pull_robot_id,
                    manual_user_id: queued.manual_user_id,
                    trigger_id: queued.trigger_id,
                };
                Ok::<_, Error>(q::insert_build(c, &new)?)
            })
            .await?;
        let build = self.build(repo, &uuid).await?;
        self.notify_queued(repo, &build).await;
        Ok(build)
    }

    /// Quay's limit on a namespace's queued builds: none may be added while
    /// `DEFAULT_NAMESPACE_MAXIMUM_BUILD_COUNT` are waiting or running.
    async fn check_queued_builds(&self, repo: &RepositoryView) -> Result<(), Error> {
        let Some(max) = self.settings().builds.max_queued_builds else {
            return Ok(());
        };
        let namespace_id = repo.namespace_id;
        let alive = self
            .db()
            .read(move |c| Ok(q::count_unfinished_in_namespace(c, namespace_id)?))
            .await?;
        if alive >= max {
            tracing::debug!(namespace = %repo.namespace, alive, max, "refused a build over the namespace's queued build limit");
            return Err(Error::RateLimited("Maximum queued build rate exceeded.".into()));
        }
        Ok(())
    }

    /// `build_queued` with Quay's fields; a failure is logged, never the
    /// request's.
    async fn notify_queued(&self, repo: &RepositoryView, build: &Build) {
        let mut fields = jobs::build_fields(build);
        // Quay's build_queued carries the event log's metadata: `repo` too.
        fields["repo"] = Value::String(repo.name.clone());
        if let Err(e) = self.notify(repo.id, "build_queued", fields).await {
            tracing::warn!(error = %e, build = %build.uuid, "could not queue build_queued notifications");
        }
    }

    /// The repository's builds, newest first.
    pub async fn list_builds(
        &self,
        repo: &RepositoryView,
        limit: i64,
        since_ms: Option<i64>,
    ) -> Result<Vec<Build>, Error> {
        let repo_id = repo.id;
        let rows = self
            .db()
            .read(move |c| Ok(q::of_repository(c, repo_id, since_ms, limit)?))
            .await?;
        let now = crate::now_ms();
        Ok(rows.into_iter().map(|r| Build::from_row(r, now)).collect())
    }

    /// The build `uuid` of the repository; `NotFound` for builds of others.
    pub async fn build(&self, repo: &RepositoryView, uuid: &str) -> Result<Build, Error> {
        self.build_row(repo, uuid)
            .await
            .map(|r| Build::from_row(r, crate::now_ms()))
    }

    /// The repository of the build with this uuid, for superusers who
    /// look a build up by uuid alone.
    pub async fn build_repository(&self, uuid: &str) -> Result<RepositoryView, Error> {
        let uuid = uuid.to_owned();
        self.db()
            .read(move |c| match q::repository_of(c, &uuid)? {
                Some(id) => Ok(crate::db::queries::repositories::find_view_by_id(c, id)?),
                None => Ok(None),
            })
            .await?
            .ok_or_else(|| Error::NotFound("Not Found".into()))
    }

    async fn build_row(&self, repo: &RepositoryView, uuid: &str) -> Result<BuildWithRobot, Error> {
        let (repo_id, id) = (repo.id, uuid.to_owned());
        self.db()
            .read(move |c| Ok(q::find(c, repo_id, &id)?))
            .await?
            .ok_or_else(|| Error::NotFound("Not Found".into()))
    }

    /// Cancels a build that has not finished; a running one's manager then
    /// stops its builder.
    pub async fn cancel_build(&self, repo: &RepositoryView, uuid: &str) -> Result<(), Error> {
        let build_id = self.build_row(repo, uuid).await?.0.id;
        let cancelled = self
            .db()
            .write(move |c| {
                Ok::<_, Error>(
                    q::cancel_waiting(c, build_id)? || crate::db::queries::build_jobs::cancel_running(c, build_id)?,
                )
            })
            .await?;
        if cancelled {
            self.end_build_logs(build_id, "cancelled").await;
            self.notify_build(build_id, "build_cancelled", None).await;
            Ok(())
        } else {
            Err(Error::InvalidRequest(
                "Build is currently running or has finished".into(),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queued_build_limit_is_a_whole_number_or_absent() {
        let policy = |yaml: &str| BuildPolicy::from_config(&Config::parse(yaml).expect(yaml));
        assert_eq!(policy("{}").max_queued_builds, None, "unlimited by default, as Quay");
        assert_eq!(policy(&format!("{MAX_BUILDS_KEY}: 3")).max_queued_builds, Some(3));
        assert_eq!(policy(&format!("{MAX_BUILDS_KEY}: null")).max_queued_builds, None);
        for bad in ["-1", "many", "1.5"] {
            let e = Config::parse(&format!("{MAX_BUILDS_KEY}: {bad}")).expect_err(bad);
            assert!(e.to_string().contains(MAX_BUILDS_KEY), "{bad}: {e}");
        }
    }
}
