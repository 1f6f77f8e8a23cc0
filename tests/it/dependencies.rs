//! What a shared recipe needs (design section 12), end to end: its own components and parent image
//! shared by the same standard, AWS-owned ones left alone, excluded ones named; container recipes
//! from CloudTrail and CloudFormation; the sweep's `dependencies-unshared`; refused deletes of
//! components released; and every call the function makes granted by `template.yaml`.

use crate::common::*;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

const MINE: &str = "arn:aws:imagebuilder:us-east-1:123456789012";
const ACCOUNTS: [&str; 2] = ["111122223333", "444455556666"];
const AWS_COMPONENT: &str = "arn:aws:imagebuilder:us-east-1:aws:component/update-linux/x.x.x";
const CONTAINER: &str = "arn:aws:imagebuilder:us-east-1:123456789012:container-recipe/api/1.0.0";

fn mine(resource: &str) -> String {
    format!("{MINE}:{resource}")
}

/// An account with `hardening` in two versions (three build versions), `cis` 1.0.0/1, an
/// AWS-owned component and a recipe using `hardening/x.x.x`, `cis/1.0.0/1` and the AWS one.
/// Returns the own build versions the recipe needs, in ARN order.
fn account_with_components(h: &Harness, recipe: &str) -> Vec<String> {
    let builds = [
        mine("component/cis/1.0.0/1"),
        mine("component/hardening/1.0.0/1"),
        mine("component/hardening/1.0.0/2"),
        mine("component/hardening/2.1.0/1"),
    ];
    for b in &builds {
        h.standin.add_resource(b);
    }
    // Another component of this account the recipe does not use stays private.
    h.standin.add_resource(&mine("component/unused/1.0.0/1"));
    h.standin.add_recipe(recipe);
    h.standin.set_recipe_contents(
        recipe,
        &[&mine("component/hardening/x.x.x"), &builds[0], AWS_COMPONENT],
        Some("arn:aws:imagebuilder:us-east-1:aws:image/amazon-linux-2023-x86/x.x.x"),
    );
    let mut want = builds.to_vec();
    want.sort();
    want
}

fn writes(h: &Harness, from: usize) -> Vec<String> {
    ops_since(h, from)
        .into_iter()
        .filter(|op| {
            op.starts_with("Put")
                || op.starts_with("Promote")
                || op.starts_with("Associate")
                || op.starts_with("Disassociate")
                || op.starts_with("Delete")
                || op.starts_with("Tag")
        })
        .collect()
}

#[tokio::test]
async fn a_recipe_brings_its_own_components_and_leaves_aws_ones_alone() {
    let h = Harness::new().await;
    let want = account_with_components(&h, R1);
    let resp = h.cfn(h.event("cfn-create.json", "deps")).await;
    assert_eq!(resp["Status"], "SUCCESS", "{resp}");
    assert_shared_by_standard(&h, R1, &ACCOUNTS);
    for b in &want {
        assert_shared_by_standard(&h, b, &ACCOUNTS);
    }
    let named: Vec<&str> = resp["Data"]["SharedDependencies"]
        .as_str()
        .unwrap()
        .split(',')
        .collect();
    assert_eq!(named, want, "{resp}");
    assert!(
        resp["Reason"].as_str().unwrap().contains("4 of its own components"),
        "{resp}"
    );
    let snap = h.standin.snapshot();
    assert!(
        snap.shares_of(&mine("component/unused/1.0.0/1")).is_empty(),
        "unused stays private"
    );
    assert!(snap.shares_of(AWS_COMPONENT).is_empty());
    // Each type has its one customer-managed permission, named by the design's table.
    assert_eq!(snap.customer_permissions_for("imagebuilder:ImageRecipe"), 1);
    assert_eq!(snap.customer_permissions_for("imagebuilder:Component"), 1);
    let names: BTreeSet<&str> = snap
        .permissions
        .iter()
        .filter(|p| p.permission_type == "CUSTOMER_MANAGED")
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(
        names,
        BTreeSet::from(["RecipeShareOrgStandard", "RecipeShareOrgStandard-Component"])
    );
    // Only the two own components' policies were written, never one for the AWS component.
    for c in h.standin.calls().iter().filter(|c| c.op == "PutComponentPolicy") {
        let arn = c.body["componentArn"].as_str().unwrap();
        assert!(want.iter().any(|w| w == arn), "{arn}");
    }

    // The same request again (an Update to the same ARN, or CloudFormation's retry) writes nothing.
    let from = h.standin.calls().len();
    let mut again = h.event("cfn-update-same-arn.json", "deps-again");
    again["ResourceProperties"]["ImageRecipeArn"] = json!(R1);
    again["OldResourceProperties"]["ImageRecipeArn"] = json!(R1);
    again["PhysicalResourceId"] = json!(R1);
    let resp = h.cfn(again).await;
    assert_eq!(resp["Status"], "SUCCESS", "{resp}");
    assert_eq!(writes(&h, from), Vec::<String>::new(), "a re-run writes nothing");
    assert_eq!(
        resp["Data"]["SharedDependencies"].as_str().unwrap().split(',').count(),
        4
    );
}

