//! Generated files are committed; these tests fail when one of them no
//! longer matches what its generator produces from the current sources.

use std::path::{Path, PathBuf};
use std::process::Command;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

const CRD_FILE: &str = "crds/quayregistries.crd.yaml";
const REGENERATE_CRD: &str = "cargo run -p crds --bin crdgen > crds/quayregistries.crd.yaml";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("crds lives inside the workspace")
        .to_path_buf()
}

fn committed(path: &str) -> String {
    let full = workspace_root().join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("read {}: {e}", full.display()))
}

/// The first line where `a` and `b` differ, for a readable failure.
fn first_difference(a: &str, b: &str) -> String {
    let (mut left, mut right) = (a.lines(), b.lines());
    for line in 1.. {
        match (left.next(), right.next()) {
            (None, None) => return "no line differs (line endings?)".into(),
            (l, r) if l != r => {
                return format!("line {line}: committed {l:?}, generated {r:?}");
            }
            _ => {}
        }
    }
    unreachable!("the loop returns")
}

#[test]
fn the_committed_crd_matches_the_types() {
    let generated = serde_yaml::to_string(&crds::QuayRegistry::crd()).expect("CRD serializes");
    let on_disk = committed(CRD_FILE);
    assert!(
        on_disk == generated,
        "{CRD_FILE} is out of date with the QuayRegistry types ({}).\nRegenerate it with `{REGENERATE_CRD}` \
         (or `cargo run -p crds --bin bundlegen` for the bundle too) and commit the result.",
        first_difference(&on_disk, &generated)
    );
    let parsed: CustomResourceDefinition = serde_yaml::from_str(&on_disk).expect("the committed CRD parses");
    assert_eq!(
        parsed,
        crds::QuayRegistry::crd(),
        "{CRD_FILE} parses back to QuayRegistry::crd()"
    );
}

#[test]
fn crdgen_prints_the_committed_crd() {
    let out = Command::new(env!("CARGO_BIN_EXE_crdgen")).output().expect("run crdgen");
    assert!(
        out.status.success(),
        "crdgen failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8(out.stdout).expect("crdgen prints UTF-8");
    let on_disk = committed(CRD_FILE);
    assert!(
        printed == on_disk,
        "crdgen output differs from {CRD_FILE} ({}); regenerate with `{REGENERATE_CRD}`",
        first_difference(&on_disk, &printed)
    );
}

#[test]
fn the_bundle_and_both_crd_copies_match_their_sources() {
    let out = Command::new(env!("CARGO_BIN_EXE_bundlegen"))
        .arg("--check")
        .arg("--root")
        .arg(workspace_root())
        .output()
        .expect("run bundlegen");
    assert!(
        out.status.success(),
        "{}\n(the generator reads the crds types, config/operator/ and config/samples/)",
        String::from_utf8_lossy(&out.stderr).trim()
    );
}
