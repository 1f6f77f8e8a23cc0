//! One invocation, end to end: classify the event, run the work in its own task bounded by the
//! deadline (so a hang or a panic still ends in an answer), and deliver exactly one response.

use crate::arn::{self, Location};
use crate::aws::{Aws, CallStats};
use crate::cfn::{self, Echo, Plan, Work};
use crate::config::Config;
use crate::converge::{Ctx, Progress};
use crate::deadline::{Deadline, now_epoch_ms};
use crate::error::Error;
use crate::eventbridge::{self, Decision};
use crate::flow::{self, Shared, Unshared};
use crate::http::Http;
use crate::kind::Kind;
use crate::metrics::{self, Entry, Record, Unit};
use crate::scope::DELETION_REQUESTED;
use crate::sweep;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Once, OnceLock};
use std::time::Duration;
use tracing::{Instrument, error, info, info_span, warn};

/// What the function holds across invocations: clients built once, configuration read once.
#[derive(Debug)]
pub struct App {
    pub aws: Aws,
    /// The one HTTP client (the AWS clients' too, in production): built on first use.
    http: Arc<Http>,
    pub config: Config,
    /// The function's own location when the invocation cannot tell it (local emulators): asked of
    /// STS once.
    own: OnceLock<Location>,
}

impl App {
    /// Builds the app from an SDK configuration (the Lambda's, or one aimed at the local stand-in).
    pub fn new(sdk: &aws_config::SdkConfig, config: Config) -> Arc<App> {
        App::with_http(sdk, config, Http::new())
    }

    /// Builds the app around `http`, the client `sdk` uses too (so both share one TLS setup).
    pub fn with_http(sdk: &aws_config::SdkConfig, config: Config, http: Arc<Http>) -> Arc<App> {
        if let Err(e) = &config.share {
            error!(
                setting = e.setting,
                problem = e.problem.as_str(),
                "bad configuration: every request will fail until it is fixed"
            );
        }
        Arc::new(App {
            aws: Aws::new(sdk),
            http,
            config,
            own: OnceLock::new(),
        })
    }

    /// The production wiring: the process environment and the default AWS credential chain.
    pub async fn from_env() -> Arc<App> {
        let http = Http::new();
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(http.sdk_client())
            .load()
            .await;
        App::with_http(&sdk, Config::from_env(), http)
    }
}

/// Entry point for every event the function receives: handles it, then writes its one metrics
/// record to stdout (where Lambda's log agent hands it to CloudWatch).
pub async fn handle(app: Arc<App>, event: LambdaEvent<Value>) -> Result<Value, Error> {
    let (result, record) = handle_with_metrics(app, event).await;
    println!("{}", record.to_line());
    result
}

/// An invocation's entry point, result, and (for a sweep) the counts it was handed.
type Dispatched = (Entry, Result<Value, Error>, BTreeMap<String, u64>);
type Dispatch = std::pin::Pin<Box<dyn Future<Output = Dispatched> + Send>>;

/// Handles one event and returns, beside its result, the invocation's metrics record.
pub async fn handle_with_metrics(app: Arc<App>, event: LambdaEvent<Value>) -> (Result<Value, Error>, Record) {
    let started = std::time::Instant::now();
    let stats = Arc::new(CallStats::default());
    let LambdaEvent { payload, context } = event;
    // Boxed: the entries' futures nest deeply enough to overflow the compiler's layout depth.
    let dispatch: Dispatch = Box::pin(async move {
        if let Some(request) = sweep::parse(&payload) {
            let before = request.as_ref().map(|r| r.totals.counts.clone()).unwrap_or_default();
            let result = Box::pin(sweep_event(app, request, context)).await;
            return (Entry::Sweep, result, before);
        }
        if cfn::is_request(&payload) {
            return (
                Entry::CustomResource,
                custom_resource(app, payload, context).await,
                BTreeMap::new(),
            );
        }
        if eventbridge::is_event(&payload) {
            return (
                Entry::EventBridge,
                eventbridge_event(app, payload, context).await,
                BTreeMap::new(),
            );
        }
        let err = Error::UnsupportedEvent(describe(&payload));
        error!(step = "classify", error = %err, "event not handled");
        // Whatever delivered it, it is counted where the rule's events are: a failure to look at.
        (Entry::EventBridge, Err(err), BTreeMap::new())
    });
    let (entry, result, before) = CallStats::scope(stats.clone(), dispatch).await;
    let mut record = Record::new(entry, now_epoch_ms());
    tally(&mut record, entry, &result, &before);
    record.count("AwsCalls", stats.attempts());
    record.count("ThrottledCalls", stats.throttled());
    record.set(
        "DurationMs",
        started.elapsed().as_secs_f64() * 1000.0,
        Unit::Milliseconds,
    );
    (result, record)
}

