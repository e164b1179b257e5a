//! Builds the running server from a config and listeners.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use actix_web::{web, App, HttpServer};
use anyhow::Context;

use crate::api;
use crate::api::auth::RegistryAuthorizer;
use crate::config::{parse_duration, Config, StorageChoice};
use crate::db::Db;
use crate::service::{AccountPolicy, Registry, Settings, DEFAULT_TAG_EXPIRATION_OPTIONS_S};
use crate::state::AppState;
use crate::storage::{DynStore, FsStore, S3Store};

/// Everything needed to build the application.
#[derive(Debug, Clone)]
pub struct Options {
    pub config: Config,
    pub data_dir: PathBuf,
    /// Apply pending migrations before serving.
    pub migrate: bool,
    /// The certificate chain this server presents (`ssl.cert` beside its
    /// config), which build Jobs trust for it when no CA_CERT is set.
    pub served_chain: Option<String>,
}

/// Opens the database and blob store a config names.
pub async fn open_registry(config: &Config, data_dir: &Path, migrate: bool) -> anyhow::Result<Registry> {
    let target = config.database(data_dir)?;
    let db = Db::open(&target, 16).with_context(|| format!("opening database {target}"))?;
    if migrate {
        let applied = db.migrate()?;
        if !applied.is_empty() {
            tracing::info!(?applied, "database migrations applied");
        }
    }
    let store: DynStore = match config.storage(data_dir)? {
        StorageChoice::Local(path) => Arc::new(
            FsStore::new(&path)
                .await
                .with_context(|| format!("blob folder {}", path.display()))?,
        ),
        StorageChoice::S3(s3) => Arc::new(S3Store::new(s3).await?),
    };
    let settings = Settings {
        push_temp_tag_expiration_s: config.push_temp_tag_expiration_sec,
        create_private_repo_on_push: config.create_private_repo_on_push,
        upload_stale_after_s: config.stale_upload_expiration_sec,
        accounts: AccountPolicy {
            superusers: config.super_users.clone(),
            user_creation: config.feature("USER_CREATION", true),
            user_initialize: config.feature("USER_INITIALIZE", false),
            mailing: config.mailing(),
            superusers_full_access: config.feature("SUPERUSERS_FULL_ACCESS", false),
            robots_disallow: config.robots_disallow,
            create_namespace_on_push: config.create_namespace_on_push,
            app_specific_tokens: config.feature("APP_SPECIFIC_TOKENS", true),
            app_token_expiration_s: config
                .app_specific_token_expiration
                .as_deref()
                .and_then(parse_duration)
                .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
            user_rename: config.feature("USER_RENAME", false),
            tag_expiration_options_s: tag_expiration_options(config),
            default_tag_expiration_s: config
                .other
                .get("DEFAULT_TAG_EXPIRATION")
                .and_then(serde_yaml::Value::as_str)
                .and_then(parse_duration)
                .and_then(|d| i64::try_from(d.as_secs()).ok())
                .unwrap_or(crate::service::DEFAULT_TAG_EXPIRATION_S),
            change_tag_expiration: config.feature("CHANGE_TAG_EXPIRATION", true),
            partial_user_autocomplete: config.feature("PARTIAL_USER_AUTOCOMPLETE", true),
            restricted_users: config.feature("RESTRICTED_USERS", false),
            restricted_users_whitelist: config
                .other
                .get("RESTRICTED_USERS_WHITELIST")
                .and_then(serde_yaml::Value::as_sequence)
                .map(|names| names.iter().filter_map(|n| n.as_str().map(str::to_owned)).collect())
                .unwrap_or_default(),
        },
        tags: tag_policy(config),
        labels: crate::service::LabelPolicy {
            reserved_prefixes: config.label_key_reserved_prefixes.clone(),
        },
        quota: quota_policy(config),
        notifications: crate::service::notifications::NotificationPolicy::from_config(config),
        log_export: crate::service::log_export::LogExportPolicy {
            entry_view: Some(api::v1::logs_export::entry_view),
            ..crate::service::log_export::LogExportPolicy::from_config(config)
        },
        log_pulls: config.action_log_pulls,
        builds: crate::service::builds::BuildPolicy::from_config(config),
        mirror: crate::service::mirrors::MirrorPolicy::from_config(config),
        proxy_cache: config.feature("PROXY_CACHE", false),
        signing: config.feature("SIGNING", false),
        pull_stats: config.feature("IMAGE_PULL_STATS", false),
        authentication: crate::service::directory::Authentication::from_config(config)?,
        external_logins: crate::service::external_login::providers(config)?,
        team_sync: crate::service::directory::TeamSyncPolicy::from_config(config),
        database_secret_key: config
            .other
            .get("DATABASE_SECRET_KEY")
            .and_then(|v| match v {
                serde_yaml::Value::String(s) => Some(s.clone()),
                serde_yaml::Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .filter(|k| !k.is_empty()),
        robot_tokens: crate::service::RobotTokenPolicy::from_config(config),
        secscan: crate::service::secscan::SecscanPolicy::from_config(config)?,
    };
    Ok(Registry::new(db, store, settings))
}

/// `FEATURE_QUOTA_MANAGEMENT`, `FEATURE_VERIFY_QUOTA`,
/// `DEFAULT_SYSTEM_REJECT_QUOTA_BYTES` and `QUOTA_BACKFILL`.
fn quota_policy(config: &Config) -> crate::service::quota::QuotaPolicy {
    crate::service::quota::QuotaPolicy {
        enabled: config.feature("QUOTA_MANAGEMENT", false),
        verify: config.feature("VERIFY_QUOTA", true),
        default_reject_bytes: config
            .other
            .get("DEFAULT_SYSTEM_REJECT_QUOTA_BYTES")
            .and_then(serde_yaml::Value::as_i64)
            .unwrap_or(0),
        backfill: config
            .other
            .get("QUOTA_BACKFILL")
            .and_then(serde_yaml::Value::as_bool)
            .unwrap_or(true),
    }
}

/// `LABELED_EXPIRATION_MINIMUM`/`_MAXIMUM` and `PERMANENTLY_DELETE_TAGS`.
fn tag_policy(config: &Config) -> crate::service::tags::TagPolicy {
    let defaults = crate::service::tags::TagPolicy::default();
    let seconds = |key: &str, default: i64| {
        config
            .other
            .get(key)
            .and_then(serde_yaml::Value::as_str)
            .and_then(parse_duration)
            .and_then(|d| i64::try_from(d.as_secs()).ok())
            .unwrap_or(default)
    };
    crate::service::tags::TagPolicy {
        expiration_min_s: seconds("LABELED_EXPIRATION_MINIMUM", defaults.expiration_min_s),
        expiration_max_s: seconds("LABELED_EXPIRATION_MAXIMUM", defaults.expiration_max_s),
        permanently_delete: config
            .other
            .get("PERMANENTLY_DELETE_TAGS")
            .and_then(serde_yaml::Value::as_bool)
            .unwrap_or(false),
        immutable_tags: config.feature("IMMUTABLE_TAGS", false),
        immutable_tags_can_expire: config.feature("IMMUTABLE_TAGS_CAN_EXPIRE", false),
        auto_prune: config.feature("AUTO_PRUNE", false),
    }
}

/// `TAG_EXPIRATION_OPTIONS` in seconds; Quay's defaults when absent.
fn tag_expiration_options(config: &Config) -> Vec<i64> {
    let Some(serde_yaml::Value::Sequence(items)) = config.other.get("TAG_EXPIRATION_OPTIONS") else {
        return DEFAULT_TAG_EXPIRATION_OPTIONS_S.to_vec();
    };
    items
        .iter()
        .filter_map(|v| v.as_str().and_then(parse_duration))
        .filter_map(|d| i64::try_from(d.as_secs()).ok())
        .collect()
}

/// A share (0 to 1) from the config, else `default`.
fn share(config: &Config, key: &str, default: f64) -> f64 {
    config
        .other
        .get(key)
        .and_then(serde_yaml::Value::as_f64)
        .filter(|v| (0.0..=1.0).contains(v))
        .unwrap_or(default)
}

/// Every route the server answers, with the shared state its handlers
/// read: what one worker's `App` is made of.
#[derive(Clone)]
pub struct Routes {
    state: web::Data<AppState>,
    browser: web::Data<api::v1::BrowserPolicy>,
    invites: web::Data<crate::service::InvitePolicy>,
    ui: web::Data<crate::ui::UiConfig>,
}

impl Routes {
    pub fn new(opts: &Options, registry: Registry) -> Routes {
        let state = web::Data::new(AppState {
            registry: registry.clone(),
            auth: Arc::new(RegistryAuthorizer { registry }),
            server_hostname: opts.config.server_hostname.clone(),
            url_scheme: opts
                .config
                .server_hostname
                .as_ref()
                .map(|_| opts.config.preferred_url_scheme.clone()),
            max_page: opts.config.v2_pagination_size.max(100),
            disk_thresholds: (
                share(&opts.config, "DISKSPACE_HEALTH_THRESHOLD", 0.01),
                share(&opts.config, "DISKSPACE_HEALTH_WARNING_THRESHOLD", 0.1),
            ),
            config_dump: opts
                .config
                .feature("SUPERUSER_CONFIGDUMP", false)
                .then(|| crate::config_dump::ConfigDump::of(&opts.config)),
            data_dir: opts.data_dir.clone(),
        });
        Routes {
            state,
            browser: web::Data::new(api::v1::BrowserPolicy::from_config(&opts.config)),
            invites: web::Data::new(crate::service::InvitePolicy::from_config(&opts.config)),
            ui: web::Data::new(crate::ui::UiConfig::from_config(&opts.config)),
        }
    }

    /// Mounts the routes and their state on an `App`.
    pub fn configure(&self, cfg: &mut web::ServiceConfig) {
        cfg.app_data(self.state.clone())
            .app_data(self.browser.clone())
            .app_data(self.invites.clone())
            .app_data(self.ui.clone())
            .configure(api::health::configure)
            .configure(api::auth::configure)
            .configure(api::buildman::configure)
            .configure(api::v1::configure)
            .configure(api::v2::configure)
            .configure(crate::ui::configure);
    }
}

/// A built, not yet awaited, server.
pub struct Application {
    port: u16,
    tls_port: Option<u16>,
    server: actix_web::dev::Server,
    registry: Registry,
}

impl Application {
    /// Builds the server on already-bound listeners (port 0 works for tests).
    pub async fn build(
        opts: Options,
        listener: TcpListener,
        tls: Option<(TcpListener, rustls::ServerConfig)>,
    ) -> anyhow::Result<Application> {
        let registry = open_registry(&opts.config, &opts.data_dir, opts.migrate).await?;
        let routes = Routes::new(&opts, registry.clone());
        let port = listener.local_addr()?.port();
        let mut server = HttpServer::new(move || {
            let routes = routes.clone();
            App::new()
                .wrap(actix_web::middleware::from_fn(crate::metrics::record))
                .wrap(actix_web::middleware::from_fn(crate::metrics::request_id))
                .configure(move |cfg| routes.configure(cfg))
        })
        .listen(listener)?;
        let mut tls_port = None;
        if let Some((l, cfg)) = tls {
            tls_port = Some(l.local_addr()?.port());
            server = server.listen_rustls_0_23(l, cfg)?;
        }
        let mut loops = crate::worker::Loops::from_config(&opts.config);
        loops
            .secscan_blob_base
            .get_or_insert_with(|| format!("http://127.0.0.1:{port}"));
        crate::worker::spawn(&registry, loops);
        let mut urls = crate::worker::manager_url(&opts.config, Some(port));
        urls.served_chain = opts.served_chain.clone();
        crate::worker::spawn_build_manager(&registry, urls);
        Ok(Application {
            port,
            tls_port,
            server: server.run(),
            registry,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn tls_port(&self) -> Option<u16> {
        self.tls_port
    }

    /// The services the server runs on.
    pub fn registry(&self) -> Registry {
        self.registry.clone()
    }

    /// The `/metrics` server on its own listener; spawned by the caller.
    pub fn metrics_server(&self, listener: TcpListener) -> anyhow::Result<actix_web::dev::Server> {
        let registry = self.registry.clone();
        Ok(HttpServer::new(move || {
            let registry = registry.clone();
            App::new().configure(move |cfg| crate::metrics::configure(cfg, registry))
        })
        .workers(1)
        .listen(listener)?
        .run())
    }

    /// Whether the registry has no user yet (a fresh install).
    pub async fn has_no_users(&self) -> bool {
        self.registry.has_no_users().await.unwrap_or(false)
    }

    /// Serves until the server stops, then writes the usage logs still queued.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        self.registry.flush_logs().await;
        result
    }
}
