//! Teams that mirror a directory group (`FEATURE_TEAM_SYNCING`), as Quay's
//! team sync worker keeps them: each pass adds the group's members
//! (creating accounts as needed) and then removes the team's users who are
//! no longer in the group; robots in the team stay. Only the worker that
//! records the pass (by the row's transaction id) removes members, so two
//! replicas syncing one team never undo each other.
//!
//! Under `AUTHENTICATION_TYPE: OIDC` a team mirrors a provider group
//! instead (`{"group_name": ...}`, service `oidc`): there is no directory to
//! read, so each sign-in applies the groups claim of that user, as Quay's
//! OIDC team sync does.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;

use super::{Authentication, Registry, SERVICE};
use crate::db::models::Account;
use crate::db::queries::directory::{self as q, TeamSync};
use crate::db::queries::teams::Team as TeamRow;
use crate::service::{Error, Team};

/// Teams looked at in one pass, at most (Quay's `MAX_TEAMS_PER_ITERATION`).
const MAX_TEAMS_PER_PASS: i64 = 500;

/// The `teamsync` service of teams synced to OpenID Connect groups.
pub const OIDC_SERVICE: &str = "oidc";

/// Quay's refusal of manual membership changes on a synced team.
pub const SYNCED_TEAM: &str = "Cannot call this method on an auth-synced team";

/// A synced team's link to its group.
#[derive(Debug, Clone)]
pub struct TeamSyncInfo {
    pub service: String,
    /// The group lookup, as it was set (`{"group_dn": ...}`).
    pub config: Value,
    /// When the last pass ended (ms), `None` before the first.
    pub last_updated: Option<i64>,
}

/// What one pass over the stale teams did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TeamSyncReport {
    pub teams: usize,
    pub added: usize,
    pub removed: usize,
    pub failed: usize,
}

/// The provider group an OIDC-synced team mirrors.
fn group_name(config: &Value) -> Option<&str> {
    config
        .get("group_name")
        .and_then(Value::as_str)
        .filter(|g| !g.trim().is_empty())
}

fn group_dn(config: &Value) -> Result<&str, Error> {
    config
        .get("group_dn")
        .and_then(Value::as_str)
        .filter(|g| !g.trim().is_empty())
        .ok_or_else(|| Error::InvalidRequest("Could not sync to group: Missing group_dn".into()))
}

