use crds::{Component, QuayRegistrySpec, QuayRegistryStatus};
use k8s_openapi::api::apps::v1::{DeploymentCondition, DeploymentSpec, DeploymentStatus};
use k8s_openapi::api::batch::v1::JobStatus;
use k8s_openapi::api::core::v1::{
    PersistentVolumeClaimStatus, PersistentVolumeClaimVolumeSource, PodSpec, PodTemplateSpec, Volume,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use serde_json::json;

use super::*;

const UID: &str = "uid-1";

fn registry(managed: &[ComponentKind]) -> QuayRegistry {
    let components = ComponentKind::ALL
        .iter()
        .map(|k| Component {
            kind: *k,
            managed: managed.contains(k),
            overrides: None,
            secret_ref: None,
        })
        .collect();
    let mut qr = QuayRegistry::new(
        "reg",
        QuayRegistrySpec {
            config_bundle_secret: Some("b".into()),
            components,
        },
    );
    qr.metadata.namespace = Some("ns".into());
    qr.metadata.uid = Some(UID.into());
    qr
}

fn meta(name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        owner_references: Some(vec![OwnerReference {
            uid: UID.into(),
            ..Default::default()
        }]),
        ..Default::default()
    }
}

fn deployment(name: &str, available: i32, claim: Option<&str>) -> Deployment {
    let volumes = claim.map(|c| {
        vec![Volume {
            name: "data".into(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: c.into(),
                read_only: None,
            }),
            ..Default::default()
        }]
    });
    Deployment {
        metadata: meta(name),
        spec: Some(DeploymentSpec {
            replicas: Some(1),
            template: PodTemplateSpec {
                spec: Some(PodSpec {
                    volumes,
                    ..Default::default()
                }),
                metadata: None,
            },
            ..Default::default()
        }),
        status: Some(DeploymentStatus {
            available_replicas: Some(available),
            conditions: Some(vec![DeploymentCondition {
                type_: "Available".into(),
                status: if available > 0 { "True" } else { "False" }.into(),
                ..Default::default()
            }]),
            ..Default::default()
        }),
    }
}

