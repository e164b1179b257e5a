//! Business rules of the registry, free of HTTP types. Handlers and workers
//! call these; these call `db::queries` and `storage`.

mod accounts;
mod applications;
mod apptokens;
pub mod autoprune;
mod blobs;
pub mod builds;
mod catalog;
pub mod claim_holder;
pub mod directory;
pub mod external_login;
pub mod field_crypto;
mod gc;
mod invites;
mod labels;
pub mod log_export;
pub mod logs;
pub mod mail;
pub mod manifest_view;
mod manifests;
mod messages;
pub mod mirror_health;
pub mod mirror_sync;
pub mod mirrors;
pub mod notifications;
pub mod oauth;
mod oauth_assign;
pub mod oauth_scopes;
pub mod org_mirrors;
mod permissions;
mod prototypes;
pub mod proxy_cache;
pub mod pull_stats;
pub mod quota;
pub mod repositories;
pub mod robot_federation;
pub mod robot_tokens;
mod robots;
pub mod search;
pub mod secscan;
pub mod service_keys;
mod sessions;
mod stars;
pub mod tag_policies;
pub mod tags;
mod teams;
mod tokens;
mod upload_claims;
mod upload_cleanup;
mod uploads;

use std::sync::Arc;

pub use accounts::DEFAULT_TAG_EXPIRATION_S;
pub use accounts::{
    constant_time_eq, random_token, AccountPolicy, Scopes, UserUpdate, DEFAULT_TAG_EXPIRATION_OPTIONS_S, SCOPES_ALL,
};
pub use applications::{AppToken, Application, ApplicationInput, NewAppToken, MAX_ACTIVE_TOKENS, MAX_TOKEN_LIFETIME_S};
pub use apptokens::AppSpecificToken;
pub use blobs::{BlobRange, OpenBlob};
pub use catalog::Page;
pub use gc::{GcOptions, GcReport};
pub use invites::{InviteContext, InvitePolicy, JoinedTeam, PendingInvite, TeamAddition};
pub use labels::{LabelPolicy, LabelRow, NewLabel};
pub use manifests::{PutManifest, StoredManifest};
pub use messages::GlobalMessage;
pub use oauth_assign::{Assignment, AssignmentRequest};
pub use permissions::Role;
pub use prototypes::{Delegate, DelegateKind, NewPrototype, Prototype, PrototypeUser};
pub use robot_tokens::{NewRobotApiToken, RobotApiToken, RobotTokenPolicy};
pub use robots::{CredentialFormat, Credentials, NewRobot, Robot, RobotShortName, RobotUsage};
pub use sessions::{IssuedSession, Session, SignIn};
pub use teams::{OrgMember, RepoGrant, Team, TeamName, TeamRole, TeamSummary};
pub use tokens::{Access, Claims, ScopeRequest};
pub use uploads::{MountOutcome, UploadStatus};

use crate::db::{Db, DbError};
use crate::oci::RepoName;
use crate::storage::{DynStore, StorageError};

