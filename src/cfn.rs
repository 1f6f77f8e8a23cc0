//! The CloudFormation custom-resource protocol: reading a request leniently, deciding what it asks
//! for and which PhysicalResourceId each outcome answers with (pure), building the ≤4096-byte
//! response (pure), and delivering it with a PUT that is retried inside the deadline (shell).

use crate::arn::{Location, ResourceArn};
use crate::deadline::{Deadline, backoff, pause};
use crate::error::Error;
use crate::http::Http;
use crate::kind::Kind;
use crate::response_url::ResponseUrl;
use aws_lambda_events::cloudformation::CloudFormationCustomResourceRequest;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;
use tracing::{info, warn};

/// CloudFormation rejects a response body over this many bytes.
pub const MAX_BODY: usize = 4096;
/// Prefix of the ID answered for a failed Create that changed nothing: its Delete is a no-op.
pub const NOTHING_SHARED: &str = "recipe-share:nothing-shared:";
/// Prefix of the ID answered for a failed Create that had changed the recipe: its Delete undoes it.
pub const ROLLBACK: &str = "recipe-share:rollback:";

/// The fields every response copies from the request, read leniently so that even a malformed
/// request can be answered. The `ResponseURL` is kept apart: it is a credential.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Echo {
    pub stack_id: String,
    pub request_id: String,
    pub logical_resource_id: String,
}

/// True when the event looks like a custom-resource request (it has `RequestType` or `ResponseURL`).
pub fn is_request(event: &Value) -> bool {
    event.get("RequestType").is_some() || event.get("ResponseURL").is_some()
}

/// The raw `ResponseURL`, if the event carries one as a string.
pub fn raw_response_url(event: &Value) -> Option<&str> {
    event.get("ResponseURL").and_then(Value::as_str)
}

/// The echo fields, empty where missing.
pub fn echo(event: &Value) -> Echo {
    let field = |k: &str| event.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    Echo {
        stack_id: field("StackId"),
        request_id: field("RequestId"),
        logical_resource_id: field("LogicalResourceId"),
    }
}

/// What a request asks the function to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Work {
    /// Create/Update: share this recipe.
    Share(ResourceArn),
    /// Delete of a recipe this function shared: unshare it. `best_effort` (a rollback after a
    /// failed Create) answers SUCCESS even when something could not be undone; `made` are the
    /// shares that failed Create made (named in its ID: it may have been cut off before tagging them).
    Unshare {
        recipe: ResourceArn,
        best_effort: bool,
        made: Vec<String>,
    },
    /// CloudFormation's rollback of a failed Update to another recipe: `restore` (the recipe the
    /// resource keeps) is shared, and `undo` (the recipe of the failed Update) is left as that
    /// Update found it: the shares it made are removed, best effort.
    Rollback { restore: ResourceArn, undo: ResourceArn },
    /// Nothing to do (with why): SUCCESS without calling AWS.
    Nothing(&'static str),
}

/// The decision for one request: the work, and the PhysicalResourceId for each outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub kind: &'static str,
    pub work: Result<Work, String>,
    /// The recipe the request is about, for logs and the `Reason` (when known).
    pub recipe: Option<String>,
    pub id_on_success: String,
    /// ID for a failure that changed nothing.
    pub id_on_failure: String,
    /// ID for a failure after the recipe may have been changed.
    pub id_on_failure_changed: String,
}

