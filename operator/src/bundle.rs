//! The config bundle: the user's `config.yaml` and files from the Secret named
//! by `spec.configBundleSecret`, the generated keys kept in
//! `<cr>-quay-registry-managed-secret-keys`, and the merged configuration the
//! registry runs with (user config, then base defaults for absent keys, then
//! the managed components' fragments, which win), stored in a Secret whose
//! name carries a hash of its content so any change rolls the Deployment.

use std::collections::BTreeMap;

use crds::ComponentKind;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::ByteString;
use rand::Rng;
use serde_yaml::{Mapping, Value};
use sha2::{Digest as _, Sha256};

use crate::components::is_managed;
use crate::tls::{CertPair, TlsMaterial};
use crate::Error;

/// The bundle entry holding the registry's configuration.
pub const CONFIG_YAML: &str = "config.yaml";
/// Bundle files with the user's certificate pair for unmanaged TLS.
pub const SSL_CERT: &str = "ssl.cert";
pub const SSL_KEY: &str = "ssl.key";
/// Prefix of extra CA files, mounted at `/conf/stack/extra_ca_certs/<n>`.
pub const EXTRA_CA_CERT_PREFIX: &str = "extra_ca_cert_";

/// Names of the managed keys, as Quay's operator stores them.
pub mod keys {
    pub const DATABASE_SECRET_KEY: &str = "DATABASE_SECRET_KEY";
    pub const SECRET_KEY: &str = "SECRET_KEY";
    pub const DB_URI: &str = "DB_URI";
    pub const DB_ROOT_PW: &str = "DB_ROOT_PW";
}

/// Ports of the managed redis and PostgreSQL Services.
const REDIS_PORT: u64 = 6379;
const POSTGRES_PORT: u16 = 5432;
/// Quay generates its secret keys from this alphabet.
const KEY_ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-";
const ALPHANUMERIC: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Hex characters of the content hash in the config Secret's name.
const HASH_LEN: usize = 10;

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
    /// BUILDMAN_HOSTNAME when builders reach the registry through a public
    /// host (which gets a Route or Ingress rule and must be covered by the
    /// certificate); `None` when unset, plain `http://`, or a Service name
    /// inside the cluster (`*.svc`, `*.svc.cluster.local`).
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

/// The bucket of a bound `<cr>-quay-datastore` ObjectBucketClaim (from its
/// Secret and ConfigMap), for the managed objectstorage fragment.
#[derive(Clone, PartialEq, Eq)]
pub struct ObjectBucket {
    /// BUCKET_HOST, with `.svc` already rewritten to `.svc.cluster.local`.
    pub host: String,
    pub bucket_name: String,
    pub access_key: String,
    pub secret_key: String,
}

impl std::fmt::Debug for ObjectBucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectBucket")
            .field("host", &self.host)
            .field("bucket_name", &self.bucket_name)
            .finish_non_exhaustive()
    }
}

impl ConfigBundle {
    /// Reads a bundle Secret (`config.yaml` plus files); a missing or
    /// malformed `config.yaml` is [`crate::Error::ConfigInvalid`].
    pub fn from_secret(secret: &k8s_openapi::api::core::v1::Secret) -> crate::Result<ConfigBundle> {
        let name = secret.metadata.name.as_deref().unwrap_or_default();
        let mut files: BTreeMap<String, Vec<u8>> = secret
            .data
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.0.clone()))
            .collect();
        // The API server folds stringData into data; a Secret that was never
        // stored (tests, dry runs) may still carry it, and it wins as it would.
        for (k, v) in secret.string_data.iter().flatten() {
            files.insert(k.clone(), v.clone().into_bytes());
        }
        let raw = files
            .remove(CONFIG_YAML)
            .ok_or_else(|| Error::ConfigInvalid(format!("`configBundleSecret` {name} has no {CONFIG_YAML} entry")))?;
        let text = String::from_utf8(raw)
            .map_err(|_| Error::ConfigInvalid(format!("{CONFIG_YAML} in `configBundleSecret` {name} is not UTF-8")))?;
        let config = parse_config(&text).map_err(|e| {
            Error::ConfigInvalid(format!("{CONFIG_YAML} in `configBundleSecret` {name} is invalid: {e}"))
        })?;
        Ok(ConfigBundle { config, files })
    }

    /// The string value of a top-level key, if set and not empty.
    pub fn string(&self, key: &str) -> Option<String> {
        scalar_string(&self.config, key)
    }

    /// Whether both `ssl.cert` and `ssl.key` are in the bundle.
    pub fn has_tls_pair(&self) -> bool {
        self.files.contains_key(SSL_CERT) && self.files.contains_key(SSL_KEY)
    }

    /// The user's certificate pair from `ssl.cert` and `ssl.key`.
    pub fn tls_pair(&self) -> Option<CertPair> {
        let text = |name: &str| self.files.get(name).map(|b| String::from_utf8_lossy(b).into_owned());
        Some(CertPair {
            cert_pem: text(SSL_CERT)?,
            key_pem: text(SSL_KEY)?,
        })
    }

    /// The `extra_ca_cert_<n>` files keyed by `<n>`, the name they get under
    /// `/conf/stack/extra_ca_certs`.
    pub fn extra_ca_certs(&self) -> BTreeMap<String, Vec<u8>> {
        self.files
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix(EXTRA_CA_CERT_PREFIX)?.to_owned(), v.clone())))
            .filter(|(k, _)| !k.is_empty())
            .collect()
    }
}

