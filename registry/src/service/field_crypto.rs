//! Secrets kept in the database encrypted with `DATABASE_SECRET_KEY`, in
//! Quay's format so a database moved from Quay stays readable: `v0$$`
//! followed by base64 of a 13-byte nonce and the AES-256-CCM ciphertext
//! with its 16-byte tag. The key is Quay's conversion of the configured
//! value (a decimal integer's bytes, else a UUID's 16 bytes, else the
//! text's bytes), repeated to 32 bytes.
//!
//! Without `DATABASE_SECRET_KEY` (the embedded default) a random key is
//! made once and kept in the database like the token signing key: secrets
//! are then protected from a stolen dump of one table only. Production
//! configs set it (the operator generates one).

use aes::Aes256;
use base64::Engine as _;
use ccm::aead::{Aead, KeyInit};
use ccm::consts::{U13, U16};
use ccm::Ccm;

use super::{random_token, Error, Registry};

type Cipher = Ccm<Aes256, U16, U13>;

const PREFIX: &str = "v0";
const SEPARATOR: &str = "$$";
const NONCE_LEN: usize = 13;
/// The name of the generated key, when the config has none.
const GENERATED_KEY: &str = "database-secret-key";

/// Quay's `convert_secret_key`: the 32 AES key bytes of a configured key.
pub fn convert_secret_key(configured: &str) -> [u8; 32] {
    let bytes = integer_bytes(configured)
        .or_else(|| uuid::Uuid::parse_str(configured).ok().map(|u| u.as_bytes().to_vec()))
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| configured.as_bytes().to_vec());
    let mut key = [0u8; 32];
    if !bytes.is_empty() {
        for (slot, byte) in key.iter_mut().zip(bytes.iter().cycle()) {
            *slot = *byte;
        }
    }
    key
}

/// The big-endian bytes of a decimal integer, as Python's
/// `bytearray.fromhex("{:02x}".format(int(text)))` gives them; `None` when
/// that would fail (not an integer, or an odd number of hex digits).
fn integer_bytes(text: &str) -> Option<Vec<u8>> {
    let digits = text.trim();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut value: Vec<u8> = vec![0];
    for d in digits.bytes().map(|b| b - b'0') {
        let mut carry = u16::from(d);
        for byte in value.iter_mut().rev() {
            let v = u16::from(*byte) * 10 + carry;
            *byte = (v & 0xff) as u8;
            carry = v >> 8;
        }
        while carry > 0 {
            value.insert(0, (carry & 0xff) as u8);
            carry >>= 8;
        }
    }
    while value.len() > 1 && value[0] == 0 {
        value.remove(0);
    }
    // "{:02x}" pads to two digits only: a longer value whose top byte is
    // below 0x10 has an odd number of digits, which fromhex refuses.
    (value.len() == 1 || value[0] >= 0x10).then_some(value)
}

/// Encrypts `plain` with `key` in Quay's `v0` format.
pub fn encrypt(key: &[u8; 32], plain: &str) -> Result<String, Error> {
    let cipher = Cipher::new(key.into());
    let nonce: [u8; NONCE_LEN] = rand::random();
    let sealed = cipher
        .encrypt((&nonce).into(), plain.as_bytes())
        .map_err(|_| Error::Unavailable("encrypting a field failed".into()))?;
    let mut out = nonce.to_vec();
    out.extend(sealed);
    Ok(format!(
        "{PREFIX}{SEPARATOR}{}",
        base64::engine::general_purpose::STANDARD.encode(out)
    ))
}

/// Decrypts a `v0` value; an error when it is not one or the key differs.
pub fn decrypt(key: &[u8; 32], stored: &str) -> Result<String, Error> {
    let refused =
        || Error::Unavailable("a stored secret could not be decrypted (was DATABASE_SECRET_KEY changed?)".into());
    let (prefix, data) = stored.split_once(SEPARATOR).ok_or_else(refused)?;
    if prefix != PREFIX {
        return Err(refused());
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|_| refused())?;
    if raw.len() < NONCE_LEN {
        return Err(refused());
    }
    let (nonce, sealed) = raw.split_at(NONCE_LEN);
    let plain = Cipher::new(key.into())
        .decrypt(nonce.into(), sealed)
        .map_err(|_| refused())?;
    String::from_utf8(plain).map_err(|_| refused())
}

impl Registry {
    /// The AES key of `DATABASE_SECRET_KEY`, or of the generated key.
    async fn field_key(&self) -> Result<[u8; 32], Error> {
        if let Some(configured) = &self.settings().database_secret_key {
            return Ok(convert_secret_key(configured));
        }
        let generated = self.shared_secret(GENERATED_KEY, || Ok(random_token(48))).await?;
        Ok(convert_secret_key(&generated))
    }

    /// A secret to store: encrypted as Quay does.
    pub async fn encrypt_field(&self, plain: &str) -> Result<String, Error> {
        encrypt(&self.field_key().await?, plain)
    }

    /// A stored secret, decrypted.
    pub async fn decrypt_field(&self, stored: &str) -> Result<String, Error> {
        decrypt(&self.field_key().await?, stored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_converted_as_quay_converts_them() {
        // Text: its bytes, repeated.
        assert_eq!(&convert_secret_key("abc")[..6], b"abcabc");
        // A UUID: its 16 bytes, twice.
        let u = "6ba7b810-9dad-11d1-80b4-00c04fd430c8";
        let k = convert_secret_key(u);
        assert_eq!(&k[..16], uuid::Uuid::parse_str(u).expect("uuid").as_bytes());
        assert_eq!(k[..16], k[16..]);
        // A decimal integer: its big-endian bytes (258 = 0x0102 has an odd
        // number of hex digits, so Quay falls back to the text's bytes).
        assert_eq!(&convert_secret_key("4660")[..4], &[0x12, 0x34, 0x12, 0x34]);
        assert_eq!(&convert_secret_key("258")[..3], b"258");
        assert_eq!(&convert_secret_key("7")[..2], &[7, 7]);
    }

    #[test]
    fn a_value_round_trips_and_is_refused_under_another_key() {
        let key = convert_secret_key("the-database-secret");
        let stored = encrypt(&key, "upstream-password").expect("encrypt");
        assert!(stored.starts_with("v0$$"), "{stored}");
        assert!(!stored.contains("upstream-password"));
        assert_ne!(
            stored,
            encrypt(&key, "upstream-password").expect("again"),
            "fresh nonce"
        );
        assert_eq!(decrypt(&key, &stored).expect("decrypt"), "upstream-password");
        let other = convert_secret_key("another-secret");
        assert!(decrypt(&other, &stored).is_err());
        for bad in ["", "v0$$", "v1$$AAAA", "no separator", "v0$$not base64!"] {
            assert!(decrypt(&key, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_value_encrypted_the_way_quay_does_decrypts() {
        // Made outside this code with Python's `cryptography` AESCCM (the
        // library Quay uses): key "quay-test-key" converted as Quay does,
        // nonce of thirteen 7s, plaintext "s3cret".
        let key = convert_secret_key("quay-test-key");
        let stored = "v0$$BwcHBwcHBwcHBwcHB6v7yM6IGbfNx5Z1BPu6tQb+QKn7LhY=";
        assert_eq!(decrypt(&key, stored).expect("decrypt"), "s3cret");
    }
}
