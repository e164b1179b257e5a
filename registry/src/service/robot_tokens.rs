//! Managed robot API tokens (`FEATURE_ROBOT_API_TOKENS`): expiring, scoped
//! `qro_` codes an admin of a robot's namespace mints for it. A code is the
//! robot's credential for the REST API (`Authorization: Bearer`) and its
//! password for registry clients (Basic `ns+robot:qro_…`). Its scopes only
//! narrow what the robot may do; the robot's live roles still decide.
//!
//! A code is `qro_`, 20 characters naming the token and a 40-character
//! secret, stored only as a SHA-256, so it is shown once, when minted.

use super::accounts::{constant_time_eq, sha256_hex};
use super::{random_token, Error, Registry, Scopes};
use crate::db::models::Account;
use crate::db::queries::accounts as aq;
use crate::db::queries::robot_tokens::{self as q, NewRobotToken, RobotTokenRow};

/// The prefix of every managed robot API token.
pub const ROBOT_TOKEN_PREFIX: &str = "qro_";
const NAME_LEN: usize = 20;
const SECRET_LEN: usize = 40;
/// Lifetime when none is asked for (Quay: 30 days).
pub const DEFAULT_EXPIRATION_S: i64 = 30 * 86_400;
/// The longest lifetime; longer requests are cut to it (Quay: 90 days).
pub const MAX_EXPIRATION_S: i64 = 90 * 86_400;
/// The longest display name.
pub const MAX_NAME_LEN: usize = 255;
/// Tokens listed per page.
pub const PAGE_SIZE: i64 = 50;
/// `last_accessed` is written at most this often, so logins stay read-mostly.
const TOUCH_EVERY_MS: i64 = 60_000;
/// Quay's API scopes in its order (`auth/scopes.py` `ALL_SCOPES`), which is
/// the order of the mintable-scopes listing.
const QUAY_SCOPE_ORDER: [&str; 8] = [
    "repo:read",
    "repo:write",
    "repo:admin",
    "repo:create",
    "user:read",
    "org:admin",
    "super:user",
    "user:admin",
];

/// `FEATURE_ROBOT_API_TOKENS` and `API_TOKEN_MAXIMUM_TOKEN_COUNT`.
#[derive(Debug, Clone, Default)]
pub struct RobotTokenPolicy {
    /// The lifecycle endpoints exist and the tokens authenticate.
    pub enabled: bool,
    /// The most tokens a robot may hold that are neither revoked nor
    /// expired; no limit when absent.
    pub max_active: Option<i64>,
}

impl RobotTokenPolicy {
    pub fn from_config(config: &crate::config::Config) -> RobotTokenPolicy {
        RobotTokenPolicy {
            enabled: config.feature("ROBOT_API_TOKENS", false),
            max_active: config
                .other
                .get("API_TOKEN_MAXIMUM_TOKEN_COUNT")
                .and_then(serde_yaml::Value::as_u64)
                .map(|n| i64::try_from(n).unwrap_or(i64::MAX)),
        }
    }
}

/// A token as its robot's admins see it (never the secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RobotApiToken {
    pub id: i64,
    pub uuid: String,
    pub name: String,
    pub scope: String,
    pub created_ms: i64,
    pub expires_at_ms: i64,
    pub last_accessed_ms: Option<i64>,
    /// The user who minted it (none once that user is gone).
    pub created_by: Option<String>,
}

impl RobotApiToken {
    fn from_row(r: RobotTokenRow, created_by: Option<String>) -> RobotApiToken {
        RobotApiToken {
            id: r.id,
            uuid: r.uuid,
            name: r.display_name,
            scope: r.scope,
            created_ms: r.created_ms,
            expires_at_ms: r.expires_at_ms,
            last_accessed_ms: r.last_accessed_ms,
            created_by,
        }
    }
}

/// What to mint, as the request gave it.
#[derive(Debug, Clone)]
pub struct NewRobotApiToken<'a> {
    pub name: &'a str,
    pub scope: &'a str,
    /// Seconds; `None` for the default lifetime.
    pub expiration_s: Option<f64>,
}

/// The scope string with commas read as spaces and repeats dropped, in
/// the order given (Quay's `normalize_scope`).
pub fn normalize_scope(scope: &str) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for s in scope.split([' ', ',']).filter(|s| !s.is_empty()) {
        if !seen.contains(&s) {
            seen.push(s);
        }
    }
    seen.join(" ")
}

/// The lifetime in whole seconds: at least one, cut to [`MAX_EXPIRATION_S`].
fn lifetime_s(expiration: Option<f64>) -> Result<i64, Error> {
    let Some(seconds) = expiration else {
        return Ok(DEFAULT_EXPIRATION_S);
    };
    if !seconds.is_finite() || seconds < 1.0 {
        return Err(Error::InvalidRequest(
            "'expiration' must be a positive number of seconds".into(),
        ));
    }
    // Saturating float-to-int conversion, then Quay's clamp.
    #[expect(clippy::cast_possible_truncation, reason = "clamped to 1..=MAX right after")]
    let whole = seconds.trunc() as i64;
    Ok(whole.clamp(1, MAX_EXPIRATION_S))
}

