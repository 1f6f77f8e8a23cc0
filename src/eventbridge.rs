//! CloudTrail events delivered by EventBridge: read leniently (only the fields needed; CloudTrail
//! records vary) and decided purely: share the recipe a `CreateImageRecipe` or
//! `CreateContainerRecipe` made, release a recipe or component whose delete was refused because it
//! is shared, or skip with a reason.

use crate::arn::{Location, ResourceArn};
use crate::error::Error;
use crate::kind::Kind;
use crate::scope::Facts;
use serde_json::Value;

/// True when the event has EventBridge's envelope (`detail-type` and `source`).
pub fn is_event(event: &Value) -> bool {
    event.get("detail-type").is_some() && event.get("source").is_some()
}

/// What to do with one EventBridge event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// A recipe was created in this account and Region: share it (`facts` from the record).
    Share { recipe: ResourceArn, facts: Facts },
    /// A recipe was created but the record carries no ARN: look it up by name and version.
    Lookup {
        kind: Kind,
        name: String,
        version: String,
        facts: Facts,
        /// The fields that were missing, for the warning.
        missing: Vec<&'static str>,
    },
    /// Image Builder refused to delete a shared recipe: tag it `recipe-share:exclude` =
    /// `deletion-requested` and unshare it, so its owner's next delete succeeds.
    Release(ResourceArn),
    /// Not for us, or nothing to do; logged and answered successfully.
    Skip(String),
}

fn text(v: &Value) -> Option<String> {
    v.as_str().map(|s| s.chars().take(100).collect())
}

fn field(v: &Value) -> String {
    text(v).unwrap_or_else(|| "<missing>".into())
}

