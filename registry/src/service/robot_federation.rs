//! Robot identity federation (Quay's keyless robot auth): an organization
//! admin names the OIDC issuers and subjects whose tokens stand for a robot;
//! such a token (a CI job's, for example) is exchanged at
//! `/oauth2/federation/robot/token` for a short-lived robot token that
//! works as the robot's password. The issuer's keys come from its OpenID
//! discovery document; audiences are not checked, as in Quay.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::external_login::issuer_keys;
use super::logs::LogEntry;
use super::{Error, Registry, Robot};
use crate::db::models::Account;
use crate::db::queries::robots as q;

/// How long an exchanged robot token is valid (Quay: one hour).
pub const FEDERATED_TOKEN_TTL_S: i64 = 3600;
const ISSUER: &str = "quay-robot-federation";

/// One trusted `{issuer, subject}` pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FederationEntry {
    pub issuer: String,
    pub subject: String,
}

#[derive(Serialize, Deserialize)]
struct RobotClaims {
    iss: String,
    sub: String,
    iat: i64,
    exp: i64,
}

#[derive(Deserialize)]
struct ExternalClaims {
    iss: Option<String>,
    sub: Option<String>,
}

/// Checks a posted federation config as Quay does: every entry has both
/// fields, the issuer is an http(s) URL, and no pair appears twice.
pub fn parse_federation_config(body: &Value) -> Result<Vec<FederationEntry>, Error> {
    let bad = |m: &str| Error::InvalidRequest(m.to_owned());
    let items = body
        .as_array()
        .ok_or_else(|| bad("Expected a list of federation entries"))?;
    let mut entries: Vec<FederationEntry> = Vec::new();
    for item in items {
        let field = |k: &str| item.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
        let (Some(issuer), Some(subject)) = (field("issuer"), field("subject")) else {
            return Err(bad("Missing one or more required fields (issuer, subject)"));
        };
        if !(issuer.starts_with("http://") || issuer.starts_with("https://")) {
            return Err(bad("Issuer must be a URL (http:// or https://)"));
        }
        let entry = FederationEntry {
            issuer: issuer.to_owned(),
            subject: subject.to_owned(),
        };
        if entries.contains(&entry) {
            return Err(bad("Duplicate federation config entry"));
        }
        entries.push(entry);
    }
    Ok(entries)
}

fn unauthenticated(message: impl Into<String>) -> Error {
    Error::Unauthenticated(message.into())
}

/// The claims of a JWT read without checking its signature (to learn
/// which issuer's keys to check it with).
fn unverified_claims(token: &str) -> Option<ExternalClaims> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

impl Registry {
    pub async fn robot_federation(&self, robot: &Robot) -> Result<Vec<FederationEntry>, Error> {
        let id = robot.account.id;
        let text = self.db().read(move |c| Ok(q::federation(c, id)?)).await?;
        Ok(serde_json::from_str(&text).unwrap_or_default())
    }

    /// Replaces the robot's federation config.
    pub async fn set_robot_federation(&self, robot: &Robot, entries: &[FederationEntry]) -> Result<(), Error> {
        let (id, text) = (robot.account.id, json!(entries).to_string());
        self.db()
            .write(move |c| Ok::<_, Error>(q::set_federation(c, id, &text)?))
            .await
    }

