//! The desired objects of a registry, built from [`Inputs`] by pure functions.
//!
//! Each module builds the objects of one component as Quay's kustomize base
//! and components do (same names, labels and selectors, so installs made by
//! Quay's operator are adopted); [`overrides`] then plays the part of Quay's
//! middleware (§2.3 step 9) and [`desired_objects`] puts everything in apply
//! order: non-workloads first, then Deployments, then the migration Job.

use std::collections::BTreeMap;

use crds::{Component, ComponentKind};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, PersistentVolumeClaim, Secret, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::DynamicObject;

use crate::bundle::RenderedConfig;
use crate::names::Images;
use crate::tls::TlsMaterial;
use crate::Capabilities;

mod app;
mod builder;
mod cas;
mod common;
mod database;
mod hpa;
mod job;
mod mirror;
mod monitoring;
mod network;
mod objectstorage;
pub mod overrides;
mod redis;
mod secrets;

#[cfg(test)]
mod fixtures;

pub use cas::{ca_hash, ca_hashes, extra_ca_secret_name, SERVICE_CA_KEY, TRUSTED_CA_KEY};
/// The `quay-component` label value of the Ingress (Routes carry their own).
pub use common::component::INGRESS as INGRESS_COMPONENT;
pub use database::{database_pvc_name, database_volume_size};
pub use overrides::strip_resources;

/// Everything the builders need, gathered by the controller.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// The QuayRegistry's name, namespace and uid (for owner references).
    pub name: String,
    pub namespace: String,
    pub uid: String,
    /// The effective components (after defaulting).
    pub components: Vec<Component>,
    pub config: RenderedConfig,
    pub tls: TlsMaterial,
    pub capabilities: Capabilities,
    pub images: Images,
    /// The registry version this operator deploys (`QUAY_VERSION`).
    pub version: String,
    /// Whether migrations must run first: quay-app at 0 replicas and the
    /// migration Job present.
    pub upgrade: bool,
    /// The bundle's `extra_ca_cert_<n>` files keyed by `<n>`
    /// ([`crate::bundle::ConfigBundle::extra_ca_certs`]).
    pub extra_ca_certs: BTreeMap<String, Vec<u8>>,
    /// Hashes of the injected CA ConfigMaps (OpenShift), keyed by the
    /// annotation they are stamped under ([`ca_hashes`]).
    pub ca_hashes: BTreeMap<String, String>,
}

impl Inputs {
    /// Whether `kind` is listed as managed.
    pub fn is_managed(&self, kind: ComponentKind) -> bool {
        self.components.iter().any(|c| c.kind == kind && c.managed)
    }

    /// The overrides of `kind`, if it is listed with some.
    pub fn overrides(&self, kind: ComponentKind) -> Option<&crds::Overrides> {
        self.components
            .iter()
            .find(|c| c.kind == kind)
            .and_then(|c| c.overrides.as_ref())
    }
}

/// One object to create or update with server-side apply.
#[derive(Debug, Clone, PartialEq)]
pub enum Desired {
    /// Cluster scoped: a builder namespace (created when missing, never
    /// deleted by the operator).
    Namespace(Namespace),
    ServiceAccount(ServiceAccount),
    ConfigMap(ConfigMap),
    Secret(Secret),
    Service(Service),
    PersistentVolumeClaim(PersistentVolumeClaim),
    Deployment(Deployment),
    Job(Job),
    HorizontalPodAutoscaler(HorizontalPodAutoscaler),
    Ingress(Ingress),
    Role(Role),
    RoleBinding(RoleBinding),
    /// Types without k8s-openapi structs: Route (`route.openshift.io/v1`),
    /// ObjectBucketClaim, ServiceMonitor, PrometheusRule.
    Dynamic(DynamicObject),
}

impl Desired {
    /// The object's metadata.
    pub fn meta(&self) -> &ObjectMeta {
        match self {
            Desired::Namespace(o) => &o.metadata,
            Desired::ServiceAccount(o) => &o.metadata,
            Desired::ConfigMap(o) => &o.metadata,
            Desired::Secret(o) => &o.metadata,
            Desired::Service(o) => &o.metadata,
            Desired::PersistentVolumeClaim(o) => &o.metadata,
            Desired::Deployment(o) => &o.metadata,
            Desired::Job(o) => &o.metadata,
            Desired::HorizontalPodAutoscaler(o) => &o.metadata,
            Desired::Ingress(o) => &o.metadata,
            Desired::Role(o) => &o.metadata,
            Desired::RoleBinding(o) => &o.metadata,
            Desired::Dynamic(o) => &o.metadata,
        }
    }

