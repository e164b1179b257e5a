//! The hand-written inputs of the bundle, read as typed Kubernetes objects.

use std::path::Path;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject};
use serde::de::DeserializeOwned;

use crate::Error;

/// What `config/operator/` and `config/samples/` hold.
pub struct Sources {
    /// The operator Deployment (exactly one).
    pub deployment: Deployment,
    /// The ServiceAccount the Deployment runs as.
    pub service_account: String,
    /// Rules of the ClusterRoles bound to that ServiceAccount.
    pub cluster_rules: Vec<PolicyRule>,
    /// Rules of the Roles bound to it in the operator's namespace.
    pub namespace_rules: Vec<PolicyRule>,
    /// Every QuayRegistry in `config/samples/`, in file name order.
    pub samples: Vec<crds::QuayRegistry>,
}

/// Each non-empty YAML document of `path`, as JSON.
fn documents(path: &Path) -> Result<Vec<serde_json::Value>, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("read {}: {e}", path.display()))?;
    let mut docs = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let value: serde_json::Value =
            serde::Deserialize::deserialize(doc).map_err(|e| format!("{}: {e}", path.display()))?;
        if !value.is_null() {
            docs.push(value);
        }
    }
    Ok(docs)
}

/// The `*.yaml` files of `dir`, sorted by name.
fn yaml_files(dir: &Path) -> Result<Vec<std::path::PathBuf>, Error> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("read {}: {e}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    Ok(files)
}

/// The documents of kind `kind`, typed.
fn of_kind<T: DeserializeOwned>(docs: &[(String, serde_json::Value)], kind: &str) -> Result<Vec<T>, Error> {
    docs.iter()
        .filter(|(_, d)| d["kind"] == kind)
        .map(|(file, d)| serde_json::from_value(d.clone()).map_err(|e| format!("{file}: {kind}: {e}").into()))
        .collect()
}

fn read_dir_docs(dir: &Path) -> Result<Vec<(String, serde_json::Value)>, Error> {
    let mut all = Vec::new();
    for file in yaml_files(dir)? {
        let name = file.display().to_string();
        all.extend(documents(&file)?.into_iter().map(|d| (name.clone(), d)));
    }
    Ok(all)
}

impl Sources {
    pub fn read(root: &Path) -> Result<Sources, Error> {
        let operator = read_dir_docs(&root.join("config").join("operator"))?;
        let deployment = one(
            of_kind::<Deployment>(&operator, "Deployment")?,
            "Deployment in config/operator",
        )?;
        let account = one(
            of_kind::<ServiceAccount>(&operator, "ServiceAccount")?,
            "ServiceAccount in config/operator",
        )?;
        let service_account = account.metadata.name.ok_or("the ServiceAccount has no name")?;
        let runs_as = deployment
            .spec
            .as_ref()
            .and_then(|s| s.template.spec.as_ref())
            .and_then(|s| s.service_account_name.as_deref());
        if runs_as != Some(service_account.as_str()) {
            return Err(format!("the Deployment must run as the ServiceAccount `{service_account}`").into());
        }
        let (cluster_rules, namespace_rules) = bound_rules(&operator, &service_account)?;
        if cluster_rules.is_empty() {
            return Err(format!("no ClusterRole in config/operator is bound to `{service_account}`").into());
        }
        let samples = of_kind::<crds::QuayRegistry>(&read_dir_docs(&root.join("config").join("samples"))?, crds::KIND)?;
        if samples.is_empty() {
            return Err("config/samples/ holds no QuayRegistry".into());
        }
        Ok(Sources {
            deployment,
            service_account,
            cluster_rules,
            namespace_rules,
            samples,
        })
    }
}

/// The rules of the ClusterRoles and of the Roles bound to `account`.
fn bound_rules(
    docs: &[(String, serde_json::Value)],
    account: &str,
) -> Result<(Vec<PolicyRule>, Vec<PolicyRule>), Error> {
    let bound = |role_ref: &RoleRef, subjects: Option<Vec<Subject>>| {
        subjects
            .unwrap_or_default()
            .iter()
            .any(|s| s.kind == "ServiceAccount" && s.name == account)
            .then(|| (role_ref.kind.clone(), role_ref.name.clone()))
    };
    let mut refs: Vec<(String, String)> = of_kind::<ClusterRoleBinding>(docs, "ClusterRoleBinding")?
        .into_iter()
        .filter_map(|b| bound(&b.role_ref, b.subjects))
        .collect();
    refs.extend(
        of_kind::<RoleBinding>(docs, "RoleBinding")?
            .into_iter()
            .filter_map(|b| bound(&b.role_ref, b.subjects)),
    );
    let is_bound = |kind: &str, name: &Option<String>| {
        name.as_ref()
            .is_some_and(|n| refs.iter().any(|(k, r)| k == kind && r == n))
    };
    let cluster = of_kind::<ClusterRole>(docs, "ClusterRole")?
        .into_iter()
        .filter(|r| is_bound("ClusterRole", &r.metadata.name))
        .flat_map(|r| r.rules.unwrap_or_default())
        .collect();
    let namespaced = of_kind::<Role>(docs, "Role")?
        .into_iter()
        .filter(|r| is_bound("Role", &r.metadata.name))
        .flat_map(|r| r.rules.unwrap_or_default())
        .collect();
    Ok((cluster, namespaced))
}

fn one<T>(mut items: Vec<T>, what: &str) -> Result<T, Error> {
    match items.len() {
        1 => Ok(items.remove(0)),
        n => Err(format!("expected exactly one {what}, found {n}").into()),
    }
}
