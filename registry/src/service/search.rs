//! Finding things by name: entity search (the user/robot/team pickers and
//! "does this user exist" look-ups of API clients), the search box across
//! teams, robots, repositories and namespaces, and repository search.
//!
//! Nothing private leaks: robots and teams are only searched in a namespace
//! the caller belongs to, repositories only among those the caller may
//! read, and namespaces only when they hold such a repository.

use std::collections::HashMap;

use super::repositories::scope_cap;
use super::{Error, Registry, Scopes};
use crate::db::models::Account;
use crate::db::queries::repositories::{self as repos, PageFilter, RepositoryView, Viewer};
use crate::db::queries::search as q;

/// At most this many users an entity search returns.
const ENTITY_LIMIT: i64 = 10;
/// At most this many hits of each family the search box returns.
const FAMILY_LIMIT: i64 = 5;
/// Repository search pages (Quay's `SEARCH_RESULTS_PER_PAGE` and
/// `SEARCH_MAX_RESULT_PAGE_COUNT`).
pub const SEARCH_PAGE_SIZE: usize = 10;
pub const SEARCH_MAX_PAGES: i64 = 10;

/// What an entity search asks.
#[derive(Debug, Clone, Default)]
pub struct EntityQuery<'a> {
    pub prefix: &'a str,
    /// The namespace whose robots (and, with `include_teams`, teams) the
    /// caller wants to see too.
    pub namespace: &'a str,
    pub include_teams: bool,
    pub include_orgs: bool,
}

/// One entity search result, in Quay's order: teams, users, organizations.
#[derive(Debug, Clone, PartialEq)]
pub enum Entity {
    Team {
        name: String,
    },
    /// A user or robot; `org_member` when the namespace is an organization.
    User {
        name: String,
        robot: bool,
        org_member: Option<bool>,
    },
    Org {
        name: String,
    },
}

/// A namespace as search results show it.
#[derive(Debug, Clone, PartialEq)]
pub struct NamespaceRef {
    pub name: String,
    pub organization: bool,
}

/// One hit of the search box, with its relevance.
#[derive(Debug, Clone)]
pub struct SearchHit {
    pub score: f64,
    pub kind: HitKind,
}

#[derive(Debug, Clone)]
pub enum HitKind {
    Team { name: String, organization: NamespaceRef },
    Robot { name: String, short_name: String },
    Repository(RepositoryView),
    Namespace(NamespaceRef),
}

/// Family weights of the search box (Quay's ENTITY/TEAM/REPOSITORY scores).
const ENTITY_SCORE: f64 = 1.0;
const TEAM_SCORE: f64 = 2.0;
const REPOSITORY_SCORE: f64 = 4.0;

/// A page of repository search.
#[derive(Debug, Clone)]
pub struct RepositoryHits {
    pub items: Vec<RepositoryHit>,
    pub has_additional: bool,
    pub page: i64,
    pub start_index: usize,
}

#[derive(Debug, Clone)]
pub struct RepositoryHit {
    pub repo: RepositoryView,
    pub last_modified_s: Option<i64>,
    pub stars: i64,
    pub popularity: i64,
}

/// How well `name` matches what was typed, in (0, 1]: whole-name matches
/// best, then prefixes, then substrings, shorter names first; anything
/// else 0.5.
pub fn match_score(name: &str, query: &str) -> f64 {
    let (name, query) = (name.to_lowercase(), query.to_lowercase());
    if query.is_empty() || !name.contains(&query) {
        return 0.5;
    }
    let coverage = query.len() as f64 / name.len().max(1) as f64;
    match (name == query, name.starts_with(&query)) {
        (true, _) => 1.0,
        (false, true) => 0.8 + 0.15 * coverage,
        (false, false) => 0.6 + 0.15 * coverage,
    }
}

/// The prefix as entity search compares it: lower-case, no spaces, ASCII.
fn normalize_prefix(prefix: &str) -> String {
    prefix
        .chars()
        .filter(|c| !c.is_whitespace())
        .filter(char::is_ascii)
        .collect::<String>()
        .to_lowercase()
}

