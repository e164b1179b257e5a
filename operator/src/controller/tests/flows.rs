//! One scenario per reconcile flow.

use crds::{reason, Component, ComponentKind};
use http::Method;
use kube::runtime::controller::Action;
use serde_json::{json, Value};

use super::*;
use crate::bundle::{self, ManagedKeys, RenderParams};
use crate::controller::{REQUEUE_INVALID, REQUEUE_WAIT};
use crate::names::{self, LABEL_REGISTRY};
use crate::tls::TlsMaterial;

fn openshift() -> Capabilities {
    Capabilities {
        routes: true,
        ..Default::default()
    }
}

/// The managed keys an earlier pass stored for `config`.
fn stored_keys(config: &str) -> Value {
    let qr = registry().with_defaults(CONFIG, &openshift());
    let bundle = ConfigBundle::from_secret(&bundle_secret(config)).expect("bundle");
    let params = RenderParams {
        name: CR,
        namespace: NS,
        components: &qr.spec.components,
        stored: &ManagedKeys::default(),
        apps_domain: None,
        tls: &TlsMaterial::Managed { issued: None },
    };
    let rendered = bundle::render(&bundle, &params).expect("renders");
    serde_json::to_value(rendered.managed_keys.to_secret(&names::managed_keys_secret(CR), NS)).expect("json")
}

fn is_database(deploy: &Value) -> bool {
    deploy["metadata"]["labels"]["quay-component"] == "postgres"
}

fn metadata_list(names: &[&str]) -> Value {
    let items: Vec<Value> = names
        .iter()
        .map(|n| json!({"metadata": {"name": n, "namespace": NS}}))
        .collect();
    json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadataList", "metadata": {}, "items": items})
}

#[tokio::test]
async fn a_new_registry_gets_the_finalizer_before_anything_else() {
    let (ctx, api) = context(Capabilities::default());
    let mut qr = registry();
    qr.metadata.finalizers = None;
    let action = reconcile_with(ctx, qr, api, |mut api| async move {
        let call = api.expect(Method::PATCH, &registry_path()).await;
        assert_eq!(call.body[1]["op"], "add");
        assert_eq!(call.body[1]["value"], json!([names::FINALIZER]));
        let reply = serde_json::to_value(registry()).expect("encodes");
        call.ok(&reply);
    })
    .await
    .expect("reconciled");
    assert_eq!(action, Action::await_change());
}

#[tokio::test]
async fn a_registry_without_a_bundle_gets_a_base_bundle_written_into_its_spec() {
    let (ctx, api) = context(Capabilities::default());
    let mut qr = registry();
    qr.spec.config_bundle_secret = None;
    reconcile_with(ctx, qr, api, |mut api| async move {
        let call = api
            .expect(Method::POST, &format!("/api/v1/namespaces/{NS}/secrets"))
            .await;
        assert_eq!(call.body["metadata"]["generateName"], "reg-config-bundle-");
        assert_eq!(call.body["metadata"]["ownerReferences"][0]["uid"], UID);
        assert!(call.body["data"]["config.yaml"].is_string(), "{}", call.body);
        let mut created = call.body.clone();
        created["metadata"]["name"] = "reg-config-bundle-x7k2p".into();
        call.ok(&created);
        let call = api.expect(Method::PATCH, &registry_path()).await;
        assert_eq!(
            call.body,
            json!({"spec": {"configBundleSecret": "reg-config-bundle-x7k2p"}})
        );
        let reply = serde_json::to_value(registry()).expect("encodes");
        call.ok(&reply);
        let status = api.status_apply().await;
        assert_eq!(status["observedGeneration"], 1);
    })
    .await
    .expect("reconciled");
}

