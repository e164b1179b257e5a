//! A manifest as the REST API describes it (quay-api.md §1.9): its bytes,
//! kind and layers, with each layer's build step from the image config's
//! `history`.

use futures_util::StreamExt as _;
use serde_json::Value;

use super::{Error, Registry};
use crate::db::queries;
use crate::db::queries::repositories::RepositoryView;
use crate::oci::{media, Digest};

/// Largest image config read for its history or labels.
const MAX_CONFIG_BYTES: usize = 1 << 20;

/// One layer of an image manifest.
#[derive(Debug, Clone, Default)]
pub struct LayerView {
    pub index: usize,
    pub compressed_size: i64,
    pub blob_digest: String,
    pub urls: Vec<String>,
    pub command: Vec<String>,
    pub comment: Option<String>,
    pub author: Option<String>,
    pub created: Option<String>,
}

/// A visible manifest of a repository.
#[derive(Debug, Clone)]
pub struct ManifestView {
    pub digest: String,
    pub is_manifest_list: bool,
    pub bytes: Vec<u8>,
    pub config_media_type: Option<String>,
    pub layers_compressed_size: i64,
    /// `None` for manifest lists and schema 1 manifests.
    pub layers: Option<Vec<LayerView>>,
}

impl Registry {
    /// The manifest `digest` if an alive tag (or an alive list) holds it.
    pub async fn manifest_view(&self, repo: &RepositoryView, digest: &str) -> Result<ManifestView, Error> {
        let (repo_id, d, now) = (repo.id, digest.to_owned(), crate::now_ms());
        let (m, (config_media_type, size)) = self
            .db()
            .read(move |c| {
                let Some(m) = queries::manifests::find_visible(c, repo_id, &d, now)? else {
                    return Ok(None);
                };
                let details = queries::manifests::config_and_size(c, m.id)?;
                Ok(Some((m, details)))
            })
            .await?
            .ok_or_else(|| Error::NotFound("Manifest not found".into()))?;
        let is_manifest_list = [media::DOCKER_LIST, media::OCI_INDEX].contains(&m.media_type.as_str());
        let parsed: Value = serde_json::from_slice(&m.manifest_bytes).unwrap_or(Value::Null);
        let layers = match (is_manifest_list, parsed["layers"].as_array()) {
            (false, Some(layers)) => Some(self.layer_views(layers, &parsed).await),
            _ => None,
        };
        Ok(ManifestView {
            digest: m.digest,
            is_manifest_list,
            bytes: m.manifest_bytes,
            config_media_type,
            layers_compressed_size: size,
            layers,
        })
    }

    async fn layer_views(&self, layers: &[Value], manifest: &Value) -> Vec<LayerView> {
        let history = self.config_history(manifest).await;
        layers
            .iter()
            .enumerate()
            .map(|(index, l)| {
                let step = history.get(index).unwrap_or(&Value::Null);
                let text = |k: &str| step[k].as_str().map(str::to_owned);
                LayerView {
                    index,
                    compressed_size: l["size"].as_i64().unwrap_or(0),
                    blob_digest: l["digest"].as_str().unwrap_or_default().to_owned(),
                    urls: strings(&l["urls"]),
                    command: text("created_by").map(|c| vec![c]).unwrap_or_default(),
                    comment: text("comment"),
                    author: text("author"),
                    created: text("created"),
                }
            })
            .collect()
    }

    /// The config's history entries that made a layer, in layer order.
    async fn config_history(&self, manifest: &Value) -> Vec<Value> {
        let config = self.image_config(manifest).await.unwrap_or(Value::Null);
        config["history"]
            .as_array()
            .map(|h| {
                h.iter()
                    .filter(|e| !e["empty_layer"].as_bool().unwrap_or(false))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Registry {
    /// The image config blob a manifest names, parsed; `None` when there is
    /// none, it is unreadable or too large.
    pub(super) async fn image_config(&self, manifest: &Value) -> Option<Value> {
        let digest: Digest = manifest["config"]["digest"].as_str()?.parse().ok()?;
        let mut body = self.store().read(&digest, None).await.ok()?;
        let mut bytes = Vec::new();
        while let Some(chunk) = body.next().await {
            bytes.extend_from_slice(&chunk.ok()?);
            if bytes.len() > MAX_CONFIG_BYTES {
                return None;
            }
        }
        serde_json::from_slice(&bytes).ok()
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}
