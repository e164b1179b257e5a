//! `/api/v1/repository/{repo}/permissions/…`: user, robot and team grants
//! (quay-api.md §1.7), with the refused case of every rule.

use serde_json::{json, Value};

use crate::helpers::RepoFixture;

const USERS: &str = "/repository/acme/app/permissions/user";
const TEAMS: &str = "/repository/acme/app/permissions/team";

/// `owner` owns organization `acme` with private repository `acme/app`;
/// `bob` is in team `devs`, `carol` in no team.
struct Org {
    f: RepoFixture,
    owner: String,
    bob: String,
    carol: String,
    org: registry::db::models::Account,
    owner_account: registry::db::models::Account,
}

async fn org_with_repo() -> Org {
    let f = RepoFixture::new().await;
    let (owner_account, owner) = f.user("owner").await;
    let (_, bob) = f.user("bob").await;
    let (_, carol) = f.user("carol").await;
    let org = f.org(&owner_account, "acme").await;
    f.team(&owner_account, &org, "devs", "member", &["bob"]).await;
    f.create_repo(&owner, "acme", "app", "private").await;
    Org {
        f,
        owner,
        bob,
        carol,
        org,
        owner_account,
    }
}

fn role(r: &str) -> Option<Value> {
    Some(json!({ "role": r }))
}

#[actix_web::test]
async fn an_admin_grants_changes_and_revokes_a_user_role() {
    let Org { f, owner, bob, .. } = org_with_repo().await;
    let me = Some(owner.as_str());
    assert_eq!(f.call("GET", "/repository/acme/app", Some(&bob), None).await.0, 403);

    let (status, grant) = f.call("PUT", &format!("{USERS}/bob"), me, role("read")).await;
    assert_eq!(status, 200, "{grant}");
    assert_eq!(grant["role"], "read");
    assert_eq!(grant["name"], "bob");
    assert_eq!(grant["is_robot"], false);
    assert_eq!(grant["is_org_member"], true);
    assert_eq!(grant["avatar"]["name"], "bob");
    assert_eq!(
        f.call("GET", &format!("{USERS}/bob"), me, None).await,
        (200, grant.clone())
    );
    let (_, list) = f.call("GET", &format!("{USERS}/"), me, None).await;
    assert_eq!(list["permissions"]["bob"], grant);
    // The creator of an organization's repository holds a direct admin grant.
    assert_eq!(list["permissions"]["owner"]["role"], "admin", "{list}");
    assert_eq!(f.call("GET", "/repository/acme/app", Some(&bob), None).await.0, 200);

    let (_, changed) = f.call("PUT", &format!("{USERS}/bob"), me, role("write")).await;
    assert_eq!(changed["role"], "write");
    let (_, view) = f.call("GET", "/repository/acme/app", Some(&bob), None).await;
    assert_eq!(view["can_write"], true);

    let (status, body) = f.call("DELETE", &format!("{USERS}/bob"), me, None).await;
    assert_eq!((status, body), (204, Value::Null));
    assert_eq!(f.call("GET", "/repository/acme/app", Some(&bob), None).await.0, 403);
    let (status, body) = f.call("GET", &format!("{USERS}/bob"), me, None).await;
    assert_eq!(status, 400);
    assert_eq!(body["detail"], "User does not have permission for repo.");
    assert_eq!(f.call("DELETE", &format!("{USERS}/bob"), me, None).await.0, 400);
}

#[actix_web::test]
async fn grants_outside_an_organization_carry_no_membership_flag() {
    let f = RepoFixture::new().await;
    let (_, alice) = f.user("alice").await;
    f.user("bob").await;
    f.create_repo(&alice, "alice", "app", "private").await;
    let path = "/repository/alice/app/permissions/user/bob";
    let (status, grant) = f.call("PUT", path, Some(&alice), role("admin")).await;
    assert_eq!(status, 200, "{grant}");
    assert!(grant.get("is_org_member").is_none(), "{grant}");
}

