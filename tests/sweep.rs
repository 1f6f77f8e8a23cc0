//! The reconcile sweep end to end against the stand-in: mixed fleets in report and apply mode,
//! pagination with empty pages, a throttling storm, and a sweep handed on across invocations.

mod common;

use common::*;
use recipe_share_standin::RateLimit;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

fn recipe(name: &str) -> String {
    format!("arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/{name}/1.0.0")
}

fn standard(arn: &str) -> String {
    json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": ["111122223333", "444455556666"]},
        "Action": ["imagebuilder:GetImageRecipe", "imagebuilder:ListImageRecipes"], "Resource": arn}]})
    .to_string()
}

/// One of each state a fleet can be in; returns the recipes by the status report mode should give.
async fn mixed_fleet(h: &Harness) -> BTreeMap<&'static str, String> {
    let fleet = BTreeMap::from([
        ("compliant", recipe("compliant")),
        ("missing-policy", recipe("unshared")),
        ("policy-drift", recipe("drifted")),
        ("share-missing", recipe("share-missing")),
        ("share-not-promoted", recipe("unpromoted")),
    ]);
    for arn in fleet.values() {
        h.standin.add_recipe(arn);
    }
    let mut event = fixture("eventbridge-create-image-recipe.json");
    event["detail"]["responseElements"]["imageRecipeArn"] = json!(fleet["compliant"]);
    h.invoke(event, Duration::from_secs(30))
        .await
        .expect("compliant recipe shared");
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
    fleet
}

fn mutating_calls(h: &Harness) -> usize {
    let mutating = [
        "PutImageRecipePolicy",
        "PromoteResourceShareCreatedFromPolicy",
        "PromotePermissionCreatedFromPolicy",
    ];
    h.standin
        .calls()
        .iter()
        .filter(|c| mutating.contains(&c.op.as_str()) || c.op.contains("ResourceShare") && !c.op.starts_with("Get"))
        .count()
}

#[tokio::test]
async fn report_mode_names_every_difference_and_changes_nothing() {
    let h = Harness::new().await;
    let fleet = mixed_fleet(&h).await;
    let before = mutating_calls(&h);
    let out = h
        .invoke(json!({"sweep": {"mode": "report"}}), Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(out["status"], "complete", "{out}");
    assert_eq!(out["recipes"], 5);
    for status in fleet.keys() {
        assert_eq!(out["counts"][status], 1, "{status}: {out}");
    }
    let findings = out["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 4, "every non-compliant recipe is listed");
    for f in findings {
        assert_eq!(
            fleet[f["status"].as_str().unwrap()],
            f["recipe"].as_str().unwrap(),
            "{f}"
        );
    }
    let drift = findings.iter().find(|f| f["status"] == "policy-drift").unwrap();
    assert!(drift["detail"].as_str().unwrap().contains("principals"), "{drift}");
    assert_eq!(mutating_calls(&h), before, "report mode changes nothing");
}

#[tokio::test]
async fn apply_mode_converges_a_mixed_fleet_and_survives_a_recipe_deleted_mid_sweep() {
    let h = Harness::new().await;
    let fleet = mixed_fleet(&h).await;
    let gone = recipe("deleted-mid-sweep");
    h.standin.add_recipe(&gone);
    // Listed, then gone by the time its policy is read and written.
    h.standin
        .fault("GetImageRecipePolicy", Fault::Latency(Duration::from_millis(300)));
    let sweep = {
        let app = h.app.clone();
        tokio::spawn(async move {
            let mut ctx = lambda_runtime::Context::default();
            ctx.invoked_function_arn = FUNCTION_ARN.into();
            let deadline = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap();
            ctx.deadline = (deadline + Duration::from_secs(30)).as_millis() as u64;
            let event = lambda_runtime::LambdaEvent::new(json!({"sweep": {"mode": "apply"}}), ctx);
            recipe_share::handle(app, event).await
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    h.standin.remove_recipe(&gone);
    let out = sweep.await.unwrap().unwrap();
    assert_eq!(out["status"], "complete", "{out}");
    assert_eq!(out["recipes"], 6);
    assert_eq!(out["counts"]["compliant"], 1, "{out}");
    assert_eq!(out["counts"]["fixed"], 4, "{out}");
    assert_eq!(out["counts"]["deleted"], 1, "{out}");
    assert!(out["counts"].get("failed").is_none(), "{out}");
    let snap = h.standin.snapshot();
    for arn in fleet.values() {
        let shares = snap.shares_of(arn);
        assert_eq!(shares.len(), 1, "{arn}: {shares:?}");
        assert_eq!(shares[0].feature_set, "STANDARD", "{arn}");
        assert_eq!(snap.policy_of(arn), Some(standard(arn).as_str()), "{arn}");
    }
    // A second apply sweep finds everything compliant and costs reads only.
    let again = h
        .invoke(json!({"sweep": {"mode": "apply"}}), Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(again["counts"]["compliant"], 5, "{again}");
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
            rate_limit: Some(RateLimit {
                per_second: 40.0,
                burst: 4,
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
    // The sweep counts the throttles it retried itself (Image Builder's); the SDK absorbs RAM's.
    assert!(out["throttledCalls"].as_u64().unwrap() <= h.standin.throttled_total() as u64);
    assert!(out["counts"].get("failed").is_none(), "{out}");
    let snap = h.standin.snapshot();
    assert!(
        arns.iter()
            .all(|a| snap.shares_of(a).first().is_some_and(|s| s.feature_set == "STANDARD"))
    );
    assert_eq!(snap.customer_permissions(), 1);
}

#[tokio::test]
async fn a_short_deadline_splits_the_sweep_across_invocations_covering_each_recipe_once() {
    let h = Harness::new().await;
    let arns: Vec<String> = (0..40).map(|i| recipe(&format!("split-{i:02}"))).collect();
    h.standin.add_recipes(arns.clone());
    for op in ["GetImageRecipePolicy", "ListResources", "GetResourceShares"] {
        h.standin.fault(op, Fault::Latency(Duration::from_millis(120)));
    }
    let mut event = json!({"sweep": {"mode": "report"}});
    let mut outs = Vec::new();
    for _ in 0..20 {
        let out = h
            .invoke(event.clone(), Duration::from_millis(1500))
            .await
            .expect("each part succeeds");
        outs.push(out.clone());
        if out["status"] == "complete" {
            break;
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
        event = handed.last().unwrap().clone();
    }
    let last = outs.last().unwrap();
    assert_eq!(last["status"], "complete", "{last}");
    assert!(
        outs.len() >= 3,
        "the deadline split the sweep into {} invocations",
        outs.len()
    );
    assert_eq!(last["invocations"], outs.len());
    assert_eq!(last["recipes"], 40, "{last}");
    assert_eq!(last["counts"]["missing-policy"], 40);
    // Each recipe was read exactly once across all the invocations.
    let mut reads: BTreeMap<String, usize> = BTreeMap::new();
    for c in h.standin.calls().iter().filter(|c| c.op == "GetImageRecipePolicy") {
        *reads
            .entry(c.query_param("imageRecipeArn").unwrap().to_string())
            .or_default() += 1;
    }
    assert_eq!(reads.len(), 40);
    assert!(reads.values().all(|n| *n == 1), "{reads:?}");
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