impl Registry {
    /// The service teams are synced through (Quay's federated service):
    /// `ldap` with a directory, `oidc` under `AUTHENTICATION_TYPE: OIDC`,
    /// none with database authentication.
    pub fn team_sync_service(&self) -> Option<&'static str> {
        match self.settings().authentication {
            Authentication::Ldap(_) => Some(SERVICE),
            Authentication::Oidc => Some(OIDC_SERVICE),
            Authentication::Database => None,
        }
    }

    /// How the team is synced, if it is.
    pub async fn team_sync(&self, team: &Team) -> Result<Option<TeamSyncInfo>, Error> {
        let id = team.id;
        let row = self.db().read(move |c| Ok(q::sync_of(c, id)?)).await?;
        Ok(row.map(|r| TeamSyncInfo {
            config: serde_json::from_str(&r.config).unwrap_or(Value::Null),
            service: r.service,
            last_updated: r.last_updated,
        }))
    }

    /// Refuses a manual membership change on a synced team (Quay's 400);
    /// robots may still be added and removed when `robot_allowed`.
    pub async fn refuse_if_synced(&self, team: &Team, robot_allowed: bool, member: &str) -> Result<(), Error> {
        if !self.settings().team_sync.enabled
            || self.team_sync_service().is_none()
            || (robot_allowed && member.contains('+'))
        {
            return Ok(());
        }
        match self.team_sync(team).await? {
            Some(_) => Err(Error::InvalidRequest(SYNCED_TEAM.into())),
            None => Ok(()),
        }
    }

    /// Makes the team mirror the group `config` names, after checking the
    /// group exists and has members (400 otherwise, as in Quay). A provider
    /// group cannot be looked up, so only its name is required.
    pub async fn enable_team_sync(&self, team: &Team, config: &Value) -> Result<(), Error> {
        if self.team_sync_service() == Some(OIDC_SERVICE) {
            if group_name(config).is_none() {
                return Err(Error::InvalidRequest(
                    "Could not sync to group: Missing group_name".into(),
                ));
            }
            let (id, text) = (team.id, config.to_string());
            return self
                .db()
                .write(move |c| Ok::<_, Error>(q::set_sync(c, id, OIDC_SERVICE, &text)?))
                .await;
        }
        let Some(dir) = self.directory() else {
            return Err(Error::InvalidRequest("Could not sync to group: Not supported".into()));
        };
        if !config.is_object() {
            return Err(Error::InvalidRequest(
                "Could not sync to group: Missing group_dn".into(),
            ));
        }
        let members = dir.group_members(group_dn(config)?).await?;
        if members.is_empty() {
            return Err(Error::InvalidRequest(
                "Could not sync to group: Group does not exist or is empty".into(),
            ));
        }
        let (id, text) = (team.id, config.to_string());
        self.db()
            .write(move |c| Ok::<_, Error>(q::set_sync(c, id, SERVICE, &text)?))
            .await
    }

    /// Stops syncing the team; its members stay.
    pub async fn disable_team_sync(&self, team: &Team) -> Result<(), Error> {
        let id = team.id;
        self.db()
            .write(move |c| Ok::<_, Error>(q::remove_sync(c, id).map(drop)?))
            .await
    }

    /// Applies the groups a provider reported at sign-in: the user joins
    /// every team synced to one of them and leaves the synced teams of the
    /// groups not among them. Teams synced otherwise are left alone.
    /// Returns (teams joined, teams left).
    pub async fn sync_oidc_groups(&self, user: &Account, groups: &[String]) -> Result<(usize, usize), Error> {
        if !self.settings().team_sync.enabled || self.team_sync_service() != Some(OIDC_SERVICE) {
            return Ok((0, 0));
        }
        let (user_id, groups) = (user.id, groups.to_vec());
        let (joined, left) = self
            .db()
            .write(move |c| {
                let (mut joined, mut left) = (0, 0);
                for sync in q::synced_through(c, OIDC_SERVICE)? {
                    let config: Value = serde_json::from_str(&sync.config).unwrap_or(Value::Null);
                    let Some(group) = group_name(&config) else {
                        continue;
                    };
                    let member = q::is_member(c, sync.team_id, user_id)?;
                    if groups.iter().any(|g| g == group) {
                        if !member {
                            crate::db::queries::accounts::add_team_member(c, sync.team_id, user_id)?;
                            joined += 1;
                        }
                    } else if member && crate::db::queries::teams::remove_member(c, sync.team_id, user_id)? {
                        left += 1;
                    }
                }
                Ok::<_, Error>((joined, left))
            })
            .await?;
        if joined + left > 0 {
            tracing::info!(username = %user.username, joined, left, "team memberships synced with the provider's groups");
        }
        Ok((joined, left))
    }

    /// Syncs every synced team whose last pass is older than `stale_after`
    /// (all of them with zero). A directory that cannot be read ends the
    /// pass, as in Quay: nothing is removed on a failed read.
    pub async fn sync_directory_teams(&self, stale_after: Duration) -> Result<TeamSyncReport, Error> {
        let mut report = TeamSyncReport::default();
        if self.directory().is_none() {
            return Ok(report);
        }
        let stale_ms = i64::try_from(stale_after.as_millis()).unwrap_or(i64::MAX);
        let cutoff = crate::now_ms().saturating_sub(stale_ms);
        let rows = self
            .db()
            .read(move |c| Ok(q::stale(c, SERVICE, cutoff, MAX_TEAMS_PER_PASS)?))
            .await?;
        for (sync, team) in rows {
            match self.sync_team(&sync, &team).await {
                Ok((added, removed)) => {
                    report.teams += 1;
                    report.added += added;
                    report.removed += removed;
                }
                Err(e @ Error::Unavailable(_)) => {
                    tracing::warn!(team = %team.name, error = %e, "team sync stopped: directory unavailable");
                    report.failed += 1;
                    return Ok(report);
                }
                Err(e) => {
                    tracing::warn!(team = %team.name, error = %e, "team sync failed");
                    report.failed += 1;
                }
            }
        }
        Ok(report)
    }

    /// One team: (members added, members removed).
    async fn sync_team(&self, sync: &TeamSync, team: &TeamRow) -> Result<(usize, usize), Error> {
        let Some(dir) = self.directory() else {
            return Ok((0, 0));
        };
        let config: Value = serde_json::from_str(&sync.config).unwrap_or(Value::Null);
        let members = dir.group_members(group_dn(&config)?).await?;
        let team_id = team.id;
        let existing: HashMap<String, i64> = self
            .db()
            .read(move |c| Ok(q::linked_members(c, team_id, SERVICE)?))
            .await?
            .into_iter()
            .collect();
        let (mut keep, mut added) = (Vec::new(), 0);
        for member in &members {
            if let Some(id) = existing.get(&member.uid) {
                keep.push(*id);
                continue;
            }
            let account = match self.link_directory_user(member, true).await {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(uid = %member.uid, error = %e, "could not link a group member to an account");
                    continue;
                }
            };
            keep.push(account.id);
            let user_id = account.id;
            let joined = self
                .db()
                .write(move |c| {
                    if q::is_member(c, team_id, user_id)? {
                        return Ok(false);
                    }
                    crate::db::queries::accounts::add_team_member(c, team_id, user_id)?;
                    Ok::<_, Error>(true)
                })
                .await?;
            added += usize::from(joined);
        }
        let (sync_id, seen, fresh, now) = (
            sync.id,
            sync.transaction_id.clone(),
            uuid::Uuid::new_v4().to_string(),
            crate::now_ms(),
        );
        let removed = self
            .db()
            .write(move |c| {
                if !q::claim_pass(c, sync_id, &seen, &fresh, now)? {
                    // Another worker recorded a pass since this one began.
                    return Ok(0);
                }
                Ok::<_, Error>(q::remove_users_except(c, team_id, &keep)?)
            })
            .await?;
        tracing::info!(team = %team.name, added, removed, "team synced with its directory group");
        Ok((added, removed))
    }
}
