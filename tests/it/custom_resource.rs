//! The custom resource end to end: the real handler and SDK clients against the local stand-in,
//! judged by RAM's state (the stand-in writes recipe policies as RAM does once a share is STANDARD,
//! and answers a policy write on such a recipe with a second share, so a flow that writes the policy
//! of a shared recipe fails here).

use crate::common::*;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const ORG: &str = "arn:aws:organizations::111122223333:organization/o-abcdefghij";
const ACCOUNTS: [&str; 2] = ["111122223333", "444455556666"];

fn update_to(h: &Harness, name: &str, physical: &str, new: &str, old: &str) -> Value {
    let mut e = h.event("cfn-update-new-arn.json", name);
    e["PhysicalResourceId"] = json!(physical);
    e["ResourceProperties"]["ImageRecipeArn"] = json!(new);
    e["OldResourceProperties"]["ImageRecipeArn"] = json!(old);
    e
}

#[tokio::test]
async fn create_shares_the_recipe_and_reports_success() {
    let h = Harness::new().await;
    h.standin.add_recipe(R1);
    let resp = h.cfn(h.event("cfn-create.json", "create")).await;
    assert_eq!(resp["Status"], "SUCCESS", "{resp}");
    assert_eq!(resp["PhysicalResourceId"], R1);
    assert_eq!(resp["Data"]["ImageRecipeArn"], R1);
    assert_eq!(resp["RequestId"], "6f1c3a52-5d0e-4b8e-9a51-2f1d7c3e9b10");
    assert_eq!(resp["LogicalResourceId"], "RecipeShare");
    assert!(resp["StackId"].as_str().unwrap().starts_with("arn:aws:cloudformation:"));
    let share = assert_shared_by_standard(&h, R1, &ACCOUNTS);
    assert_eq!(resp["Data"]["ResourceShareArn"], share.as_str());
    let snap = h.standin.snapshot();
    assert_eq!(
        snap.share(&share).unwrap().tag("recipe-share:made-by"),
        Some("cloudformation:golden-images/RecipeShare")
    );
    // The permission RAM asked for was promoted once, under the configured name, idempotently.
    assert_eq!(snap.customer_permissions(), 1);
    let promote: Vec<_> = h
        .standin
        .calls()
        .into_iter()
        .filter(|c| c.op == "PromotePermissionCreatedFromPolicy")
        .collect();
    assert_eq!(promote.len(), 1);
    assert_eq!(promote[0].body["name"], "RecipeShareOrgStandard");
    let token = promote[0].body["clientToken"].as_str().unwrap();
    assert_eq!(
        uuid::Uuid::parse_str(token).unwrap().get_version_num(),
        5,
        "a deterministic v5 token"
    );
    // Exactly one write: the standard policy, nothing broader.
    assert_eq!(h.standin.call_count("PutImageRecipePolicy"), 1);
    assert_written_policies_are_narrow(&h);
    // The PUT is what S3 signed: empty Content-Type, explicit Content-Length.
    let sent = h.standin.responses();
    assert_eq!(sent[0].content_type.as_deref(), Some(""));
    assert_eq!(sent[0].content_length, Some(sent[0].body.len()));
    assert!(sent[0].body.len() <= 4096);
}

#[tokio::test]
async fn a_new_recipe_costs_the_floor_when_ram_is_quick() {
    // Instant promotion and a permission that already exists: nothing to poll, no permission step.
    let h = Harness::with(
        Options {
            promotion_time: Duration::ZERO,
            aws_managed_permission_matches: true,
            ..Options::default()
        },
        &[("SHARE_PRINCIPALS", PRINCIPALS)],
    )
    .await;
    h.standin.add_recipe(R1);
    let resp = h.cfn(h.event("cfn-create.json", "floor")).await;
    assert_eq!(resp["Status"], "SUCCESS", "{resp}");
    // The look (the recipe's tags and RAM's shares, in one round trip), the write, the share RAM made,
    // its promotion, and the tag sent with the confirming read.
    assert_eq!(
        sorted(ops_since(&h, 0)),
        sorted(
            [
                "GetImageRecipe",
                "ListResources",
                "PutImageRecipePolicy",
                "ListResources",
                "PromoteResourceShareCreatedFromPolicy",
                "TagResource",
                "GetResourceShares",
            ]
            .map(String::from)
            .to_vec()
        )
    );
    assert_shared_by_standard(&h, R1, &ACCOUNTS);
}

