//! The helpers Quay's UI sets a GitHub trigger up with: the GitHub
//! namespaces the trigger's token reaches, their repositories, and a
//! repository's branches and tags.

use secrecy::SecretString;
use serde_json::{json, Map, Value};

use super::github::{unreachable_error, Failure, GithubClient};
use super::github_triggers::{is_full_name, GITHUB, PER_PAGE};
use super::Error;
use crate::db::models::Account;
use crate::db::queries::repositories::RepositoryView;
use crate::service::Registry;

/// Values a field lists at most, as in Quay.
const FIELD_VALUE_LIMIT: usize = 30;

/// A source as Quay's BUILD_SOURCES_SCHEMA has it.
fn source_view(repo: &Value) -> Value {
    let pushed = repo["pushed_at"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map_or(0, |t| t.timestamp());
    json!({
        "name": repo["name"].as_str().unwrap_or_default(),
        "full_name": repo["full_name"].as_str().unwrap_or_default(),
        "description": repo["description"].as_str().unwrap_or_default(),
        "last_updated": pushed,
        "url": repo["html_url"].as_str().unwrap_or_default(),
        "has_admin_permissions": true,
        "private": repo["private"].as_bool().unwrap_or(false),
    })
}

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["name"].as_str().map(str::to_owned))
        .collect()
}

impl Registry {
    /// The GitHub user and organizations the trigger's token reaches, as
    /// Quay's namespaces.
    pub async fn trigger_namespaces(
        &self,
        repo: &RepositoryView,
        caller: &Account,
        uuid: &str,
    ) -> Result<Vec<Value>, Error> {
        let trigger = self.own_trigger(repo, caller, uuid).await?;
        let (github, token) = self.github_of(&trigger).await?;
        let token = &token;
        let failed = "Unable to list GitHub namespaces";
        let user = github.get(token, "user").await.map_err(|f| f.into_error(failed))?;
        let orgs = github
            .get(token, &format!("user/orgs?{PER_PAGE}"))
            .await
            .map_err(|f| f.into_error(failed))?;
        let login = user["login"].as_str().unwrap_or_default();
        let mut namespaces = vec![json!({
            "personal": true,
            "id": login,
            "title": user["name"].as_str().unwrap_or(login),
            "avatar_url": user["avatar_url"],
            "url": user["html_url"].as_str().unwrap_or_default(),
            "score": user["plan"]["private_repos"].as_i64().unwrap_or(0),
        })];
        for org in orgs.as_array().into_iter().flatten() {
            let Some(name) = org["login"].as_str().filter(|n| *n != login) else {
                continue;
            };
            namespaces.push(json!({
                "personal": false,
                "id": name,
                "title": name,
                "avatar_url": org["avatar_url"],
                "url": "",
                "score": 0,
            }));
        }
        Ok(namespaces)
    }

    /// The repositories of a GitHub namespace the trigger's token reaches:
    /// the user's own, or an organization's they are a member of (none
    /// when GitHub refuses, as in Quay).
    pub async fn trigger_sources(
        &self,
        repo: &RepositoryView,
        caller: &Account,
        uuid: &str,
        namespace: &str,
    ) -> Result<Vec<Value>, Error> {
        let trigger = self.own_trigger(repo, caller, uuid).await?;
        let (github, token) = self.github_of(&trigger).await?;
        let token = &token;
        let user = github
            .get(token, "user")
            .await
            .map_err(|f| f.into_error("Unable to list GitHub repositories"))?;
        let path = if user["login"].as_str() == Some(namespace) {
            format!("user/repos?type=owner&sort=updated&{PER_PAGE}")
        } else {
            let ns = url::form_urlencoded::byte_serialize(namespace.as_bytes()).collect::<String>();
            format!("orgs/{ns}/repos?type=member&{PER_PAGE}")
        };
        let repos = match github.get(token, &path).await {
            Ok(list) => list,
            Err(Failure::Unreachable) => return Err(unreachable_error()),
            Err(Failure::Refused { .. }) => return Ok(Vec::new()),
        };
        Ok(repos.as_array().into_iter().flatten().map(source_view).collect())
    }