    /// The object's metadata, to change.
    pub fn meta_mut(&mut self) -> &mut ObjectMeta {
        match self {
            Desired::Namespace(o) => &mut o.metadata,
            Desired::ServiceAccount(o) => &mut o.metadata,
            Desired::ConfigMap(o) => &mut o.metadata,
            Desired::Secret(o) => &mut o.metadata,
            Desired::Service(o) => &mut o.metadata,
            Desired::PersistentVolumeClaim(o) => &mut o.metadata,
            Desired::Deployment(o) => &mut o.metadata,
            Desired::Job(o) => &mut o.metadata,
            Desired::HorizontalPodAutoscaler(o) => &mut o.metadata,
            Desired::Ingress(o) => &mut o.metadata,
            Desired::Role(o) => &mut o.metadata,
            Desired::RoleBinding(o) => &mut o.metadata,
            Desired::Dynamic(o) => &mut o.metadata,
        }
    }

    /// The object's name.
    pub fn name(&self) -> &str {
        self.meta().name.as_deref().unwrap_or_default()
    }

    /// The object as JSON, with `apiVersion` and `kind` (for an apply patch).
    pub fn to_json(&self) -> serde_json::Result<serde_json::Value> {
        match self {
            Desired::Namespace(o) => serde_json::to_value(o),
            Desired::ServiceAccount(o) => serde_json::to_value(o),
            Desired::ConfigMap(o) => serde_json::to_value(o),
            Desired::Secret(o) => serde_json::to_value(o),
            Desired::Service(o) => serde_json::to_value(o),
            Desired::PersistentVolumeClaim(o) => serde_json::to_value(o),
            Desired::Deployment(o) => serde_json::to_value(o),
            Desired::Job(o) => serde_json::to_value(o),
            Desired::HorizontalPodAutoscaler(o) => serde_json::to_value(o),
            Desired::Ingress(o) => serde_json::to_value(o),
            Desired::Role(o) => serde_json::to_value(o),
            Desired::RoleBinding(o) => serde_json::to_value(o),
            Desired::Dynamic(o) => serde_json::to_value(o),
        }
    }

    /// Workloads go last so everything they mount or reach exists first;
    /// the migration Job goes after the Deployments (Quay's order).
    fn apply_rank(&self) -> u8 {
        match self {
            Desired::Deployment(_) => 1,
            Desired::Job(_) => 2,
            _ => 0,
        }
    }
}

/// Every object the registry needs, in apply order (non-workloads first).
pub fn desired_objects(inputs: &Inputs) -> crate::Result<Vec<Desired>> {
    let config = common::ConfigView::parse(&inputs.config)?;
    let mut out = secrets::objects(inputs);
    out.extend(cas::objects(inputs));
    // The database and redis first: quay-app waits for them.
    if inputs.is_managed(ComponentKind::Postgres) {
        out.extend(database::objects(inputs, &config)?);
    }
    if inputs.is_managed(ComponentKind::Redis) {
        out.extend(redis::objects(inputs));
    }
    out.extend(app::objects(inputs));
    if inputs.is_managed(ComponentKind::Mirror) {
        out.push(mirror::deployment(inputs));
    }
    out.extend(optional_objects(inputs));
    out.extend(builder::objects(inputs, &config));
    if inputs.upgrade {
        out.push(Desired::Job(job::migration(inputs)));
    }
    overrides::apply(&mut out, inputs);
    out.sort_by_key(Desired::apply_rank);
    Ok(out)
}

/// Components that exist only when managed and the cluster serves their API.
fn optional_objects(inputs: &Inputs) -> Vec<Desired> {
    let caps = inputs.capabilities;
    let mut out = Vec::new();
    if inputs.is_managed(ComponentKind::Horizontalpodautoscaler) {
        out.extend(hpa::objects(inputs));
    }
    if inputs.is_managed(ComponentKind::Route) {
        out.extend(network::objects(inputs));
    }
    if inputs.is_managed(ComponentKind::Objectstorage) && caps.object_bucket_claims {
        out.push(Desired::Dynamic(objectstorage::bucket_claim(inputs)));
    }
    if inputs.is_managed(ComponentKind::Monitoring) && caps.monitoring {
        out.extend(monitoring::objects(inputs));
    }
    out
}

#[cfg(test)]
mod tests;
