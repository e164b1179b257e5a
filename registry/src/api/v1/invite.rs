//! Team invitations: /organization/{org}/team/{team}/invite/{email}, /teaminvite/{code}.

use actix_web::web;

pub fn configure(_cfg: &mut web::ServiceConfig) {}
