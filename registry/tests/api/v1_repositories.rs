//! `/api/v1/repository…`: create, list, view, describe, delete and change
//! visibility (quay-api.md §1.6, names §2.2), with the refused case of
//! every permission rule.

use serde_json::{json, Value};

use crate::helpers::RepoFixture;

mod access;
mod listing;

fn new_repo(name: &str, visibility: &str) -> Value {
    json!({"repository": name, "visibility": visibility, "description": "about it"})
}

fn names(list: &Value) -> Vec<String> {
    let mut v: Vec<String> = list["repositories"]
        .as_array()
        .unwrap_or_else(|| panic!("no repositories in {list}"))
        .iter()
        .map(|r| {
            format!(
                "{}/{}",
                r["namespace"].as_str().unwrap_or(""),
                r["name"].as_str().unwrap_or("")
            )
        })
        .collect();
    v.sort();
    v
}

#[actix_web::test]
async fn a_user_creates_a_repository_in_their_own_namespace() {
    let f = RepoFixture::new().await;
    let (_, alice) = f.user("alice").await;
    let (status, body) = f
        .call("POST", "/repository", Some(&alice), Some(new_repo("app", "private")))
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body, json!({"namespace": "alice", "name": "app", "kind": "image"}));

    let (status, view) = f.call("GET", "/repository/alice/app", Some(&alice), None).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["description"], "about it");
    assert_eq!(view["is_public"], false);
    assert_eq!(view["is_organization"], false);
    assert_eq!(view["state"], "NORMAL");
    assert_eq!(view["kind"], "image");
    assert_eq!(
        (view["can_write"].clone(), view["can_admin"].clone()),
        (json!(true), json!(true))
    );
    assert_eq!(view["tags"], json!({}));
    // The owner is admin by ownership; no grant row is needed.
    let (_, perms) = f
        .call("GET", "/repository/alice/app/permissions/user/", Some(&alice), None)
        .await;
    assert_eq!(perms, json!({"permissions": {}}));
}

#[actix_web::test]
async fn creating_an_existing_repository_is_refused() {
    let f = RepoFixture::new().await;
    let (_, alice) = f.user("alice").await;
    f.create_repo(&alice, "alice", "app", "private").await;
    let (status, body) = f
        .call("POST", "/repository", Some(&alice), Some(new_repo("app", "public")))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["detail"], "Repository already exists");
}

#[actix_web::test]
async fn bad_repository_names_are_refused_and_nested_ones_accepted() {
    let f = RepoFixture::new().await;
    let (_, alice) = f.user("alice").await;
    for bad in [
        "UPPER",
        "-lead",
        "a//b",
        "a b",
        "a/",
        "",
        "x+deleted+1",
        &"x".repeat(256),
    ] {
        let (status, body) = f
            .call("POST", "/repository", Some(&alice), Some(new_repo(bad, "private")))
            .await;
        assert_eq!(status, 400, "{bad:?}: {body}");
        assert_eq!(body["detail"], "Invalid repository name", "{bad:?}");
    }
    f.create_repo(&alice, "alice", "team/app", "private").await;
    let (status, view) = f.call("GET", "/repository/alice/team/app", Some(&alice), None).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["name"], "team/app");
}

#[actix_web::test]
async fn bad_visibility_and_unknown_kinds_are_refused() {
    let f = RepoFixture::new().await;
    let (_, alice) = f.user("alice").await;
    let (status, _) = f
        .call("POST", "/repository", Some(&alice), Some(new_repo("app", "secret")))
        .await;
    assert_eq!(status, 400);
    let mut body = new_repo("app", "private");
    body["repo_kind"] = json!("application");
    assert_eq!(f.call("POST", "/repository", Some(&alice), Some(body)).await.0, 400);
    let (status, _) = f
        .call(
            "POST",
            "/repository",
            Some(&alice),
            Some(json!({"repository": "app", "visibility": "private"})),
        )
        .await;
    assert_eq!(status, 400, "description is required");
}

#[actix_web::test]
async fn creating_needs_a_signed_in_caller_with_the_repo_create_scope() {
    let f = RepoFixture::new().await;
    let (user, _) = f.user("alice").await;
    let read_only = f.token(&user, "repo:read repo:write repo:admin").await;
    let (status, body) = f
        .call("POST", "/repository", None, Some(new_repo("app", "private")))
        .await;
    assert_eq!((status, body["error_type"].clone()), (401, json!("invalid_token")));
    let (status, body) = f
        .call(
            "POST",
            "/repository",
            Some(&read_only),
            Some(new_repo("app", "private")),
        )
        .await;
    assert_eq!((status, body["error_type"].clone()), (403, json!("insufficient_scope")));
}

