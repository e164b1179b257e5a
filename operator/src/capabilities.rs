//! Which optional APIs the cluster serves, discovered once at start.

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResourceList;
use kube::{Api, Client};

/// Optional APIs the operator adapts to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// `route.openshift.io/v1` Routes (OpenShift). Without them the operator
    /// creates a `networking.k8s.io/v1` Ingress instead.
    pub routes: bool,
    /// `objectbucket.io/v1alpha1` ObjectBucketClaims (managed object storage).
    pub object_bucket_claims: bool,
    /// `monitoring.coreos.com/v1` ServiceMonitor and PrometheusRule.
    pub monitoring: bool,
    /// `config.openshift.io/v1` APIServer (TLS profile).
    pub apiserver_config: bool,
}

/// The namespace OpenShift's console reads dashboards from; monitoring is
/// only offered where it exists.
const CONFIG_MANAGED_NAMESPACE: &str = "openshift-config-managed";

/// Asks the API server which optional APIs it serves (one discovery call per
/// group version). A group that cannot be read counts as absent, so the
/// operator falls back to what plain Kubernetes offers.
///
/// Monitoring also needs the `openshift-config-managed` namespace; the
/// caller additionally requires all-namespaces mode (Quay's rule).
pub async fn discover(client: &Client) -> Capabilities {
    let routes = serves(client, "route.openshift.io/v1", &["routes"]).await;
    let object_bucket_claims = serves(client, "objectbucket.io/v1alpha1", &["objectbucketclaims"]).await;
    let monitoring_apis = serves(
        client,
        "monitoring.coreos.com/v1",
        &["servicemonitors", "prometheusrules"],
    )
    .await;
    let apiserver_config = serves(client, "config.openshift.io/v1", &["apiservers"]).await;
    let monitoring = monitoring_apis && namespace_exists(client, CONFIG_MANAGED_NAMESPACE).await;
    let caps = Capabilities {
        routes,
        object_bucket_claims,
        monitoring,
        apiserver_config,
    };
    tracing::info!(?caps, "discovered cluster capabilities");
    caps
}

async fn serves(client: &Client, group_version: &str, resources: &[&str]) -> bool {
    match client.list_api_group_resources(group_version).await {
        Ok(list) => lists_all(&list, resources),
        Err(kube::Error::Api(status)) if status.code == 404 => false,
        Err(err) => {
            tracing::warn!(group_version, %err, "API discovery failed; treating the API as absent");
            false
        }
    }
}

async fn namespace_exists(client: &Client, name: &str) -> bool {
    match Api::<Namespace>::all(client.clone()).get_opt(name).await {
        Ok(found) => found.is_some(),
        Err(err) => {
            tracing::warn!(namespace = name, %err, "cannot read namespace");
            false
        }
    }
}

/// Whether a discovery document lists every one of `resources`.
pub fn lists_all(list: &APIResourceList, resources: &[&str]) -> bool {
    resources
        .iter()
        .all(|r| list.resources.iter().any(|res| res.name == *r))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResource;

    fn list(names: &[&str]) -> APIResourceList {
        APIResourceList {
            group_version: "monitoring.coreos.com/v1".into(),
            resources: names
                .iter()
                .map(|n| APIResource {
                    name: (*n).into(),
                    ..Default::default()
                })
                .collect(),
        }
    }

    #[test]
    fn monitoring_needs_both_resources() {
        assert!(lists_all(
            &list(&["servicemonitors", "prometheusrules", "podmonitors"]),
            &["servicemonitors", "prometheusrules"]
        ));
        assert!(!lists_all(
            &list(&["servicemonitors"]),
            &["servicemonitors", "prometheusrules"]
        ));
    }

    #[test]
    fn subresources_do_not_count_as_the_resource() {
        assert!(!lists_all(&list(&["routes/status"]), &["routes"]));
    }
}
