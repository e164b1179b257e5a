//! The config Secret (content-hashed name from the bundle render) and the
//! TLS Secret `<cr>-quay-config-tls`.
//!
//! The TLS Secret is always of type `kubernetes.io/tls` (`tls.crt`/`tls.key`)
//! so one Secret serves both readers: an Ingress names it directly, and the
//! registry pods project its keys into `/conf/stack` as `ssl.cert`/`ssl.key`
//! (which is what switches the registry to HTTPS). A single type also means
//! a switch between managed and unmanaged TLS never hits the immutable
//! `type` field.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::ByteString;

use super::common::{component, meta, named_meta};
use super::{Desired, Inputs};
use crate::tls::{CertPair, TlsMaterial};

pub(super) const TLS_SUFFIX: &str = "quay-config-tls";

/// The config Secret, then the TLS Secret when one is needed.
pub(super) fn objects(inputs: &Inputs) -> Vec<Desired> {
    let mut out = vec![Desired::Secret(config_secret(inputs))];
    out.extend(tls_secret(inputs).map(Desired::Secret));
    out
}

fn config_secret(inputs: &Inputs) -> Secret {
    let data = inputs
        .config
        .files
        .iter()
        .map(|(k, v)| (k.clone(), ByteString(v.clone())))
        .collect();
    Secret {
        metadata: named_meta(inputs, inputs.config.secret_name.clone(), component::CONFIG),
        data: Some(data),
        type_: Some("Opaque".into()),
        ..Secret::default()
    }
}

/// The pair the TLS Secret holds: the user's (unmanaged), or on plain
/// Kubernetes the certificate the operator issued for the Ingress.
pub(super) fn tls_pair(inputs: &Inputs) -> Option<&CertPair> {
    match &inputs.tls {
        TlsMaterial::Unmanaged(pair) => Some(pair),
        TlsMaterial::Managed { issued: Some(pair) } if !inputs.capabilities.routes => Some(pair),
        TlsMaterial::Managed { .. } => None,
    }
}

/// Whether the registry itself serves TLS (the pair is mounted in its pods).
pub(super) fn serves_tls(inputs: &Inputs) -> bool {
    matches!(inputs.tls, TlsMaterial::Unmanaged(_))
}

fn tls_secret(inputs: &Inputs) -> Option<Secret> {
    let pair = tls_pair(inputs)?;
    let data = BTreeMap::from([
        ("tls.crt".to_owned(), ByteString(pair.cert_pem.clone().into_bytes())),
        ("tls.key".to_owned(), ByteString(pair.key_pem.clone().into_bytes())),
    ]);
    Some(Secret {
        metadata: meta(inputs, TLS_SUFFIX, component::CONFIG),
        data: Some(data),
        type_: Some("kubernetes.io/tls".into()),
        ..Secret::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objects::fixtures::{find, inputs, names, secret};

    #[test]
    fn the_config_secret_carries_every_rendered_file_under_its_hashed_name() {
        let objects = inputs().objects();
        let s = find(&objects, "registry-quay-config-secret-abc123", secret);
        let data = s.data.as_ref().expect("data");
        assert_eq!(data.keys().collect::<Vec<_>>(), ["config.yaml"]);
        assert!(String::from_utf8_lossy(&data["config.yaml"].0).contains("SERVER_HOSTNAME"));
        assert_eq!(s.type_.as_deref(), Some("Opaque"));
    }

    #[test]
    fn the_tls_secret_exists_only_when_a_pair_is_served_or_terminated_by_an_ingress() {
        for (case, fixture, want) in [
            ("managed, nothing issued", inputs(), false),
            ("managed on openshift", inputs().routes(true).issued(), false),
            ("managed with an issued cert on kubernetes", inputs().issued(), true),
            ("unmanaged on kubernetes", inputs().tls_unmanaged(), true),
            ("unmanaged on openshift", inputs().routes(true).tls_unmanaged(), true),
        ] {
            let objects = fixture.objects();
            assert_eq!(names(&objects).contains(&"registry-quay-config-tls"), want, "{case}");
        }
    }

    #[test]
    fn the_tls_secret_is_a_kubernetes_tls_secret_with_the_pair() {
        let objects = inputs().tls_unmanaged().objects();
        let s = find(&objects, "registry-quay-config-tls", secret);
        assert_eq!(s.type_.as_deref(), Some("kubernetes.io/tls"));
        let data = s.data.as_ref().expect("data");
        assert_eq!(data["tls.crt"].0, b"CERT user");
        assert_eq!(data["tls.key"].0, b"KEY user");
    }

    #[test]
    fn only_unmanaged_tls_makes_the_registry_serve_https() {
        assert!(!serves_tls(&inputs().issued().build()));
        assert!(serves_tls(&inputs().tls_unmanaged().build()));
    }
}
