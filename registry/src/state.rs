//! The state every handler receives through `web::Data<AppState>`.

use std::sync::Arc;

use crate::api::auth::Authorizer;
use crate::service::Registry;

pub struct AppState {
    /// The registry's services (database + blob store).
    pub registry: Registry,
    /// The access policy every /v2 handler consults.
    pub auth: Arc<dyn Authorizer>,
    /// `SERVER_HOSTNAME`, for token realms; the request's host when absent.
    pub server_hostname: Option<String>,
    /// `PREFERRED_URL_SCHEME` when a hostname is configured.
    pub url_scheme: Option<String>,
    /// The data folder (`--data-dir`), whose disk `/health/instance` watches.
    pub data_dir: std::path::PathBuf,
    /// Free-disk shares under which `/health/instance` fails
    /// (`DISKSPACE_HEALTH_THRESHOLD`, 0.01) and `/health/warning` warns
    /// (`DISKSPACE_HEALTH_WARNING_THRESHOLD`, 0.1).
    pub disk_thresholds: (f64, f64),
    /// Largest page size for tag lists and the catalog (`V2_PAGINATION_SIZE`, at least 100).
    pub max_page: usize,
    /// The configuration and environment with secrets masked, kept only
    /// when `FEATURE_SUPERUSER_CONFIGDUMP` is on (`GET /superuser/config`).
    pub config_dump: Option<crate::config_dump::ConfigDump>,
}
