//! TLS inputs and workload deferral.

use crds::{Component, ComponentKind, SecretRef};
use http::Method;
use kube::runtime::controller::Action;
use serde_json::{json, Value};

use super::*;
use crate::controller::REQUEUE_WAIT;
use crate::tls::OperatorCa;

/// The user's `kubernetes.io/tls` Secret `my-tls`, unlabelled.
fn user_tls_secret(cert: &str, key: &str) -> Value {
    let mut secret =
        serde_json::to_value(named_secret("my-tls", &[("tls.crt", cert), ("tls.key", key)])).expect("json");
    secret["type"] = "kubernetes.io/tls".into();
    secret
}

/// The registry with an unmanaged tls component pointing at `my-tls`.
fn registry_with_tls_ref(caps: &Capabilities) -> crds::QuayRegistry {
    let mut qr = registry();
    qr.spec.components = vec![Component {
        kind: ComponentKind::Tls,
        managed: false,
        overrides: None,
        secret_ref: Some(SecretRef { name: "my-tls".into() }),
    }];
    qr.with_defaults(CONFIG, caps)
}

fn b64(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[tokio::test]
async fn a_tls_secret_ref_is_labelled_and_served_by_the_registry() {
    let caps = Capabilities::default();
    let (ctx, api) = context(caps);
    let ca = OperatorCa::generate().expect("CA");
    let pair = ca.issue(&["registry.example.com"]).expect("certificate");
    let qr = registry_with_tls_ref(&caps);
    let (cert, key) = (pair.cert_pem.clone(), pair.key_pem.clone());
    reconcile_with(ctx, qr, api, |mut api| async move {
        api.bundle(CONFIG).await;
        api.expect(Method::GET, &secret_path("my-tls"))
            .await
            .ok(&user_tls_secret(&cert, &key));
        let call = api.expect(Method::PATCH, &secret_path("my-tls")).await;
        assert_eq!(
            call.body,
            json!({"metadata": {"labels": {"quay.redhat.com/tls-secret": "true"}}}),
            "watched from now on"
        );
        call.ok(&user_tls_secret(&cert, &key));
        api.no_managed_keys().await;
        // No operator CA: the user's certificate is served as is.
        api.managed_keys_created().await;
        let (applied, call) = api.applies(|d| Some(ready(d))).await;
        let served = find(&applied, "Secret", "reg-quay-config-tls");
        assert_eq!(served["data"]["tls.crt"], b64(&cert));
        assert_eq!((call.method.clone(), call.path.clone()), (Method::GET, job_path()));
        call.not_found();
        api.expect(Method::POST, &format!("/apis/batch/v1/namespaces/{NS}/jobs"))
            .await
            .echo();
        api.expect(Method::GET, &format!("/api/v1/namespaces/{NS}/secrets"))
            .await
            .ok(&json!({"metadata": {}, "items": []}));
        let status = api.status_apply().await;
        assert_eq!(condition(&status, "RolloutBlocked")["status"], "False");
        api.event().await;
        api.event().await;
    })
    .await
    .expect("reconciled");
}

#[tokio::test]
async fn a_certificate_that_does_not_cover_the_hostname_blocks_the_rollout() {
    let caps = Capabilities::default();
    let (ctx, api) = context(caps);
    let ca = OperatorCa::generate().expect("CA");
    let pair = ca.issue(&["other.example.com"]).expect("certificate");
    let qr = registry_with_tls_ref(&caps);
    let mut labelled = user_tls_secret(&pair.cert_pem, &pair.key_pem);
    labelled["metadata"]["labels"] = json!({"quay.redhat.com/tls-secret": "true"});
    let action = reconcile_with(ctx, qr, api, |mut api| async move {
        api.bundle(CONFIG).await;
        api.expect(Method::GET, &secret_path("my-tls")).await.ok(&labelled);
        api.no_managed_keys().await;
        let status = api.status_apply().await;
        let blocked = condition(&status, "RolloutBlocked");
        assert_eq!(blocked["status"], "True");
        assert!(
            blocked["message"]
                .as_str()
                .is_some_and(|m| m.contains("not valid for host 'registry.example.com'")),
            "{blocked}"
        );
        assert_eq!(api.event().await["type"], "Warning");
    })
    .await
    .expect("an invalid certificate is not a reconcile error");
    assert_eq!(action, Action::requeue(crate::controller::REQUEUE_INVALID));
}

#[tokio::test]
async fn workloads_wait_until_the_managed_database_is_available() {
    let caps = Capabilities {
        routes: true,
        ..Default::default()
    };
    let (ctx, api) = context(caps);
    let qr = registry().with_defaults(CONFIG, &caps);
    let action = reconcile_with(ctx, qr, api, |mut api| async move {
        api.bundle(CONFIG).await;
        api.no_managed_keys().await;
        api.managed_keys_created().await;
        api.ca_configmaps(None).await;
        // The database comes up with no available replica yet.
        let (applied, call) = api.applies(|_| None).await;
        let deployments: Vec<_> = of_kind(&applied, "Deployment")
            .iter()
            .filter_map(|d| d["metadata"]["labels"]["quay-component"].as_str())
            .collect();
        assert!(
            deployments.contains(&"postgres") && deployments.contains(&"redis"),
            "{deployments:?}"
        );
        assert!(
            !deployments.contains(&"quay-app") && !deployments.contains(&"quay-mirror"),
            "{deployments:?}"
        );
        assert_eq!(
            (call.method.clone(), call.path.clone()),
            (Method::PATCH, format!("{}/status", registry_path()))
        );
        let status = call.body["status"].clone();
        let reply = api.registry_with_status(&call.body);
        call.ok(&reply);
        assert_eq!(condition(&status, "RolloutBlocked")["status"], "False");
        assert!(
            status["conditions"].as_array().is_some_and(|c| c.len() == 1),
            "ComponentsCreated untouched: {status}"
        );
        api.event().await;
    })
    .await
    .expect("reconciled");
    assert_eq!(action, Action::requeue(REQUEUE_WAIT));
}
