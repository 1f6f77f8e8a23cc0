//! Many invocations at once against the stand-in: one STANDARD share per recipe, at most one
//! promoted permission, every CloudFormation request answered once.

use crate::common::*;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_creates_of_the_same_recipe_end_in_one_share() {
    let h = Arc::new(Harness::new().await);
    h.standin.add_recipe(R1);
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let h = h.clone();
            tokio::spawn(async move {
                let event = h.event("cfn-create.json", &format!("same-{i}"));
                h.invoke(event, Duration::from_secs(60)).await
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().expect("every response delivered");
    }
    let responses = h.standin.responses();
    assert_eq!(responses.len(), 20, "exactly one response per request");
    for r in &responses {
        let body = r.json.as_ref().unwrap();
        assert_eq!(body["Status"], "SUCCESS", "{body}");
        assert_eq!(body["PhysicalResourceId"], R1);
    }
    let snap = h.standin.snapshot();
    let shares = snap.shares_of(R1);
    assert_eq!(shares.len(), 1, "{shares:?}");
    assert_eq!(shares[0].feature_set, "STANDARD");
    assert!(snap.customer_permissions() <= 1);
    let share_arns: std::collections::BTreeSet<_> = responses
        .iter()
        .map(|r| r.json.as_ref().unwrap()["Data"]["ResourceShareArn"].to_string())
        .collect();
    assert_eq!(share_arns.len(), 1, "every answer names the same share");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_recipes_at_once_end_in_two_hundred_standard_shares() {
    let h = Arc::new(Harness::new().await);
    let arns: Vec<String> = (0..200)
        .map(|i| format!("arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/fleet-{i}/1.0.0"))
        .collect();
    for a in &arns {
        h.standin.add_recipe(a);
    }
    let tasks: Vec<_> = arns
        .iter()
        .map(|a| {
            let (h, a) = (h.clone(), a.clone());
            tokio::spawn(async move {
                let mut event = fixture("eventbridge-create-image-recipe.json");
                event["detail"]["responseElements"]["imageRecipeArn"] = json!(a);
                h.invoke(event, Duration::from_secs(120)).await
            })
        })
        .collect();
    for t in tasks {
        let out = t.await.unwrap().expect("every event handled");
        assert_eq!(out["outcome"], "shared", "{out}");
    }
    let snap = h.standin.snapshot();
    for a in &arns {
        let shares = snap.shares_of(a);
        assert_eq!(shares.len(), 1, "{a}");
        assert_eq!(shares[0].feature_set, "STANDARD", "{a}");
    }
    assert_eq!(
        snap.customer_permissions(),
        1,
        "the org permission was promoted at most once"
    );
}

/// A recipe a stack creates fires its custom resource and its CloudTrail event at the same moment,
/// and both can be delivered more than once: every delivery succeeds, and the recipe ends in one
/// share (a write that lands after another invocation's promotion makes a second share, which the
/// writer promotes and deletes), with at most one promoted permission.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stack_and_its_cloudtrail_event_race_for_a_new_recipe() {
    let h = Arc::new(Harness::new().await);
    // Slow writes widen the window in which one invocation's write lands after the other's promotion.
    h.standin
        .fault("PutImageRecipePolicy", Fault::Latency(Duration::from_millis(40)));
    for round in 0..4 {
        let recipe = format!("arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/raced-{round}/1.0.0");
        h.standin.add_recipe(&recipe);
        let before = h.standin.responses().len();
        let mut tasks = Vec::new();
        for i in 0..5 {
            let (h1, r1) = (h.clone(), recipe.clone());
            tasks.push(tokio::spawn(async move {
                let mut event = h1.event("cfn-create.json", &format!("race-{round}-{i}"));
                event["ResourceProperties"]["ImageRecipeArn"] = json!(r1);
                h1.invoke(event, Duration::from_secs(60)).await
            }));
            let (h2, r2) = (h.clone(), recipe.clone());
            tasks.push(tokio::spawn(async move {
                let mut event = fixture("eventbridge-create-image-recipe.json");
                event["detail"]["responseElements"]["imageRecipeArn"] = json!(r2);
                h2.invoke(event, Duration::from_secs(60)).await
            }));
        }
        for t in tasks {
            let out = t.await.unwrap().expect("every invocation succeeds");
            if let Some(outcome) = out.get("outcome") {
                assert!(outcome == "shared" || outcome == "already-shared", "{out}");
            }
        }
        let responses = &h.standin.responses()[before..];
        assert_eq!(responses.len(), 5, "one response per Create");
        for r in responses {
            let body = r.json.as_ref().unwrap();
            assert_eq!(
                body["Status"], "SUCCESS",
                "no FAILED from the other invocation's doing: {body}"
            );
        }
        assert_shared_by_standard(&h, &recipe, &["111122223333", "444455556666"]);
    }
    assert!(
        h.standin.snapshot().customer_permissions() <= 1,
        "at most one promoted permission"
    );
}

/// The window the race above hits by chance, made certain: between this invocation's look for a
/// customer-managed permission and its read of the share's CREATED_FROM_POLICY permission, another
/// invocation promotes the permission and the share. The share then has no such permission left;
/// that is the other invocation's doing, so this one goes on from what RAM now says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promotions_by_another_invocation_in_mid_step_are_not_a_failure() {
    let h = Arc::new(Harness::new().await);
    h.standin.add_recipe(R1);
    h.standin.fault(
        "ListResourceSharePermissions",
        Fault::Latency(Duration::from_millis(1500)),
    );
    let slow = {
        let h = h.clone();
        tokio::spawn(async move { h.cfn(h.event("cfn-create.json", "slow")).await })
    };
    let mut in_flight = false;
    for _ in 0..300 {
        if h.standin.call_count("ListResourceSharePermissions") > 0 {
            in_flight = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(in_flight, "the invocation never read the share's permissions");
    // The other invocation's promotions, made straight through RAM while the read is delayed.
    let snap = h.standin.snapshot();
    let share = snap
        .shares_of(R1)
        .first()
        .cloned()
        .cloned()
        .expect("the share the policy made");
    assert_eq!(share.feature_set, "CREATED_FROM_POLICY");
    let sdk = recipe_share_standin::sdk_config(&h.standin.url(), "us-east-1").await;
    let ram = aws_sdk_ram::Client::new(&sdk);
    ram.promote_permission_created_from_policy()
        .permission_arn(&share.permission_arn)
        .name("RecipeShareOrgStandard")
        .send()
        .await
        .expect("the other invocation promotes the permission");
    ram.promote_resource_share_created_from_policy()
        .resource_share_arn(&share.arn)
        .send()
        .await
        .expect("and then the share");
    let body = slow.await.unwrap();
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    assert_shared_by_standard(&h, R1, &["111122223333", "444455556666"]);
    assert_eq!(h.standin.snapshot().customer_permissions(), 1);
}
