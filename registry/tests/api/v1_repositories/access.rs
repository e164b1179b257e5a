//! Who may read, change and administer a repository: anonymous callers,
//! other users, read/write grants, teams, org admins, token scopes and
//! superusers.

use serde_json::json;

use super::new_repo;
use crate::helpers::RepoFixture;

#[actix_web::test]
async fn superusers_create_anywhere_only_with_full_access() {
    for (full_access, expected) in [(true, 201), (false, 403)] {
        let f = RepoFixture::with_config(&format!(
            "SUPER_USERS: [root]\nFEATURE_SUPERUSERS_FULL_ACCESS: {full_access}\n"
        ))
        .await;
        let (_, root) = f.user("root").await;
        let (_, alice) = f.user("alice").await;
        f.create_repo(&alice, "alice", "private-app", "private").await;
        let mut body = new_repo("app", "private");
        body["namespace"] = json!("alice");
        assert_eq!(f.call("POST", "/repository", Some(&root), Some(body)).await.0, expected);
        let read = f
            .call("GET", "/repository/alice/private-app", Some(&root), None)
            .await
            .0;
        assert_eq!(read, if full_access { 200 } else { 403 });
    }
}

#[actix_web::test]
async fn anonymous_callers_read_public_repositories_only() {
    let f = RepoFixture::new().await;
    let (_, alice) = f.user("alice").await;
    f.create_repo(&alice, "alice", "open", "public").await;
    f.create_repo(&alice, "alice", "closed", "private").await;
    let (status, view) = f.call("GET", "/repository/alice/open", None, None).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(
        (view["can_write"].clone(), view["can_admin"].clone()),
        (json!(false), json!(false))
    );
    let (status, body) = f.call("GET", "/repository/alice/closed", None, None).await;
    assert_eq!((status, body["error_type"].clone()), (401, json!("invalid_token")));
    assert_eq!(f.call("GET", "/repository/alice/missing", None, None).await.0, 401);
    let change = json!({"description": "vandalism"});
    assert_eq!(f.call("PUT", "/repository/alice/open", None, Some(change)).await.0, 401);
    assert_eq!(f.call("DELETE", "/repository/alice/open", None, None).await.0, 401);
}

#[actix_web::test]
async fn missing_repositories_are_404_only_for_those_who_administer_the_namespace() {
    let f = RepoFixture::new().await;
    let (_, alice) = f.user("alice").await;
    let (_, bob) = f.user("bob").await;
    f.create_repo(&alice, "alice", "closed", "private").await;
    assert_eq!(
        f.call("GET", "/repository/alice/missing", Some(&alice), None).await.0,
        404
    );
    assert_eq!(
        f.call("DELETE", "/repository/alice/missing", Some(&alice), None)
            .await
            .0,
        404
    );
    // Others cannot tell a missing repository from a private one.
    assert_eq!(
        f.call("GET", "/repository/alice/missing", Some(&bob), None).await.0,
        403
    );
    assert_eq!(f.call("GET", "/repository/alice/closed", Some(&bob), None).await.0, 403);
    assert_eq!(
        f.call("GET", "/repository/alice/bad%20name", Some(&alice), None)
            .await
            .0,
        400
    );
}

#[actix_web::test]
async fn a_read_grant_allows_reading_only() {
    let f = RepoFixture::new().await;
    let (_, alice) = f.user("alice").await;
    let (_, bob) = f.user("bob").await;
    f.create_repo(&alice, "alice", "app", "private").await;
    let grant = json!({"role": "read"});
    let (status, _) = f
        .call(
            "PUT",
            "/repository/alice/app/permissions/user/bob",
            Some(&alice),
            Some(grant),
        )
        .await;
    assert_eq!(status, 200);
    let (status, view) = f.call("GET", "/repository/alice/app", Some(&bob), None).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(
        (view["can_write"].clone(), view["can_admin"].clone()),
        (json!(false), json!(false))
    );
    let change = json!({"description": "mine now"});
    assert_eq!(
        f.call("PUT", "/repository/alice/app", Some(&bob), Some(change)).await.0,
        403
    );
    let public = json!({"visibility": "public"});
    let path = "/repository/alice/app/changevisibility";
    assert_eq!(f.call("POST", path, Some(&bob), Some(public)).await.0, 403);
    assert_eq!(f.call("DELETE", "/repository/alice/app", Some(&bob), None).await.0, 403);
}

