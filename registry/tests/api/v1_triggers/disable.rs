//! Quay's automatic disabling of triggers whose builds keep failing
//! (`SUCCESSIVE_TRIGGER_FAILURE_DISABLE_THRESHOLD`,
//! `SUCCESSIVE_TRIGGER_INTERNAL_ERROR_DISABLE_THRESHOLD`), and what a
//! disabled trigger refuses.

use serde_json::{json, Value};

use super::build_pack::{builder, claim, run_build};
use super::{active_trigger, builds, config, custom_payload, fixture_with, push, trigger_path, COMMIT};
use crate::helpers::RepoFixture;

const TWO_FAILURES: &str = "SUCCESSIVE_TRIGGER_FAILURE_DISABLE_THRESHOLD: 2\n";
const TWO_INTERNAL_ERRORS: &str = "SUCCESSIVE_TRIGGER_INTERNAL_ERROR_DISABLE_THRESHOLD: 2\n";

async fn trigger_view(f: &RepoFixture, token: &str, uuid: &str) -> Value {
    let (status, view) = f.call("GET", &trigger_path(uuid), Some(token), None).await;
    assert_eq!(status, 200, "{view}");
    view
}

/// Pushes a commit to the trigger's webhook; the status.
async fn push_commit(f: &RepoFixture, uuid: &str, code: &str, message: &str) -> (u16, String) {
    push(f, uuid, Some(code), &custom_payload("refs/heads/main", message)).await
}

#[actix_web::test]
async fn successive_failed_builds_disable_the_trigger_which_then_refuses_pushes_and_starts() {
    let (f, token) = fixture_with(TWO_FAILURES).await;
    let (uuid, code) = active_trigger(&f, &token, config()).await;

    assert_eq!(push_commit(&f, &uuid, &code, "one").await.0, 200);
    run_build(&f, Some("RUN make: exit status 2")).await;
    let view = trigger_view(&f, &token, &uuid).await;
    assert_eq!(
        (view["enabled"].clone(), view["disabled_reason"].clone()),
        (json!(true), Value::Null)
    );

    assert_eq!(push_commit(&f, &uuid, &code, "two").await.0, 200);
    run_build(&f, Some("RUN make: exit status 2")).await;
    let view = trigger_view(&f, &token, &uuid).await;
    assert_eq!(view["enabled"], false, "{view}");
    assert_eq!(view["disabled_reason"], "successive_build_failures");

    let (status, body) = push_commit(&f, &uuid, &code, "three").await;
    assert_eq!(status, 400, "{body}");
    let body: Value = serde_json::from_str(&body).expect("JSON refusal");
    assert_eq!(
        body["message"],
        "This build trigger is currently disabled. Please re-enable to continue."
    );
    let start = format!("{}/start", trigger_path(&uuid));
    let (status, body) = f
        .call("POST", &start, Some(&token), Some(json!({"commit_sha": COMMIT})))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error_message"], "Trigger is not enabled.");
    // A push that would be skipped anyway still answers "Okay", as in Quay.
    assert_eq!(
        push_commit(&f, &uuid, &code, "docs [skip build]").await,
        (200, "Okay".into())
    );
    assert_eq!(builds(&f, &token).await.len(), 2, "nothing queued while disabled");

    let (status, view) = f
        .call(
            "PUT",
            &trigger_path(&uuid),
            Some(&token),
            Some(json!({"enabled": true})),
        )
        .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(
        (view["enabled"].clone(), view["disabled_reason"].clone()),
        (json!(true), Value::Null)
    );
    assert_eq!(push_commit(&f, &uuid, &code, "four").await.0, 200);
    assert_eq!(builds(&f, &token).await.len(), 3);
}

#[actix_web::test]
async fn a_successful_build_resets_the_count_of_failures() {
    let (f, token) = fixture_with(TWO_FAILURES).await;
    let (uuid, code) = active_trigger(&f, &token, config()).await;
    for outcome in [Some("failed"), None, Some("failed")] {
        assert_eq!(push_commit(&f, &uuid, &code, "change").await.0, 200);
        run_build(&f, outcome).await;
    }
    let view = trigger_view(&f, &token, &uuid).await;
    assert_eq!(view["enabled"], true, "a success came between the failures: {view}");
    assert_eq!(push_commit(&f, &uuid, &code, "again").await.0, 200);
    run_build(&f, Some("failed")).await;
    assert_eq!(trigger_view(&f, &token, &uuid).await["enabled"], false);
}

#[actix_web::test]
async fn builders_that_go_silent_disable_the_trigger_for_internal_errors() {
    let (f, token) = fixture_with(TWO_INTERNAL_ERRORS).await;
    let (uuid, code) = active_trigger(&f, &token, config()).await;
    assert_eq!(push_commit(&f, &uuid, &code, "one").await.0, 200);
    for round in 1..=2 {
        let job = claim(&f).await;
        let (status, pack) = builder(&f, &job.uuid, "register", &job.token, json!({})).await;
        assert_eq!(status, 200, "{pack}");
        crate::build_support::age_heartbeat(&f, &job.uuid, 61_000).await;
        assert_eq!(f.services.expire_stale_builds().await.expect("expire"), 1);
        let view = trigger_view(&f, &token, &uuid).await;
        assert_eq!(view["enabled"], round < 2, "after {round} internal errors: {view}");
    }
    let view = trigger_view(&f, &token, &uuid).await;
    assert_eq!(view["disabled_reason"], "successive_build_internal_errors");
    let (status, _) = push_commit(&f, &uuid, &code, "two").await;
    assert_eq!(status, 400);
}

#[actix_web::test]
async fn a_threshold_of_null_never_disables() {
    let (f, token) = fixture_with("SUCCESSIVE_TRIGGER_FAILURE_DISABLE_THRESHOLD: null\n").await;
    let (uuid, code) = active_trigger(&f, &token, config()).await;
    for _ in 0..3 {
        assert_eq!(push_commit(&f, &uuid, &code, "change").await.0, 200);
        run_build(&f, Some("failed")).await;
    }
    assert_eq!(trigger_view(&f, &token, &uuid).await["enabled"], true);
}
