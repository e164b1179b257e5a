//! Running builds: what the build manager and its builders do with the
//! queue (operator.md §3, over HTTP instead of gRPC).
//!
//! A manager claims a waiting build and hands its builder a job token
//! (`<build uuid>.<secret>`, stored hashed). The builder registers with it
//! within `JOB_REGISTRATION_TIMEOUT`, receives the [`BuildPack`], then
//! heartbeats, logs, sets phases and completes. A build that stops
//! reporting is re-queued while it has retries left.

use crate::service::accounts::{constant_time_eq, sha256_hex};
use serde::Serialize;
use serde_json::Value;

use super::settings::{BuildManagerSettings, Executor};
use super::{Build, GitSource, JobConfig, HEARTBEAT_TIMEOUT_MS};
use crate::db::queries::build_jobs::{self as jq, Cutoffs, RUNNING};
use crate::db::queries::builds::{self as q, BuildRow};
use crate::db::queries::triggers as tq;
use crate::service::{random_token, Access, Error, Registry};

/// Phases a builder may report while it works.
const WORK_PHASES: [&str; 4] = ["unpacking", "pulling", "building", "pushing"];

/// A build a manager claimed, to start on the first of `executors` that
/// can start it.
#[derive(Debug, Clone)]
pub struct ClaimedBuild {
    pub id: i64,
    pub uuid: String,
    /// The job token for its builder; only its hash is stored.
    pub token: String,
    /// The executors that accept the build, in configured order.
    pub executors: Vec<Executor>,
}

impl ClaimedBuild {
    /// Names this attempt at the build (changes when it is re-queued and
    /// claimed again): a prefix of the stored token hash.
    pub fn attempt(&self) -> String {
        attempt_of(&sha256_hex(&self.token))
    }
}

fn attempt_of(token_hash: &str) -> String {
    token_hash.chars().take(16).collect()
}

/// What a builder needs to run its build.
#[derive(Debug, Clone, Serialize)]
pub struct BuildPack {
    pub build_uuid: String,
    /// Where the context is fetched from: an uploaded file (a path on the
    /// manager's server) or `archive_url`; absent for a git build.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context_url: Option<String>,
    /// The commit a triggered build clones.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub git: Option<GitPack>,
    pub dockerfile_path: String,
    pub context: String,
    /// `namespace/name` of the repository pushed to.
    pub repository: String,
    pub tag_names: Vec<String>,
    /// A registry token that may push to and pull from the repository,
    /// used as the password of `$token`.
    pub push_token: String,
    /// The pull robot's name and token for base images on this registry
    /// (Quay's `base_image` credentials), when the build names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pull_credentials: Option<PullCredentials>,
}

/// A robot's registry login, sent to the registered builder only.
#[derive(Clone, Serialize)]
pub struct PullCredentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for PullCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PullCredentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// The git repository and commit of a triggered build, with the deploy key
/// of its trigger: sent to the registered builder only.
#[derive(Clone, Serialize)]
pub struct GitPack {
    pub url: String,
    /// The commit to check out; empty when only the ref is known.
    pub sha: String,
    /// The pushed ref (`refs/heads/…`), when known.
    #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
    pub git_ref: Option<String>,
    /// The trigger's SSH private key (OpenSSH PEM); absent once the
    /// trigger is deleted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_key: Option<String>,
}

