//! A small HTTP server on 127.0.0.1 for tests: it serves fixed files to
//! GET (e.g. a build's `archive_url`) and records what is POSTed to it
//! (e.g. notification webhooks). Stops when dropped.

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// One request the server received.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    /// `Authorization`, when sent.
    pub authorization: Option<String>,
    pub body: Vec<u8>,
}

pub struct LoopbackHttp {
    pub port: u16,
    files: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    received: Arc<Mutex<Vec<Received>>>,
    stop: Arc<AtomicBool>,
}

impl LoopbackHttp {
    pub fn start() -> LoopbackHttp {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let port = listener.local_addr().expect("address").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let files: Arc<Mutex<HashMap<String, Vec<u8>>>> = Arc::default();
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (f, r) = (files.clone(), received.clone());
        accept_until_stopped(listener, stop.clone(), move |stream| {
            let _ = serve(stream, &f, &r);
        });
        LoopbackHttp {
            port,
            files,
            received,
            stop,
        }
    }

    /// `http://127.0.0.1:PORT` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Serves `bytes` to GET `path` from now on.
    pub fn serve(&self, path: &str, bytes: Vec<u8>) {
        self.files.lock().expect("files").insert(path.to_owned(), bytes);
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().expect("received").clone()
    }

    /// Waits (up to `timeout`) until a received request satisfies `check`.
    pub fn wait_for(&self, what: &str, timeout: Duration, check: impl Fn(&Received) -> bool) -> Received {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(r) = self.received().into_iter().find(|r| check(r)) {
                return r;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; received {:?}",
                self.received()
                    .iter()
                    .map(|r| format!("{} {} {}", r.method, r.path, String::from_utf8_lossy(&r.body)))
                    .collect::<Vec<_>>()
            );
            thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Accepts connections on the (non-blocking) `listener` in a thread until
/// `stop` is set, handling each in a thread of its own with `handle`.
pub fn accept_until_stopped(
    listener: TcpListener,
    stop: Arc<AtomicBool>,
    handle: impl Fn(TcpStream) + Clone + Send + 'static,
) {
    thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            match listener.accept() {
                Ok((stream, _)) => {
                    let handle = handle.clone();
                    thread::spawn(move || handle(stream));
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => thread::sleep(Duration::from_millis(20)),
                Err(_) => break,
            }
        }
    });
}

/// One HTTP/1.1 request as the test servers read it.
pub struct Request {
    pub method: String,
    pub path: String,
    /// `Authorization`, when sent.
    pub authorization: Option<String>,
    pub body: Vec<u8>,
}

/// Reads one request (with a `Content-Length` body) from `stream`.
pub fn read_request(stream: &TcpStream) -> std::io::Result<Request> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();
    let (mut length, mut authorization) = (0usize, None);
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            let name = name.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            } else if name.eq_ignore_ascii_case("authorization") {
                authorization = Some(value.trim().to_owned());
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(Request {
        method,
        path,
        authorization,
        body,
    })
}

impl Drop for LoopbackHttp {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve(
    stream: TcpStream,
    files: &Mutex<HashMap<String, Vec<u8>>>,
    received: &Mutex<Vec<Received>>,
) -> std::io::Result<()> {
    let Request {
        method,
        path,
        authorization,
        body,
    } = read_request(&stream)?;
    let file = files.lock().ok().and_then(|f| f.get(&path).cloned());
    received
        .lock()
        .map(|mut r| {
            r.push(Received {
                method: method.clone(),
                path: path.clone(),
                authorization,
                body,
            })
        })
        .ok();
    let (status, payload) = match (method.as_str(), file) {
        ("GET", Some(bytes)) => ("200 OK", bytes),
        ("GET", None) => ("404 Not Found", Vec::new()),
        _ => ("200 OK", b"{}".to_vec()),
    };
    let mut out = stream;
    write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        payload.len()
    )?;
    out.write_all(&payload)?;
    out.flush()
}
