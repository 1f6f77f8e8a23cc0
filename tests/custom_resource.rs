//! The custom resource end to end: the real handler and SDK clients against the local stand-in.

mod common;

use common::*;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn assert_standard_share(h: &Harness, recipe: &str, resp: &Value) {
    let snap = h.standin.snapshot();
    let shares = snap.shares_of(recipe);
    assert_eq!(shares.len(), 1, "one share holds {recipe}: {shares:?}");
    assert_eq!(shares[0].feature_set, "STANDARD");
    assert_eq!(resp["Data"]["ResourceShareArn"], shares[0].arn.as_str());
    let mut principals = shares[0].principals.clone();
    principals.sort();
    assert_eq!(principals, ["111122223333", "444455556666"]);
    let policy: Value = serde_json::from_str(snap.policy_of(recipe).expect("policy written")).unwrap();
    assert_eq!(
        policy["Statement"][0]["Principal"]["AWS"],
        json!(["111122223333", "444455556666"])
    );
    assert_eq!(policy["Statement"][0]["Resource"], recipe);
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
    assert_standard_share(&h, R1, &resp);
    // The permission RAM asked for was promoted once, under the configured name, idempotently.
    let snap = h.standin.snapshot();
    assert_eq!(snap.customer_permissions(), 1);
    let promote: Vec<_> = h
        .standin
        .calls()
        .into_iter()
        .filter(|c| c.op == "PromotePermissionCreatedFromPolicy")
        .collect();
    assert_eq!(promote.len(), 1);
    assert_eq!(promote[0].body["name"], "RecipeShareOrgStandard");
    assert!(promote[0].body["clientToken"].as_str().is_some_and(|t| t.len() == 36));
    // The PUT is what S3 signed: empty Content-Type, explicit Content-Length.
    let sent = h.standin.responses();
    assert_eq!(sent[0].content_type.as_deref(), Some(""));
    assert_eq!(sent[0].content_length, Some(sent[0].body.len()));
    assert!(sent[0].body.len() <= 4096);
}

