use k8s_openapi::api::core::v1::{PodTemplateSpec, Volume};

use super::*;
use crate::names::ANNOTATION_SERVICE_CA_HASH;
use crate::objects::fixtures::{config_map, deployment, find, inputs, names, secret, Fixture};
use sha2::{Digest as _, Sha256};

const WORKLOADS: [&str; 3] = ["registry-quay-app", "registry-quay-mirror", "registry-quay-app-upgrade"];

/// The pod templates of quay-app, mirror and the migration Job.
fn templates(objects: &[Desired]) -> Vec<(&'static str, PodTemplateSpec)> {
    WORKLOADS
        .iter()
        .map(|name| {
            let template = objects.iter().find_map(|o| match o {
                Desired::Deployment(d) if o.name() == *name => d.spec.as_ref().map(|s| s.template.clone()),
                Desired::Job(j) if o.name() == *name => j.spec.as_ref().map(|s| s.template.clone()),
                _ => None,
            });
            (*name, template.unwrap_or_else(|| panic!("no workload {name}")))
        })
        .collect()
}

/// The extra CA volume and whether container 0 mounts it read-only at
/// `/conf/stack/extra_ca_certs`.
fn extra_ca_volume(t: &PodTemplateSpec) -> (Option<Volume>, bool) {
    let pod = t.spec.as_ref().expect("pod");
    let volume = pod
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == "extra-ca-certs")
        .cloned();
    let mounted = pod.containers[0]
        .volume_mounts
        .iter()
        .flatten()
        .any(|m| m.name == "extra-ca-certs" && m.mount_path == EXTRA_CA_DIR && m.read_only == Some(true));
    (volume, mounted)
}

/// `(kind, name, optional)` of each projected source.
fn sources(v: &Volume) -> Vec<(&'static str, String, Option<bool>)> {
    let projected = v
        .projected
        .as_ref()
        .and_then(|p| p.sources.as_ref())
        .expect("projected");
    projected
        .iter()
        .map(|s| match (&s.config_map, &s.secret) {
            (Some(c), None) => ("ConfigMap", c.name.clone(), c.optional),
            (None, Some(s)) => ("Secret", s.name.clone(), s.optional),
            _ => panic!("unexpected source {s:?}"),
        })
        .collect()
}

fn all(fixture: Fixture) -> Vec<Desired> {
    fixture.upgrade().objects()
}

fn extra_secret_names(objects: &[Desired]) -> Vec<&str> {
    names(objects)
        .into_iter()
        .filter(|n| n.starts_with("registry-extra-ca-certs-"))
        .collect()
}

#[test]
fn without_extra_cas_off_openshift_nothing_is_rendered_or_mounted() {
    let objects = all(inputs());
    assert!(extra_secret_names(&objects).is_empty());
    assert!(!names(&objects).contains(&"registry-cluster-service-ca"));
    assert!(!names(&objects).contains(&"registry-cluster-trusted-ca"));
    for (name, t) in templates(&objects) {
        assert_eq!(extra_ca_volume(&t), (None, false), "{name}");
    }
}

#[test]
fn extra_cas_get_a_content_hashed_secret_keyed_by_their_names() {
    let objects = all(inputs()
        .extra_ca("corp.crt", "CA corp")
        .extra_ca("other.pem", "CA other"));
    let secrets = extra_secret_names(&objects);
    assert_eq!(secrets.len(), 1, "{secrets:?}");
    let s = find(&objects, secrets[0], secret);
    let data = s.data.as_ref().expect("data");
    assert_eq!(data.keys().collect::<Vec<_>>(), ["corp.crt", "other.pem"]);
    assert_eq!(data["corp.crt"].0, b"CA corp");
    assert_eq!(s.type_.as_deref(), Some("Opaque"));
    // Deterministic: the same certificates give the same name.
    let again = all(inputs()
        .extra_ca("other.pem", "CA other")
        .extra_ca("corp.crt", "CA corp"));
    assert_eq!(extra_secret_names(&again), secrets);
}

#[test]
fn quay_app_mirror_and_the_job_mount_the_extra_cas_alike() {
    let objects = all(inputs().extra_ca("corp.crt", "CA corp"));
    let secret_name = extra_secret_names(&objects)[0].to_owned();
    for (name, t) in templates(&objects) {
        let (volume, mounted) = extra_ca_volume(&t);
        assert!(mounted, "{name} mounts /conf/stack/extra_ca_certs");
        assert_eq!(
            sources(&volume.expect("volume")),
            [("Secret", secret_name.clone(), None)],
            "{name}"
        );
    }
}

