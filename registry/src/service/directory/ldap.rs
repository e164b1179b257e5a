//! The LDAP directory as Quay reads it: users are searched under the user
//! DNs by uid or email (narrowed by `LDAP_USER_FILTER`), a password is
//! checked by binding as the user found, superusers are the users the
//! superuser filter also matches, and a group's members are the users whose
//! `memberOf` names the group's DN under the base DN. Every operation opens
//! its own connection bound as the admin DN, so a restarted directory is
//! picked up at once.

use std::sync::Arc;

use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::{ldap_escape, Ldap, LdapConnAsync, LdapConnSettings, LdapError, Scope, SearchEntry};

use super::settings::LdapSettings;

/// `invalidCredentials`.
const RC_INVALID_CREDENTIALS: u32 = 49;
/// `noSuchObject`: a user DN that does not exist finds nobody.
const RC_NO_SUCH_OBJECT: u32 = 32;
/// Entries asked for per page when listing a group.
const PAGE_SIZE: i32 = 500;

/// Why a directory answer could not be had.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// A verdict: bad credentials, no such user, a record missing a field.
    #[error("{0}")]
    Refused(String),
    /// The directory could not be reached or failed; never the user's fault.
    #[error("{0}")]
    Unavailable(String),
}

/// A user as the directory describes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryUser {
    /// The directory's user id (`LDAP_UID_ATTR`): the identity an account
    /// is linked to.
    pub uid: String,
    pub email: Option<String>,
}

/// The TLS settings for `ldaps://`: the system's roots plus the CA
/// certificates beside the config.
pub fn tls_config(settings: &LdapSettings) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    for pem in &settings.ca_pems {
        for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
            let cert = cert.map_err(|e| format!("a CA certificate beside the config is not PEM: {e}"))?;
            roots
                .add(cert)
                .map_err(|e| format!("a CA certificate beside the config is invalid: {e}"))?;
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

fn unavailable(e: LdapError) -> DirectoryError {
    DirectoryError::Unavailable(format!("The directory (LDAP) is unavailable: {e}"))
}

/// Adds Quay's parentheses-and-AND around a query and a filter.
fn and(query: &str, filter: Option<&str>) -> String {
    match filter {
        Some(f) => format!("(&{query}{f})"),
        None => query.to_owned(),
    }
}

/// The first value of an attribute, whatever case the server spells it in.
fn first_value(entry: &SearchEntry, attr: &str) -> Option<String> {
    entry
        .attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(attr))
        .and_then(|(_, v)| v.first().cloned())
        .filter(|v| !v.is_empty())
}

/// The directory client.
pub struct Directory {
    settings: LdapSettings,
    /// `None` only if the TLS setup failed, which loading the config checks.
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl std::fmt::Debug for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Directory").field("settings", &self.settings).finish()
    }
}

/// Which extra filter narrows a user search.
#[derive(Debug, Clone, Copy)]
pub enum Narrow {
    None,
    Superusers,
    RestrictedUsers,
}

impl Directory {
    pub fn new(settings: LdapSettings) -> Directory {
        let tls = tls_config(&settings)
            .map_err(|e| tracing::error!(error = %e, "directory TLS setup failed; using the system's roots"))
            .ok();
        Directory { settings, tls }
    }

    pub fn settings(&self) -> &LdapSettings {
        &self.settings
    }

    async fn open(&self, insecure: bool) -> Result<Ldap, LdapError> {
        let mut conn = LdapConnSettings::new().set_conn_timeout(self.settings.connect_timeout);
        if insecure {
            conn = conn.set_no_tls_verify(true);
        } else if let Some(tls) = &self.tls {
            conn = conn.set_config(tls.clone());
        }
        let (driver, ldap) = LdapConnAsync::with_settings(conn, &self.settings.uri).await?;
        ldap3::drive!(driver);
        Ok(ldap)
    }

    /// A connection bound as `dn`; `Refused` when the password is wrong.
    async fn bind(&self, dn: &str, password: &str) -> Result<Ldap, DirectoryError> {
        let mut ldap = match self.open(false).await {
            Ok(l) => l,
            Err(e) if self.settings.allow_insecure_fallback && self.settings.uri.starts_with("ldaps:") => {
                tracing::warn!(error = %e, "verified TLS to the directory failed; falling back as LDAP_ALLOW_INSECURE_FALLBACK allows");
                self.open(true).await.map_err(unavailable)?
            }
            Err(e) => return Err(unavailable(e)),
        };
        let result = ldap
            .with_timeout(self.settings.timeout)
            .simple_bind(dn, password)
            .await
            .map_err(unavailable)?;
        match result.rc {
            0 => Ok(ldap),
            RC_INVALID_CREDENTIALS => Err(DirectoryError::Refused("Invalid username or password.".into())),
            _ => Err(unavailable(LdapError::LdapResult { result })),
        }
    }

    async fn admin(&self) -> Result<Ldap, DirectoryError> {
        self.bind(&self.settings.admin_dn, &self.settings.admin_password)
            .await
            .map_err(|e| match e {
                DirectoryError::Refused(_) => {
                    DirectoryError::Unavailable("The directory (LDAP) refused the admin DN or password".into())
                }
                other => other,
            })
    }

