//! Security scanning through Clair v4 (`FEATURE_SECURITY_SCANNER`): a worker
//! queues every manifest, hands image manifests to Clair's indexer with
//! blob URLs Clair fetches from this registry under a token that lives a
//! minute, and records how each ended; the API then shows Clair's
//! vulnerability report in Quay's shape.

mod clair;
pub mod report;

use base64::Engine as _;
use serde_json::{json, Value};

pub use clair::{Clair, ClairError};

use super::Access;
use super::{Error, Registry};
use crate::config::{Config, ConfigError};
use crate::db::queries::secscan as q;

/// Layer media types Clair indexes; a manifest with any other layer (a Helm
/// chart, an artifact) is not scanned.
const CONTAINER_LAYERS: [&str; 7] = [
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
];
/// Manifest types with layers to index.
const IMAGE_MANIFESTS: [&str; 2] = [
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];
/// How long Clair has to fetch a layer with the token it is given (Quay: 60 s).
const DOWNLOAD_TOKEN_TTL_S: i64 = 60;
/// Pages of one Clair notification read at most (Clair pages by 100s).
const MAX_NOTIFICATION_PAGES: usize = 1000;
/// A manifest left "in progress" this long is taken again (a worker died).
const STALE_IN_PROGRESS_MS: i64 = 6 * 3600 * 1000;

/// The scanner settings of `config.yaml`.
#[derive(Debug, Clone, Default)]
pub struct SecscanPolicy {
    /// `SECURITY_SCANNER_V4_ENDPOINT` (with `SECURITY_SCANNER_V4_PSK`), set
    /// exactly when `FEATURE_SECURITY_SCANNER` is on.
    pub clair: Option<Clair>,
    /// `SECURITY_SCANNER_V4_BATCH_SIZE` (default 50).
    pub batch: i64,
    /// `SECURITY_SCANNER_V4_REINDEX_THRESHOLD` (seconds, default one day):
    /// failed manifests, and ones indexed under an older indexer state, are
    /// indexed again after this long.
    pub reindex_after_s: i64,
    /// `SECURITY_SCANNER_V4_INDEX_MAX_LAYER_SIZE` (e.g. `2G`): manifests
    /// with a bigger layer are not indexed.
    pub max_layer_bytes: Option<i64>,
    /// `SECURITY_SCANNER_V4_NAMESPACE_WHITELIST`: when set, only these
    /// namespaces' manifests are indexed (the others stay `queued`).
    pub namespaces: Option<Vec<String>>,
}

fn field(name: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Field {
        field: name.into(),
        message: message.into(),
    }
}

/// `1G`, `500M`, `10K`, `123B` or plain bytes.
fn layer_size(text: &str) -> Option<i64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: i64 = digits.parse().ok()?;
    let mult: i64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        "T" => 1 << 40,
        _ => return None,
    };
    n.checked_mul(mult)
}

impl SecscanPolicy {
    /// `FEATURE_SECURITY_SCANNER` (with its endpoint, which it requires).
    pub fn enabled(&self) -> bool {
        self.clair.is_some()
    }

