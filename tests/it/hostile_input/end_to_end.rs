//! Events end to end: the real handler and SDK against a fresh stand-in per sequence, each event
//! checked against what the contract promises for its class, given the state the stand-in was in
//! before it (which recipes exist, which are tagged `recipe-share:exclude`, which are shared).

use super::urls::{ALLOWED, REFUSED, Trap};
use super::*;
use crate::common::{Harness, Options, PRINCIPALS};
use recipe_share::cfn::MAX_BODY;
use recipe_share::handler::made_by_stack;
use recipe_share_standin::{CfnResponse, ShareState, Snapshot};
use std::sync::OnceLock;

/// The accounts of `PRINCIPALS`: what a share of the standard holds.
const ACCOUNTS: [&str; 2] = ["111122223333", "444455556666"];
const DEADLINE: Duration = Duration::from_secs(2);

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    })
}

/// Loopback listeners standing in for every other host, shared by all sequences: any hit fails.
/// (Without IPv6 loopback, `[::1]` URLs point at nothing, which is still safe.)
fn traps() -> &'static (Trap, Option<Trap>) {
    static TRAPS: OnceLock<(Trap, Option<Trap>)> = OnceLock::new();
    let bind = || {
        (
            Trap::bind("127.0.0.1:0").expect("a loopback port"),
            Trap::bind("[::1]:0"),
        )
    };
    TRAPS.get_or_init(bind)
}

/// A fresh stand-in with the three present recipes (the third under its creation name) and the
/// excluded one; the function configured with the standard, or with a wildcard (refused).
async fn world(bad_config: bool) -> Harness {
    let opts = Options {
        promotion_time: Duration::ZERO,
        ..Options::default()
    };
    let h = Harness::with(opts, &[("SHARE_PRINCIPALS", if bad_config { "*" } else { PRINCIPALS })]).await;
    h.standin.add_recipe(R1);
    h.standin.add_recipe(R2);
    h.standin.add_recipe_named(CREATED, CREATED_NAME.0);
    h.standin.tag_recipe(EXCLUDED, "recipe-share:exclude", "yes");
    h
}

/// What one invocation did (AWS operations without the response PUT), and the state before it.
struct Observed {
    result: Result<Value, Error>,
    late: bool,
    ops: Vec<String>,
    puts: Vec<CfnResponse>,
    snaps: [Snapshot; 2],
    trap_hits: usize,
    secret: String,
    name: String,
}

fn trap_hits() -> usize {
    traps().0.hits() + traps().1.as_ref().map_or(0, Trap::hits)
}

/// `template` for the stand-in at `port`, the traps, the response `name` and the signed query.
fn fill(template: &str, port: &str, name: &str, secret: &str) -> Value {
    let t = traps().0.port.to_string();
    let t6 = traps().1.as_ref().map_or(t.clone(), |t| t.port.to_string());
    let query = format!("?X-Amz-Signature={secret}&x={SECRET}");
    let url = template.replace("{p}", port).replace("{t6}", &t6).replace("{t}", &t);
    json!(url.replace("{n}", name).replace("{q}", &query))
}

