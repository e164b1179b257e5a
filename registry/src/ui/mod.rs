//! The web UI: a single-page application in plain JavaScript (no build
//! step) embedded in the binary. Every page reads and changes data through
//! `/api/v1` with the session cookie and its CSRF token, so the UI follows
//! exactly the API's rules; this module only serves the page shell, the
//! assets and `/config` (what the UI needs to know of `config.yaml`).

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use crate::api::v1::ApiError;
use crate::config::Config;
use crate::state::AppState;

/// One embedded file.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static str,
}

macro_rules! asset {
    ($path:literal, $kind:expr) => {
        Asset {
            path: $path,
            content_type: $kind,
            body: include_str!(concat!("assets/", $path)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Everything under `/static/ui/`.
const ASSETS: &[Asset] = &[
    asset!("app.css", "text/css; charset=utf-8"),
    asset!("errors.js", JS),
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("dom.js", JS),
    asset!("views/signin.js", JS),
    asset!("views/repos.js", JS),
    asset!("views/repo.js", JS),
    asset!("views/tags.js", JS),
    asset!("views/security.js", JS),
    asset!("views/builds.js", JS),
    asset!("views/trigger.js", JS),
    asset!("views/repo_settings.js", JS),
    asset!("views/orgs.js", JS),
    asset!("views/robots.js", JS),
    asset!("views/org.js", JS),
    asset!("views/org_extras.js", JS),
    asset!("views/namespace_settings.js", JS),
    asset!("views/logs.js", JS),
    asset!("views/account.js", JS),
    asset!("views/superuser.js", JS),
    asset!("views/explorer.js", JS),
];

const INDEX: &str = include_str!("assets/index.html");

/// The content hash of all assets: the `ETag` of each, so a new binary is
/// never served from a stale cache.
fn version() -> &'static str {
    static VERSION: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    VERSION.get_or_init(|| {
        use sha2::Digest as _;
        let mut h = sha2::Sha256::new();
        h.update(INDEX.as_bytes());
        for a in ASSETS {
            h.update(a.path.as_bytes());
            h.update(a.body.as_bytes());
        }
        hex::encode(h.finalize())[..16].to_owned()
    })
}

/// What the UI is told of the configuration: features with their defaults
/// here, and the few settings it shows. Nothing secret.
#[derive(Clone)]
pub struct UiConfig(Value);

impl UiConfig {
    pub fn from_config(config: &Config) -> UiConfig {
        const FEATURES: &[(&str, bool)] = &[
            ("USER_CREATION", true),
            ("USER_INITIALIZE", false),
            ("DIRECT_LOGIN", true),
            ("CHANGE_TAG_EXPIRATION", true),
            ("REPO_MIRROR", false),
            ("PROXY_CACHE", false),
            ("QUOTA_MANAGEMENT", false),
            ("EDIT_QUOTA", true),
            ("SECURITY_SCANNER", false),
            ("APP_SPECIFIC_TOKENS", true),
            ("AUTO_PRUNE", false),
            ("IMMUTABLE_TAGS", false),
            ("ASSIGN_OAUTH_TOKEN", true),
        ];
        let mut features: Map<String, Value> = FEATURES
            .iter()
            .map(|(name, default)| ((*name).to_owned(), json!(config.feature(name, *default))))
            .collect();
        // Features whose effective value is decided elsewhere.
        features.insert(
            "BUILD_SUPPORT".into(),
            json!(crate::service::builds::builds_enabled(config)),
        );
        features.insert("MAILING".into(), json!(config.mailing()));
        let text = |key: &str, default: &str| config.text_or(key, default);
        let expiration_options: Vec<String> = config
            .other
            .get("TAG_EXPIRATION_OPTIONS")
            .and_then(serde_yaml::Value::as_sequence)
            .map(|s| s.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
            .unwrap_or_else(|| vec!["2w".into()]);
        UiConfig(json!({
            "features": features,
            "config": {
                "SERVER_HOSTNAME": config.server_hostname,
                "PREFERRED_URL_SCHEME": config.preferred_url_scheme,
                "REGISTRY_TITLE": text("REGISTRY_TITLE", "Registry"),
                "REGISTRY_TITLE_SHORT": text("REGISTRY_TITLE_SHORT", "Registry"),
                "TAG_EXPIRATION_OPTIONS": expiration_options,
                "AUTHENTICATION_TYPE": text("AUTHENTICATION_TYPE", "Database"),
                "PERMANENTLY_DELETE_TAGS": config.flag_or("PERMANENTLY_DELETE_TAGS", false),
            },
        }))
    }
}

/// The page paths the UI answers with its shell; the app routes them.
const PAGES: &[&str] = &[
    "/",
    "/signin",
    "/repository",
    "/repository/{tail:.*}",
    "/organization",
    "/organization/{tail:.*}",
    "/user/{tail:.*}",
    "/superuser",
    "/superuser/{tail:.*}",
];

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/config", web::get().to(client_config))
        .route("/static/ui/{path:.+}", web::get().to(asset));
    for page in PAGES {
        cfg.route(page, web::get().to(shell));
    }
}

/// Headers every UI response carries: no framing, no sniffing, scripts
/// only from this origin.
fn secured(res: &mut actix_web::HttpResponseBuilder) -> &mut actix_web::HttpResponseBuilder {
    res.insert_header((
        header::CONTENT_SECURITY_POLICY,
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
    ))
    .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
    .insert_header((header::X_FRAME_OPTIONS, "DENY"))
    .insert_header((header::REFERRER_POLICY, "same-origin"))
}

/// The UI's page: the app routes the address to a view.
pub(crate) async fn shell() -> HttpResponse {
    let page = INDEX.replace("{{version}}", version());
    secured(&mut HttpResponse::Ok())
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .content_type("text/html; charset=utf-8")
        .body(page)
}

async fn asset(req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let Some(found) = ASSETS.iter().find(|a| a.path == path.as_str()) else {
        return HttpResponse::NotFound().content_type("text/plain").body("Not Found");
    };
    let etag = format!("\"{}\"", version());
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == etag);
    let mut res = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    secured(&mut res)
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .content_type(found.content_type);
    if fresh {
        res.finish()
    } else {
        res.body(found.body)
    }
}

/// `GET /config`: the features and settings the UI adapts to, and whether
/// the first user is still to be created.
async fn client_config(state: web::Data<AppState>, ui: web::Data<UiConfig>) -> Result<HttpResponse, ApiError> {
    let mut body = ui.0.clone();
    body["awaits_first_user"] = json!(state.registry.awaits_first_user().await?);
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body))
}

