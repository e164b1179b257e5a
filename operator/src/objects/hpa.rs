//! Managed autoscaling (`autoscaling/v2`): `<cr>-quay-app` and, when the
//! mirror is managed, `<cr>-quay-mirror`, each 2–20 replicas on CPU and
//! memory at 90% average utilization (Quay's values).

use crds::ComponentKind;
use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, HorizontalPodAutoscaler, HorizontalPodAutoscalerSpec, MetricSpec, MetricTarget,
    ResourceMetricSource,
};

use super::common::{component, meta, name};
use super::{Desired, Inputs};

/// The HPAs of the managed scalable components.
pub(super) fn objects(inputs: &Inputs) -> Vec<Desired> {
    let mut out = vec![Desired::HorizontalPodAutoscaler(hpa(inputs, "quay-app"))];
    if inputs.is_managed(ComponentKind::Mirror) {
        out.push(Desired::HorizontalPodAutoscaler(hpa(inputs, "quay-mirror")));
    }
    out
}

fn hpa(inputs: &Inputs, target: &str) -> HorizontalPodAutoscaler {
    let metric = |resource: &str| MetricSpec {
        type_: "Resource".into(),
        resource: Some(ResourceMetricSource {
            name: resource.into(),
            target: MetricTarget {
                type_: "Utilization".into(),
                average_utilization: Some(90),
                ..MetricTarget::default()
            },
        }),
        ..MetricSpec::default()
    };
    HorizontalPodAutoscaler {
        metadata: meta(inputs, target, component::HPA),
        spec: Some(HorizontalPodAutoscalerSpec {
            scale_target_ref: CrossVersionObjectReference {
                api_version: Some("apps/v1".into()),
                kind: "Deployment".into(),
                name: name(inputs, target),
            },
            min_replicas: Some(2),
            max_replicas: 20,
            metrics: Some(vec![metric("cpu"), metric("memory")]),
            ..HorizontalPodAutoscalerSpec::default()
        }),
        ..HorizontalPodAutoscaler::default()
    }
}

#[cfg(test)]
mod tests {
    use crate::objects::fixtures::{find, hpa, inputs, names};
    use crds::ComponentKind;

    #[test]
    fn managed_hpa_scales_quay_app_and_mirror_from_2_to_20_on_cpu_and_memory() {
        let objects = inputs().objects();
        for name in ["registry-quay-app", "registry-quay-mirror"] {
            let spec = find(&objects, name, hpa).spec.as_ref().expect("spec");
            assert_eq!((spec.min_replicas, spec.max_replicas), (Some(2), 20), "{name}");
            assert_eq!(spec.scale_target_ref.name, name);
            assert_eq!(spec.scale_target_ref.kind, "Deployment");
            let metrics: Vec<_> = spec
                .metrics
                .iter()
                .flatten()
                .filter_map(|m| m.resource.as_ref())
                .collect();
            let described: Vec<_> = metrics
                .iter()
                .map(|r| (r.name.as_str(), r.target.average_utilization))
                .collect();
            assert_eq!(described, [("cpu", Some(90)), ("memory", Some(90))]);
        }
    }

    #[test]
    fn the_mirror_hpa_is_dropped_when_the_mirror_is_unmanaged() {
        let objects = inputs().managed(ComponentKind::Mirror, false).objects();
        let hpas: Vec<_> = objects
            .iter()
            .filter_map(hpa)
            .map(|h| h.metadata.name.clone())
            .collect();
        assert_eq!(hpas, [Some("registry-quay-app".to_owned())]);
    }

    #[test]
    fn unmanaged_hpa_creates_no_autoscalers() {
        let objects = inputs()
            .managed(ComponentKind::Horizontalpodautoscaler, false)
            .objects();
        assert!(objects.iter().all(|o| hpa(o).is_none()), "{:?}", names(&objects));
    }
}
