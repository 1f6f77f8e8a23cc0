//! The compiled `bootstrap` under a local Lambda Runtime API: the loop survives malformed events
//! and a panic, still answers the next invocation, and no log line of any run (success, failure,
//! panic, bad configuration) carries the ResponseURL, its signature or the AWS credentials.

use recipe_share_standin::runtime_api::{InvocationKind, RuntimeApi};
use recipe_share_standin::{Fault, Options, StandIn};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:recipe-share";
const R1: &str = "arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/web-server/1.0.0";
const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETKEYLEAK";
const SESSION_TOKEN: &str = "IQoJb3JpZ2luX2VjEXAMPLESESSIONTOKENLEAK";
const WAIT: Duration = Duration::from_secs(20);
const DEADLINE: Duration = Duration::from_secs(15);

/// The function process with its captured output; killed however the test ends.
struct Function {
    child: Child,
    out: PathBuf,
    err: PathBuf,
}

/// The most verbose settings an operator chasing a bug could choose: everything at TRACE, and a
/// TRACE directive for every capped target and the targets below it (a more specific directive
/// would win over a crate-level cap in the same filter).
fn hostile_log_setting() -> String {
    let mut directives = vec!["trace".to_string()];
    for (target, _) in recipe_share::logging::CAPS {
        directives.push(format!("{target}=trace"));
        directives.push(format!("{target}::layers=trace"));
    }
    directives.push("lambda_runtime::layers::api_response=trace".into());
    directives.push("aws_smithy_runtime::client::orchestrator=trace".into());
    directives.join(",")
}

impl Function {
    fn start(standin: &StandIn, api: &RuntimeApi, principals: &str, tag: &str) -> Function {
        Function::start_logging(standin, api, principals, tag, &[("RUST_LOG", &hostile_log_setting())])
    }

    fn start_logging(
        standin: &StandIn,
        api: &RuntimeApi,
        principals: &str,
        tag: &str,
        log: &[(&str, &str)],
    ) -> Function {
        let dir = std::env::temp_dir().join(format!("recipe-share-bootstrap-{}-{tag}", std::process::id()));
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
            .env("AWS_ACCESS_KEY_ID", "ASIALOCALEXAMPLE")
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .env("AWS_SESSION_TOKEN", SESSION_TOKEN)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_ENDPOINT_URL", standin.url())
            .env("SHARE_PRINCIPALS", principals)
            .env("EXTRA_RESPONSE_URL_PREFIX", standin.response_prefix())
            // The most verbose setting a user could choose: nothing secret may appear even so.
            .envs(log.iter().copied())
            .stdout(Stdio::from(std::fs::File::create(&out).unwrap()))
            .stderr(Stdio::from(std::fs::File::create(&err).unwrap()))
            .spawn()
            .expect("bootstrap starts");
        Function { child, out, err }
    }

