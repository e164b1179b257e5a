//! Tag immutability (the per-tag flag and immutability policies) and
//! auto-prune policies through /api/v1, their enforcement on /v2 and the
//! auto-prune pass, with the refused case of every permission rule.

use serde_json::{json, Value};

mod autoprune;
mod immutability;

use crate::helpers::{grant_role, Grantee, RepoFixture};

const CONFIG: &str = "FEATURE_IMMUTABLE_TAGS: true\nFEATURE_AUTO_PRUNE: true\nAUTO_PRUNING_POLL_PERIOD: 0\n";

/// A fixture with `alice` (owner of private `alice/app` and of org `acme`
/// with private `acme/app`) and `bob` (write on both repositories); their tokens.
async fn fixture(config: &str) -> (RepoFixture, String, String) {
    let f = RepoFixture::with_config(config).await;
    let (alice_user, alice) = f.user("alice").await;
    let (_, bob) = f.user("bob").await;
    f.create_repo(&alice, "alice", "app", "private").await;
    f.org(&alice_user, "acme").await;
    f.create_repo(&alice, "acme", "app", "private").await;
    for repo in ["alice/app", "acme/app"] {
        grant_role(&f.app, repo, Grantee::Account("bob"), "write").await;
    }
    (f, alice, bob)
}

/// The alive tags of a repository as (name, immutable), by name.
async fn alive_tags(f: &RepoFixture, token: &str, repo: &str) -> Vec<(String, bool)> {
    let path = format!("/repository/{repo}/tag/?onlyActiveTags=true&limit=100");
    let (status, body) = f.call("GET", &path, Some(token), None).await;
    assert_eq!(status, 200, "{body}");
    let mut tags: Vec<(String, bool)> = body["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap_or_default().to_owned(),
                t["immutable"] == true,
            )
        })
        .collect();
    tags.sort();
    tags
}

/// Asserts a Quay error status and `error_message`.
fn assert_refused(what: &str, (status, body): (u16, Value), want: (u16, &str)) {
    assert_eq!(status, want.0, "{what}: {body}");
    if !want.1.is_empty() {
        assert_eq!(body["error_message"], want.1, "{what}: {body}");
    }
}

#[actix_web::test]
async fn the_policy_paths_are_not_found_without_their_features() {
    let (f, alice, _) = fixture("").await;
    for path in [
        "/organization/acme/immutabilitypolicy/",
        "/repository/acme/app/immutabilitypolicy/",
        "/organization/acme/autoprunepolicy/",
        "/repository/acme/app/autoprunepolicy/",
        "/user/autoprunepolicy/",
    ] {
        let (status, body) = f.call("GET", path, Some(&alice), None).await;
        assert_eq!(status, 404, "GET {path}: {body}");
    }
    f.push_tag("alice/app", "v1").await;
    let put = f
        .call(
            "PUT",
            "/repository/alice/app/tag/v1",
            Some(&alice),
            Some(json!({"immutable": true})),
        )
        .await;
    assert_eq!(put.0, 400, "immutable without the feature: {}", put.1);
}