/// Everything that can go wrong below the HTTP layer. The API layers map each
/// variant to their wire errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("repository name not known to registry")]
    NameUnknown,
    #[error("blob unknown to registry")]
    BlobUnknown,
    #[error("blob upload unknown to registry")]
    BlobUploadUnknown,
    #[error("blob upload invalid: {0}")]
    BlobUploadInvalid(String),
    #[error("provided digest did not match uploaded content")]
    DigestInvalid,
    #[error("requested range not satisfiable; current upload size {0}")]
    UploadRangeInvalid(u64),
    /// Another request is writing the upload right now.
    #[error("upload is in use by another request")]
    UploadInUse,
    #[error("requested range not satisfiable; blob size {0}")]
    BlobRangeInvalid(u64),
    #[error("manifest unknown")]
    ManifestUnknown,
    #[error("tag was deleted or has expired")]
    TagExpired,
    #[error("{0}")]
    TagImmutable(String),
    #[error("manifest invalid: {0}")]
    ManifestInvalid(String),
    #[error("manifest media type not supported: {0}")]
    ManifestUnsupported(String),
    #[error("blob unknown to registry: {0}")]
    ManifestBlobUnknown(String),
    #[error("{0}")]
    Unsupported(String),
    /// Bad input to the account API (400).
    #[error("{0}")]
    InvalidRequest(String),
    /// No such user, organization, team or robot (404).
    #[error("{0}")]
    NotFound(String),
    /// Missing or bad credentials (401).
    #[error("{0}")]
    Unauthenticated(String),
    /// Authenticated but not allowed (403).
    #[error("{0}")]
    Forbidden(String),
    /// A push would cross the namespace's Reject quota limit.
    #[error("Quota has been exceeded on namespace")]
    QuotaExceeded,
    /// Too many failed logins; retry after this many seconds (429).
    #[error("too many failed login attempts")]
    TooManyAttempts(u64),
    /// A limit on how much may be asked at once was reached (429).
    #[error("{0}")]
    RateLimited(String),
    /// A service the request needs (Redis, blob storage) is down; the
    /// message says which, without internals (503).
    #[error("{0}")]
    Unavailable(String),
    /// A proxy-cache upstream does not have (or will not give) what was
    /// asked for; the message names the upstream's answer (404).
    #[error("{0}")]
    UpstreamMissing(String),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl Error {
    /// Whether the database is down rather than the request wrong: the
    /// caller should be told to retry later, never that it was refused.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Error::Db(e) if e.is_unavailable())
    }

    /// Whether the disk (or quota) under the blob store or the database is
    /// full: a condition for the operator to fix, not a fault of the request.
    pub fn is_storage_full(&self) -> bool {
        match self {
            Error::Storage(e) => e.is_full(),
            Error::Db(e) => e.is_full(),
            _ => false,
        }
    }
}

/// Tunables of the registry core, from `config.yaml`.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How long a blob uploaded but not referenced stays linked to its
    /// repository, and how long a manifest pushed by digest stays alive
    /// (`PUSH_TEMP_TAG_EXPIRATION_SEC`).
    pub push_temp_tag_expiration_s: i64,
    /// Repositories created by a push are private (`CREATE_PRIVATE_REPO_ON_PUSH`).
    pub create_private_repo_on_push: bool,
    /// Uploads untouched for this long are removed.
    pub upload_stale_after_s: i64,
    /// Who may create accounts and who is a superuser.
    pub accounts: AccountPolicy,
    /// Tag expiry bounds and permanent deletion.
    pub tags: tags::TagPolicy,
    /// Reserved label key prefixes.
    pub labels: LabelPolicy,
    /// Namespace quotas.
    pub quota: quota::QuotaPolicy,
    /// Notification delivery (hostname for payloads, SSRF, mail, timeouts).
    pub notifications: notifications::NotificationPolicy,
    /// Usage-log exports (feature flag, link lifetime, entry view).
    pub log_export: log_export::LogExportPolicy,
    /// Pulls are written to the usage logs (`ACTION_LOG_PULLS`).
    pub log_pulls: bool,
    /// The build queue and its API (`FEATURE_BUILD_SUPPORT`).
    pub builds: builds::BuildPolicy,
    /// Repository mirroring (`FEATURE_REPO_MIRROR`).
    pub mirror: mirrors::MirrorPolicy,
    /// Proxy-cache organizations (`FEATURE_PROXY_CACHE`).
    pub proxy_cache: bool,
    /// `FEATURE_SIGNING`: the content-trust endpoints exist.
    pub signing: bool,
    /// `FEATURE_IMAGE_PULL_STATS`: pulls are counted per tag and manifest.
    pub pull_stats: bool,
    /// `AUTHENTICATION_TYPE`: the database, or a directory (LDAP).
    pub authentication: directory::Authentication,
    /// The OpenID Connect providers of `<NAME>_LOGIN_CONFIG` blocks.
    pub external_logins: Vec<external_login::OidcProvider>,
    /// `FEATURE_TEAM_SYNCING` and its timing.
    pub team_sync: directory::TeamSyncPolicy,
    /// `DATABASE_SECRET_KEY`: encrypts secrets stored in the database
    /// ([`field_crypto`]); a generated key when absent.
    pub database_secret_key: Option<String>,
    /// Managed robot API tokens (`FEATURE_ROBOT_API_TOKENS`).
    pub robot_tokens: robot_tokens::RobotTokenPolicy,
    /// Security scanning through Clair v4 (`FEATURE_SECURITY_SCANNER`).
    pub secscan: secscan::SecscanPolicy,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            push_temp_tag_expiration_s: 3600,
            create_private_repo_on_push: true,
            upload_stale_after_s: 24 * 3600,
            accounts: AccountPolicy::default(),
            tags: tags::TagPolicy::default(),
            labels: LabelPolicy::default(),
            quota: quota::QuotaPolicy::default(),
            notifications: notifications::NotificationPolicy::default(),
            log_export: log_export::LogExportPolicy::default(),
            log_pulls: true,
            builds: builds::BuildPolicy::default(),
            mirror: mirrors::MirrorPolicy::default(),
            proxy_cache: false,
            signing: false,
            pull_stats: false,
            authentication: directory::Authentication::Database,
            external_logins: Vec::new(),
            team_sync: directory::TeamSyncPolicy::default(),
            database_secret_key: None,
            robot_tokens: robot_tokens::RobotTokenPolicy::default(),
            secscan: secscan::SecscanPolicy::default(),
        }
    }
}

