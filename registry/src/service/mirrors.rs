//! Repository mirroring (`FEATURE_REPO_MIRROR`, quay-api.md §1.13): a
//! repository's pull-mirror configuration, its sync requests, the
//! repository state (NORMAL, READ_ONLY, MIRROR) and what the state means
//! for pushes.
//!
//! Upstream credentials are stored encrypted ([`Registry::encrypt_field`])
//! and the password is never given back.

use chrono::{NaiveDateTime, TimeZone, Utc};
use serde_json::{json, Map, Value};

use crate::db::models::Account;
use crate::db::queries::mirrors::{self as q, MirrorRow, MirrorSettings};
use crate::db::queries::permissions;
use crate::oci::RepoName;
use crate::service::repositories::RepositoryView;
use crate::service::{Error, Registry};

/// Syncs a mirror tries before it waits for its next interval (Quay's 3).
pub const SYNC_RETRIES: i32 = 3;
/// Bounds of `skopeo_timeout_interval`, in seconds, and its default.
pub const MIN_TIMEOUT_S: i64 = 300;
pub const MAX_TIMEOUT_S: i64 = 43_200;

/// The architectures a mirror may filter by (GOARCH names, as Quay).
pub const MIRROR_ARCHITECTURES: [&str; 4] = ["amd64", "arm64", "ppc64le", "s390x"];

/// Quay's `repository.state` numbers that changestate may set.
pub const NORMAL: i32 = 0;
pub const READ_ONLY: i32 = 1;
pub const MIRROR: i32 = 2;

/// The mirroring feature flag.
#[derive(Debug, Clone, Default)]
pub struct MirrorPolicy {
    pub enabled: bool,
    /// Organization-level mirroring (`FEATURE_ORG_MIRROR`).
    pub org_enabled: bool,
}

impl MirrorPolicy {
    pub fn from_config(config: &crate::config::Config) -> MirrorPolicy {
        MirrorPolicy {
            enabled: config.feature("REPO_MIRROR", false),
            org_enabled: config.feature("ORG_MIRROR", false),
        }
    }
}

/// Quay's name of a `sync_status`.
pub fn status_name(status: i32) -> &'static str {
    match status {
        q::CANCEL => "CANCEL",
        q::FAIL => "FAIL",
        q::SUCCESS => "SUCCESS",
        q::SYNCING => "SYNCING",
        q::SYNC_NOW => "SYNC_NOW",
        _ => "NEVER_RUN",
    }
}

/// The value of `changestate`'s `state`.
pub fn parse_state(name: &str) -> Option<i32> {
    match name {
        "NORMAL" => Some(NORMAL),
        "READ_ONLY" => Some(READ_ONLY),
        "MIRROR" => Some(MIRROR),
        _ => None,
    }
}

/// Quay's date format for mirror dates (`2021-08-06T11:11:39Z`, UTC).
pub fn format_mirror_date(ms: i64) -> Option<String> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
}

fn parse_mirror_date(s: &str) -> Result<i64, Error> {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%SZ")
        .map(|d| d.and_utc().timestamp_millis())
        .map_err(|_| invalid("Incorrect DateTime format for sync_start_date."))
}

fn invalid(m: impl Into<String>) -> Error {
    Error::InvalidRequest(m.into())
}

/// A field that may be absent, null or a value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Field<T> {
    #[default]
    Absent,
    Null,
    Set(T),
}

impl<T> Field<T> {
    pub(super) fn is_present(&self) -> bool {
        !matches!(self, Field::Absent)
    }

    /// The value, when one is set.
    pub(super) fn value(&self) -> Option<&T> {
        match self {
            Field::Set(v) => Some(v),
            _ => None,
        }
    }
}

/// `external_registry_config` as sent: only the keys present change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryConfigInput {
    pub verify_tls: Option<bool>,
    pub unsigned_images: Option<bool>,
    /// `http_proxy`, `https_proxy`, `no_proxy`: each absent, null or a string.
    pub proxy: Vec<(&'static str, Field<String>)>,
}