/// Pure: the outcome counts of one invocation, from its result. A sweep counts the recipes this
/// invocation finished (its totals less the ones it was handed), and, when it completes, the
/// quota and, in apply mode, the findings it could not fix.
pub fn tally(record: &mut Record, entry: Entry, result: &Result<Value, Error>, before: &BTreeMap<String, u64>) {
    let Ok(out) = result else {
        record.count("Failed", 1);
        return;
    };
    match entry {
        Entry::CustomResource | Entry::EventBridge => {
            let outcome = out
                .get("outcome")
                .or_else(|| out.get("Outcome"))
                .and_then(Value::as_str);
            let metric = match outcome {
                Some("shared") => "Shared",
                Some("already-shared") => "AlreadyShared",
                Some("released" | "unshared") => "Unshared",
                Some("skipped") => "Skipped",
                _ => "Failed",
            };
            record.count(metric, 1);
        }
        Entry::Sweep => {
            let counts = out["counts"].as_object().cloned().unwrap_or_default();
            for (status, n) in &counts {
                let n = n
                    .as_u64()
                    .unwrap_or(0)
                    .saturating_sub(before.get(status).copied().unwrap_or(0));
                let outcome = match status.as_str() {
                    "compliant" => Some("AlreadyShared"),
                    "fixed" => Some("Fixed"),
                    "failed" => Some("Failed"),
                    "excluded" => Some("Skipped"),
                    _ => None,
                };
                if let Some(o) = outcome {
                    record.count(o, n);
                }
                if !matches!(status.as_str(), "compliant" | "fixed" | "failed") {
                    record.count(&metrics::status_metric(status), n);
                }
            }
            if out["status"] == "complete" {
                let q = &out["quota"];
                for (field, metric, unit) in [
                    ("headroomPercent", "QuotaHeadroomPercent", Unit::Percent),
                    ("resourceShares", "ResourceShares", Unit::Count),
                    ("principalAssociations", "PrincipalAssociations", Unit::Count),
                ] {
                    if let Some(v) = q[field].as_f64() {
                        record.set(metric, v, unit);
                    }
                }
                if out["mode"] == "apply" {
                    let unfixed: u64 = counts
                        .iter()
                        // Excluded recipes are as their owners asked: not a finding to alarm on.
                        .filter(|(s, _)| !matches!(s.as_str(), "compliant" | "fixed" | "deleted" | "excluded"))
                        .map(|(_, n)| n.as_u64().unwrap_or(0))
                        .sum();
                    record.count("Unfixed", unfixed);
                }
            }
        }
    }
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

/// The budget when no real deadline came with the event: the configured timeout, else Lambda's
/// default for this function's template.
const LOCAL_BUDGET: Duration = Duration::from_secs(300);

/// Pure: the invocation's deadline. Lambda always sends one in the future; a deadline already
/// past on arrival comes from a local emulator (`cargo lambda watch` sends a constant), so the
/// budget is the function's configured timeout (`AWS_LAMBDA_FUNCTION_TIMEOUT`, seconds) or 300 s.
pub fn deadline_of(deadline_ms: u64, now_ms: u64, configured_timeout: Option<&str>) -> (Deadline, bool) {
    if deadline_ms > now_ms {
        return (Deadline::after(Duration::from_millis(deadline_ms - now_ms)), false);
    }
    let budget = configured_timeout
        .and_then(|t| t.trim().parse::<u64>().ok())
        .filter(|s| (1..=900).contains(s))
        .map_or(LOCAL_BUDGET, Duration::from_secs);
    (Deadline::after(budget), true)
}

/// The deadline of `ctx`, with the one warning an emulator's deadline deserves.
fn deadline(ctx: &Context) -> Deadline {
    static WARNED: Once = Once::new();
    let timeout = std::env::var("AWS_LAMBDA_FUNCTION_TIMEOUT").ok();
    let (deadline, local) = deadline_of(ctx.deadline, now_epoch_ms(), timeout.as_deref());
    if local {
        WARNED.call_once(|| {
            warn!(
                step = "deadline",
                received_ms = ctx.deadline,
                budget_s = deadline.remaining().as_secs(),
                "the invocation's deadline had already passed when it arrived: a local emulator, not Lambda; using a default budget"
            )
        });
    }
    deadline
}

/// The function's own partition, account and Region: from the invoked function ARN, which Lambda
/// always sends; a local emulator sends a placeholder (`function-arn`), and then STS says which
/// account the credentials belong to (once per process), the Region being the SDK's.
async fn own_location(app: &App, ctx: &Context) -> Option<Location> {
    static WARNED: Once = Once::new();
    if let Some(own) = arn::function_location(&ctx.invoked_function_arn) {
        return Some(own);
    }
    if let Some(own) = app.own.get() {
        return Some(own.clone());
    }
    WARNED.call_once(|| {
        warn!(
            step = "own-account",
            invoked_function_arn = ctx.invoked_function_arn.chars().take(100).collect::<String>(),
            "the invoked function ARN is not a Lambda function ARN: a local emulator, not Lambda; asking STS which account this is"
        )
    });
    let asked = tokio::time::timeout(Duration::from_secs(5), app.aws.caller()).await;
    match (asked, &app.aws.region) {
        (Ok(Ok((partition, account))), Some(region)) if arn::is_account_id(&account) => {
            let own = Location {
                partition,
                region: region.clone(),
                account,
            };
            Some(app.own.get_or_init(|| own).clone())
        }
        (asked, _) => {
            let why = match asked {
                Ok(Err(f)) => f.to_string(),
                Err(_) => "GetCallerIdentity did not answer".into(),
                Ok(Ok(_)) => "no Region configured, or STS gave no account".into(),
            };
            warn!(
                step = "own-account",
                why = why.as_str(),
                "the own account is unknown; nothing will be shared"
            );
            None
        }
    }
}

/// The `recipe-share:made-by` value for shares a stack's custom resource makes (tag values are at
/// most 256 characters).
pub fn made_by_stack(echo: &Echo) -> String {
    let stack = echo.stack_id.split('/').nth(1).unwrap_or(&echo.stack_id);
    format!("cloudformation:{stack}/{}", echo.logical_resource_id)
        .chars()
        .take(256)
        .collect()
}

/// What the work produced.
#[derive(Debug)]
pub enum Outcome {
    Shared(Shared),
    Unshared(Unshared),
    /// A rollback Update: the restored recipe, and what undoing the failed Update's recipe did.
    RolledBack {
        shared: Shared,
        undo: Result<Unshared, String>,
    },
    Nothing(&'static str),
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
        let deadline = deadline(&ctx);
        let work_deadline = deadline.earlier_by(respond_reserve(deadline.remaining()));
        let own = own_location(&app, &ctx).await;
        let plan = cfn::plan(&event, own.as_ref());
        let span = tracing::Span::current();
        span.record("request_type", plan.kind);
        if let Some(r) = &plan.recipe {
            span.record("recipe", r.as_str());
        }
        let echo = cfn::echo(&event);
        let progress = Arc::new(Progress::default());
        let run = Run {
            test_panic: cfg!(debug_assertions) && event["ResourceProperties"]["RecipeShareTestPanic"] == "true",
            may_be_new: false,
            made_by: made_by_stack(&echo),
        };
        let outcome = run_bounded(app.clone(), plan.work.clone().map(Task::Cfn), progress.clone(), work_deadline, run).await;
        let logs = format!(
            "CloudWatch Logs group {} stream {} (request {})",
            ctx.env_config.log_group, ctx.env_config.log_stream, ctx.request_id
        );
        let reply = response_for(&plan, &outcome, progress.changed(), &progress.ours(), &logs);
        match &outcome {
            Ok(_) => info!(step = "decide", status = reply.status(), physical_id = reply.physical_id.as_str(), "answering CloudFormation"),
            Err(e) => warn!(step = "decide", status = reply.status(), physical_id = reply.physical_id.as_str(), error = %e, "answering CloudFormation"),
        }
        let body = cfn::response_body(reply.success, &reply.reason, &reply.physical_id, &echo, &reply.data);
        let delivered = cfn::deliver(&app.http, &url, body, deadline.earlier_by(Duration::from_millis(100))).await;
        let attempts = delivered.inspect_err(|e| error!(step = "respond", error = %e))?;
        Ok(json!({
            "Status": reply.status(),
            "PhysicalResourceId": reply.physical_id,
            "Attempts": attempts,
            "Outcome": outcome_name(&outcome, reply.success),
        }))
    }
    .instrument(span)
    .await
}

/// The result key naming a resource: `imageRecipeArn`, `containerRecipeArn`, `componentArn`, `imageArn`.
fn arn_key(arn: &str) -> &'static str {
    match crate::arn::ResourceArn::parse_any(arn).map(|a| a.kind()) {
        Ok(Kind::ContainerRecipe) => "containerRecipeArn",
        Ok(Kind::Component) => "componentArn",
        Ok(Kind::Image) => "imageArn",
        _ => "imageRecipeArn",
    }
}

