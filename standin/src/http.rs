//! The HTTP/1.1 server shared by the AWS stand-in and the Lambda Runtime API emulator: hyper on
//! a tokio `TcpListener`, over plain TCP or TLS, behind the small request/reply interface the
//! handlers use. hyper does keep-alive, chunked request bodies, `Expect: 100-continue` and the
//! response framing (a `Content-Length` on every response that may have a body). Each server
//! runs on its own thread with its own current-thread runtime, so it works from sync tests and
//! from any async runtime; dropping the [`ServerHandle`] stops the runtime, which drops every
//! connection task and so releases requests that a fault told to hang.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::StatusCode;
use hyper::body::{Body as _, Incoming};
use hyper::header::{HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::aws_lc_rs;
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::util::parse_query;

/// Largest request head (request line + headers) accepted; hyper answers 431 beyond it.
const MAX_HEAD: usize = 64 * 1024;
/// Most header fields accepted in one request; hyper answers 431 beyond it.
const MAX_HEADERS: usize = 200;
/// Largest request body accepted; recipe policies are at most 30 000 characters.
const MAX_BODY: usize = 16 * 1024 * 1024;
/// A keep-alive connection with no complete new request head for this long is closed, and a
/// request body must arrive within it too. Long enough that the SDK's pooled connections are
/// not cut while a test runs.
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// A TLS client that has not finished its handshake by then is dropped.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
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

/// What a client needs to trust a server started by [`spawn_tls_server`]: the self-signed CA
/// that signed its leaf certificate. Each server generates its own, so no key ever leaves the
/// process and no certificate outlives the server.
#[derive(Debug, Clone)]
pub(crate) struct TlsMaterial {
    /// The CA certificate, PEM-encoded.
    pub ca_pem: String,
}

impl TlsMaterial {
    /// Writes the CA certificate as a PEM file, e.g. for a client's `SSL_CERT_FILE`.
    pub(crate) fn write_ca_pem(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, &self.ca_pem)
    }
}

/// Binds 127.0.0.1:`port` (0 = ephemeral) and serves `handler` on a new thread. Binding happens
/// before returning, so the port is known and a bind failure panics in the caller.
pub(crate) fn spawn_server(name: &str, port: u16, handler: Handler) -> ServerHandle {
    spawn(name, port, handler, None)
}

/// Like [`spawn_server`], but HTTPS only, with a certificate chain generated now: a CA and a
/// leaf for `127.0.0.1` and `localhost` signed by it. Panics if the chain cannot be made.
pub(crate) fn spawn_tls_server(name: &str, port: u16, handler: Handler) -> (ServerHandle, TlsMaterial) {
    let (config, material) = tls_config(name);
    let server = spawn(name, port, handler, Some(TlsAcceptor::from(Arc::new(config))));
    (server, material)
}

fn spawn(name: &str, port: u16, handler: Handler, tls: Option<TlsAcceptor>) -> ServerHandle {
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
            rt.block_on(accept_loop(std_listener, handler, tls, rx));
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

async fn accept_loop(
    std_listener: std::net::TcpListener,
    handler: Handler,
    tls: Option<TlsAcceptor>,
    mut shutdown: oneshot::Receiver<()>,
) {
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
                    // Small request/response exchanges: Nagle would only add latency.
                    let _ = stream.set_nodelay(true);
                    let handler = handler.clone();
                    match &tls {
                        None => {
                            tokio::spawn(serve_connection(stream, handler));
                        }
                        Some(acceptor) => {
                            // The handshake runs in the connection's task so a slow client
                            // never holds up the accept loop.
                            let accepting = acceptor.accept(stream);
                            tokio::spawn(async move {
                                if let Ok(Ok(stream)) = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, accepting).await {
                                    serve_connection(stream, handler).await;
                                }
                            });
                        }
                    }
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

async fn serve_connection<S>(stream: S, handler: Handler)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| answer(handler.clone(), req));
    // An error here is a client that went away or sent garbage (hyper has answered it), an
    // idle timeout, or a Reply::Reset/Hang ending the connection: nothing to report.
    let _ = http1::Builder::new()
        .timer(TokioTimer::new())
        // hyper restarts this timer whenever the connection goes idle, so it is also the
        // keep-alive idle timeout.
        .header_read_timeout(IDLE_TIMEOUT)
        .max_header_size(MAX_HEAD)
        .max_headers(MAX_HEADERS)
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

/// The service's error: hyper closes the connection without writing a response when the
/// service fails, which is exactly [`Reply::Reset`] (and the end of a [`Reply::Hang`]).
#[derive(Debug)]
struct Unanswered;

impl std::fmt::Display for Unanswered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection closed without an answer")
    }
}

impl std::error::Error for Unanswered {}

