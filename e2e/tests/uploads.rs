//! Chunked blob uploads over raw HTTP, including across a registry restart,
//! a registry killed in the middle of a chunk, and a full disk.

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use e2e::http::{with_query, Response};
use e2e::{backend_tests, digest_of, fresh_bytes, Backend, Http, Registry, TestEnv};

backend_tests!(
    chunked_upload_over_raw_http_stores_the_exact_bytes,
    chunked_upload_continues_after_the_registry_is_killed_and_restarted,
    chunked_upload_resumes_at_once_after_the_registry_is_killed_mid_chunk,
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

/// Sends a PATCH of `total` bytes at `offset` over a raw socket: its headers
/// and the `first` body bytes, and then nothing while the socket lives.
fn stalled_patch(reg: &Registry, http: &Http, at: &str, offset: usize, total: usize, first: &[u8]) -> TcpStream {
    let url = url::Url::parse(&http.resolve(at)).expect("upload URL");
    let target = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    };
    let auth = http
        .token()
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "PATCH {target} HTTP/1.1\r\nHost: {}\r\n{auth}Content-Type: application/octet-stream\r\n\
             Content-Range: {offset}-{}\r\nContent-Length: {total}\r\n\r\n",
        reg.host(),
        offset + total - 1,
    );
    let mut stream = TcpStream::connect(reg.host()).expect("connect");
    stream.write_all(head.as_bytes()).expect("send PATCH headers");
    stream.write_all(first).expect("send the first body bytes");
    stream
}

/// Starts an upload holding `data[..first]` and a stalled PATCH for the rest,
/// and waits until another request finds the upload taken by it; an empty
/// PATCH is the probe (it changes nothing when it gets through). Should the
/// probe get through first, the stalled PATCH may have been refused, so the
/// attempt is repeated on a fresh upload. Returns the upload's Location, the
/// stalled PATCH and the probe's refusal.
fn upload_held_by_a_stalled_patch(
    reg: &Registry,
    http: &Http,
    repo: &str,
    data: &[u8],
    first: usize,
) -> (String, TcpStream, Response) {
    for _ in 0..20 {
        let at = start_upload(http, repo);
        let at = patch(http, &at, 0, &data[..first]);
        let rest = data.len() - first;
        let stalled = stalled_patch(reg, http, &at, first, rest, &data[first..first + rest / 2]);
        // Gives the server a head start; correctness does not rest on it.
        std::thread::sleep(Duration::from_millis(100));
        let probe = http.patch(&at).header("Content-Length", "0").send();
        if probe.status.as_u16() != 202 {
            return (at, stalled, probe);
        }
    }
    panic!("a stalled PATCH never held its upload");
}

