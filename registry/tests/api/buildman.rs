//! The build manager side of builds: claiming waiting builds, the builder
//! API under `/buildman/v1/builds/{uuid}/…` and its job tokens, and silent
//! builds being re-queued. No manager loop runs here (no executors), so
//! the tests claim builds themselves.

use diesel::prelude::*;
use serde_json::{json, Value};

use crate::build_support::{age_heartbeat, age_scheduled, builder, claim, fixture, queue};
use crate::helpers::RepoFixture;
use registry::db::schema::repositorybuild as rb;

const CONFIG: &str = "FEATURE_BUILD_SUPPORT: true\nBUILD_MANAGER: [ephemeral, {EXECUTORS: []}]\n";
const LATE: &str =
    "FEATURE_BUILD_SUPPORT: true\nBUILD_MANAGER: [ephemeral, {JOB_REGISTRATION_TIMEOUT: 0, EXECUTORS: []}]\n";

async fn phase(f: &RepoFixture, token: &str, uuid: &str) -> String {
    let (_, build) = f
        .call("GET", &format!("/repository/alice/app/build/{uuid}"), Some(token), None)
        .await;
    build["phase"].as_str().expect("phase").to_owned()
}

#[actix_web::test]
async fn of_two_managers_exactly_one_claims_a_waiting_build() {
    let (f, token) = fixture(CONFIG).await;
    let uuid = queue(&f, &token).await;
    let (a, b) = futures_util::join!(claim(&f, "manager-a"), claim(&f, "manager-b"));
    let claimed: Vec<_> = [a, b].into_iter().flatten().collect();
    assert_eq!(claimed.len(), 1, "one claim");
    assert_eq!(claimed[0].uuid, uuid);
    assert!(claimed[0].token.starts_with(&format!("{uuid}.")));
    assert_eq!(phase(&f, &token, &uuid).await, "build-scheduled");
    assert!(claim(&f, "manager-c").await.is_none(), "nothing left to claim");
}

