//! Prints the QuayRegistry CustomResourceDefinition as YAML.
//!
//! `cargo run -p crds --bin crdgen > crds/quayregistries.crd.yaml`; the test
//! `crds/tests/drift.rs` fails when the committed file differs.

use kube::CustomResourceExt;

fn main() -> Result<(), serde_yaml::Error> {
    print!("{}", serde_yaml::to_string(&crds::QuayRegistry::crd())?);
    Ok(())
}
