//! Robot accounts of users and organizations: `namespace+short`, with a
//! 64-character `[A-Z0-9]` token that is their password. Robots hold
//! repository roles and team memberships like users, but never OAuth tokens.

use std::collections::HashMap;

use rand::Rng;

use super::accounts::check_name;
use super::teams::RepoGrant;
use super::{Error, Registry};
use crate::db::models::Account;
use crate::db::queries::robots::{self as q, NewRobot as NewRow};
use crate::db::queries::{accounts as aq, is_unique_violation};
use crate::db::DbError;

const TOKEN_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const TOKEN_LEN: usize = 64;
const MAX_DESCRIPTION: usize = 255;
/// A robot's last use is recorded at most this often.
const TOUCH_EVERY_MS: i64 = 60_000;

/// A validated robot short name (the username rule).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RobotShortName(String);

impl RobotShortName {
    pub fn parse(short: &str) -> Result<RobotShortName, Error> {
        check_name(short, "robot")
            .map_err(|e| Error::InvalidRequest(format!("The name for the robot '{short}' is invalid: {e}")))?;
        Ok(RobotShortName(short.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a new robot may carry besides its name.
#[derive(Debug, Clone, Default)]
pub struct NewRobot {
    pub description: Option<String>,
    pub unstructured_metadata: Option<serde_json::Value>,
}

/// A robot account with its token.
#[derive(Debug, Clone)]
pub struct Robot {
    pub account: Account,
    pub token: String,
    pub description: String,
    pub unstructured_metadata: serde_json::Value,
    pub created_ms: i64,
    pub last_accessed_ms: Option<i64>,
}

impl Robot {
    /// The full name, `namespace+short`.
    pub fn name(&self) -> &str {
        &self.account.username
    }

    /// The robot's credentials for `registry_host` in a client's format.
    pub fn credentials(&self, registry_host: &str, format: CredentialFormat) -> Credentials {
        use base64::Engine as _;
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let auth = b64(format!("{}:{}", self.name(), self.token).as_bytes());
        let docker_config = || serde_json::json!({"auths": {registry_host: {"auth": auth, "email": ""}}});
        // `ns+name` is not a valid Kubernetes object name; Quay's UI uses `ns-name-pull-secret`.
        let slug = self.name().replace('+', "-");
        match format {
            CredentialFormat::Kubernetes => {
                let dockerconfig = docker_config().to_string();
                Credentials {
                    content_type: "application/yaml",
                    filename: format!("{slug}-secret.yml"),
                    body: format!(
                        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {slug}-pull-secret\n\
                         data:\n  .dockerconfigjson: {}\ntype: kubernetes.io/dockerconfigjson\n",
                        b64(dockerconfig.as_bytes())
                    ),
                }
            }
            CredentialFormat::DockerConfig => Credentials {
                content_type: "application/json",
                filename: format!("{slug}-auth.json"),
                body: format!("{:#}\n", docker_config()),
            },
            CredentialFormat::DockerLogin | CredentialFormat::PodmanLogin => {
                let client = if format == CredentialFormat::DockerLogin {
                    "docker"
                } else {
                    "podman"
                };
                Credentials {
                    content_type: "text/plain; charset=utf-8",
                    filename: format!("{slug}-{client}-login.sh"),
                    body: format!(
                        "{client} login -u='{}' -p='{}' {registry_host}\n",
                        self.name(),
                        self.token
                    ),
                }
            }
        }
    }
}

/// The client formats a robot's credentials can be downloaded in, as the
/// robot page of Quay's UI offers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialFormat {
    /// A `kubernetes.io/dockerconfigjson` pull Secret.
    Kubernetes,
    /// A Docker/Podman `config.json` (`auths`).
    DockerConfig,
    /// A `docker login` command line.
    DockerLogin,
    /// A `podman login` command line.
    PodmanLogin,
}

impl CredentialFormat {
    pub const NAMES: &'static str = "kubernetes, docker-config, docker-login, podman-login";

    pub fn parse(name: &str) -> Option<CredentialFormat> {
        Some(match name {
            "kubernetes" | "kubernetes-secret" => CredentialFormat::Kubernetes,
            "docker-config" | "dockercfg" | "config.json" => CredentialFormat::DockerConfig,
            "docker-login" => CredentialFormat::DockerLogin,
            "podman-login" => CredentialFormat::PodmanLogin,
            _ => return None,
        })
    }
}

/// A downloadable credentials file.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub content_type: &'static str,
    pub filename: String,
    pub body: String,
}

impl From<q::Robot> for Robot {
    fn from((account, row, last_accessed_ms): q::Robot) -> Robot {
        Robot {
            account,
            unstructured_metadata: serde_json::from_str(&row.unstructured_json)
                .unwrap_or_else(|_| serde_json::Value::Object(Default::default())),
            token: row.token,
            description: row.description,
            created_ms: row.created_ms,
            last_accessed_ms,
        }
    }
}

/// Where a robot is used: its teams and the repositories it has a direct role on.
#[derive(Debug, Clone, Default)]
pub struct RobotUsage {
    pub teams: Vec<String>,
    pub repositories: Vec<String>,
}

/// A fresh robot token: 64 characters of `[A-Z0-9]`.
fn robot_token() -> String {
    let mut rng = rand::rng();
    (0..TOKEN_LEN)
        .map(|_| char::from(TOKEN_ALPHABET[rng.random_range(0..TOKEN_ALPHABET.len())]))
        .collect()
}

fn full_name(namespace: &Account, short: &str) -> String {
    format!("{}+{short}", namespace.username)
}

fn not_found(name: &str) -> Error {
    Error::InvalidRequest(format!("Could not find robot with username: {name}"))
}

impl Registry {
    /// Creates a robot in a user's or organization's namespace.
    pub async fn create_robot(
        &self,
        namespace: &Account,
        short: &RobotShortName,
        new: NewRobot,
    ) -> Result<Robot, Error> {
        if self.settings().accounts.robots_disallow {
            return Err(Error::InvalidRequest(
                "Robot accounts have been disabled. Please contact your administrator.".into(),
            ));
        }
        // A robot signed in with an API token has a namespace of its own
        // name on `/user/robots`, but robots never own robots.
        if namespace.robot {
            return Err(Error::Forbidden("Robots cannot create robot accounts".into()));
        }
        let description = new.description.unwrap_or_default();
        if description.chars().count() > MAX_DESCRIPTION {
            return Err(Error::InvalidRequest(format!(
                "The robot description must be at most {MAX_DESCRIPTION} characters"
            )));
        }
        let metadata = new.unstructured_metadata.unwrap_or_else(|| serde_json::json!({}));
        if !metadata.is_object() {
            return Err(Error::InvalidRequest("unstructured_metadata must be an object".into()));
        }
        let (name, token, json, now) = (
            full_name(namespace, short.as_str()),
            robot_token(),
            metadata.to_string(),
            crate::now_ms(),
        );
        let existing = || {
            Error::InvalidRequest(format!(
                "Existing robot with name: {}",
                full_name(namespace, short.as_str())
            ))
        };
        let created = self
            .db()
            .write(move |c| {
                if aq::find(c, &name)?.is_some() {
                    return Ok(None);
                }
                let row = NewRow {
                    username: &name,
                    token: &token,
                    description: &description,
                    unstructured_json: &json,
                    now,
                };
                q::insert(c, &row)?;
                Ok::<_, Error>(q::find(c, &name)?.map(Robot::from))
            })
            .await;
        match created {
            Ok(Some(robot)) => Ok(robot),
            Ok(None) => Err(existing()),
            Err(Error::Db(DbError::Query(e))) if is_unique_violation(&e) => Err(existing()),
            Err(e) => Err(e),
        }
    }

    /// The namespace's robot by short name; a missing robot is a 400, as in Quay.
    pub async fn robot(&self, namespace: &Account, short: &str) -> Result<Robot, Error> {
        let name = full_name(namespace, short);
        let n = name.clone();
        let found = self.db().read(move |c| Ok(q::find(c, &n)?)).await?;
        found.map(Robot::from).ok_or_else(|| not_found(&name))
    }

    /// The namespace's robots by name, at most `limit`.
    pub async fn robots(&self, namespace: &Account, limit: Option<i64>) -> Result<Vec<Robot>, Error> {
        let (ns, limit) = (namespace.username.clone(), limit.unwrap_or(i64::MAX).max(0));
        let rows = self.db().read(move |c| Ok(q::list(c, &ns, limit)?)).await?;
        Ok(rows.into_iter().map(Robot::from).collect())
    }

    /// Teams and repositories of each robot, by robot account id.
    pub async fn robots_usage(&self, robots: &[Robot]) -> Result<HashMap<i64, RobotUsage>, Error> {
        let ids: Vec<i64> = robots.iter().map(|r| r.account.id).collect();
        let (teams, repos) = self
            .db()
            .read(move |c| Ok((q::teams_of(c, &ids)?, q::repositories_of(c, &ids)?)))
            .await?;
        let mut usage: HashMap<i64, RobotUsage> = HashMap::new();
        for (id, team) in teams {
            usage.entry(id).or_default().teams.push(team);
        }
        for (id, repo) in repos {
            usage.entry(id).or_default().repositories.push(repo);
        }
        Ok(usage)
    }

    /// Deletes a robot with its memberships and repository roles.
    pub async fn delete_robot(&self, namespace: &Account, short: &str) -> Result<(), Error> {
        let name = full_name(namespace, short);
        self.db()
            .write(move |c| {
                let (account, _, _) = q::find(c, &name)?.ok_or_else(|| not_found(&name))?;
                Ok(q::delete(c, account.id)?)
            })
            .await
    }

    /// Gives the robot a new token; the old one stops working at once.
    pub async fn regenerate_robot_token(&self, namespace: &Account, short: &str) -> Result<Robot, Error> {
        let (name, token) = (full_name(namespace, short), robot_token());
        self.db()
            .write(move |c| {
                let (account, _, _) = q::find(c, &name)?.ok_or_else(|| not_found(&name))?;
                q::set_token(c, account.id, &token)?;
                q::find(c, &name)?.map(Robot::from).ok_or_else(|| not_found(&name))
            })
            .await
    }

    /// The robot's direct repository roles.
    pub async fn robot_permissions(&self, robot: &Robot) -> Result<Vec<RepoGrant>, Error> {
        let id = robot.account.id;
        let rows = self.db().read(move |c| Ok(q::permissions(c, id)?)).await?;
        Ok(rows.into_iter().map(RepoGrant::from).collect())
    }

    /// Checks a robot's credentials (`ns+short` and its token), as docker
    /// login does. Disabled robots, robots of disabled namespaces and all
    /// robots under `ROBOTS_DISALLOW` are refused.
    pub async fn authenticate_robot(&self, full_name: &str, token: &str) -> Result<Account, Error> {
        let bad = || {
            Error::Unauthenticated(format!(
                "Could not find robot with username: {full_name} and supplied password."
            ))
        };
        if self.settings().accounts.robots_disallow {
            return Err(Error::Unauthenticated("Robot accounts have been disabled".into()));
        }
        let Some((namespace, _)) = full_name.split_once('+') else {
            return Err(bad());
        };
        let n = full_name.to_owned();
        let (robot, owner) = self
            .db()
            .read(move |c| Ok((q::find(c, &n)?, aq::find(c, namespace_of(&n))?)))
            .await?;
        let Some(robot) = robot.map(Robot::from) else {
            return Err(bad());
        };
        if !super::accounts::constant_time_eq(robot.token.as_bytes(), token.as_bytes())
            && !self.federated_robot_token_valid(full_name, token).await?
        {
            return Err(bad());
        }
        if !robot.account.enabled || !owner.is_some_and(|o| o.enabled) {
            return Err(Error::Unauthenticated(format!(
                "Robot {full_name} or its namespace {namespace} is disabled"
            )));
        }
        let now = crate::now_ms();
        if robot.last_accessed_ms.is_none_or(|t| now - t >= TOUCH_EVERY_MS) {
            let id = robot.account.id;
            self.db().write(move |c| Ok::<_, Error>(q::touch(c, id, now)?)).await?;
        }
        Ok(robot.account)
    }
}

fn namespace_of(full_name: &str) -> &str {
    full_name.split_once('+').map_or(full_name, |(ns, _)| ns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn robot_tokens_are_64_uppercase_letters_and_digits() {
        let t = robot_token();
        assert_eq!(t.len(), 64);
        assert!(t.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()), "{t}");
        assert_ne!(t, robot_token());
    }

    #[test]
    fn secrets_compare_by_content_and_length() {
        assert!(crate::service::constant_time_eq(b"ABC", b"ABC"));
        assert!(!crate::service::constant_time_eq(b"ABC", b"ABD"));
        assert!(!crate::service::constant_time_eq(b"ABC", b"ABCD"));
    }

    #[test]
    fn robot_short_names_follow_the_username_rule() {
        assert!(RobotShortName::parse("builder_1").is_ok());
        for bad in ["B", "a+b", "-x", "x"] {
            assert!(RobotShortName::parse(bad).is_err(), "{bad}");
        }
    }
}
