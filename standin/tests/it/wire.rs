//! Wire-level tests of the stand-in with an HTTP client that controls its one connection (and raw
//! bytes where no real client would send them): keep-alive, chunked bodies, `100 Continue` and
//! the body limit, the restJson1 error format, pagination with empty pages, and every kind of
//! injected fault, including that a reset sends nothing and a hung request is released when
//! the stand-in is dropped.

use std::time::{Duration, Instant};

use crate::common::*;
use recipe_share_standin::{Fault, Options, StandIn};
use serde_json::json;

#[test]
fn keep_alive_serves_two_requests_on_one_connection() {
    let s = StandIn::start(Options::default());
    let r = recipe("keep");
    s.add_recipe(&r);
    let mut c = Client::connect(&s.url());
    let auth = [("Authorization", AUTH)];
    let target = format!("/GetImageRecipe?imageRecipeArn={}", enc(&r));
    let first = c.request("GET", &target, &auth, b"");
    assert_eq!(first.status, 200);
    assert_eq!(first.header("content-type"), Some("application/json"));
    assert!(first.header("x-amzn-RequestId").is_some_and(|v| v.len() == 36));
    assert_eq!(first.json()["imageRecipe"]["arn"], r.as_str());
    assert_eq!(first.json()["imageRecipe"]["version"], "1.0.0");
    let second = c.request("POST", "/listpermissions", &auth, b"{}");
    assert_eq!(second.status, 200);
    assert_eq!(
        second.json()["permissions"][0]["name"],
        "AWSRAMDefaultPermissionImageBuilderImageRecipe"
    );
    assert_ne!(first.header("x-amzn-RequestId"), second.header("x-amzn-RequestId"));
    assert_eq!(s.call_count("GetImageRecipe"), 1);
    assert_eq!(s.call_count("ListPermissions"), 1);
    // Query members arrive decoded in the recorded call.
    assert_eq!(s.calls()[0].query_param("imageRecipeArn"), Some(r.as_str()));
}

#[test]
fn chunked_request_body_is_decoded() {
    let s = StandIn::start(Options::default());
    // Raw bytes: no real client sends chunk extensions or trailers, but HTTP/1.1 allows both.
    let mut c = RawClient::connect(&s.url());
    let body = json!({"resourceType": "imagebuilder:ImageRecipe", "permissionType": "AWS_MANAGED"}).to_string();
    let (a, b) = body.split_at(10);
    let wire = format!(
        "POST /listpermissions HTTP/1.1\r\nHost: x\r\nAuthorization: {AUTH}\r\nTransfer-Encoding: chunked\r\n\r\n{:x};ext=1\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\nx-trailer: y\r\n\r\n",
        a.len(),
        b.len()
    );
    c.write(wire.as_bytes());
    let resp = c.read_response().unwrap();
    assert_eq!(resp.status, 200, "{:?}", String::from_utf8_lossy(&resp.body));
    assert_eq!(resp.json()["permissions"].as_array().unwrap().len(), 1);
    assert_eq!(s.calls()[0].body["permissionType"], "AWS_MANAGED");
    // The connection is still usable afterwards.
    let again = c.request("POST", "/listpermissions", &[("Authorization", AUTH)], b"{}");
    assert_eq!(again.status, 200);
}

