//! Accounts: users, organizations, passwords, OAuth access tokens and the
//! failed-login backoff. Robots, teams and permissions build on these.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use argon2::password_hash::PasswordHash;
use argon2::Argon2;
use rand::distr::{Alphanumeric, SampleString};
use regex::Regex;
use sha2::{Digest as _, Sha256};

use super::{Error, Registry};
use crate::db::models::Account;
use crate::db::queries::accounts::{self as q, AccountChanges, NewAccount, NewToken};

static NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$").unwrap_or_else(|e| panic!("static regex: {e}")));

/// Every OAuth scope Quay defines, in its order.
pub const SCOPES_ALL: &[&str] = &[
    "repo:read",
    "repo:write",
    "repo:admin",
    "repo:create",
    "user:read",
    "user:admin",
    "org:admin",
    "super:user",
];

/// Lifetime of OAuth access tokens minted by the registry (Quay's default: 10 years).
const TOKEN_LIFETIME_MS: i64 = 10 * 365 * 24 * 3600 * 1000;

/// Failed logins allowed before backoff starts.
const FREE_LOGIN_FAILURES: i32 = 5;

/// The scopes a token carries. Scopes only narrow what the user may do.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scopes(BTreeSet<String>);

impl Scopes {
    /// Every scope: what a user's own password login grants.
    pub fn all() -> Scopes {
        Scopes(SCOPES_ALL.iter().map(|s| (*s).to_owned()).collect())
    }

    /// Parses a space- or comma-separated list; unknown scopes are refused.
    pub fn parse(text: &str) -> Result<Scopes, Error> {
        let mut set = BTreeSet::new();
        for s in text.split([' ', ',']).filter(|s| !s.is_empty()) {
            if !SCOPES_ALL.contains(&s) {
                return Err(Error::InvalidRequest(format!("Invalid scope: {s}")));
            }
            set.insert(s.to_owned());
        }
        Ok(Scopes(set))
    }

    pub fn has(&self, scope: &str) -> bool {
        self.0.contains(scope)
    }
}

impl std::fmt::Display for Scopes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.iter().cloned().collect::<Vec<_>>().join(" "))
    }
}

/// Account rules from `config.yaml`.
#[derive(Debug, Clone)]
pub struct AccountPolicy {
    /// `SUPER_USERS`.
    pub superusers: Vec<String>,
    /// `FEATURE_USER_CREATION`: anyone may sign up.
    pub user_creation: bool,
    /// `FEATURE_USER_INITIALIZE`: the first user may be created through the API.
    pub user_initialize: bool,
    /// `FEATURE_MAILING`: an email address is required and verified.
    pub mailing: bool,
    /// `FEATURE_SUPERUSERS_FULL_ACCESS`: superusers act on every namespace.
    pub superusers_full_access: bool,
    /// `ROBOTS_DISALLOW`: no robot may be created or log in.
    pub robots_disallow: bool,
    /// `CREATE_NAMESPACE_ON_PUSH`: a push into a missing namespace creates
    /// it as an organization owned by the pusher.
    pub create_namespace_on_push: bool,
    /// `FEATURE_APP_SPECIFIC_TOKENS`: users may mint tokens to log in as `$app`.
    pub app_specific_tokens: bool,
    /// `APP_SPECIFIC_TOKEN_EXPIRATION` in seconds; `None`: tokens never expire.
    pub app_token_expiration_s: Option<i64>,
    /// `FEATURE_USER_RENAME`: users may change their username.
    pub user_rename: bool,
    /// `TAG_EXPIRATION_OPTIONS` in seconds: the time-machine windows a
    /// namespace may pick.
    pub tag_expiration_options_s: Vec<i64>,
    /// `DEFAULT_TAG_EXPIRATION` in seconds: the window of new namespaces.
    pub default_tag_expiration_s: i64,
    /// `FEATURE_CHANGE_TAG_EXPIRATION`: namespaces may change their window;
    /// without it a requested change is ignored, as in Quay.
    pub change_tag_expiration: bool,
    /// `FEATURE_PARTIAL_USER_AUTOCOMPLETE`: entity search matches users by
    /// prefix; without it only exact names.
    pub partial_user_autocomplete: bool,
    /// `FEATURE_RESTRICTED_USERS`: users may not create organizations or
    /// content in their own namespace, except those in
    /// `RESTRICTED_USERS_WHITELIST` (and, under LDAP, those outside
    /// `LDAP_RESTRICTED_USER_FILTER`).
    pub restricted_users: bool,
    pub restricted_users_whitelist: Vec<String>,
}

