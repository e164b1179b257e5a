//! Mock API server tests of the reconciler: one scenario per flow, each
//! step asserting the method, path and the body fields that matter, then
//! answering as the API server would (kube's `tower_test` pattern).

mod flows;
mod lifecycle;
mod status;
mod tls;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crds::{Condition, QuayRegistry, QuayRegistrySpec, QuayRegistryStatus};
use http::{Method, Request, Response};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::ByteString;
use kube::client::Body;
use kube::runtime::controller::Action;
use kube::runtime::events::Recorder;
use kube::Client;
use serde_json::{json, Value};
use tower_test::mock::{Handle, SendResponse};

use super::{Context, Metrics};
use crate::bundle::ConfigBundle;
use crate::names::{Images, FINALIZER};
use crate::{components, Capabilities};

pub const NS: &str = "quay";
pub const CR: &str = "reg";
pub const UID: &str = "uid-reg";
pub const VERSION: &str = "3.99.0";
pub const BUNDLE: &str = "reg-bundle";
/// The operator's Secret of generated keys.
pub const MANAGED_KEYS: &str = "reg-quay-registry-managed-secret-keys";

/// A bundle the operator accepts on plain Kubernetes: a hostname and
/// filesystem storage (object storage cannot be managed there).
pub const CONFIG: &str = "SERVER_HOSTNAME: registry.example.com
DISTRIBUTED_STORAGE_CONFIG:
  default: [LocalStorage, {storage_path: /datastorage/registry}]
DISTRIBUTED_STORAGE_PREFERENCE: [default]
DISTRIBUTED_STORAGE_DEFAULT_LOCATIONS: [default]
";

/// A context on a mock client, with the mock's other end.
pub fn context(capabilities: Capabilities) -> (Arc<Context>, ApiServer) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, "default");
    let ctx = Context {
        recorder: Recorder::new(client.clone(), "quay-operator".into()),
        client,
        capabilities,
        images: Images::from_env_with(|_| None),
        version: VERSION.into(),
        metrics: Arc::new(Metrics::default()),
    };
    (Arc::new(ctx), ApiServer { handle, registry: None })
}

/// A registry in `quay` with the finalizer already in place.
pub fn registry() -> QuayRegistry {
    let mut qr = QuayRegistry::new(
        CR,
        QuayRegistrySpec {
            config_bundle_secret: Some(BUNDLE.into()),
            components: vec![],
        },
    );
    qr.metadata.namespace = Some(NS.into());
    qr.metadata.uid = Some(UID.into());
    qr.metadata.generation = Some(1);
    qr.metadata.finalizers = Some(vec![FINALIZER.into()]);
    qr
}

/// Fixture builders on the registry.
pub trait RegistryExt: Sized {
    /// The components the operator writes back for `config`, so a pass does
    /// not stop at the write-back.
    fn with_defaults(self, config: &str, caps: &Capabilities) -> Self;
    fn with_status(self, status: QuayRegistryStatus) -> Self;
    fn deleting(self) -> Self;
    fn annotated(self, key: &str, value: &str) -> Self;
}

impl RegistryExt for QuayRegistry {
    fn with_defaults(mut self, config: &str, caps: &Capabilities) -> Self {
        let bundle = ConfigBundle::from_secret(&bundle_secret(config)).expect("valid bundle");
        self.spec.components =
            components::ensure_default_components(&self.spec, caps, &bundle).expect("components default");
        self
    }

    fn with_status(mut self, status: QuayRegistryStatus) -> Self {
        self.status = Some(status);
        self
    }

    fn deleting(mut self) -> Self {
        self.metadata.deletion_timestamp = Some(Time(k8s_openapi::jiff::Timestamp::now()));
        self
    }

    fn annotated(mut self, key: &str, value: &str) -> Self {
        self.metadata
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .insert(key.into(), value.into());
        self
    }
}

/// The bundle Secret with `config.yaml`.
pub fn bundle_secret(config: &str) -> Secret {
    named_secret(BUNDLE, &[("config.yaml", config)])
}

pub fn named_secret(name: &str, entries: &[(&str, &str)]) -> Secret {
    let mut secret = Secret {
        data: Some(
            entries
                .iter()
                .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                .collect(),
        ),
        ..Default::default()
    };
    secret.metadata.name = Some(name.into());
    secret.metadata.namespace = Some(NS.into());
    secret
}

