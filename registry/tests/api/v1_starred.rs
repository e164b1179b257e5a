//! `/api/v1/user/starred` and the starred parts of `/api/v1/repository`
//! (quay-api.md §1.1, §1.6): starring, listing only what the user may still
//! read, unstarring, `?starred=true` and `is_starred`.

use serde_json::{json, Value};

use crate::helpers::RepoFixture;

/// alice owns `open` (public), `shared` (private, bob reads it) and
/// `closed` (private).
async fn world() -> (RepoFixture, String, String) {
    let f = RepoFixture::new().await;
    let (_, alice) = f.user("alice").await;
    let (_, bob) = f.user("bob").await;
    f.create_repo(&alice, "alice", "open", "public").await;
    f.create_repo(&alice, "alice", "shared", "private").await;
    f.create_repo(&alice, "alice", "closed", "private").await;
    set_bob_read(&f, &alice, true).await;
    (f, alice, bob)
}

/// Grants or revokes bob's read role on alice/shared.
async fn set_bob_read(f: &RepoFixture, alice: &str, read: bool) {
    let path = "/repository/alice/shared/permissions/user/bob";
    let (status, body) = match read {
        true => f.call("PUT", path, Some(alice), Some(json!({"role": "read"}))).await,
        false => f.call("DELETE", path, Some(alice), None).await,
    };
    assert!(status == 200 || status == 204, "{status}: {body}");
}

async fn star(f: &RepoFixture, token: &str, repo: &str) -> (u16, Value) {
    let (ns, name) = repo.split_once('/').expect("ns/name");
    f.call(
        "POST",
        "/user/starred",
        Some(token),
        Some(json!({"namespace": ns, "repository": name})),
    )
    .await
}

/// The `ns/name` of every repository on the caller's starred list.
async fn starred(f: &RepoFixture, token: &str) -> Vec<String> {
    let (status, body) = f.call("GET", "/user/starred", Some(token), None).await;
    assert_eq!(status, 200, "{body}");
    paths(&body)
}

fn paths(body: &Value) -> Vec<String> {
    let mut v: Vec<String> = body["repositories"]
        .as_array()
        .unwrap_or_else(|| panic!("no repositories in {body}"))
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
async fn a_user_stars_lists_and_unstars_a_repository() {
    let (f, alice, bob) = world().await;
    f.call(
        "PUT",
        "/repository/alice/open",
        Some(&alice),
        Some(json!({"description": "the open one"})),
    )
    .await;
    let (status, body) = star(&f, &bob, "alice/open").await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body, json!({"namespace": "alice", "repository": "open"}));
    let (_, list) = f.call("GET", "/user/starred", Some(&bob), None).await;
    assert_eq!(
        list,
        json!({"repositories": [{"namespace": "alice", "name": "open", "description": "the open one", "is_public": true}]})
    );

    assert_eq!(star(&f, &bob, "alice/open").await.0, 201, "starring twice is fine");
    assert_eq!(starred(&f, &bob).await, ["alice/open"]);
    assert_eq!(starred(&f, &alice).await, Vec::<String>::new(), "stars are per user");

    assert_eq!(
        f.call("DELETE", "/user/starred/alice/open", Some(&bob), None).await.0,
        204
    );
    assert_eq!(starred(&f, &bob).await, Vec::<String>::new());
    assert_eq!(
        f.call("DELETE", "/user/starred/alice/open", Some(&bob), None).await.0,
        204,
        "unstarring twice is fine"
    );
}

#[actix_web::test]
async fn nested_repository_names_can_be_starred_and_unstarred() {
    let f = RepoFixture::new().await;
    let (_, alice) = f.user("alice").await;
    f.create_repo(&alice, "alice", "team/app", "private").await;
    assert_eq!(star(&f, &alice, "alice/team/app").await.0, 201);
    assert_eq!(starred(&f, &alice).await, ["alice/team/app"]);
    let (status, _) = f
        .call("DELETE", "/user/starred/alice/team/app", Some(&alice), None)
        .await;
    assert_eq!(status, 204);
    assert_eq!(starred(&f, &alice).await, Vec::<String>::new());
}

