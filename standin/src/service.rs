//! The request pipeline of the AWS stand-in: route by method + path, record the call, take a
//! token from the operation's rate-limit bucket, apply injected latency and faults, check that
//! the request is signed, merge query and body into the
//! operation's input, run it on the model, and answer in restJson1 (JSON body,
//! `x-amzn-RequestId`, errors as `x-amzn-ErrorType` + `{"message"}` with the model's status).
//! `PUT /cfn-response/...` is the CloudFormation response URL and is recorded separately.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use crate::http::{Reply, Request, Response};
use crate::model::State;
use crate::ratelimit::TokenBucket;
use crate::routes::{find_route, status_of};
use crate::util::Rng;
use crate::{Call, CfnResponse, Fault, Options};

/// Path prefix of the CloudFormation response URL.
pub(crate) const CFN_PREFIX: &str = "/cfn-response/";
/// Operation name under which CloudFormation response PUTs are recorded and faulted.
pub(crate) const CFN_OP: &str = "CfnResponse";
/// Operation name recorded for requests that match no route.
pub(crate) const UNKNOWN_OP: &str = "UnknownOperation";

pub(crate) struct Shared {
    pub opts: Options,
    pub inner: Mutex<Inner>,
    /// Signalled whenever a CloudFormation response is recorded.
    pub responses_changed: Condvar,
}

pub(crate) struct Inner {
    pub state: State,
    /// Every call while `recording` is on.
    pub calls: Vec<Call>,
    /// Whether `calls` stores each call; `call_counts` counts them either way.
    pub recording: bool,
    /// Calls per operation name (including `CfnResponse` and `UnknownOperation`).
    pub call_counts: HashMap<&'static str, usize>,
    pub responses: Vec<CfnResponse>,
    pub faults: HashMap<String, VecDeque<Fault>>,
    pub latency: HashMap<String, Duration>,
    /// One token bucket per operation, created full on the operation's first call.
    pub buckets: HashMap<&'static str, TokenBucket>,
    /// Calls answered with a throttling error by the rate limit (not by injected faults).
    pub throttled: HashMap<&'static str, usize>,
    pub rng: Rng,
}

impl Shared {
    pub(crate) fn new(opts: Options) -> Shared {
        Shared {
            inner: Mutex::new(Inner {
                state: State::new(opts.clone()),
                calls: Vec::new(),
                recording: true,
                call_counts: HashMap::new(),
                responses: Vec::new(),
                faults: HashMap::new(),
                latency: HashMap::new(),
                buckets: HashMap::new(),
                throttled: HashMap::new(),
                rng: Rng::new(),
            }),
            opts,
            responses_changed: Condvar::new(),
        }
    }

    /// Locks the state; a panic in another thread while holding the lock (a test assertion in
    /// a helper, say) must not make every later request fail too.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Inner {
    /// Counts a call of `op` and, while recording, stores it.
    fn record(&mut self, op: &'static str, call: impl FnOnce() -> Call) {
        *self.call_counts.entry(op).or_default() += 1;
        if self.recording {
            self.calls.push(call());
        }
    }

    /// Whether the rate limit admits a call of `op` arriving `now`; a refused call is counted
    /// in `throttled`.
    fn admit(&mut self, op: &'static str, limit: Option<crate::RateLimit>, now: Instant) -> bool {
        let Some(limit) = limit else { return true };
        let bucket = self.buckets.entry(op).or_insert_with(|| TokenBucket::new(limit, now));
        let ok = bucket.try_take(limit, now);
        if !ok {
            *self.throttled.entry(op).or_default() += 1;
        }
        ok
    }

