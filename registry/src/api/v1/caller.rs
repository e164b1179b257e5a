//! Who calls the REST API: a bearer OAuth access token, or nobody.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};

use super::error::ApiError;
use crate::db::models::Account;
use crate::service::Scopes;
use crate::state::AppState;

/// The caller of an `/api/v1` endpoint.
#[derive(Debug, Clone, Default)]
pub struct ApiCaller {
    pub user: Option<Account>,
    pub scopes: Scopes,
}

impl ApiCaller {
    /// The authenticated user, if the token carries `scope`; 401 for
    /// anonymous callers, 403 for a token without the scope.
    pub fn user_with(&self, scope: &str) -> Result<&Account, ApiError> {
        match &self.user {
            None => Err(ApiError::unauthorized(true)),
            Some(_) if !self.scopes.has(scope) => Err(ApiError::unauthorized(false)),
            Some(u) => Ok(u),
        }
    }

    /// The caller if it is a superuser holding `super:user`; else 401/403.
    pub fn superuser<'a>(&'a self, state: &AppState) -> Result<&'a Account, ApiError> {
        let user = self.user_with("super:user")?;
        if state.registry.is_superuser(user) {
            Ok(user)
        } else {
            Err(ApiError::unauthorized(false))
        }
    }
}

impl FromRequest for ApiCaller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<ApiCaller, ApiError>>>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let header = req
            .headers()
            .get("Authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Box::pin(async move {
            let Some(header) = header else {
                return Ok(ApiCaller::default());
            };
            let state = state.ok_or_else(|| ApiError::new(500, "internal_error", "no application state"))?;
            // The REST API takes bearer tokens only; other schemes (Basic
            // from registry clients) leave the caller anonymous, as in Quay.
            let Some(token) = crate::api::auth::bearer_token(&header) else {
                return Ok(ApiCaller::default());
            };
            let (user, scopes) = state.registry.authenticate_token(token.trim()).await?;
            Ok(ApiCaller {
                user: Some(user),
                scopes,
            })
        })
    }
}
