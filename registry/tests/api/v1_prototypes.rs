//! Default permissions (`/api/v1/organization/{org}/prototypes`,
//! quay-api.md §1.3): managing them, who may, and the roles they grant on
//! repositories created afterwards through the API or by a push.

use serde_json::{json, Value};

use crate::helpers::{random_bytes, sha256, RepoFixture};

const PROTOTYPES: &str = "/organization/acme/prototypes";

/// `owner` owns organization `acme` with team `readers` (carol) and team
/// `creators` (dave, may create repositories); bob, eve and frank are in
/// no team. Tokens carry every scope.
struct Org {
    f: RepoFixture,
    owner: String,
    carol: String,
    dave: String,
    owner_account: registry::db::models::Account,
    org: registry::db::models::Account,
}

async fn org() -> Org {
    let f = RepoFixture::new().await;
    let (owner_account, owner) = f.user("owner").await;
    let (_, carol) = f.user("carol").await;
    let (_, dave) = f.user("dave").await;
    for name in ["bob", "eve", "frank"] {
        f.user(name).await;
    }
    let org = f.org(&owner_account, "acme").await;
    f.team(&owner_account, &org, "readers", "member", &["carol"]).await;
    f.team(&owner_account, &org, "creators", "creator", &["dave"]).await;
    Org {
        f,
        owner,
        carol,
        dave,
        owner_account,
        org,
    }
}

fn prototype(role: &str, kind: &str, name: &str) -> Value {
    json!({"role": role, "delegate": {"name": name, "kind": kind}})
}

/// Creates a prototype as `token`; panics unless 200. Returns its view.
async fn create(f: &RepoFixture, token: &str, body: Value) -> Value {
    let (status, view) = f.call("POST", PROTOTYPES, Some(token), Some(body.clone())).await;
    assert_eq!(status, 200, "creating prototype {body}: {view}");
    view
}

/// Whether `user` (password `password123`) may list the tags of `repo`.
async fn can_pull(f: &RepoFixture, user: &str, repo: &str) -> bool {
    let res = f
        .app
        .client
        .get(f.app.url(&format!("/v2/{repo}/tags/list")))
        .basic_auth(user, Some("password123"))
        .send()
        .await
        .expect("GET tags");
    res.status() == 200
}

/// Whether `user` may upload a blob to `repo` (creating it if allowed).
async fn can_push(f: &RepoFixture, user: &str, repo: &str) -> bool {
    let data = random_bytes(64);
    let res = f
        .app
        .client
        .post(
            f.app
                .url(&format!("/v2/{repo}/blobs/uploads/?digest={}", sha256(&data))),
        )
        .basic_auth(user, Some("password123"))
        .header("Content-Type", "application/octet-stream")
        .body(data)
        .send()
        .await
        .expect("POST blob");
    res.status() == 201
}

/// The direct user roles and team roles on `repo`, by name.
async fn grants(f: &RepoFixture, token: &str, repo: &str) -> (Value, Value) {
    let users = f
        .call(
            "GET",
            &format!("/repository/{repo}/permissions/user/"),
            Some(token),
            None,
        )
        .await;
    let teams = f
        .call(
            "GET",
            &format!("/repository/{repo}/permissions/team/"),
            Some(token),
            None,
        )
        .await;
    assert_eq!((users.0, teams.0), (200, 200), "{users:?} {teams:?}");
    (users.1["permissions"].clone(), teams.1["permissions"].clone())
}

