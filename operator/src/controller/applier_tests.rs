use std::collections::BTreeMap;

use crds::QuayRegistrySpec;
use k8s_openapi::api::apps::v1::{DeploymentSpec, DeploymentStatus};
use k8s_openapi::api::batch::v1::{JobCondition, JobStatus};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::json;

use super::*;

fn registry(annotations: &[(&str, &str)]) -> QuayRegistry {
    let mut qr = QuayRegistry::new("reg", QuayRegistrySpec::default());
    qr.metadata.uid = Some("uid-1".into());
    qr.metadata.annotations = Some(
        annotations
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    );
    qr
}

fn owned(name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        owner_references: Some(vec![OwnerReference {
            uid: "uid-1".into(),
            ..Default::default()
        }]),
        ..Default::default()
    }
}

fn job(status: JobStatus) -> Job {
    Job {
        status: Some(status),
        ..Default::default()
    }
}

fn failed() -> JobStatus {
    JobStatus {
        conditions: Some(vec![JobCondition {
            type_: "Failed".into(),
            status: "True".into(),
            message: Some("BackoffLimitExceeded".into()),
            ..Default::default()
        }]),
        ..Default::default()
    }
}

#[test]
fn the_database_volume_and_keys_lose_their_owner_unless_opted_in() {
    let objects = || {
        vec![
            Desired::PersistentVolumeClaim(PersistentVolumeClaim {
                metadata: owned("reg-quay-database-data"),
                ..Default::default()
            }),
            Desired::Secret(Secret {
                metadata: owned("reg-quay-registry-managed-secret-keys"),
                ..Default::default()
            }),
            Desired::Secret(Secret {
                metadata: owned("reg-quay-config-secret-abc"),
                ..Default::default()
            }),
        ]
    };
    let mut kept = objects();
    adjust_ownership(&mut kept, &registry(&[]));
    let owners: Vec<bool> = kept.iter().map(|o| o.meta().owner_references.is_some()).collect();
    assert_eq!(owners, [false, false, true]);

    let mut deleted = objects();
    adjust_ownership(&mut deleted, &registry(&[(ANNOTATION_DELETE_DATABASE, "true")]));
    assert!(deleted
        .iter()
        .all(|o| o.meta().owner_references.as_ref().is_some_and(|r| r[0].uid == "uid-1")));
}

#[test]
fn only_workloads_other_than_databases_and_redis_wait() {
    let deployment = |component: &str| {
        Desired::Deployment(Deployment {
            metadata: ObjectMeta {
                labels: Some(BTreeMap::from([(LABEL_COMPONENT.to_string(), component.to_string())])),
                ..Default::default()
            },
            ..Default::default()
        })
    };
    assert!(is_deferrable(&deployment("quay-app")));
    assert!(is_deferrable(&deployment("quay-mirror")));
    assert!(is_deferrable(&Desired::Job(Job::default())));
    assert!(!is_deferrable(&deployment("postgres")));
    assert!(!is_deferrable(&deployment("redis")));
    assert!(!is_deferrable(&Desired::Secret(Secret::default())));
    assert!(is_database(&deployment("postgres")) && !is_database(&deployment("redis")));
}

#[test]
fn the_migration_job_runs_once_per_version_and_database() {
    let done = job(JobStatus {
        succeeded: Some(1),
        ..Default::default()
    });
    let running = job(JobStatus {
        active: Some(1),
        ..Default::default()
    });
    let pending = job(JobStatus::default());
    assert_eq!(plan_job(None, None, "v2", true), JobPlan::Create);
    assert_eq!(plan_job(Some(&running), Some("v1"), "v2", false), JobPlan::Wait);
    assert_eq!(
        plan_job(Some(&pending), Some("v1"), "v2", false),
        JobPlan::Wait,
        "not yet started"
    );
    assert_eq!(plan_job(Some(&done), Some("v2"), "v2", false), JobPlan::Skip);
    assert_eq!(
        plan_job(Some(&done), Some("v1"), "v2", false),
        JobPlan::Recreate,
        "a version bump reruns it"
    );
    assert_eq!(
        plan_job(Some(&done), Some("v2"), "v2", true),
        JobPlan::Recreate,
        "a new database reruns it"
    );
    assert_eq!(
        plan_job(Some(&job(failed())), Some("v1"), "v2", false),
        JobPlan::Recreate
    );
}

#[test]
fn the_migration_state_reads_the_jobs_conditions() {
    assert_eq!(migration_state(None), MigrationState::Missing);
    assert_eq!(
        migration_state(Some(&job(failed()))),
        MigrationState::Failed("BackoffLimitExceeded".into())
    );
    let complete = JobStatus {
        conditions: Some(vec![JobCondition {
            type_: "Complete".into(),
            status: "True".into(),
            ..Default::default()
        }]),
        ..Default::default()
    };
    assert_eq!(migration_state(Some(&job(complete))), MigrationState::Succeeded);
}

fn deployment(secret: &str, generation: i64, status: DeploymentStatus) -> Deployment {
    let template: PodTemplateSpec = serde_json::from_value(
        json!({"spec": {"containers": [], "volumes": [{"name": "config", "secret": {"secretName": secret}}]}}),
    )
    .expect("template");
    Deployment {
        metadata: ObjectMeta {
            generation: Some(generation),
            ..Default::default()
        },
        spec: Some(DeploymentSpec {
            replicas: Some(2),
            template,
            ..Default::default()
        }),
        status: Some(status),
    }
}

#[test]
fn old_config_secrets_wait_for_a_complete_rollout_of_the_new_one() {
    let done = DeploymentStatus {
        observed_generation: Some(3),
        updated_replicas: Some(2),
        available_replicas: Some(2),
        ..Default::default()
    };
    assert!(rolled_out_with(&deployment("cfg-b", 3, done.clone()), "cfg-b"));
    assert!(
        !rolled_out_with(&deployment("cfg-a", 3, done.clone()), "cfg-b"),
        "still mounts the old config"
    );
    assert!(
        !rolled_out_with(&deployment("cfg-b", 4, done.clone()), "cfg-b"),
        "new generation not observed"
    );
    let halfway = DeploymentStatus {
        updated_replicas: Some(1),
        ..done
    };
    assert!(!rolled_out_with(&deployment("cfg-b", 3, halfway), "cfg-b"));
}

#[test]
fn component_lists_compare_without_order() {
    use crds::{Component, ComponentKind};
    let c = |kind, managed| Component {
        kind,
        managed,
        overrides: None,
        secret_ref: None,
    };
    let a = [c(ComponentKind::Quay, true), c(ComponentKind::Redis, false)];
    let b = [c(ComponentKind::Redis, false), c(ComponentKind::Quay, true)];
    assert!(crate::controller::pass::same_components(&a, &b));
    assert!(!crate::controller::pass::same_components(&a, &b[..1]));
}
