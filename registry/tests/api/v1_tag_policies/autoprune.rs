//! Auto-prune policies: the API of organizations, repositories and users,
//! and the prune pass (run directly; the loop is off in these tests).

use serde_json::{json, Value};

use super::{alive_tags, assert_refused, fixture, CONFIG};
use crate::helpers::RepoFixture;
use crate::v1_logs::{logs, of_kind};

/// Moves the start of a tag's alive lifetime `ms` into the past.
async fn age_tag(f: &RepoFixture, name: &str, ms: i64) {
    use diesel::prelude::*;
    use registry::db::schema::tag as t;

    let name = name.to_owned();
    f.services
        .db()
        .write(move |c| {
            diesel::update(t::table.filter(t::name.eq(name)))
                .set(t::lifetime_start_ms.eq(t::lifetime_start_ms - ms))
                .execute(c)?;
            Ok::<_, registry::service::Error>(())
        })
        .await
        .expect("age the tag");
}

fn names(tags: &[(String, bool)]) -> Vec<&str> {
    tags.iter().map(|(n, _)| n.as_str()).collect()
}

#[actix_web::test]
async fn organization_policies_need_an_organization_admin() {
    let (f, alice, bob) = fixture(CONFIG).await;
    let list = "/organization/acme/autoprunepolicy/";
    let body = json!({"method": "number_of_tags", "value": 5});
    assert_refused("anonymous list", f.call("GET", list, None, None).await, (401, ""));
    assert_refused(
        "anonymous create",
        f.call("POST", list, None, Some(body.clone())).await,
        (401, ""),
    );
    assert_refused("bob list", f.call("GET", list, Some(&bob), None).await, (403, ""));
    assert_refused(
        "bob create",
        f.call("POST", list, Some(&bob), Some(body.clone())).await,
        (403, ""),
    );
    let (status, created) = f.call("POST", list, Some(&alice), Some(body.clone())).await;
    assert_eq!(status, 201, "{created}");
    let one = format!("{list}{}", created["uuid"].as_str().expect("uuid"));
    for (method, b) in [("GET", None), ("PUT", Some(body)), ("DELETE", None)] {
        assert_refused(method, f.call(method, &one, Some(&bob), b.clone()).await, (403, ""));
        assert_refused(method, f.call(method, &one, None, b).await, (401, ""));
    }
}

#[actix_web::test]
async fn repository_policies_need_a_repository_admin() {
    let (f, alice, bob) = fixture(CONFIG).await;
    let list = "/repository/acme/app/autoprunepolicy/";
    let body = json!({"method": "creation_date", "value": "7d"});
    assert_refused("anonymous", f.call("GET", list, None, None).await, (401, ""));
    assert_refused("writer list", f.call("GET", list, Some(&bob), None).await, (403, ""));
    assert_refused(
        "writer create",
        f.call("POST", list, Some(&bob), Some(body.clone())).await,
        (403, ""),
    );
    let (status, created) = f.call("POST", list, Some(&alice), Some(body)).await;
    assert_eq!(status, 201, "{created}");
    let uuid = created["uuid"].as_str().expect("uuid");
    let (_, listed) = f.call("GET", list, Some(&alice), None).await;
    let want = json!({"policies": [{"uuid": uuid, "method": "creation_date", "value": "7d",
        "tagPattern": null, "tagPatternMatches": true}]});
    assert_eq!(listed, want);
    let one = format!("{list}{uuid}");
    assert_refused(
        "writer delete",
        f.call("DELETE", &one, Some(&bob), None).await,
        (403, ""),
    );
    assert_eq!(
        f.call("DELETE", &one, Some(&alice), None).await,
        (200, json!({"uuid": uuid}))
    );

    let logs = logs(&f, "/repository/acme/app/logs", &alice).await;
    let created = of_kind(&logs, "create_repository_autoprune_policy");
    assert_eq!(created.len(), 1, "{logs:?}");
    assert_eq!(
        (&created[0]["metadata"]["repo"], &created[0]["metadata"]["value"]),
        (&json!("app"), &json!("7d"))
    );
    assert_eq!(of_kind(&logs, "delete_repository_autoprune_policy").len(), 1);
}