/// Pure: reads a custom-resource request and decides what it asks for. `own` is the function's
/// partition/Region/account; a recipe elsewhere is refused.
pub fn plan(event: &Value, own: Option<&Location>) -> Plan {
    let echo = echo(event);
    let nothing_id = format!("{NOTHING_SHARED}{}", echo.request_id);
    let mut p = Plan {
        kind: "Unknown",
        work: Err(String::new()),
        recipe: None,
        id_on_success: nothing_id.clone(),
        id_on_failure: nothing_id.clone(),
        id_on_failure_changed: nothing_id,
    };
    let request: CloudFormationCustomResourceRequest = match serde_json::from_value(event.clone()) {
        Ok(r) => r,
        Err(e) => {
            // Keep whatever ID the request had: a failed Update or Delete must not change it.
            if let Some(id) = event
                .get("PhysicalResourceId")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
            {
                (p.id_on_failure, p.id_on_failure_changed) = (id.to_string(), id.to_string());
            }
            p.work = Err(format!(
                "the request is not a valid custom-resource request: {}",
                serde_error(&e)
            ));
            return p;
        }
    };
    let share_target = |props: &Value| -> Result<ResourceArn, String> {
        let (property, kind, raw) = target_property(props)?;
        let arn = ResourceArn::parse(kind, raw).map_err(|e| format!("property {property}: {e}"))?;
        match own {
            Some(own) => arn.ensure_owned_by(own).map_err(|e| e.to_string())?,
            None => return Err("the function's own account is unknown (no invoked function ARN)".into()),
        }
        Ok(arn)
    };
    match request {
        CloudFormationCustomResourceRequest::Create(c) => {
            p.kind = "Create";
            p.recipe = recipe_text(&c.resource_properties);
            p.work = share_target(&c.resource_properties).map(|arn| {
                p.id_on_success = arn.to_string();
                p.id_on_failure_changed = format!("{ROLLBACK}{arn}");
                Work::Share(arn)
            });
        }
        CloudFormationCustomResourceRequest::Update(u) => {
            p.kind = "Update";
            p.recipe = recipe_text(&u.resource_properties);
            let physical = u.physical_resource_id.clone();
            (p.id_on_failure, p.id_on_failure_changed) = (physical.clone(), physical.clone());
            // A rollback Update carries the failed Update's properties as the old ones, while the
            // resource kept its old ID: the two name different recipes.
            let failed_update = target_property(&u.old_resource_properties)
                .ok()
                .filter(|(_, _, old)| *old != physical)
                .and_then(|(_, kind, old)| ResourceArn::parse(kind, old).ok())
                .filter(|old| own.is_some_and(|own| old.ensure_owned_by(own).is_ok()));
            p.work = share_target(&u.resource_properties).map(|arn| {
                p.id_on_success = arn.to_string();
                match failed_update {
                    Some(undo) if arn.as_str() == physical && undo != arn => Work::Rollback { restore: arn, undo },
                    _ => Work::Share(arn),
                }
            });
        }
        CloudFormationCustomResourceRequest::Delete(d) => {
            p.kind = "Delete";
            let id = d.physical_resource_id;
            (p.id_on_success, p.id_on_failure, p.id_on_failure_changed) = (id.clone(), id.clone(), id.clone());
            let (raw, best_effort, made) = match id.strip_prefix(ROLLBACK) {
                Some(rest) => {
                    let mut parts = rest.split('|');
                    let recipe = parts.next().unwrap_or_default();
                    let made = parts
                        .filter(|s| own.is_some_and(|own| is_own_share(s, own)))
                        .map(str::to_string);
                    (recipe, true, made.collect())
                }
                None => (id.as_str(), false, Vec::new()),
            };
            let named = ResourceArn::parse_any(raw)
                .ok()
                .filter(|a| TARGET_PROPERTIES.iter().any(|(_, kind)| *kind == a.kind()));
            p.work = Ok(match named {
                None => Work::Nothing("the PhysicalResourceId names nothing this function shared"),
                Some(recipe) => {
                    p.recipe = Some(recipe.as_str().chars().take(300).collect());
                    match own {
                        Some(own) if recipe.ensure_owned_by(own).is_ok() => Work::Unshare {
                            recipe,
                            best_effort,
                            made,
                        },
                        _ => Work::Nothing("the recipe belongs to another account or Region"),
                    }
                }
            });
        }
        _ => p.work = Err("unknown RequestType".into()),
    }
    p
}

/// A RAM resource-share ARN of the function's own partition, Region and account.
fn is_own_share(arn: &str, own: &Location) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    matches!(parts[..], ["arn", p, "ram", r, a, share]
        if p == own.partition && r == own.region && a == own.account
            && share.strip_prefix("resource-share/").is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')))
}

/// The ID of a failed Create that changed the recipe: its rollback Delete undoes the change,
/// including the shares it made (named, since they may not carry the managed tag yet), as many as
/// fit CloudFormation's 1 KB limit.
pub fn rollback_id(recipe: &str, made: &[String]) -> String {
    let mut id = format!("{ROLLBACK}{recipe}");
    for share in made {
        if id.len() + 1 + share.len() <= MAX_PHYSICAL_ID {
            id.push('|');
            id.push_str(share);
        }
    }
    id
}

