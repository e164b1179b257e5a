//! Browser sessions: a password sign-in gives the browser a random session
//! id (only its SHA-256 is stored, so a database dump holds no usable
//! cookie), a CSRF token for its writes, and the time of the last password
//! check that sensitive changes require ("fresh login"). Sessions live in the
//! database so every replica accepts them.

use super::accounts::sha256_hex;
use super::{random_token, Error, Registry};
use crate::db::models::Account;
use crate::db::queries::sessions::{self as q, NewSession};

/// How long a session lasts after sign-in (Flask's default, which Quay keeps).
pub const SESSION_LIFETIME_MS: i64 = 31 * 24 * 3600 * 1000;

/// Bytes of randomness in a session id.
const SESSION_ID_BYTES: usize = 32;

/// A live session and its user.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: i64,
    pub user: Account,
    pub csrf_token: String,
    /// When the user last proved the password in this session.
    pub fresh_login_ms: i64,
    pub expires_ms: i64,
}

/// A session just started: what the browser must be given.
#[derive(Debug, Clone)]
pub struct IssuedSession {
    /// The cookie value; never stored.
    pub cookie: String,
    pub csrf_token: String,
    pub expires_ms: i64,
}

/// The outcome of a password sign-in that did not fail outright.
#[derive(Debug, Clone)]
pub enum SignIn {
    Started(IssuedSession),
    /// The password is right but the email address is not verified yet
    /// (`FEATURE_MAILING`).
    NeedsVerification,
}

/// Whether a cookie value can be a session id at all (saves a query).
fn well_formed(cookie: &str) -> bool {
    cookie.len() == SESSION_ID_BYTES * 2 && cookie.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Registry {
    /// Checks the password (with the failed-login backoff) and starts a session.
    pub async fn sign_in(&self, username: &str, password: &str) -> Result<SignIn, Error> {
        let user = self.authenticate_password(username, password).await?;
        if self.settings().accounts.mailing && !user.verified {
            return Ok(SignIn::NeedsVerification);
        }
        let issued = self.start_session(&user).await?;
        Ok(SignIn::Started(issued))
    }

    /// Starts a session for a user who just proved the password (sign-in,
    /// sign-up, password change); it counts as a fresh login.
    pub async fn start_session(&self, user: &Account) -> Result<IssuedSession, Error> {
        let cookie = hex::encode(rand::random::<[u8; SESSION_ID_BYTES]>());
        let csrf_token = random_token(64);
        let now = crate::now_ms();
        let expires_ms = now + SESSION_LIFETIME_MS;
        let (hash, csrf, user_id) = (sha256_hex(&cookie), csrf_token.clone(), user.id);
        self.db()
            .write(move |c| {
                q::delete_expired_of(c, user_id, now)?;
                let row = NewSession {
                    token_sha256: &hash,
                    user_id,
                    csrf_token: &csrf,
                    now,
                    expires_ms,
                };
                Ok::<_, Error>(q::insert(c, &row)?)
            })
            .await?;
        Ok(IssuedSession {
            cookie,
            csrf_token,
            expires_ms,
        })
    }

    /// The live session behind a cookie value; `None` when unknown, expired
    /// or its user is disabled.
    pub async fn session(&self, cookie: &str) -> Result<Option<Session>, Error> {
        if !well_formed(cookie) {
            return Ok(None);
        }
        let hash = sha256_hex(cookie);
        let found = self.db().read(move |c| Ok(q::find(c, &hash)?)).await?;
        Ok(found
            .filter(|(s, user)| s.expires_ms > crate::now_ms() && user.enabled)
            .map(|(s, user)| Session {
                id: s.id,
                user,
                csrf_token: s.csrf_token,
                fresh_login_ms: s.fresh_login_ms,
                expires_ms: s.expires_ms,
            }))
    }

    /// Checks the session user's password again and records the fresh
    /// login (`/signin/verify`).
    pub async fn refresh_session(&self, session: &Session, password: &str) -> Result<(), Error> {
        self.confirm_password(&session.user, password).await?;
        let (id, now) = (session.id, crate::now_ms());
        self.db()
            .write(move |c| Ok::<_, Error>(q::set_fresh(c, id, now)?))
            .await
    }

    /// Checks that `password` is the user's, with the failed-login backoff.
    pub async fn confirm_password(&self, user: &Account, password: &str) -> Result<(), Error> {
        if self.directory().is_some() {
            return self.directory_confirm(user, password).await;
        }
        let checked = self.authenticate_password(&user.username, password).await?;
        if checked.id != user.id {
            return Err(Error::Unauthenticated("Invalid username or password".into()));
        }
        Ok(())
    }

    /// Ends the session behind a cookie value (sign-out); unknown ones are fine.
    pub async fn end_session(&self, cookie: &str) -> Result<(), Error> {
        if !well_formed(cookie) {
            return Ok(());
        }
        let hash = sha256_hex(cookie);
        self.db()
            .write(move |c| Ok::<_, Error>(q::delete(c, &hash).map(drop)?))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hex_ids_of_the_right_length_are_looked_up() {
        assert!(well_formed(&"ab".repeat(SESSION_ID_BYTES)));
        assert!(!well_formed("abc"));
        assert!(!well_formed(&"zz".repeat(SESSION_ID_BYTES)));
    }
}
