//! Component readiness (Quay's `cmpstatus`), as pure functions over the
//! objects observed in the cluster.
//!
//! Order: HPA, Route, Monitoring; then Postgres, ObjectStorage, Clair,
//! ClairPostgres, TLS and Redis. If any of those is not ready, Quay and
//! Mirror are reported as awaiting them and not checked. `Available` is
//! False while any condition has reason `ComponentNotReady`.

use crds::{condition, reason, ComponentKind, QuayRegistry};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::DynamicObject;
use kube::{Resource, ResourceExt};

use super::Wanted;
use crate::names;
use crate::Capabilities;

/// What the status controller read for one registry (objects labelled with
/// `quay-operator/quayregistry=<cr>` in its namespace, plus a few by name).
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub deployments: Vec<Deployment>,
    pub pvcs: Vec<PersistentVolumeClaim>,
    /// Names of PVCs that have a `ProvisioningFailed` Event.
    pub pvcs_failed: Vec<String>,
    pub hpas: Vec<HorizontalPodAutoscaler>,
    pub jobs: Vec<Job>,
    /// `route.openshift.io/v1` Routes (OpenShift).
    pub routes: Vec<DynamicObject>,
    /// Ingresses (plain Kubernetes).
    pub ingresses: Vec<Ingress>,
    pub service_monitor: bool,
    pub prometheus_rule: bool,
    /// The ObjectBucketClaim `<cr>-quay-datastore`.
    pub object_bucket_claim: Option<DynamicObject>,
    pub tls: TlsObserved,
}

/// Certificate sources for the TLS check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsObserved {
    pub bundle_cert: bool,
    pub bundle_key: bool,
    /// The tls `secretRef`, when set: `Err` explains why it is unusable.
    pub secret_ref: Option<Result<(), String>>,
}

/// A failed check: reason and message.
type Check = Result<String, (&'static str, String)>;

fn not_ready(message: impl Into<String>) -> (&'static str, String) {
    (reason::COMPONENT_NOT_READY, message.into())
}

/// The name of the Deployment that runs `kind`, if it has one.
pub fn deployment_name(cr: &str, kind: ComponentKind) -> Option<String> {
    let suffix = match kind {
        ComponentKind::Quay => "quay-app",
        ComponentKind::Postgres => "quay-database",
        ComponentKind::Clairpostgres => "clair-postgres",
        ComponentKind::Redis => "quay-redis",
        ComponentKind::Clair => "clair-app",
        ComponentKind::Mirror => "quay-mirror",
        _ => return None,
    };
    Some(names::prefixed(cr, suffix))
}

/// Every `Component*Ready` condition plus `Available`.
pub fn evaluate(qr: &QuayRegistry, caps: &Capabilities, obs: &Observed) -> Vec<Wanted> {
    let cr = qr.name_any();
    let uid = qr.meta().uid.clone().unwrap_or_default();
    let eval = Eval {
        qr,
        cr: &cr,
        uid: &uid,
        caps,
        obs,
    };
    let mut out = Vec::new();
    for kind in [
        ComponentKind::Horizontalpodautoscaler,
        ComponentKind::Route,
        ComponentKind::Monitoring,
    ] {
        out.push(eval.condition(kind));
    }
    let mut waiting = Vec::new();
    for kind in [
        ComponentKind::Postgres,
        ComponentKind::Objectstorage,
        ComponentKind::Clair,
        ComponentKind::Clairpostgres,
        ComponentKind::Tls,
        ComponentKind::Redis,
    ] {
        let c = eval.condition(kind);
        if !c.status {
            waiting.push(kind.as_str());
        }
        out.push(c);
    }
    if waiting.is_empty() {
        out.push(eval.condition(ComponentKind::Quay));
        out.push(eval.condition(ComponentKind::Mirror));
    } else {
        let message = format!("Awaiting for component {} to become available", waiting.join(","));
        for kind in [ComponentKind::Quay, ComponentKind::Mirror] {
            out.push(Wanted::new(
                kind.ready_condition(),
                false,
                reason::COMPONENT_NOT_READY,
                message.clone(),
            ));
        }
    }
    out.push(available(&out));
    out
}

/// `Available` from the component conditions.
pub fn available(conditions: &[Wanted]) -> Wanted {
    if conditions.iter().any(|c| c.reason == reason::COMPONENT_NOT_READY) {
        Wanted::new(
            condition::AVAILABLE,
            false,
            reason::COMPONENT_NOT_READY,
            "Some components are not ready",
        )
    } else {
        Wanted::new(
            condition::AVAILABLE,
            true,
            reason::HEALTH_CHECKS_PASSING,
            "All components reporting as healthy",
        )
    }
}

struct Eval<'a> {
    qr: &'a QuayRegistry,
    cr: &'a str,
    uid: &'a str,
    caps: &'a Capabilities,
    obs: &'a Observed,
}