/// Parses `config.yaml`: a mapping, with an empty (or comment-only) file
/// read as an empty mapping.
fn parse_config(text: &str) -> Result<Mapping, String> {
    match serde_yaml::from_str::<Value>(text).map_err(|e| e.to_string())? {
        Value::Null => Ok(Mapping::new()),
        Value::Mapping(m) => Ok(m),
        other => Err(format!(
            "the top level must be a mapping of field names, not {}",
            yaml_kind(&other)
        )),
    }
}

fn yaml_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

/// Whether a bundle file is kept out of the config Secret because it is
/// mounted from its own Secret: a certificate in `/conf/stack` would switch
/// the registry's TLS mode, and CAs go to `/conf/stack/extra_ca_certs`.
pub fn is_mounted_separately(name: &str) -> bool {
    name.starts_with("ssl.") || name.starts_with("clair-ssl.") || name.starts_with(EXTRA_CA_CERT_PREFIX)
}

impl ManagedKeys {
    /// Reads the managed-keys Secret (absent Secret: empty keys).
    pub fn from_secret(secret: Option<&k8s_openapi::api::core::v1::Secret>) -> ManagedKeys {
        let Some(secret) = secret else {
            return ManagedKeys::default();
        };
        let mut keys: BTreeMap<String, String> = secret
            .data
            .iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.clone(), String::from_utf8(v.0.clone()).ok()?)))
            .collect();
        keys.extend(secret.string_data.iter().flatten().map(|(k, v)| (k.clone(), v.clone())));
        ManagedKeys(keys)
    }

    /// The managed-keys Secret `name` (labels and owner are the caller's).
    pub fn to_secret(&self, name: &str, namespace: &str) -> Secret {
        let data = self.0.iter().map(|(k, v)| (k.clone(), v.as_bytes().to_vec()));
        opaque_secret(name, namespace, data)
    }

    /// A stored value, if present and not empty.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str).filter(|v| !v.is_empty())
    }
}

/// BUILDMAN_HOSTNAME as a public host (without `https://`), or `None` for
/// an address only reachable inside the cluster or over plain HTTP.
fn public_builder_host(value: &str) -> Option<String> {
    let value = value.trim();
    if value.starts_with("http://") {
        return None;
    }
    let host = value.strip_prefix("https://").unwrap_or(value).trim_end_matches('/');
    let name = host.rsplit_once(':').map_or(host, |(h, _)| h);
    let internal = name.ends_with(".svc") || name.ends_with(".svc.cluster.local");
    (!host.is_empty() && !internal).then(|| host.to_owned())
}

impl RenderedConfig {
    /// The hosts a certificate must cover: SERVER_HOSTNAME and, when set,
    /// BUILDMAN_HOSTNAME (ports are stripped by [`crate::tls`]).
    pub fn tls_hosts(&self) -> Vec<&str> {
        std::iter::once(self.server_hostname.as_str())
            .chain(self.buildman_hostname.as_deref())
            .collect()
    }

    /// The config Secret (labels and owner are the caller's).
    pub fn to_secret(&self, namespace: &str) -> Secret {
        let data = self.files.iter().map(|(k, v)| (k.clone(), v.clone()));
        opaque_secret(&self.secret_name, namespace, data)
    }
}

fn opaque_secret(name: &str, namespace: &str, data: impl Iterator<Item = (String, Vec<u8>)>) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(namespace.to_owned()),
            ..ObjectMeta::default()
        },
        data: Some(data.map(|(k, v)| (k, ByteString(v))).collect()),
        type_: Some("Opaque".into()),
        ..Secret::default()
    }
}

/// Builds the registry's configuration: user values win over generated
/// ones; base defaults fill absent keys; managed fragments win over both.
pub fn render(bundle: &ConfigBundle, params: &RenderParams<'_>) -> crate::Result<RenderedConfig> {
    render_with_storage(bundle, params, None)
}

/// [`render`], plus the managed objectstorage fragment once the
/// ObjectBucketClaim is bound. Without a bucket the fragment is left out
/// (the controller defers the workloads until storage is ready).
pub fn render_with_storage(
    bundle: &ConfigBundle,
    params: &RenderParams<'_>,
    bucket: Option<&ObjectBucket>,
) -> crate::Result<RenderedConfig> {
    let mut config = bundle.config.clone();
    let mut keys = params.stored.clone();
    for key in [keys::DATABASE_SECRET_KEY, keys::SECRET_KEY] {
        let value = secret_key(&config, &keys, key);
        keys.0.insert(key.into(), value.clone());
        config.insert(key.into(), value.into());
    }
    let db_uri = database_uri(&config, &keys, params);
    let db_changed = db_uri
        .as_deref()
        .is_some_and(|uri| params.stored.get(keys::DB_URI) != Some(uri));
    if let Some(uri) = &db_uri {
        keys.0.insert(keys::DB_URI.into(), uri.clone());
    }
    if is_managed(params.components, ComponentKind::Postgres) && keys.get(keys::DB_ROOT_PW).is_none() {
        keys.0.insert(keys::DB_ROOT_PW.into(), random_string(32, ALPHANUMERIC));
    }
    apply_defaults(&mut config);
    let server_hostname = server_hostname(&config, params)?;
    let inputs = FragmentInputs {
        name: params.name,
        server_hostname: &server_hostname,
        db_uri: db_uri.as_deref(),
        bucket,
        tls: params.tls,
    };
    for kind in ComponentKind::ALL
        .into_iter()
        .filter(|k| is_managed(params.components, *k))
    {
        config.extend(fragment(kind, &inputs).unwrap_or_default());
    }
    let files = config_files(bundle, config)?;
    Ok(RenderedConfig {
        secret_name: format!(
            "{}{}",
            crate::names::config_secret_prefix(params.name),
            content_hash(&files)
        ),
        files,
        server_hostname,
        buildman_hostname: bundle.string("BUILDMAN_HOSTNAME").and_then(|h| public_builder_host(&h)),
        managed_keys: keys,
        db_changed,
    })
}

