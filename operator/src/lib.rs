//! The `QuayRegistry` controller (kube-runtime). Reconciliation, resource
//! builders, TLS and capability discovery arrive with the operator work.

/// Field manager name used for server-side apply of every child object.
pub const FIELD_MANAGER: &str = "quay-registry-operator";

/// The custom resource this controller reconciles.
pub fn watched_api_version() -> String {
    format!("{}/{}", crds::GROUP, crds::VERSION)
}

#[cfg(test)]
mod tests {
    #[test]
    fn watches_the_quayregistry_group() {
        assert_eq!(super::watched_api_version(), "quay.redhat.com/v1");
    }
}