/// Pure: what a custom-resource request did, for its metrics: `shared`, `already-shared`,
/// `unshared`, `skipped`, or `failed` (a FAILED answer, or a rollback that could not undo all).
fn outcome_name(outcome: &Result<Outcome, Error>, success: bool) -> &'static str {
    let shared = |s: &Shared| {
        if s.changed_anything() {
            "shared"
        } else {
            "already-shared"
        }
    };
    match outcome {
        _ if !success => "failed",
        Ok(Outcome::Shared(s)) => shared(s),
        Ok(Outcome::RolledBack { shared: s, undo: Ok(_) }) => shared(s),
        Ok(Outcome::Unshared(_)) => "unshared",
        Ok(Outcome::Nothing(_)) => "skipped",
        Ok(Outcome::RolledBack { undo: Err(_), .. }) | Err(_) => "failed",
    }
}

/// Time kept back at the end of an EventBridge invocation to return its result to Lambda.
const EVENT_RESERVE: Duration = Duration::from_millis(300);

/// An EventBridge event: share the recipe it names, release one whose delete was refused, or
/// skip it with a logged reason. Errors are returned (not swallowed) so Lambda's retries and the
/// dead-letter queue keep the event.
async fn eventbridge_event(app: Arc<App>, event: Value, ctx: Context) -> Result<Value, Error> {
    let span = info_span!("eventbridge", requestId = %ctx.request_id, recipe = tracing::field::Empty, eventId = tracing::field::Empty);
    async move {
        let span = tracing::Span::current();
        if let Some(id) = event.get("id").and_then(Value::as_str) {
            span.record("eventId", id);
        }
        let result = async {
            app.config.share.clone()?;
            let own = own_location(&app, &ctx).await;
            let decision = eventbridge::decide(&event, own.as_ref())?;
            if let Decision::Skip(why) = &decision {
                info!(step = "classify", reason = why.as_str(), "event skipped");
                return Ok(json!({ "outcome": "skipped", "reason": why }));
            }
            let deadline = deadline(&ctx).earlier_by(EVENT_RESERVE);
            let run = Run { test_panic: false, may_be_new: true, made_by: "eventbridge".into() };
            let progress = Arc::new(Progress::default());
            run_bounded(app.clone(), Ok(Task::Event(decision)), progress, deadline, run).await.map(|o| match o {
                Outcome::Shared(s) => {
                    let mut out = json!({
                        "resourceShareArn": s.share_arn,
                        "outcome": if s.changed_anything() { "shared" } else { "already-shared" },
                        "changes": s.changes,
                        "sharedDependencies": s.shared_dependencies(),
                    });
                    out[arn_key(&s.resource)] = json!(s.resource);
                    let excluded = s.excluded_dependencies();
                    if !excluded.is_empty() {
                        warn!(step = "dependencies", ?excluded, "dependencies tagged recipe-share:exclude are not shared: consumers cannot build from the recipe");
                        out["excludedDependencies"] = json!(excluded);
                    }
                    out
                }
                Outcome::Unshared(u) => json!({
                    arn_key(&u.resource): u.resource,
                    "outcome": "released",
                    "changes": u.changes,
                    "leftAlone": u.left.iter().map(|(s, why)| format!("{s}: {why}")).collect::<Vec<_>>(),
                }),
                Outcome::Nothing(why) => json!({ "outcome": "skipped", "reason": why }),
                Outcome::RolledBack { .. } => json!({ "outcome": "unexpected" }),
            })
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
async fn sweep_event(app: Arc<App>, request: Result<sweep::SweepRequest, Error>, ctx: Context) -> Result<Value, Error> {
    let span = info_span!("sweep", requestId = %ctx.request_id);
    async move {
        let result = async {
            let config = app.config.share.clone()?;
            let request = request?;
            let deadline = deadline(&ctx);
            // The next link is this function: its ARN, or under a local emulator its name.
            let me = match arn::function_location(&ctx.invoked_function_arn) {
                Some(_) => ctx.invoked_function_arn.clone(),
                None => ctx.env_config.function_name.clone(),
            };
            sweep::run(&app.aws, Arc::new(config), request, deadline, &me, &ctx.request_id).await
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

/// The work of one invocation.
#[derive(Debug, Clone)]
enum Task {
    Cfn(Work),
    Event(Decision),
}

/// How one run of the work behaves.
#[derive(Debug, Clone)]
struct Run {
    /// Debug builds only: panic inside the task, to prove a panic still gets its answer.
    test_panic: bool,
    /// See [`Ctx::may_be_new`].
    may_be_new: bool,
    made_by: String,
}

/// Runs the work in its own task: a panic becomes an error, and the deadline ends a hung call.
async fn run_bounded(
    app: Arc<App>,
    work: Result<Task, String>,
    progress: Arc<Progress>,
    deadline: Deadline,
    run: Run,
) -> Result<Outcome, Error> {
    let task_progress = progress.clone();
    let stats = CallStats::current().unwrap_or_default();
    let task = tokio::spawn(
        CallStats::scope(stats, async move {
            let config = app.config.share.clone().map_err(Error::from)?;
            let work = work.map_err(Error::InvalidRequest)?;
            // Debug builds only: lets the tests prove a panic still gets its FAILED response.
            if run.test_panic {
                panic!("test panic requested by RecipeShareTestPanic");
            }
            let ctx = Ctx {
                aws: &app.aws,
                config: &config,
                // A little before the task's own cut-off, so the call that was cut off names itself.
                deadline: deadline.earlier_by(Duration::from_millis(20)),
                progress: &task_progress,
                made_by: &run.made_by,
                may_be_new: run.may_be_new,
            };
            work_on(&ctx, work).await
        })
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

/// The work itself, inside the bounded task.
async fn work_on(ctx: &Ctx<'_>, task: Task) -> Result<Outcome, Error> {
    let work = match task {
        Task::Cfn(work) => work,
        Task::Event(decision) => return event_work(ctx, decision).await,
    };
    match work {
        Work::Share(recipe) => flow::share(ctx, &recipe, None, &[]).await.map(Outcome::Shared),
        Work::Unshare { recipe, made, .. } => flow::unshare(ctx, &recipe, None, &made).await.map(Outcome::Unshared),
        Work::Rollback { restore, undo } => {
            let shared = flow::share(ctx, &restore, None, &[]).await?;
            // Only the shares this stack resource made: the failed Update may have found the
            // other recipe shared already (by the EventBridge trigger, say), and leaves it so.
            let undo = flow::unshare(ctx, &undo, Some(ctx.made_by.to_string()), &[])
                .await
                .map_err(|e| e.to_string());
            Ok(Outcome::RolledBack { shared, undo })
        }
        Work::Nothing(why) => Ok(Outcome::Nothing(why)),
    }
}

/// An EventBridge event's work, inside the bounded task.
async fn event_work(ctx: &Ctx<'_>, decision: Decision) -> Result<Outcome, Error> {
    let remember = |r: &str| {
        tracing::Span::current().record("recipe", r);
    };
    match decision {
        Decision::Share { recipe, facts } => {
            remember(recipe.as_str());
            share_created(ctx, &recipe, &facts).await
        }
        Decision::Lookup {
            kind,
            name,
            version,
            facts,
            missing,
        } => {
            warn!(
                step = "classify",
                ?missing,
                name = name.as_str(),
                version = version.as_str(),
                "the CloudTrail record lacks fields; looking the recipe up by name and version"
            );
            let arns = match kind {
                Kind::ContainerRecipe => {
                    ctx.call("ListContainerRecipes", ctx.aws.container_recipes_named(&name))
                        .await?
                }
                _ => ctx.call("ListImageRecipes", ctx.aws.recipes_named(&name)).await?,
            };
            let Some(raw) = eventbridge::pick_version(&arns, &version) else {
                return Err(Error::NotFound {
                    kind,
                    arn: format!("named {name:?} version {version}"),
                });
            };
            let recipe = crate::arn::ResourceArn::parse(kind, raw)?;
            remember(recipe.as_str());
            share_created(ctx, &recipe, &facts).await
        }
        Decision::Release(recipe) => {
            remember(recipe.as_str());
            // Tagged first: from now on no entry point shares it again, so the owner's next
            // delete succeeds even if a sweep runs in between.
            let tagged = tokio::time::timeout_at(
                ctx.deadline.instant().into(),
                ctx.aws
                    .tag_resource(&recipe, crate::decide::EXCLUDE_TAG, DELETION_REQUESTED),
            )
            .await
            .map_err(|_| Error::Deadline("waiting for TagResource".into()))?;
            match tagged {
                Err(f) if f.is("ResourceNotFoundException") => {
                    info!(step = "release", "the recipe is already gone");
                    return Ok(Outcome::Nothing("the recipe is already gone"));
                }
                other => other?,
            }
            flow::unshare(ctx, &recipe, None, &[]).await.map(|mut u| {
                u.changes.insert(0, "recipe-excluded");
                Outcome::Unshared(u)
            })
        }
        Decision::Skip(_) => Ok(Outcome::Nothing("skipped")),
    }
}

/// A recipe a CloudTrail record says was created: shared unless it is out of scope, by the tags it
/// was created with (no call at all) or by the tags it has now (its owner may since have asked to
/// delete it: the record can arrive minutes late, or twice).
async fn share_created(
    ctx: &Ctx<'_>,
    recipe: &crate::arn::ResourceArn,
    facts: &crate::scope::Facts,
) -> Result<Outcome, Error> {
    const EXCLUDED: &str = "the recipe is tagged recipe-share:exclude";
    if let Some(value) = facts.excluded() {
        info!(
            step = "scope",
            tag = crate::decide::EXCLUDE_TAG,
            value,
            "excluded recipe skipped"
        );
        return Ok(Outcome::Nothing(EXCLUDED));
    }
    match flow::share(ctx, recipe, None, &[]).await {
        Err(Error::Excluded { value, .. }) => {
            info!(
                step = "scope",
                tag = crate::decide::EXCLUDE_TAG,
                value = value.as_str(),
                "excluded recipe skipped"
            );
            Ok(Outcome::Nothing(EXCLUDED))
        }
        other => other.map(Outcome::Shared),
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

fn shared_reason(about: &str, s: &Shared) -> String {
    let mut reason = if s.changes.is_empty() {
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
    };
    let shared = s.shared_dependencies().len();
    if shared > 0 {
        reason.push_str(&format!("; {shared} of its own components and images shared too"));
    }
    let excluded = s.excluded_dependencies();
    if !excluded.is_empty() {
        // First, so that no cut of a long Reason hides it.
        reason = format!(
            "not shared, tagged recipe-share:exclude, so consumers cannot build from it: {}; {reason}",
            excluded.join(", ")
        );
    }
    reason
}

/// Pure: the response for an outcome. A failed rollback Delete still succeeds (it undid what it
/// could, and a stuck rollback helps nobody); any other failure is FAILED with an ID that keeps
/// CloudFormation's follow-up Delete safe: a no-op when nothing changed, an undo when it did.
pub fn response_for(
    plan: &Plan,
    outcome: &Result<Outcome, Error>,
    changed: bool,
    made: &[String],
    logs: &str,
) -> Reply {
    let about = plan.recipe.as_deref().unwrap_or("the request");
    let ok = |reason: String, data: BTreeMap<&'static str, String>| Reply {
        success: true,
        reason,
        physical_id: plan.id_on_success.clone(),
        data,
    };
    let data = |s: &Shared| {
        BTreeMap::from([
            (cfn::target_key(&plan.id_on_success), plan.id_on_success.clone()),
            ("ResourceShareArn", s.share_arn.clone()),
            (cfn::SHARED_DEPENDENCIES, s.shared_dependencies().join(",")),
        ])
    };
    match outcome {
        Ok(Outcome::Shared(s)) => ok(shared_reason(about, s), data(s)),
        Ok(Outcome::RolledBack { shared, undo }) => {
            let mut reason = shared_reason(about, shared);
            match undo {
                Ok(u) => reason.push_str(&format!(
                    "; the recipe of the failed update is as that update found it ({})",
                    if u.changes.is_empty() {
                        "nothing to undo".to_string()
                    } else {
                        u.changes.join(", ")
                    }
                )),
                Err(e) => reason.push_str(&format!(
                    "; undoing the failed update did what it could; not undone: {e}. {logs}"
                )),
            }
            ok(reason, data(shared))
        }
        Ok(Outcome::Unshared(u)) => {
            let deleted = u.changes.iter().filter(|c| **c == "share-deleted").count();
            let mut reason = format!("{about} unshared; deleted {deleted} share(s)");
            if !u.left.is_empty() {
                let left: Vec<String> = u.left.iter().map(|(s, why)| format!("{s} ({why})")).collect();
                reason.push_str(&format!("; left alone: {}", left.join("; ")));
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
            physical_id: match (changed, plan.kind) {
                // The rollback Delete deletes the shares this Create made, tagged yet or not.
                (true, "Create") if !made.is_empty() => cfn::rollback_id(&plan.id_on_success, made),
                (true, _) => plan.id_on_failure_changed.clone(),
                (false, _) => plan.id_on_failure.clone(),
            },
            data: BTreeMap::new(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arn::ResourceArn;

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
    fn a_sweeps_tally_counts_this_invocation_and_unfixed_findings_once_complete() {
        let before = BTreeMap::from([("compliant".to_string(), 2u64), ("failed".to_string(), 1)]);
        let summary = |status: &str, mode: &str| {
            json!({"mode": mode, "status": status, "quota": {"headroomPercent": 42, "resourceShares": 7, "principalAssociations": 14},
                   "counts": {"compliant": 3, "fixed": 2, "excluded": 1, "failed": 1, "dependencies-unshared": 1, "deleted": 1, "policy-drift": 0}})
        };
        let mut r = Record::new(Entry::Sweep, 0);
        tally(&mut r, Entry::Sweep, &Ok(summary("complete", "apply")), &before);
        let got = |r: &Record, m: &str| r.get(m);
        assert_eq!(
            got(&r, "AlreadyShared"),
            Some(1.0),
            "3 counted, 2 of them by earlier invocations"
        );
        assert_eq!(got(&r, "Failed"), Some(0.0));
        assert_eq!(
            (got(&r, "Fixed"), got(&r, "Skipped"), got(&r, "Excluded")),
            (Some(2.0), Some(1.0), Some(1.0))
        );
        assert_eq!(
            (got(&r, "DependenciesUnshared"), got(&r, "Deleted")),
            (Some(1.0), Some(1.0))
        );
        assert_eq!(
            got(&r, "Unfixed"),
            Some(2.0),
            "failed and dependencies-unshared, over the whole sweep"
        );
        assert_eq!(got(&r, "QuotaHeadroomPercent"), Some(42.0));
        for (status, mode) in [("continued", "apply"), ("complete", "report")] {
            let mut r = Record::new(Entry::Sweep, 0);
            tally(&mut r, Entry::Sweep, &Ok(summary(status, mode)), &BTreeMap::new());
            assert_eq!(got(&r, "Unfixed"), None, "{status} {mode}");
            assert_eq!(got(&r, "QuotaHeadroomPercent").is_some(), status == "complete");
        }
        let mut r = Record::new(Entry::Sweep, 0);
        tally(&mut r, Entry::Sweep, &Err(Error::Sweep("x".into())), &BTreeMap::new());
        assert_eq!(got(&r, "Failed"), Some(1.0));
    }

    #[test]
    fn response_table() {
        let recipe = ResourceArn::image_recipe(R).unwrap();
        let share = Work::Share(recipe.clone());
        let s = Shared {
            resource: R.into(),
            share_arn: "arn:share".into(),
            changes: vec!["policy-written"],
            dependencies: vec![],
        };
        let r = response_for(
            &plan_for(share.clone()),
            &Ok(Outcome::Shared(s.clone())),
            true,
            &[],
            "logs",
        );
        assert!(r.success);
        assert_eq!(r.physical_id, R);
        assert_eq!(r.data["ResourceShareArn"], "arn:share");
        assert_eq!(r.data["ImageRecipeArn"], R);
        assert_eq!(r.data["SharedDependencies"], "", "always there, so Fn::GetAtt works");
        let component = |n: &str| format!("arn:aws:imagebuilder:us-east-1:123456789012:component/{n}/1.0.0/1");
        let with_deps = Shared {
            dependencies: vec![
                flow::DependencyResult {
                    arn: component("a"),
                    outcome: flow::DependencyOutcome::Shared {
                        share_arn: "arn:share-a".into(),
                        changes: vec![],
                    },
                },
                flow::DependencyResult {
                    arn: component("draft"),
                    outcome: flow::DependencyOutcome::Excluded {
                        value: "yes".into(),
                        changes: vec![],
                    },
                },
            ],
            ..s.clone()
        };
        let r = response_for(
            &plan_for(share.clone()),
            &Ok(Outcome::Shared(with_deps)),
            true,
            &[],
            "logs",
        );
        assert!(r.success);
        assert_eq!(r.data["SharedDependencies"], component("a"));
        assert!(
            r.reason.starts_with("not shared, tagged recipe-share:exclude") && r.reason.contains(&component("draft")),
            "{}",
            r.reason
        );

        let failed: Result<Outcome, Error> = Err(Error::Deadline("waiting for the share".into()));
        let r = response_for(&plan_for(share.clone()), &failed, false, &[], "group g stream s");
        assert!(!r.success);
        assert_eq!(r.physical_id, "recipe-share:nothing-shared:1");
        assert!(
            r.reason.contains(R) && r.reason.contains("waiting for the share") && r.reason.contains("stream s"),
            "{}",
            r.reason
        );
        let r = response_for(&plan_for(share.clone()), &failed, true, &[], "logs");
        assert_eq!(r.physical_id, format!("recipe-share:rollback:{R}"));

        let r = response_for(&plan_for(share.clone()), &failed, true, &["arn:share".into()], "logs");
        assert_eq!(
            r.physical_id,
            format!("recipe-share:rollback:{R}|arn:share"),
            "the shares it made ride along"
        );
        let rollback = Work::Unshare {
            recipe: recipe.clone(),
            best_effort: true,
            made: vec![],
        };
        assert!(
            response_for(&plan_for(rollback), &failed, true, &[], "logs").success,
            "a rollback Delete always succeeds"
        );
        let delete = Work::Unshare {
            recipe: recipe.clone(),
            best_effort: false,
            made: vec![],
        };
        assert!(!response_for(&plan_for(delete), &failed, true, &[], "logs").success);
        let nothing = response_for(
            &plan_for(Work::Nothing("x")),
            &Ok(Outcome::Nothing("x")),
            false,
            &[],
            "logs",
        );
        assert!(nothing.success);
        let undo_failed = Ok(Outcome::RolledBack {
            shared: s,
            undo: Err("DeleteResourceShare failed".into()),
        });
        let r = response_for(
            &plan_for(Work::Rollback {
                restore: recipe.clone(),
                undo: recipe,
            }),
            &undo_failed,
            true,
            &[],
            "logs",
        );
        assert!(
            r.success && r.reason.contains("not undone: DeleteResourceShare failed"),
            "{}",
            r.reason
        );
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

    #[test]
    fn emulator_deadlines_get_a_default_budget() {
        let now = 1_800_000_000_000;
        let secs = |d: Deadline| d.remaining().as_secs_f64().round() as u64;
        let (d, local) = deadline_of(now + 30_000, now, None);
        assert!(!local && secs(d) == 30);
        // cargo-lambda 1.9.2 sends the constant 600000 (a deadline in 1970).
        let (d, local) = deadline_of(600_000, now, None);
        assert!(local && secs(d) == 300);
        let (d, local) = deadline_of(600_000, now, Some("60"));
        assert!(local && secs(d) == 60);
        let (d, _) = deadline_of(now, now, Some("nonsense"));
        assert_eq!(secs(d), 300);
    }

    #[test]
    fn made_by_names_the_stack_and_resource_within_256_characters() {
        let echo = Echo {
            stack_id: "arn:aws:cloudformation:us-east-1:123456789012:stack/golden/5b8a7e30-8f2c".into(),
            request_id: "r".into(),
            logical_resource_id: "RecipeShare".into(),
        };
        assert_eq!(made_by_stack(&echo), "cloudformation:golden/RecipeShare");
        let long = Echo {
            logical_resource_id: "L".repeat(255),
            ..echo
        };
        assert_eq!(made_by_stack(&long).chars().count(), 256);
    }
}
