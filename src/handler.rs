//! One invocation, end to end: classify the event, run the flow in its own task bounded by the
//! deadline (so a hang or a panic still ends in an answer), and deliver exactly one response.

use crate::arn;
use crate::aws::Aws;
use crate::cfn::{self, Plan, Work};
use crate::config::Config;
use crate::error::Error;
use crate::eventbridge::{self, Decision};
use crate::flow::{Flow, Progress, Shared, Unshared};
use crate::retry::Deadline;
use crate::sweep::{self, SweepRequest};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tracing::{Instrument, error, info, info_span, warn};

/// What the function holds across invocations: clients built once, configuration read once.
#[derive(Debug)]
pub struct App {
    pub aws: Aws,
    /// The response PUT's client, built on the first custom-resource request: loading the trust
    /// store costs a few milliseconds of cold start that EventBridge events and sweeps never need.
    http: OnceLock<reqwest::Client>,
    pub config: Config,
}

impl App {
    /// Builds the app from an SDK configuration (the Lambda's, or one aimed at the local stand-in).
    pub fn new(sdk: &aws_config::SdkConfig, config: Config) -> Arc<App> {
        if let Err(e) = &config.share {
            error!(
                setting = e.setting,
                problem = e.problem.as_str(),
                "bad configuration: every request will fail until it is fixed"
            );
        }
        Arc::new(App {
            aws: Aws::new(sdk),
            http: OnceLock::new(),
            config,
        })
    }

    /// The HTTP client for the response PUT. Redirects are never followed: a pre-signed URL answers
    /// directly, and anything else is suspect.
    pub fn http(&self) -> Result<&reqwest::Client, Error> {
        if let Some(client) = self.http.get() {
            return Ok(client);
        }
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| {
                Error::ResponseNotDelivered(format!("could not build the HTTP client: {}", e.without_url()))
            })?;
        Ok(self.http.get_or_init(|| client))
    }

    /// The production wiring: the process environment and the default AWS credential chain.
    pub async fn from_env() -> Arc<App> {
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        App::new(&sdk, Config::from_env())
    }
}

