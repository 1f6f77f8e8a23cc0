//! The reconcile sweep: every image and container recipe the account owns, in `report` mode (reads only, says where
//! the account differs from the standard) or `apply` mode (the sharing flow on each). Recipes run with
//! bounded, adaptive concurrency that backs off when AWS throttles (every throttled attempt counts,
//! the SDK's own retries included). When the invocation's time runs short the sweep stops launching,
//! and hands the rest to the next invocation: the page it was in and the recipes still converging,
//! with what they had done, so each recipe is counted once, exactly, however long RAM takes.

use crate::arn::ResourceArn;
use crate::aws::{Aws, CallStats};
use crate::config::ShareConfig;
use crate::converge::{Ctx, Progress};
use crate::deadline::{Deadline, now_epoch_ms};
use crate::error::Error;
use crate::flow;
use crate::kind::Kind;
use crate::pace::Pacer;
use crate::scope::Facts;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;
use tracing::{Instrument, error, info, warn};

/// Never more than this many recipes at once, whatever the pace (see [`Pacer`]) allows.
const MAX_CONCURRENCY: usize = 64;
/// Findings carried between invocations and returned: enough to act on, small enough for Lambda's
/// 256 KB asynchronous payload limit.
const MAX_LISTED: usize = 200;
/// Invocations one sweep may take (each up to the function's timeout): 50 × 5 minutes covers far
/// more recipes than RAM's 25,000-share quota allows.
pub const MAX_INVOCATIONS: u32 = 50;
/// A recipe cut off by the end of an invocation is carried into the next at most this often.
const MAX_CARRIES: u32 = 3;
/// RAM's default quotas for resource shares and principal associations per Region (design 10).
const SHARE_QUOTA: u64 = 25_000;
const ASSOCIATION_QUOTA: u64 = 25_000;

/// What the sweep does to each recipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Change nothing; report every recipe's state.
    Report,
    /// Run the sharing flow on every recipe.
    Apply,
}

/// A recipe an invocation ran out of time for, with what had been done to it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Carried {
    #[serde(alias = "imageRecipeArn")]
    pub arn: String,
    /// Shares of the standard the cut-off run made (they may not be tagged yet).
    #[serde(default)]
    pub shares: Vec<String>,
    /// Whether the cut-off run had changed anything (the recipe then ends `fixed`).
    #[serde(default)]
    pub changed: bool,
    #[serde(default)]
    pub carries: u32,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// The listings a sweep walks, in order: image recipes, then container recipes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Listing {
    #[default]
    ImageRecipes,
    ContainerRecipes,
}

impl Listing {
    fn kind(self) -> Kind {
        match self {
            Listing::ImageRecipes => Kind::ImageRecipe,
            Listing::ContainerRecipes => Kind::ContainerRecipe,
        }
    }

    fn next(self) -> Option<Listing> {
        match self {
            Listing::ImageRecipes => Some(Listing::ContainerRecipes),
            Listing::ContainerRecipes => None,
        }
    }
}

/// Where the next invocation starts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Continuation {
    /// The listing being read.
    #[serde(default)]
    pub listing: Listing,
    /// The token of the page being worked on (`None`: the first page).
    pub page_token: Option<String>,
    /// How many recipes of that page were already launched.
    pub skip: usize,
    /// Every page has been read.
    #[serde(default)]
    pub exhausted: bool,
    /// Recipes to finish first.
    #[serde(default)]
    pub in_flight: Vec<Carried>,
}

/// One recipe that needs attention.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// The recipe, under the key of its kind (`imageRecipeArn` or `containerRecipeArn`).
    #[serde(flatten)]
    pub recipe: RecipeKey,
    pub status: String,
    pub detail: String,
}

/// A finding's recipe, keyed by its kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RecipeKey {
    ImageRecipeArn(String),
    ContainerRecipeArn(String),
}

