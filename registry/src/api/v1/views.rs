//! JSON views shared by the API families, in Quay's field names.

use actix_web::HttpRequest;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use super::shared::link_base;
use crate::db::models::Account;
use crate::service::builds::{Build, Trigger, GITHUB};
use crate::service::logs::{LogAccount, LoggedAction};
use crate::service::notifications::Notification;
use crate::service::repositories::RepositoryAccess;
use crate::service::{PendingInvite, RepoGrant, Role, TeamSummary};
use crate::state::AppState;

/// Quay's avatar object.
pub fn avatar(name: &str, kind: &str) -> Value {
    let hash = hex::encode(Sha256::digest(name.as_bytes()));
    let color = format!("#{}", &hash[..6]);
    json!({"name": name, "hash": hash, "color": color, "kind": kind})
}

/// The reduced view anyone may see of a user.
pub fn public_user(a: &Account, superuser: bool) -> Value {
    let mut v = json!({
        "anonymous": false,
        "username": a.username,
        "avatar": avatar(&a.username, "user"),
    });
    if superuser {
        v["super_user"] = json!(true);
    }
    v
}

/// The view of a user as a superuser sees it in lists.
pub fn managed_user(a: &Account, superuser: bool) -> Value {
    json!({
        "kind": "user",
        "name": a.username,
        "username": a.username,
        "email": a.email,
        "verified": a.verified,
        "avatar": avatar(&a.username, "user"),
        "super_user": superuser,
        "enabled": a.enabled,
    })
}

pub use crate::format_date;

