//! The download link of an export: served by the registry itself (so it
//! works on every storage backend) as
//! `/exportedlogs/{export_id}?expires=<unix seconds>&signature=<hex>`, the
//! signature an HMAC-SHA256 over the id and the expiry with a key kept in
//! the database (`servicekey`), so every replica signs and checks alike.

use sha2::{Digest as _, Sha256};

use crate::db::queries::log_exports as q;
use crate::service::accounts::constant_time_eq;
use crate::service::{Error, Registry};
use crate::storage::ByteStream;

const SERVICE_KEY: &str = "log_export_signing_key";

/// Why a download link is refused.
#[derive(Debug, thiserror::Error)]
pub enum ExportLinkError {
    #[error("The signature of this exported logs link is invalid")]
    BadSignature,
    #[error("This exported logs link has expired; request a new export")]
    Expired,
    #[error("These exported logs no longer exist")]
    Gone,
    #[error(transparent)]
    Internal(#[from] Error),
}

/// HMAC-SHA256 (RFC 2104).
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.map(|b| b ^ byte);
    let inner = Sha256::new().chain_update(pad(0x36)).chain_update(message).finalize();
    let outer = Sha256::new().chain_update(pad(0x5c)).chain_update(inner).finalize();
    outer.into()
}

fn signature(key: &[u8], export_id: &str, expires_s: i64) -> String {
    hex::encode(hmac_sha256(key, format!("{export_id}\n{expires_s}").as_bytes()))
}

impl Registry {
    /// The key links are signed with; created once, shared by all replicas.
    async fn log_export_key(&self) -> Result<Vec<u8>, Error> {
        let key = self
            .shared_secret(SERVICE_KEY, || Ok(hex::encode(rand::random::<[u8; 32]>())))
            .await?;
        Ok(key.into_bytes())
    }

    /// The signed download link of an export, valid until `expires_s`
    /// (Unix seconds), under `link_base` (`scheme://host`).
    pub async fn log_export_url(&self, link_base: &str, export_id: &str, expires_s: i64) -> Result<String, Error> {
        let sig = signature(&self.log_export_key().await?, export_id, expires_s);
        Ok(format!(
            "{}/exportedlogs/{export_id}?expires={expires_s}&signature={sig}",
            link_base.trim_end_matches('/')
        ))
    }

    /// The exported JSON behind a link, checked at `now_ms`: the signature
    /// first, then the expiry, then that the file still exists.
    pub async fn open_log_export_at(
        &self,
        export_id: &str,
        expires_s: i64,
        sig: &str,
        now_ms: i64,
    ) -> Result<ByteStream<'static>, ExportLinkError> {
        let expected = signature(&self.log_export_key().await?, export_id, expires_s);
        if !constant_time_eq(expected.as_bytes(), sig.to_ascii_lowercase().as_bytes()) {
            return Err(ExportLinkError::BadSignature);
        }
        if expires_s.saturating_mul(1000) <= now_ms {
            return Err(ExportLinkError::Expired);
        }
        let id = export_id.to_owned();
        let row = self
            .db()
            .read(move |c| Ok(q::find(c, &id)?))
            .await
            .map_err(Error::from)?;
        let key = match row {
            Some(r) if r.status == q::SUCCESS => r.storage_key.ok_or(ExportLinkError::Gone)?,
            _ => return Err(ExportLinkError::Gone),
        };
        match self.store().read_object(&key).await {
            Ok(body) => Ok(body),
            Err(crate::storage::StorageError::NotFound) => Err(ExportLinkError::Gone),
            Err(e) => Err(Error::from(e).into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_test_cases() {
        let tag = hmac_sha256(&[0x0b; 20], b"Hi There");
        assert_eq!(
            hex::encode(tag),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        let long_key = hmac_sha256(&[0xaa; 131], b"Test Using Larger Than Block-Size Key - Hash Key First");
        assert_eq!(
            hex::encode(long_key),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn the_signature_covers_the_id_and_the_expiry() {
        let base = signature(b"key", "abc", 100);
        assert_ne!(base, signature(b"key", "abd", 100));
        assert_ne!(base, signature(b"key", "abc", 101));
        assert_ne!(base, signature(b"other", "abc", 100));
    }
}
