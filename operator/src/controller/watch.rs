//! Which registries a Secret event concerns.

use std::sync::Arc;

use crds::{ComponentKind, QuayRegistry};
use k8s_openapi::api::core::v1::Secret;
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};

/// The registries in the Secret's namespace that own it, use it as their
/// config bundle, or name it as their TLS `secretRef`.
pub fn registries_for_secret(secret: &Secret, registries: &[Arc<QuayRegistry>]) -> Vec<ObjectRef<QuayRegistry>> {
    let name = secret.name_any();
    let ns = secret.namespace();
    registries
        .iter()
        .filter(|qr| qr.namespace() == ns)
        .filter(|qr| {
            let uid = qr.meta().uid.as_deref();
            let owned = secret.owner_references().iter().any(|o| Some(o.uid.as_str()) == uid);
            let bundle = qr.spec.config_bundle_secret.as_deref() == Some(name.as_str());
            let tls = qr
                .spec
                .component(ComponentKind::Tls)
                .and_then(|c| c.secret_ref.as_ref())
                .is_some_and(|r| r.name == name);
            owned || bundle || tls
        })
        .map(|qr| ObjectRef::from_obj(qr.as_ref()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crds::{Component, QuayRegistrySpec, SecretRef};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

    fn registry(name: &str, ns: &str, bundle: &str, tls: Option<&str>) -> Arc<QuayRegistry> {
        let components = tls
            .map(|t| {
                vec![Component {
                    kind: ComponentKind::Tls,
                    managed: false,
                    overrides: None,
                    secret_ref: Some(SecretRef { name: t.into() }),
                }]
            })
            .unwrap_or_default();
        let mut qr = QuayRegistry::new(
            name,
            QuayRegistrySpec {
                config_bundle_secret: Some(bundle.into()),
                components,
            },
        );
        qr.metadata.namespace = Some(ns.into());
        qr.metadata.uid = Some(format!("uid-{name}"));
        Arc::new(qr)
    }

    fn secret(name: &str, ns: &str, owner_uid: Option<&str>) -> Secret {
        Secret {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some(ns.into()),
                owner_references: owner_uid.map(|u| {
                    vec![OwnerReference {
                        uid: u.into(),
                        ..Default::default()
                    }]
                }),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn names(refs: Vec<ObjectRef<QuayRegistry>>) -> Vec<String> {
        refs.into_iter().map(|r| r.name).collect()
    }

    #[test]
    fn a_bundle_edit_wakes_the_registry_that_uses_it() {
        let regs = [
            registry("a", "ns", "bundle-a", None),
            registry("b", "ns", "bundle-b", None),
        ];
        assert_eq!(
            names(registries_for_secret(&secret("bundle-b", "ns", None), &regs)),
            ["b"]
        );
    }

    #[test]
    fn a_secret_of_the_same_name_in_another_namespace_is_ignored() {
        let regs = [registry("a", "ns", "bundle", None)];
        assert!(registries_for_secret(&secret("bundle", "other", None), &regs).is_empty());
    }

    #[test]
    fn tls_secret_refs_and_owned_secrets_map_back() {
        let regs = [
            registry("a", "ns", "bundle-a", Some("my-tls")),
            registry("b", "ns", "bundle-b", None),
        ];
        assert_eq!(
            names(registries_for_secret(&secret("my-tls", "ns", None), &regs)),
            ["a"]
        );
        let owned = secret("b-quay-config-secret-abc", "ns", Some("uid-b"));
        assert_eq!(names(registries_for_secret(&owned, &regs)), ["b"]);
    }
}