#[test]
fn errors_carry_type_header_message_and_model_status() {
    let s = StandIn::start(Options::default());
    let r = recipe("missing");
    let resp = get_policy(&s.url(), &r);
    assert_eq!(resp.status, 404);
    assert_eq!(resp.error_type(), Some("ResourceNotFoundException"));
    assert!(resp.header("x-amzn-RequestId").is_some());
    assert_eq!(resp.header("content-type"), Some("application/json"));
    let body = resp.json();
    assert!(body["message"].as_str().unwrap().contains(&r), "{body}");
    assert_eq!(body.as_object().unwrap().len(), 1);

    // Existing recipe without a policy: also ResourceNotFoundException.
    s.add_recipe(&r);
    assert_eq!(get_policy(&s.url(), &r).error_type(), Some("ResourceNotFoundException"));
    // Malformed ARN.
    let bad = get_policy(
        &s.url(),
        "arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/Bad/1",
    );
    assert_eq!((bad.status, bad.error_type()), (400, Some("InvalidRequestException")));

    // Unsigned requests.
    let mut c = Client::connect(&s.url());
    let ib = c.request("GET", &format!("/GetImageRecipe?imageRecipeArn={}", enc(&r)), &[], b"");
    assert_eq!((ib.status, ib.error_type()), (403, Some("ForbiddenException")));
    let ram_resp = c.request("POST", "/listpermissions", &[], b"{}");
    assert_eq!(
        (ram_resp.status, ram_resp.error_type()),
        (403, Some("MissingAuthenticationTokenException"))
    );
    // Unknown route, and a known path with the wrong method.
    let unknown = aws(&s.url(), "POST", "/nosuchthing", Some(&json!({})));
    assert_eq!(
        (unknown.status, unknown.error_type()),
        (404, Some("UnknownOperationException"))
    );
    let wrong = aws(&s.url(), "GET", "/listpermissions", None);
    assert_eq!(wrong.error_type(), Some("UnknownOperationException"));
    assert_eq!(s.call_count("UnknownOperation"), 2);
    // Missing required member.
    let missing = ram(&s.url(), "/listresources", json!({}));
    assert_eq!(
        (missing.status, missing.error_type()),
        (400, Some("MissingRequiredParameterException"))
    );
}

#[test]
fn pagination_with_empty_pages_and_bad_tokens() {
    let s = StandIn::start(Options {
        empty_pages: true,
        page_size: 2,
        ..Options::default()
    });
    let recipes: Vec<String> = (0..5).map(|i| recipe(&format!("r{i}"))).collect();
    for r in &recipes {
        s.set_policy(r, &policy(r, &["111122223333"]));
    }
    let first = ram(&s.url(), "/listresources", json!({"resourceOwner": "SELF"})).json();
    assert_eq!(first["resources"], json!([]));
    assert!(first["nextToken"].is_string());
    let all = list_all(
        &s.url(),
        "/listresources",
        "resources",
        json!({"resourceOwner": "SELF"}),
    );
    let arns: Vec<&str> = all.iter().map(|r| r["arn"].as_str().unwrap()).collect();
    assert_eq!(arns, recipes.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        all.iter()
            .all(|r| r["type"] == "imagebuilder:ImageRecipe" && r["status"] == "AVAILABLE")
    );
    assert!(all[0]["creationTime"].is_number());
    // The probe above, then 1 empty page + 3 pages of at most 2.
    assert_eq!(s.call_count("ListResources"), 5);
    // maxResults larger than page_size is capped.
    let capped = ram(
        &s.url(),
        "/listresources",
        json!({"resourceOwner": "SELF", "maxResults": 500, "nextToken": first["nextToken"].clone()}),
    );
    assert_eq!(capped.json()["resources"].as_array().unwrap().len(), 2);
    // A token belongs to its operation.
    let foreign = ram(
        &s.url(),
        "/getresourceshares",
        json!({"resourceOwner": "SELF", "nextToken": first["nextToken"].clone()}),
    );
    assert_eq!(foreign.error_type(), Some("InvalidNextTokenException"));
    let shares = list_all(
        &s.url(),
        "/getresourceshares",
        "resourceShares",
        json!({"resourceOwner": "SELF", "maxResults": 500}),
    );
    assert_eq!(shares.len(), 5);
    let bad = ram(
        &s.url(),
        "/listresources",
        json!({"resourceOwner": "SELF", "nextToken": "garbage"}),
    );
    assert_eq!((bad.status, bad.error_type()), (400, Some("InvalidNextTokenException")));
}