#[tokio::test]
async fn every_re_run_of_a_compliant_recipe_writes_nothing() {
    for principals in [PRINCIPALS.to_string(), format!("{PRINCIPALS},{ORG}")] {
        let h = Harness::with(Options::default(), &[("SHARE_PRINCIPALS", &principals)]).await;
        h.standin.add_recipe(R1);
        let first = h.cfn(h.event("cfn-create.json", "a")).await;
        assert_eq!(first["Status"], "SUCCESS", "{first}");
        let mut wanted: Vec<&str> = ACCOUNTS.to_vec();
        if principals.contains(ORG) {
            wanted.push(ORG);
        }
        let share = assert_shared_by_standard(&h, R1, &wanted);
        // RAM wrote the policy itself; with an organization it is not the text anyone wrote.
        if principals.contains(ORG) {
            assert!(
                h.standin
                    .snapshot()
                    .policy_of(R1)
                    .unwrap()
                    .contains("aws:PrincipalOrgID")
            );
        }
        let writes = h.standin.call_count("PutImageRecipePolicy");
        for (file, name) in [
            ("cfn-create.json", "duplicate-create"),
            ("cfn-update-same-arn.json", "update-same"),
            ("cfn-create.json", "duplicate-again"),
        ] {
            let before = h.standin.calls().len();
            let again = h.cfn(h.event(file, name)).await;
            assert_eq!(again["Status"], "SUCCESS", "{file}: {again}");
            assert_eq!(again["PhysicalResourceId"], R1);
            assert_eq!(again["Data"]["ResourceShareArn"], share.as_str());
            // An already compliant recipe costs three RAM reads (principals verified) and the recipe's
            // own read (its tags), in two round trips; no write of any kind.
            assert_eq!(
                sorted(ops_since(&h, before)),
                sorted(
                    [
                        "GetImageRecipe",
                        "ListResources",
                        "GetResourceShares",
                        "GetResourceShareAssociations"
                    ]
                    .map(String::from)
                    .to_vec()
                ),
                "{file}"
            );
        }
        assert_eq!(h.standin.call_count("PutImageRecipePolicy"), writes, "no second write");
        assert_eq!(
            h.standin.call_count("AssociateResourceShare"),
            usize::from(principals.contains(ORG))
        );
        assert_eq!(assert_shared_by_standard(&h, R1, &wanted), share, "still the one share");
        assert_eq!(h.standin.snapshot().customer_permissions(), 1);
    }
}

#[tokio::test]
async fn update_same_arn_keeps_the_id_and_new_arn_returns_the_new_one() {
    let h = Harness::new().await;
    h.standin.add_recipe(R1);
    h.standin.add_recipe(R2);
    h.cfn(h.event("cfn-create.json", "c")).await;
    let same = h.cfn(h.event("cfn-update-same-arn.json", "u1")).await;
    assert_eq!(same["Status"], "SUCCESS");
    assert_eq!(same["PhysicalResourceId"], R1);
    let moved = h.cfn(h.event("cfn-update-new-arn.json", "u2")).await;
    assert_eq!(moved["Status"], "SUCCESS", "{moved}");
    assert_eq!(moved["PhysicalResourceId"], R2);
    let share = assert_shared_by_standard(&h, R2, &ACCOUNTS);
    assert_eq!(moved["Data"]["ResourceShareArn"], share.as_str());
    // One permission serves every recipe.
    assert_eq!(h.standin.snapshot().customer_permissions(), 1);
    assert_eq!(h.standin.call_count("PromotePermissionCreatedFromPolicy"), 1);
}

#[tokio::test]
async fn failed_update_keeps_the_old_id() {
    let h = Harness::new().await;
    h.standin.add_recipe(R1);
    // R2 does not exist.
    let resp = h.cfn(h.event("cfn-update-new-arn.json", "u")).await;
    assert_eq!(resp["Status"], "FAILED");
    assert_eq!(resp["PhysicalResourceId"], R1);
    assert!(resp["Reason"].as_str().unwrap().contains("not found"), "{resp}");
}

#[tokio::test]
async fn the_rollback_of_a_failed_update_leaves_the_other_recipe_as_it_found_it() {
    let h = Harness::new().await;
    h.standin.add_recipe(R1);
    h.standin.add_recipe(R2);
    assert_eq!(h.cfn(h.event("cfn-create.json", "c")).await["Status"], "SUCCESS");
    // The Update to R2 fails after writing R2's policy: RAM keeps refusing the promotion.
    h.standin.fault(
        "PromoteResourceShareCreatedFromPolicy",
        Fault::Error {
            times: 1_000,
            status: 400,
            code: "ResourceShareLimitExceededException".into(),
            message: "quota".into(),
        },
    );
    let failed = h.cfn(update_to(&h, "u", R1, R2, R1)).await;
    assert_eq!(failed["Status"], "FAILED", "{failed}");
    assert_eq!(failed["PhysicalResourceId"], R1, "a failed Update keeps the old id");
    assert_eq!(
        h.standin.snapshot().shares_of(R2).len(),
        1,
        "R2 is in the share its policy made"
    );
    h.standin.clear_faults();
    // CloudFormation's rollback: an Update back to R1 whose old properties name R2.
    let rollback = h.cfn(update_to(&h, "rollback", R1, R1, R2)).await;
    assert_eq!(rollback["Status"], "SUCCESS", "{rollback}");
    assert_eq!(rollback["PhysicalResourceId"], R1);
    assert_shared_by_standard(&h, R1, &ACCOUNTS);
    assert_not_shared(&h, R2);
    // So CloudFormation can delete R2 next.
    assert!(h.standin.delete_image_recipe(R2).is_ok());
}

