//! Container recipes, components and images, modeled like image recipes (design section 12):
//! each kind's policy makes a CREATED_FROM_POLICY share of its own RAM resource type, promotion
//! needs a managed permission of that type, the quota is per type; plus the kinds' own listings
//! (ListComponents answers versions, ListComponentBuildVersions their builds), recipe contents
//! and the Delete operations' refusals.

use std::time::Duration;

use crate::common::*;
use recipe_share_standin::{Options, ResourceKind, StandIn};
use serde_json::{Value, json};

const OTHER: &str = "111122223333";

fn fast() -> Options {
    Options {
        promotion_time: Duration::from_millis(30),
        ..Options::default()
    }
}

fn ib(kind: &str, account: &str, rest: &str) -> String {
    format!("arn:aws:imagebuilder:us-east-1:{account}:{kind}/{rest}")
}

fn component(rest: &str) -> String {
    ib("component", ACCOUNT, rest)
}

fn image(rest: &str) -> String {
    ib("image", ACCOUNT, rest)
}

fn container_recipe(rest: &str) -> String {
    ib("container-recipe", ACCOUNT, rest)
}

/// The standard policy of design section 12 for a resource of `kind`.
fn kind_policy(kind: ResourceKind, arn: &str, accounts: &[&str]) -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"AWS": accounts},
            "Action": kind.default_permission_actions(),
            "Resource": arn,
        }]
    })
    .to_string()
}

/// The kind's Put…Policy.
fn put_kind_policy(url: &str, kind: ResourceKind, arn: &str, policy: &str) -> Resp {
    let (op, member) = match kind {
        ResourceKind::ImageRecipe => ("PutImageRecipePolicy", "imageRecipeArn"),
        ResourceKind::ContainerRecipe => ("PutContainerRecipePolicy", "containerRecipeArn"),
        ResourceKind::Component => ("PutComponentPolicy", "componentArn"),
        ResourceKind::Image => ("PutImagePolicy", "imageArn"),
    };
    aws(
        url,
        "PUT",
        &format!("/{op}"),
        Some(&json!({member: arn, "policy": policy})),
    )
}

/// The kind's Get…Policy.
fn get_kind_policy(url: &str, kind: ResourceKind, arn: &str) -> Resp {
    let (op, member) = match kind {
        ResourceKind::ImageRecipe => ("GetImageRecipePolicy", "imageRecipeArn"),
        ResourceKind::ContainerRecipe => ("GetContainerRecipePolicy", "containerRecipeArn"),
        ResourceKind::Component => ("GetComponentPolicy", "componentArn"),
        ResourceKind::Image => ("GetImagePolicy", "imageArn"),
    };
    aws(url, "GET", &format!("/{op}?{member}={}", enc(arn)), None)
}

fn promote_share(url: &str, share: &str) -> Resp {
    aws(
        url,
        "POST",
        &format!("/promoteresourcesharecreatedfrompolicy?resourceShareArn={}", enc(share)),
        None,
    )
}

fn promote_permission(url: &str, perm: &str, name: &str, token: &str) -> Resp {
    ram(
        url,
        "/promotepermissioncreatedfrompolicy",
        json!({"permissionArn": perm, "name": name, "clientToken": token}),
    )
}

/// Image Builder's paginated listings, following nextToken (bounded).
fn ib_list_all(url: &str, op: &str, key: &str, mut body: Value) -> Vec<Value> {
    let mut out = Vec::new();
    for _ in 0..100 {
        let r = aws(url, "POST", &format!("/{op}"), Some(&body));
        assert_eq!(r.status, 200, "{op}: {:?}", String::from_utf8_lossy(&r.body));
        let v = r.json();
        assert!(v["requestId"].is_string(), "{op} answers a requestId");
        out.extend(v[key].as_array().expect(key).iter().cloned());
        match v.get("nextToken") {
            Some(t) => body["nextToken"] = t.clone(),
            None => return out,
        }
    }
    panic!("{op}: more than 100 pages");
}

fn arns(rows: &[Value]) -> Vec<&str> {
    rows.iter().map(|r| r["arn"].as_str().unwrap()).collect()
}

/// Puts the kind's standard policy on `arn` (added first) and returns the share and its
/// CREATED_FROM_POLICY permission, as ListResources and ListResourceSharePermissions show them.
fn share_by_policy(s: &StandIn, kind: ResourceKind, arn: &str) -> (String, Value) {
    s.add_resource(arn);
    let put = put_kind_policy(&s.url(), kind, arn, &kind_policy(kind, arn, &[OTHER]));
    assert_eq!(put.status, 200, "{:?}", String::from_utf8_lossy(&put.body));
    let rows = list_all(
        &s.url(),
        "/listresources",
        "resources",
        json!({"resourceOwner": "SELF", "resourceArns": [arn]}),
    );
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["type"], kind.resource_type());
    let share = rows[0]["resourceShareArn"].as_str().unwrap().to_string();
    let perms = list_all(
        &s.url(),
        "/listresourcesharepermissions",
        "permissions",
        json!({"resourceShareArn": share}),
    );
    assert_eq!(perms.len(), 1);
    (share, perms[0].clone())
}

