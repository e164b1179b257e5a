//! The repository-mirror worker `<cr>-quay-mirror`: the registry image
//! running `worker --mirror` with quay-app's config mount and
//! ServiceAccount, rolled with maxUnavailable 0 / maxSurge 1 (Quay's).

use crds::ComponentKind;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentStrategy, RollingUpdateDeployment};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::app::{registry_args, registry_container, registry_deployment};
use super::common::{component, resources, selector};
use super::{Desired, Inputs};

const SUFFIX: &str = "quay-mirror";

/// The mirror Deployment; replicas follow [`super::overrides::replicas`]
/// (0 while migrations are pending: the worker must not run on an old schema).
pub(super) fn deployment(inputs: &Inputs) -> Desired {
    let container = registry_container(
        inputs,
        SUFFIX,
        registry_args(&["worker", "--mirror"]),
        resources(("100m", "256Mi"), ("1", "1Gi")),
    );
    let selector = selector(inputs, component::MIRROR);
    let mut d: Deployment = registry_deployment(
        inputs,
        SUFFIX,
        component::MIRROR,
        ComponentKind::Mirror,
        selector,
        container,
    );
    if let Some(spec) = d.spec.as_mut() {
        spec.strategy = Some(DeploymentStrategy {
            type_: Some("RollingUpdate".into()),
            rolling_update: Some(RollingUpdateDeployment {
                max_unavailable: Some(IntOrString::Int(0)),
                max_surge: Some(IntOrString::Int(1)),
            }),
        });
    }
    Desired::Deployment(d)
}

#[cfg(test)]
mod tests {
    use crate::objects::fixtures::{deployment, find, inputs, names};
    use crds::{ComponentKind, Overrides};
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    #[test]
    fn the_mirror_runs_the_mirror_worker_with_the_shared_config_mount() {
        let objects = inputs().objects();
        let d = find(&objects, "registry-quay-mirror", deployment);
        let pod = d.spec.as_ref().and_then(|s| s.template.spec.as_ref()).expect("pod");
        let c = &pod.containers[0];
        assert_eq!(c.command.as_deref(), Some(&["registry".to_owned()][..]));
        let args = c.args.as_ref().expect("args").join(" ");
        assert_eq!(
            args,
            "worker --mirror --config /conf/stack/config.yaml --data-dir /var/lib/registry"
        );
        assert_eq!(pod.service_account_name.as_deref(), Some("registry-quay-app"));
        let mounts: Vec<_> = c
            .volume_mounts
            .iter()
            .flatten()
            .map(|m| m.mount_path.as_str())
            .collect();
        assert!(mounts.contains(&"/conf/stack"), "{mounts:?}");
    }

    #[test]
    fn the_mirror_rolls_without_losing_a_pod() {
        let objects = inputs().objects();
        let strategy = find(&objects, "registry-quay-mirror", deployment)
            .spec
            .as_ref()
            .and_then(|s| s.strategy.clone());
        let rolling = strategy.and_then(|s| s.rolling_update).expect("rolling update");
        assert_eq!(rolling.max_unavailable, Some(IntOrString::Int(0)));
        assert_eq!(rolling.max_surge, Some(IntOrString::Int(1)));
    }

    #[test]
    fn the_mirror_exists_only_when_managed() {
        let present = |managed| {
            names(&inputs().managed(ComponentKind::Mirror, managed).objects()).contains(&"registry-quay-mirror")
        };
        assert!(present(true));
        assert!(!present(false));
    }

    #[test]
    fn mirror_replicas_follow_the_same_rule_as_quay_app() {
        let replicas = |fixture: crate::objects::fixtures::Fixture| {
            let objects = fixture.objects();
            find(&objects, "registry-quay-mirror", deployment)
                .spec
                .as_ref()
                .and_then(|s| s.replicas)
        };
        let three = Overrides {
            replicas: Some(3),
            ..Overrides::default()
        };
        let no_hpa = || inputs().managed(ComponentKind::Horizontalpodautoscaler, false);
        assert_eq!(replicas(no_hpa()), Some(2));
        assert_eq!(replicas(no_hpa().overrides(ComponentKind::Mirror, three)), Some(3));
        assert_eq!(replicas(inputs()), None);
        assert_eq!(replicas(no_hpa().upgrade()), Some(0));
    }
}