/// Quay's default `DEFAULT_TAG_EXPIRATION` (2w) in seconds.
pub const DEFAULT_TAG_EXPIRATION_S: i64 = 1_209_600;

/// Quay's default `TAG_EXPIRATION_OPTIONS` (0s, 1d, 1w, 2w, 4w) in seconds.
pub const DEFAULT_TAG_EXPIRATION_OPTIONS_S: [i64; 5] = [0, 86_400, 604_800, 1_209_600, 2_419_200];

impl Default for AccountPolicy {
    fn default() -> Self {
        AccountPolicy {
            superusers: Vec::new(),
            user_creation: true,
            user_initialize: false,
            mailing: false,
            superusers_full_access: false,
            robots_disallow: false,
            create_namespace_on_push: false,
            app_specific_tokens: true,
            app_token_expiration_s: None,
            user_rename: false,
            tag_expiration_options_s: DEFAULT_TAG_EXPIRATION_OPTIONS_S.to_vec(),
            default_tag_expiration_s: DEFAULT_TAG_EXPIRATION_S,
            change_tag_expiration: true,
            partial_user_autocomplete: true,
            restricted_users: false,
            restricted_users_whitelist: Vec::new(),
        }
    }
}

/// Checks a user, organization or robot short name (2–255, lowercase,
/// separators only between alphanumerics).
pub fn check_name(name: &str, what: &str) -> Result<(), Error> {
    if (2..=255).contains(&name.len()) && NAME.is_match(name) {
        Ok(())
    } else {
        Err(Error::InvalidRequest(format!(
            "Invalid {what} name: must be 2 to 255 characters of lowercase letters, digits and . _ - between them"
        )))
    }
}

fn check_password(password: &str) -> Result<(), Error> {
    if password.chars().count() < 8 || password.chars().any(char::is_whitespace) {
        return Err(Error::InvalidRequest(
            "Invalid password, password must be at least 8 characters and contain no whitespace.".into(),
        ));
    }
    Ok(())
}

fn check_email(email: &str) -> Result<(), Error> {
    let ok = email.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && domain.contains('.') && !email.contains(char::is_whitespace)
    });
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidRequest(format!("Invalid email address: {email}")))
    }
}

/// Argon2id cost: OWASP's 7 MiB / 5 passes variant, which keeps the memory
/// a login needs small.
const ARGON2_M_KIB: u32 = 7 * 1024;
const ARGON2_T: u32 = 5;

/// One work area shared by all password checks: memory is allocated once
/// instead of per login (per-thread allocations were kept by the allocator).
static ARGON2_BLOCKS: std::sync::Mutex<Vec<argon2::Block>> = std::sync::Mutex::new(Vec::new());

