//! Default permissions of organizations: /organization/{org}/prototypes.

use actix_web::web;

pub fn configure(_cfg: &mut web::ServiceConfig) {}
