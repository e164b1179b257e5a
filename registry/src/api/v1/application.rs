//! OAuth applications of organizations and their access tokens.

use actix_web::web;

pub fn configure(_cfg: &mut web::ServiceConfig) {}