fn argon2_into(
    algorithm: argon2::Algorithm,
    params: argon2::Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> bool {
    let need = params.block_count();
    let argon = Argon2::new(algorithm, argon2::Version::V0x13, params);
    let mut blocks = ARGON2_BLOCKS.lock().unwrap_or_else(|p| p.into_inner());
    if blocks.len() < need {
        blocks.resize(need, argon2::Block::default());
    }
    argon
        .hash_password_into_with_memory(password, salt, out, &mut blocks[..need])
        .is_ok()
}

/// Hashes a password with Argon2id and a random salt, in PHC string form.
pub fn hash_password(password: &str) -> Result<String, Error> {
    let salt = rand::random::<[u8; 16]>();
    let params = argon2::Params::new(ARGON2_M_KIB, ARGON2_T, 1, Some(32))
        .map_err(|e| Error::InvalidRequest(format!("cannot hash password: {e}")))?;
    let mut out = [0u8; 32];
    if !argon2_into(
        argon2::Algorithm::Argon2id,
        params,
        password.as_bytes(),
        &salt,
        &mut out,
    ) {
        return Err(Error::InvalidRequest("cannot hash password".into()));
    }
    let b64 = |b: &[u8]| base64::Engine::encode(&base64::engine::general_purpose::STANDARD_NO_PAD, b);
    Ok(format!(
        "$argon2id$v=19$m={ARGON2_M_KIB},t={ARGON2_T},p=1${}${}",
        b64(&salt),
        b64(&out)
    ))
}

fn password_matches(password: &str, stored: &str) -> bool {
    // Quay stores bcrypt hashes; a database taken over from Quay keeps working.
    if stored.starts_with("$2") {
        return bcrypt::verify(password, stored).unwrap_or(false);
    }
    let Ok(hash) = PasswordHash::new(stored) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (
        argon2::Algorithm::try_from(hash.algorithm),
        argon2::Params::try_from(&hash),
    ) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (hash.salt, hash.hash) else {
        return false;
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    argon2_into(algorithm, params, password.as_bytes(), salt, &mut out) && constant_time_eq(&out, expected.as_bytes())
}

/// A random string of `len` letters and digits.
/// The answer to a password under `AUTHENTICATION_TYPE: OIDC`.
pub const OIDC_PASSWORD_REFUSED: &str = "Users sign in through the external identity provider; \
     use an app-specific token or an OAuth access token as the password";

pub fn random_token(len: usize) -> String {
    Alphanumeric.sample_string(&mut rand::rng(), len)
}

pub(super) fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Compares secrets (or their hashes) without an early exit on the first
/// differing byte.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    subtle::ConstantTimeEq::ct_eq(a, b).into()
}

impl Registry {
    /// Whether the account is a superuser (`SUPER_USERS` or granted through the API).
    pub fn is_superuser(&self, a: &Account) -> bool {
        !a.organization
            && !a.robot
            && (a.superuser
                || self.settings().accounts.superusers.contains(&a.username)
                || self.directory_superuser(a.id))
    }

    /// Whether no user exists yet.
    pub async fn has_no_users(&self) -> Result<bool, Error> {
        Ok(!self.db().read(|c| Ok(q::any_user(c)?)).await?)
    }

    /// An account (user, organization or robot) by name.
    pub async fn account(&self, name: &str) -> Result<Option<Account>, Error> {
        let n = name.to_owned();
        Ok(self.db().read(move |c| Ok(q::find(c, &n)?)).await?)
    }

    /// Creates a user with its namespace. `email` is required with mailing.
    pub async fn create_user(&self, username: &str, password: &str, email: Option<&str>) -> Result<Account, Error> {
        check_name(username, "username")?;
        check_password(password)?;
        if let Some(e) = email {
            check_email(e)?;
        } else if self.settings().accounts.mailing {
            return Err(Error::InvalidRequest("An email address is required".into()));
        }
        let hash = hash_password(password)?;
        let (username, email, now) = (username.to_owned(), email.map(str::to_owned), crate::now_ms());
        let verified = !self.settings().accounts.mailing;
        let window_s = self.settings().accounts.default_tag_expiration_s;
        self.db()
            .write(move |c| {
                if q::find(c, &username)?.is_some() {
                    return Err(Error::InvalidRequest("The username already exists".into()));
                }
                if let Some(e) = &email {
                    if q::email_taken(c, e)? {
                        return Err(Error::InvalidRequest("The email address is already in use".into()));
                    }
                }
                let account = NewAccount {
                    username: &username,
                    email: email.as_deref(),
                    password_hash: Some(&hash),
                    organization: false,
                    robot: false,
                    verified,
                    tag_expiration_s: window_s,
                    now,
                };
                Ok(q::insert(c, &account)?)
            })
            .await
    }

    /// Creates the first user of an empty registry (`FEATURE_USER_INITIALIZE`)
    /// and, when asked, an access token with every scope.
    pub async fn initialize_first_user(
        &self,
        username: &str,
        password: &str,
        email: Option<&str>,
        with_token: bool,
    ) -> Result<(Account, Option<String>), Error> {
        if !self.settings().accounts.user_initialize {
            return Err(Error::NotFound(
                "Cannot initialize user: FEATURE_USER_INITIALIZE is off".into(),
            ));
        }
        if self.db().read(|c| Ok(q::any_user(c)?)).await? {
            return Err(Error::InvalidRequest(
                "Cannot initialize user in a non-empty database".into(),
            ));
        }
        let user = self.create_user(username, password, email).await?;
        let token = match with_token {
            true => Some(self.issue_access_token(&user, &Scopes::all(), "initial token").await?),
            false => None,
        };
        Ok((user, token))
    }

    /// Whether the first user may still be created through
    /// `/api/v1/user/initialize`: the feature is on and no user exists.
    pub async fn awaits_first_user(&self) -> Result<bool, Error> {
        if !self.settings().accounts.user_initialize {
            return Ok(false);
        }
        Ok(!self.db().read(|c| Ok(q::any_user(c)?)).await?)
    }

    /// Checks a user's password, with Quay's backoff after repeated
    /// failures; with a directory (LDAP) the directory checks it instead.
    pub async fn authenticate_password(&self, username: &str, password: &str) -> Result<Account, Error> {
        if self.directory().is_some() {
            return self.directory_sign_in(username, password).await;
        }
        if matches!(self.settings().authentication, super::directory::Authentication::Oidc) {
            return Err(Error::Unauthenticated(OIDC_PASSWORD_REFUSED.into()));
        }
        let bad = || Error::Unauthenticated("Invalid username or password".into());
        let Some(user) = self.account(username).await? else {
            return Err(bad());
        };
        if user.organization || user.robot {
            return Err(bad());
        }
        let now = crate::now_ms();
        if let Some(wait) = backoff_remaining_s(&user, now) {
            return Err(Error::TooManyAttempts(wait));
        }
        let stored = user.password_hash.clone().unwrap_or_default();
        let pw = password.to_owned();
        let ok = tokio::task::spawn_blocking(move || password_matches(&pw, &stored))
            .await
            .unwrap_or(false);
        let changes = if ok {
            AccountChanges {
                invalid_login_attempts: Some(0),
                last_invalid_login_ms: Some(None),
                ..Default::default()
            }
        } else {
            AccountChanges {
                invalid_login_attempts: Some(user.invalid_login_attempts.saturating_add(1)),
                last_invalid_login_ms: Some(Some(now)),
                ..Default::default()
            }
        };
        if ok && user.invalid_login_attempts == 0 {
            // Nothing to record on the common path.
        } else {
            let id = user.id;
            self.db()
                .write(move |c| Ok::<_, Error>(q::update(c, id, &changes)?))
                .await?;
        }
        if !ok {
            return Err(bad());
        }
        if !user.enabled {
            return Err(Error::Unauthenticated("This user account is disabled".into()));
        }
        Ok(user)
    }

    /// Mints an OAuth access token for the user: 40 characters, the first 20
    /// naming the token, the last 20 its secret (stored hashed).
    pub async fn issue_access_token(
        &self,
        user: &Account,
        scopes: &Scopes,
        display_name: &str,
    ) -> Result<String, Error> {
        self.mint_access_token(user.id, None, scopes, display_name, TOKEN_LIFETIME_MS)
            .await
    }

    /// Mints an OAuth access token of `user_id`, of the application
    /// `client_id` when given, valid for `lifetime_ms`.
    pub(super) async fn mint_access_token(
        &self,
        user_id: i64,
        client_id: Option<&str>,
        scopes: &Scopes,
        display_name: &str,
        lifetime_ms: i64,
    ) -> Result<String, Error> {
        let (name, secret) = (random_token(20), random_token(20));
        let (scope, display, hash) = (scopes.to_string(), display_name.to_owned(), sha256_hex(&secret));
        let (client_id, now, token_name) = (client_id.map(str::to_owned), crate::now_ms(), name.clone());
        self.db()
            .write(move |c| {
                let token = NewToken {
                    user_id,
                    client_id: client_id.as_deref(),
                    display_name: &display,
                    scope: &scope,
                    token_name: &token_name,
                    secret_sha256: &hash,
                    expires_at_ms: now.saturating_add(lifetime_ms),
                    now,
                };
                Ok::<_, Error>(q::insert_token(c, &token)?)
            })
            .await?;
        Ok(format!("{name}{secret}"))
    }

    /// The user and scopes behind an OAuth access token.
    pub async fn authenticate_token(&self, token: &str) -> Result<(Account, Scopes), Error> {
        let bad = || Error::Unauthenticated("Invalid access token".into());
        if token.len() != 40 || !token.is_ascii() {
            return Err(bad());
        }
        let (name, secret) = token.split_at(20);
        let n = name.to_owned();
        let row = self
            .db()
            .read(move |c| Ok(q::find_token(c, &n)?))
            .await?
            .ok_or_else(bad)?;
        let now = crate::now_ms();
        if !constant_time_eq(row.secret_sha256.as_bytes(), sha256_hex(secret).as_bytes())
            || row.expires_at_ms <= now
            || !row.user.enabled
        {
            return Err(bad());
        }
        // `last_accessed` is written at most once a minute, so API calls stay read-mostly.
        if row.last_accessed_ms.is_none_or(|t| now - t >= 60_000) {
            let id = row.id;
            self.db()
                .write(move |c| Ok::<_, Error>(q::touch_token(c, id, now)?))
                .await?;
        }
        Ok((row.user, Scopes::parse(&row.scope).unwrap_or_default()))
    }

    /// Creates an organization owned by `creator`, who lands in team `owners` (admin).
    pub async fn create_organization(
        &self,
        creator: &Account,
        name: &str,
        email: Option<&str>,
    ) -> Result<Account, Error> {
        check_name(name, "organization")?;
        if let Some(e) = email {
            check_email(e)?;
        }
        if creator.organization || creator.robot {
            return Err(Error::Forbidden("Only users may create organizations".into()));
        }
        if self.is_restricted_user(creator).await? {
            return Err(Error::Forbidden("Restricted users cannot create organizations".into()));
        }
        let (name, email, creator_id, now) = (name.to_owned(), email.map(str::to_owned), creator.id, crate::now_ms());
        let window_s = self.settings().accounts.default_tag_expiration_s;
        self.db()
            .write(move |c| {
                if q::find(c, &name)?.is_some() {
                    return Err(Error::InvalidRequest(
                        "A user or organization with this name already exists".into(),
                    ));
                }
                if let Some(e) = &email {
                    if q::email_taken(c, e)? {
                        return Err(Error::InvalidRequest("Email address is already in use".into()));
                    }
                }
                let org = q::insert(
                    c,
                    &NewAccount {
                        username: &name,
                        email: email.as_deref(),
                        password_hash: None,
                        organization: true,
                        robot: false,
                        verified: true,
                        tag_expiration_s: window_s,
                        now,
                    },
                )?;
                let owners = q::insert_team(c, org.id, "owners", "admin", "")?;
                q::add_team_member(c, owners, creator_id)?;
                Ok(org)
            })
            .await
    }

    /// Organizations a user belongs to, with whether the user administers each.
    pub async fn organizations_of(&self, user: &Account) -> Result<Vec<(String, bool)>, Error> {
        let id = user.id;
        Ok(self.db().read(move |c| Ok(q::organizations_of(c, id)?)).await?)
    }

    /// Whether `user` is restricted (`FEATURE_RESTRICTED_USERS`): every user
    /// but superusers and `RESTRICTED_USERS_WHITELIST`, or under LDAP those
    /// `LDAP_RESTRICTED_USER_FILTER` matches.
    pub async fn is_restricted_user(&self, user: &Account) -> Result<bool, Error> {
        let policy = &self.settings().accounts;
        if !policy.restricted_users
            || user.robot
            || user.organization
            || self.is_superuser(user)
            || policy.restricted_users_whitelist.contains(&user.username)
        {
            return Ok(false);
        }
        if self.directory().is_some() {
            return self.is_directory_restricted(user).await;
        }
        Ok(true)
    }

    /// Whether `user` belongs to the organization (any of its teams, which
    /// includes its admins), or is a superuser with
    /// `FEATURE_SUPERUSERS_FULL_ACCESS`. One read of the user's team roles.
    pub async fn is_org_member(&self, user: &Account, org: &Account) -> Result<bool, Error> {
        if self.settings().accounts.superusers_full_access && self.is_superuser(user) {
            return Ok(true);
        }
        let (org_id, user_id) = (org.id, user.id);
        let roles = self
            .db()
            .read(move |c| Ok(crate::db::queries::permissions::org_roles(c, org_id, user_id)?))
            .await?;
        Ok(!roles.is_empty())
    }

    /// Whether `user` administers the organization: an admin team, or a
    /// superuser with `FEATURE_SUPERUSERS_FULL_ACCESS`.
    pub async fn is_org_admin(&self, user: &Account, org: &Account) -> Result<bool, Error> {
        if self.settings().accounts.superusers_full_access && self.is_superuser(user) {
            return Ok(true);
        }
        let (org_id, user_id) = (org.id, user.id);
        let roles = self
            .db()
            .read(move |c| Ok(crate::db::queries::permissions::org_roles(c, org_id, user_id)?))
            .await?;
        Ok(roles.iter().any(|r| r == "admin"))
    }
}

/// Seconds the user must still wait before another login attempt, if any.
fn backoff_remaining_s(user: &Account, now: i64) -> Option<u64> {
    let over = user.invalid_login_attempts - FREE_LOGIN_FAILURES;
    let last = user.last_invalid_login_ms?;
    if over < 0 {
        return None;
    }
    let wait_ms = (1i64 << over.min(8)) * 1000;
    let remaining = last + wait_ms - now;
    (remaining > 0).then(|| u64::try_from((remaining + 999) / 1000).unwrap_or(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_and_refuse_unknown_ones() {
        let s = Scopes::parse("repo:read,user:admin").expect("valid");
        assert!(s.has("repo:read") && s.has("user:admin") && !s.has("super:user"));
        assert!(Scopes::parse("repo:read root:all").is_err());
    }

    #[test]
    fn passwords_hash_and_verify() {
        let h = hash_password("correct horse").expect("hash");
        assert!(password_matches("correct horse", &h));
        assert!(!password_matches("wrong horse", &h));
        assert!(!h.contains("correct"));
    }

    #[test]
    fn bcrypt_hashes_from_quay_still_verify() {
        let quay_hash = bcrypt::hash("hunter2hunter2", 4).expect("bcrypt");
        assert!(password_matches("hunter2hunter2", &quay_hash));
        assert!(!password_matches("wrong-password", &quay_hash));
    }

    #[test]
    fn names_follow_quay_rules() {
        assert!(check_name("my-org.x", "organization").is_ok());
        for bad in ["a", "UP", "-x", "x-", "a..b", "a b"] {
            assert!(check_name(bad, "organization").is_err(), "{bad}");
        }
    }
}

/// What a superuser may change on a user.
#[derive(Debug, Clone, Default)]
pub struct UserUpdate {
    pub password: Option<String>,
    pub email: Option<String>,
    pub enabled: Option<bool>,
    pub superuser: Option<bool>,
}

impl Registry {
    /// Applies changes to a user (by a superuser or the user). A new
    /// password ends every session of the user.
    pub async fn update_user(&self, user: &Account, update: UserUpdate) -> Result<Account, Error> {
        if let Some(p) = &update.password {
            check_password(p)?;
        }
        if let Some(e) = &update.email {
            check_email(e)?;
        }
        let changes = AccountChanges {
            email: update.email.clone().map(Some),
            password_hash: update.password.as_deref().map(hash_password).transpose()?.map(Some),
            enabled: update.enabled,
            superuser: update.superuser,
            ..Default::default()
        };
        let (id, email) = (user.id, update.email);
        self.db()
            .write(move |c| {
                if let Some(e) = &email {
                    if q::find_by_id(c, id)?.and_then(|a| a.email).as_deref() != Some(e.as_str())
                        && q::email_taken(c, e)?
                    {
                        return Err(Error::InvalidRequest("The email address is already in use".into()));
                    }
                }
                q::update(c, id, &changes)?;
                if changes.password_hash.is_some() {
                    crate::db::queries::sessions::delete_all_of(c, id)?;
                }
                q::find_by_id(c, id)?.ok_or_else(|| Error::NotFound("User not found".into()))
            })
            .await
    }

    /// Removes a user or organization: the name is freed at once and its
    /// repositories become unreachable; their content is reclaimed later.
    /// Their waiting builds are cancelled and their build triggers and
    /// mirrors deleted, as when a repository is deleted.
    pub async fn delete_namespace(&self, account: &Account) -> Result<(), Error> {
        let (id, tombstone) = (account.id, format!("deleted+{}", uuid::Uuid::new_v4().simple()));
        let name = account.username.clone();
        self.db()
            .write(move |c| {
                crate::db::queries::mirrors::delete_of_namespace(c, id)?;
                crate::db::queries::robots::delete_all_of(c, &name)?;
                for repo_id in crate::db::queries::repositories::ids_of_namespace(c, id)? {
                    crate::db::queries::builds::cancel_unfinished_of_repository(c, repo_id)?;
                    crate::db::queries::triggers::delete_of_repository(c, repo_id)?;
                }
                crate::db::queries::repositories::mark_namespace_for_deletion(c, id)?;
                q::rename(c, id, &tombstone)?;
                q::update(
                    c,
                    id,
                    &AccountChanges {
                        enabled: Some(false),
                        email: Some(None),
                        password_hash: Some(None),
                        ..Default::default()
                    },
                )?;
                q::remove_memberships_and_tokens(c, id)?;
                Ok::<_, Error>(())
            })
            .await
    }

    /// Renames an organization (superuser API).
    pub async fn rename_organization(&self, org: &Account, new_name: &str) -> Result<(), Error> {
        check_name(new_name, "organization")?;
        let (id, old, name) = (org.id, org.username.clone(), new_name.to_owned());
        self.db()
            .write(move |c| {
                if q::find(c, &name)?.is_some() {
                    return Err(Error::InvalidRequest(
                        "A user or organization with this name already exists".into(),
                    ));
                }
                Ok(rename_namespace(c, id, &old, &name)?)
            })
            .await
    }

    /// Users for the superuser panel.
    pub async fn list_users(&self, include_disabled: bool, limit: i64) -> Result<Vec<Account>, Error> {
        Ok(self
            .db()
            .read(move |c| Ok(q::list_users(c, include_disabled, limit)?))
            .await?)
    }

    /// Organizations for the superuser panel.
    pub async fn list_organizations(&self, limit: i64) -> Result<Vec<Account>, Error> {
        Ok(self.db().read(move |c| Ok(q::list_organizations(c, limit)?)).await?)
    }
}

impl Registry {
    /// Sets a namespace's time-machine window (`tag_expiration_s`); only the
    /// `TAG_EXPIRATION_OPTIONS` values are allowed.
    pub async fn set_tag_expiration(&self, account: &Account, seconds: i64) -> Result<Account, Error> {
        if !self.settings().accounts.change_tag_expiration {
            return Ok(account.clone());
        }
        if !self.settings().accounts.tag_expiration_options_s.contains(&seconds) {
            return Err(Error::InvalidRequest(format!(
                "Invalid tag expiration: {seconds} seconds is not one of the allowed options"
            )));
        }
        let id = account.id;
        self.db()
            .write(move |c| {
                let changes = AccountChanges {
                    removed_tag_expiration_s: Some(seconds),
                    ..Default::default()
                };
                q::update(c, id, &changes)?;
                q::find_by_id(c, id)?.ok_or_else(|| Error::NotFound("User not found".into()))
            })
            .await
    }

    /// Renames a user (`FEATURE_USER_RENAME`), robots included (`old+x`
    /// becomes `new+x`); repositories follow, being tied to the account id.
    pub async fn rename_user(&self, user: &Account, new_name: &str) -> Result<Account, Error> {
        if !self.settings().accounts.user_rename {
            return Err(Error::InvalidRequest("Changing the username is not enabled".into()));
        }
        check_name(new_name, "username")?;
        let (id, old, new) = (user.id, user.username.clone(), new_name.to_owned());
        self.db()
            .write(move |c| {
                if q::find(c, &new)?.is_some() {
                    return Err(Error::InvalidRequest("The username already exists".into()));
                }
                rename_namespace(c, id, &old, &new)?;
                q::find_by_id(c, id)?.ok_or_else(|| Error::NotFound("User not found".into()))
            })
            .await
    }
}

/// Renames a user or organization and its robots (`old+x` becomes `new+x`).
fn rename_namespace(c: &mut crate::db::DbConn, id: i64, old: &str, new: &str) -> diesel::QueryResult<()> {
    for (robot, _, _) in crate::db::queries::robots::list(c, old, i64::MAX)? {
        let short = robot.username.split_once('+').map_or("", |(_, s)| s);
        q::rename(c, robot.id, &format!("{new}+{short}"))?;
    }
    q::rename(c, id, new)
}
