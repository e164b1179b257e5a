//! Test fixtures: a registry `registry` in namespace `quay` with every
//! component Quay manages by default, on plain Kubernetes, built up with
//! chained methods (`inputs().routes(true).tls_unmanaged().build()`).

use std::collections::BTreeMap;

use crds::{Component, ComponentKind, Overrides};

use super::{desired_objects, Desired, Inputs};
use crate::bundle::{ManagedKeys, RenderedConfig};
use crate::names::Images;
use crate::tls::{CertPair, TlsMaterial};
use crate::Capabilities;

pub(crate) const CONFIG_YAML: &str = "\
SERVER_HOSTNAME: registry.example.com
DB_URI: postgresql://registry-quay-database:db%2Fpw@registry-quay-database:5432/registry-quay-database
";

pub(crate) struct Fixture(Inputs);

/// The default fixture.
pub(crate) fn inputs() -> Fixture {
    let managed = [
        ComponentKind::Quay,
        ComponentKind::Postgres,
        ComponentKind::Redis,
        ComponentKind::Horizontalpodautoscaler,
        ComponentKind::Objectstorage,
        ComponentKind::Route,
        ComponentKind::Mirror,
        ComponentKind::Monitoring,
        ComponentKind::Tls,
    ];
    let mut components: Vec<Component> = managed.into_iter().map(|kind| component(kind, true)).collect();
    components.push(component(ComponentKind::Clair, false));
    components.push(component(ComponentKind::Clairpostgres, false));
    Fixture(Inputs {
        name: "registry".into(),
        namespace: "quay".into(),
        uid: "uid-1".into(),
        components,
        config: rendered(CONFIG_YAML),
        tls: TlsMaterial::Managed { issued: None },
        capabilities: Capabilities::default(),
        images: Images::from_env_with(|_| None),
        version: "3.99.0".into(),
        upgrade: false,
        extra_ca_certs: BTreeMap::new(),
        ca_hashes: BTreeMap::new(),
    })
}

fn component(kind: ComponentKind, managed: bool) -> Component {
    Component {
        kind,
        managed,
        overrides: None,
        secret_ref: None,
    }
}

fn rendered(config_yaml: &str) -> RenderedConfig {
    RenderedConfig {
        secret_name: "registry-quay-config-secret-abc123".into(),
        files: BTreeMap::from([("config.yaml".to_owned(), config_yaml.as_bytes().to_vec())]),
        server_hostname: "registry.example.com".into(),
        buildman_hostname: None,
        managed_keys: ManagedKeys(BTreeMap::from([("DB_ROOT_PW".to_owned(), "rootpw".to_owned())])),
        db_changed: false,
    }
}

/// A certificate pair (content is never parsed by the builders).
pub(crate) fn pair(tag: &str) -> CertPair {
    CertPair {
        cert_pem: format!("CERT {tag}"),
        key_pem: format!("KEY {tag}"),
    }
}

impl Fixture {
    pub(crate) fn build(self) -> Inputs {
        self.0
    }

    /// Builds and renders every object.
    pub(crate) fn objects(self) -> Vec<Desired> {
        desired_objects(&self.0).expect("objects render")
    }

    pub(crate) fn routes(mut self, on: bool) -> Self {
        self.0.capabilities.routes = on;
        self
    }

    pub(crate) fn object_bucket_claims(mut self) -> Self {
        self.0.capabilities.object_bucket_claims = true;
        self
    }

    pub(crate) fn monitoring(mut self) -> Self {
        self.0.capabilities.monitoring = true;
        self
    }

    pub(crate) fn managed(mut self, kind: ComponentKind, managed: bool) -> Self {
        for c in self.0.components.iter_mut().filter(|c| c.kind == kind) {
            c.managed = managed;
            if !managed {
                c.overrides = None;
            }
        }
        self
    }

    pub(crate) fn overrides(mut self, kind: ComponentKind, overrides: Overrides) -> Self {
        for c in self.0.components.iter_mut().filter(|c| c.kind == kind) {
            c.overrides = Some(overrides.clone());
        }
        self
    }

    pub(crate) fn tls_unmanaged(mut self) -> Self {
        self.0.tls = TlsMaterial::Unmanaged(pair("user"));
        self.managed(ComponentKind::Tls, false)
    }

    pub(crate) fn issued(mut self) -> Self {
        self.0.tls = TlsMaterial::Managed {
            issued: Some(pair("issued")),
        };
        self
    }

    pub(crate) fn upgrade(mut self) -> Self {
        self.0.upgrade = true;
        self
    }

    /// Replaces `config.yaml` (hostnames in `RenderedConfig` stay).
    pub(crate) fn config_yaml(mut self, yaml: &str) -> Self {
        self.0
            .config
            .files
            .insert("config.yaml".into(), yaml.as_bytes().to_vec());
        self
    }

    pub(crate) fn buildman(mut self, host: &str) -> Self {
        self.0.config.buildman_hostname = Some(host.into());
        self
    }

    /// Adds the bundle file `extra_ca_cert_<name>`.
    pub(crate) fn extra_ca(mut self, name: &str, pem: &str) -> Self {
        self.0.extra_ca_certs.insert(name.into(), pem.as_bytes().to_vec());
        self
    }

    /// The controller's hashes of the injected CA ConfigMaps.
    pub(crate) fn ca_hash(mut self, annotation: &str, hash: &str) -> Self {
        self.0.ca_hashes.insert(annotation.into(), hash.into());
        self
    }

    pub(crate) fn without_root_password(mut self) -> Self {
        self.0.config.managed_keys.0.clear();
        self
    }
}

/// The object named `name` of the variant `pick` accepts.
pub(crate) fn find<'a, T>(objects: &'a [Desired], name: &str, pick: impl Fn(&'a Desired) -> Option<&'a T>) -> &'a T {
    objects
        .iter()
        .filter(|o| o.name() == name)
        .find_map(pick)
        .unwrap_or_else(|| panic!("no object {name} of that kind in {:?}", names(objects)))
}

/// Every object's name, in order.
pub(crate) fn names(objects: &[Desired]) -> Vec<&str> {
    objects.iter().map(Desired::name).collect()
}

macro_rules! picker {
    ($fn:ident, $variant:ident, $ty:ty) => {
        pub(crate) fn $fn(d: &Desired) -> Option<&$ty> {
            match d {
                Desired::$variant(o) => Some(o),
                _ => None,
            }
        }
    };
}

picker!(deployment, Deployment, k8s_openapi::api::apps::v1::Deployment);
picker!(service, Service, k8s_openapi::api::core::v1::Service);
picker!(secret, Secret, k8s_openapi::api::core::v1::Secret);
picker!(
    pvc,
    PersistentVolumeClaim,
    k8s_openapi::api::core::v1::PersistentVolumeClaim
);
picker!(config_map, ConfigMap, k8s_openapi::api::core::v1::ConfigMap);
picker!(job, Job, k8s_openapi::api::batch::v1::Job);
picker!(
    hpa,
    HorizontalPodAutoscaler,
    k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler
);
picker!(ingress, Ingress, k8s_openapi::api::networking::v1::Ingress);
picker!(dynamic, Dynamic, kube::api::DynamicObject);
picker!(role, Role, k8s_openapi::api::rbac::v1::Role);
picker!(role_binding, RoleBinding, k8s_openapi::api::rbac::v1::RoleBinding);
picker!(
    service_account,
    ServiceAccount,
    k8s_openapi::api::core::v1::ServiceAccount
);
