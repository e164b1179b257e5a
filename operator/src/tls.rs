//! TLS for the registry: checking a user's certificate pair against the
//! hostnames, and, for managed TLS on plain Kubernetes, an operator CA kept in
//! a Secret that issues (and renews before expiry) the Ingress certificate.
//!
//! Host matching follows Go's `VerifyHostname`, which Quay's config-tool
//! uses: subject alternative names only (no common-name fallback), `*.`
//! wildcards covering exactly one leftmost label, IP hosts against IP SANs.

use std::net::IpAddr;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::ByteString;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use x509_parser::extensions::GeneralName;
use x509_parser::pem::Pem;
use x509_parser::time::ASN1Time;

use crate::Error;

const DAY: i64 = 86_400;
/// Lifetime of certificates the operator CA issues.
pub const ISSUED_VALIDITY_DAYS: i64 = 90;
/// Issued certificates are replaced when they expire within this window.
pub const RENEW_BEFORE_DAYS: i64 = 30;
const CA_VALIDITY_DAYS: i64 = 3650;
/// Backdating absorbs clock skew between the operator and clients.
const BACKDATE_SECS: i64 = 3600;
/// Entries of `kubernetes.io/tls` Secrets.
pub const TLS_CRT: &str = "tls.crt";
pub const TLS_KEY: &str = "tls.key";
const SECRET_TYPE_TLS: &str = "kubernetes.io/tls";

/// AlgorithmIdentifier contents (DER) for wrapping PKCS#1 and SEC1 keys into
/// PKCS#8, the only form ring reads: rsaEncryption + NULL, and
/// id-ecPublicKey + the P-256 or P-384 curve.
const RSA_ALGORITHM: &[u8] = &[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
];
const EC_P256_ALGORITHM: &[u8] = &[
    0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
];
const EC_P384_ALGORITHM: &[u8] = &[
    0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22,
];

