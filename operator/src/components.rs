//! Components: which kinds are managed, what overrides each accepts, and
//! whether the config bundle fits the managed/unmanaged choice (Quay's
//! `hasNecessaryConfig`).
//!
//! Differences from Quay's operator, because this operator also runs on
//! plain Kubernetes and the registry ships no scanner:
//! - `route` and `tls` need no Route API: without it the operator creates an
//!   Ingress and issues its certificate from its own CA.
//! - `clair` and `clairpostgres` default to unmanaged, and managing them is
//!   refused.

use std::collections::BTreeMap;

use crds::{reason, Component, ComponentKind, Overrides, QuayRegistrySpec};

use crate::bundle::ConfigBundle;
use crate::{Capabilities, Error};

/// Override label keys the operator owns; user values for them are skipped.
pub const RESERVED_LABEL_KEYS: [&str; 3] = ["quay-component", "app", "quay-operator/quayregistry"];

/// The components after defaulting: listed kinds as given (quay forced to
/// managed), unlisted kinds managed unless a capability is missing or (tls)
/// the bundle carries a certificate. Explicit `managed: true` without the
/// capability is a [`crate::Error::Dependency`].
pub fn ensure_default_components(
    spec: &QuayRegistrySpec,
    capabilities: &Capabilities,
    bundle: &ConfigBundle,
) -> crate::Result<Vec<Component>> {
    let mut components = Vec::with_capacity(ComponentKind::ALL.len());
    for listed in &spec.components {
        if components.iter().any(|c: &Component| c.kind == listed.kind) {
            return Err(Error::ConfigInvalid(format!(
                "component {} is listed more than once in spec.components",
                listed.kind
            )));
        }
        check_listed(listed, capabilities)?;
        let mut component = listed.clone();
        // quay exists only to carry overrides: it cannot be unmanaged.
        component.managed |= component.kind == ComponentKind::Quay;
        components.push(component);
    }
    // Like Quay, unlisted kinds are appended in the canonical order, so the
    // user's order survives the write-back.
    for kind in ComponentKind::ALL {
        if !components.iter().any(|c| c.kind == kind) {
            components.push(Component {
                kind,
                managed: managed_by_default(kind, capabilities, bundle),
                overrides: None,
                secret_ref: None,
            });
        }
    }
    Ok(components)
}

fn managed_by_default(kind: ComponentKind, capabilities: &Capabilities, bundle: &ConfigBundle) -> bool {
    match kind {
        ComponentKind::Clair | ComponentKind::Clairpostgres => false,
        ComponentKind::Objectstorage => capabilities.object_bucket_claims,
        ComponentKind::Monitoring => capabilities.monitoring,
        ComponentKind::Tls => !bundle.has_tls_pair(),
        // Mirror workers only run when the registry is asked to mirror
        // (`FEATURE_REPO_MIRROR`); Quay's operator runs idle ones always.
        ComponentKind::Mirror => bundle
            .config
            .get("FEATURE_REPO_MIRROR")
            .and_then(serde_yaml::Value::as_bool)
            .unwrap_or(false),
        ComponentKind::Quay
        | ComponentKind::Postgres
        | ComponentKind::Redis
        | ComponentKind::Horizontalpodautoscaler
        | ComponentKind::Route => true,
    }
}

