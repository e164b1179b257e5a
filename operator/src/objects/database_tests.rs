use crds::{ComponentKind, Overrides};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::*;
use crate::objects::fixtures::{deployment, find, inputs, names, pvc, secret};

const DB: &str = "registry-quay-database";

#[test]
fn database_objects_exist_only_when_postgres_is_managed() {
    let expected = ["registry-postgres-config-secret", DB, "registry-quay-database-data"];
    let managed = inputs().objects();
    for name in expected {
        assert!(names(&managed).contains(&name), "{name} missing");
    }
    let unmanaged = inputs().managed(ComponentKind::Postgres, false).objects();
    for name in expected {
        assert!(!names(&unmanaged).contains(&name), "{name} present");
    }
}

#[test]
fn the_postgres_secret_holds_the_credentials_of_the_db_uri_and_the_root_password() {
    let objects = inputs().objects();
    let data = find(&objects, "registry-postgres-config-secret", secret)
        .data
        .clone()
        .expect("data");
    let text = |key: &str| String::from_utf8(data[key].0.clone()).expect("utf-8");
    assert_eq!(text("database-username"), "registry-quay-database");
    assert_eq!(text("database-password"), "db/pw", "percent-decoded");
    assert_eq!(text("database-name"), "registry-quay-database");
    assert_eq!(text("database-root-password"), "rootpw");

    let objects = inputs().without_root_password().objects();
    let data = find(&objects, "registry-postgres-config-secret", secret)
        .data
        .clone()
        .expect("data");
    assert!(!data.contains_key("database-root-password"));
}

#[test]
fn db_uris_are_parsed_into_credentials() {
    let creds = |u: &str, p: &str, d: &str| {
        Some(Credentials {
            user: u.into(),
            password: p.into(),
            database: d.into(),
        })
    };
    for (uri, want) in [
        ("postgresql://u:p@host:5432/db", creds("u", "p", "db")),
        ("postgres://u:p@host/db?sslmode=require", creds("u", "p", "db")),
        ("postgresql://u:p%40ss@host/db", creds("u", "p@ss", "db")),
        ("postgresql://u:p@ss@host/db", creds("u", "p@ss", "db")),
        ("postgresql://u@host/db", None),
        ("postgresql://u:p@host", None),
        ("postgresql://u:p@host/", None),
        ("postgresql://u:%zz@host/db", None),
        ("mysql://u:p@host/db", None),
    ] {
        assert_eq!(Credentials::parse(uri), want, "{uri}");
    }
}

#[test]
fn a_managed_database_without_a_usable_db_uri_is_an_inflate_error() {
    for yaml in ["SERVER_HOSTNAME: x\n", "DB_URI: not-a-uri\n"] {
        let err = crate::objects::desired_objects(&inputs().config_yaml(yaml).build()).expect_err("no DB_URI");
        assert!(matches!(err, crate::Error::Inflate(_)), "{yaml}: {err}");
    }
    let unmanaged = inputs()
        .managed(ComponentKind::Postgres, false)
        .config_yaml("SERVER_HOSTNAME: x\n");
    assert!(crate::objects::desired_objects(&unmanaged.build()).is_ok());
}

#[test]
fn the_database_pvc_is_read_write_once_50gi_by_default() {
    let objects = inputs().objects();
    let claim = find(&objects, "registry-quay-database-data", pvc);
    let spec = claim.spec.as_ref().expect("spec");
    assert_eq!(spec.access_modes.as_deref(), Some(&["ReadWriteOnce".to_owned()][..]));
    let size = spec
        .resources
        .as_ref()
        .and_then(|r| r.requests.as_ref())
        .map(|r| r["storage"].0.clone());
    assert_eq!(size.as_deref(), Some("50Gi"));
    assert_eq!(spec.storage_class_name, None);
    assert_eq!(database_pvc_name("registry"), "registry-quay-database-data");
}

