//! `/health/instance` (this process answers) and `/health/endtoend` (the
//! database and the blob store answer), in Quay's response shape.

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/health/instance", web::get().to(instance))
        .route("/health/endtoend", web::get().to(end_to_end))
        .route("/health", web::get().to(instance));
}

async fn instance() -> HttpResponse {
    HttpResponse::Ok().json(json!({"data": {"services": {"registry": true}}, "status_code": 200}))
}

async fn end_to_end(state: web::Data<AppState>) -> HttpResponse {
    let health = state.registry.health().await;
    let (db_ok, storage_ok) = (health.database, health.storage);
    let ok = db_ok && storage_ok;
    let status = if ok { 200 } else { 503 };
    let body = json!({"data": {"services": {"database": db_ok, "storage": storage_ok}}, "status_code": status});
    if ok {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
