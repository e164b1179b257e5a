//! The QuayRegistry reconciler.
//!
//! [`reconcile`] wraps kube's [`finalizer`] around two methods: the apply
//! pass (`apply`, Quay's §2.2 flow) and the cleanup on deletion
//! (`cleanup`). kube's helper adds `quay-operator/finalizer` before the
//! first apply pass (that patch wakes the controller again), and removes it
//! after a successful cleanup.
//!
//! Errors are classified, not retried blindly:
//! - an invalid spec or bundle ([`Error::is_invalid_spec`]) becomes
//!   `RolloutBlocked=True` plus a Warning Event, and the pass waits for a
//!   change (the bundle and TLS Secrets are watched) with a long safety
//!   requeue;
//! - anything else (API errors) also blocks the rollout in the status when
//!   it can, and goes to [`error_policy`], which backs off for 10 s.
//!
//! A second controller ([`status_controller`]) evaluates component
//! readiness every 60 s and whenever an owned object changes; see
//! [`crate::status`] for how the two share the status.

mod applier;
mod cleanup;
mod inputs;
mod metrics;
mod pass;
pub mod status_controller;
mod watch;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use crds::QuayRegistry;
use futures_util::{Future, StreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Secret, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::Ingress;
use kube::runtime::controller::{Action, Config, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::finalizer::{finalizer, Event as Finalizer};
use kube::runtime::watcher;
use kube::{Api, Client, Resource, ResourceExt};

pub use metrics::Metrics;
pub use watch::registries_for_secret;

use crate::names::{self, Images};
use crate::status::Wanted;
use crate::{Capabilities, Error, Result};

/// Requeue after a fully successful pass (Quay's resync period).
pub const REQUEUE_RESYNC: Duration = Duration::from_secs(60);
/// Requeue while waiting (migrations, databases) and after transient errors.
pub const REQUEUE_WAIT: Duration = Duration::from_secs(10);
/// Requeue right after the operator changed the CR itself.
pub const REQUEUE_SOON: Duration = Duration::from_secs(2);
/// Triggers within this window are coalesced into one pass.
pub const DEBOUNCE: Duration = Duration::from_secs(2);
/// Safety requeue while the spec or bundle is invalid; edits wake us anyway.
pub const REQUEUE_INVALID: Duration = Duration::from_secs(300);

/// Annotation on the QuayRegistry that opts in to deleting the database
/// volume and the generated keys with it. Without it they are kept when
/// the registry is deleted, so recreating it finds its data.
pub const ANNOTATION_DELETE_DATABASE: &str = "quay-operator/delete-database";

/// Everything a reconcile needs; built once and shared by all passes.
pub struct Context {
    /// Client for the Kubernetes API.
    pub client: Client,
    /// Publishes Events on QuayRegistry objects.
    pub recorder: Recorder,
    /// Optional APIs the cluster serves, discovered at start.
    pub capabilities: Capabilities,
    /// The operand images (`RELATED_IMAGE_COMPONENT_*`).
    pub images: Images,
    /// The registry version this operator deploys (`QUAY_VERSION`), which
    /// `status.currentVersion` records once migrations ran.
    pub version: String,
    /// Reconcile counters and durations, served on `/metrics`.
    pub metrics: Arc<Metrics>,
}

/// The Events' reporting controller.
pub const REPORTER: &str = "quay-operator";

impl Context {
    /// A context reading its version from `QUAY_VERSION` and its images from
    /// the environment; the Event reporter instance is `POD_NAME`.
    pub fn new(client: Client, capabilities: Capabilities, metrics: Arc<Metrics>) -> Context {
        let reporter = Reporter {
            controller: REPORTER.into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Context {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            capabilities,
            images: Images::from_env(),
            version: std::env::var("QUAY_VERSION").unwrap_or_else(|_| env!("CARGO_PKG_VERSION").into()),
            metrics,
        }
    }

    /// Records an Event for a condition change: Warning when the rollout is
    /// blocked, Normal otherwise. Failing to publish is logged, not fatal.
    pub async fn publish(&self, qr: &QuayRegistry, change: &Wanted) {
        let event = Event {
            type_: if change.is_warning() {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: change.reason.clone(),
            note: Some(truncate(&change.message, 1000)),
            action: change.type_.clone(),
            secondary: None,
        };
        if let Err(err) = self.recorder.publish(&event, &qr.object_ref(&())).await {
            tracing::warn!(registry = %qr.name_any(), %err, "cannot publish event");
        }
    }
}

fn truncate(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// One reconcile of a QuayRegistry: the apply pass or, once it is being
/// deleted, the cleanup, behind kube's finalizer helper.
#[tracing::instrument(skip(qr, ctx), fields(registry = %qr.name_any(), namespace = qr.namespace()))]
pub async fn reconcile(qr: Arc<QuayRegistry>, ctx: Arc<Context>) -> Result<Action> {
    let _timer = ctx.metrics.reconcile_started();
    let ns = qr
        .namespace()
        .ok_or_else(|| Error::ConfigInvalid("QuayRegistry has no namespace".into()))?;
    let api: Api<QuayRegistry> = Api::namespaced(ctx.client.clone(), &ns);
    finalizer(&api, names::FINALIZER, qr, |event| async {
        match event {
            Finalizer::Apply(qr) => apply(&qr, &ctx).await,
            Finalizer::Cleanup(qr) => cleanup::cleanup(&qr, &ctx).await,
        }
    })
    .await
    .map_err(|err| Error::Finalizer(Box::new(err)))
}

/// The apply pass; a failure blocks the rollout in the status (with an
/// Event) before it is classified.
async fn apply(qr: &QuayRegistry, ctx: &Context) -> Result<Action> {
    let mut pass = pass::Pass::new(qr, ctx)?;
    let outcome = pass.run().await;
    let failure = match outcome {
        Ok(action) => {
            pass.write_status().await?;
            return Ok(action);
        }
        Err(failure) => failure,
    };
    tracing::warn!(error = %failure.message, reason = failure.error.reason(), "reconcile failed");
    pass.status
        .set(Wanted::rollout_blocked(failure.error.reason(), failure.message.clone()));
    let written = pass.write_status().await;
    if failure.error.is_invalid_spec() {
        ctx.metrics.failure(&failure.error);
        written?;
        return Ok(Action::requeue(REQUEUE_INVALID));
    }
    if let Err(err) = written {
        tracing::warn!(%err, "cannot record the failure in the status");
    }
    Err(failure.error)
}

/// A failed pass: the error and the condition message to show for it.
#[derive(Debug)]
pub(crate) struct Failed {
    pub error: Error,
    pub message: String,
}

impl From<Error> for Failed {
    fn from(error: Error) -> Failed {
        Failed {
            message: error.to_string(),
            error,
        }
    }
}

impl Failed {
    /// An API call about one object failed.
    fn object(kind: &str, name: &str, err: kube::Error) -> Failed {
        Failed {
            message: format!("error creating/updating object {kind} {name}: {err}"),
            error: Error::Kube(err),
        }
    }
}

/// Backs off transient errors (invalid specs never get here: `apply`
/// turns them into a condition and a long requeue).
pub fn error_policy(qr: Arc<QuayRegistry>, err: &Error, ctx: Arc<Context>) -> Action {
    let root = root_cause(err);
    tracing::warn!(registry = %qr.name_any(), error = %err, "reconcile error");
    ctx.metrics.failure(root);
    if root.is_invalid_spec() {
        Action::requeue(REQUEUE_INVALID)
    } else {
        Action::requeue(REQUEUE_WAIT)
    }
}

/// The reconcile error inside a finalizer error, for metrics and policy.
fn root_cause(err: &Error) -> &Error {
    use kube::runtime::finalizer::Error as F;
    match err {
        Error::Finalizer(inner) => match inner.as_ref() {
            F::ApplyFailed(e) | F::CleanupFailed(e) => root_cause(e),
            _ => err,
        },
        _ => err,
    }
}

/// The API for QuayRegistries in `namespace`, or in all namespaces.
pub fn registry_api(client: &Client, namespace: Option<&str>) -> Api<QuayRegistry> {
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

fn scoped<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// A debounced controller of the QuayRegistries that also wakes on changes
/// of their Deployments, Jobs and autoscalers; both controllers start here.
fn registry_controller(client: &Client, namespace: Option<&str>) -> Controller<QuayRegistry> {
    let wc = watcher::Config::default;
    Controller::new(registry_api(client, namespace), wc())
        .owns(scoped::<Deployment>(client, namespace), wc())
        .owns(scoped::<Job>(client, namespace), wc())
        .owns(scoped::<HorizontalPodAutoscaler>(client, namespace), wc())
        .with_config(Config::default().debounce(DEBOUNCE))
}

/// Runs the main controller until `shutdown` resolves.
///
/// Besides the QuayRegistries it watches the objects it owns and every
/// Secret, mapping a Secret to the registries that own it, use it as their
/// config bundle or reference it as their TLS `secretRef`, so editing a
/// bundle rolls out at once rather than at the next resync.
///
/// kube 5 gates predicate-filtered primary streams behind an unstable
/// feature, so status-only changes (of the registry or its Deployments)
/// also wake this controller: a debounce coalesces bursts, and a pass that
/// changes nothing writes nothing, so no pass wakes the next one.
pub async fn run(
    ctx: Arc<Context>,
    namespace: Option<String>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let client = ctx.client.clone();
    let ns = namespace.as_deref();
    if ctx.capabilities.routes {
        cleanup::retire_ingresses(&client, ns).await;
    }
    let wc = watcher::Config::default;
    let controller = registry_controller(&client, ns);
    let index = controller.store();
    controller
        .owns(scoped::<Service>(&client, ns), wc())
        .owns(scoped::<ConfigMap>(&client, ns), wc())
        .owns(scoped::<PersistentVolumeClaim>(&client, ns), wc())
        .owns(scoped::<ServiceAccount>(&client, ns), wc())
        .owns(scoped::<Ingress>(&client, ns), wc())
        .watches(scoped::<Secret>(&client, ns), wc(), move |secret| {
            registries_for_secret(&secret, &index.state())
        })
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            match result {
                Ok((obj, action)) => tracing::debug!(registry = %obj.name, ?action, "reconciled"),
                Err(err) => tracing::debug!(%err, "reconcile failed"),
            }
        })
        .await;
}
