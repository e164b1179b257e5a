//! What a pass reads and keeps besides the objects it applies: the config
//! bundle (creating a base one), the TLS inputs, the managed keys, the
//! operator CA and the object bucket.

use std::collections::BTreeMap;

use crds::ComponentKind;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::ByteString;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::json;

use super::pass::Pass;
use super::Failed;
use crate::bundle::{ConfigBundle, ManagedKeys, ObjectBucket, RenderedConfig, SSL_CERT, SSL_KEY};
use crate::names::{self, FIELD_MANAGER, LABEL_REGISTRY, LABEL_TLS_SECRET};
use crate::tls::{self, CertPair, OperatorCa, TlsMaterial};
use crate::Error;

/// `config.yaml` of a bundle the operator creates: empty, so the rendered
/// defaults apply; users edit the Secret to configure the registry.
pub const BASE_CONFIG: &str = "# Registry configuration (Quay's config.yaml field names).\n\
# Absent keys get defaults; managed components add their settings.\n{}\n";

/// The TLS Secret the objects carry the served or issued pair in.
fn tls_secret_name(cr: &str) -> String {
    names::prefixed(cr, "quay-config-tls")
}

impl Pass<'_> {
    /// Creates `<cr>-config-bundle-<rand>` with a base config, owned by the
    /// registry, and writes its name into the spec.
    pub async fn create_base_bundle(&self) -> Result<(), Failed> {
        let secret = Secret {
            metadata: ObjectMeta {
                generate_name: Some(format!("{}-config-bundle-", self.name)),
                namespace: Some(self.ns.clone()),
                labels: Some(BTreeMap::from([(LABEL_REGISTRY.to_string(), self.name.clone())])),
                owner_references: Some(vec![self.owner_ref()]),
                ..Default::default()
            },
            data: Some(BTreeMap::from([(
                "config.yaml".to_string(),
                ByteString(BASE_CONFIG.into()),
            )])),
            type_: Some("Opaque".into()),
            ..Default::default()
        };
        let created = self
            .api::<Secret>()
            .create(&PostParams::default(), &secret)
            .await
            .map_err(|e| Failed::object("Secret", &format!("{}-config-bundle-", self.name), e))?;
        let patch = json!({"spec": {"configBundleSecret": created.name_any()}});
        self.api::<crds::QuayRegistry>()
            .patch(&self.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|e| Failed::object("QuayRegistry", &self.name, e))?;
        tracing::info!(bundle = %created.name_any(), "created the base config bundle");
        Ok(())
    }

    /// Reads the bundle Secret.
    pub async fn read_bundle(&self, name: &str) -> Result<ConfigBundle, Failed> {
        let secret = self
            .api::<Secret>()
            .get_opt(name)
            .await
            .map_err(|e| Failed::object("Secret", name, e))?;
        let secret = secret.ok_or_else(|| Error::ConfigInvalid("unable to get `configBundleSecret`".into()))?;
        Ok(ConfigBundle::from_secret(&secret)?)
    }

    /// The user's certificate: the tls component's `secretRef` (exclusive
    /// with `ssl.*` in the bundle; labelled so its edits are watched) or the
    /// bundle's `ssl.cert`/`ssl.key`.
    pub async fn user_certificate(&self, bundle: &ConfigBundle) -> Result<Option<CertPair>, Failed> {
        let secret_ref = self
            .qr
            .spec
            .component(ComponentKind::Tls)
            .and_then(|c| c.secret_ref.as_ref());
        let Some(secret_ref) = secret_ref else {
            return Ok(bundle.tls_pair());
        };
        if bundle.files.contains_key(SSL_CERT) || bundle.files.contains_key(SSL_KEY) {
            return Err(Error::ConfigInvalid(format!(
                "tls secretRef `{}` and {SSL_CERT}/{SSL_KEY} in `configBundleSecret` are mutually exclusive",
                secret_ref.name
            ))
            .into());
        }
        let api = self.api::<Secret>();
        let secret = api
            .get_opt(&secret_ref.name)
            .await
            .map_err(|e| Failed::object("Secret", &secret_ref.name, e))?;
        let secret =
            secret.ok_or_else(|| Error::ConfigInvalid(format!("unable to get tls secretRef `{}`", secret_ref.name)))?;
        let pair = CertPair::from_tls_secret(&secret)?;
        if secret.labels().get(LABEL_TLS_SECRET).map(String::as_str) != Some("true") {
            let patch = json!({"metadata": {"labels": {LABEL_TLS_SECRET: "true"}}});
            api.patch(&secret_ref.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map_err(|e| Failed::object("Secret", &secret_ref.name, e))?;
        }
        Ok(Some(pair))
    }

    /// The stored keys and the Secret they came from.
    pub async fn managed_keys(&self) -> Result<(ManagedKeys, Option<Secret>), Failed> {
        let name = names::managed_keys_secret(&self.name);
        let secret = self
            .api::<Secret>()
            .get_opt(&name)
            .await
            .map_err(|e| Failed::object("Secret", &name, e))?;
        Ok((ManagedKeys::from_secret(secret.as_ref()), secret))
    }

    /// Persists the keys before anything uses them. The Secret is owned by
    /// the registry only when the database goes with it: the keys decrypt
    /// what the kept database holds.
    pub async fn store_managed_keys(
        &self,
        keys: &ManagedKeys,
        stored: &ManagedKeys,
        current: Option<&Secret>,
    ) -> Result<(), Failed> {
        let name = names::managed_keys_secret(&self.name);
        let owned = current.is_some_and(|s| s.owner_references().iter().any(|o| o.uid == self.uid));
        if current.is_some() && keys == stored && owned == self.deletes_database() {
            return Ok(());
        }
        let mut secret = keys.to_secret(&name, &self.ns);
        secret.metadata.labels = Some(BTreeMap::from([(LABEL_REGISTRY.to_string(), self.name.clone())]));
        secret.metadata.owner_references = self.deletes_database().then(|| vec![self.owner_ref()]);
        self.api::<Secret>()
            .patch(
                &name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&secret),
            )
            .await
            .map_err(|e| Failed::object("Secret", &name, e))?;
        Ok(())
    }

    /// The certificate source before rendering: the user's pair when tls is
    /// unmanaged, else managed TLS (a certificate is issued after the
    /// render, once the hostnames are known).
    pub fn tls_source(&self, user_cert: Option<CertPair>) -> Result<TlsMaterial, Failed> {
        if self.is_managed(ComponentKind::Tls) {
            return Ok(TlsMaterial::Managed { issued: None });
        }
        let pair = user_cert.ok_or_else(|| {
            Error::ConfigInvalid(
                "required component `tls` marked as unmanaged, but `configBundleSecret` is missing necessary \
                 fields (ssl.cert and ssl.key) and no secretRef is set"
                    .into(),
            )
        })?;
        Ok(TlsMaterial::Unmanaged(pair))
    }

    /// Checks the user's pair against the hostnames, or (managed TLS on
    /// plain Kubernetes) loads or issues the Ingress certificate.
    pub async fn finish_tls(&self, tls: TlsMaterial, rendered: &RenderedConfig) -> Result<TlsMaterial, Failed> {
        match tls {
            TlsMaterial::Unmanaged(pair) => {
                tls::validate_pair(&pair, &rendered.tls_hosts())?;
                Ok(TlsMaterial::Unmanaged(pair))
            }
            TlsMaterial::Managed { .. } if self.ctx.capabilities.routes => Ok(TlsMaterial::Managed { issued: None }),
            TlsMaterial::Managed { .. } => {
                let issued = self.issued_certificate(&rendered.tls_hosts()).await?;
                Ok(TlsMaterial::Managed { issued: Some(issued) })
            }
        }
    }

    /// The certificate served by the Ingress: the one in use while it is
    /// from the current CA, covers the hosts and is not about to expire;
    /// else a new one.
    async fn issued_certificate(&self, hosts: &[&str]) -> Result<CertPair, Failed> {
        let ca = self.operator_ca().await?;
        let name = tls_secret_name(&self.name);
        let current = self
            .api::<Secret>()
            .get_opt(&name)
            .await
            .map_err(|e| Failed::object("Secret", &name, e))?;
        let in_use = current.as_ref().and_then(|s| CertPair::from_tls_secret(s).ok());
        let now = chrono_now();
        match in_use {
            Some(pair) if pair.cert_pem.ends_with(&ca.cert_pem) && !tls::needs_renewal(&pair, hosts, now) => Ok(pair),
            _ => {
                tracing::info!(?hosts, "issuing the Ingress certificate");
                Ok(ca.issue(hosts)?)
            }
        }
    }

    /// Loads the operator CA, creating it (or replacing an unusable one).
    async fn operator_ca(&self) -> Result<OperatorCa, Failed> {
        let name = tls::operator_ca_secret(&self.name);
        let api = self.api::<Secret>();
        let current = api
            .get_opt(&name)
            .await
            .map_err(|e| Failed::object("Secret", &name, e))?;
        if let Some(ca) = current.as_ref().and_then(|s| OperatorCa::from_secret(s).ok()) {
            return Ok(ca);
        }
        let ca = OperatorCa::generate()?;
        let mut secret = ca.to_secret(&name, &self.ns);
        secret.metadata.labels = Some(BTreeMap::from([(LABEL_REGISTRY.to_string(), self.name.clone())]));
        secret.metadata.owner_references = Some(vec![self.owner_ref()]);
        api.patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&secret),
        )
        .await
        .map_err(|e| Failed::object("Secret", &name, e))?;
        Ok(ca)
    }

    /// The bound bucket of managed object storage: `None` while the claim,
    /// its Secret or its ConfigMap are missing (workloads wait for it).
    pub async fn object_bucket(&self) -> Result<Option<ObjectBucket>, Failed> {
        if !self.is_managed(ComponentKind::Objectstorage) || !self.ctx.capabilities.object_bucket_claims {
            return Ok(None);
        }
        let name = names::prefixed(&self.name, "quay-datastore");
        let gvk = GroupVersionKind::gvk("objectbucket.io", "v1alpha1", "ObjectBucketClaim");
        let obcs: Api<DynamicObject> =
            Api::namespaced_with(self.ctx.client.clone(), &self.ns, &ApiResource::from_gvk(&gvk));
        let obc = obcs
            .get_opt(&name)
            .await
            .map_err(|e| Failed::object("ObjectBucketClaim", &name, e))?;
        if obc.is_none() {
            return Ok(None);
        }
        let secret = self
            .api::<Secret>()
            .get_opt(&name)
            .await
            .map_err(|e| Failed::object("Secret", &name, e))?;
        let config = self
            .api::<ConfigMap>()
            .get_opt(&name)
            .await
            .map_err(|e| Failed::object("ConfigMap", &name, e))?;
        Ok(secret.zip(config).and_then(|(s, c)| object_bucket(&s, &c)))
    }
}

