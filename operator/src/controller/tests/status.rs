//! The status controller and capability discovery against the mock.

use http::Method;
use serde_json::{json, Value};

use super::*;
use crate::controller::status_controller;

fn list(kind: &str, items: Vec<Value>) -> Value {
    json!({"apiVersion": "v1", "kind": format!("{kind}List"), "metadata": {}, "items": items})
}

fn owner() -> Value {
    json!([{"apiVersion": "quay.redhat.com/v1", "kind": "QuayRegistry", "name": CR, "uid": UID}])
}

fn healthy_deployment(name: &str, component: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS, "ownerReferences": owner(), "labels": {"quay-component": component}},
        "spec": {"selector": {}, "template": {}},
        "status": {"availableReplicas": 1, "conditions": [{"type": "Available", "status": "True"}]}
    })
}

#[tokio::test]
async fn the_status_controller_reports_every_component_and_availability() {
    let caps = Capabilities::default();
    let (ctx, mut api) = context(caps);
    let mut qr = registry().with_defaults(CONFIG, &caps);
    // Plain Kubernetes defaults plus a finished migration.
    qr.status = Some(crds::QuayRegistryStatus {
        current_version: Some(VERSION.into()),
        ..Default::default()
    });
    api.registry = Some(qr.clone());
    let server = tokio::spawn(async move {
        let deployments = ["quay-app", "quay-database", "quay-redis", "quay-mirror"]
            .map(|s| healthy_deployment(&format!("{CR}-{s}"), s))
            .to_vec();
        let base = format!("/apis/apps/v1/namespaces/{NS}/deployments");
        let call = api.expect(Method::GET, &base).await;
        assert!(call.query.contains("labelSelector"), "{}", call.query);
        call.ok(&list("Deployment", deployments));
        let pvcs = format!("/api/v1/namespaces/{NS}/persistentvolumeclaims");
        api.expect(Method::GET, &pvcs)
            .await
            .ok(&list("PersistentVolumeClaim", vec![]));
        api.expect(Method::GET, &format!("/apis/batch/v1/namespaces/{NS}/jobs"))
            .await
            .ok(&list("Job", vec![]));
        let hpa = json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                         "metadata": {"name": format!("{CR}-quay-app"), "ownerReferences": owner()},
                         "spec": {"maxReplicas": 20, "scaleTargetRef": {"kind": "Deployment", "name": "x"}}});
        let mirror_hpa = json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                         "metadata": {"name": format!("{CR}-quay-mirror"), "ownerReferences": owner()},
                         "spec": {"maxReplicas": 20, "scaleTargetRef": {"kind": "Deployment", "name": "x"}}});
        let hpas = format!("/apis/autoscaling/v2/namespaces/{NS}/horizontalpodautoscalers");
        api.expect(Method::GET, &hpas)
            .await
            .ok(&list("HorizontalPodAutoscaler", vec![hpa, mirror_hpa]));
        let ingress = json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                             "metadata": {"name": format!("{CR}-quay-app"), "ownerReferences": owner()}});
        let ingresses = format!("/apis/networking.k8s.io/v1/namespaces/{NS}/ingresses");
        api.expect(Method::GET, &ingresses)
            .await
            .ok(&list("Ingress", vec![ingress]));
        api.bundle(CONFIG).await;

        let call = api.expect(Method::PATCH, &format!("{}/status", registry_path())).await;
        assert!(
            call.query.contains("fieldManager=quay-operator-status"),
            "{}",
            call.query
        );
        let status = call.body["status"].clone();
        let reply = api.registry_with_status(&call.body);
        call.ok(&reply);
        assert!(
            status.get("currentVersion").is_none(),
            "the main reconciler's fields are left alone"
        );
        assert_eq!(condition(&status, "Available")["status"], "True", "{status}");
        assert_eq!(condition(&status, "ComponentQuayReady")["reason"], "ComponentReady");
        assert_eq!(
            condition(&status, "ComponentClairReady")["reason"],
            "ComponentNotManaged"
        );
        let conditions = status["conditions"].as_array().map(Vec::len).unwrap_or_default();
        assert_eq!(conditions, 12);
        for _ in 0..conditions {
            assert_eq!(api.event().await["type"], "Normal");
        }
    });
    let action = status_controller::reconcile(std::sync::Arc::new(qr), ctx)
        .await
        .expect("evaluated");
    assert_eq!(action, Action::requeue(crate::controller::REQUEUE_RESYNC));
    server.await.expect("scenario held");
}

#[tokio::test]
async fn discovery_finds_the_apis_the_cluster_serves() {
    let (ctx, mut api) = context(Capabilities::default());
    let server = tokio::spawn(async move {
        api.expect(Method::GET, "/apis/route.openshift.io/v1").await.ok(&json!({
            "kind": "APIResourceList", "groupVersion": "route.openshift.io/v1",
            "resources": [{"name": "routes", "singularName": "route", "namespaced": true, "kind": "Route", "verbs": ["get"]}]
        }));
        api.expect(Method::GET, "/apis/objectbucket.io/v1alpha1")
            .await
            .not_found();
        api.expect(Method::GET, "/apis/monitoring.coreos.com/v1").await.ok(&json!({
            "kind": "APIResourceList", "groupVersion": "monitoring.coreos.com/v1",
            "resources": [
                {"name": "servicemonitors", "singularName": "", "namespaced": true, "kind": "ServiceMonitor", "verbs": []},
                {"name": "prometheusrules", "singularName": "", "namespaced": true, "kind": "PrometheusRule", "verbs": []}
            ]
        }));
        api.expect(Method::GET, "/apis/config.openshift.io/v1")
            .await
            .not_found();
        api.expect(Method::GET, "/api/v1/namespaces/openshift-config-managed")
            .await
            .not_found();
    });
    let caps = crate::capabilities::discover(&ctx.client).await;
    server.await.expect("scenario held");
    assert_eq!(
        caps,
        Capabilities {
            routes: true,
            object_bucket_claims: false,
            monitoring: false,
            apiserver_config: false
        }
    );
}