#[tokio::test]
async fn a_first_install_applies_every_object_and_starts_migrations() {
    let caps = Capabilities::default();
    let (ctx, api) = context(caps);
    let qr = registry().with_defaults(CONFIG, &caps);
    let action = reconcile_with(ctx, qr, api, |mut api| async move {
        api.bundle(CONFIG).await;
        api.no_managed_keys().await;
        // Managed TLS on plain Kubernetes: the operator CA issues the Ingress certificate.
        api.expect(Method::GET, &secret_path("reg-quay-operator-ca"))
            .await
            .not_found();
        let call = api.expect(Method::PATCH, &secret_path("reg-quay-operator-ca")).await;
        assert!(call.is_apply());
        call.echo();
        api.expect(Method::GET, &secret_path("reg-quay-config-tls"))
            .await
            .not_found();
        let call = api.expect(Method::PATCH, &secret_path(MANAGED_KEYS)).await;
        for key in ["DATABASE_SECRET_KEY", "SECRET_KEY", "DB_URI"] {
            assert!(call.body["data"][key].is_string(), "{key} persisted");
        }
        assert!(
            call.body["metadata"]["ownerReferences"].is_null(),
            "the keys outlive the registry"
        );
        call.echo();

        let (applied, call) = api.applies(|d| is_database(d).then(|| ready(d))).await;
        let config_secret = applied
            .iter()
            .filter(|o| o["kind"] == "Secret")
            .filter_map(|o| o["metadata"]["name"].as_str())
            .find(|n| n.starts_with("reg-quay-config-secret-"))
            .expect("config secret applied")
            .to_string();
        let pvc = of_kind(&applied, "PersistentVolumeClaim");
        assert!(!pvc.is_empty() && pvc.iter().all(|p| p["metadata"]["ownerReferences"].is_null()));
        assert_eq!(
            find(&applied, "Secret", "reg-quay-config-tls")["type"],
            "kubernetes.io/tls"
        );
        assert!(
            !of_kind(&applied, "Ingress").is_empty(),
            "an Ingress instead of a Route"
        );
        let app = find(&applied, "Deployment", "reg-quay-app");
        assert!(app["spec"]["template"].to_string().contains(&config_secret));
        assert_eq!(app["metadata"]["ownerReferences"][0]["uid"], UID);
        let kinds: Vec<&str> = applied.iter().filter_map(|o| o["kind"].as_str()).collect();
        let first_deploy = kinds.iter().position(|k| *k == "Deployment").expect("deployments");
        assert!(
            kinds[first_deploy..].iter().all(|k| *k == "Deployment"),
            "workloads last: {kinds:?}"
        );
        assert!(is_database(of_kind(&applied, "Deployment")[0]), "the database first");

        assert_eq!(
            (call.method.clone(), call.path.as_str()),
            (Method::GET, job_path().as_str())
        );
        call.not_found();
        let call = api
            .expect(Method::POST, &format!("/apis/batch/v1/namespaces/{NS}/jobs"))
            .await;
        assert_eq!(call.body["metadata"]["name"], "reg-quay-app-upgrade");
        call.echo();
        // quay-app sits at 0 replicas while migrating: rolled out, so old configs go.
        let call = api
            .expect(Method::GET, &format!("/api/v1/namespaces/{NS}/secrets"))
            .await;
        assert!(
            call.query
                .contains(&format!("labelSelector={}", LABEL_REGISTRY.replace('/', "%2F"))),
            "{}",
            call.query
        );
        call.ok(&metadata_list(&[&config_secret]));

        let status = api.status_apply().await;
        assert_eq!(condition(&status, "RolloutBlocked")["status"], "False");
        assert_eq!(
            condition(&status, "ComponentsCreated")["reason"],
            "MigrationsInProgress"
        );
        assert_eq!(status["registryEndpoint"], "https://registry.example.com");
        assert!(status["currentVersion"].is_null());
        for _ in 0..2 {
            assert_eq!(api.event().await["type"], "Normal");
        }
    })
    .await
    .expect("reconciled");
    assert_eq!(action, Action::requeue(REQUEUE_WAIT));
}