#[tokio::test]
async fn an_own_parent_image_is_shared_and_an_excluded_component_is_named_not_shared() {
    let h = Harness::new().await;
    let image = mine("image/golden/1.0.0/1");
    let draft = mine("component/draft/1.0.0/1");
    h.standin.add_resource(&image);
    h.standin.add_resource(&draft);
    h.standin.tag_resource(&draft, "recipe-share:exclude", "wip");
    let created = "arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/hardened-al2023/2.3.0";
    h.standin.add_recipe(created);
    h.standin
        .set_recipe_contents(created, &[&draft, AWS_COMPONENT], Some(&mine("image/golden/1.x.x")));
    let out = h
        .invoke(fixture("eventbridge-create-image-recipe.json"), Duration::from_secs(30))
        .await
        .expect("handled");
    assert_eq!(out["outcome"], "shared", "{out}");
    assert_eq!(out["sharedDependencies"], json!([image]), "{out}");
    assert_eq!(out["excludedDependencies"], json!([draft]), "{out}");
    assert_shared_by_standard(&h, created, &ACCOUNTS);
    assert_shared_by_standard(&h, &image, &ACCOUNTS);
    assert!(h.standin.snapshot().shares_of(&draft).is_empty());
    assert_eq!(h.standin.call_count("PutComponentPolicy"), 0);
}

#[tokio::test]
async fn container_recipes_are_shared_from_cloudtrail_and_cloudformation() {
    let h = Harness::new().await;
    h.standin.add_resource(CONTAINER);
    let out = h
        .invoke(
            fixture("eventbridge-create-container-recipe.json"),
            Duration::from_secs(30),
        )
        .await
        .expect("handled");
    assert_eq!(out["outcome"], "shared", "{out}");
    assert_eq!(out["containerRecipeArn"], CONTAINER, "{out}");
    assert_shared_by_standard(&h, CONTAINER, &ACCOUNTS);
    let policy: Value = serde_json::from_str(h.standin.snapshot().policy_of(CONTAINER).unwrap()).unwrap();
    assert!(
        policy.to_string().contains("imagebuilder:GetContainerRecipe"),
        "{policy}"
    );

    // Through CloudFormation, a second container recipe; then its Delete unshares it.
    let second = "arn:aws:imagebuilder:us-east-1:123456789012:container-recipe/api/1.1.0";
    h.standin.add_resource(second);
    let mut create = h.event("cfn-create.json", "container");
    create["ResourceProperties"] =
        json!({"ServiceToken": FUNCTION_ARN, "ServiceTimeout": "360", "ContainerRecipeArn": second});
    let resp = h.cfn(create).await;
    assert_eq!(resp["Status"], "SUCCESS", "{resp}");
    assert_eq!(resp["PhysicalResourceId"], second);
    assert_eq!(resp["Data"]["ContainerRecipeArn"], second, "{resp}");
    assert_shared_by_standard(&h, second, &ACCOUNTS);
    let snap = h.standin.snapshot();
    assert_eq!(snap.customer_permissions_for("imagebuilder:ContainerRecipe"), 1);
    let mut delete = h.event("cfn-delete.json", "container-delete");
    delete["PhysicalResourceId"] = json!(second);
    delete["ResourceProperties"] = json!({"ServiceToken": FUNCTION_ARN, "ContainerRecipeArn": second});
    let resp = h.cfn(delete).await;
    assert_eq!(resp["Status"], "SUCCESS", "{resp}");
    assert_not_shared(&h, second);
    assert!(h.standin.delete_resource(second).is_ok(), "its owner can delete it now");
}

