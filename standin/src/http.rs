//! A minimal HTTP/1.1 server on a tokio `TcpListener`, shared by the AWS stand-in and the Lambda
//! Runtime API emulator. It does just what the AWS SDK for Rust (hyper) and `lambda_runtime`
//! need: keep-alive, `Content-Length` and chunked request bodies, `Expect: 100-continue`, and
//! responses that always carry a `Content-Length`. Each server runs on its own thread with its
//! own current-thread runtime, so it works from sync tests and from any async runtime; dropping
//! the [`ServerHandle`] stops the runtime, which drops every connection task and so releases
//! requests that a fault told to hang.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use crate::util::parse_query;

/// Largest request head (request line + headers) accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Largest request body accepted; recipe policies are at most 30 000 characters.
const MAX_BODY: usize = 16 * 1024 * 1024;
/// A keep-alive connection with no new request for this long is closed. Long enough that the
/// SDK's pooled connections are not cut while a test runs.
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// Bound on the number of requests served on one connection, so the keep-alive loop is finite.
const MAX_REQUESTS_PER_CONNECTION: usize = 1_000_000;
/// A hung request is held at most this long (or until the server is dropped).
pub(crate) const HANG_LIMIT: Duration = Duration::from_secs(600);

/// One parsed request.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub method: String,
    /// Path as sent, without the query.
    pub path: String,
    /// Query as sent (still encoded), without the `?`.
    pub raw_query: String,
    /// Query pairs, URL-decoded.
    pub query: Vec<(String, String)>,
    /// Header names lower-cased, values trimmed.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub(crate) fn new(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub(crate) fn header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub(crate) fn json(status: u16, value: &serde_json::Value) -> Response {
        let mut r = Response::new(status).header("Content-Type", "application/json");
        r.body = serde_json::to_vec(value).unwrap_or_default();
        r
    }
}

/// What a handler wants done with a request.
pub(crate) enum Reply {
    Send(Response),
    /// Never answer; the connection is held until the server is dropped or [`HANG_LIMIT`].
    Hang,
    /// Close the connection without answering.
    Reset,
}

pub(crate) type BoxFuture = Pin<Box<dyn Future<Output = Reply> + Send>>;
pub(crate) type Handler = Arc<dyn Fn(Request) -> BoxFuture + Send + Sync>;

/// A running server. Dropping it shuts the server down and joins its thread.
pub(crate) struct ServerHandle {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl ServerHandle {
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            // The thread ends within the runtime's bounded shutdown timeout.
            let _ = t.join();
        }
    }
}

/// Binds 127.0.0.1:`port` (0 = ephemeral) and serves `handler` on a new thread. Binding happens
/// before returning, so the port is known and a bind failure panics in the caller.
pub(crate) fn spawn_server(name: &str, port: u16, handler: Handler) -> ServerHandle {
    let std_listener = std::net::TcpListener::bind(("127.0.0.1", port))
        .unwrap_or_else(|e| panic!("{name}: cannot bind 127.0.0.1:{port}: {e}"));
    let addr = std_listener
        .local_addr()
        .unwrap_or_else(|e| panic!("{name}: no local address: {e}"));
    std_listener
        .set_nonblocking(true)
        .unwrap_or_else(|e| panic!("{name}: set_nonblocking: {e}"));
    let (tx, rx) = oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("stand-in runtime");
            rt.block_on(accept_loop(std_listener, handler, rx));
            // Dropping the runtime cancels every connection task, closing their sockets: this
            // is what releases hung requests. Bounded so Drop never blocks for long.
            rt.shutdown_timeout(Duration::from_secs(2));
        })
        .unwrap_or_else(|e| panic!("{name}: cannot spawn thread: {e}"));
    ServerHandle {
        addr,
        shutdown: Some(tx),
        thread: Some(thread),
    }
}

async fn accept_loop(std_listener: std::net::TcpListener, handler: Handler, mut shutdown: oneshot::Receiver<()>) {
    let listener = match TcpListener::from_std(std_listener) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("stand-in: listener: {e}");
            return;
        }
    };
    // Runs until shutdown; each iteration waits for an event, so it is not a busy loop.
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(serve_connection(stream, handler.clone()));
                }
                Err(e) => {
                    // E.g. out of file descriptors: back off briefly instead of spinning.
                    eprintln!("stand-in: accept: {e}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
        }
    }
}

async fn serve_connection(stream: TcpStream, handler: Handler) {
    let _ = stream.set_nodelay(true);
    let mut conn = Conn {
        stream,
        buf: Vec::new(),
        pos: 0,
    };
    for _ in 0..MAX_REQUESTS_PER_CONNECTION {
        let req = match tokio::time::timeout(IDLE_TIMEOUT, conn.read_request()).await {
            Ok(Ok(Some(req))) => req,
            // Clean close between requests, or idle timeout.
            Ok(Ok(None)) | Err(_) => return,
            Ok(Err(ParseError::Io)) => return,
            Ok(Err(ParseError::Bad(msg))) => {
                let resp = Response::new(400)
                    .header("Content-Type", "text/plain")
                    .header("Connection", "close");
                let mut resp = resp;
                resp.body = msg.into_bytes();
                let _ = conn.write_response(&resp).await;
                return;
            }
        };
        let close = wants_close(&req);
        match handler(req).await {
            Reply::Send(mut resp) => {
                if close {
                    resp.headers.push(("Connection".into(), "close".into()));
                }
                if conn.write_response(&resp).await.is_err() || close {
                    return;
                }
            }
            Reply::Hang => {
                tokio::time::sleep(HANG_LIMIT).await;
                return;
            }
            Reply::Reset => return,
        }
    }
}

