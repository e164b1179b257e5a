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

/// Keeps (or creates) a CA under `dir` and issues a fresh server certificate
/// for `hosts` from it on every start, so a changed `SERVER_HOSTNAME` is
/// covered while clients keep trusting the same CA. Private keys are
/// written readable by their owner only.
pub fn self_signed(dir: &Path, hosts: &[String]) -> Result<Generated, TlsError> {
    let out = Generated {
        ca_cert: dir.join("ca.crt"),
        cert: dir.join("ssl.cert"),
        key: dir.join("ssl.key"),
    };
    let ca_key_path = dir.join("ca.key");
    let setup = |e: rcgen::Error| TlsError::Setup(e.to_string());
    std::fs::create_dir_all(dir).map_err(|e| file_err(dir, e))?;
    let existing = if out.ca_cert.exists() && ca_key_path.exists() {
        let pem = std::fs::read_to_string(&ca_key_path).map_err(|e| file_err(&ca_key_path, e))?;
        Some(KeyPair::from_pem(&pem).map_err(|e| file_err(&ca_key_path, e))?)
    } else {
        None
    };
    let fresh_ca = existing.is_none();
    let ca_key = match existing {
        Some(k) => k,
        None => KeyPair::generate().map_err(setup)?,
    };
    // The same subject and key give the same issuer, so certificates signed
    // now verify against the ca.crt clients already trust.
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(setup)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "registry local CA");
    let ca = ca_params.self_signed(&ca_key).map_err(setup)?;
    if fresh_ca {
        write_private(&ca_key_path, &ca_key.serialize_pem())?;
        std::fs::write(&out.ca_cert, ca.pem()).map_err(|e| file_err(&out.ca_cert, e))?;
    }
    let mut params = CertificateParams::new(hosts.to_vec()).map_err(setup)?;
    params.distinguished_name.push(
        DnType::CommonName,
        hosts.first().cloned().unwrap_or_else(|| "localhost".into()),
    );
    let key = KeyPair::generate().map_err(setup)?;
    let cert = params.signed_by(&key, &ca, &ca_key).map_err(setup)?;
    write_private(&out.key, &key.serialize_pem())?;
    std::fs::write(&out.cert, cert.pem()).map_err(|e| file_err(&out.cert, e))?;
    Ok(out)
}

/// Writes a secret file with mode 0600.
fn write_private(path: &Path, text: &str) -> Result<(), TlsError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| file_err(path, e))
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
    fn a_restart_keeps_the_ca_and_covers_new_hosts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = self_signed(dir.path(), &["localhost".into()]).expect("generate");
        let ca_before = std::fs::read(&first.ca_cert).expect("ca");
        let second = self_signed(dir.path(), &["registry.example.test".into()]).expect("again");
        assert_eq!(std::fs::read(&second.ca_cert).expect("ca"), ca_before);
        assert!(server_config(&second.cert, &second.key).is_ok());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&second.key).expect("key").permissions().mode();
        assert_eq!(mode & 0o077, 0, "private key is not readable by others");
    }

    #[test]
    fn a_missing_key_file_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let g = self_signed(dir.path(), &["localhost".into()]).expect("generate");
        let err = server_config(&g.cert, &dir.path().join("nope.key")).expect_err("missing");
        assert!(err.to_string().contains("nope.key"));
    }
}
