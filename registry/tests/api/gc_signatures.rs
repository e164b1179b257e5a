//! Garbage collection of signatures and other referrers: a referrer is held
//! by its temporary tag or by its subject, never the other way round, and
//! cosign's sibling tags (`sha256-<hex>.sig`) end with their image.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::gc::{after_upload_holds, after_window, gc_at, pull_fully, services, untag};
use crate::helpers::{
    api_user, image_manifest, index_manifest, random_bytes, repo, sha256, spawn_app, spawn_app_with, Image, TestApp,
    OCI_CONFIG, OCI_INDEX, OCI_LAYER, OCI_MANIFEST,
};

const HOUR_MS: i64 = 3600 * 1000;

/// Pushes the blobs of an image or artifact and returns it unpushed: a
/// random config and layer, and `subject` when given.
async fn prepare(app: &TestApp, repo: &str, subject: Option<&str>) -> Image {
    let config = serde_json::to_vec(&json!({"os": "linux", "nonce": hex::encode(random_bytes(8))})).expect("config");
    let layer = random_bytes(1024);
    let config_digest = app.push_blob(repo, &config).await;
    let layer_digest = app.push_blob(repo, &layer).await;
    let mut manifest: Value = serde_json::from_slice(&image_manifest(
        OCI_MANIFEST,
        (OCI_CONFIG, &config_digest, config.len()),
        &[(OCI_LAYER, &layer_digest, layer.len())],
    ))
    .expect("manifest JSON");
    if let Some(subject) = subject {
        manifest["subject"] = json!({"mediaType": OCI_MANIFEST, "digest": subject, "size": 100});
    }
    let manifest = serde_json::to_vec(&manifest).expect("manifest bytes");
    Image {
        digest: sha256(&manifest),
        manifest,
        config_digest,
        layer_digest,
        layer,
    }
}

/// Pushes a prepared image under a tag, or by digest when `tag` is `None`.
async fn push(app: &TestApp, repo: &str, tag: Option<&str>, image: &Image) {
    let reference = tag.unwrap_or(&image.digest);
    let res = app.put_manifest(repo, reference, OCI_MANIFEST, &image.manifest).await;
    assert_eq!(res.status(), StatusCode::CREATED, "pushing {repo}:{reference}");
}

/// A referrer of `subject`, pushed by digest as `oras attach` does.
async fn attach(app: &TestApp, repo: &str, subject: &str) -> Image {
    let referrer = prepare(app, repo, Some(subject)).await;
    push(app, repo, None, &referrer).await;
    referrer
}

async fn assert_stored(app: &TestApp, image: &Image, copies: usize) {
    for digest in [&image.config_digest, &image.layer_digest] {
        assert_eq!(app.stored_copies(digest).await, copies, "stored copies of {digest}");
    }
}

async fn referrer_digests(app: &TestApp, repo: &str, subject: &str) -> Vec<String> {
    let res = app.get(&format!("/v2/{repo}/referrers/{subject}")).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.expect("referrers index");
    body["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .map(|m| m["digest"].as_str().expect("digest").to_owned())
        .collect()
}

/// A registry with extra config whose client pushes as user `pusher`, who
/// may create namespaces.
async fn spawn_pushing_app(extra_yaml: &str) -> TestApp {
    use base64::Engine as _;
    let yaml = format!("CREATE_NAMESPACE_ON_PUSH: true\nFEATURE_GARBAGE_COLLECTION: false\n{extra_yaml}");
    let mut app = spawn_app_with(&yaml).await;
    let (_, token) = api_user(&app, "pusher", "all").await;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("$oauthtoken:{token}"));
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Basic {basic}").parse().expect("header value"),
    );
    app.client = reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .expect("client");
    app
}

