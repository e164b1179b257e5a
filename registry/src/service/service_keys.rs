//! Service keys (Quay's `/superuser/keys`): key pairs of services that sign
//! their own JWTs. Only the public JWK is stored; the private key of a key
//! a superuser creates is returned once. A key is trusted once approved.
//! Keys are ECDSA P-256 (ES256), generated with `rcgen`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{Error, Registry};
use crate::db::models::Account;
use crate::db::queries::service_keys::{self as q, ServiceKeyRow};

/// Quay's approval type for keys approved through the superuser API.
pub const APPROVAL_SUPERUSER: &str = "Super User API";

/// A stored key with its approval.
#[derive(Debug, Clone)]
pub struct ServiceKey {
    pub kid: String,
    pub name: String,
    pub service: String,
    pub jwk: Value,
    pub metadata: Value,
    pub created_ms: i64,
    pub expiration_ms: Option<i64>,
    pub rotation_duration_s: Option<i64>,
    pub approval: Option<Approval>,
}

#[derive(Debug, Clone)]
pub struct Approval {
    pub approver: Option<Account>,
    pub approval_type: String,
    pub approved_ms: i64,
    pub notes: String,
}

/// A new key: its record and the PEM halves of the pair.
pub struct GeneratedKey {
    pub key: ServiceKey,
    pub public_pem: String,
    pub private_pem: String,
}

/// What a superuser asks for when creating a key.
pub struct NewServiceKey {
    pub service: String,
    pub name: String,
    pub metadata: Value,
    pub expiration_ms: Option<i64>,
}

fn parse_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| json!({}))
}

impl From<(ServiceKeyRow, Option<Account>)> for ServiceKey {
    fn from((r, approver): (ServiceKeyRow, Option<Account>)) -> ServiceKey {
        let approval = match (r.approval_type, r.approved_ms) {
            (Some(approval_type), Some(approved_ms)) => Some(Approval {
                approver,
                approval_type,
                approved_ms,
                notes: r.approval_notes.unwrap_or_default(),
            }),
            _ => None,
        };
        ServiceKey {
            kid: r.kid,
            name: r.name,
            service: r.service,
            jwk: parse_json(&r.jwk_json),
            metadata: parse_json(&r.metadata_json),
            created_ms: r.created_ms,
            expiration_ms: r.expiration_ms,
            rotation_duration_s: r.rotation_duration_s,
            approval,
        }
    }
}

/// Quay's friendly-name rule: letters, digits, `_`, `-`, `.` and spaces.
pub fn valid_key_name(name: &str) -> bool {
    name.chars()
        .all(|c| c.is_alphanumeric() || c.is_whitespace() || matches!(c, '_' | '-' | '.'))
}

/// An expiration in the future, from a unix timestamp in seconds.
pub fn expiration_from_unix(seconds: f64, past_message: &str) -> Result<i64, Error> {
    if !seconds.is_finite() {
        return Err(Error::InvalidRequest("Invalid expiration date".into()));
    }
    let ms = (seconds * 1000.0) as i64;
    if ms <= crate::now_ms() {
        return Err(Error::InvalidRequest(past_message.into()));
    }
    Ok(ms)
}

/// The public JWK of a P-256 key (uncompressed SEC1 point) and its
/// RFC 7638 thumbprint, used as the key id.
fn ec_jwk(point: &[u8]) -> Result<(Value, String), Error> {
    let coords = point
        .strip_prefix(&[0x04])
        .filter(|c| c.len() == 64)
        .ok_or_else(|| Error::InvalidRequest("Could not make a service key".into()))?;
    let (x, y) = (
        URL_SAFE_NO_PAD.encode(&coords[..32]),
        URL_SAFE_NO_PAD.encode(&coords[32..]),
    );
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
    let jwk = json!({"kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": kid, "alg": "ES256", "use": "sig"});
    Ok((jwk, kid))
}

fn generate_pair() -> Result<(Value, String, String, String), Error> {
    let failed = |e: rcgen::Error| Error::InvalidRequest(format!("Could not make a service key: {e}"));
    let pair = rcgen::KeyPair::generate().map_err(failed)?;
    let (jwk, kid) = ec_jwk(pair.public_key_raw())?;
    Ok((jwk, kid, pair.public_key_pem(), pair.serialize_pem()))
}

fn missing() -> Error {
    Error::NotFound("Not Found".into())
}