    pub fn from_config(config: &Config) -> Result<SecscanPolicy, ConfigError> {
        let enabled = config.feature("SECURITY_SCANNER", false);
        let mut policy = SecscanPolicy {
            clair: None,
            batch: config
                .seconds("SECURITY_SCANNER_V4_BATCH_SIZE")
                .map_or(50, |n| i64::try_from(n).unwrap_or(50).clamp(1, 1000)),
            reindex_after_s: config
                .seconds("SECURITY_SCANNER_V4_REINDEX_THRESHOLD")
                .map_or(86_400, |n| i64::try_from(n).unwrap_or(i64::MAX / 1000)),
            max_layer_bytes: None,
            namespaces: None,
        };
        if !enabled {
            return Ok(policy);
        }
        let endpoint = config.text_or("SECURITY_SCANNER_V4_ENDPOINT", "");
        let parsed = url::Url::parse(endpoint.trim()).map_err(|_| {
            field(
                "SECURITY_SCANNER_V4_ENDPOINT",
                "must be the http(s) URL of Clair v4 when FEATURE_SECURITY_SCANNER is on",
            )
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(field("SECURITY_SCANNER_V4_ENDPOINT", "must be an http or https URL"));
        }
        let psk = match config
            .other
            .get("SECURITY_SCANNER_V4_PSK")
            .and_then(serde_yaml::Value::as_str)
        {
            None | Some("") => None,
            Some(text) => Some(
                base64::engine::general_purpose::STANDARD
                    .decode(text.trim())
                    .map_err(|_| field("SECURITY_SCANNER_V4_PSK", "must be base64, as Clair's psk setting"))?,
            ),
        };
        if let Some(text) = config
            .other
            .get("SECURITY_SCANNER_V4_INDEX_MAX_LAYER_SIZE")
            .and_then(serde_yaml::Value::as_str)
            .filter(|t| !t.trim().is_empty())
        {
            policy.max_layer_bytes = Some(layer_size(text).ok_or_else(|| {
                field(
                    "SECURITY_SCANNER_V4_INDEX_MAX_LAYER_SIZE",
                    "must be a size such as 500M or 2G",
                )
            })?);
        }
        if let Some(list) = config.other.get("SECURITY_SCANNER_V4_NAMESPACE_WHITELIST") {
            let not_a_list = || {
                field(
                    "SECURITY_SCANNER_V4_NAMESPACE_WHITELIST",
                    "must be a list of namespace names",
                )
            };
            let names: Option<Vec<String>> = list
                .as_sequence()
                .ok_or_else(not_a_list)?
                .iter()
                .map(|n| n.as_str().map(str::to_owned))
                .collect();
            policy.namespaces = Some(names.ok_or_else(not_a_list)?);
        }
        policy.clair = Some(Clair::new(parsed.as_str(), psk));
        Ok(policy)
    }
}

/// What one indexing pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct IndexPass {
    pub queued: usize,
    pub indexed: usize,
    pub failed: usize,
    pub unsupported: usize,
}

/// A manifest's security answer: Quay's `status` and, when scanned, `data`.
#[derive(Debug, Clone, PartialEq)]
pub struct SecurityInfo {
    pub status: &'static str,
    pub data: Option<Value>,
}

/// The status name the API shows for an `index_status`.
pub fn status_name(index_status: Option<i32>) -> &'static str {
    match index_status {
        Some(q::COMPLETED) => "scanned",
        Some(q::FAILED) => "failed",
        Some(q::UNSUPPORTED) => "unsupported",
        Some(q::LAYER_TOO_LARGE) => "manifest_layer_too_large",
        _ => "queued",
    }
}

/// How one manifest's indexing ended.
enum Outcome {
    Indexed(String),
    Failed(String),
    Unsupported,
    TooLarge,
}

impl Registry {
    fn secscan(&self) -> &SecscanPolicy {
        &self.settings().secscan
    }

    fn clair(&self) -> Result<&Clair, Error> {
        self.secscan()
            .clair
            .as_ref()
            .ok_or_else(|| Error::NotFound("Security scanning is not enabled".into()))
    }

