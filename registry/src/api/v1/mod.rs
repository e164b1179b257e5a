//! The Quay REST API under `/api/v1`, one module per family.

mod application;
mod apptoken;
mod assigned;
mod build;
mod build_logs;
mod caller;
mod capabilities;
mod discovery;
pub(crate) mod doc;
pub mod error;
mod external_login;
mod github_trigger;
mod globalmessages;
mod invite;
mod label;
mod logs;
pub mod logs_export;
mod manifest;
mod mirror;
mod namespacenotification;
mod notification;
mod oauth;
mod oauth_pages;
mod org_mirror;
mod organization;
mod permission;
mod prototype;
mod proxycache;
mod pull_stats;
mod quota;
mod repository;
mod robot;
mod robot_federation;
mod robot_token;
mod search;
mod secscan;
mod service_keys;
mod session;
mod shared;
mod starred;
mod superuser;
mod tag;
mod tag_policy;
mod team;
mod team_sync;
mod trigger;
mod user;
mod views;
mod webhook;

use actix_web::middleware::{from_fn, ErrorHandlers};
use actix_web::web;

pub use caller::ApiCaller;
pub use error::ApiError;
pub use session::BrowserPolicy;

/// Cross-origin calls, as Quay allows them: any origin, without
/// credentials (a page elsewhere, such as a Swagger UI pointed at
/// `/api/v1/discovery`, calls with a bearer token; the session cookie is
/// never sent cross-origin). Preflights are answered here.
fn cors() -> actix_cors::Cors {
    use actix_web::http::header;
    actix_cors::Cors::default()
        .allow_any_origin()
        .send_wildcard()
        .allowed_methods(["GET", "POST", "PUT", "DELETE"])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            header::HeaderName::from_static("x-requested-with"),
            header::HeaderName::from_static("x-csrf-token"),
        ])
        .max_age(3600)
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    session::configure_root(cfg);
    discovery::configure_root(cfg);
    notification::configure_root(cfg);
    logs_export::configure_root(cfg);
    build::configure_root(cfg);
    webhook::configure(cfg);
    secscan::configure_root(cfg);
    github_trigger::configure(cfg);
    oauth::configure_root(cfg);
    robot_federation::configure_root(cfg);
    external_login::configure_root(cfg);
    cfg.service(
        web::scope("/api/v1")
            .wrap(from_fn(session::browser_guard))
            .wrap(cors())
            .wrap(ErrorHandlers::new().default_handler(error::absolute_problem_type))
            .app_data(
                web::JsonConfig::default().error_handler(|err, _req| {
                    ApiError::invalid_request(format!("Invalid request body: {err}")).into()
                }),
            )
            .configure(error::configure)
            .configure(session::configure)
            // Before `logs`: `…/build/{uuid}/logs` would also match `{repo:.+}/logs`.
            .configure(build::configure)
            .configure(trigger::configure)
            .configure(mirror::configure)
            .configure(quota::configure)
            .configure(pull_stats::configure)
            .configure(label::configure)
            .configure(secscan::configure)
            .configure(logs::configure)
            .configure(logs_export::configure)
            .configure(notification::configure)
            .configure(namespacenotification::configure)
            .configure(apptoken::configure)
            .configure(external_login::configure)
            .configure(assigned::configure)
            .configure(starred::configure)
            .configure(application::configure)
            .configure(prototype::configure)
            .configure(proxycache::configure)
            .configure(org_mirror::configure)
            .configure(invite::configure)
            .configure(search::configure)
            .configure(capabilities::configure)
            .configure(discovery::configure)
            .configure(tag_policy::configure)
            .configure(user::configure)
            .configure(organization::configure)
            .configure(superuser::configure)
            .configure(build::configure_superuser)
            .configure(team::configure)
            .configure(team_sync::configure)
            .configure(service_keys::configure)
            .configure(globalmessages::configure)
            .configure(robot_federation::configure)
            .configure(robot::configure)
            .configure(robot_token::configure)
            .configure(repository::configure)
            .configure(permission::configure)
            .configure(tag::configure)
            .configure(manifest::configure)
            .default_service(web::to(|| async {
                Err::<actix_web::HttpResponse, _>(ApiError::not_found("Not Found"))
            })),
    );
}