/// Runs one reconcile against `script`, which plays the API server.
pub async fn reconcile_with<F>(
    ctx: Arc<Context>,
    qr: QuayRegistry,
    api: ApiServer,
    script: impl FnOnce(ApiServer) -> F,
) -> crate::Result<Action>
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let mut api = api;
    api.registry = Some(qr.clone());
    let server = tokio::spawn(script(api));
    let result = tokio::time::timeout(Duration::from_secs(20), super::reconcile(Arc::new(qr), ctx))
        .await
        .expect("the reconcile finished (an unexpected call would be left unanswered)");
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("the scenario finished")
        .expect("the scenario's assertions held");
    result
}

/// The mock API server's side.
pub struct ApiServer {
    handle: Handle<Request<Body>, Response<Body>>,
    /// The registry under test, for answers about it.
    registry: Option<QuayRegistry>,
}

/// One request to answer.
pub struct Call {
    pub method: Method,
    pub path: String,
    pub query: String,
    pub body: Value,
    send: SendResponse<Response<Body>>,
}

impl Call {
    /// Answers with `status` and a JSON body.
    pub fn respond(self, status: u16, body: &Value) {
        let bytes = serde_json::to_vec(body).expect("JSON encodes");
        let response = Response::builder()
            .status(status)
            .body(Body::from(bytes))
            .expect("valid response");
        self.send.send_response(response);
    }

    pub fn ok(self, body: &Value) {
        self.respond(200, body);
    }

    /// Answers the request body back (what an apply or create returns).
    pub fn echo(self) {
        let body = self.body.clone();
        self.respond(200, &body);
    }

    pub fn not_found(self) {
        let status =
            json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404});
        self.respond(404, &status);
    }

    /// Whether this is a server-side apply by the operator.
    pub fn is_apply(&self) -> bool {
        self.method == Method::PATCH
            && self.query.contains("fieldManager=quay-operator")
            && self.query.contains("force=true")
            && !self.path.ends_with("/status")
    }

    fn describe(&self) -> String {
        format!("{} {}?{}", self.method, self.path, self.query)
    }
}

impl ApiServer {
    /// The next request.
    pub async fn next(&mut self) -> Call {
        let (request, send) = tokio::time::timeout(Duration::from_secs(10), self.handle.next_request())
            .await
            .expect("a call within 10 s")
            .expect("the client is alive");
        let (parts, body) = request.into_parts();
        let bytes = body.collect_bytes().await.expect("request body");
        Call {
            method: parts.method,
            path: parts.uri.path().to_string(),
            query: parts.uri.query().unwrap_or_default().to_string(),
            body: if bytes.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&bytes).expect("JSON body")
            },
            send,
        }
    }

    /// The next request, which must be `method path`.
    pub async fn expect(&mut self, method: Method, path: &str) -> Call {
        let call = self.next().await;
        assert_eq!(
            (call.method.clone(), call.path.as_str()),
            (method, path),
            "unexpected call {}",
            call.describe()
        );
        call
    }

    /// The registry with its status as a status patch sets it.
    pub fn registry_with_status(&self, body: &Value) -> Value {
        let mut qr = serde_json::to_value(self.registry.as_ref().expect("registry set")).expect("encodes");
        qr["status"] = body["status"].clone();
        qr
    }

    /// Answers the status apply; returns its `status`.
    pub async fn status_apply(&mut self) -> Value {
        let call = self.expect(Method::PATCH, &format!("{}/status", registry_path())).await;
        assert!(
            call.query.contains("fieldManager=quay-operator"),
            "status apply by the operator: {}",
            call.query
        );
        let status = call.body["status"].clone();
        let reply = self.registry_with_status(&call.body);
        call.ok(&reply);
        status
    }

    /// Answers an Event creation; returns the Event.
    pub async fn event(&mut self) -> Value {
        let call = self
            .expect(Method::POST, &format!("/apis/events.k8s.io/v1/namespaces/{NS}/events"))
            .await;
        let event = call.body.clone();
        call.echo();
        event
    }

    /// Answers server-side applies until another kind of call comes; the
    /// applied bodies and that call are returned. `status_of` may add a
    /// status to an applied Deployment's answer (readiness, rollout).
    pub async fn applies(&mut self, status_of: impl Fn(&Value) -> Option<Value>) -> (Vec<Value>, Call) {
        let mut applied = Vec::new();
        loop {
            let call = self.next().await;
            if !call.is_apply() {
                return (applied, call);
            }
            let mut reply = call.body.clone();
            if reply["kind"] == "Deployment" {
                if let Some(status) = status_of(&reply) {
                    reply["status"] = status;
                }
            }
            applied.push(call.body.clone());
            call.ok(&reply);
        }
    }
}

