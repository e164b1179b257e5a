//! Online garbage collection: what goes, what stays, and the races with
//! pushes and with other passes.

use std::collections::BTreeSet;

use registry::service::{GcOptions, GcReport, Registry};
use reqwest::StatusCode;

use crate::helpers::{
    assert_oci_error, header, image_manifest, index_manifest, random_bytes, repo, sha256, spawn_app, Image, TestApp,
    OCI_CONFIG, OCI_INDEX, OCI_LAYER, OCI_MANIFEST,
};

const DAY_MS: i64 = 24 * 3600 * 1000;

/// After the default two-week time-machine window.
pub(crate) fn after_window() -> i64 {
    registry::now_ms() + 15 * DAY_MS
}

/// After uploads' temporary holds (`PUSH_TEMP_TAG_EXPIRATION_SEC`, an hour) ended.
pub(crate) fn after_upload_holds() -> i64 {
    registry::now_ms() + 2 * 3600 * 1000
}

pub(crate) async fn services(app: &TestApp) -> Registry {
    app.services_with_stale_age(86_400).await
}

pub(crate) async fn gc_at(services: &Registry, now_ms: i64) -> GcReport {
    let opts = GcOptions {
        dry_run: false,
        now_ms: Some(now_ms),
    };
    services.collect_garbage(opts).await.expect("gc pass")
}

pub(crate) async fn untag(app: &TestApp, repo: &str, tag: &str) {
    assert_eq!(app.delete(&format!("/v2/{repo}/manifests/{tag}")).await.status(), 202);
}

/// Pulls `reference` and every blob of `image`, checking the bytes.
pub(crate) async fn pull_fully(app: &TestApp, repo: &str, reference: &str, image: &Image) {
    let res = app.get(&format!("/v2/{repo}/manifests/{reference}")).await;
    assert_eq!(res.status(), StatusCode::OK, "pulling {repo}:{reference}");
    assert_eq!(
        res.bytes().await.expect("manifest body").as_ref(),
        image.manifest.as_slice()
    );
    for digest in [&image.config_digest, &image.layer_digest] {
        let res = app.get(&format!("/v2/{repo}/blobs/{digest}")).await;
        assert_eq!(
            res.status(),
            StatusCode::OK,
            "pulling blob {digest} of {repo}:{reference}"
        );
        let body = res.bytes().await.expect("blob body");
        assert_eq!(sha256(&body), *digest, "blob {digest} of {repo}:{reference} is intact");
    }
}

/// Pushes an image whose layer is `layer` (shared when pushed elsewhere too).
async fn push_with_layer(app: &TestApp, repo: &str, tag: &str, layer: &[u8]) -> Image {
    let config = serde_json::to_vec(&serde_json::json!({"os": "linux", "nonce": hex::encode(random_bytes(8))}))
        .expect("config JSON");
    let config_digest = app.push_blob(repo, &config).await;
    let layer_digest = app.push_blob(repo, layer).await;
    let manifest = image_manifest(
        OCI_MANIFEST,
        (OCI_CONFIG, &config_digest, config.len()),
        &[(OCI_LAYER, &layer_digest, layer.len())],
    );
    assert_eq!(app.put_manifest(repo, tag, OCI_MANIFEST, &manifest).await.status(), 201);
    Image {
        digest: sha256(&manifest),
        manifest,
        config_digest,
        layer_digest,
        layer: layer.to_vec(),
    }
}

