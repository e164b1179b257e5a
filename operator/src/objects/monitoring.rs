//! Managed monitoring (only where `monitoring.coreos.com/v1` is served):
//! Service `<cr>-quay-metrics`, ServiceMonitor `<cr>-quay-metrics-monitor`
//! and PrometheusRule `<cr>-quay-prometheus-rules`.
//!
//! The registry serves `/metrics` on its own port 9091, as Quay does (the
//! pod's `metrics` port), which the Service exposes under Quay's port name.
//! Quay's Roles in `openshift-monitoring` and the
//! Grafana dashboard are not created (they live outside the namespace).

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::DynamicObject;
use kube::core::TypeMeta;
use serde_json::json;

use super::app::app_selector;
use super::common::{component, meta, selector, METRICS_PORT};
use super::{Desired, Inputs};

const API_VERSION: &str = "monitoring.coreos.com/v1";
const METRICS_PORT_NAME: &str = "quay-metrics";

/// The metrics Service, ServiceMonitor and PrometheusRule.
pub(super) fn objects(inputs: &Inputs) -> Vec<Desired> {
    vec![
        Desired::Service(metrics_service(inputs)),
        Desired::Dynamic(service_monitor(inputs)),
        Desired::Dynamic(prometheus_rule(inputs)),
    ]
}

fn metrics_service(inputs: &Inputs) -> Service {
    Service {
        metadata: meta(inputs, "quay-metrics", component::MONITORING),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".into()),
            selector: Some(app_selector(inputs)),
            ports: Some(vec![ServicePort {
                name: Some(METRICS_PORT_NAME.into()),
                port: 9091,
                target_port: Some(IntOrString::Int(METRICS_PORT)),
                protocol: Some("TCP".into()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

fn dynamic(inputs: &Inputs, kind: &str, suffix: &str, spec: serde_json::Value) -> DynamicObject {
    DynamicObject {
        types: Some(TypeMeta {
            api_version: API_VERSION.into(),
            kind: kind.into(),
        }),
        metadata: meta(inputs, suffix, component::MONITORING),
        data: json!({ "spec": spec }),
    }
}

fn service_monitor(inputs: &Inputs) -> DynamicObject {
    let spec = json!({
        "selector": {"matchLabels": selector(inputs, component::MONITORING)},
        "namespaceSelector": {"matchNames": [inputs.namespace]},
        "endpoints": [{"port": METRICS_PORT_NAME, "path": "/metrics"}],
    });
    dynamic(inputs, "ServiceMonitor", "quay-metrics-monitor", spec)
}

/// Quay's alert: a registry pod restarting more than 5 times an hour.
fn prometheus_rule(inputs: &Inputs) -> DynamicObject {
    let expr = format!(
        "increase(kube_pod_container_status_restarts_total{{namespace=\"{ns}\", pod=~\"{cr}-quay-.*\"}}[1h]) > 5",
        ns = inputs.namespace,
        cr = inputs.name
    );
    let spec = json!({"groups": [{
        "name": "quay-alerts",
        "rules": [{
            "alert": "QuayPodFrequentlyRestarting",
            "expr": expr,
            "for": "10m",
            "labels": {"severity": "warning"},
            "annotations": {
                "summary": "Pod restarted more than 5 times in the last hour",
                "description": "Pod {{ $labels.namespace }}/{{ $labels.pod }} is restarting frequently.",
            },
        }],
    }]});
    dynamic(inputs, "PrometheusRule", "quay-prometheus-rules", spec)
}

#[cfg(test)]
mod tests {
    use crate::objects::fixtures::{dynamic, find, inputs, names, service};
    use crds::ComponentKind;

    #[test]
    fn monitoring_objects_exist_only_when_managed_and_the_api_is_served() {
        for (case, fixture, want) in [
            ("managed, api served", inputs().monitoring(), true),
            ("managed, no api", inputs(), false),
            (
                "unmanaged, api served",
                inputs().monitoring().managed(ComponentKind::Monitoring, false),
                false,
            ),
        ] {
            let objects = fixture.objects();
            for name in [
                "registry-quay-metrics",
                "registry-quay-metrics-monitor",
                "registry-quay-prometheus-rules",
            ] {
                assert_eq!(names(&objects).contains(&name), want, "{case}: {name}");
            }
        }
    }

    #[test]
    fn the_service_monitor_scrapes_the_metrics_service_of_this_registry() {
        let objects = inputs().monitoring().objects();
        let svc = find(&objects, "registry-quay-metrics", service);
        let monitor = find(&objects, "registry-quay-metrics-monitor", dynamic);
        let wanted = &monitor.data["spec"]["selector"]["matchLabels"];
        let labels = svc.metadata.labels.as_ref().expect("labels");
        for (k, v) in wanted.as_object().expect("match labels") {
            assert_eq!(labels.get(k).map(String::as_str), v.as_str(), "{k}");
        }
        assert_eq!(monitor.data["spec"]["endpoints"][0]["port"], "quay-metrics");
        let port = &svc.spec.as_ref().and_then(|s| s.ports.clone()).expect("ports")[0];
        assert_eq!((port.name.as_deref(), port.port), (Some("quay-metrics"), 9091));
        // The registry listens for metrics on 9091, not on its HTTP port.
        assert_eq!(
            port.target_port,
            Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(9091))
        );
    }

    #[test]
    fn the_restart_alert_is_scoped_to_this_registrys_pods() {
        let objects = inputs().monitoring().objects();
        let rule = find(&objects, "registry-quay-prometheus-rules", dynamic);
        let expr = rule.data["spec"]["groups"][0]["rules"][0]["expr"]
            .as_str()
            .expect("expr");
        assert!(
            expr.contains("namespace=\"quay\"") && expr.contains("pod=~\"registry-quay-.*\""),
            "{expr}"
        );
    }
}
