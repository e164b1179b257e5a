//! Leader election over a coordination.k8s.io/v1 Lease, so only one
//! replica reconciles. The Lease is `7daa4ab6.quay.redhat.com` (Quay's
//! operator ID) in the operator's namespace; it lasts 15 s and the holder
//! renews it every 2 s. A holder that cannot renew within 10 s has lost it;
//! on shutdown the holder releases it so a standby takes over at once.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::PostParams;
use kube::{Api, Client};

pub const LEASE_NAME: &str = "7daa4ab6.quay.redhat.com";
pub const LEASE_DURATION_SECS: i32 = 15;
pub const RETRY_PERIOD: Duration = Duration::from_secs(2);
pub const RENEW_DEADLINE: Duration = Duration::from_secs(10);

/// What a candidate should do with the Lease as it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Nobody holds it, or the holder let it expire: take it.
    Acquire,
    /// We hold it: renew.
    Renew,
    /// Someone else holds a live lease.
    Wait { holder: String },
}

/// The decision for candidate `me` at `now`.
pub fn decide(spec: Option<&LeaseSpec>, me: &str, now: Timestamp) -> Decision {
    let spec = spec.cloned().unwrap_or_default();
    let holder = spec.holder_identity.filter(|h| !h.is_empty());
    match holder {
        None => Decision::Acquire,
        Some(h) if h == me => Decision::Renew,
        Some(holder) => {
            let renewed = spec.renew_time.or(spec.acquire_time).map(|t| t.0);
            let duration = SignedDuration::from_secs(spec.lease_duration_seconds.unwrap_or(LEASE_DURATION_SECS).into());
            match renewed {
                Some(t) if t + duration > now => Decision::Wait { holder },
                _ => Decision::Acquire,
            }
        }
    }
}

/// One candidate for the Lease.
pub struct LeaderElector {
    api: Api<Lease>,
    identity: String,
}

impl LeaderElector {
    pub fn new(client: Client, namespace: &str, identity: String) -> LeaderElector {
        LeaderElector {
            api: Api::namespaced(client, namespace),
            identity,
        }
    }

    /// One attempt to acquire or renew; whether we hold the Lease after it.
    /// Conflicts (another replica wrote first) count as not holding it.
    pub async fn try_acquire_or_renew(&self) -> Result<bool, kube::Error> {
        let now = Timestamp::now();
        let current = self.api.get_opt(LEASE_NAME).await?;
        let mut lease = current.clone().unwrap_or_else(|| Lease {
            metadata: ObjectMeta {
                name: Some(LEASE_NAME.into()),
                ..Default::default()
            },
            spec: None,
        });
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        match decide(current.as_ref().and_then(|l| l.spec.as_ref()), &self.identity, now) {
            Decision::Wait { .. } => return Ok(false),
            Decision::Renew => spec.renew_time = Some(MicroTime(now)),
            Decision::Acquire => {
                let transitions = spec.lease_transitions.unwrap_or(0);
                *spec = LeaseSpec {
                    holder_identity: Some(self.identity.clone()),
                    lease_duration_seconds: Some(LEASE_DURATION_SECS),
                    acquire_time: Some(MicroTime(now)),
                    renew_time: Some(MicroTime(now)),
                    lease_transitions: Some(if current.is_some() { transitions + 1 } else { 0 }),
                    ..Default::default()
                };
            }
        }
        let written = match current {
            None => self.api.create(&PostParams::default(), &lease).await,
            Some(_) => self.api.replace(LEASE_NAME, &PostParams::default(), &lease).await,
        };
        match written {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.is_conflict() || s.is_already_exists() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Waits until this replica holds the Lease.
    pub async fn acquire(&self) {
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => return tracing::info!(identity = %self.identity, "acquired the leader lease"),
                Ok(false) => tracing::debug!("another replica leads"),
                Err(err) => tracing::warn!(%err, "leader election failed"),
            }
            tokio::time::sleep(RETRY_PERIOD).await;
        }
    }

    /// Renews until a renewal fails for longer than the deadline; returns
    /// then (leadership lost).
    pub async fn keep(&self) {
        let mut last = tokio::time::Instant::now();
        while last.elapsed() < RENEW_DEADLINE {
            tokio::time::sleep(RETRY_PERIOD).await;
            match self.try_acquire_or_renew().await {
                Ok(true) => last = tokio::time::Instant::now(),
                Ok(false) => return,
                Err(err) => tracing::warn!(%err, "cannot renew the leader lease"),
            }
        }
    }

    /// Gives the Lease up (empty holder, 1 s duration) if we hold it.
    pub async fn release(&self) {
        let Ok(Some(mut lease)) = self.api.get_opt(LEASE_NAME).await else {
            return;
        };
        let Some(spec) = lease
            .spec
            .as_mut()
            .filter(|s| s.holder_identity.as_deref() == Some(&self.identity))
        else {
            return;
        };
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        match self.api.replace(LEASE_NAME, &PostParams::default(), &lease).await {
            Ok(_) => tracing::info!("released the leader lease"),
            Err(err) => tracing::warn!(%err, "cannot release the leader lease"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(holder: Option<&str>, renewed_secs_ago: i64) -> LeaseSpec {
        let now = Timestamp::now();
        LeaseSpec {
            holder_identity: holder.map(Into::into),
            renew_time: Some(MicroTime(now - SignedDuration::from_secs(renewed_secs_ago))),
            lease_duration_seconds: Some(LEASE_DURATION_SECS),
            ..Default::default()
        }
    }

    #[test]
    fn a_free_or_missing_lease_is_acquired() {
        assert_eq!(decide(None, "me", Timestamp::now()), Decision::Acquire);
        assert_eq!(decide(Some(&spec(None, 0)), "me", Timestamp::now()), Decision::Acquire);
        assert_eq!(
            decide(Some(&spec(Some(""), 0)), "me", Timestamp::now()),
            Decision::Acquire
        );
    }

    #[test]
    fn our_own_lease_is_renewed() {
        assert_eq!(
            decide(Some(&spec(Some("me"), 100)), "me", Timestamp::now()),
            Decision::Renew
        );
    }

    #[test]
    fn a_live_lease_of_another_replica_is_respected() {
        let d = decide(Some(&spec(Some("other"), 5)), "me", Timestamp::now());
        assert_eq!(d, Decision::Wait { holder: "other".into() });
    }

    #[test]
    fn an_expired_lease_of_another_replica_is_taken_over() {
        assert_eq!(
            decide(Some(&spec(Some("other"), 16)), "me", Timestamp::now()),
            Decision::Acquire
        );
    }
}
