//! Directory (LDAP) sign-in and team syncing, as Quay does them.
//!
//! With `AUTHENTICATION_TYPE: LDAP` every password sign-in (API, browser,
//! `docker login`) is checked by the directory; robots, OAuth tokens and
//! app-specific tokens do not involve it. A directory user gets an account
//! on first sign-in, linked to their directory uid (a `federatedlogin`
//! row), so a later email change in the directory updates that account.
//! A new account never takes an email another account has: a directory
//! user whose uid changed but whose email did not is refused, as Quay
//! refuses it. Superusers are also the users `LDAP_SUPERUSER_FILTER`
//! matches; that verdict is asked again after [`VERDICT_TTL_MS`].
//!
//! Team syncing (`FEATURE_TEAM_SYNCING`) keeps a team's users equal to a
//! directory group's members; see [`Registry::sync_directory_teams`].

pub mod ldap;
pub mod settings;
mod teamsync;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

pub use ldap::{Directory, DirectoryError, DirectoryUser, Narrow};
pub use settings::{validate_config, Authentication, LdapSettings, TeamSyncPolicy};
pub use teamsync::{TeamSyncInfo, TeamSyncReport, OIDC_SERVICE};

use super::accounts::check_name;
use super::{Error, Registry};
use crate::db::models::Account;
use crate::db::queries::accounts::{self as aq, AccountChanges, NewAccount};
use crate::db::queries::directory as q;

/// The federated service name of the directory (Quay's `ldap`).
pub const SERVICE: &str = "ldap";

/// How long a directory superuser verdict is trusted before it is asked
/// again.
pub const VERDICT_TTL_MS: i64 = 30_000;

/// Quay's refusal when directory users may not get accounts.
const CREATION_DISABLED: &str = "User creation is disabled. Please contact your administrator to gain access.";

/// The directory client and what it answered lately.
#[derive(Default)]
pub(super) struct DirectoryState {
    client: Option<Arc<Directory>>,
    /// Account id -> (superuser by the directory's filter, when asked).
    superusers: RwLock<HashMap<i64, (bool, i64)>>,
}

impl DirectoryState {
    pub(super) fn new(auth: &Authentication) -> DirectoryState {
        let client = match auth {
            Authentication::Database | Authentication::Oidc => None,
            Authentication::Ldap(s) => Some(Arc::new(Directory::new((**s).clone()))),
        };
        DirectoryState {
            client,
            superusers: RwLock::default(),
        }
    }
}

impl From<DirectoryError> for Error {
    fn from(e: DirectoryError) -> Error {
        match e {
            DirectoryError::Refused(m) => Error::Unauthenticated(m),
            DirectoryError::Unavailable(m) => Error::Unavailable(m),
        }
    }
}

/// Quay's candidates for a directory uid as a username: the uid made
/// valid (lowercase; other characters become `_`, no separator at either
/// end or twice in a row), then with 1, 2, ... appended.
pub(crate) fn usernames(uid: &str) -> impl Iterator<Item = String> {
    let mut base = String::new();
    for ch in uid.to_lowercase().chars() {
        let ch = if ch.is_ascii_alphanumeric() || matches!(ch, '.' | '_' | '-') {
            ch
        } else {
            '_'
        };
        let separator = !ch.is_ascii_alphanumeric();
        if separator && (base.is_empty() || base.ends_with(['.', '_', '-'])) {
            continue;
        }
        base.push(ch);
    }
    let mut base = base.trim_end_matches(['.', '_', '-']).to_owned();
    while base.len() < 2 {
        base.push('0');
    }
    base.truncate(250);
    let first = base.clone();
    std::iter::once(first).chain((1..1000).map(move |n| format!("{base}{n}")))
}

fn valid_email(email: &str) -> bool {
    email.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && domain.contains('.') && !email.contains(char::is_whitespace)
    })
}

impl Registry {
    /// The directory, when `AUTHENTICATION_TYPE` is LDAP.
    pub fn directory(&self) -> Option<&Directory> {
        self.inner.directory.client.as_deref()
    }

    /// Signs a user in with directory credentials: the account linked to
    /// them, created on first sign-in.
    pub(super) async fn directory_sign_in(&self, username_or_email: &str, password: &str) -> Result<Account, Error> {
        let Some(dir) = self.directory() else {
            return Err(Error::Unauthenticated("Invalid username or password".into()));
        };
        let user = dir.verify(username_or_email, password).await?;
        let account = self.link_directory_user(&user, false).await?;
        if !account.enabled {
            return Err(Error::Unauthenticated(
                "This user has been disabled. Please contact your administrator.".into(),
            ));
        }
        self.refresh_superuser_verdict(&account, Some(&user.uid)).await?;
        Ok(account)
    }