/// A PEM certificate chain and its private key.
#[derive(Clone, PartialEq, Eq)]
pub struct CertPair {
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for CertPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertPair")
            .field("key_pem", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl CertPair {
    /// Reads a `kubernetes.io/tls` Secret (a tls component's `secretRef`).
    pub fn from_tls_secret(secret: &Secret) -> crate::Result<CertPair> {
        let name = secret.metadata.name.as_deref().unwrap_or_default();
        let entry = |key: &str| {
            let bytes = secret.data.as_ref()?.get(key)?;
            Some(String::from_utf8_lossy(&bytes.0).into_owned()).filter(|s| !s.trim().is_empty())
        };
        match (secret.type_.as_deref(), entry(TLS_CRT), entry(TLS_KEY)) {
            (Some(SECRET_TYPE_TLS), Some(cert_pem), Some(key_pem)) => Ok(CertPair { cert_pem, key_pem }),
            _ => Err(Error::ConfigInvalid(format!(
                "tls secretRef `{name}` must be a {SECRET_TYPE_TLS} Secret with non-empty {TLS_CRT} and {TLS_KEY}"
            ))),
        }
    }

    /// A `kubernetes.io/tls` Secret holding the pair (e.g. for the Ingress).
    pub fn to_tls_secret(&self, name: &str, namespace: &str) -> Secret {
        tls_secret(name, namespace, &self.cert_pem, &self.key_pem)
    }

    /// The last 8 hex characters of SHA-256 over certificate and key, stamped
    /// on pod templates so a new certificate rolls the pods.
    pub fn secret_hash(&self) -> String {
        crate::names::short_hash([self.cert_pem.as_bytes(), self.key_pem.as_bytes()])
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
    let invalid = |e: String| Error::ConfigInvalid(format!("provided certificate pair is invalid: {e}"));
    let leaf = Leaf::parse(&pair.cert_pem).map_err(invalid)?;
    let key = parse_key(&pair.key_pem).map_err(invalid)?;
    if key.public_key_raw() != leaf.public_key.as_slice() {
        return Err(invalid("the private key does not belong to the certificate".into()));
    }
    match hosts
        .iter()
        .map(|h| strip_port(h))
        .find(|h| !h.is_empty() && !leaf.covers(h))
    {
        Some(host) => Err(Error::Inflate(format!(
            "provided certificate pair not valid for host '{host}'"
        ))),
        None => Ok(()),
    }
}

/// Whether an issued pair must be replaced: unparsable, not matching its
/// key, not covering `hosts`, not yet valid, or expiring within
/// [`RENEW_BEFORE_DAYS`].
pub fn needs_renewal(pair: &CertPair, hosts: &[&str], now: chrono::DateTime<chrono::Utc>) -> bool {
    let Ok(leaf) = Leaf::parse(&pair.cert_pem) else {
        return true;
    };
    let now = now.timestamp();
    validate_pair(pair, hosts).is_err() || leaf.not_before > now || leaf.not_after - now < RENEW_BEFORE_DAYS * DAY
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
        f.debug_struct("OperatorCa")
            .field("key_pem", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// The name of the Secret holding the operator CA of registry `cr`.
pub fn operator_ca_secret(cr: &str) -> String {
    crate::names::prefixed(cr, "quay-operator-ca")
}

impl OperatorCa {
    /// A new self-signed CA valid for ten years. Its common name carries the
    /// creation time, so certificates of an earlier CA are told apart.
    pub fn generate() -> crate::Result<OperatorCa> {
        let now = unix_now();
        let key = KeyPair::generate().map_err(rcgen_error)?;
        let mut params = ca_params(&format!("registry-operator-ca@{now}"));
        set_validity(&mut params, now - BACKDATE_SECS, now + CA_VALIDITY_DAYS * DAY)?;
        let cert = params.self_signed(&key).map_err(rcgen_error)?;
        Ok(OperatorCa {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// Reads the CA Secret; a CA this operator cannot sign with is an error
    /// (the caller replaces it with a new one).
    pub fn from_secret(secret: &Secret) -> crate::Result<OperatorCa> {
        let name = secret.metadata.name.as_deref().unwrap_or_default();
        let entry = |key: &str| {
            let bytes = secret.data.as_ref()?.get(key)?;
            String::from_utf8(bytes.0.clone()).ok()
        };
        let ca = OperatorCa {
            cert_pem: entry(TLS_CRT).unwrap_or_default(),
            key_pem: entry(TLS_KEY).unwrap_or_default(),
        };
        ca.issuer()
            .map_err(|e| Error::Inflate(format!("operator CA Secret {name} is unusable: {e}")))?;
        Ok(ca)
    }

    /// The CA Secret (`kubernetes.io/tls`; labels and owner are the caller's).
    pub fn to_secret(&self, name: &str, namespace: &str) -> Secret {
        tls_secret(name, namespace, &self.cert_pem, &self.key_pem)
    }

    /// A server certificate for `hosts` (ports stripped), valid for
    /// [`ISSUED_VALIDITY_DAYS`]; the chain is the certificate then the CA.
    pub fn issue(&self, hosts: &[&str]) -> crate::Result<CertPair> {
        let now = unix_now();
        self.issue_between(hosts, now - BACKDATE_SECS, now + ISSUED_VALIDITY_DAYS * DAY)
    }

    fn issue_between(&self, hosts: &[&str], not_before: i64, not_after: i64) -> crate::Result<CertPair> {
        let (ca_cert, ca_key) = self
            .issuer()
            .map_err(|e| Error::Inflate(format!("operator CA is unusable: {e}")))?;
        let mut names: Vec<String> = Vec::new();
        for host in hosts.iter().map(|h| strip_port(h).to_ascii_lowercase()) {
            if !host.is_empty() && !names.contains(&host) {
                names.push(host);
            }
        }
        let mut params = CertificateParams::new(names.clone()).map_err(rcgen_error)?;
        params.distinguished_name = DistinguishedName::new();
        // A common name holds at most 64 characters; the SANs carry the hosts.
        if let Some(first) = names.first().filter(|n| n.len() <= 64) {
            params.distinguished_name.push(DnType::CommonName, first.as_str());
        }
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        set_validity(&mut params, not_before, not_after)?;
        let key = KeyPair::generate().map_err(rcgen_error)?;
        let cert = params.signed_by(&key, &ca_cert, &ca_key).map_err(rcgen_error)?;
        Ok(CertPair {
            cert_pem: format!("{}{}", cert.pem(), self.cert_pem),
            key_pem: key.serialize_pem(),
        })
    }

    /// The CA as rcgen's issuer. rcgen (without its x509-parser feature)
    /// cannot load a certificate, so it is rebuilt from its common name and
    /// key; the rebuilt subject must equal the stored one byte for byte, or
    /// clients could not chain issued certificates to the stored CA.
    fn issuer(&self) -> Result<(rcgen::Certificate, KeyPair), String> {
        let key = parse_key(&self.key_pem)?;
        let blocks = pem_blocks(&self.cert_pem)?;
        let pem = blocks
            .iter()
            .find(|p| p.label == "CERTIFICATE")
            .ok_or("no CERTIFICATE block")?;
        let stored = pem
            .parse_x509()
            .map_err(|e| format!("certificate cannot be parsed: {e}"))?;
        if !stored.basic_constraints().ok().flatten().is_some_and(|bc| bc.value.ca) {
            return Err("the certificate is not a CA".into());
        }
        if key.public_key_raw() != stored.public_key().subject_public_key.data.as_ref() {
            return Err("the private key does not belong to the CA certificate".into());
        }
        let common_name = stored
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .ok_or("the CA certificate has no common name")?;
        let rebuilt = ca_params(common_name).self_signed(&key).map_err(|e| e.to_string())?;
        let (_, parsed) = x509_parser::parse_x509_certificate(rebuilt.der()).map_err(|e| e.to_string())?;
        if parsed.subject().as_raw() != stored.subject().as_raw() {
            return Err("the CA certificate was not made by this operator".into());
        }
        Ok((rebuilt, key))
    }
}

fn ca_params(common_name: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, common_name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

/// Sets the validity window (`time` is not a direct dependency, so the
/// dates come through x509-parser's `ASN1Time`).
fn set_validity(params: &mut CertificateParams, not_before: i64, not_after: i64) -> crate::Result<()> {
    let at = |unix: i64| {
        ASN1Time::from_timestamp(unix)
            .map(|t| t.to_datetime())
            .map_err(|e| Error::Inflate(format!("invalid certificate date {unix}: {e}")))
    };
    params.not_before = at(not_before)?;
    params.not_after = at(not_after)?;
    Ok(())
}

fn tls_secret(name: &str, namespace: &str, cert_pem: &str, key_pem: &str) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(namespace.to_owned()),
            ..ObjectMeta::default()
        },
        data: Some(
            [(TLS_CRT, cert_pem), (TLS_KEY, key_pem)]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), ByteString(v.as_bytes().to_vec())))
                .collect(),
        ),
        type_: Some(SECRET_TYPE_TLS.into()),
        ..Secret::default()
    }
}

/// What the checks need from a chain's first (leaf) certificate.
struct Leaf {
    dns_names: Vec<String>,
    ips: Vec<IpAddr>,
    /// The subjectPublicKey bits, comparable with `KeyPair::public_key_raw`.
    public_key: Vec<u8>,
    not_before: i64,
    not_after: i64,
}

impl Leaf {
    fn parse(cert_pem: &str) -> Result<Leaf, String> {
        let blocks = pem_blocks(cert_pem)?;
        let pem = blocks
            .iter()
            .find(|p| p.label == "CERTIFICATE")
            .ok_or("no CERTIFICATE block")?;
        let cert = pem
            .parse_x509()
            .map_err(|e| format!("certificate cannot be parsed: {e}"))?;
        let mut leaf = Leaf {
            dns_names: Vec::new(),
            ips: Vec::new(),
            public_key: cert.public_key().subject_public_key.data.to_vec(),
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
        };
        let san = cert
            .subject_alternative_name()
            .map_err(|e| format!("bad subjectAltName: {e}"))?;
        for name in san.iter().flat_map(|s| s.value.general_names.iter()) {
            match name {
                GeneralName::DNSName(dns) => leaf.dns_names.push(normalize(dns)),
                GeneralName::IPAddress(bytes) => leaf.ips.extend(ip_from_bytes(bytes)),
                _ => {}
            }
        }
        Ok(leaf)
    }

    /// Go's hostname rules: exact match, or `*.rest` covering one label.
    fn covers(&self, host: &str) -> bool {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return self.ips.contains(&ip);
        }
        let host = normalize(host);
        self.dns_names.iter().any(|pattern| match pattern.strip_prefix("*.") {
            Some(suffix) => host
                .split_once('.')
                .is_some_and(|(label, rest)| !label.is_empty() && !suffix.is_empty() && rest == suffix),
            None => *pattern == host,
        })
    }
}

fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from),
        _ => None,
    }
}