/// The UTC day of a time, `YYYY-MM-DD`.
pub fn format_day(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

pub(super) fn member_view(a: &Account, invited: bool) -> Value {
    json!({
        "name": a.username,
        "kind": "user",
        "is_robot": a.robot,
        "avatar": avatar(&a.username, if a.robot { "robot" } else { "user" }),
        "invited": invited,
    })
}

pub(super) fn grants_view(grants: &[RepoGrant]) -> Value {
    let permissions: Vec<Value> = grants
        .iter()
        .map(|g| json!({"repository": {"name": g.repository, "is_public": g.public}, "role": g.role}))
        .collect();
    json!({ "permissions": permissions })
}

/// A pending invitation as team member listings show it.
pub(super) fn invite_view(invite: &PendingInvite) -> Value {
    match invite {
        PendingInvite::User(user) => member_view(user, true),
        PendingInvite::Email(email) => json!({
            "email": email,
            "kind": "invite",
            "avatar": avatar(email, "user"),
            "invited": true,
        }),
    }
}

/// Quay's TriggerView. Inside a BuildView (`for_build`) it never names the
/// pull robot; the config is shown to admins only. A GitHub trigger's
/// `repository_url` is the repository's page on GitHub.
pub(super) fn trigger_view(state: &AppState, t: &Trigger, can_admin: bool, for_build: bool) -> Value {
    let repository_url = match (t.service.as_str(), t.build_source(), state.registry.github()) {
        (GITHUB, Some(source), Some(github)) => Some(github.repository_url(source)),
        _ => None,
    };
    let mut view = json!({
        "id": t.uuid,
        "service": t.service,
        "is_active": t.is_active(),
        "build_source": t.build_source(),
        "repository_url": repository_url,
        "config": if can_admin { Value::Object(t.config.clone()) } else { json!({}) },
        "can_invoke": can_admin,
        "enabled": t.enabled,
        "disabled_reason": t.disabled_reason,
    });
    if let (false, true, Some(robot)) = (for_build, can_admin, &t.pull_robot) {
        view["pull_robot"] = json!({"name": robot, "kind": "user", "is_robot": true});
    }
    view
}

/// The usage-log metadata of a queued build, as Quay writes it.
pub(super) fn build_log_metadata(build: &Build) -> Value {
    let mut metadata = json!({
        "build_id": build.uuid,
        "docker_tags": build.job.docker_tags,
        "is_manual": build.job.is_manual,
        "manual_user": build.job.manual_user,
    });
    if let Some(t) = &build.trigger {
        metadata["trigger_id"] = json!(t.uuid);
        metadata["trigger_kind"] = json!(t.service);
        metadata["trigger_metadata"] = build.job.trigger_metadata.clone();
    }
    metadata
}

/// Quay's BuildView, as seen with the caller's role on the repository.
pub(super) fn build_view(state: &AppState, req: &HttpRequest, access: &RepositoryAccess, b: &Build) -> Value {
    let writer = access.role >= Role::Write;
    let mut view = json!({
        "id": b.uuid,
        "phase": b.phase,
        "started": format_date(b.started_ms),
        "display_name": b.display_name,
        "status": {},
        "subdirectory": b.job.build_subdir,
        "dockerfile_path": b.job.build_subdir,
        "context": b.job.context,
        "tags": b.job.docker_tags,
        "manual_user": b.job.manual_user,
        "is_writer": writer,
        "trigger": b.trigger.as_ref().map(|t| trigger_view(state, t, access.role >= Role::Admin, true)),
        "trigger_metadata": b.job.trigger_metadata,
        "resource_key": b.resource_key,
        "pull_robot": b.pull_robot.as_ref().map(|name| json!({"name": name, "kind": "user", "is_robot": true})),
        "repository": {"namespace": access.repo.namespace, "name": access.repo.name},
        "error": b.error,
    });
    if writer || state.registry.settings().builds.reader_build_logs {
        let archive = match &b.resource_key {
            Some(key) => Some(format!("{}/userfiles/{key}", link_base(req, state))),
            None => b.job.archive_url.clone(),
        };
        if let Some(url) = archive {
            view["archive_url"] = json!(url);
        }
    }
    view
}

/// Quay's LogEntry view; superuser listings also name the namespace.
pub(super) fn log_view(l: &LoggedAction, include_namespace: bool) -> Value {
    let metadata: Value = serde_json::from_str(&l.row.metadata_json).unwrap_or_else(|_| json!({}));
    let mut v = json!({
        "kind": l.row.kind,
        "metadata": metadata,
        "ip": l.row.ip,
        "datetime": format_date(l.row.datetime_ms),
    });
    if let Some(p) = &l.performer {
        v["performer"] = json!({
            "kind": "user",
            "name": p.username,
            "is_robot": p.robot,
            "avatar": avatar(&p.username, if p.robot { "robot" } else { "user" }),
        });
    }
    if include_namespace {
        if let Some(ns) = &l.namespace {
            v["namespace"] = namespace_view(ns);
        }
    }
    v
}

pub(super) fn namespace_view(ns: &LogAccount) -> Value {
    let kind = if ns.organization { "org" } else { "user" };
    json!({"kind": kind, "name": ns.username, "avatar": avatar(&ns.username, kind)})
}

/// Quay's team view inside an organization's view.
pub(super) fn org_team_view(t: &TeamSummary) -> Value {
    json!({
        "name": t.team.name,
        "description": t.team.description,
        "role": t.team.role,
        "avatar": avatar(&t.team.name, "team"),
        "can_view": t.can_view,
        "repo_count": t.repo_count,
        "member_count": t.member_count,
        "is_synced": t.is_synced,
    })
}

/// A repository or namespace notification.
pub(super) fn notification_view(n: &Notification) -> Value {
    json!({
        "uuid": n.uuid,
        "title": n.title,
        "event": n.event,
        "method": n.method,
        "config": n.config,
        "event_config": n.event_config,
        "number_of_failures": n.number_of_failures,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_rfc_2822_in_utc() {
        assert_eq!(format_date(0), "Thu, 01 Jan 1970 00:00:00 -0000");
        assert_eq!(format_date(1_033_563_600_000), "Wed, 02 Oct 2002 13:00:00 -0000");
        assert_eq!(format_date(1_709_210_096_000), "Thu, 29 Feb 2024 12:34:56 -0000");
        assert_eq!(format_day(951_782_400_000), "2000-02-29");
    }
}
