//! `GET /registry/capabilities` (Quay's `endpoints/api/capabilities.py`):
//! what this registry supports, for clients deciding what to send. Anyone
//! may ask.

use super::doc::{self, Mount};
use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::service::mirrors::MIRROR_ARCHITECTURES;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.mount(doc::resource("/registry/capabilities").route(doc::get().to(capabilities)));
}

async fn capabilities() -> HttpResponse {
    // Sparse manifest lists (indexes missing some platforms' manifests)
    // are not accepted, so no architectures are required of them.
    let mut architectures = MIRROR_ARCHITECTURES.to_vec();
    architectures.sort_unstable();
    HttpResponse::Ok().json(json!({
        "sparse_manifests": {
            "supported": false,
            "required_architectures": [],
            "optional_architectures_allowed": false,
        },
        "mirror_architectures": architectures,
    }))
}