#[test]
fn throttle_n_times_then_success() {
    let s = StandIn::start(Options::default());
    let r = recipe("throttled");
    s.add_recipe(&r);
    s.fault("PutImageRecipePolicy", Fault::Throttle { times: 2 });
    s.fault("PutImageRecipePolicy", Fault::ServerError { times: 1, status: 503 });
    s.fault("ListPermissions", Fault::Throttle { times: 1 });
    s.fault("ListPermissions", Fault::ServerError { times: 1, status: 500 });
    let p = policy(&r, &["111122223333"]);
    for _ in 0..2 {
        let t = put_policy(&s.url(), &r, &p);
        assert_eq!(
            (t.status, t.error_type()),
            (429, Some("CallRateLimitExceededException"))
        );
    }
    let u = put_policy(&s.url(), &r, &p);
    assert_eq!((u.status, u.error_type()), (503, Some("ServiceUnavailableException")));
    let ok = put_policy(&s.url(), &r, &p);
    assert_eq!(ok.status, 200);
    assert_eq!(ok.json()["imageRecipeArn"], r.as_str());
    assert_eq!(s.call_count("PutImageRecipePolicy"), 4);
    assert_eq!(s.snapshot().policy_of(&r), Some(p.as_str()));

    let t = ram(&s.url(), "/listpermissions", json!({}));
    assert_eq!((t.status, t.error_type()), (429, Some("ThrottlingException")));
    let e = ram(&s.url(), "/listpermissions", json!({}));
    assert_eq!((e.status, e.error_type()), (500, Some("ServerInternalException")));
    assert_eq!(ram(&s.url(), "/listpermissions", json!({})).status, 200);

    s.fault(
        "ListPermissions",
        Fault::Error {
            times: 1,
            status: 418,
            code: "TeapotException".into(),
            message: "short and stout".into(),
        },
    );
    s.fault("ListPermissions", Fault::ServerError { times: 1, status: 502 });
    let custom = ram(&s.url(), "/listpermissions", json!({}));
    assert_eq!((custom.status, custom.error_type()), (418, Some("TeapotException")));
    assert_eq!(custom.json()["message"], "short and stout");
    let lb = ram(&s.url(), "/listpermissions", json!({}));
    assert_eq!((lb.status, lb.error_type(), lb.body.len()), (502, None, 0));
    s.fault("ListPermissions", Fault::Throttle { times: 5 });
    s.clear_faults();
    assert_eq!(ram(&s.url(), "/listpermissions", json!({})).status, 200);
}

#[test]
fn latency_and_reset() {
    let s = StandIn::start(Options::default());
    s.fault("ListPermissions", Fault::Latency(Duration::from_millis(150)));
    let t0 = Instant::now();
    assert_eq!(ram(&s.url(), "/listpermissions", json!({})).status, 200);
    assert!(t0.elapsed() >= Duration::from_millis(150));

    s.fault("ListResources", Fault::Reset { times: 1 });
    let mut c = Client::connect(&s.url());
    c.send(
        "POST",
        "/listresources",
        &[("Authorization", AUTH)],
        br#"{"resourceOwner":"SELF"}"#,
    );
    assert!(c.read_response().is_err(), "connection should be closed unanswered");
    assert_eq!(
        ram(&s.url(), "/listresources", json!({"resourceOwner": "SELF"})).status,
        200
    );
    assert_eq!(s.call_count("ListResources"), 2);
}

#[test]
fn reset_closes_without_a_byte_of_response() {
    let s = StandIn::start(Options::default());
    s.fault("ListResources", Fault::Reset { times: 1 });
    let mut c = RawClient::connect(&s.url());
    c.write(
        format!("POST /listresources HTTP/1.1\r\nHost: x\r\nAuthorization: {AUTH}\r\nContent-Length: 2\r\n\r\n{{}}")
            .as_bytes(),
    );
    // EOF (or a reset) and nothing before it: not even a status line.
    assert_eq!(c.read_until_closed(), b"");
    assert_eq!(s.call_count("ListResources"), 1);
}