#[tokio::test]
async fn the_sweep_reports_unshared_dependencies_then_shares_them() {
    let h = Harness::new().await;
    let want = account_with_components(&h, R1);
    h.standin.add_resource(CONTAINER);
    // The recipe is shared, but by hand-made means that skipped its components: only its own
    // policy, as an older recipe-share would have left it.
    let mut event = fixture("eventbridge-create-image-recipe.json");
    event["detail"]["responseElements"]["imageRecipeArn"] = json!(R1);
    h.standin.set_recipe_contents(R1, &[AWS_COMPONENT], None);
    h.invoke(event, Duration::from_secs(30)).await.expect("shared");
    h.standin.set_recipe_contents(
        R1,
        &[
            &mine("component/hardening/x.x.x"),
            &mine("component/cis/1.0.0/1"),
            AWS_COMPONENT,
        ],
        None,
    );
    let from = h.standin.calls().len();
    let report = h
        .invoke(json!({"sweep": {"mode": "report"}}), Duration::from_secs(60))
        .await
        .expect("report");
    assert_eq!(writes(&h, from), Vec::<String>::new(), "report mode changes nothing");
    assert_eq!(report["recipes"], 2, "both kinds are swept: {report}");
    assert_eq!(report["counts"]["dependencies-unshared"], 1, "{report}");
    assert_eq!(report["counts"]["missing-policy"], 1, "the container recipe: {report}");
    let findings = report["findings"].as_array().unwrap();
    let deps = findings
        .iter()
        .find(|f| f["status"] == "dependencies-unshared")
        .unwrap();
    assert_eq!(deps["imageRecipeArn"], R1);
    for b in &want {
        assert!(deps["detail"].as_str().unwrap().contains(b.as_str()), "{deps}");
    }
    let container = findings.iter().find(|f| f["status"] == "missing-policy").unwrap();
    assert_eq!(container["containerRecipeArn"], CONTAINER, "{container}");

    let apply = h
        .invoke(json!({"sweep": {"mode": "apply"}}), Duration::from_secs(60))
        .await
        .expect("apply");
    assert_eq!(apply["counts"]["fixed"], 2, "{apply}");
    for b in &want {
        assert_shared_by_standard(&h, b, &ACCOUNTS);
    }
    assert_shared_by_standard(&h, CONTAINER, &ACCOUNTS);
    let again = h
        .invoke(json!({"sweep": {"mode": "report"}}), Duration::from_secs(60))
        .await
        .expect("report");
    assert_eq!(again["counts"], json!({"compliant": 2}), "{again}");
}

#[tokio::test]
async fn a_refused_component_delete_releases_the_component() {
    let h = Harness::new().await;
    let want = account_with_components(&h, R1);
    h.cfn(h.event("cfn-create.json", "deps")).await;
    let cis = &want[0];
    let refused = h.standin.delete_resource(cis).expect_err("shared, so refused");
    assert!(refused.starts_with("ResourceDependencyException"), "{refused}");
    let mut event = fixture("eventbridge-delete-image-recipe-refused.json");
    event["detail"]["eventName"] = json!("DeleteComponent");
    event["detail"]["requestParameters"] = json!({"componentBuildVersionArn": cis});
    let out = h.invoke(event, Duration::from_secs(30)).await.expect("released");
    assert_eq!(out["outcome"], "released", "{out}");
    assert_eq!(out["componentArn"], cis.as_str(), "{out}");
    assert_not_shared(&h, cis);
    assert_eq!(
        h.standin
            .snapshot()
            .tags_of(cis)
            .unwrap()
            .get("recipe-share:exclude")
            .map(String::as_str),
        Some("deletion-requested")
    );
    assert!(
        h.standin.delete_resource(cis).is_ok(),
        "the owner's next delete succeeds"
    );
    // The recipe stays shared; the sweep now says its component is gone rather than sharing anything.
    assert_shared_by_standard(&h, R1, &ACCOUNTS);
}

