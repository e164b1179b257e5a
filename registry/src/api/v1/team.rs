//! `/api/v1/organization/{org}/team/…` and `/api/v1/organization/{org}/members…`:
//! teams, their members and repository roles, and organization membership
//! (which exists only through teams). Every call needs a token with
//! `org:admin`; all but viewing a team's members need an organization admin.
//! Adding a user may invite them instead (see [`invite`](super::invite)).

use super::doc::{self, Mount};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::invite::InviteScope;
use super::shared::{action, admin_of, find_org, team_of};
use super::views::{avatar, grants_view, invite_view, member_view};
use super::{ApiCaller, ApiError};
use crate::service::{InvitePolicy, OrgMember, Team, TeamAddition, TeamName, TeamRole};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.mount(
        doc::resource("/organization/{org}/team/{team}")
            .route(doc::put().to(put_team))
            .route(doc::delete().to(delete_team)),
    )
    .mount(doc::resource("/organization/{org}/team/{team}/members").route(doc::get().to(list_team_members)))
    .mount(
        doc::resource("/organization/{org}/team/{team}/members/{member}")
            .route(doc::put().to(add_team_member))
            .route(doc::delete().to(remove_team_member)),
    )
    .mount(doc::resource("/organization/{org}/team/{team}/permissions").route(doc::get().to(list_team_permissions)))
    .mount(doc::resource("/organization/{org}/members").route(doc::get().to(list_org_members)))
    .mount(doc::resource("/organization/{org}/collaborators").route(doc::get().to(list_collaborators)))
    .mount(
        doc::resource("/organization/{org}/members/{member}")
            .route(doc::get().to(get_org_member))
            .route(doc::delete().to(remove_org_member)),
    );
}

pub(super) fn team_view(team: &Team, new_team: bool) -> Value {
    json!({
        "name": team.name,
        "description": team.description,
        "can_view": true,
        "role": team.role,
        "avatar": avatar(&team.name, "team"),
        "new_team": new_team,
    })
}

fn org_member_view(m: &OrgMember) -> Value {
    let a = &m.account;
    json!({
        "name": a.username,
        "kind": if a.robot { "robot" } else { "user" },
        "avatar": avatar(&a.username, if a.robot { "robot" } else { "user" }),
        "teams": m.teams.iter().map(|t| json!({"name": t, "avatar": avatar(t, "team")})).collect::<Vec<_>>(),
        "repositories": m.repositories,
    })
}

#[derive(Deserialize, schemars::JsonSchema)]
struct MembersQuery {
    #[serde(rename = "includePending")]
    include_pending: Option<String>,
}

#[derive(Deserialize, schemars::JsonSchema)]
struct TeamBody {
    role: String,
    description: Option<String>,
}

/// Creates or updates a team (Quay's upsert).
async fn put_team(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Json<TeamBody>,
) -> Result<HttpResponse, ApiError> {
    let (user, org) = admin_of(&state, &caller, &path.0).await?;
    let name = TeamName::parse(&path.1)?;
    let role = TeamRole::parse(&body.role)?;
    let before = state.registry.team(&org, &path.1).await?;
    let (team, created) = state
        .registry
        .put_team(user, &org, &name, role, body.description.as_deref())
        .await?;
    if let Some(b) = before.as_ref().filter(|b| b.description != team.description) {
        let metadata = json!({"team": team.name, "description": team.description, "old_description": b.description});
        let entry = action("org_set_team_description", &caller, &req)
            .account(org.id)
            .metadata(metadata);
        state.registry.log_action(entry);
    }
    let kind = match before {
        None => Some("org_create_team"),
        Some(b) if b.role != team.role => Some("org_set_team_role"),
        Some(_) => None,
    };
    if let Some(kind) = kind {
        let entry = action(kind, &caller, &req)
            .account(org.id)
            .metadata(json!({"team": team.name, "role": team.role}));
        state.registry.log_action(entry);
    }
    Ok(HttpResponse::Ok().json(team_view(&team, created)))
}

async fn delete_team(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (user, org) = admin_of(&state, &caller, &path.0).await?;
    state.registry.delete_team(user, &org, &path.1).await?;
    let entry = action("org_delete_team", &caller, &req)
        .account(org.id)
        .metadata(json!({"team": path.1}));
    state.registry.log_action(entry);
    Ok(HttpResponse::NoContent().finish())
}