/// CloudFormation's limit on a PhysicalResourceId.
pub const MAX_PHYSICAL_ID: usize = 1024;

/// The properties that name the recipe to share, with its kind.
pub const TARGET_PROPERTIES: [(&str, Kind); 2] = [
    ("ImageRecipeArn", Kind::ImageRecipe),
    ("ContainerRecipeArn", Kind::ContainerRecipe),
];

/// Pure: the one property naming the recipe (exactly one of [`TARGET_PROPERTIES`]), trimmed.
fn target_property(props: &Value) -> Result<(&'static str, Kind, &str), String> {
    let given: Vec<(&'static str, Kind, &Value)> = TARGET_PROPERTIES
        .iter()
        .filter_map(|&(name, kind)| props.get(name).map(|v| (name, kind, v)))
        .collect();
    match given[..] {
        [(name, kind, Value::String(s))] => Ok((name, kind, s.trim())),
        [(name, kind, _)] => Err(format!("property {name} must be a string (a {kind} ARN)")),
        [] => Err("property ImageRecipeArn or ContainerRecipeArn is required (exactly one)".into()),
        _ => Err("properties ImageRecipeArn and ContainerRecipeArn are both set: give exactly one".into()),
    }
}

/// The `Data` key naming the shared recipe: the property it was given as.
pub fn target_key(arn: &str) -> &'static str {
    let kind = ResourceArn::parse_any(arn)
        .map(|a| a.kind())
        .unwrap_or(Kind::ImageRecipe);
    TARGET_PROPERTIES
        .iter()
        .find(|(_, k)| *k == kind)
        .map_or("ImageRecipeArn", |(name, _)| name)
}

/// The `Data` key listing the dependencies shared with the recipe (comma-separated ARNs).
pub const SHARED_DEPENDENCIES: &str = "SharedDependencies";

fn recipe_text(props: &Value) -> Option<String> {
    TARGET_PROPERTIES
        .iter()
        .find_map(|(name, _)| props.get(*name).and_then(Value::as_str))
        .map(|s| s.chars().take(300).collect())
}

/// serde's message without echoing large values back.
fn serde_error(e: &serde_json::Error) -> String {
    e.to_string().chars().take(300).collect()
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Body<'a> {
    status: &'a str,
    reason: &'a str,
    physical_resource_id: &'a str,
    #[serde(flatten)]
    echo: &'a Echo,
    no_echo: bool,
    data: &'a BTreeMap<&'static str, String>,
}

/// A cut `Reason` keeps at least this much: the first words say what happened.
const MIN_REASON: usize = 200;

/// Pure: the response document, shortened to fit CloudFormation's 4096-byte limit by cutting the
/// `Reason` (never the IDs CloudFormation matches on), and dropping `Data` only if that is not enough.
pub fn response_body(
    success: bool,
    reason: &str,
    physical_id: &str,
    echo: &Echo,
    data: &BTreeMap<&'static str, String>,
) -> Vec<u8> {
    const MARK: &str = " [truncated]";
    let status = if success { "SUCCESS" } else { "FAILED" };
    let render = |reason: &str, data: &BTreeMap<&'static str, String>| {
        let body = Body {
            status,
            reason,
            physical_resource_id: physical_id,
            echo,
            no_echo: false,
            data,
        };
        serde_json::to_vec(&body).unwrap_or_default()
    };
    // Each byte cut from the reason shortens the JSON by at least one byte (escapes only add).
    let shortened = |data: &BTreeMap<&'static str, String>, floor: usize| {
        let excess = render(reason, data).len().saturating_sub(MAX_BODY);
        if excess == 0 {
            return Some(render(reason, data));
        }
        let keep = reason.len().checked_sub(excess + MARK.len()).filter(|k| *k >= floor)?;
        let cut = (0..=keep).rev().find(|i| reason.is_char_boundary(*i)).unwrap_or(0);
        Some(render(&format!("{}{MARK}", &reason[..cut]), data))
    };
    // The reason is cut first, down to its first words; then the dependency list loses whole
    // ARNs from its end; then the reason is cut further.
    let mut data = data.clone();
    let mut arns: Vec<String> = match data.get(SHARED_DEPENDENCIES) {
        Some(list) if !list.is_empty() => list.split(',').map(str::to_string).collect(),
        _ => Vec::new(),
    };
    loop {
        if let Some(body) = shortened(&data, MIN_REASON.min(reason.len())) {
            return body;
        }
        if arns.pop().is_none() {
            break;
        }
        data.insert(SHARED_DEPENDENCIES, arns.join(","));
    }
    if let Some(body) = shortened(&data, 1) {
        return body;
    }
    // Only a malformed request (huge echo fields) or huge data get here.
    render(
        if success {
            "ok"
        } else {
            "failed; see the function's logs"
        },
        &BTreeMap::new(),
    )
}

