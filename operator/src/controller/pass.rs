//! One apply pass (Quay's §2.2, adapted).
//!
//! 1. While `ComponentsCreated` says `MigrationsInProgress`, only the
//!    migration Job is polled.
//! 2. No bundle name: create `<cr>-config-bundle-<rand>`, write its name
//!    into the spec, requeue. Read the bundle (missing: `ConfigInvalid`).
//! 3. TLS inputs: `secretRef` (exclusive with `ssl.*` in the bundle,
//!    labelled so it is watched) or the bundle's pair.
//! 4. Managed keys; default components (a changed list is written to the
//!    spec and the pass ends); overrides; `hasNecessaryConfig`.
//! 5. TLS material, render, persist the managed keys, the hashes of the
//!    injected CA ConfigMaps (OpenShift), desired objects.
//! 6. Apply: non-workloads and the databases first; other workloads wait
//!    until a managed database is available; the migration Job follows its
//!    lifecycle; old config Secrets go once quay-app has rolled out.
//! 7. Status: RolloutBlocked=False, registryEndpoint, ComponentsCreated.

use crds::{reason, ComponentKind, QuayRegistry};
use k8s_openapi::api::batch::v1::Job;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Api, Resource, ResourceExt};
use serde_json::json;

use super::applier::{self, Applied, MigrationState};
use super::{Context, Failed, REQUEUE_RESYNC, REQUEUE_SOON, REQUEUE_WAIT};
use crate::bundle::{self, RenderParams};
use crate::components;
use crate::names::{self, FIELD_MANAGER};
use crate::objects::{self, Inputs};
use crate::status::{self, MainStatus, Wanted};
use crate::{Error, Result};

/// State of one pass over one registry.
pub(crate) struct Pass<'a> {
    pub qr: &'a QuayRegistry,
    pub ctx: &'a Context,
    pub name: String,
    pub ns: String,
    pub uid: String,
    /// The status this pass will write (starts as the current one).
    pub status: MainStatus,
}

