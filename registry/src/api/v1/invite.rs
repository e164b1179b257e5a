//! Team invitations: `/organization/{org}/team/{team}/invite/{email}`
//! (org admins invite or uninvite an email address; needs mailing) and
//! `/teaminvite/{code}` (the invited user, `user:admin`, accepts or
//! declines). Inviting users by name goes through the team members
//! endpoint (see [`team`](super::team)).

use super::doc::{self, Mount};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::shared::{action, admin_of, link_base, team_of};
use super::views::invite_view;
use super::{ApiCaller, ApiError};
use crate::db::models::Account;
use crate::service::{InviteContext, InvitePolicy, JoinedTeam, Team};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.mount(
        doc::resource("/organization/{org}/team/{team}/invite/{email}")
            .route(doc::put().to(invite_email))
            .route(doc::delete().to(delete_email_invite)),
    )
    .mount(
        doc::resource("/teaminvite/{code}")
            .route(doc::put().internal().to(accept_invite))
            .route(doc::delete().internal().to(decline_invite)),
    );
}

/// Where an org admin invites into a team: the calling admin, the
/// organization, the team and the link base for the mail. Resolving it
/// refuses as [`admin_of`] and [`team_of`] do.
pub(super) struct InviteScope<'a> {
    pub(super) inviter: &'a Account,
    pub(super) org: Account,
    pub(super) team: Team,
    link_base: String,
}

impl<'a> InviteScope<'a> {
    pub(super) async fn resolve(
        req: &HttpRequest,
        state: &AppState,
        caller: &'a ApiCaller,
        org: &str,
        team: &str,
    ) -> Result<Self, ApiError> {
        let (inviter, org) = admin_of(state, caller, org).await?;
        let team = team_of(state, &org, team).await?;
        let link_base = link_base(req, state);
        Ok(Self {
            inviter,
            org,
            team,
            link_base,
        })
    }

    pub(super) fn context<'b>(&'b self, policy: &'b InvitePolicy) -> InviteContext<'b> {
        InviteContext {
            policy,
            inviter: self.inviter,
            org: &self.org,
            team: &self.team,
            link_base: &self.link_base,
        }
    }
}

async fn invite_email(
    req: HttpRequest,
    state: web::Data<AppState>,
    policy: web::Data<InvitePolicy>,
    caller: ApiCaller,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let scope = InviteScope::resolve(&req, &state, &caller, &path.0, &path.1).await?;
    state.registry.refuse_if_synced(&scope.team, false, &path.2).await?;
    let invite = state.registry.invite_email(&scope.context(&policy), &path.2).await?;
    Ok(HttpResponse::Ok().json(invite_view(&invite)))
}

async fn delete_email_invite(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (_, org) = admin_of(&state, &caller, &path.0).await?;
    let team = team_of(&state, &org, &path.1).await?;
    state.registry.delete_email_invite(&team, &path.2).await?;
    let entry = action("org_delete_team_member_invite", &caller, &req)
        .account(org.id)
        .metadata(json!({"email": path.2, "team": team.name}));
    state.registry.log_action(entry);
    Ok(HttpResponse::NoContent().finish())
}

/// Logs an answer to an invitation in the organization's logs.
fn log_answer(
    state: &AppState,
    (caller, req): (&ApiCaller, &HttpRequest),
    kind: &'static str,
    user: &Account,
    t: &JoinedTeam,
) {
    let metadata = json!({"member": user.username, "inviter": t.inviter, "team": t.team});
    let entry = action(kind, caller, req).account_named(&t.org).metadata(metadata);
    state.registry.log_action(entry);
}

async fn accept_invite(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    code: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user_with("user:admin")?;
    let joined = state.registry.accept_team_invite(user, &code).await?;
    log_answer(
        &state,
        (&caller, &req),
        "org_team_member_invite_accepted",
        user,
        &joined,
    );
    Ok(HttpResponse::Ok().json(json!({"org": joined.org, "team": joined.team})))
}

async fn decline_invite(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    code: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user_with("user:admin")?;
    let declined = state.registry.decline_team_invite(user, &code).await?;
    log_answer(
        &state,
        (&caller, &req),
        "org_team_member_invite_declined",
        user,
        &declined,
    );
    Ok(HttpResponse::NoContent().finish())
}
