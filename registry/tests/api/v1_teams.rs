//! Teams and organization membership (quay-api.md §1.3 members, §1.4 teams,
//! names §2.2). Mailing is off here, so members are added directly; team
//! invitations are tested in `v1_invites`.

use reqwest::{Method, Response};
use serde_json::{json, Value};

use crate::helpers::{api_token, api_user, assert_api_error, grant_role, spawn_app, spawn_app_with, Grantee, TestApp};

/// `method /api/v1{path}` with a bearer token (anonymous when `None`).
async fn call(app: &TestApp, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Response {
    let mut req = app.client.request(method.clone(), app.url(&format!("/api/v1{path}")));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

async fn get(app: &TestApp, token: &str, path: &str) -> Response {
    call(app, Method::GET, path, Some(token), None).await
}

async fn put(app: &TestApp, token: &str, path: &str, body: Option<Value>) -> Response {
    call(app, Method::PUT, path, Some(token), body).await
}

async fn delete(app: &TestApp, token: &str, path: &str) -> Response {
    call(app, Method::DELETE, path, Some(token), None).await
}

/// The JSON body of a response with the expected status.
async fn body(res: Response, status: u16) -> Value {
    let what = format!("{} {}", res.status(), res.url());
    assert_eq!(res.status().as_u16(), status, "{what}");
    res.json().await.unwrap_or_else(|e| panic!("{what}: not JSON: {e}"))
}

fn role(role: &str) -> Option<Value> {
    Some(json!({ "role": role }))
}

/// Alice owns organization `acme`; returns her token (every scope).
async fn org_with_owner(app: &TestApp) -> String {
    let (_, alice) = api_user(app, "alice", "all").await;
    let res = call(
        app,
        Method::POST,
        "/organization/",
        Some(&alice),
        Some(json!({"name": "acme"})),
    )
    .await;
    assert_eq!(res.status(), 201, "creating acme");
    alice
}

/// Alice owns `acme`; bob is in its `devs` team (role member). Returns
/// (alice's token, bob's token).
async fn org_with_member(app: &TestApp) -> (String, String) {
    let alice = org_with_owner(app).await;
    let (_, bob) = api_user(app, "bob", "all").await;
    assert_eq!(
        put(app, &alice, "/organization/acme/team/devs", role("member"))
            .await
            .status(),
        200
    );
    assert_eq!(
        put(app, &alice, "/organization/acme/team/devs/members/bob", None)
            .await
            .status(),
        200
    );
    (alice, bob)
}

fn names(list: &Value, key: &str) -> Vec<String> {
    let items = list[key]
        .as_array()
        .unwrap_or_else(|| panic!("no `{key}` array in {list}"));
    items
        .iter()
        .map(|m| m["name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn refused(res: Response, status: u16) -> Value {
    let kind = match status {
        400 => "invalid_request",
        401 => "invalid_token",
        403 => "insufficient_scope",
        404 => "not_found",
        other => panic!("no Quay error type for {other}"),
    };
    assert_api_error(res, status, kind).await
}

#[actix_web::test]
async fn an_org_admin_creates_a_team_with_put_and_updates_it_with_a_second_put() {
    let app = spawn_app().await;
    let alice = org_with_owner(&app).await;
    let path = "/organization/acme/team/builders";

    let first = Some(json!({"role": "creator", "description": "Builds things"}));
    let team = body(put(&app, &alice, path, first).await, 200).await;
    assert_eq!(team["name"], "builders");
    assert_eq!(team["role"], "creator");
    assert_eq!(team["description"], "Builds things");
    assert_eq!(team["new_team"], true);
    assert_eq!(team["can_view"], true);
    assert_eq!(team["avatar"]["kind"], "team");

    let second = Some(json!({"role": "member", "description": "Reads things"}));
    let team = body(put(&app, &alice, path, second).await, 200).await;
    assert_eq!(team["role"], "member");
    assert_eq!(team["description"], "Reads things");
    assert_eq!(team["new_team"], false);

    let team = body(put(&app, &alice, path, role("admin")).await, 200).await;
    assert_eq!(team["role"], "admin");
    assert_eq!(team["description"], "Reads things", "a missing description is kept");
}

#[actix_web::test]
async fn a_team_needs_a_known_role_and_a_valid_name() {
    let app = spawn_app().await;
    let alice = org_with_owner(&app).await;
    refused(
        put(&app, &alice, "/organization/acme/team/devs", role("owner")).await,
        400,
    )
    .await;
    let no_role = Some(json!({"description": "no role"}));
    refused(put(&app, &alice, "/organization/acme/team/devs", no_role).await, 400).await;
    for bad in ["Devs", "d", "-devs", "de..vs", "devs_"] {
        let path = format!("/organization/acme/team/{bad}");
        refused(put(&app, &alice, &path, role("member")).await, 400).await;
    }
}

#[actix_web::test]
async fn team_calls_on_an_unknown_organization_are_not_found() {
    let app = spawn_app().await;
    let (_, alice) = api_user(&app, "alice", "all").await;
    refused(
        put(&app, &alice, "/organization/nothing/team/devs", role("member")).await,
        404,
    )
    .await;
    refused(get(&app, &alice, "/organization/nothing/team/devs/members").await, 404).await;
    refused(get(&app, &alice, "/organization/alice/members").await, 404).await;
}

#[actix_web::test]
async fn anonymous_callers_cannot_touch_teams_or_members() {
    let app = spawn_app().await;
    org_with_member(&app).await;
    let calls = [
        (Method::PUT, "/organization/acme/team/devs"),
        (Method::DELETE, "/organization/acme/team/devs"),
        (Method::GET, "/organization/acme/team/devs/members"),
        (Method::PUT, "/organization/acme/team/devs/members/alice"),
        (Method::DELETE, "/organization/acme/team/devs/members/bob"),
        (Method::GET, "/organization/acme/team/devs/permissions"),
        (Method::GET, "/organization/acme/members"),
        (Method::GET, "/organization/acme/members/bob"),
        (Method::DELETE, "/organization/acme/members/bob"),
    ];
    for (method, path) in calls {
        let admin = (method == Method::PUT).then(|| json!({"role": "admin"}));
        refused(call(&app, method, path, None, admin).await, 401).await;
    }
}

#[actix_web::test]
async fn a_token_without_org_admin_scope_cannot_touch_teams_even_for_an_owner() {
    let app = spawn_app().await;
    org_with_member(&app).await;
    api_user(&app, "carol", "all").await;
    let services = app.services_with_stale_age(86_400).await;
    let owner = services.account("alice").await.expect("lookup").expect("alice exists");
    let narrow = api_token(&app, &owner, "user:admin user:read repo:admin").await;
    refused(
        put(&app, &narrow, "/organization/acme/team/ops", role("member")).await,
        403,
    )
    .await;
    refused(get(&app, &narrow, "/organization/acme/team/devs/members").await, 403).await;
    refused(
        put(&app, &narrow, "/organization/acme/team/devs/members/carol", None).await,
        403,
    )
    .await;
    refused(get(&app, &narrow, "/organization/acme/members").await, 403).await;
}

#[actix_web::test]
async fn a_user_outside_the_organization_cannot_touch_its_teams() {
    let app = spawn_app().await;
    org_with_member(&app).await;
    let (_, carol) = api_user(&app, "carol", "all").await;
    refused(
        put(&app, &carol, "/organization/acme/team/devs", role("admin")).await,
        403,
    )
    .await;
    refused(delete(&app, &carol, "/organization/acme/team/devs").await, 403).await;
    refused(get(&app, &carol, "/organization/acme/team/devs/members").await, 403).await;
    refused(get(&app, &carol, "/organization/acme/team/ghosts/members").await, 403).await;
    refused(
        put(&app, &carol, "/organization/acme/team/devs/members/carol", None).await,
        403,
    )
    .await;
    refused(
        delete(&app, &carol, "/organization/acme/team/devs/members/bob").await,
        403,
    )
    .await;
    refused(get(&app, &carol, "/organization/acme/team/devs/permissions").await, 403).await;
    refused(get(&app, &carol, "/organization/acme/members").await, 403).await;
    refused(get(&app, &carol, "/organization/acme/members/bob").await, 403).await;
    refused(delete(&app, &carol, "/organization/acme/members/bob").await, 403).await;
}

#[actix_web::test]
async fn a_member_who_is_not_admin_sees_only_their_own_team_and_changes_nothing() {
    let app = spawn_app().await;
    let (_, bob) = org_with_member(&app).await;

    let own = body(get(&app, &bob, "/organization/acme/team/devs/members").await, 200).await;
    assert_eq!(names(&own, "members"), ["bob"]);
    assert_eq!(own["can_edit"], false);
    refused(get(&app, &bob, "/organization/acme/team/owners/members").await, 403).await;

    refused(
        put(&app, &bob, "/organization/acme/team/devs", role("admin")).await,
        403,
    )
    .await;
    refused(
        put(&app, &bob, "/organization/acme/team/new-team", role("member")).await,
        403,
    )
    .await;
    refused(
        put(&app, &bob, "/organization/acme/team/owners/members/bob", None).await,
        403,
    )
    .await;
    refused(
        delete(&app, &bob, "/organization/acme/team/devs/members/bob").await,
        403,
    )
    .await;
    refused(delete(&app, &bob, "/organization/acme/team/devs").await, 403).await;
    refused(get(&app, &bob, "/organization/acme/team/devs/permissions").await, 403).await;
    refused(get(&app, &bob, "/organization/acme/members").await, 403).await;
    refused(get(&app, &bob, "/organization/acme/members/bob").await, 403).await;
}

#[actix_web::test]
async fn a_superuser_with_full_access_administers_the_teams_of_any_organization() {
    let app = spawn_app_with("SUPER_USERS: [root]\nFEATURE_SUPERUSERS_FULL_ACCESS: true").await;
    org_with_owner(&app).await;
    let (_, root) = api_user(&app, "root", "all").await;
    let team = body(
        put(&app, &root, "/organization/acme/team/audit", role("member")).await,
        200,
    )
    .await;
    assert_eq!(team["new_team"], true);
    assert_eq!(
        put(&app, &root, "/organization/acme/team/audit/members/root", None)
            .await
            .status(),
        200
    );
}

#[actix_web::test]
async fn an_admin_adds_users_directly_and_lists_them() {
    let app = spawn_app().await;
    let (alice, _) = org_with_member(&app).await;
    api_user(&app, "carol", "all").await;

    let member = body(
        put(&app, &alice, "/organization/acme/team/devs/members/carol", None).await,
        200,
    )
    .await;
    assert_eq!(member["name"], "carol");
    assert_eq!(member["kind"], "user");
    assert_eq!(member["is_robot"], false);
    assert_eq!(member["invited"], false);
    assert_eq!(member["avatar"]["name"], "carol");

    let list = body(get(&app, &alice, "/organization/acme/team/devs/members").await, 200).await;
    assert_eq!(list["name"], "devs");
    assert_eq!(names(&list, "members"), ["bob", "carol"]);
    assert_eq!(list["can_edit"], true);
    let owners = body(get(&app, &alice, "/organization/acme/team/owners/members").await, 200).await;
    assert_eq!(names(&owners, "members"), ["alice"]);
}

#[actix_web::test]
async fn adding_an_unknown_user_an_organization_or_a_member_twice_is_refused() {
    let app = spawn_app().await;
    let (alice, _) = org_with_member(&app).await;
    let other = Some(json!({"name": "other"}));
    assert_eq!(
        call(&app, Method::POST, "/organization/", Some(&alice), other)
            .await
            .status(),
        201
    );

    for unknown in ["nobody", "other"] {
        let path = format!("/organization/acme/team/devs/members/{unknown}");
        let error = refused(put(&app, &alice, &path, None).await, 400).await;
        assert_eq!(error["detail"], "Unknown user");
    }
    refused(
        put(&app, &alice, "/organization/acme/team/devs/members/bob", None).await,
        400,
    )
    .await;
    refused(
        put(&app, &alice, "/organization/acme/team/ghosts/members/bob", None).await,
        404,
    )
    .await;
    refused(get(&app, &alice, "/organization/acme/team/ghosts/members").await, 404).await;
}

#[actix_web::test]
async fn robots_of_the_organization_join_its_teams_but_other_robots_do_not() {
    let app = spawn_app().await;
    let (alice, _) = org_with_member(&app).await;
    let other = Some(json!({"name": "other"}));
    assert_eq!(
        call(&app, Method::POST, "/organization/", Some(&alice), other)
            .await
            .status(),
        201
    );
    for robot in [
        "/organization/acme/robots/ci",
        "/user/robots/mine",
        "/organization/other/robots/ci",
    ] {
        assert_eq!(put(&app, &alice, robot, None).await.status(), 201, "{robot}");
    }

    let member = body(
        put(&app, &alice, "/organization/acme/team/devs/members/acme+ci", None).await,
        200,
    )
    .await;
    assert_eq!(member["name"], "acme+ci");
    assert_eq!(member["is_robot"], true);
    for foreign in ["alice+mine", "other+ci"] {
        let path = format!("/organization/acme/team/devs/members/{foreign}");
        refused(put(&app, &alice, &path, None).await, 400).await;
    }
    let list = body(get(&app, &alice, "/organization/acme/team/devs/members").await, 200).await;
    assert_eq!(names(&list, "members"), ["acme+ci", "bob"]);
}

#[actix_web::test]
async fn removing_a_team_member_takes_them_out_once() {
    let app = spawn_app().await;
    let (alice, bob) = org_with_member(&app).await;
    assert_eq!(
        delete(&app, &alice, "/organization/acme/team/devs/members/bob")
            .await
            .status(),
        204
    );
    let list = body(get(&app, &alice, "/organization/acme/team/devs/members").await, 200).await;
    assert!(names(&list, "members").is_empty(), "{list}");
    refused(get(&app, &bob, "/organization/acme/team/devs/members").await, 403).await;
    refused(
        delete(&app, &alice, "/organization/acme/team/devs/members/bob").await,
        400,
    )
    .await;
    refused(
        delete(&app, &alice, "/organization/acme/team/devs/members/nobody").await,
        404,
    )
    .await;
    refused(
        delete(&app, &alice, "/organization/acme/team/ghosts/members/bob").await,
        404,
    )
    .await;
}

#[actix_web::test]
async fn nobody_removes_themselves_from_their_only_admin_team() {
    let app = spawn_app().await;
    let (alice, bob) = org_with_member(&app).await;
    assert_eq!(
        put(&app, &alice, "/organization/acme/team/owners/members/bob", None)
            .await
            .status(),
        200
    );
    let error = refused(
        delete(&app, &alice, "/organization/acme/team/owners/members/alice").await,
        400,
    )
    .await;
    assert_eq!(
        error["detail"],
        "User cannot remove themselves from their only admin team."
    );
    // Another admin may remove her.
    assert_eq!(
        delete(&app, &bob, "/organization/acme/team/owners/members/alice")
            .await
            .status(),
        204
    );
}

#[actix_web::test]
async fn the_last_admin_team_can_be_neither_deleted_nor_demoted() {
    let app = spawn_app().await;
    let alice = org_with_owner(&app).await;
    refused(delete(&app, &alice, "/organization/acme/team/owners").await, 400).await;
    refused(
        put(&app, &alice, "/organization/acme/team/owners", role("creator")).await,
        400,
    )
    .await;
    let owners = body(get(&app, &alice, "/organization/acme/team/owners/members").await, 200).await;
    assert_eq!(names(&owners, "members"), ["alice"]);
    // Its description may still change.
    let described = Some(json!({"role": "admin", "description": "x"}));
    let team = body(
        put(&app, &alice, "/organization/acme/team/owners", described).await,
        200,
    )
    .await;
    assert_eq!(team["description"], "x");
}

#[actix_web::test]
async fn an_admin_cannot_drop_their_own_only_admin_team_but_another_admin_can() {
    let app = spawn_app().await;
    let (alice, bob) = org_with_member(&app).await;
    assert_eq!(
        put(&app, &alice, "/organization/acme/team/devs", role("admin"))
            .await
            .status(),
        200
    );

    refused(delete(&app, &alice, "/organization/acme/team/owners").await, 400).await;
    refused(
        put(&app, &alice, "/organization/acme/team/owners", role("member")).await,
        400,
    )
    .await;

    assert_eq!(delete(&app, &bob, "/organization/acme/team/owners").await.status(), 204);
    refused(get(&app, &alice, "/organization/acme/members").await, 403).await;
}

#[actix_web::test]
async fn deleting_a_team_drops_its_memberships_and_an_unknown_team_is_a_400() {
    let app = spawn_app().await;
    let (alice, bob) = org_with_member(&app).await;
    assert_eq!(delete(&app, &alice, "/organization/acme/team/devs").await.status(), 204);
    refused(get(&app, &alice, "/organization/acme/team/devs/members").await, 404).await;
    refused(get(&app, &bob, "/organization/acme/team/devs/members").await, 403).await;
    refused(get(&app, &alice, "/organization/acme/members/bob").await, 404).await;
    refused(delete(&app, &alice, "/organization/acme/team/devs").await, 400).await;
    // Recreating the name makes a new, empty team.
    let team = body(
        put(&app, &alice, "/organization/acme/team/devs", role("member")).await,
        200,
    )
    .await;
    assert_eq!(team["new_team"], true);
    let list = body(get(&app, &alice, "/organization/acme/team/devs/members").await, 200).await;
    assert!(names(&list, "members").is_empty(), "{list}");
}

#[actix_web::test]
async fn team_permissions_list_the_teams_repository_roles() {
    let app = spawn_app().await;
    let (alice, _) = org_with_member(&app).await;
    let path = "/organization/acme/team/devs/permissions";
    assert_eq!(
        body(get(&app, &alice, path).await, 200).await,
        json!({"permissions": []})
    );

    grant_role(&app, "acme/api", Grantee::Team("devs"), "write").await;
    grant_role(&app, "acme/web", Grantee::Team("devs"), "read").await;
    grant_role(&app, "acme/web", Grantee::Account("bob"), "admin").await;
    let expected = json!({"permissions": [
        {"repository": {"name": "api", "is_public": false}, "role": "write"},
        {"repository": {"name": "web", "is_public": false}, "role": "read"},
    ]});
    assert_eq!(body(get(&app, &alice, path).await, 200).await, expected);
    refused(
        get(&app, &alice, "/organization/acme/team/ghosts/permissions").await,
        404,
    )
    .await;
}

#[actix_web::test]
async fn organization_members_are_the_users_of_its_teams_without_robots() {
    let app = spawn_app().await;
    let (alice, _) = org_with_member(&app).await;
    api_user(&app, "carol", "all").await;
    assert_eq!(
        put(&app, &alice, "/organization/acme/team/owners/members/bob", None)
            .await
            .status(),
        200
    );
    assert_eq!(
        put(&app, &alice, "/organization/acme/robots/ci", None).await.status(),
        201
    );
    assert_eq!(
        put(&app, &alice, "/organization/acme/team/devs/members/acme+ci", None)
            .await
            .status(),
        200
    );
    grant_role(&app, "acme/api", Grantee::Account("bob"), "write").await;

    let list = body(get(&app, &alice, "/organization/acme/members").await, 200).await;
    assert_eq!(
        names(&list, "members"),
        ["alice", "bob"],
        "carol is in no team; robots are not listed"
    );
    let bob = &list["members"][1];
    assert_eq!(bob["kind"], "user");
    assert_eq!(bob["avatar"]["name"], "bob");
    assert_eq!(names(bob, "teams"), ["devs", "owners"]);
    assert_eq!(bob["teams"][0]["avatar"]["kind"], "team");
    assert_eq!(bob["repositories"], json!(["api"]));
    assert_eq!(list["members"][0]["repositories"], json!([]));
}

#[actix_web::test]
async fn one_member_is_shown_and_robots_of_the_org_count_as_members() {
    let app = spawn_app().await;
    let (alice, _) = org_with_member(&app).await;
    api_user(&app, "carol", "all").await;
    assert_eq!(
        put(&app, &alice, "/organization/acme/robots/ci", None).await.status(),
        201
    );

    let bob = body(get(&app, &alice, "/organization/acme/members/bob").await, 200).await;
    assert_eq!(bob["name"], "bob");
    assert_eq!(bob["kind"], "user");
    assert_eq!(names(&bob, "teams"), ["devs"]);
    let robot = body(get(&app, &alice, "/organization/acme/members/acme+ci").await, 200).await;
    assert_eq!(robot["kind"], "robot");
    assert_eq!(robot["teams"], json!([]));
    for outsider in ["carol", "nobody", "acme"] {
        refused(
            get(&app, &alice, &format!("/organization/acme/members/{outsider}")).await,
            404,
        )
        .await;
    }
}

#[actix_web::test]
async fn removing_an_organization_member_drops_all_their_teams_and_direct_roles() {
    let app = spawn_app().await;
    let (alice, bob) = org_with_member(&app).await;
    assert_eq!(
        put(&app, &alice, "/organization/acme/team/qa", role("member"))
            .await
            .status(),
        200
    );
    assert_eq!(
        put(&app, &alice, "/organization/acme/team/qa/members/bob", None)
            .await
            .status(),
        200
    );
    grant_role(&app, "acme/api", Grantee::Account("bob"), "write").await;

    assert_eq!(
        delete(&app, &alice, "/organization/acme/members/bob").await.status(),
        204
    );
    refused(get(&app, &alice, "/organization/acme/members/bob").await, 404).await;
    for team in ["devs", "qa"] {
        refused(
            get(&app, &bob, &format!("/organization/acme/team/{team}/members")).await,
            403,
        )
        .await;
    }
    // Re-adding bob shows no leftover direct role.
    assert_eq!(
        put(&app, &alice, "/organization/acme/team/qa/members/bob", None)
            .await
            .status(),
        200
    );
    let again = body(get(&app, &alice, "/organization/acme/members/bob").await, 200).await;
    assert_eq!(again["repositories"], json!([]));
}

#[actix_web::test]
async fn the_only_organization_admin_cannot_be_removed_from_the_organization() {
    let app = spawn_app().await;
    let alice = org_with_owner(&app).await;
    let error = refused(delete(&app, &alice, "/organization/acme/members/alice").await, 400).await;
    assert_eq!(
        error["detail"],
        "Cannot remove user as they are the only organization admin"
    );
    refused(delete(&app, &alice, "/organization/acme/members/nobody").await, 404).await;
}

#[actix_web::test]
async fn a_superuser_without_full_access_cannot_administer_other_organizations_teams() {
    let app = spawn_app_with("SUPER_USERS: [root]").await;
    org_with_owner(&app).await;
    let (_, root) = api_user(&app, "root", "all").await;
    let res = put(&app, &root, "/organization/acme/team/audit", role("member")).await;
    assert_eq!(res.status(), 403);
}

/// Alice owns `acme`; `root` is a superuser with full access (an org admin
/// without being in any of its teams). Returns (alice's token, root's token).
async fn org_with_superuser(app: &TestApp) -> (String, String) {
    let alice = org_with_owner(app).await;
    let (_, root) = api_user(app, "root", "all").await;
    (alice, root)
}

#[actix_web::test]
async fn not_even_a_superuser_removes_the_last_admin_user_of_an_organization() {
    let app = spawn_app_with("SUPER_USERS: [root]\nFEATURE_SUPERUSERS_FULL_ACCESS: true").await;
    let (alice, root) = org_with_superuser(&app).await;
    let only_admin = "Cannot remove user as they are the only organization admin";
    let error = refused(
        delete(&app, &root, "/organization/acme/team/owners/members/alice").await,
        400,
    )
    .await;
    assert_eq!(error["detail"], only_admin);
    let error = refused(delete(&app, &root, "/organization/acme/members/alice").await, 400).await;
    assert_eq!(error["detail"], only_admin);
    let owners = body(get(&app, &alice, "/organization/acme/team/owners/members").await, 200).await;
    assert_eq!(names(&owners, "members"), ["alice"]);
}

#[actix_web::test]
async fn a_robot_in_the_admin_team_does_not_count_as_an_admin() {
    let app = spawn_app_with("SUPER_USERS: [root]\nFEATURE_SUPERUSERS_FULL_ACCESS: true").await;
    let (alice, root) = org_with_superuser(&app).await;
    assert_eq!(
        put(&app, &alice, "/organization/acme/robots/ci", None).await.status(),
        201
    );
    assert_eq!(
        put(&app, &alice, "/organization/acme/team/owners/members/acme+ci", None)
            .await
            .status(),
        200
    );
    refused(
        delete(&app, &alice, "/organization/acme/team/owners/members/alice").await,
        400,
    )
    .await;
    refused(
        delete(&app, &root, "/organization/acme/team/owners/members/alice").await,
        400,
    )
    .await;
    // The robot itself may leave.
    assert_eq!(
        delete(&app, &alice, "/organization/acme/team/owners/members/acme+ci")
            .await
            .status(),
        204
    );
}

#[actix_web::test]
async fn an_admin_team_cannot_be_dropped_while_no_other_admin_team_has_a_user() {
    let app = spawn_app_with("SUPER_USERS: [root]\nFEATURE_SUPERUSERS_FULL_ACCESS: true").await;
    let (alice, root) = org_with_superuser(&app).await;
    api_user(&app, "bob", "all").await;
    assert_eq!(
        put(&app, &alice, "/organization/acme/team/admins", role("admin"))
            .await
            .status(),
        200
    );

    let error = refused(delete(&app, &root, "/organization/acme/team/owners").await, 400).await;
    assert!(
        error["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("no other admin team"),
        "{error}"
    );
    refused(
        put(&app, &root, "/organization/acme/team/owners", role("member")).await,
        400,
    )
    .await;
    refused(delete(&app, &alice, "/organization/acme/team/owners").await, 400).await;

    assert_eq!(
        put(&app, &alice, "/organization/acme/team/admins/members/bob", None)
            .await
            .status(),
        200
    );
    assert_eq!(
        delete(&app, &root, "/organization/acme/team/owners").await.status(),
        204
    );
}