#[test]
fn a_component_share_is_promoted_only_with_a_component_permission() {
    let s = StandIn::start(fast());
    let url = s.url();
    let c = component("cis/1.2.0/3");
    let (share, cfp) = share_by_policy(&s, ResourceKind::Component, &c);
    assert_eq!(put_kind_policy(&url, ResourceKind::Component, &c, "{}").status, 400);
    assert_eq!(cfp["resourceType"], "imagebuilder:Component");
    assert_eq!(cfp["featureSet"], "CREATED_FROM_POLICY");
    let cfp = cfp["arn"].as_str().unwrap().to_string();
    let snap = s.snapshot();
    assert_eq!(snap.shares_of(&c)[0].feature_set, "CREATED_FROM_POLICY");
    assert_eq!(snap.resource(&c).unwrap().kind, ResourceKind::Component);
    assert!(snap.recipes.is_empty(), "a component is not an image recipe");
    // ListResources filters by the resource's own type, case-insensitively.
    let by_type = |t: &str| {
        list_all(
            &url,
            "/listresources",
            "resources",
            json!({"resourceOwner": "SELF", "resourceType": t}),
        )
        .len()
    };
    assert_eq!(by_type("IMAGEBUILDER:component"), 1);
    assert_eq!(by_type("imagebuilder:ImageRecipe"), 0);

    // An image recipe's customer managed permission does not match a component share.
    let r = recipe("beside");
    let (_, recipe_cfp) = share_by_policy(&s, ResourceKind::ImageRecipe, &r);
    let recipe_cfp = recipe_cfp["arn"].as_str().unwrap();
    assert_eq!(promote_permission(&url, recipe_cfp, "RecipeRead", "t-r").status, 200);
    let unmatched = promote_share(&url, &share);
    assert_eq!(unmatched.error_type(), Some("UnmatchedPolicyPermissionException"));

    let promoted = promote_permission(&url, &cfp, "RecipeRead-Component", "t-c");
    assert_eq!(promoted.status, 200, "{:?}", String::from_utf8_lossy(&promoted.body));
    let managed = promoted.json()["permission"].clone();
    assert_eq!(managed["resourceType"], "imagebuilder:Component");
    assert_eq!(managed["featureSet"], "STANDARD");
    let snap = s.snapshot();
    assert_eq!(snap.customer_permissions(), 2);
    assert_eq!(snap.customer_permissions_for("imagebuilder:Component"), 1);
    assert_eq!(snap.customer_permissions_for("imagebuilder:imagerecipe"), 1);
    let listed = list_all(
        &url,
        "/listpermissions",
        "permissions",
        json!({"resourceType": "imagebuilder:component", "permissionType": "CUSTOMER_MANAGED"}),
    );
    assert_eq!(arns(&listed), [managed["arn"].as_str().unwrap()]);

    assert_eq!(promote_share(&url, &share).status, 200);
    std::thread::sleep(Duration::from_millis(60));
    let snap = s.snapshot();
    let promoted_share = snap.share(&share).unwrap();
    assert_eq!(promoted_share.feature_set, "STANDARD");
    assert_eq!(promoted_share.permission_arn, managed["arn"].as_str().unwrap());
    assert!(
        snap.permission(&cfp).is_none(),
        "the unused CREATED_FROM_POLICY permission goes"
    );
    // RAM writes the component's policy: its build version ARN, the permission's actions.
    let got = get_kind_policy(&url, ResourceKind::Component, &c);
    let written: Value = serde_json::from_str(got.json()["policy"].as_str().unwrap()).unwrap();
    assert_eq!(written["Statement"][0]["Resource"], c.as_str());
    assert_eq!(
        written["Statement"][0]["Action"],
        json!(["imagebuilder:GetComponent", "imagebuilder:ListComponents"])
    );
    assert_eq!(
        written["Statement"][0]["Principal"],
        json!({"AWS": [format!("arn:aws:iam::{OTHER}:root")]})
    );
    // A second component with the same actions matches the Component permission directly.
    let (_, second) = share_by_policy(&s, ResourceKind::Component, &component("hardening/2.0.0/1"));
    assert_eq!(second["arn"], managed["arn"]);
    // A policy written on the STANDARD-held component: a second share beside the first, as for
    // recipes (the pessimistic reading).
    let rewritten = kind_policy(ResourceKind::Component, &c, &[OTHER, "444455556666"]);
    assert_eq!(
        put_kind_policy(&url, ResourceKind::Component, &c, &rewritten).status,
        200
    );
    let snap = s.snapshot();
    assert_eq!(snap.shares_of(&c).len(), 2);
    assert_eq!(
        snap.share(&share).unwrap().principals,
        [OTHER],
        "the STANDARD share is untouched"
    );
    assert_eq!(snap.policy_of(&c), Some(rewritten.as_str()));
}