#[actix_web::test]
async fn deleted_content_leaves_storage_only_after_the_time_machine_window() {
    let app = spawn_app().await;
    let (gc, r) = (services(&app).await, repo());
    let image = app.push_image(&r, Some("v1")).await;
    let mut stored_bytes = 0;
    for digest in [&image.config_digest, &image.layer_digest] {
        let res = app.head(&format!("/v2/{r}/blobs/{digest}")).await;
        stored_bytes += header(&res, "Content-Length").parse::<u64>().expect("blob size");
    }
    untag(&app, &r, "v1").await;

    let within = gc_at(&gc, registry::now_ms()).await;
    assert!(within.manifests.is_empty() && within.blobs.is_empty(), "{within:?}");
    assert_eq!(app.stored_copies(&image.layer_digest).await, 1, "still restorable");

    let after = gc_at(&gc, after_window()).await;
    assert_eq!(after.tags, 1);
    assert_eq!(after.manifests, vec![image.digest.clone()]);
    let expected: BTreeSet<_> = [image.config_digest.clone(), image.layer_digest.clone()].into();
    assert_eq!(after.blobs.iter().cloned().collect::<BTreeSet<_>>(), expected);
    assert_eq!(
        after.contents_deleted.iter().cloned().collect::<BTreeSet<_>>(),
        expected
    );
    assert_eq!(after.bytes_deleted, stored_bytes, "bytes, not a count of blobs");
    assert_eq!(app.stored_copies(&image.layer_digest).await, 0);
    assert_eq!(app.stored_copies(&image.config_digest).await, 0);
    let res = app.get(&format!("/v2/{r}/blobs/{}", image.layer_digest)).await;
    assert_oci_error(res, 404, "BLOB_UNKNOWN").await;
    assert!(
        gc_at(&gc, after_window()).await.is_empty(),
        "a second pass finds nothing"
    );
}

#[actix_web::test]
async fn nothing_referenced_is_collected_when_layers_are_shared_across_repositories() {
    let app = spawn_app().await;
    let gc = services(&app).await;
    let (one, two) = (repo(), repo());
    let shared = random_bytes(4096);
    let gone = push_with_layer(&app, &one, "a", &shared).await;
    let other_repo = push_with_layer(&app, &two, "b", &shared).await;
    let child = app.push_image(&one, Some("c")).await;
    let index = index_manifest(OCI_INDEX, &[(OCI_MANIFEST, &child.digest, child.manifest.len())]);
    assert_eq!(app.put_manifest(&one, "idx", OCI_INDEX, &index).await.status(), 201);
    untag(&app, &one, "a").await;
    untag(&app, &one, "c").await;

    let report = gc_at(&gc, after_window()).await;
    assert_eq!(
        report.manifests,
        vec![gone.digest.clone()],
        "only the untagged image goes"
    );
    assert_eq!(report.blobs, vec![gone.config_digest.clone()], "the shared layer stays");
    assert_eq!(app.stored_copies(&gone.config_digest).await, 0);
    assert_eq!(app.stored_copies(&shared_digest(&shared)).await, 1);

    pull_fully(&app, &two, "b", &other_repo).await;
    pull_fully(&app, &one, &child.digest, &child).await;
    let res = app.get(&format!("/v2/{one}/manifests/idx")).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.bytes().await.expect("index").as_ref(), index.as_slice());
}

fn shared_digest(data: &[u8]) -> String {
    sha256(data)
}

#[actix_web::test]
async fn blobs_being_pushed_are_not_collected_until_their_upload_hold_ends() {
    let app = spawn_app().await;
    let (gc, r) = (services(&app).await, repo());
    let config = br#"{"os":"linux"}"#.to_vec();
    let layer = random_bytes(2048);
    let config_digest = app.push_blob(&r, &config).await;
    let layer_digest = app.push_blob(&r, &layer).await;
    let partial = app.start_upload(&r).await;
    let half = random_bytes(1024);
    let res = app
        .client
        .patch(&partial)
        .header("Content-Range", "0-1023")
        .body(half.clone())
        .send()
        .await
        .expect("PATCH");
    assert_eq!(res.status(), StatusCode::ACCEPTED);

    let report = gc_at(&gc, registry::now_ms()).await;
    assert!(report.blobs.is_empty(), "{report:?}");
    assert_eq!(app.stored_copies(&layer_digest).await, 1);

    let manifest = image_manifest(
        OCI_MANIFEST,
        (OCI_CONFIG, &config_digest, config.len()),
        &[(OCI_LAYER, &layer_digest, layer.len())],
    );
    assert_eq!(app.put_manifest(&r, "v1", OCI_MANIFEST, &manifest).await.status(), 201);
    let finished = app
        .client
        .put(crate::helpers::with_query(
            &partial,
            &format!("digest={}", sha256(&half)),
        ))
        .send()
        .await
        .expect("finish upload");
    assert_eq!(finished.status(), StatusCode::CREATED, "the upload survived the pass");

    let lone = app.push_blob(&r, &random_bytes(512)).await;
    let report = gc_at(&gc, after_upload_holds()).await;
    let collected: BTreeSet<_> = report.contents_deleted.into_iter().collect();
    assert_eq!(
        collected,
        [lone.clone(), sha256(&half)].into(),
        "only unreferenced blobs past their hold"
    );
    assert_eq!(app.stored_copies(&lone).await, 0);
    let image = Image {
        digest: sha256(&manifest),
        manifest,
        config_digest,
        layer_digest,
        layer,
    };
    pull_fully(&app, &r, "v1", &image).await;
}