#[test]
fn the_rendered_volume_size_is_exposed_for_the_never_shrink_check() {
    assert_eq!(database_volume_size(&inputs().build()), Quantity("50Gi".into()));
    let o = Overrides {
        volume_size: Some(Quantity("80Gi".into())),
        ..Overrides::default()
    };
    assert_eq!(
        database_volume_size(&inputs().overrides(ComponentKind::Postgres, o).build()),
        Quantity("80Gi".into())
    );
}

#[test]
fn the_database_is_one_recreated_replica_of_the_official_image_on_its_pvc() {
    let objects = inputs().objects();
    let d = find(&objects, DB, deployment);
    let spec = d.spec.as_ref().expect("spec");
    assert_eq!(spec.replicas, Some(1));
    assert_eq!(
        spec.strategy.as_ref().and_then(|s| s.type_.as_deref()),
        Some("Recreate")
    );
    let pod = spec.template.spec.as_ref().expect("pod");
    let claim = pod
        .volumes
        .iter()
        .flatten()
        .find_map(|v| v.persistent_volume_claim.as_ref())
        .expect("claim");
    assert_eq!(claim.claim_name, "registry-quay-database-data");
    let c = &pod.containers[0];
    assert_eq!(c.image.as_deref(), Some("docker.io/library/postgres:16"));
    let env: Vec<_> = c.env.iter().flatten().collect();
    let from_secret = |name: &str| {
        let e = env.iter().find(|e| e.name == name).and_then(|e| e.value_from.clone());
        e.and_then(|v| v.secret_key_ref).map(|s| (s.name, s.key))
    };
    let secret = "registry-postgres-config-secret".to_owned();
    assert_eq!(
        from_secret("POSTGRES_USER"),
        Some((secret.clone(), "database-username".into()))
    );
    assert_eq!(
        from_secret("POSTGRES_PASSWORD"),
        Some((secret.clone(), "database-password".into()))
    );
    assert_eq!(from_secret("POSTGRES_DB"), Some((secret, "database-name".into())));
    let pgdata = env.iter().find(|e| e.name == "PGDATA").and_then(|e| e.value.clone());
    assert_eq!(pgdata.as_deref(), Some("/var/lib/postgresql/data/pgdata"));
}

#[test]
fn the_database_is_ready_when_pg_isready_says_so() {
    let objects = inputs().objects();
    let d = find(&objects, DB, deployment);
    let c = &d
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .expect("pod")
        .containers[0];
    for probe in [&c.startup_probe, &c.readiness_probe] {
        let command = probe
            .as_ref()
            .and_then(|p| p.exec.as_ref())
            .and_then(|e| e.command.clone());
        assert!(command.expect("exec probe").join(" ").contains("pg_isready"));
    }
    // Checked every second while it starts, with ten minutes for a first initdb.
    let startup = c.startup_probe.as_ref().expect("startup probe");
    assert_eq!(startup.period_seconds, Some(1));
    assert!(startup.failure_threshold.unwrap_or(3) >= 600);
}

#[test]
fn hostname_changes_never_restart_the_database() {
    let objects = inputs().buildman("b.example.com").objects();
    let d = find(&objects, DB, deployment);
    let annotations = d
        .spec
        .as_ref()
        .and_then(|s| s.template.metadata.as_ref())
        .and_then(|m| m.annotations.clone());
    assert!(annotations.unwrap_or_default().keys().all(|k| !k.contains("hostname")));
}

#[test]
fn the_database_service_selects_the_database_pods_on_5432() {
    let objects = inputs().objects();
    let svc = find(&objects, DB, crate::objects::fixtures::service)
        .spec
        .as_ref()
        .expect("spec");
    assert_eq!(svc.ports.as_ref().expect("ports")[0].port, 5432);
    let d = find(&objects, DB, deployment);
    assert_eq!(
        svc.selector,
        d.spec.as_ref().and_then(|s| s.selector.match_labels.clone())
    );
    let selector = svc.selector.clone().expect("selector");
    assert_eq!(selector["quay-component"], "postgres");
}