    /// Checks that `password` is the directory password of the account's
    /// linked directory user.
    pub(super) async fn directory_confirm(&self, account: &Account, password: &str) -> Result<(), Error> {
        let Some(dir) = self.directory() else {
            return Err(Error::Unauthenticated("Invalid username or password".into()));
        };
        let id = account.id;
        let ident = self
            .db()
            .read(move |c| Ok(q::ident_of(c, SERVICE, id)?))
            .await?
            .ok_or_else(|| Error::Unauthenticated("Invalid username or password.".into()))?;
        dir.verify(&ident, password).await?;
        Ok(())
    }

    /// The account linked to a directory user: the linked one (its email
    /// updated from the directory), else a new one unless `FEATURE_USER_CREATION`
    /// is off (team syncing, `internal`, always creates). A sign-in of a
    /// linked user only reads.
    pub(super) async fn link_directory_user(&self, user: &DirectoryUser, internal: bool) -> Result<Account, Error> {
        let uid = user.uid.clone();
        if let Some(existing) = self.db().read(move |c| Ok(q::find_linked(c, SERVICE, &uid)?)).await? {
            return self.update_directory_email(existing, user).await;
        }
        let policy = &self.settings().accounts;
        if !internal && !policy.user_creation {
            return Err(Error::Unauthenticated(CREATION_DISABLED.into()));
        }
        let requires_email = policy.mailing;
        let email = match &user.email {
            Some(e) if valid_email(e) => Some(e.clone()),
            Some(e) if requires_email => return Err(Error::Unauthenticated(format!("Invalid email address: {e}"))),
            _ => None,
        };
        let (uid, now, window_s) = (user.uid.clone(), crate::now_ms(), policy.default_tag_expiration_s);
        let found_or_made = self
            .db()
            .write(move |c| {
                if let Some(existing) = q::find_linked(c, SERVICE, &uid)? {
                    return Ok((existing, false));
                }
                if let Some(e) = &email {
                    if aq::email_taken(c, e)? {
                        return Err(Error::Unauthenticated(format!("Email has already been used: {e}")));
                    }
                }
                let mut chosen = None;
                for name in usernames(&uid) {
                    if check_name(&name, "username").is_ok() && aq::find(c, &name)?.is_none() {
                        chosen = Some(name);
                        break;
                    }
                }
                let name = chosen.ok_or_else(|| {
                    Error::Unauthenticated(
                        "Unable to pick a username. Please report this to your administrator.".into(),
                    )
                })?;
                let account = aq::insert(
                    c,
                    &NewAccount {
                        username: &name,
                        email: email.as_deref(),
                        password_hash: None,
                        organization: false,
                        robot: false,
                        verified: true,
                        tag_expiration_s: window_s,
                        now,
                    },
                )?;
                q::link(c, account.id, SERVICE, &uid)?;
                Ok::<_, Error>((account, true))
            })
            .await?;
        match found_or_made {
            (account, true) => {
                tracing::info!(username = %account.username, uid = %user.uid, "account created for directory user");
                Ok(account)
            }
            (existing, false) => self.update_directory_email(existing, user).await,
        }
    }

    /// Takes a changed email from the directory, unless another account
    /// has it.
    async fn update_directory_email(&self, account: Account, user: &DirectoryUser) -> Result<Account, Error> {
        let Some(email) = user.email.clone().filter(|e| valid_email(e)) else {
            return Ok(account);
        };
        if account.email.as_deref() == Some(email.as_str()) {
            return Ok(account);
        }
        let id = account.id;
        self.db()
            .write(move |c| {
                if aq::email_taken(c, &email)? {
                    tracing::warn!(email = %email, "directory email is another account's; kept the old one");
                    return Ok(account);
                }
                let changes = AccountChanges {
                    email: Some(Some(email)),
                    ..Default::default()
                };
                aq::update(c, id, &changes)?;
                Ok::<_, Error>(aq::find_by_id(c, id)?.unwrap_or(account))
            })
            .await
    }

