//! The `QuayRegistry` controller (kube-runtime).
//!
//! The work is split into pure parts, which turn a spec plus its config
//! bundle into Kubernetes objects and are tested with tables, and the
//! controller, which reads the cluster, applies those objects and writes the
//! status:
//!
//! - [`capabilities`]: which optional APIs the cluster serves (Routes,
//!   ObjectBucketClaims, monitoring, OpenShift config).
//! - [`components`]: default components, override rules, `hasNecessaryConfig`.
//! - [`bundle`]: the user's config bundle, generated secret keys, the merged
//!   config and its content-hashed Secret name.
//! - [`tls`]: certificate checks and the operator's own CA for managed TLS.
//! - [`objects`]: the desired objects (`<cr>-quay-app` Deployment, Services,
//!   database, redis, HPA, Route or Ingress, migration Job, builder RBAC …).
//! - [`status`]: conditions and component readiness.
//! - [`controller`]: reconcile, finalizer, apply, events.
//! - [`server`], [`leader`]: health/metrics endpoints and leader election.

pub mod bundle;
pub mod capabilities;
pub mod components;
pub mod controller;
pub mod leader;
pub mod names;
pub mod objects;
pub mod server;
pub mod status;
pub mod tls;

pub use capabilities::Capabilities;

/// Everything that can go wrong in a reconcile. Each variant maps to the
/// condition reason Quay's operator writes for it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The config bundle is missing, unreadable or inconsistent with the
    /// components (RolloutBlocked / `ConfigInvalid`).
    #[error("{0}")]
    ConfigInvalid(String),
    /// An override the component kind does not accept (`ComponentOverrideInvalid`).
    #[error("{0}")]
    OverrideInvalid(String),
    /// A component is managed but the cluster lacks the API it needs
    /// (`RouteComponentDependencyError`, `ObjectStorageComponentDependencyError`,
    /// `MonitoringComponentDependencyError`).
    #[error("{message}")]
    Dependency { reason: &'static str, message: String },
    /// The objects could not be rendered (`ComponentCreationFailed`), e.g. a
    /// certificate that does not cover the hostnames or a shrinking PVC.
    #[error("could not inflate kubernetes objects: {0}")]
    Inflate(String),
    /// A call to the API server failed (transient: retried with backoff).
    #[error("kubernetes API error: {0}")]
    Kube(#[source] kube::Error),
    /// The finalizer helper failed.
    #[error("finalizer error: {0}")]
    // Boxed: the finalizer error wraps this type.
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
}

impl Error {
    /// The condition reason for this error.
    pub fn reason(&self) -> &'static str {
        use crds::reason;
        match self {
            Error::ConfigInvalid(_) => reason::CONFIG_INVALID,
            Error::OverrideInvalid(_) => reason::COMPONENT_OVERRIDE_INVALID,
            Error::Dependency { reason, .. } => reason,
            Error::Inflate(_) | Error::Kube(_) | Error::Finalizer(_) => reason::COMPONENT_CREATION_FAILED,
        }
    }

    /// Whether only a change of the spec or bundle can fix it (wait for one
    /// instead of retrying quickly).
    pub fn is_invalid_spec(&self) -> bool {
        matches!(
            self,
            Error::ConfigInvalid(_) | Error::OverrideInvalid(_) | Error::Dependency { .. } | Error::Inflate(_)
        )
    }

    /// A short label for metrics (`configinvalid`, `kube` …).
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::ConfigInvalid(_) => "configinvalid",
            Error::OverrideInvalid(_) => "overrideinvalid",
            Error::Dependency { .. } => "dependency",
            Error::Inflate(_) => "inflate",
            Error::Kube(_) => "kube",
            Error::Finalizer(_) => "finalizer",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