/// A pass over an installed registry: applies everything, then reports the
/// config Secrets in the namespace as `existing`. Returns what was applied
/// and the Secrets deleted.
async fn steady_pass(config: &'static str, keys: Value, existing: Vec<String>) -> (Vec<Value>, Vec<String>) {
    steady_pass_with(bundle_secret(config), None, keys, existing).await
}

/// [`steady_pass`] with a whole bundle Secret and the injected service CA.
async fn steady_pass_with(
    bundle: k8s_openapi::api::core::v1::Secret,
    service_ca: Option<&'static str>,
    keys: Value,
    existing: Vec<String>,
) -> (Vec<Value>, Vec<String>) {
    let caps = openshift();
    let (ctx, api) = context(caps);
    let qr = registry().with_defaults(CONFIG, &caps).with_status(installed());
    let (tx, rx) = tokio::sync::oneshot::channel();
    reconcile_with(ctx, qr, api, |mut api| async move {
        api.expect(Method::GET, &secret_path(BUNDLE))
            .await
            .ok(&serde_json::to_value(bundle).expect("json"));
        api.expect(Method::GET, &secret_path(MANAGED_KEYS)).await.ok(&keys);
        api.ca_configmaps(service_ca).await;
        let (applied, call) = api.applies(|d| Some(ready(d))).await;
        assert!(
            of_kind(&applied, "Job").is_empty(),
            "no migration without a version or database change"
        );
        assert_eq!(
            (call.method.clone(), call.path.as_str()),
            (Method::GET, format!("/api/v1/namespaces/{NS}/secrets").as_str())
        );
        let names: Vec<&str> = existing.iter().map(String::as_str).collect();
        call.ok(&metadata_list(&names));
        let mut deleted = Vec::new();
        for _ in existing
            .iter()
            .filter(|n| !applied.iter().any(|o| o["metadata"]["name"] == n.as_str()))
        {
            let call = api.next().await;
            assert_eq!(call.method, Method::DELETE);
            deleted.push(call.path.rsplit('/').next().unwrap_or_default().to_string());
            call.ok(&json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}));
        }
        let _ = tx.send((applied, deleted));
    })
    .await
    .expect("reconciled");
    rx.await.expect("scenario result")
}

fn config_secret_name(applied: &[Value]) -> String {
    applied
        .iter()
        .filter_map(|o| o["metadata"]["name"].as_str())
        .find(|n| n.starts_with("reg-quay-config-secret-"))
        .expect("config secret applied")
        .to_string()
}

const CHANGED_CONFIG: &str = "SERVER_HOSTNAME: registry.example.com
DISTRIBUTED_STORAGE_CONFIG:
  default: [LocalStorage, {storage_path: /datastorage/registry}]
DISTRIBUTED_STORAGE_PREFERENCE: [default]
DISTRIBUTED_STORAGE_DEFAULT_LOCATIONS: [default]
FEATURE_USER_INITIALIZE: true
";

#[tokio::test]
async fn a_config_change_renames_the_config_secret_and_rolls_quay_app() {
    let keys = stored_keys(CONFIG);
    let (before, _) = steady_pass(CONFIG, keys.clone(), vec![]).await;
    let old = config_secret_name(&before);
    assert!(!of_kind(&before, "Route").is_empty(), "Routes on OpenShift");
    let (after, deleted) = steady_pass(CHANGED_CONFIG, keys, vec![old.clone()]).await;
    let new = config_secret_name(&after);
    assert_ne!(old, new, "the content hash names the Secret");
    let template = find(&after, "Deployment", "reg-quay-app")["spec"]["template"].to_string();
    assert!(
        template.contains(&new) && !template.contains(&old),
        "quay-app mounts the new config"
    );
    assert_eq!(deleted, [old], "the old config goes once quay-app rolled out");
}

