//! The push ceiling of this machine: a minimal blob receiver that does only
//! what a push cannot skip, as cheaply as it can be done, so the bench can
//! show how close a registry gets to it on the same CPUs and disk.
//!
//! It answers the two requests of a monolithic push (`POST` a session, `PUT
//! ?digest=` with the body) on 127.0.0.1, one connection at a time. The body
//! is read from the socket straight into aligned 2 MiB blocks (no HTTP
//! framework, no intermediate buffers), one thread hashes the filled blocks
//! with SHA-256, two threads write them with `O_DIRECT` (buffered where the
//! file system refuses it), and the file is synced and renamed into place
//! before the 201, like a durable registry must. No authentication, no
//! database, nothing else.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;

use anyhow::{bail, Context, Result};
use sha2::Digest as _;

use crate::filepush::{content_length, read_head};

const ALIGN: usize = 4096;
const BLOCK: usize = 2 << 20;
const BLOCKS: usize = 4;
const WRITERS: usize = 2;

/// A running receiver; stopped on drop.
pub struct Sink {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    failures: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl Sink {
    /// Listens on 127.0.0.1 and keeps received blobs under `dir`.
    pub fn start(dir: &Path) -> Result<Sink> {
        let listener = TcpListener::bind("127.0.0.1:0").context("bind the push sink")?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let failures = Arc::new(AtomicU64::new(0));
        let (dir, stop2, failures2) = (dir.to_path_buf(), stop.clone(), failures.clone());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    return;
                }
                let served = conn.map_err(anyhow::Error::from).and_then(|c| serve(c, &dir));
                if let Err(e) = served {
                    failures2.fetch_add(1, Ordering::SeqCst);
                    eprintln!("bench: push sink: {e:#}");
                }
            }
        });
        Ok(Sink {
            addr,
            stop,
            failures,
            thread: Some(thread),
        })
    }

    /// The base URL to push to.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Connections that ended in an error so far.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::SeqCst)
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accepting thread, which then sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Serves the requests of one keep-alive connection until the client closes it.
fn serve(conn: TcpStream, dir: &Path) -> Result<()> {
    conn.set_nodelay(true)?;
    let mut out = conn.try_clone()?;
    let mut input = BufReader::with_capacity(64 << 10, conn);
    let mut uploads = 0u64;
    loop {
        let Some(head) = read_head(&mut input)? else {
            return Ok(()); // closed between requests
        };
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        req.parse(&head).context("parse request head")?;
        let length = content_length(req.headers);
        let target = url::Url::parse("http://sink")?.join(req.path.context("no request target")?)?;
        match req.method {
            Some("POST") if length == 0 => {
                uploads += 1;
                let location = format!("{}/{uploads}", target.path().trim_end_matches('/'));
                write!(
                    out,
                    "HTTP/1.1 202 Accepted\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n"
                )?;
            }
            Some("PUT") => {
                let want = target
                    .query_pairs()
                    .find(|(k, _)| k == "digest")
                    .map(|(_, v)| v.into_owned())
                    .context("PUT without ?digest=")?;
                let got = receive(&mut input, length, dir)?;
                if got != want {
                    write!(out, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")?;
                    bail!("digest {got}, client said {want}");
                }
                write!(
                    out,
                    "HTTP/1.1 201 Created\r\nDocker-Content-Digest: {got}\r\nContent-Length: 0\r\n\r\n"
                )?;
            }
            other => bail!("unexpected request {other:?} with {length} body bytes"),
        }
    }
}

/// A zeroed buffer whose usable part starts at an [`ALIGN`] boundary.
struct Block {
    mem: Vec<u8>,
    start: usize,
    len: usize,
}

impl Block {
    fn new() -> Block {
        let mem = vec![0u8; BLOCK + ALIGN];
        let start = mem.as_ptr().align_offset(ALIGN);
        Block { mem, start, len: 0 }
    }

    fn filled(&self) -> &[u8] {
        &self.mem[self.start..self.start + self.len]
    }

    /// The filled part padded up to [`ALIGN`], for a direct write.
    fn padded(&self) -> &[u8] {
        &self.mem[self.start..self.start + self.len.next_multiple_of(ALIGN)]
    }
}

fn open_for_writing(path: &Path) -> io::Result<(File, bool)> {
    File::create(path)?;
    let direct = rustix::fs::OFlags::DIRECT.bits() as i32;
    match OpenOptions::new().write(true).custom_flags(direct).open(path) {
        Ok(f) => Ok((f, true)),
        Err(_) => Ok((OpenOptions::new().write(true).open(path)?, false)),
    }
}

/// Reads `length` body bytes into blocks that are hashed and written to a
/// new file under `dir`, synced and renamed to its digest; returns the digest.
fn receive(input: &mut BufReader<TcpStream>, length: u64, dir: &Path) -> Result<String> {
    static UPLOADS: AtomicU64 = AtomicU64::new(0);
    let scratch = dir.join(format!("upload-{}", UPLOADS.fetch_add(1, Ordering::SeqCst)));
    let (file, direct) = open_for_writing(&scratch)?;
    let file = Arc::new(file);
    let (free_tx, free_rx) = mpsc::channel::<Block>();
    for _ in 0..BLOCKS {
        free_tx.send(Block::new())?;
    }
    let (full_tx, full_rx) = mpsc::sync_channel::<(u64, Block)>(BLOCKS);
    let (hashed_tx, hashed_rx) = mpsc::sync_channel::<(u64, Block)>(BLOCKS);
    let hasher = std::thread::spawn(move || {
        let mut h = sha2::Sha256::new();
        for (pos, block) in full_rx {
            h.update(block.filled());
            if hashed_tx.send((pos, block)).is_err() {
                break;
            }
        }
        format!("sha256:{}", hex::encode(h.finalize()))
    });
    let hashed_rx = Arc::new(Mutex::new(hashed_rx));
    let writers: Vec<JoinHandle<io::Result<()>>> = (0..WRITERS)
        .map(|_| {
            let (file, hashed_rx, free_tx) = (file.clone(), hashed_rx.clone(), free_tx.clone());
            std::thread::spawn(move || loop {
                let next = hashed_rx.lock().map_err(|_| io::Error::other("poisoned"))?.recv();
                let Ok((pos, block)) = next else { return Ok(()) };
                let bytes = if direct { block.padded() } else { block.filled() };
                file.write_all_at(bytes, pos)?;
                let _ = free_tx.send(block);
            })
        })
        .collect();
    drop(free_tx);
    let read = read_blocks(input, length, &free_rx, &full_tx);
    drop(full_tx);
    let digest = hasher.join().map_err(|_| anyhow::anyhow!("hasher panicked"))?;
    for w in writers {
        w.join().map_err(|_| anyhow::anyhow!("writer panicked"))??;
    }
    read?;
    file.set_len(length)?;
    file.sync_all()?;
    let target: PathBuf = dir.join(digest.replace(':', "-"));
    std::fs::rename(&scratch, &target)?;
    File::open(dir)?.sync_all()?;
    Ok(digest)
}

/// Fills free blocks from the connection (what the reader buffered first)
/// and queues them for hashing.
fn read_blocks(
    input: &mut BufReader<TcpStream>,
    length: u64,
    free_rx: &mpsc::Receiver<Block>,
    full_tx: &mpsc::SyncSender<(u64, Block)>,
) -> Result<()> {
    let mut pos = 0u64;
    while pos < length {
        let mut block = free_rx.recv().context("writers stopped")?;
        let want = usize::try_from(length - pos).unwrap_or(BLOCK).min(BLOCK);
        block.len = 0;
        while block.len < want {
            let at = block.start + block.len;
            let space = &mut block.mem[at..block.start + want];
            let buffered = input.buffer();
            let n = if buffered.is_empty() {
                input.get_mut().read(space)?
            } else {
                let n = buffered.len().min(space.len());
                space[..n].copy_from_slice(&buffered[..n]);
                input.consume(n);
                n
            };
            if n == 0 {
                bail!(
                    "connection closed {} bytes before the body ended",
                    length - pos - block.len as u64
                );
            }
            block.len += n;
        }
        full_tx.send((pos, block)).context("hasher stopped")?;
        pos += want as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filepush::{BlobFile, FilePusher};

    fn digest_of(data: &[u8]) -> String {
        format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)))
    }

    #[test]
    fn keeps_a_pushed_blob_under_its_digest_and_refuses_a_wrong_one() {
        // Beside the sources, on a disk: /tmp may be a tmpfs, which takes no direct writes.
        let dir = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).expect("tempdir");
        let sink = Sink::start(dir.path()).expect("sink starts");
        let base = url::Url::parse(&sink.base()).expect("base URL");
        let mut pusher = FilePusher::new(&base, None);

        // Several blocks and a partial one, so block order and the padded tail count.
        let data: Vec<u8> = (0..5 * BLOCK + 12_345).map(|i| (i * 7 % 251) as u8).collect();
        let digest = digest_of(&data);
        let blob = BlobFile::create(dir.path(), &data, digest.clone()).expect("blob file");
        pusher.push_monolithic("a/b", &blob).expect("push into the sink");
        let stored = std::fs::read(dir.path().join(digest.replace(':', "-"))).expect("stored blob");
        assert!(stored == data, "stored {} bytes, pushed {}", stored.len(), data.len());
        assert_eq!(sink.failures(), 0);

        let liar = BlobFile::create(dir.path(), b"other bytes", digest).expect("blob file");
        let refused = pusher.push_monolithic("a/b", &liar);
        assert!(refused.is_err(), "a body that does not match its digest is refused");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while sink.failures() == 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(sink.failures(), 1);
    }
}
