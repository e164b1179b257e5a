//! Status conditions and component readiness.
//!
//! Two writers share `.status` through server-side apply. Each has its own
//! field manager, because an apply removes every field its manager owned
//! before and left out this time; one shared manager would let each writer
//! erase the other's conditions.
//! - The main reconciler ([`crate::names::FIELD_MANAGER`], `quay-operator`)
//!   owns `observedGeneration`, `currentVersion`, `registryEndpoint`,
//!   `lastUpdated` and the `RolloutBlocked` and `ComponentsCreated`
//!   conditions ([`MainStatus`]).
//! - The status controller ([`STATUS_MANAGER`]) owns the `Component*Ready`
//!   conditions and `Available`, computed by [`evaluate`].
//!
//! Writers apply only when something other than a timestamp changed, so a
//! status write never wakes a controller for nothing.

pub mod evaluate;

use crds::{condition, reason, ComponentKind, Condition, QuayRegistryStatus};
use serde_json::json;

/// Field manager of the status controller's applies.
pub const STATUS_MANAGER: &str = "quay-operator-status";

/// Message of a successful apply pass.
pub const ALL_CREATED: &str = "All objects created/updated successfully";

/// Whether `type_` is one of the condition types Quay's operator writes;
/// all others are pruned.
pub fn is_known_type(type_: &str) -> bool {
    [
        condition::AVAILABLE,
        condition::ROLLOUT_BLOCKED,
        condition::COMPONENTS_CREATED,
    ]
    .contains(&type_)
        || ComponentKind::ALL.iter().any(|k| k.ready_condition() == type_)
}

/// A condition as a writer wants it, before timestamps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub type_: String,
    pub status: bool,
    pub reason: String,
    pub message: String,
}

impl Wanted {
    pub fn new(type_: &str, status: bool, reason: &str, message: impl Into<String>) -> Wanted {
        Wanted {
            type_: type_.into(),
            status,
            reason: reason.into(),
            message: message.into(),
        }
    }

    /// `RolloutBlocked=True` with the reason of the failure.
    pub fn rollout_blocked(reason: &str, message: impl Into<String>) -> Wanted {
        Wanted::new(condition::ROLLOUT_BLOCKED, true, reason, message)
    }

    /// `RolloutBlocked=False` after a pass that applied everything.
    pub fn rollout_unblocked() -> Wanted {
        Wanted::new(
            condition::ROLLOUT_BLOCKED,
            false,
            reason::COMPONENTS_CREATION_SUCCESS,
            ALL_CREATED,
        )
    }

    /// `ComponentsCreated=True`.
    pub fn components_created() -> Wanted {
        Wanted::new(
            condition::COMPONENTS_CREATED,
            true,
            reason::COMPONENTS_CREATION_SUCCESS,
            ALL_CREATED,
        )
    }

    /// `ComponentsCreated=False` with one of the migration reasons.
    pub fn components_waiting(reason: &str, message: impl Into<String>) -> Wanted {
        Wanted::new(condition::COMPONENTS_CREATED, false, reason, message)
    }

    /// The Event type for a change to this condition: a blocked rollout is
    /// a warning, everything else is informational.
    pub fn is_warning(&self) -> bool {
        self.type_ == condition::ROLLOUT_BLOCKED && self.status
    }

    fn from_condition(c: &Condition) -> Wanted {
        Wanted::new(&c.type_, c.status == "True", &c.reason, c.message.clone())
    }

    /// Whether `current` already says the same (timestamps aside).
    fn matches(&self, current: Option<&Condition>) -> bool {
        current.is_some_and(|c| {
            c.status == status_str(self.status) && c.reason == self.reason && c.message == self.message
        })
    }
}

/// `True` / `False`.
pub fn status_str(status: bool) -> &'static str {
    if status {
        "True"
    } else {
        "False"
    }
}

