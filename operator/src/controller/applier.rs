//! Applying the desired objects: ownership, deferral, server-side apply,
//! the migration Job's lifecycle and the cleanup of old config Secrets.

use std::fmt::Debug;

use crds::QuayRegistry;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use k8s_openapi::NamespaceResourceScope;
use kube::api::{
    ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams,
};
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::pass::Pass;
use super::{Failed, ANNOTATION_DELETE_DATABASE};
use crate::names::{self, FIELD_MANAGER, LABEL_COMPONENT, LABEL_REGISTRY};
use crate::objects::{self, Desired, Inputs};
use crate::Error;

/// `quay-component` values of the workloads that never wait: the
/// databases and redis, which everything else waits for.
const UNDEFERRED_COMPONENTS: [&str; 3] = ["postgres", "clair-postgres", "redis"];
/// `quay-component` values of the managed databases.
const DATABASE_COMPONENTS: [&str; 2] = ["postgres", "clair-postgres"];

/// The owner reference of every child: `{quay.redhat.com/v1, QuayRegistry,
/// name, uid}` without controller or blockOwnerDeletion flags, as Quay sets it.
pub fn owner_reference(qr: &QuayRegistry) -> OwnerReference {
    OwnerReference {
        api_version: format!("{}/{}", crds::GROUP, crds::VERSION),
        kind: crds::KIND.into(),
        name: qr.name_any(),
        uid: qr.meta().uid.clone().unwrap_or_default(),
        ..Default::default()
    }
}

/// Whether the registry carries `quay-operator/delete-database: "true"`.
pub fn deletes_database(qr: &QuayRegistry) -> bool {
    qr.annotations().get(ANNOTATION_DELETE_DATABASE).map(String::as_str) == Some("true")
}

/// Whether an object is kept when its registry is deleted: the database
/// volumes and the managed keys (which decrypt what the database holds).
pub fn is_kept_on_delete(obj: &Desired, cr: &str) -> bool {
    match obj {
        Desired::PersistentVolumeClaim(_) => true,
        Desired::Secret(s) => s.metadata.name.as_deref() == Some(names::managed_keys_secret(cr).as_str()),
        _ => false,
    }
}

/// Kept objects get no owner reference (garbage collection would delete
/// them with the registry) unless the user opted in to deleting them.
pub fn adjust_ownership(desired: &mut [Desired], qr: &QuayRegistry) {
    let cr = qr.name_any();
    let delete = deletes_database(qr);
    let owner = owner_reference(qr);
    for obj in desired.iter_mut().filter(|o| is_kept_on_delete(o, &cr)) {
        let meta = obj.meta_mut();
        meta.owner_references = delete.then(|| vec![owner.clone()]);
    }
}

fn component(obj: &Desired) -> Option<&str> {
    obj.meta().labels.as_ref()?.get(LABEL_COMPONENT).map(String::as_str)
}

/// Workloads that wait while a managed database (or storage) is not ready.
pub fn is_deferrable(obj: &Desired) -> bool {
    matches!(obj, Desired::Deployment(_) | Desired::Job(_))
        && !component(obj).is_some_and(|c| UNDEFERRED_COMPONENTS.contains(&c))
}

fn is_database(obj: &Desired) -> bool {
    matches!(obj, Desired::Deployment(_)) && component(obj).is_some_and(|c| DATABASE_COMPONENTS.contains(&c))
}

/// Where the migration Job stands (polled while `MigrationsInProgress`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MigrationState {
    Missing,
    Running,
    Succeeded,
    Failed(String),
}

fn job_condition<'a>(job: &'a Job, type_: &str) -> Option<&'a k8s_openapi::api::batch::v1::JobCondition> {
    job.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_ && c.status == "True")
}

/// The migration Job's state: succeeded pods or `Complete`, a `Failed`
/// condition (its message), otherwise still running.
pub fn migration_state(job: Option<&Job>) -> MigrationState {
    let Some(job) = job else {
        return MigrationState::Missing;
    };
    let succeeded = job.status.as_ref().and_then(|s| s.succeeded).unwrap_or(0) >= 1;
    if succeeded || job_condition(job, "Complete").is_some() {
        return MigrationState::Succeeded;
    }
    match job_condition(job, "Failed") {
        Some(c) => MigrationState::Failed(c.message.clone().unwrap_or_else(|| "migration Job failed".into())),
        None => MigrationState::Running,
    }
}