#[actix_web::test]
async fn starring_needs_a_signed_in_user_with_the_user_admin_scope() {
    let (f, _, _) = world().await;
    let bob = f.services.account("bob").await.expect("lookup").expect("bob");
    let repo_only = f.token(&bob, "repo:read").await;
    let body = json!({"namespace": "alice", "repository": "open"});
    for token in [None, Some(repo_only.as_str())] {
        let want = if token.is_none() { 401 } else { 403 };
        assert_eq!(f.call("GET", "/user/starred", token, None).await.0, want);
        assert_eq!(f.call("POST", "/user/starred", token, Some(body.clone())).await.0, want);
        assert_eq!(f.call("DELETE", "/user/starred/alice/open", token, None).await.0, want);
    }
    let user_only = f.token(&bob, "user:admin").await;
    assert_eq!(
        f.call("POST", "/user/starred", Some(&user_only), Some(body)).await.0,
        403,
        "starring also needs a repo: scope, as in Quay"
    );
    assert_eq!(f.call("GET", "/user/starred", Some(&user_only), None).await.0, 200);
}

#[actix_web::test]
async fn starring_a_private_repository_you_cannot_read_is_refused() {
    let (f, _, bob) = world().await;
    let (status, body) = star(&f, &bob, "alice/closed").await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error_type"], "insufficient_scope");
    assert_eq!(
        star(&f, &bob, "alice/nothing").await.0,
        403,
        "unknown elsewhere looks the same"
    );
    assert_eq!(
        star(&f, &bob, "bob/nothing").await.0,
        404,
        "unknown in one's own namespace"
    );
    assert_eq!(starred(&f, &bob).await, Vec::<String>::new());
    assert_eq!(
        star(&f, &bob, "alice/shared").await.0,
        201,
        "a granted private repository"
    );
}

#[actix_web::test]
async fn bad_star_requests_are_invalid() {
    let (f, _, bob) = world().await;
    for body in [
        json!({"namespace": "alice"}),
        json!({"repository": "open"}),
        json!({"namespace": "alice", "repository": "Bad Name"}),
    ] {
        let (status, res) = f.call("POST", "/user/starred", Some(&bob), Some(body.clone())).await;
        assert_eq!(status, 400, "{body}: {res}");
    }
}