    /// The permanent latency of `op` and the next queued fault, consuming one of its `times`.
    fn take_fault(&mut self, op: &str) -> (Duration, Option<Fault>) {
        let latency = self.latency.get(op).copied().unwrap_or_default();
        let Some(queue) = self.faults.get_mut(op) else {
            return (latency, None);
        };
        // Bounded by the queue length: each iteration pops or returns.
        for _ in 0..=queue.len() {
            let Some(front) = queue.front_mut() else { break };
            let times = match front {
                Fault::Throttle { times }
                | Fault::ServerError { times, .. }
                | Fault::Error { times, .. }
                | Fault::Hang { times }
                | Fault::Reset { times } => times,
                // Latency is stored separately by StandIn::fault; never queued.
                Fault::Latency(_) => {
                    queue.pop_front();
                    continue;
                }
            };
            if *times == 0 {
                queue.pop_front();
                continue;
            }
            *times -= 1;
            let last = *times == 0;
            let fault = front.clone();
            if last {
                queue.pop_front();
            }
            return (latency, Some(fault));
        }
        (latency, None)
    }
}

fn body_value(body: &[u8]) -> Value {
    if body.is_empty() {
        Value::Null
    } else {
        // A body that is not JSON is kept as text so tests can still see what was sent.
        serde_json::from_slice(body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
    }
}

fn aws_error(service: &str, code: &str, message: &str, request_id: &str) -> Reply {
    error_with_status(status_of(service, code), code, message, request_id)
}

fn error_with_status(status: u16, code: &str, message: &str, request_id: &str) -> Reply {
    Reply::Send(
        Response::json(status, &json!({ "message": message }))
            .header("x-amzn-RequestId", request_id)
            .header("x-amzn-ErrorType", code),
    )
}

/// The reply for an injected fault on an AWS operation of `service`.
fn fault_reply(service: &str, fault: Fault, request_id: &str) -> Reply {
    let ib = service == "imagebuilder";
    match fault {
        Fault::Throttle { .. } => {
            let code = if ib {
                "CallRateLimitExceededException"
            } else {
                "ThrottlingException"
            };
            aws_error(service, code, "Rate exceeded (injected fault)", request_id)
        }
        Fault::ServerError { status: 503, .. } => aws_error(
            service,
            "ServiceUnavailableException",
            "Service unavailable (injected fault)",
            request_id,
        ),
        Fault::ServerError { status: 500, .. } => {
            let code = if ib {
                "ServiceException"
            } else {
                "ServerInternalException"
            };
            aws_error(service, code, "Internal error (injected fault)", request_id)
        }
        // Any other status (502, 504, ...) is what a load balancer would send: no error shape.
        Fault::ServerError { status, .. } => Reply::Send(Response::new(status).header("x-amzn-RequestId", request_id)),
        Fault::Error {
            status, code, message, ..
        } => error_with_status(status, &code, &message, request_id),
        Fault::Hang { .. } => Reply::Hang,
        Fault::Reset { .. } => Reply::Reset,
        Fault::Latency(_) => unreachable!("latency is never queued"),
    }
}

fn signed(req: &Request) -> bool {
    req.header("authorization")
        .is_some_and(|v| v.starts_with("AWS4-HMAC-SHA256"))
}

/// Handles one request to the AWS stand-in.
pub(crate) async fn handle(sh: Arc<Shared>, req: Request) -> Reply {
    let request_id = sh.lock().rng.uuid();
    if req.path.starts_with(CFN_PREFIX) || req.path == CFN_PREFIX.trim_end_matches('/') {
        return cfn_response(&sh, req, &request_id).await;
    }
    if is_lambda_invoke(&req) {
        return lambda_invoke(&sh, req, &request_id).await;
    }
    if is_sts(&req) {
        return sts(&sh, req, &request_id).await;
    }
    let found = find_route(&req.method, &req.path);
    let op = found.as_ref().map(|(r, _)| r.op).unwrap_or(UNKNOWN_OP);
    let body = body_value(&req.body);
    sh.lock().record(op, || Call {
        op: op.to_string(),
        method: req.method.clone(),
        path: req.path.clone(),
        query: req.query.clone(),
        body: body.clone(),
        headers: req.headers.clone(),
    });
    let Some((route, labels)) = found else {
        return aws_error(
            "*",
            "UnknownOperationException",
            &format!("No operation matches {} {}", req.method, req.path),
            &request_id,
        );
    };
    // The rate limit is the front door: checked on arrival, before faults and the signature. A
    // throttled call still gets the operation's latency but consumes no queued fault.
    let (latency, fault, admitted) = {
        let mut inner = sh.lock();
        if inner.admit(route.op, sh.opts.rate_limit, Instant::now()) {
            let (latency, fault) = inner.take_fault(op);
            (latency, fault, true)
        } else {
            (inner.latency.get(op).copied().unwrap_or_default(), None, false)
        }
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if !admitted {
        let code = if route.service == "imagebuilder" {
            "CallRateLimitExceededException"
        } else {
            "ThrottlingException"
        };
        return aws_error(route.service, code, "Rate exceeded", &request_id);
    }
    if let Some(fault) = fault {
        return fault_reply(route.service, fault, &request_id);
    }
    if !signed(&req) {
        let code = if route.service == "imagebuilder" {
            "ForbiddenException"
        } else {
            "MissingAuthenticationTokenException"
        };
        return aws_error(
            route.service,
            code,
            "Missing or invalid Authorization header: requests must be signed with AWS4-HMAC-SHA256",
            &request_id,
        );
    }
    // Routes with query members take no body members (true of every route served).
    let mut input = Map::new();
    if route.query.is_empty() {
        match body {
            Value::Null => {}
            Value::Object(m) => input = m,
            other => {
                let code = if route.service == "imagebuilder" {
                    "InvalidRequestException"
                } else {
                    "InvalidParameterException"
                };
                return aws_error(
                    route.service,
                    code,
                    &format!("The request body must be a JSON object, got {other}"),
                    &request_id,
                );
            }
        }
    }
    for (member, value) in labels {
        input.insert(member.to_string(), Value::String(value));
    }
    for member in route.query {
        if let Some((_, v)) = req.query.iter().find(|(k, _)| k == member) {
            input.insert(member.to_string(), Value::String(v.clone()));
        }
    }
    let input = Value::Object(input);
    let result = sh
        .lock()
        .state
        .call(route.service, op, &input, &request_id, Instant::now());
    match result {
        Ok(out) => Reply::Send(Response::json(200, &out).header("x-amzn-RequestId", &request_id)),
        Err(e) => aws_error(route.service, e.code, &e.message, &request_id),
    }
}

/// `PUT /cfn-response/...`: what CloudFormation's pre-signed S3 URL would receive.
async fn cfn_response(sh: &Shared, req: Request, request_id: &str) -> Reply {
    sh.lock().record(CFN_OP, || Call {
        op: CFN_OP.to_string(),
        method: req.method.clone(),
        path: req.path.clone(),
        query: req.query.clone(),
        body: body_value(&req.body),
        headers: req.headers.clone(),
    });
    if req.method != "PUT" {
        // Checked before faults so a stray GET does not consume a fault meant for the PUT.
        return Reply::Send(
            Response::new(405)
                .header("Allow", "PUT")
                .header("x-amz-request-id", request_id),
        );
    }
    let (latency, fault) = sh.lock().take_fault(CFN_OP);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let ok = || Response::new(200).header("x-amz-request-id", request_id);
    let (reply, status_sent) = match fault {
        None => (Reply::Send(ok()), 200),
        Some(Fault::Throttle { .. }) => (Reply::Send(Response::new(429)), 429),
        Some(Fault::ServerError { status, .. }) => (Reply::Send(Response::new(status)), status),
        Some(Fault::Error {
            status, code, message, ..
        }) => {
            // S3's error format, since the response URL is an S3 pre-signed URL.
            let mut r = Response::new(status).header("Content-Type", "application/xml");
            r.body = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>{request_id}</RequestId></Error>"
            )
            .into_bytes();
            (Reply::Send(r), status)
        }
        Some(Fault::Hang { .. }) => (Reply::Hang, 0),
        Some(Fault::Reset { .. }) => (Reply::Reset, 0),
        Some(Fault::Latency(_)) => (Reply::Send(ok()), 200),
    };
    let response = CfnResponse {
        path: req.path.clone(),
        query: req.raw_query.clone(),
        content_type: req.header("content-type").map(str::to_string),
        content_length: req.header("content-length").and_then(|v| v.parse().ok()),
        json: serde_json::from_slice(&req.body).ok(),
        body: req.body,
        status_sent,
    };
    sh.lock().responses.push(response);
    sh.responses_changed.notify_all();
    reply
}

/// Operation name under which Lambda `Invoke` calls (a sweep handing on to itself) are recorded.
pub(crate) const INVOKE_OP: &str = "Invoke";

/// Lambda's `Invoke`: `POST /2015-03-31/functions/{FunctionName}/invocations` (botocore `lambda`
/// model). Its path carries the function name, so it is matched here rather than in the fixed
/// route table.
fn is_lambda_invoke(req: &Request) -> bool {
    req.method == "POST"
        && req
            .path
            .strip_prefix("/2015-03-31/functions/")
            .and_then(|rest| rest.strip_suffix("/invocations"))
            .is_some_and(|name| !name.is_empty() && !name.contains('/'))
}

/// Records an asynchronous invocation (`X-Amz-Invocation-Type: Event`) and answers 202 as Lambda
/// does; the tests run the recorded payloads themselves. Other invocation types are refused: the
/// stand-in cannot run a function synchronously.
async fn lambda_invoke(sh: &Arc<Shared>, req: Request, request_id: &str) -> Reply {
    let body = body_value(&req.body);
    let (latency, fault) = {
        let mut inner = sh.lock();
        inner.record(INVOKE_OP, || Call {
            op: INVOKE_OP.to_string(),
            method: req.method.clone(),
            path: req.path.clone(),
            query: req.query.clone(),
            body: body.clone(),
            headers: req.headers.clone(),
        });
        inner.take_fault(INVOKE_OP)
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if let Some(fault) = fault {
        return fault_reply("lambda", fault, request_id);
    }
    if !signed(&req) {
        return error_with_status(403, "AccessDeniedException", "Missing Authentication Token", request_id);
    }
    if !req
        .header("x-amz-invocation-type")
        .is_some_and(|t| t.eq_ignore_ascii_case("Event"))
    {
        return error_with_status(
            400,
            "InvalidRequestContentException",
            "the stand-in only accepts asynchronous (Event) invocations",
            request_id,
        );
    }
    Reply::Send(Response::new(202).header("x-amzn-RequestId", request_id))
}

/// Operation name under which STS `GetCallerIdentity` calls are recorded and faulted.
pub(crate) const STS_OP: &str = "GetCallerIdentity";

/// STS speaks awsQuery: `POST /` with a form body naming the action (botocore `sts` model).
fn is_sts(req: &Request) -> bool {
    req.method == "POST"
        && req.path == "/"
        && crate::util::parse_query(&String::from_utf8_lossy(&req.body))
            .iter()
            .any(|(k, v)| k == "Action" && v == "GetCallerIdentity")
}

/// `GetCallerIdentity`: the modeled account, as an IAM user of it, in STS's XML (the SDK requires
/// `GetCallerIdentityResult` as the first child and reads the request id from the header).
async fn sts(sh: &Arc<Shared>, req: Request, request_id: &str) -> Reply {
    let (latency, fault) = {
        let mut inner = sh.lock();
        inner.record(STS_OP, || Call {
            op: STS_OP.to_string(),
            method: req.method.clone(),
            path: req.path.clone(),
            query: req.query.clone(),
            body: Value::String(String::from_utf8_lossy(&req.body).into_owned()),
            headers: req.headers.clone(),
        });
        inner.take_fault(STS_OP)
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if let Some(fault) = fault {
        return fault_reply("sts", fault, request_id);
    }
    if !signed(&req) {
        return error_with_status(
            403,
            "MissingAuthenticationToken",
            "Missing Authentication Token",
            request_id,
        );
    }
    let o = &sh.opts;
    let body = format!(
        "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><GetCallerIdentityResult><Arn>arn:{}:iam::{}:user/recipe-share-local</Arn><UserId>AIDALOCALSTANDIN</UserId><Account>{}</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></GetCallerIdentityResponse>",
        o.partition, o.account, o.account
    );
    let mut r = Response::new(200)
        .header("Content-Type", "text/xml")
        .header("x-amzn-RequestId", request_id);
    r.body = body.into_bytes();
    Reply::Send(r)
}
