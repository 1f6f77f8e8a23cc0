//! Runs the real handler end to end on this machine: the project's stand-in plays Image Builder, RAM
//! and the CloudFormation response URL on 127.0.0.1, and the result is printed.
//!
//! `cargo run --example local -- events/cfn-create.json` (any file from `events/`). Set
//! `SHARE_PRINCIPALS` to try other principals, `RUST_LOG=info` to see the function's JSON logs.

use lambda_runtime::{Context, LambdaEvent};
use recipe_share::config::Config;
use recipe_share::{App, arn::ResourceArn};
use recipe_share_standin::{Options, StandIn};
use serde_json::{Value, json};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The embedded default organization standard for local runs.
const DEFAULT_PRINCIPALS: &str = "111122223333,444455556666";
const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:recipe-share";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::var_os("RUST_LOG").is_some() {
        recipe_share::logging::init();
    }
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "events/cfn-create.json".into());
    let mut event: Value = serde_json::from_str(&std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?)?;
    let standin = StandIn::start(Options::default());
    let principals = std::env::var("SHARE_PRINCIPALS").unwrap_or_else(|_| DEFAULT_PRINCIPALS.into());
    let prefix = standin.response_prefix();
    let config = Config::load(|name| match name {
        "SHARE_PRINCIPALS" => Some(principals.clone()),
        "EXTRA_RESPONSE_URL_PREFIX" => Some(prefix.clone()),
        other => std::env::var(other).ok(),
    });
    let app = App::new(
        &recipe_share_standin::sdk_config(&standin.url(), "us-east-1").await,
        config,
    );

    // The recipes the event names exist in the stand-in; for Update and Delete the resource was
    // created earlier, so it is shared first, the way CloudFormation would have done.
    let named = |v: &Value| -> Option<String> {
        let s = v.as_str()?;
        let s = s.strip_prefix("recipe-share:rollback:").unwrap_or(s);
        let s = s.split('|').next().unwrap_or(s);
        ResourceArn::parse_any(s).is_ok().then(|| s.to_string())
    };
    let (props, old, detail) = (
        &event["ResourceProperties"],
        &event["OldResourceProperties"],
        &event["detail"],
    );
    let mut recipes: Vec<String> = [
        &props["ImageRecipeArn"],
        &props["ContainerRecipeArn"],
        &old["ImageRecipeArn"],
        &old["ContainerRecipeArn"],
        &event["PhysicalResourceId"],
        &detail["responseElements"]["imageRecipeArn"],
        &detail["responseElements"]["containerRecipeArn"],
        &detail["requestParameters"]["imageRecipeArn"],
        &detail["requestParameters"]["containerRecipeArn"],
        &detail["requestParameters"]["componentBuildVersionArn"],
    ]
    .into_iter()
    .filter_map(named)
    .collect::<std::collections::BTreeSet<_>>()
    .into_iter()
    .collect();
    for r in &recipes {
        standin.add_resource(r);
    }
    if recipe_share::sweep::parse(&event).is_some() {
        recipes.extend(demo_fleet(&standin));
    }
    // A refused delete is about a recipe that is shared: share it first, as the trigger would have.
    let refused = event["detail"]["errorCode"] == "ResourceDependencyException";
    let shared_before = named(&event["PhysicalResourceId"]).or_else(|| {
        refused
            .then(|| {
                ["imageRecipeArn", "containerRecipeArn"]
                    .iter()
                    .find_map(|f| named(&detail["requestParameters"][*f]))
            })
            .flatten()
    });
    if let Some(existing) = shared_before.filter(|a| !a.contains(":component/")) {
        let setup = json!({
            "RequestType": "Create", "ResponseURL": standin.response_url("setup"),
            "StackId": event["StackId"].as_str().unwrap_or("arn:aws:cloudformation:us-east-1:123456789012:stack/local/setup"),
            "RequestId": "local-setup", "LogicalResourceId": event["LogicalResourceId"].as_str().unwrap_or("Setup"),
            "ResourceType": "Custom::ImageRecipeShare", "ResourceProperties": {recipe_share::cfn::target_key(&existing): existing},
        });
        invoke(&app, setup).await?;
        println!("setup: {existing} was shared first, as an earlier Create would have done\n");
    }

    let event_is_cfn = recipe_share::cfn::is_request(&event);
    if event_is_cfn {
        event["ResponseURL"] = json!(standin.response_url("local"));
    }
    let calls_before = standin.calls().len();
    let (result, metrics) = invoke_with_metrics(&app, event).await;
    let sent: Vec<_> = standin
        .responses()
        .into_iter()
        .filter(|r| r.path.ends_with("/local"))
        .collect();
    if event_is_cfn {
        println!(
            "== What CloudFormation received ({} PUT{}) ==",
            sent.len(),
            if sent.len() == 1 { "" } else { "s" }
        );
    }
    for r in &sent {
        println!(
            "Content-Type: {:?}  Content-Length: {:?}",
            r.content_type.as_deref().unwrap_or("<none>"),
            r.content_length
        );
        println!(
            "{}",
            serde_json::to_string_pretty(r.json.as_ref().unwrap_or(&Value::Null))?
        );
    }
    println!(
        "\n== Invocation result ==\n{}",
        match &result {
            Ok(v) => serde_json::to_string_pretty(v).unwrap_or_default(),
            Err(e) => format!("error: {e}"),
        }
    );
    let ops: Vec<String> = standin.calls()[calls_before..]
        .iter()
        .filter(|c| c.op != "CfnResponse")
        .map(|c| c.op.clone())
        .collect();
    println!("\n== AWS calls made ({}) ==\n{}", ops.len(), ops.join("\n"));
    let snap = standin.snapshot();
    println!("\n== Resulting state ==");
    for r in &recipes {
        println!("{r}");
        println!("  policy: {}", snap.policy_of(r).unwrap_or("<none>"));
        let shares = snap.shares_of(r);
        if shares.is_empty() {
            println!("  shares: none");
        }
        for s in shares {
            println!(
                "  share {} featureSet={} status={} principals={:?}",
                s.arn, s.feature_set, s.status, s.principals
            );
            println!("        permission {}", s.permission_arn);
        }
    }
    println!("customer-managed permissions: {}", snap.customer_permissions());
    // The line as the function writes it, then its values for reading.
    let doc = metrics.to_json();
    let values: Vec<String> = doc
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| *k != "_aws")
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    println!(
        "\n== Metrics record (CloudWatch embedded metric format, one line on stdout) ==\n{}\n{}",
        metrics.to_line(),
        values.join(" ")
    );
    result.map(|_| ()).map_err(Into::into)
}