#[actix_web::test]
async fn nobody_creates_in_another_users_namespace() {
    let f = RepoFixture::new().await;
    let (_, _alice) = f.user("alice").await;
    let (_, bob) = f.user("bob").await;
    let mut body = new_repo("app", "private");
    body["namespace"] = json!("alice");
    assert_eq!(
        f.call("POST", "/repository", Some(&bob), Some(body.clone())).await.0,
        403
    );
    body["namespace"] = json!("ghost");
    assert_eq!(f.call("POST", "/repository", Some(&bob), Some(body)).await.0, 403);
}

#[actix_web::test]
async fn org_creators_create_and_get_a_direct_admin_grant_but_members_cannot() {
    let f = RepoFixture::new().await;
    let (owner, _) = f.user("owner").await;
    let (_, bob) = f.user("bob").await;
    let (_, carol) = f.user("carol").await;
    let org = f.org(&owner, "acme").await;
    f.team(&owner, &org, "builders", "creator", &["bob"]).await;
    f.team(&owner, &org, "readers", "member", &["carol"]).await;
    let mut body = new_repo("app", "private");
    body["namespace"] = json!("acme");

    assert_eq!(
        f.call("POST", "/repository", Some(&carol), Some(body.clone())).await.0,
        403
    );
    let (status, created) = f.call("POST", "/repository", Some(&bob), Some(body)).await;
    assert_eq!(status, 201, "{created}");
    let (status, view) = f.call("GET", "/repository/acme/app", Some(&bob), None).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(
        (view["is_organization"].clone(), view["can_admin"].clone()),
        (json!(true), json!(true))
    );
    let (_, perms) = f
        .call("GET", "/repository/acme/app/permissions/user/", Some(&bob), None)
        .await;
    assert_eq!(perms["permissions"]["bob"]["role"], "admin", "{perms}");
    assert_eq!(f.call("GET", "/repository/acme/app", Some(&carol), None).await.0, 403);
}

#[actix_web::test]
async fn the_view_lists_alive_tags_with_digest_size_and_dates() {
    let f = RepoFixture::new().await;
    let (_, alice) = f.user("alice").await;
    f.create_repo(&alice, "alice", "app", "private").await;
    let v1 = f.push_tag("alice/app", "v1").await;
    let latest = f.push_tag("alice/app", "latest").await;
    let (status, view) = f.call("GET", "/repository/alice/app", Some(&alice), None).await;
    assert_eq!(status, 200, "{view}");
    let tags = view["tags"].as_object().expect("tags map");
    assert_eq!(tags.len(), 2, "{view}");
    assert_eq!(tags["v1"]["manifest_digest"], v1.as_str());
    assert_eq!(tags["latest"]["manifest_digest"], latest.as_str());
    assert_eq!(tags["v1"]["name"], "v1");
    assert!(tags["v1"]["size"].as_i64().is_some_and(|s| s > 0), "{view}");
    let date = tags["v1"]["last_modified"].as_str().expect("last_modified");
    assert!(date.ends_with(" -0000") && date.len() == 31, "RFC 2822 date: {date}");
    assert!(tags["v1"].get("expiration").is_none());

    let (_, bare) = f
        .call("GET", "/repository/alice/app?includeTags=false", Some(&alice), None)
        .await;
    assert!(bare.get("tags").is_none(), "{bare}");
    let (_, stats) = f
        .call("GET", "/repository/alice/app?includeStats=true", Some(&alice), None)
        .await;
    assert_eq!(stats["stats"].as_array().map(Vec::len), Some(91));
}

#[actix_web::test]
async fn deleting_frees_the_name_and_hides_the_repository_everywhere() {
    let f = RepoFixture::new().await;
    let (_, alice) = f.user("alice").await;
    f.create_repo(&alice, "alice", "app", "public").await;
    f.push_tag("alice/app", "v1").await;
    let (status, body) = f.call("DELETE", "/repository/alice/app", Some(&alice), None).await;
    assert_eq!((status, body), (204, Value::Null));
    assert_eq!(f.call("GET", "/repository/alice/app", Some(&alice), None).await.0, 404);
    assert_eq!(f.call("GET", "/repository/alice/app", None, None).await.0, 401);
    let (_, list) = f
        .call("GET", "/repository?namespace=alice&public=true", Some(&alice), None)
        .await;
    assert_eq!(names(&list), Vec::<String>::new());
    let gone = f
        .services
        .list_tags(&"alice/app".parse().expect("name"), 10, None)
        .await;
    assert!(matches!(gone, Err(registry::Error::NameUnknown)), "{gone:?}");

    f.create_repo(&alice, "alice", "app", "private").await;
    let (_, view) = f.call("GET", "/repository/alice/app", Some(&alice), None).await;
    assert_eq!(
        view["tags"],
        json!({}),
        "a new repository under the old name starts empty"
    );
}