#[actix_web::test]
async fn user_policies_belong_to_the_signed_in_user() {
    let (f, alice, bob) = fixture(CONFIG).await;
    let list = "/user/autoprunepolicy/";
    let body = json!({"method": "number_of_tags", "value": 3, "tagPattern": "^dev", "tagPatternMatches": false});
    assert_refused(
        "anonymous",
        f.call("POST", list, None, Some(body.clone())).await,
        (401, ""),
    );
    let (status, created) = f.call("POST", list, Some(&alice), Some(body)).await;
    assert_eq!(status, 201, "{created}");
    let uuid = created["uuid"].as_str().expect("uuid");
    let (_, mine) = f.call("GET", &format!("{list}{uuid}"), Some(&alice), None).await;
    let want =
        json!({"uuid": uuid, "method": "number_of_tags", "value": 3, "tagPattern": "^dev", "tagPatternMatches": false});
    assert_eq!(mine, want);
    assert_eq!(
        f.call("GET", list, Some(&bob), None).await,
        (200, json!({"policies": []}))
    );
    assert_eq!(f.call("GET", &format!("{list}{uuid}"), Some(&bob), None).await.0, 404);
    assert_eq!(
        f.call("DELETE", &format!("{list}{uuid}"), Some(&bob), None).await.0,
        404
    );
    let changed = f
        .call(
            "PUT",
            &format!("{list}{uuid}"),
            Some(&alice),
            Some(json!({"method": "creation_date", "value": "2w"})),
        )
        .await;
    assert_eq!(changed, (204, Value::Null));
    let (_, mine) = f.call("GET", &format!("{list}{uuid}"), Some(&alice), None).await;
    assert_eq!(
        (&mine["method"], &mine["value"], &mine["tagPattern"]),
        (&json!("creation_date"), &json!("2w"), &Value::Null)
    );
}

#[actix_web::test]
async fn policies_are_validated_as_quay_validates_them() {
    let (f, alice, _) = fixture(CONFIG).await;
    let list = "/organization/acme/autoprunepolicy/";
    let refusals = [
        (json!({"value": 3}), "Missing the following parameters: method, value"),
        (
            json!({"method": "number_of_tags"}),
            "Missing the following parameters: method, value",
        ),
        (json!({"method": "by_size", "value": 3}), "Invalid method provided"),
        (
            json!({"method": "number_of_tags", "value": 0}),
            "Invalid value given for method type",
        ),
        (
            json!({"method": "number_of_tags", "value": "3"}),
            "Invalid value given for method type",
        ),
        (
            json!({"method": "creation_date", "value": 7}),
            "Invalid value given for method type",
        ),
        (
            json!({"method": "creation_date", "value": "7 days"}),
            "Invalid value given for method type",
        ),
        (
            json!({"method": "number_of_tags", "value": 3, "tagPattern": ""}),
            "tag_pattern cannot be empty",
        ),
        (
            json!({"method": "number_of_tags", "value": 3, "tagPattern": 4}),
            "tag_pattern must be string",
        ),
        (
            json!({"method": "number_of_tags", "value": 3, "tagPatternMatches": "yes"}),
            "tag_pattern_matches must be bool",
        ),
    ];
    for (body, message) in refusals {
        let answer = f.call("POST", list, Some(&alice), Some(body.clone())).await;
        assert_refused(&body.to_string(), answer, (400, message));
    }
    let body = json!({"method": "number_of_tags", "value": 3});
    assert_eq!(f.call("POST", list, Some(&alice), Some(body.clone())).await.0, 201);
    let duplicate = f.call("POST", list, Some(&alice), Some(body)).await;
    let message = "Existing policy with same values for this namespace, duplicate policies are not permitted";
    assert_refused("duplicate", duplicate, (400, message));
    let other = json!({"method": "number_of_tags", "value": 3, "tagPattern": "^v"});
    assert_eq!(f.call("POST", list, Some(&alice), Some(other)).await.0, 201);
    let missing = format!("{list}{}", uuid::Uuid::new_v4());
    let body = json!({"method": "number_of_tags", "value": 4});
    assert_eq!(f.call("PUT", &missing, Some(&alice), Some(body)).await.0, 404);
    assert_eq!(f.call("GET", &missing, Some(&alice), None).await.0, 404);
}

