//! The reconcile sweep: every image recipe the account owns, in `report` mode (reads only, says where
//! the account differs from the standard) or `apply` mode (the sharing flow on each). Recipes run with
//! bounded, adaptive concurrency that backs off on throttling; when the invocation's time runs short
//! the sweep stops launching, finishes what is in flight, and hands a continuation to the next
//! invocation, so an account of any size converges without reaching Lambda's 15-minute limit.

use crate::arn::ImageRecipeArn;
use crate::config::ShareConfig;
use crate::error::Error;
use crate::flow::{Flow, Progress};
use crate::handler::App;
use crate::retry::Deadline;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::task::JoinSet;
use tracing::{Instrument, info, warn};

/// Concurrency bounds: start modestly, never more than this many recipes at once.
const START_CONCURRENCY: usize = 4;
const MAX_CONCURRENCY: usize = 32;
/// Failures and findings carried between invocations and returned: enough to act on, small enough
/// for Lambda's 256 KB asynchronous payload limit.
const MAX_LISTED: usize = 200;

/// What the sweep does to each recipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Change nothing; report every recipe's state.
    Report,
    /// Run the sharing flow on every recipe.
    Apply,
}

/// Where the next invocation starts: the page token that produced the current page, and how many
/// recipes of that page were already launched.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Continuation {
    pub page_token: Option<String>,
    pub skip: usize,
}

/// One recipe that needs attention.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub recipe: String,
    pub status: String,
    pub detail: String,
}

/// What a sweep has done so far, carried from invocation to invocation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    pub counts: BTreeMap<String, u64>,
    pub recipes: u64,
    /// Recipes that failed (apply) or differ from the standard (report), first `MAX_LISTED`.
    pub findings: Vec<Finding>,
    pub invocations: u32,
    pub started_at_ms: u64,
    pub throttled_calls: u64,
}

/// A sweep request: `{"sweep": {"mode": "report" | "apply", "continuation": …, "carried": …}}`,
/// or an EventBridge scheduled event (which means apply).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepRequest {
    pub mode: Mode,
    pub continuation: Continuation,
    pub carried: Totals,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    mode: Option<Mode>,
    #[serde(default)]
    continuation: Continuation,
    #[serde(default)]
    carried: Totals,
}

/// Pure: `Some` when the event asks for a sweep (a malformed request is an error, not a skip).
pub fn parse(event: &Value) -> Option<Result<SweepRequest, Error>> {
    if event.get("source").and_then(Value::as_str) == Some("aws.events")
        && event.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event")
    {
        return Some(Ok(SweepRequest {
            mode: Mode::Apply,
            continuation: Continuation::default(),
            carried: Totals::default(),
        }));
    }
    let body = event.get("sweep")?;
    Some(
        serde_json::from_value::<Wire>(body.clone())
            .map_err(|e| {
                Error::InvalidRequest(format!(
                    "bad sweep request: {}",
                    e.to_string().chars().take(200).collect::<String>()
                ))
            })
            .map(|w| SweepRequest {
                mode: w.mode.unwrap_or(Mode::Report),
                continuation: w.continuation,
                carried: w.carried,
            }),
    )
}

/// Additive-increase, multiplicative-decrease concurrency: one more recipe at a time after a full
/// window without throttling, half as many after a throttled recipe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aimd {
    limit: usize,
    clean: usize,
}

