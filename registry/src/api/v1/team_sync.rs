//! `/api/v1/organization/{org}/team/{team}/syncing` (`FEATURE_TEAM_SYNCING`):
//! makes a team mirror a directory group (`POST {"group_dn": ...}`, the DN
//! under the base DN) or, under `AUTHENTICATION_TYPE: OIDC`, a provider
//! group (`POST {"group_name": ...}`), or stops it (`DELETE`). As in Quay, only an org
//! admin who is also a superuser may, unless
//! `FEATURE_NONSUPERUSER_TEAM_SYNCING_SETUP`; the token needs `org:admin`
//! and `super:user`. The team's members view shows `can_sync` and `synced`.

use super::doc::{self, Mount};
use actix_web::{web, HttpResponse};
use serde_json::{json, Map, Value};

use super::shared::{find_org, team_of};
use super::team::team_view;
use super::{ApiCaller, ApiError};
use crate::db::models::Account;
use crate::service::Team;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.mount(
        doc::resource("/organization/{org}/team/{team}/syncing")
            .route(doc::post().to(enable_sync))
            .route(doc::delete().to(disable_sync)),
    );
}

/// Whether `user` may set up syncing in `org` (Quay's `_syncing_setup_allowed`).
async fn setup_allowed(state: &AppState, user: &Account, org: &Account) -> Result<bool, ApiError> {
    let sync = &state.registry.settings().team_sync;
    if !sync.nonsuperuser_setup && !state.registry.is_superuser(user) {
        return Ok(false);
    }
    Ok(state.registry.is_org_admin(user, org).await?)
}

/// The caller, organization and team of a syncing call, refused as Quay
/// refuses it: 404 with the feature off, 401/403 for the caller.
async fn resolve(state: &AppState, caller: &ApiCaller, path: &(String, String)) -> Result<(Account, Team), ApiError> {
    if !state.registry.settings().team_sync.enabled {
        return Err(ApiError::not_found("Not Found"));
    }
    let user = caller.user_with("org:admin")?;
    caller.user_with("super:user")?;
    caller.fresh_login()?;
    let org = find_org(state, &path.0).await?;
    if !setup_allowed(state, user, &org).await? {
        return Err(ApiError::unauthorized(false));
    }
    let team = team_of(state, &org, &path.1).await?;
    Ok((org, team))
}

async fn enable_sync(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let (_, team) = resolve(&state, &caller, &path).await?;
    state.registry.enable_team_sync(&team, &body).await?;
    Ok(HttpResponse::Ok().json(team_view(&team, false)))
}

async fn disable_sync(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (_, team) = resolve(&state, &caller, &path).await?;
    state.registry.disable_team_sync(&team).await?;
    Ok(HttpResponse::Ok().json(team_view(&team, false)))
}

/// The syncing fields of a team's members view: `can_sync` (the service
/// and base DN) for whoever may set syncing up, `synced` (the service; for
/// superusers also `config` and `last_updated`) when the team is synced.
pub(super) async fn members_view_fields(
    state: &AppState,
    user: &Account,
    org: &Account,
    team: &Team,
) -> Result<Map<String, Value>, ApiError> {
    let mut fields = Map::new();
    let Some(service) = state.registry.team_sync_service() else {
        return Ok(fields);
    };
    if !state.registry.settings().team_sync.enabled {
        return Ok(fields);
    }
    if setup_allowed(state, user, org).await? {
        let mut can_sync = json!({"service": service});
        if let Some(dir) = state.registry.directory() {
            can_sync["base_dn"] = json!(dir.settings().base_dn);
        } else if let Some(provider) = state.registry.settings().external_logins.first() {
            let domain = url::Url::parse(&provider.server).ok().and_then(|u| {
                u.host_str()
                    .map(|h| u.port().map_or(h.to_owned(), |p| format!("{h}:{p}")))
            });
            can_sync["issuer_domain"] = json!(domain);
        }
        fields.insert("can_sync".into(), can_sync);
    }
    if let Some(info) = state.registry.team_sync(team).await? {
        let mut synced = json!({"service": info.service});
        if state.registry.is_superuser(user) {
            synced["last_updated"] = json!(info.last_updated.map(crate::format_date));
            synced["config"] = info.config;
        }
        fields.insert("synced".into(), synced);
    }
    Ok(fields)
}