/// A create or update body of `/repository/{repo}/mirror`, checked for
/// types as Quay's JSON schema does.
#[derive(Debug, Clone, Default)]
pub struct MirrorInput {
    pub is_enabled: Option<bool>,
    pub external_reference: Option<String>,
    pub username: Field<String>,
    pub password: Field<String>,
    pub registry_config: Option<RegistryConfigInput>,
    pub sync_interval: Option<i64>,
    pub sync_start_date: Option<String>,
    pub root_rule: Option<Vec<String>>,
    pub robot_username: Option<String>,
    pub skopeo_timeout: Option<i64>,
}

fn type_error(field: &str, kind: &str) -> Error {
    invalid(format!("{field}: value is not of type '{kind}'"))
}

fn opt_string(body: &Map<String, Value>, key: &str) -> Result<Field<String>, Error> {
    match body.get(key) {
        None => Ok(Field::Absent),
        Some(Value::Null) => Ok(Field::Null),
        Some(Value::String(s)) => Ok(Field::Set(s.clone())),
        Some(_) => Err(type_error(key, "string")),
    }
}

fn string(body: &Map<String, Value>, key: &str) -> Result<Option<String>, Error> {
    match body.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(type_error(key, "string")),
    }
}

fn boolean(body: &Map<String, Value>, key: &str) -> Result<Option<bool>, Error> {
    match body.get(key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(type_error(key, "boolean")),
    }
}

fn integer(body: &Map<String, Value>, key: &str) -> Result<Option<i64>, Error> {
    match body.get(key) {
        None => Ok(None),
        Some(v) => v.as_i64().map(Some).ok_or_else(|| type_error(key, "integer")),
    }
}