#[tokio::test]
async fn the_rollback_leaves_a_recipe_another_entry_point_shared() {
    let h = Harness::new().await;
    h.standin.add_recipe(R1);
    h.standin.add_recipe(R2);
    assert_eq!(h.cfn(h.event("cfn-create.json", "c")).await["Status"], "SUCCESS");
    // R2 was shared by the EventBridge trigger before the failed Update found it.
    let mut created = fixture("eventbridge-create-image-recipe.json");
    created["detail"]["responseElements"]["imageRecipeArn"] = json!(R2);
    h.invoke(created, Duration::from_secs(30)).await.unwrap();
    let shared = assert_shared_by_standard(&h, R2, &ACCOUNTS);
    h.standin.fault(
        "GetResourceShareAssociations",
        Fault::Error {
            times: 1,
            status: 400,
            code: "InvalidParameterException".into(),
            message: "injected".into(),
        },
    );
    let failed = h.cfn(update_to(&h, "u", R1, R2, R1)).await;
    assert_eq!(failed["Status"], "FAILED", "{failed}");
    let rollback = h.cfn(update_to(&h, "rollback", R1, R1, R2)).await;
    assert_eq!(rollback["Status"], "SUCCESS", "{rollback}");
    assert_eq!(assert_shared_by_standard(&h, R2, &ACCOUNTS), shared, "left as found");
}

#[tokio::test]
async fn missing_recipe_fails_with_a_no_op_id() {
    let h = Harness::new().await;
    let resp = h.cfn(h.event("cfn-create.json", "m")).await;
    assert_eq!(resp["Status"], "FAILED");
    let reason = resp["Reason"].as_str().unwrap();
    assert!(reason.contains(R1) && reason.contains("not found"), "{reason}");
    assert!(
        reason.contains("stream"),
        "the reason says which logs to read: {reason}"
    );
    let id = resp["PhysicalResourceId"].as_str().unwrap();
    assert!(id.starts_with("recipe-share:nothing-shared:"), "{id}");
    // Its Delete is a no-op that succeeds without calling AWS.
    let calls = h.aws_calls();
    let mut delete = h.event("cfn-delete.json", "md");
    delete["PhysicalResourceId"] = json!(id);
    assert_eq!(h.cfn(delete).await["Status"], "SUCCESS");
    assert_eq!(h.aws_calls(), calls);
}

#[tokio::test]
async fn an_excluded_recipe_fails_naming_the_tag_and_is_never_shared() {
    let h = Harness::new().await;
    h.standin.tag_recipe(R1, "recipe-share:exclude", "draft");
    for file in ["cfn-create.json", "cfn-update-same-arn.json"] {
        let resp = h.cfn(h.event(file, "ex")).await;
        assert_eq!(resp["Status"], "FAILED", "{resp}");
        let reason = resp["Reason"].as_str().unwrap();
        assert!(
            reason.contains("recipe-share:exclude") && reason.contains("draft"),
            "{reason}"
        );
    }
    assert_eq!(h.standin.call_count("PutImageRecipePolicy"), 0);
    assert_not_shared(&h, R1);
}

#[tokio::test]
async fn bad_or_missing_property_fails_without_calling_aws() {
    let h = Harness::new().await;
    for (props, needle) in [
        (
            json!({"ServiceToken": "t"}),
            "ImageRecipeArn or ContainerRecipeArn is required",
        ),
        (
            json!({"ServiceToken": "t", "ImageRecipeArn": R1, "ContainerRecipeArn": "arn:aws:imagebuilder:us-east-1:123456789012:container-recipe/api/1.0.0"}),
            "properties ImageRecipeArn and ContainerRecipeArn are both set",
        ),
        (json!({"ServiceToken": "t", "ImageRecipeArn": 7}), "must be a string"),
        (
            json!({"ServiceToken": "t", "ImageRecipeArn": "arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/Web/1"}),
            "not a valid image recipe ARN",
        ),
        (
            json!({"ServiceToken": "t", "ImageRecipeArn": "arn:aws:imagebuilder:us-east-1:999999999999:image-recipe/web/1.0.0"}),
            "refusing to share",
        ),
        (
            json!({"ServiceToken": "t", "ImageRecipeArn": "arn:aws:imagebuilder:eu-west-1:123456789012:image-recipe/web/1.0.0"}),
            "refusing to share",
        ),
    ] {
        let mut event = h.event("cfn-create.json", "bad");
        event["ResourceProperties"] = props;
        let resp = h.cfn(event).await;
        assert_eq!(resp["Status"], "FAILED");
        assert!(resp["Reason"].as_str().unwrap().contains(needle), "{resp}");
        assert!(
            resp["PhysicalResourceId"]
                .as_str()
                .unwrap()
                .starts_with("recipe-share:nothing-shared:")
        );
    }
    let mut event = h.event("cfn-create.json", "bad");
    event.as_object_mut().unwrap().remove("ResourceProperties");
    assert_eq!(h.cfn(event).await["Status"], "FAILED");
    assert_eq!(h.aws_calls(), 0);
}