#[test]
fn the_same_actions_on_another_resource_type_are_another_permission() {
    let s = StandIn::start(fast());
    let url = s.url();
    // A recipe policy and a component policy with identical actions: two CREATED_FROM_POLICY
    // permissions, one per resource type.
    let actions = ["imagebuilder:GetComponent", "imagebuilder:ListComponents"];
    let r = recipe("odd");
    s.add_recipe(&r);
    let odd = json!({"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Principal": {"AWS": OTHER}, "Action": actions, "Resource": r}});
    assert_eq!(put_policy(&url, &r, &odd.to_string()).status, 200);
    let c = component("cis/1.0.0/1");
    let (share, cfp) = share_by_policy(&s, ResourceKind::Component, &c);
    let recipe_perm = s.snapshot().shares_of(&r)[0].permission_arn.clone();
    assert_ne!(recipe_perm, cfp["arn"].as_str().unwrap());
    assert_eq!(
        s.snapshot().permission(&recipe_perm).unwrap().resource_type,
        "imagebuilder:ImageRecipe"
    );
    assert_eq!(
        promote_permission(&url, &recipe_perm, "ComponentActionsOnRecipes", "t").status,
        200
    );
    assert_eq!(
        promote_share(&url, &share).error_type(),
        Some("UnmatchedPolicyPermissionException")
    );
}