fn invalid_token() -> Error {
    Error::Unauthenticated("API token is invalid, revoked or expired".into())
}

impl Registry {
    /// Whether managed robot API tokens are on (`FEATURE_ROBOT_API_TOKENS`).
    pub fn robot_tokens_enabled(&self) -> bool {
        self.settings().robot_tokens.enabled
    }

    /// The scopes `creator`, acting within `caller_scopes`, may give a
    /// robot token in a namespace they administer, in Quay's order:
    /// `super:user` only for superusers.
    pub fn mintable_robot_scopes(&self, creator: &Account, caller_scopes: &Scopes) -> Vec<&'static str> {
        QUAY_SCOPE_ORDER
            .into_iter()
            .filter(|s| caller_scopes.has(s) && (*s != "super:user" || self.is_superuser(creator)))
            .collect()
    }

    /// Mints a token for `robot` (of a namespace `creator` administers).
    /// Returns its view and the code, shown only now. The scope must be
    /// Quay API scopes the creator may mint; the lifetime defaults to 30
    /// days and is cut to 90; `API_TOKEN_MAXIMUM_TOKEN_COUNT` caps the
    /// robot's live tokens.
    pub async fn create_robot_api_token(
        &self,
        robot: &Account,
        creator: &Account,
        caller_scopes: &Scopes,
        new: &NewRobotApiToken<'_>,
    ) -> Result<(RobotApiToken, String), Error> {
        let (name, scope, lifetime_s) = self.checked_new_token(creator, caller_scopes, new)?;
        let (token_name, secret) = (
            format!("{ROBOT_TOKEN_PREFIX}{}", random_token(NAME_LEN)),
            random_token(SECRET_LEN),
        );
        let code = format!("{token_name}{secret}");
        let now = crate::now_ms();
        let (robot_id, creator_id, limit) = (robot.id, creator.id, self.settings().robot_tokens.max_active);
        let (uuid, hash, display) = (uuid::Uuid::new_v4().to_string(), sha256_hex(&secret), name);
        let row = self
            .db()
            .write(move |c| {
                if let Some(max) = limit {
                    q::lock_robot(c, robot_id)?;
                    if q::count_active(c, robot_id, now)? >= max {
                        return Err(Error::InvalidRequest(format!(
                            "Token limit reached: maximum {max} non-expired tokens per robot"
                        )));
                    }
                }
                q::insert(
                    c,
                    &NewRobotToken {
                        uuid: &uuid,
                        robot_id,
                        creator_id,
                        token_name: &token_name,
                        secret_sha256: &hash,
                        scope: &scope,
                        display_name: &display,
                        now,
                        expires_at_ms: now.saturating_add(lifetime_s.saturating_mul(1000)),
                    },
                )?;
                q::find_by_name(c, &token_name)?.ok_or_else(|| Error::NotFound("Token not found".into()))
            })
            .await?;
        Ok((RobotApiToken::from_row(row.0, Some(creator.username.clone())), code))
    }

    /// The trimmed name, normalized scope and lifetime of a token to mint:
    /// 400 for a bad name, lifetime or scope, 403 for a scope `creator`
    /// may not mint.
    fn checked_new_token(
        &self,
        creator: &Account,
        caller_scopes: &Scopes,
        new: &NewRobotApiToken<'_>,
    ) -> Result<(String, String, i64), Error> {
        let name = new.name.trim();
        if name.is_empty() {
            return Err(Error::InvalidRequest("'name' cannot be empty".into()));
        }
        if name.chars().count() > MAX_NAME_LEN {
            return Err(Error::InvalidRequest("'name' is too long".into()));
        }
        let lifetime_s = lifetime_s(new.expiration_s)?;
        let scope = normalize_scope(new.scope);
        let parsed = Scopes::parse(&scope)
            .ok()
            .filter(|s| *s != Scopes::default())
            .ok_or_else(|| Error::InvalidRequest(format!("Invalid scope: {}", new.scope)))?;
        let mintable = self.mintable_robot_scopes(creator, caller_scopes);
        if QUAY_SCOPE_ORDER.iter().any(|s| parsed.has(s) && !mintable.contains(s)) {
            return Err(Error::Forbidden("Unauthorized".into()));
        }
        Ok((name.to_owned(), scope, lifetime_s))
    }

    /// A page of the robot's tokens that were not revoked (expired ones
    /// too), newest first, continuing below token id `before`; and the id
    /// to continue below when there are more.
    pub async fn robot_api_tokens(
        &self,
        robot: &Account,
        before: Option<i64>,
    ) -> Result<(Vec<RobotApiToken>, Option<i64>), Error> {
        let robot_id = robot.id;
        let mut rows = self
            .db()
            .read(move |c| Ok(q::list(c, robot_id, before, PAGE_SIZE + 1)?))
            .await?;
        let more = rows.len() > usize::try_from(PAGE_SIZE).unwrap_or(usize::MAX);
        rows.truncate(usize::try_from(PAGE_SIZE).unwrap_or(usize::MAX));
        let tokens: Vec<RobotApiToken> = rows
            .into_iter()
            .map(|(row, creator)| RobotApiToken::from_row(row, creator))
            .collect();
        let next = if more { tokens.last().map(|t| t.id) } else { None };
        Ok((tokens, next))
    }

    /// Revokes one of the robot's tokens at once; 404 when it has no such
    /// live token.
    pub async fn revoke_robot_api_token(&self, robot: &Account, uuid: &str) -> Result<(), Error> {
        let (robot_id, uuid, now) = (robot.id, uuid.to_owned(), crate::now_ms());
        let changed = self
            .db()
            .write(move |c| Ok::<_, Error>(q::revoke(c, robot_id, &uuid, now)?))
            .await?;
        match changed {
            0 => Err(Error::NotFound("Not Found".into())),
            _ => Ok(()),
        }
    }

    /// The robot behind a `qro_` code and the scopes it acts within.
    /// Refused when the feature is off, robots are disallowed, the code is
    /// wrong, revoked or expired, or the robot or its namespace is
    /// disabled. Records the access.
    pub async fn authenticate_robot_api_token(&self, code: &str) -> Result<(Account, Scopes), Error> {
        let well_formed = code.len() == ROBOT_TOKEN_PREFIX.len() + NAME_LEN + SECRET_LEN
            && code.is_ascii()
            && code.starts_with(ROBOT_TOKEN_PREFIX);
        if !self.robot_tokens_enabled() || !well_formed {
            return Err(invalid_token());
        }
        if self.settings().accounts.robots_disallow {
            return Err(Error::Unauthenticated("Robot accounts have been disabled".into()));
        }
        let (name, secret) = code.split_at(ROBOT_TOKEN_PREFIX.len() + NAME_LEN);
        let n = name.to_owned();
        let (row, hash, robot, owner) = self
            .db()
            .read(move |c| {
                let Some((row, hash, robot)) = q::find_by_name(c, &n)? else {
                    return Ok(None);
                };
                let namespace = robot.username.split_once('+').map_or("", |(ns, _)| ns).to_owned();
                let owner = aq::find(c, &namespace)?;
                Ok(Some((row, hash, robot, owner)))
            })
            .await?
            .ok_or_else(invalid_token)?;
        let now = crate::now_ms();
        if !constant_time_eq(hash.as_bytes(), sha256_hex(secret).as_bytes()) || row.expires_at_ms <= now {
            return Err(invalid_token());
        }
        if !robot.robot || !robot.enabled || !owner.is_some_and(|o| o.enabled) {
            return Err(Error::Unauthenticated(format!(
                "Robot {} or its namespace is disabled",
                robot.username
            )));
        }
        let scopes = Scopes::parse(&row.scope)
            .ok()
            .filter(|s| *s != Scopes::default())
            .ok_or_else(|| Error::Unauthenticated("API token has invalid scopes".into()))?;
        if row.last_accessed_ms.is_none_or(|t| now - t >= TOUCH_EVERY_MS) {
            let id = row.id;
            self.db().write(move |c| Ok::<_, Error>(q::touch(c, id, now)?)).await?;
        }
        Ok((robot, scopes))
    }

    /// The account and scopes of an API bearer token: a managed robot API
    /// token (`qro_…`) or an OAuth access token.
    pub async fn authenticate_bearer(&self, token: &str) -> Result<(Account, Scopes), Error> {
        if token.starts_with(ROBOT_TOKEN_PREFIX) {
            return self.authenticate_robot_api_token(token).await;
        }
        self.authenticate_token(token).await
    }

    /// Basic credentials of a robot whose password is a managed API token:
    /// the token must belong to the robot named.
    pub(super) async fn authenticate_robot_with_api_token(
        &self,
        full_name: &str,
        code: &str,
    ) -> Result<(Account, Scopes), Error> {
        let (robot, scopes) = self.authenticate_robot_api_token(code).await?;
        if robot.username != full_name {
            return Err(Error::Unauthenticated(
                "API token subject does not match the supplied username".into(),
            ));
        }
        Ok((robot, scopes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_normalized_like_quay() {
        assert_eq!(
            normalize_scope("repo:read,repo:write repo:read"),
            "repo:read repo:write"
        );
        assert_eq!(normalize_scope("  "), "");
    }

    #[test]
    fn lifetimes_default_to_thirty_days_and_are_cut_to_ninety() {
        assert_eq!(lifetime_s(None).ok(), Some(DEFAULT_EXPIRATION_S));
        assert_eq!(lifetime_s(Some(1.9)).ok(), Some(1));
        assert_eq!(lifetime_s(Some(1e12)).ok(), Some(MAX_EXPIRATION_S));
        assert!(lifetime_s(Some(0.0)).is_err() && lifetime_s(Some(0.5)).is_err());
        assert!(lifetime_s(Some(-5.0)).is_err());
        assert!(lifetime_s(Some(f64::NAN)).is_err());
    }
}