fn wants_close(req: &Request) -> bool {
    req.header("connection")
        .map(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")))
        .unwrap_or(false)
}

enum ParseError {
    Io,
    Bad(String),
}

struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    pos: usize,
}

impl Conn {
    /// Reads more bytes into the buffer; Ok(0) at EOF.
    async fn fill(&mut self) -> Result<usize, ParseError> {
        if self.pos > 0 && self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk).await.map_err(|_| ParseError::Io)?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// One CRLF-terminated line (without the CRLF), at most `max` bytes.
    async fn read_line(&mut self, max: usize) -> Result<String, ParseError> {
        // Bounded: every iteration either returns or reads at least one byte, and the line
        // length is capped.
        loop {
            if let Some(i) = self.buf[self.pos..].iter().position(|&b| b == b'\n') {
                let line = &self.buf[self.pos..self.pos + i];
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                let s = String::from_utf8_lossy(line).into_owned();
                self.pos += i + 1;
                return Ok(s);
            }
            if self.buf.len() - self.pos > max {
                return Err(ParseError::Bad("line too long".into()));
            }
            if self.fill().await? == 0 {
                return Err(ParseError::Io);
            }
        }
    }

    async fn read_exact(&mut self, n: usize) -> Result<Vec<u8>, ParseError> {
        while self.buf.len() - self.pos < n {
            if self.fill().await? == 0 {
                return Err(ParseError::Io);
            }
        }
        let out = self.buf[self.pos..self.pos + n].to_vec();
        self.pos += n;
        Ok(out)
    }

    /// Reads one request; Ok(None) if the peer closed the connection before sending anything.
    async fn read_request(&mut self) -> Result<Option<Request>, ParseError> {
        if self.pos == self.buf.len() && self.fill().await? == 0 {
            return Ok(None);
        }
        // Tolerate stray CRLFs between pipelined requests (RFC 9112 §2.2), a bounded number.
        let mut request_line = String::new();
        for _ in 0..8 {
            request_line = self.read_line(MAX_HEAD).await?;
            if !request_line.is_empty() {
                break;
            }
        }
        let mut parts = request_line.split(' ');
        let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(ParseError::Bad(format!("bad request line {request_line:?}")));
        };
        if !version.starts_with("HTTP/1.") {
            return Err(ParseError::Bad(format!("unsupported version {version}")));
        }
        let http10 = version == "HTTP/1.0";
        let mut headers = Vec::new();
        let mut head_size = request_line.len();
        loop {
            let line = self.read_line(MAX_HEAD).await?;
            if line.is_empty() {
                break;
            }
            head_size += line.len() + 2;
            if head_size > MAX_HEAD || headers.len() > 200 {
                return Err(ParseError::Bad("request head too large".into()));
            }
            let Some((k, v)) = line.split_once(':') else {
                return Err(ParseError::Bad(format!("bad header line {line:?}")));
            };
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
        if http10 && !headers.iter().any(|(k, _)| k == "connection") {
            // HTTP/1.0 closes by default; make that explicit for wants_close().
            headers.push(("connection".into(), "close".into()));
        }
        let (path, raw_query) = match target.split_once('?') {
            Some((p, q)) => (p.to_string(), q.to_string()),
            None => (target.to_string(), String::new()),
        };
        let mut req = Request {
            method: method.to_string(),
            path,
            query: parse_query(&raw_query),
            raw_query,
            headers,
            body: Vec::new(),
        };
        if req
            .header("expect")
            .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
        {
            self.stream
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .await
                .map_err(|_| ParseError::Io)?;
        }
        let chunked = req
            .header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        if chunked {
            req.body = self.read_chunked().await?;
        } else if let Some(len) = req.header("content-length") {
            let len: usize = len
                .parse()
                .map_err(|_| ParseError::Bad(format!("bad content-length {len:?}")))?;
            if len > MAX_BODY {
                return Err(ParseError::Bad("body too large".into()));
            }
            req.body = self.read_exact(len).await?;
        }
        Ok(Some(req))
    }

    async fn read_chunked(&mut self) -> Result<Vec<u8>, ParseError> {
        let mut body = Vec::new();
        // Bounded by MAX_BODY: every non-final chunk adds at least one byte.
        loop {
            let line = self.read_line(1024).await?;
            let size_part = line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_part, 16)
                .map_err(|_| ParseError::Bad(format!("bad chunk size {line:?}")))?;
            if size == 0 {
                // Trailer section, ended by an empty line; bounded count.
                for _ in 0..100 {
                    if self.read_line(MAX_HEAD).await?.is_empty() {
                        return Ok(body);
                    }
                }
                return Err(ParseError::Bad("too many trailers".into()));
            }
            if body.len() + size > MAX_BODY {
                return Err(ParseError::Bad("body too large".into()));
            }
            body.extend(self.read_exact(size).await?);
            if !self.read_line(2).await?.is_empty() {
                return Err(ParseError::Bad("chunk not followed by CRLF".into()));
            }
        }
    }

    async fn write_response(&mut self, resp: &Response) -> std::io::Result<()> {
        let mut out = format!("HTTP/1.1 {} {}\r\n", resp.status, reason(resp.status));
        for (k, v) in &resp.headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        out.push_str(&format!("Content-Length: {}\r\n\r\n", resp.body.len()));
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&resp.body);
        self.stream.write_all(&bytes).await?;
        self.stream.flush().await
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        412 => "Precondition Failed",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}
