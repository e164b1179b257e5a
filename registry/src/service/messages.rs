//! Global messages: notices a superuser shows on every page (Quay's
//! `/messages`).

use super::{Error, Registry};
use crate::db::queries::messages::{self as q, MessageRow};

const MEDIA_TYPES: [&str; 2] = ["text/plain", "text/markdown"];
const SEVERITIES: [&str; 3] = ["info", "warning", "error"];

/// A message as everyone sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalMessage {
    pub uuid: String,
    pub content: String,
    pub media_type: String,
    pub severity: String,
}

impl From<MessageRow> for GlobalMessage {
    fn from(r: MessageRow) -> GlobalMessage {
        GlobalMessage {
            uuid: r.uuid,
            content: r.content,
            media_type: r.media_type,
            severity: r.severity,
        }
    }
}

fn one_of(value: &str, allowed: &[&str], field: &str) -> Result<(), Error> {
    if allowed.contains(&value) {
        return Ok(());
    }
    Err(Error::InvalidRequest(format!(
        "'{value}' is not one of {allowed:?} (message.{field})"
    )))
}

impl Registry {
    pub async fn global_messages(&self) -> Result<Vec<GlobalMessage>, Error> {
        let rows = self.db().read(|c| Ok(q::list(c)?)).await?;
        Ok(rows.into_iter().map(GlobalMessage::from).collect())
    }

    /// Adds a message; media type and severity must be Quay's values.
    pub async fn create_global_message(
        &self,
        content: &str,
        media_type: &str,
        severity: &str,
    ) -> Result<GlobalMessage, Error> {
        one_of(media_type, &MEDIA_TYPES, "media_type")?;
        one_of(severity, &SEVERITIES, "severity")?;
        let row = MessageRow {
            uuid: uuid::Uuid::new_v4().to_string(),
            content: content.to_owned(),
            media_type: media_type.to_owned(),
            severity: severity.to_owned(),
        };
        let (stored, now) = (row.clone(), crate::now_ms());
        self.db()
            .write(move |c| Ok::<_, Error>(q::insert(c, &stored, now)?))
            .await?;
        Ok(row.into())
    }

    /// Deletes a message; an unknown uuid is not an error, as in Quay.
    pub async fn delete_global_message(&self, uuid: &str) -> Result<(), Error> {
        let uuid = uuid.to_owned();
        self.db()
            .write(move |c| Ok::<_, Error>(q::delete(c, &uuid).map(drop)?))
            .await
    }
}
