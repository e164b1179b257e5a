//! Registry tokens (`/v2/auth`): who logged in with which credential kind,
//! what they may do on the repositories they asked for (down-scoped, never
//! refused), and the signed JWT that carries it to every /v2 request.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::mirrors::PushState;
use super::permissions::Role;
use super::{random_token, Error, Registry, Scopes};
use crate::db::models::Account;
use crate::oci::RepoName;

/// How long a registry token is valid (Quay: one hour).
const TOKEN_TTL_S: i64 = 3600;
/// Clock skew tolerated when checking tokens.
const LEEWAY_S: u64 = 30;
/// The shared secret that signs registry tokens.
const SIGNING_KEY: &str = "registry-token-signing";

/// Repository actions a token grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Access {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub actions: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub nbf: i64,
    pub iat: i64,
    pub exp: i64,
    pub access: Vec<Access>,
}

/// Whether OAuth scopes (if any) allow a registry action: pulls need a
/// `repo:` scope, pushes `repo:write` (and `repo:create` for a new
/// repository), `*` needs `repo:admin`.
fn scope_allows(scopes: Option<&Scopes>, action: &str, exists: bool) -> bool {
    let Some(s) = scopes else { return true };
    let write = s.has("repo:write") || s.has("repo:admin");
    match action {
        "pull" => write || s.has("repo:read"),
        "push" => write && (exists || s.has("repo:create")),
        "*" => s.has("repo:admin"),
        _ => false,
    }
}

/// A parsed `repository:<name>:<actions>` scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeRequest {
    pub repo: RepoName,
    pub actions: Vec<String>,
}

impl ScopeRequest {
    /// Parses Docker's scope grammar; anything else is an invalid request.
    pub fn parse(scope: &str) -> Result<ScopeRequest, Error> {
        let bad = || Error::InvalidRequest(format!("Unable to parse scope: {scope}"));
        let rest = scope.strip_prefix("repository:").ok_or_else(bad)?;
        let (name, actions) = rest.rsplit_once(':').ok_or_else(bad)?;
        let actions: Vec<String> = actions
            .split(',')
            .filter(|a| !a.is_empty())
            .map(str::to_owned)
            .collect();
        if actions.is_empty() || actions.iter().any(|a| !matches!(a.as_str(), "pull" | "push" | "*")) {
            return Err(bad());
        }
        let repo = name
            .parse::<RepoName>()
            .map_err(|_| Error::InvalidRequest(format!("Invalid repository name: {name}")))?;
        Ok(ScopeRequest { repo, actions })
    }
}

impl Registry {
    /// The shared key, created on first use and the same for every replica.
    pub(super) async fn signing_key(&self) -> Result<Vec<u8>, Error> {
        if let Some(k) = self.inner.signing_key.get() {
            return Ok(k.clone());
        }
        let key = self
            .shared_secret(SIGNING_KEY, || Ok(random_token(64)))
            .await?
            .into_bytes();
        let _ = self.inner.signing_key.set(key.clone());
        Ok(key)
    }

    /// Authenticates Basic credentials as docker login sends them: a user
    /// and password, a robot (`ns+name`) and its token, `$oauthtoken` and an
    /// OAuth access token, whose scopes then narrow what it may do, or `$app`
    /// and an app-specific token, which acts with all of its user's rights.
    /// A robot's managed API token (`qro_…`) works as its password, within
    /// the token's scopes.
    pub async fn login(&self, username: &str, secret: &str) -> Result<(Account, Option<Scopes>), Error> {
        match username {
            "$oauthtoken" => {
                let (account, scopes) = self.authenticate_bearer(secret).await?;
                Ok((account, Some(scopes)))
            }
            "$app" => Ok((self.authenticate_app_token(secret).await?, None)),
            name if name.contains('+') && secret.starts_with(super::robot_tokens::ROBOT_TOKEN_PREFIX) => {
                let (robot, scopes) = self.authenticate_robot_with_api_token(name, secret).await?;
                Ok((robot, Some(scopes)))
            }
            name if name.contains('+') => Ok((self.authenticate_robot(name, secret).await?, None)),
            name => Ok((self.authenticate_password(name, secret).await?, None)),
        }
    }

    /// The actions of `wanted` the caller may have on the repository; an
    /// OAuth token's `scopes` (when it logged in with one) narrow them.
    /// With `by_state` (registry tokens, as Quay issues them), `push` and
    /// `*` are also left out where the repository's state refuses them;
    /// without it, the /v2 handler refuses the write itself with a message
    /// naming the state.
    pub async fn grantable(
        &self,
        caller: Option<&Account>,
        scopes: Option<&Scopes>,
        repo: &RepoName,
        wanted: &[String],
        by_state: bool,
    ) -> Result<Vec<String>, Error> {
        // Existence first: a concurrent push may create the repository
        // between the two reads, and a role read after it sees that.
        // The state read also says whether the repository exists.
        let state = self.push_state(repo, caller.map(|a| a.username.as_str())).await?;
        let existed = state != PushState::Missing;
        let role = self.repository_role(caller, repo.namespace(), repo.name()).await?;
        let exists = existed || role.is_some();
        // Whether the caller may create the missing repository: asked at
        // most once, though both `pull` and `push` depend on it (under a
        // directory it can take a directory search).
        let mut may_create = None;
        let mut granted = Vec::new();
        for action in wanted.iter().filter(|a| scope_allows(scopes, a, exists)) {
            let ok = match action.as_str() {
                // Pulling a missing repository one could create is allowed, so
                // the client learns it does not exist (nothing is revealed).
                "pull" => {
                    let allowed = match (caller, exists) {
                        (Some(who), false) => self.may_create_once(&mut may_create, who, repo).await?,
                        _ => role.is_some(),
                    };
                    // Members of a proxy-cache organization pull any image of
                    // its upstream; only asked when nothing else allows.
                    match caller {
                        Some(who) if !allowed => self.may_pull_through(who, repo.namespace()).await?,
                        _ => allowed,
                    }
                }
                // As in Quay: no push into a READ_ONLY repository, and into
                // a MIRROR repository only by its mirror robot.
                "push" => match (caller, exists) {
                    (_, true) => {
                        role >= Some(Role::Write)
                            && (!by_state
                                || matches!(state, PushState::Allowed | PushState::MirrorRobot | PushState::Missing))
                    }
                    (Some(who), false) => self.may_create_once(&mut may_create, who, repo).await?,
                    (None, false) => false,
                },
                "*" => {
                    role == Some(Role::Admin) && (!by_state || matches!(state, PushState::Allowed | PushState::Missing))
                }
                _ => false,
            };
            if ok && !granted.contains(action) {
                granted.push(action.clone());
            }
        }
        Ok(granted)
    }