#[test]
fn list_components_answers_versions_and_build_versions_their_builds() {
    let s = StandIn::start(Options { page_size: 2, ..fast() });
    let url = s.url();
    let own = [
        component("cis/1.2.0/1"),
        component("cis/1.2.0/2"),
        component("cis/1.3.0/1"),
        component("hardening/2.0.0/1"),
    ];
    for c in &own {
        s.add_resource(c);
    }
    let amazon = ib("component", "aws", "update-linux/1.0.2/1");
    let shared = ib("component", OTHER, "theirs/1.0.0/1");
    s.add_resource(&amazon);
    s.add_resource(&shared);
    s.tag_resource(&own[1], "team", "platform");

    let versions = ib_list_all(&url, "ListComponents", "componentVersionList", json!({}));
    assert_eq!(
        arns(&versions),
        [
            component("cis/1.2.0"),
            component("cis/1.3.0"),
            component("hardening/2.0.0")
        ]
    );
    let v = &versions[0];
    assert_eq!(
        (&v["name"], &v["version"], &v["owner"]),
        (&json!("cis"), &json!("1.2.0"), &json!(ACCOUNT))
    );
    assert_eq!((&v["type"], &v["platform"]), (&json!("BUILD"), &json!("Linux")));
    assert!(v.get("tags").is_none(), "ComponentVersion has no tags");
    // AWS-owned components only under owner Amazon, other accounts' under Shared.
    let amazon_rows = ib_list_all(
        &url,
        "ListComponents",
        "componentVersionList",
        json!({"owner": "Amazon"}),
    );
    assert_eq!(arns(&amazon_rows), [ib("component", "aws", "update-linux/1.0.2")]);
    assert_eq!(amazon_rows[0]["owner"], "aws");
    let shared_rows = ib_list_all(
        &url,
        "ListComponents",
        "componentVersionList",
        json!({"owner": "Shared"}),
    );
    assert_eq!(arns(&shared_rows), [ib("component", OTHER, "theirs/1.0.0")]);
    assert!(
        ib_list_all(
            &url,
            "ListComponents",
            "componentVersionList",
            json!({"owner": "ThirdParty"})
        )
        .is_empty()
    );
    // Filters.
    let filtered = |filters: Value| {
        ib_list_all(
            &url,
            "ListComponents",
            "componentVersionList",
            json!({"owner": "Self", "filters": filters, "byName": true}),
        )
        .len()
    };
    assert_eq!(filtered(json!([{"name": "name", "values": ["cis"]}])), 2);
    assert_eq!(
        filtered(json!([{"name": "name", "values": ["cis"]}, {"name": "version", "values": ["1.3.0"]}])),
        1
    );
    assert_eq!(filtered(json!([{"name": "type", "values": ["TEST"]}])), 0);
    assert_eq!(filtered(json!([{"name": "description", "values": ["x"]}])), 0);
    let bad = aws(
        &url,
        "POST",
        "/ListComponents",
        Some(&json!({"filters": [{"name": "parentImage", "values": ["x"]}]})),
    );
    assert_eq!((bad.status, bad.error_type()), (400, Some("InvalidRequestException")));
    let bad = aws(&url, "POST", "/ListComponents", Some(&json!({"owner": "Everyone"})));
    assert_eq!(bad.error_type(), Some("InvalidRequestException"));

    // Build versions of one version, with their tags.
    let builds = |body: Value| ib_list_all(&url, "ListComponentBuildVersions", "componentSummaryList", body);
    let of_120 = builds(json!({"componentVersionArn": component("cis/1.2.0")}));
    assert_eq!(arns(&of_120), [own[0].as_str(), own[1].as_str()]);
    assert_eq!(of_120[1]["tags"], json!({"team": "platform"}));
    assert_eq!(of_120[0]["tags"], json!({}));
    assert_eq!(of_120[0]["version"], "1.2.0");
    assert_eq!(of_120[0]["state"]["status"], "ACTIVE");
    assert!(builds(json!({"componentVersionArn": component("cis/9.9.9")})).is_empty());
    // Only this account's builds are listed (the newest API reference says so).
    assert!(builds(json!({"componentVersionArn": ib("component", "aws", "update-linux/1.0.2")})).is_empty());
    assert_eq!(builds(json!({})).len(), own.len());
    for bad in [component("cis/1.x.x"), component("cis/1.2.0/1"), recipe("cis")] {
        let r = aws(
            &url,
            "POST",
            "/ListComponentBuildVersions",
            Some(&json!({"componentVersionArn": bad})),
        );
        assert_eq!(
            (r.status, r.error_type()),
            (400, Some("InvalidRequestException")),
            "{bad}"
        );
    }

    // GetComponent takes a build version only.
    let got = aws(
        &url,
        "GET",
        &format!("/GetComponent?componentBuildVersionArn={}", enc(&own[1])),
        None,
    );
    assert_eq!(got.json()["component"]["arn"], own[1].as_str());
    assert_eq!(got.json()["component"]["tags"]["team"], "platform");
    let version = aws(
        &url,
        "GET",
        &format!(
            "/GetComponent?componentBuildVersionArn={}",
            enc(&component("cis/x.x.x"))
        ),
        None,
    );
    assert_eq!(version.error_type(), Some("InvalidRequestException"));
    let missing = aws(
        &url,
        "GET",
        &format!(
            "/GetComponent?componentBuildVersionArn={}",
            enc(&component("cis/1.2.0/9"))
        ),
        None,
    );
    assert_eq!(
        (missing.status, missing.error_type()),
        (404, Some("ResourceNotFoundException"))
    );

    // Components are stored as build versions.
    let version_only =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| s.add_resource(&component("cis/1.4.0"))));
    assert!(version_only.is_err());
    let no_kind = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| s.add_resource("ami-0123456789abcdef0")));
    assert!(no_kind.is_err());
    assert_eq!(s.snapshot().resources_of_kind(ResourceKind::Component).len(), 6);
}