#[actix_web::test]
async fn an_org_admin_creates_lists_changes_and_deletes_default_permissions() {
    let Org { f, owner, org, .. } = org().await;
    f.robot(&org, "ci").await;

    let bob = create(&f, &owner, prototype("write", "user", "bob")).await;
    assert!(!bob["id"].as_str().unwrap_or_default().is_empty(), "{bob}");
    assert_eq!(bob["role"], "write");
    assert_eq!(bob["activating_user"], Value::Null);
    let delegate = &bob["delegate"];
    assert_eq!(
        (
            &delegate["name"],
            &delegate["kind"],
            &delegate["is_robot"],
            &delegate["is_org_member"]
        ),
        (&json!("bob"), &json!("user"), &json!(false), &json!(false))
    );
    assert_eq!(delegate["avatar"]["name"], "bob");

    let mut for_dave = prototype("read", "team", "readers");
    for_dave["activating_user"] = json!({"name": "dave"});
    let team = create(&f, &owner, for_dave).await;
    assert_eq!(team["delegate"]["name"], "readers");
    assert_eq!(team["delegate"]["kind"], "team");
    assert_eq!(team["delegate"]["avatar"]["kind"], "team");
    assert_eq!(team["activating_user"]["name"], "dave");
    assert_eq!(team["activating_user"]["is_org_member"], true);

    let robot = create(&f, &owner, prototype("admin", "user", "acme+ci")).await;
    assert_eq!(robot["delegate"]["is_robot"], true);
    assert_eq!(robot["delegate"]["is_org_member"], true);

    let (status, list) = f.call("GET", PROTOTYPES, Some(&owner), None).await;
    assert_eq!(status, 200);
    assert_eq!(list, json!({"prototypes": [bob.clone(), team.clone(), robot.clone()]}));

    let one = format!("{PROTOTYPES}/{}", bob["id"].as_str().unwrap_or_default());
    let (status, changed) = f.call("PUT", &one, Some(&owner), Some(json!({"role": "admin"}))).await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["role"], "admin");
    assert_eq!(changed["delegate"], bob["delegate"], "only the role changes");

    assert_eq!(f.call("DELETE", &one, Some(&owner), None).await.0, 204);
    let (_, list) = f.call("GET", PROTOTYPES, Some(&owner), None).await;
    assert_eq!(list, json!({"prototypes": [team, robot]}));
    assert_eq!(f.call("DELETE", &one, Some(&owner), None).await.0, 404);
    let role = Some(json!({"role": "read"}));
    assert_eq!(f.call("PUT", &one, Some(&owner), role).await.0, 404);
}

#[actix_web::test]
async fn prototypes_refuse_bad_roles_unknown_delegates_and_foreign_robots() {
    let Org {
        f,
        owner,
        owner_account,
        ..
    } = org().await;
    let other = f.org(&owner_account, "other").await;
    f.team(&owner_account, &other, "outsiders", "member", &[]).await;
    f.robot(&other, "ci").await;
    f.robot(&owner_account, "mine").await;

    let mut unknown_activator = prototype("read", "user", "bob");
    unknown_activator["activating_user"] = json!({"name": "nobody"});
    for body in [
        prototype("owner", "user", "bob"),
        prototype("read", "group", "bob"),
        prototype("read", "user", "nobody"),
        prototype("read", "user", "other"),
        prototype("read", "user", "other+ci"),
        prototype("read", "user", "owner+mine"),
        prototype("read", "team", "ghosts"),
        prototype("read", "team", "outsiders"),
        unknown_activator,
        json!({"role": "read"}),
        json!({"delegate": {"name": "bob", "kind": "user"}}),
    ] {
        let (status, error) = f.call("POST", PROTOTYPES, Some(&owner), Some(body.clone())).await;
        assert_eq!(status, 400, "{body}: {error}");
        assert_eq!(error["error_type"], "invalid_request", "{body}: {error}");
    }
    let (_, list) = f.call("GET", PROTOTYPES, Some(&owner), None).await;
    assert_eq!(list, json!({"prototypes": []}));

    let made = create(&f, &owner, prototype("read", "user", "bob")).await;
    let one = format!("{PROTOTYPES}/{}", made["id"].as_str().unwrap_or_default());
    let bad = Some(json!({"role": "owner"}));
    assert_eq!(f.call("PUT", &one, Some(&owner), bad).await.0, 400);
}

#[actix_web::test]
async fn only_org_admins_may_see_or_change_prototypes() {
    let Org {
        f,
        owner,
        carol,
        owner_account,
        ..
    } = org().await;
    let made = create(&f, &owner, prototype("read", "user", "bob")).await;
    let one = format!("{PROTOTYPES}/{}", made["id"].as_str().unwrap_or_default());
    let body = || Some(prototype("admin", "user", "carol"));
    let role = || Some(json!({"role": "admin"}));
    let (_, outsider) = f.user("mallory").await;
    let no_scope = f.token(&owner_account, "repo:admin user:admin").await;

    for token in [carol.as_str(), outsider.as_str(), no_scope.as_str()] {
        assert_eq!(f.call("GET", PROTOTYPES, Some(token), None).await.0, 403);
        assert_eq!(f.call("POST", PROTOTYPES, Some(token), body()).await.0, 403);
        assert_eq!(f.call("PUT", &one, Some(token), role()).await.0, 403);
        assert_eq!(f.call("DELETE", &one, Some(token), None).await.0, 403);
    }
    assert_eq!(f.call("GET", PROTOTYPES, None, None).await.0, 401);
    assert_eq!(f.call("POST", PROTOTYPES, None, body()).await.0, 401);
    assert_eq!(f.call("PUT", &one, None, role()).await.0, 401);
    assert_eq!(f.call("DELETE", &one, None, None).await.0, 401);
    let ghost = "/organization/ghost/prototypes";
    assert_eq!(f.call("GET", ghost, Some(&owner), None).await.0, 404);

    let (_, list) = f.call("GET", PROTOTYPES, Some(&owner), None).await;
    assert_eq!(list["prototypes"], json!([made]), "nothing changed");
}

