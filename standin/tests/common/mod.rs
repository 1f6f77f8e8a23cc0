//! A tiny raw HTTP/1.1 client over `std::net::TcpStream` for the stand-in's tests: it lets a
//! test control exactly what goes on the wire (keep-alive, chunked bodies, unsigned requests)
//! and see exactly what comes back, which an SDK client would hide.

#![allow(dead_code)] // each test binary uses a different part of it

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::Value;

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

pub struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    /// Connects to `http://127.0.0.1:PORT` or `127.0.0.1:PORT`.
    pub fn connect(url: &str) -> Client {
        let addr = url.trim_start_matches("http://").trim_end_matches('/');
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        Client {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn set_read_timeout(&self, d: Duration) {
        self.stream.set_read_timeout(Some(d)).unwrap();
    }

    pub fn write(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// Sends a request with Content-Length (when there is a body) and the given extra headers.
    pub fn send(&mut self, method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) {
        let mut head = format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if !body.is_empty() || method == "PUT" || method == "POST" {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body);
        self.write(&bytes);
    }

    pub fn request(&mut self, method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
        self.send(method, target, headers, body);
        self.read_response().expect("response")
    }

    fn fill(&mut self) -> std::io::Result<usize> {
        let mut chunk = [0u8; 8192];
        let n = self.stream.read(&mut chunk)?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// Reads one response (Content-Length bodies only, which is all the stand-in sends).
    /// Err(UnexpectedEof) if the server closed the connection without answering.
    pub fn read_response(&mut self) -> std::io::Result<Resp> {
        let head_end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            if self.fill()? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status: u16 = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        let len: usize = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .map(|(_, v)| v.parse().expect("content-length"))
            .unwrap_or_else(|| panic!("no content-length in {head:?}"));
        let start = head_end + 4;
        while self.buf.len() < start + len {
            if self.fill()? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
        }
        let body = self.buf[start..start + len].to_vec();
        self.buf.drain(..start + len);
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

/// Percent-encodes a query value (enough for ARNs and tokens).
pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
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