#[test]
fn recipes_report_their_components_and_parent_image() {
    let s = StandIn::start(fast());
    let url = s.url();
    let r = recipe("golden-web");
    let components = [
        component("cis/x.x.x"),
        component("hardening/1.2.0"),
        component("agent/1.2.0/3"),
        ib("component", "aws", "update-linux/1.x.x"),
        ib("component", OTHER, "theirs/1.0.0/1"),
    ];
    let refs: Vec<&str> = components.iter().map(String::as_str).collect();
    let parent = image("golden/1.x.x");
    s.set_recipe_contents(&r, &refs, Some(&parent));
    let plain = recipe("plain");
    s.add_recipe(&plain);
    let get = |arn: &str| {
        aws(
            &url,
            "GET",
            &format!("/GetImageRecipe?imageRecipeArn={}", enc(arn)),
            None,
        )
        .json()["imageRecipe"]
            .clone()
    };
    let got = get(&r);
    let listed: Vec<&str> = got["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["componentArn"].as_str().unwrap())
        .collect();
    assert_eq!(listed, refs);
    assert_eq!(got["parentImage"], parent.as_str());
    // Nothing set: AWS's update-linux and Amazon Linux 2, as before.
    let default = get(&plain);
    assert_eq!(
        default["components"],
        json!([{"componentArn": "arn:aws:imagebuilder:us-east-1:aws:component/update-linux/x.x.x"}])
    );
    assert_eq!(
        default["parentImage"],
        "arn:aws:imagebuilder:us-east-1:aws:image/amazon-linux-2-x86/x.x.x"
    );
    // ListImageRecipes reports and filters the parent image set.
    let by_parent = ib_list_all(
        &url,
        "ListImageRecipes",
        "imageRecipeSummaryList",
        json!({"filters": [{"name": "parentImage", "values": [parent]}]}),
    );
    assert_eq!(arns(&by_parent), [r.as_str()]);
    let snap = s.snapshot();
    assert_eq!(snap.resource(&r).unwrap().components, components);
    assert_eq!(
        snap.resource(&r).unwrap().parent_image.as_deref(),
        Some(parent.as_str())
    );
    // An AMI id as the parent; replacing the contents replaces both.
    s.set_recipe_contents(&r, &[], Some("ami-0123456789abcdef0"));
    let got = get(&r);
    assert_eq!(got["parentImage"], "ami-0123456789abcdef0");
    assert_eq!(got["components"], default["components"]);

    // Container recipes: GetContainerRecipe's shape.
    let cr = container_recipe("web-server/1.0.0");
    s.set_recipe_contents(&cr, &refs[..2], Some("amazonlinux:2023"));
    s.tag_resource(&cr, "team", "web");
    let got = aws(
        &url,
        "GET",
        &format!("/GetContainerRecipe?containerRecipeArn={}", enc(&cr)),
        None,
    );
    assert_eq!(got.status, 200, "{:?}", String::from_utf8_lossy(&got.body));
    let got = got.json();
    assert!(got["requestId"].is_string());
    let c = &got["containerRecipe"];
    assert_eq!(c["arn"], cr.as_str());
    assert_eq!(c["containerType"], "DOCKER");
    assert_eq!((&c["name"], &c["version"]), (&json!("web-server"), &json!("1.0.0")));
    assert_eq!(c["parentImage"], "amazonlinux:2023");
    assert_eq!(
        c["components"],
        json!([{"componentArn": refs[0]}, {"componentArn": refs[1]}])
    );
    assert_eq!(c["tags"], json!({"team": "web"}));
    assert_eq!(
        c["targetRepository"],
        json!({"service": "ECR", "repositoryName": "web-server"})
    );
    let bare = container_recipe("bare/1.0.0");
    s.add_resource(&bare);
    let got = aws(
        &url,
        "GET",
        &format!("/GetContainerRecipe?containerRecipeArn={}", enc(&bare)),
        None,
    )
    .json();
    assert_eq!(got["containerRecipe"]["parentImage"], "amazonlinux:latest");
    // An image recipe's ARN is not a container recipe's, and vice versa.
    let wrong = aws(
        &url,
        "GET",
        &format!("/GetContainerRecipe?containerRecipeArn={}", enc(&r)),
        None,
    );
    assert_eq!(wrong.error_type(), Some("InvalidRequestException"));
    let missing = aws(
        &url,
        "GET",
        &format!(
            "/GetContainerRecipe?containerRecipeArn={}",
            enc(&container_recipe("nope/1.0.0"))
        ),
        None,
    );
    assert_eq!(missing.error_type(), Some("ResourceNotFoundException"));
    let not_a_recipe = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        s.set_recipe_contents(&component("cis/1.0.0/1"), &[], None)
    }));
    assert!(not_a_recipe.is_err());
}