impl RecipeKey {
    fn of(arn: String) -> Self {
        if arn.contains(":container-recipe/") {
            RecipeKey::ContainerRecipeArn(arn)
        } else {
            RecipeKey::ImageRecipeArn(arn)
        }
    }

    pub fn arn(&self) -> &str {
        match self {
            RecipeKey::ImageRecipeArn(a) | RecipeKey::ContainerRecipeArn(a) => a,
        }
    }
}

/// What a sweep has done so far, carried from invocation to invocation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    pub counts: BTreeMap<String, u64>,
    pub recipes: u64,
    /// Recipes not compliant, fixed or deleted: the first `MAX_LISTED`.
    pub findings: Vec<Finding>,
    pub invocations: u32,
    pub started_at_ms: u64,
    pub throttled_calls: u64,
}

/// A sweep request: `{"sweep": {"mode": "report" | "apply", …}}`, or an EventBridge scheduled
/// event (which means apply). A hand-off adds the chain id, the continuation and the totals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepRequest {
    pub mode: Mode,
    /// Names one sweep across its invocations (the first invocation's request id).
    pub chain: Option<String>,
    pub continuation: Continuation,
    pub totals: Totals,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Wire {
    mode: Option<Mode>,
    #[serde(default)]
    chain: Option<String>,
    #[serde(default)]
    continuation: Continuation,
    #[serde(default)]
    totals: Totals,
}

