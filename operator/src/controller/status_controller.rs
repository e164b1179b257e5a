//! The status controller: component readiness (§2.8) every 60 s and
//! whenever an owned workload changes.
//!
//! It reads the registry's objects, evaluates them with
//! [`crate::status::evaluate`], and applies the `Component*Ready` and
//! `Available` conditions under its own field manager
//! ([`crate::status::STATUS_MANAGER`]), only when one of them changed, with
//! an Event per change. It never touches the main reconciler's fields.

use std::sync::Arc;

use crds::{ComponentKind, QuayRegistry, QuayRegistryStatus};
use futures_util::{Future, StreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Event as CoreEvent, PersistentVolumeClaim, Secret};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::NamespaceResourceScope;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;

use super::{registry_controller, Context, REQUEUE_RESYNC, REQUEUE_WAIT};
use crate::bundle::{SSL_CERT, SSL_KEY};
use crate::names::{self, LABEL_REGISTRY};
use crate::status::evaluate::{self, Observed, TlsObserved};
use crate::status::{self, STATUS_MANAGER};
use crate::tls::CertPair;
use crate::{Error, Result};

/// Evaluates one registry and records what changed.
pub async fn reconcile(qr: Arc<QuayRegistry>, ctx: Arc<Context>) -> Result<Action> {
    if qr.meta().deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let observed = observe(&qr, &ctx).await?;
    let wanted = evaluate::evaluate(&qr, &ctx.capabilities, &observed);
    let empty = Vec::new();
    let current = qr.status.as_ref().map_or(&empty, |s| &s.conditions);
    let update = status::update_conditions(current, &wanted, &status::now());
    if update.changed.is_empty() {
        return Ok(Action::requeue(REQUEUE_RESYNC));
    }
    let body = status::status_body(&QuayRegistryStatus {
        conditions: update.conditions,
        ..Default::default()
    });
    let api: Api<QuayRegistry> = Api::namespaced(ctx.client.clone(), &qr.namespace().unwrap_or_default());
    api.patch_status(
        &qr.name_any(),
        &PatchParams::apply(STATUS_MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await
    .map_err(Error::Kube)?;
    for change in &update.changed {
        ctx.publish(&qr, change).await;
    }
    Ok(Action::requeue(REQUEUE_RESYNC))
}

/// Reads what the evaluation needs: the registry's labelled objects and,
/// per managed component, the few it looks up by name.
pub async fn observe(qr: &QuayRegistry, ctx: &Context) -> Result<Observed> {
    let cr = qr.name_any();
    let ns = qr.namespace().unwrap_or_default();
    let client = &ctx.client;
    let lp = ListParams::default().labels(&format!("{LABEL_REGISTRY}={cr}"));
    let managed = |k| qr.spec.is_managed(k);
    let mut obs = Observed {
        deployments: list::<Deployment>(ctx, &ns, &lp).await?,
        pvcs: list::<PersistentVolumeClaim>(ctx, &ns, &lp).await?,
        jobs: list::<Job>(ctx, &ns, &lp).await?,
        ..Default::default()
    };
    for pvc in obs
        .pvcs
        .iter()
        .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Pending"))
    {
        let name = pvc.name_any();
        let events = ListParams::default().fields(&format!("involvedObject.name={name},reason=ProvisioningFailed"));
        if !list::<CoreEvent>(ctx, &ns, &events).await?.is_empty() {
            obs.pvcs_failed.push(name);
        }
    }
    if managed(ComponentKind::Horizontalpodautoscaler) {
        obs.hpas = list::<HorizontalPodAutoscaler>(ctx, &ns, &lp).await?;
    }
    if managed(ComponentKind::Route) && ctx.capabilities.routes {
        obs.routes = list_dynamic(ctx, &ns, ("route.openshift.io", "v1", "Route"), &lp).await?;
    } else if managed(ComponentKind::Route) {
        obs.ingresses = list::<Ingress>(ctx, &ns, &lp).await?;
    }
    if managed(ComponentKind::Monitoring) && ctx.capabilities.monitoring {
        let monitors = list_dynamic(ctx, &ns, ("monitoring.coreos.com", "v1", "ServiceMonitor"), &lp).await?;
        let rules = list_dynamic(ctx, &ns, ("monitoring.coreos.com", "v1", "PrometheusRule"), &lp).await?;
        obs.service_monitor = !monitors.is_empty();
        obs.prometheus_rule = !rules.is_empty();
    }
    if managed(ComponentKind::Objectstorage) && ctx.capabilities.object_bucket_claims {
        let gvk = GroupVersionKind::gvk("objectbucket.io", "v1alpha1", "ObjectBucketClaim");
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &ApiResource::from_gvk(&gvk));
        obs.object_bucket_claim = api
            .get_opt(&names::prefixed(&cr, "quay-datastore"))
            .await
            .map_err(Error::Kube)?;
    }
    obs.tls = observe_tls(qr, ctx, &ns).await?;
    Ok(obs)
}

async fn observe_tls(qr: &QuayRegistry, ctx: &Context, ns: &str) -> Result<TlsObserved> {
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    let mut tls = TlsObserved::default();
    if let Some(name) = qr.spec.config_bundle_secret.as_deref().filter(|n| !n.is_empty()) {
        if let Some(bundle) = secrets.get_opt(name).await.map_err(Error::Kube)? {
            let has = |k: &str| bundle.data.as_ref().is_some_and(|d| d.contains_key(k));
            tls.bundle_cert = has(SSL_CERT);
            tls.bundle_key = has(SSL_KEY);
        }
    }
    let secret_ref = qr
        .spec
        .component(ComponentKind::Tls)
        .and_then(|c| c.secret_ref.as_ref());
    if let Some(secret_ref) = secret_ref {
        tls.secret_ref = Some(match secrets.get_opt(&secret_ref.name).await.map_err(Error::Kube)? {
            Some(secret) => CertPair::from_tls_secret(&secret).map(drop).map_err(|e| e.to_string()),
            None => Err(format!("tls secretRef `{}` not found", secret_ref.name)),
        });
    }
    Ok(tls)
}

async fn list<K>(ctx: &Context, ns: &str, lp: &ListParams) -> Result<Vec<K>>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(ctx.client.clone(), ns);
    Ok(api.list(lp).await.map_err(Error::Kube)?.items)
}

async fn list_dynamic(ctx: &Context, ns: &str, gvk: (&str, &str, &str), lp: &ListParams) -> Result<Vec<DynamicObject>> {
    let gvk = GroupVersionKind::gvk(gvk.0, gvk.1, gvk.2);
    let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), ns, &ApiResource::from_gvk(&gvk));
    Ok(api.list(lp).await.map_err(Error::Kube)?.items)
}

fn error_policy(qr: Arc<QuayRegistry>, err: &Error, ctx: Arc<Context>) -> Action {
    tracing::warn!(registry = %qr.name_any(), error = %err, "status evaluation failed");
    ctx.metrics.failure(err);
    Action::requeue(REQUEUE_WAIT)
}

/// Runs the status controller until `shutdown` resolves. It wakes on
/// changes of the registries and of their Deployments, Jobs and autoscalers
/// (status included), and every 60 s.
pub async fn run(
    ctx: Arc<Context>,
    namespace: Option<String>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    registry_controller(&ctx.client, namespace.as_deref())
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|_| async {})
        .await;
}
