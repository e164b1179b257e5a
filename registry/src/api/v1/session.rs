//! Sign-in with a session cookie: /signin, /signout, CSRF tokens.

use actix_web::web;

pub fn configure(_cfg: &mut web::ServiceConfig) {}
