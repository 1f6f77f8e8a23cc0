//! The metrics record of each invocation (design section 11) against what the invocation did, as
//! the stand-in saw it: outcomes, every AWS attempt and every throttled one, a sweep's statuses
//! counted once across hand-offs, the quota and the findings an apply sweep could not fix.

use crate::common::*;
use recipe_share::metrics::tests_support::emf_problems;
use recipe_share_standin::Fault;
use serde_json::{Value, json};
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

fn recipe(name: &str) -> String {
    format!("arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/{name}/1.0.0")
}

fn n(record: &Value, metric: &str) -> u64 {
    assert!(emf_problems(record).is_empty(), "{:?}", emf_problems(record));
    record[metric]
        .as_u64()
        .unwrap_or_else(|| panic!("{metric} missing or not a count: {record}"))
}

#[tokio::test]
async fn a_create_counts_its_outcome_and_every_attempt_aws_saw() {
    let h = Harness::new().await;
    h.standin.add_recipe(R1);
    h.standin.fault("PutImageRecipePolicy", Fault::Throttle { times: 2 });
    let mut event = h.event("cfn-create.json", "m1");
    let (result, record) = h.invoke_metrics(event.clone(), T).await;
    result.expect("answered");
    assert_eq!(record["Entry"], "custom-resource");
    assert_eq!(
        (n(&record, "Shared"), n(&record, "AlreadyShared"), n(&record, "Failed")),
        (1, 0, 0)
    );
    assert_eq!(
        n(&record, "AwsCalls"),
        h.aws_calls() as u64,
        "every attempt, retries included"
    );
    assert_eq!(n(&record, "ThrottledCalls"), 2);
    assert!(record["DurationMs"].as_f64().unwrap() > 0.0);

    event["ResponseURL"] = json!(h.standin.response_url("m2"));
    let before = h.aws_calls();
    let (_, again) = h.invoke_metrics(event, T).await;
    assert_eq!((n(&again, "Shared"), n(&again, "AlreadyShared")), (0, 1), "{again}");
    assert_eq!(
        n(&again, "AwsCalls"),
        (h.aws_calls() - before) as u64,
        "counted per invocation"
    );

    let mut delete = h.event("cfn-delete.json", "m3");
    delete["PhysicalResourceId"] = json!(R1);
    let (_, deleted) = h.invoke_metrics(delete, T).await;
    assert_eq!(n(&deleted, "Unshared"), 1, "{deleted}");

    let mut missing = h.event("cfn-create.json", "m4");
    missing["ResourceProperties"]["ImageRecipeArn"] = json!(recipe("missing"));
    let (result, failed) = h.invoke_metrics(missing, T).await;
    result.expect("a FAILED answer is still delivered");
    assert_eq!((n(&failed, "Failed"), n(&failed, "Shared")), (1, 0), "{failed}");
}

#[tokio::test]
async fn events_count_shared_skipped_and_failed() {
    let h = Harness::new().await;
    let created = "arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/hardened-al2023/2.3.0";
    h.standin.add_recipe(created);
    let (_, shared) = h
        .invoke_metrics(fixture("eventbridge-create-image-recipe.json"), T)
        .await;
    assert_eq!(
        (shared["Entry"].as_str(), n(&shared, "Shared")),
        (Some("eventbridge"), 1)
    );
    let (_, skipped) = h
        .invoke_metrics(fixture("eventbridge-create-image-recipe-failed.json"), T)
        .await;
    assert_eq!((n(&skipped, "Skipped"), n(&skipped, "AwsCalls")), (1, 0), "{skipped}");
    h.standin.remove_recipe(created);
    let mut gone = fixture("eventbridge-create-image-recipe.json");
    gone["detail"]["responseElements"]["imageRecipeArn"] = json!(recipe("gone"));
    let (result, failed) = h.invoke_metrics(gone, T).await;
    assert!(result.is_err());
    assert_eq!((n(&failed, "Failed"), n(&failed, "Shared")), (1, 0), "{failed}");
}

#[tokio::test]
async fn a_sweep_counts_each_status_once_across_hand_offs_with_quota_and_unfixed() {
    let h = Harness::with(
        recipe_share_standin::Options {
            promotion_time: Duration::from_millis(300),
            ..Default::default()
        },
        &[("SHARE_PRINCIPALS", PRINCIPALS)],
    )
    .await;
    let fleet: Vec<String> = (0..30).map(|i| recipe(&format!("m-{i:02}"))).collect();
    h.standin.add_recipes(fleet.clone());
    h.standin.tag_recipe(&fleet[0], "recipe-share:exclude", "draft");
    for op in ["ListResources", "GetImageRecipe"] {
        h.standin.fault(op, Fault::Latency(Duration::from_millis(40)));
    }
    // Report first: statuses as findings, nothing fixed, no Unfixed (a report fixes nothing by design).
    let (_, report) = h
        .invoke_metrics(json!({"sweep": {"mode": "report"}}), Duration::from_secs(60))
        .await;
    assert_eq!(
        (
            n(&report, "MissingPolicy"),
            n(&report, "Excluded"),
            n(&report, "Skipped")
        ),
        (29, 1, 1),
        "{report}"
    );
    assert!(report.get("Unfixed").is_none());
    // Apply in invocations too short to finish: the records' counts add up to the sweep's, once.
    let mut event = json!({"sweep": {"mode": "apply"}});
    let (mut fixed, mut skipped, mut records) = (0, 0, Vec::new());
    for _ in 0..40 {
        let invoked = h.standin.calls().iter().filter(|c| c.op == "Invoke").count();
        let (result, record) = h.invoke_metrics(event.clone(), Duration::from_millis(2500)).await;
        let out = result.expect("each part succeeds");
        fixed += n(&record, "Fixed");
        skipped += n(&record, "Skipped");
        records.push(record);
        if out["status"] == "complete" {
            assert_eq!(out["counts"]["fixed"], 29, "{out}");
            break;
        }
        let calls = h.standin.calls();
        let handed: Vec<&recipe_share_standin::Call> = calls.iter().filter(|c| c.op == "Invoke").collect();
        assert_eq!(handed.len(), invoked + 1);
        event = handed.last().unwrap().body.clone();
    }
    assert!(records.len() >= 2, "the sweep was split: {} invocations", records.len());
    assert_eq!(
        (fixed, skipped),
        (29, 1),
        "each recipe counted once across {} records",
        records.len()
    );
    let last = records.last().unwrap();
    assert_eq!(
        n(last, "Unfixed"),
        0,
        "an excluded recipe is as its owner asked: {last}"
    );
    assert!(last["QuotaHeadroomPercent"].as_f64().unwrap() > 90.0);
    assert_eq!(n(last, "ResourceShares"), 29);
    for partial in &records[..records.len() - 1] {
        assert!(
            partial.get("QuotaHeadroomPercent").is_none(),
            "quota only when complete: {partial}"
        );
        assert!(partial.get("Unfixed").is_none());
    }
}