/// DATABASE_SECRET_KEY / SECRET_KEY: the user's value, else the stored
/// one, else 80 fresh characters.
fn secret_key(config: &Mapping, stored: &ManagedKeys, key: &str) -> String {
    scalar_string(config, key)
        .or_else(|| stored.get(key).map(str::to_owned))
        .unwrap_or_else(|| random_string(80, KEY_ALPHABET))
}

/// The database location: the managed database's URI (kept across
/// reconciles) when postgres is managed, else the user's DB_URI.
fn database_uri(config: &Mapping, stored: &ManagedKeys, params: &RenderParams<'_>) -> Option<String> {
    if !is_managed(params.components, ComponentKind::Postgres) {
        return scalar_string(config, keys::DB_URI);
    }
    // A stored URI of an external database (from before postgres became
    // managed) must not leak into the managed one.
    let service = format!("{}-quay-database", params.name);
    let managed_prefix = format!("postgresql://{service}:");
    let managed_suffix = format!("@{service}:{POSTGRES_PORT}/{service}");
    match stored.get(keys::DB_URI) {
        Some(uri) if uri.starts_with(&managed_prefix) && uri.ends_with(&managed_suffix) => Some(uri.to_owned()),
        _ => Some(format!(
            "{managed_prefix}{}{managed_suffix}",
            random_string(80, KEY_ALPHABET)
        )),
    }
}

/// Quay's base configuration, for keys the user left out. The title is
/// neutral: this is a Quay-compatible registry, not Red Hat Quay.
fn apply_defaults(config: &mut Mapping) {
    let defaults: [(&str, Value); 12] = [
        ("SETUP_COMPLETE", true.into()),
        ("FEATURE_MAILING", false.into()),
        ("FEATURE_DIRECT_LOGIN", true.into()),
        ("FEATURE_BUILD_SUPPORT", false.into()),
        ("TESTING", false.into()),
        ("REGISTRY_TITLE", "Registry".into()),
        ("REGISTRY_TITLE_SHORT", "Registry".into()),
        ("AUTHENTICATION_TYPE", "Database".into()),
        ("DEFAULT_TAG_EXPIRATION", "2w".into()),
        ("TAG_EXPIRATION_OPTIONS", Value::Sequence(vec!["2w".into()])),
        ("ALLOW_PULLS_WITHOUT_STRICT_LOGGING", false.into()),
        ("TEAM_RESYNC_STALE_TIME", "60m".into()),
    ];
    for (key, value) in defaults {
        if !config.contains_key(key) {
            config.insert(key.into(), value);
        }
    }
}

/// SERVER_HOSTNAME: the user's, else (managed route) `<cr>-quay-<ns>.<apps domain>`.
fn server_hostname(config: &Mapping, params: &RenderParams<'_>) -> crate::Result<String> {
    if let Some(host) = scalar_string(config, "SERVER_HOSTNAME") {
        return Ok(host);
    }
    let route = is_managed(params.components, ComponentKind::Route);
    match params.apps_domain.filter(|d| !d.is_empty()) {
        Some(domain) if route => Ok(format!("{}-quay-{}.{domain}", params.name, params.namespace)),
        _ => Err(Error::ConfigInvalid(
            "SERVER_HOSTNAME is not set: add SERVER_HOSTNAME to config.yaml in `configBundleSecret` \
             (the hostname clients use to reach the registry); without the OpenShift Route API \
             the operator cannot derive a default one"
                .into(),
        )),
    }
}

/// What the fragments are built from.
struct FragmentInputs<'a> {
    name: &'a str,
    server_hostname: &'a str,
    db_uri: Option<&'a str>,
    bucket: Option<&'a ObjectBucket>,
    tls: &'a TlsMaterial,
}