#[actix_web::test]
async fn org_grants_tell_members_from_outsiders() {
    let Org { f, owner, .. } = org_with_repo().await;
    let me = Some(owner.as_str());
    f.call("PUT", &format!("{USERS}/bob"), me, role("read")).await;
    f.call("PUT", &format!("{USERS}/carol"), me, role("read")).await;
    let (_, list) = f.call("GET", &format!("{USERS}/"), me, None).await;
    assert_eq!(list["permissions"]["bob"]["is_org_member"], true, "{list}");
    assert_eq!(list["permissions"]["carol"]["is_org_member"], false, "{list}");
}

#[actix_web::test]
async fn bad_roles_owners_unknown_users_and_organizations_are_refused() {
    let Org { f, owner, .. } = org_with_repo().await;
    let me = Some(owner.as_str());
    let (status, body) = f.call("PUT", &format!("{USERS}/bob"), me, role("owner")).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = f.call("PUT", &format!("{USERS}/acme"), me, role("read")).await;
    assert_eq!(
        (status, body["detail"].clone()),
        (400, json!("Namespace owner must always be admin."))
    );
    let (status, body) = f.call("DELETE", &format!("{USERS}/acme"), me, None).await;
    assert_eq!(
        (status, body["detail"].clone()),
        (400, json!("Namespace owner must always be admin."))
    );
    let (status, body) = f.call("PUT", &format!("{USERS}/ghost"), me, role("read")).await;
    assert_eq!(
        (status, body["detail"].clone()),
        (400, json!("Invalid username: ghost"))
    );
    let other_org = f
        .org(
            &f.services.account("carol").await.expect("lookup").expect("carol"),
            "other",
        )
        .await;
    let (status, _) = f
        .call("PUT", &format!("{USERS}/{}", other_org.username), me, role("read"))
        .await;
    assert_eq!(status, 400, "an organization cannot hold a repository role");
}

#[actix_web::test]
async fn the_owner_of_a_user_namespace_cannot_be_granted_a_role() {
    let f = RepoFixture::new().await;
    let (_, alice) = f.user("alice").await;
    f.create_repo(&alice, "alice", "app", "private").await;
    let (status, body) = f
        .call(
            "PUT",
            "/repository/alice/app/permissions/user/alice",
            Some(&alice),
            role("read"),
        )
        .await;
    assert_eq!(
        (status, body["detail"].clone()),
        (400, json!("Namespace owner must always be admin."))
    );
}

#[actix_web::test]
async fn robots_of_the_namespace_may_be_granted_but_not_robots_of_others() {
    let Org {
        f, owner, org, carol, ..
    } = org_with_repo().await;
    let me = Some(owner.as_str());
    let robot = f.robot(&org, "deployer").await;
    let (status, grant) = f
        .call("PUT", &format!("{USERS}/acme+deployer"), me, role("write"))
        .await;
    assert_eq!(status, 200, "{grant}");
    assert_eq!(
        (grant["is_robot"].clone(), grant["is_org_member"].clone()),
        (json!(true), json!(true))
    );
    let held = f
        .services
        .repository_role(Some(&robot), "acme", "app")
        .await
        .expect("role");
    assert_eq!(held, Some(registry::service::Role::Write));

    let carol_account = f.services.account("carol").await.expect("lookup").expect("carol");
    f.robot(&carol_account, "sneaky").await;
    let (status, body) = f.call("PUT", &format!("{USERS}/carol+sneaky"), me, role("read")).await;
    assert_eq!(status, 400);
    assert_eq!(body["detail"], "Cannot add robot carol+sneaky under namespace acme");
    // Robots cannot hold API tokens, so a robot never calls these endpoints itself.
    assert_eq!(f.call("GET", &format!("{USERS}/"), Some(&carol), None).await.0, 403);
}