    /// One pass of the indexer: queues manifests not seen yet, then indexes
    /// the ones due, `blob_base` being this registry's address as Clair
    /// reaches it. Stops early (leaving the rest queued) when Clair is down.
    pub async fn run_security_indexing_once(&self, blob_base: &str) -> Result<IndexPass, Error> {
        let clair = self.clair()?.clone();
        let policy = self.secscan().clone();
        let state = clair
            .index_state()
            .await
            .map_err(|e| Error::Unavailable(e.to_string()))?;
        let mut pass = IndexPass::default();
        let now = crate::now_ms();
        let (batch, only) = (policy.batch, policy.namespaces.clone());
        pass.queued = self
            .db()
            .write(move |c| Ok::<_, Error>(q::enqueue_new(c, batch, now, only.as_deref())?))
            .await?;
        loop {
            let now = crate::now_ms();
            let retry_before = now - policy.reindex_after_s.saturating_mul(1000);
            let stale_before = now - STALE_IN_PROGRESS_MS;
            let hash = state.clone();
            let due = self
                .db()
                .read(move |c| Ok(q::claimable(c, batch, retry_before, stale_before, &hash)?))
                .await?;
            if due.is_empty() {
                return Ok(pass);
            }
            let mut took_any = false;
            for row in due {
                let now = crate::now_ms();
                let claimed = row.clone();
                if !self
                    .db()
                    .write(move |c| Ok::<_, Error>(q::claim(c, &claimed, now)?))
                    .await?
                {
                    continue;
                }
                took_any = true;
                let outcome = match self.index_manifest(&clair, &policy, row.manifest_id, blob_base).await {
                    Ok(o) => o,
                    Err(e) => {
                        // Clair or the database is down: put it back and stop.
                        let (id, now) = (row.id, crate::now_ms());
                        let _ = self
                            .db()
                            .write(move |c| Ok::<_, Error>(q::finish(c, id, q::QUEUED, "", "{}", now)?))
                            .await;
                        return Err(e);
                    }
                };
                let (status, hash, error) = match outcome {
                    Outcome::Indexed(hash) => {
                        pass.indexed += 1;
                        (q::COMPLETED, hash, "{}".to_owned())
                    }
                    Outcome::Failed(why) => {
                        pass.failed += 1;
                        (q::FAILED, String::new(), json!({"err": why}).to_string())
                    }
                    Outcome::Unsupported => {
                        pass.unsupported += 1;
                        (q::UNSUPPORTED, String::new(), "{}".to_owned())
                    }
                    Outcome::TooLarge => {
                        pass.unsupported += 1;
                        (q::LAYER_TOO_LARGE, String::new(), "{}".to_owned())
                    }
                };
                let (id, now) = (row.id, crate::now_ms());
                self.db()
                    .write(move |c| Ok::<_, Error>(q::finish(c, id, status, &hash, &error, now)?))
                    .await?;
            }
            if !took_any {
                return Ok(pass);
            }
        }
    }