async fn answer(handler: Handler, req: hyper::Request<Incoming>) -> Result<hyper::Response<Full<Bytes>>, Unanswered> {
    let (parts, body) = req.into_parts();
    // A declared Content-Length over the limit is refused before anything is read, so hyper
    // never sends `100 Continue` for it; Limited stops a chunked body at the limit.
    if body.size_hint().lower() > MAX_BODY as u64 {
        return Ok(refusal(413, "request body larger than 16 MiB"));
    }
    let body = match tokio::time::timeout(IDLE_TIMEOUT, Limited::new(body, MAX_BODY).collect()).await {
        Ok(Ok(collected)) => Vec::from(collected.to_bytes()),
        Ok(Err(e)) if e.is::<LengthLimitError>() => return Ok(refusal(413, "request body larger than 16 MiB")),
        Ok(Err(e)) => return Ok(refusal(400, &format!("bad request body: {e}"))),
        Err(_) => return Err(Unanswered),
    };
    let raw_query = parts.uri.query().unwrap_or_default().to_string();
    let request = Request {
        method: parts.method.as_str().to_string(),
        path: parts.uri.path().to_string(),
        query: parse_query(&raw_query),
        raw_query,
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                // Header values may carry obs-text; keep what can be kept rather than refuse.
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).trim().to_string(),
                )
            })
            .collect(),
        body,
    };
    match handler(request).await {
        Reply::Send(resp) => Ok(to_hyper(resp)),
        Reply::Hang => {
            tokio::time::sleep(HANG_LIMIT).await;
            Err(Unanswered)
        }
        Reply::Reset => Err(Unanswered),
    }
}

/// An answer to a request the handler never sees; the connection is not reused, since the
/// rest of the request may still be on the wire.
fn refusal(status: u16, message: &str) -> hyper::Response<Full<Bytes>> {
    let mut r = Response::new(status)
        .header("Content-Type", "text/plain")
        .header("Connection", "close");
    r.body = message.as_bytes().to_vec();
    to_hyper(r)
}

fn to_hyper(resp: Response) -> hyper::Response<Full<Bytes>> {
    let mut out = hyper::Response::new(Full::new(Bytes::from(resp.body)));
    // Fault statuses come from tests; one HTTP cannot carry (outside 100-999) becomes a 500.
    *out.status_mut() = StatusCode::from_u16(resp.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in resp.headers {
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(value.as_bytes()),
        ) {
            (Ok(n), Ok(v)) => {
                out.headers_mut().append(n, v);
            }
            // E.g. an injected error code with a line break: sending it would split the head.
            _ => eprintln!("stand-in: header {name:?}: {value:?} is not valid HTTP; left out"),
        }
    }
    out
}

/// A server configuration for 127.0.0.1 / localhost with a freshly generated chain, and the CA
/// a client must trust. The provider is named explicitly (aws-lc-rs, which the workspace
/// already builds) so it does not depend on which rustls provider features happen to be on.
fn tls_config(name: &str) -> (ServerConfig, TlsMaterial) {
    let fail = |what: &str, e: &dyn std::fmt::Display| -> ! { panic!("{name}: TLS {what}: {e}") };
    // Validity from a day ago (clock skew) to 30 days ahead: short-lived certificates, which
    // every verifier accepts (some refuse leaf certificates valid for more than 825 days).
    let now = time::OffsetDateTime::now_utc();
    let (not_before, not_after) = (now - time::Duration::days(1), now + time::Duration::days(30));

    let ca_key = KeyPair::generate().unwrap_or_else(|e| fail("CA key", &e));
    let mut ca = CertificateParams::default();
    // A name of its own, so a client that trusts several stand-ins' CAs at once (one bundle
    // file) finds the right issuer instead of failing on the first one with the same name.
    let ca_name = format!("recipe-share stand-in CA {:08x}", fastrand::u32(..));
    ca.distinguished_name.push(DnType::CommonName, ca_name);
    // Path length 0: this CA can sign leaf certificates only.
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    (ca.not_before, ca.not_after) = (not_before, not_after);
    let ca = CertifiedIssuer::self_signed(ca, ca_key).unwrap_or_else(|e| fail("CA certificate", &e));

    let leaf_key = KeyPair::generate().unwrap_or_else(|e| fail("leaf key", &e));
    let mut leaf = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .unwrap_or_else(|e| fail("leaf names", &e));
    leaf.distinguished_name
        .push(DnType::CommonName, "recipe-share stand-in");
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.use_authority_key_identifier_extension = true;
    (leaf.not_before, leaf.not_after) = (not_before, not_after);
    let leaf_cert = leaf
        .signed_by(&leaf_key, &ca)
        .unwrap_or_else(|e| fail("leaf certificate", &e));

    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let mut config = ServerConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap_or_else(|e| fail("protocol versions", &e))
        .with_no_client_auth()
        .with_single_cert(vec![leaf_cert.der().clone()], key)
        .unwrap_or_else(|e| fail("server configuration", &e));
    // Only HTTP/1.1 is served; saying so stops a client from trying h2.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    (config, TlsMaterial { ca_pem: ca.pem() })
}