/// A CA ConfigMap as the injector leaves it (`None`: not injected yet).
pub fn ca_configmap(name: &str, key: &str, pem: Option<&str>) -> Value {
    let mut cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": NS}});
    if let Some(pem) = pem {
        cm["data"] = json!({ key: pem });
    }
    cm
}

impl ApiServer {
    /// Answers the read of the config bundle Secret with `config`.
    pub async fn bundle(&mut self, config: &str) {
        self.expect(Method::GET, &secret_path(BUNDLE))
            .await
            .ok(&serde_json::to_value(bundle_secret(config)).expect("json"));
    }

    /// Answers the read of the managed-keys Secret: not created yet.
    pub async fn no_managed_keys(&mut self) {
        self.expect(Method::GET, &secret_path(MANAGED_KEYS)).await.not_found();
    }

    /// The first write of the managed-keys Secret, echoed.
    pub async fn managed_keys_created(&mut self) {
        self.expect(Method::PATCH, &secret_path(MANAGED_KEYS)).await.echo();
    }

    /// Answers the reads of the two CA ConfigMaps (OpenShift): the service
    /// CA with `service_ca` injected, the trusted bundle absent.
    pub async fn ca_configmaps(&mut self, service_ca: Option<&str>) {
        let name = "reg-cluster-service-ca";
        self.expect(Method::GET, &format!("/api/v1/namespaces/{NS}/configmaps/{name}"))
            .await
            .ok(&ca_configmap(name, "service-ca.crt", service_ca));
        self.expect(
            Method::GET,
            &format!("/api/v1/namespaces/{NS}/configmaps/reg-cluster-trusted-ca"),
        )
        .await
        .not_found();
    }
}

pub fn registry_path() -> String {
    format!("/apis/quay.redhat.com/v1/namespaces/{NS}/quayregistries/{CR}")
}

pub fn secret_path(name: &str) -> String {
    format!("/api/v1/namespaces/{NS}/secrets/{name}")
}

/// The condition of `type_` in a status body.
pub fn condition<'a>(status: &'a Value, type_: &str) -> &'a Value {
    status["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == type_))
        .unwrap_or_else(|| panic!("condition {type_} in {status}"))
}

/// Applied objects of `kind`.
pub fn of_kind<'a>(applied: &'a [Value], kind: &str) -> Vec<&'a Value> {
    applied.iter().filter(|o| o["kind"] == kind).collect()
}

/// The applied object `kind/name`.
pub fn find<'a>(applied: &'a [Value], kind: &str, name: &str) -> &'a Value {
    applied
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("{kind} {name} applied"))
}

/// A Deployment status: ready and fully rolled out.
pub fn ready(deploy: &Value) -> Value {
    let replicas = deploy["spec"]["replicas"].as_i64().unwrap_or(1);
    json!({"observedGeneration": 1, "replicas": replicas, "updatedReplicas": replicas, "availableReplicas": replicas})
}

pub fn cond(type_: &str, status: &str, reason: &str) -> Condition {
    Condition {
        type_: type_.into(),
        status: status.into(),
        reason: reason.into(),
        message: crate::status::ALL_CREATED.into(),
        last_update_time: Some("2026-01-01T00:00:00Z".into()),
        last_transition_time: Some("2026-01-01T00:00:00Z".into()),
    }
}

/// The status after a finished install of this version.
pub fn installed() -> QuayRegistryStatus {
    QuayRegistryStatus {
        current_version: Some(VERSION.into()),
        registry_endpoint: Some("https://registry.example.com".into()),
        observed_generation: Some(1),
        conditions: vec![
            cond(
                crds::condition::ROLLOUT_BLOCKED,
                "False",
                crds::reason::COMPONENTS_CREATION_SUCCESS,
            ),
            cond(
                crds::condition::COMPONENTS_CREATED,
                "True",
                crds::reason::COMPONENTS_CREATION_SUCCESS,
            ),
        ],
        ..Default::default()
    }
}

pub fn migrating() -> QuayRegistryStatus {
    let mut status = installed();
    status.current_version = None;
    status.conditions[1] = Condition {
        status: "False".into(),
        reason: crds::reason::MIGRATIONS_IN_PROGRESS.into(),
        message: "Running database migrations".into(),
        ..status.conditions[1].clone()
    };
    status
}

pub fn job_path() -> String {
    format!("/apis/batch/v1/namespaces/{NS}/jobs/{}", crate::names::upgrade_job(CR))
}
