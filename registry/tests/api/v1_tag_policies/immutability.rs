//! The `immutable` flag of PUT tag, immutability policies and what an
//! immutable tag refuses over /v2 and /api/v1.

use reqwest::StatusCode;
use serde_json::json;

use super::{alive_tags, assert_refused, fixture, CONFIG};
use crate::v1_logs::{logs, of_kind, performer, push, v2_client};

#[actix_web::test]
async fn writers_make_tags_immutable_and_only_admins_make_them_mutable() {
    let (f, alice, bob) = fixture(CONFIG).await;
    f.push_tag("alice/app", "v1").await;
    let path = "/repository/alice/app/tag/v1";
    let anonymous = f.call("PUT", path, None, Some(json!({"immutable": true}))).await;
    assert_refused("anonymous", anonymous, (401, ""));
    let set = f.call("PUT", path, Some(&bob), Some(json!({"immutable": true}))).await;
    assert_eq!(set, (201, json!("Updated")));
    assert_eq!(alive_tags(&f, &alice, "alice/app").await, [("v1".to_owned(), true)]);
    let cleared_by_writer = f.call("PUT", path, Some(&bob), Some(json!({"immutable": false}))).await;
    assert_refused("writer clears", cleared_by_writer, (403, ""));
    assert_eq!(alive_tags(&f, &alice, "alice/app").await, [("v1".to_owned(), true)]);
    let cleared = f
        .call("PUT", path, Some(&alice), Some(json!({"immutable": false})))
        .await;
    assert_eq!(cleared.0, 201, "{}", cleared.1);
    assert_eq!(alive_tags(&f, &alice, "alice/app").await, [("v1".to_owned(), false)]);

    let logs = logs(&f, "/repository/alice/app/logs", &alice).await;
    let changes = of_kind(&logs, "change_tag_immutability");
    assert_eq!(changes.len(), 2, "{logs:?}");
    let by_bob = changes.iter().find(|l| performer(l) == "bob").expect("bob's change");
    assert_eq!(
        (&by_bob["metadata"]["tag"], &by_bob["metadata"]["immutable"]),
        (&json!("v1"), &json!(true))
    );
}

#[actix_web::test]
async fn put_immutable_refuses_bad_values_and_missing_tags() {
    let (f, alice, _) = fixture(CONFIG).await;
    f.push_tag("alice/app", "v1").await;
    let bad = f
        .call(
            "PUT",
            "/repository/alice/app/tag/v1",
            Some(&alice),
            Some(json!({"immutable": "yes"})),
        )
        .await;
    assert_refused("not a boolean", bad, (400, "immutable must be a boolean"));
    let missing = f
        .call(
            "PUT",
            "/repository/alice/app/tag/nope",
            Some(&alice),
            Some(json!({"immutable": true})),
        )
        .await;
    assert_refused("missing tag", missing, (404, ""));
}

#[actix_web::test]
async fn a_put_with_one_bad_part_changes_nothing() {
    let (f, alice, _) = fixture(CONFIG).await;
    f.push_tag("alice/app", "v1").await;
    let path = "/repository/alice/app/tag/v1";
    let set = f
        .call("PUT", path, Some(&alice), Some(json!({"immutable": true})))
        .await;
    assert_eq!(set.0, 201, "{}", set.1);
    for body in [
        json!({"immutable": false, "expiration": "tomorrow"}),
        json!({"immutable": false, "manifest_digest": 5}),
    ] {
        let refused = f.call("PUT", path, Some(&alice), Some(body.clone())).await;
        assert_refused(&body.to_string(), refused, (400, ""));
        assert_eq!(alive_tags(&f, &alice, "alice/app").await, [("v1".to_owned(), true)]);
    }
}

