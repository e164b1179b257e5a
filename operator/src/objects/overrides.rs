//! Component overrides, applied to the built objects as Quay's middleware
//! does (§2.3 step 9, §1.1):
//!
//! - Deployments (kind from their `quay-component` annotation): env upserted
//!   into every container (not init containers), affinity replaced,
//!   resources replacing container[0]'s requests and limits, securityContext
//!   on every container, labels (reserved keys skipped) and annotations
//!   merged into the Deployment and its pod template;
//! - the migration Job: quay's env and securityContext;
//! - the database PVC: volumeSize and storageClassName;
//! - Routes and the Ingress: the route component's labels and annotations.
//!
//! Replicas are decided by [`replicas`], which the builders call.

use std::collections::BTreeMap;

use crds::{ComponentKind, Overrides};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Container, EnvVar, PersistentVolumeClaim, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::common::{component, RESERVED_LABELS};
use super::database::database_volume_size;
use super::{Desired, Inputs};
use crate::names::LABEL_COMPONENT;

/// Replicas of quay-app and mirror (Quay's rule; `None` leaves the field
/// to whoever else scales the Deployment):
/// - migrations pending → 0;
/// - HPA managed → unset, except an explicit `replicas: 0` (scale to zero,
///   which the validation allows and an HPA does not undo);
/// - no overrides → 2; `overrides.replicas` → that value;
/// - overrides without replicas → unset, so a user's HPA owns the field.
pub fn replicas(inputs: &Inputs, kind: ComponentKind) -> Option<i32> {
    if inputs.upgrade {
        return Some(0);
    }
    let requested = inputs.overrides(kind).map(|o| o.replicas);
    if inputs.is_managed(ComponentKind::Horizontalpodautoscaler) {
        return requested.flatten().filter(|r| *r == 0);
    }
    match requested {
        None => Some(2),
        Some(replicas) => replicas,
    }
}

/// Applies every component's overrides to `objects`.
pub(super) fn apply(objects: &mut [Desired], inputs: &Inputs) {
    let route = managed_overrides(inputs, ComponentKind::Route);
    for object in objects.iter_mut() {
        match object {
            Desired::Deployment(d) => deployment(d, inputs),
            Desired::Job(j) => job(j, managed_overrides(inputs, ComponentKind::Quay)),
            Desired::PersistentVolumeClaim(p) => pvc(p, inputs),
            Desired::Ingress(i) => merge_meta(&mut i.metadata, route),
            Desired::Dynamic(d) if d.types.as_ref().is_some_and(|t| t.kind == "Route") => {
                merge_meta(&mut d.metadata, route)
            }
            _ => {}
        }
    }
}

/// Removes every container's requests and limits (for small test clusters,
/// as Quay's `SKIP_RESOURCE_REQUESTS=true`).
pub fn strip_resources(objects: &mut [Desired]) {
    for object in objects.iter_mut() {
        let template = match object {
            Desired::Deployment(d) => d.spec.as_mut().map(|s| &mut s.template),
            Desired::Job(j) => j.spec.as_mut().map(|s| &mut s.template),
            _ => None,
        };
        for container in template.into_iter().flat_map(containers) {
            container.resources = None;
        }
    }
}

/// Overrides apply to managed components only.
fn managed_overrides(inputs: &Inputs, kind: ComponentKind) -> Option<&Overrides> {
    inputs.overrides(kind).filter(|_| inputs.is_managed(kind))
}

/// The component kind of a Deployment, from its `quay-component`
/// annotation with dashes removed (`clair-postgres` → `clairpostgres`).
fn kind_of(meta: &ObjectMeta) -> Option<ComponentKind> {
    let value = meta.annotations.as_ref()?.get(LABEL_COMPONENT)?.replace('-', "");
    ComponentKind::ALL.into_iter().find(|k| k.as_str() == value)
}

fn deployment(dep: &mut Deployment, inputs: &Inputs) {
    let Some(o) = kind_of(&dep.metadata).and_then(|kind| managed_overrides(inputs, kind)) else {
        return;
    };
    merge_meta(&mut dep.metadata, Some(o));
    let Some(template) = dep.spec.as_mut().map(|s| &mut s.template) else {
        return;
    };
    merge_meta(template.metadata.get_or_insert_with(ObjectMeta::default), Some(o));
    if let Some(affinity) = &o.affinity {
        template.spec.get_or_insert_with(Default::default).affinity = Some(affinity.clone());
    }
    if let (Some(resources), Some(first)) = (&o.resources, containers(template).next()) {
        let target = first.resources.get_or_insert_with(Default::default);
        target.requests.clone_from(&resources.requests);
        target.limits.clone_from(&resources.limits);
    }
    container_overrides(template, o);
}

fn job(job: &mut Job, quay: Option<&Overrides>) {
    if let (Some(o), Some(spec)) = (quay, job.spec.as_mut()) {
        container_overrides(&mut spec.template, o);
    }
}

/// Env and securityContext, which go to every container.
fn container_overrides(template: &mut PodTemplateSpec, o: &Overrides) {
    for container in containers(template) {
        for env in o.env.iter().flatten() {
            upsert_env(container, env);
        }
        if let Some(sc) = &o.security_context {
            container.security_context = Some(sc.clone());
        }
    }
}

fn pvc(pvc: &mut PersistentVolumeClaim, inputs: &Inputs) {
    let component = pvc.metadata.labels.as_ref().and_then(|l| l.get(LABEL_COMPONENT));
    if component.map(String::as_str) != Some(component::POSTGRES) {
        return;
    }
    let Some(spec) = pvc.spec.as_mut() else { return };
    if let Some(o) = managed_overrides(inputs, ComponentKind::Postgres) {
        if o.volume_size.is_some() {
            let requests = spec
                .resources
                .get_or_insert_with(Default::default)
                .requests
                .get_or_insert_with(Default::default);
            requests.insert("storage".into(), database_volume_size(inputs));
        }
        if let Some(class) = &o.storage_class_name {
            spec.storage_class_name = Some(class.clone());
        }
    }
}

fn containers(template: &mut PodTemplateSpec) -> impl Iterator<Item = &mut Container> {
    template.spec.iter_mut().flat_map(|s| s.containers.iter_mut())
}

/// Replaces the variable of the same name, or appends it.
fn upsert_env(container: &mut Container, var: &EnvVar) {
    let env = container.env.get_or_insert_with(Vec::new);
    match env.iter_mut().find(|e| e.name == var.name) {
        Some(existing) => *existing = var.clone(),
        None => env.push(var.clone()),
    }
}

/// Label (reserved keys skipped) and annotation overrides.
fn merge_meta(meta: &mut ObjectMeta, o: Option<&Overrides>) {
    let Some(o) = o else { return };
    if let Some(labels) = &o.labels {
        let allowed = labels.iter().filter(|(k, _)| !RESERVED_LABELS.contains(&k.as_str()));
        merge(meta.labels.get_or_insert_with(BTreeMap::new), allowed);
    }
    if let Some(annotations) = &o.annotations {
        merge(meta.annotations.get_or_insert_with(BTreeMap::new), annotations.iter());
    }
}

fn merge<'a>(target: &mut BTreeMap<String, String>, from: impl Iterator<Item = (&'a String, &'a String)>) {
    target.extend(from.map(|(k, v)| (k.clone(), v.clone())));
}

#[cfg(test)]
#[path = "overrides_tests.rs"]
mod tests;
