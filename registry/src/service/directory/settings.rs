//! `AUTHENTICATION_TYPE: LDAP` and Quay's `LDAP_*` keys, read and checked
//! when the config loads.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_yaml::Value;

use crate::config::{parse_duration, Config, ConfigError};

/// Quay's default seconds for a directory connection and each operation.
const DEFAULT_TIMEOUT_S: u64 = 10;
/// Quay's default `TEAM_RESYNC_STALE_TIME`.
const DEFAULT_RESYNC_STALE: Duration = Duration::from_secs(30 * 60);
/// Quay's default `TEAM_SYNC_WORKER_FREQUENCY` in seconds.
const DEFAULT_SYNC_EVERY_S: u64 = 60;

fn field_err(field: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Field {
        field: field.to_owned(),
        message: message.into(),
    }
}

/// Where users sign in: the database, or an LDAP directory.
#[derive(Debug, Clone, Default)]
pub enum Authentication {
    #[default]
    Database,
    Ldap(Box<LdapSettings>),
    /// Users sign in through an OpenID Connect provider (a
    /// `<NAME>_LOGIN_CONFIG` block); passwords sign no user in.
    Oidc,
}

/// How the registry reaches and reads the directory.
#[derive(Clone)]
pub struct LdapSettings {
    /// `LDAP_URI`: `ldap://` (plain) or `ldaps://` (TLS).
    pub uri: String,
    /// `LDAP_BASE_DN` joined into one DN.
    pub base_dn: String,
    /// Where users are searched: `LDAP_USER_RDN` then each of
    /// `LDAP_SECONDARY_USER_RDNS`, each under the base DN.
    pub user_dns: Vec<String>,
    pub admin_dn: String,
    pub admin_password: String,
    pub uid_attr: String,
    pub email_attr: String,
    pub memberof_attr: String,
    pub user_filter: Option<String>,
    pub superuser_filter: Option<String>,
    pub restricted_user_filter: Option<String>,
    /// `LDAP_ALLOW_INSECURE_FALLBACK`: a TLS certificate that cannot be
    /// verified is accepted.
    pub allow_insecure_fallback: bool,
    /// `LDAP_NETWORK_TIMEOUT`: connecting; `LDAP_TIMEOUT`: each operation.
    pub connect_timeout: Duration,
    pub timeout: Duration,
    /// PEM certificates trusted beside the system's: `ldap.crt` and the
    /// `extra_ca_certs/` folder beside the config file.
    pub ca_pems: Vec<Vec<u8>>,
    /// `FEATURE_MAILING`: a directory user needs an email address.
    pub requires_email: bool,
}

impl std::fmt::Debug for LdapSettings {
    /// Everything but the admin password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LdapSettings")
            .field("uri", &self.uri)
            .field("base_dn", &self.base_dn)
            .field("user_dns", &self.user_dns)
            .field("admin_dn", &self.admin_dn)
            .field("uid_attr", &self.uid_attr)
            .field("email_attr", &self.email_attr)
            .finish_non_exhaustive()
    }
}

/// Team syncing (`FEATURE_TEAM_SYNCING`) settings.
#[derive(Debug, Clone, Copy)]
pub struct TeamSyncPolicy {
    pub enabled: bool,
    /// `FEATURE_NONSUPERUSER_TEAM_SYNCING_SETUP`: org admins who are not
    /// superusers may set syncing up.
    pub nonsuperuser_setup: bool,
    /// `TEAM_RESYNC_STALE_TIME`: a team synced longer ago is synced again.
    pub resync_stale: Duration,
    /// `TEAM_SYNC_WORKER_FREQUENCY` in seconds; 0 turns the loop off.
    pub every_s: u64,
}

impl TeamSyncPolicy {
    pub fn from_config(config: &Config) -> TeamSyncPolicy {
        TeamSyncPolicy {
            enabled: config.feature("TEAM_SYNCING", false),
            nonsuperuser_setup: config.feature("NONSUPERUSER_TEAM_SYNCING_SETUP", false),
            resync_stale: config
                .other
                .get("TEAM_RESYNC_STALE_TIME")
                .and_then(Value::as_str)
                .and_then(parse_duration)
                .unwrap_or(DEFAULT_RESYNC_STALE),
            every_s: config
                .seconds("TEAM_SYNC_WORKER_FREQUENCY")
                .unwrap_or(DEFAULT_SYNC_EVERY_S),
        }
    }
}

