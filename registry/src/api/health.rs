//! `/health/instance` (this process, its database and its disk),
//! `/health/endtoend` (also the blob store) and `/health/warning` (the disk
//! getting full), in Quay's response shape:
//! `{"data":{"services":{name:bool},"notes":[],"is_testing":false},"status_code":…}`,
//! 503 when a service is down.

use std::path::Path;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde_json::{json, Map, Value};

use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/health/instance", web::get().to(instance))
        .route("/health/endtoend", web::get().to(end_to_end))
        .route("/health/warning", web::get().to(warning))
        .route("/health", web::get().to(instance));
}

async fn instance(state: web::Data<AppState>) -> HttpResponse {
    let database = state.registry.db().ping().await;
    let disk_space = disk_has_room(&state.data_dir, state.disk_thresholds.0);
    report(&[
        ("auth", true),
        ("database", database),
        ("disk_space", disk_space),
        ("registry_gunicorn", true),
        ("service_key", true),
        ("web_gunicorn", true),
    ])
}

async fn end_to_end(state: web::Data<AppState>) -> HttpResponse {
    let health = state.registry.health().await;
    report(&[
        ("auth", true),
        ("database", health.database),
        ("disk_space", disk_has_room(&state.data_dir, state.disk_thresholds.0)),
        ("storage", health.storage),
    ])
}

/// Whether the data folder's and the temp folder's disks keep at least
/// the warning share free; 503 when not, as in Quay.
async fn warning(state: web::Data<AppState>) -> HttpResponse {
    let threshold = state.disk_thresholds.1;
    let room = disk_has_room(&state.data_dir, threshold) && disk_has_room(&std::env::temp_dir(), threshold);
    report(&[("disk_space_warning", room)])
}

fn report(services: &[(&str, bool)]) -> HttpResponse {
    let ok = services.iter().all(|(_, up)| *up);
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let services: Map<String, Value> = services.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect();
    HttpResponse::build(status).json(json!({
        "data": {"services": services, "notes": [], "is_testing": false},
        "status_code": status.as_u16(),
    }))
}

/// Whether the file system holding `dir` (or its nearest existing parent)
/// keeps at least `min_free` of its blocks free; a path that cannot be
/// examined counts as fine.
fn disk_has_room(dir: &Path, min_free: f64) -> bool {
    let Some(existing) = dir.ancestors().find(|p| p.exists()) else {
        return true;
    };
    match rustix::fs::statvfs(existing) {
        Ok(s) if s.f_blocks > 0 => s.f_bavail as f64 / s.f_blocks as f64 >= min_free,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::disk_has_room;

    #[test]
    fn a_missing_folder_is_judged_by_its_nearest_parent() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(disk_has_room(&dir.path().join("not/yet/made"), 0.0));
        assert!(!disk_has_room(dir.path(), 1.01), "no disk has more than all of it free");
    }
}
