//! The modeled Image Builder → RAM state machine, driven over HTTP the way the Lambda drives it:
//! a policy creates a CREATED_FROM_POLICY share, promotion fails until the permission is
//! promoted, then the share goes PROMOTING_TO_STANDARD → STANDARD; plus the quota, clientToken,
//! visibility delay, association and deletion rules.

use std::time::Duration;

use crate::common::*;
use recipe_share_standin::{Options, StandIn};
use serde_json::{Value, json};

fn fast() -> Options {
    Options {
        promotion_time: Duration::from_millis(30),
        ..Options::default()
    }
}

fn shares(url: &str) -> Vec<Value> {
    list_all(
        url,
        "/getresourceshares",
        "resourceShares",
        json!({"resourceOwner": "SELF"}),
    )
}

fn promote_share(url: &str, share: &str) -> crate::common::Resp {
    aws(
        url,
        "POST",
        &format!("/promoteresourcesharecreatedfrompolicy?resourceShareArn={}", enc(share)),
        None,
    )
}

fn promote_permission(url: &str, perm: &str, name: &str, token: &str) -> crate::common::Resp {
    ram(
        url,
        "/promotepermissioncreatedfrompolicy",
        json!({"permissionArn": perm, "name": name, "clientToken": token}),
    )
}

/// Puts a policy and returns (share ARN, CREATED_FROM_POLICY permission ARN).
fn share_recipe(s: &StandIn, name: &str) -> (String, String, String) {
    let r = recipe(name);
    s.add_recipe(&r);
    assert_eq!(put_policy(&s.url(), &r, &policy(&r, &["111122223333"])).status, 200);
    let rows = list_all(
        &s.url(),
        "/listresources",
        "resources",
        json!({"resourceOwner": "SELF", "resourceArns": [r], "resourceType": "IMAGEBUILDER:imagerecipe"}),
    );
    assert_eq!(rows.len(), 1);
    let share = rows[0]["resourceShareArn"].as_str().unwrap().to_string();
    let perms = list_all(
        &s.url(),
        "/listresourcesharepermissions",
        "permissions",
        json!({"resourceShareArn": share}),
    );
    assert_eq!(perms.len(), 1);
    (r, share, perms[0]["arn"].as_str().unwrap().to_string())
}