impl Eval<'_> {
    fn condition(&self, kind: ComponentKind) -> Wanted {
        let type_ = kind.ready_condition();
        // quay is always managed (it only carries overrides); an unmanaged
        // tls still needs a usable certificate.
        let checked_anyway = matches!(kind, ComponentKind::Quay | ComponentKind::Tls);
        if !checked_anyway && !self.qr.spec.is_managed(kind) {
            return Wanted::new(
                type_,
                true,
                reason::COMPONENT_NOT_MANAGED,
                "Component not managed by the operator",
            );
        }
        match self.check(kind) {
            Ok(message) => Wanted::new(type_, true, reason::COMPONENT_READY, message),
            Err((reason, message)) => Wanted::new(type_, false, reason, message),
        }
    }

    fn check(&self, kind: ComponentKind) -> Check {
        match kind {
            ComponentKind::Horizontalpodautoscaler => self.hpas(),
            ComponentKind::Route => self.route(),
            ComponentKind::Monitoring => self.monitoring(),
            ComponentKind::Objectstorage => self.object_storage(),
            ComponentKind::Tls => self.tls(),
            ComponentKind::Postgres | ComponentKind::Clairpostgres => {
                self.database(kind).and_then(|_| self.deployment(kind))
            }
            ComponentKind::Quay => self.migrations().and_then(|_| self.deployment(kind)),
            ComponentKind::Redis | ComponentKind::Clair | ComponentKind::Mirror => self.deployment(kind),
        }
    }

    fn owned<K: Resource>(&self, obj: &K) -> bool {
        obj.meta().owner_references.iter().flatten().any(|o| o.uid == self.uid)
    }

    fn hpas(&self) -> Check {
        let mut wanted = vec![ComponentKind::Quay];
        wanted.extend(
            [ComponentKind::Clair, ComponentKind::Mirror]
                .into_iter()
                .filter(|k| self.qr.spec.is_managed(*k)),
        );
        for kind in wanted {
            let name = deployment_name(self.cr, kind).unwrap_or_default();
            match self.obs.hpas.iter().find(|h| h.name_any() == name) {
                Some(hpa) if self.owned(hpa) => {}
                Some(_) => {
                    return Err(not_ready(format!(
                        "HorizontalPodAutoscaler {name} not owned by QuayRegistry"
                    )))
                }
                None => return Err(not_ready(format!("HorizontalPodAutoscaler {name} not found"))),
            }
        }
        Ok("Horizontal pod autoscalers found".into())
    }

    fn route(&self) -> Check {
        if !self.caps.routes {
            return match self.obs.ingresses.iter().find(|i| self.owned(*i)) {
                Some(ing) => Ok(format!("Ingress {} exists", ing.name_any())),
                None => Err(not_ready("Ingress not found")),
            };
        }
        let routes: Vec<_> = self.obs.routes.iter().filter(|r| self.owned(*r)).collect();
        if routes.is_empty() {
            return Err(not_ready("Route not found"));
        }
        for route in routes {
            let ingress = route.data.pointer("/status/ingress").and_then(|v| v.as_array());
            let Some(ingress) = ingress.filter(|i| !i.is_empty()) else {
                return Err(not_ready(format!("Route {} not admitted", route.name_any())));
            };
            let admitted = ingress.iter().all(|i| {
                i["conditions"]
                    .as_array()
                    .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Admitted" && c["status"] == "True"))
            });
            if !admitted {
                return Err(not_ready(format!("Route {} not admitted", route.name_any())));
            }
        }
        Ok("Route admitted".into())
    }

    fn monitoring(&self) -> Check {
        match (self.obs.service_monitor, self.obs.prometheus_rule) {
            (true, true) => Ok("ServiceMonitor and PrometheusRule created".into()),
            (false, _) => Err(not_ready("ServiceMonitor not found")),
            (_, false) => Err(not_ready("PrometheusRule not found")),
        }
    }

    fn object_storage(&self) -> Check {
        let phase = self
            .obs
            .object_bucket_claim
            .as_ref()
            .and_then(|o| o.data.pointer("/status/phase"));
        match phase.and_then(|p| p.as_str()) {
            Some("Bound") => Ok("ObjectBucketClaim bound".into()),
            Some(p) => Err(not_ready(format!("ObjectBucketClaim is {p}"))),
            None => Err(not_ready("ObjectBucketClaim not found")),
        }
    }

    fn tls(&self) -> Check {
        let tls = &self.obs.tls;
        let in_bundle = tls.bundle_cert || tls.bundle_key;
        if self.qr.spec.is_managed(ComponentKind::Tls) {
            return match in_bundle {
                false => Ok("Operator manages TLS".into()),
                true => Err(not_ready("tls is managed but the config bundle holds ssl.cert/ssl.key")),
            };
        }
        match (&tls.secret_ref, in_bundle) {
            (Some(_), true) => Err(not_ready(
                "tls secretRef and ssl.cert/ssl.key in the bundle are mutually exclusive",
            )),
            (Some(Err(e)), false) => Err(not_ready(e.clone())),
            (Some(Ok(())), false) => Ok("Using the certificate of secretRef".into()),
            (None, _) if tls.bundle_cert && tls.bundle_key => Ok("Using the certificate of the config bundle".into()),
            (None, _) => Err(not_ready(
                "tls is unmanaged but the config bundle lacks ssl.cert and ssl.key",
            )),
        }
    }

    fn database(&self, kind: ComponentKind) -> Check {
        let name = deployment_name(self.cr, kind).unwrap_or_default();
        let Some(deploy) = self.obs.deployments.iter().find(|d| d.name_any() == name) else {
            return Err(not_ready(format!("Deployment {name} not found")));
        };
        let claims = deploy
            .spec
            .as_ref()
            .and_then(|s| s.template.spec.as_ref())
            .map(|p| {
                p.volumes
                    .iter()
                    .flatten()
                    .filter_map(|v| v.persistent_volume_claim.as_ref())
            })
            .into_iter()
            .flatten();
        for claim in claims {
            let pvc = self.obs.pvcs.iter().find(|p| p.name_any() == claim.claim_name);
            let phase = pvc.and_then(|p| p.status.as_ref()).and_then(|s| s.phase.as_deref());
            match (pvc, phase) {
                (None, _) => {
                    return Err(not_ready(format!(
                        "PersistentVolumeClaim {} not found",
                        claim.claim_name
                    )))
                }
                (Some(_), Some("Pending")) if self.obs.pvcs_failed.contains(&claim.claim_name) => {
                    return Err((
                        reason::PVC_PROVISIONING_FAILED,
                        format!("PersistentVolumeClaim {} failed to provision", claim.claim_name),
                    ))
                }
                (Some(_), Some("Pending")) => {
                    return Err((
                        reason::PVC_PENDING,
                        format!("PersistentVolumeClaim {} is pending", claim.claim_name),
                    ))
                }
                _ => {}
            }
        }
        Ok(String::new())
    }

    fn migrations(&self) -> Check {
        let job = names::upgrade_job(self.cr);
        match self.obs.jobs.iter().find(|j| j.name_any() == job) {
            Some(j) if j.status.as_ref().and_then(|s| s.succeeded).unwrap_or(0) >= 1 => Ok(String::new()),
            Some(_) => Err(not_ready("Running database migrations")),
            // A removed Job is fine once its migrations were recorded.
            None if self.qr.status.as_ref().is_some_and(|s| s.current_version.is_some()) => Ok(String::new()),
            None => Err(not_ready("Migration Job not found")),
        }
    }

    fn deployment(&self, kind: ComponentKind) -> Check {
        let name = deployment_name(self.cr, kind).unwrap_or_default();
        let Some(deploy) = self.obs.deployments.iter().find(|d| d.name_any() == name) else {
            return Err(not_ready(format!("Deployment {name} not found")));
        };
        if !self.owned(deploy) {
            return Err(not_ready(format!("Deployment {name} not owned by QuayRegistry")));
        }
        let scaled_to_zero = deploy.spec.as_ref().and_then(|s| s.replicas) == Some(0);
        if scaled_to_zero && matches!(kind, ComponentKind::Clair | ComponentKind::Mirror) {
            return Ok(format!("Deployment {name} scaled down"));
        }
        deployment_healthy(deploy).map_err(not_ready)?;
        Ok(format!("Deployment {name} healthy"))
    }
}

/// availableReplicas > 0 and the `Available` condition True.
pub fn deployment_healthy(deploy: &Deployment) -> Result<(), String> {
    let name = deploy.name_any();
    let status = deploy.status.as_ref();
    if status.and_then(|s| s.available_replicas).unwrap_or(0) == 0 {
        return Err(format!("Deployment {name} has zero available replicas"));
    }
    let available = status
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Available"));
    match available {
        Some(c) if c.status == "True" => Ok(()),
        Some(c) => Err(format!(
            "Deployment {name} not available: {}",
            c.message.clone().unwrap_or_default()
        )),
        None => Err(format!("Deployment {name} has no Available condition")),
    }
}

#[cfg(test)]
#[path = "evaluate_tests.rs"]
mod tests;