async fn observe(h: &Harness, e: &Event, name: &str) -> Result<Observed, String> {
    let (standin, secret) = (&h.standin, h.standin.response_secret().to_string());
    let port = standin.url().rsplit(':').next().unwrap().to_string();
    let event = e.render(|u| match u {
        Url::Allowed(i) => Some(fill(&word(ALLOWED, *i), &port, name, &secret)),
        Url::Refused(i) => Some(fill(&word(REFUSED, *i), &port, name, &secret)),
        Url::Missing => None,
        Url::NotString(v) => Some(v.clone()),
    });
    // Nothing that would leave this machine is handed to the handler, and the URL classes hold.
    if let (Event::Cfn(c), Some(url)) = (e, event["ResponseURL"].as_str()) {
        let accepted = h.app.config.response_urls.check(url).is_ok();
        if accepted != matches!(c.url, Url::Allowed(_)) {
            return Err(format!("the guard's answer for {url:?} is not its class's"));
        }
    }
    // A missing recipe named by CloudTrail gets a few more looks, up to the deadline.
    let slow = matches!(e, Event::Trail(_, Dec::Share(arn, None)) if arn == GONE);
    let deadline = if slow { Duration::from_millis(700) } else { DEADLINE };
    // As the runtime delivers it: bytes, parsed by serde_json.
    let bytes = serde_json::to_vec(&event).unwrap();
    let event = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
    let (calls, puts, before) = (standin.calls().len(), standin.responses().len(), standin.snapshot());
    let (outcome, elapsed) = invoke(&h.app, event, deadline).await;
    let mut ops: Vec<String> = standin.calls()[calls..].iter().map(|c| c.op.clone()).collect();
    ops.retain(|op| op != "CfnResponse");
    let puts = standin.responses().split_off(puts);
    let (snaps, late, trap_hits) = ([before, standin.snapshot()], elapsed > deadline, trap_hits());
    let (result, name) = (outcome?, name.to_string());
    Ok(Observed {
        result,
        late,
        ops,
        puts,
        snaps,
        trap_hits,
        secret,
        name,
    })
}

/// Which AWS calls an event may make.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Calls {
    None,
    Reads,
    Any,
}

/// The state a recipe must be in afterwards.
#[derive(Debug, Clone)]
enum After {
    /// Exactly one ACTIVE share holds it: STANDARD, tagged as the standard's, with the accounts.
    Shared(String),
    Unshared(String),
    /// Unshared and tagged `recipe-share:exclude=deletion-requested`.
    Released(String),
    /// No ACTIVE share holding it carries this `recipe-share:made-by`.
    NotMadeBy(String, String),
}

/// What the contract promises for one event: the CloudFormation status or the outcomes the
/// result may name, or the error; the PhysicalResourceId; a fragment of the `Reason`; the calls;
/// the state after.
#[derive(Debug)]
struct Want(
    Result<&'static [&'static str], fn(&Error) -> bool>,
    Option<String>,
    Option<&'static str>,
    Calls,
    Vec<After>,
);

const SUCCESS: &[&str] = &["SUCCESS"];
const FAILED: &[&str] = &["FAILED"];

fn answer(status: &'static [&'static str], id: &str, calls: Calls) -> Want {
    Want(Ok(status), Some(id.into()), None, calls, vec![])
}

fn outcome(outcomes: &'static [&'static str], calls: Calls) -> Want {
    Want(Ok(outcomes), None, None, calls, vec![])
}

fn error(kind: fn(&Error) -> bool, calls: Calls) -> Want {
    Want(Err(kind), None, None, calls, vec![])
}

impl Want {
    fn because(self, reason: &'static str) -> Want {
        Want(self.0, self.1, Some(reason), self.3, self.4)
    }

    fn then(mut self, after: After) -> Want {
        self.4.push(after);
        self
    }
}

fn missing(e: &Error) -> bool {
    matches!(e, Error::NotFound { .. } | Error::Deadline(_))
}

/// The id of `recipe`'s one share of the standard, if that is how RAM records it.
fn shared_by_standard(snap: &Snapshot, recipe: &str) -> Result<String, String> {
    let shares = snap.shares_of(recipe);
    let [s] = shares[..] else {
        return Err(format!("{recipe} is in {shares:?}"));
    };
    let mut principals = s.principals.clone();
    principals.sort();
    let standard = s.feature_set == "STANDARD" && s.tag("recipe-share:managed") == Some("true");
    if standard && principals == ACCOUNTS {
        Ok(s.arn.clone())
    } else {
        Err(format!("{s:?}"))
    }
}

/// What the stand-in held before the event: whether `arn` exists, is excluded, is shared.
struct Before<'a>(&'a Snapshot);