#[test]
fn policy_share_promotion_lifecycle() {
    let s = StandIn::start(fast());
    let url = s.url();
    let (r, share, cfp) = share_recipe(&s, "life");

    let listed = shares(&url);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["featureSet"], "CREATED_FROM_POLICY");
    assert_eq!(listed[0]["status"], "ACTIVE");
    assert_eq!(listed[0]["owningAccountId"], ACCOUNT);
    let snap = s.snapshot();
    assert_eq!(snap.shares_of(&r).len(), 1);
    assert_eq!(snap.shares_of(&r)[0].principals, ["111122223333"]);
    assert_eq!(snap.permission(&cfp).unwrap().feature_set, "CREATED_FROM_POLICY");
    assert_eq!(snap.customer_permissions(), 0);
    let perm = &list_all(
        &url,
        "/listresourcesharepermissions",
        "permissions",
        json!({"resourceShareArn": share}),
    )[0];
    assert_eq!(perm["featureSet"], "CREATED_FROM_POLICY");
    assert_eq!(perm["resourceType"], "imagebuilder:ImageRecipe");

    // Delete and associate are refused before promotion.
    let del = aws(
        &url,
        "DELETE",
        &format!("/deleteresourceshare?resourceShareArn={}", enc(&share)),
        None,
    );
    assert_eq!(del.error_type(), Some("OperationNotPermittedException"));

    // No managed permission matches yet.
    let unmatched = promote_share(&url, &share);
    assert_eq!(
        (unmatched.status, unmatched.error_type()),
        (400, Some("UnmatchedPolicyPermissionException"))
    );

    let promoted = promote_permission(&url, &cfp, "OrgRecipeRead", "tok-1");
    assert_eq!(promoted.status, 200, "{:?}", String::from_utf8_lossy(&promoted.body));
    let pj = promoted.json();
    let managed = pj["permission"]["arn"].as_str().unwrap().to_string();
    assert_eq!(
        managed,
        format!("arn:aws:ram:us-east-1:{ACCOUNT}:permission/OrgRecipeRead")
    );
    assert_eq!(pj["permission"]["permissionType"], "CUSTOMER_MANAGED");
    assert_eq!(pj["permission"]["featureSet"], "STANDARD");
    assert_eq!(pj["clientToken"], "tok-1");
    // Same token, same parameters: same answer, nothing new.
    assert_eq!(promote_permission(&url, &cfp, "OrgRecipeRead", "tok-1").json(), pj);
    assert_eq!(s.snapshot().customer_permissions(), 1);
    // Same token, other parameters.
    let mismatch = promote_permission(&url, &cfp, "Other", "tok-1");
    assert_eq!(mismatch.error_type(), Some("IdempotentParameterMismatchException"));
    // Name already taken.
    let clash = promote_permission(&url, &cfp, "OrgRecipeRead", "tok-2");
    assert_eq!(clash.error_type(), Some("InvalidParameterException"));
    let listed = list_all(
        &url,
        "/listpermissions",
        "permissions",
        json!({"permissionType": "CUSTOMER_MANAGED"}),
    );
    assert_eq!(listed.len(), 1);

    let ok = promote_share(&url, &share);
    assert_eq!(ok.status, 200);
    assert_eq!(ok.json(), json!({"returnValue": true}));
    assert_eq!(shares(&url)[0]["featureSet"], "PROMOTING_TO_STANDARD");
    let again = promote_share(&url, &share);
    assert_eq!(again.error_type(), Some("InvalidStateTransitionException"));

    std::thread::sleep(Duration::from_millis(60));
    assert_eq!(shares(&url)[0]["featureSet"], "STANDARD");
    let snap = s.snapshot();
    assert_eq!(snap.share(&share).unwrap().permission_arn, managed);
    assert!(
        snap.permission(&cfp).is_none(),
        "unused CREATED_FROM_POLICY permission deleted"
    );
    // The promoted permission's token still replays after its source is gone.
    assert_eq!(promote_permission(&url, &cfp, "OrgRecipeRead", "tok-1").json(), pj);
    let gone = promote_permission(&url, &cfp, "OrgRecipeRead2", "tok-3");
    assert_eq!(gone.error_type(), Some("UnknownResourceException"));

    // A second recipe with the same actions now matches the managed permission directly.
    let (_, share2, perm2) = share_recipe(&s, "second");
    assert_eq!(perm2, managed);
    assert_eq!(promote_share(&url, &share2).status, 200);
    assert_eq!(s.snapshot().customer_permissions(), 1);

    // Once a STANDARD share holds the recipe, RAM writes its policy: accounts as root ARNs.
    let written: Value = serde_json::from_str(get_policy(&url, &r).json()["policy"].as_str().unwrap()).unwrap();
    assert_eq!(
        written["Statement"][0]["Principal"],
        json!({"AWS": ["arn:aws:iam::111122223333:root"]})
    );
    assert_eq!(written["Statement"][0]["Resource"], r.as_str());
    // A policy written on such a recipe is modeled pessimistically: a second share beside the first.
    let p2 = policy(&r, &["arn:aws:iam::444455556666:root", "111122223333"]);
    assert_eq!(put_policy(&url, &r, &p2).status, 200);
    let snap = s.snapshot();
    assert_eq!(snap.shares_of(&r).len(), 2);
    assert_eq!(
        snap.share(&share).unwrap().principals,
        ["111122223333"],
        "the STANDARD share is untouched"
    );
    assert_eq!(get_policy(&url, &r).json()["policy"], p2.as_str());
}

#[test]
fn a_policy_on_a_recipe_still_created_from_policy_updates_that_share() {
    let s = StandIn::start(fast());
    let url = s.url();
    let (r, share, _) = share_recipe(&s, "reput");
    let p2 = policy(&r, &["arn:aws:iam::444455556666:root", "111122223333"]);
    assert_eq!(put_policy(&url, &r, &p2).status, 200);
    let snap = s.snapshot();
    assert_eq!(snap.shares_of(&r).len(), 1);
    assert_eq!(snap.share(&share).unwrap().principals, ["111122223333", "444455556666"]);
}

