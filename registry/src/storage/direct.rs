//! Upload writes with `O_DIRECT`: bytes go from aligned buffers of this
//! process straight to the disk, without the page-cache copy and writeback
//! a buffered write costs (on a small VM that copy alone took more CPU than
//! hashing). Received chunks are hashed and gathered into aligned blocks by
//! one thread while two others write the blocks filled before, so the disk
//! sees more than one request at a time.
//!
//! `O_DIRECT` wants the buffer address, the length and the file offset all
//! multiples of the logical block size, [`ALIGN`] here. An append at an
//! unaligned offset first reads back the partial block before it; the last
//! block is padded and the file cut back to its true length afterwards.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::sync::mpsc as std_mpsc;

use bytes::Bytes;

use crate::oci::Hasher;

/// Alignment of buffers, lengths and offsets for `O_DIRECT`.
pub const ALIGN: usize = 4096;

/// Bytes per write.
const BLOCK: usize = 2 << 20;

/// Blocks per upload: one being filled, the rest queued or being written.
const BLOCKS: usize = 4;

/// Threads writing one upload's blocks, so the disk sees more than one
/// request at a time.
const WRITERS: usize = 2;

/// Idle blocks kept for the next upload, so a push does not pay for fresh
/// zeroed memory (page faults) on every request.
const POOL_KEEP: usize = 4;

static POOL: std::sync::Mutex<Vec<Block>> = std::sync::Mutex::new(Vec::new());

/// A zeroed buffer whose usable part starts at an [`ALIGN`] boundary.
struct Block {
    mem: Vec<u8>,
    start: usize,
    len: usize,
}

impl Block {
    /// A block from the pool, or a new one.
    fn take() -> Block {
        let pooled = POOL.lock().ok().and_then(|mut p| p.pop());
        let mut b = pooled.unwrap_or_else(Block::new);
        b.len = 0;
        b
    }

    /// Returns a block to the pool (or frees it when the pool is full).
    fn give_back(self) {
        if let Ok(mut p) = POOL.lock() {
            if p.len() < POOL_KEEP {
                p.push(self);
            }
        }
    }

    fn new() -> Block {
        let mem = vec![0u8; BLOCK + ALIGN];
        let start = mem.as_ptr().align_offset(ALIGN);
        Block { mem, start, len: 0 }
    }

    fn space(&mut self) -> &mut [u8] {
        &mut self.mem[self.start..self.start + BLOCK]
    }

    /// The filled part, padded up to a multiple of [`ALIGN`].
    fn padded(&self) -> &[u8] {
        let end = self.len.next_multiple_of(ALIGN);
        &self.mem[self.start..self.start + end]
    }
}

/// Opens a file for direct reads and writes.
pub fn open(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
}

/// Whether direct writes work in `dir` (tmpfs and some file systems refuse them).
pub fn supported(dir: &Path) -> bool {
    let probe = dir.join(format!(".direct-probe-{}", uuid::Uuid::new_v4()));
    let works = (|| {
        File::create(&probe)?;
        let f = open(&probe)?;
        let mut b = Block::new();
        b.len = ALIGN;
        f.write_all_at(b.padded(), 0)?;
        f.set_len(1)
    })()
    .is_ok();
    let _ = std::fs::remove_file(&probe);
    works
}

/// Writes the queued chunks into `file` (opened with [`open`]) from `offset`
/// on, then cuts the file to `offset` plus what was written; returns that
/// count. Whatever the file held beyond `offset` is dropped. Each chunk is
/// fed to `hasher` just before it is copied, while it is in the CPU cache.
pub fn write_chunks(
    file: File,
    offset: u64,
    mut rx: tokio::sync::mpsc::Receiver<Bytes>,
    hasher: Option<&mut Hasher>,
) -> io::Result<u64> {
    file.set_len(offset)?;
    let align = ALIGN as u64;
    let base = offset - offset % align;
    let head = usize::try_from(offset - base).map_err(io::Error::other)?;

    let file = std::sync::Arc::new(file);
    let (free_tx, free_rx) = std_mpsc::channel::<Block>();
    let (full_tx, full_rx) = std_mpsc::sync_channel::<(u64, Block)>(BLOCKS);
    for _ in 1..BLOCKS {
        free_tx.send(Block::take()).map_err(io::Error::other)?;
    }
    let full_rx = std::sync::Arc::new(std::sync::Mutex::new(full_rx));
    // A writer that fails records why and keeps passing blocks back, so the
    // filler never waits for a block that will not come; it sees the failure
    // after its next block and stops.
    let failure = std::sync::Arc::new(std::sync::Mutex::new(None::<io::Error>));
    let writers: Vec<_> = (0..WRITERS)
        .map(|_| {
            let (file, full_rx, free_tx, failure) = (file.clone(), full_rx.clone(), free_tx.clone(), failure.clone());
            std::thread::spawn(move || loop {
                let next = match full_rx.lock() {
                    Ok(rx) => rx.recv(),
                    Err(_) => return,
                };
                let Ok((pos, block)) = next else { return };
                let failed = failure.lock().map_or(true, |f| f.is_some());
                if !failed {
                    if let Err(e) = file.write_all_at(block.padded(), pos) {
                        if let Ok(mut f) = failure.lock() {
                            f.get_or_insert(e);
                        }
                    }
                }
                // The filler may have finished; then the block goes back to the pool.
                if let Err(std_mpsc::SendError(b)) = free_tx.send(block) {
                    b.give_back();
                }
            })
        })
        .collect();
    drop(free_tx);
    let stopped = || failure.lock().map_or(true, |f| f.is_some());
    let filled = fill(&file, base, head, (&mut rx, hasher), &full_tx, &free_rx, &stopped);
    drop(full_tx);
    for w in writers {
        if w.join().is_err() {
            return Err(io::Error::other("direct writer panicked"));
        }
    }
    while let Ok(b) = free_rx.try_recv() {
        b.give_back();
    }
    if let Some(e) = failure
        .lock()
        .map_err(|_| io::Error::other("direct writer failed"))?
        .take()
    {
        return Err(e);
    }
    let written = filled?;
    file.set_len(offset + written)?;
    Ok(written)
}

