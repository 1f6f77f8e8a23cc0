//! What the reconcile sweep needs from the stand-in: ListImageRecipes with its pagination, the
//! per-operation token-bucket rate limit, fixture helpers that create drift, and a scale guard
//! (10,000 recipes and shares, indexed look-ups, recording switched off).

use std::time::{Duration, Instant};

use crate::common::*;
use recipe_share_standin::{Options, RateLimit, StandIn};
use serde_json::{Value, json};

fn list_recipes(url: &str, body: Value) -> Resp {
    aws(url, "POST", "/ListImageRecipes", Some(&body))
}

fn arns(rows: &[Value]) -> Vec<String> {
    rows.iter().map(|r| r["arn"].as_str().unwrap().to_string()).collect()
}

#[test]
fn list_image_recipes_pages_with_empty_pages_filters_and_bad_tokens() {
    let s = StandIn::start(Options {
        empty_pages: true,
        page_size: 3,
        ..Options::default()
    });
    let recipes: Vec<String> = (0..7).map(|i| recipe(&format!("sweep-{i}"))).collect();
    s.add_recipes(recipes.clone());
    // Already present: skipped, order kept.
    s.add_recipes([recipes[0].clone()]);
    let url = s.url();

    let first = list_recipes(&url, json!({"owner": "Self", "maxResults": 25}));
    assert_eq!(first.status, 200);
    let first = first.json();
    assert_eq!(first["imageRecipeSummaryList"], json!([]));
    assert!(first["nextToken"].is_string());
    assert!(first["requestId"].as_str().is_some_and(|r| r.len() == 36));

    let all = list_all(
        &url,
        "/ListImageRecipes",
        "imageRecipeSummaryList",
        json!({"owner": "Self", "maxResults": 2}),
    );
    assert_eq!(arns(&all), recipes);
    let one = &all[3];
    assert_eq!(one["name"], "sweep-3");
    assert_eq!(one["owner"], ACCOUNT);
    assert_eq!(one["platform"], "Linux");
    assert_eq!(
        one["parentImage"],
        "arn:aws:imagebuilder:us-east-1:aws:image/amazon-linux-2-x86/x.x.x"
    );
    assert!(one["dateCreated"].as_str().is_some_and(|d| d.ends_with('Z')));
    assert_eq!(one["tags"], json!({}));
    // 1 probe + 1 empty page + 4 pages of 2.
    assert_eq!(s.call_count("ListImageRecipes"), 6);

    // maxResults above page_size is capped; owner defaults to Self.
    let capped = list_recipes(&url, json!({"maxResults": 25, "nextToken": first["nextToken"].clone()})).json();
    assert_eq!(capped["imageRecipeSummaryList"].as_array().unwrap().len(), 3);
    // The model's bounds: 1-25.
    for bad in [json!(0), json!(26), json!("5")] {
        let r = list_recipes(&url, json!({"owner": "Self", "maxResults": bad}));
        assert_eq!(
            (r.status, r.error_type()),
            (400, Some("InvalidRequestException")),
            "{bad}"
        );
    }
    // Bad tokens, including one of another operation.
    let ram_token = ram(&url, "/listresources", json!({"resourceOwner": "SELF"})).json()["nextToken"].clone();
    assert!(ram_token.is_string());
    for token in [json!("garbage"), ram_token] {
        let r = list_recipes(&url, json!({"owner": "Self", "nextToken": token}));
        assert_eq!(
            (r.status, r.error_type()),
            (400, Some("InvalidPaginationTokenException"))
        );
    }
    // Other owners list nothing; an unknown owner is invalid.
    let shared = list_all(
        &url,
        "/ListImageRecipes",
        "imageRecipeSummaryList",
        json!({"owner": "Shared"}),
    );
    assert!(shared.is_empty());
    let r = list_recipes(&url, json!({"owner": "self"}));
    assert_eq!(r.error_type(), Some("InvalidRequestException"));

    // Filters: exact, case-sensitive names, values OR-ed, filters AND-ed.
    let by_name = list_all(
        &url,
        "/ListImageRecipes",
        "imageRecipeSummaryList",
        json!({"owner": "Self", "filters": [
            {"name": "name", "values": ["sweep-1", "sweep-5", "nope"]},
            {"name": "platform", "values": ["Linux"]},
        ]}),
    );
    assert_eq!(arns(&by_name), vec![recipes[1].clone(), recipes[5].clone()]);
    let windows = list_all(
        &url,
        "/ListImageRecipes",
        "imageRecipeSummaryList",
        json!({"filters": [{"name": "platform", "values": ["Windows"]}]}),
    );
    assert!(windows.is_empty());
    for bad in [
        json!([]),
        json!([{"name": "Name", "values": ["sweep-1"]}]),
        json!([{"name": "name", "values": []}]),
        json!([{"name": "name", "values": ["bad*value"]}]),
        json!([{"name": "name"}]),
    ] {
        let r = list_recipes(&url, json!({"filters": bad}));
        assert_eq!(
            (r.status, r.error_type()),
            (400, Some("InvalidRequestException")),
            "{bad}"
        );
    }

    // A removed recipe disappears and the rest keep their order.
    s.remove_recipe(&recipes[2]);
    let after = list_all(
        &url,
        "/ListImageRecipes",
        "imageRecipeSummaryList",
        json!({"maxResults": 25}),
    );
    let mut expected = recipes.clone();
    expected.remove(2);
    assert_eq!(arns(&after), expected);

    // Unsigned: Image Builder's 403.
    let mut c = Client::connect(&url);
    let unsigned = c.request("POST", "/ListImageRecipes", &[], b"{}");
    assert_eq!(
        (unsigned.status, unsigned.error_type()),
        (403, Some("ForbiddenException"))
    );
}