impl Registry {
    pub async fn service_keys(&self) -> Result<Vec<ServiceKey>, Error> {
        let rows = self.db().read(|c| Ok(q::list(c)?)).await?;
        Ok(rows.into_iter().map(ServiceKey::from).collect())
    }

    pub async fn service_key(&self, kid: &str) -> Result<ServiceKey, Error> {
        let kid = kid.to_owned();
        let row = self.db().read(move |c| Ok(q::find(c, &kid)?)).await?;
        row.map(ServiceKey::from).ok_or_else(missing)
    }

    /// Generates a key pair for `new.service`; the private key is returned
    /// and never stored.
    pub async fn generate_service_key(&self, new: NewServiceKey) -> Result<GeneratedKey, Error> {
        let (jwk, kid, public_pem, private_pem) = generate_pair()?;
        let row = ServiceKeyRow {
            kid,
            name: new.name,
            service: new.service,
            jwk_json: jwk.to_string(),
            metadata_json: new.metadata.to_string(),
            created_ms: crate::now_ms(),
            expiration_ms: new.expiration_ms,
            rotation_duration_s: None,
            approver_id: None,
            approval_type: None,
            approved_ms: None,
            approval_notes: None,
        };
        let stored = row.clone();
        self.db().write(move |c| Ok::<_, Error>(q::insert(c, &stored)?)).await?;
        Ok(GeneratedKey {
            key: (row, None).into(),
            public_pem,
            private_pem,
        })
    }

    /// Approves a key; `Ok(None)` when it was approved already.
    pub async fn approve_service_key(
        &self,
        kid: &str,
        approver: &Account,
        notes: &str,
    ) -> Result<Option<ServiceKey>, Error> {
        let (k, id, notes, now) = (kid.to_owned(), approver.id, notes.to_owned(), crate::now_ms());
        let (found, changed) = self
            .db()
            .write(move |c| {
                let Some(_) = q::find(c, &k)? else {
                    return Ok::<_, Error>((None, false));
                };
                let changed = q::approve(c, &k, id, APPROVAL_SUPERUSER, &notes, now)?;
                Ok((q::find(c, &k)?, changed))
            })
            .await?;
        let key = found.map(ServiceKey::from).ok_or_else(missing)?;
        Ok(changed.then_some(key))
    }

    pub async fn set_service_key_expiration(&self, kid: &str, expiration_ms: Option<i64>) -> Result<(), Error> {
        let kid = kid.to_owned();
        self.db()
            .write(move |c| Ok::<_, Error>(q::set_expiration(c, &kid, expiration_ms)?))
            .await
    }

    /// Renames the key and/or replaces its metadata.
    pub async fn update_service_key(
        &self,
        kid: &str,
        name: Option<String>,
        metadata: Option<Value>,
    ) -> Result<(), Error> {
        let kid = kid.to_owned();
        self.db()
            .write(move |c| {
                if let Some(n) = &name {
                    q::set_name(c, &kid, n)?;
                }
                if let Some(m) = &metadata {
                    q::set_metadata(c, &kid, &m.to_string())?;
                }
                Ok::<_, Error>(())
            })
            .await
    }

    /// Deletes the key and returns what it was.
    pub async fn delete_service_key(&self, kid: &str) -> Result<ServiceKey, Error> {
        let kid = kid.to_owned();
        let row = self
            .db()
            .write(move |c| {
                let found = q::find(c, &kid)?;
                if found.is_some() {
                    q::delete(c, &kid)?;
                }
                Ok::<_, Error>(found)
            })
            .await?;
        row.map(ServiceKey::from).ok_or_else(missing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_have_a_p256_jwk_named_by_its_thumbprint() {
        let (jwk, kid, public_pem, private_pem) = generate_pair().expect("key");
        assert_eq!(jwk["kty"], "EC");
        assert_eq!(jwk["kid"], kid.as_str());
        assert_eq!(kid.len(), 43, "{kid}");
        assert!(public_pem.contains("BEGIN PUBLIC KEY"), "{public_pem}");
        assert!(private_pem.contains("PRIVATE KEY"), "{private_pem}");
    }

    #[test]
    fn key_names_follow_quays_rule() {
        assert!(valid_key_name("my key-1.0_x"));
        assert!(valid_key_name(""));
        assert!(!valid_key_name("bad/name"));
        assert!(!valid_key_name("<script>"));
    }
}