impl Registry {
    /// Users (and, in a namespace the caller belongs to, its robots and
    /// teams) whose name starts with `prefix`; an exact match always comes
    /// first. Anonymous callers see users only.
    pub async fn search_entities(
        &self,
        caller: Option<&Account>,
        query: &EntityQuery<'_>,
    ) -> Result<Vec<Entity>, Error> {
        let prefix = normalize_prefix(query.prefix);
        let namespace = match query.namespace {
            "" => None,
            ns => self.account(ns).await?,
        };
        let mut robot_namespace = None;
        let mut teams = Vec::new();
        let mut orgs = Vec::new();
        let mut organization = None;
        match (&namespace, caller) {
            (Some(org), Some(user)) if org.organization => {
                organization = Some(org.id);
                if self.is_org_member(user, org).await? {
                    robot_namespace = Some(org.username.clone());
                    if query.include_teams {
                        let (org_id, p) = (org.id, prefix.clone());
                        teams = self
                            .db()
                            .read(move |c| Ok(q::matching_org_teams(c, org_id, &p, ENTITY_LIMIT)?))
                            .await?;
                    }
                    if query.include_orgs && org.username.starts_with(&prefix) && self.is_org_admin(user, org).await? {
                        orgs.push(Entity::Org {
                            name: org.username.clone(),
                        });
                    }
                }
            }
            (Some(org), None) if org.organization => organization = Some(org.id),
            (Some(ns), Some(user)) if ns.id == user.id => robot_namespace = Some(user.username.clone()),
            _ => {}
        }
        let exact_only = !self.settings().accounts.partial_user_autocomplete;
        let found = self
            .db()
            .read(move |c| {
                // The exact match first, so the limit never cuts it off.
                let mut found = q::matching_users(c, &prefix, true, None, 1)?;
                let rest = q::matching_users(c, &prefix, exact_only, robot_namespace.as_deref(), ENTITY_LIMIT)?;
                let exact: Vec<i64> = found.iter().map(|f| f.id).collect();
                found.extend(rest.into_iter().filter(|u| !exact.contains(&u.id)));
                found.truncate(usize::try_from(ENTITY_LIMIT).unwrap_or(10));
                let members = match organization {
                    Some(org_id) => {
                        let ids: Vec<i64> = found.iter().map(|u| u.id).collect();
                        crate::db::queries::permissions::org_members_among(c, org_id, &ids)?
                    }
                    None => Vec::new(),
                };
                Ok((found, members))
            })
            .await;
        let (users, members) = found?;
        let mut out: Vec<Entity> = teams.into_iter().map(|t| Entity::Team { name: t.name }).collect();
        out.extend(users.into_iter().map(|u| Entity::User {
            org_member: organization.map(|_| u.robot || members.contains(&u.id)),
            name: u.username,
            robot: u.robot,
        }));
        out.extend(orgs);
        Ok(out)
    }

    /// The search box: the caller's teams and robots, readable repositories
    /// and namespaces holding them that match `query`, best first. Tokens
    /// need a `repo:` scope; anonymous callers find public things only.
    pub async fn search_all(
        &self,
        caller: Option<&Account>,
        scopes: &Scopes,
        query: &str,
    ) -> Result<Vec<SearchHit>, Error> {
        let query = query.trim().to_lowercase();
        if query.is_empty() {
            return Ok(Vec::new());
        }
        if caller.is_some() && scope_cap(scopes).is_none() {
            return Err(Error::Forbidden("Searching needs a repo: scope".into()));
        }
        let viewer = self.search_viewer(caller);
        let mut hits = Vec::new();
        if let Some(user) = caller {
            let (user_id, username, p) = (user.id, user.username.clone(), query.clone());
            let (teams, robots) = self
                .db()
                .read(move |c| {
                    Ok((
                        q::matching_teams_of(c, user_id, &p, FAMILY_LIMIT * 2)?,
                        q::matching_robots_of(c, user_id, &username, &p, FAMILY_LIMIT)?,
                    ))
                })
                .await?;
            hits.extend(teams.into_iter().map(|(t, org)| SearchHit {
                score: TEAM_SCORE * match_score(&t.name, &query),
                kind: HitKind::Team {
                    name: t.name,
                    organization: NamespaceRef {
                        name: org,
                        organization: true,
                    },
                },
            }));
            hits.extend(robots.into_iter().map(|name| {
                let short_name = name.split_once('+').map_or(name.as_str(), |(_, s)| s).to_owned();
                SearchHit {
                    score: ENTITY_SCORE * match_score(&short_name, &query),
                    kind: HitKind::Robot { name, short_name },
                }
            }));
        }
        let repos = self.matching_repositories(viewer, &query, 0, FAMILY_LIMIT).await?;
        hits.extend(repos.into_iter().map(|r| SearchHit {
            score: REPOSITORY_SCORE * match_score(&r.name, &query),
            kind: HitKind::Repository(r),
        }));
        let p = query.clone();
        let namespaces = self
            .db()
            .read(move |c| Ok(repos::visible_namespaces(c, viewer, &p, FAMILY_LIMIT)?))
            .await?;
        hits.extend(namespaces.into_iter().map(|(name, organization)| SearchHit {
            score: ENTITY_SCORE * match_score(&name, &query),
            kind: HitKind::Namespace(NamespaceRef { name, organization }),
        }));
        hits.sort_by(|a, b| b.score.total_cmp(&a.score));
        Ok(hits)
    }