/// Sends `GET /GetImageRecipe` or `POST /listpermissions` on a kept-alive connection.
fn status(c: &mut Client, method: &str, target: &str, body: &[u8]) -> (u16, Option<String>) {
    let r = c.request(method, target, &[("Authorization", AUTH)], body);
    (r.status, r.error_type().map(str::to_string))
}

#[test]
fn token_bucket_per_operation() {
    let s = StandIn::start(Options {
        rate_limit: Some(RateLimit {
            per_second: 50.0,
            burst: 5,
        }),
        ..Options::default()
    });
    let mut c = Client::connect(&s.url());
    let list = |c: &mut Client| status(c, "POST", "/listpermissions", b"{}");

    // A burst of 100: the 5 tokens, plus what refilled meanwhile.
    let t0 = Instant::now();
    let mut ok = 0;
    for _ in 0..100 {
        match list(&mut c) {
            (200, None) => ok += 1,
            (429, Some(code)) => assert_eq!(code, "ThrottlingException"),
            other => panic!("unexpected {other:?}"),
        }
    }
    let refill = (t0.elapsed().as_secs_f64() * 50.0).ceil() as usize;
    assert!((5..=5 + refill).contains(&ok), "{ok} admitted, refill {refill}");
    assert_eq!(s.throttled("ListPermissions"), 100 - ok);
    // Throttled calls are recorded and counted like every call.
    assert_eq!(s.call_count("ListPermissions"), 100);
    assert_eq!(s.calls().len(), 100);

    // Calling continuously for ~200 ms admits ~per_second × elapsed (the bucket is empty, or
    // nearly, at the start).
    let t1 = Instant::now();
    let mut ok2 = 0;
    while t1.elapsed() < Duration::from_millis(200) {
        if list(&mut c).0 == 200 {
            ok2 += 1;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let expected = t1.elapsed().as_secs_f64() * 50.0;
    assert!(
        (ok2 as f64 - expected).abs() <= 3.0,
        "{ok2} admitted in {:?}, expected ~{expected:.1}",
        t1.elapsed()
    );

    // Another operation has its own, full, bucket; Image Builder's code is its own.
    let r = recipe("limited");
    s.add_recipe(&r);
    let get = format!("/GetImageRecipe?imageRecipeArn={}", enc(&r));
    let answers: Vec<(u16, Option<String>)> = (0..6).map(|_| status(&mut c, "GET", &get, b"")).collect();
    assert!(answers[..5].iter().all(|a| a.0 == 200), "{answers:?}");
    assert_eq!(answers[5], (429, Some("CallRateLimitExceededException".to_string())));
    assert_eq!(s.throttled("GetImageRecipe"), 1);

    // A throttled call changes no state.
    let p1 = policy(&r, &["111122223333"]);
    let p2 = policy(&r, &["444455556666"]);
    let put = |p: &str| json!({"imageRecipeArn": r, "policy": p}).to_string();
    let puts: Vec<u16> = (0..6)
        .map(|i| {
            status(
                &mut c,
                "PUT",
                "/PutImageRecipePolicy",
                put(if i < 5 { &p1 } else { &p2 }).as_bytes(),
            )
            .0
        })
        .collect();
    assert_eq!(puts, vec![200, 200, 200, 200, 200, 429]);
    assert_eq!(s.snapshot().policy_of(&r), Some(p1.as_str()));
    assert_eq!(s.snapshot().shares.len(), 1);

    assert_eq!(
        s.throttled_total(),
        s.throttled("ListPermissions") + s.throttled("GetImageRecipe") + s.throttled("PutImageRecipePolicy")
    );
    assert_eq!(s.throttled("ListResources"), 0);

    // The CloudFormation response URL is never limited.
    let target = s.response_url("stack/req").trim_start_matches(&s.url()).to_string();
    for _ in 0..10 {
        assert_eq!(c.request("PUT", &target, &[], b"{}").status, 200);
    }
    assert_eq!(s.throttled("CfnResponse"), 0);
}

#[test]
fn drift_fixtures() {
    let s = StandIn::start(Options {
        aws_managed_permission_matches: true,
        promotion_time: Duration::from_millis(10),
        ..Options::default()
    });
    let url = s.url();

    // Policy present but no share.
    let lonely = recipe("lonely");
    s.put_policy_only(&lonely, "not even JSON");
    assert_eq!(get_policy(&url, &lonely).json()["policy"], "not even JSON");
    let snap = s.snapshot();
    assert!(snap.shares.is_empty() && snap.recipes.len() == 1);
    let rows = list_all(
        &url,
        "/listresources",
        "resources",
        json!({"resourceOwner": "SELF", "resourceArns": [lonely]}),
    );
    assert!(rows.is_empty());

    // A STANDARD share, then a new policy written by hand: RAM's share is untouched and a second,
    // CREATED_FROM_POLICY share holds the recipe beside it (the pessimistic reading).
    let r = recipe("promoted");
    s.set_policy(&r, &policy(&r, &["111122223333"]));
    let share = s.snapshot().shares_of(&r)[0].arn.clone();
    let promoted = aws(
        &url,
        "POST",
        &format!(
            "/promoteresourcesharecreatedfrompolicy?resourceShareArn={}",
            enc(&share)
        ),
        None,
    );
    assert_eq!(promoted.status, 200, "{:?}", String::from_utf8_lossy(&promoted.body));
    std::thread::sleep(Duration::from_millis(30));
    let before = s.snapshot().share(&share).unwrap().clone();
    assert_eq!(before.feature_set, "STANDARD");
    let p2 = policy(&r, &["444455556666", "777788889999"]);
    s.set_policy(&r, &p2);
    let snap = s.snapshot();
    assert_eq!(snap.shares_of(&r).len(), 2);
    let after = snap.share(&share).unwrap();
    assert_eq!(after.feature_set, "STANDARD");
    assert_eq!(after.permission_arn, before.permission_arn);
    assert_eq!(after.principals, before.principals);
    let stray = snap.shares_of(&r).into_iter().find(|x| x.arn != share).unwrap().clone();
    assert_eq!(stray.feature_set, "CREATED_FROM_POLICY");
    assert_eq!(stray.principals, vec!["444455556666", "777788889999"]);
    assert_eq!(snap.policy_of(&r), Some(p2.as_str()));

    // Share deleted as DeleteResourceShare would: the stray still holds the recipe and its policy.
    s.delete_share(&share);
    let snap = s.snapshot();
    assert_eq!(snap.share(&share).unwrap().status, "DELETED");
    assert_eq!(snap.shares_of(&r).len(), 1);
    assert_eq!(snap.policy_of(&r), Some(p2.as_str()));
    s.delete_share(&stray.arn);
    let snap = s.snapshot();
    assert!(snap.shares_of(&r).is_empty());
    assert_eq!(snap.policy_of(&r), None, "no share holds it: the policy goes");
    let rows = list_all(
        &url,
        "/listresources",
        "resources",
        json!({"resourceOwner": "SELF", "resourceArns": [r]}),
    );
    assert!(rows.is_empty());
    let listed = list_all(
        &url,
        "/getresourceshares",
        "resourceShares",
        json!({"resourceOwner": "SELF", "resourceShareArns": [share]}),
    );
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["status"], "DELETED");
    // Again: no-op.
    s.delete_share(&share);

    // Also a CREATED_FROM_POLICY share, which the API would refuse to delete.
    let c = recipe("fresh");
    s.set_policy(&c, &policy(&c, &["111122223333"]));
    let cfp = s.snapshot().shares_of(&c)[0].arn.clone();
    s.delete_share(&cfp);
    assert!(s.snapshot().shares_of(&c).is_empty());
    assert_eq!(s.snapshot().policy_of(&c), None);
    // A new policy afterwards makes a new share.
    s.set_policy(&c, &policy(&c, &["111122223333"]));
    let again = s.snapshot().shares_of(&c)[0].arn.clone();
    assert_ne!(again, cfp);

    let unknown = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        s.delete_share("arn:aws:ram:us-east-1:123456789012:resource-share/nope")
    }));
    assert!(unknown.is_err());
    // The stand-in still works after the panic.
    assert_eq!(get_policy(&url, &c).status, 200);
}