/// The current UTC time as RFC 3339 with seconds, as Kubernetes writes it.
pub fn now() -> String {
    k8s_openapi::jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// The condition to write for `wanted`: `lastTransitionTime` is kept while
/// the status is unchanged, `lastUpdateTime` is `now` when anything changed.
pub fn stamp(current: &[Condition], wanted: &Wanted, now: &str) -> Condition {
    let prev = current.iter().find(|c| c.type_ == wanted.type_);
    let same_status = prev.is_some_and(|c| c.status == status_str(wanted.status));
    let unchanged = wanted.matches(prev);
    let keep = |field: Option<&Option<String>>| field.cloned().flatten().unwrap_or_else(|| now.to_string());
    Condition {
        type_: wanted.type_.clone(),
        status: status_str(wanted.status).into(),
        reason: wanted.reason.clone(),
        message: wanted.message.clone(),
        last_update_time: Some(if unchanged {
            keep(prev.map(|c| &c.last_update_time))
        } else {
            now.to_string()
        }),
        last_transition_time: Some(if same_status {
            keep(prev.map(|c| &c.last_transition_time))
        } else {
            now.to_string()
        }),
    }
}

/// Inserts or updates `wanted` in `conditions`; returns whether it changed.
pub fn upsert(conditions: &mut Vec<Condition>, wanted: &Wanted, now: &str) -> bool {
    let changed = !wanted.matches(conditions.iter().find(|c| c.type_ == wanted.type_));
    let stamped = stamp(conditions, wanted, now);
    match conditions.iter_mut().find(|c| c.type_ == wanted.type_) {
        Some(slot) => *slot = stamped,
        None => conditions.push(stamped),
    }
    changed
}

/// Drops conditions of unknown types; returns whether any were dropped.
pub fn prune_unknown(conditions: &mut Vec<Condition>) -> bool {
    let before = conditions.len();
    conditions.retain(|c| is_known_type(&c.type_));
    conditions.len() != before
}

/// A set of conditions one writer owns, stamped against the current list,
/// plus those that changed (one Event each). `changed` is empty when the
/// writer has nothing to write.
#[derive(Debug, Clone, PartialEq)]
pub struct ConditionUpdate {
    pub conditions: Vec<Condition>,
    pub changed: Vec<Wanted>,
}

/// Stamps `wanted` against `current`.
pub fn update_conditions(current: &[Condition], wanted: &[Wanted], now: &str) -> ConditionUpdate {
    ConditionUpdate {
        conditions: wanted.iter().map(|w| stamp(current, w, now)).collect(),
        changed: wanted
            .iter()
            .filter(|w| !w.matches(current.iter().find(|c| c.type_ == w.type_)))
            .cloned()
            .collect(),
    }
}

/// The part of the status the main reconciler owns.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MainStatus {
    pub observed_generation: Option<i64>,
    pub current_version: Option<String>,
    pub registry_endpoint: Option<String>,
    pub rollout_blocked: Option<Wanted>,
    pub components_created: Option<Wanted>,
}

impl MainStatus {
    /// Starts from what the status says now, so an apply keeps the fields
    /// a pass does not touch.
    pub fn from_status(status: Option<&QuayRegistryStatus>) -> MainStatus {
        let cond = |t: &str| status.and_then(|s| s.condition(t)).map(Wanted::from_condition);
        MainStatus {
            observed_generation: status.and_then(|s| s.observed_generation),
            current_version: status.and_then(|s| s.current_version.clone()),
            registry_endpoint: status.and_then(|s| s.registry_endpoint.clone()),
            rollout_blocked: cond(condition::ROLLOUT_BLOCKED),
            components_created: cond(condition::COMPONENTS_CREATED),
        }
    }

    /// Records a condition this writer owns.
    pub fn set(&mut self, wanted: Wanted) {
        if wanted.type_ == condition::ROLLOUT_BLOCKED {
            self.rollout_blocked = Some(wanted);
        } else {
            self.components_created = Some(wanted);
        }
    }

    /// The reason `ComponentsCreated` has now.
    pub fn components_reason(&self) -> Option<&str> {
        self.components_created.as_ref().map(|w| w.reason.as_str())
    }

    /// The server-side apply body for the status subresource and the
    /// conditions that changed, or `None` when nothing but timestamps would.
    pub fn patch(&self, current: Option<&QuayRegistryStatus>, now: &str) -> Option<(serde_json::Value, Vec<Wanted>)> {
        let before = MainStatus::from_status(current);
        if *self == before {
            return None;
        }
        let wanted: Vec<Wanted> = self
            .rollout_blocked
            .iter()
            .chain(&self.components_created)
            .cloned()
            .collect();
        let empty = Vec::new();
        let update = update_conditions(current.map_or(&empty, |s| &s.conditions), &wanted, now);
        let status = QuayRegistryStatus {
            current_version: self.current_version.clone(),
            registry_endpoint: self.registry_endpoint.clone(),
            last_updated: Some(now.to_string()),
            observed_generation: self.observed_generation,
            conditions: update.conditions,
        };
        Some((status_body(&status), update.changed))
    }
}

