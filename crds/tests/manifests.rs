//! Every YAML document under `config/` and `bundle/` parses as the
//! Kubernetes type it claims (by apiVersion and kind). k8s-openapi's
//! deserializers ignore unknown fields, so each document is also serialized
//! back and compared with the original: a misspelled or misplaced field is
//! lost in that round trip and reported with its path.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("crds lives inside the workspace")
        .to_path_buf()
}

/// One YAML document and where it came from.
struct Doc {
    file: String,
    index: usize,
    value: Value,
}

impl Doc {
    fn at(&self) -> String {
        format!("{} (document {})", self.file, self.index + 1)
    }

    fn kind(&self) -> (&str, &str) {
        (
            self.value["apiVersion"].as_str().unwrap_or_default(),
            self.value["kind"].as_str().unwrap_or_default(),
        )
    }
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
}

/// Every non-empty document of every YAML file under `dirs`, sorted by file.
fn documents(dirs: &[&str]) -> Vec<Doc> {
    let root = workspace_root();
    let mut files = Vec::new();
    for dir in dirs {
        yaml_files(&root.join(dir), &mut files);
    }
    files.sort();
    let mut docs = Vec::new();
    for path in files {
        let file = path.strip_prefix(&root).unwrap_or(&path).display().to_string();
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {file}: {e}"));
        for (index, de) in serde_yaml::Deserializer::from_str(&text).enumerate() {
            let value: Value =
                serde::Deserialize::deserialize(de).unwrap_or_else(|e| panic!("{file}: document {}: {e}", index + 1));
            if !value.is_null() {
                docs.push(Doc {
                    file: file.clone(),
                    index,
                    value,
                });
            }
        }
    }
    docs
}

/// A plain Quay `config.yaml` (the samples the registry reads directly):
/// no apiVersion/kind, only upper-case keys.
fn is_quay_config(value: &Value) -> bool {
    value.as_object().is_some_and(|map| {
        !map.is_empty()
            && map.keys().all(|k| {
                k.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            })
    })
}

/// Deserializes `value` as `T`, naming the path of a type error, then
/// checks that nothing was dropped on the way.
fn strict<T: DeserializeOwned + Serialize>(value: &Value, at: &str) -> T {
    let typed: T = serde_path_to_error::deserialize(value.clone())
        .unwrap_or_else(|e| panic!("{at}: {} does not parse: {e}", std::any::type_name::<T>()));
    let back = serde_json::to_value(&typed).expect("typed value serializes");
    let mut lost = Vec::new();
    lost_fields(value, &back, "", &mut lost);
    assert!(
        lost.is_empty(),
        "{at}: fields unknown to {} (misspelled or misplaced?): {}",
        std::any::type_name::<T>(),
        lost.join(", ")
    );
    typed
}

/// Paths present in `original` but missing or different in `round_trip`.
fn lost_fields(original: &Value, round_trip: &Value, path: &str, out: &mut Vec<String>) {
    match (original, round_trip) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in a {
                let sub = format!("{path}.{key}");
                match b.get(key) {
                    Some(other) => lost_fields(value, other, &sub, out),
                    None if value.is_null() => {}
                    None => out.push(sub),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                lost_fields(x, y, &format!("{path}[{i}]"), out);
            }
        }
        (a, b) if a == b => {}
        (a, b) => out.push(format!("{path} ({a} became {b})")),
    }
}

fn str_at<'a>(value: &'a Value, pointer: &str, at: &str) -> &'a str {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| panic!("{at}: {pointer} is required"))
}

/// The ClusterServiceVersion has no k8s-openapi type: check the fields OLM
/// needs, and parse its embedded objects strictly.
fn check_csv(csv: &Value, at: &str) {
    let name = str_at(csv, "/metadata/name", at);
    let version = str_at(csv, "/spec/version", at);
    assert!(
        name.ends_with(&format!(".v{version}")),
        "{at}: name {name} must end in .v{version}"
    );
    for required in [
        "/spec/displayName",
        "/spec/description",
        "/metadata/annotations/capabilities",
    ] {
        str_at(csv, required, at);
    }
    assert_eq!(str_at(csv, "/spec/install/strategy", at), "deployment", "{at}");
    check_csv_examples(csv, at);
    check_csv_install(csv, at);
    check_csv_owned_crd(csv, at);
}