impl Before<'_> {
    fn exists(&self, arn: &str) -> bool {
        self.0.recipes.iter().any(|r| r.arn == arn)
    }

    fn excluded(&self, arn: &str) -> bool {
        self.0
            .tags_of(arn)
            .is_some_and(|t| t.contains_key("recipe-share:exclude"))
    }

    fn shared(&self, arn: &str) -> bool {
        shared_by_standard(self.0, arn).is_ok()
    }

    /// A CloudFormation Create or Update that shares `arn`; a shared one is never written again.
    fn share(&self, arn: &str, ok: &str, failed: &str) -> Want {
        match (self.exists(arn), self.excluded(arn)) {
            (true, false) => answer(SUCCESS, ok, if self.shared(arn) { Calls::Reads } else { Calls::Any })
                .then(After::Shared(arn.into())),
            (true, true) => answer(FAILED, failed, Calls::Reads)
                .because("recipe-share:exclude")
                .then(After::Unshared(arn.into())),
            (false, _) => answer(FAILED, failed, Calls::Reads),
        }
    }

    /// A CloudTrail record that `arn` was created.
    fn created(&self, arn: &str) -> Want {
        match (self.exists(arn), self.excluded(arn), self.shared(arn)) {
            (true, false, true) => outcome(&["already-shared"], Calls::Reads).then(After::Shared(arn.into())),
            (true, false, false) => outcome(&["shared"], Calls::Any).then(After::Shared(arn.into())),
            (true, true, _) => outcome(&["skipped"], Calls::Reads).then(After::Unshared(arn.into())),
            (false, ..) => error(missing, Calls::Reads),
        }
    }

    fn cfn(&self, c: &Cfn, bad_config: bool) -> Want {
        let (ok, failed) = (c.ids.0.clone().unwrap_or_default(), &c.ids.1);
        match &c.plan {
            // A rollback Delete answers SUCCESS whatever it could not undo; all else FAILED, naming the setting.
            Plan::Unshare(_, true, _) if bad_config => answer(SUCCESS, failed, Calls::None),
            _ if bad_config => answer(FAILED, failed, Calls::None).because("SHARE_PRINCIPALS"),
            Plan::Share(_) if c.panic && cfg!(debug_assertions) => answer(FAILED, failed, Calls::None).because("panic"),
            Plan::Share(arn) => self.share(arn, &ok, failed),
            Plan::Rollback(keep, undo) => match self.share(keep, keep, keep) {
                Want(Ok(SUCCESS), id, reason, _, after) => Want(Ok(SUCCESS), id, reason, Calls::Any, after)
                    .then(After::NotMadeBy(undo.clone(), made_by_stack(&c.echo))),
                w => w,
            },
            Plan::Unshare(arn, ..) => answer(SUCCESS, failed, Calls::Any).then(After::Unshared(arn.clone())),
            Plan::Nothing => answer(SUCCESS, failed, Calls::None),
            Plan::Refused => answer(FAILED, failed, Calls::None),
        }
    }

    fn want(&self, e: &Event, bad_config: bool) -> Want {
        match e {
            Event::Cfn(c) => match c.url {
                Url::Allowed(_) => self.cfn(c, bad_config),
                Url::Refused(_) => error(|e| matches!(e, Error::ResponseUrlRejected(_)), Calls::None),
                Url::Missing | Url::NotString(_) => error(|e| matches!(e, Error::InvalidRequest(_)), Calls::None),
            },
            Event::Garbage(_) => error(|e| matches!(e, Error::UnsupportedEvent(_)), Calls::None),
            _ if bad_config => error(|e| e.to_string().contains("setting SHARE_PRINCIPALS"), Calls::None),
            Event::Trail(_, dec) => match dec {
                Dec::Skip | Dec::Share(_, Some(_)) => outcome(&["skipped"], Calls::None),
                Dec::Refused(kind) => error(*kind, Calls::None),
                Dec::Share(arn, None) => self.created(arn),
                Dec::Lookup(n, v) if (n.as_str(), v.as_str()) == CREATED_NAME => self.created(CREATED),
                Dec::Lookup(..) => error(|e| matches!(e, Error::NotFound { .. }), Calls::Reads),
                Dec::Release(arn) if !self.exists(arn) => outcome(&["skipped"], Calls::Any),
                Dec::Release(arn) => outcome(&["released"], Calls::Any).then(After::Released(arn.clone())),
            },
            Event::Sweep(_, None, _) => error(|e| matches!(e, Error::InvalidRequest(_)), Calls::None),
            Event::Sweep(_, Some("report"), _) => outcome(&["report"], Calls::Reads),
            Event::Sweep(..) => {
                let after = |r: &str| {
                    if self.excluded(r) {
                        After::Unshared(r.into())
                    } else {
                        After::Shared(r.into())
                    }
                };
                [R1, R2, CREATED, EXCLUDED]
                    .iter()
                    .fold(outcome(&["apply"], Calls::Any), |w, r| w.then(after(r)))
            }
        }
    }
}

