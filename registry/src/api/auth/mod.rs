//! Who is calling and what they may do. Every /v2 handler asks the
//! [`Authorizer`] before it touches a repository; the policy behind it is
//! swapped without touching the handlers.

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use async_trait::async_trait;
use std::future::{ready, Ready};

use crate::oci::RepoName;

/// What a caller wants to do with a repository (the token scope actions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Pull,
    Push,
}

/// The authenticated caller, or anonymous.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Caller {
    pub username: Option<String>,
}

impl FromRequest for Caller {
    type Error = actix_web::Error;
    type Future = Ready<Result<Caller, actix_web::Error>>;

    fn from_request(_req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(Ok(Caller::default()))
    }
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No or bad credentials: the client should authenticate (401).
    Unauthenticated,
    /// Authenticated but not allowed (403).
    Denied,
}

/// Decides whether a caller may act on a repository.
#[async_trait]
pub trait Authorizer: Send + Sync {
    async fn authorize(&self, caller: &Caller, repo: &RepoName, action: Action) -> Result<(), Refusal>;

    /// Whether the caller may list repositories at all (`/v2/_catalog`).
    async fn may_list_catalog(&self, caller: &Caller) -> bool;
}

/// The policy of a registry without accounts: everyone may pull and push.
#[derive(Debug, Default)]
pub struct OpenAccess;

#[async_trait]
impl Authorizer for OpenAccess {
    async fn authorize(&self, _caller: &Caller, _repo: &RepoName, _action: Action) -> Result<(), Refusal> {
        Ok(())
    }

    async fn may_list_catalog(&self, _caller: &Caller) -> bool {
        true
    }
}