#[actix_web::test]
async fn a_manifest_push_racing_gc_keeps_its_blobs_or_is_refused() {
    let app = spawn_app().await;
    let (gc, r) = (services(&app).await, repo());
    let (mut pushed, mut refused) = (0, 0);
    for round in 0..8 {
        let config = format!("{{\"round\":{round},\"n\":\"{}\"}}", hex::encode(random_bytes(4))).into_bytes();
        let layer = random_bytes(1024);
        let config_digest = app.push_blob(&r, &config).await;
        let layer_digest = app.push_blob(&r, &layer).await;
        let manifest = image_manifest(
            OCI_MANIFEST,
            (OCI_CONFIG, &config_digest, config.len()),
            &[(OCI_LAYER, &layer_digest, layer.len())],
        );
        let tag = format!("r{round}");
        // GC sees the upload holds as ended, so the blobs are fair game
        // unless the manifest gets in first.
        let (_, res) = tokio::join!(
            gc_at(&gc, after_upload_holds()),
            app.put_manifest(&r, &tag, OCI_MANIFEST, &manifest)
        );
        if res.status() == StatusCode::CREATED {
            pushed += 1;
            gc_at(&gc, after_upload_holds()).await;
            let image = Image {
                digest: sha256(&manifest),
                manifest,
                config_digest,
                layer_digest,
                layer,
            };
            pull_fully(&app, &r, &tag, &image).await;
        } else {
            refused += 1;
            assert_oci_error(res, 400, "MANIFEST_BLOB_UNKNOWN").await;
            assert_eq!(app.get(&format!("/v2/{r}/manifests/{tag}")).await.status(), 404);
        }
    }
    assert_eq!(pushed + refused, 8);
}

#[actix_web::test]
async fn a_blob_pushed_again_while_its_bytes_are_deleted_is_kept_or_refused() {
    let app = spawn_app().await;
    let (gc, r) = (services(&app).await, repo());
    for _ in 0..6 {
        let data = random_bytes(1536);
        let digest = app.push_blob(&r, &data).await;
        let rows = gc.collect_garbage_rows(after_upload_holds()).await.expect("row pass");
        assert!(rows.blobs.contains(&digest), "{rows:?}");
        let push = app
            .client
            .post(app.url(&format!("/v2/{r}/blobs/uploads/?digest={digest}")))
            .body(data.clone())
            .send();
        let (_, res) = tokio::join!(gc_at(&gc, registry::now_ms()), push);
        let res = res.expect("push");
        if res.status() != StatusCode::CREATED {
            assert_oci_error(res, 400, "BLOB_UPLOAD_INVALID").await;
            app.push_blob(&r, &data).await;
        }
        gc_at(&gc, registry::now_ms()).await;
        let res = app.get(&format!("/v2/{r}/blobs/{digest}")).await;
        assert_eq!(
            res.status(),
            StatusCode::OK,
            "a blob the repository holds has its bytes"
        );
        assert_eq!(sha256(&res.bytes().await.expect("body")), digest);
    }
}

#[actix_web::test]
async fn two_passes_at_once_delete_everything_once_and_nothing_live() {
    let app = spawn_app().await;
    let (first, second) = (services(&app).await, services(&app).await);
    let r = repo();
    let mut dead = Vec::new();
    let mut live = Vec::new();
    for i in 0..6 {
        let tag = format!("t{i}");
        let image = app.push_image(&r, Some(&tag)).await;
        if i % 2 == 0 {
            untag(&app, &r, &tag).await;
            dead.push(image);
        } else {
            live.push((tag, image));
        }
    }
    let (a, b) = tokio::join!(gc_at(&first, after_window()), gc_at(&second, after_window()));
    assert_eq!(a.tags + b.tags, 3);
    let manifests: Vec<_> = a.manifests.iter().chain(&b.manifests).cloned().collect();
    let unique: BTreeSet<_> = manifests.iter().cloned().collect();
    assert_eq!(manifests.len(), unique.len(), "no manifest deleted twice");
    assert_eq!(unique, dead.iter().map(|i| i.digest.clone()).collect());
    let blobs: Vec<_> = a.blobs.iter().chain(&b.blobs).cloned().collect();
    assert_eq!(blobs.len(), 6, "each dead image's two blobs, once: {blobs:?}");
    for image in &dead {
        assert_eq!(app.stored_copies(&image.layer_digest).await, 0);
        assert_eq!(app.stored_copies(&image.config_digest).await, 0);
    }
    for (tag, image) in &live {
        pull_fully(&app, &r, tag, image).await;
    }
}

