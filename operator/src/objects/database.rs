//! Managed PostgreSQL on the official `postgres` image: Secret
//! `<cr>-postgres-config-secret` (Quay's keys), ServiceAccount, Service and
//! Deployment `<cr>-quay-database`, and the PVC `<cr>-quay-database-data`.
//!
//! The PVC takes neither of Quay's names (`<cr>-quay-database` for PG 10,
//! `<cr>-quay-postgres-13`): their data is in the sclorg image's layout and
//! an older major version, so adopting one would start an empty database
//! beside it and put a user's backup under our owner reference.

use std::collections::BTreeMap;

use crds::ComponentKind;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EnvVar, EnvVarSource, ExecAction, PersistentVolumeClaim, PersistentVolumeClaimSpec,
    PersistentVolumeClaimVolumeSource, PodSpec, PodTemplateSpec, Probe, Secret, SecretKeySelector, Service,
    ServiceAccount, Volume, VolumeMount, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::ByteString;

use super::common::{
    component, container_security, labels, meta, name, official_image_user, pod_security, resources, selector,
    ConfigView,
};
use super::{Desired, Inputs};
use crate::names::{prefixed, LABEL_COMPONENT};

const SUFFIX: &str = "quay-database";
const SECRET_SUFFIX: &str = "postgres-config-secret";
const PVC_SUFFIX: &str = "quay-database-data";
const DEFAULT_VOLUME_SIZE: &str = "50Gi";
const PORT: i32 = 5432;
/// The PVC is mounted here and PGDATA is a subdirectory, so `lost+found`
/// at the volume root does not stop `initdb`.
const DATA_MOUNT: &str = "/var/lib/postgresql/data";
const PGDATA: &str = "/var/lib/postgresql/data/pgdata";

/// The database PVC's name.
pub fn database_pvc_name(cr: &str) -> String {
    prefixed(cr, PVC_SUFFIX)
}

/// The size the database PVC is rendered with (`volumeSize` override or
/// 50Gi); the controller refuses it when smaller than the live PVC.
pub fn database_volume_size(inputs: &Inputs) -> Quantity {
    let size = inputs
        .overrides(ComponentKind::Postgres)
        .and_then(|o| o.volume_size.clone());
    size.unwrap_or_else(|| Quantity(DEFAULT_VOLUME_SIZE.into()))
}

/// Secret, ServiceAccount, Service, PVC and Deployment.
pub(super) fn objects(inputs: &Inputs, config: &ConfigView) -> crate::Result<Vec<Desired>> {
    let credentials = Credentials::from_config(config)?;
    Ok(vec![
        Desired::Secret(secret(inputs, &credentials)),
        Desired::ServiceAccount(ServiceAccount {
            metadata: meta(inputs, SUFFIX, component::POSTGRES),
            automount_service_account_token: Some(false),
            ..ServiceAccount::default()
        }),
        Desired::Service(service(inputs)),
        Desired::PersistentVolumeClaim(pvc(inputs)),
        Desired::Deployment(deployment(inputs)),
    ])
}

/// User, password and database of the generated DB_URI.
#[derive(Debug, PartialEq, Eq)]
struct Credentials {
    user: String,
    password: String,
    database: String,
}

impl Credentials {
    fn from_config(config: &ConfigView) -> crate::Result<Credentials> {
        let uri = config
            .str("DB_URI")
            .ok_or_else(|| crate::Error::Inflate("managed postgres needs DB_URI in the rendered config.yaml".into()))?;
        Credentials::parse(uri)
            .ok_or_else(|| crate::Error::Inflate("DB_URI is not a postgresql://user:password@host/database URI".into()))
    }

    /// `postgresql://user:password@host:port/database?params`, percent-decoded.
    fn parse(uri: &str) -> Option<Credentials> {
        let rest = uri
            .strip_prefix("postgresql://")
            .or_else(|| uri.strip_prefix("postgres://"))?;
        let (authority, path) = rest.split_once('/')?;
        let (userinfo, _host) = authority.rsplit_once('@')?;
        let (user, password) = userinfo.split_once(':')?;
        let database = path.split('?').next().unwrap_or_default();
        let decoded = Credentials {
            user: decode(user)?,
            password: decode(password)?,
            database: decode(database)?,
        };
        let complete = [&decoded.user, &decoded.password, &decoded.database]
            .iter()
            .all(|s| !s.is_empty());
        complete.then_some(decoded)
    }
}

/// Percent-decoding (`%2F` → `/`); `None` on a malformed escape.
fn decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hex = [bytes.next()?, bytes.next()?];
            out.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).ok()
}

fn secret(inputs: &Inputs, c: &Credentials) -> Secret {
    let mut data = BTreeMap::from([
        ("database-username".to_owned(), c.user.clone()),
        ("database-password".to_owned(), c.password.clone()),
        ("database-name".to_owned(), c.database.clone()),
    ]);
    if let Some(root) = inputs.config.managed_keys.0.get("DB_ROOT_PW") {
        data.insert("database-root-password".into(), root.clone());
    }
    Secret {
        metadata: meta(inputs, SECRET_SUFFIX, component::POSTGRES),
        data: Some(data.into_iter().map(|(k, v)| (k, ByteString(v.into_bytes()))).collect()),
        type_: Some("Opaque".into()),
        ..Secret::default()
    }
}