#[actix_web::test]
async fn a_write_grant_allows_changing_the_description_but_not_admin_actions() {
    let f = RepoFixture::new().await;
    let (_, alice) = f.user("alice").await;
    let (_, bob) = f.user("bob").await;
    f.create_repo(&alice, "alice", "app", "private").await;
    let grant = json!({"role": "write"});
    f.call(
        "PUT",
        "/repository/alice/app/permissions/user/bob",
        Some(&alice),
        Some(grant),
    )
    .await;
    let change = json!({"description": "better words"});
    let (status, body) = f.call("PUT", "/repository/alice/app", Some(&bob), Some(change)).await;
    assert_eq!((status, body), (200, json!({"success": true})));
    let (_, view) = f.call("GET", "/repository/alice/app", Some(&bob), None).await;
    assert_eq!(view["description"], "better words");
    assert_eq!(
        (view["can_write"].clone(), view["can_admin"].clone()),
        (json!(true), json!(false))
    );
    let public = json!({"visibility": "public"});
    let path = "/repository/alice/app/changevisibility";
    assert_eq!(f.call("POST", path, Some(&bob), Some(public)).await.0, 403);
    assert_eq!(f.call("DELETE", "/repository/alice/app", Some(&bob), None).await.0, 403);
}

#[actix_web::test]
async fn team_roles_reach_team_members_only() {
    let f = RepoFixture::new().await;
    let (owner, owner_token) = f.user("owner").await;
    let (_, bob) = f.user("bob").await;
    let (_, carol) = f.user("carol").await;
    let org = f.org(&owner, "acme").await;
    f.team(&owner, &org, "devs", "member", &["bob"]).await;
    f.team(&owner, &org, "others", "member", &["carol"]).await;
    f.create_repo(&owner_token, "acme", "app", "private").await;
    let path = "/repository/acme/app/permissions/team/devs";
    assert_eq!(
        f.call("PUT", path, Some(&owner_token), Some(json!({"role": "write"})))
            .await
            .0,
        200
    );
    let change = json!({"description": "by the devs"});
    let (status, _) = f
        .call("PUT", "/repository/acme/app", Some(&bob), Some(change.clone()))
        .await;
    assert_eq!(status, 200);
    assert_eq!(f.call("DELETE", "/repository/acme/app", Some(&bob), None).await.0, 403);
    assert_eq!(
        f.call("PUT", "/repository/acme/app", Some(&carol), Some(change))
            .await
            .0,
        403
    );
    assert_eq!(f.call("GET", "/repository/acme/app", Some(&carol), None).await.0, 403);
}

#[actix_web::test]
async fn org_admins_administer_every_repository_of_the_org() {
    let f = RepoFixture::new().await;
    let (owner, owner_token) = f.user("owner").await;
    let (_, admin) = f.user("admin").await;
    let org = f.org(&owner, "acme").await;
    f.team(&owner, &org, "admins", "admin", &["admin"]).await;
    f.create_repo(&owner_token, "acme", "app", "private").await;
    let (_, view) = f.call("GET", "/repository/acme/app", Some(&admin), None).await;
    assert_eq!(view["can_admin"], true, "{view}");
    assert_eq!(
        f.call("DELETE", "/repository/acme/app", Some(&admin), None).await.0,
        204
    );
}

#[actix_web::test]
async fn token_scopes_cap_what_even_the_owner_may_do() {
    let f = RepoFixture::new().await;
    let (user, alice) = f.user("alice").await;
    f.create_repo(&alice, "alice", "closed", "private").await;
    f.create_repo(&alice, "alice", "open", "public").await;
    let read = f.token(&user, "repo:read").await;
    let (status, view) = f.call("GET", "/repository/alice/closed", Some(&read), None).await;
    assert_eq!(status, 200);
    assert_eq!(
        (view["can_write"].clone(), view["can_admin"].clone()),
        (json!(false), json!(false))
    );
    let change = json!({"description": "x"});
    assert_eq!(
        f.call("PUT", "/repository/alice/closed", Some(&read), Some(change.clone()))
            .await
            .0,
        403
    );
    let write = f.token(&user, "repo:write").await;
    assert_eq!(
        f.call("PUT", "/repository/alice/closed", Some(&write), Some(change))
            .await
            .0,
        200
    );
    assert_eq!(
        f.call("DELETE", "/repository/alice/closed", Some(&write), None).await.0,
        403
    );
    let unrelated = f.token(&user, "user:read").await;
    assert_eq!(
        f.call("GET", "/repository/alice/closed", Some(&unrelated), None)
            .await
            .0,
        403
    );
    assert_eq!(
        f.call("GET", "/repository/alice/open", Some(&unrelated), None).await.0,
        200
    );
}