/// Pure: `Some` when the event asks for a sweep (a malformed request is an error, not a skip).
pub fn parse(event: &Value) -> Option<Result<SweepRequest, Error>> {
    if event.get("source").and_then(Value::as_str) == Some("aws.events")
        && event.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event")
    {
        return Some(Ok(SweepRequest {
            mode: Mode::Apply,
            chain: None,
            continuation: Continuation::default(),
            totals: Totals::default(),
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
                chain: w.chain,
                continuation: w.continuation,
                totals: w.totals,
            }),
    )
}

/// One recipe to visit.
#[derive(Debug, Clone)]
struct Visit {
    arn: String,
    tags: BTreeMap<String, String>,
    carried: Option<Carried>,
}

/// How one visit ended.
#[derive(Debug)]
enum Ended {
    /// Counted under this status.
    Counted { status: &'static str, detail: String },
    /// Cut off by the end of the invocation: finish it in the next one.
    Carry(Carried),
}

/// Pure: adds one counted recipe to the totals.
fn count(totals: &mut Totals, recipe: String, status: &'static str, detail: String) {
    totals.recipes = totals.recipes.saturating_add(1);
    let n = totals.counts.entry(status.to_string()).or_default();
    *n = n.saturating_add(1);
    if !matches!(status, "compliant" | "fixed" | "deleted") {
        info!(
            step = "sweep",
            recipe = recipe.as_str(),
            status,
            detail = detail.as_str(),
            "needs attention"
        );
        if totals.findings.len() < MAX_LISTED {
            totals.findings.push(Finding {
                recipe: RecipeKey::of(recipe),
                status: status.into(),
                detail,
            });
        }
    }
}

/// Pure: the summary of the sweep so far.
fn summary(mode: Mode, totals: &Totals, complete: bool, quota: Option<Value>) -> Value {
    let mut s = json!({
        "mode": mode,
        "status": if complete { "complete" } else { "continued" },
        "recipes": totals.recipes,
        "counts": totals.counts,
        "findings": totals.findings,
        "throttledCalls": totals.throttled_calls,
        "invocations": totals.invocations,
        "durationMs": now_epoch_ms().saturating_sub(totals.started_at_ms),
    });
    if let Some(q) = quota {
        s["quota"] = q;
    }
    s
}

/// Runs (this invocation's part of) a sweep and returns its summary; hands the rest on to the next
/// invocation of `function_arn` when the time runs short.
pub async fn run(
    aws: &Aws,
    config: Arc<ShareConfig>,
    request: SweepRequest,
    deadline: Deadline,
    function_arn: &str,
    request_id: &str,
) -> Result<Value, Error> {
    let total = deadline.remaining();
    // Time kept back to hand on and return; before that, for the recipes in flight to finish once
    // no new one is launched.
    let work_deadline = deadline.earlier_by((total / 10).clamp(Duration::from_millis(300), Duration::from_secs(5)));
    let launch_cutoff =
        work_deadline.earlier_by((total / 5).clamp(Duration::from_millis(500), Duration::from_secs(60)));
    let mode = request.mode;
    let chain = request.chain.clone().unwrap_or_else(|| request_id.to_string());
    let mut totals = request.totals.clone();
    if totals.started_at_ms == 0 {
        totals.started_at_ms = now_epoch_ms();
    }
    totals.invocations = totals.invocations.saturating_add(1);
    info!(
        step = "sweep",
        ?mode,
        chain = chain.as_str(),
        invocation = totals.invocations,
        "sweep starts"
    );
    let stats = CallStats::current().unwrap_or_default();

    let mut cont = request.continuation.clone();
    let mut queue: VecDeque<Visit> = cont
        .in_flight
        .drain(..)
        .map(|c| Visit {
            arn: c.arn.clone(),
            tags: c.tags.clone(),
            carried: Some(c),
        })
        .collect();
    // The page being launched: its token, and how many of its recipes were launched.
    let (mut page_token, mut launched, mut listing) = (cont.page_token.clone(), cont.skip, cont.listing);
    let mut next_token: Option<String> = None;
    let mut page_loaded = false;
    let mut exhausted = cont.exhausted;
    let mut carried: Vec<Carried> = Vec::new();
    let mut running: JoinSet<(String, Ended)> = JoinSet::new();
    let mut pacer = Pacer::new(Instant::now());
    let mut visited = 0usize;

    loop {
        pacer.observe(stats.throttled(), Instant::now());
        // Every invocation makes progress: it launches at least one recipe whatever the clock says.
        let may_launch = |running: usize, visited: usize| {
            running < MAX_CONCURRENCY && (visited == 0 || !launch_cutoff.is_past()) && !work_deadline.is_past()
        };
        while may_launch(running.len(), visited) && pacer.may_launch(Instant::now()) {
            if queue.is_empty() {
                if exhausted {
                    break;
                }
                if page_loaded {
                    // The page is done: the next one, or the end.
                    match (next_token.take(), listing.next()) {
                        (Some(t), _) => (page_token, launched) = (Some(t), 0),
                        (None, Some(l)) => (page_token, launched, listing) = (None, 0, l),
                        (None, None) => {
                            exhausted = true;
                            break;
                        }
                    }
                }
                let (rows, next) = tokio::time::timeout_at(
                    work_deadline.instant().into(),
                    aws.list_recipes_page(listing.kind(), page_token.clone()),
                )
                .await
                .map_err(|_| Error::Deadline(format!("waiting for the listing of {}s", listing.kind())))??;
                next_token = next;
                page_loaded = true;
                queue.extend(rows.into_iter().skip(launched).map(|(arn, tags)| Visit {
                    arn,
                    tags,
                    carried: None,
                }));
                if queue.is_empty() && next_token.is_none() && listing.next().is_none() {
                    exhausted = true;
                }
                continue;
            }
            let Some(visit) = queue.pop_front() else { break };
            if visit.carried.is_none() {
                launched += 1;
            }
            visited += 1;
            pacer.launched(Instant::now());
            let recipe_stats = CallStats::child_of(stats.clone());
            let (aws, config) = (aws.clone(), config.clone());
            running.spawn(
                // Each recipe's own stats (its calls' last failures); throttles add up in the sweep's.
                CallStats::scope(recipe_stats, async move {
                    let arn = visit.arn.clone();
                    let ended = one_recipe(&aws, &config, visit, mode, work_deadline).await;
                    (arn, ended)
                })
                .in_current_span(),
            );
        }
        let more = may_launch(running.len(), visited) && !(exhausted && queue.is_empty());
        if running.is_empty() && !more {
            break;
        }
        let joined = tokio::select! {
            joined = running.join_next(), if !running.is_empty() => joined,
            _ = tokio::time::sleep_until(pacer.next_launch().into()), if more => continue,
        };
        let Some(joined) = joined else { continue };
        let (recipe, ended) = joined.unwrap_or_else(|e| {
            (
                "<unknown>".into(),
                Ended::Counted {
                    status: "failed",
                    detail: format!("internal error: {e}"),
                },
            )
        });
        match ended {
            Ended::Counted { status, detail } => count(&mut totals, recipe, status, detail),
            Ended::Carry(c) => carried.push(c),
        }
    }
    info!(
        step = "sweep",
        launched = visited,
        pace = format!("{:.1} recipes/s", pacer.rate()).as_str(),
        "invocation's part done"
    );
    // Recipes not launched stay in the page (skip); recipes cut off are carried with what they did.
    let complete = exhausted && queue.is_empty() && carried.is_empty();
    if complete {
        let quota = quota(aws, work_deadline.max(deadline.earlier_by(Duration::from_millis(200)))).await;
        // Counted after the quota's reads, which can be throttled too.
        totals.throttled_calls = totals.throttled_calls.saturating_add(stats.throttled());
        let s = summary(mode, &totals, true, Some(quota));
        info!(step = "sweep", summary = %s, "sweep summary");
        return Ok(s);
    }
    totals.throttled_calls = totals.throttled_calls.saturating_add(stats.throttled());
    carried.extend(queue.into_iter().filter_map(|v| v.carried));
    let next = Continuation {
        listing,
        page_token: page_token.clone(),
        skip: launched,
        exhausted,
        in_flight: carried,
    };
    if totals.invocations >= MAX_INVOCATIONS {
        let s = summary(mode, &totals, false, None);
        error!(step = "sweep", summary = %s, "sweep stopped: too many invocations");
        return Err(Error::Sweep(format!(
            "stopped after {} invocations ({} recipes counted); raise the function's timeout or run the sweep again",
            totals.invocations, totals.recipes
        )));
    }
    let mut s = summary(mode, &totals, false, None);
    s["continuation"] = json!(next);
    let payload = json!({ "sweep": Wire { mode: Some(mode), chain: Some(chain.clone()), continuation: next, totals: totals.clone() } });
    let bytes = serde_json::to_vec(&payload).unwrap_or_default();
    // Sent once, never retried blindly: an acknowledgement lost in transit would otherwise start
    // a second chain. Only a refusal Lambda answered (it queued nothing) fails the invocation, so
    // Lambda's own retry of this invocation can hand on again.
    let sent = tokio::time::timeout_at(deadline.instant().into(), aws.invoke_async(function_arn, bytes)).await;
    match sent {
        Ok(Ok(())) => {
            info!(step = "sweep", summary = %s, "sweep continues in the next invocation");
            Ok(s)
        }
        Ok(Err(f)) if f.changed_nothing() => Err(Error::Aws(f)),
        Ok(Err(f)) => {
            s["handOff"] = json!(format!("uncertain: {f}"));
            error!(step = "sweep", summary = %s, "the hand-off may not have reached Lambda; not retried (a second chain would follow)");
            Ok(s)
        }
        Err(_) => {
            s["handOff"] = json!("uncertain: Invoke did not answer before the deadline");
            error!(step = "sweep", summary = %s, "the hand-off may not have reached Lambda; not retried (a second chain would follow)");
            Ok(s)
        }
    }
}

/// The account's resource shares and principal associations against RAM's default quotas.
async fn quota(aws: &Aws, deadline: Deadline) -> Value {
    let count = async { tokio::join!(aws.count_active_shares(), aws.count_principal_associations()) };
    match tokio::time::timeout_at(deadline.instant().into(), count).await {
        Ok((Ok(shares), Ok(associations))) => json!({
            "resourceShares": shares,
            "resourceSharesQuota": SHARE_QUOTA,
            "principalAssociations": associations,
            "principalAssociationsQuota": ASSOCIATION_QUOTA,
            "headroomPercent": headroom(&[(shares, SHARE_QUOTA), (associations, ASSOCIATION_QUOTA)]),
        }),
        Ok((Err(f), _) | (_, Err(f))) => json!({ "error": f.to_string() }),
        Err(_) => json!({ "error": "RAM did not answer before the deadline" }),
    }
}

/// Pure: the smallest headroom, in percent of the quota.
pub fn headroom(used: &[(u64, u64)]) -> u64 {
    used.iter()
        .map(|&(n, q)| q.saturating_sub(n).saturating_mul(100).checked_div(q).unwrap_or(0))
        .min()
        .unwrap_or(100)
}

/// Pure: what an apply run fixed, the recipe's own changes first.
fn fixes(s: &flow::Shared) -> String {
    let mut parts = vec![s.changes.join(", ")];
    for d in &s.dependencies {
        if let flow::DependencyOutcome::Shared { changes, .. } = &d.outcome
            && !changes.is_empty()
        {
            parts.push(format!("{}: {}", d.arn, changes.join(", ")));
        }
    }
    parts.retain(|p| !p.is_empty());
    parts.join("; ")
}

/// One recipe: the sharing flow (apply) or an inspection (report). Never fails the sweep.
async fn one_recipe(aws: &Aws, config: &ShareConfig, visit: Visit, mode: Mode, deadline: Deadline) -> Ended {
    let progress = Progress::default();
    let counted = |status: &'static str, detail: String| Ended::Counted { status, detail };
    let arn = match ResourceArn::parse_any(&visit.arn) {
        Ok(a) if matches!(a.kind(), Kind::ImageRecipe | Kind::ContainerRecipe) => a,
        Ok(a) => return counted("failed", format!("not a recipe: {a}")),
        Err(e) => return counted("failed", e.to_string()),
    };
    let ctx = Ctx {
        aws,
        config,
        deadline,
        progress: &progress,
        made_by: "sweep",
        may_be_new: false,
    };
    let facts = Facts {
        tags: visit.tags.clone(),
        ..Facts::default()
    };
    let before = visit.carried.clone().unwrap_or_default();
    let result = match (mode, facts.excluded().is_some()) {
        (Mode::Apply, true) => flow::unshare(&ctx, &arn, None, &before.shares).await.map(|u| {
            let detail = if u.changes.is_empty() {
                "not shared".to_string()
            } else {
                format!("unshared: {}", u.changes.join(", "))
            };
            ("excluded", detail)
        }),
        (Mode::Apply, false) => flow::share(&ctx, &arn, None, &before.shares).await.map(|s| {
            let excluded = s.excluded_dependencies();
            if !excluded.is_empty() {
                let f = crate::decide::Finding::DependenciesUnshared(format!(
                    "{} (excluded)",
                    excluded.join(" (excluded), ")
                ));
                (f.status(), f.detail())
            } else if !s.changed_anything() && !before.changed {
                ("compliant", String::new())
            } else {
                ("fixed", fixes(&s))
            }
        }),
        // A listing gives tags, not components: only an excluded recipe is judged from it.
        (Mode::Report, excluded) => flow::report(&ctx, &arn, excluded.then_some(facts))
            .await
            .map(|f| (f.status(), f.detail())),
    };
    match result {
        Ok((status, detail)) => counted(status, detail),
        Err(Error::NotFound { .. }) => counted("deleted", "the recipe was deleted during the sweep".into()),
        Err(Error::Deadline(why)) if before.carries < MAX_CARRIES => {
            info!(
                step = "sweep",
                recipe = visit.arn.as_str(),
                why = why.as_str(),
                "cut off by the end of the invocation; carried on"
            );
            Ended::Carry(Carried {
                arn: visit.arn,
                shares: progress.ours(),
                changed: before.changed || progress.changed(),
                carries: before.carries + 1,
                tags: visit.tags,
            })
        }
        Err(e) => {
            warn!(step = "sweep", recipe = visit.arn.as_str(), error = %e, "recipe failed; the sweep goes on");
            counted("failed", e.to_string())
        }
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
        let cont =
            parse(&json!({"sweep": {"mode": "report", "chain": "c", "continuation": {"pageToken": "t", "skip": 3}}}))
                .unwrap()
                .unwrap();
        assert_eq!(cont.chain.as_deref(), Some("c"));
        assert_eq!(
            cont.continuation,
            Continuation {
                page_token: Some("t".into()),
                skip: 3,
                ..Continuation::default()
            }
        );
        for bad in [
            json!({"sweep": {"mode": "delete"}}),
            json!({"sweep": "x"}),
            json!({"sweep": {"mdoe": "apply"}}),
            json!({"sweep": {"continuation": {"inFlight": [{"nope": 1}]}}}),
        ] {
            assert!(parse(&bad).unwrap().is_err(), "{bad}");
        }
        assert!(parse(&json!({"RequestType": "Create"})).is_none());
        assert!(parse(&json!({"source": "aws.imagebuilder", "detail-type": "Scheduled Event"})).is_none());
    }

    #[test]
    fn a_hand_off_round_trips() {
        let totals = Totals {
            recipes: 3,
            invocations: 2,
            ..Totals::default()
        };
        let c = Continuation {
            listing: Listing::ContainerRecipes,
            page_token: Some("p".into()),
            skip: 7,
            exhausted: false,
            in_flight: vec![Carried {
                arn: "arn:r".into(),
                shares: vec!["arn:s".into()],
                changed: true,
                carries: 1,
                tags: BTreeMap::new(),
            }],
        };
        let wire = Wire {
            mode: Some(Mode::Apply),
            chain: Some("chain-1".into()),
            continuation: c.clone(),
            totals: totals.clone(),
        };
        let back = parse(&json!({ "sweep": wire })).unwrap().unwrap();
        assert_eq!(back.continuation, c);
        assert_eq!(back.totals, totals);
        assert_eq!(back.mode, Mode::Apply);
        assert_eq!(back.chain.as_deref(), Some("chain-1"));
    }

    #[test]
    fn counts_and_findings() {
        let mut t = Totals::default();
        count(&mut t, "a".into(), "compliant", String::new());
        count(&mut t, "b".into(), "policy-drift", "the actions differ".into());
        count(&mut t, "c".into(), "fixed", "policy-written".into());
        assert_eq!(t.recipes, 3);
        assert_eq!(t.counts["compliant"], 1);
        assert_eq!(t.findings.len(), 1);
        assert_eq!(t.findings[0].recipe.arn(), "b");
        let c = "arn:aws:imagebuilder:us-east-1:123456789012:container-recipe/api/1.0.0";
        count(&mut t, c.into(), "share-missing", String::new());
        let json = serde_json::to_value(&t.findings).unwrap();
        assert_eq!(json[0]["imageRecipeArn"], "b");
        assert_eq!(json[1]["containerRecipeArn"], c, "{json}");
        assert!(json[1].get("imageRecipeArn").is_none());
        for i in 0..300 {
            count(&mut t, format!("x{i}"), "failed", String::new());
        }
        assert_eq!(t.findings.len(), MAX_LISTED, "findings are capped");
        assert_eq!(t.counts["failed"], 300, "counts are not");
    }

    #[test]
    fn headroom_is_the_smallest_share_of_the_quota_left() {
        assert_eq!(headroom(&[(0, 25_000), (0, 25_000)]), 100);
        assert_eq!(headroom(&[(20_000, 25_000), (5_000, 25_000)]), 20);
        assert_eq!(headroom(&[(30_000, 25_000)]), 0);
        assert_eq!(headroom(&[]), 100);
    }
}
