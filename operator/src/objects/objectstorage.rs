//! Managed object storage: the ObjectBucketClaim `<cr>-quay-datastore`
//! (`objectbucket.io/v1alpha1`) with Quay's NooBaa storage class and bucket
//! class; the controller reads the Secret and ConfigMap the provisioner
//! creates under the same name.

use kube::api::DynamicObject;
use kube::core::TypeMeta;
use serde_json::json;

use super::common::{component, meta};
use super::Inputs;

/// The bucket claim.
pub(super) fn bucket_claim(inputs: &Inputs) -> DynamicObject {
    DynamicObject {
        types: Some(TypeMeta {
            api_version: "objectbucket.io/v1alpha1".into(),
            kind: "ObjectBucketClaim".into(),
        }),
        metadata: meta(inputs, "quay-datastore", component::OBJECTSTORAGE),
        data: json!({"spec": {
            "generateBucketName": "quay-datastore",
            "storageClassName": "openshift-storage.noobaa.io",
            "additionalConfig": {"bucketclass": "noobaa-default-bucket-class"},
        }}),
    }
}

#[cfg(test)]
mod tests {
    use crate::objects::fixtures::{dynamic, find, inputs, names};
    use crds::ComponentKind;

    #[test]
    fn the_bucket_claim_exists_only_when_managed_and_claims_are_served() {
        for (case, fixture, want) in [
            ("managed, api served", inputs().object_bucket_claims(), true),
            ("managed, no api", inputs(), false),
            (
                "unmanaged",
                inputs()
                    .object_bucket_claims()
                    .managed(ComponentKind::Objectstorage, false),
                false,
            ),
        ] {
            let objects = fixture.objects();
            assert_eq!(names(&objects).contains(&"registry-quay-datastore"), want, "{case}");
        }
    }

    #[test]
    fn the_bucket_claim_asks_noobaa_for_a_generated_bucket() {
        let objects = inputs().object_bucket_claims().objects();
        let obc = find(&objects, "registry-quay-datastore", dynamic);
        let types = obc.types.as_ref().expect("types");
        assert_eq!(
            (types.api_version.as_str(), types.kind.as_str()),
            ("objectbucket.io/v1alpha1", "ObjectBucketClaim")
        );
        assert_eq!(obc.data["spec"]["generateBucketName"], "quay-datastore");
        assert_eq!(obc.data["spec"]["storageClassName"], "openshift-storage.noobaa.io");
    }
}
