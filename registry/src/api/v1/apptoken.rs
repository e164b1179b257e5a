//! App-specific tokens: /user/apptoken.

use actix_web::web;

pub fn configure(_cfg: &mut web::ServiceConfig) {}
