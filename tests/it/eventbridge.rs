//! The EventBridge trigger end to end: CloudTrail `CreateImageRecipe` records through the real
//! handler and SDK clients against the local stand-in.

use crate::common::*;
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
    let share = assert_shared_by_standard(&h, CREATED, &["111122223333", "444455556666"]);
    assert_eq!(out["resourceShareArn"], share.as_str());
    assert_eq!(
        h.standin.snapshot().share(&share).unwrap().tag("recipe-share:made-by"),
        Some("eventbridge")
    );
    // EventBridge and Lambda both retry: the same event again is three RAM reads (principals
    // verified) and the recipe's tags as they are now, in two round trips.
    let before = h.standin.calls().len();
    let again = deliver(&h, fixture("eventbridge-create-image-recipe.json"))
        .await
        .unwrap();
    assert_eq!(again["outcome"], "already-shared", "{again}");
    assert_eq!(again["changes"], json!([]));
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
        )
    );
    assert_eq!(h.standin.call_count("PutImageRecipePolicy"), 1, "no second write");
    assert_eq!(
        assert_shared_by_standard(&h, CREATED, &["111122223333", "444455556666"]),
        share
    );
}

#[tokio::test]
async fn a_recipe_a_stack_already_shared_is_left_alone() {
    let h = Harness::new().await;
    h.standin.add_recipe(CREATED);
    // The stack's custom resource ran first (CloudTrail delivers minutes later).
    let mut create = h.event("cfn-create.json", "stack");
    create["ResourceProperties"]["ImageRecipeArn"] = json!(CREATED);
    assert_eq!(h.cfn(create).await["Status"], "SUCCESS");
    let out = deliver(&h, fixture("eventbridge-create-image-recipe.json"))
        .await
        .unwrap();
    assert_eq!(out["outcome"], "already-shared", "{out}");
    assert_eq!(h.standin.call_count("PutImageRecipePolicy"), 1);
}

#[tokio::test]
async fn an_excluded_recipe_is_skipped_from_its_creation_tags() {
    let h = Harness::new().await;
    let excluded = "arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/draft-al2023/2.3.0";
    h.standin.add_recipe(excluded);
    let out = deliver(&h, fixture("eventbridge-create-excluded-recipe.json"))
        .await
        .unwrap();
    assert_eq!(out["outcome"], "skipped", "{out}");
    assert!(
        out["reason"].as_str().unwrap().contains("recipe-share:exclude"),
        "{out}"
    );
    assert_eq!(h.aws_calls(), 0);
    assert_not_shared(&h, excluded);
}

#[tokio::test]
async fn a_record_without_the_arn_is_looked_up_by_name_and_version() {
    let h = Harness::new().await;
    h.standin.add_recipe_named(CREATED, "Hardened AL2023");
    h.standin
        .add_recipe_named(&CREATED.replace("2.3.0", "2.2.0"), "Hardened AL2023");
    let mut no_arn = fixture("eventbridge-create-image-recipe.json");
    no_arn["detail"]["responseElements"] = Value::Null;
    let out = deliver(&h, no_arn.clone()).await.unwrap();
    assert_eq!(out["outcome"], "shared", "{out}");
    assert_eq!(out["imageRecipeArn"], CREATED, "the version the record names");
    assert_shared_by_standard(&h, CREATED, &["111122223333", "444455556666"]);
    // One that cannot be found fails, so the dead-letter queue keeps the event.
    no_arn["detail"]["requestParameters"]["semanticVersion"] = json!("9.9.9");
    let err = deliver(&h, no_arn).await.unwrap_err();
    assert!(matches!(err, recipe_share::Error::NotFound { .. }), "{err}");
}

#[tokio::test]
async fn a_refused_delete_releases_the_recipe_so_the_next_delete_succeeds() {
    let h = Harness::new().await;
    h.standin.add_recipe(CREATED);
    deliver(&h, fixture("eventbridge-create-image-recipe.json"))
        .await
        .unwrap();
    assert_shared_by_standard(&h, CREATED, &["111122223333", "444455556666"]);
    // The owner's delete is refused while the recipe is shared, and CloudTrail records that.
    let refused = h.standin.delete_image_recipe(CREATED).unwrap_err();
    assert!(refused.starts_with("ResourceDependencyException"), "{refused}");
    let out = deliver(&h, fixture("eventbridge-delete-image-recipe-refused.json"))
        .await
        .unwrap();
    assert_eq!(out["outcome"], "released", "{out}");
    assert_eq!(out["imageRecipeArn"], CREATED);
    let snap = h.standin.snapshot();
    assert_eq!(
        snap.tags_of(CREATED).unwrap()["recipe-share:exclude"],
        "deletion-requested"
    );
    drop(snap);
    assert_not_shared(&h, CREATED);
    // No entry point shares it again: the trigger, a Create, the sweep all see the tag.
    let again = deliver(&h, fixture("eventbridge-create-image-recipe.json"))
        .await
        .unwrap();
    assert_eq!(again["outcome"], "skipped", "{again}");
    h.standin
        .delete_image_recipe(CREATED)
        .expect("the owner's next delete succeeds");
    // A second delivery of the refused-delete event, for a recipe now gone, succeeds.
    let gone = deliver(&h, fixture("eventbridge-delete-image-recipe-refused.json"))
        .await
        .unwrap();
    assert_eq!(gone["outcome"], "skipped", "{gone}");
}

#[tokio::test]
async fn a_release_ram_refuses_fails_so_the_dead_letter_queue_keeps_it() {
    let h = Harness::new().await;
    h.standin.add_recipe(CREATED);
    deliver(&h, fixture("eventbridge-create-image-recipe.json"))
        .await
        .unwrap();
    h.standin.set_in_use(CREATED, true);
    let err = deliver(&h, fixture("eventbridge-delete-image-recipe-refused.json"))
        .await
        .unwrap_err();
    assert!(matches!(err, recipe_share::Error::UnshareRefused { .. }), "{err}");
    assert!(err.to_string().contains("in use by consumer accounts"), "{err}");
    assert_eq!(
        h.standin.call_count("DeleteResourceShare"),
        1,
        "a refusal is not retried"
    );
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
        ("eventbridge-unrelated-service.json", "aws.ec2"),
    ] {
        let out = deliver(&h, fixture(file)).await.unwrap();
        assert_eq!(out["outcome"], "skipped", "{file}");
        assert!(out["reason"].as_str().unwrap().contains(why), "{file}: {out}");
    }
    assert_eq!(h.aws_calls(), 0);
}

#[tokio::test]
async fn a_recipe_deleted_before_handling_is_a_clear_non_retryable_error() {
    let h = Harness::new().await;
    let err = deliver(&h, fixture("eventbridge-create-image-recipe.json"))
        .await
        .unwrap_err();
    assert!(matches!(err, recipe_share::Error::NotFound { .. }), "{err}");
    assert!(err.to_string().contains(CREATED));
    assert_eq!(err.error_type(), "NonRetryable");
    // A few looks for read-after-write lag, then stop: no retry storm, and nothing written.
    let reads = h.standin.call_count("GetImageRecipe");
    assert!((2..=4).contains(&reads), "{reads} reads");
    assert_eq!(h.standin.call_count("PutImageRecipePolicy"), 0);
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