/// For a sweep: a small account with one recipe in each state the report distinguishes.
fn demo_fleet(standin: &StandIn) -> Vec<String> {
    let arn = |name: &str| format!("arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/{name}/1.0.0");
    let policy = |arn: &str, accounts: &[&str]| {
        json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": accounts},
            "Action": ["imagebuilder:GetImageRecipe", "imagebuilder:ListImageRecipes"], "Resource": arn}]})
        .to_string()
    };
    let (unshared, drifted, unpromoted) = (arn("made-by-hand"), arn("drifted"), arn("not-promoted"));
    standin.add_recipe(&unshared);
    standin.set_policy(&drifted, &policy(&drifted, &["999999999999"]));
    standin.set_policy(&unpromoted, &policy(&unpromoted, &["111122223333", "444455556666"]));
    // A recipe using one of the account's own components, and a container recipe.
    let (with_component, component) = (
        arn("hardened"),
        "arn:aws:imagebuilder:us-east-1:123456789012:component/cis-benchmark/1.0.0/1".to_string(),
    );
    let container = "arn:aws:imagebuilder:us-east-1:123456789012:container-recipe/api/1.0.0".to_string();
    standin.add_resource(&component);
    standin.add_recipe(&with_component);
    standin.set_recipe_contents(
        &with_component,
        &["arn:aws:imagebuilder:us-east-1:123456789012:component/cis-benchmark/x.x.x"],
        None,
    );
    standin.add_resource(&container);
    vec![unshared, drifted, unpromoted, with_component, component, container]
}

async fn invoke(app: &std::sync::Arc<App>, event: Value) -> Result<Value, recipe_share::Error> {
    invoke_with_metrics(app, event).await.0
}

/// The invocation and the metrics record the function writes to stdout after it.
async fn invoke_with_metrics(
    app: &std::sync::Arc<App>,
    event: Value,
) -> (Result<Value, recipe_share::Error>, recipe_share::metrics::Record) {
    let mut ctx = Context::default();
    ctx.request_id = "local-invocation".into();
    ctx.invoked_function_arn = FUNCTION_ARN.into();
    ctx.deadline =
        (SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default() + Duration::from_secs(60)).as_millis() as u64;
    recipe_share::handle_with_metrics(app.clone(), LambdaEvent::new(event, ctx)).await
}
