//! TLS for the registry: checking a user's certificate pair against the
//! hostnames, and, for managed TLS on plain Kubernetes, an operator CA kept in
//! a Secret that issues (and renews before expiry) the Ingress certificate.

/// A PEM certificate chain and its private key.
#[derive(Clone, PartialEq, Eq)]
pub struct CertPair {
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for CertPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertPair").field("key_pem", &"<redacted>").finish_non_exhaustive()
    }
}

/// Where the registry's certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsMaterial {
    /// Managed TLS: edge-terminated by the Route, or on plain Kubernetes by
    /// the Ingress with a certificate the operator's CA issued.
    Managed { issued: Option<CertPair> },
    /// Unmanaged TLS: the user's pair from the bundle (`ssl.cert`/`ssl.key`)
    /// or from the tls component's `secretRef`; the registry serves HTTPS.
    Unmanaged(CertPair),
}

/// Checks that `pair` is a matching certificate and key and that the
/// certificate covers every host (ports stripped; wildcards as in Quay).
/// Errors read "provided certificate pair not valid for host '<host>'".
pub fn validate_pair(pair: &CertPair, hosts: &[&str]) -> crate::Result<()> {
    let _ = (pair, hosts);
    todo!("tls: validate")
}

/// The operator's CA for managed TLS on plain Kubernetes, kept in the
/// Secret `<cr>-quay-operator-ca`.
#[derive(Clone, PartialEq, Eq)]
pub struct OperatorCa {
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for OperatorCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperatorCa").field("key_pem", &"<redacted>").finish_non_exhaustive()
    }
}
