//! Clients for the stand-in's tests. [`Client`] is hyper's HTTP/1.1 client on one TCP (or TLS)
//! connection, so a test decides exactly which requests share a connection (keep-alive, a reset
//! or hung request) and sees every status and header an SDK would hide. [`RawClient`] writes
//! bytes as given, for the wire forms no real client produces (chunk extensions, trailers).

#![allow(dead_code)] // each test module uses a different part of it

use std::convert::Infallible;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::channel::Channel;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Frame, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::crypto::aws_lc_rs;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

/// A fake SigV4 header: the stand-in checks only the scheme.
pub const AUTH: &str =
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/ram/aws4_request, SignedHeaders=host, Signature=0";
pub const ACCOUNT: &str = "123456789012";

pub fn recipe(name: &str) -> String {
    format!("arn:aws:imagebuilder:us-east-1:{ACCOUNT}:image-recipe/{name}/1.0.0")
}

pub fn policy(recipe: &str, accounts: &[&str]) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"AWS": accounts},
            "Action": ["imagebuilder:GetImageRecipe", "imagebuilder:ListImageRecipes"],
            "Resource": recipe,
        }]
    })
    .to_string()
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    /// The error code of an AWS error answer.
    pub fn error_type(&self) -> Option<&str> {
        self.header("x-amzn-ErrorType")
    }
}

type Body = BoxBody<Bytes, Infallible>;

/// How long a response may take unless [`Client::set_read_timeout`] says otherwise.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// One HTTP/1.1 connection driven by hyper. It owns a one-worker runtime, so the connection
/// makes progress while the test thread waits on the stand-in (e.g. for a hung request to be
/// recorded) and the tests stay synchronous.
pub struct Client {
    // Declared first so it drops first: that ends the connection task before anything else.
    rt: Runtime,
    sender: SendRequest<Body>,
    pending: Option<JoinHandle<hyper::Result<hyper::Response<Incoming>>>>,
    timeout: Duration,
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("client runtime")
}

async fn handshake<S>(stream: S) -> hyper::Result<SendRequest<Body>>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    // The connection's own task; it ends when the server closes or the client is dropped.
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

impl Client {
    /// Connects to `http://127.0.0.1:PORT` or `127.0.0.1:PORT`.
    pub fn connect(url: &str) -> Client {
        let addr = url.trim_start_matches("http://").trim_end_matches('/').to_string();
        let rt = runtime();
        let sender = rt
            .block_on(async {
                let tcp = tokio::net::TcpStream::connect(&addr).await.expect("connect");
                tcp.set_nodelay(true).expect("nodelay");
                handshake(tcp).await
            })
            .expect("HTTP handshake");
        Client {
            rt,
            sender,
            pending: None,
            timeout: READ_TIMEOUT,
        }
    }

    /// Connects to `https://127.0.0.1:PORT`, checking the certificate against `roots` only and
    /// for the name `server_name`. Err if the TLS handshake fails (e.g. an untrusted chain).
    pub fn connect_tls(url: &str, server_name: &str, roots: RootCertStore) -> Result<Client, String> {
        let addr = url.trim_start_matches("https://").trim_end_matches('/').to_string();
        let mut config = ClientConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let connector = TlsConnector::from(Arc::new(config));
        let name = ServerName::try_from(server_name.to_string()).expect("server name");
        let rt = runtime();
        let sender = rt.block_on(async {
            let tcp = tokio::net::TcpStream::connect(&addr).await.expect("connect");
            let tls = connector.connect(name, tcp).await.map_err(|e| e.to_string())?;
            handshake(tls).await.map_err(|e| e.to_string())
        })?;
        Ok(Client {
            rt,
            sender,
            pending: None,
            timeout: READ_TIMEOUT,
        })
    }

    pub fn set_read_timeout(&mut self, d: Duration) {
        self.timeout = d;
    }