#[tokio::test]
async fn an_unchanged_config_keeps_its_secret_name() {
    let keys = stored_keys(CONFIG);
    let (first, _) = steady_pass(CONFIG, keys.clone(), vec![]).await;
    let (second, deleted) = steady_pass(CONFIG, keys, vec![config_secret_name(&first)]).await;
    assert_eq!(config_secret_name(&first), config_secret_name(&second));
    assert!(deleted.is_empty());
}

/// The pod-template annotations of an applied Deployment.
fn template_annotations<'a>(applied: &'a [Value], name: &str) -> &'a Value {
    &find(applied, "Deployment", name)["spec"]["template"]["metadata"]["annotations"]
}

#[tokio::test]
async fn the_injected_service_ca_is_read_hashed_and_stamped_so_a_rotation_rolls_the_pods() {
    let keys = stored_keys(CONFIG);
    let service_ca = |pem| steady_pass_with(bundle_secret(CONFIG), pem, keys.clone(), vec![]);
    let (before, _) = service_ca(Some("PEM one")).await;
    // The ConfigMaps are applied without `data`, so the injector keeps it.
    let cm = find(&before, "ConfigMap", "reg-cluster-service-ca");
    assert_eq!(
        cm["metadata"]["annotations"]["service.beta.openshift.io/inject-cabundle"],
        "true"
    );
    assert!(cm.get("data").is_none(), "{cm}");
    let cm = find(&before, "ConfigMap", "reg-cluster-trusted-ca");
    assert_eq!(
        cm["metadata"]["labels"]["config.openshift.io/inject-trusted-cabundle"],
        "true"
    );
    assert!(cm.get("data").is_none(), "{cm}");
    let key = "quay.redhat.com/cluster-service-ca-hash";
    let one = crate::objects::ca_hash("PEM one");
    let app = "reg-quay-app";
    assert_eq!(template_annotations(&before, app)[key], one.as_str());
    assert_eq!(
        find(&before, "Deployment", app)["metadata"]["annotations"][key],
        one.as_str()
    );
    let trusted = &template_annotations(&before, app)["quay.redhat.com/cluster-trusted-ca-hash"];
    assert!(trusted.is_null(), "no trusted bundle injected: {trusted}");
    let (after, _) = service_ca(Some("PEM two")).await;
    assert_eq!(
        template_annotations(&after, "reg-quay-app")[key],
        crate::objects::ca_hash("PEM two").as_str()
    );
    assert_ne!(one, crate::objects::ca_hash("PEM two"));
    // Not injected yet: no hash, and the pods still mount the (optional) ConfigMaps.
    let (pending, _) = service_ca(None).await;
    assert!(template_annotations(&pending, "reg-quay-app")[key].is_null());
    let volumes = find(&pending, "Deployment", "reg-quay-app")["spec"]["template"]["spec"]["volumes"].to_string();
    assert!(volumes.contains("reg-cluster-service-ca"), "{volumes}");
}

#[tokio::test]
async fn extra_cas_from_the_bundle_are_mounted_and_old_ones_swept_after_a_change() {
    let keys = stored_keys(CONFIG);
    let bundle = |pem| named_secret(BUNDLE, &[("config.yaml", CONFIG), ("extra_ca_cert_corp.crt", pem)]);
    let extra_name = |applied: &[Value]| {
        let secrets = of_kind(applied, "Secret");
        let found: Vec<&str> = secrets
            .iter()
            .filter_map(|s| s["metadata"]["name"].as_str())
            .filter(|n| n.starts_with("reg-extra-ca-certs-"))
            .collect();
        assert_eq!(found.len(), 1, "{found:?}");
        found[0].to_owned()
    };
    let (before, _) = steady_pass_with(bundle("CA one"), None, keys.clone(), vec![]).await;
    let old = extra_name(&before);
    let secret = find(&before, "Secret", &old);
    assert!(secret["data"]["corp.crt"].is_string(), "{secret}");
    let config = config_secret_name(&before);
    let config_secret = find(&before, "Secret", &config);
    assert!(config_secret["data"].get("extra_ca_cert_corp.crt").is_none());
    let existing = vec![config.clone(), old.clone()];
    let (after, deleted) = steady_pass_with(bundle("CA two"), None, keys, existing).await;
    let new = extra_name(&after);
    assert_ne!(old, new);
    let pod = &find(&after, "Deployment", "reg-quay-app")["spec"]["template"]["spec"];
    assert!(pod["volumes"].to_string().contains(&new), "{pod}");
    let mounts = pod["containers"][0]["volumeMounts"].to_string();
    assert!(mounts.contains("/conf/stack/extra_ca_certs"), "{mounts}");
    assert_eq!(
        deleted,
        [old],
        "the old extra CA Secret goes, the unchanged config stays"
    );
}

