//! Deletion into the time machine, restores, the per-namespace window and
//! permanent expiry (quay-api.md §3.2).

use super::*;

#[actix_web::test]
async fn deleted_tags_are_restorable_within_the_time_machine_window() {
    let (f, alice) = alice_app("").await;
    let digest = f.push_tag("alice/app", "latest").await;
    let (status, _) = f
        .call("DELETE", "/repository/alice/app/tag/latest", Some(&alice), None)
        .await;
    assert_eq!(status, 204);
    let (status, body) = f
        .call("DELETE", "/repository/alice/app/tag/latest", Some(&alice), None)
        .await;
    assert_eq!(status, 404, "{body}");
    assert!(matches!(pull(&f, "latest").await, Err(Error::TagExpired)));
    assert!(v2_tags(&f).await.is_empty());

    let (status, body) = f
        .call(
            "POST",
            "/repository/alice/app/tag/latest/restore",
            Some(&alice),
            Some(json!({"manifest_digest": digest})),
        )
        .await;
    assert_eq!((status, body), (200, json!({})));
    assert_eq!(pull(&f, "latest").await.expect("restored pull"), digest);
    let tag = alive_tag(&f, &alice, "latest").await;
    assert_eq!(tag["reversion"], true, "{tag}");

    let unknown = format!("sha256:{}", "1".repeat(64));
    let (status, body) = f
        .call(
            "POST",
            "/repository/alice/app/tag/latest/restore",
            Some(&alice),
            Some(json!({"manifest_digest": unknown})),
        )
        .await;
    assert_eq!(status, 404, "{body}");
}

#[actix_web::test]
async fn outside_the_window_a_deleted_tag_is_gone_for_good() {
    let (f, alice) = alice_app("").await;
    let (status, body) = f
        .call("PUT", "/user/", Some(&alice), Some(json!({"tag_expiration_s": 0})))
        .await;
    assert_eq!((status, body["tag_expiration_s"].clone()), (200, json!(0)), "{body}");
    let digest = f.push_tag("alice/app", "latest").await;
    let (status, _) = f
        .call("DELETE", "/repository/alice/app/tag/latest", Some(&alice), None)
        .await;
    assert_eq!(status, 204);
    assert!(matches!(pull(&f, "latest").await, Err(Error::ManifestUnknown)));
    let (status, body) = f
        .call(
            "POST",
            "/repository/alice/app/tag/latest/restore",
            Some(&alice),
            Some(json!({"manifest_digest": digest})),
        )
        .await;
    assert_eq!(status, 404, "{body}");
}

#[actix_web::test]
async fn an_organization_window_must_be_one_of_the_options_and_set_by_an_admin() {
    let f = RepoFixture::with_config("TAG_EXPIRATION_OPTIONS: [\"0s\", \"2s\", \"1d\"]\n").await;
    let (owner, owner_token) = f.user("owner").await;
    let (_, bob) = f.user("bob").await;
    f.org(&owner, "acme").await;
    let (status, body) = f
        .call(
            "PUT",
            "/organization/acme",
            Some(&owner_token),
            Some(json!({"tag_expiration_s": 2})),
        )
        .await;
    assert_eq!((status, body["tag_expiration_s"].clone()), (200, json!(2)), "{body}");
    let (status, body) = f
        .call(
            "PUT",
            "/organization/acme",
            Some(&owner_token),
            Some(json!({"tag_expiration_s": 3600})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = f
        .call(
            "PUT",
            "/organization/acme",
            Some(&bob),
            Some(json!({"tag_expiration_s": 0})),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    let (_, view) = f.call("GET", "/organization/acme", Some(&owner_token), None).await;
    assert_eq!(view["tag_expiration_s"], 2, "{view}");
}

#[actix_web::test]
async fn expire_is_not_served_unless_permanent_deletion_is_enabled() {
    let (f, alice) = alice_app("").await;
    f.push_tag("alice/app", "latest").await;
    let (status, _) = f
        .call(
            "POST",
            "/repository/alice/app/tag/latest/expire",
            Some(&alice),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 404);
    assert!(pull(&f, "latest").await.is_ok());
}

#[actix_web::test]
async fn expired_tags_cannot_be_restored() {
    let (f, alice) = alice_app("PERMANENTLY_DELETE_TAGS: true\n").await;
    let digest = f.push_tag("alice/app", "latest").await;
    let expire = |body: Value| {
        f.call(
            "POST",
            "/repository/alice/app/tag/latest/expire",
            Some(&alice),
            Some(body),
        )
    };
    let other = format!("sha256:{}", "2".repeat(64));
    assert_eq!(expire(json!({"manifest_digest": other})).await.0, 404);
    assert_eq!(expire(json!({"is_alive": false})).await.0, 400);
    assert_eq!(expire(json!({"manifest_digest": digest})).await.0, 200);
    assert!(matches!(pull(&f, "latest").await, Err(Error::ManifestUnknown)));
    let restore = json!({"manifest_digest": digest});
    let (status, body) = f
        .call(
            "POST",
            "/repository/alice/app/tag/latest/restore",
            Some(&alice),
            Some(restore),
        )
        .await;
    assert_eq!(status, 404, "{body}");

    // A deleted (dead) lifetime can be expired too, by digest.
    let again = f.push_tag("alice/app", "latest").await;
    f.call("DELETE", "/repository/alice/app/tag/latest", Some(&alice), None)
        .await;
    assert_eq!(
        expire(json!({"is_alive": false, "manifest_digest": again})).await.0,
        200
    );
    assert!(matches!(pull(&f, "latest").await, Err(Error::ManifestUnknown)));
    assert_eq!(
        expire(json!({"is_alive": false, "manifest_digest": again})).await.0,
        404
    );
}

#[actix_web::test]
async fn a_deleted_tag_older_than_the_window_cannot_be_restored() {
    let (f, alice) = alice_app("").await;
    let digest = f.push_tag("alice/app", "latest").await;
    f.call("DELETE", "/repository/alice/app/tag/latest", Some(&alice), None)
        .await;
    age_tag(&f, "latest", 1_209_600_000 + 1).await;
    assert!(matches!(pull(&f, "latest").await, Err(Error::ManifestUnknown)));
    let restore = json!({"manifest_digest": digest});
    let (status, body) = f
        .call(
            "POST",
            "/repository/alice/app/tag/latest/restore",
            Some(&alice),
            Some(restore),
        )
        .await;
    assert_eq!(status, 404, "{body}");
}

#[actix_web::test]
async fn new_namespaces_get_the_default_window_and_keep_it_without_the_feature() {
    let f = RepoFixture::with_config("DEFAULT_TAG_EXPIRATION: 1d\nFEATURE_CHANGE_TAG_EXPIRATION: false\n").await;
    let (owner, token) = f.user("owner").await;
    let org = f.org(&owner, "acme").await;
    assert_eq!(
        (owner.removed_tag_expiration_s, org.removed_tag_expiration_s),
        (86_400, 86_400)
    );
    let (status, body) = f
        .call(
            "PUT",
            "/organization/acme",
            Some(&token),
            Some(json!({"tag_expiration_s": 0})),
        )
        .await;
    assert_eq!(
        (status, body["tag_expiration_s"].clone()),
        (200, json!(86_400)),
        "{body}"
    );
}
