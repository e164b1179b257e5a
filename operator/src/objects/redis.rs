//! Managed Redis on the official `redis` image: ServiceAccount, Service and
//! Deployment `<cr>-quay-redis` (one replica, no password, no persistence:
//! it holds build logs and user events, as in Quay).

use std::collections::BTreeMap;

use crds::ComponentKind;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EmptyDirVolumeSource, ExecAction, PodSpec, PodTemplateSpec, Probe, Service,
    ServiceAccount, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use super::common::{
    component, container_security, labels, meta, name, official_image_user, pod_security, resources, selector,
};
use super::{Desired, Inputs};
use crate::names::LABEL_COMPONENT;

const SUFFIX: &str = "quay-redis";
const PORT: i32 = 6379;

/// ServiceAccount, Service and Deployment.
pub(super) fn objects(inputs: &Inputs) -> Vec<Desired> {
    vec![
        Desired::ServiceAccount(ServiceAccount {
            metadata: meta(inputs, SUFFIX, component::REDIS),
            automount_service_account_token: Some(false),
            ..ServiceAccount::default()
        }),
        Desired::Service(service(inputs)),
        Desired::Deployment(deployment(inputs)),
    ]
}

fn service(inputs: &Inputs) -> Service {
    super::common::single_port_service(inputs, SUFFIX, component::REDIS, "redis", PORT)
}

fn deployment(inputs: &Inputs) -> Deployment {
    let mut metadata = meta(inputs, SUFFIX, component::REDIS);
    metadata.annotations = Some(BTreeMap::from([(
        LABEL_COMPONENT.into(),
        ComponentKind::Redis.as_str().into(),
    )]));
    let pod = PodSpec {
        service_account_name: Some(name(inputs, SUFFIX)),
        automount_service_account_token: Some(false),
        security_context: Some(pod_security(official_image_user(inputs))),
        containers: vec![container(inputs)],
        volumes: Some(vec![Volume {
            name: "data".into(),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Volume::default()
        }]),
        ..PodSpec::default()
    };
    Deployment {
        metadata,
        spec: Some(DeploymentSpec {
            replicas: Some(1),
            selector: LabelSelector {
                match_labels: Some(selector(inputs, component::REDIS)),
                ..Default::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels(inputs, component::REDIS)),
                    ..Default::default()
                }),
                spec: Some(pod),
            },
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    }
}

fn container(inputs: &Inputs) -> Container {
    Container {
        name: "redis-master".into(),
        image: Some(inputs.images.redis.clone()),
        // The image's entrypoint prepends `redis-server` to flag arguments.
        args: Some(["--save", "", "--appendonly", "no"].map(String::from).to_vec()),
        ports: Some(vec![ContainerPort {
            name: Some("redis".into()),
            container_port: PORT,
            ..Default::default()
        }]),
        readiness_probe: Some(Probe {
            exec: Some(ExecAction {
                command: Some(["redis-cli", "ping"].map(String::from).to_vec()),
            }),
            period_seconds: Some(10),
            timeout_seconds: Some(5),
            ..Probe::default()
        }),
        resources: Some(resources(("100m", "128Mi"), ("1", "1Gi"))),
        security_context: Some(container_security()),
        volume_mounts: Some(vec![VolumeMount {
            name: "data".into(),
            mount_path: "/data".into(),
            ..Default::default()
        }]),
        ..Container::default()
    }
}

#[cfg(test)]
mod tests {
    use crate::objects::fixtures::{deployment, find, inputs, names, service};
    use crds::ComponentKind;

    #[test]
    fn managed_redis_is_one_replica_behind_a_service_on_6379() {
        let objects = inputs().objects();
        let d = find(&objects, "registry-quay-redis", deployment);
        let spec = d.spec.as_ref().expect("spec");
        assert_eq!(spec.replicas, Some(1));
        let pod = spec.template.spec.as_ref().expect("pod");
        assert_eq!(pod.containers[0].image.as_deref(), Some("docker.io/library/redis:7"));
        let s = find(&objects, "registry-quay-redis", service)
            .spec
            .as_ref()
            .expect("spec");
        assert_eq!(s.ports.as_ref().expect("ports")[0].port, 6379);
        assert_eq!(s.selector, spec.selector.match_labels);
    }

    #[test]
    fn unmanaged_redis_creates_nothing() {
        let objects = inputs().managed(ComponentKind::Redis, false).objects();
        assert!(
            !names(&objects).iter().any(|n| n.contains("redis")),
            "{:?}",
            names(&objects)
        );
    }

    #[test]
    fn redis_runs_as_the_images_user_off_openshift_and_as_assigned_on_it() {
        for (routes, want) in [(false, Some(999)), (true, None)] {
            let objects = inputs().routes(routes).objects();
            let d = find(&objects, "registry-quay-redis", deployment);
            let pod = d.spec.as_ref().and_then(|s| s.template.spec.as_ref()).expect("pod");
            let sc = pod.security_context.as_ref().expect("security context");
            assert_eq!(
                (sc.run_as_user, sc.run_as_non_root),
                (want, Some(true)),
                "routes: {routes}"
            );
        }
    }
}