#[actix_web::test]
async fn team_grants_are_set_listed_and_revoked() {
    let Org { f, owner, bob, .. } = org_with_repo().await;
    let me = Some(owner.as_str());
    let (status, grant) = f.call("PUT", &format!("{TEAMS}/devs"), me, role("write")).await;
    assert_eq!(status, 200, "{grant}");
    assert_eq!(
        (grant["role"].clone(), grant["name"].clone()),
        (json!("write"), json!("devs"))
    );
    assert_eq!(grant["avatar"]["kind"], "team");
    assert_eq!(
        f.call("GET", &format!("{TEAMS}/devs"), me, None).await,
        (200, grant.clone())
    );
    let (_, list) = f.call("GET", &format!("{TEAMS}/"), me, None).await;
    assert_eq!(list, json!({"permissions": {"devs": grant}}));
    let (_, view) = f.call("GET", "/repository/acme/app", Some(&bob), None).await;
    assert_eq!(view["can_write"], true);

    assert_eq!(f.call("DELETE", &format!("{TEAMS}/devs"), me, None).await.0, 204);
    assert_eq!(f.call("GET", "/repository/acme/app", Some(&bob), None).await.0, 403);
    let (status, body) = f.call("GET", &format!("{TEAMS}/devs"), me, None).await;
    assert_eq!(
        (status, body["detail"].clone()),
        (400, json!("Team does not have permission for repo."))
    );
    assert_eq!(f.call("DELETE", &format!("{TEAMS}/devs"), me, None).await.0, 400);
    assert_eq!(f.call("PUT", &format!("{TEAMS}/devs"), me, role("boss")).await.0, 400);
}

#[actix_web::test]
async fn only_teams_of_the_repositorys_organization_can_be_granted() {
    let Org { f, owner, carol, .. } = org_with_repo().await;
    let me = Some(owner.as_str());
    let (status, body) = f.call("PUT", &format!("{TEAMS}/ghosts"), me, role("read")).await;
    assert_eq!(
        (status, body["detail"].clone()),
        (400, json!("No team ghosts in organization acme"))
    );
    let carol_account = f.services.account("carol").await.expect("lookup").expect("carol");
    let other = f.org(&carol_account, "other").await;
    f.team(&carol_account, &other, "ops", "member", &[]).await;
    let (status, body) = f.call("PUT", &format!("{TEAMS}/ops"), me, role("read")).await;
    assert_eq!(
        (status, body["detail"].clone()),
        (400, json!("No team ops in organization acme"))
    );

    f.create_repo(&carol, "carol", "app", "private").await;
    let path = "/repository/carol/app/permissions/team/ops";
    assert_eq!(f.call("PUT", path, Some(&carol), role("read")).await.0, 400);
}

#[actix_web::test]
async fn transitive_permissions_include_team_roles() {
    let Org { f, owner, .. } = org_with_repo().await;
    let me = Some(owner.as_str());
    f.call("PUT", &format!("{USERS}/bob"), me, role("read")).await;
    f.call("PUT", &format!("{TEAMS}/devs"), me, role("write")).await;
    let (status, body) = f.call("GET", &format!("{USERS}/bob/transitive"), me, None).await;
    assert_eq!(status, 200, "{body}");
    let mut roles: Vec<&str> = body["permissions"]
        .as_array()
        .expect("permissions")
        .iter()
        .filter_map(|p| p["role"].as_str())
        .collect();
    roles.sort_unstable();
    assert_eq!(roles, ["read", "write"]);
    assert_eq!(
        f.call("GET", &format!("{USERS}/carol/transitive"), me, None).await.0,
        404
    );
    assert_eq!(
        f.call("GET", &format!("{USERS}/ghost/transitive"), me, None).await.0,
        404
    );
}

/// Every permission endpoint of `acme/app`, with a body for the writes.
fn endpoints() -> Vec<(&'static str, String, Option<Value>)> {
    vec![
        ("GET", format!("{USERS}/"), None),
        ("GET", format!("{TEAMS}/"), None),
        ("GET", format!("{USERS}/bob"), None),
        ("PUT", format!("{USERS}/carol"), role("admin")),
        ("DELETE", format!("{USERS}/bob"), None),
        ("GET", format!("{USERS}/bob/transitive"), None),
        ("GET", format!("{TEAMS}/devs"), None),
        ("PUT", format!("{TEAMS}/devs"), role("admin")),
        ("DELETE", format!("{TEAMS}/devs"), None),
    ]
}

