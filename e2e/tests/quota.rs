//! Quotas with real clients, in the order of Quay's documentation: a
//! superuser creates a 10 MiB quota for an organization with `curl`, views
//! it, raises it to 100 MiB; images are pushed with `skopeo` and the
//! consumption shows in the repository list; an 80 % Reject and a 50 %
//! Warning limit are set, and the next push over 80 % is refused with
//! "Quota has been exceeded on namespace" while pulls keep working.

use e2e::process::{curl_json, sh, skopeo_with as skopeo};
use e2e::{backend_tests, Registry, TestEnv};

backend_tests!(quotas_follow_quays_documented_sequence);

const ADMIN: &str = "quayadmin";
const ADMIN_PASSWORD: &str = "quayadmin-Passw0rd";
const MIB: usize = 1024 * 1024;

fn quotas_follow_quays_documented_sequence(env: TestEnv) {
    let reg = Registry::start_with(
        &env,
        &format!("FEATURE_USER_INITIALIZE: true\nSUPER_USERS: [{ADMIN}]\nFEATURE_QUOTA_MANAGEMENT: true\n"),
        false,
    );
    let host = reg.host();
    let base = reg.url("");
    let work = reg.scratch("quota");
    let token = reg.initialize_user(ADMIN, ADMIN_PASSWORD);
    let vars = [("BASE", base.as_str()), ("TOKEN", token.as_str())];
    let created = sh(
        &work,
        "curl -s -X POST -d '{\"name\":\"testorg\"}' -H \"Authorization: Bearer $TOKEN\" \
         -H 'Content-Type: application/json' $BASE/api/v1/organization/",
        &vars,
    )
    .ok();
    assert_eq!(created.trim(), "\"Created\"");

    // Create a 10 MiB quota and view it.
    let created = sh(
        &work,
        "curl -k -s -X POST -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' \
         -d '{\"limit_bytes\": 10485760}' $BASE/api/v1/organization/testorg/quota",
        &vars,
    )
    .ok();
    assert_eq!(created.trim(), "\"Created\"");
    let quotas = curl_json(
        &work,
        "curl -k -s -X GET -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' \
         $BASE/api/v1/organization/testorg/quota",
        &vars,
    );
    assert_eq!(quotas[0]["limit_bytes"], 10_485_760, "{quotas}");
    assert_eq!(quotas[0]["limit"], "10.0 MiB", "{quotas}");
    let id = quotas[0]["id"].as_i64().expect("quota id").to_string();
    let vars = [("BASE", base.as_str()), ("TOKEN", token.as_str()), ("ID", id.as_str())];

    // Raise it to 100 MiB.
    let raised = curl_json(
        &work,
        "curl -k -s -X PUT -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' \
         -d '{\"limit_bytes\": 104857600}' $BASE/api/v1/organization/testorg/quota/$ID",
        &vars,
    );
    assert_eq!(raised["limit"], "100.0 MiB", "{raised}");

    // Push an image and see the consumption in the repository list.
    let push = |tag: &str, size: usize| {
        let (pushed, _, auth) = e2e::skopeo::push_new_as(&reg, (ADMIN, ADMIN_PASSWORD), "testorg/ubuntu", tag, size);
        (pushed, auth.display().to_string())
    };
    let (pushed, auth) = push("v1", 30 * MIB);
    pushed.ok();
    let listed = curl_json(
        &work,
        "curl -k -s -X GET -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' \
         \"$BASE/api/v1/repository?last_modified=true&namespace=testorg&popularity=true&public=true\"",
        &vars,
    );
    let report = &listed["repositories"][0]["quota_report"];
    let used = report["quota_bytes"].as_u64().expect("quota_bytes") as usize;
    assert!((30 * MIB..31 * MIB).contains(&used), "{listed}");
    assert_eq!(report["configured_quota"], 104_857_600, "{listed}");

    // An 80 % Reject and a 50 % Warning limit.
    for (kind, percent) in [("Reject", 80), ("Warning", 50)] {
        let out = sh(
            &work,
            &format!(
                "curl -k -s -X POST -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' \
                 -d '{{\"type\":\"{kind}\",\"threshold_percent\":{percent}}}' \
                 $BASE/api/v1/organization/testorg/quota/$ID/limit"
            ),
            &vars,
        )
        .ok();
        assert_eq!(out.trim(), "\"Created\"");
    }
    let limits = curl_json(
        &work,
        "curl -k -s -X GET -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' \
         $BASE/api/v1/organization/testorg/quota/$ID/limit",
        &vars,
    );
    assert_eq!(limits.as_array().map(Vec::len), Some(2), "{limits}");

    // Over 50 % is let through; the next push over 80 % is refused.
    push("v2", 25 * MIB).0.ok();
    let refused = push("v3", 30 * MIB).0.failed();
    assert!(refused.contains("Quota has been exceeded on namespace"), "{refused}");
    let org = curl_json(
        &work,
        "curl -k -s -H \"Authorization: Bearer $TOKEN\" $BASE/api/v1/organization/testorg",
        &vars,
    );
    let after = org["quota_report"]["quota_bytes"].as_u64().expect("quota_bytes") as usize;
    assert!(
        (55 * MIB..56 * MIB).contains(&after),
        "the refused push left nothing counted: {org}"
    );

    // Pulls are never blocked.
    skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--authfile",
        &auth,
        &format!("docker://{host}/testorg/ubuntu:v2"),
    ])
    .ok();
}