#[actix_web::test]
async fn a_builder_registers_reports_phases_and_logs_and_completes() {
    let (f, token) = fixture(CONFIG).await;
    let uuid = queue(&f, &token).await;
    let job = claim(&f, "m").await.expect("claimed");
    let (status, pack) = builder(&f, &uuid, "register", &job.token, json!({})).await;
    assert_eq!(status, 200, "{pack}");
    assert_eq!(pack["repository"], "alice/app");
    assert_eq!(pack["tag_names"], json!(["v1"]));
    assert_eq!(pack["context_url"], "https://example.com/ctx.tar.gz");
    assert!(pack["push_token"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(pack.get("pull_credentials").is_none(), "no pull robot: {pack}");
    let (status, _) = builder(&f, &uuid, "register", &job.token, json!({})).await;
    assert_eq!(status, 400, "registers once");

    assert_eq!(
        builder(&f, &uuid, "phase", &job.token, json!({"phase": "building"}))
            .await
            .0,
        200
    );
    assert_eq!(phase(&f, &token, &uuid).await, "building");
    let line = json!({"sequence_number": 1, "message": "STEP 1/2: FROM scratch", "type": "command"});
    assert_eq!(builder(&f, &uuid, "logs", &job.token, line.clone()).await.0, 200);
    assert_eq!(
        builder(&f, &uuid, "logs", &job.token, line).await.0,
        400,
        "sequence numbers increase"
    );
    assert_eq!(builder(&f, &uuid, "heartbeat", &job.token, json!({})).await.0, 200);
    assert_eq!(builder(&f, &uuid, "complete", &job.token, json!({})).await.0, 200);
    assert_eq!(phase(&f, &token, &uuid).await, "complete");

    let (_, logs) = f
        .call(
            "GET",
            &format!("/repository/alice/app/build/{uuid}/logs"),
            Some(&token),
            None,
        )
        .await;
    let entries: Vec<(String, String)> = logs["logs"]
        .as_array()
        .expect("logs")
        .iter()
        .map(|l| {
            (
                l["message"].as_str().unwrap_or("").to_owned(),
                l["type"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    for expected in [
        ("building", "phase"),
        ("STEP 1/2: FROM scratch", "command"),
        ("complete", "phase"),
    ] {
        assert!(
            entries.contains(&(expected.0.into(), expected.1.into())),
            "{expected:?} in {entries:?}"
        );
    }
    assert_eq!(
        builder(&f, &uuid, "heartbeat", &job.token, json!({})).await.0,
        400,
        "a finished build takes no more reports"
    );
}

#[actix_web::test]
async fn a_build_with_a_pull_robot_gives_its_builder_the_robots_login_only() {
    let (f, token) = fixture(CONFIG).await;
    let (status, robot) = f
        .call("PUT", "/user/robots/puller", Some(&token), Some(json!({})))
        .await;
    assert_eq!(status, 201, "{robot}");
    let robot_token = robot["token"].as_str().expect("robot token").to_owned();
    let body = json!({"archive_url": "https://example.com/ctx.tar.gz", "pull_robot": "alice+puller"});
    let (status, build) = f
        .call("POST", "/repository/alice/app/build/", Some(&token), Some(body))
        .await;
    assert_eq!(status, 201, "{build}");
    assert_eq!(build["pull_robot"]["name"], "alice+puller");
    assert!(
        !build.to_string().contains(&robot_token),
        "no robot token in the API: {build}"
    );
    let uuid = build["id"].as_str().expect("id").to_owned();
    let job = claim(&f, "m").await.expect("claimed");
    let (status, pack) = builder(&f, &uuid, "register", &job.token, json!({})).await;
    assert_eq!(status, 200, "{pack}");
    assert_eq!(
        pack["pull_credentials"],
        json!({"username": "alice+puller", "password": robot_token})
    );
    let (_, listed) = f.call("GET", "/repository/alice/app/build/", Some(&token), None).await;
    assert!(!listed.to_string().contains(&robot_token), "{listed}");
}

#[actix_web::test]
async fn wrong_and_other_builds_job_tokens_are_refused() {
    let (f, token) = fixture(CONFIG).await;
    let first = queue(&f, &token).await;
    let second = queue(&f, &token).await;
    let a = claim(&f, "m").await.expect("first");
    let b = claim(&f, "m").await.expect("second");
    assert_eq!((a.uuid.as_str(), b.uuid.as_str()), (first.as_str(), second.as_str()));
    let wrong = format!("{first}.not-the-secret");
    assert_eq!(builder(&f, &first, "register", &wrong, json!({})).await.0, 401);
    assert_eq!(
        builder(&f, &first, "register", &b.token, json!({})).await.0,
        401,
        "another build's token"
    );
    assert_eq!(builder(&f, &first, "register", "", json!({})).await.0, 401);
    assert_eq!(builder(&f, &first, "register", &a.token, json!({})).await.0, 200);
}

#[actix_web::test]
async fn a_builder_that_does_not_register_in_time_is_refused_and_its_build_requeued() {
    let (f, token) = fixture(LATE).await;
    let uuid = queue(&f, &token).await;
    let job = claim(&f, "m").await.expect("claimed");
    // Scheduled a second ago: past the (zero) registration timeout, without
    // waiting for the clock.
    age_scheduled(&f, &uuid, 1_000).await;
    assert_eq!(f.services.expire_stale_builds().await.expect("expire"), 1, "went stale");
    assert_eq!(builder(&f, &uuid, "register", &job.token, json!({})).await.0, 401);
    assert_eq!(phase(&f, &token, &uuid).await, "waiting");
    let (_, build) = f
        .call(
            "GET",
            &format!("/repository/alice/app/build/{uuid}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(build["phase"], "waiting", "{build}");
    let retries: i32 = f
        .services
        .db()
        .read(move |c| {
            Ok(rb::table
                .filter(rb::uuid.eq(uuid))
                .select(rb::retries_remaining)
                .first(c)?)
        })
        .await
        .expect("retries");
    assert_eq!(retries, 2, "one retry used");
}

#[actix_web::test]
async fn a_silent_build_is_requeued_while_it_has_retries_then_fails() {
    let (f, token) = fixture(CONFIG).await;
    let uuid = queue(&f, &token).await;
    for retries_left in [2, 1, 0] {
        let job = claim(&f, "m").await.expect("claimed");
        assert_eq!(builder(&f, &uuid, "register", &job.token, json!({})).await.0, 200);
        assert_eq!(
            f.services.expire_stale_builds().await.expect("expire"),
            0,
            "fresh heartbeat"
        );
        age_heartbeat(&f, &uuid, 61_000).await;
        assert_eq!(phase(&f, &token, &uuid).await, "internalerror", "shown failed at once");
        assert_eq!(f.services.expire_stale_builds().await.expect("expire"), 1);
        assert_eq!(phase(&f, &token, &uuid).await, "waiting", "{retries_left} retries left");
    }
    let job = claim(&f, "m").await.expect("claimed a last time");
    assert_eq!(builder(&f, &uuid, "register", &job.token, json!({})).await.0, 200);
    age_heartbeat(&f, &uuid, 61_000).await;
    assert_eq!(f.services.expire_stale_builds().await.expect("expire"), 1);
    assert_eq!(
        phase(&f, &token, &uuid).await,
        "expired",
        "internalerror without retries"
    );
    assert!(claim(&f, "m").await.is_none(), "not queued again");
    assert_eq!(
        builder(&f, &uuid, "heartbeat", &job.token, json!({})).await.0,
        401,
        "its token ended with it"
    );
}

#[actix_web::test]
async fn a_build_past_machine_max_time_fails_at_once_though_retries_remain() {
    let config = "FEATURE_BUILD_SUPPORT: true\nBUILD_MANAGER: [ephemeral, {MACHINE_MAX_TIME: 600, EXECUTORS: []}]\n";
    let (f, token) = fixture(config).await;
    let uuid = queue(&f, &token).await;
    let job = claim(&f, "m").await.expect("claimed");
    assert_eq!(builder(&f, &uuid, "register", &job.token, json!({})).await.0, 200);
    age_scheduled(&f, &uuid, 599_000).await;
    assert_eq!(builder(&f, &uuid, "heartbeat", &job.token, json!({})).await.0, 200);
    assert_eq!(
        f.services.expire_stale_builds().await.expect("expire"),
        0,
        "within the limit"
    );
    age_scheduled(&f, &uuid, 2_000).await;
    assert_eq!(
        builder(&f, &uuid, "heartbeat", &job.token, json!({})).await.0,
        401,
        "the job token ends at the limit"
    );
    assert_eq!(f.services.expire_stale_builds().await.expect("expire"), 1);
    let (_, build) = f
        .call(
            "GET",
            &format!("/repository/alice/app/build/{uuid}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(build["phase"], "expired", "failed, not re-queued: {build}");
    assert!(
        build["error"].as_str().is_some_and(|e| e.contains("600 seconds")),
        "{build}"
    );
    assert!(claim(&f, "m").await.is_none(), "not queued again");
}

#[actix_web::test]
async fn only_attempts_no_longer_running_are_stale_and_other_registries_builds_never() {
    let (f, token) = fixture(LATE).await;
    let uuid = queue(&f, &token).await;
    let first = claim(&f, "m").await.expect("claimed");
    let stale = |attempts: Vec<(String, String)>| f.services.stale_attempts(attempts);
    let other = (
        "4f1c0d6e-0000-4000-8000-000000000000".to_owned(),
        "0123456789abcdef".to_owned(),
    );
    let mine = (uuid.clone(), first.attempt());
    assert_eq!(
        stale(vec![mine.clone(), other.clone()]).await.expect("stale"),
        Vec::<(String, String)>::new(),
        "the running attempt, and a build this registry does not know"
    );
    // Re-queued after a missed registration, then claimed again: the first
    // attempt's Job must go, the second's stays.
    age_scheduled(&f, &uuid, 1_000).await;
    assert_eq!(f.services.expire_stale_builds().await.expect("expire"), 1);
    assert_eq!(
        stale(vec![mine.clone()]).await.expect("stale"),
        vec![mine.clone()],
        "re-queued"
    );
    let second = claim(&f, "m").await.expect("claimed again");
    assert_ne!(second.attempt(), first.attempt());
    let current = (uuid.clone(), second.attempt());
    assert_eq!(
        stale(vec![mine.clone(), current.clone()]).await.expect("stale"),
        vec![mine],
        "only the old attempt"
    );
    let (status, body) = f
        .call(
            "DELETE",
            &format!("/repository/alice/app/build/{uuid}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        stale(vec![current.clone()]).await.expect("stale"),
        vec![current],
        "cancelled"
    );
}

#[actix_web::test]
async fn cancelling_a_running_build_stops_its_builder() {
    let (f, token) = fixture(CONFIG).await;
    let uuid = queue(&f, &token).await;
    let job = claim(&f, "m").await.expect("claimed");
    assert_eq!(builder(&f, &uuid, "register", &job.token, json!({})).await.0, 200);
    let path = format!("/repository/alice/app/build/{uuid}");
    let (status, body) = f.call("DELETE", &path, Some(&token), None).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(phase(&f, &token, &uuid).await, "cancelled");
    assert_eq!(builder(&f, &uuid, "heartbeat", &job.token, json!({})).await.0, 400);
    let (status, _) = f.call("DELETE", &path, Some(&token), None).await;
    assert_eq!(status, 400, "a finished build cannot be cancelled");
}

/// `GET /v2/auth` with Basic `$token` + `secret` for `scope`: (status, body).
async fn token_auth(f: &RepoFixture, secret: &str, scope: &str) -> (u16, Value) {
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("$token:{secret}"));
    let res = f
        .app
        .client
        .get(f.app.url(&format!("/v2/auth?service=registry&scope={scope}")))
        .header("Authorization", format!("Basic {basic}"))
        .send()
        .await
        .expect("GET /v2/auth");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// The actions a registry token grants on `repo`.
fn granted(token: &str, repo: &str) -> Vec<String> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).expect("JWT payload");
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("base64url"),
    )
    .expect("claims JSON");
    claims["access"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["name"] == repo)
        .flat_map(|a| a["actions"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a.as_str().map(String::from))
        .collect()
}

#[actix_web::test]
async fn a_push_token_logs_in_as_token_for_its_repository_only() {
    let (f, token) = fixture(CONFIG).await;
    f.create_repo(&token, "alice", "other", "private").await;
    let uuid = queue(&f, &token).await;
    let job = claim(&f, "m").await.expect("claimed");
    let (_, pack) = builder(&f, &uuid, "register", &job.token, json!({})).await;
    let push = pack["push_token"].as_str().expect("push token").to_owned();

    let (status, body) = token_auth(&f, &push, "repository:alice/app:push,pull").await;
    assert_eq!(status, 200, "{body}");
    let mut actions = granted(body["token"].as_str().expect("token"), "alice/app");
    actions.sort();
    assert_eq!(actions, ["pull", "push"]);

    // Refused: another repository of the same owner, and a forged token.
    let (status, body) = token_auth(&f, &push, "repository:alice/other:push,pull").await;
    assert_eq!(status, 200, "{body}");
    assert!(
        granted(body["token"].as_str().expect("token"), "alice/other").is_empty(),
        "nothing on a repository the build does not push to: {body}"
    );
    let (status, _) = token_auth(&f, "not-a-token", "repository:alice/app:push").await;
    assert_eq!(status, 401);
}
