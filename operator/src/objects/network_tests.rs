use crds::ComponentKind;
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::DynamicObject;

use crate::objects::fixtures::{dynamic, find, ingress, inputs, names, Fixture};

fn route(fixture: Fixture, name: &str) -> DynamicObject {
    find(&fixture.routes(true).objects(), name, dynamic).clone()
}

fn the_ingress(fixture: Fixture) -> Ingress {
    find(&fixture.objects(), "registry-quay", ingress).clone()
}

fn rules(i: &Ingress) -> Vec<(String, String)> {
    let spec = i.spec.as_ref().expect("spec");
    spec.rules
        .iter()
        .flatten()
        .map(|r| {
            let path = &r.http.as_ref().expect("http").paths[0];
            let port = path
                .backend
                .service
                .as_ref()
                .and_then(|s| s.port.as_ref())
                .and_then(|p| p.name.clone());
            (r.host.clone().unwrap_or_default(), port.unwrap_or_default())
        })
        .collect()
}

#[test]
fn routes_come_with_the_route_api_and_an_ingress_without_it() {
    let openshift = inputs().routes(true).objects();
    assert!(find(&openshift, "registry-quay", dynamic)
        .types
        .as_ref()
        .is_some_and(|t| t.kind == "Route"));
    assert!(openshift.iter().all(|o| ingress(o).is_none()));
    let kubernetes = inputs().objects();
    the_ingress(inputs());
    assert!(!names(&kubernetes).contains(&"registry-quay-builder"));
}

#[test]
fn an_unmanaged_route_component_exposes_nothing() {
    for routes in [true, false] {
        let objects = inputs().routes(routes).managed(ComponentKind::Route, false).objects();
        let exposed: Vec<_> = names(&objects)
            .into_iter()
            .filter(|n| *n == "registry-quay" || n.ends_with("-builder"))
            .collect();
        assert!(exposed.is_empty(), "routes {routes}: {exposed:?}");
    }
}

#[test]
fn the_main_route_is_edge_terminated_with_redirect_to_http_and_a_30m_timeout() {
    let r = route(inputs(), "registry-quay");
    let spec = &r.data["spec"];
    assert_eq!(spec["host"], "registry.example.com");
    assert_eq!(spec["to"]["name"], "registry-quay-app");
    assert_eq!(spec["port"]["targetPort"], "http");
    assert_eq!(spec["tls"]["termination"], "edge");
    assert_eq!(spec["tls"]["insecureEdgeTerminationPolicy"], "Redirect");
    assert_eq!(
        r.metadata.annotations.as_ref().expect("annotations")["haproxy.router.openshift.io/timeout"],
        "30m"
    );
}

#[test]
fn unmanaged_tls_makes_both_routes_passthrough_and_the_main_route_target_https() {
    let main = route(inputs().tls_unmanaged(), "registry-quay");
    assert_eq!(main.data["spec"]["tls"]["termination"], "passthrough");
    assert_eq!(main.data["spec"]["tls"]["insecureEdgeTerminationPolicy"], "Redirect");
    assert_eq!(main.data["spec"]["port"]["targetPort"], "https");
    let builder = route(inputs().tls_unmanaged(), "registry-quay-builder");
    assert_eq!(builder.data["spec"]["tls"]["termination"], "passthrough");
    assert_eq!(builder.data["spec"]["port"]["targetPort"], "https");
}

#[test]
fn the_builder_route_takes_buildman_hostname_without_its_port() {
    for (case, fixture, host) in [
        (
            "set with a port",
            inputs().buildman("builder.example.com:443"),
            Some("builder.example.com"),
        ),
        ("unset: router default", inputs(), None),
        (
            "same host as the registry",
            inputs().buildman("registry.example.com:55443"),
            None,
        ),
    ] {
        let r = route(fixture, "registry-quay-builder");
        assert_eq!(r.data["spec"]["host"].as_str(), host, "{case}");
        assert_eq!(r.data["spec"]["port"]["targetPort"], "http", "{case}");
    }
}

#[test]
fn the_ingress_routes_the_registry_host_and_the_builder_host_when_set() {
    assert_eq!(
        rules(&the_ingress(inputs())),
        [("registry.example.com".to_owned(), "http".to_owned())]
    );
    let with_builder = the_ingress(inputs().buildman("builder.example.com:443"));
    assert_eq!(
        rules(&with_builder),
        [
            ("registry.example.com".to_owned(), "http".to_owned()),
            ("builder.example.com".to_owned(), "http".to_owned()),
        ]
    );
}

#[test]
fn the_ingress_terminates_tls_with_the_config_tls_secret_when_there_is_a_pair() {
    for (case, fixture, want) in [
        ("managed, nothing issued", inputs(), None),
        (
            "managed, operator-issued",
            inputs().issued(),
            Some("registry-quay-config-tls"),
        ),
        ("unmanaged", inputs().tls_unmanaged(), Some("registry-quay-config-tls")),
    ] {
        let i = the_ingress(fixture);
        let tls = i.spec.as_ref().and_then(|s| s.tls.clone());
        let secret = tls.as_ref().and_then(|t| t[0].secret_name.clone());
        assert_eq!(secret.as_deref(), want, "{case}");
        if let Some(t) = tls {
            assert_eq!(
                t[0].hosts.as_deref(),
                Some(&["registry.example.com".to_owned()][..]),
                "{case}"
            );
        }
        assert_eq!(rules(&i)[0].1, "http", "{case}: the Ingress always forwards plain HTTP");
    }
}

#[test]
fn the_ingress_allows_large_layer_uploads_on_ingress_nginx() {
    let i = the_ingress(inputs());
    let annotations = i.metadata.annotations.expect("annotations");
    assert_eq!(annotations["nginx.ingress.kubernetes.io/proxy-body-size"], "0");
}