#[tokio::test]
async fn aws_managed_permission_match_needs_no_customer_permission() {
    let h = Harness::with(
        Options {
            aws_managed_permission_matches: true,
            ..Options::default()
        },
        &[("SHARE_PRINCIPALS", PRINCIPALS)],
    )
    .await;
    h.standin.add_recipe(R1);
    let resp = h.cfn(h.event("cfn-create.json", "x")).await;
    assert_eq!(resp["Status"], "SUCCESS");
    assert_eq!(h.standin.call_count("PromotePermissionCreatedFromPolicy"), 0);
    assert_eq!(h.standin.snapshot().customer_permissions(), 0);
}

#[tokio::test]
async fn throttling_is_retried_by_the_sdk_with_backoff() {
    let h = Harness::new().await;
    h.standin.add_recipe(R1);
    h.standin.fault("PutImageRecipePolicy", Fault::Throttle { times: 3 });
    h.standin.fault("GetImageRecipe", Fault::Throttle { times: 2 });
    h.standin.fault("GetResourceShares", Fault::Throttle { times: 2 });
    let resp = h.cfn(h.event("cfn-create.json", "t")).await;
    assert_eq!(resp["Status"], "SUCCESS", "{resp}");
    // Image Builder's CallRateLimitExceededException is retried: each call 1 + its throttled tries.
    assert_eq!(h.standin.call_count("PutImageRecipePolicy"), 4);
    assert_eq!(h.standin.call_count("GetImageRecipe"), 3);
}

#[tokio::test]
async fn endless_throttling_fails_in_time_without_a_retry_storm() {
    let h = Harness::new().await;
    h.standin.add_recipe(R1);
    h.standin
        .fault("PutImageRecipePolicy", Fault::Throttle { times: 10_000 });
    let started = Instant::now();
    h.invoke(h.event("cfn-create.json", "t"), Duration::from_secs(4))
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(4));
    let resp = h.standin.responses().pop().unwrap().json.unwrap();
    assert_eq!(resp["Status"], "FAILED");
    let reason = resp["Reason"].as_str().unwrap();
    assert!(
        reason.contains("PutImageRecipePolicy") && reason.contains("CallRateLimitExceededException"),
        "{reason}"
    );
    // One retry layer: the SDK's attempts, never multiplied by a loop of ours.
    assert!(h.standin.call_count("PutImageRecipePolicy") <= recipe_share::aws::MAX_ATTEMPTS as usize);
    // Throttled writes changed nothing: the rollback Delete is a no-op.
    assert!(
        resp["PhysicalResourceId"]
            .as_str()
            .unwrap()
            .starts_with("recipe-share:nothing-shared:"),
        "{resp}"
    );
}

#[tokio::test]
async fn server_errors_are_retried() {
    let h = Harness::new().await;
    h.standin.add_recipe(R1);
    h.standin
        .fault("GetResourceShares", Fault::ServerError { times: 2, status: 503 });
    h.standin
        .fault("ListResources", Fault::ServerError { times: 1, status: 500 });
    let resp = h.cfn(h.event("cfn-create.json", "s")).await;
    assert_eq!(resp["Status"], "SUCCESS", "{resp}");
}

#[tokio::test]
async fn slow_share_appearance_is_waited_for() {
    let h = Harness::with(
        Options {
            share_visible_after: Duration::from_millis(1500),
            ..Options::default()
        },
        &[("SHARE_PRINCIPALS", PRINCIPALS)],
    )
    .await;
    h.standin.add_recipe(R1);
    let resp = h.cfn(h.event("cfn-create.json", "slow")).await;
    assert_eq!(resp["Status"], "SUCCESS", "{resp}");
    assert!(h.standin.call_count("ListResources") >= 3, "it polled");
    assert_eq!(
        h.standin.call_count("PutImageRecipePolicy"),
        1,
        "it did not write again while waiting"
    );
    assert_shared_by_standard(&h, R1, &ACCOUNTS);
}

