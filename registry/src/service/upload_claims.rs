//! Write claims on uploads: one request at a time writes an upload's bytes.
//! A claim carries a short lease that the writing request keeps renewing,
//! and names its holder process, so a claim left behind by a killed process
//! is taken over at once when that is known (see [`super::claim_holder`]),
//! and otherwise lapses soon after its holder stopped renewing it.

use std::future::Future;
use std::time::Duration;

use super::claim_holder::Holder;
use super::{Error, Registry};
use crate::db::queries;
use crate::db::queries::uploads::{Claim, Replacing};

/// How long a claim lasts unless its holder renews it.
const WRITE_LEASE_MS: i64 = 60 * 1000;

/// How often a writing request renews its claim: well within the lease.
const RENEW_EVERY: Duration = Duration::from_secs(20);

impl Registry {
    /// Takes the upload at `offset` for this request, so that no two requests
    /// write bytes into it at once; returns the claim's token. Fails with
    /// `UploadRangeInvalid` when the upload is no longer at `offset`, and with
    /// `UploadInUse` while another live request holds it.
    pub(super) async fn claim(&self, uuid: &str, offset: i64) -> Result<String, Error> {
        let token = uuid::Uuid::new_v4().to_string();
        if self.try_claim(uuid, offset, None, &token).await? {
            return Ok(token);
        }
        let u = uuid.to_owned();
        let (size, previous, previous_holder) = self
            .db()
            .read(move |c| Ok(queries::uploads::claim_state(c, &u)?))
            .await?
            .ok_or(Error::BlobUploadUnknown)?;
        if size != offset {
            return Err(Error::UploadRangeInvalid(u64::try_from(size).unwrap_or(0)));
        }
        let gone = previous_holder
            .as_deref()
            .and_then(Holder::parse)
            .is_some_and(|h| h.is_gone());
        let Some(previous) = previous.filter(|_| gone) else {
            return Err(Error::UploadInUse);
        };
        tracing::info!(upload = uuid, "taking over a write claim whose holder process is gone");
        match self.try_claim(uuid, offset, Some(previous), &token).await? {
            true => Ok(token),
            false => Err(Error::UploadInUse),
        }
    }

    /// One attempt to claim the upload at `offset` for `token`, replacing no
    /// claim or a lapsed one, or, with `previous`, exactly that claim.
    async fn try_claim(&self, uuid: &str, offset: i64, previous: Option<String>, token: &str) -> Result<bool, Error> {
        let (u, t) = (uuid.to_owned(), token.to_owned());
        self.db()
            .write_unsynced(move |c| {
                let now = crate::now_ms();
                let claim = Claim {
                    token: &t,
                    holder: &Holder::current().encode(),
                    until: now + WRITE_LEASE_MS,
                };
                let replacing = match &previous {
                    Some(p) => Replacing::Token(p),
                    None => Replacing::Lapsed { now },
                };
                Ok::<_, Error>(queries::uploads::claim(c, &u, offset, replacing, &claim)?)
            })
            .await
    }

    /// Gives a claim up without recording anything.
    pub(super) async fn release(&self, uuid: &str, token: String) {
        let u = uuid.to_owned();
        let released = self
            .db()
            .write_unsynced(move |c| Ok::<_, Error>(queries::uploads::release(c, &u, &token)?))
            .await;
        if let Err(e) = released {
            tracing::warn!(error = %e, upload = uuid, "releasing an upload claim failed; it lapses on its own");
        }
    }

    /// Runs `work` while renewing the claim `token`, so that a long write
    /// keeps its claim and a dead one loses it within a lease.
    pub(super) async fn holding<T>(&self, uuid: &str, token: &str, work: impl Future<Output = T>) -> T {
        let renewing = async {
            let mut tick = tokio::time::interval(RENEW_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let (u, t) = (uuid.to_owned(), token.to_owned());
                let until = crate::now_ms() + WRITE_LEASE_MS;
                let renewed = self
                    .db()
                    .write_unsynced(move |c| Ok::<_, Error>(queries::uploads::renew(c, &u, &t, until)?))
                    .await;
                match renewed {
                    Ok(true) => {}
                    Ok(false) => return,
                    Err(e) => tracing::warn!(error = %e, upload = uuid, "renewing an upload claim failed"),
                }
            }
        };
        tokio::pin!(work);
        tokio::select! {
            out = &mut work => out,
            () = renewing => work.await,
        }
    }
}
