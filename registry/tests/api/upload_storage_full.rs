//! Uploads when the database's disk is full: a 507 that says so, and
//! deleting an upload still frees its bytes. The database is made to fail
//! the way a full disk makes it fail, by a trigger raising that error.
//! Upload bytes that no row knows of do not fill the disk either: the
//! stale-upload cleanup removes them.

use diesel::connection::SimpleConnection;

use futures_util::TryStreamExt;
use registry::storage::{ByteStream, StorageError};

use crate::helpers::{assert_oci_error, header, random_bytes, repo, sha256, spawn_app, with_query, Backend, TestApp};

/// Makes `op` on upload rows (e.g. `DELETE`) fail as on a full disk; `name`
/// names the trigger.
async fn refuse_upload_writes(app: &TestApp, name: &'static str, op: &'static str) {
    let sql = match app.backend {
        Backend::SqliteFs => format!(
            "CREATE TRIGGER refuse_{name} BEFORE {op} ON blobupload \
             BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;"
        ),
        Backend::PostgresS3 { .. } => format!(
            "CREATE FUNCTION refuse_{name}() RETURNS trigger AS $$ BEGIN \
             RAISE EXCEPTION 'could not extend file: No space left on device'; END $$ LANGUAGE plpgsql; \
             CREATE TRIGGER refuse_{name} BEFORE {op} ON blobupload \
             FOR EACH ROW EXECUTE FUNCTION refuse_{name}();"
        ),
    };
    run_sql(app, sql).await;
}

async fn allow_upload_writes(app: &TestApp, name: &'static str) {
    let sql = match app.backend {
        Backend::SqliteFs => format!("DROP TRIGGER refuse_{name};"),
        Backend::PostgresS3 { .. } => format!("DROP TRIGGER refuse_{name} ON blobupload;"),
    };
    run_sql(app, sql).await;
}

async fn run_sql(app: &TestApp, sql: String) {
    app.server
        .db()
        .write(move |c| {
            c.batch_execute(&sql).map_err(registry::db::DbError::from)?;
            Ok::<_, registry::service::Error>(())
        })
        .await
        .expect("SQL runs");
}

/// An upload holding 5000 bytes; returns its Location.
async fn upload_with_bytes(app: &TestApp, repo: &str) -> String {
    let location = app.start_upload(repo).await;
    let res = app
        .client
        .patch(app.url(&location))
        .header("Content-Type", "application/octet-stream")
        .body(random_bytes(5000))
        .send()
        .await
        .expect("PATCH");
    assert_eq!(res.status(), 202);
    header(&res, "Location")
}

#[actix_web::test]
async fn a_chunk_the_full_database_cannot_record_is_507_storage_full_and_leaves_no_bytes() {
    let app = spawn_app().await;
    let repo = repo();
    let location = upload_with_bytes(&app, &repo).await;
    // Taking the upload works; recording the chunk's bytes does not.
    refuse_upload_writes(&app, "advance", "UPDATE OF byte_count").await;
    let res = app
        .client
        .patch(app.url(&location))
        .header("Content-Type", "application/octet-stream")
        .body(random_bytes(7000))
        .send()
        .await
        .expect("PATCH");
    let body = assert_oci_error(res, 507, "BLOB_UPLOAD_INVALID").await;
    let message = body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("storage is full"), "{message}");
    allow_upload_writes(&app, "advance").await;

    let res = app.get(&location).await;
    assert_eq!(header(&res, "Range"), "0-4999", "nothing of the refused chunk counts");
    if matches!(app.backend, Backend::SqliteFs) {
        let uuid = header(&res, "Docker-Upload-UUID");
        let file = app.data_dir.join("blobs").join("uploads").join(uuid);
        let len = std::fs::metadata(&file).expect("upload file").len();
        assert_eq!(len, 5000, "the refused chunk's bytes take no space");
    }
}