    /// Exchanges an external OIDC token for a short-lived token of the
    /// robot `full_name`, if one of its federation entries trusts the
    /// token's issuer and subject and the issuer's keys verify it.
    /// `ip` is the client's address, for the usage log.
    pub async fn exchange_federated_token(
        &self,
        full_name: &str,
        token: &str,
        ip: Option<String>,
    ) -> Result<String, Error> {
        let Some((namespace, short)) = full_name.split_once('+') else {
            return Err(unauthenticated("Invalid robot"));
        };
        let owner = self
            .account(namespace)
            .await?
            .ok_or_else(|| unauthenticated("Invalid robot"))?;
        let robot = match self.robot(&owner, short).await {
            Ok(robot) => robot,
            // A missing robot is Quay's 400 elsewhere; here it is no robot.
            Err(Error::InvalidRequest(_)) => return Err(unauthenticated("Invalid robot")),
            Err(e) => return Err(e),
        };
        let claims = unverified_claims(token).ok_or_else(|| unauthenticated("Invalid token"))?;
        let issuer = claims
            .iss
            .ok_or_else(|| unauthenticated("Token does not contain issuer"))?;
        let config = self.robot_federation(&robot).await?;
        if config.is_empty() {
            return Err(unauthenticated("Robot does not have federated login configured"));
        }
        let subjects: Vec<&str> = config
            .iter()
            .filter(|e| e.issuer == issuer)
            .map(|e| e.subject.as_str())
            .collect();
        if subjects.is_empty() {
            return Err(unauthenticated(format!(
                "issuer {issuer} not configured for this robot"
            )));
        }
        verify_external(&issuer, token).await?;
        let subject = claims.sub.unwrap_or_default();
        if !subjects.contains(&subject.as_str()) {
            return Err(unauthenticated("Token does not match robot"));
        }
        let metadata = json!({"subject": subject, "issuer": issuer, "robot": short});
        self.log_action(
            LogEntry::new("federated_robot_token_exchange", Some(&robot.account), ip)
                .account(owner.id)
                .metadata(metadata),
        );
        self.issue_federated_robot_token(&robot.account).await
    }

    async fn issue_federated_robot_token(&self, robot: &Account) -> Result<String, Error> {
        let now = crate::now_ms() / 1000;
        let claims = RobotClaims {
            iss: ISSUER.into(),
            sub: robot.username.clone(),
            iat: now,
            exp: now + FEDERATED_TOKEN_TTL_S,
        };
        let key = self.signing_key().await?;
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(&key))
            .map_err(|e| Error::InvalidRequest(format!("cannot sign token: {e}")))
    }

    /// Whether `token` is an unexpired exchanged token of robot
    /// `full_name` (an error only when the signing key cannot be read).
    pub(super) async fn federated_robot_token_valid(&self, full_name: &str, token: &str) -> Result<bool, Error> {
        if token.split('.').count() != 3 {
            return Ok(false);
        }
        let key = self.signing_key().await?;
        let mut v = Validation::new(Algorithm::HS256);
        v.validate_aud = false;
        v.set_issuer(&[ISSUER]);
        Ok(
            jsonwebtoken::decode::<RobotClaims>(token, &DecodingKey::from_secret(&key), &v)
                .is_ok_and(|d| d.claims.sub == full_name),
        )
    }
}

/// Verifies the token's signature, issuer and lifetime with the issuer's
/// published keys.
async fn verify_external(issuer: &str, token: &str) -> Result<(), Error> {
    let invalid = |e: &dyn std::fmt::Display| unauthenticated(format!("Invalid token: {e}"));
    let header = jsonwebtoken::decode_header(token).map_err(|e| invalid(&e))?;
    let keys = issuer_keys(issuer).await?;
    let jwk = match &header.kid {
        Some(kid) => keys.find(kid),
        None => keys.keys.first(),
    }
    .ok_or_else(|| invalid(&"no matching key"))?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| invalid(&e))?;
    let mut v = Validation::new(header.alg);
    v.validate_aud = false;
    v.set_issuer(&[issuer]);
    v.set_required_spec_claims(&["exp", "iss", "sub"]);
    jsonwebtoken::decode::<Value>(token, &key, &v).map_err(|e| invalid(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn federation_configs_are_checked_as_quay_does() {
        let ok = json!([{"issuer": "https://token.actions.githubusercontent.com", "subject": "repo:a/b:ref:refs/heads/main"}]);
        assert_eq!(parse_federation_config(&ok).expect("valid").len(), 1);
        for (body, message) in [
            (json!([{"issuer": "https://x"}]), "Missing one or more required fields"),
            (json!([{}]), "Missing one or more required fields"),
            (json!([{"issuer": "ftp://x", "subject": "s"}]), "Issuer must be a URL"),
            (
                json!([{"issuer": "https://x", "subject": "s"}, {"issuer": "https://x", "subject": "s"}]),
                "Duplicate",
            ),
            (json!({"issuer": "https://x", "subject": "s"}), "Expected a list"),
        ] {
            match parse_federation_config(&body) {
                Err(Error::InvalidRequest(m)) => assert!(m.starts_with(message), "{m}"),
                other => panic!("{body}: {other:?}"),
            }
        }
    }
}