impl Pass<'_> {
    /// On OpenShift, the hashes of the CA bundles injected into
    /// `<cr>-cluster-service-ca` and `<cr>-cluster-trusted-ca` (absent or
    /// not yet injected: no hash), stamped on the registry pod templates so
    /// a CA rotation rolls them (Quay's §2.2 step 6).
    pub async fn ca_hashes(&self) -> Result<BTreeMap<String, String>, Failed> {
        if !self.ctx.capabilities.routes {
            return Ok(BTreeMap::new());
        }
        let api = self.api::<ConfigMap>();
        let mut read = Vec::new();
        for name in [
            names::service_ca_configmap(&self.name),
            names::trusted_ca_configmap(&self.name),
        ] {
            let cm = api
                .get_opt(&name)
                .await
                .map_err(|e| Failed::object("ConfigMap", &name, e))?;
            read.push(cm);
        }
        Ok(crate::objects::ca_hashes(read[0].as_ref(), read[1].as_ref()))
    }

    /// The cluster's apps domain on OpenShift (`ingresses.config.openshift.io/cluster`),
    /// for the default SERVER_HOSTNAME `<cr>-quay-<ns>.<domain>`. Only read
    /// when that default is needed; Quay learns it from a probe Route.
    pub async fn apps_domain(&self, bundle: &ConfigBundle) -> Result<Option<String>, Failed> {
        let caps = &self.ctx.capabilities;
        let needed = bundle.string("SERVER_HOSTNAME").is_none() && self.is_managed(ComponentKind::Route);
        if !needed || !caps.routes || !caps.apiserver_config {
            return Ok(None);
        }
        let gvk = GroupVersionKind::gvk("config.openshift.io", "v1", "Ingress");
        let api: Api<DynamicObject> = Api::all_with(self.ctx.client.clone(), &ApiResource::from_gvk(&gvk));
        let ingress = api
            .get_opt("cluster")
            .await
            .map_err(|e| Failed::object("Ingress.config.openshift.io", "cluster", e))?;
        Ok(ingress.and_then(|i| {
            i.data
                .pointer("/spec/domain")
                .and_then(|d| d.as_str())
                .map(str::to_owned)
        }))
    }
}

