//! What the builder of a triggered build receives: the git repository, the
//! commit and the trigger's deploy key, in the build pack of the
//! registered builder only, never in an API answer or a log.

use serde_json::json;

use super::{active_trigger, builds, config, custom_payload, fixture, push, trigger_path, COMMIT, GIT_URL};
pub(super) use crate::build_support::builder;
use crate::helpers::RepoFixture;
use registry::service::builds::{BuildManagerSettings, ClaimedBuild};

/// Claims the oldest waiting build as a build manager would.
pub(super) async fn claim(f: &RepoFixture) -> ClaimedBuild {
    f.services
        .claim_build("test-manager", &BuildManagerSettings::default().executors)
        .await
        .expect("claim")
        .expect("a waiting build")
}

/// Claims the oldest waiting build, registers its builder and reports
/// `error` (failed with a message) or completion; returns its uuid.
pub(super) async fn run_build(f: &RepoFixture, error: Option<&str>) -> String {
    let job = claim(f).await;
    let (status, pack) = builder(f, &job.uuid, "register", &job.token, json!({})).await;
    assert_eq!(status, 200, "{pack}");
    let body = match error {
        Some(message) => json!({"error": message}),
        None => json!({}),
    };
    let (status, answer) = builder(f, &job.uuid, "complete", &job.token, body).await;
    assert_eq!(status, 200, "{answer}");
    job.uuid
}

/// The deploy key stored (encrypted) for the trigger `uuid`, decrypted.
async fn stored_private_key(f: &RepoFixture, uuid: &str) -> String {
    let id = uuid.to_owned();
    let (row, _) = f
        .services
        .db()
        .read(move |c| Ok(registry::db::queries::triggers::find_by_uuid(c, &id)?))
        .await
        .expect("read trigger")
        .expect("trigger row");
    let stored = row.private_key.expect("private key");
    assert!(stored.starts_with("v0$$"), "kept encrypted");
    f.services.decrypt_field(&stored).await.expect("decrypts")
}

#[actix_web::test]
async fn a_triggered_builds_pack_carries_the_commit_and_deploy_key_to_its_registered_builder() {
    let (f, token) = fixture().await;
    let (uuid, code) = active_trigger(&f, &token, config()).await;
    let payload = custom_payload("refs/heads/main", "Add the build");
    assert_eq!(push(&f, &uuid, Some(&code), &payload).await.0, 200);
    let private_key = stored_private_key(&f, &uuid).await;

    let job = claim(&f).await;
    let (status, pack) = builder(&f, &job.uuid, "register", &job.token, json!({})).await;
    assert_eq!(status, 200, "{pack}");
    assert_eq!(
        pack["git"],
        json!({"url": GIT_URL, "sha": COMMIT, "ref": "refs/heads/main", "private_key": private_key})
    );
    assert!(pack.get("context_url").is_none(), "a git build has no archive: {pack}");
    assert_eq!(pack["dockerfile_path"], "/build/Dockerfile");
    assert_eq!(pack["context"], "/build");
    assert_eq!(pack["tag_names"], json!(["1c002dd", "v-main", "main", "latest"]));

    // Refused: a second registration, and a forged token, get no pack.
    let (status, again) = builder(&f, &job.uuid, "register", &job.token, json!({})).await;
    assert_eq!(status, 400, "{again}");
    let forged = format!("{}.forged", job.uuid);
    let (status, refused) = builder(&f, &job.uuid, "register", &forged, json!({})).await;
    assert_eq!(status, 401, "{refused}");
    for answer in [&again, &refused] {
        assert!(!answer.to_string().contains("PRIVATE KEY"), "{answer}");
    }
}

#[actix_web::test]
async fn the_deploy_key_is_in_no_api_answer_or_log() {
    let (f, token) = fixture().await;
    let (uuid, code) = active_trigger(&f, &token, config()).await;
    let payload = custom_payload("refs/heads/main", "Add the build");
    assert_eq!(push(&f, &uuid, Some(&code), &payload).await.0, 200);
    let build = run_build(&f, Some("RUN false: exit status 1")).await;
    let private_key = stored_private_key(&f, &uuid).await;
    let secret = private_key.lines().nth(1).expect("a line of key material").to_owned();

    let paths = [
        format!("/repository/alice/app/build/{build}"),
        format!("/repository/alice/app/build/{build}/logs"),
        "/repository/alice/app/build/".to_owned(),
        "/repository/alice/app/trigger/".to_owned(),
        trigger_path(&uuid),
        format!("{}/builds", trigger_path(&uuid)),
        "/repository/alice/app/logs".to_owned(),
    ];
    for path in &paths {
        let (status, answer) = f.call("GET", path, Some(&token), None).await;
        assert_eq!(status, 200, "{path}: {answer}");
        let text = answer.to_string();
        assert!(
            !text.contains("PRIVATE KEY") && !text.contains(&secret),
            "{path} shows the deploy key: {text}"
        );
    }
}

#[actix_web::test]
async fn a_build_whose_trigger_was_deleted_clones_without_a_key_and_an_archive_build_has_no_git() {
    let (f, token) = fixture().await;
    let (uuid, code) = active_trigger(&f, &token, config()).await;
    let payload = custom_payload("refs/tags/v1.0", "Release");
    assert_eq!(push(&f, &uuid, Some(&code), &payload).await.0, 200);
    let (status, _) = f.call("DELETE", &trigger_path(&uuid), Some(&token), None).await;
    assert_eq!(status, 204);
    let job = claim(&f).await;
    let (status, pack) = builder(&f, &job.uuid, "register", &job.token, json!({})).await;
    assert_eq!(status, 200, "{pack}");
    assert_eq!(
        pack["git"],
        json!({"url": GIT_URL, "sha": COMMIT, "ref": "refs/tags/v1.0"})
    );

    let body = json!({"archive_url": "https://example.com/ctx.tar.gz"});
    let (status, queued) = f
        .call("POST", "/repository/alice/app/build/", Some(&token), Some(body))
        .await;
    assert_eq!(status, 201, "{queued}");
    let job = claim(&f).await;
    let (status, pack) = builder(&f, &job.uuid, "register", &job.token, json!({})).await;
    assert_eq!(status, 200, "{pack}");
    assert_eq!(pack["context_url"], "https://example.com/ctx.tar.gz");
    assert!(pack.get("git").is_none(), "{pack}");
    assert_eq!(builds(&f, &token).await.len(), 2);
}
