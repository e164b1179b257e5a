//! Extra CA certificates of the registry pods, at `/conf/stack/extra_ca_certs`
//! (Quay's §1.2 and §2.4):
//!
//! - the bundle's `extra_ca_cert_<n>` files, in the content-hashed Secret
//!   `<cr>-extra-ca-certs-<hash>` (keys `<n>`): a changed certificate renames
//!   the Secret, which changes the pod templates and rolls the pods; old
//!   Secrets are swept with the old config Secrets;
//! - on OpenShift, the ConfigMaps `<cr>-cluster-service-ca` (service-CA
//!   injection annotation) and `<cr>-cluster-trusted-ca` (trusted-bundle
//!   injection label). They are applied without `data`, so the operator's
//!   field manager never owns (and never fights the injectors over) it.
//!   Their projections are optional, so pods start before the injection;
//!   the controller reads the injected data and passes its hashes in
//!   [`Inputs::ca_hashes`], stamped on the pod templates so a rotation rolls
//!   the pods.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapProjection, ProjectedVolumeSource, Secret, SecretProjection, Volume, VolumeMount,
    VolumeProjection,
};
use k8s_openapi::ByteString;

use super::common::{component, meta, named_meta};
use super::{Desired, Inputs};
use crate::bundle::content_hash;
use crate::names::{
    extra_ca_secret_prefix, service_ca_configmap, trusted_ca_configmap, ANNOTATION_SERVICE_CA_HASH,
    ANNOTATION_TRUSTED_CA_HASH,
};

/// Where the registry pods see the extra CAs.
pub(super) const EXTRA_CA_DIR: &str = "/conf/stack/extra_ca_certs";
const VOLUME: &str = "extra-ca-certs";
/// The annotation that makes OpenShift's service-CA operator inject `service-ca.crt`.
pub const SERVICE_CA_INJECT_ANNOTATION: &str = "service.beta.openshift.io/inject-cabundle";
/// The label that makes OpenShift's network operator inject `ca-bundle.crt`.
pub const TRUSTED_CA_INJECT_LABEL: &str = "config.openshift.io/inject-trusted-cabundle";
/// The keys the injectors write.
pub const SERVICE_CA_KEY: &str = "service-ca.crt";
pub const TRUSTED_CA_KEY: &str = "ca-bundle.crt";

/// The extra CA Secret (when the bundle has extra CAs), then on OpenShift
/// the two CA ConfigMaps.
pub(super) fn objects(inputs: &Inputs) -> Vec<Desired> {
    let mut out: Vec<Desired> = extra_ca_secret(inputs).map(Desired::Secret).into_iter().collect();
    if inputs.capabilities.routes {
        let mut service = meta(inputs, "cluster-service-ca", component::APP);
        service.annotations = Some(BTreeMap::from([(
            SERVICE_CA_INJECT_ANNOTATION.to_owned(),
            "true".to_owned(),
        )]));
        let mut trusted = meta(inputs, "cluster-trusted-ca", component::APP);
        trusted
            .labels
            .get_or_insert_with(BTreeMap::new)
            .insert(TRUSTED_CA_INJECT_LABEL.into(), "true".into());
        // No `data`: the injectors own it.
        for metadata in [service, trusted] {
            out.push(Desired::ConfigMap(ConfigMap {
                metadata,
                ..ConfigMap::default()
            }));
        }
    }
    out
}

/// `<cr>-extra-ca-certs-<hash of the certificates>`, if there are any.
pub fn extra_ca_secret_name(inputs: &Inputs) -> Option<String> {
    (!inputs.extra_ca_certs.is_empty()).then(|| {
        format!(
            "{}{}",
            extra_ca_secret_prefix(&inputs.name),
            content_hash(&inputs.extra_ca_certs)
        )
    })
}

fn extra_ca_secret(inputs: &Inputs) -> Option<Secret> {
    let name = extra_ca_secret_name(inputs)?;
    let data = inputs
        .extra_ca_certs
        .iter()
        .map(|(k, v)| (k.clone(), ByteString(v.clone())))
        .collect();
    Some(Secret {
        metadata: named_meta(inputs, name, component::CONFIG),
        data: Some(data),
        type_: Some("Opaque".into()),
        ..Secret::default()
    })
}

/// The projected `extra-ca-certs` volume: the CA ConfigMaps (OpenShift,
/// optional) and the extra CA Secret. `None` when there is nothing to mount.
pub(super) fn volume(inputs: &Inputs) -> Option<Volume> {
    let mut sources = Vec::new();
    if inputs.capabilities.routes {
        for name in [service_ca_configmap(&inputs.name), trusted_ca_configmap(&inputs.name)] {
            sources.push(VolumeProjection {
                config_map: Some(ConfigMapProjection {
                    name,
                    optional: Some(true),
                    ..ConfigMapProjection::default()
                }),
                ..VolumeProjection::default()
            });
        }
    }
    if let Some(name) = extra_ca_secret_name(inputs) {
        sources.push(VolumeProjection {
            secret: Some(SecretProjection {
                name,
                ..SecretProjection::default()
            }),
            ..VolumeProjection::default()
        });
    }
    (!sources.is_empty()).then(|| Volume {
        name: VOLUME.into(),
        projected: Some(ProjectedVolumeSource {
            sources: Some(sources),
            ..ProjectedVolumeSource::default()
        }),
        ..Volume::default()
    })
}

/// The mount of [`volume`], when there is one.
pub(super) fn mount(inputs: &Inputs) -> Option<VolumeMount> {
    volume(inputs).map(|_| VolumeMount {
        name: VOLUME.into(),
        mount_path: EXTRA_CA_DIR.into(),
        read_only: Some(true),
        ..VolumeMount::default()
    })
}

/// The last 8 hex digits of sha256 of an injected CA bundle (Quay's hash).
pub fn ca_hash(pem: &str) -> String {
    crate::names::short_hash([pem.as_bytes()])
}

/// The pod-template annotations for the live CA ConfigMaps: one per
/// ConfigMap whose bundle has been injected (absent or empty: none yet).
pub fn ca_hashes(service_ca: Option<&ConfigMap>, trusted_ca: Option<&ConfigMap>) -> BTreeMap<String, String> {
    let injected = |cm: Option<&ConfigMap>, key: &str| {
        cm.and_then(|c| c.data.as_ref())
            .and_then(|d| d.get(key))
            .filter(|v| !v.is_empty())
            .map(|v| ca_hash(v))
    };
    [
        (ANNOTATION_SERVICE_CA_HASH, injected(service_ca, SERVICE_CA_KEY)),
        (ANNOTATION_TRUSTED_CA_HASH, injected(trusted_ca, TRUSTED_CA_KEY)),
    ]
    .into_iter()
    .filter_map(|(k, v)| Some((k.to_owned(), v?)))
    .collect()
}

#[cfg(test)]
#[path = "cas_tests.rs"]
mod tests;