/// The bucket from the claim's Secret (credentials) and ConfigMap (host and
/// name); `.svc` hosts get the cluster domain, as Quay does.
pub fn object_bucket(secret: &Secret, config: &ConfigMap) -> Option<ObjectBucket> {
    let data = |k: &str| {
        secret
            .data
            .as_ref()?
            .get(k)
            .and_then(|v| String::from_utf8(v.0.clone()).ok())
    };
    let conf = |k: &str| config.data.as_ref()?.get(k).cloned();
    let host = conf("BUCKET_HOST")?;
    let host = match host.strip_suffix(".svc") {
        Some(stem) => format!("{stem}.svc.cluster.local"),
        None => host,
    };
    Some(ObjectBucket {
        host,
        bucket_name: conf("BUCKET_NAME")?,
        access_key: data("AWS_ACCESS_KEY_ID")?,
        secret_key: data("AWS_SECRET_ACCESS_KEY")?,
    })
}

/// Now, for certificate checks.
fn chrono_now() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(tls::unix_now(), 0).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_object_bucket_gets_the_full_service_domain() {
        let secret = Secret {
            data: Some(BTreeMap::from([
                ("AWS_ACCESS_KEY_ID".to_string(), ByteString(b"ak".to_vec())),
                ("AWS_SECRET_ACCESS_KEY".to_string(), ByteString(b"sk".to_vec())),
            ])),
            ..Default::default()
        };
        let config = ConfigMap {
            data: Some(BTreeMap::from([
                ("BUCKET_HOST".to_string(), "s3.openshift-storage.svc".to_string()),
                ("BUCKET_NAME".to_string(), "quay-datastore-1".to_string()),
            ])),
            ..Default::default()
        };
        let bucket = object_bucket(&secret, &config).expect("complete claim");
        assert_eq!(bucket.host, "s3.openshift-storage.svc.cluster.local");
        assert_eq!(bucket.bucket_name, "quay-datastore-1");
        assert!(object_bucket(&Secret::default(), &config).is_none());
    }
}
