//! What build tests share: a build of `alice/app` queued from an archive
//! URL, claims as a build manager makes them, calls of its builder, and
//! moving a build's clock marks into the past.

use diesel::prelude::*;
use serde_json::{json, Value};

use crate::helpers::RepoFixture;
use registry::db::schema::repositorybuild as rb;
use registry::service::builds::{BuildManagerSettings, ClaimedBuild};

/// A registry with `config`, the user alice and her private `alice/app`.
pub async fn fixture(config: &str) -> (RepoFixture, String) {
    let f = RepoFixture::with_config(config).await;
    let (_, token) = f.user("alice").await;
    f.create_repo(&token, "alice", "app", "private").await;
    (f, token)
}

/// Requests a build of alice/app from an archive URL; returns its uuid.
pub async fn queue(f: &RepoFixture, token: &str) -> String {
    let body = json!({"archive_url": "https://example.com/ctx.tar.gz", "docker_tags": ["v1"]});
    let (status, build) = f
        .call("POST", "/repository/alice/app/build/", Some(token), Some(body))
        .await;
    assert_eq!(status, 201, "{build}");
    build["id"].as_str().expect("id").to_owned()
}

/// Claims the oldest waiting build for `manager` on the default executor.
pub async fn claim(f: &RepoFixture, manager: &str) -> Option<ClaimedBuild> {
    f.services
        .claim_build(manager, &BuildManagerSettings::default().executors)
        .await
        .expect("claim")
}

/// A builder call with a job token; returns status and body.
pub async fn builder(f: &RepoFixture, uuid: &str, call: &str, job_token: &str, body: Value) -> (u16, Value) {
    let res = f
        .app
        .client
        .post(f.app.url(&format!("/buildman/v1/builds/{uuid}/{call}")))
        .bearer_auth(job_token)
        .json(&body)
        .send()
        .await
        .expect("builder call");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// Moves the build's last heartbeat `ms` into the past.
pub async fn age_heartbeat(f: &RepoFixture, uuid: &str, ms: i64) {
    let id = uuid.to_owned();
    age(f, move |c| {
        diesel::update(rb::table.filter(rb::uuid.eq(id)))
            .set(rb::heartbeat_ms.eq(rb::heartbeat_ms - ms))
            .execute(c)
    })
    .await;
}

/// Moves the time the build was scheduled `ms` into the past.
pub async fn age_scheduled(f: &RepoFixture, uuid: &str, ms: i64) {
    let id = uuid.to_owned();
    age(f, move |c| {
        diesel::update(rb::table.filter(rb::uuid.eq(id)))
            .set(rb::scheduled_ms.eq(rb::scheduled_ms - ms))
            .execute(c)
    })
    .await;
}

async fn age<F>(f: &RepoFixture, update: F)
where
    F: FnOnce(&mut registry::db::DbConn) -> diesel::QueryResult<usize> + Send + 'static,
{
    let changed = f
        .services
        .db()
        .write(move |c| Ok::<_, registry::service::Error>(update(c)?))
        .await
        .expect("age the build");
    assert_eq!(changed, 1, "one build");
}