/// The field group of a managed kind (Quay's `<kind>.config.yaml`), which
/// wins over the user's keys; hpa, monitoring, tls and quay have none.
fn fragment(kind: ComponentKind, input: &FragmentInputs<'_>) -> Option<Mapping> {
    match kind {
        ComponentKind::Postgres => Some(map([
            ("DB_URI", input.db_uri.unwrap_or_default().into()),
            (
                "DB_CONNECTION_ARGS",
                Value::Mapping(map([("autorollback", true.into()), ("threadlocals", true.into())])),
            ),
        ])),
        ComponentKind::Redis => {
            let host = format!("{}-quay-redis", input.name);
            let redis = || Value::Mapping(map([("host", host.as_str().into()), ("port", REDIS_PORT.into())]));
            Some(map([("BUILDLOGS_REDIS", redis()), ("USER_EVENTS_REDIS", redis())]))
        }
        ComponentKind::Objectstorage => input.bucket.map(objectstorage_fragment),
        ComponentKind::Route => Some(map([
            ("SERVER_HOSTNAME", input.server_hostname.into()),
            ("PREFERRED_URL_SCHEME", "https".into()),
            // With managed TLS the Route or Ingress terminates TLS; with the
            // user's certificate the registry serves HTTPS itself.
            (
                "EXTERNAL_TLS_TERMINATION",
                matches!(input.tls, TlsMaterial::Managed { .. }).into(),
            ),
        ])),
        ComponentKind::Mirror => Some(map([
            ("FEATURE_REPO_MIRROR", true.into()),
            ("REPO_MIRROR_INTERVAL", 30.into()),
            ("REPO_MIRROR_TLS_VERIFY", true.into()),
        ])),
        // Clair is never managed here (see `components`): no fragment.
        ComponentKind::Clair
        | ComponentKind::Clairpostgres
        | ComponentKind::Horizontalpodautoscaler
        | ComponentKind::Monitoring
        | ComponentKind::Tls
        | ComponentKind::Quay => None,
    }
}

/// The bucket as the only storage location. Quay names the driver
/// `RHOCSStorage`; the registry reads the same S3 parameters as
/// `RadosGWStorage`.
fn objectstorage_fragment(bucket: &ObjectBucket) -> Mapping {
    let location = Value::Mapping(map([
        ("hostname", bucket.host.as_str().into()),
        ("is_secure", true.into()),
        ("port", 443.into()),
        ("bucket_name", bucket.bucket_name.as_str().into()),
        ("access_key", bucket.access_key.as_str().into()),
        ("secret_key", bucket.secret_key.as_str().into()),
        ("storage_path", "/datastorage/registry".into()),
    ]));
    let only = || Value::Sequence(vec!["local_us".into()]);
    map([
        ("FEATURE_PROXY_STORAGE", true.into()),
        ("DISTRIBUTED_STORAGE_PREFERENCE", only()),
        ("DISTRIBUTED_STORAGE_DEFAULT_LOCATIONS", only()),
        (
            "DISTRIBUTED_STORAGE_CONFIG",
            Value::Mapping(map([(
                "local_us",
                Value::Sequence(vec!["RadosGWStorage".into(), location]),
            )])),
        ),
    ])
}

/// The config Secret's files: the flattened `config.yaml` (keys sorted, so
/// the text depends only on the content) and the bundle's other files,
/// minus those mounted separately.
fn config_files(bundle: &ConfigBundle, config: Mapping) -> crate::Result<BTreeMap<String, Vec<u8>>> {
    let mut entries: Vec<(Value, Value)> = config.into_iter().collect();
    entries.sort_by_cached_key(|(k, _)| serde_yaml::to_string(k).unwrap_or_default());
    let yaml = serde_yaml::to_string(&Value::Mapping(entries.into_iter().collect()))
        .map_err(|e| Error::Inflate(format!("cannot serialize config.yaml: {e}")))?;
    let mut files: BTreeMap<String, Vec<u8>> = bundle
        .files
        .iter()
        .filter(|(name, _)| !is_mounted_separately(name))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    files.insert(CONFIG_YAML.into(), yaml.into_bytes());
    Ok(files)
}

/// The first hex characters of SHA-256 over every file name and content in
/// sorted order; lengths are included so no two file sets collide by
/// shifting bytes between name and content.
pub fn content_hash(files: &BTreeMap<String, Vec<u8>>) -> String {
    let mut hasher = Sha256::new();
    for (name, content) in files {
        hasher.update((name.len() as u64).to_be_bytes());
        hasher.update(name.as_bytes());
        hasher.update((content.len() as u64).to_be_bytes());
        hasher.update(content);
    }
    let mut hex = hex::encode(hasher.finalize());
    hex.truncate(HASH_LEN);
    hex
}