#[cfg(test)]
mod tests {
    use super::ASSETS;

    /// The file a relative module specifier of `from` names.
    fn resolve(from: &str, spec: &str) -> String {
        let mut parts: Vec<&str> = from.split('/').collect();
        parts.pop();
        for piece in spec.split('/') {
            match piece {
                "." => {}
                ".." => {
                    parts.pop();
                }
                name => parts.push(name),
            }
        }
        parts.join("/")
    }

    #[test]
    fn every_module_an_asset_imports_is_embedded() {
        let mut checked = 0;
        for asset in ASSETS.iter().filter(|a| a.path.ends_with(".js")) {
            for line in asset.body.lines() {
                let Some((_, rest)) = line.split_once(" from '") else {
                    continue;
                };
                let Some((spec, _)) = rest.split_once('\'') else {
                    continue;
                };
                let target = resolve(asset.path, spec);
                assert!(
                    ASSETS.iter().any(|a| a.path == target),
                    "{} imports {spec}, which is not embedded ({target})",
                    asset.path
                );
                checked += 1;
            }
        }
        assert!(checked > 20, "only {checked} imports found");
    }

    #[test]
    fn every_file_in_the_assets_folder_is_embedded() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/ui/assets");
        let mut stack = vec![root.clone()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).expect("assets folder") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let rel = path
                    .strip_prefix(&root)
                    .expect("under root")
                    .to_string_lossy()
                    .replace('\\', "/");
                if rel == "index.html" {
                    continue;
                }
                assert!(ASSETS.iter().any(|a| a.path == rel), "{rel} is not embedded");
            }
        }
    }
}