/// `{apiVersion, kind, status}`, the body of a status apply.
pub fn status_body(status: &QuayRegistryStatus) -> serde_json::Value {
    json!({
        "apiVersion": format!("{}/{}", crds::GROUP, crds::VERSION),
        "kind": crds::KIND,
        "status": status,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(type_: &str, status: &str, reason: &str, t: &str) -> Condition {
        Condition {
            type_: type_.into(),
            status: status.into(),
            reason: reason.into(),
            message: "m".into(),
            last_update_time: Some(t.into()),
            last_transition_time: Some(t.into()),
        }
    }

    #[test]
    fn an_unchanged_condition_keeps_both_timestamps() {
        let current = vec![cond("RolloutBlocked", "False", "ComponentsCreationSuccess", "t0")];
        let wanted = Wanted::new("RolloutBlocked", false, "ComponentsCreationSuccess", "m");
        let c = stamp(&current, &wanted, "t1");
        assert_eq!(c.last_transition_time.as_deref(), Some("t0"));
        assert_eq!(c.last_update_time.as_deref(), Some("t0"));
    }

    #[test]
    fn a_new_reason_with_the_same_status_keeps_the_transition_time() {
        let current = vec![cond("ComponentsCreated", "False", "MigrationsInProgress", "t0")];
        let wanted = Wanted::components_waiting("MigrationsFailed", "boom");
        let c = stamp(&current, &wanted, "t1");
        assert_eq!(c.last_transition_time.as_deref(), Some("t0"));
        assert_eq!(c.last_update_time.as_deref(), Some("t1"));
    }

    #[test]
    fn a_status_flip_moves_the_transition_time() {
        let mut list = vec![cond("RolloutBlocked", "False", "ComponentsCreationSuccess", "t0")];
        assert!(upsert(
            &mut list,
            &Wanted::rollout_blocked("ConfigInvalid", "bad"),
            "t1"
        ));
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].status, "True");
        assert_eq!(list[0].last_transition_time.as_deref(), Some("t1"));
        assert!(!upsert(
            &mut list,
            &Wanted::rollout_blocked("ConfigInvalid", "bad"),
            "t2"
        ));
        assert_eq!(list[0].last_transition_time.as_deref(), Some("t1"));
    }

    #[test]
    fn unknown_condition_types_are_pruned() {
        let mut list = vec![
            cond("Available", "True", "HealthChecksPassing", "t"),
            cond("ConfigEditorReady", "True", "x", "t"),
            cond("ComponentHPAReady", "True", "ComponentReady", "t"),
        ];
        assert!(prune_unknown(&mut list));
        let types: Vec<_> = list.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, ["Available", "ComponentHPAReady"]);
        assert!(!prune_unknown(&mut list));
    }

    #[test]
    fn only_a_blocked_rollout_is_a_warning() {
        assert!(Wanted::rollout_blocked("ConfigInvalid", "x").is_warning());
        assert!(!Wanted::rollout_unblocked().is_warning());
        assert!(!Wanted::components_waiting("MigrationsFailed", "x").is_warning());
    }

    #[test]
    fn the_main_status_patch_is_skipped_when_nothing_changed() {
        let status = QuayRegistryStatus {
            current_version: Some("v1".into()),
            observed_generation: Some(2),
            conditions: vec![cond("RolloutBlocked", "False", "ComponentsCreationSuccess", "t0")],
            ..Default::default()
        };
        let mut main = MainStatus::from_status(Some(&status));
        assert!(main.patch(Some(&status), "t1").is_none());
        main.observed_generation = Some(3);
        main.set(Wanted::components_created());
        let (body, changed) = main.patch(Some(&status), "t1").expect("a patch");
        assert_eq!(body["status"]["observedGeneration"], 3);
        assert_eq!(body["status"]["currentVersion"], "v1");
        assert_eq!(body["status"]["conditions"].as_array().map(Vec::len), Some(2));
        assert_eq!(changed, vec![Wanted::components_created()]);
    }
}