/// What the work produced.
#[derive(Debug)]
pub enum Outcome {
    Shared(Shared),
    Unshared(Unshared),
    Nothing(&'static str),
}

/// Entry point for every event the function receives.
pub async fn handle(app: Arc<App>, event: LambdaEvent<Value>) -> Result<Value, Error> {
    let LambdaEvent { payload, context } = event;
    if let Some(request) = sweep::parse(&payload) {
        // Boxed: the sweep's future nests deeply enough to overflow the compiler's layout depth.
        return Box::pin(sweep_event(app, request, context)).await;
    }
    if cfn::is_request(&payload) {
        return custom_resource(app, payload, context).await;
    }
    if eventbridge::is_event(&payload) {
        return eventbridge_event(app, payload, context).await;
    }
    let err = Error::UnsupportedEvent(describe(&payload));
    error!(step = "classify", error = %err, "event not handled");
    Err(err)
}

/// Pure: names the shape of an unknown event (type and top-level keys, never values).
pub fn describe(event: &Value) -> String {
    match event {
        Value::Object(map) => {
            let keys: Vec<String> = map.keys().take(20).map(|k| k.chars().take(64).collect()).collect();
            format!(
                "a JSON object with keys {keys:?}, neither a CloudFormation custom-resource request nor a supported event"
            )
        }
        Value::Array(_) => "a JSON array".into(),
        Value::String(_) => "a JSON string".into(),
        Value::Number(_) => "a JSON number".into(),
        Value::Bool(_) => "a JSON boolean".into(),
        Value::Null => "JSON null".into(),
    }
}

/// Time kept back from the work for delivering the response (connect, PUT, a few retries).
pub fn respond_reserve(total: Duration) -> Duration {
    (total / 5).clamp(Duration::from_millis(400), Duration::from_secs(4))
}

async fn custom_resource(app: Arc<App>, event: Value, ctx: Context) -> Result<Value, Error> {
    let span = info_span!("custom_resource", requestId = %ctx.request_id, recipe = tracing::field::Empty, request_type = tracing::field::Empty);
    async move {
        let Some(raw_url) = cfn::raw_response_url(&event) else {
            let err = Error::InvalidRequest("custom-resource request without a ResponseURL: it cannot be answered".into());
            error!(step = "validate", error = %err);
            return Err(err);
        };
        let url = app.config.response_urls.check(raw_url).map_err(|why| {
            let err = Error::ResponseUrlRejected(why);
            error!(step = "validate", error = %err, "not contacting the ResponseURL");
            err
        })?;
        let deadline = Deadline::from_epoch_ms(ctx.deadline);
        let work_deadline = deadline.earlier_by(respond_reserve(deadline.remaining()));
        let own = arn::function_location(&ctx.invoked_function_arn).ok();
        let plan = cfn::plan(&event, own.as_ref());
        let span = tracing::Span::current();
        span.record("request_type", plan.kind);
        if let Some(r) = &plan.recipe {
            span.record("recipe", r.as_str());
        }
        let progress = Arc::new(Progress::default());
        let run = Run {
            test_panic: cfg!(debug_assertions) && event["ResourceProperties"]["RecipeShareTestPanic"] == "true",
            recipe_may_be_new: false,
        };
        let outcome = run_bounded(app.clone(), plan.work.clone(), progress.clone(), work_deadline, run).await;
        let logs = format!(
            "CloudWatch Logs group {} stream {} (request {})",
            ctx.env_config.log_group, ctx.env_config.log_stream, ctx.request_id
        );
        let reply = response_for(&plan, &outcome, progress.changed(), &logs);
        match &outcome {
            Ok(_) => info!(step = "decide", status = reply.status(), physical_id = reply.physical_id.as_str(), "answering CloudFormation"),
            Err(e) => warn!(step = "decide", status = reply.status(), physical_id = reply.physical_id.as_str(), error = %e, "answering CloudFormation"),
        }
        let body = cfn::response_body(reply.success, &reply.reason, &reply.physical_id, &cfn::echo(&event), &reply.data);
        let delivered = match app.http() {
            Ok(http) => cfn::deliver(http, &url, body, deadline.earlier_by(Duration::from_millis(100))).await,
            Err(e) => Err(e),
        };
        let attempts = delivered.inspect_err(|e| error!(step = "respond", error = %e))?;
        Ok(json!({ "Status": reply.status(), "PhysicalResourceId": reply.physical_id, "Attempts": attempts }))
    }
    .instrument(span)
    .await
}

/// Time kept back at the end of an EventBridge invocation to return its result to Lambda.
const EVENT_RESERVE: Duration = Duration::from_millis(300);

/// An EventBridge event: share the recipe it names, or skip it with a logged reason. Errors are
/// returned (not swallowed) so Lambda's retries and the dead-letter queue keep the event.
async fn eventbridge_event(app: Arc<App>, event: Value, ctx: Context) -> Result<Value, Error> {
    let span = info_span!("eventbridge", requestId = %ctx.request_id, recipe = tracing::field::Empty, eventId = tracing::field::Empty);
    async move {
        let span = tracing::Span::current();
        if let Some(id) = event.get("id").and_then(Value::as_str) {
            span.record("eventId", id);
        }
        let result = async {
            app.config.share.clone()?;
            let own = arn::function_location(&ctx.invoked_function_arn).ok();
            match eventbridge::decide(&event, own.as_ref())? {
                Decision::Skip(why) => {
                    info!(step = "classify", reason = why.as_str(), "event skipped");
                    Ok(json!({ "outcome": "skipped", "reason": why }))
                }
                Decision::Share(recipe) => {
                    span.record("recipe", recipe.as_str());
                    let deadline = Deadline::from_epoch_ms(ctx.deadline).earlier_by(EVENT_RESERVE);
                    let run = Run { test_panic: false, recipe_may_be_new: true };
                    let progress = Arc::new(Progress::default());
                    match run_bounded(app.clone(), Ok(Work::Share(recipe.clone())), progress, deadline, run).await? {
                        Outcome::Shared(s) => Ok(json!({
                            "imageRecipeArn": recipe.as_str(),
                            "resourceShareArn": s.share_arn,
                            "outcome": if s.changes.is_empty() { "already-shared" } else { "shared" },
                            "changes": s.changes,
                        })),
                        other => Err(Error::Panicked(format!("unexpected outcome {other:?}"))),
                    }
                }
            }
        }
        .await;
        match &result {
            Ok(summary) => info!(step = "done", %summary, "event handled"),
            Err(e) => error!(step = "done", error = %e, error_type = e.error_type(), "event failed; Lambda will retry it, then the dead-letter queue keeps it"),
        }
        result
    }
    .instrument(span)
    .await
}

/// A reconcile sweep (scheduled or by hand): report or apply the standard on every recipe.
async fn sweep_event(app: Arc<App>, request: Result<SweepRequest, Error>, ctx: Context) -> Result<Value, Error> {
    let span = info_span!("sweep", requestId = %ctx.request_id);
    async move {
        let result = async {
            let config = app.config.share.clone()?;
            let request = request?;
            let deadline = Deadline::from_epoch_ms(ctx.deadline);
            sweep::run(app.clone(), config, request, deadline, &ctx.invoked_function_arn).await
        }
        .await;
        if let Err(e) = &result {
            error!(step = "sweep", error = %e, error_type = e.error_type(), "sweep invocation failed");
        }
        result
    }
    .instrument(span)
    .await
}

/// How one run of the work behaves.
#[derive(Debug, Clone, Copy)]
struct Run {
    /// Debug builds only: panic inside the task, to prove a panic still gets its answer.
    test_panic: bool,
    /// See [`Flow::recipe_may_be_new`].
    recipe_may_be_new: bool,
}

/// Runs the work in its own task: a panic becomes an error, and the deadline ends a hung call.
async fn run_bounded(
    app: Arc<App>,
    work: Result<Work, String>,
    progress: Arc<Progress>,
    deadline: Deadline,
    run: Run,
) -> Result<Outcome, Error> {
    let task_progress = progress.clone();
    let task = tokio::spawn(
        async move {
            let config = app.config.share.clone().map_err(Error::from)?;
            let work = work.map_err(Error::InvalidRequest)?;
            // Debug builds only: lets the tests prove a panic still gets its FAILED response.
            if run.test_panic {
                panic!("test panic requested by RecipeShareTestPanic");
            }
            let flow = Flow {
                aws: &app.aws,
                config: &config,
                deadline,
                recipe_may_be_new: run.recipe_may_be_new,
                progress: &task_progress,
            };
            match work {
                Work::Share(recipe) => flow.share(&recipe).await.map(Outcome::Shared),
                Work::Unshare { recipe, .. } => flow.unshare(&recipe).await.map(Outcome::Unshared),
                Work::Nothing(why) => Ok(Outcome::Nothing(why)),
            }
        }
        .instrument(tracing::Span::current()),
    );
    let abort = task.abort_handle();
    match tokio::time::timeout_at(deadline.instant().into(), task).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(join)) if join.is_panic() => {
            let payload = join.into_panic();
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(Error::Panicked(msg))
        }
        Ok(Err(join)) => Err(Error::Panicked(join.to_string())),
        Err(_) => {
            abort.abort();
            Err(Error::Deadline(progress.cut_off()))
        }
    }
}