#[actix_web::test]
async fn bytes_left_by_a_crash_after_the_row_deletion_go_on_the_next_pass() {
    let app = spawn_app().await;
    let (gc, r) = (services(&app).await, repo());
    let image = app.push_image(&r, Some("v1")).await;
    untag(&app, &r, "v1").await;

    let rows = gc.collect_garbage_rows(after_window()).await.expect("row pass");
    assert!(rows.blobs.contains(&image.layer_digest) && rows.contents_deleted.is_empty());
    assert_eq!(
        app.stored_copies(&image.layer_digest).await,
        1,
        "the crash left the bytes"
    );
    let res = app.get(&format!("/v2/{r}/blobs/{}", image.layer_digest)).await;
    assert_oci_error(res, 404, "BLOB_UNKNOWN").await;

    let next = gc_at(&gc, after_window()).await;
    assert!(next.blobs.is_empty(), "no row was left: {next:?}");
    assert!(next.contents_deleted.contains(&image.layer_digest));
    assert_eq!(app.stored_copies(&image.layer_digest).await, 0);
    assert_eq!(app.stored_copies(&image.config_digest).await, 0);
}

#[actix_web::test]
async fn a_dry_run_reports_what_a_pass_removes_and_removes_nothing() {
    let app = spawn_app().await;
    let (gc, r) = (services(&app).await, repo());
    let image = app.push_image(&r, Some("v1")).await;
    let kept = app.push_image(&r, Some("v2")).await;
    untag(&app, &r, "v1").await;

    let dry = gc
        .collect_garbage(GcOptions {
            dry_run: true,
            now_ms: Some(after_window()),
        })
        .await
        .expect("dry run");
    assert_eq!(dry.manifests, vec![image.digest.clone()]);
    assert_eq!(dry.blobs.len(), 2);
    assert_eq!(app.stored_copies(&image.layer_digest).await, 1, "nothing deleted");

    let real = gc_at(&gc, after_window()).await;
    assert_eq!(real, dry, "the pass removes what the dry run reported");
    assert_eq!(app.stored_copies(&image.layer_digest).await, 0);
    pull_fully(&app, &r, "v2", &kept).await;
}

#[actix_web::test]
async fn a_deleted_repository_is_reclaimed_and_others_keep_what_they_share() {
    let app = spawn_app().await;
    let gc = services(&app).await;
    let (doomed, kept) = (repo(), repo());
    let shared = random_bytes(3000);
    let gone = push_with_layer(&app, &doomed, "v1", &shared).await;
    let pending = app.push_blob(&doomed, &random_bytes(700)).await;
    let stays = push_with_layer(&app, &kept, "v1", &shared).await;

    let pusher = gc.account("pusher").await.expect("lookup").expect("pusher");
    let name: registry::oci::RepoName = doomed.parse().expect("repo name");
    let access = gc
        .repository_access(
            Some(&pusher),
            &registry::service::Scopes::all(),
            &name,
            registry::service::Role::Admin,
        )
        .await
        .expect("admin of its repository");
    gc.delete_repository(&access.repo).await.expect("delete repository");

    let report = gc_at(&gc, registry::now_ms()).await;
    assert_eq!(report.manifests, vec![gone.digest.clone()]);
    for digest in [&gone.config_digest, &pending] {
        assert!(
            report.contents_deleted.contains(digest),
            "{digest} reclaimed: {report:?}"
        );
        assert_eq!(app.stored_copies(digest).await, 0);
    }
    assert_eq!(
        app.stored_copies(&gone.layer_digest).await,
        1,
        "shared with a live repository"
    );
    pull_fully(&app, &kept, "v1", &stays).await;
}