#[actix_web::test]
async fn an_immutable_tag_refuses_moves_deletes_and_expiry_over_v2_and_the_api() {
    let (f, alice, _) = fixture(CONFIG).await;
    let v2 = v2_client(&alice);
    let digest = push(&f, &v2, "alice/app", "v1").await;
    let other = push(&f, &v2, "alice/app", "other").await;
    let path = "/repository/alice/app/tag/v1";
    let set = f
        .call("PUT", path, Some(&alice), Some(json!({"immutable": true})))
        .await;
    assert_eq!(set.0, 201, "{}", set.1);

    let moved = f
        .call("PUT", path, Some(&alice), Some(json!({"manifest_digest": other})))
        .await;
    assert_refused("move", moved, (409, "Cannot overwrite immutable tag 'v1'"));
    let expiring = f
        .call(
            "PUT",
            path,
            Some(&alice),
            Some(json!({"expiration": registry::now_ms() / 1000 + 86_400})),
        )
        .await;
    assert_refused("expiry", expiring, (409, "Cannot set expiration on immutable tag 'v1'"));
    let deleted = f.call("DELETE", path, Some(&alice), None).await;
    assert_eq!(deleted.1["error_type"], "tag_immutable");
    assert_refused("delete", deleted, (409, "Cannot delete immutable tag 'v1'"));

    // /v2: pushing another manifest over the tag, deleting it by tag or by digest.
    let res = v2
        .put(f.app.url("/v2/alice/app/manifests/v1"))
        .header("Content-Type", crate::helpers::OCI_MANIFEST)
        .body(manifest_of(&f, &alice, &other).await)
        .send()
        .await
        .expect("manifest push");
    crate::helpers::assert_oci_error(res, 409, "TAG_IMMUTABLE").await;
    for reference in ["v1", digest.as_str()] {
        let res = v2
            .delete(f.app.url(&format!("/v2/alice/app/manifests/{reference}")))
            .send()
            .await
            .expect("manifest delete");
        crate::helpers::assert_oci_error(res, 409, "TAG_IMMUTABLE").await;
    }
    // Pushing the manifest the tag already points at changes nothing and is fine.
    let same = v2
        .put(f.app.url("/v2/alice/app/manifests/v1"))
        .header("Content-Type", crate::helpers::OCI_MANIFEST)
        .body(manifest_of(&f, &alice, &digest).await)
        .send()
        .await
        .expect("manifest push");
    assert_eq!(same.status(), StatusCode::CREATED);
    let (_, body) = f
        .call("GET", "/repository/alice/app/tag/?specificTag=v1", Some(&alice), None)
        .await;
    let lifetimes = body["tags"].as_array().expect("tags");
    assert_eq!(lifetimes.len(), 1, "{body}");
    assert_eq!(
        (&lifetimes[0]["manifest_digest"], lifetimes[0].get("end_ts")),
        (&json!(digest), None)
    );
}

/// The bytes of the repository's manifest `digest`.
async fn manifest_of(f: &crate::helpers::RepoFixture, token: &str, digest: &str) -> Vec<u8> {
    let res = v2_client(token)
        .get(f.app.url(&format!("/v2/alice/app/manifests/{digest}")))
        .header("Accept", crate::helpers::OCI_MANIFEST)
        .send()
        .await
        .expect("manifest pull");
    assert_eq!(res.status(), StatusCode::OK);
    res.bytes().await.expect("manifest bytes").to_vec()
}

#[actix_web::test]
async fn organization_policies_need_an_organization_admin() {
    let (f, alice, bob) = fixture(CONFIG).await;
    let list = "/organization/acme/immutabilitypolicy/";
    let body = json!({"tagPattern": "^v"});
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
    let (status, created) = f.call("POST", list, Some(&alice), Some(body)).await;
    assert_eq!(status, 201, "{created}");
    let one = format!(
        "/organization/acme/immutabilitypolicy/{}",
        created["uuid"].as_str().expect("uuid")
    );
    for (method, b) in [
        ("GET", None),
        ("PUT", Some(json!({"tagPattern": "^x"}))),
        ("DELETE", None),
    ] {
        assert_refused(method, f.call(method, &one, Some(&bob), b.clone()).await, (403, ""));
        assert_refused(method, f.call(method, &one, None, b).await, (401, ""));
    }
}

