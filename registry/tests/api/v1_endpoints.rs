//! Smaller endpoints of Quay's API: registry capabilities, outside
//! collaborators, repository mirror health, the superuser's build views and
//! the content-trust endpoints (`FEATURE_SIGNING`).

use serde_json::{json, Value};

use crate::helpers::{grant_role, Grantee, RepoFixture};

#[actix_web::test]
async fn capabilities_are_public() {
    let f = RepoFixture::new().await;
    let (status, body) = f.call("GET", "/registry/capabilities", None, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sparse_manifests"]["supported"], false);
    assert_eq!(body["sparse_manifests"]["required_architectures"], json!([]));
    assert_eq!(
        body["mirror_architectures"],
        json!(["amd64", "arm64", "ppc64le", "s390x"])
    );
}

#[actix_web::test]
async fn collaborators_are_outsiders_with_a_direct_role_and_only_admins_see_them() {
    let f = RepoFixture::new().await;
    let (alice, alice_t) = f.user("alice").await;
    let (_, bob_t) = f.user("bob").await;
    let (_, _) = f.user("carol").await;
    let acme = f.org(&alice, "acme").await;
    f.team(&alice, &acme, "devs", "member", &["bob"]).await;
    f.create_repo(&alice_t, "acme", "web", "private").await;
    f.create_repo(&alice_t, "acme", "api", "private").await;
    for repo in ["acme/web", "acme/api"] {
        grant_role(&f.app, repo, Grantee::Account("carol"), "read").await;
    }
    // bob is a member: a direct role does not make him a collaborator.
    grant_role(&f.app, "acme/web", Grantee::Account("bob"), "write").await;
    // Nor is a robot of the organization, in no team, as in Quay.
    f.robot(&acme, "ci").await;
    grant_role(&f.app, "acme/web", Grantee::Account("acme+ci"), "write").await;

    let (status, body) = f
        .call("GET", "/organization/acme/collaborators", Some(&alice_t), None)
        .await;
    assert_eq!(status, 200, "{body}");
    let list = body["collaborators"].as_array().expect("collaborators");
    assert_eq!(list.len(), 1, "{body}");
    assert_eq!(list[0]["name"], "carol");
    assert_eq!(list[0]["kind"], "user");
    let mut repos: Vec<&str> = list[0]["repositories"]
        .as_array()
        .expect("repositories")
        .iter()
        .map(|r| r.as_str().expect("name"))
        .collect();
    repos.sort_unstable();
    assert_eq!(repos, ["api", "web"]);

    let (status, _) = f
        .call("GET", "/organization/acme/collaborators", Some(&bob_t), None)
        .await;
    assert_eq!(status, 403, "a member who is no admin");
    let (status, _) = f.call("GET", "/organization/acme/collaborators", None, None).await;
    assert_eq!(status, 401);
}

const MIRROR: &str = "FEATURE_REPO_MIRROR: true\nSUPER_USERS: [root]\n";

/// A mirror of `orga/<repo>` through the API (as the owner), left NEVER_RUN.
async fn mirror(f: &RepoFixture, token: &str, repo: &str) {
    f.create_repo(token, "orga", repo, "private").await;
    let body = json!({
        "external_reference": "registry.example.com/library/x",
        "sync_interval": 600,
        "sync_start_date": "2030-01-01T00:00:00Z",
        "root_rule": {"rule_kind": "tag_glob_csv", "rule_value": ["latest"]},
        "robot_username": "orga+robot",
    });
    let (status, value) = f
        .call(
            "POST",
            &format!("/repository/orga/{repo}/mirror"),
            Some(token),
            Some(body),
        )
        .await;
    assert_eq!(status, 201, "{value}");
}

#[actix_web::test]
async fn mirror_health_counts_mirrors_and_names_those_never_synced() {
    let f = RepoFixture::with_config(MIRROR).await;
    let (owner, token) = f.user("owner").await;
    let (_, root_t) = f.user("root").await;
    let (_, outsider_t) = f.user("outsider").await;
    let org = f.org(&owner, "orga").await;
    f.robot(&org, "robot").await;
    mirror(&f, &token, "one").await;
    mirror(&f, &token, "two").await;

    // Everyone's mirrors: superusers only; not `mirror/health` as a repository.
    let (status, body) = f.call("GET", "/repository/mirror/health", Some(&root_t), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["healthy"], true);
    assert_eq!(body["workers"]["status"], "healthy");
    assert_eq!(body["repositories"]["total"], 2);
    assert_eq!(body["repositories"]["never_run"], 2);
    assert_eq!(body["tags_pending"], 0);
    let messages: Vec<&str> = body["issues"]
        .as_array()
        .expect("issues")
        .iter()
        .map(|i| i["message"].as_str().expect("message"))
        .collect();
    assert_eq!(
        messages,
        [
            "Repository orga/one has never been synced",
            "Repository orga/two has never been synced"
        ]
    );
    assert!(body["repositories"].get("details").is_none());

    let (status, _) = f.call("GET", "/repository/mirror/health", Some(&token), None).await;
    assert_eq!(status, 403, "everyone's mirrors are for superusers");
    let (status, _) = f.call("GET", "/repository/mirror/health", None, None).await;
    assert_eq!(status, 403, "Quay refuses anonymous callers with 403 here");

    // One namespace: its members see it, outsiders do not.
    let path = "/repository/mirror/health?namespace=orga&detailed=true&limit=1&offset=1";
    let (status, body) = f.call("GET", path, Some(&token), None).await;
    assert_eq!(status, 200, "{body}");
    let details = &body["repositories"]["details"];
    assert_eq!(details.as_array().map(Vec::len), Some(1), "{body}");
    assert_eq!(details[0]["repository"], "two");
    assert_eq!(details[0]["sync_status"], "NEVER_RUN");
    assert_eq!(
        body["repositories"]["pagination"],
        json!({"limit": 1, "offset": 1, "has_more": false})
    );
    let (status, _) = f
        .call(
            "GET",
            "/repository/mirror/health?namespace=orga",
            Some(&outsider_t),
            None,
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = f
        .call("GET", "/repository/mirror/health?namespace=nosuch", Some(&root_t), None)
        .await;
    assert_eq!(status, 404);
}

#[actix_web::test]
async fn mirror_health_does_not_exist_without_mirroring() {
    let f = RepoFixture::with_config("SUPER_USERS: [root]\n").await;
    let (_, root_t) = f.user("root").await;
    // As in Quay, the path is then a repository path like any other.
    let (status, body) = f.call("GET", "/repository/mirror/health", Some(&root_t), None).await;
    assert!(status == 403 || status == 404, "{status} {body}");
    assert!(body.get("healthy").is_none(), "{body}");
}

const BUILDS: &str = "FEATURE_BUILD_SUPPORT: true\nBUILD_MANAGER: [ephemeral, {EXECUTORS: []}]\nSUPER_USERS: [root]\n";

#[actix_web::test]
async fn superusers_view_any_build_and_its_logs() {
    let f = RepoFixture::with_config(BUILDS).await;
    let (_, alice_t) = f.user("alice").await;
    let (_, root_t) = f.user("root").await;
    f.create_repo(&alice_t, "alice", "app", "private").await;
    let request = json!({"archive_url": "https://example.com/context.tar.gz", "docker_tags": ["v1"]});
    let (status, build) = f
        .call("POST", "/repository/alice/app/build/", Some(&alice_t), Some(request))
        .await;
    assert_eq!(status, 201, "{build}");
    let id = build["id"].as_str().expect("build id");

    for view in ["build", "status"] {
        let (status, body) = f
            .call("GET", &format!("/superuser/{id}/{view}"), Some(&root_t), None)
            .await;
        assert_eq!(status, 200, "{view}: {body}");
        assert_eq!(body["id"], id);
        assert_eq!(body["phase"], "waiting");
        assert_eq!(body["repository"], json!({"namespace": "alice", "name": "app"}));
        assert_eq!(body["tags"], json!(["v1"]));
    }
    let (status, body) = f
        .call("GET", &format!("/superuser/{id}/logs"), Some(&root_t), None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["start"], 0);
    assert!(body["logs"].is_array(), "{body}");

    // The owner is no superuser; nobody is nobody.
    let (status, _) = f
        .call("GET", &format!("/superuser/{id}/build"), Some(&alice_t), None)
        .await;
    assert_eq!(status, 403);
    let (status, _) = f.call("GET", &format!("/superuser/{id}/logs"), None, None).await;
    assert_eq!(status, 401);
    let unknown = "00000000-0000-0000-0000-000000000000";
    let (status, _) = f
        .call("GET", &format!("/superuser/{unknown}/build"), Some(&root_t), None)
        .await;
    assert_eq!(status, 404);
    // A user named like a route word is still a user.
    let (status, _) = f.call("GET", "/superuser/users/alice", Some(&root_t), None).await;
    assert_eq!(status, 200);
}

#[actix_web::test]
async fn content_trust_cannot_be_turned_on_and_no_repository_has_signatures() {
    let f = RepoFixture::with_config("FEATURE_SIGNING: true\n").await;
    let (_, alice_t) = f.user("alice").await;
    let (_, bob_t) = f.user("bob").await;
    f.create_repo(&alice_t, "alice", "app", "public").await;

    let (status, body) = f
        .call("GET", "/repository/alice/app/signatures", Some(&bob_t), None)
        .await;
    assert_eq!(status, 404, "no trust, no signatures: {body}");
    let (status, body) = f
        .call(
            "POST",
            "/repository/alice/app/changetrust",
            Some(&alice_t),
            Some(json!({"trust_enabled": true})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["detail"].as_str().unwrap_or_default().contains("cosign"), "{body}");
    let (status, body) = f
        .call(
            "POST",
            "/repository/alice/app/changetrust",
            Some(&alice_t),
            Some(json!({"trust_enabled": false})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"success": true}));
    let (status, _) = f
        .call(
            "POST",
            "/repository/alice/app/changetrust",
            Some(&alice_t),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = f
        .call(
            "POST",
            "/repository/alice/app/changetrust",
            Some(&bob_t),
            Some(json!({"trust_enabled": false})),
        )
        .await;
    assert_eq!(status, 403, "a reader is no admin");
    let (status, _) = f
        .call(
            "POST",
            "/repository/alice/app/changetrust",
            None,
            Some(json!({"trust_enabled": false})),
        )
        .await;
    assert_eq!(status, 401);
}

#[actix_web::test]
async fn without_signing_the_trust_endpoints_do_not_exist() {
    let f = RepoFixture::new().await;
    let (_, alice_t) = f.user("alice").await;
    f.create_repo(&alice_t, "alice", "app", "public").await;
    let (status, _) = f
        .call("GET", "/repository/alice/app/signatures", Some(&alice_t), None)
        .await;
    assert_eq!(status, 404);
    let (status, _): (u16, Value) = f
        .call(
            "POST",
            "/repository/alice/app/changetrust",
            Some(&alice_t),
            Some(json!({"trust_enabled": false})),
        )
        .await;
    assert_eq!(status, 404);
}

/// Pulls `repo:reference` over /v2 as `user` (password `password123`).
async fn pull(f: &RepoFixture, user: &str, repo: &str, reference: &str) {
    let auth: Value = f
        .app
        .client
        .get(
            f.app
                .url(&format!("/v2/auth?service=registry&scope=repository:{repo}:pull")),
        )
        .basic_auth(user, Some("password123"))
        .send()
        .await
        .expect("/v2/auth")
        .json()
        .await
        .expect("token JSON");
    let token = auth["token"].as_str().expect("token");
    let res = f
        .app
        .client
        .get(f.app.url(&format!("/v2/{repo}/manifests/{reference}")))
        .bearer_auth(token)
        .header("Accept", crate::helpers::OCI_MANIFEST)
        .send()
        .await
        .expect("manifest GET");
    assert_eq!(res.status(), 200, "pulling {repo}:{reference}");
}

/// The pull statistics of `path` (pulls served to this registry are
/// counted before the answer; reading the counts writes them first).
async fn statistics(f: &RepoFixture, token: &str, path: &str) -> Value {
    let (status, body) = f.call("GET", path, Some(token), None).await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

#[actix_web::test]
async fn pulls_are_counted_per_tag_and_manifest_for_those_with_a_role() {
    let f = RepoFixture::with_config("FEATURE_IMAGE_PULL_STATS: true\n").await;
    let (_, alice_t) = f.user("alice").await;
    let (_, bob_t) = f.user("bob").await;
    f.create_repo(&alice_t, "alice", "app", "public").await;
    let digest = f.push_tag("alice/app", "latest").await;

    let tag_path = "/repository/alice/app/tag/latest/pull_statistics";
    let before = statistics(&f, &alice_t, tag_path).await;
    assert_eq!(before["tag_pull_count"], 0);
    assert_eq!(before["last_tag_pull_date"], Value::Null);
    assert_eq!(before["current_manifest_digest"], digest.as_str());

    pull(&f, "alice", "alice/app", "latest").await;
    pull(&f, "bob", "alice/app", "latest").await;
    pull(&f, "bob", "alice/app", &digest).await;
    let stats = statistics(&f, &alice_t, tag_path).await;
    assert_eq!(stats["tag_name"], "latest");
    assert_eq!(stats["tag_pull_count"], 2, "{stats}");
    assert!(stats["last_tag_pull_date"].is_string(), "{stats}");
    let manifest_path = format!("/repository/alice/app/manifest/{digest}/pull_statistics");
    let (status, m) = f.call("GET", &manifest_path, Some(&alice_t), None).await;
    assert_eq!(status, 200, "{m}");
    assert_eq!(m["manifest_digest"], digest.as_str());
    assert_eq!(m["manifest_pull_count"], 3);

    // Reading a public repository is not enough to read its counts.
    let (status, _) = f.call("GET", tag_path, Some(&bob_t), None).await;
    assert_eq!(status, 403);
    let (status, _) = f.call("GET", tag_path, None, None).await;
    assert_eq!(status, 401);
    let (status, _) = f
        .call(
            "GET",
            "/repository/alice/app/tag/nosuch/pull_statistics",
            Some(&alice_t),
            None,
        )
        .await;
    assert_eq!(status, 404);
}

#[actix_web::test]
async fn without_the_feature_pulls_are_not_counted_and_the_paths_are_absent() {
    let f = RepoFixture::new().await;
    let (_, alice_t) = f.user("alice").await;
    f.create_repo(&alice_t, "alice", "app", "private").await;
    f.push_tag("alice/app", "latest").await;
    pull(&f, "alice", "alice/app", "latest").await;
    let (status, _) = f
        .call(
            "GET",
            "/repository/alice/app/tag/latest/pull_statistics",
            Some(&alice_t),
            None,
        )
        .await;
    assert_eq!(status, 404);
}

#[actix_web::test]
async fn restricted_users_create_no_organizations_or_own_repositories_unless_whitelisted() {
    let f = RepoFixture::with_config("FEATURE_RESTRICTED_USERS: true\nRESTRICTED_USERS_WHITELIST: [bob]\n").await;
    let (_, alice_t) = f.user("alice").await;
    let (bob, bob_t) = f.user("bob").await;
    let (status, body) = f
        .call(
            "POST",
            "/organization/",
            Some(&alice_t),
            Some(json!({"name": "alices"})),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    let (status, _) = f
        .call("POST", "/organization/", Some(&bob_t), Some(json!({"name": "bobs"})))
        .await;
    assert_eq!(status, 201);
    let repo = |ns: &str| json!({"namespace": ns, "repository": "app", "visibility": "private", "description": ""});
    let (status, body) = f.call("POST", "/repository", Some(&alice_t), Some(repo("alice"))).await;
    assert_eq!(status, 403, "{body}");
    let (status, _) = f.call("POST", "/repository", Some(&bob_t), Some(repo("bob"))).await;
    assert_eq!(status, 201);
    // Given a role elsewhere, a restricted user works there as anyone.
    let org = f.services.account("bobs").await.expect("lookup").expect("bobs");
    f.team(&bob, &org, "builders", "creator", &["alice"]).await;
    let (status, body) = f.call("POST", "/repository", Some(&alice_t), Some(repo("bobs"))).await;
    assert_eq!(status, 201, "{body}");
}