#[actix_web::test]
async fn changing_visibility_opens_and_closes_a_repository() {
    let f = RepoFixture::new().await;
    let (_, alice) = f.user("alice").await;
    f.create_repo(&alice, "alice", "app", "private").await;
    let path = "/repository/alice/app/changevisibility";
    assert_eq!(f.call("GET", "/repository/alice/app", None, None).await.0, 401);
    let (status, body) = f
        .call("POST", path, Some(&alice), Some(json!({"visibility": "public"})))
        .await;
    assert_eq!((status, body), (200, json!({"success": true})));
    let (status, view) = f.call("GET", "/repository/alice/app", None, None).await;
    assert_eq!((status, view["is_public"].clone()), (200, json!(true)));
    assert_eq!(
        f.call("POST", path, Some(&alice), Some(json!({"visibility": "hidden"})))
            .await
            .0,
        400
    );
    f.call("POST", path, Some(&alice), Some(json!({"visibility": "private"})))
        .await;
    assert_eq!(f.call("GET", "/repository/alice/app", None, None).await.0, 401);
    assert_eq!(
        f.call("POST", path, None, Some(json!({"visibility": "public"})))
            .await
            .0,
        401
    );
}

#[actix_web::test]
async fn nested_repository_paths_reach_their_sub_resources() {
    let f = RepoFixture::new().await;
    let (_, alice) = f.user("alice").await;
    let (_, _bob) = f.user("bob").await;
    f.create_repo(&alice, "alice", "team/app", "private").await;
    let path = "/repository/alice/team/app/permissions/user/bob";
    let (status, grant) = f.call("PUT", path, Some(&alice), Some(json!({"role": "read"}))).await;
    assert_eq!((status, grant["role"].clone()), (200, json!("read")), "{grant}");
    let (status, list) = f
        .call(
            "GET",
            "/repository/alice/team/app/permissions/user/",
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(list["permissions"]["bob"]["role"], "read", "{list}");
    let vis = "/repository/alice/team/app/changevisibility";
    assert_eq!(
        f.call("POST", vis, Some(&alice), Some(json!({"visibility": "public"})))
            .await
            .0,
        200
    );
    let (_, view) = f.call("GET", "/repository/alice/team/app", None, None).await;
    assert_eq!(
        (view["name"].clone(), view["is_public"].clone()),
        (json!("team/app"), json!(true))
    );
}

#[actix_web::test]
async fn concurrent_creations_of_one_name_make_one_repository() {
    let f = RepoFixture::new().await;
    let (_, alice) = f.user("alice").await;
    let attempts = (0..8).map(|_| f.call("POST", "/repository", Some(&alice), Some(new_repo("race", "private"))));
    let results = futures_util::future::join_all(attempts).await;
    let created = results.iter().filter(|(s, _)| *s == 201).count();
    assert_eq!(created, 1, "{results:?}");
    for (status, body) in results.iter().filter(|(s, _)| *s != 201) {
        assert_eq!(
            (*status, body["detail"].clone()),
            (400, json!("Repository already exists"))
        );
    }
    let (_, list) = f.call("GET", "/repository?namespace=alice", Some(&alice), None).await;
    assert_eq!(names(&list), ["alice/race"]);
}

#[actix_web::test]
async fn popularity_counts_the_actions_logged_on_each_repository() {
    let q = crate::quota::Quotas::with_config("").await;
    let layer = crate::helpers::random_bytes(500);
    q.push_ok("acme/hot", "v1", &[&layer]).await;
    q.push_ok("acme/cold", "v1", &[&layer]).await;
    for _ in 0..3 {
        let res =
            q.v2.get(q.url("/v2/acme/hot/manifests/v1"))
                .header("Accept", crate::helpers::OCI_MANIFEST)
                .send()
                .await
                .expect("request");
        assert_eq!(res.status(), 200);
    }
    q.fx.app.server.flush_logs().await;
    let (status, body) =
        q.fx.call(
            "GET",
            "/repository?namespace=acme&popularity=true",
            Some(&q.owner),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let popularity = |name: &str| {
        body["repositories"]
            .as_array()
            .expect("repositories")
            .iter()
            .find(|r| r["name"] == name)
            .and_then(|r| r["popularity"].as_f64())
            .expect("popularity")
    };
    // A push (and the repository's creation) for both; three pulls more for one.
    assert!(popularity("cold") >= 1.0, "{body}");
    assert_eq!(popularity("hot"), popularity("cold") + 3.0, "{body}");
}