#[tokio::test]
async fn slow_promotion_is_waited_for_and_the_share_tagged_once_standard() {
    let h = Harness::with(
        Options {
            promotion_time: Duration::from_millis(800),
            ..Options::default()
        },
        &[("SHARE_PRINCIPALS", PRINCIPALS)],
    )
    .await;
    h.standin.add_recipe(R1);
    let resp = h.cfn(h.event("cfn-create.json", "slow")).await;
    assert_eq!(resp["Status"], "SUCCESS", "{resp}");
    assert!(
        h.standin.call_count("GetResourceShares") >= 2,
        "it polled the promotion"
    );
    assert_shared_by_standard(&h, R1, &ACCOUNTS);
}

#[tokio::test]
async fn full_pagination_with_empty_pages() {
    let h = Harness::with(
        Options {
            page_size: 1,
            empty_pages: true,
            ..Options::default()
        },
        &[("SHARE_PRINCIPALS", PRINCIPALS)],
    )
    .await;
    h.standin.add_recipe(R1);
    let resp = h.cfn(h.event("cfn-create.json", "p")).await;
    assert_eq!(resp["Status"], "SUCCESS", "{resp}");
    assert!(
        h.standin
            .calls()
            .iter()
            .any(|c| c.op == "ListResources" && c.body.get("nextToken").is_some())
    );
}

#[tokio::test]
async fn response_put_failing_twice_is_retried() {
    let h = Harness::new().await;
    h.standin.add_recipe(R1);
    h.standin
        .fault("CfnResponse", Fault::ServerError { times: 2, status: 500 });
    let out = h
        .invoke(h.event("cfn-create.json", "r"), Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(out["Attempts"], 3);
    let sent = h.standin.responses();
    assert_eq!(sent.len(), 3);
    assert_eq!(sent.iter().map(|r| r.status_sent).collect::<Vec<_>>(), [500, 500, 200]);
    assert_eq!(sent[2].json.as_ref().unwrap()["Status"], "SUCCESS");
}

#[tokio::test]
async fn response_put_refused_forever_is_an_invocation_error() {
    let h = Harness::new().await;
    h.standin.add_recipe(R1);
    h.standin.fault(
        "CfnResponse",
        Fault::Error {
            times: 1000,
            status: 403,
            code: "AccessDenied".into(),
            message: "expired".into(),
        },
    );
    let started = Instant::now();
    let err = h
        .invoke(h.event("cfn-create.json", "r"), Duration::from_secs(3))
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(err.to_string().contains("403"), "{err}");
    assert!(h.standin.responses().len() <= 10);
}

#[tokio::test]
async fn a_hang_past_the_deadline_still_gets_failed_in_time_and_rollback_undoes_it() {
    let h = Harness::new().await;
    h.standin.add_recipe(R1);
    h.standin
        .fault("PromoteResourceShareCreatedFromPolicy", Fault::Hang { times: 1 });
    let started = Instant::now();
    h.invoke(h.event("cfn-create.json", "h"), Duration::from_secs(3))
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "answered before the deadline"
    );
    let resp = h.standin.responses().pop().unwrap().json.unwrap();
    assert_eq!(resp["Status"], "FAILED");
    let reason = resp["Reason"].as_str().unwrap();
    assert!(
        reason.contains("ran out of time") && reason.contains("PromoteResourceShareCreatedFromPolicy"),
        "{reason}"
    );
    // The policy was written, so the ID lets the rollback Delete undo it.
    let id = resp["PhysicalResourceId"].as_str().unwrap().to_string();
    let share = h.standin.snapshot().shares_of(R1)[0].arn.clone();
    assert_eq!(
        id,
        format!("recipe-share:rollback:{R1}|{share}"),
        "names the share it made"
    );
    let mut delete = h.event("cfn-delete.json", "hd");
    delete["PhysicalResourceId"] = json!(id);
    let del = h.cfn(delete).await;
    assert_eq!(del["Status"], "SUCCESS", "{del}");
    assert_eq!(del["PhysicalResourceId"], id);
    assert_not_shared(&h, R1);
}

