//! Organization-level mirroring (`FEATURE_ORG_MIRROR`): one configuration
//! per organization naming a source registry (Quay or Harbor) and one of
//! its namespaces; every repository found there is mirrored into a
//! repository of the organization (see `mirror_sync::org`).
//!
//! The request checks, their order and messages are Quay's
//! (`endpoints/api/org_mirror.py`, `data/model/org_mirror.py`). Upstream
//! credentials are stored encrypted and the password is never given back.

mod input;

use serde_json::{json, Value};

use super::mirrors::{Field, MirrorRecord, MirrorView};
use super::{Error, Registry};
use crate::db::models::Account;
use crate::db::queries::org_mirror_repos::{self as rq, OrgRepoRow};
use crate::db::queries::org_mirrors::{self as q, OrgMirrorRow, OrgMirrorSettings};
use crate::db::queries::tag_policies;
use input::{check_url_form, invalid, parse_start, DEFAULT_TIMEOUT_S};
pub use input::{url_authority, OrgMirrorInput};

/// Quay's `SourceRegistryType` numbers.
pub const HARBOR: i32 = 1;
pub const QUAY: i32 = 2;

/// Quay's message for a source registry refused by the SSRF rules.
pub const SSRF_REFUSED: &str = "The provided registry URL is not allowed";

pub fn registry_type_name(t: i32) -> &'static str {
    if t == HARBOR {
        "harbor"
    } else {
        "quay"
    }
}

impl MirrorRecord for OrgMirrorRow {
    fn whose(&self) -> String {
        format!("organization {}", self.organization_id)
    }

    fn robot_id(&self) -> Option<i64> {
        self.settings.internal_robot_id
    }

    fn sealed_credentials(&self) -> (Option<&str>, Option<&str>) {
        let s = &self.settings;
        (
            s.external_registry_username.as_deref(),
            s.external_registry_password.as_deref(),
        )
    }

    fn registry_config(&self) -> &str {
        &self.settings.external_registry_config
    }
}

/// An organization mirror as the API shows it.
pub type OrgMirrorView = MirrorView<OrgMirrorRow>;

impl OrgMirrorView {
    pub fn repository_filters(&self) -> Vec<String> {
        serde_json::from_str(&self.row.settings.repository_filters).unwrap_or_default()
    }

    /// `url/namespace`, as Quay's usage logs name the source.
    pub fn external_reference(&self) -> String {
        let s = &self.row.settings;
        format!("{}/{}", s.external_registry_url, s.external_namespace)
    }
}

/// A page of discovered repositories.
#[derive(Debug, Clone)]
pub struct OrgMirrorRepoPage {
    pub repositories: Vec<OrgRepoRow>,
    pub total: i64,
}

impl Registry {
    pub fn org_mirror_enabled(&self) -> bool {
        self.settings().mirror.org_enabled
    }

    /// The organization's mirror, if configured.
    pub async fn org_mirror(&self, org: &Account) -> Result<Option<OrgMirrorView>, Error> {
        let id = org.id;
        self.mirror_view(move |c| q::find(c, id)).await
    }

    /// The organization's mirror; a 404 without one.
    pub async fn existing_org_mirror(&self, org: &Account) -> Result<OrgMirrorView, Error> {
        self.org_mirror(org)
            .await?
            .ok_or_else(|| Error::NotFound("Not Found".into()))
    }

    /// The robot of `org` named `name`, as Quay checks it.
    async fn org_mirror_robot(&self, org: &Account, name: &str) -> Result<Account, Error> {
        let robot = self
            .account(name)
            .await?
            .filter(|a| a.robot)
            .ok_or_else(|| invalid(format!("Invalid robot account: {name}")))?;
        match name.split_once('+') {
            Some((ns, _)) if ns == org.username => Ok(robot),
            _ => Err(invalid("Robot account must belong to the organization")),
        }
    }

    /// Checks a source registry URL: its form, then the SSRF rules.
    fn check_org_mirror_url(&self, raw: &str) -> Result<(), Error> {
        let parsed = check_url_form(raw)?;
        super::notifications::check_host_literal(&self.settings().notifications.ssrf, &url_authority(&parsed)).map_err(
            |reason| {
                tracing::info!(%reason, "org mirror source refused");
                invalid(SSRF_REFUSED)
            },
        )
    }

    /// A credential as stored: encrypted; an empty one is none.
    async fn seal_nonempty(&self, value: &Field<String>) -> Result<Option<String>, Error> {
        self.seal(value.value().filter(|v| !v.is_empty())).await
    }