fn check_csv_examples(csv: &Value, at: &str) {
    let examples: Vec<Value> = serde_json::from_str(str_at(csv, "/metadata/annotations/alm-examples", at))
        .unwrap_or_else(|e| panic!("{at}: alm-examples is not a JSON array: {e}"));
    assert!(!examples.is_empty(), "{at}: alm-examples is empty");
    for (i, example) in examples.iter().enumerate() {
        strict::<crds::QuayRegistry>(example, &format!("{at}: alm-examples[{i}]"));
    }
}

fn check_csv_install(csv: &Value, at: &str) {
    let modes = csv["spec"]["installModes"].as_array().expect("installModes");
    let supported: BTreeSet<&str> = modes
        .iter()
        .filter(|m| m["supported"] == true)
        .filter_map(|m| m["type"].as_str())
        .collect();
    assert_eq!(
        supported,
        BTreeSet::from(["AllNamespaces", "MultiNamespace", "OwnNamespace", "SingleNamespace"]),
        "{at}: every install mode is supported"
    );

    let install = &csv["spec"]["install"]["spec"];
    let deployments = install["deployments"].as_array().expect("install deployments");
    assert_eq!(deployments.len(), 1, "{at}: one operator Deployment");
    let spec: DeploymentSpec = strict(&deployments[0]["spec"], &format!("{at}: deployments[0].spec"));
    let account = spec
        .template
        .spec
        .and_then(|p| p.service_account_name)
        .expect("the operator Deployment names its ServiceAccount");
    for section in ["permissions", "clusterPermissions"] {
        let entries = install[section]
            .as_array()
            .unwrap_or_else(|| panic!("{at}: {section} missing"));
        for (i, entry) in entries.iter().enumerate() {
            assert_eq!(entry["serviceAccountName"], account.as_str(), "{at}: {section}[{i}]");
            let rules = entry["rules"].as_array().expect("rules");
            assert!(!rules.is_empty(), "{at}: {section}[{i}] has no rules");
            for (j, rule) in rules.iter().enumerate() {
                strict::<PolicyRule>(rule, &format!("{at}: {section}[{i}].rules[{j}]"));
            }
        }
    }
}

fn check_csv_owned_crd(csv: &Value, at: &str) {
    let owned = csv["spec"]["customresourcedefinitions"]["owned"]
        .as_array()
        .expect("owned CRDs");
    let quay = owned
        .iter()
        .find(|o| o["name"] == "quayregistries.quay.redhat.com")
        .unwrap_or_else(|| panic!("{at}: the QuayRegistry CRD is not owned"));
    assert_eq!(
        (quay["kind"].as_str(), quay["version"].as_str()),
        (Some(crds::KIND), Some(crds::VERSION))
    );
    let paths = |key: &str| -> BTreeSet<String> {
        quay[key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d["path"].as_str().map(String::from))
            .collect()
    };
    assert_eq!(
        paths("specDescriptors"),
        BTreeSet::from(["components".into(), "configBundleSecret".into()])
    );
    for status in ["conditions", "currentVersion", "registryEndpoint"] {
        assert!(
            paths("statusDescriptors").contains(status),
            "{at}: no status descriptor {status}"
        );
    }
}

/// `bundle/metadata/annotations.yaml`.
fn check_bundle_annotations(doc: &Value, at: &str) {
    let get = |key: &str| {
        str_at(
            doc,
            &format!("/annotations/operators.operatorframework.io.bundle.{key}"),
            at,
        )
    };
    assert_eq!(get("mediatype.v1"), "registry+v1", "{at}");
    assert_eq!(get("manifests.v1"), "manifests/", "{at}");
    assert_eq!(get("metadata.v1"), "metadata/", "{at}");
    get("package.v1");
    let channels: Vec<&str> = get("channels.v1").split(',').collect();
    assert!(
        channels.contains(&get("channel.default.v1")),
        "{at}: the default channel is not a channel"
    );
}

/// What the walk saw, for the cross-file checks.
#[derive(Default)]
struct Seen {
    kinds: BTreeSet<(String, String)>,
    quay_configs: usize,
    secrets: Vec<(String, Secret)>,
    registries: Vec<(String, crds::QuayRegistry)>,
}

