//! The config bundle: the user's `config.yaml` and files from the Secret named
//! by `spec.configBundleSecret`, the generated keys kept in
//! `<cr>-quay-registry-managed-secret-keys`, and the merged configuration the
//! registry runs with (user config, then base defaults for absent keys, then
//! the managed components' fragments, which win), stored in a Secret whose
//! name carries a hash of its content so any change rolls the Deployment.

use std::collections::BTreeMap;

/// The user's bundle: `config.yaml` parsed, every other file as bytes
/// (`ssl.cert`, `ssl.key`, `extra_ca_cert_*` …).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConfigBundle {
    pub config: serde_yaml::Mapping,
    pub files: BTreeMap<String, Vec<u8>>,
}

/// Generated values that must survive reconciles (DATABASE_SECRET_KEY,
/// SECRET_KEY, DB_URI, DB_ROOT_PW …), as kept in the managed-keys Secret.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ManagedKeys(pub BTreeMap<String, String>);

/// The configuration the registry runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedConfig {
    /// `<cr>-quay-config-secret-<hash>`: the hash covers every file, in
    /// sorted order, so equal content always gives the same name.
    pub secret_name: String,
    /// Files of the config Secret (`config.yaml` flattened, extra files;
    /// without `ssl.*` and `extra_ca_cert_*`, which are mounted separately).
    pub files: BTreeMap<String, Vec<u8>>,
    /// SERVER_HOSTNAME the registry answers on.
    pub server_hostname: String,
    /// BUILDMAN_HOSTNAME, when builds are configured.
    pub buildman_hostname: Option<String>,
    /// The keys to persist after this render (generated ones included).
    pub managed_keys: ManagedKeys,
    /// Whether the database location changed (or was just created), which
    /// forces the migration Job.
    pub db_changed: bool,
}

/// What [`render`] needs besides the bundle.
#[derive(Debug, Clone)]
pub struct RenderParams<'a> {
    /// The QuayRegistry's name and namespace.
    pub name: &'a str,
    pub namespace: &'a str,
    /// The effective components.
    pub components: &'a [crds::Component],
    /// Keys stored by earlier reconciles.
    pub stored: &'a ManagedKeys,
    /// The cluster's apps domain (from Route discovery), if known; the
    /// default SERVER_HOSTNAME is `<cr>-quay-<ns>.<domain>`.
    pub apps_domain: Option<&'a str>,
    pub tls: &'a crate::tls::TlsMaterial,
}

impl ConfigBundle {
    /// Reads a bundle Secret (`config.yaml` plus files); a missing or
    /// malformed `config.yaml` is [`crate::Error::ConfigInvalid`].
    pub fn from_secret(secret: &k8s_openapi::api::core::v1::Secret) -> crate::Result<ConfigBundle> {
        let _ = secret;
        todo!("bundle: parse the Secret")
    }
}

impl ManagedKeys {
    /// Reads the managed-keys Secret (absent Secret: empty keys).
    pub fn from_secret(secret: Option<&k8s_openapi::api::core::v1::Secret>) -> ManagedKeys {
        let _ = secret;
        todo!("bundle: read managed keys")
    }
}

/// Builds the registry's configuration: user values win over generated
/// ones; base defaults fill absent keys; managed fragments win over both.
pub fn render(bundle: &ConfigBundle, params: &RenderParams<'_>) -> crate::Result<RenderedConfig> {
    let _ = (bundle, params);
    todo!("bundle: render")
}