    /// The values of a run field of a GitHub trigger: `refs` (branches,
    /// the default first, then tags), `branch_name` or `tag_name`. `config`
    /// overrides the trigger's (the UI sends the config being set up).
    /// `None` for fields a trigger does not have. As in Quay, a refusal of
    /// GitHub lists no tags and the branch `master`.
    pub async fn trigger_field_values(
        &self,
        repo: &RepositoryView,
        uuid: &str,
        field: &str,
        config: Option<Map<String, Value>>,
    ) -> Result<Option<Vec<Value>>, Error> {
        let trigger = self.trigger(repo, uuid).await?;
        if trigger.service != GITHUB || !matches!(field, "refs" | "branch_name" | "tag_name") {
            return Ok(None);
        }
        let (github, token) = self.github_of(&trigger).await?;
        let token = &token;
        let config = config.unwrap_or_else(|| trigger.config.clone());
        let Some(source) = config.get("build_source").and_then(Value::as_str) else {
            return Ok(Some(Vec::new()));
        };
        if !is_full_name(source) {
            return Ok(Some(Vec::new()));
        }
        let branches = || self.github_branches(github, token, source);
        let tags = || self.github_tags(github, token, source);
        let values = match field {
            "branch_name" => branches().await?.into_iter().map(Value::from).collect(),
            "tag_name" => tags().await?.into_iter().map(Value::from).collect(),
            _ => {
                let b = branches()
                    .await?
                    .into_iter()
                    .map(|n| json!({"kind": "branch", "name": n}));
                let t = tags().await?.into_iter().map(|n| json!({"kind": "tag", "name": n}));
                b.chain(t).collect()
            }
        };
        Ok(Some(values))
    }

    async fn github_branches(
        &self,
        github: &GithubClient,
        token: &SecretString,
        source: &str,
    ) -> Result<Vec<String>, Error> {
        let listed = async {
            let repo = github.get(token, &format!("repos/{source}")).await?;
            let list = github
                .get(token, &format!("repos/{source}/branches?{PER_PAGE}"))
                .await?;
            Ok::<_, Failure>((repo, list))
        };
        let (repo, list) = match listed.await {
            Ok(found) => found,
            Err(Failure::Unreachable) => return Err(unreachable_error()),
            Err(Failure::Refused { .. }) => return Ok(vec!["master".into()]),
        };
        let mut branches = names(&list);
        branches.truncate(FIELD_VALUE_LIMIT);
        if let Some(default) = repo["default_branch"].as_str() {
            branches.retain(|b| b != default);
            branches.insert(0, default.to_owned());
        }
        Ok(branches)
    }

    async fn github_tags(
        &self,
        github: &GithubClient,
        token: &SecretString,
        source: &str,
    ) -> Result<Vec<String>, Error> {
        match github.get(token, &format!("repos/{source}/tags?{PER_PAGE}")).await {
            Ok(list) => Ok(names(&list).into_iter().take(FIELD_VALUE_LIMIT).collect()),
            Err(Failure::Unreachable) => Err(unreachable_error()),
            Err(Failure::Refused { .. }) => Ok(Vec::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_show_quays_fields_with_the_push_time_in_seconds() {
        let view = source_view(&json!({
            "name": "hello-app", "full_name": "octo-org/hello-app", "description": null,
            "pushed_at": "2026-11-30T17:12:45Z", "html_url": "https://github.com/octo-org/hello-app", "private": true,
        }));
        assert_eq!(view["description"], "");
        assert_eq!(view["last_updated"], 1_796_058_765);
        assert_eq!(view["private"], true);
        assert_eq!(view["has_admin_permissions"], true);
    }
}
