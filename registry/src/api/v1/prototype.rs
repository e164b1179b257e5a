//! Default permissions of organizations (Quay's prototypes):
//! `/organization/{org}/prototypes[/{uuid}]`. Every call needs a token
//! with `org:admin` from an organization admin.

use super::doc::{self, Mount};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::shared::{action, admin_of};
use super::views::avatar;
use super::{ApiCaller, ApiError};
use crate::service::{Delegate, DelegateKind, NewPrototype, Prototype, PrototypeUser};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.mount(
        doc::resource("/organization/{org}/prototypes")
            .route(doc::get().to(list_prototypes))
            .route(doc::post().to(create_prototype)),
    )
    .mount(
        doc::resource("/organization/{org}/prototypes/{uuid}")
            .route(doc::put().to(update_prototype))
            .route(doc::delete().to(delete_prototype)),
    );
}

#[derive(Deserialize, schemars::JsonSchema)]
struct NameRef {
    name: Option<String>,
}

#[derive(Deserialize, schemars::JsonSchema)]
struct DelegateBody {
    name: String,
    kind: String,
}

#[derive(Deserialize, schemars::JsonSchema)]
struct PrototypeBody {
    role: String,
    delegate: DelegateBody,
    activating_user: Option<NameRef>,
}

#[derive(Deserialize, schemars::JsonSchema)]
struct RoleBody {
    role: String,
}

fn user_view(u: &PrototypeUser) -> Value {
    let a = &u.account;
    json!({
        "name": a.username,
        "kind": "user",
        "is_robot": a.robot,
        "is_org_member": u.is_org_member,
        "avatar": avatar(&a.username, if a.robot { "robot" } else { "user" }),
    })
}

fn prototype_view(p: &Prototype) -> Value {
    let delegate = match &p.delegate {
        Delegate::User(u) => user_view(u),
        Delegate::Team(name) => json!({"name": name, "kind": "team", "avatar": avatar(name, "team")}),
    };
    json!({
        "id": p.uuid,
        "role": p.role,
        "delegate": delegate,
        "activating_user": p.activating_user.as_ref().map(user_view),
    })
}

async fn list_prototypes(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (_, org) = admin_of(&state, &caller, &path).await?;
    let prototypes = state.registry.prototypes(&org).await?;
    Ok(HttpResponse::Ok().json(json!({
        "prototypes": prototypes.iter().map(prototype_view).collect::<Vec<_>>(),
    })))
}

async fn create_prototype(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<PrototypeBody>,
) -> Result<HttpResponse, ApiError> {
    let (_, org) = admin_of(&state, &caller, &path).await?;
    let new = NewPrototype {
        role: &body.role,
        delegate_kind: DelegateKind::parse(&body.delegate.kind)?,
        delegate_name: &body.delegate.name,
        activating_user: body.activating_user.as_ref().and_then(|a| a.name.as_deref()),
    };
    let prototype = state.registry.create_prototype(&org, &new).await?;
    let metadata = json!({"prototypeid": prototype.uuid, "role": prototype.role});
    let entry = action("create_prototype_permission", &caller, &req)
        .account(org.id)
        .metadata(metadata);
    state.registry.log_action(entry);
    Ok(HttpResponse::Ok().json(prototype_view(&prototype)))
}

/// Changes the role only; the delegate and activating user stay.
async fn update_prototype(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Json<RoleBody>,
) -> Result<HttpResponse, ApiError> {
    let (_, org) = admin_of(&state, &caller, &path.0).await?;
    let prototype = state.registry.set_prototype_role(&org, &path.1, &body.role).await?;
    let metadata = json!({"prototypeid": prototype.uuid, "role": prototype.role});
    let entry = action("modify_prototype_permission", &caller, &req)
        .account(org.id)
        .metadata(metadata);
    state.registry.log_action(entry);
    Ok(HttpResponse::Ok().json(prototype_view(&prototype)))
}

async fn delete_prototype(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (_, org) = admin_of(&state, &caller, &path.0).await?;
    state.registry.delete_prototype(&org, &path.1).await?;
    let entry = action("delete_prototype_permission", &caller, &req)
        .account(org.id)
        .metadata(json!({"prototypeid": path.1}));
    state.registry.log_action(entry);
    Ok(HttpResponse::NoContent().finish())
}