impl Default for TeamSyncPolicy {
    fn default() -> Self {
        TeamSyncPolicy {
            enabled: false,
            nonsuperuser_setup: false,
            resync_stale: DEFAULT_RESYNC_STALE,
            every_s: DEFAULT_SYNC_EVERY_S,
        }
    }
}

/// A string, or a list of RDN parts joined with commas (Quay keeps
/// `LDAP_BASE_DN` and `LDAP_USER_RDN` as lists).
fn dn_parts(config: &Config, key: &str) -> Result<Option<String>, ConfigError> {
    match config.other.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
        Some(Value::Sequence(items)) => {
            let parts = items
                .iter()
                .map(|v| v.as_str().map(str::trim).filter(|s| !s.is_empty()))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| field_err(key, "must be a DN or a list of RDNs such as [dc=example, dc=org]"))?;
            Ok(Some(parts.join(",")))
        }
        Some(_) => Err(field_err(
            key,
            "must be a DN or a list of RDNs such as [dc=example, dc=org]",
        )),
    }
}

fn text(config: &Config, key: &str) -> Result<Option<String>, ConfigError> {
    match config.other.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(field_err(key, "must be a string")),
    }
}

/// A search filter: one balanced, parenthesized LDAP filter (Quay adds the
/// parentheses when missing).
fn filter(config: &Config, key: &str) -> Result<Option<String>, ConfigError> {
    let Some(f) = text(config, key)?
        .map(|f| f.trim().to_owned())
        .filter(|f| !f.is_empty())
    else {
        return Ok(None);
    };
    let f = if f.starts_with('(') && f.ends_with(')') {
        f
    } else {
        format!("({f})")
    };
    let mut depth = 0i32;
    for ch in f.chars() {
        depth += match ch {
            '(' => 1,
            ')' => -1,
            _ => 0,
        };
        if depth < 0 {
            break;
        }
    }
    if depth != 0 {
        return Err(field_err(key, "must be an LDAP filter with balanced parentheses"));
    }
    Ok(Some(f))
}

fn timeout(config: &Config, key: &str) -> Result<Duration, ConfigError> {
    match config.other.get(key) {
        None | Some(Value::Null) => Ok(Duration::from_secs(DEFAULT_TIMEOUT_S)),
        Some(v) => v
            .as_f64()
            .filter(|s| *s > 0.0 && s.is_finite())
            .map(Duration::from_secs_f64)
            .ok_or_else(|| field_err(key, "must be a number of seconds above 0")),
    }
}

/// The PEM files beside the config that the directory's TLS trusts.
fn ca_pems(config_dir: Option<&Path>) -> Result<Vec<Vec<u8>>, ConfigError> {
    let Some(dir) = config_dir else {
        return Ok(Vec::new());
    };
    let mut files: Vec<PathBuf> = vec![dir.join("ldap.crt")];
    if let Ok(entries) = std::fs::read_dir(dir.join("extra_ca_certs")) {
        let mut extra: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        extra.sort();
        files.extend(extra.into_iter().filter(|p| p.is_file()));
    }
    let mut pems = Vec::new();
    for file in files.into_iter().filter(|p| p.is_file()) {
        let pem = std::fs::read(&file).map_err(|e| {
            field_err(
                "LDAP_URI",
                format!("cannot read CA certificate {}: {e}", file.display()),
            )
        })?;
        pems.push(pem);
    }
    Ok(pems)
}

impl Authentication {
    /// `AUTHENTICATION_TYPE` (default Database) and, for LDAP, its keys.
    pub fn from_config(config: &Config) -> Result<Authentication, ConfigError> {
        const KEY: &str = "AUTHENTICATION_TYPE";
        match text(config, KEY)?.as_deref() {
            None | Some("Database") => Ok(Authentication::Database),
            Some("LDAP") => Ok(Authentication::Ldap(Box::new(LdapSettings::from_config(config)?))),
            Some("OIDC") => {
                if crate::service::external_login::providers(config)?.is_empty() {
                    return Err(field_err(
                        KEY,
                        "OIDC needs a <NAME>_LOGIN_CONFIG block with OIDC_SERVER, CLIENT_ID and CLIENT_SECRET",
                    ));
                }
                Ok(Authentication::Oidc)
            }
            Some(other @ ("JWT" | "Keystone" | "AppToken")) => Err(field_err(
                KEY,
                format!("`{other}` is not supported by this registry (supported: Database, LDAP, OIDC)"),
            )),
            Some(other) => Err(field_err(
                KEY,
                format!(
                    "unknown authentication type `{other}` (Quay's are Database, LDAP, JWT, Keystone, OIDC, AppToken)"
                ),
            )),
        }
    }
}

