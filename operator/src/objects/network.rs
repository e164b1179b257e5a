//! The managed route component: OpenShift Routes when the cluster serves
//! them, otherwise one `networking.k8s.io/v1` Ingress.
//!
//! Routes (Quay's): `<cr>-quay` (SERVER_HOSTNAME → `http`, edge + Redirect)
//! and `<cr>-quay-builder` (BUILDMAN_HOSTNAME → the same port: builders
//! talk to the build manager over the registry's own HTTP(S) port, not
//! Quay's gRPC one); with unmanaged TLS both become passthrough + Redirect
//! and target `https`.
//!
//! Ingress `<cr>-quay`: SERVER_HOSTNAME → `http`, and the builder host →
//! `http` when it is set and differs. TLS is always terminated by the
//! Ingress with the Secret `<cr>-quay-config-tls` (the operator-issued cert
//! when managed, the user's pair when unmanaged) and traffic goes on as
//! plain HTTP: passthrough and re-encryption exist only as
//! controller-specific annotations, which users can add with the route
//! component's `annotations` override. Without an issued cert (managed) the
//! Ingress has no `tls` entry and the controller's default cert applies.
//! ingress-nginx's body-size and timeout annotations are set because its
//! 1m default body size refuses image layers; other controllers ignore them.

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule, IngressServiceBackend, IngressSpec,
    IngressTLS, ServiceBackendPort,
};
use kube::api::DynamicObject;
use kube::core::TypeMeta;
use serde_json::json;

use super::common::{component, meta, name, strip_port};
use super::secrets::{serves_tls, tls_pair, TLS_SUFFIX};
use super::{Desired, Inputs};

const APP_SERVICE: &str = "quay-app";
const ROUTE_TIMEOUT: &str = "haproxy.router.openshift.io/timeout";

/// Routes on OpenShift, an Ingress elsewhere.
pub(super) fn objects(inputs: &Inputs) -> Vec<Desired> {
    if inputs.capabilities.routes {
        vec![
            Desired::Dynamic(app_route(inputs)),
            Desired::Dynamic(builder_route(inputs)),
        ]
    } else {
        vec![Desired::Ingress(ingress(inputs))]
    }
}

fn server_host(inputs: &Inputs) -> Option<&str> {
    Some(strip_port(&inputs.config.server_hostname)).filter(|h| !h.is_empty())
}

/// BUILDMAN_HOSTNAME without its port, unless it is the registry's host
/// (two Routes or rules cannot claim one host).
fn builder_host(inputs: &Inputs) -> Option<&str> {
    let host = strip_port(inputs.config.buildman_hostname.as_deref()?);
    (!host.is_empty() && Some(host) != server_host(inputs)).then_some(host)
}

fn app_route(inputs: &Inputs) -> DynamicObject {
    let port = if serves_tls(inputs) { "https" } else { "http" };
    route(inputs, "quay", component::APP_ROUTE, server_host(inputs), port)
}

fn builder_route(inputs: &Inputs) -> DynamicObject {
    let port = if serves_tls(inputs) { "https" } else { "http" };
    route(
        inputs,
        "quay-builder",
        component::BUILDER_ROUTE,
        builder_host(inputs),
        port,
    )
}

/// A Route to `<cr>-quay-app`; without a host the router picks
/// `<name>-<ns>.<apps domain>`.
fn route(inputs: &Inputs, suffix: &str, component: &str, host: Option<&str>, port: &str) -> DynamicObject {
    let termination = if serves_tls(inputs) { "passthrough" } else { "edge" };
    let mut spec = json!({
        "to": {"kind": "Service", "name": name(inputs, APP_SERVICE), "weight": 100},
        "port": {"targetPort": port},
        "tls": {"termination": termination, "insecureEdgeTerminationPolicy": "Redirect"},
        "wildcardPolicy": "None",
    });
    if let Some(host) = host {
        spec["host"] = json!(host);
    }
    let mut metadata = meta(inputs, suffix, component);
    metadata.annotations = Some(BTreeMap::from([(ROUTE_TIMEOUT.to_owned(), "30m".to_owned())]));
    DynamicObject {
        types: Some(TypeMeta {
            api_version: "route.openshift.io/v1".into(),
            kind: "Route".into(),
        }),
        metadata,
        data: json!({ "spec": spec }),
    }
}

fn ingress(inputs: &Inputs) -> Ingress {
    let mut rules = Vec::new();
    let mut hosts = Vec::new();
    for (host, port) in [(server_host(inputs), "http"), (builder_host(inputs), "http")] {
        if let Some(host) = host {
            rules.push(ingress_rule(inputs, host, port));
            hosts.push(host.to_owned());
        }
    }
    let tls = tls_pair(inputs).map(|_| {
        vec![IngressTLS {
            hosts: Some(hosts),
            secret_name: Some(name(inputs, TLS_SUFFIX)),
        }]
    });
    let mut metadata = meta(inputs, "quay", component::INGRESS);
    metadata.annotations = Some(ingress_annotations());
    Ingress {
        metadata,
        spec: Some(IngressSpec {
            rules: Some(rules),
            tls,
            ..IngressSpec::default()
        }),
        ..Ingress::default()
    }
}

fn ingress_rule(inputs: &Inputs, host: &str, port: &str) -> IngressRule {
    let backend = IngressBackend {
        service: Some(IngressServiceBackend {
            name: name(inputs, APP_SERVICE),
            port: Some(ServiceBackendPort {
                name: Some(port.into()),
                number: None,
            }),
        }),
        ..IngressBackend::default()
    };
    IngressRule {
        host: Some(host.into()),
        http: Some(HTTPIngressRuleValue {
            paths: vec![HTTPIngressPath {
                path: Some("/".into()),
                path_type: "Prefix".into(),
                backend,
            }],
        }),
    }
}

/// Unlimited bodies and Quay's 30 minute timeout, for ingress-nginx.
fn ingress_annotations() -> BTreeMap<String, String> {
    [
        ("nginx.ingress.kubernetes.io/proxy-body-size", "0"),
        ("nginx.ingress.kubernetes.io/proxy-request-buffering", "off"),
        ("nginx.ingress.kubernetes.io/proxy-read-timeout", "1800"),
        ("nginx.ingress.kubernetes.io/proxy-send-timeout", "1800"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

#[cfg(test)]
#[path = "network_tests.rs"]
mod tests;
