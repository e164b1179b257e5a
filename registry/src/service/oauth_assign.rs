//! Token assignments (`FEATURE_ASSIGN_OAUTH_TOKEN`): an organization admin
//! asks another user to authorize one of the organization's applications
//! for some scopes, so the token that user then creates is theirs (and
//! usage logs name them, not the admin). The user sees the assignment in
//! `/user/assignedauthorization`, goes through the implicit grant with its
//! uuid, and the assignment is gone once the token exists.

use super::oauth::{redirect_allowed, requested_scopes, FlowError, Refusal};
use super::{Error, Registry, Scopes};
use crate::db::models::Account;
use crate::db::queries::applications::Application;
use crate::db::queries::notifications as notifications_q;
use crate::db::queries::oauth::{self as q, AssignmentRow, NewAssignment};

/// The inbox kind Quay uses for a new assignment.
pub const ASSIGNED_NOTIFICATION: &str = "assigned_authorization";

/// What an admin asks a user to authorize.
#[derive(Debug, Clone)]
pub struct AssignmentRequest<'a> {
    pub username: &'a str,
    pub redirect_uri: &'a str,
    pub scope: &'a str,
    pub response_type: &'a str,
    /// The registry's own token page (always an allowed redirect).
    pub local_handler: &'a str,
}

/// An assignment with its application and the application's organization.
#[derive(Debug, Clone)]
pub struct Assignment {
    pub row: AssignmentRow,
    pub application: Application,
    pub organization: String,
}

impl Registry {
    /// Records that `username` should authorize the application. The
    /// caller checked that the admin administers the application's
    /// organization. Refused: a redirect URI the application may not use
    /// (`invalid_request`), a response type other than `token`, unknown
    /// scopes; an unknown user is not found.
    pub async fn assign_token(&self, app: &Application, req: &AssignmentRequest<'_>) -> Result<String, FlowError> {
        if !redirect_allowed(app, req.redirect_uri, req.local_handler) {
            return Err(Refusal::InvalidRequest.into());
        }
        if req.response_type != "token" {
            return Err(Refusal::UnsupportedResponseType.into());
        }
        let scopes = requested_scopes(req.scope)?;
        let user = match self.account(req.username).await? {
            Some(u) if !u.organization && !u.robot && u.enabled => u,
            _ => return Err(Error::NotFound("User not found".into()).into()),
        };
        let uuid = uuid::Uuid::new_v4().to_string();
        let (app_id, user_id, now) = (app.id, user.id, crate::now_ms());
        let (id, redirect, scope) = (uuid.clone(), req.redirect_uri.to_owned(), scopes.to_string());
        let metadata = serde_json::json!({"username": user.username}).to_string();
        self.db()
            .write(move |c| {
                let row = NewAssignment {
                    uuid: &id,
                    user_id,
                    application_id: app_id,
                    redirect_uri: &redirect,
                    scope: &scope,
                    response_type: "token",
                    now,
                };
                q::insert_assignment(c, &row)?;
                notifications_q::insert_inbox(c, user_id, ASSIGNED_NOTIFICATION, &metadata, now)?;
                Ok::<_, Error>(())
            })
            .await?;
        Ok(uuid)
    }

    /// The user's pending assignments; reading them clears the user's
    /// assignment notifications, as in Quay.
    pub async fn assignments(&self, user: &Account) -> Result<Vec<Assignment>, Error> {
        let user_id = user.id;
        let rows = self
            .db()
            .write(move |c| {
                notifications_q::delete_inbox_kind(c, user_id, ASSIGNED_NOTIFICATION)?;
                Ok::<_, Error>(q::assignments_of(c, user_id)?)
            })
            .await?;
        Ok(rows
            .into_iter()
            .map(|(row, application, organization)| Assignment {
                row,
                application,
                organization,
            })
            .collect())
    }

    /// Drops one of the user's assignments; others' are not found.
    pub async fn delete_assignment(&self, user: &Account, uuid: &str) -> Result<(), Error> {
        let (user_id, uuid) = (user.id, uuid.to_owned());
        self.db()
            .write(move |c| {
                let row =
                    q::assignment_of(c, user_id, &uuid, None)?.ok_or_else(|| Error::NotFound("Not Found".into()))?;
                Ok(q::delete_assignment(c, row.id)?)
            })
            .await
    }

    /// Removes the user's assignment `uuid` once a token was granted for
    /// exactly what it asked (application, redirect URI and scopes).
    pub async fn fulfil_assignment(
        &self,
        user: &Account,
        uuid: &str,
        app: &Application,
        redirect_uri: &str,
        scopes: &Scopes,
    ) -> Result<(), Error> {
        let (user_id, uuid, app_id) = (user.id, uuid.to_owned(), app.id);
        let (redirect, scopes) = (redirect_uri.to_owned(), scopes.clone());
        self.db()
            .write(move |c| {
                let Some(row) = q::assignment_of(c, user_id, &uuid, Some(app_id))? else {
                    return Ok(());
                };
                let same_scopes = Scopes::parse(&row.scope).is_ok_and(|s| s == scopes);
                if same_scopes && row.redirect_uri.as_deref() == Some(redirect.as_str()) {
                    q::delete_assignment(c, row.id)?;
                }
                Ok::<_, Error>(())
            })
            .await
    }
}
