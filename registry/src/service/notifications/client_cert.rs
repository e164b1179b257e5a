//! The client certificate HTTPS webhooks are sent with, so receivers can
//! check that a call comes from this registry. Generated with rcgen on
//! first use and kept in the database (`servicekey`), so every replica
//! presents the same certificate: a client certificate (EKU clientAuth)
//! issued by a registry CA; receivers trust the CA certificate.

use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};
use serde::{Deserialize, Serialize};

use crate::service::{Error, Registry};

const SERVICE_KEY: &str = "notification_client_certificate";

/// The registry's notification client identity, PEM encoded.
#[derive(Clone, Serialize, Deserialize)]
pub struct ClientIdentity {
    /// The CA receivers trust to verify the client certificate.
    pub ca_pem: String,
    pub cert_pem: String,
    key_pem: String,
}

/// Never shows the private key.
impl std::fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientIdentity")
            .field("cert_pem", &self.cert_pem)
            .finish()
    }
}

impl ClientIdentity {
    /// Key and certificate in one PEM, as `reqwest::Identity::from_pem` takes them.
    pub fn identity_pem(&self) -> String {
        format!("{}{}", self.key_pem, self.cert_pem)
    }
}

fn generate(hostname: &str) -> Result<ClientIdentity, rcgen::Error> {
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "registry notification CA");
    let ca = ca_params.self_signed(&ca_key)?;
    let host = hostname.split(':').next().unwrap_or(hostname).to_owned();
    let mut params = CertificateParams::new(vec![host.clone()])?;
    params.distinguished_name.push(DnType::CommonName, host);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &ca, &ca_key)?;
    Ok(ClientIdentity {
        ca_pem: ca.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

impl Registry {
    /// The client identity HTTPS webhooks present; created once, shared by
    /// all replicas (the first writer's wins).
    pub async fn notification_client_identity(&self) -> Result<ClientIdentity, Error> {
        // Generated (two key pairs) only on the very first use.
        let stored = self
            .shared_secret(SERVICE_KEY, || {
                let fresh = generate(&self.settings().notifications.server_hostname)
                    .map_err(|e| Error::Unsupported(format!("generating the notification certificate: {e}")))?;
                serde_json::to_string(&fresh).map_err(|e| Error::Unsupported(e.to_string()))
            })
            .await?;
        serde_json::from_str(&stored).map_err(|e| Error::Unsupported(format!("stored notification certificate: {e}")))
    }
}