fn service(inputs: &Inputs) -> Service {
    super::common::single_port_service(inputs, SUFFIX, component::POSTGRES, "postgres", PORT)
}

/// RWO 50Gi; the size and class overrides are applied with the others.
fn pvc(inputs: &Inputs) -> PersistentVolumeClaim {
    let requests = BTreeMap::from([("storage".to_owned(), Quantity(DEFAULT_VOLUME_SIZE.into()))]);
    PersistentVolumeClaim {
        metadata: meta(inputs, PVC_SUFFIX, component::POSTGRES),
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".into()]),
            resources: Some(VolumeResourceRequirements {
                requests: Some(requests),
                ..Default::default()
            }),
            ..PersistentVolumeClaimSpec::default()
        }),
        ..PersistentVolumeClaim::default()
    }
}

/// One replica, Recreate (two pods must never share the data directory).
/// No hostname annotations, so hostname changes never restart the database.
fn deployment(inputs: &Inputs) -> Deployment {
    let mut metadata = meta(inputs, SUFFIX, component::POSTGRES);
    metadata.annotations = Some(BTreeMap::from([(
        LABEL_COMPONENT.into(),
        ComponentKind::Postgres.as_str().into(),
    )]));
    let volume = Volume {
        name: "postgres-data".into(),
        persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
            claim_name: database_pvc_name(&inputs.name),
            ..Default::default()
        }),
        ..Volume::default()
    };
    let pod = PodSpec {
        service_account_name: Some(name(inputs, SUFFIX)),
        automount_service_account_token: Some(false),
        security_context: Some(pod_security(official_image_user(inputs))),
        containers: vec![container(inputs)],
        volumes: Some(vec![volume]),
        ..PodSpec::default()
    };
    Deployment {
        metadata,
        spec: Some(DeploymentSpec {
            replicas: Some(1),
            strategy: Some(DeploymentStrategy {
                type_: Some("Recreate".into()),
                ..Default::default()
            }),
            selector: LabelSelector {
                match_labels: Some(selector(inputs, component::POSTGRES)),
                ..Default::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels(inputs, component::POSTGRES)),
                    ..Default::default()
                }),
                spec: Some(pod),
            },
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    }
}

fn container(inputs: &Inputs) -> Container {
    let from_secret = |env: &str, key: &str| EnvVar {
        name: env.into(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: name(inputs, SECRET_SUFFIX),
                key: key.into(),
                ..SecretKeySelector::default()
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    };
    let pgdata = EnvVar {
        name: "PGDATA".into(),
        value: Some(PGDATA.into()),
        ..EnvVar::default()
    };
    Container {
        name: "postgres".into(),
        image: Some(inputs.images.postgres.clone()),
        // Enough connections for 20 registry and 20 mirror pods' pools.
        args: Some(
            ["-c", "max_connections=500", "-c", "shared_buffers=256MB"]
                .map(String::from)
                .to_vec(),
        ),
        env: Some(vec![
            from_secret("POSTGRES_USER", "database-username"),
            from_secret("POSTGRES_PASSWORD", "database-password"),
            from_secret("POSTGRES_DB", "database-name"),
            pgdata,
        ]),
        ports: Some(vec![ContainerPort {
            name: Some("postgres".into()),
            container_port: PORT,
            ..Default::default()
        }]),
        startup_probe: Some(startup_probe()),
        readiness_probe: Some(ready_probe()),
        resources: Some(resources(("250m", "512Mi"), ("2", "4Gi"))),
        security_context: Some(container_security()),
        volume_mounts: Some(vec![VolumeMount {
            name: "postgres-data".into(),
            mount_path: DATA_MOUNT.into(),
            ..VolumeMount::default()
        }]),
        ..Container::default()
    }
}

/// `pg_isready` for the configured user and database (a shell, because
/// exec probes do not expand `$(VAR)`).
fn ready_probe() -> Probe {
    let check = r#"pg_isready -h 127.0.0.1 -p 5432 -U "$POSTGRES_USER" -d "$POSTGRES_DB""#;
    Probe {
        exec: Some(ExecAction {
            command: Some(["sh", "-c", check].map(String::from).to_vec()),
        }),
        period_seconds: Some(10),
        timeout_seconds: Some(5),
        ..Probe::default()
    }
}

/// The ready check every second while PostgreSQL starts (ten minutes at
/// most, for a first `initdb` on a slow volume), so it is Ready at once.
fn startup_probe() -> Probe {
    Probe {
        period_seconds: Some(1),
        failure_threshold: Some(600),
        ..ready_probe()
    }
}

#[cfg(test)]
#[path = "database_tests.rs"]
mod tests;