/// The IAM actions `template.yaml` grants the function, read as text: every `imagebuilder:X`
/// and `ram:X` in it (the check script keeps them scoped; this keeps them sufficient).
fn granted() -> BTreeSet<String> {
    let text = std::fs::read_to_string(format!("{}/template.yaml", env!("CARGO_MANIFEST_DIR"))).unwrap();
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == ':'))
        .filter_map(|w| w.strip_prefix("imagebuilder:").or_else(|| w.strip_prefix("ram:")))
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn every_call_the_function_makes_is_granted_by_the_template() {
    let h = Harness::new().await;
    let want = account_with_components(&h, R1);
    h.standin.add_resource(&mine("image/golden/1.0.0/1"));
    h.standin.add_resource(CONTAINER);
    let created = "arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/hardened-al2023/2.3.0";
    h.standin.add_recipe(created);
    h.standin
        .set_recipe_contents(created, &[&want[0]], Some(&mine("image/golden/x.x.x")));
    h.cfn(h.event("cfn-create.json", "deps")).await;
    let mut no_arn = fixture("eventbridge-create-image-recipe.json");
    no_arn["detail"]["responseElements"] = Value::Null;
    h.standin.add_recipe_named(created, "Hardened AL2023");
    h.invoke(no_arn, Duration::from_secs(30)).await.expect("looked up");
    let mut container = fixture("eventbridge-create-container-recipe.json");
    container["detail"]["responseElements"] = Value::Null;
    h.invoke(container, Duration::from_secs(30)).await.expect("container");
    h.invoke(json!({"sweep": {"mode": "report"}}), Duration::from_secs(60))
        .await
        .expect("report");
    h.standin.delete_resource(&want[0]).expect_err("refused");
    let mut event = fixture("eventbridge-delete-image-recipe-refused.json");
    event["detail"]["eventName"] = json!("DeleteComponent");
    event["detail"]["requestParameters"] = json!({"componentBuildVersionArn": want[0]});
    h.invoke(event, Duration::from_secs(30)).await.expect("released");
    let delete = h.event("cfn-delete.json", "delete");
    h.cfn(delete).await;

    let granted = granted();
    let called: BTreeSet<String> = ops_since(&h, 0)
        .into_iter()
        .filter(|op| !matches!(op.as_str(), "GetCallerIdentity" | "Invoke"))
        .collect();
    for needed in [
        "PutComponentPolicy",
        "ListComponentBuildVersions",
        "ListImageBuildVersions",
        "PutImagePolicy",
        "ListContainerRecipes",
    ] {
        assert!(called.contains(needed), "the scenario exercises {needed}: {called:?}");
    }
    let missing: Vec<&String> = called.iter().filter(|op| !granted.contains(op.as_str())).collect();
    assert!(
        missing.is_empty(),
        "called but not granted by template.yaml: {missing:?}"
    );
}

#[tokio::test]
async fn a_dependency_excluded_after_it_was_shared_is_taken_out_of_the_standards_share() {
    let h = Harness::new().await;
    let want = account_with_components(&h, R1);
    h.cfn(h.event("cfn-create.json", "deps")).await;
    let cis = &want[0];
    assert_shared_by_standard(&h, cis, &ACCOUNTS);
    h.standin.tag_resource(cis, "recipe-share:exclude", "keep-private");
    let mut again = h.event("cfn-update-same-arn.json", "deps-again");
    again["ResourceProperties"]["ImageRecipeArn"] = json!(R1);
    again["OldResourceProperties"]["ImageRecipeArn"] = json!(R1);
    again["PhysicalResourceId"] = json!(R1);
    let resp = h.cfn(again).await;
    assert_eq!(resp["Status"], "SUCCESS", "{resp}");
    assert!(resp["Reason"].as_str().unwrap().contains(cis.as_str()), "{resp}");
    assert!(
        !resp["Data"]["SharedDependencies"]
            .as_str()
            .unwrap()
            .contains(cis.as_str())
    );
    assert_not_shared(&h, cis);
    assert_shared_by_standard(&h, R1, &ACCOUNTS);
}
