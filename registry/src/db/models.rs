//! Rows as the queries return them.

use diesel::prelude::*;

use super::schema::{blobupload, imagestorage, manifest, repository};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = repository)]
pub struct Repository {
    pub id: i64,
    pub namespace_user_id: i64,
    pub name: String,
    pub visibility: String,
    pub state: i32,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = imagestorage)]
pub struct Blob {
    pub id: i64,
    pub content_checksum: String,
    pub image_size: i64,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = blobupload)]
pub struct Upload {
    pub id: i64,
    pub repository_id: i64,
    pub uuid: String,
    pub byte_count: i64,
    pub sha_state: Option<Vec<u8>>,
    pub chunk_count: i32,
    pub created_ms: i64,
    pub updated_ms: i64,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = manifest)]
pub struct Manifest {
    pub id: i64,
    pub repository_id: i64,
    pub digest: String,
    pub media_type: String,
    pub manifest_bytes: Vec<u8>,
    pub artifact_type: Option<String>,
    pub subject: Option<String>,
}

/// A row of the `user` table: a user, an organization or a robot.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = super::schema::users)]
pub struct Account {
    pub id: i64,
    pub uuid: String,
    pub username: String,
    pub email: Option<String>,
    pub password_hash: Option<String>,
    pub organization: bool,
    pub robot: bool,
    pub enabled: bool,
    pub verified: bool,
    pub superuser: bool,
    pub removed_tag_expiration_s: i64,
    pub invalid_login_attempts: i32,
    pub last_invalid_login_ms: Option<i64>,
    pub creation_date: i64,
}