#[actix_web::test]
async fn deleting_an_upload_frees_its_bytes_even_when_the_database_cannot_be_written() {
    let app = spawn_app().await;
    let repo = repo();
    let location = upload_with_bytes(&app, &repo).await;
    assert!(app.stored_uploads().await >= 1, "the upload holds bytes");

    refuse_upload_writes(&app, "delete", "DELETE").await;
    let res = app.delete(&location).await;
    assert_eq!(res.status(), 204, "DELETE with the database full");
    assert_eq!(app.stored_uploads().await, 0, "the upload's bytes are gone");
    allow_upload_writes(&app, "delete").await;

    // The row left behind goes with the next stale-upload cleanup.
    let services = app.services_with_stale_age(0).await;
    assert_eq!(services.clean_stale_uploads().await.expect("cleanup"), 1);
    assert_oci_error(app.get(&location).await, 404, "BLOB_UPLOAD_UNKNOWN").await;
}

/// Sends a chunk to an upload; returns the new Location.
async fn patch(app: &TestApp, location: &str, bytes: &[u8]) -> String {
    let res = app
        .client
        .patch(app.url(location))
        .header("Content-Type", "application/octet-stream")
        .body(bytes.to_vec())
        .send()
        .await
        .expect("PATCH");
    assert_eq!(res.status(), 202);
    header(&res, "Location")
}

/// Upload bytes straight in the store, with no upload row.
async fn orphan_upload(app: &TestApp) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    let store = app.server.store();
    store.create_upload(&id).await.expect("create upload bytes");
    let body: ByteStream<'static> = Box::pin(futures_util::stream::iter([Ok(random_bytes(3000).into())]));
    store.append_upload(&id, 0, body).await.expect("write upload bytes");
    id
}

/// Whether the store still holds the upload `id`.
async fn upload_stored(app: &TestApp, id: &str) -> bool {
    match app.server.store().read_upload(id, 1).await {
        Ok(bytes) => bytes.try_collect::<Vec<_>>().await.is_ok(),
        Err(StorageError::NotFound) => false,
        Err(e) => panic!("reading upload {id}: {e}"),
    }
}

#[actix_web::test]
async fn the_stale_upload_cleanup_removes_upload_bytes_without_a_row_and_keeps_those_with_one() {
    let app = spawn_app().await;
    let repo = repo();
    let first = random_bytes(5000);
    let location = patch(&app, &app.start_upload(&repo).await, &first).await;
    let live = header(&app.get(&location).await, "Docker-Upload-UUID");
    let orphan = orphan_upload(&app).await;
    // What an interrupted write of a named object leaves on a file system.
    let scratch = app.data_dir.join("blobs").join("uploads").join("object-interrupted");
    let on_fs = matches!(app.backend, Backend::SqliteFs);
    if on_fs {
        std::fs::write(&scratch, b"half an export").expect("scratch file");
    }
    // The live upload's row was touched after the bound (as by a chunk
    // arriving now) while its bytes are as old as the orphan's: only the
    // row tells them apart.
    let later = registry::now_ms() + 3_600_000;
    run_sql(
        &app,
        format!("UPDATE blobupload SET updated_ms = {later} WHERE uuid = '{live}';"),
    )
    .await;

    // A bound a minute ahead covers all bytes written so far, whatever the
    // grain of the store's clock.
    let removed = app.services_with_stale_age(-60).await.clean_stale_uploads().await;
    assert_eq!(removed.expect("cleanup"), if on_fs { 2 } else { 1 });
    assert!(!upload_stored(&app, &orphan).await, "the bytes without a row are gone");
    assert!(!scratch.exists(), "the scratch file is gone");
    assert!(
        upload_stored(&app, &live).await,
        "the upload with a row keeps its bytes"
    );

    let last = random_bytes(2000);
    let location = patch(&app, &location, &last).await;
    let digest = sha256(&[first, last].concat());
    let res = app
        .client
        .put(with_query(&app.url(&location), &format!("digest={digest}")))
        .send()
        .await
        .expect("PUT");
    assert_eq!(res.status(), 201, "the live upload completes");
}