#[test]
fn on_openshift_both_ca_configmaps_are_rendered_without_data() {
    let objects = all(inputs().routes(true));
    let service = find(&objects, "registry-cluster-service-ca", config_map);
    let annotations = service.metadata.annotations.clone().expect("annotations");
    assert_eq!(annotations[SERVICE_CA_INJECT_ANNOTATION], "true");
    let trusted = find(&objects, "registry-cluster-trusted-ca", config_map);
    let labels = trusted.metadata.labels.clone().expect("labels");
    assert_eq!(labels[TRUSTED_CA_INJECT_LABEL], "true");
    assert_eq!(labels["quay-operator/quayregistry"], "registry");
    for cm in [service, trusted] {
        assert_eq!((cm.data.as_ref(), cm.binary_data.as_ref()), (None, None));
        assert_eq!(cm.metadata.owner_references.as_ref().map(Vec::len), Some(1));
        // The apply body has no `data` key at all, so SSA never owns it.
        let json = serde_json::to_value(cm).expect("json");
        assert!(json.get("data").is_none(), "{json}");
    }
}

#[test]
fn on_openshift_the_ca_configmaps_are_projected_optionally_with_the_extra_cas() {
    let cms = [
        ("ConfigMap", "registry-cluster-service-ca".to_owned(), Some(true)),
        ("ConfigMap", "registry-cluster-trusted-ca".to_owned(), Some(true)),
    ];
    let objects = all(inputs().routes(true));
    for (name, t) in templates(&objects) {
        let (volume, mounted) = extra_ca_volume(&t);
        assert!(mounted, "{name}");
        assert_eq!(sources(&volume.expect("volume")), cms, "{name}");
    }
    let objects = all(inputs().routes(true).extra_ca("corp.crt", "CA corp"));
    let secret_name = extra_secret_names(&objects)[0].to_owned();
    for (name, t) in templates(&objects) {
        let mut want = cms.to_vec();
        want.push(("Secret", secret_name.clone(), None));
        assert_eq!(sources(&extra_ca_volume(&t).0.expect("volume")), want, "{name}");
    }
}

#[test]
fn a_changed_extra_ca_changes_the_pod_templates() {
    let before = all(inputs().extra_ca("corp.crt", "CA one"));
    let after = all(inputs().extra_ca("corp.crt", "CA two"));
    assert_ne!(extra_secret_names(&before), extra_secret_names(&after));
    for ((name, a), (_, b)) in templates(&before).into_iter().zip(templates(&after)) {
        assert_ne!(a, b, "{name} rolls");
    }
}

#[test]
fn a_rotated_ca_changes_the_deployments_and_their_pod_templates() {
    let objects = |hash: &str| {
        inputs()
            .routes(true)
            .ca_hash(ANNOTATION_SERVICE_CA_HASH, hash)
            .objects()
    };
    let (before, after) = (objects("aaaa1111"), objects("bbbb2222"));
    for name in ["registry-quay-app", "registry-quay-mirror"] {
        let d = find(&after, name, deployment);
        let meta = d.metadata.annotations.as_ref().expect("annotations");
        assert_eq!(meta[ANNOTATION_SERVICE_CA_HASH], "bbbb2222", "{name}");
        let template = d.spec.as_ref().and_then(|s| s.template.metadata.as_ref());
        let annotations = template.and_then(|m| m.annotations.as_ref()).expect("annotations");
        assert_eq!(annotations[ANNOTATION_SERVICE_CA_HASH], "bbbb2222", "{name}");
        let old = find(&before, name, deployment).spec.as_ref().map(|s| &s.template);
        assert_ne!(old, d.spec.as_ref().map(|s| &s.template), "{name} rolls");
    }
}

#[test]
fn ca_hashes_are_the_last_eight_hex_digits_of_injected_bundles_only() {
    let cm = |key: &str, value: &str| ConfigMap {
        data: Some(BTreeMap::from([(key.to_owned(), value.to_owned())])),
        ..ConfigMap::default()
    };
    assert!(ca_hashes(None, None).is_empty());
    // Created but not yet injected.
    assert!(ca_hashes(Some(&ConfigMap::default()), Some(&cm(TRUSTED_CA_KEY, ""))).is_empty());
    let service = cm(SERVICE_CA_KEY, "PEM one");
    let hashes = ca_hashes(Some(&service), None);
    assert_eq!(hashes.keys().collect::<Vec<_>>(), [ANNOTATION_SERVICE_CA_HASH]);
    let h = &hashes[ANNOTATION_SERVICE_CA_HASH];
    assert_eq!(h, &ca_hash("PEM one"));
    assert!(h.len() == 8 && h.bytes().all(|b| b.is_ascii_hexdigit()), "{h}");
    let full = hex::encode(Sha256::digest(b"PEM one"));
    assert!(full.ends_with(h.as_str()));
    assert_ne!(ca_hash("PEM one"), ca_hash("PEM two"));
    let both = ca_hashes(Some(&service), Some(&cm(TRUSTED_CA_KEY, "bundle")));
    assert_eq!(both[ANNOTATION_TRUSTED_CA_HASH], ca_hash("bundle"));
}
