//! The quota API: limits, who may read and change quotas, user and
//! superuser views, the system default, the feature switch and the backfill.

use serde_json::json;

use crate::helpers::{assert_oci_error, random_bytes};
use crate::quota::{Quotas, MIB, QUOTA_ON};

#[actix_web::test]
async fn limits_are_managed_with_quays_rules() {
    let q = Quotas::new().await;
    let id = q.create_quota(1000).await;
    let path = format!("/organization/acme/quota/{id}/limit");
    q.add_limit(id, "Warning", 70).await;
    for (body, why) in [
        (json!({"type": "Warning", "threshold_percent": 70}), "duplicate"),
        (json!({"type": "Soft", "threshold_percent": 50}), "bad type"),
        (json!({"type": "Reject", "threshold_percent": 0}), "zero percent"),
        (json!({"type": "Reject", "threshold_percent": 101}), "over 100"),
        (json!({"type": "Reject"}), "no percent"),
    ] {
        let (status, res) = q.fx.call("POST", &path, Some(&q.admin), Some(body)).await;
        assert_eq!(status, 400, "{why}: {res}");
    }
    q.add_limit(id, "Reject", 90).await;
    let (status, res) =
        q.fx.call(
            "POST",
            &path,
            Some(&q.admin),
            Some(json!({"type": "Reject", "threshold_percent": 95})),
        )
        .await;
    assert_eq!(status, 400, "only one Reject limit: {res}");
    let (_, limits) = q.fx.call("GET", &path, Some(&q.admin), None).await;
    let reject = limits
        .as_array()
        .expect("present")
        .iter()
        .find(|l| l["type"] == "Reject")
        .expect("reject limit")["id"]
        .as_i64()
        .expect("present");
    let (status, view) =
        q.fx.call(
            "PUT",
            &format!("{path}/{reject}"),
            Some(&q.admin),
            Some(json!({"threshold_percent": 85})),
        )
        .await;
    assert_eq!(status, 200, "{view}");
    assert!(view["limits"]
        .as_array()
        .expect("present")
        .iter()
        .any(|l| l["limit_percent"] == 85));
    let (status, one) =
        q.fx.call("GET", &format!("{path}/{reject}"), Some(&q.owner), None)
            .await;
    assert_eq!((status, one["type"].as_str()), (200, Some("Reject")));
    let (status, _) =
        q.fx.call("DELETE", &format!("{path}/{reject}"), Some(&q.admin), None)
            .await;
    assert_eq!(status, 204);
    let (status, _) =
        q.fx.call("GET", &format!("{path}/{reject}"), Some(&q.admin), None)
            .await;
    assert_eq!(status, 404);
    // Bad limits and unknown quotas.
    for body in [json!({"limit_bytes": 0}), json!({"limit": "lots"}), json!({})] {
        let (status, res) =
            q.fx.call(
                "PUT",
                &format!("/organization/acme/quota/{id}"),
                Some(&q.admin),
                Some(body.clone()),
            )
            .await;
        assert!(
            status == 400 || (status == 200 && body == json!({})),
            "{body}: {status} {res}"
        );
    }
    let (status, _) =
        q.fx.call("GET", "/organization/acme/quota/99999", Some(&q.admin), None)
            .await;
    assert_eq!(status, 404);
    let (status, _) =
        q.fx.call("GET", "/organization/acme/quota/abc", Some(&q.admin), None)
            .await;
    assert_eq!(status, 404);
    let (status, _) =
        q.fx.call(
            "DELETE",
            &format!("/organization/acme/quota/{id}"),
            Some(&q.admin),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (_, list) = q.fx.call("GET", "/organization/acme/quota", Some(&q.admin), None).await;
    assert_eq!(list, json!([]));
}

#[actix_web::test]
async fn only_superusers_change_quotas_and_only_members_read_them() {
    let q = Quotas::new().await;
    let id = q.create_quota(10 * MIB).await;
    let (member, member_token) = q.fx.user("member").await;
    let (_, outsider) = q.fx.user("outsider").await;
    let owner_account = q.fx.services.account("owner").await.expect("present").expect("present");
    let org = q.fx.services.account("acme").await.expect("present").expect("present");
    q.fx.team(&owner_account, &org, "readers", "member", &[&member.username])
        .await;
    let quota = format!("/organization/acme/quota/{id}");
    // Members read.
    for path in [
        "/organization/acme/quota".to_owned(),
        quota.clone(),
        format!("{quota}/limit"),
    ] {
        let (status, body) = q.fx.call("GET", &path, Some(&member_token), None).await;
        assert_eq!(status, 200, "member GET {path}: {body}");
    }
    // Outsiders and anonymous callers do not.
    let (status, _) =
        q.fx.call("GET", "/organization/acme/quota", Some(&outsider), None)
            .await;
    assert_eq!(status, 403);
    let (status, _) = q.fx.call("GET", "/organization/acme/quota", None, None).await;
    assert_eq!(status, 401);
    // Nobody but a superuser changes quotas or limits: not even the org admin.
    let limit_body = json!({"type": "Reject", "threshold_percent": 80});
    let (status, _) =
        q.fx.call(
            "POST",
            &format!("{quota}/limit"),
            Some(&q.admin),
            Some(limit_body.clone()),
        )
        .await;
    assert_eq!(status, 201);
    let (_, limits) = q.fx.call("GET", &format!("{quota}/limit"), Some(&q.admin), None).await;
    let limit = format!("{quota}/limit/{}", limits[0]["id"]);
    for token in [&q.owner, &member_token, &outsider] {
        for (method, path, body) in [
            (
                "POST",
                "/organization/acme/quota".to_owned(),
                Some(json!({"limit_bytes": 5})),
            ),
            ("PUT", quota.clone(), Some(json!({"limit_bytes": 1}))),
            ("DELETE", quota.clone(), None),
            ("POST", format!("{quota}/limit"), Some(limit_body.clone())),
            (
                "PUT",
                limit.clone(),
                Some(json!({"type": "Warning", "threshold_percent": 10})),
            ),
            ("DELETE", limit.clone(), None),
            (
                "POST",
                "/superuser/organization/acme/quota".to_owned(),
                Some(json!({"limit_bytes": 5})),
            ),
            (
                "PUT",
                format!("/superuser/organization/acme/quota/{id}"),
                Some(json!({"limit_bytes": 1})),
            ),
            ("DELETE", format!("/superuser/organization/acme/quota/{id}"), None),
            ("GET", "/superuser/registrysize/".to_owned(), None),
        ] {
            let (status, res) = q.fx.call(method, &path, Some(token), body).await;
            assert_eq!(status, 403, "{method} {path}: {res}");
        }
    }
    let (status, _) =
        q.fx.call("POST", &format!("{quota}/limit"), None, Some(limit_body.clone()))
            .await;
    assert_eq!(status, 401);
    // A superuser token without super:user cannot either.
    let admin_account = q.fx.services.account("admin").await.expect("present").expect("present");
    let narrow = q.fx.token(&admin_account, "org:admin user:admin").await;
    let (status, _) =
        q.fx.call("PUT", &quota, Some(&narrow), Some(json!({"limit_bytes": 1})))
            .await;
    assert_eq!(status, 403);
    let (_, view) = q.fx.call("GET", &quota, Some(&q.admin), None).await;
    assert_eq!(view["limit_bytes"], 10 * MIB, "refused changes changed nothing");
    let (_, view) = q.fx.call("GET", &limit, Some(&q.admin), None).await;
    assert_eq!(
        (&view["type"], &view["limit_percent"]),
        (&json!("Reject"), &json!(80)),
        "{view}"
    );
    // Quota fields in the organization view are for members only.
    let (_, view) = q.fx.call("GET", "/organization/acme", Some(&outsider), None).await;
    assert!(
        view.get("quotas").is_none() && view.get("quota_report").is_none(),
        "{view}"
    );
    let (_, view) = q.fx.call("GET", "/organization/acme", Some(&member_token), None).await;
    assert_eq!(view["quotas"][0]["limit_bytes"], 10 * MIB, "{view}");
    assert_eq!(view["quota_report"]["configured_quota"], 10 * MIB, "{view}");
}

#[actix_web::test]
async fn users_read_their_own_quota_set_by_a_superuser() {
    let q = Quotas::new().await;
    let (status, body) =
        q.fx.call(
            "POST",
            "/superuser/users/owner/quota",
            Some(&q.admin),
            Some(json!({"limit": "2 MiB"})),
        )
        .await;
    assert_eq!((status, body), (201, json!("Created")));
    let (status, list) = q.fx.call("GET", "/user/quota", Some(&q.owner), None).await;
    assert_eq!(status, 200);
    assert_eq!(list[0]["limit_bytes"], 2 * MIB);
    let id = list[0]["id"].as_i64().expect("present");
    let (status, one) =
        q.fx.call("GET", &format!("/user/quota/{id}"), Some(&q.owner), None)
            .await;
    assert_eq!((status, one["limit"].as_str()), (200, Some("2.0 MiB")));
    let (status, _) =
        q.fx.call("GET", &format!("/user/quota/{id}/limit"), Some(&q.owner), None)
            .await;
    assert_eq!(status, 200);
    // Another user sees their own (none), not the owner's.
    let (_, other) = q.fx.user("other").await;
    let (_, list) = q.fx.call("GET", "/user/quota", Some(&other), None).await;
    assert_eq!(list, json!([]));
    let (status, _) = q.fx.call("GET", &format!("/user/quota/{id}"), Some(&other), None).await;
    assert_eq!(status, 404);
    // The user view carries the quota and the usage.
    q.push_ok("owner/app", "v1", &[&random_bytes(5000)]).await;
    let (_, me) = q.fx.call("GET", "/user/", Some(&q.owner), None).await;
    assert_eq!(me["quotas"][0]["limit_bytes"], 2 * MIB, "{me}");
    assert!(
        me["quota_report"]["quota_bytes"].as_i64().expect("present") > 5000,
        "{me}"
    );
    // Superuser listings and changes; a non-superuser is refused.
    let (status, users) = q.fx.call("GET", "/superuser/users/", Some(&q.admin), None).await;
    assert_eq!(status, 200);
    let owner_view = users["users"]
        .as_array()
        .expect("present")
        .iter()
        .find(|u| u["username"] == "owner")
        .expect("present")
        .clone();
    assert_eq!(owner_view["quotas"][0]["limit_bytes"], 2 * MIB, "{owner_view}");
    let (status, _) =
        q.fx.call(
            "PUT",
            &format!("/superuser/users/owner/quota/{id}"),
            Some(&q.admin),
            Some(json!({"limit_bytes": 3 * MIB})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) =
        q.fx.call(
            "PUT",
            &format!("/superuser/users/owner/quota/{id}"),
            Some(&q.owner),
            Some(json!({"limit_bytes": 1})),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) =
        q.fx.call("GET", "/superuser/organization/acme/quota", Some(&q.owner), None)
            .await;
    assert_eq!(status, 403);
    let (status, _) =
        q.fx.call(
            "POST",
            "/superuser/organization/acme/quota",
            Some(&q.admin),
            Some(json!({"limit_bytes": MIB})),
        )
        .await;
    assert_eq!(status, 201);
    let (status, _) =
        q.fx.call(
            "POST",
            "/superuser/organization/nosuch/quota",
            Some(&q.admin),
            Some(json!({"limit_bytes": MIB})),
        )
        .await;
    assert_eq!(status, 404);
    let (status, orgs) =
        q.fx.call("GET", "/superuser/organizations/", Some(&q.admin), None)
            .await;
    assert_eq!(status, 200);
    assert_eq!(orgs["organizations"][0]["quotas"][0]["limit_bytes"], MIB, "{orgs}");
    let (status, size) = q.fx.call("GET", "/superuser/registrysize/", Some(&q.admin), None).await;
    assert_eq!(status, 200);
    assert!(size["size_bytes"].as_i64().expect("present") > 5000, "{size}");
    let (status, _) =
        q.fx.call(
            "DELETE",
            &format!("/superuser/users/owner/quota/{id}"),
            Some(&q.admin),
            None,
        )
        .await;
    assert_eq!(status, 204);
}

#[actix_web::test]
async fn the_system_default_rejects_without_a_quota() {
    let q = Quotas::with_config(&format!("{QUOTA_ON}DEFAULT_SYSTEM_REJECT_QUOTA_BYTES: 100000\n")).await;
    let (status, list) = q.fx.call("GET", "/organization/acme/quota", Some(&q.owner), None).await;
    assert_eq!(status, 200);
    assert_eq!(list[0]["default_config"], true, "{list}");
    assert_eq!(list[0]["limit_bytes"], 100_000);
    assert_eq!(list[0]["limits"][0]["type"], "Reject");
    q.push_ok("acme/app", "v1", &[&random_bytes(60_000)]).await;
    let res = q.push_blob("acme/app", &random_bytes(50_000)).await;
    assert_oci_error(res, 403, "DENIED").await;
    // An organization quota replaces the default.
    q.create_quota(1_000_000).await;
    q.push_ok("acme/app", "v2", &[&random_bytes(50_000)]).await;
}

#[actix_web::test]
async fn turned_off_nothing_is_served_or_enforced() {
    let q = Quotas::with_config("SUPER_USERS: [admin]\nDEFAULT_SYSTEM_REJECT_QUOTA_BYTES: 10\n").await;
    for path in ["/organization/acme/quota", "/user/quota", "/superuser/registrysize/"] {
        let (status, _) = q.fx.call("GET", path, Some(&q.admin), None).await;
        assert_eq!(status, 404, "{path}");
    }
    q.push_ok("acme/app", "v1", &[&random_bytes(5_000)]).await;
    let view = q.org_view().await;
    assert!(view.get("quota_report").is_none(), "{view}");
}

#[actix_web::test]
async fn the_backfill_counts_what_was_pushed_before_quotas_were_on() {
    let q = Quotas::with_config("SUPER_USERS: [admin]\n").await;
    let shared = random_bytes(20_000);
    let c1 = q.push_ok("acme/one", "v1", &[&shared]).await;
    let c2 = q.push_ok("acme/two", "v1", &[&shared, &random_bytes(3_000)]).await;
    let with_quota = q.fx.app.services_with_yaml("FEATURE_QUOTA_MANAGEMENT: true").await;
    let before = with_quota.quota_reports(&[q.org_id]).await.expect("present")[&q.org_id];
    assert!(!before.counted && before.quota_bytes == 0, "{before:?}");
    assert!(with_quota.backfill_quota().await.expect("present") >= 1);
    let after = with_quota.quota_reports(&[q.org_id]).await.expect("present")[&q.org_id];
    assert!(after.counted, "{after:?}");
    assert_eq!(after.quota_bytes, 20_000 + 3_000 + c1 + c2);
    assert_eq!(with_quota.backfill_quota().await.expect("present"), 0, "counted once");
    // Pushes through a process with quotas off keep the counted size current.
    let c3 = q.push_ok("acme/one", "v2", &[&random_bytes(1_000)]).await;
    let now = with_quota.quota_reports(&[q.org_id]).await.expect("present")[&q.org_id];
    assert_eq!(now.quota_bytes, after.quota_bytes + 1_000 + c3);
}
