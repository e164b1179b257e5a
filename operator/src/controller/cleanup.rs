//! Cleanup when a QuayRegistry is deleted (the finalizer's job).
//!
//! Garbage collection removes every owned child. The database volumes and
//! the managed keys carry no owner reference unless the registry opted in
//! (`quay-operator/delete-database: "true"`), so they survive; here any
//! owner reference an older install left on them is removed, or, with the
//! opt-in, they are deleted explicitly (the annotation may have been added
//! after they were applied). Quay's namespace-label and Grafana cleanup do
//! not apply: this operator creates no cross-namespace dashboard.

use crds::QuayRegistry;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Secret};
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::json;

use super::applier::deletes_database;
use super::Context;
use crate::names::{self, LABEL_COMPONENT, LABEL_REGISTRY};
use crate::objects::INGRESS_COMPONENT;
use crate::{Error, Result};

pub async fn cleanup(qr: &QuayRegistry, ctx: &Context) -> Result<Action> {
    let name = qr.name_any();
    let ns = qr.namespace().unwrap_or_default();
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), &ns);
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &ns);
    let labelled = ListParams::default().labels(&format!("{LABEL_REGISTRY}={name}"));
    let keys = names::managed_keys_secret(&name);
    if deletes_database(qr) {
        tracing::info!(registry = %name, "deleting the database volumes and keys as requested");
        for pvc in pvcs.list(&labelled).await.map_err(Error::Kube)? {
            delete(&pvcs, &pvc.name_any()).await?;
        }
        delete(&secrets, &keys).await?;
        return Ok(Action::await_change());
    }
    let uid = qr.meta().uid.clone().unwrap_or_default();
    for pvc in pvcs.list(&labelled).await.map_err(Error::Kube)? {
        orphan(&pvcs, &pvc, &uid).await?;
    }
    if let Some(secret) = secrets.get_opt(&keys).await.map_err(Error::Kube)? {
        orphan(&secrets, &secret, &uid).await?;
    }
    tracing::info!(registry = %name, "kept the database volumes and keys");
    Ok(Action::await_change())
}

/// Deletes `name`; already gone is fine.
async fn delete<K>(api: &Api<K>, name: &str) -> Result<()>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.is_not_found() => Ok(()),
        Err(e) => Err(Error::Kube(e)),
    }
}

/// Drops the owner reference to the registry `uid`, if present.
async fn orphan<K>(api: &Api<K>, obj: &K, uid: &str) -> Result<()>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    let refs = obj.owner_references();
    if !refs.iter().any(|o| o.uid == uid) {
        return Ok(());
    }
    let kept: Vec<_> = refs.iter().filter(|o| o.uid != uid).collect();
    let patch =
        json!({"metadata": {"ownerReferences": if kept.is_empty() { serde_json::Value::Null } else { json!(kept) }}});
    api.patch(&obj.name_any(), &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(Error::Kube)?;
    Ok(())
}

/// With the Route API present the route component is Routes, so the
/// Ingresses this operator made before the API appeared (capabilities are
/// discovered at start) are stale: delete them. Runs once per leadership,
/// before the controllers; failures are logged, never fatal.
pub async fn retire_ingresses(client: &kube::Client, namespace: Option<&str>) {
    let api: Api<Ingress> = match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let selector = format!("{LABEL_COMPONENT}={INGRESS_COMPONENT},{LABEL_REGISTRY}");
    let ingresses = match api.list_metadata(&ListParams::default().labels(&selector)).await {
        Ok(list) => list.items,
        Err(err) => return tracing::warn!(%err, "cannot list the registries' Ingresses"),
    };
    let owned_by_a_registry = |i: &kube::core::PartialObjectMeta<Ingress>| {
        i.owner_references().iter().any(|o| o.kind == QuayRegistry::kind(&()))
    };
    for ingress in ingresses.iter().filter(|i| owned_by_a_registry(i)) {
        let (name, ns) = (ingress.name_any(), ingress.namespace().unwrap_or_default());
        let api: Api<Ingress> = Api::namespaced(client.clone(), &ns);
        match delete(&api, &name).await {
            Ok(()) => {
                tracing::info!(ingress = %name, namespace = %ns, "deleted an Ingress the registry's Routes replace")
            }
            Err(err) => tracing::warn!(ingress = %name, namespace = %ns, %err, "cannot delete a replaced Ingress"),
        }
    }
}