/// PUTs the response: empty `Content-Type` (what the pre-signed S3 URL was signed for), checked
/// status, retried with backoff until `deadline`. Returns the number of attempts made.
pub async fn deliver(http: &Http, url: &ResponseUrl, body: Vec<u8>, deadline: Deadline) -> Result<u32, Error> {
    let mut last = String::from("no time left to send it");
    for attempt in 0..10u32 {
        let left = deadline.remaining();
        if left < Duration::from_millis(20) {
            break;
        }
        // Half the time left per try (at least 0.5 s), so one stalled connection leaves room for another.
        let timeout = (left / 2)
            .max(Duration::from_millis(500))
            .min(left)
            .min(Duration::from_secs(10));
        match http.put(url.url(), body.clone(), timeout).await {
            Ok(status) if (200..300).contains(&status) => {
                info!(step = "respond", attempt, status, "response delivered");
                return Ok(attempt + 1);
            }
            // A refused pre-signed URL (expired, bad signature) stays refused: fail now, and let
            // Lambda's retry of the invocation try again later.
            Ok(status) if (400..500).contains(&status) && !matches!(status, 408 | 429) => {
                return Err(Error::ResponseNotDelivered(format!("HTTP {status}")));
            }
            Ok(status) => last = format!("HTTP {status}"),
            Err(e) => last = e,
        }
        warn!(step = "respond", attempt, error = last.as_str(), "response PUT failed");
        if !pause(
            &deadline,
            backoff(Duration::from_millis(100), attempt, Duration::from_secs(2)),
        )
        .await
        {
            break;
        }
    }
    Err(Error::ResponseNotDelivered(last))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const R1: &str = "arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/web/1.0.0";
    const R2: &str = "arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/web/2.0.0";
    const FOREIGN: &str = "arn:aws:imagebuilder:us-east-1:999999999999:image-recipe/web/1.0.0";
    const SHARE: &str = "arn:aws:ram:us-east-1:123456789012:resource-share/9c7c6559-c479-4e15";

    fn own() -> Location {
        Location {
            partition: "aws".into(),
            region: "us-east-1".into(),
            account: "123456789012".into(),
        }
    }

    fn req(kind: &str, props: Value, physical: Option<&str>) -> Value {
        let mut v = json!({
            "RequestType": kind, "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:f",
            "ResponseURL": "https://b.s3.amazonaws.com/x", "StackId": "stack", "RequestId": "req-1",
            "LogicalResourceId": "Share", "ResourceType": "Custom::ImageRecipeShare", "ResourceProperties": props,
        });
        if let Some(id) = physical {
            v["PhysicalResourceId"] = json!(id);
        }
        if kind == "Update" {
            v["OldResourceProperties"] = json!({"ServiceToken": "t", "ImageRecipeArn": R1});
        }
        v
    }

    fn props(arn: Value) -> Value {
        json!({"ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:f", "ServiceTimeout": "300", "ImageRecipeArn": arn})
    }

    #[test]
    fn plan_table() {
        let nothing = format!("{NOTHING_SHARED}req-1");
        let rollback = format!("{ROLLBACK}{R1}");
        // The shares a failed Create made ride along in its ID; a foreign one is ignored.
        let with_shares = rollback_id(
            R1,
            &[
                SHARE.to_string(),
                "arn:aws:ram:us-east-1:999999999999:resource-share/x".into(),
            ],
        );
        // (request, work ok?, success id, failure id, failure-after-change id, work)
        let cases: Vec<(Value, Option<Work>, &str, &str, &str)> = vec![
            (
                req("Create", props(json!(R1)), None),
                Some(Work::Share(ResourceArn::image_recipe(R1).unwrap())),
                R1,
                &nothing,
                &rollback,
            ),
            (
                req("Create", props(json!(FOREIGN)), None),
                None,
                &nothing,
                &nothing,
                &nothing,
            ),
            (
                req("Create", props(json!("nope")), None),
                None,
                &nothing,
                &nothing,
                &nothing,
            ),
            (req("Create", props(json!(5)), None), None, &nothing, &nothing, &nothing),
            (
                req("Create", json!({"ServiceToken": "t"}), None),
                None,
                &nothing,
                &nothing,
                &nothing,
            ),
            (
                req("Update", props(json!(R1)), Some(R1)),
                Some(Work::Share(ResourceArn::image_recipe(R1).unwrap())),
                R1,
                R1,
                R1,
            ),
            (
                req("Update", props(json!(R2)), Some(R1)),
                Some(Work::Share(ResourceArn::image_recipe(R2).unwrap())),
                R2,
                R1,
                R1,
            ),
            (req("Update", props(json!("bad")), Some(R1)), None, &nothing, R1, R1),
            (
                req("Delete", props(json!(R1)), Some(R1)),
                Some(Work::Unshare {
                    recipe: ResourceArn::image_recipe(R1).unwrap(),
                    best_effort: false,
                    made: vec![],
                }),
                R1,
                R1,
                R1,
            ),
            (
                req("Delete", props(json!(R1)), Some(&rollback)),
                Some(Work::Unshare {
                    recipe: ResourceArn::image_recipe(R1).unwrap(),
                    best_effort: true,
                    made: vec![],
                }),
                &rollback,
                &rollback,
                &rollback,
            ),
            (
                req("Delete", props(json!(R1)), Some(&nothing)),
                Some(Work::Nothing("")),
                &nothing,
                &nothing,
                &nothing,
            ),
            (
                req("Delete", props(json!(R1)), Some("some-other-tool-id")),
                Some(Work::Nothing("")),
                "some-other-tool-id",
                "some-other-tool-id",
                "some-other-tool-id",
            ),
            (
                req("Delete", props(json!(R1)), Some(FOREIGN)),
                Some(Work::Nothing("")),
                FOREIGN,
                FOREIGN,
                FOREIGN,
            ),
            (req("Delete", json!({}), None), None, &nothing, &nothing, &nothing),
            (req("Bogus", props(json!(R1)), Some(R1)), None, &nothing, R1, R1),
            (
                req("Update", props(json!(R1)), Some(R1)),
                Some(Work::Share(ResourceArn::image_recipe(R1).unwrap())),
                R1,
                R1,
                R1,
            ),
            (
                {
                    let mut rollback = req("Update", props(json!(R1)), Some(R1));
                    rollback["OldResourceProperties"]["ImageRecipeArn"] = json!(R2);
                    rollback
                },
                Some(Work::Rollback {
                    restore: ResourceArn::image_recipe(R1).unwrap(),
                    undo: ResourceArn::image_recipe(R2).unwrap(),
                }),
                R1,
                R1,
                R1,
            ),
            (
                req("Delete", props(json!(R1)), Some(&with_shares)),
                Some(Work::Unshare {
                    recipe: ResourceArn::image_recipe(R1).unwrap(),
                    best_effort: true,
                    made: vec![SHARE.to_string()],
                }),
                &with_shares,
                &with_shares,
                &with_shares,
            ),
        ];
        for (event, work, ok_id, fail_id, changed_id) in cases {
            let p = plan(&event, Some(&own()));
            let label = format!("{} {}", event["RequestType"], event["PhysicalResourceId"]);
            match (&p.work, &work) {
                (Ok(Work::Nothing(_)), Some(Work::Nothing(_))) => {}
                (Ok(got), Some(want)) => assert_eq!(got, want, "{label}"),
                (Err(e), None) => assert!(!e.is_empty(), "{label}"),
                (got, want) => panic!("{label}: got {got:?}, want {want:?}"),
            }
            assert_eq!(p.id_on_failure, fail_id, "{label}");
            assert_eq!(p.id_on_failure_changed, changed_id, "{label}");
            if p.work.is_ok() {
                assert_eq!(p.id_on_success, ok_id, "{label}");
            }
        }
        // Without the function's own ARN nothing is shared.
        assert!(plan(&req("Create", props(json!(R1)), None), None).work.is_err());
    }

    mod body_properties {
        use super::*;
        use proptest::prelude::*;

        /// Printable ASCII, quotes and backslashes included (each escapes to two bytes in JSON).
        fn ascii(max: usize) -> impl Strategy<Value = String> {
            proptest::collection::vec(0x20u8..0x7f, 0..=max).prop_map(|b| String::from_utf8(b).unwrap())
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

            /// CloudFormation's limits: StackId an ARN (a 128-character stack name and a UUID),
            /// RequestId a UUID, LogicalResourceId 255 characters, PhysicalResourceId 1 KB. With
            /// every echoed field at its maximum and any Reason and Data, the body is valid JSON of
            /// at most 4096 bytes and keeps every ID whole; Data stays whenever it fits.
            #[test]
            fn every_id_at_its_limit_still_fits(
                stack in ascii(230),
                request in "[0-9a-f-]{36}",
                logical in "[A-Za-z0-9]{1,255}",
                physical in ascii(1024),
                reason in any::<String>(),
                arn in ascii(400),
                success in any::<bool>(),
            ) {
                let echo = Echo { stack_id: stack, request_id: request, logical_resource_id: logical };
                let data = BTreeMap::from([("ImageRecipeArn", arn.clone()), ("ResourceShareArn", "arn:aws:ram:us-east-1:123456789012:resource-share/x".to_string())]);
                let body = response_body(success, &reason, &physical, &echo, &data);
                prop_assert!(body.len() <= MAX_BODY, "{} bytes", body.len());
                let v: Value = serde_json::from_slice(&body).expect("valid JSON");
                prop_assert_eq!(&v["PhysicalResourceId"], &json!(physical));
                prop_assert_eq!(&v["StackId"], &json!(echo.stack_id));
                prop_assert_eq!(&v["RequestId"], &json!(echo.request_id));
                prop_assert_eq!(&v["LogicalResourceId"], &json!(echo.logical_resource_id));
                prop_assert_eq!(&v["Status"], &json!(if success { "SUCCESS" } else { "FAILED" }));
                prop_assert!(v["Reason"].is_string());
                let without_reason = response_body(success, "", &physical, &echo, &data).len();
                if without_reason + " [truncated]".len() < MAX_BODY {
                    prop_assert_eq!(&v["Data"]["ImageRecipeArn"], &json!(arn), "Data fits, so it stays");
                }
            }
        }
    }

    #[test]
    fn rollback_ids_fit_and_never_cut_an_arn() {
        let share = "arn:aws:ram:us-east-1:123456789012:resource-share/".to_string() + &"a".repeat(36);
        let id = rollback_id(R1, &vec![share.clone(); 20]);
        assert!(id.len() <= MAX_PHYSICAL_ID);
        assert!(id.split('|').skip(1).all(|s| s == share), "{id}");
        assert!(id.starts_with(&format!("{ROLLBACK}{R1}|")));
    }

    #[test]
    fn detects_requests() {
        assert!(is_request(&json!({"RequestType": "Create"})));
        assert!(is_request(&json!({"ResponseURL": "x"})));
        assert!(!is_request(&json!({"detail-type": "x"})));
        assert!(!is_request(&json!("text")));
    }

    #[test]
    fn body_fits_4096_and_keeps_the_ids() {
        let echo = Echo {
            stack_id: "s".repeat(300),
            request_id: "r".into(),
            logical_resource_id: "L".into(),
        };
        let data = BTreeMap::from([
            ("ImageRecipeArn", R1.to_string()),
            ("ResourceShareArn", "x".repeat(100)),
        ]);
        for reason_len in [0, 10, 3000, 3900, 4096, 5000, 100_000] {
            let reason = "é".repeat(reason_len);
            for success in [true, false] {
                let body = response_body(success, &reason, R1, &echo, &data);
                assert!(body.len() <= MAX_BODY, "{reason_len}: {}", body.len());
                let v: Value = serde_json::from_slice(&body).unwrap();
                assert_eq!(v["PhysicalResourceId"], R1);
                assert_eq!(v["StackId"], echo.stack_id);
                assert_eq!(v["RequestId"], "r");
                assert_eq!(v["LogicalResourceId"], "L");
                assert_eq!(v["Status"], if success { "SUCCESS" } else { "FAILED" });
                assert!(v["Reason"].is_string());
                assert_eq!(v["Data"]["ImageRecipeArn"], R1, "{reason_len}");
            }
        }
        let huge = BTreeMap::from([("ImageRecipeArn", "d".repeat(5000))]);
        let body = response_body(false, "why", R1, &echo, &huge);
        assert!(body.len() <= MAX_BODY);
    }

    #[test]
    fn a_long_dependency_list_loses_whole_arns_from_its_end() {
        let echo = Echo {
            stack_id: "s".into(),
            request_id: "r".into(),
            logical_resource_id: "L".into(),
        };
        let arns: Vec<String> = (0..120)
            .map(|i| format!("arn:aws:imagebuilder:us-east-1:123456789012:component/c{i}/1.0.0/1"))
            .collect();
        for (reason_len, count) in [(10, 3), (3000, 120), (10, 120), (100_000, 120)] {
            let data = BTreeMap::from([
                ("ImageRecipeArn", R1.to_string()),
                (SHARED_DEPENDENCIES, arns[..count].join(",")),
            ]);
            let reason = format!("shared {}", "x".repeat(reason_len));
            let body = response_body(true, &reason, R1, &echo, &data);
            assert!(body.len() <= MAX_BODY, "{}", body.len());
            let v: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(v["Data"]["ImageRecipeArn"], R1);
            let kept = v["Data"][SHARED_DEPENDENCIES].as_str().unwrap();
            let kept: Vec<&str> = kept.split(',').filter(|s| !s.is_empty()).collect();
            // A prefix of the list, every ARN whole; as many as fit beside the reason's first words.
            assert_eq!(
                kept[..],
                arns[..kept.len()].iter().map(String::as_str).collect::<Vec<_>>()[..]
            );
            if count == 3 {
                assert_eq!(kept.len(), 3, "it fits, so it stays");
            } else {
                assert!(
                    kept.len() > 30 && kept.len() < count,
                    "{reason_len}: kept {}",
                    kept.len()
                );
                let r = v["Reason"].as_str().unwrap();
                assert!(
                    r.starts_with("shared ") && r.len() >= MIN_REASON.min(reason.len()),
                    "{r}"
                );
            }
        }
    }

    #[test]
    fn exactly_one_recipe_property() {
        const C: &str = "arn:aws:imagebuilder:us-east-1:123456789012:container-recipe/api/1.0.0";
        let base = json!({"ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:f"});
        let with = |pairs: &[(&str, Value)]| {
            let mut p = base.clone();
            for (k, v) in pairs {
                p[*k] = v.clone();
            }
            p
        };
        let container = plan(
            &req("Create", with(&[("ContainerRecipeArn", json!(C))]), None),
            Some(&own()),
        );
        assert_eq!(
            container.work,
            Ok(Work::Share(ResourceArn::parse(Kind::ContainerRecipe, C).unwrap()))
        );
        assert_eq!(target_key(&container.id_on_success), "ContainerRecipeArn");
        assert_eq!(target_key(R1), "ImageRecipeArn");
        let cases: [(Value, &str); 4] = [
            (
                with(&[("ImageRecipeArn", json!(R1)), ("ContainerRecipeArn", json!(C))]),
                "both set",
            ),
            (base.clone(), "ImageRecipeArn or ContainerRecipeArn is required"),
            (
                with(&[("ContainerRecipeArn", json!(R1))]),
                "property ContainerRecipeArn: not a valid container recipe ARN",
            ),
            (
                with(&[("ContainerRecipeArn", json!(7))]),
                "ContainerRecipeArn must be a string",
            ),
        ];
        for (props, want) in cases {
            let p = plan(&req("Create", props, None), Some(&own()));
            let err = p.work.expect_err("refused");
            assert!(err.contains(want), "{err} lacks {want}");
        }
        // A container recipe's Delete unshares it; an image recipe's rollback ID still parses.
        let delete = plan(&req("Delete", base.clone(), Some(C)), Some(&own()));
        assert!(matches!(delete.work, Ok(Work::Unshare { ref recipe, .. }) if recipe.as_str() == C));
        let component = "arn:aws:imagebuilder:us-east-1:123456789012:component/c/1.0.0/1";
        let other = plan(&req("Delete", base, Some(component)), Some(&own()));
        assert!(
            matches!(other.work, Ok(Work::Nothing(_))),
            "only recipes are this resource's to unshare"
        );
    }
}
