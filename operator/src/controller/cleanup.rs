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
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::json;

use super::applier::deletes_database;
use super::Context;
use crate::names::{self, LABEL_REGISTRY};
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