#[tokio::test]
async fn duplicate_delivery_and_rerun_change_nothing() {
    let h = Harness::new().await;
    h.standin.add_recipe(R1);
    let first = h.cfn(h.event("cfn-create.json", "a")).await;
    let writes = h.standin.call_count("PutImageRecipePolicy");
    let calls_before = h.aws_calls();
    let second = h.cfn(h.event("cfn-create.json", "b")).await;
    assert_eq!(second["Status"], "SUCCESS");
    assert_eq!(second["PhysicalResourceId"], first["PhysicalResourceId"]);
    assert_eq!(second["Data"], first["Data"]);
    assert_eq!(h.standin.call_count("PutImageRecipePolicy"), writes, "no second write");
    assert_eq!(
        h.standin.call_count("PromoteResourceShareCreatedFromPolicy"),
        2,
        "only the first run promoted (two tries)"
    );
    // An already-shared recipe costs reads only: the policy, the share lookup, the share state.
    let rerun_calls: Vec<String> = h.standin.calls()[calls_before..]
        .iter()
        .filter(|c| c.op != "CfnResponse")
        .map(|c| c.op.clone())
        .collect();
    assert_eq!(
        rerun_calls,
        ["GetImageRecipePolicy", "ListResources", "GetResourceShares"]
    );
    let snap = h.standin.snapshot();
    assert_eq!(snap.customer_permissions(), 1);
    assert_eq!(snap.shares_of(R1).len(), 1);
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
    assert_standard_share(&h, R2, &moved);
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
async fn bad_or_missing_property_fails_without_calling_aws() {
    let h = Harness::new().await;
    for (props, needle) in [
        (json!({"ServiceToken": "t"}), "ImageRecipeArn is required"),
        (json!({"ServiceToken": "t", "ImageRecipeArn": 7}), "must be a string"),
        (
            json!({"ServiceToken": "t", "ImageRecipeArn": "arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/Web/1"}),
            "not an image recipe ARN",
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
async fn throttling_is_retried_with_backoff() {
    let h = Harness::new().await;
    h.standin.add_recipe(R1);
    h.standin.fault("PutImageRecipePolicy", Fault::Throttle { times: 3 });
    h.standin.fault("GetImageRecipePolicy", Fault::Throttle { times: 2 });
    let resp = h.cfn(h.event("cfn-create.json", "t")).await;
    assert_eq!(resp["Status"], "SUCCESS", "{resp}");
    assert_eq!(h.standin.call_count("PutImageRecipePolicy"), 4);
    assert_eq!(h.standin.call_count("GetImageRecipePolicy"), 3);
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
    assert!(
        resp["Reason"]
            .as_str()
            .unwrap()
            .contains("CallRateLimitExceededException"),
        "{resp}"
    );
    assert!(h.standin.call_count("PutImageRecipePolicy") <= 10);
    // Refused writes changed nothing: the rollback Delete is a no-op.
    assert!(
        resp["PhysicalResourceId"]
            .as_str()
            .unwrap()
            .starts_with("recipe-share:nothing-shared:")
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
    assert!(resp["Reason"].as_str().unwrap().contains("time"), "{resp}");
    // The policy was written, so the ID lets the rollback Delete undo it.
    let id = resp["PhysicalResourceId"].as_str().unwrap().to_string();
    assert_eq!(id, format!("recipe-share:rollback:{R1}"));
    let mut delete = h.event("cfn-delete.json", "hd");
    delete["PhysicalResourceId"] = json!(id);
    let del = h.cfn(delete).await;
    assert_eq!(del["Status"], "SUCCESS", "{del}");
    assert_eq!(del["PhysicalResourceId"], id);
    let snap = h.standin.snapshot();
    assert!(
        snap.shares_of(R1).is_empty(),
        "nothing shared after rollback: {:?}",
        snap.shares
    );
    assert!(snap.policy_of(R1).is_none());
}

#[tokio::test]
async fn delete_unshares_and_a_second_delete_succeeds() {
    let h = Harness::new().await;
    h.standin.add_recipe(R1);
    h.cfn(h.event("cfn-create.json", "c")).await;
    let del = h.cfn(h.event("cfn-delete.json", "d1")).await;
    assert_eq!(del["Status"], "SUCCESS", "{del}");
    assert_eq!(del["PhysicalResourceId"], R1);
    let snap = h.standin.snapshot();
    assert!(snap.shares_of(R1).is_empty());
    assert!(snap.shares.iter().any(|s| s.status == "DELETED"));
    assert_eq!(h.cfn(h.event("cfn-delete.json", "d2")).await["Status"], "SUCCESS");
    // A deleted recipe is also "already gone".
    h.standin.remove_recipe(R1);
    assert_eq!(h.cfn(h.event("cfn-delete.json", "d3")).await["Status"], "SUCCESS");
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
async fn organization_principals_are_associated_once() {
    const ORG: &str = "arn:aws:organizations::111122223333:organization/o-abcdefghij";
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
    // The organization never goes into the resource policy.
    assert!(!h.standin.snapshot().policy_of(R1).unwrap().contains("organizations"));
    assert_eq!(h.cfn(h.event("cfn-create.json", "o2")).await["Status"], "SUCCESS");
    assert_eq!(
        h.standin.call_count("AssociateResourceShare"),
        1,
        "nothing to do on a re-run"
    );
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
    let c = aws_sdk_ram::Client::new(&recipe_share::local::sdk_config(&h.standin.url(), "us-east-1").await);
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
async fn a_hostile_existing_policy_is_replaced_by_exactly_the_standard() {
    let h = Harness::new().await;
    h.standin.add_recipe(R1);
    // Someone shared the recipe more widely by hand (the stand-in accepts only account principals, so
    // the widening here is an extra account and an extra action).
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
    let policy: Value = serde_json::from_str(h.standin.snapshot().policy_of(R1).unwrap()).unwrap();
    let st = policy["Statement"].as_array().unwrap();
    assert_eq!(st.len(), 1);
    assert_eq!(st[0]["Effect"], "Allow");
    assert_eq!(st[0]["Principal"], json!({"AWS": ["111122223333", "444455556666"]}));
    assert_eq!(
        st[0]["Action"],
        json!(["imagebuilder:GetImageRecipe", "imagebuilder:ListImageRecipes"])
    );
    assert_eq!(st[0]["Resource"], R1);
    let principals = &h.standin.snapshot().shares_of(R1)[0].principals.clone();
    assert!(!principals.contains(&"999999999999".to_string()), "{principals:?}");
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
