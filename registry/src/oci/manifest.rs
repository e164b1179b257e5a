//! Manifest parsing: find what a manifest references so the registry can
//! check it and link it, without rewriting the stored bytes.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::media;
use super::Digest;

/// What a manifest body says about itself and what it points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedManifest {
    pub media_type: String,
    /// Blobs that must exist in the repository (config and layers).
    pub blobs: Vec<Digest>,
    /// Manifests that must exist in the repository (index entries).
    pub children: Vec<Digest>,
    pub subject: Option<Digest>,
    pub artifact_type: Option<String>,
    pub config_media_type: Option<String>,
    /// Sum of the referenced descriptors' sizes.
    pub layers_size: i64,
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ManifestError {
    #[error("manifest media type {0} is not supported")]
    Unsupported(String),
    #[error("manifest invalid: {0}")]
    Invalid(String),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    media_type: Option<String>,
    digest: String,
    size: i64,
    #[serde(default)]
    urls: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Body {
    schema_version: Option<i64>,
    media_type: Option<String>,
    artifact_type: Option<String>,
    config: Option<Descriptor>,
    layers: Option<Vec<Descriptor>>,
    manifests: Option<Vec<Descriptor>>,
    subject: Option<Descriptor>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    fs_layers: Option<Vec<Schema1Layer>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Schema1Layer {
    blob_sum: String,
}

fn invalid(msg: impl Into<String>) -> ManifestError {
    ManifestError::Invalid(msg.into())
}

fn parse_digest(d: &Descriptor) -> Result<Digest, ManifestError> {
    if d.size < 0 {
        return Err(invalid("descriptor size is negative"));
    }
    d.digest
        .parse()
        .map_err(|_| invalid(format!("invalid descriptor digest {}", d.digest)))
}

/// Parses a manifest as pushed with `content_type` (the request's header).
///
/// The media type comes from the body's `mediaType`, else from the header, else
/// from the shape of the document (OCI allows `mediaType` to be absent).
pub fn parse(content_type: Option<&str>, bytes: &[u8]) -> Result<ParsedManifest, ManifestError> {
    let body: Body = serde_json::from_slice(bytes).map_err(|e| invalid(format!("malformed JSON: {e}")))?;
    let header = content_type
        .map(|c| c.split(';').next().unwrap_or(c).trim())
        .filter(|c| !c.is_empty() && *c != "application/octet-stream");
    let known = |m: &str| {
        [
            media::OCI_MANIFEST,
            media::OCI_INDEX,
            media::DOCKER_SCHEMA2,
            media::DOCKER_LIST,
        ]
        .contains(&m)
    };
    let media_type = match (&body.media_type, header) {
        (Some(m), Some(h)) if known(h) && h != m => {
            return Err(invalid(format!("mediaType {m} does not match Content-Type {h}")))
        }
        (Some(m), _) => m.clone(),
        (None, Some(h)) if h != "application/json" => h.to_owned(),
        (None, _) if body.manifests.is_some() => media::OCI_INDEX.to_owned(),
        (None, _) if body.config.is_some() => media::OCI_MANIFEST.to_owned(),
        (None, _) if body.fs_layers.is_some() => media::DOCKER_SCHEMA1.to_owned(),
        (None, _) => return Err(invalid("cannot tell the manifest's media type")),
    };
    match media_type.as_str() {
        media::OCI_MANIFEST | media::DOCKER_SCHEMA2 => image(body, media_type),
        media::OCI_INDEX | media::DOCKER_LIST => index(body, media_type),
        media::DOCKER_SCHEMA1 | media::DOCKER_SCHEMA1_SIGNED => schema1(body, media_type),
        other => Err(ManifestError::Unsupported(other.to_owned())),
    }
}

fn check_schema_version(body: &Body, want: i64) -> Result<(), ManifestError> {
    if body.schema_version == Some(want) {
        Ok(())
    } else {
        Err(invalid(format!("schemaVersion must be {want}")))
    }
}

fn common(body: &Body) -> Result<(Option<Digest>, Option<String>), ManifestError> {
    let subject = body.subject.as_ref().map(parse_digest).transpose()?;
    if let Some(a) = &body.artifact_type {
        if !media::is_well_formed(a) {
            return Err(invalid("artifactType is not a media type"));
        }
    }
    Ok((subject, body.artifact_type.clone()))
}

fn image(body: Body, media_type: String) -> Result<ParsedManifest, ManifestError> {
    check_schema_version(&body, 2)?;
    let (subject, artifact_type) = common(&body)?;
    let config = body.config.as_ref().ok_or_else(|| invalid("config is missing"))?;
    let config_media_type = config
        .media_type
        .clone()
        .ok_or_else(|| invalid("config mediaType is missing"))?;
    if !media::is_well_formed(&config_media_type) {
        return Err(invalid("config mediaType is not a media type"));
    }
    let mut blobs = vec![parse_digest(config)?];
    let mut layers_size = config.size;
    for layer in body.layers.iter().flatten() {
        let digest = parse_digest(layer)?;
        layers_size = layers_size.saturating_add(layer.size);
        let foreign = !layer.urls.is_empty()
            && layer
                .media_type
                .as_deref()
                .is_some_and(|m| media::FOREIGN_LAYERS.contains(&m));
        if !foreign {
            blobs.push(digest);
        }
    }
    Ok(ParsedManifest {
        media_type,
        blobs,
        children: Vec::new(),
        subject,
        artifact_type: artifact_type.or(Some(config_media_type.clone())),
        config_media_type: Some(config_media_type),
        layers_size,
        annotations: body.annotations,
    })
}

fn index(body: Body, media_type: String) -> Result<ParsedManifest, ManifestError> {
    check_schema_version(&body, 2)?;
    let (subject, artifact_type) = common(&body)?;
    let entries = body.manifests.as_ref().ok_or_else(|| invalid("manifests is missing"))?;
    let mut children = Vec::with_capacity(entries.len());
    let mut layers_size = 0i64;
    for entry in entries {
        children.push(parse_digest(entry)?);
        layers_size = layers_size.saturating_add(entry.size);
    }
    Ok(ParsedManifest {
        media_type,
        blobs: Vec::new(),
        children,
        subject,
        artifact_type,
        config_media_type: None,
        layers_size,
        annotations: body.annotations,
    })
}

fn schema1(body: Body, media_type: String) -> Result<ParsedManifest, ManifestError> {
    check_schema_version(&body, 1)?;
    let layers = body.fs_layers.as_ref().ok_or_else(|| invalid("fsLayers is missing"))?;
    let mut blobs: Vec<Digest> = Vec::new();
    for l in layers {
        let d: Digest = l.blob_sum.parse().map_err(|_| invalid("invalid blobSum"))?;
        if !blobs.contains(&d) {
            blobs.push(d);
        }
    }
    Ok(ParsedManifest {
        media_type,
        blobs,
        children: Vec::new(),
        subject: None,
        artifact_type: None,
        config_media_type: None,
        layers_size: 0,
        annotations: body.annotations,
    })
}

/// The declared size of each blob (config and layers) an image manifest
/// references, by digest; empty for other documents.
pub fn blob_sizes(bytes: &[u8]) -> Vec<(String, i64)> {
    let Ok(body) = serde_json::from_slice::<Body>(bytes) else {
        return Vec::new();
    };
    body.config
        .iter()
        .chain(body.layers.iter().flatten())
        .map(|d| (d.digest.clone(), d.size))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    #[test]
    fn oci_image_lists_config_and_layers() {
        let body = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":7}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{}","size":5}}]}}"#,
            media::OCI_MANIFEST,
            d('a'),
            d('b')
        );
        let m = parse(None, body.as_bytes()).expect("parses");
        assert_eq!(m.blobs.len(), 2);
        assert_eq!(m.layers_size, 12);
        assert_eq!(m.media_type, media::OCI_MANIFEST);
    }

    #[test]
    fn artifact_with_subject_and_no_layers_parses() {
        let body = format!(
            r#"{{"schemaVersion":2,"artifactType":"application/vnd.example+type","config":{{"mediaType":"{}","digest":"{}","size":2}},"layers":[],"subject":{{"mediaType":"{}","digest":"{}","size":9}}}}"#,
            media::OCI_EMPTY,
            d('a'),
            media::OCI_MANIFEST,
            d('c')
        );
        let m = parse(Some(media::OCI_MANIFEST), body.as_bytes()).expect("parses");
        assert_eq!(m.subject.map(|s| s.to_string()), Some(d('c')));
        assert_eq!(m.artifact_type.as_deref(), Some("application/vnd.example+type"));
    }

    #[test]
    fn a_body_media_type_contradicting_the_header_is_refused() {
        let body = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[]}}"#,
            media::OCI_INDEX
        );
        assert!(matches!(
            parse(Some(media::OCI_MANIFEST), body.as_bytes()),
            Err(ManifestError::Invalid(_))
        ));
        assert!(parse(Some("application/json"), body.as_bytes()).is_ok());
    }

    #[test]
    fn index_lists_children() {
        let body = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{}","digest":"{}","size":3}}]}}"#,
            media::OCI_MANIFEST,
            d('e')
        );
        let m = parse(Some(media::OCI_INDEX), body.as_bytes()).expect("parses");
        assert_eq!(m.children.len(), 1);
        assert!(m.blobs.is_empty());
    }

    #[test]
    fn garbage_and_unknown_types_are_refused() {
        assert!(matches!(parse(None, b"not json"), Err(ManifestError::Invalid(_))));
        assert!(matches!(
            parse(Some("text/plain"), br#"{"schemaVersion":2}"#),
            Err(ManifestError::Unsupported(_))
        ));
        let bad_digest = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"a/b","digest":"sha256:xyz","size":1}},"layers":[]}}"#,
            media::OCI_MANIFEST
        );
        assert!(matches!(
            parse(None, bad_digest.as_bytes()),
            Err(ManifestError::Invalid(_))
        ));
    }
}
