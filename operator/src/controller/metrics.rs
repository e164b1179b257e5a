//! Reconcile metrics in the Prometheus text format.

use std::time::Instant;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::Error;

/// Counters of reconciles and failures (by [`Error::metric_label`]) and a
/// histogram of reconcile durations, under the prefix `quay_operator`.
pub struct Metrics {
    registry: Registry,
    reconciliations: Counter,
    failures: Family<Vec<(String, String)>, Counter>,
    duration: Histogram,
}

impl Default for Metrics {
    fn default() -> Metrics {
        let mut registry = Registry::with_prefix("quay_operator");
        let reconciliations = Counter::default();
        let failures = Family::<Vec<(String, String)>, Counter>::default();
        let duration = Histogram::new(exponential_buckets(0.01, 2.0, 12));
        registry.register("reconciliations", "Reconciliations started", reconciliations.clone());
        registry.register(
            "reconcile_failures",
            "Failed reconciliations by error",
            failures.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Duration of reconciliations",
            duration.clone(),
        );
        Metrics {
            registry,
            reconciliations,
            failures,
            duration,
        }
    }
}

impl Metrics {
    /// Counts a reconcile and returns a guard that records its duration
    /// when dropped.
    pub fn reconcile_started(&self) -> ReconcileTimer<'_> {
        self.reconciliations.inc();
        ReconcileTimer {
            histogram: &self.duration,
            start: Instant::now(),
        }
    }

    /// Counts a failure under its error label.
    pub fn failure(&self, err: &Error) {
        self.failures
            .get_or_create(&vec![("error".to_string(), err.metric_label().to_string())])
            .inc();
    }

    /// The text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// Records the reconcile duration on drop.
pub struct ReconcileTimer<'a> {
    histogram: &'a Histogram,
    start: Instant,
}

impl Drop for ReconcileTimer<'_> {
    fn drop(&mut self) {
        self.histogram.observe(self.start.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_counted_by_error_label() {
        let metrics = Metrics::default();
        drop(metrics.reconcile_started());
        metrics.failure(&Error::ConfigInvalid("x".into()));
        metrics.failure(&Error::ConfigInvalid("y".into()));
        let text = metrics.encode();
        assert!(text.contains("quay_operator_reconciliations_total 1"), "{text}");
        assert!(
            text.contains("quay_operator_reconcile_failures_total{error=\"configinvalid\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("quay_operator_reconcile_duration_seconds_count 1"),
            "{text}"
        );
    }
}