/// Team members are visible to the team's own members and to org admins;
/// pending invitations (`includePending`) to admins only.
async fn list_team_members(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
    query: web::Query<MembersQuery>,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user_with("org:admin")?;
    let org = find_org(&state, &path.0).await?;
    let admin = state.registry.is_org_admin(user, &org).await?;
    let team = match state.registry.team(&org, &path.1).await? {
        Some(t) if admin || state.registry.is_team_member(&t, user).await? => t,
        Some(_) => return Err(ApiError::unauthorized(false)),
        None if admin => return Err(ApiError::not_found("Team not found")),
        None => return Err(ApiError::unauthorized(false)),
    };
    let mut members: Vec<Value> = state
        .registry
        .team_members(&team)
        .await?
        .iter()
        .map(|m| member_view(m, false))
        .collect();
    let pending = matches!(query.include_pending.as_deref(), Some("true" | "True" | "1"));
    if pending && admin {
        members.extend(state.registry.pending_invites(&team).await?.iter().map(invite_view));
    }
    let mut view = json!({
        "name": team.name,
        "members": members,
        "can_edit": admin,
    });
    if let Value::Object(fields) = &mut view {
        fields.extend(super::team_sync::members_view_fields(&state, user, &org, &team).await?);
    }
    Ok(HttpResponse::Ok().json(view))
}

/// Adds a user or one of the organization's robots, or invites a user who
/// is not yet in the organization when mailing requires invitations
/// (`"invited": true`).
async fn add_team_member(
    req: HttpRequest,
    state: web::Data<AppState>,
    policy: web::Data<InvitePolicy>,
    caller: ApiCaller,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let scope = InviteScope::resolve(&req, &state, &caller, &path.0, &path.1).await?;
    state.registry.refuse_if_synced(&scope.team, true, &path.2).await?;
    let (view, kind) = match state
        .registry
        .add_or_invite_team_member(&scope.context(&policy), &path.2)
        .await?
    {
        TeamAddition::Added(member) => (member_view(&member, false), "org_add_team_member"),
        TeamAddition::Invited(member) => (member_view(&member, true), "org_invite_team_member"),
    };
    let entry = action(kind, &caller, &req)
        .account(scope.org.id)
        .metadata(json!({"member": path.2, "team": scope.team.name}));
    state.registry.log_action(entry);
    Ok(HttpResponse::Ok().json(view))
}

async fn remove_team_member(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (user, org) = admin_of(&state, &caller, &path.0).await?;
    let team = team_of(&state, &org, &path.1).await?;
    state.registry.refuse_if_synced(&team, true, &path.2).await?;
    state.registry.remove_team_member(user, &org, &team, &path.2).await?;
    let entry = action("org_remove_team_member", &caller, &req)
        .account(org.id)
        .metadata(json!({"member": path.2, "team": team.name}));
    state.registry.log_action(entry);
    Ok(HttpResponse::NoContent().finish())
}

async fn list_team_permissions(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (_, org) = admin_of(&state, &caller, &path.0).await?;
    let team = team_of(&state, &org, &path.1).await?;
    let grants = state.registry.team_permissions(&team).await?;
    Ok(HttpResponse::Ok().json(grants_view(&grants)))
}

async fn list_org_members(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (_, org) = admin_of(&state, &caller, &path).await?;
    let members = state.registry.org_members(&org).await?;
    Ok(HttpResponse::Ok().json(json!({
        "members": members.iter().map(org_member_view).collect::<Vec<_>>(),
    })))
}

/// Outside collaborators: users with a direct role on one of the
/// organization's repositories who are in none of its teams.
async fn list_collaborators(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (_, org) = admin_of(&state, &caller, &path).await?;
    let found = state.registry.org_collaborators(&org).await?;
    let collaborators: Vec<Value> = found
        .iter()
        .map(|c| {
            json!({
                "kind": "user",
                "name": c.account.username,
                "avatar": avatar(&c.account.username, "user"),
                "repositories": c.repositories,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "collaborators": collaborators })))
}

async fn get_org_member(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (_, org) = admin_of(&state, &caller, &path.0).await?;
    match state.registry.org_member(&org, &path.1).await? {
        Some(m) => Ok(HttpResponse::Ok().json(org_member_view(&m))),
        None => Err(ApiError::not_found("Member not found")),
    }
}

/// Removes a user from every team of the organization and drops its direct
/// roles on the organization's repositories.
async fn remove_org_member(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (_, org) = admin_of(&state, &caller, &path.0).await?;
    state.registry.remove_org_member(&org, &path.1).await?;
    Ok(HttpResponse::NoContent().finish())
}