/// Gathers the chunks into blocks and queues each full one (and the last);
/// returns the bytes taken from `rx`. Fails when a writer stopped.
fn fill(
    file: &File,
    base: u64,
    head: usize,
    (rx, mut hasher): (&mut tokio::sync::mpsc::Receiver<Bytes>, Option<&mut Hasher>),
    full_tx: &std_mpsc::SyncSender<(u64, Block)>,
    free_rx: &std_mpsc::Receiver<Block>,
    stopped: &dyn Fn() -> bool,
) -> io::Result<u64> {
    let writer_gone = || io::Error::other("direct writer stopped");
    let mut block = Block::take();
    if head > 0 {
        // The bytes of the partial block before the offset, read back.
        let got = file.read_at(&mut block.space()[..ALIGN], base)?;
        if got < head {
            block.give_back();
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "upload is shorter than its offset",
            ));
        }
        block.len = head;
    }
    let mut pos = base;
    let mut written = 0u64;
    while let Some(chunk) = rx.blocking_recv() {
        if let Some(h) = hasher.as_deref_mut() {
            h.update(&chunk);
        }
        let mut rest = &chunk[..];
        while !rest.is_empty() {
            let at = block.len;
            let n = rest.len().min(BLOCK - at);
            block.space()[at..at + n].copy_from_slice(&rest[..n]);
            block.len += n;
            rest = &rest[n..];
            written += n as u64;
            if block.len == BLOCK {
                full_tx.send((pos, block)).map_err(|_| writer_gone())?;
                if stopped() {
                    return Err(writer_gone());
                }
                pos += BLOCK as u64;
                block = free_rx.recv().map_err(|_| writer_gone())?;
                block.len = 0;
            }
        }
    }
    // With nothing new, the partial block read back stays as it is on disk.
    if written > 0 && block.len > 0 {
        full_tx.send((pos, block)).map_err(|_| writer_gone())?;
    } else {
        block.give_back();
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(n: usize, seed: u8) -> Vec<u8> {
        (0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
    }

    fn feed(file: File, offset: u64, data: &[u8], piece: usize) -> io::Result<u64> {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let chunks: Vec<Bytes> = data.chunks(piece).map(Bytes::copy_from_slice).collect();
        let sender = std::thread::spawn(move || {
            for c in chunks {
                tx.blocking_send(c).expect("writer gone");
            }
        });
        let r = write_chunks(file, offset, rx, None);
        sender.join().expect("sender panicked");
        r
    }

    #[test]
    fn appends_at_any_offset_give_the_exact_bytes() {
        // Beside the sources, on a disk: /tmp may be a tmpfs, which takes no direct writes.
        let dir = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).expect("tempdir");
        assert!(supported(dir.path()), "O_DIRECT works under {}", dir.path().display());
        let path = dir.path().join("u");
        File::create(&path).expect("create");
        let parts = [
            pattern(BLOCK + 123, 1),
            pattern(ALIGN - 1, 2),
            pattern(1, 3),
            pattern(2 * BLOCK, 4),
            pattern(10, 5),
        ];
        let mut expect = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            let f = open(&path).expect("open");
            let n = feed(f, expect.len() as u64, part, 65536 + i).expect("write");
            assert_eq!(n, part.len() as u64);
            expect.extend_from_slice(part);
            assert_eq!(std::fs::read(&path).expect("read"), expect, "after part {i}");
        }
        // A retry from an earlier offset drops what lay beyond it.
        let keep = 5000;
        let f = open(&path).expect("open");
        feed(f, keep as u64, b"tail", 3).expect("write");
        expect.truncate(keep);
        expect.extend_from_slice(b"tail");
        assert_eq!(std::fs::read(&path).expect("read"), expect);
    }
}