#[test]
fn container_recipe_policy_lifecycle_and_delete() {
    let s = StandIn::start(fast());
    let url = s.url();
    let cr = container_recipe("web-server/1.0.0");
    let kind = ResourceKind::ContainerRecipe;
    let (share, cfp) = share_by_policy(&s, kind, &cr);
    assert_eq!(cfp["resourceType"], "imagebuilder:ContainerRecipe");
    assert_eq!(
        get_kind_policy(&url, kind, &cr).json()["policy"],
        kind_policy(kind, &cr, &[OTHER]).as_str()
    );
    // ListContainerRecipes lists it with its tags; ListImageRecipes does not.
    s.tag_resource(&cr, "team", "web");
    let listed = ib_list_all(&url, "ListContainerRecipes", "containerRecipeSummaryList", json!({}));
    assert_eq!(arns(&listed), [cr.as_str()]);
    assert_eq!(listed[0]["tags"], json!({"team": "web"}));
    assert_eq!(listed[0]["containerType"], "DOCKER");
    assert_eq!(listed[0]["parentImage"], "amazonlinux:latest");
    assert!(ib_list_all(&url, "ListImageRecipes", "imageRecipeSummaryList", json!({})).is_empty());
    assert!(
        ib_list_all(
            &url,
            "ListContainerRecipes",
            "containerRecipeSummaryList",
            json!({"owner": "Shared"})
        )
        .is_empty()
    );
    let filtered = ib_list_all(
        &url,
        "ListContainerRecipes",
        "containerRecipeSummaryList",
        json!({"filters": [{"name": "containerType", "values": ["DOCKER"]}, {"name": "name", "values": ["web-server"]}]}),
    );
    assert_eq!(filtered.len(), 1);

    let delete = |arn: &str| {
        aws(
            &url,
            "DELETE",
            &format!("/DeleteContainerRecipe?containerRecipeArn={}", enc(arn)),
            None,
        )
    };
    let refused = delete(&cr);
    assert_eq!(
        (refused.status, refused.error_type()),
        (400, Some("ResourceDependencyException"))
    );
    assert!(
        s.delete_resource(&cr)
            .unwrap_err()
            .starts_with("ResourceDependencyException")
    );

    let cfp = cfp["arn"].as_str().unwrap();
    let managed = promote_permission(&url, cfp, "Std-ContainerRecipe", "t").json()["permission"].clone();
    assert_eq!(managed["resourceType"], "imagebuilder:ContainerRecipe");
    assert_eq!(promote_share(&url, &share).status, 200);
    std::thread::sleep(Duration::from_millis(60));
    assert_eq!(s.snapshot().share(&share).unwrap().feature_set, "STANDARD");
    let written: Value =
        serde_json::from_str(get_kind_policy(&url, kind, &cr).json()["policy"].as_str().unwrap()).unwrap();
    assert_eq!(written["Statement"][0]["Sid"], "RamStatement1");
    assert_eq!(written["Statement"][0]["Resource"], cr.as_str());
    assert_eq!(delete(&cr).error_type(), Some("ResourceDependencyException"));

    let del = aws(
        &url,
        "DELETE",
        &format!("/deleteresourceshare?resourceShareArn={}", enc(&share)),
        None,
    );
    assert_eq!(del.status, 200);
    assert_eq!(
        get_kind_policy(&url, kind, &cr).error_type(),
        Some("ResourceNotFoundException")
    );
    let deleted = delete(&cr);
    assert_eq!(deleted.status, 200);
    assert_eq!(deleted.json()["containerRecipeArn"], cr.as_str());
    assert_eq!(delete(&cr).error_type(), Some("ResourceNotFoundException"));
    assert!(s.snapshot().resource(&cr).is_none());
}