    /// Stops the process and returns everything it printed.
    fn stop(mut self) -> (String, String) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        (
            std::fs::read_to_string(&self.out).unwrap(),
            std::fs::read_to_string(&self.err).unwrap(),
        )
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn fixture(file: &str) -> Value {
    let text = std::fs::read_to_string(format!("{}/events/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn create_event(standin: &StandIn, name: &str) -> Value {
    let mut event = fixture("cfn-create.json");
    event["ResponseURL"] = json!(standin.response_url(name));
    event
}

/// Invokes and waits for the runtime's answer.
fn call(api: &RuntimeApi, event: &Value) -> (InvocationKind, Value) {
    let id = api.invoke(event, DEADLINE, FUNCTION_ARN);
    let result = api.wait_result(&id, WAIT).expect("the invocation is answered");
    (result.kind, serde_json::from_slice(&result.body).unwrap_or(Value::Null))
}

/// Fails if any secret appears anywhere in the output.
fn assert_no_leak(standin: &StandIn, output: &str) {
    let url = standin.response_url("x");
    let signature = url.split("X-Amz-Signature=").nth(1).unwrap();
    for (what, secret) in [
        ("a ResponseURL", standin.response_prefix().as_str()),
        ("a ResponseURL path", "/cfn-response/"),
        ("the URL signature", signature),
        ("the secret access key", SECRET_KEY),
        ("the session token", SESSION_TOKEN),
    ] {
        assert!(!output.contains(secret), "{what} appears in the logs");
    }
}

#[test]
fn the_runtime_loop_survives_bad_events_and_panics_and_logs_no_secret() {
    let standin = StandIn::start(Options::default());
    standin.add_recipe(R1);
    let api = RuntimeApi::start();
    let function = Function::start(&standin, &api, "111122223333,444455556666", "main");

    for bad in [
        json!({"not": "an event we know"}),
        json!("a string"),
        json!({"RequestType": "Create"}),
    ] {
        let (kind, _) = call(&api, &bad);
        assert!(
            matches!(kind, InvocationKind::Error),
            "{bad} must be an invocation error"
        );
    }

    let mut panic_event = create_event(&standin, "panic");
    panic_event["ResourceProperties"]["RecipeShareTestPanic"] = json!("true");
    let (kind, _) = call(&api, &panic_event);
    assert!(
        matches!(kind, InvocationKind::Response),
        "a caught panic still answers CloudFormation"
    );
    assert_eq!(
        standin.wait_responses(1, WAIT)[0].json.as_ref().unwrap()["Status"],
        "FAILED"
    );

    let (kind, _) = call(&api, &create_event(&standin, "ok"));
    assert!(
        matches!(kind, InvocationKind::Response),
        "the next invocation is still served"
    );
    let last = standin.wait_responses(2, WAIT)[1].json.clone().unwrap();
    assert_eq!(last["Status"], "SUCCESS", "{last}");
    assert_eq!(last["PhysicalResourceId"], R1);

    // An AWS failure: the recipe does not exist.
    let mut missing = create_event(&standin, "missing");
    missing["ResourceProperties"]["ImageRecipeArn"] = json!(R1.replace("1.0.0", "9.9.9"));
    call(&api, &missing);
    assert_eq!(
        standin.wait_responses(3, WAIT)[2].json.as_ref().unwrap()["Status"],
        "FAILED"
    );

    // A response PUT that fails once before it lands.
    standin.fault("CfnResponse", Fault::ServerError { times: 1, status: 500 });
    call(&api, &create_event(&standin, "retry"));
    assert_eq!(standin.wait_responses(5, WAIT).len(), 5);

    // An EventBridge CloudTrail event is answered with its summary.
    let mut event = fixture("eventbridge-create-image-recipe.json");
    event["detail"]["responseElements"]["imageRecipeArn"] = json!(R1);
    let (kind, summary) = call(&api, &event);
    assert!(matches!(kind, InvocationKind::Response));
    assert_eq!(summary["outcome"], "already-shared", "{summary}");
    assert!(api.wait_next_polls(9, WAIT), "the loop asks for the next event");

    let (stdout, stderr) = function.stop();
    assert_no_leak(&standin, &stdout);
    assert_no_leak(&standin, &stderr);
    let lines: Vec<Value> = stdout.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    assert!(lines.len() > 10, "logs are JSON lines");
    assert!(
        lines
            .iter()
            .any(|l| l["span"]["requestId"].is_string() && l["span"]["recipe"] == R1 && l["step"].is_string()),
        "log lines carry the request id, recipe and step"
    );
}

#[test]
fn bad_configuration_keeps_the_loop_alive_and_logs_no_secret() {
    let standin = StandIn::start(Options::default());
    standin.add_recipe(R1);
    let api = RuntimeApi::start();
    let function = Function::start(&standin, &api, "*", "badcfg");

    let (kind, _) = call(&api, &create_event(&standin, "cfg"));
    assert!(matches!(kind, InvocationKind::Response));
    let resp = standin.wait_responses(1, WAIT)[0].json.clone().unwrap();
    assert_eq!(resp["Status"], "FAILED");
    assert!(resp["Reason"].as_str().unwrap().contains("SHARE_PRINCIPALS"), "{resp}");
    let (kind, _) = call(&api, &fixture("eventbridge-create-image-recipe.json"));
    assert!(
        matches!(kind, InvocationKind::Error),
        "other events fail while the configuration is bad"
    );
    let (kind, _) = call(&api, &create_event(&standin, "cfg2"));
    assert!(matches!(kind, InvocationKind::Response), "the loop still serves");
    assert!(
        standin.calls().iter().all(|c| c.op == "CfnResponse"),
        "no AWS call with a bad configuration"
    );

    let (stdout, stderr) = function.stop();
    assert_no_leak(&standin, &stdout);
    assert_no_leak(&standin, &stderr);
    assert!(
        stdout.contains("SHARE_PRINCIPALS"),
        "the bad setting is logged at start"
    );
}

#[test]
fn lambdas_own_log_level_setting_cannot_lift_the_caps_either() {
    let standin = StandIn::start(Options::default());
    standin.add_recipe(R1);
    let api = RuntimeApi::start();
    // Lambda's advanced logging controls set AWS_LAMBDA_LOG_LEVEL; it wins over RUST_LOG.
    let function = Function::start_logging(
        &standin,
        &api,
        "111122223333,444455556666",
        "lambda-level",
        &[("AWS_LAMBDA_LOG_LEVEL", &hostile_log_setting()), ("RUST_LOG", "off")],
    );
    let (kind, _) = call(&api, &create_event(&standin, "ok"));
    assert!(matches!(kind, InvocationKind::Response));
    assert_eq!(
        standin.wait_responses(1, WAIT)[0].json.as_ref().unwrap()["Status"],
        "SUCCESS"
    );
    let (stdout, stderr) = function.stop();
    assert!(stdout.lines().count() > 5, "logging was on");
    assert_no_leak(&standin, &stdout);
    assert_no_leak(&standin, &stderr);
}

/// How `cargo lambda watch` (1.9) invokes a function: the deadline a constant 600000 (1970) and the
/// function ARN the placeholder `function-arn`. The function takes a default budget and asks STS
/// for its account (once), warns once each, and shares the recipe as it would in Lambda.
#[test]
fn a_local_emulators_deadline_and_function_arn_still_share_the_recipe() {
    let standin = StandIn::start(Options::default());
    standin.add_recipe(R1);
    let api = RuntimeApi::start();
    let function = Function::start_logging(
        &standin,
        &api,
        "111122223333,444455556666",
        "emulator",
        &[("RUST_LOG", "info")],
    );
    for name in ["first", "second"] {
        let id = api.invoke_with_deadline_ms(&create_event(&standin, name), 600_000, "function-arn");
        let result = api.wait_result(&id, WAIT).expect("answered");
        assert!(
            matches!(result.kind, InvocationKind::Response),
            "{:?}",
            String::from_utf8_lossy(&result.body)
        );
    }
    let responses = standin.wait_responses(2, WAIT);
    for r in &responses {
        let body = r.json.as_ref().unwrap();
        assert_eq!(body["Status"], "SUCCESS", "{body}");
        assert_eq!(body["PhysicalResourceId"], R1);
    }
    assert_eq!(standin.call_count("GetCallerIdentity"), 1, "asked once per process");
    let (stdout, _) = function.stop();
    assert_eq!(
        stdout
            .matches("a local emulator, not Lambda; using a default budget")
            .count(),
        1,
        "{stdout}"
    );
    assert_eq!(stdout.matches("asking STS which account this is").count(), 1);
    assert_no_leak(&standin, &stdout);
}

/// The EMF records in `stdout`: JSON lines with an `_aws` block.
fn emf_records(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("_aws").is_some())
        .collect()
}

#[test]
fn every_invocation_of_the_binary_writes_exactly_one_valid_metrics_record() {
    let standin = StandIn::start(Options::default());
    standin.add_recipe(R1);
    let api = RuntimeApi::start();
    // Logs at their default: the records are written whatever the log level.
    let function = Function::start_logging(&standin, &api, "111122223333,444455556666", "emf", &[]);
    call(&api, &create_event(&standin, "emf-create"));
    let created_calls = standin.calls().iter().filter(|c| c.op != "CfnResponse").count();
    let mut event = fixture("eventbridge-create-image-recipe.json");
    event["detail"]["responseElements"]["imageRecipeArn"] = json!(R1);
    call(&api, &event);
    call(&api, &json!({"sweep": {"mode": "report"}}));
    call(&api, &json!({"not": "an event we know"}));
    let (stdout, _) = function.stop();
    let records = emf_records(&stdout);
    assert_eq!(records.len(), 4, "one per invocation: {records:?}");
    for r in &records {
        let problems = recipe_share::metrics::tests_support::emf_problems(r);
        assert!(problems.is_empty(), "{problems:?} in {r}");
        assert_eq!(r["_aws"]["CloudWatchMetrics"][0]["Namespace"], "RecipeShare");
    }
    let [create, trail, sweep, unknown] = &records[..] else {
        unreachable!()
    };
    assert_eq!(
        (create["Entry"].as_str(), create["Shared"].as_u64()),
        (Some("custom-resource"), Some(1)),
        "{create}"
    );
    assert_eq!(
        create["AwsCalls"].as_u64(),
        Some(created_calls as u64),
        "every attempt the stand-in saw"
    );
    assert_eq!(
        (trail["Entry"].as_str(), trail["AlreadyShared"].as_u64()),
        (Some("eventbridge"), Some(1)),
        "{trail}"
    );
    assert_eq!(trail["Shared"], 0);
    assert_eq!(
        (sweep["Entry"].as_str(), sweep["AlreadyShared"].as_u64()),
        (Some("sweep"), Some(1)),
        "{sweep}"
    );
    assert_eq!(sweep["QuotaHeadroomPercent"].as_f64(), Some(99.0), "{sweep}");
    assert!(
        sweep.get("Unfixed").is_none(),
        "a report leaves findings by design: {sweep}"
    );
    assert_eq!(
        (unknown["Failed"].as_u64(), unknown["AwsCalls"].as_u64()),
        (Some(1), Some(0)),
        "{unknown}"
    );
}