#[actix_web::test]
async fn a_referrer_is_kept_while_its_subject_is_tagged_and_collected_with_it() {
    let app = spawn_app().await;
    let (gc, r) = (services(&app).await, repo());
    let subject = app.push_image(&r, Some("v1")).await;
    let referrer = attach(&app, &r, &subject.digest).await;

    let report = gc_at(&gc, after_upload_holds()).await;
    assert_eq!(report.tags, 1, "only the referrer's temporary tag ended: {report:?}");
    assert!(report.manifests.is_empty() && report.blobs.is_empty(), "{report:?}");
    assert_stored(&app, &referrer, 1).await;
    pull_fully(&app, &r, &referrer.digest, &referrer).await;

    untag(&app, &r, "v1").await;
    let report = gc_at(&gc, after_window()).await;
    assert_eq!(
        report.manifests,
        vec![subject.digest.clone(), referrer.digest.clone()],
        "the subject goes first, then what it held"
    );
    assert_eq!(report.contents_deleted.len(), 4, "{report:?}");
    assert_stored(&app, &subject, 0).await;
    assert_stored(&app, &referrer, 0).await;
    let res = app.get(&format!("/v2/{r}/manifests/{}", referrer.digest)).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn a_referrer_pushed_before_its_subject_is_kept_until_its_temporary_tag_ends() {
    let app = spawn_app().await;
    let (gc, r) = (services(&app).await, repo());
    let orphan = attach(&app, &r, &sha256(b"a subject never pushed")).await;
    let subject = prepare(&app, &r, None).await;
    let early = attach(&app, &r, &subject.digest).await;
    push(&app, &r, Some("v1"), &subject).await;

    let report = gc_at(&gc, registry::now_ms() + HOUR_MS / 2).await;
    assert!(report.is_empty(), "both temporary tags still hold: {report:?}");

    let report = gc_at(&gc, after_upload_holds()).await;
    assert_eq!(report.tags, 2, "{report:?}");
    assert_eq!(report.manifests, vec![orphan.digest.clone()], "only the orphan goes");
    assert_stored(&app, &orphan, 0).await;
    assert_stored(&app, &early, 1).await;
    pull_fully(&app, &r, &early.digest, &early).await;
    pull_fully(&app, &r, "v1", &subject).await;
}

#[actix_web::test]
async fn a_referrer_stays_pullable_and_listed_after_its_temporary_tag_ended() {
    let app = spawn_pushing_app("PUSH_TEMP_TAG_EXPIRATION_SEC: 1\n").await;
    let (gc, r) = (services(&app).await, repo());
    let subject = app.push_image(&r, Some("v1")).await;
    let kept = attach(&app, &r, &subject.digest).await;
    let deleted = attach(&app, &r, &subject.digest).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let report = gc_at(&gc, registry::now_ms()).await;
    assert_eq!(report.tags, 2, "the temporary tags ended: {report:?}");
    assert!(report.manifests.is_empty(), "{report:?}");
    pull_fully(&app, &r, &kept.digest, &kept).await;
    let mut listed = referrer_digests(&app, &r, &subject.digest).await;
    listed.sort();
    let mut expected = vec![kept.digest.clone(), deleted.digest.clone()];
    expected.sort();
    assert_eq!(listed, expected);

    let res = app.delete(&format!("/v2/{r}/manifests/{}", deleted.digest)).await;
    assert_eq!(
        res.status(),
        StatusCode::ACCEPTED,
        "a referrer held by its subject can be deleted"
    );
    assert_eq!(
        referrer_digests(&app, &r, &subject.digest).await,
        vec![kept.digest.clone()]
    );
    let res = app.get(&format!("/v2/{r}/manifests/{}", deleted.digest)).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let report = gc_at(&gc, registry::now_ms()).await;
    assert_eq!(report.manifests, vec![deleted.digest.clone()], "{report:?}");
    assert_stored(&app, &deleted, 0).await;
    pull_fully(&app, &r, &kept.digest, &kept).await;
}

#[actix_web::test]
async fn a_referrer_of_a_platform_image_stays_listed_while_its_index_is_tagged() {
    let app = spawn_pushing_app("PUSH_TEMP_TAG_EXPIRATION_SEC: 1\n").await;
    let (gc, r) = (services(&app).await, repo());
    let platform = app.push_image(&r, None).await;
    let index = index_manifest(OCI_INDEX, &[(OCI_MANIFEST, &platform.digest, platform.manifest.len())]);
    assert_eq!(app.put_manifest(&r, "multi", OCI_INDEX, &index).await.status(), 201);
    let referrer = attach(&app, &r, &platform.digest).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let report = gc_at(&gc, registry::now_ms()).await;
    assert!(report.manifests.is_empty(), "{report:?}");
    assert_eq!(
        referrer_digests(&app, &r, &platform.digest).await,
        vec![referrer.digest.clone()]
    );
    pull_fully(&app, &r, &referrer.digest, &referrer).await;
}

/// cosign's tag scheme: the signature of `sha256:<hex>` is an ordinary
/// manifest tagged `sha256-<hex>.sig`, with no `subject`.
fn sig_tag(image: &Image) -> String {
    format!("{}.sig", image.digest.replace(':', "-"))
}

#[actix_web::test]
async fn a_cosign_signature_tag_ends_with_its_image_and_both_are_collected_after_the_window() {
    let app = spawn_app().await;
    let (gc, r) = (services(&app).await, repo());
    let doomed = app.push_image(&r, Some("v1")).await;
    let doomed_sig = prepare(&app, &r, None).await;
    push(&app, &r, Some(&sig_tag(&doomed)), &doomed_sig).await;
    let signed = app.push_image(&r, Some("v2")).await;
    let signed_sig = prepare(&app, &r, None).await;
    push(&app, &r, Some(&sig_tag(&signed)), &signed_sig).await;
    let unrelated = prepare(&app, &r, None).await;
    push(&app, &r, Some(&format!("sha256-{}.sig", "0".repeat(64))), &unrelated).await;

    let report = gc_at(&gc, registry::now_ms()).await;
    assert_eq!(report.cosign_tags_ended, 0, "every image is still tagged: {report:?}");

    untag(&app, &r, "v1").await;
    let report = gc_at(&gc, registry::now_ms()).await;
    assert_eq!(report.cosign_tags_ended, 1, "{report:?}");
    assert!(
        report.manifests.is_empty(),
        "within the time machine window: {report:?}"
    );
    let res = app.get(&format!("/v2/{r}/manifests/{}", sig_tag(&doomed))).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND, "the signature tag ended");
    assert_stored(&app, &doomed_sig, 1).await;

    let report = gc_at(&gc, after_window()).await;
    let mut collected = report.manifests.clone();
    collected.sort();
    let mut expected = vec![doomed.digest.clone(), doomed_sig.digest.clone()];
    expected.sort();
    assert_eq!(collected, expected, "{report:?}");
    assert_stored(&app, &doomed, 0).await;
    assert_stored(&app, &doomed_sig, 0).await;
    pull_fully(&app, &r, "v2", &signed).await;
    pull_fully(&app, &r, &sig_tag(&signed), &signed_sig).await;
    pull_fully(&app, &r, &format!("sha256-{}.sig", "0".repeat(64)), &unrelated).await;
}

#[actix_web::test]
async fn a_namespace_created_by_a_push_gets_the_configured_time_machine_window() {
    let app = spawn_pushing_app("DEFAULT_TAG_EXPIRATION: 1d\n").await;
    let (gc, r) = (services(&app).await, repo());
    let image = app.push_image(&r, Some("v1")).await;
    let namespace = r.split_once('/').expect("namespace/name").0;
    let account = gc.account(namespace).await.expect("lookup").expect("namespace created");
    assert_eq!(account.removed_tag_expiration_s, 86_400);

    untag(&app, &r, "v1").await;
    let report = gc_at(&gc, registry::now_ms() + 2 * 24 * HOUR_MS).await;
    assert_eq!(report.manifests, vec![image.digest.clone()], "collected after one day");
    assert_stored(&app, &image, 0).await;
}
