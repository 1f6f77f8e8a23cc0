//! A Lambda Runtime API emulator, so the real `bootstrap` binary (built on `lambda_runtime`)
//! can be run end to end in tests: set `AWS_LAMBDA_RUNTIME_API` to [`RuntimeApi::addr`], queue
//! events with [`RuntimeApi::invoke`], and read what the function posted back with
//! [`RuntimeApi::wait_result`]. Serves the 2018-06-01 API: `GET /runtime/invocation/next`
//! (long poll), `POST /runtime/invocation/{id}/response`, `POST /runtime/invocation/{id}/error`
//! and `POST /runtime/init/error`, on the same minimal HTTP server as the AWS stand-in (which
//! accepts the chunked bodies `lambda_runtime` may send).

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use serde_json::json;
use tokio::sync::Notify;

use crate::http::{Handler, Reply, Request, Response, ServerHandle, spawn_server};
use crate::util::{Rng, epoch_millis};

const PREFIX: &str = "/2018-06-01/runtime";
/// A `GET /next` with nothing queued is held at most this long, then the connection is closed
/// (the real service waits forever; tests never need that long).
const NEXT_LIMIT: Duration = Duration::from_secs(600);

/// How an invocation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvocationKind {
    /// `POST .../invocation/{id}/response`
    Response,
    /// `POST .../invocation/{id}/error` (or `/runtime/init/error`)
    Error,
}

/// What the function posted for one invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub kind: InvocationKind,
    pub body: Vec<u8>,
    /// The `Lambda-Runtime-Function-Error-Type` header, if sent.
    pub error_type: Option<String>,
}

impl Invocation {
    /// The body parsed as JSON, if it is JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

struct Pending {
    id: String,
    payload: Vec<u8>,
    deadline_ms: u128,
    function_arn: String,
    trace_id: String,
}

#[derive(Default)]
struct Inner {
    queue: VecDeque<Pending>,
    issued: HashSet<String>,
    /// Every result posted, in order (a second post for one id is recorded too).
    results: Vec<(String, Invocation)>,
    init_errors: Vec<Invocation>,
    polls: usize,
}

struct Shared {
    inner: Mutex<Inner>,
    /// Signalled on every result and every poll (for the blocking std waits).
    changed: Condvar,
    /// Wakes a pending `GET /next` when an invocation is queued.
    queued: Notify,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits (std, bounded) until `done` holds; returns whether it did.
    fn wait_until(&self, timeout: Duration, mut done: impl FnMut(&Inner) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut inner = self.lock();
        while !done(&inner) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            inner = self
                .changed
                .wait_timeout(inner, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }
}

/// A running Runtime API emulator; dropping it stops the server.
pub struct RuntimeApi {
    shared: Arc<Shared>,
    rng: Mutex<Rng>,
    server: ServerHandle,
}

impl RuntimeApi {
    /// Starts on an ephemeral port of 127.0.0.1.
    pub fn start() -> RuntimeApi {
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner::default()),
            changed: Condvar::new(),
            queued: Notify::new(),
        });
        let for_server = shared.clone();
        let handler: Handler = Arc::new(move |req| {
            let sh = for_server.clone();
            Box::pin(handle(sh, req))
        });
        let server = spawn_server("lambda-runtime-api", 0, handler);
        RuntimeApi {
            shared,
            rng: Mutex::new(Rng::new()),
            server,
        }
    }

    /// `127.0.0.1:PORT`, the value for `AWS_LAMBDA_RUNTIME_API`.
    pub fn addr(&self) -> String {
        self.server.addr().to_string()
    }

    /// Queues an invocation with `payload`, due `deadline` from now; returns its request id.
    pub fn invoke(&self, payload: &serde_json::Value, deadline: Duration, function_arn: &str) -> String {
        self.invoke_with_deadline_ms(payload, epoch_millis(SystemTime::now() + deadline), function_arn)
    }

    /// Like [`RuntimeApi::invoke`], with the `Lambda-Runtime-Deadline-Ms` value as given (local
    /// emulators send constants: `cargo lambda watch` 1.9 sends 600000, a deadline in 1970).
    pub fn invoke_with_deadline_ms(
        &self,
        payload: &serde_json::Value,
        deadline_ms: u128,
        function_arn: &str,
    ) -> String {
        let (id, trace_id) = {
            let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
            let trace = format!("Root=1-{}-{};Parent={};Sampled=0", rng.hex(8), rng.hex(24), rng.hex(16));
            (rng.uuid(), trace)
        };
        let pending = Pending {
            id: id.clone(),
            payload: serde_json::to_vec(payload).unwrap_or_default(),
            deadline_ms,
            function_arn: function_arn.to_string(),
            trace_id,
        };
        {
            let mut inner = self.shared.lock();
            inner.issued.insert(id.clone());
            inner.queue.push_back(pending);
        }
        // notify_one stores a permit if no poll is waiting yet, so the wake-up is never lost.
        self.shared.queued.notify_one();
        id
    }

    /// The first result posted for `request_id`, waiting up to `timeout` for it.
    pub fn wait_result(&self, request_id: &str, timeout: Duration) -> Option<Invocation> {
        let find = |inner: &Inner| {
            inner
                .results
                .iter()
                .find(|(id, _)| id == request_id)
                .map(|(_, inv)| inv.clone())
        };
        self.shared.wait_until(timeout, |inner| find(inner).is_some());
        find(&self.shared.lock())
    }

    /// Every result posted so far, in order, with its request id (duplicates included).
    pub fn results(&self) -> Vec<(String, Invocation)> {
        self.shared.lock().results.clone()
    }

    /// Every `POST /runtime/init/error` received.
    pub fn init_errors(&self) -> Vec<Invocation> {
        self.shared.lock().init_errors.clone()
    }

    /// How many `GET .../invocation/next` were received.
    pub fn next_polls(&self) -> usize {
        self.shared.lock().polls
    }

    /// Waits until at least `n` polls were received; false on timeout.
    pub fn wait_next_polls(&self, n: usize, timeout: Duration) -> bool {
        self.shared.wait_until(timeout, |inner| inner.polls >= n)
    }
}

