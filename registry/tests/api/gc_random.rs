//! A randomized sequence of pushes, tag deletions and garbage-collection
//! passes: after every pass each live tag pulls in full, exactly the blobs
//! live tags reference are stored, and the quota usage equals their sizes.

use std::collections::{BTreeMap, BTreeSet};

use reqwest::StatusCode;
use serde_json::Value;

use crate::gc::{after_window, gc_at};
use crate::helpers::{random_bytes, sha256, OCI_MANIFEST};
use crate::quota::Quotas;

const REPOS: [&str; 3] = ["acme/one", "acme/two", "acme/three"];
const TAGS: [&str; 4] = ["a", "b", "c", "d"];
const STEPS: usize = 36;

/// xorshift64*: enough randomness for a test, reproducible from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// What a live tag must pull: its manifest digest and every blob with its size.
#[derive(Clone)]
struct Pushed {
    manifest: String,
    blobs: Vec<(String, i64)>,
}

async fn pull_fully(q: &Quotas, repo: &str, tag: &str, want: &Pushed, seed: u64) {
    let res =
        q.v2.get(q.url(&format!("/v2/{repo}/manifests/{tag}")))
            .header("Accept", OCI_MANIFEST)
            .send()
            .await
            .expect("request");
    assert_eq!(res.status(), StatusCode::OK, "seed {seed}: pulling {repo}:{tag}");
    let body = res.bytes().await.expect("manifest body");
    assert_eq!(
        sha256(&body),
        want.manifest,
        "seed {seed}: {repo}:{tag} names its manifest"
    );
    let manifest: Value = serde_json::from_slice(&body).expect("manifest JSON");
    let mut digests = vec![manifest["config"]["digest"].as_str().expect("config").to_owned()];
    for layer in manifest["layers"].as_array().expect("layers") {
        digests.push(layer["digest"].as_str().expect("layer digest").to_owned());
    }
    for digest in digests {
        let res =
            q.v2.get(q.url(&format!("/v2/{repo}/blobs/{digest}")))
                .send()
                .await
                .expect("request");
        assert_eq!(
            res.status(),
            StatusCode::OK,
            "seed {seed}: blob {digest} of {repo}:{tag}"
        );
        let bytes = res.bytes().await.expect("blob body");
        assert_eq!(sha256(&bytes), digest, "seed {seed}: blob {digest} is intact");
    }
}

#[actix_web::test]
async fn random_pushes_deletes_and_passes_never_lose_live_content() {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        | 1;
    let mut rng = Rng(seed);
    let q = Quotas::new().await;
    let pool: Vec<Vec<u8>> = (0..8).map(|i| random_bytes(1000 + 997 * i)).collect();
    let mut live: BTreeMap<(&str, &str), Pushed> = BTreeMap::new();
    let mut ever: BTreeSet<String> = BTreeSet::new();
    for step in 0..STEPS {
        let roll = if step + 1 == STEPS { 99 } else { rng.below(100) };
        if roll < 50 {
            let (repo, tag) = (REPOS[rng.below(REPOS.len())], TAGS[rng.below(TAGS.len())]);
            let picked: BTreeSet<usize> = (0..1 + rng.below(3)).map(|_| rng.below(pool.len())).collect();
            let layers: Vec<&[u8]> = picked.iter().map(|i| pool[*i].as_slice()).collect();
            let (res, config) = q.push_image(repo, tag, &layers).await;
            assert_eq!(res.status(), StatusCode::CREATED, "seed {seed}: pushing {repo}:{tag}");
            let manifest = res
                .headers()
                .get("Docker-Content-Digest")
                .and_then(|v| v.to_str().ok())
                .expect("Docker-Content-Digest")
                .to_owned();
            let mut blobs = vec![(sha256(&config), config.len() as i64)];
            blobs.extend(layers.iter().map(|l| (sha256(l), l.len() as i64)));
            ever.extend(blobs.iter().map(|(d, _)| d.clone()));
            live.insert((repo, tag), Pushed { manifest, blobs });
        } else if roll < 80 {
            let Some(key) = live.keys().nth(rng.below(live.len().max(1))).copied() else {
                continue;
            };
            let res =
                q.v2.delete(q.url(&format!("/v2/{}/manifests/{}", key.0, key.1)))
                    .send()
                    .await
                    .expect("request");
            assert_eq!(res.status(), StatusCode::ACCEPTED, "seed {seed}: deleting {key:?}");
            live.remove(&key);
        } else {
            gc_at(&q.fx.services, after_window()).await;
            for ((repo, tag), want) in &live {
                pull_fully(&q, repo, tag, want, seed).await;
            }
            let wanted: BTreeMap<&String, i64> = live
                .values()
                .flat_map(|p| p.blobs.iter().map(|(d, n)| (d, *n)))
                .collect();
            for digest in &ever {
                let copies = q.fx.app.stored_copies(digest).await;
                let expected = usize::from(wanted.contains_key(digest));
                assert_eq!(
                    copies, expected,
                    "seed {seed}: stored copies of {digest} after step {step}"
                );
            }
            assert_eq!(
                q.org_usage().await,
                wanted.values().sum::<i64>(),
                "seed {seed}: namespace usage after step {step}"
            );
            for (name, bytes) in q.repo_usage().await {
                let repo = format!("acme/{name}");
                let in_repo: BTreeMap<&String, i64> = live
                    .iter()
                    .filter(|((r, _), _)| *r == repo)
                    .flat_map(|(_, p)| p.blobs.iter().map(|(d, n)| (d, *n)))
                    .collect();
                assert_eq!(bytes, in_repo.values().sum::<i64>(), "seed {seed}: usage of {repo}");
            }
        }
    }
}
