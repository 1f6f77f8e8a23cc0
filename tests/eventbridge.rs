//! The EventBridge trigger end to end: CloudTrail `CreateImageRecipe` records through the real
//! handler and SDK clients against the local stand-in.

mod common;

use common::*;
use serde_json::{Value, json};
use std::time::Duration;

const CREATED: &str = "arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/hardened-al2023/2.3.0";

async fn deliver(h: &Harness, event: Value) -> Result<Value, recipe_share::Error> {
    h.invoke(event, Duration::from_secs(30)).await
}

#[tokio::test]
async fn a_created_recipe_is_shared_and_a_duplicate_changes_nothing() {
    let h = Harness::new().await;
    h.standin.add_recipe(CREATED);
    let out = deliver(&h, fixture("eventbridge-create-image-recipe.json"))
        .await
        .unwrap();
    assert_eq!(out["outcome"], "shared", "{out}");
    assert_eq!(out["imageRecipeArn"], CREATED);
    let snap = h.standin.snapshot();
    let shares = snap.shares_of(CREATED);
    assert_eq!(shares.len(), 1);
    assert_eq!(shares[0].feature_set, "STANDARD");
    assert_eq!(out["resourceShareArn"], shares[0].arn.as_str());
    // EventBridge and Lambda both retry: the same event again is a no-op.
    let writes = h.standin.call_count("PutImageRecipePolicy");
    let again = deliver(&h, fixture("eventbridge-create-image-recipe.json"))
        .await
        .unwrap();
    assert_eq!(again["outcome"], "already-shared");
    assert_eq!(again["resourceShareArn"], out["resourceShareArn"]);
    assert_eq!(h.standin.call_count("PutImageRecipePolicy"), writes);
    assert_eq!(h.standin.snapshot().customer_permissions(), 1);
}

#[tokio::test]
async fn a_recipe_made_by_cloudformation_is_read_from_response_elements() {
    let h = Harness::new().await;
    h.standin.add_recipe(R1);
    let out = deliver(&h, fixture("eventbridge-create-image-recipe-by-cloudformation.json"))
        .await
        .unwrap();
    assert_eq!(out["outcome"], "shared");
    assert_eq!(
        out["imageRecipeArn"], R1,
        "the ARN comes from responseElements, not the name"
    );
}

#[tokio::test]
async fn events_that_are_not_for_us_are_skipped_without_calling_aws() {
    let h = Harness::new().await;
    for (file, why) in [
        (
            "eventbridge-create-image-recipe-failed.json",
            "InvalidParameterValueException",
        ),
        ("eventbridge-create-container-recipe.json", "CreateContainerRecipe"),
        ("eventbridge-unrelated-service.json", "aws.ec2"),
    ] {
        let out = deliver(&h, fixture(file)).await.unwrap();
        assert_eq!(out["outcome"], "skipped", "{file}");
        assert!(out["reason"].as_str().unwrap().contains(why), "{file}: {out}");
    }
    let mut no_arn = fixture("eventbridge-create-image-recipe.json");
    no_arn["detail"]["responseElements"] = Value::Null;
    assert_eq!(deliver(&h, no_arn).await.unwrap()["outcome"], "skipped");
    assert_eq!(h.aws_calls(), 0);
}

#[tokio::test]
async fn a_recipe_deleted_before_handling_is_a_clear_non_retryable_error() {
    let h = Harness::new().await;
    let err = deliver(&h, fixture("eventbridge-create-image-recipe.json"))
        .await
        .unwrap_err();
    assert!(matches!(err, recipe_share::Error::RecipeNotFound(_)), "{err}");
    assert!(err.to_string().contains(CREATED));
    assert_eq!(err.error_type(), "NonRetryable");
    // A few tries for read-after-write lag, then stop: no retry storm.
    let writes = h.standin.call_count("PutImageRecipePolicy");
    assert!((2..=4).contains(&writes), "{writes} writes");
}

#[tokio::test]
async fn a_recipe_that_appears_late_is_still_shared() {
    let h = Harness::new().await;
    // Image Builder does not show the recipe yet for the first write.
    h.standin.add_recipe(CREATED);
    h.standin.fault(
        "PutImageRecipePolicy",
        Fault::Error {
            times: 1,
            status: 404,
            code: "ResourceNotFoundException".into(),
            message: "not yet".into(),
        },
    );
    let out = deliver(&h, fixture("eventbridge-create-image-recipe.json"))
        .await
        .unwrap();
    assert_eq!(out["outcome"], "shared");
}

#[tokio::test]
async fn foreign_or_malformed_arns_fail_so_the_dead_letter_queue_keeps_them() {
    let h = Harness::new().await;
    let mut foreign = fixture("eventbridge-create-image-recipe.json");
    foreign["detail"]["responseElements"]["imageRecipeArn"] = json!(CREATED.replace("123456789012", "999999999999"));
    let err = deliver(&h, foreign).await.unwrap_err();
    assert!(err.to_string().contains("refusing"), "{err}");
    let mut bad = fixture("eventbridge-create-image-recipe.json");
    bad["detail"]["responseElements"]["imageRecipeArn"] =
        json!("arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/Hardened AL2023/2.3.0");
    assert!(deliver(&h, bad).await.is_err());
    assert_eq!(h.aws_calls(), 0);
}

#[tokio::test]
async fn bad_configuration_is_an_error_for_events() {
    let h = Harness::with(Options::default(), &[("SHARE_PRINCIPALS", "*")]).await;
    h.standin.add_recipe(CREATED);
    let err = deliver(&h, fixture("eventbridge-create-image-recipe.json"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("SHARE_PRINCIPALS"), "{err}");
    assert_eq!(h.aws_calls(), 0);
}

#[tokio::test]
async fn throttling_during_an_event_is_absorbed() {
    let h = Harness::new().await;
    h.standin.add_recipe(CREATED);
    h.standin.fault("PutImageRecipePolicy", Fault::Throttle { times: 2 });
    h.standin
        .fault("PromoteResourceShareCreatedFromPolicy", Fault::Throttle { times: 2 });
    assert_eq!(
        deliver(&h, fixture("eventbridge-create-image-recipe.json"))
            .await
            .unwrap()["outcome"],
        "shared"
    );
}