#[test]
fn ten_thousand_recipes_and_shares_stay_cheap() {
    const N: usize = 10_000;
    let s = StandIn::start(Options::default());
    let recipes: Vec<String> = (0..N).map(|i| recipe(&format!("scale-{i}"))).collect();
    let t = Instant::now();
    s.add_recipes(recipes.clone());
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "add_recipes took {:?}",
        t.elapsed()
    );
    for r in &recipes {
        s.set_policy(r, &policy(r, &["111122223333"]));
    }
    assert_eq!(s.snapshot().shares.len(), N);

    s.set_recording(false);
    let url = s.url();
    let mut c = Client::connect(&url);
    let t = Instant::now();
    for i in 0..1_000 {
        let r = &recipes[(i * 7919) % N];
        let body = json!({"resourceOwner": "SELF", "resourceArns": [r]}).to_string();
        let resp = c.request("POST", "/listresources", &[("Authorization", AUTH)], body.as_bytes());
        assert_eq!(resp.status, 200);
        let rows = resp.json()["resources"].as_array().unwrap().clone();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0]["arn"], r.as_str());
    }
    let took = t.elapsed();
    assert!(took < Duration::from_secs(2), "1,000 ListResources took {took:?}");
    assert_eq!(s.call_count("ListResources"), 1_000);
    assert!(s.calls().is_empty(), "recording was off");

    // Look-ups by share ARN and by resource ARN are indexed too.
    let share = s.snapshot().shares_of(&recipes[1234])[0].arn.clone();
    let t = Instant::now();
    for _ in 0..200 {
        let body = json!({"resourceOwner": "SELF", "resourceShareArns": [share]}).to_string();
        let resp = c.request(
            "POST",
            "/getresourceshares",
            &[("Authorization", AUTH)],
            body.as_bytes(),
        );
        assert_eq!(resp.json()["resourceShares"].as_array().unwrap().len(), 1);
        let body = json!({"associationType": "RESOURCE", "resourceArn": recipes[1234]}).to_string();
        let resp = c.request(
            "POST",
            "/getresourceshareassociations",
            &[("Authorization", AUTH)],
            body.as_bytes(),
        );
        assert_eq!(resp.json()["resourceShareAssociations"].as_array().unwrap().len(), 1);
        let resp = c.request(
            "GET",
            &format!("/GetImageRecipePolicy?imageRecipeArn={}", enc(&recipes[1234])),
            &[("Authorization", AUTH)],
            b"",
        );
        assert_eq!(resp.status, 200);
    }
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "600 look-ups took {:?}",
        t.elapsed()
    );

    // The sweep itself: every recipe, 25 per page.
    let t = Instant::now();
    let mut seen = 0;
    let mut body = json!({"owner": "Self", "maxResults": 25});
    for _ in 0..N {
        let resp = c.request(
            "POST",
            "/ListImageRecipes",
            &[("Authorization", AUTH)],
            body.to_string().as_bytes(),
        );
        let page = resp.json();
        seen += page["imageRecipeSummaryList"].as_array().unwrap().len();
        match page.get("nextToken") {
            Some(token) => body["nextToken"] = token.clone(),
            None => break,
        }
    }
    assert_eq!(seen, N);
    assert!(t.elapsed() < Duration::from_secs(3), "sweep took {:?}", t.elapsed());

    // Recording back on stores calls again.
    s.set_recording(true);
    assert_eq!(list_recipes(&url, json!({"maxResults": 1})).status, 200);
    assert_eq!(s.calls().len(), 1);
    assert_eq!(s.call_count("ListImageRecipes"), N / 25 + 1);
}