    /// [`Self::may_create_repository`] for `repo`, remembered in `known`.
    async fn may_create_once(
        &self,
        known: &mut Option<bool>,
        caller: &Account,
        repo: &RepoName,
    ) -> Result<bool, Error> {
        if let Some(answer) = *known {
            return Ok(answer);
        }
        let answer = self.may_create_repository(caller, repo.namespace()).await?;
        *known = Some(answer);
        Ok(answer)
    }

    /// Whether the caller may create a repository in `namespace` (which may
    /// not exist yet: then only with `CREATE_NAMESPACE_ON_PUSH`, and never
    /// for a robot).
    pub async fn may_create_repository(&self, caller: &Account, namespace: &str) -> Result<bool, Error> {
        match self.account(namespace).await? {
            Some(ns) if ns.enabled => self.can_create_in(caller, &ns).await,
            Some(_) => Ok(false),
            None => Ok(self.settings().accounts.create_namespace_on_push && !caller.robot),
        }
    }

    /// Whether the repository exists (deleted ones do not).
    pub async fn repository_exists(&self, repo: &RepoName) -> Result<bool, Error> {
        let (ns, name) = (repo.namespace().to_owned(), repo.name().to_owned());
        Ok(self
            .db()
            .read(move |c| Ok(crate::db::queries::repositories::find(c, &ns, &name)?))
            .await?
            .is_some())
    }

    /// Issues a signed registry token for the granted scopes.
    pub async fn issue_registry_token(
        &self,
        subject: Option<&Account>,
        service: &str,
        access: Vec<Access>,
    ) -> Result<String, Error> {
        let sub = subject.map_or_else(|| "(anonymous)".to_owned(), |a| a.username.clone());
        self.sign_token(sub, service, access, TOKEN_TTL_S).await
    }

    /// Issues a token for `subject` (a service, not an account) granting
    /// `access` for `ttl_s` seconds: the security scanner's layer downloads.
    pub async fn issue_scoped_token(&self, subject: &str, access: Vec<Access>, ttl_s: i64) -> Result<String, Error> {
        self.sign_token(subject.to_owned(), subject, access, ttl_s).await
    }

    async fn sign_token(&self, sub: String, aud: &str, access: Vec<Access>, ttl_s: i64) -> Result<String, Error> {
        let now = crate::now_ms() / 1000;
        let claims = Claims {
            iss: "quay".into(),
            aud: aud.to_owned(),
            sub,
            nbf: now,
            iat: now,
            exp: now + ttl_s,
            access,
        };
        let key = self.signing_key().await?;
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(&key))
            .map_err(|e| Error::InvalidRequest(format!("cannot sign token: {e}")))
    }

    /// Checks a registry token's signature and lifetime.
    pub async fn verify_registry_token(&self, token: &str) -> Result<Claims, Error> {
        let key = self.signing_key().await?;
        let mut v = Validation::new(Algorithm::HS256);
        v.leeway = LEEWAY_S;
        v.validate_aud = false;
        v.set_issuer(&["quay"]);
        jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(&key), &v)
            .map(|d| d.claims)
            .map_err(|_| Error::Unauthenticated("Invalid or expired token".into()))
    }

    /// Creates the repository for a push the caller was allowed to make:
    /// the namespace (as an organization owned by the pusher) when
    /// `CREATE_NAMESPACE_ON_PUSH` allows, and a direct admin role for a
    /// creator who does not own the namespace.
    pub async fn ensure_repository_for_push(&self, repo: &RepoName, pusher: Option<&Account>) -> Result<(), Error> {
        if self.repository_exists(repo).await? {
            return Ok(());
        }
        let Some(pusher) = pusher else {
            return Err(Error::Forbidden("Anonymous users cannot create repositories".into()));
        };
        if self.account(repo.namespace()).await?.is_none() {
            if !self.may_create_repository(pusher, repo.namespace()).await? {
                return Err(Error::Forbidden("Namespace does not exist".into()));
            }
            match self.create_organization(pusher, repo.namespace(), None).await {
                Ok(_) | Err(Error::InvalidRequest(_)) => {}
                // A concurrent push created the namespace first.
                Err(Error::Db(crate::db::DbError::Query(e))) if crate::db::queries::is_unique_violation(&e) => {}
                Err(e) => return Err(e),
            }
        }
        // Checked again: whoever won a race for the namespace owns it now.
        if !self.may_create_repository(pusher, repo.namespace()).await? {
            return Err(Error::Forbidden(
                "You may not create repositories in this namespace".into(),
            ));
        }
        self.create_repository_as(repo, pusher).await
    }
}
