//! Request bodies as `Send` byte streams for the service layer.

use std::future::Future;
use std::io;

use actix_web::web;
use bytes::Bytes;
use futures_util::{stream, StreamExt};
use tokio::sync::mpsc;

use crate::storage::ByteStream;

/// How the pumping of a request body ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyEnd {
    /// All of it was passed on, or the consumer stopped reading.
    Passed,
    /// It went past the limit; the stream ended with an error there.
    TooLarge,
    /// The client's side failed (say, it went away); the stream ended
    /// with an error there.
    Failed(String),
}

/// Bridges actix's request payload (bound to its thread) to a `Send` stream
/// for the service layer. The returned future pumps the payload and must be
/// polled alongside the consumer (`futures_util::join!`). A body longer
/// than `limit` bytes ends the stream with an error.
pub fn body_stream(mut payload: web::Payload, limit: u64) -> (impl Future<Output = BodyEnd>, ByteStream<'static>) {
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(4);
    let pump = async move {
        let mut received = 0u64;
        while let Some(item) = payload.next().await {
            let chunk = match item {
                Ok(chunk) => chunk,
                Err(e) => {
                    let message = e.to_string();
                    let _ = tx
                        .send(Err(io::Error::new(io::ErrorKind::UnexpectedEof, e.to_string())))
                        .await;
                    return BodyEnd::Failed(message);
                }
            };
            received = received.saturating_add(chunk.len() as u64);
            if received > limit {
                let _ = tx
                    .send(Err(io::Error::new(
                        io::ErrorKind::FileTooLarge,
                        "request body too large",
                    )))
                    .await;
                return BodyEnd::TooLarge;
            }
            if tx.send(Ok(chunk)).await.is_err() {
                break;
            }
        }
        BodyEnd::Passed
    };
    let body = stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) }).boxed();
    (pump, body)
}
