//! Triggers whose builds keep failing are disabled, as in Quay: every
//! build of a trigger that ends counts on it. A success resets both counts;
//! an `error` adds a failure (and resets the internal errors); an
//! `internalerror` (a builder that went silent, re-queued or not) adds an
//! internal error. Reaching `SUCCESSIVE_TRIGGER_FAILURE_DISABLE_THRESHOLD`
//! (100) failures or `SUCCESSIVE_TRIGGER_INTERNAL_ERROR_DISABLE_THRESHOLD`
//! (5) internal errors disables the trigger with `disabled_reason`
//! `successive_build_failures` or `successive_build_internal_errors`; a
//! threshold of `null` (or 0) never disables.

use crate::config::Config;
use crate::db::queries::triggers::{self as q, Outcome};
use crate::service::{Error, Registry};

/// The config keys, checked when the config is loaded.
pub const THRESHOLD_KEYS: [&str; 2] = [
    "SUCCESSIVE_TRIGGER_FAILURE_DISABLE_THRESHOLD",
    "SUCCESSIVE_TRIGGER_INTERNAL_ERROR_DISABLE_THRESHOLD",
];

/// Why builds disabled a trigger (Quay's names).
const BUILD_FAILURES: &str = "successive_build_failures";
const INTERNAL_ERRORS: &str = "successive_build_internal_errors";

/// After how many successive failed builds a trigger is disabled; `None`
/// never.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TriggerDisablePolicy {
    pub failures: Option<i32>,
    pub internal_errors: Option<i32>,
}

impl Default for TriggerDisablePolicy {
    fn default() -> Self {
        TriggerDisablePolicy {
            failures: Some(100),
            internal_errors: Some(5),
        }
    }
}

impl TriggerDisablePolicy {
    /// The thresholds of the config (validated at load): absent keys keep
    /// Quay's defaults, `null` or 0 turns one off.
    pub fn from_config(config: &Config) -> TriggerDisablePolicy {
        let defaults = TriggerDisablePolicy::default();
        let threshold = |key: &str, default: Option<i32>| match config.other.get(key) {
            None => default,
            Some(v) => v.as_i64().and_then(|n| i32::try_from(n).ok()).filter(|n| *n > 0),
        };
        TriggerDisablePolicy {
            failures: threshold(THRESHOLD_KEYS[0], defaults.failures),
            internal_errors: threshold(THRESHOLD_KEYS[1], defaults.internal_errors),
        }
    }

    /// The reason to disable a trigger with these successive counts, if any.
    fn reason(&self, failures: i32, internal_errors: i32) -> Option<&'static str> {
        if self.failures.is_some_and(|t| failures >= t) {
            Some(BUILD_FAILURES)
        } else if self.internal_errors.is_some_and(|t| internal_errors >= t) {
            Some(INTERNAL_ERRORS)
        } else {
            None
        }
    }
}

/// Whether a config value is a valid threshold: a whole number or null.
pub fn valid_threshold(value: &serde_yaml::Value) -> bool {
    value.is_null() || value.as_u64().is_some()
}

impl Registry {
    /// Counts how a build ended on the trigger that queued it (if any) and
    /// disables the trigger past a threshold. `phase` is the build's final
    /// phase; phases that count for nothing (`cancelled`) are ignored.
    /// Failures are logged, never the caller's.
    pub(super) async fn count_trigger_outcome(&self, build_id: i64, phase: &str) {
        let outcome = match phase {
            "complete" => Outcome::Complete,
            "error" => Outcome::Error,
            "internalerror" => Outcome::InternalError,
            _ => return,
        };
        let policy = self.settings().builds.trigger_disable;
        let now = crate::now_ms();
        let counted = self
            .db()
            .write(move |c| {
                let Some(trigger) = q::trigger_of_build(c, build_id)? else {
                    return Ok::<_, Error>(None);
                };
                let Some((failures, internal)) = q::count_outcome(c, trigger, outcome)? else {
                    return Ok(None);
                };
                match policy.reason(failures, internal) {
                    Some(reason) if q::disable_if_enabled(c, trigger, reason, now)? => Ok(Some(reason)),
                    _ => Ok(None),
                }
            })
            .await;
        match counted {
            Ok(Some(reason)) => tracing::warn!(build_id, reason, "build trigger disabled after successive failures"),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, build_id, "could not count the build on its trigger"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(yaml: &str) -> TriggerDisablePolicy {
        TriggerDisablePolicy::from_config(&Config::parse(yaml).expect("config"))
    }

    #[test]
    fn thresholds_default_to_quays_and_null_turns_one_off() {
        assert_eq!(policy("{}\n"), TriggerDisablePolicy::default());
        let p = policy("SUCCESSIVE_TRIGGER_FAILURE_DISABLE_THRESHOLD: 2\nSUCCESSIVE_TRIGGER_INTERNAL_ERROR_DISABLE_THRESHOLD: null\n");
        assert_eq!(p.failures, Some(2));
        assert_eq!(p.internal_errors, None);
        assert_eq!(p.reason(1, 99), None);
        assert_eq!(p.reason(2, 0), Some(BUILD_FAILURES));
    }

    #[test]
    fn failures_are_checked_before_internal_errors() {
        let p = TriggerDisablePolicy::default();
        assert_eq!(p.reason(99, 4), None);
        assert_eq!(p.reason(100, 5), Some(BUILD_FAILURES));
        assert_eq!(p.reason(0, 5), Some(INTERNAL_ERRORS));
    }

    #[test]
    fn a_threshold_that_is_not_a_number_is_a_config_error_naming_it() {
        let e = Config::parse("SUCCESSIVE_TRIGGER_FAILURE_DISABLE_THRESHOLD: many\n")
            .expect_err("refused")
            .to_string();
        assert!(e.contains("SUCCESSIVE_TRIGGER_FAILURE_DISABLE_THRESHOLD"), "{e}");
    }
}