#[test]
fn image_policy_lifecycle_listings_and_delete() {
    let s = StandIn::start(Options {
        aws_managed_permission_matches: true,
        ..fast()
    });
    let url = s.url();
    let kind = ResourceKind::Image;
    let builds = [
        image("golden/1.0.0/1"),
        image("golden/1.0.0/2"),
        image("golden/1.1.0/1"),
    ];
    for b in &builds {
        s.add_resource(b);
    }
    s.add_resource(&ib("image", "aws", "amazon-linux-2-x86/2024.1.0/1"));
    // Put takes a build version ARN: InvalidParameterValueException otherwise (Get: InvalidRequest).
    let version = image("golden/1.0.0");
    let p = kind_policy(kind, &version, &[OTHER]);
    let bad = put_kind_policy(&url, kind, &version, &p);
    assert_eq!(bad.error_type(), Some("InvalidParameterValueException"));
    assert_eq!(
        get_kind_policy(&url, kind, &version).error_type(),
        Some("InvalidRequestException")
    );
    // The policy's Resource must be the image itself.
    let other = put_kind_policy(&url, kind, &builds[2], &kind_policy(kind, &builds[1], &[OTHER]));
    assert_eq!(other.error_type(), Some("InvalidParameterValueException"));

    let target = builds[1].as_str();
    let (share, perm) = share_by_policy(&s, kind, target);
    // With aws_managed_permission_matches, the AWS-managed Image default matches at once.
    assert_eq!(
        perm["arn"],
        "arn:aws:ram::aws:permission/AWSRAMDefaultPermissionImageBuilderImage"
    );
    assert_eq!(perm["resourceType"], "imagebuilder:Image");
    let put = put_kind_policy(&url, kind, target, &kind_policy(kind, target, &[OTHER]));
    assert_eq!(put.json()["imageArn"], target);
    assert_eq!(promote_share(&url, &share).status, 200);
    std::thread::sleep(Duration::from_millis(60));
    assert_eq!(s.snapshot().share(&share).unwrap().feature_set, "STANDARD");
    assert_eq!(s.snapshot().customer_permissions(), 0);

    // ListImages: versions; ListImageBuildVersions: builds with tags.
    s.tag_resource(target, "recipe-share:managed", "true");
    let versions = ib_list_all(
        &url,
        "ListImages",
        "imageVersionList",
        json!({"includeDeprecated": false}),
    );
    assert_eq!(arns(&versions), [image("golden/1.0.0"), image("golden/1.1.0")]);
    assert_eq!(versions[0]["type"], "AMI");
    let amazon = ib_list_all(&url, "ListImages", "imageVersionList", json!({"owner": "Amazon"}));
    assert_eq!(arns(&amazon), [ib("image", "aws", "amazon-linux-2-x86/2024.1.0")]);
    let of_100 = ib_list_all(
        &url,
        "ListImageBuildVersions",
        "imageSummaryList",
        json!({"imageVersionArn": version}),
    );
    assert_eq!(arns(&of_100), [builds[0].as_str(), builds[1].as_str()]);
    assert_eq!(of_100[1]["tags"], json!({"recipe-share:managed": "true"}));
    assert_eq!(of_100[1]["state"]["status"], "AVAILABLE");
    let of_aws = ib_list_all(
        &url,
        "ListImageBuildVersions",
        "imageSummaryList",
        json!({"imageVersionArn": ib("image", "aws", "amazon-linux-2-x86/2024.1.0")}),
    );
    assert_eq!(of_aws.len(), 1);
    let filtered = ib_list_all(
        &url,
        "ListImageBuildVersions",
        "imageSummaryList",
        json!({"filters": [{"name": "version", "values": ["1.1.0"]}]}),
    );
    assert_eq!(arns(&filtered), [builds[2].as_str()]);
    let wildcard = aws(
        &url,
        "POST",
        "/ListImageBuildVersions",
        Some(&json!({"imageVersionArn": image("golden/1.x.x")})),
    );
    assert_eq!(wildcard.error_type(), Some("InvalidRequestException"));

    // GetImage: a build, or a version reference answered with the highest build it selects.
    let get = |arn: &str| {
        aws(
            &url,
            "GET",
            &format!("/GetImage?imageBuildVersionArn={}", enc(arn)),
            None,
        )
    };
    assert_eq!(get(target).json()["image"]["tags"]["recipe-share:managed"], "true");
    assert_eq!(get(&image("golden/1.x.x")).json()["image"]["arn"], builds[2].as_str());
    assert_eq!(get(&image("golden/1.0.0")).json()["image"]["arn"], builds[1].as_str());
    assert_eq!(
        get(&image("golden/2.x.x")).error_type(),
        Some("ResourceNotFoundException")
    );

    // DeleteImage refuses the shared build, deletes the other.
    let delete = |arn: &str| {
        aws(
            &url,
            "DELETE",
            &format!("/DeleteImage?imageBuildVersionArn={}", enc(arn)),
            None,
        )
    };
    assert_eq!(delete(target).error_type(), Some("ResourceDependencyException"));
    let ok = delete(&builds[0]);
    assert_eq!(ok.json()["imageBuildVersionArn"], builds[0].as_str());
    assert_eq!(
        s.delete_resource(&builds[0]).unwrap_err().split(':').next(),
        Some("ResourceNotFoundException")
    );
}

#[test]
fn shared_components_cannot_be_deleted() {
    let s = StandIn::start(fast());
    let url = s.url();
    let c = component("cis/1.2.0/3");
    let (share, _) = share_by_policy(&s, ResourceKind::Component, &c);
    let delete = || {
        aws(
            &url,
            "DELETE",
            &format!("/DeleteComponent?componentBuildVersionArn={}", enc(&c)),
            None,
        )
    };
    let refused = delete();
    assert_eq!(
        (refused.status, refused.error_type()),
        (400, Some("ResourceDependencyException"))
    );
    assert!(refused.json()["message"].as_str().unwrap().contains(&share));
    let err = s.delete_resource(&c).unwrap_err();
    assert!(err.starts_with("ResourceDependencyException: The component"), "{err}");
    // A version ARN is not a build version.
    let version = aws(
        &url,
        "DELETE",
        &format!(
            "/DeleteComponent?componentBuildVersionArn={}",
            enc(&component("cis/1.2.0"))
        ),
        None,
    );
    assert_eq!(version.error_type(), Some("InvalidRequestException"));
    s.delete_share(&share);
    let deleted = delete();
    assert_eq!(deleted.status, 200);
    assert_eq!(deleted.json()["componentBuildVersionArn"], c.as_str());
    let again = delete();
    assert_eq!(
        (again.status, again.error_type()),
        (404, Some("ResourceNotFoundException"))
    );
    assert!(ib_list_all(&url, "ListComponents", "componentVersionList", json!({})).is_empty());
}