impl std::fmt::Debug for GitPack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitPack")
            .field("url", &self.url)
            .field("sha", &self.sha)
            .field("git_ref", &self.git_ref)
            .field("private_key", &self.private_key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Whether a build in `phase` is claimed and not finished.
pub fn is_running(phase: &str) -> bool {
    RUNNING.contains(&phase)
}

/// The build uuid a job token is for.
fn token_build(token: &str) -> Option<&str> {
    token.split_once('.').map(|(uuid, _)| uuid)
}

fn refused() -> Error {
    Error::Unauthenticated("invalid build job token".into())
}

impl Registry {
    fn build_manager(&self) -> BuildManagerSettings {
        self.settings().builds.manager.clone().unwrap_or_default()
    }

    /// Claims the oldest waiting build one of `executors` accepts, for
    /// `manager`; `None` when there is none (or others took them first).
    pub async fn claim_build(&self, manager: &str, executors: &[Executor]) -> Result<Option<ClaimedBuild>, Error> {
        let waiting = self.db().read(|c| Ok(jq::waiting(c, 20)?)).await?;
        for (row, namespace) in waiting {
            let accepting: Vec<Executor> = executors
                .iter()
                .filter(|e| e.accepts(&namespace, row.retries_remaining))
                .cloned()
                .collect();
            if accepting.is_empty() {
                continue;
            }
            let token = format!("{}.{}", row.uuid, random_token(48));
            let (hash, who, id, now) = (sha256_hex(&token), manager.to_owned(), row.id, crate::now_ms());
            let claimed = self
                .db()
                .write(move |c| Ok::<_, Error>(jq::claim(c, id, &who, &hash, now)?))
                .await?;
            if claimed {
                return Ok(Some(ClaimedBuild {
                    id: row.id,
                    uuid: row.uuid,
                    token,
                    executors: accepting,
                }));
            }
        }
        Ok(None)
    }

    /// Re-queues (or, without retries, fails) running builds whose builder
    /// stopped heartbeating or never registered; returns how many.
    pub async fn expire_stale_builds(&self) -> Result<usize, Error> {
        let now = crate::now_ms();
        let settings = self.build_manager();
        let cut = Cutoffs {
            heartbeat: now - HEARTBEAT_TIMEOUT_MS,
            register: now - settings.job_registration_timeout_s * 1000,
            machine: now - settings.machine_max_time_s * 1000,
        };
        let stale = self.db().read(move |c| Ok(jq::stale(c, cut)?)).await?;
        let mut changed = 0;
        for row in stale {
            let message = if jq::overdue(&row, cut) {
                format!(
                    "Build ran longer than the build manager's limit of {} seconds",
                    settings.machine_max_time_s
                )
            } else {
                "Build worker stopped responding".to_owned()
            };
            let (r, m) = (row.clone(), message.clone());
            let outcome = self
                .db()
                .write(move |c| Ok::<_, Error>(jq::requeue_or_fail(c, &r, cut, &m)?))
                .await?;
            match outcome {
                Some(true) => {
                    tracing::warn!(build = %row.uuid, "build worker went silent; build re-queued");
                    self.count_trigger_outcome(row.id, "internalerror").await;
                }
                Some(false) => {
                    tracing::warn!(build = %row.uuid, reason = %message, "build failed; not retried");
                    self.count_trigger_outcome(row.id, "internalerror").await;
                    self.end_build_logs(row.id, "internalerror").await;
                    self.notify_build(row.id, "build_failure", Some(&message)).await;
                }
                None => continue,
            }
            changed += 1;
        }
        Ok(changed)
    }

    /// The phases of these builds (those that still exist).
    pub async fn build_phases(&self, ids: Vec<i64>) -> Result<Vec<(i64, String)>, Error> {
        Ok(self.db().read(move |c| Ok(jq::phases(c, &ids)?)).await?)
    }

    /// Of these builder attempts (build uuid, [`ClaimedBuild::attempt`]),
    /// the ones whose build is no longer running that attempt (finished,
    /// cancelled, re-queued or claimed again): their builders must stop.
    /// Builds this registry does not know (another registry sharing the
    /// builder namespace) are never stale.
    pub async fn stale_attempts(&self, attempts: Vec<(String, String)>) -> Result<Vec<(String, String)>, Error> {
        let uuids: Vec<String> = attempts.iter().map(|(u, _)| u.clone()).collect();
        let rows = self.db().read(move |c| Ok(jq::attempts(c, &uuids)?)).await?;
        Ok(attempts
            .into_iter()
            .filter(|(uuid, attempt)| {
                rows.iter().filter(|(u, _, _)| u == uuid).any(|(_, phase, hash)| {
                    !(is_running(phase) && hash.as_deref().map(attempt_of).as_ref() == Some(attempt))
                })
            })
            .collect())
    }

    /// The running build a job token is valid for: it must be for the build
    /// `uuid`, and before registration not older than the registration
    /// timeout; never older than `MACHINE_MAX_TIME`.
    async fn job_build(&self, uuid: &str, token: &str) -> Result<BuildRow, Error> {
        if token_build(token) != Some(uuid) {
            return Err(refused());
        }
        let id = uuid.to_owned();
        let row = self
            .db()
            .read(move |c| Ok(jq::by_uuid(c, &id)?))
            .await?
            .ok_or_else(refused)?;
        let build_id = row.id;
        let (hash, scheduled, registered) = self.db().read(move |c| Ok(jq::job_of(c, build_id)?)).await?;
        let given = sha256_hex(token);
        if !hash.is_some_and(|h| constant_time_eq(h.as_bytes(), given.as_bytes())) {
            return Err(refused());
        }
        let settings = self.build_manager();
        let age_ms = crate::now_ms() - scheduled.unwrap_or(0);
        let too_late = if registered.is_none() {
            age_ms > settings.job_registration_timeout_s * 1000
        } else {
            age_ms > settings.machine_max_time_s * 1000
        };
        if too_late {
            return Err(refused());
        }
        if !RUNNING.contains(&row.phase.as_str()) {
            return Err(Error::InvalidRequest(format!("Build is {}", row.phase)));
        }
        Ok(row)
    }

    /// A builder registers for its build and receives what to build.
    pub async fn register_builder(&self, uuid: &str, token: &str) -> Result<BuildPack, Error> {
        let row = self.job_build(uuid, token).await?;
        let (id, now) = (row.id, crate::now_ms());
        if !self
            .db()
            .write(move |c| Ok::<_, Error>(jq::register(c, id, now)?))
            .await?
        {
            return Err(Error::InvalidRequest("Build job already registered".into()));
        }
        let job: JobConfig = serde_json::from_str(&row.job_config_json).unwrap_or_default();
        let (namespace, name, _) = self.db().read(move |c| Ok(jq::repository_of(c, id)?)).await?;
        let repository = format!("{namespace}/{name}");
        let subject = match &job.manual_user {
            Some(u) => self.account(u).await?,
            None => None,
        };
        let access = vec![Access {
            kind: "repository".into(),
            name: repository.clone(),
            actions: vec!["push".into(), "pull".into()],
        }];
        let push_token = self.issue_registry_token(subject.as_ref(), "buildman", access).await?;
        let git = match &job.git {
            Some(source) => Some(self.git_pack(id, source, &job.trigger_metadata).await?),
            None => None,
        };
        let context_url = match (&row.resource_key, &job.archive_url, &git) {
            (Some(file), _, _) => Some(format!("/userfiles/{file}")),
            (None, Some(url), _) => Some(url.clone()),
            (None, None, Some(_)) => None,
            (None, None, None) => return Err(Error::InvalidRequest("Build has no context".into())),
        };
        let pull_credentials = match row.pull_robot_id {
            Some(robot) => self.pull_credentials(robot).await?,
            None => None,
        };
        if let Err(e) = self.append_phase(id, "build-scheduled").await {
            tracing::warn!(error = %e, build = %row.uuid, "could not log the build's start");
        }
        self.notify_build(id, "build_start", None).await;
        Ok(BuildPack {
            build_uuid: row.uuid,
            context_url,
            git,
            dockerfile_path: job.build_subdir,
            context: job.context,
            repository,
            tag_names: job.docker_tags,
            push_token,
            pull_credentials,
        })
    }

    /// The pull robot's login; `None` when the robot was deleted since.
    async fn pull_credentials(&self, robot_id: i64) -> Result<Option<PullCredentials>, Error> {
        let found = self
            .db()
            .read(move |c| {
                let Some(account) = crate::db::queries::accounts::find_by_id(c, robot_id)? else {
                    return Ok(None);
                };
                Ok(crate::db::queries::robots::find(c, &account.username)?)
            })
            .await?;
        Ok(found.map(crate::service::robots::Robot::from).map(|r| PullCredentials {
            username: r.name().to_owned(),
            password: r.token,
        }))
    }

    /// What a builder clones for a triggered build: the commit, and the
    /// deploy key of the trigger that queued it.
    async fn git_pack(&self, build_id: i64, source: &GitSource, metadata: &Value) -> Result<GitPack, Error> {
        let stored = self
            .db()
            .read(move |c| Ok(tq::private_key_of_build(c, build_id)?))
            .await?;
        let private_key = match stored {
            Some(key) => Some(self.decrypt_field(&key).await?),
            None => None,
        };
        Ok(GitPack {
            url: source.url.clone(),
            sha: source.sha.clone(),
            git_ref: metadata.get("ref").and_then(Value::as_str).map(str::to_owned),
            private_key,
        })
    }

    /// Keeps the builder's build alive.
    pub async fn builder_heartbeat(&self, uuid: &str, token: &str) -> Result<(), Error> {
        let id = self.job_build(uuid, token).await?.id;
        let now = crate::now_ms();
        if self
            .db()
            .write(move |c| Ok::<_, Error>(jq::heartbeat(c, id, now)?))
            .await?
        {
            Ok(())
        } else {
            Err(Error::InvalidRequest("Build job is not registered".into()))
        }
    }

    /// Appends a log line the builder sent with sequence number `seq`
    /// (strictly increasing); counts as a heartbeat. With the live logs in
    /// Redis and Redis down, the line is refused (`Unavailable`) and its
    /// number given back, so the builder may send it again.
    pub async fn builder_log(&self, uuid: &str, token: &str, seq: i64, line: super::LogLine) -> Result<(), Error> {
        let row = self.job_build(uuid, token).await?;
        let (id, now) = (row.id, crate::now_ms());
        let redis = self.live_redis();
        let db_line = redis
            .is_none()
            .then(|| (line.clone(), line.data.as_ref().map(Value::to_string)));
        let last = self
            .db()
            .write(move |c| {
                let Some(last) = jq::advance_log_sequence(c, id, seq)? else {
                    return Ok::<_, Error>(None);
                };
                jq::heartbeat(c, id, now)?;
                if let Some((l, data)) = &db_line {
                    q::append_log_line(c, id, &l.message, l.kind.as_deref(), data.as_deref())?;
                }
                Ok(Some(last))
            })
            .await?;
        let Some(last) = last else {
            return Err(Error::InvalidRequest(format!(
                "Sequence number {seq} is not above the last one"
            )));
        };
        let Some(redis) = redis else { return Ok(()) };
        if let Err(e) = redis.append(&row.uuid, &line.to_json().to_string()).await {
            let rewound = self
                .db()
                .write(move |c| Ok::<_, Error>(jq::rewind_log_sequence(c, id, seq, last)?))
                .await;
            if let Err(r) = rewound {
                tracing::warn!(error = %r, build = %row.uuid, "could not give back a log sequence number");
            }
            return Err(e);
        }
        Ok(())
    }

    /// The builder reached a working phase; shown in the logs as a phase
    /// entry (written first, so a log store that is down refuses the call
    /// before anything changed).
    pub async fn builder_phase(&self, uuid: &str, token: &str, phase: &str) -> Result<(), Error> {
        if !WORK_PHASES.contains(&phase) {
            return Err(Error::InvalidRequest(format!("Unknown phase {phase}")));
        }
        let id = self.job_build(uuid, token).await?.id;
        self.append_phase(id, phase).await?;
        let (to, now) = (phase.to_owned(), crate::now_ms());
        if !self
            .db()
            .write(move |c| Ok::<_, Error>(jq::set_phase(c, id, &to, None, now)?))
            .await?
        {
            return Err(Error::InvalidRequest("Build is not running".into()));
        }
        Ok(())
    }

    /// The builder finished: `complete`, or `error` with its message. The
    /// logs are then archived.
    pub async fn builder_complete(&self, uuid: &str, token: &str, error: Option<String>) -> Result<(), Error> {
        let id = self.job_build(uuid, token).await?.id;
        let phase = if error.is_some() { "error" } else { "complete" };
        let (message, now) = (error.clone(), crate::now_ms());
        let done = self
            .db()
            .write(move |c| Ok::<_, Error>(jq::set_phase(c, id, phase, message.as_deref(), now)?))
            .await?;
        if !done {
            return Err(Error::InvalidRequest("Build is not running".into()));
        }
        self.end_build_logs(id, phase).await;
        self.count_trigger_outcome(id, phase).await;
        let event = if error.is_some() {
            "build_failure"
        } else {
            "build_success"
        };
        self.notify_build(id, event, error.as_deref()).await;
        Ok(())
    }

    /// A build ended in `phase`: the phase entry, then the archive. Both
    /// are best effort: the build has ended whatever the log stores do.
    pub(super) async fn end_build_logs(&self, build_id: i64, phase: &str) {
        if let Err(e) = self.append_phase(build_id, phase).await {
            tracing::warn!(error = %e, build_id, phase, "could not log the final phase");
        }
        self.archive_ended_build(build_id).await;
    }

    /// A phase entry in the build log, as Quay shows phase changes.
    async fn append_phase(&self, build_id: i64, phase: &str) -> Result<(), Error> {
        let uuid = self
            .db()
            .read(move |c| Ok(q::find_by_id(c, build_id)?))
            .await?
            .map(|r| r.0.uuid)
            .unwrap_or_default();
        let line = super::LogLine {
            message: phase.to_owned(),
            kind: Some("phase".into()),
            data: None,
        };
        self.append_live_log(build_id, &uuid, line).await
    }

    /// Fires a build event with Quay's fields; failures are logged only.
    pub(super) async fn notify_build(&self, build_id: i64, event: &'static str, error: Option<&str>) {
        let found = self
            .db()
            .read(move |c| {
                let (ns, name, repo_id) = jq::repository_of(c, build_id)?;
                Ok((q::find_by_id(c, build_id)?, ns, name, repo_id))
            })
            .await;
        let (row, repo_id) = match found {
            Ok((Some(row), _, _, repo_id)) => (row, repo_id),
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(error = %e, event, "could not read the build to notify");
                return;
            }
        };
        let build = Build::from_row(row, crate::now_ms());
        let mut fields = build_fields(&build);
        if let (Some(message), Value::Object(map)) = (error, &mut fields) {
            map.insert("error_message".into(), message.into());
        }
        if let Err(e) = self.notify(repo_id, event, fields).await {
            tracing::warn!(error = %e, build = %build.uuid, event, "could not queue build notifications");
        }
    }
}

/// The fields every build event carries (Quay's names).
pub(super) fn build_fields(build: &Build) -> Value {
    let mut fields = serde_json::json!({
        "build_id": build.uuid,
        "build_name": build.display_name,
        "docker_tags": build.job.docker_tags,
        "is_manual": build.job.is_manual,
        "manual_user": build.job.manual_user,
        "trigger_metadata": build.job.trigger_metadata,
    });
    if let Some(t) = &build.trigger {
        fields["trigger_id"] = serde_json::json!(t.uuid);
        fields["trigger_kind"] = serde_json::json!(t.service);
    }
    fields
}