    /// The entry of a user by uid or email, narrowed as asked; `None` when
    /// no user matches. With several matches, one with an email wins.
    async fn find_entry(&self, username_or_email: &str, narrow: Narrow) -> Result<Option<SearchEntry>, DirectoryError> {
        let s = &self.settings;
        let extra = match narrow {
            Narrow::None => None,
            Narrow::Superusers => Some(s.superuser_filter.as_deref().ok_or_else(no_one)?),
            Narrow::RestrictedUsers => Some(s.restricted_user_filter.as_deref().ok_or_else(no_one)?),
        };
        let value = ldap_escape(username_or_email);
        let query = format!("(|({}={value})({}={value}))", s.uid_attr, s.email_attr);
        let query = and(&and(&query, s.user_filter.as_deref()), extra);
        let mut ldap = self.admin().await?;
        for base in &s.user_dns {
            let result = ldap
                .with_timeout(s.timeout)
                .search(
                    base,
                    Scope::Subtree,
                    &query,
                    vec![s.uid_attr.as_str(), s.email_attr.as_str()],
                )
                .await
                .map_err(unavailable)?;
            let (entries, outcome) = (result.0, result.1);
            match outcome.rc {
                0 => {}
                RC_NO_SUCH_OBJECT => continue,
                _ => return Err(unavailable(LdapError::LdapResult { result: outcome })),
            }
            let mut found: Vec<SearchEntry> = entries
                .into_iter()
                .map(SearchEntry::construct)
                .filter(|e| !e.dn.is_empty())
                .collect();
            if !found.is_empty() {
                let _ = ldap.unbind().await;
                let with_mail = found.iter().position(|e| first_value(e, &s.email_attr).is_some());
                return Ok(Some(found.swap_remove(with_mail.unwrap_or(0))));
            }
        }
        let _ = ldap.unbind().await;
        Ok(None)
    }

    fn user_of(&self, entry: &SearchEntry) -> Result<DirectoryUser, DirectoryError> {
        let s = &self.settings;
        let uid = first_value(entry, &s.uid_attr)
            .ok_or_else(|| DirectoryError::Refused(format!("Missing uid field \"{}\" in user record", s.uid_attr)))?;
        let email = first_value(entry, &s.email_attr);
        if s.requires_email && email.is_none() {
            return Err(DirectoryError::Refused(format!(
                "Missing mail field \"{}\" in user record",
                s.email_attr
            )));
        }
        Ok(DirectoryUser { uid, email })
    }

    /// Checks a password by binding as the user found for `username_or_email`.
    pub async fn verify(&self, username_or_email: &str, password: &str) -> Result<DirectoryUser, DirectoryError> {
        // An empty password would be an anonymous bind, which proves nothing.
        if password.is_empty() {
            return Err(DirectoryError::Refused("Anonymous binding not allowed.".into()));
        }
        let entry = self
            .find_entry(username_or_email, Narrow::None)
            .await?
            .ok_or_else(|| DirectoryError::Refused("Invalid username or password.".into()))?;
        let mut ldap = self.bind(&entry.dn, password).await?;
        let _ = ldap.unbind().await;
        self.user_of(&entry)
    }

    /// The user of this uid or email, if the directory has one.
    pub async fn user(&self, username_or_email: &str) -> Result<Option<DirectoryUser>, DirectoryError> {
        match self.find_entry(username_or_email, Narrow::None).await? {
            Some(entry) => self.user_of(&entry).map(Some),
            None => Ok(None),
        }
    }

    /// Whether the user also matches the superuser (or restricted-user)
    /// filter; no filter matches nobody.
    pub async fn matches(&self, uid: &str, narrow: Narrow) -> Result<bool, DirectoryError> {
        match self.find_entry(uid, narrow).await {
            Ok(found) => Ok(found.is_some()),
            Err(DirectoryError::Refused(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The members of a group: users whose `memberOf` is
    /// `<group_dn>,<base DN>`. Members whose record lacks a needed field
    /// are left out (and logged).
    pub async fn group_members(&self, group_dn: &str) -> Result<Vec<DirectoryUser>, DirectoryError> {
        let s = &self.settings;
        let value = ldap_escape(format!("{group_dn},{}", s.base_dn));
        let query = and(&format!("({}={value})", s.memberof_attr), s.user_filter.as_deref());
        let mut ldap = self.admin().await?;
        let mut members = Vec::new();
        for base in &s.user_dns {
            let adapters: Vec<Box<dyn Adapter<'_, &str, Vec<&str>>>> =
                vec![Box::new(EntriesOnly::new()), Box::new(PagedResults::new(PAGE_SIZE))];
            let attrs = vec![s.uid_attr.as_str(), s.email_attr.as_str()];
            let mut stream = ldap
                .with_timeout(s.timeout)
                .streaming_search_with(adapters, base, Scope::Subtree, &query, attrs)
                .await
                .map_err(unavailable)?;
            while let Some(entry) = stream.next().await.map_err(unavailable)? {
                let entry = SearchEntry::construct(entry);
                match self.user_of(&entry) {
                    Ok(user) => members.push(user),
                    Err(e) => tracing::warn!(dn = %entry.dn, error = %e, "group member left out"),
                }
            }
            let outcome = stream.finish().await;
            if !matches!(outcome.rc, 0 | RC_NO_SUCH_OBJECT) {
                return Err(unavailable(LdapError::LdapResult { result: outcome }));
            }
        }
        let _ = ldap.unbind().await;
        Ok(members)
    }
}

fn no_one() -> DirectoryError {
    DirectoryError::Refused("Username not found".into())
}