    /// Indexes one manifest; `Err` only when Clair or the database is down.
    async fn index_manifest(
        &self,
        clair: &Clair,
        policy: &SecscanPolicy,
        manifest_id: i64,
        blob_base: &str,
    ) -> Result<Outcome, Error> {
        let found = self
            .db()
            .read(move |c| Ok(q::manifest_for_index(c, manifest_id)?))
            .await?;
        let Some((m, repo)) = found else {
            return Ok(Outcome::Unsupported);
        };
        if !IMAGE_MANIFESTS.contains(&m.media_type.as_str()) {
            return Ok(Outcome::Unsupported);
        }
        let parsed: Value = match serde_json::from_slice(&m.manifest_bytes) {
            Ok(v) => v,
            Err(_) => return Ok(Outcome::Unsupported),
        };
        let layers = parsed
            .get("layers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if layers.is_empty()
            || layers.iter().any(|l| {
                !l.get("mediaType")
                    .and_then(Value::as_str)
                    .is_some_and(|t| CONTAINER_LAYERS.contains(&t))
            })
        {
            return Ok(Outcome::Unsupported);
        }
        if let Some(max) = policy.max_layer_bytes {
            if layers
                .iter()
                .any(|l| l.get("size").and_then(Value::as_i64).is_some_and(|s| s > max))
            {
                return Ok(Outcome::TooLarge);
            }
        }
        let name = format!("{}/{}", repo.namespace, repo.name);
        let token = self
            .issue_scoped_token(
                "(security-scanner)",
                vec![Access {
                    kind: "repository".into(),
                    name: name.clone(),
                    actions: vec!["pull".into()],
                }],
                DOWNLOAD_TOKEN_TTL_S,
            )
            .await?;
        let base = blob_base.trim_end_matches('/');
        let body = json!({
            "hash": m.digest,
            "layers": layers.iter().map(|l| {
                let digest = l.get("digest").and_then(Value::as_str).unwrap_or_default();
                let foreign = l.get("urls").and_then(Value::as_array).and_then(|u| u.first()).and_then(Value::as_str);
                match foreign {
                    Some(url) => json!({"hash": digest, "uri": url, "headers": {"Accept": ["application/gzip"]}}),
                    None => json!({
                        "hash": digest,
                        "uri": format!("{base}/v2/{name}/blobs/{digest}"),
                        "headers": {"Accept": ["application/gzip"], "Authorization": [format!("Bearer {token}")]},
                    }),
                }
            }).collect::<Vec<_>>(),
        });
        match clair.index(&body).await {
            Ok((report, etag)) => {
                if report.get("state").and_then(Value::as_str) == Some("IndexError") {
                    let why = report
                        .get("err")
                        .and_then(Value::as_str)
                        .unwrap_or("indexing failed")
                        .to_owned();
                    return Ok(Outcome::Failed(why));
                }
                Ok(Outcome::Indexed(etag))
            }
            Err(ClairError::Unavailable(why)) => Err(Error::Unavailable(format!(
                "The security scanner cannot be reached ({why}); indexing resumes on the next pass"
            ))),
            Err(e) => Ok(Outcome::Failed(e.to_string())),
        }
    }

    /// The security answer for a manifest of `repo_id`: its status and, once
    /// scanned, Clair's vulnerability report as Quay shows it.
    pub async fn manifest_security(&self, repo_id: i64, digest: &str) -> Result<SecurityInfo, Error> {
        let clair = self.clair()?.clone();
        let d = digest.to_owned();
        let found = self
            .db()
            .read(move |c| {
                let Some(id) = crate::db::queries::manifests::id_of(c, repo_id, &d)? else {
                    return Ok(None);
                };
                Ok(Some(q::of_manifest(c, id)?))
            })
            .await?;
        let status = found.ok_or(Error::ManifestUnknown)?;
        let index_status = status.as_ref().map(|s| s.index_status);
        if index_status != Some(q::COMPLETED) {
            return Ok(SecurityInfo {
                status: status_name(index_status),
                data: None,
            });
        }
        match clair.vulnerability_report(digest).await {
            Ok(Some(report)) => Ok(SecurityInfo {
                status: "scanned",
                data: Some(report::security_information(&report)),
            }),
            Ok(None) => Ok(SecurityInfo {
                status: "queued",
                data: None,
            }),
            Err(e) => Err(Error::Unavailable(format!(
                "The security scanner could not give the report: {e}"
            ))),
        }
    }

    /// Whether a webhook delivery carries Clair's signature (a JWT signed
    /// with the pre-shared key, when one is configured).
    pub fn security_webhook_signed(&self, bearer: Option<&str>) -> bool {
        self.secscan().clair.as_ref().is_some_and(|c| c.verifies(bearer))
    }

    /// Handles a Clair notification: for each vulnerability newly found in
    /// a manifest, `vulnerability_found` fires on every repository with
    /// live tags on that manifest (each notification's `level` decides
    /// whether it is sent); then Clair is told it was handled. Returns how
    /// many notifications were queued. Clair delivers again until then, so
    /// a failure here is retried by Clair.
    pub async fn process_security_notification(&self, id: &str) -> Result<usize, Error> {
        let clair = self.clair()?.clone();
        let unavailable = |e: ClairError| Error::Unavailable(format!("The security scanner cannot be reached: {e}"));
        let (mut next, mut fired) = (None::<String>, 0);
        for _ in 0..MAX_NOTIFICATION_PAGES {
            let Some(page) = clair
                .notification_page(id, next.as_deref())
                .await
                .map_err(unavailable)?
            else {
                break;
            };
            for n in page
                .get("notifications")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if n.get("reason").and_then(Value::as_str) != Some("added") {
                    continue;
                }
                let (Some(digest), Some(v)) = (n.get("manifest").and_then(Value::as_str), n.get("vulnerability"))
                else {
                    continue;
                };
                let (digest, now) = (digest.to_owned(), crate::now_ms());
                let holders = self.db().read(move |c| Ok(q::tags_of_digest(c, &digest, now)?)).await?;
                let text = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
                let fixed = text("fixed_in_version");
                let priority = Some(text("normalized_severity"))
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| "Unknown".into());
                for (repo_id, tags) in holders {
                    let fields = json!({
                        "tags": tags,
                        "vulnerability": {
                            "id": text("name"),
                            "description": text("description"),
                            "link": text("links").split_whitespace().next().unwrap_or_default(),
                            "priority": priority,
                            "has_fix": !fixed.is_empty() && fixed != "0",
                        },
                    });
                    fired += self.notify(repo_id, "vulnerability_found", fields).await?;
                }
            }
            match page.pointer("/page/next").and_then(Value::as_str) {
                Some(n) if !n.is_empty() && n != "-1" => next = Some(n.to_owned()),
                _ => break,
            }
        }
        clair.delete_notification(id).await.map_err(unavailable)?;
        Ok(fired)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_sizes_read_as_quay_writes_them() {
        assert_eq!(layer_size("1G"), Some(1 << 30));
        assert_eq!(layer_size("500M"), Some(500 << 20));
        assert_eq!(layer_size("10k"), Some(10 << 10));
        assert_eq!(layer_size("123"), Some(123));
        assert_eq!(layer_size("lots"), None);
        assert_eq!(layer_size("1Q"), None);
    }