fn check_document(doc: &Doc, seen: &mut Seen) {
    let at = doc.at();
    let (api_version, kind) = doc.kind();
    if api_version.is_empty() && kind.is_empty() {
        if doc.file.ends_with("metadata/annotations.yaml") {
            return check_bundle_annotations(&doc.value, &at);
        }
        assert!(
            is_quay_config(&doc.value),
            "{at}: no apiVersion/kind and not a Quay config.yaml"
        );
        seen.quay_configs += 1;
        return;
    }
    seen.kinds.insert((api_version.into(), kind.into()));
    match (api_version, kind) {
        ("apps/v1", "Deployment") => drop(strict::<Deployment>(&doc.value, &at)),
        ("v1", "ServiceAccount") => drop(strict::<ServiceAccount>(&doc.value, &at)),
        ("v1", "Secret") => seen.secrets.push((doc.file.clone(), strict::<Secret>(&doc.value, &at))),
        ("rbac.authorization.k8s.io/v1", "ClusterRole") => drop(strict::<ClusterRole>(&doc.value, &at)),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => drop(strict::<ClusterRoleBinding>(&doc.value, &at)),
        ("rbac.authorization.k8s.io/v1", "Role") => drop(strict::<Role>(&doc.value, &at)),
        ("rbac.authorization.k8s.io/v1", "RoleBinding") => drop(strict::<RoleBinding>(&doc.value, &at)),
        ("apiextensions.k8s.io/v1", "CustomResourceDefinition") => {
            drop(strict::<CustomResourceDefinition>(&doc.value, &at))
        }
        ("quay.redhat.com/v1", "QuayRegistry") => seen
            .registries
            .push((doc.file.clone(), strict::<crds::QuayRegistry>(&doc.value, &at))),
        ("operators.coreos.com/v1alpha1", "ClusterServiceVersion") => check_csv(&doc.value, &at),
        _ => panic!("{at}: {api_version} {kind} is not a type this test knows; add it to check_document"),
    }
}

#[test]
fn every_document_in_config_and_bundle_parses_as_its_kind() {
    let docs = documents(&["config", "bundle"]);
    let mut seen = Seen::default();
    for doc in &docs {
        check_document(doc, &mut seen);
    }
    assert!(
        seen.quay_configs >= 2,
        "config/config.yaml and config/config-postgres-s3.yaml are Quay configs"
    );
    for expected in [
        "Deployment",
        "ClusterServiceVersion",
        "CustomResourceDefinition",
        "QuayRegistry",
        "Secret",
    ] {
        assert!(
            seen.kinds.iter().any(|(_, k)| k == expected),
            "no {expected} found under config/ or bundle/"
        );
    }
}

#[test]
fn misspelled_fields_are_caught() {
    let deployment: Value = serde_json::json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
        "spec": {"selector": {}, "template": {"spec": {"containers": [{"name": "c", "imagePullPolicyy": "Always"}]}}},
    });
    let caught = std::panic::catch_unwind(|| strict::<Deployment>(&deployment, "inline"));
    let message = caught
        .err()
        .and_then(|e| e.downcast::<String>().ok())
        .expect("a panic with a message");
    assert!(
        message.contains(".spec.template.spec.containers[0].imagePullPolicyy"),
        "{message}"
    );

    let registry: Value = serde_json::json!({
        "apiVersion": "quay.redhat.com/v1", "kind": "QuayRegistry", "metadata": {"name": "x"},
        "spec": {"components": [{"kind": "quay", "managed": true, "overides": {}}]},
    });
    assert!(std::panic::catch_unwind(|| strict::<crds::QuayRegistry>(&registry, "inline")).is_err());
}

