//! Starred repositories: /user/starred.

use actix_web::web;

pub fn configure(_cfg: &mut web::ServiceConfig) {}