/// The answer for CloudFormation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub success: bool,
    pub reason: String,
    pub physical_id: String,
    pub data: BTreeMap<&'static str, String>,
}

impl Reply {
    fn status(&self) -> &'static str {
        if self.success { "SUCCESS" } else { "FAILED" }
    }
}

/// Pure: the response for an outcome. A failed rollback Delete still succeeds (it undid what it
/// could, and a stuck rollback helps nobody); any other failure is FAILED with an ID that keeps
/// CloudFormation's follow-up Delete safe: a no-op when nothing changed, an undo when it did.
pub fn response_for(plan: &Plan, outcome: &Result<Outcome, Error>, changed: bool, logs: &str) -> Reply {
    let about = plan.recipe.as_deref().unwrap_or("the request");
    let ok = |reason: String, data: BTreeMap<&'static str, String>| Reply {
        success: true,
        reason,
        physical_id: plan.id_on_success.clone(),
        data,
    };
    match outcome {
        Ok(Outcome::Shared(s)) => ok(
            if s.changes.is_empty() {
                format!(
                    "{about} was already shared by the organization standard through {}",
                    s.share_arn
                )
            } else {
                format!(
                    "{about} is shared by the organization standard through {} ({})",
                    s.share_arn,
                    s.changes.join(", ")
                )
            },
            BTreeMap::from([
                ("ImageRecipeArn", plan.id_on_success.clone()),
                ("ResourceShareArn", s.share_arn.clone()),
            ]),
        ),
        Ok(Outcome::Unshared(u)) => {
            let mut reason = format!("{about} unshared; deleted {} share(s)", u.deleted.len());
            if !u.left.is_empty() {
                reason.push_str(&format!("; left alone: {}", u.left.join("; ")));
            }
            ok(reason, BTreeMap::new())
        }
        Ok(Outcome::Nothing(why)) => ok(format!("nothing to do: {why}"), BTreeMap::new()),
        Err(e) if matches!(plan.work, Ok(Work::Unshare { best_effort: true, .. })) => Reply {
            success: true,
            reason: format!("rollback of {about} undid what it could; not undone: {e}. {logs}"),
            physical_id: plan.id_on_failure.clone(),
            data: BTreeMap::new(),
        },
        Err(e) => Reply {
            success: false,
            reason: format!(
                "{} of Custom::ImageRecipeShare failed for {about}: {e}. Details: {logs}",
                plan.kind
            ),
            physical_id: if changed {
                plan.id_on_failure_changed.clone()
            } else {
                plan.id_on_failure.clone()
            },
            data: BTreeMap::new(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arn::ImageRecipeArn;

    const R: &str = "arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/web/1.0.0";

    fn plan_for(work: Work) -> Plan {
        Plan {
            kind: "Create",
            work: Ok(work),
            recipe: Some(R.into()),
            id_on_success: R.into(),
            id_on_failure: "recipe-share:nothing-shared:1".into(),
            id_on_failure_changed: format!("recipe-share:rollback:{R}"),
        }
    }

    #[test]
    fn response_table() {
        let recipe = ImageRecipeArn::parse(R).unwrap();
        let share = Work::Share(recipe.clone());
        let shared = Ok(Outcome::Shared(Shared {
            share_arn: "arn:share".into(),
            changes: vec!["policy-written"],
        }));
        let r = response_for(&plan_for(share.clone()), &shared, true, "logs");
        assert!(r.success);
        assert_eq!(r.physical_id, R);
        assert_eq!(r.data["ResourceShareArn"], "arn:share");
        assert_eq!(r.data["ImageRecipeArn"], R);

        let failed: Result<Outcome, Error> = Err(Error::Deadline("waiting for the share".into()));
        let r = response_for(&plan_for(share.clone()), &failed, false, "group g stream s");
        assert!(!r.success);
        assert_eq!(r.physical_id, "recipe-share:nothing-shared:1");
        assert!(
            r.reason.contains(R) && r.reason.contains("waiting for the share") && r.reason.contains("stream s"),
            "{}",
            r.reason
        );
        let r = response_for(&plan_for(share), &failed, true, "logs");
        assert_eq!(r.physical_id, format!("recipe-share:rollback:{R}"));

        let rollback = Work::Unshare {
            recipe: recipe.clone(),
            best_effort: true,
        };
        let r = response_for(&plan_for(rollback), &failed, true, "logs");
        assert!(r.success, "a rollback Delete always succeeds");
        let delete = Work::Unshare {
            recipe,
            best_effort: false,
        };
        assert!(!response_for(&plan_for(delete), &failed, true, "logs").success);
        let nothing = response_for(&plan_for(Work::Nothing("x")), &Ok(Outcome::Nothing("x")), false, "logs");
        assert!(nothing.success);
    }

    #[test]
    fn describe_never_shows_values() {
        let d = describe(&json!({"secret": "https://b.s3.amazonaws.com/?X-Amz-Signature=abc", "n": 1}));
        assert!(d.contains("secret") && !d.contains("Signature"), "{d}");
        assert_eq!(describe(&json!("x")), "a JSON string");
        assert_eq!(describe(&json!([1])), "a JSON array");
    }

    #[test]
    fn reserve_is_bounded() {
        assert_eq!(respond_reserve(Duration::from_secs(1)), Duration::from_millis(400));
        assert_eq!(respond_reserve(Duration::from_secs(10)), Duration::from_secs(2));
        assert_eq!(respond_reserve(Duration::from_secs(900)), Duration::from_secs(4));
    }
}
