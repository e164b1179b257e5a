//! Expiry by the `quay.expires-after` label, immutable tags and the
//! manifest view (quay-api.md §1.9, §3.1).

use super::*;

#[actix_web::test]
async fn the_expires_after_label_sets_the_end_within_bounds() {
    let (f, alice) = alice_app("").await;
    push_labeled(&f, "alice/app", "twohours", json!({"quay.expires-after": "2h"})).await;
    push_labeled(&f, "alice/app", "tooshort", json!({"quay.expires-after": "1s"})).await;
    push_labeled(&f, "alice/app", "toolong", json!({"quay.expires-after": "500w"})).await;
    push_labeled(&f, "alice/app", "plain", json!({"other": "x"})).await;
    push_labeled(&f, "alice/app", "junk", json!({"quay.expires-after": "soon"})).await;
    for (tag, seconds) in [("twohours", 7200), ("tooshort", 3600), ("toolong", 104 * 604_800)] {
        let view = alive_tag(&f, &alice, tag).await;
        let start = view["start_ts"].as_i64().expect("start_ts");
        let end = view["end_ts"].as_i64().unwrap_or_else(|| panic!("no end in {view}"));
        assert!((start + seconds - 1..=start + seconds).contains(&end), "{tag}: {view}");
    }
    for tag in ["plain", "junk"] {
        let view = alive_tag(&f, &alice, tag).await;
        assert!(view.get("end_ts").is_none(), "{tag}: {view}");
    }
    let expiring = f.services.tags_expiring_within(1).await.expect("expiring tags");
    let names: Vec<&str> = expiring.iter().map(|(_, n, _)| n.as_str()).collect();
    assert_eq!(names, ["tooshort", "twohours"]);
}

#[actix_web::test]
async fn a_tag_past_its_label_expiry_is_gone_from_v2() {
    let (f, _) = alice_app("").await;
    let digest = push_labeled(&f, "alice/app", "brief", json!({"quay.expires-after": "1h"})).await;
    assert_eq!(pull(&f, "brief").await.expect("pull before expiry"), digest);
    assert_eq!(v2_tags(&f).await, ["brief"]);
    age_tag(&f, "brief", 3_600_000 + 1).await;
    assert!(matches!(pull(&f, "brief").await, Err(Error::TagExpired)));
    assert!(v2_tags(&f).await.is_empty());
}

#[actix_web::test]
async fn the_manifest_view_shows_bytes_and_layers_with_their_build_steps() {
    let (f, alice) = alice_app("").await;
    let config = json!({"architecture": "amd64", "os": "linux", "history": [
        {"created": "2024-02-29T12:34:56Z", "created_by": "/bin/sh -c #(nop) ENV A=1", "empty_layer": true},
        {"created": "2024-02-29T12:34:56Z", "created_by": "ADD rootfs.tar /", "author": "alice", "comment": "base"},
    ]});
    let digest = push_with_config(&f, "alice/app", "latest", config).await;
    let (status, view) = f
        .call(
            "GET",
            &format!("/repository/alice/app/manifest/{digest}"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["digest"], digest.as_str());
    assert_eq!(view["is_manifest_list"], false);
    assert_eq!(view["config_media_type"], OCI_CONFIG);
    let data: Value = serde_json::from_str(view["manifest_data"].as_str().expect("manifest_data")).expect("JSON");
    assert_eq!(data["layers"][0]["size"], 256);
    assert!(view["layers_compressed_size"].as_i64().unwrap_or(0) >= 256, "{view}");
    let layer = &view["layers"][0];
    assert_eq!(
        (
            layer["index"].clone(),
            layer["compressed_size"].clone(),
            layer["is_remote"].clone()
        ),
        (json!(0), json!(256), json!(false))
    );
    assert_eq!(layer["blob_digest"], data["layers"][0]["digest"]);
    assert_eq!(layer["command"], json!(["ADD rootfs.tar /"]));
    assert_eq!(
        (layer["author"].clone(), layer["comment"].clone()),
        (json!("alice"), json!("base"))
    );
    assert_eq!(layer["created_datetime"], "Thu, 29 Feb 2024 12:34:56 -0000");

    let unknown = format!("sha256:{}", "3".repeat(64));
    let (status, _) = f
        .call(
            "GET",
            &format!("/repository/alice/app/manifest/{unknown}"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = f
        .call("GET", &format!("/repository/alice/app/manifest/{digest}"), None, None)
        .await;
    assert_eq!(status, 401);
    f.call("DELETE", "/repository/alice/app/tag/latest", Some(&alice), None)
        .await;
    let (status, _) = f
        .call(
            "GET",
            &format!("/repository/alice/app/manifest/{digest}"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(status, 404, "a manifest no alive tag holds is not shown");
}

#[actix_web::test]
async fn an_immutable_tag_cannot_be_moved_deleted_or_given_an_expiry() {
    use diesel::prelude::*;
    use registry::db::schema::tag as t;

    let (f, alice) = alice_app("PERMANENTLY_DELETE_TAGS: true\nFEATURE_IMMUTABLE_TAGS: true\n").await;
    let digest = f.push_tag("alice/app", "stable").await;
    let other = f.push_tag("alice/app", "other").await;
    f.services
        .db()
        .write(|c| {
            diesel::update(t::table.filter(t::name.eq("stable")))
                .set(t::immutable.eq(true))
                .execute(c)?;
            Ok::<_, Error>(())
        })
        .await
        .expect("make the tag immutable");
    let path = "/repository/alice/app/tag/stable";
    let refused = [
        ("PUT", path.to_owned(), json!({"manifest_digest": other})),
        ("PUT", path.to_owned(), json!({"expiration": now_s() + 86_400})),
        ("DELETE", path.to_owned(), Value::Null),
        ("POST", format!("{path}/restore"), json!({"manifest_digest": other})),
        ("POST", format!("{path}/expire"), json!({})),
    ];
    for (method, p, body) in refused {
        let (status, res) = f.call(method, &p, Some(&alice), Some(body)).await;
        assert_eq!(
            (status, res["error_type"].clone()),
            (409, json!("tag_immutable")),
            "{method} {p}"
        );
    }
    assert_eq!(pull(&f, "stable").await.expect("still tagged"), digest);
    let view = alive_tag(&f, &alice, "stable").await;
    assert_eq!((view["immutable"].clone(), view.get("end_ts")), (json!(true), None));
}