impl Aimd {
    pub fn new() -> Self {
        Aimd {
            limit: START_CONCURRENCY,
            clean: 0,
        }
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Records one finished recipe.
    pub fn record(&mut self, throttled: bool) {
        if throttled {
            self.limit = (self.limit / 2).max(1);
            self.clean = 0;
        } else {
            self.clean += 1;
            if self.clean >= self.limit {
                self.limit = (self.limit + 1).min(MAX_CONCURRENCY);
                self.clean = 0;
            }
        }
    }
}

impl Default for Aimd {
    fn default() -> Self {
        Aimd::new()
    }
}

/// The result for one recipe.
#[derive(Debug)]
struct Done {
    recipe: String,
    status: &'static str,
    detail: String,
    throttled: u32,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
}

/// Runs (this invocation's part of) a sweep and returns its summary; hands the rest on to the next
/// invocation of `function_arn` when the time runs short.
pub async fn run(
    app: Arc<App>,
    config: ShareConfig,
    request: SweepRequest,
    deadline: Deadline,
    function_arn: &str,
) -> Result<Value, Error> {
    let total = deadline.remaining();
    // Time kept back to hand on the continuation and return; and, before that, for the recipes in
    // flight to finish once no new one is launched.
    let work_deadline = deadline.earlier_by((total / 10).clamp(Duration::from_millis(300), Duration::from_secs(5)));
    let launch_cutoff =
        work_deadline.earlier_by((total / 5).clamp(Duration::from_millis(500), Duration::from_secs(60)));
    let mut totals = request.carried.clone();
    if totals.started_at_ms == 0 {
        totals.started_at_ms = now_ms();
    }
    totals.invocations = totals.invocations.saturating_add(1);
    let mode = request.mode;
    info!(step = "sweep", ?mode, continuation = ?request.continuation, invocation = totals.invocations, "sweep starts");

    let config = Arc::new(config);
    let lister_progress = Progress::default();
    let lister = Flow {
        aws: &app.aws,
        config: &config,
        deadline: work_deadline,
        recipe_may_be_new: false,
        progress: &lister_progress,
    };
    let mut next_token = request.continuation.page_token.clone();
    let mut page_token = next_token.clone();
    let mut launched_in_page = 0usize;
    let mut pending: VecDeque<String> = VecDeque::new();
    let mut skip = request.continuation.skip;
    let mut exhausted = false;
    let mut first_page = true;
    let mut running: JoinSet<Done> = JoinSet::new();
    let mut aimd = Aimd::new();

    loop {
        while running.len() < aimd.limit() && !launch_cutoff.is_past() && !exhausted {
            if pending.is_empty() {
                if !first_page && next_token.is_none() {
                    exhausted = true;
                    break;
                }
                first_page = false;
                let token = next_token.clone();
                let (arns, next) = lister
                    .call("ListImageRecipes", || app.aws.list_recipes_page(token.clone()))
                    .await?;
                page_token = token;
                next_token = next;
                launched_in_page = skip.min(arns.len());
                pending = arns.into_iter().skip(skip).collect();
                skip = 0;
                continue;
            }
            let Some(recipe) = pending.pop_front() else { break };
            launched_in_page += 1;
            running.spawn(one_recipe(app.clone(), config.clone(), recipe, mode, work_deadline).in_current_span());
        }
        let Some(joined) = running.join_next().await else { break };
        let done = joined.unwrap_or_else(|e| Done {
            recipe: "<unknown>".into(),
            status: "failed",
            detail: format!("internal error: {e}"),
            throttled: 0,
        });
        aimd.record(done.throttled > 0);
        totals.throttled_calls = totals.throttled_calls.saturating_add(u64::from(done.throttled));
        totals.recipes = totals.recipes.saturating_add(1);
        let count = totals.counts.entry(done.status.to_string()).or_default();
        *count = count.saturating_add(1);
        if !matches!(done.status, "compliant" | "fixed" | "deleted") {
            info!(
                step = "sweep",
                recipe = done.recipe.as_str(),
                status = done.status,
                detail = done.detail.as_str(),
                "needs attention"
            );
            if totals.findings.len() < MAX_LISTED {
                totals.findings.push(Finding {
                    recipe: done.recipe,
                    status: done.status.into(),
                    detail: done.detail,
                });
            }
        }
    }
    totals.throttled_calls = totals
        .throttled_calls
        .saturating_add(u64::from(lister_progress.throttled()));
    let finished = exhausted && pending.is_empty();
    let continuation = (!finished).then_some(Continuation {
        page_token,
        skip: launched_in_page,
    });
    let mut summary = json!({
        "mode": mode,
        "status": if finished { "complete" } else { "continued" },
        "recipes": totals.recipes,
        "counts": totals.counts,
        "findings": totals.findings,
        "throttledCalls": totals.throttled_calls,
        "invocations": totals.invocations,
        "durationMs": now_ms().saturating_sub(totals.started_at_ms),
    });
    if let Some(c) = &continuation {
        summary["continuation"] = json!(c);
        let payload = json!({ "sweep": { "mode": mode, "continuation": c, "carried": totals } });
        let bytes = serde_json::to_vec(&payload).unwrap_or_default();
        lister
            .call("Invoke", || app.aws.invoke_async(function_arn, bytes.clone()))
            .await?;
        info!(step = "sweep", %summary, "sweep continues in the next invocation");
    } else {
        info!(step = "sweep", %summary, "sweep summary");
    }
    Ok(summary)
}

/// One recipe: the sharing flow (apply) or an inspection (report). Never fails the sweep.
async fn one_recipe(app: Arc<App>, config: Arc<ShareConfig>, recipe: String, mode: Mode, deadline: Deadline) -> Done {
    let progress = Progress::default();
    let arn = match ImageRecipeArn::parse(&recipe) {
        Ok(a) => a,
        Err(e) => {
            return Done {
                recipe,
                status: "failed",
                detail: e.to_string(),
                throttled: 0,
            };
        }
    };
    let flow = Flow {
        aws: &app.aws,
        config: &config,
        deadline,
        recipe_may_be_new: false,
        progress: &progress,
    };
    let (status, detail) = match mode {
        Mode::Apply => match flow.share(&arn).await {
            Ok(s) if s.changes.is_empty() => ("compliant", String::new()),
            Ok(s) => ("fixed", s.changes.join(", ")),
            Err(Error::RecipeNotFound(_)) => ("deleted", "the recipe was deleted during the sweep".into()),
            Err(e) => ("failed", e.to_string()),
        },
        Mode::Report => match flow.inspect(&arn).await {
            Ok(i) => (i.status, i.detail),
            Err(e) => ("failed", e.to_string()),
        },
    };
    if status == "failed" {
        warn!(
            step = "sweep",
            recipe = recipe.as_str(),
            detail = detail.as_str(),
            "recipe failed; the sweep goes on"
        );
    }
    Done {
        recipe,
        status,
        detail,
        throttled: progress.throttled(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_table() {
        let scheduled = json!({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}});
        assert_eq!(parse(&scheduled).unwrap().unwrap().mode, Mode::Apply);
        assert_eq!(
            parse(&json!({"sweep": {}})).unwrap().unwrap().mode,
            Mode::Report,
            "report unless asked to apply"
        );
        assert_eq!(
            parse(&json!({"sweep": {"mode": "apply"}})).unwrap().unwrap().mode,
            Mode::Apply
        );
        let cont = parse(&json!({"sweep": {"mode": "report", "continuation": {"pageToken": "t", "skip": 3}}}))
            .unwrap()
            .unwrap();
        assert_eq!(
            cont.continuation,
            Continuation {
                page_token: Some("t".into()),
                skip: 3
            }
        );
        for bad in [
            json!({"sweep": {"mode": "delete"}}),
            json!({"sweep": "x"}),
            json!({"sweep": {"mdoe": "apply"}}),
        ] {
            assert!(parse(&bad).unwrap().is_err(), "{bad}");
        }
        assert!(parse(&json!({"RequestType": "Create"})).is_none());
        assert!(parse(&json!({"source": "aws.imagebuilder", "detail-type": "Scheduled Event"})).is_none());
    }

    #[test]
    fn aimd_grows_slowly_and_halves_on_throttling() {
        let mut a = Aimd::new();
        assert_eq!(a.limit(), START_CONCURRENCY);
        for _ in 0..START_CONCURRENCY {
            a.record(false);
        }
        assert_eq!(a.limit(), START_CONCURRENCY + 1);
        a.record(true);
        assert_eq!(a.limit(), 2, "halved from 5");
        for _ in 0..10 {
            a.record(true);
        }
        assert_eq!(a.limit(), 1, "never below one");
        for _ in 0..10_000 {
            a.record(false);
        }
        assert_eq!(a.limit(), MAX_CONCURRENCY, "never above the cap");
    }

    #[test]
    fn continuation_round_trips() {
        let t = Totals {
            recipes: 3,
            invocations: 2,
            ..Totals::default()
        };
        let c = Continuation {
            page_token: Some("p".into()),
            skip: 7,
        };
        let payload = json!({"sweep": {"mode": Mode::Apply, "continuation": c, "carried": t}});
        let back = parse(&payload).unwrap().unwrap();
        assert_eq!(back.continuation, c);
        assert_eq!(back.carried, t);
        assert_eq!(back.mode, Mode::Apply);
    }
}
