//! Global messages (`messages`) superusers show to every user.

use diesel::prelude::*;

use crate::db::schema::messages as m;
use crate::db::DbConn;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = m)]
pub struct MessageRow {
    pub uuid: String,
    pub content: String,
    pub media_type: String,
    pub severity: String,
}

pub fn insert(c: &mut DbConn, row: &MessageRow, now: i64) -> QueryResult<()> {
    diesel::insert_into(m::table)
        .values((
            m::uuid.eq(&row.uuid),
            m::content.eq(&row.content),
            m::media_type.eq(&row.media_type),
            m::severity.eq(&row.severity),
            m::created_ms.eq(now),
        ))
        .execute(c)
        .map(drop)
}

/// Every message, oldest first.
pub fn list(c: &mut DbConn) -> QueryResult<Vec<MessageRow>> {
    m::table.order(m::id.asc()).select(MessageRow::as_select()).load(c)
}

/// Deletes the message; the number of rows removed.
pub fn delete(c: &mut DbConn, uuid: &str) -> QueryResult<usize> {
    diesel::delete(m::table.filter(m::uuid.eq(uuid))).execute(c)
}