/// Rules for a listed component: the capability of a managed kind, the
/// kinds this operator cannot run, and the CRD's `secretRef` rules (checked
/// here too, for API servers without CEL).
fn check_listed(component: &Component, capabilities: &Capabilities) -> crate::Result<()> {
    let kind = component.kind;
    if let Some(secret_ref) = &component.secret_ref {
        if kind != ComponentKind::Tls {
            return Err(Error::ConfigInvalid(format!(
                "component {kind} does not support secretRef (only tls does)"
            )));
        }
        if component.managed {
            return Err(Error::ConfigInvalid(
                "cannot set secretRef on managed component tls".into(),
            ));
        }
        if secret_ref.name.is_empty() {
            return Err(Error::ConfigInvalid("secretRef.name must not be empty".into()));
        }
    }
    if !component.managed {
        return Ok(());
    }
    match kind {
        ComponentKind::Clair | ComponentKind::Clairpostgres => Err(Error::ConfigInvalid(format!(
            "component {kind} is not supported: this registry ships no security scanner, \
             so set `managed: false` for {kind}"
        ))),
        ComponentKind::Objectstorage if !capabilities.object_bucket_claims => Err(Error::Dependency {
            reason: reason::OBJECT_STORAGE_COMPONENT_DEPENDENCY_ERROR,
            message: "error validating component objectstorage: ObjectBucketClaim API \
                      (objectbucket.io/v1alpha1) not available"
                .into(),
        }),
        ComponentKind::Monitoring if !capabilities.monitoring => Err(Error::Dependency {
            reason: reason::MONITORING_COMPONENT_DEPENDENCY_ERROR,
            message: "error validating component monitoring: Prometheus API \
                      (monitoring.coreos.com/v1 ServiceMonitor, PrometheusRule) not available"
                .into(),
        }),
        _ => Ok(()),
    }
}

/// One override field and the kinds that accept it.
struct OverrideRule {
    field: &'static str,
    set: fn(&Overrides) -> bool,
    kinds: &'static [ComponentKind],
}

/// Quay's table of allowed overrides; `labels` and `annotations` apply to
/// every kind.
const OVERRIDE_RULES: [OverrideRule; 7] = {
    use ComponentKind::*;
    [
        OverrideRule {
            field: "volumeSize",
            set: |o| o.volume_size.is_some(),
            kinds: &[Postgres, Clairpostgres, Clair],
        },
        OverrideRule {
            field: "storageClassName",
            set: |o| o.storage_class_name.is_some(),
            kinds: &[Postgres, Clairpostgres, Clair],
        },
        OverrideRule {
            field: "env",
            set: |o| o.env.as_ref().is_some_and(|e| !e.is_empty()),
            kinds: &[Quay, Clair, Mirror, Postgres, Redis, Clairpostgres],
        },
        OverrideRule {
            field: "replicas",
            set: |o| o.replicas.is_some(),
            kinds: &[Quay, Clair, Mirror],
        },
        OverrideRule {
            field: "affinity",
            set: |o| o.affinity.is_some(),
            kinds: &[Quay, Clair, Mirror],
        },
        OverrideRule {
            field: "resources",
            set: |o| o.resources.is_some(),
            kinds: &[Quay, Clair, Mirror, Postgres, Clairpostgres, Redis],
        },
        OverrideRule {
            field: "securityContext",
            set: |o| o.security_context.is_some(),
            kinds: &[Quay, Mirror],
        },
    ]
};

/// Checks each component's overrides against what its kind accepts
/// ("component X does not support Y overrides").
pub fn validate_overrides(components: &[Component]) -> crate::Result<()> {
    let hpa_managed = is_managed(components, ComponentKind::Horizontalpodautoscaler);
    for component in components {
        let Some(overrides) = &component.overrides else {
            continue;
        };
        let kind = component.kind;
        if !is_managed(components, kind) {
            return Err(Error::OverrideInvalid(format!(
                "cannot set overrides on unmanaged component {kind}"
            )));
        }
        if let Some(rule) = OVERRIDE_RULES
            .iter()
            .find(|r| (r.set)(overrides) && !r.kinds.contains(&kind))
        {
            return Err(Error::OverrideInvalid(format!(
                "component {kind} does not support {} overrides",
                rule.field
            )));
        }
        match overrides.replicas {
            Some(n) if n < 0 => {
                return Err(Error::OverrideInvalid(format!(
                    "replicas override of component {kind} must not be negative"
                )))
            }
            // An HPA owns the replica count; only scaling to zero is allowed.
            Some(n) if n != 0 && hpa_managed => {
                return Err(Error::OverrideInvalid(format!(
                    "cannot override replicas of component {kind} with managed HPA \
                     (use 0, or mark horizontalpodautoscaler unmanaged)"
                )))
            }
            _ => {}
        }
    }
    Ok(())
}