    fn build(method: &str, target: &str, headers: &[(&str, &str)], body: Body) -> hyper::Request<Body> {
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(target)
            .header("Host", "127.0.0.1");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.body(body).expect("request")
    }

    fn dispatch(&mut self, req: hyper::Request<Body>) {
        assert!(self.pending.is_none(), "send() twice without read_response()");
        // Waits for the previous exchange to finish; a closed connection shows up as the
        // error of the request itself.
        let _ = self
            .rt
            .block_on(async { tokio::time::timeout(READ_TIMEOUT, self.sender.ready()).await });
        let response = self.sender.send_request(req);
        self.pending = Some(self.rt.spawn(response));
    }

    /// Sends a request with the body (hyper adds its Content-Length) and the given extra
    /// headers; the answer is read by [`Client::read_response`].
    pub fn send(&mut self, method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) {
        let body = Full::new(Bytes::copy_from_slice(body)).boxed();
        self.dispatch(Client::build(method, target, headers, body));
    }

    /// Sends a request whose body has no known length, so hyper sends it chunked (one chunk per
    /// slice), as `lambda_runtime` may.
    pub fn send_chunked(&mut self, method: &str, target: &str, headers: &[(&str, &str)], chunks: &[&[u8]]) {
        let (mut tx, body) = Channel::<Bytes, Infallible>::new(chunks.len().max(1));
        for chunk in chunks {
            tx.try_send(Frame::data(Bytes::copy_from_slice(chunk)))
                .expect("the channel holds every chunk");
        }
        // Dropping the sender ends the body.
        drop(tx);
        self.dispatch(Client::build(method, target, headers, body.boxed()));
    }

    pub fn request(&mut self, method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
        self.send(method, target, headers, body);
        self.read_response().expect("response")
    }

    /// The answer to the request sent last. Err if the server closed the connection without
    /// answering, or nothing came within the read timeout.
    pub fn read_response(&mut self) -> std::io::Result<Resp> {
        let pending = self.pending.take().expect("read_response() without send()");
        let timeout = self.timeout;
        let io_err = |kind: std::io::ErrorKind, e: String| std::io::Error::new(kind, e);
        self.rt.block_on(async move {
            let resp = tokio::time::timeout(timeout, pending)
                .await
                .map_err(|_| io_err(std::io::ErrorKind::TimedOut, "no response".into()))?
                .expect("request task")
                .map_err(|e| io_err(std::io::ErrorKind::UnexpectedEof, e.to_string()))?;
            let (parts, body) = resp.into_parts();
            let body = tokio::time::timeout(timeout, body.collect())
                .await
                .map_err(|_| io_err(std::io::ErrorKind::TimedOut, "body timed out".into()))?
                .map_err(|e| io_err(std::io::ErrorKind::UnexpectedEof, e.to_string()))?
                .to_bytes()
                .to_vec();
            let headers = parts
                .headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect();
            Ok(Resp {
                status: parts.status.as_u16(),
                headers,
                body,
            })
        })
    }
}

