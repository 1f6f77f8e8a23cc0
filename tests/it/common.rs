//! Test harness: the real handler with real SDK clients, aimed at the local stand-in over loopback.

use lambda_runtime::{Context, LambdaEvent};
use recipe_share::config::Config;
use recipe_share::{App, Error};
pub use recipe_share_standin::{Fault, Options, StandIn};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const ACCOUNT: &str = "123456789012";
pub const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:recipe-share";
pub const R1: &str = "arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/web-server/1.0.0";
pub const R2: &str = "arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/web-server/1.1.0";
pub const PRINCIPALS: &str = "111122223333,444455556666";

/// A fixture from `events/`, as it is.
pub fn fixture(file: &str) -> Value {
    let text = std::fs::read_to_string(format!("{}/events/{file}", env!("CARGO_MANIFEST_DIR"))).expect("fixture");
    serde_json::from_str(&text).expect("fixture JSON")
}

pub struct Harness {
    pub standin: Arc<StandIn>,
    pub app: Arc<App>,
}

impl Harness {
    pub async fn new() -> Harness {
        Harness::with(Options::default(), &[("SHARE_PRINCIPALS", PRINCIPALS)]).await
    }

    /// A stand-in with `opts` and the function configured by `env` (plus the stand-in's URL prefix).
    pub async fn with(opts: Options, env: &[(&str, &str)]) -> Harness {
        Harness::on(Arc::new(StandIn::start(opts)), env).await
    }

    /// The same stand-in (the same account), the function configured anew by `env`.
    pub async fn reconfigured(&self, env: &[(&str, &str)]) -> Harness {
        Harness::on(self.standin.clone(), env).await
    }

    async fn on(standin: Arc<StandIn>, env: &[(&str, &str)]) -> Harness {
        let prefix = standin.response_prefix();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .chain([("EXTRA_RESPONSE_URL_PREFIX".to_string(), prefix)])
            .collect();
        let config = Config::load(|name| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()));
        let sdk = recipe_share_standin::sdk_config(&standin.url(), "us-east-1").await;
        let app = App::new(&sdk, config);
        Harness { standin, app }
    }

    /// A fixture from `events/`, its `ResponseURL` pointed at the stand-in under `name`.
    pub fn event(&self, file: &str, name: &str) -> Value {
        let mut event = fixture(file);
        event["ResponseURL"] = Value::String(self.standin.response_url(name));
        event
    }

    pub async fn invoke(&self, event: Value, deadline: Duration) -> Result<Value, Error> {
        let mut ctx = Context::default();
        ctx.request_id = "test-invocation".into();
        ctx.invoked_function_arn = FUNCTION_ARN.into();
        ctx.deadline = (SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + deadline).as_millis() as u64;
        recipe_share::handle(self.app.clone(), LambdaEvent::new(event, ctx)).await
    }

    /// Like [`Harness::invoke`], with the invocation's metrics record.
    pub async fn invoke_metrics(&self, event: Value, deadline: Duration) -> (Result<Value, Error>, Value) {
        let mut ctx = Context::default();
        ctx.request_id = "test-invocation".into();
        ctx.invoked_function_arn = FUNCTION_ARN.into();
        ctx.deadline = (SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + deadline).as_millis() as u64;
        let (result, record) = recipe_share::handle_with_metrics(self.app.clone(), LambdaEvent::new(event, ctx)).await;
        (result, record.to_json())
    }

    /// Invokes with a 30 s deadline and returns the one CloudFormation response it produced.
    pub async fn cfn(&self, event: Value) -> Value {
        let before = self.standin.responses().len();
        self.invoke(event, Duration::from_secs(30))
            .await
            .expect("invocation delivered its response");
        let all = self.standin.responses();
        assert_eq!(all.len(), before + 1, "exactly one response per request");
        all.last().unwrap().json.clone().expect("response body is JSON")
    }

    pub fn aws_calls(&self) -> usize {
        self.standin.calls().iter().filter(|c| c.op != "CfnResponse").count()
    }
}

/// The operations called since `from` (an index into the stand-in's call log), without response PUTs.
pub fn ops_since(h: &Harness, from: usize) -> Vec<String> {
    h.standin.calls()[from..]
        .iter()
        .filter(|c| c.op != "CfnResponse")
        .map(|c| c.op.clone())
        .collect()
}

/// The same multiset of operations, whatever order concurrent calls arrived in.
pub fn sorted(mut ops: Vec<String>) -> Vec<String> {
    ops.sort();
    ops
}

/// `recipe` is shared by the standard, judged as RAM records it: exactly one ACTIVE share holds
/// it, STANDARD, tagged as the standard's, with exactly `principals` associated; its policy is
/// the one RAM writes (accounts as root ARNs, never an organization in a statement we wrote).
pub fn assert_shared_by_standard(h: &Harness, recipe: &str, principals: &[&str]) -> String {
    let snap = h.standin.snapshot();
    let shares = snap.shares_of(recipe);
    assert_eq!(shares.len(), 1, "one share holds {recipe}: {:?}", snap.shares);
    let share = shares[0];
    assert_eq!(share.feature_set, "STANDARD", "{share:?}");
    assert_eq!(share.tag("recipe-share:managed"), Some("true"), "{share:?}");
    assert!(share.tag("recipe-share:made-by").is_some(), "{share:?}");
    let mut got = share.principals.clone();
    got.sort();
    let mut want: Vec<String> = principals.iter().map(|p| p.to_string()).collect();
    want.sort();
    assert_eq!(got, want, "principals of {}", share.arn);
    let policy: Value = serde_json::from_str(snap.policy_of(recipe).expect("RAM wrote a policy")).unwrap();
    let accounts: Vec<String> = principals
        .iter()
        .filter(|p| p.len() == 12)
        .map(|p| format!("arn:aws:iam::{p}:root"))
        .collect();
    assert!(
        policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .any(|st| st["Principal"]["AWS"] == serde_json::json!(accounts)),
        "RAM's policy grants the accounts: {policy}"
    );
    share.arn.clone()
}

/// No ACTIVE share holds `recipe`, and nothing grants it any more.
pub fn assert_not_shared(h: &Harness, recipe: &str) {
    let snap = h.standin.snapshot();
    assert!(
        snap.shares_of(recipe).is_empty(),
        "{recipe} still shared: {:?}",
        snap.shares
    );
    assert!(snap.policy_of(recipe).is_none(), "{recipe} keeps a policy");
}

/// Every `PutImageRecipePolicy` body sent so far: never an organization, never a wildcard.
pub fn assert_written_policies_are_narrow(h: &Harness) {
    for c in h.standin.calls().iter().filter(|c| c.op == "PutImageRecipePolicy") {
        let policy = c.body["policy"].as_str().unwrap();
        assert!(!policy.contains("organizations") && !policy.contains('*'), "{policy}");
    }
}