/// `host:port` → `host`; `[v6]:port` → `v6`; a bare IPv6 address (several
/// colons) has no port to strip.
pub fn strip_port(host: &str) -> &str {
    let host = host.trim();
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.split_once(':') {
        Some((name, port)) if !port.contains(':') => name,
        _ => host,
    }
}

fn pem_blocks(text: &str) -> Result<Vec<Pem>, String> {
    let blocks = Pem::iter_from_buffer(text.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("not valid PEM: {e}"))?;
    if blocks.is_empty() {
        return Err("no PEM block found".into());
    }
    Ok(blocks)
}

/// Reads a private key in PKCS#8, PKCS#1 (`RSA PRIVATE KEY`) or SEC1
/// (`EC PRIVATE KEY`) form.
fn parse_key(key_pem: &str) -> Result<KeyPair, String> {
    let blocks = pem_blocks(key_pem)?;
    let pem = blocks
        .iter()
        .find(|p| p.label.ends_with("PRIVATE KEY"))
        .ok_or("no PRIVATE KEY block")?;
    let key = match pem.label.as_str() {
        "PRIVATE KEY" => KeyPair::try_from(pem.contents.as_slice()).ok(),
        "RSA PRIVATE KEY" => KeyPair::try_from(pkcs8(RSA_ALGORITHM, &pem.contents).as_slice()).ok(),
        "EC PRIVATE KEY" => [EC_P256_ALGORITHM, EC_P384_ALGORITHM]
            .iter()
            .find_map(|alg| KeyPair::try_from(pkcs8(alg, &pem.contents).as_slice()).ok()),
        other => {
            return Err(format!(
                "unsupported private key `{other}` (encrypted keys cannot be read)"
            ))
        }
    };
    key.ok_or_else(|| {
        "the private key cannot be read (supported: RSA of 2048 bits or more, ECDSA P-256/P-384, Ed25519)".into()
    })
}