#[tokio::test]
async fn a_rollback_delete_does_not_give_up_on_transient_errors_while_time_remains() {
    let h = Harness::new().await;
    h.standin.add_recipe(R1);
    h.standin
        .fault("PromoteResourceShareCreatedFromPolicy", Fault::Hang { times: 1 });
    h.invoke(h.event("cfn-create.json", "h"), Duration::from_secs(3))
        .await
        .unwrap();
    let id = h.standin.responses().pop().unwrap().json.unwrap()["PhysicalResourceId"].clone();
    // RAM has a bad few seconds during the rollback: every call's first tries fail.
    for op in [
        "ListResources",
        "GetResourceShares",
        "PromoteResourceShareCreatedFromPolicy",
        "DeleteResourceShare",
    ] {
        h.standin.fault(op, Fault::ServerError { times: 4, status: 500 });
    }
    let mut delete = h.event("cfn-delete.json", "hd");
    delete["PhysicalResourceId"] = id;
    let before = h.standin.responses().len();
    h.invoke(delete, Duration::from_secs(28)).await.unwrap();
    let del = h.standin.responses()[before].json.clone().unwrap();
    assert_eq!(del["Status"], "SUCCESS", "{del}");
    assert!(
        !del["Reason"].as_str().unwrap().contains("not undone"),
        "it undid everything: {del}"
    );
    assert_not_shared(&h, R1);
}

#[tokio::test]
async fn delete_unshares_and_a_second_delete_succeeds() {
    let h = Harness::new().await;
    h.standin.add_recipe(R1);
    h.cfn(h.event("cfn-create.json", "c")).await;
    let del = h.cfn(h.event("cfn-delete.json", "d1")).await;
    assert_eq!(del["Status"], "SUCCESS", "{del}");
    assert_eq!(del["PhysicalResourceId"], R1);
    assert_not_shared(&h, R1);
    assert!(h.standin.snapshot().shares.iter().any(|s| s.status == "DELETED"));
    assert_eq!(h.cfn(h.event("cfn-delete.json", "d2")).await["Status"], "SUCCESS");
    // So the stack can delete the recipe next.
    assert!(h.standin.delete_image_recipe(R1).is_ok());
    // A deleted recipe is also "already gone".
    assert_eq!(h.cfn(h.event("cfn-delete.json", "d3")).await["Status"], "SUCCESS");
}

#[tokio::test]
async fn delete_leaves_shares_someone_else_built_and_names_them() {
    let h = Harness::new().await;
    h.standin.add_recipe(R1);
    h.cfn(h.event("cfn-create.json", "c")).await;
    // The share loses its tag: to recipe-share it is now someone else's.
    let share = h.standin.snapshot().shares_of(R1)[0].arn.clone();
    h.standin.untag_share(&share);
    let del = h.cfn(h.event("cfn-delete.json", "d")).await;
    assert_eq!(del["Status"], "SUCCESS", "{del}");
    assert!(del["Reason"].as_str().unwrap().contains(&share), "{del}");
    assert_eq!(h.standin.call_count("DeleteResourceShare"), 0);
    assert_eq!(h.standin.snapshot().shares_of(R1).len(), 1);
}

#[tokio::test]
async fn a_delete_ram_refuses_fails_quickly_quoting_aws() {
    let h = Harness::new().await;
    h.standin.add_recipe(R1);
    h.cfn(h.event("cfn-create.json", "c")).await;
    h.standin.set_in_use(R1, true);
    let started = Instant::now();
    let del = h.cfn(h.event("cfn-delete.json", "d")).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "no retry storm on a refusal"
    );
    assert_eq!(del["Status"], "FAILED", "{del}");
    assert_eq!(del["PhysicalResourceId"], R1);
    let reason = del["Reason"].as_str().unwrap();
    assert!(
        reason.contains("refused to unshare") && reason.contains("in use by consumer accounts"),
        "{reason}"
    );
    assert_eq!(h.standin.call_count("DeleteResourceShare"), 1);
}

#[tokio::test]
async fn delete_after_failed_create_calls_nothing() {
    let h = Harness::new().await;
    let resp = h.cfn(h.event("cfn-delete-after-failed-create.json", "n")).await;
    assert_eq!(resp["Status"], "SUCCESS");
    assert_eq!(
        resp["PhysicalResourceId"],
        "recipe-share:nothing-shared:6f1c3a52-5d0e-4b8e-9a51-2f1d7c3e9b10"
    );
    assert_eq!(h.aws_calls(), 0);
}

#[tokio::test]
async fn bad_configuration_fails_every_request_naming_the_setting() {
    for (env, setting) in [
        (vec![("SHARE_PRINCIPALS", "*")], "SHARE_PRINCIPALS"),
        (vec![], "SHARE_PRINCIPALS"),
        (
            vec![
                ("SHARE_PRINCIPALS", "111122223333"),
                ("SHARE_PERMISSION_NAME", "no spaces allowed"),
            ],
            "SHARE_PERMISSION_NAME",
        ),
    ] {
        let h = Harness::with(Options::default(), &env).await;
        h.standin.add_recipe(R1);
        for file in ["cfn-create.json", "cfn-update-same-arn.json", "cfn-delete.json"] {
            let resp = h.cfn(h.event(file, "cfg")).await;
            assert_eq!(resp["Status"], "FAILED", "{file}");
            assert!(resp["Reason"].as_str().unwrap().contains(setting), "{resp}");
        }
        assert_eq!(h.aws_calls(), 0);
        assert!(
            h.invoke(json!({"hello": "world"}), Duration::from_secs(5))
                .await
                .is_err()
        );
    }
}

