//! The migration Job and deletion flows.

use std::time::Duration;

use http::Method;
use kube::runtime::controller::Action;
use serde_json::{json, Value};

use super::*;
use crate::controller::REQUEUE_WAIT;
use crate::names::LABEL_REGISTRY;

fn job(status: Value) -> Value {
    json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "reg-quay-app-upgrade", "namespace": NS}, "status": status})
}

#[tokio::test]
async fn a_running_migration_is_only_polled() {
    let (ctx, api) = context(Capabilities::default());
    let qr = registry().with_status(migrating());
    let action = reconcile_with(ctx, qr, api, |mut api| async move {
        api.expect(Method::GET, &job_path())
            .await
            .ok(&job(json!({"active": 1})));
    })
    .await
    .expect("reconciled");
    assert_eq!(action, Action::requeue(REQUEUE_WAIT));
}

#[tokio::test]
async fn a_succeeded_migration_records_the_version() {
    let (ctx, api) = context(Capabilities::default());
    let qr = registry().with_status(migrating());
    reconcile_with(ctx, qr, api, |mut api| async move {
        api.expect(Method::GET, &job_path())
            .await
            .ok(&job(json!({"succeeded": 1})));
        let status = api.status_apply().await;
        assert_eq!(status["currentVersion"], VERSION);
        assert_eq!(condition(&status, "ComponentsCreated")["status"], "True");
        assert_eq!(
            condition(&status, "RolloutBlocked")["status"],
            "False",
            "kept in the apply"
        );
        let event = api.event().await;
        assert_eq!(
            (event["type"].as_str(), event["reason"].as_str()),
            (Some("Normal"), Some("ComponentsCreationSuccess"))
        );
    })
    .await
    .expect("reconciled");
}

#[tokio::test]
async fn a_failed_migration_is_reported_with_the_jobs_message() {
    let (ctx, api) = context(Capabilities::default());
    let qr = registry().with_status(migrating());
    reconcile_with(ctx, qr, api, |mut api| async move {
        let failed = json!({"failed": 3, "conditions": [{"type": "Failed", "status": "True", "message": "BackoffLimitExceeded"}]});
        api.expect(Method::GET, &job_path()).await.ok(&job(failed));
        let status = api.status_apply().await;
        let created = condition(&status, "ComponentsCreated");
        assert_eq!((created["reason"].as_str(), created["message"].as_str()), (Some("MigrationsFailed"), Some("BackoffLimitExceeded")));
        assert!(status["currentVersion"].is_null());
        api.event().await;
    })
    .await
    .expect("reconciled");
}

#[tokio::test]
async fn a_missing_migration_job_is_reported() {
    let (ctx, api) = context(Capabilities::default());
    let qr = registry().with_status(migrating());
    reconcile_with(ctx, qr, api, |mut api| async move {
        api.expect(Method::GET, &job_path()).await.not_found();
        let status = api.status_apply().await;
        assert_eq!(
            condition(&status, "ComponentsCreated")["reason"],
            "MigrationsJobMissing"
        );
        api.event().await;
    })
    .await
    .expect("reconciled");
}

fn owned_pvc() -> Value {
    json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
           "metadata": {"name": "reg-quay-database-data", "namespace": NS,
                        "ownerReferences": [{"apiVersion": "quay.redhat.com/v1", "kind": "QuayRegistry", "name": CR, "uid": UID}]}})
}

async fn finalizer_removed(api: &mut ApiServer) {
    let call = api.expect(Method::PATCH, &registry_path()).await;
    assert_eq!(call.body[1], json!({"op": "remove", "path": "/metadata/finalizers/0"}));
    let reply = serde_json::to_value(registry()).expect("encodes");
    call.ok(&reply);
}

