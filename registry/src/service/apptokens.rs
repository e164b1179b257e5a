//! App-specific tokens (`FEATURE_APP_SPECIFIC_TOKENS`): long random codes a
//! user mints for `docker login` as `$app`, acting with the user's own
//! rights. A code is 120 characters: the first 60 name the token, the last
//! 60 are its secret. Logins check the secret against its SHA-256; the
//! secret is also kept encrypted with `DATABASE_SECRET_KEY` so its owner
//! can see the code again, as in Quay. Tokens made before the encrypted
//! copy was kept still log in, but their code cannot be shown.

use super::accounts::{constant_time_eq, sha256_hex};
use super::{random_token, Error, Registry};
use crate::db::models::Account;
use crate::db::queries::apptokens::{self as q, AppTokenRow, NewAppToken};

const NAME_LEN: usize = 60;
const SECRET_LEN: usize = 60;
/// The "expiring soon" window when tokens do not expire by config (Quay: 4w).
const DEFAULT_EXPIRY_WINDOW_S: i64 = 4 * 7 * 86_400;
/// `last_accessed` is written at most this often, so logins stay read-mostly.
const TOUCH_EVERY_MS: i64 = 60_000;
const TITLE_MAX: usize = 255;

/// A token as its owner sees it (never the secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppSpecificToken {
    pub uuid: String,
    pub title: String,
    pub created_ms: i64,
    pub expiration_ms: Option<i64>,
    pub last_accessed_ms: Option<i64>,
}

impl From<AppTokenRow> for AppSpecificToken {
    fn from(r: AppTokenRow) -> AppSpecificToken {
        AppSpecificToken {
            uuid: r.uuid,
            title: r.title,
            created_ms: r.created_ms,
            expiration_ms: r.expiration_ms,
            last_accessed_ms: r.last_accessed_ms,
        }
    }
}

fn not_found() -> Error {
    Error::NotFound("Not Found".into())
}

impl Registry {
    /// Mints a token for the user; returns it with its code (shown only now).
    /// It expires after `APP_SPECIFIC_TOKEN_EXPIRATION` when that is set.
    pub async fn create_app_token(&self, user: &Account, title: &str) -> Result<(AppSpecificToken, String), Error> {
        let title = title.trim();
        if title.is_empty() || title.chars().count() > TITLE_MAX {
            return Err(Error::InvalidRequest(format!(
                "A token title of 1 to {TITLE_MAX} characters is required"
            )));
        }
        if user.organization || user.robot {
            return Err(Error::Forbidden("Only users may create app-specific tokens".into()));
        }
        let (name, secret) = (random_token(NAME_LEN), random_token(SECRET_LEN));
        let now = crate::now_ms();
        let expiration_ms = self
            .settings()
            .accounts
            .app_token_expiration_s
            .map(|s| now.saturating_add(s.saturating_mul(1000)));
        let token = AppSpecificToken {
            uuid: uuid::Uuid::new_v4().to_string(),
            title: title.to_owned(),
            created_ms: now,
            expiration_ms,
            last_accessed_ms: None,
        };
        let encrypted = self.encrypt_field(&secret).await?;
        let (row, user_id, hash, token_name) = (token.clone(), user.id, sha256_hex(&secret), name.clone());
        self.db()
            .write(move |c| {
                let new = NewAppToken {
                    uuid: &row.uuid,
                    user_id,
                    title: &row.title,
                    token_name: &token_name,
                    secret_sha256: &hash,
                    secret_encrypted: &encrypted,
                    now,
                    expiration_ms,
                };
                Ok::<_, Error>(q::insert(c, &new)?)
            })
            .await?;
        Ok((token, format!("{name}{secret}")))
    }

    /// The window of "expiring soon": a tenth of the configured lifetime.
    fn expiring_between(&self, only_expiring: bool) -> Option<(i64, i64)> {
        let window_s = self
            .settings()
            .accounts
            .app_token_expiration_s
            .unwrap_or(DEFAULT_EXPIRY_WINDOW_S);
        let soon_ms = ((window_s.saturating_mul(1000) + 9) / 10).max(1000);
        let now = crate::now_ms();
        only_expiring.then(|| (now, now.saturating_add(soon_ms)))
    }