#[tokio::test]
async fn a_response_url_outside_the_allowed_hosts_is_never_contacted() {
    let h = Harness::new().await;
    h.standin.add_recipe(R1);
    let mut event = h.event("cfn-create.json", "evil");
    let url = event["ResponseURL"]
        .as_str()
        .unwrap()
        .replace("/cfn-response/", "/elsewhere/");
    event["ResponseURL"] = json!(url);
    let err = h.invoke(event, Duration::from_secs(5)).await.unwrap_err();
    assert!(err.to_string().contains("ResponseURL rejected"), "{err}");
    assert!(!err.to_string().contains("elsewhere"));
    assert!(h.standin.calls().is_empty(), "nothing was contacted");
}

#[tokio::test]
async fn unknown_events_are_errors_not_successes() {
    let h = Harness::new().await;
    for event in [
        json!({"detail": "x", "id": "no envelope"}),
        json!("text"),
        json!(null),
        json!([1, 2]),
    ] {
        let err = h.invoke(event, Duration::from_secs(5)).await.unwrap_err();
        assert!(err.to_string().contains("unsupported event"), "{err}");
    }
}

#[tokio::test]
async fn a_panic_in_the_work_still_answers_failed() {
    let h = Harness::new().await;
    h.standin.add_recipe(R1);
    let mut event = h.event("cfn-create.json", "panic");
    event["ResourceProperties"]["RecipeShareTestPanic"] = json!("true");
    let resp = h.cfn(event).await;
    assert_eq!(resp["Status"], "FAILED");
    assert!(resp["Reason"].as_str().unwrap().contains("panic"), "{resp}");
}

#[tokio::test]
async fn organization_principals_are_associated_once_and_never_written_into_a_policy() {
    let h = Harness::with(
        Options::default(),
        &[("SHARE_PRINCIPALS", &format!("{PRINCIPALS},{ORG}"))],
    )
    .await;
    h.standin.add_recipe(R1);
    assert_eq!(h.cfn(h.event("cfn-create.json", "o1")).await["Status"], "SUCCESS");
    let assoc: Vec<_> = h
        .standin
        .calls()
        .into_iter()
        .filter(|c| c.op == "AssociateResourceShare")
        .collect();
    assert_eq!(assoc.len(), 1);
    assert_eq!(assoc[0].body["principals"], json!([ORG]));
    assert_written_policies_are_narrow(&h);
    assert_shared_by_standard(&h, R1, &[ACCOUNTS[0], ACCOUNTS[1], ORG]);
    assert_eq!(h.cfn(h.event("cfn-create.json", "o2")).await["Status"], "SUCCESS");
    assert_eq!(
        h.standin.call_count("AssociateResourceShare"),
        1,
        "nothing to do on a re-run"
    );
}

#[tokio::test]
async fn principals_outside_the_standard_are_removed_from_a_managed_share() {
    let h = Harness::new().await;
    h.standin.add_recipe(R1);
    h.cfn(h.event("cfn-create.json", "c")).await;
    let share = h.standin.snapshot().shares_of(R1)[0].arn.clone();
    h.standin.associate_principal(&share, "999999999999");
    let resp = h.cfn(h.event("cfn-update-same-arn.json", "u")).await;
    assert_eq!(resp["Status"], "SUCCESS", "{resp}");
    assert!(
        resp["Reason"].as_str().unwrap().contains("principals-removed"),
        "{resp}"
    );
    assert_shared_by_standard(&h, R1, &ACCOUNTS);
    assert_eq!(
        h.standin.call_count("PutImageRecipePolicy"),
        1,
        "judged and fixed by RAM's state alone"
    );
}

#[tokio::test]
async fn a_share_someone_else_built_counts_when_it_matches_and_is_never_touched() {
    let h = Harness::new().await;
    h.standin.add_recipe(R1);
    h.cfn(h.event("cfn-create.json", "c")).await;
    let share = h.standin.snapshot().shares_of(R1)[0].arn.clone();
    h.standin.untag_share(&share);
    let same = h.cfn(h.event("cfn-update-same-arn.json", "u")).await;
    assert_eq!(
        same["Status"], "SUCCESS",
        "exactly the standard's principals: compliant; {same}"
    );
    h.standin.associate_principal(&share, "999999999999");
    let wider = h.cfn(h.event("cfn-update-same-arn.json", "u2")).await;
    assert_eq!(wider["Status"], "FAILED", "{wider}");
    let reason = wider["Reason"].as_str().unwrap();
    assert!(
        reason.contains(&share) && reason.contains("never modifies") && reason.contains("999999999999"),
        "{reason}"
    );
    assert_eq!(h.standin.call_count("DisassociateResourceShare"), 0);
    assert_eq!(h.standin.call_count("PutImageRecipePolicy"), 1);
}

