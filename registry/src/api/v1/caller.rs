//! Who calls the REST API: a bearer OAuth access token or managed robot
//! API token, else the browser session cookie (resolved and CSRF-checked by the session guard), else
//! nobody.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};

use super::error::{ApiError, ErrorType};
use crate::db::models::Account;
use crate::service::{Scopes, Session};
use crate::state::AppState;

/// The caller of an `/api/v1` endpoint.
#[derive(Debug, Clone, Default)]
pub struct ApiCaller {
    pub user: Option<Account>,
    pub scopes: Scopes,
    /// The browser session, when the caller signed in with the session
    /// cookie rather than a bearer token.
    pub session: Option<Session>,
    /// Whether sensitive actions are allowed: always with a bearer token,
    /// within `FRESH_LOGIN_TIMEOUT` of the last password check with a session.
    fresh: bool,
}

impl ApiCaller {
    /// The caller signed in with this browser session (resolved by a
    /// handler outside `/api/v1`, where the session guard does not run).
    pub(super) fn of_session(session: Session) -> ApiCaller {
        ApiCaller {
            user: Some(session.user.clone()),
            scopes: Scopes::all(),
            session: Some(session),
            fresh: false,
        }
    }

    /// The caller of a web route outside `/api/v1` (where the session guard
    /// does not run): the bearer token's, else the browser session's.
    pub(super) async fn or_session(self, state: &AppState, req: &HttpRequest) -> Result<ApiCaller, ApiError> {
        if self.user.is_some() {
            return Ok(self);
        }
        let Some(cookie) = super::session::session_cookie(req.headers()) else {
            return Ok(self);
        };
        Ok(match state.registry.session(&cookie).await? {
            Some(session) => ApiCaller::of_session(session),
            None => self,
        })
    }

    /// Basic credentials for the few endpoints Quay lets registry clients
    /// call with them (a manifest's security report): the account they
    /// name, when nothing else signed the caller in. Bad credentials are a
    /// 401, as a registry client expects.
    pub(super) async fn or_basic(self, state: &AppState, req: &HttpRequest) -> Result<ApiCaller, ApiError> {
        if self.user.is_some() {
            return Ok(self);
        }
        let Some((user, secret)) = req
            .headers()
            .get("Authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(crate::api::auth::basic_credentials)
        else {
            return Ok(self);
        };
        match state.registry.login(&user, &secret).await {
            Ok((account, scopes)) => Ok(ApiCaller {
                user: Some(account),
                scopes: scopes.unwrap_or_else(Scopes::all),
                session: None,
                fresh: false,
            }),
            Err(e) if crate::api::auth::refuses_credentials(&e) => Err(ApiError::new(
                401,
                ErrorType::InvalidToken,
                "Invalid username or password",
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// The signed-in user of a web route outside `/api/v1`, with the
    /// scopes they act within (all of them for the browser session); 401
    /// for nobody.
    pub(super) async fn web_user(self, state: &AppState, req: &HttpRequest) -> Result<(Account, Scopes), ApiError> {
        let caller = self.or_session(state, req).await?;
        match caller.user {
            Some(user) => Ok((user, caller.scopes)),
            None => Err(ApiError::unauthorized(true)),
        }
    }

    /// The signed-in user of a web route and their admin access to the
    /// repository `namespace/name`; 401 for nobody, 403 for a non-admin.
    pub(super) async fn web_repository_admin(
        self,
        state: &AppState,
        req: &HttpRequest,
        repo: &str,
    ) -> Result<(Account, crate::service::repositories::RepositoryAccess), ApiError> {
        let (user, scopes) = self.web_user(state, req).await?;
        let name = super::shared::repo_path(repo)?;
        let access = state
            .registry
            .repository_access(Some(&user), &scopes, &name, crate::service::Role::Admin)
            .await?;
        Ok((user, access))
    }

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

    /// Refuses sensitive actions (password, email, deletions, tokens) to a
    /// session whose password check is older than `FRESH_LOGIN_TIMEOUT`
    /// (401 `fresh_login_required`; `/signin/verify` renews it). Bearer
    /// tokens and users without a password are exempt, as in Quay.
    pub fn fresh_login(&self) -> Result<(), ApiError> {
        match &self.user {
            None => Err(ApiError::unauthorized(true)),
            Some(u) if self.fresh || u.password_hash.is_none() => Ok(()),
            Some(_) => Err(ApiError::new(
                401,
                ErrorType::FreshLoginRequired,
                "The action requires a fresh login to succeed.",
            )),
        }
    }
}

impl FromRequest for ApiCaller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<ApiCaller, ApiError>>>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let bearer = req
            .headers()
            .get("Authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(crate::api::auth::bearer_token)
            .map(|t| t.trim().to_owned());
        let session = req.extensions().get::<Session>().cloned();
        let fresh_login_ms = super::session::policy(req).fresh_login_ms;
        Box::pin(async move {
            // A bearer token wins over the cookie; a bad one is a 401 rather
            // than a fall-back to the session. Other schemes (Basic from
            // registry clients) authenticate nothing here, as in Quay.
            if let Some(token) = bearer {
                let state =
                    state.ok_or_else(|| ApiError::new(500, ErrorType::InternalError, "no application state"))?;
                let (user, scopes) = state.registry.authenticate_bearer(&token).await?;
                state.registry.refresh_directory_roles(&user).await?;
                return Ok(ApiCaller {
                    user: Some(user),
                    scopes,
                    session: None,
                    fresh: true,
                });
            }
            if let (Some(state), Some(s)) = (&state, &session) {
                state.registry.refresh_directory_roles(&s.user).await?;
            }
            Ok(match session {
                Some(s) => ApiCaller {
                    user: Some(s.user.clone()),
                    scopes: Scopes::all(),
                    fresh: crate::now_ms() - s.fresh_login_ms <= fresh_login_ms,
                    session: Some(s),
                },
                None => ApiCaller::default(),
            })
        })
    }
}