    /// The user's tokens; with `only_expiring`, those expiring within a
    /// tenth of the configured lifetime (Quay's "expiring soon").
    pub async fn app_tokens(&self, user: &Account, only_expiring: bool) -> Result<Vec<AppSpecificToken>, Error> {
        let between = self.expiring_between(only_expiring);
        let user_id = user.id;
        let rows = self.db().read(move |c| Ok(q::list(c, user_id, between)?)).await?;
        Ok(rows.into_iter().map(AppSpecificToken::from).collect())
    }

    /// Every user's tokens with their owners (the superuser overview).
    pub async fn all_app_tokens(&self, only_expiring: bool) -> Result<Vec<(AppSpecificToken, String)>, Error> {
        let between = self.expiring_between(only_expiring);
        let rows = self.db().read(move |c| Ok(q::list_all(c, between)?)).await?;
        Ok(rows.into_iter().map(|(t, owner)| (t.into(), owner)).collect())
    }

    /// One of the user's tokens; other users' tokens are not found.
    pub async fn app_token(&self, user: &Account, uuid: &str) -> Result<AppSpecificToken, Error> {
        let (user_id, uuid) = (user.id, uuid.to_owned());
        self.db()
            .read(move |c| Ok(q::find_of_user(c, user_id, &uuid)?))
            .await?
            .map(AppSpecificToken::from)
            .ok_or_else(not_found)
    }

    /// One of the user's tokens with its code, when the code can be shown
    /// (`None` for tokens made before codes were kept encrypted).
    pub async fn app_token_with_code(
        &self,
        user: &Account,
        uuid: &str,
    ) -> Result<(AppSpecificToken, Option<String>), Error> {
        let (user_id, uuid) = (user.id, uuid.to_owned());
        let (row, name, encrypted) = self
            .db()
            .read(move |c| Ok(q::find_with_code_of_user(c, user_id, &uuid)?))
            .await?
            .ok_or_else(not_found)?;
        let code = match encrypted {
            Some(encrypted) => Some(format!("{name}{}", self.decrypt_field(&encrypted).await?)),
            None => None,
        };
        Ok((row.into(), code))
    }

    /// Revokes one of the user's tokens at once.
    pub async fn revoke_app_token(&self, user: &Account, uuid: &str) -> Result<AppSpecificToken, Error> {
        let (user_id, uuid) = (user.id, uuid.to_owned());
        self.db()
            .write(move |c| {
                let row = q::find_of_user(c, user_id, &uuid)?.ok_or_else(not_found)?;
                q::delete(c, row.id)?;
                Ok(AppSpecificToken::from(row))
            })
            .await
    }

    /// The user behind a token code (`$app` login): refused when the feature
    /// is off, the code is wrong, the token expired or was revoked, or the
    /// user is disabled. Records the access.
    pub async fn authenticate_app_token(&self, code: &str) -> Result<Account, Error> {
        let bad = || Error::Unauthenticated("Invalid app-specific token".into());
        if !self.settings().accounts.app_specific_tokens || code.len() != NAME_LEN + SECRET_LEN || !code.is_ascii() {
            return Err(bad());
        }
        let (name, secret) = code.split_at(NAME_LEN);
        let n = name.to_owned();
        let (row, hash, user) = self
            .db()
            .read(move |c| Ok(q::find_by_name(c, &n)?))
            .await?
            .ok_or_else(bad)?;
        let now = crate::now_ms();
        let expired = row.expiration_ms.is_some_and(|e| e <= now);
        if !constant_time_eq(hash.as_bytes(), sha256_hex(secret).as_bytes()) || expired {
            return Err(bad());
        }
        if !user.enabled || user.organization || user.robot {
            return Err(Error::Unauthenticated("This user account is disabled".into()));
        }
        if row.last_accessed_ms.is_none_or(|t| now - t >= TOUCH_EVERY_MS) {
            let id = row.id;
            self.db().write(move |c| Ok::<_, Error>(q::touch(c, id, now)?)).await?;
        }
        Ok(user)
    }
}
