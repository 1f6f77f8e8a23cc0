//! The reconcile sweep end to end against the stand-in: a fleet in every state in report and apply
//! mode, pagination with empty pages, a throttling storm, and sweeps handed on across invocations
//! too short to finish, with recipes still converging at each hand-off.

use crate::common::*;
use recipe_share_standin::RateLimit;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

const ORG: &str = "arn:aws:organizations::111122223333:organization/o-abcdefghij";
const ACCOUNTS: [&str; 2] = ["111122223333", "444455556666"];

fn recipe(name: &str) -> String {
    format!("arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/{name}/1.0.0")
}

fn standard(arn: &str) -> String {
    json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": ["111122223333", "444455556666"]},
        "Action": ["imagebuilder:GetImageRecipe", "imagebuilder:ListImageRecipes"], "Resource": arn}]})
    .to_string()
}

/// Shares `arn` through the EventBridge trigger, as a recipe made by hand would be.
async fn share_by_trigger(h: &Harness, arn: &str) {
    let mut event = fixture("eventbridge-create-image-recipe.json");
    event["detail"]["responseElements"]["imageRecipeArn"] = json!(arn);
    let out = h.invoke(event, Duration::from_secs(30)).await.expect("shared");
    assert!(
        out["outcome"] == "shared" || out["outcome"] == "already-shared",
        "{out}"
    );
}

/// One recipe in each state a report names; returns them by the status report mode should give.
async fn fleet_in_every_state(h: &Harness) -> BTreeMap<&'static str, String> {
    let fleet = BTreeMap::from([
        ("compliant", recipe("compliant")),
        ("missing-policy", recipe("unshared")),
        ("policy-drift", recipe("drifted")),
        ("share-missing", recipe("share-missing")),
        ("share-not-promoted", recipe("unpromoted")),
        ("principals-extra", recipe("widened")),
        ("excluded", recipe("draft")),
    ]);
    for arn in fleet.values() {
        h.standin.add_recipe(arn);
    }
    share_by_trigger(h, &fleet["compliant"]).await;
    share_by_trigger(h, &fleet["principals-extra"]).await;
    let widened = h.standin.snapshot().shares_of(&fleet["principals-extra"])[0]
        .arn
        .clone();
    h.standin.associate_principal(&widened, "999999999999");
    let drifted = &fleet["policy-drift"];
    h.standin.set_policy(
        drifted,
        &json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": ["999999999999"]},
            "Action": ["imagebuilder:GetImageRecipe", "imagebuilder:ListImageRecipes"], "Resource": drifted}]})
        .to_string(),
    );
    h.standin
        .put_policy_only(&fleet["share-missing"], &standard(&fleet["share-missing"]));
    h.standin
        .set_policy(&fleet["share-not-promoted"], &standard(&fleet["share-not-promoted"]));
    // Shared, then excluded by its owner: report says so, apply unshares it.
    share_by_trigger(h, &fleet["excluded"]).await;
    h.standin
        .tag_recipe(&fleet["excluded"], "recipe-share:exclude", "draft");
    fleet
}

/// Calls that change something in Image Builder or RAM.
fn mutating_calls(h: &Harness) -> usize {
    h.standin
        .calls()
        .iter()
        .filter(|c| {
            c.op.starts_with("Put")
                || c.op.starts_with("Promote")
                || c.op.starts_with("Associate")
                || c.op.starts_with("Disassociate")
                || c.op.starts_with("Delete")
                || c.op == "TagResource"
        })
        .count()
}

