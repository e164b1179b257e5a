//! The desired objects of a registry, built from [`Inputs`] by pure functions.

use crds::Component;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Secret, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::DynamicObject;

use crate::bundle::RenderedConfig;
use crate::names::Images;
use crate::tls::TlsMaterial;
use crate::Capabilities;

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
}

/// One object to create or update with server-side apply.
#[derive(Debug, Clone, PartialEq)]
pub enum Desired {
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

/// Every object the registry needs, in apply order (non-workloads first).
pub fn desired_objects(inputs: &Inputs) -> crate::Result<Vec<Desired>> {
    let _ = inputs;
    todo!("objects: builders")
}