    fn config(yaml: &str) -> Config {
        Config::parse(yaml).expect("config")
    }

    #[test]
    fn the_scanner_needs_an_endpoint_and_a_base64_key() {
        let off = SecscanPolicy::from_config(&config("{}")).expect("off");
        assert!(!off.enabled());
        let err = SecscanPolicy::from_config(&config("FEATURE_SECURITY_SCANNER: true\n")).expect_err("refused");
        assert!(err.to_string().contains("SECURITY_SCANNER_V4_ENDPOINT"), "{err}");
        let err = SecscanPolicy::from_config(&config(
            "FEATURE_SECURITY_SCANNER: true\nSECURITY_SCANNER_V4_ENDPOINT: http://clair:6060\nSECURITY_SCANNER_V4_PSK: '***'\n",
        ))
        .expect_err("refused");
        assert!(err.to_string().contains("SECURITY_SCANNER_V4_PSK"), "{err}");
        let on = SecscanPolicy::from_config(&config(
            "FEATURE_SECURITY_SCANNER: true\nSECURITY_SCANNER_V4_ENDPOINT: http://clair:6060\nSECURITY_SCANNER_V4_PSK: c2VjcmV0\nSECURITY_SCANNER_INDEXING_INTERVAL: 5\n",
        ))
        .expect("on");
        assert!(on.enabled());
        let on_config = config(
            "FEATURE_SECURITY_SCANNER: true\nSECURITY_SCANNER_V4_ENDPOINT: http://clair:6060\nSECURITY_SCANNER_INDEXING_INTERVAL: 5\n",
        );
        assert_eq!(crate::worker::Loops::from_config(&on_config).secscan_every_s, Some(5));
        assert_eq!(on.namespaces, None);
        let listed = SecscanPolicy::from_config(&config(
            "FEATURE_SECURITY_SCANNER: true\nSECURITY_SCANNER_V4_ENDPOINT: http://clair:6060\nSECURITY_SCANNER_V4_NAMESPACE_WHITELIST: [acme, tools]\n",
        ))
        .expect("whitelist");
        assert_eq!(listed.namespaces, Some(vec!["acme".to_owned(), "tools".to_owned()]));
        let err = SecscanPolicy::from_config(&config(
            "FEATURE_SECURITY_SCANNER: true\nSECURITY_SCANNER_V4_ENDPOINT: http://clair:6060\nSECURITY_SCANNER_V4_NAMESPACE_WHITELIST: acme\n",
        ))
        .expect_err("not a list");
        assert!(err.to_string().contains("WHITELIST"), "{err}");
    }

    #[test]
    fn statuses_are_named_as_quay_names_them() {
        assert_eq!(status_name(None), "queued");
        assert_eq!(status_name(Some(q::IN_PROGRESS)), "queued");
        assert_eq!(status_name(Some(q::COMPLETED)), "scanned");
        assert_eq!(status_name(Some(q::FAILED)), "failed");
        assert_eq!(status_name(Some(q::UNSUPPORTED)), "unsupported");
    }
}