#[actix_web::test]
async fn a_repository_created_through_the_api_gets_the_default_permissions() {
    let Org { f, owner, dave, .. } = org().await;
    create(&f, &owner, prototype("read", "team", "readers")).await;
    create(&f, &owner, prototype("write", "user", "bob")).await;
    let mut only_for_owner = prototype("admin", "user", "eve");
    only_for_owner["activating_user"] = json!({"name": "owner"});
    create(&f, &owner, only_for_owner).await;
    let mut only_for_dave = prototype("write", "user", "frank");
    only_for_dave["activating_user"] = json!({"name": "dave"});
    create(&f, &owner, only_for_dave).await;

    f.create_repo(&dave, "acme", "app", "private").await;
    let (users, teams) = grants(&f, &owner, "acme/app").await;
    assert_eq!(users["bob"]["role"], "write", "{users}");
    assert_eq!(users["frank"]["role"], "write", "dave's own prototype applies: {users}");
    assert_eq!(users["dave"]["role"], "admin", "the creator stays admin: {users}");
    assert!(users.get("eve").is_none(), "only when the owner creates: {users}");
    assert_eq!(teams["readers"]["role"], "read", "{teams}");

    assert!(can_pull(&f, "carol", "acme/app").await, "readers may pull");
    assert!(!can_push(&f, "carol", "acme/app").await, "readers may not push");
    assert!(can_push(&f, "bob", "acme/app").await, "bob may push");
    assert!(can_push(&f, "frank", "acme/app").await, "frank may push");
    assert!(!can_pull(&f, "eve", "acme/app").await, "eve got nothing");
}

#[actix_web::test]
async fn a_repository_created_by_a_push_gets_the_default_permissions() {
    let Org { f, owner, .. } = org().await;
    create(&f, &owner, prototype("read", "team", "readers")).await;
    let mut for_dave = prototype("write", "user", "eve");
    for_dave["activating_user"] = json!({"name": "dave"});
    create(&f, &owner, for_dave).await;
    let mut for_owner = prototype("write", "user", "frank");
    for_owner["activating_user"] = json!({"name": "owner"});
    create(&f, &owner, for_owner).await;

    assert!(!can_pull(&f, "carol", "acme/pushed").await, "nothing exists yet");
    assert!(
        can_push(&f, "dave", "acme/pushed").await,
        "a creator pushes a new repository"
    );
    assert!(can_pull(&f, "carol", "acme/pushed").await, "readers may pull");
    assert!(!can_push(&f, "carol", "acme/pushed").await, "readers may not push");
    assert!(
        can_push(&f, "eve", "acme/pushed").await,
        "eve may push what dave created"
    );
    assert!(
        !can_pull(&f, "frank", "acme/pushed").await,
        "frank's prototype is for the owner"
    );
    let (users, teams) = grants(&f, &owner, "acme/pushed").await;
    assert_eq!(users["dave"]["role"], "admin", "{users}");
    assert_eq!(users["eve"]["role"], "write", "{users}");
    assert_eq!(teams["readers"]["role"], "read", "{teams}");

    // A second push into the existing repository applies nothing again.
    let mut later = prototype("admin", "user", "bob");
    later["activating_user"] = json!({"name": "dave"});
    create(&f, &owner, later).await;
    assert!(can_push(&f, "dave", "acme/pushed").await);
    assert!(
        !can_pull(&f, "bob", "acme/pushed").await,
        "prototypes act on creation only"
    );
}

#[actix_web::test]
async fn deleting_the_delegate_team_or_robot_removes_its_prototypes() {
    let Org { f, owner, org, .. } = org().await;
    f.robot(&org, "ci").await;
    create(&f, &owner, prototype("read", "team", "readers")).await;
    create(&f, &owner, prototype("write", "user", "acme+ci")).await;
    create(&f, &owner, prototype("write", "user", "bob")).await;

    assert_eq!(
        f.call("DELETE", "/organization/acme/team/readers", Some(&owner), None)
            .await
            .0,
        204
    );
    assert_eq!(
        f.call("DELETE", "/organization/acme/robots/ci", Some(&owner), None)
            .await
            .0,
        204
    );
    let (_, list) = f.call("GET", PROTOTYPES, Some(&owner), None).await;
    let names: Vec<&str> = list["prototypes"]
        .as_array()
        .map(|l| l.iter().filter_map(|p| p["delegate"]["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, ["bob"]);
}