/// What to do with the desired migration Job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobPlan {
    Create,
    /// Still running: leave it.
    Wait,
    /// Succeeded for this version and database: nothing to do.
    Skip,
    /// Finished (failed, or for another version or database): run again.
    Recreate,
}

pub fn plan_job(existing: Option<&Job>, current_version: Option<&str>, version: &str, db_changed: bool) -> JobPlan {
    match migration_state(existing) {
        MigrationState::Missing => JobPlan::Create,
        MigrationState::Running => JobPlan::Wait,
        MigrationState::Succeeded if current_version == Some(version) && !db_changed => JobPlan::Skip,
        MigrationState::Succeeded | MigrationState::Failed(_) => JobPlan::Recreate,
    }
}

/// Whether a Deployment finished rolling out the template that mounts
/// `secret`: observedGeneration caught up and updated == available ==
/// desired replicas.
pub fn rolled_out_with(deploy: &Deployment, secret: &str) -> bool {
    let uses_secret = deploy
        .spec
        .as_ref()
        .and_then(|s| serde_json::to_string(&s.template).ok())
        .is_some_and(|t| t.contains(&format!("\"{secret}\"")));
    let desired = deploy.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let status = deploy.status.clone().unwrap_or_default();
    let generation_seen = status.observed_generation.unwrap_or(0) >= deploy.metadata.generation.unwrap_or(0);
    uses_secret
        && generation_seen
        && status.updated_replicas.unwrap_or(0) == desired
        && status.available_replicas.unwrap_or(0) == desired
}

/// What applying left to wait for.
#[derive(Debug, Default)]
pub struct Applied {
    /// Workloads were held back (database or storage not ready).
    pub deferred: bool,
    /// The migration Job runs.
    pub migrating: bool,
}