fn chunked_upload_resumes_at_once_after_the_registry_is_killed_mid_chunk(env: TestEnv) {
    let mut reg = Registry::start(&env);
    let repo = reg.repo("raw/killed-mid-chunk");
    let data = fresh_bytes(3 * MIB + 321);
    let digest = digest_of(&data);
    let first = MIB + 17;

    let at = {
        let http = Http::new(&reg);
        let (at, stalled, refusal) = upload_held_by_a_stalled_patch(&reg, &http, &repo, &data, first);
        assert_eq!(refusal.status.as_u16(), 409, "probe: {}", refusal.text());
        let message = refusal.json()["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(message.contains("in use by another request"), "{message}");
        reg.kill();
        drop(stalled);
        at
    };

    reg.start_again();

    let http = Http::new(&reg);
    let status = http.get(&at).send().expect_status(204, "upload status after the kill");
    assert_eq!(status.header("Range"), Some(format!("0-{}", first - 1)));
    let at = patch(&http, &at, first, &data[first..]);
    finish(&http, &at, &digest).expect_status(201, "PUT ?digest= after the kill");
    assert!(
        get_blob(&http, &repo, &digest) == data,
        "blob resumed after a kill mid-chunk differs from what was sent"
    );
}

/// A tmpfs mounted for one test, unmounted when dropped (also on failure).
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (e.g. `16m`), or `None` (printed) where this
    /// process may not mount, i.e. outside CI when not root.
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::Builder::new()
            .prefix("e2e-tmpfs-")
            .tempdir()
            .expect("temp dir");
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("run mount");
        if out.status.success() {
            return Some(Tmpfs { dir });
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        let refused = stderr.contains("ermission denied")
            || stderr.contains("must be superuser")
            || stderr.contains("not permitted");
        if !e2e::is_root() && refused && !e2e::in_ci() {
            eprintln!("SKIPPED: mounting a tmpfs is not permitted here (not root): {stderr}");
            return None;
        }
        panic!("mount -t tmpfs failed: {stderr}");
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn free_bytes(&self) -> u64 {
        let st = rustix::fs::statvfs(self.path()).expect("statvfs");
        st.f_bavail * st.f_frsize
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let out = std::process::Command::new("umount").arg(self.dir.path()).output();
        if !out.as_ref().is_ok_and(|o| o.status.success()) {
            eprintln!("umount {} failed: {out:?}", self.dir.path().display());
        }
    }
}

/// The files in `dir` with their sizes.
fn files_in(dir: &Path) -> Vec<(PathBuf, u64)> {
    std::fs::read_dir(dir)
        .expect("read uploads/")
        .map(|e| {
            let e = e.expect("dir entry");
            (e.path(), e.metadata().expect("metadata").len())
        })
        .collect()
}

#[test]
fn a_push_onto_a_full_disk_is_507_keeps_no_partial_bytes_and_space_comes_back() {
    let Some(env) = TestEnv::for_backend(Backend::SqliteFs) else {
        return;
    };
    let Some(disk) = Tmpfs::mount("24m") else {
        return;
    };
    let data_dir = disk.path().join("data");
    let reg = Registry::start_in_data_dir(&env, data_dir.clone());
    let http = Http::new(&reg);
    let repo = reg.repo("raw/full-disk");
    let chunk = fresh_bytes(MIB);

    let at = start_upload(&http, &repo);
    let mut at_now = at.clone();
    let mut committed = 0usize;
    let refusal = loop {
        assert!(committed < 64 * MIB, "a 24 MiB disk never filled up");
        let resp = http
            .patch(&at_now)
            .header("Content-Type", "application/octet-stream")
            .header("Content-Range", &format!("{committed}-{}", committed + MIB - 1))
            .header("Content-Length", &MIB.to_string())
            .body(chunk.clone())
            .send();
        if resp.status.as_u16() != 202 {
            break resp;
        }
        at_now = location(&resp);
        committed += MIB;
    };
    eprintln!("the disk was full after {committed} bytes of the upload");
    assert_eq!(refusal.status.as_u16(), 507, "a full disk: {}", refusal.text());
    let error = &refusal.json()["errors"][0];
    assert_eq!(error["code"], "BLOB_UPLOAD_INVALID", "{error}");
    assert!(
        error["message"]
            .as_str()
            .unwrap_or_default()
            .contains("storage is full"),
        "{error}"
    );

    let status = http.get(&at).send().expect_status(204, "upload status on a full disk");
    assert_eq!(
        status.header("Range"),
        Some(format!("0-{}", committed.saturating_sub(1)))
    );
    let uploads = files_in(&data_dir.join("blobs").join("uploads"));
    let uuid = status.header("Docker-Upload-UUID").expect("upload UUID");
    for (path, len) in &uploads {
        assert!(
            path.ends_with(&uuid),
            "a file in uploads/ that is no upload: {}",
            path.display()
        );
        assert_eq!(*len, committed as u64, "bytes beyond what the upload committed");
    }

    let before = disk.free_bytes();
    http.delete(&at)
        .send()
        .expect_status(204, "DELETE the upload on a full disk");
    assert!(
        files_in(&data_dir.join("blobs").join("uploads")).is_empty(),
        "the deleted upload's bytes are gone"
    );
    assert!(
        disk.free_bytes() >= (before + committed as u64).saturating_sub(MIB as u64),
        "deleting the upload freed its {committed} bytes"
    );

    let small = fresh_bytes(MIB / 2);
    let digest = digest_of(&small);
    http.post(&with_query(&format!("/v2/{repo}/blobs/uploads/"), "digest", &digest))
        .header("Content-Type", "application/octet-stream")
        .body(small.clone())
        .send()
        .expect_status(201, "a smaller push after the space came back");
    assert!(get_blob(&http, &repo, &digest) == small);
    drop(reg);
}