    /// A page (from 1, at most [`SEARCH_MAX_PAGES`]) of the repositories
    /// the caller may read whose name or description holds `query`
    /// (`namespace/name` narrows to that namespace).
    pub async fn search_repositories(
        &self,
        caller: Option<&Account>,
        query: &str,
        page: i64,
    ) -> Result<RepositoryHits, Error> {
        let page = page.clamp(1, SEARCH_MAX_PAGES);
        let start_index = usize::try_from(page - 1).unwrap_or(0) * SEARCH_PAGE_SIZE;
        let limit = i64::try_from(start_index + SEARCH_PAGE_SIZE + 1).unwrap_or(i64::MAX);
        let viewer = self.search_viewer(caller);
        let mut rows = self
            .matching_repositories(viewer, &query.trim().to_lowercase(), 0, limit)
            .await?;
        let rows: Vec<RepositoryView> = rows.drain(start_index.min(rows.len())..).collect();
        let has_additional = rows.len() > SEARCH_PAGE_SIZE;
        let rows: Vec<RepositoryView> = rows.into_iter().take(SEARCH_PAGE_SIZE).collect();
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let (now, ids2) = (crate::now_ms(), ids.clone());
        let (pushed, stars) = self
            .db()
            .read(move |c| {
                Ok((
                    repos::last_tag_push_ms(c, &ids2, now)?,
                    crate::db::queries::stars::counts(c, &ids2)?,
                ))
            })
            .await?;
        let popularity = self.repository_popularity(&ids).await?;
        let pushed: HashMap<i64, Option<i64>> = pushed.into_iter().collect();
        let stars: HashMap<i64, i64> = stars.into_iter().collect();
        let items = rows
            .into_iter()
            .map(|repo| RepositoryHit {
                last_modified_s: pushed.get(&repo.id).copied().flatten().map(|ms| ms.div_euclid(1000)),
                stars: stars.get(&repo.id).copied().unwrap_or(0),
                popularity: popularity.get(&repo.id).copied().unwrap_or(0),
                repo,
            })
            .collect();
        Ok(RepositoryHits {
            items,
            has_additional,
            page,
            start_index,
        })
    }

    fn search_viewer(&self, caller: Option<&Account>) -> Viewer {
        match caller {
            Some(user) => self.reader(user, true),
            None => Viewer::Public,
        }
    }

    /// Up to `limit` readable image repositories matching `query`, after
    /// repository id `after_id`.
    async fn matching_repositories(
        &self,
        viewer: Viewer,
        query: &str,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<RepositoryView>, Error> {
        let (namespace, text) = match query.split_once('/') {
            Some((ns, name)) => (Some(ns.to_owned()), name.to_owned()),
            None => (None, query.to_owned()),
        };
        let filter = PageFilter {
            namespace,
            kind: "image".to_owned(),
            starred_by: None,
            after_id,
            text: Some(text),
        };
        Ok(self
            .db()
            .read(move |c| Ok(repos::visible_page(c, viewer, &filter, limit)?))
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_names_score_above_prefixes_above_substrings_above_misses() {
        let exact = match_score("busybox", "busybox");
        let prefix = match_score("busybox-tools", "busybox");
        let inner = match_score("my-busybox", "busybox");
        let miss = match_score("alpine", "busybox");
        assert!(
            exact > prefix && prefix > inner && inner > miss,
            "{exact} {prefix} {inner} {miss}"
        );
        assert!(match_score("busyboxes", "busybox") > match_score("busybox-extended", "busybox"));
    }

    #[test]
    fn entity_prefixes_drop_spaces_and_non_ascii_and_case() {
        assert_eq!(normalize_prefix(" De vé "), "dev");
    }
}