macro_rules! ensure {
    ($cond:expr, $($why:tt)+) => {
        if !$cond {
            return Err(format!($($why)+));
        }
    };
}

/// The CloudFormation answer: its one PUT, its body and the IDs, Reason and Data the contract asks.
fn cfn_answer(c: &Cfn, want: &Want, o: &Observed) -> Result<String, String> {
    let put = &o.puts[0];
    let to = format!("/cfn-response/{}", o.name);
    ensure!(put.path == to && put.content_type.as_deref() == Some(""), "{put:?}");
    ensure!(!c.limits || put.body.len() <= MAX_BODY, "{} bytes", put.body.len());
    let body = put.json.as_ref().ok_or("the body is not JSON")?;
    let echo = [&c.echo.stack_id, &c.echo.request_id, &c.echo.logical_resource_id];
    let echoed = ["StackId", "RequestId", "LogicalResourceId"].map(|k| &body[k]);
    ensure!(echoed == echo.map(|v| json!(v)).each_ref(), "IDs not echoed whole");
    let answer = o.result.as_ref().map_err(|e| format!("not delivered: {e}"))?;
    ensure!(answer["Status"] == body["Status"], "returned {answer}");
    let id = &body["PhysicalResourceId"];
    ensure!(want.1.as_ref().is_none_or(|w| id == w.as_str()), "ID {id}");
    // Within CloudFormation's limits the body has room for the Reason and the Data.
    let reason = body["Reason"].as_str().unwrap_or_default();
    ensure!(!c.limits || want.2.is_none_or(|r| reason.contains(r)), "{reason}");
    if let (true, Ok(SUCCESS), Some(After::Shared(arn))) = (c.limits, want.0, want.4.first()) {
        let share = shared_by_standard(&o.snaps[1], arn)?;
        // Design 5 and 12: the recipe, its share, and the dependencies shared with it (none here:
        // the stand-in's recipes use only AWS-owned components).
        let data = json!({"ImageRecipeArn": arn, "ResourceShareArn": share, "SharedDependencies": ""});
        ensure!(body["Data"] == data, "Data {}", body["Data"]);
    }
    Ok(body["Status"].as_str().unwrap_or_default().into())
}

/// An answer other than CloudFormation's: the outcome, the recipe it names, a sweep's counts.
fn other_answer(e: &Event, want: &Want, before: &Before, v: &Value) -> Result<String, String> {
    if let (Some(After::Shared(arn) | After::Released(arn)), Some(named)) = (want.4.first(), v.get("imageRecipeArn")) {
        ensure!(named == arn.as_str(), "imageRecipeArn {named}");
    }
    if let Event::Sweep(_, _, false) = e {
        // Every recipe counted once; a report's counts are the state it found.
        let all = [R1, R2, CREATED, EXCLUDED];
        let count = |f: &dyn Fn(&str) -> bool| Some(all.iter().filter(|r| f(r)).count() as u64);
        let (excluded, compliant) = (count(&|r| before.excluded(r)), count(&|r| before.shared(r)));
        let counts = |k: &str| v["counts"].get(k).map_or(Some(0), Value::as_u64);
        let whole = v["status"] == "complete" && v["recipes"] == 4;
        ensure!(whole && counts("excluded") == excluded, "{v:.300}");
        ensure!(v["mode"] == "apply" || counts("compliant") == compliant, "{v:.300}");
    }
    Ok(v["outcome"].as_str().or(v["mode"].as_str()).unwrap_or_default().into())
}

