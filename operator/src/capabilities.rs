//! Which optional APIs the cluster serves, discovered once at start.

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
