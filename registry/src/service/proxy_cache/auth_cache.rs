//! Upstream authorizations (bearer tokens, Basic headers, or "none
//! needed") kept between pulls, so that a cache hit costs the upstream one
//! HEAD rather than a `/v2/` probe and a token request first. An upstream
//! that refuses a kept authorization is asked for a new one.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::header::HeaderValue;

/// How long an authorization is reused (tokens commonly last 5 minutes).
const REUSE_FOR: Duration = Duration::from_secs(240);
/// Entries kept at most; past that the expired ones are dropped, then all.
const MAX_ENTRIES: usize = 1024;

/// Authorizations by proxy-cache configuration and upstream repository.
#[derive(Default)]
pub struct UpstreamAuthCache {
    entries: Mutex<HashMap<String, (Option<HeaderValue>, Instant)>>,
}

impl UpstreamAuthCache {
    /// The kept authorization for `key`, if still fresh (`Some(None)`: the
    /// upstream wanted none).
    pub fn get(&self, key: &str) -> Option<Option<HeaderValue>> {
        let entries = self.entries.lock().ok()?;
        let (auth, until) = entries.get(key)?;
        (Instant::now() < *until).then(|| auth.clone())
    }

    /// Keeps the authorization a connection used.
    pub fn put(&self, key: String, auth: Option<HeaderValue>) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        let now = Instant::now();
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, (_, until)| *until > now);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(key, (auth, now + REUSE_FOR));
    }
}

#[cfg(test)]
mod tests {
    use super::UpstreamAuthCache;
    use reqwest::header::HeaderValue;

    #[test]
    fn kept_authorizations_are_returned_by_key() {
        let cache = UpstreamAuthCache::default();
        assert!(cache.get("1:app").is_none());
        cache.put("1:app".into(), None);
        assert_eq!(cache.get("1:app"), Some(None));
        cache.put("1:app".into(), Some(HeaderValue::from_static("Bearer t")));
        assert_eq!(cache.get("1:app"), Some(Some(HeaderValue::from_static("Bearer t"))));
        assert!(cache.get("2:app").is_none());
    }
}