#[actix_web::test]
async fn policies_are_validated_listed_changed_and_deleted() {
    let (f, alice, _) = fixture(CONFIG).await;
    let list = "/organization/acme/immutabilitypolicy/";
    let refusals = [
        (json!({}), "tag_pattern is required and must be a non-empty string"),
        (
            json!({"tagPattern": "  "}),
            "tag_pattern is required and must be a non-empty string",
        ),
        (
            json!({"tagPattern": 5}),
            "tag_pattern is required and must be a non-empty string",
        ),
        (
            json!({"tagPattern": "a".repeat(257)}),
            "tag_pattern must be 256 characters or less",
        ),
        (
            json!({"tagPattern": "^v", "tagPatternMatches": "no"}),
            "tag_pattern_matches must be a boolean",
        ),
    ];
    for (body, message) in refusals {
        assert_refused(
            &body.to_string(),
            f.call("POST", list, Some(&alice), Some(body.clone())).await,
            (400, message),
        );
    }
    let (status, bad_regex) = f
        .call("POST", list, Some(&alice), Some(json!({"tagPattern": "v[0-"})))
        .await;
    assert_eq!(status, 400, "{bad_regex}");
    assert!(bad_regex["error_message"]
        .as_str()
        .unwrap_or_default()
        .starts_with("Invalid regex pattern"));

    let (status, created) = f
        .call("POST", list, Some(&alice), Some(json!({"tagPattern": " ^v "})))
        .await;
    assert_eq!(status, 201, "{created}");
    let uuid = created["uuid"].as_str().expect("uuid").to_owned();
    let duplicate = f
        .call("POST", list, Some(&alice), Some(json!({"tagPattern": "^v"})))
        .await;
    assert_refused(
        "duplicate",
        duplicate,
        (400, "A policy with the same tag_pattern already exists"),
    );
    let (_, listed) = f.call("GET", list, Some(&alice), None).await;
    assert_eq!(
        listed,
        json!({"policies": [{"uuid": uuid, "tagPattern": "^v", "tagPatternMatches": true}]})
    );

    let one = format!("{list}{uuid}");
    let changed = f
        .call(
            "PUT",
            &one,
            Some(&alice),
            Some(json!({"tagPattern": "^rel", "tagPatternMatches": false})),
        )
        .await;
    assert_eq!(changed, (204, serde_json::Value::Null));
    let (_, got) = f.call("GET", &one, Some(&alice), None).await;
    assert_eq!(
        got,
        json!({"uuid": uuid, "tagPattern": "^rel", "tagPatternMatches": false})
    );
    assert_eq!(
        f.call("DELETE", &one, Some(&alice), None).await,
        (200, json!({"uuid": uuid}))
    );
    assert_eq!(f.call("GET", &one, Some(&alice), None).await.0, 404);
    assert_eq!(f.call("DELETE", &one, Some(&alice), None).await.0, 404);

    let logs = logs(&f, "/organization/acme/logs", &alice).await;
    for kind in [
        "create_immutability_policy",
        "update_immutability_policy",
        "delete_immutability_policy",
    ] {
        let found = of_kind(&logs, kind);
        assert_eq!(found.len(), 1, "{kind}: {logs:?}");
        assert_eq!(
            (performer(found[0]), &found[0]["metadata"]["namespace"]),
            ("alice", &json!("acme"))
        );
    }
}

#[actix_web::test]
async fn policies_make_existing_and_later_tags_immutable() {
    let (f, alice, bob) = fixture(CONFIG).await;
    f.push_tag("acme/app", "v1").await;
    f.push_tag("acme/app", "latest").await;
    let (status, _) = f
        .call(
            "POST",
            "/organization/acme/immutabilitypolicy/",
            Some(&alice),
            Some(json!({"tagPattern": "^v"})),
        )
        .await;
    assert_eq!(status, 201);
    f.push_tag("acme/app", "v2").await;
    f.push_tag("acme/app", "dev-v3").await;
    let want = [("dev-v3", false), ("latest", false), ("v1", true), ("v2", true)];
    let want: Vec<(String, bool)> = want.iter().map(|(n, i)| ((*n).to_owned(), *i)).collect();
    assert_eq!(alive_tags(&f, &alice, "acme/app").await, want);

    // A repository policy whose pattern must not match: every other tag.
    let repo_list = "/repository/alice/app/immutabilitypolicy/";
    f.push_tag("alice/app", "dev").await;
    f.push_tag("alice/app", "stable").await;
    let body = json!({"tagPattern": "^dev$", "tagPatternMatches": false});
    assert_refused(
        "writer",
        f.call("POST", repo_list, Some(&bob), Some(body.clone())).await,
        (403, ""),
    );
    assert_refused("anonymous", f.call("GET", repo_list, None, None).await, (401, ""));
    assert_eq!(f.call("POST", repo_list, Some(&alice), Some(body)).await.0, 201);
    let want: Vec<(String, bool)> = vec![("dev".into(), false), ("stable".into(), true)];
    assert_eq!(alive_tags(&f, &alice, "alice/app").await, want);

    let logs = logs(&f, "/repository/alice/app/logs", &alice).await;
    let marked = of_kind(&logs, "tags_made_immutable_by_policy");
    assert_eq!(marked.len(), 1, "{logs:?}");
    assert_eq!(
        (&marked[0]["metadata"]["count"], &marked[0]["metadata"]["repo"]),
        (&json!(1), &json!("app"))
    );
}

#[actix_web::test]
async fn making_a_tag_immutable_drops_its_expiry() {
    let (f, alice, _) = fixture(CONFIG).await;
    f.push_tag("alice/app", "v1").await;
    let path = "/repository/alice/app/tag/v1";
    let expiry = json!({"expiration": registry::now_ms() / 1000 + 86_400});
    assert_eq!(f.call("PUT", path, Some(&alice), Some(expiry)).await.0, 201);
    assert_eq!(
        f.call("PUT", path, Some(&alice), Some(json!({"immutable": true})))
            .await
            .0,
        201
    );
    let (_, body) = f
        .call(
            "GET",
            "/repository/alice/app/tag/?specificTag=v1&onlyActiveTags=true",
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(body["tags"][0]["immutable"], true, "{body}");
    assert!(body["tags"][0].get("end_ts").is_none(), "{body}");
}