#[test]
fn shares_are_tagged_only_once_promoted_and_filtered_by_tag() {
    let s = StandIn::start(Options {
        promotion_time: Duration::from_millis(200),
        ..Options::default()
    });
    let url = s.url();
    let (_, share, cfp) = share_recipe(&s, "tagged");
    let tag = |share: &str| {
        ram(
            &url,
            "/tagresource",
            json!({"resourceShareArn": share, "tags": [{"key": "recipe-share:managed", "value": "true"}]}),
        )
    };
    assert_eq!(
        tag(&share).error_type(),
        Some("InvalidParameterException"),
        "not while CREATED_FROM_POLICY"
    );
    assert_eq!(promote_permission(&url, &cfp, "Std", "t").status, 200);
    assert_eq!(promote_share(&url, &share).status, 200);
    assert_eq!(
        tag(&share).error_type(),
        Some("InvalidParameterException"),
        "not while PROMOTING_TO_STANDARD"
    );
    std::thread::sleep(Duration::from_millis(250));
    assert_eq!(tag(&share).status, 200);
    let filtered = |key: &str, values: Value| {
        list_all(
            &url,
            "/getresourceshares",
            "resourceShares",
            json!({"resourceOwner": "SELF", "tagFilters": [{"tagKey": key, "tagValues": values}]}),
        )
    };
    let hit = filtered("recipe-share:managed", json!(["true"]));
    assert_eq!(hit.len(), 1);
    assert_eq!(
        hit[0]["tags"],
        json!([{"key": "recipe-share:managed", "value": "true"}])
    );
    assert_eq!(
        filtered("recipe-share:managed", json!([])).len(),
        1,
        "no values: any value"
    );
    assert!(filtered("recipe-share:managed", json!(["false"])).is_empty());
    assert!(filtered("other", json!([])).is_empty());
}

