//! Blob pushes sent from a file with `sendfile`: the bench client shares the
//! machine with the server it measures, and copying 100 MiB from user memory
//! into the socket took the client about a third of a core per push. Sent
//! from the page cache, the bytes reach the server with no copy on the
//! client side, so the push numbers show the server rather than the client.
//! Both servers are measured with this same client.
//!
//! One HTTP/1.1 keep-alive connection, blocking I/O, bodies sent with
//! `sendfile(2)` (through rustix).

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use url::Url;

/// A blob's bytes in a file, and its digest.
pub struct BlobFile {
    file: File,
    len: u64,
    digest: String,
}

impl BlobFile {
    /// Writes `data` to a new file in `dir` (unlinked at once; the open file keeps it).
    pub fn create(dir: &Path, data: &[u8], digest: String) -> Result<BlobFile> {
        let mut file = tempfile::tempfile_in(dir).with_context(|| format!("temp file in {}", dir.display()))?;
        file.write_all(data).context("write blob file")?;
        Ok(BlobFile {
            file,
            len: data.len() as u64,
            digest,
        })
    }
}

/// A directory in memory (tmpfs) when there is one, so the blob files cost
/// the disk nothing; else `fallback`.
pub fn memory_dir(fallback: &Path) -> &Path {
    let shm = Path::new("/dev/shm");
    match tempfile::tempfile_in(shm) {
        Ok(_) => shm,
        Err(_) => fallback,
    }
}

struct Response {
    status: u16,
    location: Option<String>,
    digest: Option<String>,
    body: Vec<u8>,
}

/// Pushes blobs to one registry over one connection.
pub struct FilePusher {
    base: Url,
    auth: Option<String>,
    conn: Option<BufReader<TcpStream>>,
}

impl FilePusher {
    pub fn new(base: &Url, auth: Option<String>) -> FilePusher {
        FilePusher {
            base: base.clone(),
            auth,
            conn: None,
        }
    }

    fn connect(&mut self) -> Result<&mut BufReader<TcpStream>> {
        if self.conn.is_none() {
            let host = self.base.host_str().context("base URL has no host")?;
            let port = self.base.port_or_known_default().context("base URL has no port")?;
            let s = TcpStream::connect((host, port)).with_context(|| format!("connect {host}:{port}"))?;
            s.set_nodelay(true)?;
            s.set_read_timeout(Some(Duration::from_secs(120)))?;
            s.set_write_timeout(Some(Duration::from_secs(120)))?;
            self.conn = Some(BufReader::new(s));
        }
        self.conn.as_mut().context("no connection")
    }

