//! Quay's external login services: every `<NAME>_LOGIN_CONFIG` block is an
//! OpenID Connect provider whose service id is `<name>` (the key up to its
//! first `_`, lowercased), read and checked when the config loads.

use serde_yaml::{Mapping, Value};

use crate::config::{Config, ConfigError};

const SUFFIX: &str = "_LOGIN_CONFIG";
/// Prefixes Quay reserves for its internal authentication types.
const RESERVED: [&str; 3] = ["ldap", "jwt", "keystone"];
/// Quay's OAuth (not OpenID Connect) services, which this registry lacks.
const NOT_OIDC: [&str; 2] = ["GITHUB_LOGIN_CONFIG", "GOOGLE_LOGIN_CONFIG"];

/// One OpenID Connect provider users may sign in with.
#[derive(Clone)]
pub struct OidcProvider {
    /// `<name>` of `<NAME>_LOGIN_CONFIG`: the `/oauth2/<id>/callback` path
    /// part and the `federatedlogin` service name.
    pub id: String,
    /// `SERVICE_NAME` (the id when absent), shown to users.
    pub name: String,
    /// `OIDC_SERVER`: the issuer, whose discovery document is below it.
    pub server: String,
    pub client_id: String,
    pub client_secret: String,
    /// `LOGIN_SCOPES`; the provider's supported scopes when absent.
    pub scopes: Option<Vec<String>>,
    /// `PREFERRED_USERNAME_CLAIM_NAME`.
    pub username_claim: Option<String>,
    /// `VERIFIED_EMAIL_CLAIM_NAME`: a claim holding an email that is
    /// verified by definition; otherwise `email` when `email_verified`.
    pub verified_email_claim: Option<String>,
    /// `PREFERRED_GROUP_CLAIM_NAME` (default `groups`): the claim naming
    /// the user's groups, for teams synced to them.
    pub group_claim: String,
    /// `OIDC_ISSUER`: the issuer expected in ID tokens when it differs
    /// from the discovery document's.
    pub issuer: Option<String>,
}

impl std::fmt::Debug for OidcProvider {
    /// Everything but the client secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcProvider")
            .field("id", &self.id)
            .field("server", &self.server)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

fn err(key: &str, field: &str, message: impl std::fmt::Display) -> ConfigError {
    ConfigError::Field {
        field: format!("{key}.{field}"),
        message: message.to_string(),
    }
}

fn string(block: &Mapping, key: &str, field: &str) -> Result<Option<String>, ConfigError> {
    match block.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(err(key, field, "must be a string")),
    }
}

fn required(block: &Mapping, key: &str, field: &str) -> Result<String, ConfigError> {
    string(block, key, field)?.ok_or_else(|| err(key, field, "is required"))
}

impl OidcProvider {
    fn from_block(key: &str, block: &Value) -> Result<OidcProvider, ConfigError> {
        let Value::Mapping(block) = block else {
            return Err(ConfigError::Field {
                field: key.to_owned(),
                message: "must be a mapping with OIDC_SERVER, CLIENT_ID and CLIENT_SECRET".into(),
            });
        };
        let id = key.split('_').next().unwrap_or_default().to_lowercase();
        if id.is_empty() || RESERVED.contains(&id.as_str()) || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(ConfigError::Field {
                field: key.to_owned(),
                message: format!("cannot use reserved or invalid config name {key}"),
            });
        }
        let debugging = match block.get("DEBUGGING") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(err(key, "DEBUGGING", "must be true or false")),
        };
        let server = required(block, key, "OIDC_SERVER")?;
        let parsed = url::Url::parse(&server).map_err(|e| err(key, "OIDC_SERVER", format!("not a URL: {e}")))?;
        match parsed.scheme() {
            "https" => {}
            "http" if debugging => {}
            "http" => {
                return Err(err(
                    key,
                    "OIDC_SERVER",
                    "must be an https:// URL (http:// only with DEBUGGING: true)",
                ))
            }
            _ => return Err(err(key, "OIDC_SERVER", "must be an https:// URL")),
        }
        let scopes = match block.get("LOGIN_SCOPES") {
            None | Some(Value::Null) => None,
            Some(Value::Sequence(items)) => Some(
                items
                    .iter()
                    .map(|v| v.as_str().filter(|s| !s.is_empty()).map(str::to_owned))
                    .collect::<Option<Vec<_>>>()
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| err(key, "LOGIN_SCOPES", "must be a list of scopes such as [openid, email]"))?,
            ),
            Some(_) => {
                return Err(err(
                    key,
                    "LOGIN_SCOPES",
                    "must be a list of scopes such as [openid, email]",
                ))
            }
        };
        Ok(OidcProvider {
            name: string(block, key, "SERVICE_NAME")?.unwrap_or_else(|| id.clone()),
            server,
            client_id: required(block, key, "CLIENT_ID")?,
            client_secret: required(block, key, "CLIENT_SECRET")?,
            scopes,
            username_claim: string(block, key, "PREFERRED_USERNAME_CLAIM_NAME")?,
            verified_email_claim: string(block, key, "VERIFIED_EMAIL_CLAIM_NAME")?,
            group_claim: string(block, key, "PREFERRED_GROUP_CLAIM_NAME")?
                .filter(|c| !c.is_empty())
                .unwrap_or_else(|| "groups".into()),
            issuer: string(block, key, "OIDC_ISSUER")?,
            id,
        })
    }

    /// Where the provider's discovery document is.
    pub fn discovery_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.server.trim_end_matches('/'))
    }
}