/// What a `CreateImageRecipe` record says about the recipe: the tags given at creation and the
/// components and parent image it builds from.
fn facts_of(request: &Value) -> Facts {
    let tags = request["tags"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect()
        })
        .unwrap_or_default();
    let components = request["components"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|c| c["componentArn"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    Facts {
        tags,
        components,
        parent_image: request["parentImage"].as_str().map(str::to_string),
    }
}

/// Checks the ARN as `kind` and that it names a resource of this function's own account and Region.
fn own_resource(kind: Kind, raw: &str, own: Option<&Location>) -> Result<ResourceArn, Error> {
    let arn = ResourceArn::parse(kind, raw)?;
    let own = own.ok_or_else(|| {
        Error::InvalidRequest("the function's own account is unknown (no invoked function ARN)".into())
    })?;
    arn.ensure_owned_by(own)?;
    Ok(arn)
}

/// The CloudTrail calls the function acts on: (event name, kind, the field naming the resource).
/// Creates name it in `responseElements`; refused deletes in `requestParameters`.
const CREATES: [(&str, Kind, &str); 2] = [
    ("CreateImageRecipe", Kind::ImageRecipe, "imageRecipeArn"),
    ("CreateContainerRecipe", Kind::ContainerRecipe, "containerRecipeArn"),
];
const DELETES: [(&str, Kind, &str); 3] = [
    ("DeleteImageRecipe", Kind::ImageRecipe, "imageRecipeArn"),
    ("DeleteContainerRecipe", Kind::ContainerRecipe, "containerRecipeArn"),
    ("DeleteComponent", Kind::Component, "componentBuildVersionArn"),
];

/// Pure: the decision for an event. Errors are events that look like ours but cannot be handled
/// (a malformed or foreign ARN): they fail, so Lambda's retries and the dead-letter queue keep them.
pub fn decide(event: &Value, own: Option<&Location>) -> Result<Decision, Error> {
    let detail = &event["detail"];
    let checks = [
        (&event["source"], "aws.imagebuilder", "source"),
        (&event["detail-type"], "AWS API Call via CloudTrail", "detail-type"),
        (
            &detail["eventSource"],
            "imagebuilder.amazonaws.com",
            "detail.eventSource",
        ),
    ];
    for (value, wanted, name) in checks {
        if value.as_str() != Some(wanted) {
            return Ok(Decision::Skip(format!("{name} is {:?}, not {wanted:?}", field(value))));
        }
    }
    let error = detail.get("errorCode").filter(|c| !c.is_null());
    let request = &detail["requestParameters"];
    let name = detail["eventName"].as_str();
    if let Some(&(call, kind, arn_field)) = CREATES.iter().find(|c| Some(c.0) == name) {
        if let Some(code) = error {
            return Ok(Decision::Skip(format!(
                "the {call} call failed ({}), so there is no {kind}",
                field(code)
            )));
        }
        let facts = facts_of(request);
        if let Some(raw) = detail["responseElements"][arn_field].as_str() {
            return Ok(Decision::Share {
                recipe: own_resource(kind, raw, own)?,
                facts,
            });
        }
        let mut missing = vec![match kind {
            Kind::ContainerRecipe => "detail.responseElements.containerRecipeArn",
            _ => "detail.responseElements.imageRecipeArn",
        }];
        let name = text(&request["name"]).filter(|n| !n.is_empty());
        let version = text(&request["semanticVersion"]).filter(|v| !v.is_empty());
        if name.is_none() {
            missing.push("detail.requestParameters.name");
        }
        if version.is_none() {
            missing.push("detail.requestParameters.semanticVersion");
        }
        return match (name, version) {
            (Some(name), Some(version)) => Ok(Decision::Lookup {
                kind,
                name,
                version,
                facts,
                missing,
            }),
            _ => Err(Error::InvalidRequest(format!(
                "a {call} record without {}: the {kind} cannot be found",
                missing.join(", ")
            ))),
        };
    }
    if let Some(&(call, kind, arn_field)) = DELETES.iter().find(|d| Some(d.0) == name) {
        return match error.and_then(Value::as_str) {
            Some("ResourceDependencyException") => match request[arn_field].as_str() {
                Some(raw) => Ok(Decision::Release(own_resource(kind, raw, own)?)),
                None => Err(Error::InvalidRequest(format!(
                    "a refused {call} record without detail.requestParameters.{arn_field}"
                ))),
            },
            Some(code) => Ok(Decision::Skip(format!(
                "the {call} call failed with {code:?}, not because the {kind} is shared"
            ))),
            None => Ok(Decision::Skip(format!("a {call} that succeeded: nothing to release"))),
        };
    }
    Ok(Decision::Skip(format!(
        "detail.eventName is {:?}, not one of {}",
        field(&detail["eventName"]),
        CREATES
            .iter()
            .chain(&DELETES)
            .map(|c| c.0)
            .collect::<Vec<_>>()
            .join(", ")
    )))
}

/// Pure: the recipe among `arns` (a name lookup's answer) with `version`.
pub fn pick_version<'a>(arns: &'a [String], version: &str) -> Option<&'a String> {
    arns.iter().find(|a| a.rsplit('/').next() == Some(version))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const R: &str = "arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/web/1.0.0";

    fn own() -> Location {
        Location {
            partition: "aws".into(),
            region: "us-east-1".into(),
            account: "123456789012".into(),
        }
    }

    fn event(detail: Value) -> Value {
        json!({"version": "0", "id": "e", "detail-type": "AWS API Call via CloudTrail", "source": "aws.imagebuilder",
               "account": "123456789012", "time": "2026-11-30T10:00:00Z", "region": "us-east-1", "resources": [], "detail": detail})
    }

    fn ok_detail() -> Value {
        json!({"eventVersion": "1.09", "eventSource": "imagebuilder.amazonaws.com", "eventName": "CreateImageRecipe",
               "awsRegion": "us-east-1", "requestParameters": {"name": "Web", "semanticVersion": "1.0.0",
               "tags": {"team": "platform"}, "components": [{"componentArn": "arn:aws:imagebuilder:us-east-1:aws:component/update-linux/x.x.x"}]},
               "responseElements": {"imageRecipeArn": R}})
    }

    fn refused_delete() -> Value {
        json!({"eventSource": "imagebuilder.amazonaws.com", "eventName": "DeleteImageRecipe",
               "errorCode": "ResourceDependencyException", "errorMessage": "The resource is shared",
               "requestParameters": {"imageRecipeArn": R}, "responseElements": null})
    }

    #[test]
    fn decide_table() {
        let with = |base: Value, f: &dyn Fn(&mut Value)| {
            let mut e = event(base);
            f(&mut e);
            e
        };
        let create = |f: &dyn Fn(&mut Value)| with(ok_detail(), f);
        // (event, want): Ok(tag of the decision, fragment) or Err(fragment)
        type Want<'a> = Result<(&'a str, &'a str), &'a str>;
        let cases: Vec<(Value, Want)> = vec![
            (event(ok_detail()), Ok(("share", R))),
            (
                create(&|e| e["detail"]["errorCode"] = json!("ValidationException")),
                Ok(("skip", "failed (ValidationException)")),
            ),
            (create(&|e| e["detail"]["errorCode"] = Value::Null), Ok(("share", R))),
            (
                create(&|e| e["detail"]["responseElements"] = Value::Null),
                Ok(("lookup", "Web 1.0.0")),
            ),
            (
                create(&|e| {
                    e["detail"]["responseElements"] = Value::Null;
                    e["detail"]["requestParameters"]["semanticVersion"] = Value::Null;
                }),
                Err("semanticVersion"),
            ),
            (
                create(&|e| e["detail"]["eventName"] = json!("UpdateImagePipeline")),
                Ok(("skip", "detail.eventName")),
            ),
            (
                create(&|e| e["detail"]["eventSource"] = json!("ec2.amazonaws.com")),
                Ok(("skip", "detail.eventSource")),
            ),
            (create(&|e| e["source"] = json!("aws.ec2")), Ok(("skip", "source"))),
            (
                create(&|e| e["detail-type"] = json!("EC2 Image Builder Image State Change")),
                Ok(("skip", "detail-type")),
            ),
            (create(&|e| e["detail"] = json!("x")), Ok(("skip", "<missing>"))),
            (
                create(&|e| {
                    e["detail"]["responseElements"]["imageRecipeArn"] =
                        json!("arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/Web/1")
                }),
                Err("not a valid image recipe ARN"),
            ),
            (
                create(&|e| {
                    e["detail"]["responseElements"]["imageRecipeArn"] = json!(R.replace("123456789012", "999999999999"))
                }),
                Err("refusing"),
            ),
            (event(refused_delete()), Ok(("release", R))),
            (
                with(refused_delete(), &|e| e["detail"]["errorCode"] = json!("AccessDenied")),
                Ok(("skip", "AccessDenied")),
            ),
            (
                with(refused_delete(), &|e| e["detail"]["errorCode"] = Value::Null),
                Ok(("skip", "succeeded")),
            ),
            (
                with(refused_delete(), &|e| e["detail"]["requestParameters"] = json!({})),
                Err("without detail.requestParameters.imageRecipeArn"),
            ),
            (
                with(refused_delete(), &|e| {
                    e["detail"]["requestParameters"]["imageRecipeArn"] = json!(R.replace("us-east-1", "eu-west-1"))
                }),
                Err("refusing"),
            ),
        ];
        for (e, want) in cases {
            let got = decide(&e, Some(&own()));
            let seen = match &got {
                Ok(Decision::Share { recipe, .. }) => Ok(("share", recipe.to_string())),
                Ok(Decision::Lookup { name, version, .. }) => Ok(("lookup", format!("{name} {version}"))),
                Ok(Decision::Release(r)) => Ok(("release", r.to_string())),
                Ok(Decision::Skip(why)) => Ok(("skip", why.clone())),
                Err(err) => Err(err.to_string()),
            };
            match (&seen, want) {
                (Ok((tag, text)), Ok((want_tag, frag))) => {
                    assert_eq!(*tag, want_tag, "{e}");
                    assert!(text.contains(frag), "{text} lacks {frag}");
                }
                (Err(text), Err(frag)) => assert!(text.contains(frag), "{text} lacks {frag}"),
                _ => panic!("{e}: got {seen:?}, want {want:?}"),
            }
        }
        assert!(decide(&event(ok_detail()), None).is_err());
    }

    #[test]
    fn container_recipes_and_components_by_their_own_fields() {
        const C: &str = "arn:aws:imagebuilder:us-east-1:123456789012:container-recipe/api/1.0.0";
        const B: &str = "arn:aws:imagebuilder:us-east-1:123456789012:component/cis/1.0.0/1";
        let created = json!({"eventSource": "imagebuilder.amazonaws.com", "eventName": "CreateContainerRecipe",
            "requestParameters": {"name": "api", "semanticVersion": "1.0.0"}, "responseElements": {"containerRecipeArn": C}});
        let Ok(Decision::Share { recipe, .. }) = decide(&event(created.clone()), Some(&own())) else {
            panic!("shared")
        };
        assert_eq!((recipe.kind(), recipe.as_str()), (Kind::ContainerRecipe, C));
        // An image recipe ARN where a container recipe's belongs is refused, not shared as the wrong kind.
        let mut wrong = created.clone();
        wrong["responseElements"]["containerRecipeArn"] = json!(R);
        assert!(decide(&event(wrong), Some(&own())).is_err());
        let mut lookup = created;
        lookup["responseElements"] = Value::Null;
        let Ok(Decision::Lookup { kind, name, .. }) = decide(&event(lookup), Some(&own())) else {
            panic!("lookup")
        };
        assert_eq!((kind, name.as_str()), (Kind::ContainerRecipe, "api"));
        for (call, field, arn, kind) in [
            ("DeleteContainerRecipe", "containerRecipeArn", C, Kind::ContainerRecipe),
            ("DeleteComponent", "componentBuildVersionArn", B, Kind::Component),
        ] {
            let refused = json!({"eventSource": "imagebuilder.amazonaws.com", "eventName": call,
                "errorCode": "ResourceDependencyException", "requestParameters": {field: arn}});
            let Ok(Decision::Release(r)) = decide(&event(refused), Some(&own())) else {
                panic!("{call}")
            };
            assert_eq!((r.kind(), r.as_str()), (kind, arn));
        }
    }

    #[test]
    fn facts_come_from_the_record() {
        let Ok(Decision::Share { facts, .. }) = decide(&event(ok_detail()), Some(&own())) else {
            panic!("shared")
        };
        assert_eq!(facts.tags.get("team").map(String::as_str), Some("platform"));
        assert_eq!(facts.components.len(), 1);
        let mut e = event(ok_detail());
        e["detail"]["requestParameters"]["tags"] = json!({"recipe-share:exclude": "draft"});
        let Ok(Decision::Share { facts, .. }) = decide(&e, Some(&own())) else {
            panic!("decided")
        };
        assert_eq!(facts.excluded(), Some("draft"));
    }

    #[test]
    fn versions_are_picked_from_a_name_lookup() {
        let arns = vec![
            "arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/web/1.0.0".to_string(),
            "arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/web/1.0.1".to_string(),
        ];
        assert_eq!(pick_version(&arns, "1.0.1"), Some(&arns[1]));
        assert_eq!(pick_version(&arns, "1.0"), None);
    }

    #[test]
    fn envelope() {
        assert!(is_event(&event(ok_detail())));
        assert!(!is_event(&json!({"RequestType": "Create"})));
    }
}