/// A pass that must stop with `RolloutBlocked=True/<reason>` and a Warning.
async fn blocked(qr: crds::QuayRegistry, bundle: Option<&'static str>, expect_reason: &'static str) -> (Value, Value) {
    let (ctx, api) = context(Capabilities::default());
    let metrics = ctx.metrics.clone();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let action = reconcile_with(ctx, qr, api, |mut api| async move {
        let call = api.expect(Method::GET, &secret_path(BUNDLE)).await;
        match bundle {
            Some(config) => call.ok(&serde_json::to_value(bundle_secret(config)).expect("json")),
            None => call.not_found(),
        }
        if bundle.is_some_and(|b| ConfigBundle::from_secret(&bundle_secret(b)).is_ok()) {
            api.no_managed_keys().await;
        }
        let status = api.status_apply().await;
        let event = api.event().await;
        let _ = tx.send((status, event));
    })
    .await
    .expect("an invalid spec is not a reconcile error");
    assert_eq!(action, Action::requeue(REQUEUE_INVALID));
    assert!(metrics.encode().contains("error=\"configinvalid\"} 1"));
    let (status, event) = rx.await.expect("scenario result");
    let blocked = condition(&status, "RolloutBlocked");
    assert_eq!(
        (blocked["status"].as_str(), blocked["reason"].as_str()),
        (Some("True"), Some(expect_reason))
    );
    assert_eq!(
        (event["type"].as_str(), event["reason"].as_str()),
        (Some("Warning"), Some(expect_reason))
    );
    assert_eq!(event["action"], "RolloutBlocked");
    assert_eq!(event["regarding"]["name"], CR);
    (status, event)
}

#[tokio::test]
async fn a_missing_bundle_blocks_the_rollout_with_a_warning() {
    let (status, event) = blocked(registry(), None, reason::CONFIG_INVALID).await;
    assert_eq!(
        condition(&status, "RolloutBlocked")["message"],
        "unable to get `configBundleSecret`"
    );
    assert_eq!(event["note"], "unable to get `configBundleSecret`");
}

#[tokio::test]
async fn a_malformed_config_yaml_blocks_the_rollout() {
    let (status, _) = blocked(registry(), Some("SERVER_HOSTNAME: [unclosed"), reason::CONFIG_INVALID).await;
    assert!(condition(&status, "RolloutBlocked")["message"]
        .as_str()
        .is_some_and(|m| m.contains("config.yaml")));
}

#[tokio::test]
async fn an_unmanaged_database_without_db_uri_is_invalid_config() {
    let mut qr = registry().with_defaults(CONFIG, &Capabilities::default());
    for c in qr
        .spec
        .components
        .iter_mut()
        .filter(|c| c.kind == ComponentKind::Postgres)
    {
        *c = Component {
            kind: ComponentKind::Postgres,
            managed: false,
            overrides: None,
            secret_ref: None,
        };
    }
    let (status, _) = blocked(qr, Some(CONFIG), reason::CONFIG_INVALID).await;
    let message = condition(&status, "RolloutBlocked")["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(message.contains("postgres"), "{message}");
}