impl<'a> Pass<'a> {
    pub fn new(qr: &'a QuayRegistry, ctx: &'a Context) -> Result<Pass<'a>> {
        let ns = qr
            .namespace()
            .ok_or_else(|| Error::ConfigInvalid("QuayRegistry has no namespace".into()))?;
        let mut status = MainStatus::from_status(qr.status.as_ref());
        status.observed_generation = qr.meta().generation;
        Ok(Pass {
            qr,
            ctx,
            name: qr.name_any(),
            ns,
            uid: qr.meta().uid.clone().unwrap_or_default(),
            status,
        })
    }

    pub fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.ctx.client.clone(), &self.ns)
    }

    /// The steps above; the caller writes the status.
    pub async fn run(&mut self) -> Result<Action, Failed> {
        if self.status.components_reason() == Some(reason::MIGRATIONS_IN_PROGRESS) {
            return self.poll_migration().await;
        }
        let Some(bundle_name) = self.qr.spec.config_bundle_secret.clone().filter(|b| !b.is_empty()) else {
            self.create_base_bundle().await?;
            return Ok(Action::requeue(REQUEUE_SOON));
        };
        let Some(prepared) = self.prepare(&bundle_name).await? else {
            return Ok(Action::requeue(REQUEUE_SOON));
        };
        let mut desired = objects::desired_objects(&prepared.inputs)?;
        applier::adjust_ownership(&mut desired, self.qr);
        let outcome = self
            .apply_objects(desired, &prepared.inputs, prepared.storage_pending)
            .await?;
        Ok(self.finish(&prepared.inputs, &outcome))
    }

    /// Steps 2 to 5: everything the builders need. `None` when the
    /// component list was written back to the spec (nothing is rendered
    /// on such a pass).
    async fn prepare(&self, bundle_name: &str) -> Result<Option<Prepared>, Failed> {
        let bundle = self.read_bundle(bundle_name).await?;
        let user_cert = self.user_certificate(&bundle).await?;
        let (stored, stored_secret) = self.managed_keys().await?;
        let components = components::ensure_default_components(&self.qr.spec, &self.ctx.capabilities, &bundle)?;
        if !same_components(&components, &self.qr.spec.components) {
            self.update_components(&components).await?;
            return Ok(None);
        }
        components::validate_overrides(&components)?;
        components::has_necessary_config(&components, &bundle)?;
        let tls = self.tls_source(user_cert)?;
        let apps_domain = self.apps_domain(&bundle).await?;
        let bucket = self.object_bucket().await?;
        let params = RenderParams {
            name: &self.name,
            namespace: &self.ns,
            components: &components,
            stored: &stored,
            apps_domain: apps_domain.as_deref(),
            tls: &tls,
        };
        let rendered = bundle::render_with_storage(&bundle, &params, bucket.as_ref())?;
        let tls = self.finish_tls(tls, &rendered).await?;
        self.store_managed_keys(&rendered.managed_keys, &stored, stored_secret.as_ref())
            .await?;
        let ca_hashes = self.ca_hashes().await?;
        let storage_pending = self.is_managed(ComponentKind::Objectstorage) && bucket.is_none();
        let current = self.qr.status.as_ref().and_then(|s| s.current_version.as_deref());
        let inputs = Inputs {
            name: self.name.clone(),
            namespace: self.ns.clone(),
            uid: self.uid.clone(),
            components,
            upgrade: current != Some(self.ctx.version.as_str()) || rendered.db_changed,
            config: rendered,
            tls,
            capabilities: self.ctx.capabilities,
            images: self.ctx.images.clone(),
            version: self.ctx.version.clone(),
            extra_ca_certs: bundle.extra_ca_certs(),
            ca_hashes,
        };
        Ok(Some(Prepared {
            inputs,
            storage_pending,
        }))
    }

    /// Step 7: the status after an applied pass and when to come back.
    fn finish(&mut self, inputs: &Inputs, outcome: &Applied) -> Action {
        self.status.registry_endpoint = Some(format!("https://{}", inputs.config.server_hostname));
        self.status.set(Wanted::rollout_unblocked());
        if outcome.deferred {
            return Action::requeue(REQUEUE_WAIT);
        }
        if outcome.migrating {
            let running = Wanted::components_waiting(reason::MIGRATIONS_IN_PROGRESS, "Running database migrations");
            self.status.set(running);
            return Action::requeue(REQUEUE_WAIT);
        }
        self.status.set(Wanted::components_created());
        Action::requeue(REQUEUE_RESYNC)
    }

    /// Only the migration Job matters while it runs (§2.6). Success records
    /// the version; failure or absence is reported and the next pass
    /// renders and applies everything again.
    async fn poll_migration(&mut self) -> Result<Action, Failed> {
        let job_name = names::upgrade_job(&self.name);
        let job = self
            .api::<Job>()
            .get_opt(&job_name)
            .await
            .map_err(|e| Failed::object("Job", &job_name, e))?;
        match applier::migration_state(job.as_ref()) {
            MigrationState::Running => return Ok(Action::requeue(REQUEUE_WAIT)),
            MigrationState::Succeeded => {
                self.status.current_version = Some(self.ctx.version.clone());
                self.status.set(Wanted::components_created());
            }
            MigrationState::Failed(message) => {
                self.status
                    .set(Wanted::components_waiting(reason::MIGRATIONS_FAILED, message));
            }
            MigrationState::Missing => self.status.set(Wanted::components_waiting(
                reason::MIGRATIONS_JOB_MISSING,
                format!("Migration Job {job_name} not found"),
            )),
        }
        Ok(Action::requeue(REQUEUE_SOON))
    }

    /// Writes the computed component list into the spec (Quay writes
    /// unlisted kinds back so users see what is managed).
    async fn update_components(&self, components: &[crds::Component]) -> Result<(), Failed> {
        let patch = json!({"spec": {"components": components}});
        self.api::<QuayRegistry>()
            .patch(&self.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|e| Failed::object("QuayRegistry", &self.name, e))?;
        Ok(())
    }

    /// Applies the main reconciler's part of the status (when it changed)
    /// and records an Event per changed condition.
    pub async fn write_status(&self) -> Result<()> {
        let current = self.qr.status.as_ref();
        let api = self.api::<QuayRegistry>();
        if let Some(current) = current.filter(|s| s.conditions.iter().any(|c| !status::is_known_type(&c.type_))) {
            let mut kept = current.conditions.clone();
            status::prune_unknown(&mut kept);
            let patch = json!({"status": {"conditions": kept}});
            api.patch_status(&self.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map_err(Error::Kube)?;
        }
        let Some((body, changed)) = self.status.patch(current, &status::now()) else {
            return Ok(());
        };
        api.patch_status(
            &self.name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&body),
        )
        .await
        .map_err(Error::Kube)?;
        for change in &changed {
            self.ctx.publish(self.qr, change).await;
        }
        Ok(())
    }

    /// The owner reference every child carries (no controller flag, as in
    /// Quay's operator).
    pub fn owner_ref(&self) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
        applier::owner_reference(self.qr)
    }

    /// Whether the user opted in to deleting the database with the registry.
    pub fn deletes_database(&self) -> bool {
        applier::deletes_database(self.qr)
    }

    pub fn is_managed(&self, kind: ComponentKind) -> bool {
        self.qr.spec.is_managed(kind)
    }
}

/// What a pass applies from: the builders' inputs, and whether managed
/// object storage is still unbound.
struct Prepared {
    inputs: Inputs,
    storage_pending: bool,
}

/// Whether two component lists say the same (order aside).
pub(crate) fn same_components(a: &[crds::Component], b: &[crds::Component]) -> bool {
    let sorted = |l: &[crds::Component]| {
        let mut v = l.to_vec();
        v.sort_by_key(|c| c.kind);
        v
    };
    sorted(a) == sorted(b)
}