/// One observed event against the contract; the `Err` says what a wrong implementation did.
fn verdict(e: &Event, bad_config: bool, o: &Observed) -> Result<(), String> {
    let before = Before(&o.snaps[0]);
    let want = before.want(e, bad_config);
    let error = o.result.as_ref().err().map(ToString::to_string).unwrap_or_default();
    let shown = format!("{:?} {error}", o.result);
    ensure!(!o.late && o.trap_hits == 0, "late, or a trap was contacted");
    let leaked = shown.contains(&o.secret) || shown.contains(SECRET);
    ensure!(!leaked, "a signature in {shown}");
    let answerable = matches!(e, Event::Cfn(c) if matches!(c.url, Url::Allowed(_)));
    ensure!(o.puts.len() == usize::from(answerable), "PUTs: {:?}", o.puts);
    let writes = o
        .ops
        .iter()
        .filter(|op| !op.starts_with("Get") && !op.starts_with("List"));
    match want.3 {
        Calls::None => ensure!(o.ops.is_empty(), "AWS called: {:?}", o.ops),
        Calls::Reads => ensure!(writes.count() == 0, "writes where reads are due: {:?}", o.ops),
        Calls::Any => {}
    }
    let got = match (e, &o.result) {
        (Event::Cfn(c), _) if answerable => Ok(cfn_answer(c, &want, o)?),
        (_, Ok(v)) => Ok(other_answer(e, &want, &before, v)?),
        (_, Err(err)) => Err(err),
    };
    match (want.0, got) {
        (Ok(outcomes), Ok(got)) => ensure!(outcomes.contains(&got.as_str()), "{got:?}: {shown:.300}"),
        (Err(kind), Err(err)) => {
            let retryable = err.error_type() != "NonRetryable" && !matches!(err, Error::Deadline(_));
            ensure!(kind(err) && !retryable, "error {err:?} ({})", err.error_type());
        }
        (want, got) => return Err(format!("got {got:?}, want {want:?}")),
    }
    let after = &o.snaps[1];
    for promise in &want.4 {
        let shares = |r: &str| after.shares_of(r);
        match promise {
            After::Shared(r) => drop(shared_by_standard(after, r)?),
            After::Unshared(r) => ensure!(shares(r).is_empty(), "{r} still shared: {:?}", shares(r)),
            After::Released(r) => {
                let tag = after.tags_of(r).and_then(|t| t.get("recipe-share:exclude"));
                let released = tag.is_some_and(|t| t == "deletion-requested");
                ensure!(shares(r).is_empty() && released, "{r}: {tag:?}");
            }
            After::NotMadeBy(r, by) => {
                let made_by = |s: &&ShareState| s.tag("recipe-share:made-by") == Some(by.as_str());
                let left: Vec<_> = shares(r).into_iter().filter(made_by).collect();
                ensure!(left.is_empty(), "the rollback left {r} in {left:?}");
            }
        }
    }
    Ok(())
}

async fn sequence(events: Vec<Event>, bad_config: bool) -> Result<(), TestCaseError> {
    let h = world(bad_config).await;
    for (i, e) in events.iter().enumerate() {
        let o = observe(&h, e, &format!("e{i}")).await.map_err(TestCaseError::fail)?;
        verdict(e, bad_config, &o).map_err(|why| TestCaseError::fail(format!("event {i}: {why}")))?;
    }
    Ok(())
}

/// One to three events, or one delivered twice (CloudTrail, EventBridge and Lambda all deliver
/// more than once: the second must find the work done), through a runner of its own (the
/// `proptest!` macro would let `PROPTEST_CASES` override the smaller end-to-end share).
fn campaign(config: ProptestConfig, bad_config: bool) {
    let twice = event(true).prop_map(|e| vec![e.clone(), e]);
    let sequences = prop_oneof![3 => prop::collection::vec(event(true), 1..=3), 1 => twice];
    let mut runner = proptest::test_runner::TestRunner::new(config);
    if let Err(failure) = runner.run(&sequences, |events| runtime().block_on(sequence(events, bad_config))) {
        panic!("{failure}\n{runner}");
    }
}

