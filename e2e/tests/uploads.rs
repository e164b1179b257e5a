//! Chunked blob uploads over raw HTTP, including across a registry restart.

use e2e::http::{with_query, Response};
use e2e::{backend_tests, digest_of, fresh_bytes, Http, Registry, TestEnv};

backend_tests!(
    chunked_upload_over_raw_http_stores_the_exact_bytes,
    chunked_upload_continues_after_the_registry_is_killed_and_restarted,
    upload_with_a_wrong_digest_is_refused_and_stores_nothing,
);

const MIB: usize = 1 << 20;

/// POST …/uploads/ and return the upload's Location.
fn start_upload(http: &Http, repo: &str) -> String {
    let resp = http
        .post(&format!("/v2/{repo}/blobs/uploads/"))
        .header("Content-Length", "0")
        .send()
        .expect_status(202, "POST upload");
    assert!(resp.header("Docker-Upload-UUID").is_some(), "{:?}", resp.headers);
    location(&resp)
}

fn location(resp: &Response) -> String {
    resp.header("Location")
        .unwrap_or_else(|| panic!("no Location in {:?}", resp.headers))
}

/// PATCH `chunk` at `offset`; returns the next Location.
fn patch(http: &Http, at: &str, offset: usize, chunk: &[u8]) -> String {
    let end = offset + chunk.len() - 1;
    let resp = http
        .patch(at)
        .header("Content-Type", "application/octet-stream")
        .header("Content-Range", &format!("{offset}-{end}"))
        .header("Content-Length", &chunk.len().to_string())
        .body(chunk.to_vec())
        .send()
        .expect_status(202, &format!("PATCH bytes {offset}-{end}"));
    assert_eq!(
        resp.header("Range").as_deref(),
        Some(format!("0-{end}").as_str()),
        "Range after PATCH {offset}-{end}"
    );
    location(&resp)
}

fn finish(http: &Http, at: &str, digest: &str) -> Response {
    http.put(&with_query(at, "digest", digest))
        .header("Content-Length", "0")
        .send()
}

fn get_blob(http: &Http, repo: &str, digest: &str) -> Vec<u8> {
    http.get(&format!("/v2/{repo}/blobs/{digest}"))
        .send()
        .expect_status(200, "GET blob")
        .body
}

fn chunked_upload_over_raw_http_stores_the_exact_bytes(env: TestEnv) {
    let reg = Registry::start(&env);
    let http = Http::new(&reg);
    let repo = reg.repo("raw/chunked");
    let data = fresh_bytes(6 * MIB + 1000);
    let digest = digest_of(&data);
    // Uneven chunks around the 5 MiB S3 part size.
    let cuts = [0, MIB + 123, 6 * MIB + 130, data.len()];

    let mut at = start_upload(&http, &repo);
    for w in cuts.windows(2) {
        at = patch(&http, &at, w[0], &data[w[0]..w[1]]);
    }
    let status = http.get(&at).send().expect_status(204, "GET upload status");
    assert_eq!(status.header("Range"), Some(format!("0-{}", data.len() - 1)));
    let done = finish(&http, &at, &digest).expect_status(201, "PUT ?digest=");
    assert_eq!(done.header("Docker-Content-Digest"), Some(digest.clone()));

    let head = http
        .head(&format!("/v2/{repo}/blobs/{digest}"))
        .send()
        .expect_status(200, "HEAD blob");
    assert_eq!(head.header("Content-Length"), Some(data.len().to_string()));
    assert!(get_blob(&http, &repo, &digest) == data, "blob bytes differ");
}

fn chunked_upload_continues_after_the_registry_is_killed_and_restarted(env: TestEnv) {
    let mut reg = Registry::start(&env);
    let repo = reg.repo("raw/restarted");
    let data = fresh_bytes(7 * MIB + 77);
    let digest = digest_of(&data);
    let first = 2 * MIB + 5;
    let second = first + 5 * MIB + 3;

    let at = {
        let http = Http::new(&reg);
        let at = start_upload(&http, &repo);
        patch(&http, &at, 0, &data[..first])
    };

    reg.restart();

    let http = Http::new(&reg);
    let status = http.get(&at).send().expect_status(204, "upload status after restart");
    assert_eq!(status.header("Range"), Some(format!("0-{}", first - 1)));
    let at = patch(&http, &at, first, &data[first..second]);
    let at = patch(&http, &at, second, &data[second..]);
    finish(&http, &at, &digest).expect_status(201, "PUT ?digest= after restart");
    assert!(
        get_blob(&http, &repo, &digest) == data,
        "blob assembled across a restart differs from what was sent"
    );
}

fn upload_with_a_wrong_digest_is_refused_and_stores_nothing(env: TestEnv) {
    let reg = Registry::start(&env);
    let http = Http::new(&reg);
    let repo = reg.repo("raw/wrong");
    let data = fresh_bytes(4096);
    let claimed = digest_of(b"something else entirely");

    let at = start_upload(&http, &repo);
    let at = patch(&http, &at, 0, &data);
    let resp = finish(&http, &at, &claimed).expect_status(400, "PUT with a wrong digest");
    assert_eq!(resp.json()["errors"][0]["code"], "DIGEST_INVALID");
    for digest in [claimed, digest_of(&data)] {
        http.head(&format!("/v2/{repo}/blobs/{digest}"))
            .send()
            .expect_status(404, "HEAD of a blob whose upload was refused");
    }
}