    /// Creates the organization's mirror; the organization must hold no
    /// repository, no immutability policy and no proxy cache.
    pub async fn create_org_mirror(&self, org: &Account, input: &OrgMirrorInput) -> Result<OrgMirrorView, Error> {
        let missing = |f: &str| invalid(format!("'{f}' is a required property"));
        let robot_name = input
            .robot_username
            .as_deref()
            .ok_or_else(|| missing("robot_username"))?;
        let robot = self.org_mirror_robot(org, robot_name).await?;
        let registry_type = input.registry_type.ok_or_else(|| missing("external_registry_type"))?;
        let visibility = input.visibility.clone().ok_or_else(|| missing("visibility"))?;
        let start = parse_start(
            input
                .sync_start_date
                .as_deref()
                .ok_or_else(|| missing("sync_start_date"))?,
        )?;
        let sync_interval = input.sync_interval.ok_or_else(|| missing("sync_interval"))?;
        let url = input.url.clone().ok_or_else(|| missing("external_registry_url"))?;
        self.check_org_mirror_url(&url)?;
        let settings = OrgMirrorSettings {
            is_enabled: input.is_enabled.unwrap_or(true),
            external_registry_type: registry_type,
            external_registry_url: url,
            external_namespace: input.namespace.clone().ok_or_else(|| missing("external_namespace"))?,
            external_registry_username: self.seal_nonempty(&input.username).await?,
            external_registry_password: self.seal_nonempty(&input.password).await?,
            external_registry_config: Value::Object(input.registry_config.clone().unwrap_or_default()).to_string(),
            internal_robot_id: Some(robot.id),
            repository_filters: json!(input.repository_filters.clone().unwrap_or_default()).to_string(),
            visibility,
            sync_interval,
            sync_start_date: Some(start),
            skopeo_timeout: input.skopeo_timeout.unwrap_or(DEFAULT_TIMEOUT_S),
        };
        let org_id = org.id;
        let org_name = org.username.clone();
        self.db()
            .write(move |c| {
                if q::has_repositories(c, org_id)? {
                    return Err(invalid(
                        "Cannot create organization mirror: the organization already contains repositories. \
                         Organization mirroring requires an empty organization.",
                    ));
                }
                let scope = tag_policies::Scope {
                    namespace_id: org_id,
                    repository_id: None,
                };
                if !tag_policies::immutability_list(c, scope)?.is_empty() {
                    return Err(invalid(
                        "Cannot create organization mirror: the organization has immutability policies \
                         configured. Remove all namespace immutability policies first.",
                    ));
                }
                if crate::db::queries::proxy_cache::find(c, org_id)?.is_some() {
                    return Err(invalid(
                        "Cannot create organization mirror: the organization has a proxy cache configuration. \
                         Remove the proxy cache configuration first.",
                    ));
                }
                if !q::insert(c, org_id, &settings, crate::now_ms())? {
                    return Err(invalid("Mirror configuration already exists for this organization"));
                }
                Ok(())
            })
            .await?;
        tracing::info!(organization = %org_name, "organization mirror created");
        self.existing_org_mirror(org).await
    }

    /// Changes the fields present in `input` after checking them all; the
    /// mirror before the change.
    pub async fn update_org_mirror(&self, org: &Account, input: &OrgMirrorInput) -> Result<OrgMirrorView, Error> {
        let current = self.existing_org_mirror(org).await?;
        let mut new = current.row.settings.clone();
        if let Some(e) = input.is_enabled {
            new.is_enabled = e;
        }
        if let Some(url) = &input.url {
            self.check_org_mirror_url(url)?;
            new.external_registry_url = url.clone();
        }
        if let Some(ns) = &input.namespace {
            new.external_namespace = ns.clone();
        }
        if let Some(name) = &input.robot_username {
            new.internal_robot_id = Some(self.org_mirror_robot(org, name).await?.id);
        }
        if let Some(v) = &input.visibility {
            new.visibility = v.clone();
        }
        if let Some(i) = input.sync_interval {
            new.sync_interval = i;
        }
        if let Some(s) = &input.sync_start_date {
            new.sync_start_date = Some(parse_start(s)?);
        }
        // As Quay: present credentials replace the stored ones, an empty
        // string or null clears them, absent ones stay.
        if input.username.is_present() {
            new.external_registry_username = self.seal_nonempty(&input.username).await?;
        }
        if input.password.is_present() {
            new.external_registry_password = self.seal_nonempty(&input.password).await?;
        }
        if let Some(c) = &input.registry_config {
            new.external_registry_config = Value::Object(c.clone()).to_string();
        }
        if let Some(f) = &input.repository_filters {
            new.repository_filters = json!(f).to_string();
        }
        if let Some(t) = input.skopeo_timeout {
            new.skopeo_timeout = t;
        }
        let id = current.row.id;
        self.db()
            .write(move |c| Ok::<_, Error>(q::update_settings(c, id, &new)?))
            .await?;
        Ok(current)
    }

    /// Deletes the organization's mirror and its discovered-repository
    /// list (the repositories stay); the deleted mirror.
    pub async fn delete_org_mirror(&self, org: &Account) -> Result<OrgMirrorView, Error> {
        let current = self.existing_org_mirror(org).await?;
        let id = current.row.id;
        match self.db().write(move |c| Ok::<_, Error>(q::delete(c, id)?)).await? {
            true => Ok(current),
            false => Err(Error::NotFound("Not Found".into())),
        }
    }

    /// Sync-now (`start`) or cancel; false when the mirror's status refuses
    /// it (syncing, or already cancelled).
    pub async fn org_mirror_request(&self, org: &Account, start: bool) -> Result<(bool, OrgMirrorView), Error> {
        let current = self.existing_org_mirror(org).await?;
        let id = current.row.id;
        let done = self
            .db()
            .write(move |c| {
                Ok::<_, Error>(if start {
                    q::sync_now(c, id, crate::now_ms())?
                } else {
                    q::cancel(c, id)?
                })
            })
            .await?;
        Ok((done, current))
    }

    /// A page (from 1) of the repositories discovered for the mirror.
    pub async fn org_mirror_repositories(
        &self,
        mirror: &OrgMirrorView,
        page: i64,
        limit: i64,
    ) -> Result<OrgMirrorRepoPage, Error> {
        let (id, offset) = (mirror.row.id, (page - 1).saturating_mul(limit));
        let (repositories, total) = self
            .db()
            .read(move |c| Ok(rq::list_repos(c, id, offset, limit)?))
            .await?;
        Ok(OrgMirrorRepoPage { repositories, total })
    }
}
