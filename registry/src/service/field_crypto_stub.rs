//! Temporary stand-in for the field encryption landing on main
//! (`service/field_crypto.rs`); replaced by it on merge.

use super::{Error, Registry};

impl Registry {
    pub async fn encrypt_field(&self, plain: &str) -> Result<String, Error> {
        use base64::Engine as _;
        Ok(format!(
            "stub:{}",
            base64::engine::general_purpose::STANDARD.encode(plain)
        ))
    }

    pub async fn decrypt_field(&self, stored: &str) -> Result<String, Error> {
        use base64::Engine as _;
        let encoded = stored.strip_prefix("stub:").unwrap_or(stored);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|_| Error::InvalidRequest("stored field is not readable".into()))?;
        String::from_utf8(bytes).map_err(|_| Error::InvalidRequest("stored field is not readable".into()))
    }
}