/// The samples hang together: every bundle a QuayRegistry names is a Secret
/// with a `config.yaml` next to it, every `secretRef` a TLS Secret.
#[test]
fn every_sample_registry_finds_its_secrets() {
    let mut seen = Seen::default();
    for doc in documents(&["config/samples"]) {
        check_document(&doc, &mut seen);
    }
    assert!(!seen.registries.is_empty(), "config/samples holds QuayRegistry samples");
    let secret = |file: &str, name: &str| {
        seen.secrets
            .iter()
            .find(|(f, s)| f == file && s.metadata.name.as_deref() == Some(name))
            .map(|(_, s)| s)
            .unwrap_or_else(|| panic!("{file}: no Secret {name} next to the QuayRegistry that uses it"))
    };
    for (file, registry) in &seen.registries {
        assert!(
            registry.metadata.namespace.is_none(),
            "{file}: samples are applied with -n, no namespace"
        );
        if let Some(bundle) = &registry.spec.config_bundle_secret {
            let config = secret(file, bundle)
                .string_data
                .as_ref()
                .and_then(|d| d.get("config.yaml"))
                .unwrap_or_else(|| panic!("{file}: bundle {bundle} has no config.yaml in stringData"));
            let parsed: Value = serde_yaml::from_str(config).unwrap_or_else(|e| panic!("{file}: {bundle}: {e}"));
            assert!(
                is_quay_config(&parsed),
                "{file}: {bundle}'s config.yaml is not a Quay config"
            );
        }
        for component in &registry.spec.components {
            if let Some(reference) = &component.secret_ref {
                let tls = secret(file, &reference.name);
                assert_eq!(
                    tls.type_.as_deref(),
                    Some("kubernetes.io/tls"),
                    "{file}: {}",
                    reference.name
                );
            }
        }
    }
}

/// The operator Deployment carries what the operator binary reads.
#[test]
fn the_operator_deployment_wires_namespace_probes_and_images() {
    let docs = documents(&["config/operator"]);
    let doc = docs
        .iter()
        .find(|d| d.kind().1 == "Deployment")
        .expect("config/operator has the Deployment");
    let deployment: Deployment = strict(&doc.value, &doc.at());
    let pod = deployment.spec.and_then(|s| s.template.spec).expect("pod spec");
    let container = &pod.containers[0];
    let env = container.env.clone().unwrap_or_default();
    let var = |name: &str| {
        env.iter()
            .find(|e| e.name == name)
            .unwrap_or_else(|| panic!("env {name} missing"))
    };
    let field = |name: &str| {
        var(name)
            .value_from
            .as_ref()
            .and_then(|v| v.field_ref.as_ref())
            .map(|f| f.field_path.clone())
    };
    assert_eq!(
        field("WATCH_NAMESPACE").as_deref(),
        Some("metadata.annotations['olm.targetNamespaces']")
    );
    assert_eq!(field("POD_NAMESPACE").as_deref(), Some("metadata.namespace"));
    for name in [
        "QUAY_VERSION",
        "RELATED_IMAGE_COMPONENT_QUAY",
        "RELATED_IMAGE_COMPONENT_POSTGRES",
        "RELATED_IMAGE_COMPONENT_REDIS",
    ] {
        assert!(
            var(name).value.as_deref().is_some_and(|v| !v.is_empty()),
            "{name} has a value"
        );
    }
    let path = |probe: &Option<k8s_openapi::api::core::v1::Probe>| {
        probe
            .as_ref()
            .and_then(|p| p.http_get.as_ref())
            .and_then(|h| h.path.clone())
    };
    assert_eq!(path(&container.liveness_probe).as_deref(), Some("/healthz"));
    assert_eq!(path(&container.readiness_probe).as_deref(), Some("/readyz"));
    assert!(container.args.iter().flatten().any(|a| a == "--leader-elect"));
}

/// Bindings point at roles and accounts that exist in config/operator.
#[test]
fn operator_bindings_reference_defined_roles_and_accounts() {
    let docs = documents(&["config/operator"]);
    let names = |kind: &str| -> BTreeSet<String> {
        docs.iter()
            .filter(|d| d.kind().1 == kind)
            .filter_map(|d| d.value["metadata"]["name"].as_str().map(String::from))
            .collect()
    };
    let accounts = names("ServiceAccount");
    for doc in docs.iter().filter(|d| d.kind().1.ends_with("Binding")) {
        let role_kind = doc.value["roleRef"]["kind"].as_str().unwrap_or_default();
        let role = doc.value["roleRef"]["name"].as_str().unwrap_or_default();
        assert!(
            names(role_kind).contains(role),
            "{}: {role_kind} {role} is not defined",
            doc.at()
        );
        for subject in doc.value["subjects"].as_array().into_iter().flatten() {
            let name = subject["name"].as_str().unwrap_or_default();
            assert!(
                accounts.contains(name),
                "{}: ServiceAccount {name} is not defined",
                doc.at()
            );
        }
    }
}