/// Whether `kind` is managed among the effective components (quay always is).
pub fn is_managed(components: &[Component], kind: ComponentKind) -> bool {
    kind == ComponentKind::Quay || components.iter().any(|c| c.kind == kind && c.managed)
}

/// A component's `labels` override without the keys the operator owns.
pub fn override_labels(component: &Component) -> BTreeMap<String, String> {
    component
        .overrides
        .as_ref()
        .and_then(|o| o.labels.as_ref())
        .into_iter()
        .flatten()
        .filter(|(k, _)| !RESERVED_LABEL_KEYS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Quay's `hasNecessaryConfig`: managed components must not be configured
/// by the user (except route, mirror, redis); required unmanaged components
/// must be.
pub fn has_necessary_config(components: &[Component], bundle: &ConfigBundle) -> crate::Result<()> {
    let clair_managed = is_managed(components, ComponentKind::Clair);
    for component in components {
        let kind = component.kind;
        if kind == ComponentKind::Tls
            && component.secret_ref.is_some()
            && bundle.files.keys().any(|k| k.starts_with("ssl."))
        {
            return Err(Error::ConfigInvalid(
                "tls component sets secretRef, but `configBundleSecret` also contains ssl.cert/ssl.key: \
                 use one or the other"
                    .into(),
            ));
        }
        let has_config = has_config(component, bundle);
        let may_have_config = matches!(
            kind,
            ComponentKind::Route | ComponentKind::Mirror | ComponentKind::Redis
        );
        let required = match kind {
            ComponentKind::Postgres
            | ComponentKind::Redis
            | ComponentKind::Objectstorage
            | ComponentKind::Route
            | ComponentKind::Tls => true,
            ComponentKind::Clairpostgres => clair_managed,
            _ => false,
        };
        if component.managed && has_config && !may_have_config {
            return Err(Error::ConfigInvalid(format!(
                "{kind} component marked as managed, but `configBundleSecret` contains required fields"
            )));
        }
        if !component.managed && required && !has_config {
            return Err(Error::ConfigInvalid(format!(
                "required component `{kind}` marked as unmanaged, but `configBundleSecret` is missing necessary fields"
            )));
        }
    }
    Ok(())
}

/// Whether the bundle configures `component` (any key of its field group).
fn has_config(component: &Component, bundle: &ConfigBundle) -> bool {
    let any = |keys: &[&str]| keys.iter().any(|k| bundle.config.contains_key(*k));
    match component.kind {
        ComponentKind::Postgres => any(&["DB_URI", "DB_CONNECTION_ARGS"]),
        ComponentKind::Redis => any(&["BUILDLOGS_REDIS", "USER_EVENTS_REDIS", "PULL_METRICS_REDIS"]),
        ComponentKind::Objectstorage => any(&[
            "DISTRIBUTED_STORAGE_CONFIG",
            "DISTRIBUTED_STORAGE_PREFERENCE",
            "DISTRIBUTED_STORAGE_DEFAULT_LOCATIONS",
            "FEATURE_STORAGE_REPLICATION",
        ]),
        ComponentKind::Route => any(&["SERVER_HOSTNAME", "EXTERNAL_TLS_TERMINATION", "PREFERRED_URL_SCHEME"]),
        ComponentKind::Tls => bundle.has_tls_pair() || component.secret_ref.is_some(),
        ComponentKind::Clair => any(&[
            "FEATURE_SECURITY_SCANNER",
            "SECURITY_SCANNER_ENDPOINT",
            "SECURITY_SCANNER_INDEXING_INTERVAL",
            "SECURITY_SCANNER_NOTIFICATIONS",
            "SECURITY_SCANNER_V4_ENDPOINT",
            "SECURITY_SCANNER_V4_NAMESPACE_WHITELIST",
        ]),
        ComponentKind::Clairpostgres => clair_config_has_connstring(bundle),
        ComponentKind::Mirror => any(&[
            "FEATURE_REPO_MIRROR",
            "REPO_MIRROR_INTERVAL",
            "REPO_MIRROR_SERVER_HOSTNAME",
            "REPO_MIRROR_TLS_VERIFY",
        ]),
        ComponentKind::Horizontalpodautoscaler | ComponentKind::Monitoring | ComponentKind::Quay => false,
    }
}

/// Whether `clair-config.yaml` names a database for the indexer, matcher
/// or notifier.
fn clair_config_has_connstring(bundle: &ConfigBundle) -> bool {
    let Some(raw) = bundle.files.get("clair-config.yaml") else {
        return false;
    };
    let Ok(config) = serde_yaml::from_slice::<serde_yaml::Value>(raw) else {
        return false;
    };
    ["indexer", "matcher", "notifier"].iter().any(|section| {
        config
            .get(section)
            .and_then(|s| s.get("connstring"))
            .and_then(serde_yaml::Value::as_str)
            .is_some_and(|c| !c.trim().is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crds::SecretRef;
    use ComponentKind::*;

    fn component(kind: ComponentKind, managed: bool) -> Component {
        Component {
            kind,
            managed,
            overrides: None,
            secret_ref: None,
        }
    }

    fn with_overrides(kind: ComponentKind, overrides: Overrides) -> Component {
        Component {
            overrides: Some(overrides),
            ..component(kind, true)
        }
    }

    fn spec(components: Vec<Component>) -> QuayRegistrySpec {
        QuayRegistrySpec {
            config_bundle_secret: Some("bundle".into()),
            components,
        }
    }

    fn bundle(yaml: &str, files: &[&str]) -> ConfigBundle {
        ConfigBundle {
            config: serde_yaml::from_str(yaml).expect("test yaml"),
            files: files.iter().map(|f| (f.to_string(), b"x".to_vec())).collect(),
        }
    }

    fn managed_kinds(components: &[Component]) -> Vec<ComponentKind> {
        components.iter().filter(|c| c.managed).map(|c| c.kind).collect()
    }

    const PLAIN: Capabilities = Capabilities {
        routes: false,
        object_bucket_claims: false,
        monitoring: false,
        apiserver_config: false,
    };
    const OPENSHIFT: Capabilities = Capabilities {
        routes: true,
        object_bucket_claims: true,
        monitoring: true,
        apiserver_config: true,
    };

    #[test]
    fn unlisted_kinds_default_by_capability_and_bundle() {
        let obc_only = Capabilities {
            object_bucket_claims: true,
            ..PLAIN
        };
        let monitoring_only = Capabilities {
            monitoring: true,
            ..PLAIN
        };
        let base = [Quay, Postgres, Redis, Horizontalpodautoscaler, Route];
        let cases: [(Capabilities, &[&str], Vec<ComponentKind>); 6] = [
            (PLAIN, &[], [&base[..], &[Tls]].concat()),
            (obc_only, &[], [&base[..], &[Objectstorage, Tls]].concat()),
            (monitoring_only, &[], [&base[..], &[Monitoring, Tls]].concat()),
            (OPENSHIFT, &[], [&base[..], &[Objectstorage, Monitoring, Tls]].concat()),
            (PLAIN, &["ssl.cert", "ssl.key"], base.to_vec()),
            (PLAIN, &["ssl.cert"], [&base[..], &[Tls]].concat()),
        ];
        for (caps, files, expected) in cases {
            let got = ensure_default_components(&spec(vec![]), &caps, &bundle("{}", files)).expect("defaults");
            assert_eq!(
                got.iter().map(|c| c.kind).collect::<Vec<_>>(),
                ComponentKind::ALL.to_vec()
            );
            let mut managed = managed_kinds(&got);
            let mut expected = expected;
            managed.sort();
            expected.sort();
            assert_eq!(managed, expected, "{caps:?} {files:?}");
        }
    }

    #[test]
    fn mirror_workers_are_managed_by_default_only_when_mirroring_is_on() {
        let managed = |config: &str| {
            let got = ensure_default_components(&spec(vec![]), &PLAIN, &bundle(config, &[])).expect("defaults");
            managed_kinds(&got).contains(&Mirror)
        };
        assert!(!managed("{}"));
        assert!(!managed("FEATURE_REPO_MIRROR: false"));
        assert!(managed("FEATURE_REPO_MIRROR: true"));
    }

    #[test]
    fn listed_components_keep_their_order_and_values_and_unlisted_ones_follow() {
        let listed = vec![
            component(Mirror, false),
            with_overrides(Quay, Overrides::default()),
            component(Redis, false),
        ];
        let got = ensure_default_components(&spec(listed.clone()), &PLAIN, &bundle("{}", &[])).expect("defaults");
        assert_eq!(got[..3], listed[..]);
        let rest: Vec<_> = ComponentKind::ALL
            .into_iter()
            .filter(|k| ![Mirror, Quay, Redis].contains(k))
            .collect();
        assert_eq!(got[3..].iter().map(|c| c.kind).collect::<Vec<_>>(), rest);
        let again = ensure_default_components(&spec(got.clone()), &PLAIN, &bundle("{}", &[])).expect("defaults");
        assert_eq!(again, got, "defaulting is idempotent");
    }

    #[test]
    fn quay_is_forced_to_managed() {
        let got = ensure_default_components(&spec(vec![component(Quay, false)]), &PLAIN, &bundle("{}", &[]))
            .expect("defaults");
        assert!(got[0].kind == Quay && got[0].managed);
        assert!(is_managed(&[component(Quay, false)], Quay));
        assert!(is_managed(&[], Quay));
    }

    #[test]
    fn route_and_tls_may_be_managed_without_the_route_api() {
        let listed = vec![component(Route, true), component(Tls, true)];
        let got = ensure_default_components(&spec(listed), &PLAIN, &bundle("{}", &[])).expect("Ingress fallback");
        assert!(got[0].managed && got[1].managed);
    }

    #[test]
    fn managed_kinds_without_their_api_are_dependency_errors() {
        let cases = [
            (
                Objectstorage,
                reason::OBJECT_STORAGE_COMPONENT_DEPENDENCY_ERROR,
                "ObjectBucketClaim",
            ),
            (
                Monitoring,
                reason::MONITORING_COMPONENT_DEPENDENCY_ERROR,
                "monitoring.coreos.com",
            ),
        ];
        for (kind, want_reason, needle) in cases {
            let err = ensure_default_components(&spec(vec![component(kind, true)]), &PLAIN, &bundle("{}", &[]))
                .expect_err("missing API");
            assert_eq!(err.reason(), want_reason);
            assert!(
                err.to_string()
                    .starts_with(&format!("error validating component {kind}: ")),
                "{err}"
            );
            assert!(err.to_string().contains(needle), "{err}");
            ensure_default_components(&spec(vec![component(kind, true)]), &OPENSHIFT, &bundle("{}", &[]))
                .expect("API present");
            ensure_default_components(&spec(vec![component(kind, false)]), &PLAIN, &bundle("{}", &[]))
                .expect("unmanaged needs no API");
        }
    }

    #[test]
    fn clair_and_clairpostgres_cannot_be_managed() {
        for kind in [Clair, Clairpostgres] {
            let err = ensure_default_components(&spec(vec![component(kind, true)]), &OPENSHIFT, &bundle("{}", &[]))
                .expect_err("no scanner");
            assert!(matches!(err, Error::ConfigInvalid(_)), "{err:?}");
            assert!(
                err.to_string().contains(&format!("component {kind} is not supported")),
                "{err}"
            );
            ensure_default_components(&spec(vec![component(kind, false)]), &OPENSHIFT, &bundle("{}", &[]))
                .expect("unmanaged is fine");
        }
    }

    #[test]
    fn secret_ref_rules_are_enforced_without_cel() {
        let with_ref = |kind, managed, name: &str| Component {
            secret_ref: Some(SecretRef { name: name.into() }),
            ..component(kind, managed)
        };
        let cases = [
            (
                with_ref(Tls, true, "my-tls"),
                "cannot set secretRef on managed component tls",
            ),
            (
                with_ref(Route, false, "my-tls"),
                "component route does not support secretRef",
            ),
            (with_ref(Tls, false, ""), "secretRef.name must not be empty"),
        ];
        for (c, message) in cases {
            let err = ensure_default_components(&spec(vec![c]), &PLAIN, &bundle("{}", &[])).expect_err(message);
            assert!(matches!(err, Error::ConfigInvalid(_)));
            assert!(err.to_string().contains(message), "{err}");
        }
        ensure_default_components(&spec(vec![with_ref(Tls, false, "my-tls")]), &PLAIN, &bundle("{}", &[]))
            .expect("unmanaged tls with a secretRef");
    }

    #[test]
    fn a_kind_listed_twice_is_refused() {
        let listed = vec![component(Redis, true), component(Redis, false)];
        let err = ensure_default_components(&spec(listed), &PLAIN, &bundle("{}", &[])).expect_err("duplicate");
        assert!(
            err.to_string().contains("component redis is listed more than once"),
            "{err}"
        );
    }

    /// One override of each field, as (field name, overrides).
    fn each_override() -> Vec<(&'static str, Overrides)> {
        let quantity = k8s_openapi::apimachinery::pkg::api::resource::Quantity("60Gi".into());
        vec![
            (
                "volumeSize",
                Overrides {
                    volume_size: Some(quantity),
                    ..Overrides::default()
                },
            ),
            (
                "storageClassName",
                Overrides {
                    storage_class_name: Some("fast".into()),
                    ..Overrides::default()
                },
            ),
            (
                "env",
                Overrides {
                    env: Some(vec![Default::default()]),
                    ..Overrides::default()
                },
            ),
            (
                "replicas",
                Overrides {
                    replicas: Some(3),
                    ..Overrides::default()
                },
            ),
            (
                "affinity",
                Overrides {
                    affinity: Some(Default::default()),
                    ..Overrides::default()
                },
            ),
            (
                "resources",
                Overrides {
                    resources: Some(Default::default()),
                    ..Overrides::default()
                },
            ),
            (
                "securityContext",
                Overrides {
                    security_context: Some(Default::default()),
                    ..Overrides::default()
                },
            ),
        ]
    }

    #[test]
    fn each_override_is_accepted_exactly_by_the_kinds_in_quays_table() {
        let allowed: [(&str, &[ComponentKind]); 7] = [
            ("volumeSize", &[Postgres, Clairpostgres, Clair]),
            ("storageClassName", &[Postgres, Clairpostgres, Clair]),
            ("env", &[Quay, Clair, Mirror, Postgres, Redis, Clairpostgres]),
            ("replicas", &[Quay, Clair, Mirror]),
            ("affinity", &[Quay, Clair, Mirror]),
            ("resources", &[Quay, Clair, Mirror, Postgres, Clairpostgres, Redis]),
            ("securityContext", &[Quay, Mirror]),
        ];
        for ((field, overrides), (table_field, kinds)) in each_override().into_iter().zip(allowed) {
            assert_eq!(field, table_field);
            for kind in ComponentKind::ALL {
                let result = validate_overrides(&[with_overrides(kind, overrides.clone())]);
                if kinds.contains(&kind) {
                    result.unwrap_or_else(|e| panic!("{kind} {field}: {e}"));
                } else {
                    let err = result.expect_err("unsupported override");
                    assert!(matches!(err, Error::OverrideInvalid(_)), "{err:?}");
                    assert_eq!(
                        err.to_string(),
                        format!("component {kind} does not support {field} overrides")
                    );
                }
            }
        }
    }

    #[test]
    fn labels_and_annotations_are_accepted_on_every_managed_kind() {
        let overrides = Overrides {
            labels: Some([("team".to_string(), "a".to_string())].into()),
            annotations: Some([("note".to_string(), "b".to_string())].into()),
            ..Overrides::default()
        };
        for kind in ComponentKind::ALL {
            validate_overrides(&[with_overrides(kind, overrides.clone())]).unwrap_or_else(|e| panic!("{kind}: {e}"));
        }
    }

    #[test]
    fn overrides_on_an_unmanaged_component_are_refused() {
        let overrides = Overrides {
            labels: Some(Default::default()),
            ..Overrides::default()
        };
        let unmanaged = Component {
            overrides: Some(overrides),
            ..component(Redis, false)
        };
        let err = validate_overrides(&[unmanaged]).expect_err("unmanaged");
        assert!(matches!(err, Error::OverrideInvalid(_)));
        assert_eq!(err.to_string(), "cannot set overrides on unmanaged component redis");
        let empty = Component {
            overrides: Some(Overrides::default()),
            ..component(Mirror, false)
        };
        assert!(validate_overrides(&[empty]).is_err(), "even an empty overrides block");
    }

    #[test]
    fn replicas_are_refused_with_a_managed_hpa_unless_zero() {
        let replicas = |n| {
            with_overrides(
                Quay,
                Overrides {
                    replicas: Some(n),
                    ..Overrides::default()
                },
            )
        };
        let hpa = |managed| component(Horizontalpodautoscaler, managed);
        let err = validate_overrides(&[replicas(3), hpa(true)]).expect_err("HPA owns replicas");
        assert!(
            err.to_string()
                .contains("cannot override replicas of component quay with managed HPA"),
            "{err}"
        );
        validate_overrides(&[replicas(0), hpa(true)]).expect("scaling to zero");
        validate_overrides(&[replicas(3), hpa(false)]).expect("no HPA");
        let err = validate_overrides(&[replicas(-1), hpa(false)]).expect_err("negative");
        assert!(err.to_string().contains("must not be negative"), "{err}");
    }

    #[test]
    fn reserved_label_keys_are_skipped_from_label_overrides() {
        let labels = ["quay-component", "app", "quay-operator/quayregistry", "team"]
            .map(|k| (k.to_string(), "v".to_string()))
            .into();
        let c = with_overrides(
            Quay,
            Overrides {
                labels: Some(labels),
                ..Overrides::default()
            },
        );
        assert_eq!(override_labels(&c).keys().collect::<Vec<_>>(), ["team"]);
        assert!(override_labels(&component(Quay, true)).is_empty());
    }

    fn managed_message(kind: &str) -> String {
        format!("{kind} component marked as managed, but `configBundleSecret` contains required fields")
    }

    fn unmanaged_message(kind: &str) -> String {
        format!("required component `{kind}` marked as unmanaged, but `configBundleSecret` is missing necessary fields")
    }

    #[test]
    fn managed_components_must_not_be_configured_except_route_mirror_and_redis() {
        let defaults = [Quay, Postgres, Redis, Horizontalpodautoscaler, Route, Mirror, Tls];
        let cases: [(&str, &[&str], Option<String>); 9] = [
            ("{}", &[], None),
            ("DB_URI: postgresql://x@y/z", &[], Some(managed_message("postgres"))),
            ("DB_CONNECTION_ARGS: {}", &[], Some(managed_message("postgres"))),
            ("SERVER_HOSTNAME: r.example.com", &[], None),
            ("BUILDLOGS_REDIS: {host: r}", &[], None),
            ("FEATURE_REPO_MIRROR: true", &[], None),
            ("{}", &["ssl.cert", "ssl.key"], Some(managed_message("tls"))),
            ("{}", &["ssl.cert"], None),
            ("FEATURE_SECURITY_SCANNER: true", &[], None),
        ];
        for (yaml, files, expected) in cases {
            let components = defaults.map(|k| component(k, true));
            let result = has_necessary_config(&components, &bundle(yaml, files));
            match expected {
                None => result.unwrap_or_else(|e| panic!("{yaml} {files:?}: {e}")),
                Some(message) => {
                    let err = result.expect_err("configured managed component");
                    assert!(matches!(err, Error::ConfigInvalid(_)));
                    assert_eq!(err.to_string(), message);
                }
            }
        }
    }

    #[test]
    fn managed_objectstorage_and_clair_must_not_be_configured() {
        let cases = [
            (Objectstorage, "DISTRIBUTED_STORAGE_CONFIG: {}", "objectstorage"),
            (Objectstorage, "FEATURE_STORAGE_REPLICATION: false", "objectstorage"),
            (Clair, "SECURITY_SCANNER_V4_ENDPOINT: http://c", "clair"),
        ];
        for (kind, yaml, name) in cases {
            let err = has_necessary_config(&[component(kind, true)], &bundle(yaml, &[])).expect_err(yaml);
            assert_eq!(err.to_string(), managed_message(name));
        }
    }

    #[test]
    fn required_unmanaged_components_need_their_config() {
        let cases: [(ComponentKind, &str, &[&str], &str); 5] = [
            (Postgres, "DB_URI: postgresql://x@y/z", &[], "postgres"),
            (Redis, "USER_EVENTS_REDIS: {host: r}", &[], "redis"),
            (
                Objectstorage,
                "DISTRIBUTED_STORAGE_PREFERENCE: [a]",
                &[],
                "objectstorage",
            ),
            (Route, "PREFERRED_URL_SCHEME: https", &[], "route"),
            (Tls, "{}", &["ssl.cert", "ssl.key"], "tls"),
        ];
        for (kind, yaml, files, name) in cases {
            let components = [component(kind, false)];
            let err = has_necessary_config(&components, &bundle("{}", &[])).expect_err(name);
            assert!(matches!(err, Error::ConfigInvalid(_)));
            assert_eq!(err.to_string(), unmanaged_message(name));
            has_necessary_config(&components, &bundle(yaml, files)).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn optional_unmanaged_components_need_no_config() {
        for kind in [Clair, Mirror, Horizontalpodautoscaler, Monitoring, Clairpostgres] {
            has_necessary_config(&[component(kind, false)], &bundle("{}", &[]))
                .unwrap_or_else(|e| panic!("{kind}: {e}"));
        }
    }

    #[test]
    fn unmanaged_tls_is_configured_by_a_secret_ref_but_not_by_both_sources() {
        let with_ref = Component {
            secret_ref: Some(SecretRef { name: "my-tls".into() }),
            ..component(Tls, false)
        };
        has_necessary_config(std::slice::from_ref(&with_ref), &bundle("{}", &[])).expect("secretRef is config");
        let err = has_necessary_config(&[with_ref], &bundle("{}", &["ssl.cert", "ssl.key"])).expect_err("both");
        assert!(err.to_string().contains("use one or the other"), "{err}");
    }

    #[test]
    fn clairpostgres_is_required_only_when_clair_is_managed() {
        let clair_config = "indexer:\n  connstring: host=db user=clair\n";
        let mut with_config = bundle("{}", &[]);
        with_config
            .files
            .insert("clair-config.yaml".into(), clair_config.as_bytes().to_vec());
        let mut empty_connstring = bundle("{}", &[]);
        empty_connstring
            .files
            .insert("clair-config.yaml".into(), b"indexer: {connstring: ''}\n".to_vec());
        let managed_clair = [component(Clair, true), component(Clairpostgres, false)];
        let err = has_necessary_config(&managed_clair, &empty_connstring).expect_err("needs a database");
        assert_eq!(err.to_string(), unmanaged_message("clairpostgres"));
        has_necessary_config(&managed_clair, &with_config).expect("configured");
        let unmanaged_clair = [component(Clair, false), component(Clairpostgres, false)];
        has_necessary_config(&unmanaged_clair, &bundle("{}", &[])).expect("not required");
        let managed_pg = [component(Clairpostgres, true)];
        let err = has_necessary_config(&managed_pg, &with_config).expect_err("configured and managed");
        assert_eq!(err.to_string(), managed_message("clairpostgres"));
    }
}