#[actix_web::test]
async fn only_repository_admins_manage_permissions() {
    let Org {
        f,
        owner,
        bob,
        carol,
        owner_account,
        ..
    } = org_with_repo().await;
    let me = Some(owner.as_str());
    f.call("PUT", &format!("{USERS}/bob"), me, role("write")).await;
    let owner_write_only = f.token(&owner_account, "repo:read repo:write").await;
    let refused: [(Option<&str>, u16, &str); 4] = [
        (None, 401, "anonymous"),
        (Some(carol.as_str()), 403, "an outsider"),
        (Some(bob.as_str()), 403, "a writer"),
        (Some(owner_write_only.as_str()), 403, "a token without repo:admin"),
    ];
    for (method, path, body) in endpoints() {
        for (token, status, who) in refused {
            let (got, res) = f.call(method, &path, token, body.clone()).await;
            assert_eq!(got, status, "{who}: {method} {path}: {res}");
        }
    }
    // The grants are unchanged by the refused calls.
    let (_, list) = f.call("GET", &format!("{USERS}/"), me, None).await;
    assert_eq!(list["permissions"]["bob"]["role"], "write", "{list}");
    assert!(list["permissions"].get("carol").is_none(), "{list}");
}

#[actix_web::test]
async fn admin_grants_through_users_and_teams_allow_managing_permissions() {
    let Org {
        f, owner, bob, carol, ..
    } = org_with_repo().await;
    let me = Some(owner.as_str());
    f.call("PUT", &format!("{TEAMS}/devs"), me, role("admin")).await;
    f.call("PUT", &format!("{USERS}/carol"), me, role("admin")).await;
    for token in [&bob, &carol] {
        let (status, body) = f
            .call("PUT", &format!("{USERS}/owner"), Some(token), role("read"))
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(f.call("GET", &format!("{TEAMS}/"), Some(token), None).await.0, 200);
    }
}

#[actix_web::test]
async fn missing_repositories_are_404_for_namespace_admins_and_403_for_others() {
    let Org { f, owner, carol, .. } = org_with_repo().await;
    let path = "/repository/acme/missing/permissions/user/";
    assert_eq!(f.call("GET", path, Some(&owner), None).await.0, 404);
    assert_eq!(f.call("GET", path, Some(&carol), None).await.0, 403);
    assert_eq!(f.call("GET", path, None, None).await.0, 401);
}

#[actix_web::test]
async fn superusers_manage_any_repository_only_with_full_access() {
    for (full_access, expected) in [(true, 200), (false, 403)] {
        let f = RepoFixture::with_config(&format!(
            "SUPER_USERS: [root]\nFEATURE_SUPERUSERS_FULL_ACCESS: {full_access}\n"
        ))
        .await;
        let (_, root) = f.user("root").await;
        let (_, alice) = f.user("alice").await;
        f.user("bob").await;
        f.create_repo(&alice, "alice", "app", "private").await;
        let path = "/repository/alice/app/permissions/user/bob";
        assert_eq!(f.call("PUT", path, Some(&root), role("read")).await.0, expected);
    }
}

#[actix_web::test]
async fn deleting_a_repository_drops_its_grants() {
    let Org { f, owner, org, .. } = org_with_repo().await;
    let me = Some(owner.as_str());
    f.call("PUT", &format!("{TEAMS}/devs"), me, role("read")).await;
    let devs = f.services.team(&org, "devs").await.expect("lookup").expect("devs");
    assert_eq!(f.services.team_permissions(&devs).await.expect("grants").len(), 1);
    assert_eq!(f.call("DELETE", "/repository/acme/app", me, None).await.0, 204);
    let left = f.services.team_permissions(&devs).await.expect("grants");
    assert!(left.is_empty(), "{left:?}");
    f.create_repo(&owner, "acme", "app", "private").await;
    let (_, list) = f.call("GET", &format!("{TEAMS}/"), me, None).await;
    assert_eq!(
        list,
        json!({"permissions": {}}),
        "a new repository under the old name has no grants"
    );
}