fn pvc(name: &str, phase: &str) -> PersistentVolumeClaim {
    PersistentVolumeClaim {
        metadata: meta(name),
        status: Some(PersistentVolumeClaimStatus {
            phase: Some(phase.into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn succeeded_job() -> Job {
    Job {
        metadata: meta("reg-quay-app-upgrade"),
        status: Some(JobStatus {
            succeeded: Some(1),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A healthy install with managed postgres, redis and tls on plain Kubernetes.
fn healthy() -> (QuayRegistry, Observed) {
    let qr = registry(&[
        ComponentKind::Postgres,
        ComponentKind::Redis,
        ComponentKind::Route,
        ComponentKind::Tls,
    ]);
    let obs = Observed {
        deployments: vec![
            deployment("reg-quay-app", 2, None),
            deployment("reg-quay-database", 1, Some("reg-quay-postgres")),
            deployment("reg-quay-redis", 1, None),
        ],
        pvcs: vec![pvc("reg-quay-postgres", "Bound")],
        jobs: vec![succeeded_job()],
        ingresses: vec![Ingress {
            metadata: meta("reg-quay-app"),
            ..Default::default()
        }],
        ..Default::default()
    };
    (qr, obs)
}

fn find(conds: &[Wanted], kind: ComponentKind) -> &Wanted {
    conds
        .iter()
        .find(|c| c.type_ == kind.ready_condition())
        .expect("condition present")
}

fn available_of(conds: &[Wanted]) -> &Wanted {
    conds
        .iter()
        .find(|c| c.type_ == "Available")
        .expect("Available present")
}

#[test]
fn a_healthy_registry_is_available_and_unmanaged_parts_say_so() {
    let (qr, obs) = healthy();
    let conds = evaluate(&qr, &Capabilities::default(), &obs);
    assert_eq!(conds.len(), 12);
    assert!(available_of(&conds).status, "{conds:?}");
    assert_eq!(available_of(&conds).reason, "HealthChecksPassing");
    assert_eq!(find(&conds, ComponentKind::Quay).reason, "ComponentReady");
    assert_eq!(find(&conds, ComponentKind::Clair).reason, "ComponentNotManaged");
    assert!(find(&conds, ComponentKind::Clair).status);
}

#[test]
fn a_pending_database_volume_holds_back_quay_and_mirror() {
    let (qr, mut obs) = healthy();
    obs.pvcs = vec![pvc("reg-quay-postgres", "Pending")];
    let conds = evaluate(&qr, &Capabilities::default(), &obs);
    assert_eq!(find(&conds, ComponentKind::Postgres).reason, "PVCPending");
    let quay = find(&conds, ComponentKind::Quay);
    assert!(!quay.status);
    assert_eq!(quay.message, "Awaiting for component postgres to become available");
    assert_eq!(find(&conds, ComponentKind::Mirror).reason, "ComponentNotReady");
    assert!(!available_of(&conds).status);
}

#[test]
fn a_provisioning_failed_event_names_the_reason() {
    let (qr, mut obs) = healthy();
    obs.pvcs = vec![pvc("reg-quay-postgres", "Pending")];
    obs.pvcs_failed = vec!["reg-quay-postgres".into()];
    let conds = evaluate(&qr, &Capabilities::default(), &obs);
    assert_eq!(find(&conds, ComponentKind::Postgres).reason, "PVCProvisioningFailed");
}

#[test]
fn quay_is_not_ready_until_the_migration_job_succeeded() {
    let (qr, mut obs) = healthy();
    obs.jobs[0].status = Some(JobStatus {
        active: Some(1),
        ..Default::default()
    });
    let conds = evaluate(&qr, &Capabilities::default(), &obs);
    let quay = find(&conds, ComponentKind::Quay);
    assert_eq!(
        (quay.status, quay.message.as_str()),
        (false, "Running database migrations")
    );
}

#[test]
fn a_deleted_migration_job_is_fine_once_the_version_is_recorded() {
    let (mut qr, mut obs) = healthy();
    obs.jobs.clear();
    assert!(!find(&evaluate(&qr, &Capabilities::default(), &obs), ComponentKind::Quay).status);
    qr.status = Some(QuayRegistryStatus {
        current_version: Some("v1".into()),
        ..Default::default()
    });
    assert!(find(&evaluate(&qr, &Capabilities::default(), &obs), ComponentKind::Quay).status);
}

#[test]
fn a_deployment_without_available_replicas_is_not_ready() {
    let (qr, mut obs) = healthy();
    obs.deployments[2] = deployment("reg-quay-redis", 0, None);
    let conds = evaluate(&qr, &Capabilities::default(), &obs);
    let redis = find(&conds, ComponentKind::Redis);
    assert_eq!(redis.message, "Deployment reg-quay-redis has zero available replicas");
    assert!(find(&conds, ComponentKind::Quay).message.contains("redis"));
}

#[test]
fn a_deployment_the_registry_does_not_own_is_not_ready() {
    let (qr, mut obs) = healthy();
    obs.deployments[0].metadata.owner_references = None;
    let conds = evaluate(&qr, &Capabilities::default(), &obs);
    assert!(find(&conds, ComponentKind::Quay).message.contains("not owned"));
}

#[test]
fn routes_must_all_be_admitted_on_openshift() {
    let (qr, obs) = healthy();
    let caps = Capabilities {
        routes: true,
        ..Default::default()
    };
    let route = |admitted: &str| {
        let mut r = DynamicObject::new("reg-quay", &kube::api::ApiResource::erase::<Ingress>(&()));
        r.metadata = meta("reg-quay");
        r.data = json!({"status": {"ingress": [{"conditions": [{"type": "Admitted", "status": admitted}]}]}});
        r
    };
    let mut obs_routes = obs.clone();
    obs_routes.routes = vec![route("False")];
    assert_eq!(
        find(&evaluate(&qr, &caps, &obs_routes), ComponentKind::Route).message,
        "Route reg-quay not admitted"
    );
    obs_routes.routes = vec![route("True")];
    assert!(find(&evaluate(&qr, &caps, &obs_routes), ComponentKind::Route).status);
}

#[test]
fn managed_tls_with_certs_in_the_bundle_is_not_ready() {
    let (qr, mut obs) = healthy();
    obs.tls.bundle_cert = true;
    let conds = evaluate(&qr, &Capabilities::default(), &obs);
    assert!(!find(&conds, ComponentKind::Tls).status);
}

#[test]
fn unmanaged_tls_needs_one_valid_certificate_source() {
    let qr = registry(&[ComponentKind::Postgres]);
    let (_, base) = healthy();
    let tls_of = |tls: TlsObserved| {
        let obs = Observed { tls, ..base.clone() };
        find(&evaluate(&qr, &Capabilities::default(), &obs), ComponentKind::Tls).clone()
    };
    assert!(!tls_of(TlsObserved::default()).status);
    assert!(
        tls_of(TlsObserved {
            bundle_cert: true,
            bundle_key: true,
            secret_ref: None
        })
        .status
    );
    assert!(
        tls_of(TlsObserved {
            secret_ref: Some(Ok(())),
            ..Default::default()
        })
        .status
    );
    let both = TlsObserved {
        bundle_cert: true,
        bundle_key: true,
        secret_ref: Some(Ok(())),
    };
    assert!(tls_of(both).message.contains("mutually exclusive"));
    let bad = tls_of(TlsObserved {
        secret_ref: Some(Err("missing tls.key".into())),
        ..Default::default()
    });
    assert_eq!((bad.status, bad.message.as_str()), (false, "missing tls.key"));
}

#[test]
fn managed_hpa_needs_the_quay_app_autoscaler() {
    let mut managed = vec![
        ComponentKind::Postgres,
        ComponentKind::Redis,
        ComponentKind::Route,
        ComponentKind::Tls,
    ];
    managed.push(ComponentKind::Horizontalpodautoscaler);
    let qr = registry(&managed);
    let (_, mut obs) = healthy();
    assert!(
        !find(
            &evaluate(&qr, &Capabilities::default(), &obs),
            ComponentKind::Horizontalpodautoscaler
        )
        .status
    );
    obs.hpas = vec![HorizontalPodAutoscaler {
        metadata: meta("reg-quay-app"),
        ..Default::default()
    }];
    assert!(
        find(
            &evaluate(&qr, &Capabilities::default(), &obs),
            ComponentKind::Horizontalpodautoscaler
        )
        .status
    );
}

#[test]
fn scaled_down_mirror_counts_as_healthy() {
    let mut managed = vec![
        ComponentKind::Postgres,
        ComponentKind::Redis,
        ComponentKind::Route,
        ComponentKind::Tls,
    ];
    managed.push(ComponentKind::Mirror);
    let qr = registry(&managed);
    let (_, mut obs) = healthy();
    let mut mirror = deployment("reg-quay-mirror", 0, None);
    if let Some(spec) = mirror.spec.as_mut() {
        spec.replicas = Some(0);
    }
    obs.deployments.push(mirror);
    assert!(find(&evaluate(&qr, &Capabilities::default(), &obs), ComponentKind::Mirror).status);
}
