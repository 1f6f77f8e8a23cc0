//! Test harness: the real handler with real SDK clients, aimed at the local stand-in over loopback.

#![allow(dead_code, unused_imports)]

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
    pub standin: StandIn,
    pub app: Arc<App>,
}

impl Harness {
    pub async fn new() -> Harness {
        Harness::with(Options::default(), &[("SHARE_PRINCIPALS", PRINCIPALS)]).await
    }

    /// A stand-in with `opts` and the function configured by `env` (plus the stand-in's URL prefix).
    pub async fn with(opts: Options, env: &[(&str, &str)]) -> Harness {
        let standin = StandIn::start(opts);
        let prefix = standin.response_prefix();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .chain([("EXTRA_RESPONSE_URL_PREFIX".to_string(), prefix)])
            .collect();
        let config = Config::load(|name| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()));
        let sdk = recipe_share::local::sdk_config(&standin.url(), "us-east-1").await;
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