/// PrivateKeyInfo { version 0, algorithm, privateKey } around a raw key.
fn pkcs8(algorithm: &[u8], key: &[u8]) -> Vec<u8> {
    let mut body = vec![0x02, 0x01, 0x00];
    body.extend(der(0x30, algorithm));
    body.extend(der(0x04, key));
    der(0x30, &body)
}

/// One DER tag-length-value.
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len.to_be_bytes().into_iter().skip_while(|b| *b == 0).collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

/// Seconds since the epoch (chrono is built without its clock here).
/// Seconds since the epoch (chrono's clock feature is not enabled).
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn rcgen_error(e: rcgen::Error) -> Error {
    Error::Inflate(format!("cannot create certificate: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    /// A PKCS#1 (`openssl genrsa -traditional 2048`) test key.
    const RSA_PKCS1_KEY: &str = "\
-----BEGIN RSA PRIVATE KEY-----\n\
MIIEowIBAAKCAQEA4Hlh5MUDvBA822uurUT+nTqH8Kjiw5331r5NrCdG3/wTo+ys\n\
8zSdq5Q/dnB+8+3pAzw+zCNtRKtjJD7NLET82KnIu0+TmpueT7YJWGcJnkjwMIOy\n\
HubXraI+MGJxGo7g0vvJtSJZCtzZgSMZguM6QTuBiVRFVqt876HH261x6RN+WL36\n\
UeyzM3pJhBKXWQUf1CvmYlDXhC5+DlndDwN+/R4PPRSCACL40eKkkWs+IpKIAIbv\n\
OUWCtO8+NhIJZukXeEzVGM7q/b6SKQQJQB62m2NUxDleFpINOARE7JxSwtgLwKxE\n\
uteDsSZaW9sRUmTUBx3XhTU1MC/UrkCFZOFC4QIDAQABAoIBAFP/mA5PWxJo0R0a\n\
sobMJqsXV/9Kc3DYEAIfvFkLaY4vefoBesaXjdjC5OyhNCB7ipJXXPhu2Vi0+ah6\n\
h7RlLGi3QBI3uPhF+3vAlsap6AN/L8I3xdOidlrXN4ZLkB9sD91jsxtA+ykBc7LL\n\
O6Sq+wWmCtck3b2M9neFhpBB2zpoCZVjKO+APY/WDQRAFljnuZYX4fyAfxkvqsT3\n\
qM4JAXrBTGZ+SJwI1BEEb3HaWatGXHv8dsjGCrjUd0Cgl9oVgsRNt02xlxOi9NuT\n\
+/5LGITLNDzvTweqVDTS4V2ztdJxgzrsIU3dw1Rhhrppb/lDPDOm8DmFcstYYoDO\n\
/70PXfECgYEA83E1/2wtG23qIABt9iRYle20nDLaQ5d0ysfICBiGeNpVYw94cKWK\n\
hpGleFTMkv8Qbvro4QGHlM49Hfsk4f3q+GGpq1ZmRERJLHizHE1rpegqRwsBn19n\n\
7dMTGKCvgTj8ljAgz3mk3ZRk7BS/u0SZtvRIFJGYZ1Kwxgw0STG0dmsCgYEA7A2v\n\
/7aYP6BHqqNy6gQiDZOb0xiY55WNxkR/kQJ+swEO/zB2dLTlhmY7FImuSjVWV0vB\n\
hLSfXrF3dZDmzVu9+hMVSJ9d9DV905ptfZBK22v94EA3aUuhlcdTkRZM5tpTfMig\n\
4EB/bIKA7bb3fEX2UJGyGqHhZ4PwvJ0a4q0xRuMCgYA/YrLUlq4H/k5/lp0LAduu\n\
7f2gzfzWrJDUW8BRm1EoFnE1IcoSSogPEc0rz6iUfaUhwGLycxuCO1DehY3M6fhM\n\
Q+GRoyVtkPocgjDgpafpwtF/PfZmMMk2u0a1muEXnGboFA/29Y1fxEuizKQ/dlUv\n\
tdsuv9oWzQkKCBN1G2QJkQKBgDMtsIfvjcjVtlQPxf1o0f1BkJpPDe+/5BIljcbh\n\
1Jh41UiMuFILWmwuRAbq5ufd8o9QtG9SPe9o6K6LsQ67IlBSzN2G9/bXliVHqQ99\n\
Nk2md0+kfJ8Or8Tqh3rAbAHtOgam9QJJ2ZasIMnpTnUaMhI71HKjwFwSJiKuqUKW\n\
LEXjAoGBAKtQu1pECJ0d88QyHAbBB+9rYLYC3StbxTutJmKncoGOu84t+E8Dno3N\n\
p610KpFrAJPQST8ll+eHE/5MsIlhCVbb5eqjN0BF0J3dUgNgc2gzdLdssxSKc6eK\n\
ABjo8d+DjWfE/iJ8Styv4KqBMLfOT5cgqZQN/KOhIJXCS8pRsado\n\
-----END RSA PRIVATE KEY-----\n\
";

    fn self_signed(sans: &[&str]) -> CertPair {
        let key = KeyPair::generate().expect("key");
        let names: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
        let cert = CertificateParams::new(names)
            .expect("params")
            .self_signed(&key)
            .expect("cert");
        CertPair {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    fn pem(label: &str, der: &[u8]) -> String {
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).expect("ascii"))
            .collect();
        format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
    }

    fn at(unix: i64) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp(unix, 0).expect("valid time")
    }

    fn host_error(pair: &CertPair, host: &str) -> String {
        match validate_pair(pair, &[host]) {
            Err(err @ Error::Inflate(_)) => err.to_string(),
            other => panic!("{host}: expected a host error, got {other:?}"),
        }
    }

    #[test]
    fn a_certificate_covers_its_names_case_insensitively_and_without_ports() {
        let pair = self_signed(&["registry.example.com", "builds.example.com"]);
        for host in [
            "registry.example.com",
            "REGISTRY.example.com",
            "registry.example.com:8443",
            "builds.example.com.",
        ] {
            validate_pair(&pair, &[host]).unwrap_or_else(|e| panic!("{host}: {e}"));
        }
        validate_pair(&pair, &["registry.example.com", "builds.example.com:443"]).expect("both hosts");
        validate_pair(&pair, &[]).expect("no hosts to cover");
    }

    #[test]
    fn a_host_outside_the_sans_is_refused_with_quays_message() {
        let pair = self_signed(&["registry.example.com"]);
        let err = host_error(&pair, "other.example.com:443");
        assert_eq!(
            err,
            "could not inflate kubernetes objects: provided certificate pair not valid for host 'other.example.com'"
        );
        assert!(validate_pair(&pair, &["registry.example.com", "other.example.com"]).is_err());
    }

    #[test]
    fn a_wildcard_covers_exactly_one_label() {
        let pair = self_signed(&["*.apps.example.com"]);
        let cases = [
            ("reg.apps.example.com", true),
            ("reg.apps.example.com:443", true),
            ("apps.example.com", false),
            ("a.reg.apps.example.com", false),
            (".apps.example.com", false),
            ("reg.apps.example.org", false),
        ];
        for (host, covered) in cases {
            assert_eq!(validate_pair(&pair, &[host]).is_ok(), covered, "{host}");
        }
    }

    #[test]
    fn the_common_name_alone_does_not_cover_a_host() {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params
            .distinguished_name
            .push(DnType::CommonName, "registry.example.com");
        let cert = params.self_signed(&key).expect("cert");
        let pair = CertPair {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        };
        assert!(host_error(&pair, "registry.example.com").contains("'registry.example.com'"));
    }

    #[test]
    fn ip_hosts_match_ip_sans_only() {
        let pair = self_signed(&["10.0.0.7", "::1", "registry.example.com"]);
        for host in ["10.0.0.7", "10.0.0.7:8443", "[::1]:443", "::1"] {
            validate_pair(&pair, &[host]).unwrap_or_else(|e| panic!("{host}: {e}"));
        }
        host_error(&pair, "10.0.0.8");
    }

    #[test]
    fn a_key_of_another_certificate_is_refused() {
        let pair = CertPair {
            key_pem: self_signed(&["x"]).key_pem,
            ..self_signed(&["registry.example.com"])
        };
        let err = validate_pair(&pair, &["registry.example.com"]).expect_err("mismatch");
        assert!(matches!(err, Error::ConfigInvalid(_)), "{err:?}");
        assert!(err.to_string().contains("does not belong to the certificate"), "{err}");
    }

    #[test]
    fn garbage_pem_is_config_invalid() {
        let good = self_signed(&["registry.example.com"]);
        let cases = [
            ("not a certificate", good.key_pem.as_str()),
            ("", good.key_pem.as_str()),
            (
                "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                good.key_pem.as_str(),
            ),
            (good.cert_pem.as_str(), "garbage"),
            (good.cert_pem.as_str(), good.cert_pem.as_str()),
            (
                good.cert_pem.as_str(),
                "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
            ),
        ];
        for (cert, key) in cases {
            let pair = CertPair {
                cert_pem: cert.into(),
                key_pem: key.into(),
            };
            let err = validate_pair(&pair, &["registry.example.com"]).expect_err("garbage");
            assert!(matches!(err, Error::ConfigInvalid(_)), "{cert:?}/{key:?}: {err:?}");
            assert!(
                err.to_string().starts_with("provided certificate pair is invalid: "),
                "{err}"
            );
        }
    }

    #[test]
    fn pkcs1_rsa_and_sec1_ec_keys_are_read() {
        let rsa = parse_key(RSA_PKCS1_KEY).expect("PKCS#1 key reads");
        let mut params = CertificateParams::new(vec!["rsa.example.com".to_string()]).expect("params");
        params.distinguished_name = DistinguishedName::new();
        let cert = params.self_signed(&rsa).expect("RSA cert");
        let pair = CertPair {
            cert_pem: cert.pem(),
            key_pem: RSA_PKCS1_KEY.into(),
        };
        validate_pair(&pair, &["rsa.example.com"]).expect("PKCS#1 pair is valid");

        let ec = self_signed(&["ec.example.com"]);
        let pkcs8 = parse_key(&ec.key_pem).expect("key").serialize_der();
        let (_, info) = x509_parser::der_parser::der::parse_der_sequence(&pkcs8).expect("PKCS#8 parses");
        let fields = info.as_sequence().expect("sequence");
        let sec1 = fields[2].as_slice().expect("privateKey octets");
        let pair = CertPair {
            key_pem: pem("EC PRIVATE KEY", sec1),
            ..ec
        };
        validate_pair(&pair, &["ec.example.com"]).expect("SEC1 pair is valid");
    }

    #[test]
    fn ports_are_stripped_from_hosts() {
        let cases = [
            ("a.example.com:443", "a.example.com"),
            ("a.example.com", "a.example.com"),
            ("[::1]:8443", "::1"),
            ("::1", "::1"),
            (" 10.0.0.1:80 ", "10.0.0.1"),
        ];
        for (host, stripped) in cases {
            assert_eq!(strip_port(host), stripped, "{host}");
        }
    }

    #[test]
    fn the_operator_ca_round_trips_through_its_secret() {
        let ca = OperatorCa::generate().expect("CA");
        assert_eq!(operator_ca_secret("reg"), "reg-quay-operator-ca");
        let secret = ca.to_secret(&operator_ca_secret("reg"), "ns");
        assert_eq!(secret.type_.as_deref(), Some("kubernetes.io/tls"));
        assert_eq!(OperatorCa::from_secret(&secret).expect("reads back"), ca);
        assert!(!format!("{ca:?}").contains("PRIVATE"), "Debug hides the key");
        let leaf = Leaf::parse(&ca.cert_pem).expect("parses");
        assert!(leaf.not_after - unix_now() > 3000 * DAY, "long-lived");
    }

    #[test]
    fn a_ca_secret_the_operator_cannot_sign_with_is_refused() {
        let ca = OperatorCa::generate().expect("CA");
        let other = OperatorCa::generate().expect("CA");
        let leaf = self_signed(&["reg.example.com"]);
        let key = KeyPair::generate().expect("key");
        let mut foreign = ca_params("corp CA");
        foreign.distinguished_name.push(DnType::OrganizationName, "Corp");
        let foreign = OperatorCa {
            cert_pem: foreign.self_signed(&key).expect("cert").pem(),
            key_pem: key.serialize_pem(),
        };
        let cases = [
            (ca.cert_pem.as_str(), other.key_pem.as_str(), "does not belong"),
            (leaf.cert_pem.as_str(), leaf.key_pem.as_str(), "not a CA"),
            (
                foreign.cert_pem.as_str(),
                foreign.key_pem.as_str(),
                "not made by this operator",
            ),
            ("", "", "no PEM block"),
        ];
        for (cert, key, needle) in cases {
            let secret = tls_secret("reg-quay-operator-ca", "ns", cert, key);
            let err = OperatorCa::from_secret(&secret).expect_err("refused");
            assert!(err.to_string().contains(needle), "{err} lacks {needle}");
            assert!(err.to_string().contains("reg-quay-operator-ca"), "{err}");
        }
    }

    #[test]
    fn issued_certificates_cover_the_hosts_chain_to_the_ca_and_last_90_days() {
        let ca = OperatorCa::generate().expect("CA");
        let pair = ca
            .issue(&["reg-quay-ns.example.com", "builds.example.com:443", ""])
            .expect("issued");
        validate_pair(&pair, &["reg-quay-ns.example.com", "builds.example.com"]).expect("covers the hosts");
        let blocks = pem_blocks(&pair.cert_pem).expect("chain");
        assert_eq!(blocks.len(), 2, "leaf then CA");
        let issued = blocks[0].parse_x509().expect("leaf");
        let ca_blocks = pem_blocks(&ca.cert_pem).expect("CA");
        let ca_cert = ca_blocks[0].parse_x509().expect("CA");
        assert_eq!(issued.issuer().as_raw(), ca_cert.subject().as_raw());
        assert!(!issued.is_ca());
        let lifetime = issued.validity().not_after.timestamp() - unix_now();
        assert!(
            (ISSUED_VALIDITY_DAYS * DAY - 60..=ISSUED_VALIDITY_DAYS * DAY).contains(&lifetime),
            "{lifetime}"
        );
        assert!(!needs_renewal(&pair, &["reg-quay-ns.example.com"], at(unix_now())));
    }

    #[test]
    fn needs_renewal_when_expiring_expired_unreadable_or_for_other_hosts() {
        let ca = OperatorCa::generate().expect("CA");
        let now = unix_now();
        let host = ["reg.example.com"];
        let window = |from: i64, to: i64| ca.issue_between(&host, now + from, now + to).expect("issued");
        let cases = [
            (window(-DAY, 90 * DAY), &host[..], false),
            (window(-DAY, 31 * DAY), &host[..], false),
            (window(-DAY, 29 * DAY), &host[..], true),
            (window(-90 * DAY, -DAY), &host[..], true),
            (window(DAY, 90 * DAY), &host[..], true),
            (window(-DAY, 90 * DAY), &["new.example.com"][..], true),
            (
                CertPair {
                    cert_pem: "garbage".into(),
                    key_pem: "garbage".into(),
                },
                &host[..],
                true,
            ),
        ];
        for (i, (pair, hosts, renew)) in cases.iter().enumerate() {
            assert_eq!(needs_renewal(pair, hosts, at(now)), *renew, "case {i}");
        }
    }

    #[test]
    fn a_tls_secret_needs_its_type_and_both_entries() {
        let pair = self_signed(&["a.example.com"]);
        let secret = pair.to_tls_secret("my-tls", "ns");
        assert_eq!(CertPair::from_tls_secret(&secret).expect("reads"), pair);
        let mut opaque = secret.clone();
        opaque.type_ = Some("Opaque".into());
        let mut empty_key = secret.clone();
        empty_key
            .data
            .as_mut()
            .expect("data")
            .insert(TLS_KEY.into(), ByteString(Vec::new()));
        for bad in [opaque, empty_key] {
            let err = CertPair::from_tls_secret(&bad).expect_err("refused");
            assert!(matches!(err, Error::ConfigInvalid(_)));
            assert!(
                err.to_string().contains("`my-tls` must be a kubernetes.io/tls Secret"),
                "{err}"
            );
        }
    }

    #[test]
    fn the_secret_hash_is_8_hex_characters_that_follow_the_content() {
        let pair = self_signed(&["a.example.com"]);
        let hash = pair.secret_hash();
        assert!(hash.len() == 8 && hash.bytes().all(|b| b.is_ascii_hexdigit()), "{hash}");
        assert_eq!(pair.secret_hash(), hash);
        assert_ne!(self_signed(&["a.example.com"]).secret_hash(), hash);
    }
}