fn json_reply(status: u16, value: &serde_json::Value) -> Reply {
    Reply::Send(Response::json(status, value))
}

async fn handle(sh: Arc<Shared>, req: Request) -> Reply {
    let Some(rest) = req.path.strip_prefix(PREFIX) else {
        return not_found(&req);
    };
    match (req.method.as_str(), rest) {
        ("GET", "/invocation/next") => next(&sh).await,
        ("POST", "/init/error") => {
            sh.lock().init_errors.push(Invocation {
                kind: InvocationKind::Error,
                body: req.body.clone(),
                error_type: req.header("lambda-runtime-function-error-type").map(str::to_string),
            });
            sh.changed.notify_all();
            json_reply(202, &json!({"status": "OK"}))
        }
        ("POST", path) => {
            let Some(path) = path.strip_prefix("/invocation/") else {
                return not_found(&req);
            };
            let (id, kind) = match path.rsplit_once('/') {
                Some((id, "response")) => (id, InvocationKind::Response),
                Some((id, "error")) => (id, InvocationKind::Error),
                _ => return not_found(&req),
            };
            let mut inner = sh.lock();
            if !inner.issued.contains(id) {
                return json_reply(
                    400,
                    &json!({"errorMessage": format!("Invalid request ID: {id}"), "errorType": "InvalidRequestID"}),
                );
            }
            inner.results.push((
                id.to_string(),
                Invocation {
                    kind,
                    body: req.body.clone(),
                    error_type: req.header("lambda-runtime-function-error-type").map(str::to_string),
                },
            ));
            drop(inner);
            sh.changed.notify_all();
            json_reply(202, &json!({"status": "OK"}))
        }
        _ => not_found(&req),
    }
}

fn not_found(req: &Request) -> Reply {
    json_reply(
        404,
        &json!({"errorMessage": format!("No route {} {}", req.method, req.path), "errorType": "NotFound"}),
    )
}

/// The long poll: answers the next queued invocation, waiting for one if needed.
async fn next(sh: &Shared) -> Reply {
    sh.lock().polls += 1;
    sh.changed.notify_all();
    let deadline = tokio::time::Instant::now() + NEXT_LIMIT;
    // Bounded by NEXT_LIMIT: each iteration either answers or waits for a wake-up or the end.
    loop {
        if let Some(p) = sh.lock().queue.pop_front() {
            let mut resp = Response::new(200)
                .header("Content-Type", "application/json")
                .header("Lambda-Runtime-Aws-Request-Id", &p.id)
                .header("Lambda-Runtime-Deadline-Ms", &p.deadline_ms.to_string())
                .header("Lambda-Runtime-Invoked-Function-Arn", &p.function_arn)
                .header("Lambda-Runtime-Trace-Id", &p.trace_id);
            resp.body = p.payload;
            return Reply::Send(resp);
        }
        if tokio::time::timeout_at(deadline, sh.queued.notified()).await.is_err() {
            return Reply::Reset;
        }
    }
}