    /// Whether the directory's superuser filter matched the account when
    /// last asked.
    pub(super) fn directory_superuser(&self, account_id: i64) -> bool {
        let verdicts = self
            .inner
            .directory
            .superusers
            .read()
            .unwrap_or_else(|p| p.into_inner());
        verdicts.get(&account_id).is_some_and(|(yes, _)| *yes)
    }

    /// Keeps the directory's superuser verdict on the account current: with
    /// no verdict yet the directory is asked at once; one older than
    /// [`VERDICT_TTL_MS`] is asked again in the background while requests go
    /// on with the last answer (one request claims the refresh, so a burst
    /// asks once). Without `LDAP_SUPERUSER_FILTER` nothing is asked.
    pub async fn refresh_directory_roles(&self, account: &Account) -> Result<(), Error> {
        self.refresh_superuser_verdict(account, None).await
    }

    /// [`Self::refresh_directory_roles`], with the directory uid when the
    /// caller knows it (at sign-in), else read from the account's link.
    async fn refresh_superuser_verdict(&self, account: &Account, uid: Option<&str>) -> Result<(), Error> {
        let Some(dir) = self.directory() else { return Ok(()) };
        if dir.settings().superuser_filter.is_none() || account.robot || account.organization {
            return Ok(());
        }
        let now = crate::now_ms();
        let known = {
            let mut verdicts = self
                .inner
                .directory
                .superusers
                .write()
                .unwrap_or_else(|p| p.into_inner());
            match verdicts.get_mut(&account.id) {
                Some((_, at)) if now - *at < VERDICT_TTL_MS => return Ok(()),
                Some((_, at)) => {
                    *at = now;
                    true
                }
                None => false,
            }
        };
        let uid = uid.map(str::to_owned);
        if !known {
            return self.ask_superuser(account, uid).await;
        }
        let (registry, account) = (self.clone(), account.clone());
        tokio::spawn(async move {
            if let Err(e) = registry.ask_superuser(&account, uid).await {
                tracing::warn!(error = %e, "could not refresh a directory superuser verdict");
            }
        });
        Ok(())
    }

    /// Asks the directory whether the account (directory uid `uid`, else
    /// its linked one, else its username) is a superuser; a directory that
    /// cannot answer leaves the last answer in place.
    async fn ask_superuser(&self, account: &Account, uid: Option<String>) -> Result<(), Error> {
        let Some(dir) = self.directory() else { return Ok(()) };
        let uid = match uid {
            Some(uid) => uid,
            None => {
                let id = account.id;
                let ident = self.db().read(move |c| Ok(q::ident_of(c, SERVICE, id)?)).await?;
                ident.unwrap_or_else(|| account.username.clone())
            }
        };
        let answer = dir.matches(&uid, Narrow::Superusers).await;
        let now = crate::now_ms();
        let mut verdicts = self
            .inner
            .directory
            .superusers
            .write()
            .unwrap_or_else(|p| p.into_inner());
        match answer {
            Ok(yes) => {
                verdicts.insert(account.id, (yes, now));
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not ask the directory whether a user is a superuser");
                let last = verdicts.get(&account.id).is_some_and(|(yes, _)| *yes);
                verdicts.insert(account.id, (last, now));
            }
        }
        Ok(())
    }

    /// Whether the directory's restricted-user filter matches the user
    /// (with no filter every directory user is restricted, as in Quay).
    pub async fn is_directory_restricted(&self, account: &Account) -> Result<bool, Error> {
        let Some(dir) = self.directory() else {
            return Ok(false);
        };
        if account.robot || account.organization || self.is_superuser(account) {
            return Ok(false);
        }
        if dir.settings().restricted_user_filter.is_none() {
            return Ok(true);
        }
        let id = account.id;
        let ident = self.db().read(move |c| Ok(q::ident_of(c, SERVICE, id)?)).await?;
        Ok(dir
            .matches(ident.as_deref().unwrap_or(&account.username), Narrow::RestrictedUsers)
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_uids_become_valid_usernames() {
        let first = |uid: &str| usernames(uid).next().unwrap_or_default();
        assert_eq!(first("alice"), "alice");
        assert_eq!(first("Alice.Smith"), "alice.smith");
        assert_eq!(first("j doe!"), "j_doe");
        assert_eq!(first("__x"), "x0");
        let next: Vec<String> = usernames("bob").take(3).collect();
        assert_eq!(next, ["bob", "bob1", "bob2"]);
        assert!(first("ÉMILE").is_ascii());
    }
}