/// Every OpenID Connect `<NAME>_LOGIN_CONFIG` block of the config.
pub fn providers(config: &Config) -> Result<Vec<OidcProvider>, ConfigError> {
    let mut found: Vec<OidcProvider> = Vec::new();
    for (key, block) in config.other.iter().filter(|(k, _)| k.ends_with(SUFFIX)) {
        if NOT_OIDC.contains(&key.as_str()) {
            return Err(ConfigError::Field {
                field: key.clone(),
                message: "GitHub and Google OAuth login are not supported by this registry; \
                          configure them as OpenID Connect providers instead"
                    .into(),
            });
        }
        let provider = OidcProvider::from_block(key, block)?;
        if found.iter().any(|p| p.id == provider.id) {
            return Err(ConfigError::Field {
                field: key.clone(),
                message: format!("another *_LOGIN_CONFIG block already has service id `{}`", provider.id),
            });
        }
        found.push(provider);
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(block: &str) -> Result<Vec<OidcProvider>, ConfigError> {
        providers(&Config::parse(block)?)
    }

    #[test]
    fn login_config_blocks_become_providers() {
        let found = parse(
            "CORP_LOGIN_CONFIG:\n  OIDC_SERVER: https://sso.example.com/realms/corp/\n  CLIENT_ID: quay\n  \
             CLIENT_SECRET: s3cret\n  SERVICE_NAME: Corp SSO\n  LOGIN_SCOPES: [openid, email]\n  \
             PREFERRED_USERNAME_CLAIM_NAME: upn\n",
        )
        .expect("valid");
        assert_eq!(found.len(), 1);
        let p = &found[0];
        assert_eq!((p.id.as_str(), p.name.as_str()), ("corp", "Corp SSO"));
        assert_eq!(
            p.scopes.as_deref(),
            Some(&["openid".to_owned(), "email".to_owned()][..])
        );
        assert_eq!(p.username_claim.as_deref(), Some("upn"));
        assert_eq!(
            p.discovery_url(),
            "https://sso.example.com/realms/corp/.well-known/openid-configuration"
        );
        assert!(!format!("{p:?}").contains("s3cret"));
    }

    #[test]
    fn bad_login_config_blocks_are_named() {
        let ok = "OIDC_SERVER: https://sso.example.com\n  CLIENT_ID: quay\n  CLIENT_SECRET: s";
        let cases = [
            ("CORP_LOGIN_CONFIG: yes\n".to_owned(), "CORP_LOGIN_CONFIG"),
            (
                "CORP_LOGIN_CONFIG:\n  CLIENT_ID: quay\n  CLIENT_SECRET: s\n".to_owned(),
                "CORP_LOGIN_CONFIG.OIDC_SERVER",
            ),
            (
                "CORP_LOGIN_CONFIG:\n  OIDC_SERVER: http://sso\n  CLIENT_ID: q\n  CLIENT_SECRET: s\n".to_owned(),
                "CORP_LOGIN_CONFIG.OIDC_SERVER",
            ),
            (
                "CORP_LOGIN_CONFIG:\n  OIDC_SERVER: https://sso\n  CLIENT_SECRET: s\n".to_owned(),
                "CORP_LOGIN_CONFIG.CLIENT_ID",
            ),
            (
                format!("CORP_LOGIN_CONFIG:\n  {ok}\n  LOGIN_SCOPES: openid\n"),
                "CORP_LOGIN_CONFIG.LOGIN_SCOPES",
            ),
            (format!("LDAP_LOGIN_CONFIG:\n  {ok}\n"), "LDAP_LOGIN_CONFIG"),
            (format!("GITHUB_LOGIN_CONFIG:\n  {ok}\n"), "GITHUB_LOGIN_CONFIG"),
        ];
        for (text, field) in cases {
            let e = parse(&text).expect_err(&text).to_string();
            assert!(e.starts_with(field), "{text:?} gave {e:?}");
        }
        let debug = "CORP_LOGIN_CONFIG:\n  OIDC_SERVER: http://127.0.0.1:9400\n  CLIENT_ID: q\n  \
                     CLIENT_SECRET: s\n  DEBUGGING: true\n";
        assert_eq!(parse(debug).expect("http with DEBUGGING").len(), 1);
    }
}