#[tokio::test]
async fn report_mode_names_every_difference_and_changes_nothing() {
    let h = Harness::new().await;
    let fleet = fleet_in_every_state(&h).await;
    let before = mutating_calls(&h);
    let out = h
        .invoke(json!({"sweep": {"mode": "report"}}), Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(out["status"], "complete", "{out}");
    assert_eq!(out["recipes"], fleet.len());
    for status in fleet.keys() {
        assert_eq!(out["counts"][status], 1, "{status}: {out}");
    }
    let findings = out["findings"].as_array().unwrap();
    assert_eq!(
        findings.len(),
        fleet.len() - 1,
        "every recipe but the compliant one is listed"
    );
    for f in findings {
        assert_eq!(
            fleet[f["status"].as_str().unwrap()],
            f["imageRecipeArn"].as_str().unwrap(),
            "{f}"
        );
    }
    let detail = |status: &str| {
        findings.iter().find(|f| f["status"] == status).unwrap()["detail"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(detail("policy-drift").contains("principals"));
    assert!(detail("principals-extra").contains("999999999999"));
    assert!(detail("excluded").contains("apply mode unshares it"));
    assert_eq!(mutating_calls(&h), before, "report mode changes nothing");
    // The account's RAM quota, for an auditor.
    let quota = &out["quota"];
    assert_eq!(quota["resourceSharesQuota"], 25_000);
    assert_eq!(
        quota["resourceShares"],
        h.standin
            .snapshot()
            .shares
            .iter()
            .filter(|s| s.status == "ACTIVE")
            .count()
    );
    assert!(quota["principalAssociations"].as_u64().unwrap() >= 6, "{quota}");
}

#[tokio::test]
async fn organization_principals_not_associated_are_principals_missing() {
    let h = Harness::new().await;
    let arn = recipe("no-org");
    h.standin.add_recipe(&arn);
    share_by_trigger(&h, &arn).await;
    // The standard now includes the organization (the same account, reconfigured).
    let h2 = h
        .reconfigured(&[("SHARE_PRINCIPALS", &format!("{PRINCIPALS},{ORG}"))])
        .await;
    let out = h2
        .invoke(json!({"sweep": {"mode": "report"}}), Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(out["counts"]["principals-missing"], 1, "{out}");
    assert!(out["findings"][0]["detail"].as_str().unwrap().contains(ORG), "{out}");
    let fixed = h2
        .invoke(json!({"sweep": {"mode": "apply"}}), Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(fixed["counts"]["fixed"], 1, "{fixed}");
    assert_shared_by_standard(&h2, &arn, &[ACCOUNTS[0], ACCOUNTS[1], ORG]);
}

#[tokio::test]
async fn apply_mode_converges_every_state_and_survives_a_recipe_deleted_mid_sweep() {
    let h = Harness::new().await;
    let fleet = fleet_in_every_state(&h).await;
    let gone = recipe("deleted-mid-sweep");
    h.standin.add_recipe(&gone);
    // Listed, then gone by the time it is written.
    h.standin
        .fault("ListResources", Fault::Latency(Duration::from_millis(300)));
    let sweep = {
        let app = h.app.clone();
        tokio::spawn(async move {
            let mut ctx = lambda_runtime::Context::default();
            ctx.invoked_function_arn = FUNCTION_ARN.into();
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap();
            ctx.deadline = (now + Duration::from_secs(30)).as_millis() as u64;
            let event = lambda_runtime::LambdaEvent::new(json!({"sweep": {"mode": "apply"}}), ctx);
            recipe_share::handle(app, event).await
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    h.standin.remove_recipe(&gone);
    let out = sweep.await.unwrap().unwrap();
    h.standin.clear_faults();
    assert_eq!(out["status"], "complete", "{out}");
    assert_eq!(out["recipes"], fleet.len() + 1);
    assert_eq!(out["counts"]["compliant"], 1, "{out}");
    assert_eq!(out["counts"]["fixed"], 5, "{out}");
    assert_eq!(out["counts"]["excluded"], 1, "{out}");
    assert_eq!(out["counts"]["deleted"], 1, "{out}");
    assert!(out["counts"].get("failed").is_none(), "{out}");
    for (status, arn) in &fleet {
        if *status == "excluded" {
            assert_not_shared(&h, arn);
        } else {
            assert_shared_by_standard(&h, arn, &ACCOUNTS);
        }
    }
    // A second apply sweep finds everything compliant and writes nothing.
    let before = mutating_calls(&h);
    let again = h
        .invoke(json!({"sweep": {"mode": "apply"}}), Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(again["counts"]["compliant"], fleet.len() - 1, "{again}");
    assert_eq!(again["counts"]["excluded"], 1, "{again}");
    assert_eq!(mutating_calls(&h), before, "a compliant fleet costs reads only");
}

#[tokio::test]
async fn pagination_with_empty_pages_covers_every_recipe() {
    let h = Harness::with(
        Options {
            page_size: 2,
            empty_pages: true,
            ..Options::default()
        },
        &[("SHARE_PRINCIPALS", PRINCIPALS)],
    )
    .await;
    let arns: Vec<String> = (0..7).map(|i| recipe(&format!("paged-{i}"))).collect();
    h.standin.add_recipes(arns.clone());
    let out = h
        .invoke(json!({"sweep": {"mode": "report"}}), Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(out["recipes"], 7, "{out}");
    assert_eq!(out["counts"]["missing-policy"], 7);
    assert!(
        h.standin.call_count("ListImageRecipes") >= 5,
        "it followed every token, empty pages included"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttling_storm_slows_the_sweep_but_fails_no_recipe() {
    let h = Harness::with(
        Options {
            // A bucket one call deep: a recipe's second call in the same millisecond is refused,
            // however politely the sweep paces its recipes.
            rate_limit: Some(RateLimit {
                per_second: 20.0,
                burst: 1,
            }),
            ..Options::default()
        },
        &[("SHARE_PRINCIPALS", PRINCIPALS)],
    )
    .await;
    let arns: Vec<String> = (0..30).map(|i| recipe(&format!("storm-{i}"))).collect();
    h.standin.add_recipes(arns.clone());
    let out = h
        .invoke(json!({"sweep": {"mode": "apply"}}), Duration::from_secs(120))
        .await
        .unwrap();
    assert_eq!(out["status"], "complete", "{out}");
    assert_eq!(out["counts"]["fixed"], 30, "{out}");
    assert!(h.standin.throttled_total() > 0, "the storm happened");
    // Every throttled attempt is seen, the SDK's own retries included.
    assert_eq!(
        out["throttledCalls"].as_u64().unwrap(),
        h.standin.throttled_total() as u64,
        "{out}"
    );
    assert!(out["counts"].get("failed").is_none(), "{out}");
    for a in &arns {
        assert_shared_by_standard(&h, a, &ACCOUNTS);
    }
    assert_eq!(h.standin.snapshot().customer_permissions(), 1);
}

/// Runs a sweep to the end, delivering each hand-off as Lambda would, with `deadline` per
/// invocation; returns every invocation's summary. Fails if a link hands on more than once or
/// makes no progress.
async fn run_chain(h: &Harness, first: Value, deadline: Duration, max: usize) -> Vec<Value> {
    let mut event = first;
    let mut outs: Vec<Value> = Vec::new();
    for _ in 0..max {
        let out = h.invoke(event.clone(), deadline).await.expect("each part succeeds");
        outs.push(out.clone());
        if out["status"] == "complete" {
            return outs;
        }
        let handed: Vec<Value> = h
            .standin
            .calls()
            .into_iter()
            .filter(|c| c.op == "Invoke")
            .map(|c| c.body)
            .collect();
        assert_eq!(
            handed.len(),
            outs.len(),
            "each partial invocation hands on exactly once"
        );
        let next = handed.last().unwrap().clone();
        // Progress: the continuation moved (a recipe was counted, or the page or the carried ones changed).
        if let [.., prev, _] = &outs[..] {
            let moved = out["recipes"] != prev["recipes"] || out["continuation"] != prev["continuation"];
            assert!(moved, "a hand-off made no progress: {out}");
        }
        assert_eq!(next["sweep"]["chain"], handed[0]["sweep"]["chain"], "one chain");
        event = next;
    }
    panic!("the sweep did not finish in {max} invocations: {:?}", outs.last());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_too_long_for_one_invocation_ends_with_every_recipe_compliant_and_exact_counts() {
    // Slow AWS (150 ms a call) and promotions that take longer than an invocation's tail: recipes
    // are cut off mid-promotion at every hand-off.
    let h = Harness::with(
        Options {
            promotion_time: Duration::from_millis(1200),
            ..Options::default()
        },
        &[("SHARE_PRINCIPALS", PRINCIPALS)],
    )
    .await;
    let arns: Vec<String> = (0..100).map(|i| recipe(&format!("slow-{i:03}"))).collect();
    h.standin.add_recipes(arns.clone());
    for op in [
        "ListImageRecipes",
        "ListResources",
        "GetResourceShares",
        "PutImageRecipePolicy",
        "PromoteResourceShareCreatedFromPolicy",
        "TagResource",
        "GetResourceShareAssociations",
        "ListResourceSharePermissions",
        "PromotePermissionCreatedFromPolicy",
    ] {
        h.standin.fault(op, Fault::Latency(Duration::from_millis(150)));
    }
    let outs = run_chain(&h, json!({"sweep": {"mode": "apply"}}), Duration::from_secs(4), 60).await;
    let last = outs.last().unwrap();
    assert!(
        outs.len() >= 3,
        "the deadline split the sweep into {} invocations",
        outs.len()
    );
    assert!(
        outs[..outs.len() - 1]
            .iter()
            .any(|o| !o["continuation"]["inFlight"].as_array().unwrap().is_empty()),
        "recipes were cut off mid-flight and carried"
    );
    assert_eq!(last["invocations"], outs.len());
    assert_eq!(last["recipes"], 100, "each recipe counted exactly once: {last}");
    assert_eq!(
        last["counts"]["fixed"], 100,
        "none counted failed that ended compliant: {last}"
    );
    for a in &arns {
        assert_shared_by_standard(&h, a, &ACCOUNTS);
    }
    // No recipe was worked on twice from scratch: one write each, and RAM made one share each.
    let mut writes: BTreeMap<String, usize> = BTreeMap::new();
    for c in h.standin.calls().iter().filter(|c| c.op == "PutImageRecipePolicy") {
        *writes
            .entry(c.body["imageRecipeArn"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    assert_eq!(writes.len(), 100);
    assert!(writes.values().all(|n| *n == 1), "{writes:?}");
}

#[tokio::test]
async fn a_report_split_across_invocations_reads_each_recipe_once() {
    let h = Harness::new().await;
    let arns: Vec<String> = (0..40).map(|i| recipe(&format!("split-{i:02}"))).collect();
    h.standin.add_recipes(arns.clone());
    for op in ["ListResources", "GetImageRecipePolicy"] {
        h.standin.fault(op, Fault::Latency(Duration::from_millis(120)));
    }
    let outs = run_chain(
        &h,
        json!({"sweep": {"mode": "report"}}),
        Duration::from_millis(1500),
        40,
    )
    .await;
    let last = outs.last().unwrap();
    assert!(outs.len() >= 3, "{} invocations", outs.len());
    assert_eq!(last["recipes"], 40, "{last}");
    assert_eq!(last["counts"]["missing-policy"], 40);
    let mut reads: BTreeMap<String, usize> = BTreeMap::new();
    for c in h.standin.calls().iter().filter(|c| c.op == "ListResources") {
        *reads
            .entry(c.body["resourceArns"][0].as_str().unwrap_or_default().to_string())
            .or_default() += 1;
    }
    assert_eq!(reads.len(), 40);
    assert!(reads.values().all(|n| *n == 1), "{reads:?}");
}

#[tokio::test]
async fn the_chain_is_capped_with_an_error_that_says_so() {
    let h = Harness::new().await;
    h.standin.add_recipes((0..40).map(|i| recipe(&format!("cap-{i:02}"))));
    h.standin
        .fault("ListResources", Fault::Latency(Duration::from_millis(200)));
    let last_link = json!({"sweep": {"mode": "report", "chain": "c-1",
        "totals": {"counts": {}, "recipes": 0, "findings": [], "invocations": recipe_share::sweep::MAX_INVOCATIONS - 1,
                   "startedAtMs": 1, "throttledCalls": 0}}});
    let err = h.invoke(last_link, Duration::from_millis(1500)).await.unwrap_err();
    assert!(err.to_string().contains("stopped after"), "{err}");
    assert_eq!(h.standin.call_count("Invoke"), 0, "no further link");
}

#[tokio::test]
async fn an_uncertain_hand_off_is_not_retried() {
    let h = Harness::new().await;
    h.standin.add_recipes((0..30).map(|i| recipe(&format!("hand-{i:02}"))));
    h.standin
        .fault("ListResources", Fault::Latency(Duration::from_millis(200)));
    h.standin.fault("Invoke", Fault::ServerError { times: 1, status: 500 });
    let out = h
        .invoke(json!({"sweep": {"mode": "report"}}), Duration::from_millis(1500))
        .await
        .unwrap();
    assert_eq!(out["status"], "continued", "{out}");
    assert!(out["handOff"].as_str().unwrap().starts_with("uncertain"), "{out}");
    assert_eq!(
        h.standin.call_count("Invoke"),
        1,
        "sent once: a retry could start a second chain"
    );
}

#[tokio::test]
async fn bad_sweep_requests_are_errors() {
    let h = Harness::new().await;
    assert!(
        h.invoke(json!({"sweep": {"mode": "destroy"}}), Duration::from_secs(5))
            .await
            .is_err()
    );
    let bad_cfg = Harness::with(Options::default(), &[("SHARE_PRINCIPALS", "*")]).await;
    assert!(
        bad_cfg
            .invoke(json!({"sweep": {"mode": "report"}}), Duration::from_secs(5))
            .await
            .is_err()
    );
}