#[actix_web::test]
async fn the_starred_list_hides_repositories_that_became_unreadable() {
    let (f, alice, bob) = world().await;
    assert_eq!(star(&f, &bob, "alice/open").await.0, 201);
    assert_eq!(star(&f, &bob, "alice/shared").await.0, 201);
    assert_eq!(starred(&f, &bob).await, ["alice/open", "alice/shared"]);

    set_bob_read(&f, &alice, false).await;
    assert_eq!(starred(&f, &bob).await, ["alice/open"]);
    let (status, _) = f
        .call(
            "POST",
            "/repository/alice/open/changevisibility",
            Some(&alice),
            Some(json!({"visibility": "private"})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(starred(&f, &bob).await, Vec::<String>::new());
    let (_, listed) = f.call("GET", "/repository?starred=true", Some(&bob), None).await;
    assert_eq!(paths(&listed), Vec::<String>::new());

    // The star itself stays: read access back, the repository is back.
    set_bob_read(&f, &alice, true).await;
    assert_eq!(starred(&f, &bob).await, ["alice/shared"]);
}

#[actix_web::test]
async fn unstarring_needs_no_read_access() {
    let (f, alice, bob) = world().await;
    assert_eq!(star(&f, &bob, "alice/shared").await.0, 201);
    set_bob_read(&f, &alice, false).await;
    assert_eq!(
        f.call("DELETE", "/user/starred/alice/shared", Some(&bob), None).await.0,
        204
    );
    set_bob_read(&f, &alice, true).await;
    assert_eq!(starred(&f, &bob).await, Vec::<String>::new());
}

#[actix_web::test]
async fn deleting_a_repository_removes_its_star() {
    use diesel::prelude::*;
    use registry::db::schema::star;

    let (f, alice, bob) = world().await;
    assert_eq!(star(&f, &bob, "alice/open").await.0, 201);
    assert_eq!(star(&f, &alice, "alice/open").await.0, 201);
    assert_eq!(
        f.call("DELETE", "/repository/alice/open", Some(&alice), None).await.0,
        204
    );
    assert_eq!(starred(&f, &bob).await, Vec::<String>::new());
    let stars: i64 = f
        .services
        .db()
        .read(|c| Ok(star::table.count().get_result(c)?))
        .await
        .expect("count stars");
    assert_eq!(stars, 0, "the star rows went with the repository");

    f.create_repo(&alice, "alice", "open", "public").await;
    assert_eq!(
        starred(&f, &bob).await,
        Vec::<String>::new(),
        "a new repository of that name is not starred"
    );
}

#[actix_web::test]
async fn listing_with_starred_true_shows_the_callers_stars_in_every_namespace() {
    let (f, alice, bob) = world().await;
    f.create_repo(&bob, "bob", "own", "private").await;
    f.push_tag("alice/shared", "v1").await;
    assert_eq!(star(&f, &bob, "alice/shared").await.0, 201);
    assert_eq!(star(&f, &bob, "bob/own").await.0, 201);
    assert_eq!(star(&f, &alice, "alice/open").await.0, 201);

    let (status, body) = f
        .call("GET", "/repository?starred=true&last_modified=true", Some(&bob), None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(paths(&body), ["alice/shared", "bob/own"]);
    for r in body["repositories"].as_array().expect("repositories") {
        assert_eq!(r["is_starred"], true, "{r}");
    }
    let shared = &body["repositories"][0];
    assert!(shared["last_modified"].as_i64().is_some(), "{shared}");
    let (_, with_ns) = f
        .call("GET", "/repository?starred=true&namespace=bob", Some(&bob), None)
        .await;
    assert_eq!(
        paths(&with_ns),
        ["alice/shared", "bob/own"],
        "starred wins over namespace, as in Quay"
    );
    let (status, body) = f.call("GET", "/repository?starred=true", None, None).await;
    assert_eq!(status, 400, "{body}");
}

#[actix_web::test]
async fn repository_views_and_listings_carry_is_starred_for_the_caller() {
    let (f, alice, bob) = world().await;
    assert_eq!(star(&f, &bob, "alice/open").await.0, 201);

    let (_, view) = f.call("GET", "/repository/alice/open", Some(&bob), None).await;
    assert_eq!(view["is_starred"], true, "{view}");
    let (_, view) = f.call("GET", "/repository/alice/open", Some(&alice), None).await;
    assert_eq!(view["is_starred"], false, "{view}");
    let (_, view) = f.call("GET", "/repository/alice/open", None, None).await;
    assert_eq!(view["is_starred"], false, "{view}");

    let (_, list) = f
        .call("GET", "/repository?namespace=alice&public=true", Some(&bob), None)
        .await;
    let flags: Vec<(String, Value)> = list["repositories"]
        .as_array()
        .expect("repositories")
        .iter()
        .map(|r| (r["name"].as_str().unwrap_or("").to_owned(), r["is_starred"].clone()))
        .collect();
    assert_eq!(
        flags,
        [("open".to_owned(), json!(true)), ("shared".to_owned(), json!(false))],
        "{list}"
    );
    let (_, anonymous) = f
        .call("GET", "/repository?namespace=alice&public=true", None, None)
        .await;
    assert!(anonymous["repositories"][0].get("is_starred").is_none(), "{anonymous}");
}

#[actix_web::test]
async fn the_starred_list_pages_at_one_hundred() {
    let f = RepoFixture::new().await;
    let (user, token) = f.user("alice").await;
    let scopes = registry::service::Scopes::all();
    for i in 0..105 {
        let name = format!("repo-{i:03}");
        let new = registry::service::repositories::NewRepository {
            namespace: "alice",
            name: &name,
            visibility: registry::service::repositories::Visibility::Private,
            description: "",
            kind: "image",
        };
        f.services.create_repository(&user, &new).await.expect("create");
        let repo = format!("alice/{name}").parse().expect("repo name");
        f.services.star_repository(&user, &scopes, &repo).await.expect("star");
    }
    let (_, first) = f.call("GET", "/user/starred", Some(&token), None).await;
    assert_eq!(first["repositories"].as_array().map(Vec::len), Some(100));
    let next = first["next_page"].as_str().expect("next_page on a full page");
    let (_, second) = f
        .call("GET", &format!("/user/starred?next_page={next}"), Some(&token), None)
        .await;
    assert_eq!(second["repositories"].as_array().map(Vec::len), Some(5));
    assert!(second.get("next_page").is_none(), "{second}");
    let mut all = paths(&first);
    all.extend(paths(&second));
    all.dedup();
    assert_eq!(all.len(), 105);
}
