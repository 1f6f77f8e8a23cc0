//! The Lambda Runtime API emulator with an HTTP client on one connection: the long poll for the
//! next invocation, its headers, and posting a response (chunked, as `lambda_runtime` may) and
//! an error.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::common::Client;
use recipe_share_standin::runtime_api::{InvocationKind, RuntimeApi};
use serde_json::json;

const ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:recipe-share";

#[test]
fn next_then_response() {
    let api = RuntimeApi::start();
    let id = api.invoke(&json!({"hello": "world"}), Duration::from_secs(30), ARN);
    let mut c = Client::connect(&api.addr());
    let next = c.request("GET", "/2018-06-01/runtime/invocation/next", &[], b"");
    assert_eq!(next.status, 200);
    assert_eq!(next.json(), json!({"hello": "world"}));
    assert_eq!(next.header("Lambda-Runtime-Aws-Request-Id"), Some(id.as_str()));
    assert_eq!(next.header("Lambda-Runtime-Invoked-Function-Arn"), Some(ARN));
    assert!(next.header("Lambda-Runtime-Trace-Id").unwrap().starts_with("Root=1-"));
    let deadline: u128 = next.header("Lambda-Runtime-Deadline-Ms").unwrap().parse().unwrap();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis();
    assert!(deadline > now + 25_000 && deadline <= now + 30_000);
    assert_eq!(api.next_polls(), 1);

    // Chunked response body on the same (keep-alive) connection.
    let body = r#"{"ok":true}"#;
    c.send_chunked(
        "POST",
        &format!("/2018-06-01/runtime/invocation/{id}/response"),
        &[],
        &[body.as_bytes()],
    );
    assert_eq!(c.read_response().unwrap().status, 202);
    let result = api.wait_result(&id, Duration::from_secs(2)).expect("result");
    assert_eq!(result.kind, InvocationKind::Response);
    assert_eq!(result.json(), Some(json!({"ok": true})));
    assert_eq!(result.error_type, None);

    let bad = c.request("POST", "/2018-06-01/runtime/invocation/nope/response", &[], b"{}");
    assert_eq!(bad.status, 400);
}

#[test]
fn next_waits_for_an_invocation_and_errors_are_recorded() {
    let api = RuntimeApi::start();
    let addr = api.addr();
    let poller = std::thread::spawn(move || {
        let mut c = Client::connect(&addr);
        let next = c.request("GET", "/2018-06-01/runtime/invocation/next", &[], b"");
        let id = next.header("Lambda-Runtime-Aws-Request-Id").unwrap().to_string();
        let err = c.request(
            "POST",
            &format!("/2018-06-01/runtime/invocation/{id}/error"),
            &[("Lambda-Runtime-Function-Error-Type", "Runtime.Boom")],
            br#"{"errorType":"Boom","errorMessage":"x"}"#,
        );
        assert_eq!(err.status, 202);
        id
    });
    assert!(api.wait_next_polls(1, Duration::from_secs(2)));
    assert_eq!(api.wait_result("none", Duration::from_millis(20)), None);
    let id = api.invoke(&json!({}), Duration::from_secs(5), ARN);
    assert_eq!(poller.join().unwrap(), id);
    let result = api.wait_result(&id, Duration::from_secs(2)).expect("result");
    assert_eq!(result.kind, InvocationKind::Error);
    assert_eq!(result.error_type.as_deref(), Some("Runtime.Boom"));

    let mut c = Client::connect(&api.addr());
    let init = c.request("POST", "/2018-06-01/runtime/init/error", &[], b"{}");
    assert_eq!(init.status, 202);
    assert_eq!(api.init_errors().len(), 1);
    assert_eq!(api.results().len(), 1);
}
