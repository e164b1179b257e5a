//! HTTPS: Quay's `ssl.cert`/`ssl.key` from the config directory, or a CA and
//! server certificate generated with rcgen (`serve --self-signed`).

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use rustls::ServerConfig;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("TLS: {0}")]
    Setup(String),
}

fn file_err(path: &Path, message: impl ToString) -> TlsError {
    TlsError::File {
        path: path.to_owned(),
        message: message.to_string(),
    }
}

/// Builds a rustls server config from PEM certificate chain and key files.
pub fn server_config(cert: &Path, key: &Path) -> Result<ServerConfig, TlsError> {
    let open = |p: &Path| std::fs::File::open(p).map(BufReader::new).map_err(|e| file_err(p, e));
    let certs = rustls_pemfile::certs(&mut open(cert)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_err(cert, e))?;
    if certs.is_empty() {
        return Err(file_err(cert, "no certificate in file"));
    }
    let key_der = rustls_pemfile::private_key(&mut open(key)?)
        .map_err(|e| file_err(key, e))?
        .ok_or_else(|| file_err(key, "no private key in file"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Setup(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .map_err(|e| TlsError::Setup(e.to_string()))
}

/// Paths of a generated certificate set.
#[derive(Debug, Clone)]
pub struct Generated {
    pub ca_cert: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Generates (or reuses) a CA and a server certificate for `hosts` under `dir`.
pub fn self_signed(dir: &Path, hosts: &[String]) -> Result<Generated, TlsError> {
    let out = Generated {
        ca_cert: dir.join("ca.crt"),
        cert: dir.join("ssl.cert"),
        key: dir.join("ssl.key"),
    };
    if out.ca_cert.exists() && out.cert.exists() && out.key.exists() {
        return Ok(out);
    }
    let setup = |e: rcgen::Error| TlsError::Setup(e.to_string());
    std::fs::create_dir_all(dir).map_err(|e| file_err(dir, e))?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(setup)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "registry local CA");
    let ca_key = KeyPair::generate().map_err(setup)?;
    let ca = ca_params.self_signed(&ca_key).map_err(setup)?;
    let mut params = CertificateParams::new(hosts.to_vec()).map_err(setup)?;
    params.distinguished_name.push(
        DnType::CommonName,
        hosts.first().cloned().unwrap_or_else(|| "localhost".into()),
    );
    let key = KeyPair::generate().map_err(setup)?;
    let cert = params.signed_by(&key, &ca, &ca_key).map_err(setup)?;
    let write = |p: &Path, s: String| std::fs::write(p, s).map_err(|e| file_err(p, e));
    write(&out.ca_cert, ca.pem())?;
    write(&out.cert, format!("{}{}", cert.pem(), ca.pem()))?;
    write(&out.key, key.serialize_pem())?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_certificates_load_into_rustls() {
        let dir = tempfile::tempdir().expect("tempdir");
        let g = self_signed(dir.path(), &["localhost".into(), "127.0.0.1".into()]).expect("generate");
        assert!(server_config(&g.cert, &g.key).is_ok());
        assert!(std::fs::read_to_string(&g.ca_cert)
            .expect("ca")
            .contains("BEGIN CERTIFICATE"));
    }

    #[test]
    fn a_missing_key_file_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let g = self_signed(dir.path(), &["localhost".into()]).expect("generate");
        let err = server_config(&g.cert, &dir.path().join("nope.key")).expect_err("missing");
        assert!(err.to_string().contains("nope.key"));
    }
}
