//! The compiled `bootstrap` under a local Lambda Runtime API: the loop survives malformed events
//! and a panic, still answers the next invocation, and never prints the ResponseURL.

use recipe_share_standin::runtime_api::{InvocationKind, RuntimeApi};
use recipe_share_standin::{Options, StandIn};
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:recipe-share";
const R1: &str = "arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/web-server/1.0.0";

/// Kills the function process however the test ends.
struct Function(Child);

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn create_event(standin: &StandIn, name: &str) -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/events/cfn-create.json")).unwrap();
    let mut event: Value = serde_json::from_str(&text).unwrap();
    event["ResponseURL"] = json!(standin.response_url(name));
    event
}

#[test]
fn the_runtime_loop_survives_bad_events_and_panics() {
    let standin = StandIn::start(Options::default());
    standin.add_recipe(R1);
    let api = RuntimeApi::start();
    let dir = std::env::temp_dir().join(format!("recipe-share-bootstrap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (out, err) = (dir.join("stdout"), dir.join("stderr"));
    let child = Command::new(env!("CARGO_BIN_EXE_bootstrap"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", api.addr())
        .env("AWS_LAMBDA_FUNCTION_NAME", "recipe-share")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/recipe-share")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/30/[$LATEST]0123456789abcdef")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "AKIDLOCAL")
        .env("AWS_SECRET_ACCESS_KEY", "local-secret")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL", standin.url())
        .env("SHARE_PRINCIPALS", "111122223333,444455556666")
        .env("EXTRA_RESPONSE_URL_PREFIX", standin.response_prefix())
        .env("RUST_LOG", "trace")
        .stdout(Stdio::from(std::fs::File::create(&out).unwrap()))
        .stderr(Stdio::from(std::fs::File::create(&err).unwrap()))
        .spawn()
        .expect("bootstrap starts");
    let function = Function(child);
    let wait = Duration::from_secs(20);
    let deadline = Duration::from_secs(15);

    for bad in [
        json!({"not": "an event we know"}),
        json!("a string"),
        json!({"RequestType": "Create"}),
    ] {
        let id = api.invoke(&bad, deadline, FUNCTION_ARN);
        let result = api.wait_result(&id, wait).expect("answered");
        assert!(
            matches!(result.kind, InvocationKind::Error),
            "{bad} must be an invocation error"
        );
    }

    let panic_event = {
        let mut e = create_event(&standin, "panic");
        e["ResourceProperties"]["RecipeShareTestPanic"] = json!("true");
        e
    };
    let id = api.invoke(&panic_event, deadline, FUNCTION_ARN);
    let result = api.wait_result(&id, wait).expect("answered after a panic");
    assert!(matches!(result.kind, InvocationKind::Response));
    let sent = standin.wait_responses(1, wait);
    assert_eq!(sent[0].json.as_ref().unwrap()["Status"], "FAILED");

    let id = api.invoke(&create_event(&standin, "ok"), deadline, FUNCTION_ARN);
    let result = api.wait_result(&id, wait).expect("the next invocation is still served");
    assert!(
        matches!(result.kind, InvocationKind::Response),
        "{}",
        String::from_utf8_lossy(&result.body)
    );
    let sent = standin.wait_responses(2, wait);
    let last = sent[1].json.as_ref().unwrap();
    assert_eq!(last["Status"], "SUCCESS", "{last}");
    assert_eq!(last["PhysicalResourceId"], R1);
    // An EventBridge CloudTrail event is answered with its summary.
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/events/eventbridge-create-image-recipe.json"
    ))
    .unwrap();
    let mut event: Value = serde_json::from_str(&text).unwrap();
    event["detail"]["responseElements"]["imageRecipeArn"] = json!(R1);
    let id = api.invoke(&event, deadline, FUNCTION_ARN);
    let result = api.wait_result(&id, wait).expect("event answered");
    assert!(matches!(result.kind, InvocationKind::Response));
    let summary: Value = serde_json::from_slice(&result.body).unwrap();
    assert_eq!(summary["outcome"], "already-shared", "{summary}");
    assert!(api.wait_next_polls(6, wait), "the loop asks for the next event");
    drop(function);

    let logs = std::fs::read_to_string(&out).unwrap() + &std::fs::read_to_string(&err).unwrap();
    let secret = standin
        .response_url("x")
        .split("X-Amz-Signature=")
        .nth(1)
        .unwrap()
        .to_string();
    assert!(
        !logs.contains(&secret),
        "the ResponseURL's signature appears in the logs"
    );
    assert!(
        !logs.contains("/cfn-response/"),
        "a ResponseURL path appears in the logs"
    );
    let lines: Vec<Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(!lines.is_empty(), "logs are JSON lines");
    assert!(
        lines
            .iter()
            .any(|l| l["span"]["requestId"].is_string() && l["span"]["recipe"] == R1 && l["step"].is_string()),
        "log lines carry the request id, recipe and step"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