impl Pass<'_> {
    /// Applies the objects in order: first everything but the deferrable
    /// workloads (noting whether the databases are available), then the
    /// workloads unless something they need is not ready.
    pub async fn apply_objects(
        &self,
        desired: Vec<Desired>,
        inputs: &Inputs,
        storage_pending: bool,
    ) -> Result<Applied, Failed> {
        let keys_secret = names::managed_keys_secret(&self.name);
        let (workloads, first): (Vec<_>, Vec<_>) = desired
            .into_iter()
            .filter(|o| !(matches!(o, Desired::Secret(_)) && o.name() == keys_secret))
            .partition(is_deferrable);
        let mut databases_ready = true;
        for obj in &first {
            let applied = self.apply_one(obj).await?;
            if is_database(obj) {
                databases_ready &= applied
                    .and_then(|d| d.status)
                    .and_then(|s| s.available_replicas)
                    .unwrap_or(0)
                    > 0;
            }
        }
        let mut outcome = Applied {
            deferred: !databases_ready || storage_pending,
            migrating: false,
        };
        if outcome.deferred {
            tracing::info!(databases_ready, storage_pending, "deferring workloads");
            return Ok(outcome);
        }
        let app = names::app_deployment(&self.name);
        let mut app_deployment = None;
        for obj in &workloads {
            match obj {
                Desired::Job(job) => outcome.migrating |= self.run_job(job, inputs).await?,
                _ => {
                    let applied = self.apply_one(obj).await?;
                    if obj.name() == app {
                        app_deployment = applied;
                    }
                }
            }
        }
        if app_deployment.is_some_and(|d| rolled_out_with(&d, &inputs.config.secret_name)) {
            let extra_cas = objects::extra_ca_secret_name(inputs);
            self.delete_old_config_secrets(&inputs.config.secret_name, extra_cas.as_deref())
                .await?;
        }
        Ok(outcome)
    }

    /// Server-side apply of one object; returns it when it is a Deployment.
    async fn apply_one(&self, obj: &Desired) -> Result<Option<Deployment>, Failed> {
        match obj {
            Desired::Namespace(o) => self.ssa_namespace(o).await?,
            Desired::ServiceAccount(o) => self.ssa(o).await.map(drop)?,
            Desired::ConfigMap(o) => self.ssa(o).await.map(drop)?,
            Desired::Secret(o) => self.ssa(o).await.map(drop)?,
            Desired::Service(o) => self.ssa(o).await.map(drop)?,
            Desired::PersistentVolumeClaim(o) => self.ssa(o).await.map(drop)?,
            Desired::Deployment(o) => return self.ssa(o).await.map(Some),
            Desired::Job(o) => self.ssa(o).await.map(drop)?,
            Desired::HorizontalPodAutoscaler(o) => self.ssa(o).await.map(drop)?,
            Desired::Ingress(o) => self.ssa(o).await.map(drop)?,
            Desired::Role(o) => self.ssa(o).await.map(drop)?,
            Desired::RoleBinding(o) => self.ssa(o).await.map(drop)?,
            Desired::Dynamic(o) => self.ssa_dynamic(o).await?,
        }
        Ok(None)
    }

    fn namespace_of(&self, meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> String {
        meta.namespace.clone().unwrap_or_else(|| self.ns.clone())
    }

    async fn ssa<K>(&self, obj: &K) -> Result<K, Failed>
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()> + Clone + Debug + Serialize + DeserializeOwned,
    {
        let name = obj.meta().name.clone().unwrap_or_default();
        let api: Api<K> = Api::namespaced(self.ctx.client.clone(), &self.namespace_of(obj.meta()));
        api.patch(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(obj))
            .await
            .map_err(|e| Failed::object(&K::kind(&()), &name, e))
    }

    /// Applies the operator's labels to a namespace, creating it when
    /// missing.
    async fn ssa_namespace(&self, obj: &Namespace) -> Result<(), Failed> {
        let name = obj.metadata.name.clone().unwrap_or_default();
        let api: Api<Namespace> = Api::all(self.ctx.client.clone());
        api.patch(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(obj))
            .await
            .map_err(|e| Failed::object("Namespace", &name, e))?;
        Ok(())
    }

    async fn ssa_dynamic(&self, obj: &DynamicObject) -> Result<(), Failed> {
        let name = obj.name_any();
        let types = obj
            .types
            .as_ref()
            .ok_or_else(|| Error::Inflate(format!("object {name} has no apiVersion/kind")))?;
        let gvk = GroupVersionKind::try_from(types).map_err(|e| Error::Inflate(format!("object {name}: {e}")))?;
        let api: Api<DynamicObject> = Api::namespaced_with(
            self.ctx.client.clone(),
            &self.namespace_of(&obj.metadata),
            &ApiResource::from_gvk(&gvk),
        );
        api.patch(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(obj))
            .await
            .map_err(|e| Failed::object(&gvk.kind, &name, e))?;
        Ok(())
    }

    /// The migration Job: left alone while it runs or once it succeeded for
    /// this version; otherwise (re)created. Returns whether it runs now.
    async fn run_job(&self, job: &Job, inputs: &Inputs) -> Result<bool, Failed> {
        let name = job.name_any();
        let api = self.api::<Job>();
        let existing = api.get_opt(&name).await.map_err(|e| Failed::object("Job", &name, e))?;
        let current = self.qr.status.as_ref().and_then(|s| s.current_version.as_deref());
        match plan_job(existing.as_ref(), current, &inputs.version, inputs.config.db_changed) {
            JobPlan::Wait => return Ok(true),
            JobPlan::Skip => return Ok(false),
            JobPlan::Recreate => {
                api.delete(&name, &DeleteParams::background())
                    .await
                    .map_err(|e| Failed::object("Job", &name, e))?;
            }
            JobPlan::Create => {}
        }
        match api.create(&PostParams::default(), job).await {
            Ok(_) => Ok(true),
            // The old Job is still being removed; the next pass creates it.
            Err(kube::Error::Api(s)) if s.is_already_exists() => Ok(true),
            Err(e) => Err(Failed::object("Job", &name, e)),
        }
    }

    /// Deletes config and extra CA Secrets of earlier renders, now that no
    /// pod of the rolled-out quay-app mounts them.
    async fn delete_old_config_secrets(&self, current: &str, current_extra_cas: Option<&str>) -> Result<(), Failed> {
        let prefix = names::config_secret_prefix(&self.name);
        let extra_prefix = names::extra_ca_secret_prefix(&self.name);
        let old = |n: &str| {
            (n.starts_with(&prefix) && n != current) || (n.starts_with(&extra_prefix) && Some(n) != current_extra_cas)
        };
        let api = self.api::<Secret>();
        let lp = ListParams::default().labels(&format!("{LABEL_REGISTRY}={}", self.name));
        let secrets = api
            .list_metadata(&lp)
            .await
            .map_err(|e| Failed::object("Secret", &prefix, e))?;
        for old in secrets.items.iter().map(|s| s.name_any()).filter(|n| old(n)) {
            tracing::info!(secret = %old, "deleting an old config Secret");
            match api.delete(&old, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.is_not_found() => {}
                Err(e) => return Err(Failed::object("Secret", &old, e)),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "applier_tests.rs"]
mod tests;