impl LdapSettings {
    fn from_config(config: &Config) -> Result<LdapSettings, ConfigError> {
        let uri = text(config, "LDAP_URI")?.unwrap_or_else(|| "ldap://localhost".into());
        let parsed = url::Url::parse(&uri).map_err(|e| field_err("LDAP_URI", format!("not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "ldap" | "ldaps") || parsed.host_str().is_none_or(str::is_empty) {
            return Err(field_err(
                "LDAP_URI",
                "must start with ldap:// or ldaps:// and name a host",
            ));
        }
        let base_dn = dn_parts(config, "LDAP_BASE_DN")?
            .filter(|d| !d.is_empty())
            .ok_or_else(|| field_err("LDAP_BASE_DN", "is required with AUTHENTICATION_TYPE: LDAP"))?;
        let under_base = |rdn: &str| match rdn.trim() {
            "" => base_dn.clone(),
            r => format!("{r},{base_dn}"),
        };
        let mut user_dns = vec![under_base(&dn_parts(config, "LDAP_USER_RDN")?.unwrap_or_default())];
        match config.other.get("LDAP_SECONDARY_USER_RDNS") {
            None | Some(Value::Null) => {}
            Some(Value::Sequence(items)) => {
                for item in items {
                    let rdn = item
                        .as_str()
                        .ok_or_else(|| field_err("LDAP_SECONDARY_USER_RDNS", "must be a list of RDNs"))?;
                    user_dns.push(under_base(rdn));
                }
            }
            Some(_) => return Err(field_err("LDAP_SECONDARY_USER_RDNS", "must be a list of RDNs")),
        }
        let admin_dn = text(config, "LDAP_ADMIN_DN")?
            .filter(|s| !s.is_empty())
            .ok_or_else(|| field_err("LDAP_ADMIN_DN", "is required with AUTHENTICATION_TYPE: LDAP"))?;
        let admin_password = text(config, "LDAP_ADMIN_PASSWD")?
            .filter(|s| !s.is_empty())
            .ok_or_else(|| field_err("LDAP_ADMIN_PASSWD", "is required with AUTHENTICATION_TYPE: LDAP"))?;
        let attr = |key: &str, default: &str| -> Result<String, ConfigError> {
            let value = text(config, key)?.unwrap_or_else(|| default.to_owned());
            let ok = !value.is_empty() && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ';');
            ok.then_some(value)
                .ok_or_else(|| field_err(key, "must be an attribute name such as uid"))
        };
        let allow_insecure_fallback = match config.other.get("LDAP_ALLOW_INSECURE_FALLBACK") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(field_err("LDAP_ALLOW_INSECURE_FALLBACK", "must be true or false")),
        };
        Ok(LdapSettings {
            uri,
            user_dns,
            admin_dn,
            admin_password,
            uid_attr: attr("LDAP_UID_ATTR", "uid")?,
            email_attr: attr("LDAP_EMAIL_ATTR", "mail")?,
            memberof_attr: attr("LDAP_MEMBEROF_ATTR", "memberOf")?,
            user_filter: filter(config, "LDAP_USER_FILTER")?,
            superuser_filter: filter(config, "LDAP_SUPERUSER_FILTER")?,
            restricted_user_filter: filter(config, "LDAP_RESTRICTED_USER_FILTER")?,
            allow_insecure_fallback,
            connect_timeout: timeout(config, "LDAP_NETWORK_TIMEOUT")?,
            timeout: timeout(config, "LDAP_TIMEOUT")?,
            ca_pems: ca_pems(config.config_dir.as_deref())?,
            requires_email: config.mailing(),
            base_dn,
        })
    }
}