#[test]
fn expect_continue_and_the_body_limit() {
    let s = StandIn::start(Options::default());
    let mut c = RawClient::connect(&s.url());
    c.write(
        format!(
            "POST /listpermissions HTTP/1.1\r\nHost: x\r\nAuthorization: {AUTH}\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"
        )
        .as_bytes(),
    );
    assert_eq!(c.read_response().unwrap().status, 100);
    c.write(b"{}");
    assert_eq!(c.read_response().unwrap().status, 200);
    // A declared body over 16 MiB is refused before it is sent: no `100 Continue`.
    c.write(
        format!(
            "POST /listpermissions HTTP/1.1\r\nHost: x\r\nAuthorization: {AUTH}\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
            16 * 1024 * 1024 + 1
        )
        .as_bytes(),
    );
    let refused = c.read_response().unwrap();
    assert_eq!(refused.status, 413);
    assert_eq!(refused.header("connection"), Some("close"));
    assert_eq!(s.call_count("ListPermissions"), 1);
}

#[test]
fn hang_is_released_when_the_stand_in_is_dropped() {
    let s = StandIn::start(Options::default());
    s.fault("GetResourceShares", Fault::Hang { times: 1 });
    let mut c = Client::connect(&s.url());
    c.set_read_timeout(Duration::from_secs(8));
    c.send(
        "POST",
        "/getresourceshares",
        &[("Authorization", AUTH)],
        br#"{"resourceOwner":"SELF"}"#,
    );
    // Wait until the stand-in has read the request, then drop it.
    let t0 = Instant::now();
    while s.call_count("GetResourceShares") == 0 && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(s.call_count("GetResourceShares"), 1);
    let dropped_at = Instant::now();
    drop(s);
    let res = c.read_response();
    assert!(res.is_err(), "hung request answered: {res:?}");
    assert!(
        dropped_at.elapsed() < Duration::from_secs(4),
        "hang not released promptly"
    );
}

#[test]
fn cfn_response_url_records_puts() {
    let s = StandIn::start(Options::default());
    let url = s.response_url("stack-1/req-1");
    assert!(url.starts_with(&s.response_prefix()));
    assert!(url.contains("X-Amz-Signature=") && url.contains(s.response_secret()));
    let target = url.trim_start_matches(&s.url()).to_string();
    let body = br#"{"Status":"SUCCESS","PhysicalResourceId":"p"}"#;

    s.fault("CfnResponse", Fault::ServerError { times: 1, status: 503 });
    let mut c = Client::connect(&s.url());
    let failed = c.request("PUT", &target, &[("Content-Type", "")], body);
    assert_eq!(failed.status, 503);
    let ok = c.request("PUT", &target, &[("Content-Type", "")], body);
    assert_eq!((ok.status, ok.body.len()), (200, 0));
    let get = c.request("GET", &target, &[], b"");
    assert_eq!(get.status, 405);

    let got = s.wait_responses(2, Duration::from_secs(2));
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].status_sent, 503);
    let r = &got[1];
    assert_eq!(r.status_sent, 200);
    assert_eq!(r.path, "/cfn-response/stack-1/req-1");
    assert!(r.query.starts_with("X-Amz-Algorithm=AWS4-HMAC-SHA256&"));
    assert_eq!(r.content_type.as_deref(), Some(""));
    assert_eq!(r.content_length, Some(body.len()));
    assert_eq!(r.json.as_ref().unwrap()["Status"], "SUCCESS");
    assert_eq!(s.call_count("CfnResponse"), 3);
    // A timeout with nothing new returns what there is.
    let t0 = Instant::now();
    assert_eq!(s.wait_responses(3, Duration::from_millis(50)).len(), 2);
    assert!(t0.elapsed() >= Duration::from_millis(50));
}