/// The registry's services over one database and one blob store.
#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    store: DynStore,
    settings: Settings,
    /// The token signing key, read from the database once.
    signing_key: std::sync::OnceLock<Vec<u8>>,
    /// The usage-log queue; its writer starts with the registry when a
    /// runtime is current, else on the first logged action.
    logs: std::sync::OnceLock<Option<logs::LogQueue>>,
    /// Proxy-cache upstream authorizations reused between pulls.
    upstream_auth: proxy_cache::UpstreamAuthCache,
    /// The directory client and its recent answers (LDAP only).
    directory: directory::DirectoryState,
    /// Pulls counted since the last flush (`FEATURE_IMAGE_PULL_STATS`).
    pulls: pull_stats::PendingPulls,
}

impl Registry {
    pub fn new(db: Db, store: DynStore, settings: Settings) -> Registry {
        let directory = directory::DirectoryState::new(&settings.authentication);
        let registry = Registry {
            inner: Arc::new(Inner {
                directory,
                db,
                store,
                settings,
                signing_key: std::sync::OnceLock::new(),
                logs: std::sync::OnceLock::new(),
                upstream_auth: proxy_cache::UpstreamAuthCache::default(),
                pulls: pull_stats::PendingPulls::default(),
            }),
        };
        if let Some(queue) = logs::LogQueue::start(registry.db()) {
            let _ = registry.inner.logs.set(Some(queue));
        }
        registry
    }

    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    /// The named secret shared by all replicas: read when it exists (no
    /// write lock), else made by `fresh` and stored, the first writer winning.
    pub(crate) async fn shared_secret(
        &self,
        name: &'static str,
        fresh: impl FnOnce() -> Result<String, Error>,
    ) -> Result<String, Error> {
        use crate::db::queries::accounts;
        if let Some(secret) = self
            .db()
            .read(move |c| Ok(accounts::find_service_key(c, name)?))
            .await?
        {
            return Ok(secret);
        }
        let (fresh, now) = (fresh()?, crate::now_ms());
        self.db()
            .write(move |c| Ok::<_, Error>(accounts::service_key(c, name, &fresh, now)?))
            .await
    }

    /// Items waiting in each work queue (for `/metrics`).
    pub async fn queue_depths(&self) -> Result<Vec<(&'static str, i64)>, Error> {
        Ok(self.db().read(|c| Ok(crate::db::queries::queues::depths(c)?)).await?)
    }

    pub fn store(&self) -> &DynStore {
        &self.inner.store
    }

    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// The repository's id, or `NameUnknown`.
    async fn repo_id(&self, repo: &RepoName) -> Result<i64, Error> {
        let (ns, name) = (repo.namespace().to_owned(), repo.name().to_owned());
        self.db()
            .read(move |c| Ok(crate::db::queries::repositories::find(c, &ns, &name)?))
            .await?
            .map(|r| r.id)
            .ok_or(Error::NameUnknown)
    }

    /// Checks the database and the blob store (`/health/endtoend`).
    pub async fn health(&self) -> Health {
        let database = self.db().ping().await;
        let storage = self.store().health().await.is_ok();
        Health { database, storage }
    }
}

/// What `/health/endtoend` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Health {
    pub database: bool,
    pub storage: bool,
}