/// A raw HTTP/1.1 connection over `std::net::TcpStream`: requests go out byte for byte as the
/// test wrote them; responses are parsed with `httparse` (Content-Length bodies only, which is
/// all the stand-in sends).
pub struct RawClient {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl RawClient {
    /// Connects to `http://127.0.0.1:PORT` or `127.0.0.1:PORT`.
    pub fn connect(url: &str) -> RawClient {
        let addr = url.trim_start_matches("http://").trim_end_matches('/');
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        RawClient {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn write(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// Writes a request with a Content-Length and reads its answer.
    pub fn request(&mut self, method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
        let mut head = format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body);
        self.write(&bytes);
        self.read_response().expect("response")
    }

    /// Everything the server sends until it closes (or resets) the connection. Panics if it
    /// keeps the connection open past the read timeout.
    pub fn read_until_closed(&mut self) -> Vec<u8> {
        let mut rest = std::mem::take(&mut self.buf);
        match self.stream.read_to_end(&mut rest) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("connection still open ({e}) after {rest:?}"),
        }
        rest
    }

    fn fill(&mut self) -> std::io::Result<usize> {
        let mut chunk = [0u8; 8192];
        let n = self.stream.read(&mut chunk)?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// Reads one response. Err(UnexpectedEof) if the server closed the connection first.
    pub fn read_response(&mut self) -> std::io::Result<Resp> {
        // Bounded by the read timeout: each iteration parses or reads more bytes.
        let (head_len, status, headers) = loop {
            let mut fields = [httparse::EMPTY_HEADER; 64];
            let mut parsed = httparse::Response::new(&mut fields);
            match parsed.parse(&self.buf) {
                Ok(httparse::Status::Complete(n)) => {
                    let headers: Vec<(String, String)> = parsed
                        .headers
                        .iter()
                        .map(|h| (h.name.to_string(), String::from_utf8_lossy(h.value).into_owned()))
                        .collect();
                    break (n, parsed.code.unwrap_or_default(), headers);
                }
                Ok(httparse::Status::Partial) => {
                    if self.fill()? == 0 {
                        return Err(std::io::ErrorKind::UnexpectedEof.into());
                    }
                }
                Err(e) => return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
            }
        };
        if (100..200).contains(&status) {
            // An interim response (`100 Continue`) has no body.
            self.buf.drain(..head_len);
            return Ok(Resp {
                status,
                headers,
                body: Vec::new(),
            });
        }
        let len: usize = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .map(|(_, v)| v.parse().expect("content-length"))
            .unwrap_or_else(|| panic!("no content-length in {headers:?}"));
        while self.buf.len() < head_len + len {
            if self.fill()? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
        }
        let body = self.buf[head_len..head_len + len].to_vec();
        self.buf.drain(..head_len + len);
        Ok(Resp { status, headers, body })
    }
}

/// One signed AWS call on a fresh connection: JSON body for POST/PUT, none otherwise.
pub fn aws(url: &str, method: &str, target: &str, body: Option<&Value>) -> Resp {
    let mut c = Client::connect(url);
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    c.request(
        method,
        target,
        &[("Authorization", AUTH), ("Content-Type", "application/json")],
        body.as_bytes(),
    )
}

/// A RAM POST operation.
pub fn ram(url: &str, path: &str, body: Value) -> Resp {
    aws(url, "POST", path, Some(&body))
}

/// What [`enc`] leaves as is: RFC 3986's unreserved characters.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// Percent-encodes a query value (enough for ARNs and tokens).
pub fn enc(s: &str) -> String {
    utf8_percent_encode(s, UNRESERVED).to_string()
}

pub fn put_policy(url: &str, recipe: &str, policy: &str) -> Resp {
    aws(
        url,
        "PUT",
        "/PutImageRecipePolicy",
        Some(&serde_json::json!({"imageRecipeArn": recipe, "policy": policy})),
    )
}

pub fn get_policy(url: &str, recipe: &str) -> Resp {
    aws(
        url,
        "GET",
        &format!("/GetImageRecipePolicy?imageRecipeArn={}", enc(recipe)),
        None,
    )
}

/// All items of a paginated RAM listing, following nextToken (bounded).
pub fn list_all(url: &str, path: &str, key: &str, mut body: Value) -> Vec<Value> {
    let mut out = Vec::new();
    for _ in 0..100 {
        let r = ram(url, path, body.clone());
        assert_eq!(r.status, 200, "{path}: {:?}", String::from_utf8_lossy(&r.body));
        let v = r.json();
        out.extend(v[key].as_array().expect(key).iter().cloned());
        match v.get("nextToken") {
            Some(t) => body["nextToken"] = t.clone(),
            None => return out,
        }
    }
    panic!("{path}: more than 100 pages");
}