/// Checks the authentication keys and the team-syncing ones.
pub fn validate_config(config: &Config) -> Result<(), ConfigError> {
    let auth = Authentication::from_config(config)?;
    crate::service::external_login::providers(config)?;
    if let Some(v) = config.other.get("TEAM_RESYNC_STALE_TIME") {
        if v.as_str().and_then(parse_duration).is_none() {
            return Err(field_err("TEAM_RESYNC_STALE_TIME", "must be a duration such as 30m"));
        }
    }
    if config.other.contains_key("TEAM_SYNC_WORKER_FREQUENCY") && config.seconds("TEAM_SYNC_WORKER_FREQUENCY").is_none()
    {
        return Err(field_err(
            "TEAM_SYNC_WORKER_FREQUENCY",
            "must be a whole number of seconds",
        ));
    }
    if let Authentication::Ldap(ldap) = auth {
        super::ldap::tls_config(&ldap).map_err(|m| field_err("LDAP_URI", m))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ldap(extra: &str) -> Result<LdapSettings, ConfigError> {
        let uri = if extra.contains("LDAP_URI") {
            ""
        } else {
            "LDAP_URI: ldap://127.0.0.1:389\n"
        };
        let admin = if extra.contains("LDAP_ADMIN_DN") {
            ""
        } else {
            "LDAP_ADMIN_DN: cn=admin,dc=example,dc=org\n"
        };
        let text = format!("AUTHENTICATION_TYPE: LDAP\n{uri}{admin}LDAP_ADMIN_PASSWD: secret\n{extra}");
        let config = Config::parse(&text)?;
        match Authentication::from_config(&config)? {
            Authentication::Ldap(s) => Ok(*s),
            other => panic!("LDAP expected, got {other:?}"),
        }
    }

    #[test]
    fn base_dn_and_user_rdn_may_be_lists_as_in_quay() {
        let s = ldap(
            "LDAP_BASE_DN: [dc=example, dc=org]\nLDAP_USER_RDN: [ou=users]\nLDAP_SECONDARY_USER_RDNS: [ou=staff]\n",
        )
        .expect("valid");
        assert_eq!(s.base_dn, "dc=example,dc=org");
        assert_eq!(s.user_dns, ["ou=users,dc=example,dc=org", "ou=staff,dc=example,dc=org"]);
        assert_eq!((s.uid_attr.as_str(), s.email_attr.as_str()), ("uid", "mail"));
        let s = ldap("LDAP_BASE_DN: dc=example,dc=org\nLDAP_USER_FILTER: objectClass=inetOrgPerson\n").expect("valid");
        assert_eq!(s.user_dns, ["dc=example,dc=org"]);
        assert_eq!(s.user_filter.as_deref(), Some("(objectClass=inetOrgPerson)"));
    }

    #[test]
    fn bad_ldap_keys_are_named() {
        let base = "LDAP_BASE_DN: dc=example,dc=org\n";
        let cases = [
            ("", "LDAP_BASE_DN"),
            ("LDAP_BASE_DN: {a: 1}\n", "LDAP_BASE_DN"),
            (&format!("{base}LDAP_URI: http://x\n"), "LDAP_URI"),
            (&format!("{base}LDAP_ADMIN_DN: ''\n"), "LDAP_ADMIN_DN"),
            (&format!("{base}LDAP_USER_FILTER: '(&(a=b)'\n"), "LDAP_USER_FILTER"),
            (&format!("{base}LDAP_UID_ATTR: 'u id'\n"), "LDAP_UID_ATTR"),
            (
                &format!("{base}LDAP_ALLOW_INSECURE_FALLBACK: maybe\n"),
                "LDAP_ALLOW_INSECURE_FALLBACK",
            ),
            (&format!("{base}LDAP_TIMEOUT: -1\n"), "LDAP_TIMEOUT"),
            (
                &format!("{base}TEAM_RESYNC_STALE_TIME: often\n"),
                "TEAM_RESYNC_STALE_TIME",
            ),
        ];
        for (extra, field) in cases {
            let err = ldap(extra).expect_err(extra).to_string();
            assert!(err.starts_with(field), "{extra:?} gave {err:?}");
        }
        let err = Config::parse("AUTHENTICATION_TYPE: Kerberos\n")
            .expect_err("unknown type")
            .to_string();
        assert!(err.starts_with("AUTHENTICATION_TYPE"), "{err}");
        assert!(Config::parse("AUTHENTICATION_TYPE: Database\n").is_ok());
        let err = Config::parse("AUTHENTICATION_TYPE: OIDC\n")
            .expect_err("no provider")
            .to_string();
        assert!(err.starts_with("AUTHENTICATION_TYPE"), "{err}");
        let oidc = "AUTHENTICATION_TYPE: OIDC\nCORP_LOGIN_CONFIG:\n  OIDC_SERVER: https://sso.example.com\n  \
                    CLIENT_ID: quay\n  CLIENT_SECRET: s\n";
        let config = Config::parse(oidc).expect("OIDC with a provider");
        assert!(matches!(Authentication::from_config(&config), Ok(Authentication::Oidc)));
    }
}