#[tokio::test]
async fn deleting_a_registry_keeps_its_database_volume_and_keys() {
    let (ctx, api) = context(Capabilities::default());
    reconcile_with(ctx, registry().deleting(), api, |mut api| async move {
        let call = api
            .expect(Method::GET, &format!("/api/v1/namespaces/{NS}/persistentvolumeclaims"))
            .await;
        assert!(call.query.contains("labelSelector"));
        call.ok(
            &json!({"apiVersion": "v1", "kind": "PersistentVolumeClaimList", "metadata": {}, "items": [owned_pvc()]}),
        );
        let call = api
            .expect(
                Method::PATCH,
                &format!("/api/v1/namespaces/{NS}/persistentvolumeclaims/reg-quay-database-data"),
            )
            .await;
        assert_eq!(
            call.body,
            json!({"metadata": {"ownerReferences": null}}),
            "orphaned, so GC keeps it"
        );
        call.ok(&owned_pvc());
        let mut keys = serde_json::to_value(named_secret(MANAGED_KEYS, &[("DB_URI", "x")])).expect("json");
        keys["metadata"]["ownerReferences"] = owned_pvc()["metadata"]["ownerReferences"].clone();
        api.expect(Method::GET, &secret_path(MANAGED_KEYS)).await.ok(&keys);
        let call = api.expect(Method::PATCH, &secret_path(MANAGED_KEYS)).await;
        assert_eq!(call.body["metadata"]["ownerReferences"], Value::Null);
        call.ok(&keys);
        finalizer_removed(&mut api).await;
    })
    .await
    .expect("cleaned up");
}

#[tokio::test]
async fn deleting_a_registry_that_opted_in_deletes_its_database() {
    let (ctx, api) = context(Capabilities::default());
    let qr = registry()
        .deleting()
        .annotated(crate::controller::ANNOTATION_DELETE_DATABASE, "true");
    reconcile_with(ctx, qr, api, |mut api| async move {
        let call = api
            .expect(Method::GET, &format!("/api/v1/namespaces/{NS}/persistentvolumeclaims"))
            .await;
        assert!(
            call.query
                .contains(&format!("labelSelector={}", LABEL_REGISTRY.replace('/', "%2F"))),
            "{}",
            call.query
        );
        call.ok(
            &json!({"apiVersion": "v1", "kind": "PersistentVolumeClaimList", "metadata": {}, "items": [owned_pvc()]}),
        );
        let pvc = format!("/api/v1/namespaces/{NS}/persistentvolumeclaims/reg-quay-database-data");
        api.expect(Method::DELETE, &pvc).await.ok(&owned_pvc());
        let call = api.expect(Method::DELETE, &secret_path(MANAGED_KEYS)).await;
        call.ok(&json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}));
        finalizer_removed(&mut api).await;
    })
    .await
    .expect("cleaned up");
}

#[test]
fn requeue_periods_follow_quay() {
    assert_eq!(REQUEUE_WAIT, Duration::from_secs(10));
    assert_eq!(crate::controller::REQUEUE_RESYNC, Duration::from_secs(60));
}

/// With the Route API, the Ingress a registry had before the API appeared
/// is deleted at start; an Ingress no registry owns is left alone.
#[tokio::test]
async fn at_start_with_routes_the_ingresses_registries_own_are_deleted_and_no_other() {
    let (ctx, mut api) = context(Capabilities::default());
    let client = ctx.client.clone();
    let server = tokio::spawn(async move {
        let call = api.expect(Method::GET, "/apis/networking.k8s.io/v1/ingresses").await;
        assert!(
            call.query
                .contains("labelSelector=quay-component%3Droute%2Cquay-operator%2Fquayregistry"),
            "{}",
            call.query
        );
        let owner = json!([{"apiVersion": "quay.redhat.com/v1", "kind": "QuayRegistry", "name": CR, "uid": UID}]);
        let item = |name: &str, owners: Value| {
            json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
                   "metadata": {"name": name, "namespace": NS, "ownerReferences": owners}})
        };
        call.ok(&json!({
            "apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadataList", "metadata": {},
            "items": [item("reg-quay", owner), item("users-own", json!([]))],
        }));
        api.expect(
            Method::DELETE,
            &format!("/apis/networking.k8s.io/v1/namespaces/{NS}/ingresses/reg-quay"),
        )
        .await
        .ok(&json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}));
        api
    });
    // A DELETE of `users-own` would wait for an answer that never comes.
    tokio::time::timeout(
        Duration::from_secs(5),
        crate::controller::cleanup::retire_ingresses(&client, None),
    )
    .await
    .expect("only the registry's Ingress was deleted");
    server.await.expect("the scenario's assertions held");
}