#[test]
fn the_permission_quota_is_counted_per_resource_type() {
    let s = StandIn::start(fast());
    let url = s.url();
    let (_, recipe_cfp) = share_by_policy(&s, ResourceKind::ImageRecipe, &recipe("quota"));
    let (_, component_cfp) = share_by_policy(&s, ResourceKind::Component, &component("quota/1.0.0/1"));
    let (recipe_cfp, component_cfp) = (
        recipe_cfp["arn"].as_str().unwrap().to_string(),
        component_cfp["arn"].as_str().unwrap().to_string(),
    );
    for i in 1..=10 {
        assert_eq!(
            promote_permission(&url, &recipe_cfp, &format!("R{i}"), &format!("r{i}")).status,
            200
        );
    }
    assert_eq!(
        promote_permission(&url, &recipe_cfp, "R11", "r11").error_type(),
        Some("InvalidParameterException")
    );
    // Another resource type has a quota of its own.
    for i in 1..=10 {
        let r = promote_permission(&url, &component_cfp, &format!("C{i}"), &format!("c{i}"));
        assert_eq!(r.status, 200, "component permission {i}");
    }
    let refused = promote_permission(&url, &component_cfp, "C11", "c11");
    assert_eq!(refused.error_type(), Some("InvalidParameterException"));
    assert!(
        refused.json()["message"]
            .as_str()
            .unwrap()
            .contains("imagebuilder:Component")
    );
    // Names are unique across types.
    assert_eq!(
        promote_permission(&url, &component_cfp, "R1", "c12").error_type(),
        Some("InvalidParameterException")
    );
    let snap = s.snapshot();
    assert_eq!(snap.customer_permissions(), 20);
    assert_eq!(snap.customer_permissions_for("imagebuilder:ImageRecipe"), 10);
    assert_eq!(snap.customer_permissions_for("imagebuilder:Component"), 10);
    assert_eq!(snap.customer_permissions_for("imagebuilder:Image"), 0);
    let aws_managed = list_all(
        &url,
        "/listpermissions",
        "permissions",
        json!({"permissionType": "AWS_MANAGED"}),
    );
    let names: Vec<&str> = aws_managed.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ResourceKind::ALL.map(ResourceKind::default_permission_name).to_vec()
    );
    assert!(aws_managed.iter().all(|p| p["isResourceTypeDefault"] == true));
}

#[test]
fn tags_in_use_and_share_membership_for_every_kind() {
    let s = StandIn::start(fast());
    let url = s.url();
    let resources = [
        recipe("tagged"),
        container_recipe("tagged/1.0.0"),
        component("tagged/1.0.0/1"),
        image("tagged/1.0.0/1"),
    ];
    for r in &resources {
        s.add_resource(r);
        let path = format!("/tags/{}", enc(r));
        let tagged = aws(
            &url,
            "POST",
            &path,
            Some(&json!({"tags": {"recipe-share:exclude": "yes"}})),
        );
        assert_eq!(tagged.status, 200, "{r}");
        assert_eq!(
            aws(&url, "GET", &path, None).json()["tags"],
            json!({"recipe-share:exclude": "yes"})
        );
        assert_eq!(s.snapshot().tags_of(r).unwrap()["recipe-share:exclude"], "yes");
    }
    let kinds: Vec<ResourceKind> = s.snapshot().resources.iter().map(|r| r.kind).collect();
    assert_eq!(kinds, ResourceKind::ALL);
    assert_eq!(s.snapshot().recipes.len(), 1, "recipes lists image recipes only");

    // A component in a STANDARD share that consumers use cannot be unshared.
    let c = &resources[2];
    let (share, cfp) = share_by_policy(&s, ResourceKind::Component, c);
    assert_eq!(
        promote_permission(&url, cfp["arn"].as_str().unwrap(), "C", "t").status,
        200
    );
    assert_eq!(promote_share(&url, &share).status, 200);
    std::thread::sleep(Duration::from_millis(60));
    s.set_in_use(c, true);
    assert!(s.snapshot().resource(c).unwrap().in_use);
    let unshare = ram(
        &url,
        "/disassociateresourceshare",
        json!({"resourceShareArn": share, "resourceArns": [c]}),
    );
    assert_eq!(unshare.error_type(), Some("OperationNotPermittedException"));
    // The share's permission is for components: a recipe cannot join it, another component can.
    let add = |arn: &str| {
        ram(
            &url,
            "/associateresourceshare",
            json!({"resourceShareArn": share, "resourceArns": [arn]}),
        )
    };
    assert_eq!(add(&resources[0]).error_type(), Some("OperationNotPermittedException"));
    let other = component("other/1.0.0/1");
    s.add_resource(&other);
    assert_eq!(add(&other).status, 200);
    assert!(
        s.snapshot().policy_of(&other).is_some(),
        "RAM writes the joined component's policy"
    );
    s.set_in_use(c, false);
    assert_eq!(unshare_ok(&url, &share, c), 200);
    assert!(s.snapshot().policy_of(c).is_none(), "out of its last share: no policy");
}

fn unshare_ok(url: &str, share: &str, arn: &str) -> u16 {
    ram(
        url,
        "/disassociateresourceshare",
        json!({"resourceShareArn": share, "resourceArns": [arn]}),
    )
    .status
}
