//! Builder support: when `config.yaml` turns builds on (FEATURE_BUILD_SUPPORT
//! and a BUILD_MANAGER whose Kubernetes executors name a BUILDER_NAMESPACE),
//! the builder namespace is created when missing (labelled for the
//! `privileged` Pod Security level: build pods run buildah as root in their
//! user namespace with an unconfined seccomp profile, which `baseline`
//! refuses; the operator never deletes a namespace), and it gets the
//! executor's ServiceAccount
//! (SERVICE_ACCOUNT_NAME, default `quay-builder-sa`), a Role `<cr>-quay-builder`
//! to run build Jobs and clean up their pods, and a RoleBinding granting it
//! to those ServiceAccounts and to `<cr>-quay-app`, so the build manager in
//! the registry pods can use its own in-cluster token.
//!
//! Owner references cannot cross namespaces, so these objects carry the
//! registry's labels plus `quay-operator/quayregistry-namespace` instead;
//! deleting them when the registry goes (or builds are turned off) is up to
//! the controller, by those labels.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_yaml::Value;

use super::common::{component, labels, name, ConfigView};
use super::{Desired, Inputs};

/// Label naming the registry's namespace on objects outside it.
pub(super) const LABEL_REGISTRY_NAMESPACE: &str = "quay-operator/quayregistry-namespace";
/// Quay's default SERVICE_ACCOUNT_NAME, which the registry's Kubernetes
/// executor uses too.
const DEFAULT_SERVICE_ACCOUNT: &str = "quay-builder-sa";
/// Executors that run builds as Kubernetes Jobs (Quay's and ours).
const KUBERNETES_EXECUTORS: [&str; 2] = ["kubernetes", "kubernetesPodman"];

/// The builder namespaces' ServiceAccounts, Roles and RoleBindings.
pub(super) fn objects(inputs: &Inputs, config: &ConfigView) -> Vec<Desired> {
    let mut out = Vec::new();
    for (namespace, accounts) in builder_accounts(config) {
        out.push(Desired::Namespace(builder_namespace(inputs, &namespace)));
        out.extend(accounts.iter().map(|sa| {
            Desired::ServiceAccount(ServiceAccount {
                metadata: foreign_meta(inputs, sa.clone(), &namespace),
                ..ServiceAccount::default()
            })
        }));
        out.push(Desired::Role(role(inputs, &namespace)));
        out.push(Desired::RoleBinding(role_binding(inputs, &namespace, &accounts)));
    }
    out
}

/// Builder namespace → its executors' ServiceAccounts (sorted: the output
/// must not depend on the order of executors).
fn builder_accounts(config: &ConfigView) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    if !config.bool("FEATURE_BUILD_SUPPORT") {
        return out;
    }
    for executor in executors(config) {
        let field = |key: &str| executor.get(key).and_then(Value::as_str);
        if field("EXECUTOR").is_some_and(|e| !KUBERNETES_EXECUTORS.contains(&e)) {
            continue;
        }
        let Some(namespace) = field("BUILDER_NAMESPACE").filter(|n| !n.is_empty()) else {
            continue;
        };
        let account = field("SERVICE_ACCOUNT_NAME")
            .filter(|n| !n.is_empty())
            .unwrap_or(DEFAULT_SERVICE_ACCOUNT);
        out.entry(namespace.to_owned()).or_default().insert(account.to_owned());
    }
    out
}

/// Every `EXECUTORS` entry of the BUILD_MANAGER list
/// (`[ephemeral, {EXECUTORS: [...], ...}]`).
fn executors(config: &ConfigView) -> impl Iterator<Item = &serde_yaml::Mapping> {
    let manager = config.get("BUILD_MANAGER").and_then(Value::as_sequence);
    manager
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.get("EXECUTORS").and_then(Value::as_sequence))
        .flatten()
        .filter_map(Value::as_mapping)
}

/// Pod Security admission's enforced level for the builder namespace.
const POD_SECURITY_ENFORCE: &str = "pod-security.kubernetes.io/enforce";

fn builder_namespace(inputs: &Inputs, namespace: &str) -> Namespace {
    let mut metadata = foreign_meta(inputs, namespace.to_owned(), namespace);
    metadata.namespace = None;
    if let Some(labels) = metadata.labels.as_mut() {
        labels.insert(POD_SECURITY_ENFORCE.into(), "privileged".into());
    }
    Namespace {
        metadata,
        ..Namespace::default()
    }
}

fn foreign_meta(inputs: &Inputs, name: String, namespace: &str) -> ObjectMeta {
    let mut labels = labels(inputs, component::BUILDER);
    labels.insert(LABEL_REGISTRY_NAMESPACE.into(), inputs.namespace.clone());
    ObjectMeta {
        name: Some(name),
        namespace: Some(namespace.into()),
        labels: Some(labels),
        ..ObjectMeta::default()
    }
}

/// Jobs: create/get/list/watch/delete; their pods: get/list/watch/delete.
fn role(inputs: &Inputs, namespace: &str) -> Role {
    let rule = |group: &str, resource: &str, verbs: &[&str]| PolicyRule {
        api_groups: Some(vec![group.into()]),
        resources: Some(vec![resource.into()]),
        verbs: verbs.iter().map(|v| (*v).to_owned()).collect(),
        ..PolicyRule::default()
    };
    Role {
        metadata: foreign_meta(inputs, name(inputs, "quay-builder"), namespace),
        rules: Some(vec![
            rule("batch", "jobs", &["create", "get", "list", "watch", "delete"]),
            rule("", "pods", &["get", "list", "watch", "delete"]),
        ]),
    }
}

fn role_binding(inputs: &Inputs, namespace: &str, accounts: &BTreeSet<String>) -> RoleBinding {
    let subject = |name: String, namespace: &str| Subject {
        kind: "ServiceAccount".into(),
        name,
        namespace: Some(namespace.into()),
        ..Subject::default()
    };
    let mut subjects: Vec<Subject> = accounts.iter().map(|sa| subject(sa.clone(), namespace)).collect();
    subjects.push(subject(name(inputs, "quay-app"), &inputs.namespace));
    RoleBinding {
        metadata: foreign_meta(inputs, name(inputs, "quay-builder"), namespace),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "Role".into(),
            name: name(inputs, "quay-builder"),
        },
        subjects: Some(subjects),
    }
}

#[cfg(test)]
#[path = "builder_tests.rs"]
mod tests;
