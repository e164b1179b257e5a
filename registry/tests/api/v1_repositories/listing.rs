//! `GET /api/v1/repository`: the listing's required filters, visibility
//! rules, flags and paging.

use serde_json::{json, Value};

use super::names;
use crate::helpers::RepoFixture;

#[actix_web::test]
async fn listing_needs_a_namespace_public_or_starred() {
    let f = RepoFixture::new().await;
    let (user, alice) = f.user("alice").await;
    let (status, body) = f.call("GET", "/repository", Some(&alice), None).await;
    assert_eq!(status, 400);
    assert_eq!(
        body["detail"],
        "namespace, starred or public are required for this API call"
    );
    assert_eq!(
        f.call("GET", "/repository?public=false", Some(&alice), None).await.0,
        400
    );
    // Alice starred nothing: her starred list is empty; anonymous callers have none.
    let (status, body) = f.call("GET", "/repository?starred=true", Some(&alice), None).await;
    assert_eq!((status, body), (200, json!({"repositories": []})));
    assert_eq!(f.call("GET", "/repository?starred=true", None, None).await.0, 400);
    let no_repo_scope = f.token(&user, "user:read").await;
    assert_eq!(
        f.call("GET", "/repository?namespace=alice", Some(&no_repo_scope), None)
            .await
            .0,
        403
    );
}

#[actix_web::test]
async fn listings_show_only_repositories_the_caller_can_read() {
    let f = RepoFixture::new().await;
    let (_, alice) = f.user("alice").await;
    let (_, bob) = f.user("bob").await;
    f.create_repo(&alice, "alice", "closed", "private").await;
    f.create_repo(&alice, "alice", "open", "public").await;
    f.create_repo(&alice, "alice", "shared", "private").await;
    f.create_repo(&bob, "bob", "own", "private").await;
    let grant = json!({"role": "read"});
    f.call(
        "PUT",
        "/repository/alice/shared/permissions/user/bob",
        Some(&alice),
        Some(grant),
    )
    .await;

    let list = |token: Option<String>, query: &'static str| {
        let f = &f;
        async move {
            let (status, body) = f
                .call("GET", &format!("/repository?{query}"), token.as_deref(), None)
                .await;
            assert_eq!(status, 200, "{query}: {body}");
            names(&body)
        }
    };
    let a = Some(alice.clone());
    let b = Some(bob.clone());
    assert_eq!(
        list(a.clone(), "namespace=alice").await,
        ["alice/closed", "alice/open", "alice/shared"]
    );
    assert_eq!(list(b.clone(), "namespace=alice").await, ["alice/shared"]);
    assert_eq!(
        list(b.clone(), "namespace=alice&public=true").await,
        ["alice/open", "alice/shared"]
    );
    assert_eq!(
        list(b.clone(), "public=true").await,
        ["alice/open", "alice/shared", "bob/own"]
    );
    assert_eq!(list(None, "namespace=alice").await, Vec::<String>::new());
    assert_eq!(list(None, "namespace=alice&public=true").await, ["alice/open"]);
}

#[actix_web::test]
async fn listings_report_last_modified_and_popularity_when_asked() {
    let f = RepoFixture::new().await;
    let (_, alice) = f.user("alice").await;
    f.create_repo(&alice, "alice", "pushed", "private").await;
    f.create_repo(&alice, "alice", "empty", "private").await;
    let digest = f.push_tag("alice/pushed", "v1").await;
    let retag = json!({"manifest_digest": digest});
    let (status, _) = f
        .call("PUT", "/repository/alice/pushed/tag/v2", Some(&alice), Some(retag))
        .await;
    assert_eq!(status, 201);
    // Popularity counts logged actions: wait for the log writer instead of
    // racing it.
    f.app.server.flush_logs().await;
    let now_s = registry::now_ms() / 1000;
    let query = "/repository?namespace=alice&last_modified=true&popularity=true";
    let (_, body) = f.call("GET", query, Some(&alice), None).await;
    let repos = body["repositories"].as_array().expect("repositories");
    let pushed = repos.iter().find(|r| r["name"] == "pushed").expect("pushed listed");
    let empty = repos.iter().find(|r| r["name"] == "empty").expect("empty listed");
    let when = pushed["last_modified"].as_i64().expect("last_modified seconds");
    assert!((now_s - 60..=now_s + 1).contains(&when), "{when} vs {now_s}");
    assert_eq!(empty["last_modified"], Value::Null);
    // Each was created (create_repo); `pushed` also got a tag (create_tag).
    assert_eq!(
        (pushed["popularity"].clone(), empty["popularity"].clone()),
        (json!(2.0), json!(1.0))
    );
    assert_eq!(
        (pushed["is_public"].clone(), pushed["state"].clone()),
        (json!(false), json!("NORMAL"))
    );

    let (_, plain) = f.call("GET", "/repository?namespace=alice", Some(&alice), None).await;
    let first = &plain["repositories"][0];
    assert!(
        first.get("last_modified").is_none() && first.get("popularity").is_none(),
        "{plain}"
    );
}

#[actix_web::test]
async fn listings_page_at_one_hundred_with_an_opaque_next_page() {
    let f = RepoFixture::new().await;
    let (user, alice) = f.user("alice").await;
    let public = registry::service::repositories::Visibility::Public;
    for i in 0..105 {
        let name = format!("repo-{i:03}");
        let new = registry::service::repositories::NewRepository {
            namespace: "alice",
            name: &name,
            visibility: public,
            description: "",
            kind: "image",
        };
        f.services
            .create_repository(&user, &new)
            .await
            .expect("create repository");
    }
    let (_, first) = f.call("GET", "/repository?namespace=alice", Some(&alice), None).await;
    assert_eq!(first["repositories"].as_array().map(Vec::len), Some(100));
    let token = first["next_page"].as_str().expect("next_page on a full page");
    let (_, second) = f
        .call(
            "GET",
            &format!("/repository?namespace=alice&next_page={token}"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(second["repositories"].as_array().map(Vec::len), Some(5));
    assert!(second.get("next_page").is_none(), "{second}");
    let mut all = names(&first);
    all.extend(names(&second));
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 105);

    let (_, restarted) = f
        .call(
            "GET",
            "/repository?namespace=alice&next_page=garbage",
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(
        names(&restarted),
        names(&first),
        "a bad token restarts at the first page"
    );
}