#[actix_web::test]
async fn a_count_policy_prunes_the_oldest_tags_into_the_time_machine_but_never_immutable_ones() {
    let (f, alice, _) = fixture(CONFIG).await;
    for (i, name) in ["t1", "t2", "t3", "t4"].iter().enumerate() {
        f.push_tag("acme/app", name).await;
        age_tag(&f, name, 1000 * (4 - i as i64)).await;
    }
    let t2 = alive_digest(&f, &alice, "t2").await;
    let set = f
        .call(
            "PUT",
            "/repository/acme/app/tag/t1",
            Some(&alice),
            Some(json!({"immutable": true})),
        )
        .await;
    assert_eq!(set.0, 201);
    let body = json!({"method": "number_of_tags", "value": 2});
    let (status, _) = f
        .call("POST", "/organization/acme/autoprunepolicy/", Some(&alice), Some(body))
        .await;
    assert_eq!(status, 201);

    assert_eq!(f.services.run_autoprune_once(0).await.expect("prune pass"), 1);
    assert_eq!(names(&alive_tags(&f, &alice, "acme/app").await), ["t1", "t3", "t4"]);
    assert_eq!(f.services.run_autoprune_once(0).await.expect("second pass"), 0);

    // The pruned tag went where deleted tags go: it can be restored.
    let restore = json!({"manifest_digest": t2});
    let (status, _) = f
        .call(
            "POST",
            "/repository/acme/app/tag/t2/restore",
            Some(&alice),
            Some(restore),
        )
        .await;
    assert_eq!(status, 200);
    f.services.flush_logs().await;
    let logs = logs(&f, "/repository/acme/app/logs", &alice).await;
    let pruned = of_kind(&logs, "autoprune_tag_delete");
    assert_eq!(pruned.len(), 1, "{logs:?}");
    assert_eq!(pruned[0]["metadata"]["tag"], "t2");
    assert_eq!(pruned[0]["metadata"]["performer"], "autoprune worker");
    assert!(pruned[0]["performer"].is_null(), "{}", pruned[0]);
}

async fn alive_digest(f: &RepoFixture, token: &str, tag: &str) -> String {
    let path = format!("/repository/acme/app/tag/?specificTag={tag}&onlyActiveTags=true");
    let (_, body) = f.call("GET", &path, Some(token), None).await;
    body["tags"][0]["manifest_digest"].as_str().expect("digest").to_owned()
}

#[actix_web::test]
async fn an_age_policy_prunes_covered_tags_older_than_its_age() {
    let (f, alice, _) = fixture(CONFIG).await;
    for name in ["old-1", "old-2", "new-1"] {
        f.push_tag("alice/app", name).await;
    }
    for name in ["old-1", "old-2"] {
        age_tag(&f, name, 2 * 86_400_000).await;
    }
    let body = json!({"method": "creation_date", "value": "1d", "tagPattern": "2$", "tagPatternMatches": false});
    let (status, _) = f
        .call(
            "POST",
            "/repository/alice/app/autoprunepolicy/",
            Some(&alice),
            Some(body),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(f.services.run_autoprune_once(0).await.expect("prune pass"), 1);
    assert_eq!(names(&alive_tags(&f, &alice, "alice/app").await), ["new-1", "old-2"]);
}

#[actix_web::test]
async fn a_namespace_policy_prunes_every_repository_and_waits_for_its_interval() {
    let (f, alice, _) = fixture(CONFIG).await;
    f.create_repo(&alice, "alice", "other", "private").await;
    for repo in ["alice/app", "alice/other"] {
        for name in ["a", "b"] {
            f.push_tag(repo, name).await;
        }
    }
    let body = json!({"method": "number_of_tags", "value": 1});
    assert_eq!(
        f.call("POST", "/user/autoprunepolicy/", Some(&alice), Some(body))
            .await
            .0,
        201
    );
    assert_eq!(f.services.run_autoprune_once(3_600_000).await.expect("prune pass"), 2);
    for repo in ["alice/app", "alice/other"] {
        assert_eq!(names(&alive_tags(&f, &alice, repo).await), ["b"], "{repo}");
    }
    f.push_tag("alice/app", "c").await;
    assert_eq!(f.services.run_autoprune_once(3_600_000).await.expect("early pass"), 0);
    assert_eq!(f.services.run_autoprune_once(0).await.expect("due pass"), 1);
    assert_eq!(names(&alive_tags(&f, &alice, "alice/app").await), ["c"]);
}