#[test]
fn hostile_events_end_to_end() {
    campaign(config(100, 4), false);
}

/// Under a bad setting every CloudFormation request is still answered (FAILED naming the setting;
/// a rollback Delete SUCCESS), every other event is an error, and AWS is never called.
#[test]
fn hostile_events_with_a_bad_configuration_never_call_aws() {
    campaign(config(25, 20), true);
}

/// A hand-made sweep request carries its counters (a finding of the old campaign: at their
/// maximum they overflowed, a panic in debug builds and a silent wrap in release).
#[tokio::test]
async fn sweep_counters_never_overflow() {
    let h = world(false).await;
    for (field, max) in [
        ("invocations", json!(u32::MAX)),
        ("recipes", json!(u64::MAX)),
        ("counts", json!({"compliant": u64::MAX})),
    ] {
        let mut totals = json!({"counts": {}, "recipes": 0, "findings": [], "invocations": 0, "startedAtMs": 0, "throttledCalls": 0});
        totals[field] = max;
        let (outcome, _) = invoke(&h.app, json!({"sweep": {"mode": "report", "totals": totals}}), DEADLINE).await;
        let summary = outcome.unwrap_or_else(|why| panic!("{totals}: {why}")).unwrap();
        assert!(summary["invocations"].as_u64() != Some(0), "wrapped: {summary}");
    }
}

/// The checks can fail: a trap counts a connection, the model-pattern oracle refuses, and the
/// verdict rejects what a wrong implementation would have done with a real, observed Create.
#[tokio::test]
async fn the_traps_and_the_oracles_can_fail() {
    let trap = Trap::bind("127.0.0.1:0").unwrap();
    drop(std::net::TcpStream::connect(("127.0.0.1", trap.port)).unwrap());
    let started = Instant::now();
    while trap.hits() == 0 && started.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(trap.hits(), 1);
    assert!(super::pure::model_pattern(R1) && !super::pure::model_pattern(&R1.replace("web", "Web")));
    let h = world(false).await;
    let echo = Echo {
        stack_id: "arn:aws:cloudformation:us-east-1:123456789012:stack/s/x".into(),
        request_id: "r".into(),
        logical_resource_id: "L".into(),
    };
    let event = json!({"RequestType": "Create", "StackId": echo.stack_id, "RequestId": "r", "LogicalResourceId": "L",
        "ResourceType": "Custom::ImageRecipeShare", "ResourceProperties": {"ImageRecipeArn": R1}});
    let ids = (Some(R1.to_string()), format!("{N}r"), format!("{ROLLBACK}{R1}"));
    let create = Cfn {
        event,
        url: Url::Allowed(0),
        plan: Plan::Share(R1.into()),
        ids,
        echo,
        limits: true,
        panic: false,
    };
    let e = Event::Cfn(create.clone());
    let mut o = observe(&h, &e, "can-fail").await.unwrap();
    verdict(&e, false, &o).expect("the real answer passes");
    // The same answer judged as if the request were refused, the recipe already shared (then
    // nothing may be written) or the configuration bad: each fails; so do a trap hit, a second
    // PUT and a second share.
    let refused = Event::Cfn(Cfn {
        plan: Plan::Refused,
        ..create
    });
    assert!(verdict(&refused, false, &o).is_err());
    assert!(verdict(&e, true, &o).is_err());
    let shared = o.snaps[1].clone();
    let before = std::mem::replace(&mut o.snaps[0], shared);
    assert!(verdict(&e, false, &o).is_err(), "writes to a shared recipe pass");
    o.snaps[0] = before;
    o.trap_hits = 1;
    assert!(verdict(&e, false, &o).is_err());
    o.trap_hits = 0;
    o.puts.push(o.puts[0].clone());
    assert!(verdict(&e, false, &o).is_err());
    o.puts.pop();
    let mut second = o.snaps[1].shares[0].clone();
    second.arn.push('2');
    o.snaps[1].shares.push(second);
    assert!(verdict(&e, false, &o).is_err());
}