/// A scalar top-level value as a string, if set and not empty.
fn scalar_string(config: &Mapping, key: &str) -> Option<String> {
    match config.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn map<const N: usize>(entries: [(&str, Value); N]) -> Mapping {
    entries.into_iter().map(|(k, v)| (Value::from(k), v)).collect()
}

fn random_string(len: usize, alphabet: &[u8]) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(alphabet[rng.random_range(0..alphabet.len())]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crds::Component;

    const CR: &str = "reg";
    const NS: &str = "ns";

    fn components(managed: &[ComponentKind]) -> Vec<Component> {
        ComponentKind::ALL
            .into_iter()
            .map(|kind| Component {
                kind,
                managed: managed.contains(&kind),
                overrides: None,
                secret_ref: None,
            })
            .collect()
    }

    /// Plain Kubernetes defaults: everything but clair, objectstorage and monitoring.
    fn default_components() -> Vec<Component> {
        use ComponentKind::*;
        components(&[Quay, Postgres, Redis, Horizontalpodautoscaler, Route, Mirror, Tls])
    }

    fn bundle(yaml: &str) -> ConfigBundle {
        ConfigBundle {
            config: parse_config(yaml).expect("test config parses"),
            files: BTreeMap::new(),
        }
    }

    fn managed_tls() -> TlsMaterial {
        TlsMaterial::Managed { issued: None }
    }

    fn render_with(
        bundle: &ConfigBundle,
        components: &[Component],
        stored: &ManagedKeys,
        domain: Option<&str>,
        tls: &TlsMaterial,
    ) -> crate::Result<RenderedConfig> {
        let params = RenderParams {
            name: CR,
            namespace: NS,
            components,
            stored,
            apps_domain: domain,
            tls,
        };
        render(bundle, &params)
    }

    /// Renders with the default components and an apps domain.
    fn render_stored(bundle: &ConfigBundle, stored: &ManagedKeys) -> RenderedConfig {
        render_with(
            bundle,
            &default_components(),
            stored,
            Some("apps.example.com"),
            &managed_tls(),
        )
        .expect("renders")
    }

    fn render_default(bundle: &ConfigBundle) -> RenderedConfig {
        render_stored(bundle, &ManagedKeys::default())
    }

    fn config_of(rendered: &RenderedConfig) -> Mapping {
        let text = rendered.files.get(CONFIG_YAML).expect("config.yaml rendered");
        serde_yaml::from_slice(text).expect("rendered config.yaml parses")
    }

    fn stored(entries: &[(&str, &str)]) -> ManagedKeys {
        ManagedKeys(entries.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    fn secret(data: &[(&str, &str)], string_data: &[(&str, &str)]) -> Secret {
        Secret {
            metadata: ObjectMeta {
                name: Some("bundle".into()),
                ..ObjectMeta::default()
            },
            data: Some(
                data.iter()
                    .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                    .collect(),
            ),
            string_data: Some(
                string_data
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..Secret::default()
        }
    }

    #[test]
    fn a_bundle_secret_is_read_from_data_and_string_data() {
        let b = ConfigBundle::from_secret(&secret(
            &[
                ("config.yaml", "SERVER_HOSTNAME: a.example.com\n"),
                ("ssl.cert", "CERT"),
            ],
            &[("extra_ca_cert_corp.crt", "CA")],
        ))
        .expect("bundle reads");
        assert_eq!(b.string("SERVER_HOSTNAME").as_deref(), Some("a.example.com"));
        assert_eq!(
            b.files.keys().collect::<Vec<_>>(),
            ["extra_ca_cert_corp.crt", "ssl.cert"]
        );
        let b = ConfigBundle::from_secret(&secret(&[("config.yaml", "A: 1")], &[("config.yaml", "B: 2")]))
            .expect("bundle reads");
        assert!(
            b.config.contains_key("B") && !b.config.contains_key("A"),
            "stringData wins like on the API server"
        );
    }

    #[test]
    fn an_empty_or_comment_only_config_yaml_is_an_empty_mapping() {
        for text in ["", "\n", "# nothing yet\n"] {
            let b = ConfigBundle::from_secret(&secret(&[("config.yaml", text)], &[])).expect("bundle reads");
            assert!(b.config.is_empty(), "{text:?}");
        }
    }

    #[test]
    fn a_config_yaml_that_is_not_a_mapping_or_is_missing_is_config_invalid() {
        let cases: [(&[(&str, &str)], &str); 5] = [
            (&[("config.yaml", "- a\n- b\n")], "not a list"),
            (&[("config.yaml", "just text")], "not a string"),
            (&[("config.yaml", "A: [unclosed")], "is invalid"),
            (&[("config.yaml", "A: 1\nA: 2\n")], "is invalid"),
            (&[("ssl.cert", "x")], "has no config.yaml"),
        ];
        for (data, needle) in cases {
            let err = ConfigBundle::from_secret(&secret(data, &[])).expect_err("must be refused");
            assert!(matches!(err, Error::ConfigInvalid(_)), "{err:?}");
            assert!(err.to_string().contains(needle), "{err} lacks {needle}");
            assert!(
                err.to_string().contains("`configBundleSecret` bundle"),
                "{err} names the Secret"
            );
        }
    }

    #[test]
    fn managed_keys_round_trip_through_their_secret() {
        assert_eq!(ManagedKeys::from_secret(None), ManagedKeys::default());
        let keys = stored(&[("SECRET_KEY", "s"), ("DB_ROOT_PW", "p")]);
        let secret = keys.to_secret("reg-quay-registry-managed-secret-keys", NS);
        assert_eq!(
            secret.metadata.name.as_deref(),
            Some("reg-quay-registry-managed-secret-keys")
        );
        assert_eq!(secret.metadata.namespace.as_deref(), Some(NS));
        assert_eq!(ManagedKeys::from_secret(Some(&secret)), keys);
    }

    #[test]
    fn secret_keys_prefer_the_user_then_the_stored_then_a_generated_value() {
        let kept = stored(&[("SECRET_KEY", "stored")]);
        let none = ManagedKeys::default();
        let cases = [
            ("SECRET_KEY: mine\n", &kept, Some("mine")),
            ("{}", &kept, Some("stored")),
            ("SECRET_KEY: ''\n", &kept, Some("stored")),
            ("{}", &none, None),
        ];
        for (yaml, keys, expected) in cases {
            let r = render_stored(&bundle(yaml), keys);
            let c = config_of(&r);
            let value = c.get("SECRET_KEY").and_then(Value::as_str).expect("SECRET_KEY set");
            assert_eq!(r.managed_keys.get("SECRET_KEY"), Some(value), "persisted as written");
            match expected {
                Some(v) => assert_eq!(value, v, "{yaml}"),
                None => assert!(
                    value.len() == 80 && value.bytes().all(|b| KEY_ALPHABET.contains(&b)),
                    "{value}"
                ),
            }
        }
    }

    #[test]
    fn both_secret_keys_are_generated_distinct_and_kept_on_the_next_render() {
        let first = render_default(&bundle("{}"));
        let db = first.managed_keys.get(keys::DATABASE_SECRET_KEY).expect("generated");
        let secret = first.managed_keys.get(keys::SECRET_KEY).expect("generated");
        assert_ne!(db, secret);
        let second = render_stored(&bundle("{}"), &first.managed_keys);
        assert_eq!(second.managed_keys, first.managed_keys);
        assert_eq!(
            second.secret_name, first.secret_name,
            "stored keys make the render deterministic"
        );
    }

    #[test]
    fn managed_postgres_gets_a_generated_database_uri_that_is_kept() {
        let first = render_default(&bundle("{}"));
        let uri = first
            .managed_keys
            .get(keys::DB_URI)
            .expect("DB_URI persisted")
            .to_owned();
        let (password, rest) = uri
            .strip_prefix("postgresql://reg-quay-database:")
            .and_then(|r| r.split_once('@'))
            .expect("managed URI shape");
        assert_eq!(rest, "reg-quay-database:5432/reg-quay-database");
        assert_eq!(password.len(), 80);
        assert_eq!(
            config_of(&first).get("DB_URI").and_then(Value::as_str),
            Some(uri.as_str())
        );
        assert!(first.db_changed, "a new database needs migrations");
        let again = render_stored(&bundle("{}"), &first.managed_keys);
        assert_eq!(again.managed_keys.get(keys::DB_URI), Some(uri.as_str()));
        assert!(!again.db_changed);
    }

    #[test]
    fn a_stored_external_database_uri_is_not_used_for_managed_postgres() {
        let r = render_stored(
            &bundle("{}"),
            &stored(&[(keys::DB_URI, "postgresql://u:p@db.corp:5432/quay")]),
        );
        let uri = r.managed_keys.get(keys::DB_URI).expect("DB_URI");
        assert!(uri.starts_with("postgresql://reg-quay-database:"), "{uri}");
        assert!(r.db_changed);
    }

    #[test]
    fn unmanaged_postgres_uses_the_users_database_uri_and_a_change_forces_migrations() {
        use ComponentKind::*;
        let comps = components(&[Quay, Redis, Route, Tls]);
        let at = |yaml: &str, keys: &ManagedKeys| {
            render_with(&bundle(yaml), &comps, keys, Some("a"), &managed_tls()).expect("renders")
        };
        let ext = "postgresql://u:p@db.corp:5432/quay";
        let first = at(&format!("DB_URI: {ext}\n"), &ManagedKeys::default());
        assert_eq!(config_of(&first).get("DB_URI").and_then(Value::as_str), Some(ext));
        assert!(first.db_changed);
        assert!(
            first.managed_keys.get(keys::DB_ROOT_PW).is_none(),
            "no root password for an external database"
        );
        assert!(!at(&format!("DB_URI: {ext}\n"), &first.managed_keys).db_changed);
        assert!(at("DB_URI: postgresql://u:p@db2.corp:5432/quay\n", &first.managed_keys).db_changed);
        let none = at("{}", &ManagedKeys::default());
        assert!(!none.db_changed && !config_of(&none).contains_key("DB_URI"));
    }

    #[test]
    fn managed_postgres_gets_a_32_character_root_password_that_is_kept() {
        let r = render_default(&bundle("{}"));
        let pw = r.managed_keys.get(keys::DB_ROOT_PW).expect("root password");
        assert!(pw.len() == 32 && pw.bytes().all(|b| b.is_ascii_alphanumeric()), "{pw}");
        assert!(
            !config_of(&r).contains_key(keys::DB_ROOT_PW),
            "not part of the registry's config"
        );
        let r = render_stored(&bundle("{}"), &stored(&[(keys::DB_ROOT_PW, "kept")]));
        assert_eq!(r.managed_keys.get(keys::DB_ROOT_PW), Some("kept"));
    }

    #[test]
    fn other_stored_keys_survive_a_render() {
        let r = render_stored(&bundle("{}"), &stored(&[("CLAIR_DB_PASSWORD", "x")]));
        assert_eq!(r.managed_keys.get("CLAIR_DB_PASSWORD"), Some("x"));
    }

    #[test]
    fn base_defaults_fill_only_absent_keys() {
        let r = render_default(&bundle("FEATURE_MAILING: true\nREGISTRY_TITLE: Mine\n"));
        let c = config_of(&r);
        let expected: [(&str, Value); 12] = [
            ("FEATURE_MAILING", true.into()),
            ("REGISTRY_TITLE", "Mine".into()),
            ("REGISTRY_TITLE_SHORT", "Registry".into()),
            ("SETUP_COMPLETE", true.into()),
            ("FEATURE_DIRECT_LOGIN", true.into()),
            ("FEATURE_BUILD_SUPPORT", false.into()),
            ("TESTING", false.into()),
            ("AUTHENTICATION_TYPE", "Database".into()),
            ("DEFAULT_TAG_EXPIRATION", "2w".into()),
            ("TAG_EXPIRATION_OPTIONS", Value::Sequence(vec!["2w".into()])),
            ("ALLOW_PULLS_WITHOUT_STRICT_LOGGING", false.into()),
            ("TEAM_RESYNC_STALE_TIME", "60m".into()),
        ];
        for (key, value) in expected {
            assert_eq!(c.get(key), Some(&value), "{key}");
        }
        let text = String::from_utf8_lossy(&r.files[CONFIG_YAML]).into_owned();
        assert!(!text.contains("Red Hat"), "neutral branding: {text}");
    }

    #[test]
    fn managed_fragments_win_over_the_users_values() {
        let yaml = "BUILDLOGS_REDIS: {host: mine, port: 1}\nPREFERRED_URL_SCHEME: http\n\
                    REPO_MIRROR_INTERVAL: 5\nEXTERNAL_TLS_TERMINATION: false\n";
        let c = config_of(&render_default(&bundle(yaml)));
        let redis = serde_yaml::from_str::<Value>("{host: reg-quay-redis, port: 6379}").expect("yaml");
        assert_eq!(c.get("BUILDLOGS_REDIS"), Some(&redis));
        assert_eq!(c.get("USER_EVENTS_REDIS"), Some(&redis));
        assert_eq!(c.get("PREFERRED_URL_SCHEME"), Some(&"https".into()));
        assert_eq!(c.get("EXTERNAL_TLS_TERMINATION"), Some(&true.into()));
        assert_eq!(c.get("FEATURE_REPO_MIRROR"), Some(&true.into()));
        assert_eq!(c.get("REPO_MIRROR_INTERVAL"), Some(&30.into()));
        assert_eq!(c.get("REPO_MIRROR_TLS_VERIFY"), Some(&true.into()));
        let args = serde_yaml::from_str::<Value>("{autorollback: true, threadlocals: true}").expect("yaml");
        assert_eq!(c.get("DB_CONNECTION_ARGS"), Some(&args));
    }

    #[test]
    fn unmanaged_kinds_contribute_no_fragment() {
        use ComponentKind::*;
        let yaml = "SERVER_HOSTNAME: r.example.com\nBUILDLOGS_REDIS: {host: mine}\nDB_URI: postgresql://x@y/z\n";
        let comps = components(&[Quay, Tls]);
        let r = render_with(&bundle(yaml), &comps, &ManagedKeys::default(), None, &managed_tls()).expect("renders");
        let c = config_of(&r);
        assert_eq!(
            c.get("BUILDLOGS_REDIS"),
            Some(&serde_yaml::from_str("{host: mine}").expect("yaml"))
        );
        for key in [
            "USER_EVENTS_REDIS",
            "FEATURE_REPO_MIRROR",
            "EXTERNAL_TLS_TERMINATION",
            "DB_CONNECTION_ARGS",
        ] {
            assert!(!c.contains_key(key), "{key}");
        }
        assert_eq!(c.get("DB_URI").and_then(Value::as_str), Some("postgresql://x@y/z"));
    }

    #[test]
    fn server_hostname_defaults_to_the_route_host_under_the_apps_domain() {
        let r = render_default(&bundle("{}"));
        assert_eq!(r.server_hostname, "reg-quay-ns.apps.example.com");
        let c = config_of(&r);
        assert_eq!(
            c.get("SERVER_HOSTNAME").and_then(Value::as_str),
            Some("reg-quay-ns.apps.example.com")
        );
        let r = render_default(&bundle("SERVER_HOSTNAME: registry.example.com:8443\n"));
        assert_eq!(
            r.server_hostname, "registry.example.com:8443",
            "the user's hostname wins"
        );
        assert_eq!(r.tls_hosts(), ["registry.example.com:8443"]);
    }

    #[test]
    fn a_missing_server_hostname_is_config_invalid_when_no_default_can_be_derived() {
        use ComponentKind::*;
        let route_managed = default_components();
        let route_unmanaged = components(&[Quay, Postgres, Redis, Tls]);
        let cases = [
            (&route_managed, None),
            (&route_managed, Some("")),
            (&route_unmanaged, Some("apps")),
        ];
        for (comps, domain) in cases {
            let err = render_with(&bundle("{}"), comps, &ManagedKeys::default(), domain, &managed_tls())
                .expect_err("no hostname");
            assert!(matches!(err, Error::ConfigInvalid(_)), "{err:?}");
            assert!(err.to_string().contains("add SERVER_HOSTNAME to config.yaml"), "{err}");
        }
    }

    #[test]
    fn external_tls_termination_follows_tls_management() {
        let pair = CertPair {
            cert_pem: "c".into(),
            key_pem: "k".into(),
        };
        let cases = [
            (managed_tls(), true),
            (
                TlsMaterial::Managed {
                    issued: Some(pair.clone()),
                },
                true,
            ),
            (TlsMaterial::Unmanaged(pair), false),
        ];
        for (tls, external) in cases {
            let r = render_with(
                &bundle("{}"),
                &default_components(),
                &ManagedKeys::default(),
                Some("a"),
                &tls,
            )
            .expect("renders");
            assert_eq!(
                config_of(&r).get("EXTERNAL_TLS_TERMINATION"),
                Some(&external.into()),
                "{tls:?}"
            );
        }
    }

    #[test]
    fn certificates_and_extra_cas_are_kept_out_of_the_config_secret() {
        let mut b = bundle("{}");
        for name in [
            "ssl.cert",
            "ssl.key",
            "clair-ssl.crt",
            "clair-ssl.key",
            "extra_ca_cert_corp.crt",
            "logo.png",
        ] {
            b.files.insert(name.into(), name.as_bytes().to_vec());
        }
        let r = render_default(&b);
        assert_eq!(r.files.keys().collect::<Vec<_>>(), ["config.yaml", "logo.png"]);
        assert_eq!(b.extra_ca_certs().keys().collect::<Vec<_>>(), ["corp.crt"]);
        let pair = b.tls_pair().expect("pair");
        assert_eq!((pair.cert_pem.as_str(), pair.key_pem.as_str()), ("ssl.cert", "ssl.key"));
        b.files.remove("ssl.key");
        assert!(!b.has_tls_pair() && b.tls_pair().is_none());
    }

    #[test]
    fn the_config_secret_name_is_deterministic_and_changes_with_any_content() {
        let keys = render_default(&bundle("{}")).managed_keys;
        let name_of = |yaml: &str, files: &[(&str, &str)]| {
            let mut b = bundle(yaml);
            b.files = files
                .iter()
                .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
                .collect();
            render_stored(&b, &keys).secret_name
        };
        let base = name_of("A: 1\nB: 2\n", &[]);
        let hash = base.strip_prefix("reg-quay-config-secret-").expect("prefix");
        assert!(
            hash.len() == HASH_LEN && hash.bytes().all(|b| b.is_ascii_hexdigit()),
            "{base}"
        );
        assert_eq!(name_of("A: 1\nB: 2\n", &[]), base);
        assert_eq!(name_of("B: 2\nA: 1\n", &[]), base, "key order does not matter");
        assert_ne!(name_of("A: 1\nB: 3\n", &[]), base);
        let with_x = name_of("A: 1\nB: 2\n", &[("extra.txt", "x")]);
        assert_ne!(with_x, base);
        assert_ne!(name_of("A: 1\nB: 2\n", &[("extra.txt", "y")]), with_x);
        assert_eq!(
            name_of("A: 1\nB: 2\n", &[("extra_ca_cert_x", "x")]),
            base,
            "separately mounted files are not in this Secret"
        );
    }

    #[test]
    fn content_hash_separates_names_from_contents() {
        let a = BTreeMap::from([("ab".to_string(), b"c".to_vec())]);
        let b = BTreeMap::from([("a".to_string(), b"bc".to_vec())]);
        assert_ne!(content_hash(&a), content_hash(&b));
    }

    #[test]
    fn the_objectstorage_fragment_needs_a_bound_bucket() {
        use ComponentKind::*;
        let comps = components(&[Quay, Postgres, Redis, Route, Tls, Objectstorage]);
        let (keys, tls) = (ManagedKeys::default(), managed_tls());
        let params = RenderParams {
            name: CR,
            namespace: NS,
            components: &comps,
            stored: &keys,
            apps_domain: Some("a"),
            tls: &tls,
        };
        let without = render(&bundle("{}"), &params).expect("renders");
        assert!(!config_of(&without).contains_key("DISTRIBUTED_STORAGE_CONFIG"));
        let bucket = ObjectBucket {
            host: "s3.openshift-storage.svc.cluster.local".into(),
            bucket_name: "quay-datastore-1".into(),
            access_key: "AK".into(),
            secret_key: "SK".into(),
        };
        let c = config_of(&render_with_storage(&bundle("{}"), &params, Some(&bucket)).expect("renders"));
        let location = c
            .get("DISTRIBUTED_STORAGE_CONFIG")
            .and_then(|v| v.get("local_us"))
            .and_then(Value::as_sequence)
            .expect("location");
        assert_eq!(location[0].as_str(), Some("RadosGWStorage"));
        assert_eq!(
            location[1].get("bucket_name").and_then(Value::as_str),
            Some("quay-datastore-1")
        );
        assert_eq!(
            c.get("DISTRIBUTED_STORAGE_PREFERENCE"),
            Some(&Value::Sequence(vec!["local_us".into()]))
        );
        assert!(!format!("{bucket:?}").contains("SK"), "Debug hides the keys");
    }

    #[test]
    fn buildman_hostname_is_read_from_the_config() {
        assert_eq!(render_default(&bundle("{}")).buildman_hostname, None);
        let r = render_default(&bundle("BUILDMAN_HOSTNAME: builds.example.com:443\n"));
        assert_eq!(r.buildman_hostname.as_deref(), Some("builds.example.com:443"));
        assert_eq!(
            r.tls_hosts(),
            ["reg-quay-ns.apps.example.com", "builds.example.com:443"]
        );
        let r = render_default(&bundle("BUILDMAN_HOSTNAME: https://builds.example.com\n"));
        assert_eq!(r.buildman_hostname.as_deref(), Some("builds.example.com"));
    }

    #[test]
    fn an_in_cluster_or_plain_http_buildman_hostname_needs_no_route_or_certificate() {
        for host in [
            "http://builds.example.com",
            "reg-quay-app.ns.svc:8443",
            "https://reg-quay-app.ns.svc.cluster.local",
        ] {
            let r = render_default(&bundle(&format!("BUILDMAN_HOSTNAME: {host}\n")));
            assert_eq!(r.buildman_hostname, None, "{host}");
            assert_eq!(r.tls_hosts(), ["reg-quay-ns.apps.example.com"], "{host}");
        }
    }

    #[test]
    fn the_config_secret_carries_every_rendered_file() {
        let r = render_default(&bundle("{}"));
        let s = r.to_secret(NS);
        assert_eq!(s.metadata.name.as_deref(), Some(r.secret_name.as_str()));
        assert_eq!(s.data.expect("data").len(), r.files.len());
    }
}