    /// Sends one request; the body is `len` bytes of `body` from `offset`.
    fn send(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, String)],
        body: Option<(&File, u64, u64)>,
    ) -> Result<Response> {
        let what = format!("{method} {target}");
        let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {}\r\n", self.base.authority());
        if let Some(a) = &self.auth {
            head.push_str(&format!("Authorization: {a}\r\n"));
        }
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        let len = body.as_ref().map_or(0, |b| b.2);
        head.push_str(&format!("Content-Length: {len}\r\n\r\n"));
        let conn = self.connect()?;
        let result = exchange(conn, &head, body).with_context(|| what.clone());
        if result.is_err() {
            self.conn = None;
        }
        result
    }

    /// The request target (path and query) of a `Location`, which may be relative.
    fn target_of(&self, location: &str, digest: Option<&str>) -> Result<String> {
        let mut url = self
            .base
            .join(location)
            .with_context(|| format!("bad Location {location:?}"))?;
        if let Some(d) = digest {
            url.query_pairs_mut().append_pair("digest", d);
        }
        Ok(match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        })
    }

    fn start(&mut self, repo: &str) -> Result<String> {
        let target = format!("/v2/{repo}/blobs/uploads/");
        let r = self.send("POST", &target, &[], None)?;
        expect_status(&r, 202, &format!("POST {target}"))?;
        r.location.context("POST upload: no Location")
    }

    fn finish(&mut self, location: &str, blob: &BlobFile, from: u64) -> Result<()> {
        let target = self.target_of(location, Some(&blob.digest))?;
        let len = blob.len - from;
        let headers = [("Content-Type", "application/octet-stream".to_string())];
        let r = self.send("PUT", &target, &headers, Some((&blob.file, from, len)))?;
        expect_status(&r, 201, &format!("PUT {target}"))?;
        if r.digest.as_deref() != Some(blob.digest.as_str()) {
            bail!(
                "PUT {target}: Docker-Content-Digest {:?}, expected {}",
                r.digest,
                blob.digest
            );
        }
        Ok(())
    }

    /// POST, then PUT `?digest=` with the whole blob.
    pub fn push_monolithic(&mut self, repo: &str, blob: &BlobFile) -> Result<()> {
        let location = self.start(repo)?;
        self.finish(&location, blob, 0)
    }

    /// POST, PATCHes of `chunk` bytes with `Content-Range`, PUT `?digest=` without a body.
    pub fn push_chunked(&mut self, repo: &str, blob: &BlobFile, chunk: u64) -> Result<()> {
        let mut location = self.start(repo)?;
        let mut off = 0;
        while off < blob.len {
            let n = chunk.min(blob.len - off);
            let target = self.target_of(&location, None)?;
            let headers = [
                ("Content-Type", "application/octet-stream".to_string()),
                ("Content-Range", format!("{off}-{}", off + n - 1)),
            ];
            let r = self.send("PATCH", &target, &headers, Some((&blob.file, off, n)))?;
            expect_status(&r, 202, &format!("PATCH {target} ({off}-{})", off + n - 1))?;
            location = r.location.context("PATCH: no Location")?;
            off += n;
        }
        self.finish(&location, blob, blob.len)
    }
}

fn expect_status(r: &Response, want: u16, what: &str) -> Result<()> {
    if r.status != want {
        let body: String = String::from_utf8_lossy(&r.body).chars().take(400).collect();
        bail!("{what}: expected {want}, got {}; body {body:?}", r.status);
    }
    Ok(())
}

/// Writes the head and the body, then reads the response (and drains its body).
fn exchange(conn: &mut BufReader<TcpStream>, head: &str, body: Option<(&File, u64, u64)>) -> Result<Response> {
    let stream = conn.get_mut();
    stream.write_all(head.as_bytes())?;
    if let Some((file, mut offset, len)) = body {
        let end = offset + len;
        while offset < end {
            let left = usize::try_from(end - offset).unwrap_or(usize::MAX);
            let n = rustix::fs::sendfile(&*stream, file, Some(&mut offset), left)?;
            if n == 0 {
                bail!("file ended {} bytes early", end - offset);
            }
        }
    }
    let raw = read_head(conn)?.context("connection closed before the response head")?;
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut parsed = httparse::Response::new(&mut headers);
    parsed.parse(&raw).context("parse response head")?;
    let value = |name: &str| header(parsed.headers, name).map(str::to_string);
    let length: u64 = content_length(parsed.headers);
    let (status, location, digest) = (
        parsed.code.context("no status")?,
        value("location"),
        value("docker-content-digest"),
    );
    let mut body = Vec::new();
    conn.take(length).read_to_end(&mut body)?;
    Ok(Response {
        status,
        location,
        digest,
        body,
    })
}

/// Reads an HTTP/1.1 message head through its blank line; `None` when the
/// connection closes before the first byte, an error when it closes within.
pub fn read_head(conn: &mut BufReader<TcpStream>) -> Result<Option<Vec<u8>>> {
    let mut raw = Vec::new();
    loop {
        let before = raw.len();
        conn.read_until(b'\n', &mut raw)?;
        if raw.len() == before {
            if raw.is_empty() {
                return Ok(None);
            }
            bail!("connection closed within a message head");
        }
        if raw.ends_with(b"\r\n\r\n") {
            return Ok(Some(raw));
        }
    }
}

/// A header's value by name (any case), when it is UTF-8.
pub fn header<'h>(headers: &[httparse::Header<'h>], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .and_then(|h| std::str::from_utf8(h.value).ok())
}

/// The `Content-Length`, 0 when absent or not a number.
pub fn content_length(headers: &[httparse::Header<'_>]) -> u64 {
    header(headers, "content-length")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}