impl MirrorInput {
    /// Reads a request body; wrong types and unknown rule kinds are 400s.
    pub fn from_json(body: &Value) -> Result<MirrorInput, Error> {
        let Some(body) = body.as_object() else {
            return Err(invalid("The request body must be a JSON object"));
        };
        let registry_config = match body.get("external_registry_config") {
            None => None,
            Some(Value::Object(c)) => {
                let proxy = match c.get("proxy") {
                    None => Vec::new(),
                    Some(Value::Object(p)) => ["http_proxy", "https_proxy", "no_proxy"]
                        .into_iter()
                        .map(|k| opt_string(p, k).map(|v| (k, v)))
                        .collect::<Result<Vec<_>, _>>()?,
                    Some(_) => return Err(type_error("proxy", "object")),
                };
                Some(RegistryConfigInput {
                    verify_tls: boolean(c, "verify_tls")?,
                    unsigned_images: boolean(c, "unsigned_images")?,
                    proxy,
                })
            }
            Some(_) => return Err(type_error("external_registry_config", "object")),
        };
        let root_rule = match body.get("root_rule") {
            None => None,
            Some(Value::Object(r)) => {
                match r.get("rule_kind") {
                    Some(Value::String(k)) if k == "tag_glob_csv" => {}
                    Some(_) => return Err(invalid("validation failed: rule_kind must be \"tag_glob_csv\"")),
                    None => return Err(invalid("root_rule: 'rule_kind' is a required property")),
                }
                let Some(Value::Array(values)) = r.get("rule_value") else {
                    return Err(invalid("root_rule: 'rule_value' must be an array of tag patterns"));
                };
                let globs = values
                    .iter()
                    .map(|v| {
                        v.as_str()
                            .map(str::to_owned)
                            .ok_or_else(|| type_error("rule_value", "string"))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                if globs.is_empty() || globs.iter().any(|g| g.trim().is_empty()) {
                    return Err(invalid(
                        "root_rule: rule_value must list at least one non-empty tag pattern",
                    ));
                }
                Some(globs)
            }
            Some(_) => return Err(type_error("root_rule", "object")),
        };
        let sync_interval = integer(body, "sync_interval")?;
        if sync_interval.is_some_and(|s| s < 0) {
            return Err(invalid("sync_interval: must be at least 0"));
        }
        let skopeo_timeout = integer(body, "skopeo_timeout_interval")?;
        if skopeo_timeout.is_some_and(|t| !(MIN_TIMEOUT_S..=MAX_TIMEOUT_S).contains(&t)) {
            return Err(invalid(format!(
                "skopeo_timeout_interval: must be between {MIN_TIMEOUT_S} and {MAX_TIMEOUT_S} seconds"
            )));
        }
        let external_reference = string(body, "external_reference")?;
        if let Some(r) = &external_reference {
            check_reference(r)?;
        }
        Ok(MirrorInput {
            is_enabled: boolean(body, "is_enabled")?,
            external_reference,
            username: opt_string(body, "external_registry_username")?,
            password: opt_string(body, "external_registry_password")?,
            registry_config,
            sync_interval,
            sync_start_date: string(body, "sync_start_date")?,
            root_rule,
            robot_username: string(body, "robot_username")?,
            skopeo_timeout,
        })
    }
}

/// `host[:port]/path` of the upstream repository, without tag or digest.
fn check_reference(r: &str) -> Result<(), Error> {
    if r.is_empty() {
        return Err(invalid("Empty string is an invalid repository location."));
    }
    let ok = match r.split_once('/') {
        Some((host, path)) => {
            !host.is_empty()
                && !path.is_empty()
                && !r.contains('@')
                && !path.contains(':')
                && !r.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    };
    if !ok {
        return Err(invalid(format!(
            "Invalid external_reference '{r}': expected registry-host/namespace/repository without tag or digest"
        )));
    }
    Ok(())
}

/// A mirror configuration, of a repository or of an organization: the
/// parts both kinds keep alike.
pub trait MirrorRecord {
    /// Which mirror it is, for the logs.
    fn whose(&self) -> String;
    fn robot_id(&self) -> Option<i64>;
    /// The upstream username and password, encrypted.
    fn sealed_credentials(&self) -> (Option<&str>, Option<&str>);
    /// `external_registry_config`, a JSON object.
    fn registry_config(&self) -> &str;
}

impl MirrorRecord for MirrorRow {
    fn whose(&self) -> String {
        format!("repository {}", self.repository_id)
    }

    fn robot_id(&self) -> Option<i64> {
        self.settings.internal_robot_id
    }

    fn sealed_credentials(&self) -> (Option<&str>, Option<&str>) {
        let s = &self.settings;
        (
            s.external_registry_username.as_deref(),
            s.external_registry_password.as_deref(),
        )
    }

    fn registry_config(&self) -> &str {
        &self.settings.external_registry_config
    }
}

/// A mirror as the API shows it (never the password).
#[derive(Debug, Clone)]
pub struct MirrorView<R = MirrorRow> {
    pub row: R,
    /// The decrypted username; `Err` when it cannot be decrypted.
    pub username: Option<Result<String, ()>>,
    pub robot_username: Option<String>,
}

impl<R: MirrorRecord> MirrorView<R> {
    pub fn external_registry_config(&self) -> Value {
        serde_json::from_str(self.row.registry_config()).unwrap_or_else(|_| json!({}))
    }
}

impl MirrorView {
    pub fn root_rule(&self) -> Vec<String> {
        serde_json::from_str(&self.row.settings.root_rule).unwrap_or_default()
    }
}

/// One change a create or an update made, for the usage logs
/// (`repo_mirror_config_changed` with `changed` and `to`).
#[derive(Debug, Clone, PartialEq)]
pub struct MirrorChange {
    pub changed: &'static str,
    pub to: Value,
}

/// What a push may do in a repository given its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushState {
    /// No such repository yet: the push creates it.
    Missing,
    /// A NORMAL repository.
    Allowed,
    /// A MIRROR repository and the pusher is its mirror robot.
    MirrorRobot,
    ReadOnly,
    /// A MIRROR (or ORG_MIRROR) repository and someone else pushes.
    Mirror,
}

impl Registry {
    /// The mirror of a repository, if configured.
    pub async fn mirror(&self, repo: &RepositoryView) -> Result<Option<MirrorView>, Error> {
        let id = repo.id;
        self.mirror_view(move |c| q::find(c, id)).await
    }

    /// The mirror `find` reads, with its robot's name and its username
    /// decrypted (logged, and shown as such, when it cannot be, e.g. after
    /// a key change).
    pub(super) async fn mirror_view<R, F>(&self, find: F) -> Result<Option<MirrorView<R>>, Error>
    where
        R: MirrorRecord + Send + 'static,
        F: FnOnce(&mut crate::db::DbConn) -> diesel::QueryResult<Option<R>> + Send + 'static,
    {
        let found = self
            .db()
            .read(move |c| {
                let Some(row) = find(c)? else { return Ok(None) };
                let robot = match row.robot_id() {
                    Some(r) => q::username(c, r)?,
                    None => None,
                };
                Ok(Some((row, robot)))
            })
            .await?;
        let Some((row, robot_username)) = found else {
            return Ok(None);
        };
        let username = match row.sealed_credentials().0 {
            Some(u) => Some(self.decrypt_field(u).await.map_err(|e| {
                tracing::warn!(error = %e, mirror = row.whose(), "mirror username cannot be decrypted");
            })),
            None => None,
        };
        Ok(Some(MirrorView {
            row,
            username,
            robot_username,
        }))
    }

    /// Creates the mirror of a repository and puts the repository in the
    /// MIRROR state; `None` when it has one already. `robot_username` must
    /// name a robot of the repository's namespace, which is granted write
    /// on the repository when it holds less.
    pub async fn create_mirror(
        &self,
        repo: &RepositoryView,
        input: &MirrorInput,
    ) -> Result<Option<Vec<MirrorChange>>, Error> {
        let missing = |f: &str| invalid(format!("'{f}' is a required property"));
        let reference = input
            .external_reference
            .clone()
            .ok_or_else(|| missing("external_reference"))?;
        let sync_interval = input.sync_interval.ok_or_else(|| missing("sync_interval"))?;
        let start = input
            .sync_start_date
            .as_deref()
            .ok_or_else(|| missing("sync_start_date"))?;
        let globs = input.root_rule.clone().ok_or_else(|| missing("root_rule"))?;
        let robot_name = input
            .robot_username
            .as_deref()
            .ok_or_else(|| missing("robot_username"))?;
        let sync_start_date = parse_mirror_date(start)?;
        check_credentials(input)?;
        self.check_mirror_source(&reference)?;
        let robot = self.mirror_robot(repo, robot_name).await?;
        let mut config = Map::new();
        if let Some(c) = &input.registry_config {
            apply_registry_config(&mut config, c);
        }
        let settings = MirrorSettings {
            is_enabled: input.is_enabled.unwrap_or(true),
            internal_robot_id: Some(robot.id),
            external_reference: reference.clone(),
            external_registry_username: self.seal(input.username.value()).await?,
            external_registry_password: self.seal(input.password.value()).await?,
            external_registry_config: Value::Object(config).to_string(),
            sync_interval,
            sync_start_date: Some(sync_start_date),
            root_rule: json!(globs).to_string(),
            skopeo_timeout: input.skopeo_timeout.unwrap_or(MIN_TIMEOUT_S),
        };
        let (repo_id, robot_id) = (repo.id, robot.id);
        let created = self
            .db()
            .write(move |c| {
                if !q::insert(c, repo_id, &settings, SYNC_RETRIES)? {
                    return Ok::<_, Error>(false);
                }
                grant_write(c, repo_id, robot_id)?;
                // As Quay's enable_mirroring_for_repository: the repository
                // becomes a mirror with its configuration.
                q::set_repository_state(c, repo_id, MIRROR)?;
                Ok(true)
            })
            .await?;
        Ok(created.then(|| {
            vec![MirrorChange {
                changed: "external_reference",
                to: json!(reference),
            }]
        }))
    }

    /// Changes the fields present in `input`; the changes made, for the
    /// usage logs. Everything is checked before anything is written.
    pub async fn update_mirror(&self, repo: &RepositoryView, input: &MirrorInput) -> Result<Vec<MirrorChange>, Error> {
        let current = self
            .mirror(repo)
            .await?
            .ok_or_else(|| Error::NotFound("Not Found".into()))?;
        check_credentials(input)?;
        let old = current.row.settings.clone();
        let mut new = old.clone();
        let mut changes = Vec::new();
        let mut change = |changed: &'static str, to: Value| changes.push(MirrorChange { changed, to });
        if let Some(e) = input.is_enabled {
            if e != old.is_enabled {
                new.is_enabled = e;
                change("is_enabled", json!(e));
            }
        }
        if let Some(r) = &input.external_reference {
            if *r != old.external_reference {
                self.check_mirror_source(r)?;
                new.external_reference = r.clone();
                change("external_reference", json!(r));
            }
        }
        let mut robot = None;
        if let Some(name) = &input.robot_username {
            let r = self.mirror_robot(repo, name).await?;
            if Some(r.id) != old.internal_robot_id {
                new.internal_robot_id = Some(r.id);
                change("robot_username", json!(name));
            }
            robot = Some(r.id);
        }
        if let Some(s) = &input.sync_start_date {
            let ms = parse_mirror_date(s)?;
            if Some(ms) != old.sync_start_date {
                new.sync_start_date = Some(ms);
                change("sync_start_date", json!(s));
            }
        }
        if let Some(i) = input.sync_interval {
            if i != old.sync_interval {
                new.sync_interval = i;
                change("sync_interval", json!(i));
            }
        }
        if input.username.is_present() {
            new.external_registry_username = self.seal(input.username.value()).await?;
            change("external_registry_username", json!(input.username.value()));
            if input.password.is_present() {
                new.external_registry_password = self.seal(input.password.value()).await?;
                let shown = match input.password {
                    Field::Set(_) => json!("********"),
                    _ => Value::Null,
                };
                change("external_registry_password", shown);
            }
        }
        if let Some(c) = &input.registry_config {
            let mut config = match serde_json::from_str::<Value>(&old.external_registry_config) {
                Ok(Value::Object(m)) => m,
                _ => Map::new(),
            };
            apply_registry_config(&mut config, c);
            new.external_registry_config = Value::Object(config).to_string();
            if let Some(v) = c.verify_tls {
                change("verify_tls", json!(v));
            }
            if let Some(v) = c.unsigned_images {
                change("unsigned_images", json!(v));
            }
            for (key, value) in &c.proxy {
                match value {
                    Field::Absent => {}
                    Field::Null => change(key, Value::Null),
                    Field::Set(s) => change(key, json!(s)),
                }
            }
        }
        if let Some(globs) = &input.root_rule {
            let rule = json!(globs).to_string();
            if rule != old.root_rule {
                new.root_rule = rule;
                change("mirror_rule", json!(globs));
            }
        }
        if let Some(t) = input.skopeo_timeout {
            if t != old.skopeo_timeout {
                new.skopeo_timeout = t;
                change("skopeo_timeout_interval", json!(t));
            }
        }
        if new != old {
            let repo_id = repo.id;
            self.db()
                .write(move |c| {
                    q::update_settings(c, repo_id, &new)?;
                    if let Some(r) = robot {
                        grant_write(c, repo_id, r)?;
                    }
                    Ok::<_, Error>(())
                })
                .await?;
        }
        Ok(changes)
    }

    /// Asks for a sync now; false when there is no mirror or it is syncing.
    pub async fn mirror_sync_now(&self, repo: &RepositoryView) -> Result<bool, Error> {
        let id = repo.id;
        self.db()
            .write(move |c| Ok::<_, Error>(q::sync_now(c, id, SYNC_RETRIES)?))
            .await
    }

    /// Cancels a running or requested sync; false when there is none.
    pub async fn mirror_sync_cancel(&self, repo: &RepositoryView) -> Result<bool, Error> {
        let id = repo.id;
        self.db().write(move |c| Ok::<_, Error>(q::cancel(c, id)?)).await
    }

    pub async fn set_repository_state(&self, repo: &RepositoryView, state: i32) -> Result<(), Error> {
        let id = repo.id;
        self.db()
            .write(move |c| Ok::<_, Error>(q::set_repository_state(c, id, state)?))
            .await
    }

    /// What the repository's state lets `pusher` (a username) do: a READ_ONLY
    /// repository takes no push, a MIRROR one only its mirror robot's.
    pub async fn push_state(&self, repo: &RepoName, pusher: Option<&str>) -> Result<PushState, Error> {
        let (ns, name) = (repo.namespace().to_owned(), repo.name().to_owned());
        let pusher = pusher.map(str::to_owned);
        self.db()
            .read(move |c| {
                let Some(r) = crate::db::queries::repositories::find(c, &ns, &name)? else {
                    return Ok(PushState::Missing);
                };
                Ok(match r.state {
                    READ_ONLY => PushState::ReadOnly,
                    MIRROR => {
                        let robot = match q::find(c, r.id)?.and_then(|m| m.settings.internal_robot_id) {
                            Some(id) => q::username(c, id)?,
                            None => None,
                        };
                        match (robot, pusher) {
                            (Some(robot), Some(p)) if robot == p => PushState::MirrorRobot,
                            _ => PushState::Mirror,
                        }
                    }
                    crate::db::queries::org_mirrors::ORG_MIRROR_STATE => {
                        match (
                            crate::db::queries::org_mirror_repos::robot_of_repository(c, r.id)?,
                            pusher,
                        ) {
                            (Some(robot), Some(p)) if robot == p => PushState::MirrorRobot,
                            _ => PushState::Mirror,
                        }
                    }
                    _ => PushState::Allowed,
                })
            })
            .await
            .map_err(Error::from)
    }

    /// Refuses an upstream on a local or private address written as such
    /// (the sync checks again, resolving the name, before every run).
    fn check_mirror_source(&self, reference: &str) -> Result<(), Error> {
        let host = reference.split_once('/').map_or(reference, |(h, _)| h);
        super::notifications::check_host_literal(&self.settings().notifications.ssrf, host).map_err(|reason| {
            tracing::info!(%reason, "mirror source refused");
            invalid("Source registry location is not allowed")
        })
    }

    /// The robot a mirror pushes as: a robot of the repository's namespace.
    async fn mirror_robot(&self, repo: &RepositoryView, name: &str) -> Result<Account, Error> {
        let robot = self
            .account(name)
            .await?
            .filter(|a| a.robot)
            .ok_or_else(|| invalid(format!("Could not find robot with specified username: {name}")))?;
        match name.split_once('+') {
            Some((ns, _)) if ns == repo.namespace => Ok(robot),
            _ => Err(invalid("Invalid robot")),
        }
    }

    /// An upstream credential as stored: encrypted.
    pub(super) async fn seal(&self, value: Option<&String>) -> Result<Option<String>, Error> {
        match value {
            Some(v) => self.encrypt_field(v).await.map(Some),
            None => Ok(None),
        }
    }

    /// The upstream username and password of a mirror, decrypted.
    pub(crate) async fn unseal_credentials(
        &self,
        row: &impl MirrorRecord,
    ) -> Result<(Option<String>, Option<String>), Error> {
        let (user, pass) = row.sealed_credentials();
        let user = match user {
            Some(u) => Some(self.decrypt_field(u).await?),
            None => None,
        };
        let pass = match pass {
            Some(p) => Some(self.decrypt_field(p).await?),
            None => None,
        };
        Ok((user, pass))
    }

    /// The upstream credentials of a mirror, decrypted, for a sync.
    pub async fn mirror_credentials(&self, row: &MirrorRow) -> Result<Option<(String, String)>, Error> {
        Ok(match self.unseal_credentials(row).await? {
            (Some(u), pass) if !u.is_empty() => Some((u, pass.unwrap_or_default())),
            _ => None,
        })
    }
}

/// Quay's rules on credentials in one body: a password needs a username,
/// and a username cannot be removed while a password is set.
fn check_credentials(input: &MirrorInput) -> Result<(), Error> {
    match (&input.username, &input.password) {
        (Field::Absent, p) if p.is_present() => Err(invalid(
            "Unable to set a new password without also specifying a username.",
        )),
        (Field::Null, Field::Set(_)) => Err(invalid("Unable to delete username while setting a password.")),
        _ => Ok(()),
    }
}

fn apply_registry_config(config: &mut Map<String, Value>, input: &RegistryConfigInput) {
    if let Some(v) = input.verify_tls {
        config.insert("verify_tls".into(), json!(v));
    }
    if let Some(v) = input.unsigned_images {
        config.insert("unsigned_images".into(), json!(v));
    }
    if input.proxy.iter().any(|(_, v)| v.is_present()) {
        let proxy = config.entry("proxy").or_insert_with(|| json!({}));
        if !proxy.is_object() {
            *proxy = json!({});
        }
        if let Some(p) = proxy.as_object_mut() {
            for (key, value) in &input.proxy {
                match value {
                    Field::Absent => {}
                    Field::Null => {
                        p.insert((*key).into(), Value::Null);
                    }
                    Field::Set(s) => {
                        p.insert((*key).into(), json!(s));
                    }
                }
            }
        }
    }
}

/// Gives the mirror robot write on the repository unless it holds more.
fn grant_write(c: &mut crate::db::DbConn, repo_id: i64, robot_id: i64) -> Result<(), Error> {
    let held = permissions::user_grant(c, repo_id, robot_id)?;
    if !matches!(held.as_deref(), Some("write" | "admin")) {
        permissions::set_user_role(c, repo_id, robot_id, "write")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_dates_round_trip_in_quays_format() {
        let ms = parse_mirror_date("2021-08-06T11:11:39Z").expect("a valid date");
        assert_eq!(format_mirror_date(ms).as_deref(), Some("2021-08-06T11:11:39Z"));
        assert!(parse_mirror_date("2021-08-06 11:11:39").is_err());
        assert!(parse_mirror_date("yesterday").is_err());
    }

    #[test]
    fn references_need_a_host_and_a_path_without_tag_or_digest() {
        assert!(check_reference("quay.io/minio/mc").is_ok());
        assert!(check_reference("127.0.0.1:5000/library/busybox").is_ok());
        for bad in [
            "",
            "busybox",
            "quay.io/",
            "quay.io/minio/mc:latest",
            "quay.io/a@sha256:00",
            "a b/c",
        ] {
            assert!(check_reference(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_password_needs_a_username() {
        let body = json!({"external_registry_password": "p"});
        let input = MirrorInput::from_json(&body).expect("types are fine");
        assert!(check_credentials(&input).is_err());
        let body = json!({"external_registry_username": null, "external_registry_password": "p"});
        let input = MirrorInput::from_json(&body).expect("types are fine");
        assert!(check_credentials(&input).is_err());
        let body = json!({"external_registry_username": "u", "external_registry_password": "p"});
        let input = MirrorInput::from_json(&body).expect("types are fine");
        assert!(check_credentials(&input).is_ok());
    }
}
