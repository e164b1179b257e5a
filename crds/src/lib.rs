//! Kubernetes API types of the operator: the `QuayRegistry` custom resource
//! (`quay.redhat.com/v1`). The spec/status types and the `crdgen` binary come
//! with the operator work; this crate fixes the identity they will use.

/// API group of the custom resource, kept for compatibility with Quay's operator.
pub const GROUP: &str = "quay.redhat.com";
/// API version of the custom resource.
pub const VERSION: &str = "v1";
/// Kind of the custom resource.
pub const KIND: &str = "QuayRegistry";

#[cfg(test)]
mod tests {
    #[test]
    fn api_version_is_group_slash_version() {
        assert_eq!(format!("{}/{}", super::GROUP, super::VERSION), "quay.redhat.com/v1");
    }
}