#[tokio::test]
async fn a_stale_permission_under_the_configured_name_fails_clearly() {
    let h = Harness::new().await;
    h.standin.add_recipe(R1);
    h.standin.add_recipe(R2);
    // Someone's earlier permission, made from a different policy, holds our name.
    h.standin.set_policy(
        R2,
        &json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": ["111122223333"]},
            "Action": ["imagebuilder:GetImageRecipe"], "Resource": R2}]})
        .to_string(),
    );
    let snap = h.standin.snapshot();
    let stale = snap.shares_of(R2)[0].permission_arn.clone();
    drop(snap);
    let c = aws_sdk_ram::Client::new(&recipe_share_standin::sdk_config(&h.standin.url(), "us-east-1").await);
    c.promote_permission_created_from_policy()
        .permission_arn(stale)
        .name("RecipeShareOrgStandard")
        .send()
        .await
        .unwrap();
    let resp = h.cfn(h.event("cfn-create.json", "stale")).await;
    assert_eq!(resp["Status"], "FAILED", "{resp}");
    assert!(
        resp["Reason"].as_str().unwrap().contains("RecipeShareOrgStandard"),
        "{resp}"
    );
}

#[tokio::test]
async fn a_hostile_existing_policy_is_replaced_by_exactly_the_standard_before_promotion() {
    let h = Harness::new().await;
    h.standin.add_recipe(R1);
    // Someone shared the recipe more widely by hand (the stand-in accepts only account principals, so
    // the widening here is an extra account and an extra action); RAM made a CREATED_FROM_POLICY share.
    h.standin.set_policy(
        R1,
        &json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"AWS": ["111122223333", "999999999999"]},
            "Action": ["imagebuilder:GetImageRecipe", "imagebuilder:ListImageRecipes", "imagebuilder:GetComponent"],
            "Resource": R1}]})
        .to_string(),
    );
    let resp = h.cfn(h.event("cfn-create.json", "hostile")).await;
    assert_eq!(resp["Status"], "SUCCESS", "{resp}");
    // The standard was written before anything was promoted; what RAM then made visible is exactly it.
    let writes: Vec<_> = h
        .standin
        .calls()
        .into_iter()
        .filter(|c| c.op == "PutImageRecipePolicy")
        .collect();
    assert_eq!(writes.len(), 1);
    let written: Value = serde_json::from_str(writes[0].body["policy"].as_str().unwrap()).unwrap();
    assert_eq!(written["Statement"][0]["Principal"], json!({"AWS": ACCOUNTS}));
    assert_eq!(
        written["Statement"][0]["Action"],
        json!(["imagebuilder:GetImageRecipe", "imagebuilder:ListImageRecipes"])
    );
    let share = assert_shared_by_standard(&h, R1, &ACCOUNTS);
    let snap = h.standin.snapshot();
    let perm = snap.permission(&snap.share(&share).unwrap().permission_arn).unwrap();
    assert_eq!(
        perm.actions,
        ["imagebuilder:GetImageRecipe", "imagebuilder:ListImageRecipes"]
    );
}

#[tokio::test]
async fn recipes_of_another_partition_account_or_region_are_refused_before_any_call() {
    let h = Harness::new().await;
    for foreign in [
        "arn:aws-cn:imagebuilder:us-east-1:123456789012:image-recipe/web-server/1.0.0",
        "arn:aws-us-gov:imagebuilder:us-east-1:123456789012:image-recipe/web-server/1.0.0",
        "arn:aws:imagebuilder:us-east-1:210987654321:image-recipe/web-server/1.0.0",
        "arn:aws:imagebuilder:us-west-2:123456789012:image-recipe/web-server/1.0.0",
    ] {
        h.standin.add_recipe(foreign);
        let mut event = h.event("cfn-create.json", "foreign");
        event["ResourceProperties"]["ImageRecipeArn"] = json!(foreign);
        let resp = h.cfn(event).await;
        assert_eq!(resp["Status"], "FAILED", "{foreign}");
        assert!(resp["Reason"].as_str().unwrap().contains("refusing to share"), "{resp}");
        let mut delete = h.event("cfn-delete.json", "foreign-delete");
        delete["PhysicalResourceId"] = json!(foreign);
        assert_eq!(
            h.cfn(delete).await["Status"],
            "SUCCESS",
            "a foreign ID's Delete is a no-op"
        );
    }
    assert_eq!(h.aws_calls(), 0, "nothing was called for a foreign recipe");
}