#[test]
fn organizations_are_written_by_ram_as_a_condition() {
    let s = StandIn::start(fast());
    let url = s.url();
    let (r, share, cfp) = share_recipe(&s, "org");
    assert_eq!(promote_permission(&url, &cfp, "Std", "t").status, 200);
    assert_eq!(promote_share(&url, &share).status, 200);
    std::thread::sleep(Duration::from_millis(60));
    let org = "arn:aws:organizations::111122223333:organization/o-abcdefghij";
    let assoc = ram(
        &url,
        "/associateresourceshare",
        json!({"resourceShareArn": share, "principals": [org]}),
    );
    assert_eq!(assoc.status, 200);
    let written: Value = serde_json::from_str(get_policy(&url, &r).json()["policy"].as_str().unwrap()).unwrap();
    let org_statement = written["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|st| st["Principal"] == "*")
        .expect("an org statement");
    assert_eq!(
        org_statement["Condition"],
        json!({"StringEquals": {"aws:PrincipalOrgID": "o-abcdefghij"}})
    );
}

#[test]
fn shared_recipes_cannot_be_deleted_and_consumers_can_block_unsharing() {
    let s = StandIn::start(fast());
    let url = s.url();
    let (r, share, cfp) = share_recipe(&s, "deleted");
    let delete_recipe = || {
        aws(
            &url,
            "DELETE",
            &format!("/DeleteImageRecipe?imageRecipeArn={}", enc(&r)),
            None,
        )
    };
    assert_eq!(delete_recipe().error_type(), Some("ResourceDependencyException"));
    assert_eq!(promote_permission(&url, &cfp, "Std", "t").status, 200);
    assert_eq!(promote_share(&url, &share).status, 200);
    std::thread::sleep(Duration::from_millis(60));
    s.set_in_use(&r, true);
    let del = aws(
        &url,
        "DELETE",
        &format!("/deleteresourceshare?resourceShareArn={}", enc(&share)),
        None,
    );
    assert_eq!(del.error_type(), Some("OperationNotPermittedException"));
    assert!(del.json()["message"].as_str().unwrap().contains("in use"));
    s.set_in_use(&r, false);
    let del = aws(
        &url,
        "DELETE",
        &format!("/deleteresourceshare?resourceShareArn={}", enc(&share)),
        None,
    );
    assert_eq!(del.status, 200);
    assert_eq!(delete_recipe().status, 200);
    assert_eq!(delete_recipe().error_type(), Some("ResourceNotFoundException"));
}

#[test]
fn image_builder_tags_a_recipe_by_its_arn_in_the_path() {
    let s = StandIn::start(fast());
    let url = s.url();
    let r = recipe("tags");
    s.add_recipe(&r);
    let path = format!("/tags/{}", enc(&r));
    let tagged = aws(
        &url,
        "POST",
        &path,
        Some(&json!({"tags": {"recipe-share:exclude": "deletion-requested"}})),
    );
    assert_eq!(tagged.status, 200, "{:?}", String::from_utf8_lossy(&tagged.body));
    assert_eq!(
        aws(&url, "GET", &path, None).json()["tags"],
        json!({"recipe-share:exclude": "deletion-requested"})
    );
    let got = aws(
        &url,
        "GET",
        &format!("/GetImageRecipe?imageRecipeArn={}", enc(&r)),
        None,
    );
    assert_eq!(
        got.json()["imageRecipe"]["tags"]["recipe-share:exclude"],
        "deletion-requested"
    );
    let missing = aws(
        &url,
        "POST",
        &format!("/tags/{}", enc(&recipe("nope"))),
        Some(&json!({"tags": {"a": "b"}})),
    );
    assert_eq!(missing.error_type(), Some("ResourceNotFoundException"));
}

#[test]
fn eleventh_customer_permission_is_refused() {
    let s = StandIn::start(fast());
    let (_, _, cfp) = share_recipe(&s, "quota");
    for i in 1..=10 {
        let r = promote_permission(&s.url(), &cfp, &format!("Perm{i}"), &format!("t{i}"));
        assert_eq!(r.status, 200, "permission {i}");
    }
    let refused = promote_permission(&s.url(), &cfp, "Perm11", "t11");
    assert_eq!(
        (refused.status, refused.error_type()),
        (400, Some("InvalidParameterException"))
    );
    assert!(refused.json()["message"].as_str().unwrap().contains("limit"));
    assert_eq!(s.snapshot().customer_permissions(), 10);
    // Replays of earlier tokens still work at the quota.
    assert_eq!(promote_permission(&s.url(), &cfp, "Perm3", "t3").status, 200);
    let not_cfp = promote_permission(
        &s.url(),
        &format!("arn:aws:ram:us-east-1:{ACCOUNT}:permission/Perm1"),
        "X",
        "t12",
    );
    assert_eq!(not_cfp.error_type(), Some("OperationNotPermittedException"));
    let malformed = promote_permission(&s.url(), "not-an-arn", "X", "t13");
    assert_eq!(malformed.error_type(), Some("MalformedArnException"));
}

#[test]
fn shares_appear_only_after_the_visibility_delay() {
    let s = StandIn::start(Options {
        share_visible_after: Duration::from_millis(400),
        ..fast()
    });
    let r = recipe("late");
    s.add_recipe(&r);
    assert_eq!(put_policy(&s.url(), &r, &policy(&r, &["111122223333"])).status, 200);
    let body = json!({"resourceOwner": "SELF", "resourceArns": [r]});
    assert!(list_all(&s.url(), "/listresources", "resources", body.clone()).is_empty());
    assert!(shares(&s.url()).is_empty());
    let share = s.snapshot().shares_of(&r)[0].arn.clone();
    assert_eq!(
        promote_share(&s.url(), &share).error_type(),
        Some("UnknownResourceException")
    );
    std::thread::sleep(Duration::from_millis(420));
    assert_eq!(list_all(&s.url(), "/listresources", "resources", body).len(), 1);
}

#[test]
fn aws_managed_permission_can_match_when_enabled() {
    let s = StandIn::start(Options {
        aws_managed_permission_matches: true,
        ..fast()
    });
    let (_, share, perm) = share_recipe(&s, "default");
    assert_eq!(
        perm,
        "arn:aws:ram::aws:permission/AWSRAMDefaultPermissionImageBuilderImageRecipe"
    );
    assert_eq!(promote_share(&s.url(), &share).status, 200);
    assert_eq!(s.snapshot().customer_permissions(), 0);
}

#[test]
fn invalid_policies_are_rejected() {
    let s = StandIn::start(fast());
    let r = recipe("strict");
    s.add_recipe(&r);
    for p in [
        policy(&r, &["*"]),
        policy(&r, &["arn:aws:iam::111122223333:role/x"]),
        policy(&recipe("other"), &["111122223333"]),
        "not json".to_string(),
    ] {
        let resp = put_policy(&s.url(), &r, &p);
        assert_eq!(
            (resp.status, resp.error_type()),
            (400, Some("InvalidParameterValueException")),
            "{p}"
        );
    }
    let missing = put_policy(&s.url(), &recipe("nope"), &policy(&recipe("nope"), &["111122223333"]));
    assert_eq!(
        (missing.status, missing.error_type()),
        (404, Some("ResourceNotFoundException"))
    );
    assert!(s.snapshot().shares.is_empty());
}

#[test]
fn associations_org_sharing_and_delete() {
    let s = StandIn::start(Options {
        org_sharing_enabled: false,
        ..fast()
    });
    let url = s.url();
    let (r, share, cfp) = share_recipe(&s, "assoc");
    let assoc = json!({"resourceShareArn": share, "principals": ["222233334444"], "clientToken": "a1"});
    assert_eq!(
        ram(&url, "/associateresourceshare", assoc.clone()).error_type(),
        Some("OperationNotPermittedException"),
        "CREATED_FROM_POLICY shares cannot be modified"
    );
    assert_eq!(promote_permission(&url, &cfp, "P", "t").status, 200);
    assert_eq!(promote_share(&url, &share).status, 200);
    std::thread::sleep(Duration::from_millis(50));

    let org = "arn:aws:organizations::999988887777:organization/o-abcdefghij";
    let refused = ram(
        &url,
        "/associateresourceshare",
        json!({"resourceShareArn": share, "principals": [org]}),
    );
    assert_eq!(refused.error_type(), Some("OperationNotPermittedException"));
    let added = ram(&url, "/associateresourceshare", assoc.clone());
    assert_eq!(added.status, 200);
    assert_eq!(added.json()["clientToken"], "a1");
    assert_eq!(
        added.json()["resourceShareAssociations"][0]["associatedEntity"],
        "222233334444"
    );
    assert_eq!(ram(&url, "/associateresourceshare", assoc).json(), added.json());
    let principals = list_all(
        &url,
        "/getresourceshareassociations",
        "resourceShareAssociations",
        json!({"associationType": "PRINCIPAL", "resourceShareArns": [share]}),
    );
    let entities: Vec<&str> = principals
        .iter()
        .map(|p| p["associatedEntity"].as_str().unwrap())
        .collect();
    assert_eq!(entities, ["111122223333", "222233334444"]);
    assert!(
        principals
            .iter()
            .all(|p| p["status"] == "ASSOCIATED" && p["external"] == false)
    );
    let removed = ram(
        &url,
        "/disassociateresourceshare",
        json!({"resourceShareArn": share, "principals": ["111122223333"]}),
    );
    assert_eq!(removed.status, 200);
    assert_eq!(s.snapshot().share(&share).unwrap().principals, ["222233334444"]);

    let del_target = format!("/deleteresourceshare?resourceShareArn={}&clientToken=d1", enc(&share));
    let del = aws(&url, "DELETE", &del_target, None);
    assert_eq!(del.status, 200);
    assert_eq!(del.json(), json!({"returnValue": true, "clientToken": "d1"}));
    assert_eq!(
        aws(&url, "DELETE", &del_target, None).status,
        200,
        "deleting twice succeeds"
    );
    let listed = shares(&url);
    assert_eq!(listed[0]["status"], "DELETED");
    assert!(s.snapshot().shares_of(&r).is_empty());
    assert_eq!(get_policy(&url, &r).error_type(), Some("ResourceNotFoundException"));
    assert!(list_all(&url, "/listresources", "resources", json!({"resourceOwner": "SELF"})).is_empty());
    let unknown = aws(
        &url,
        "DELETE",
        &format!(
            "/deleteresourceshare?resourceShareArn={}",
            enc(&format!("arn:aws:ram:us-east-1:{ACCOUNT}:resource-share/nope"))
        ),
        None,
    );
    assert_eq!(unknown.error_type(), Some("UnknownResourceException"));
    // A new policy after deletion makes a new share.
    assert_eq!(put_policy(&url, &r, &policy(&r, &["111122223333"])).status, 200);
    assert_eq!(s.snapshot().shares_of(&r).len(), 1);
    assert_ne!(s.snapshot().shares_of(&r)[0].arn, share);
}

#[test]
fn a_recipe_added_to_a_standard_share_gets_rams_policy() {
    let s = StandIn::start(fast());
    let url = s.url();
    let (_, share, cfp) = share_recipe(&s, "holder");
    assert_eq!(promote_permission(&url, &cfp, "Std", "t").status, 200);
    assert_eq!(promote_share(&url, &share).status, 200);
    std::thread::sleep(Duration::from_millis(60));
    let joined = recipe("joined");
    s.add_recipe(&joined);
    let added = ram(
        &url,
        "/associateresourceshare",
        json!({"resourceShareArn": share, "resourceArns": [joined]}),
    );
    assert_eq!(added.status, 200);
    let written: Value = serde_json::from_str(get_policy(&url, &joined).json()["policy"].as_str().unwrap()).unwrap();
    assert_eq!(written["Statement"][0]["Resource"], joined.as_str());
    assert_eq!(
        written["Statement"][0]["Principal"],
        json!({"AWS": ["arn:aws:iam::111122223333:root"]})
    );
}
