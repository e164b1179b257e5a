//! The migration Job `<cr>-quay-app-upgrade` (only while an upgrade is
//! pending): `registry migrate` with quay-app's config mount.
//!
//! The controller deletes and re-creates Jobs instead of applying them (a
//! Job's template is immutable), and reads its status afterwards, so it has
//! no `ttlSecondsAfterFinished`. OnFailure retries in place; six retries
//! (Kubernetes' default backoff, about six minutes) ride out a database
//! that is still starting.

use k8s_openapi::api::batch::v1::{Job, JobSpec};

use super::app::{registry_args, registry_container, registry_pod};
use super::common::{component, named_meta, resources};
use super::Inputs;
use crate::names::upgrade_job;

/// The migration Job.
pub(super) fn migration(inputs: &Inputs) -> Job {
    let name = upgrade_job(&inputs.name);
    let container = registry_container(
        inputs,
        "quay-app-upgrade",
        registry_args(&["migrate"]),
        resources(("100m", "256Mi"), ("2", "2Gi")),
    );
    let mut template = registry_pod(inputs, component::UPGRADE, container);
    if let Some(pod) = template.spec.as_mut() {
        pod.restart_policy = Some("OnFailure".into());
        // One migration pod at a time: nothing to spread.
        pod.affinity = None;
    }
    Job {
        metadata: named_meta(inputs, name, component::UPGRADE),
        spec: Some(JobSpec {
            backoff_limit: Some(6),
            template,
            ..JobSpec::default()
        }),
        ..Job::default()
    }
}

#[cfg(test)]
mod tests {
    use crate::objects::fixtures::{find, inputs, job, names};

    #[test]
    fn the_migration_job_exists_only_while_an_upgrade_is_pending() {
        assert!(names(&inputs().upgrade().objects()).contains(&"registry-quay-app-upgrade"));
        assert!(!names(&inputs().objects()).contains(&"registry-quay-app-upgrade"));
    }

    #[test]
    fn the_migration_job_runs_migrate_with_the_config_and_retries_on_failure() {
        let objects = inputs().upgrade().objects();
        let j = find(&objects, "registry-quay-app-upgrade", job);
        let spec = j.spec.as_ref().expect("spec");
        assert_eq!(spec.backoff_limit, Some(6));
        assert_eq!(spec.ttl_seconds_after_finished, None);
        let pod = spec.template.spec.as_ref().expect("pod");
        assert_eq!(pod.restart_policy.as_deref(), Some("OnFailure"));
        let args = pod.containers[0].args.as_ref().expect("args").join(" ");
        assert_eq!(
            args,
            "migrate --config /conf/stack/config.yaml --data-dir /var/lib/registry"
        );
        assert_eq!(pod.service_account_name.as_deref(), Some("registry-quay-app"));
    }

    #[test]
    fn the_migration_pods_are_not_selected_by_the_quay_app_service() {
        let objects = inputs().upgrade().objects();
        let j = find(&objects, "registry-quay-app-upgrade", job);
        let labels = j
            .spec
            .as_ref()
            .and_then(|s| s.template.metadata.as_ref())
            .and_then(|m| m.labels.clone());
        assert_eq!(labels.expect("labels")["quay-component"], "quay-app-upgrade");
    }
}
