//! CloudTrail `CreateImageRecipe` events delivered by EventBridge: read leniently (only the fields
//! needed; CloudTrail records vary) and decided purely: share this recipe, or skip with a reason.

use crate::arn::{ImageRecipeArn, Location};
use crate::error::Error;
use serde_json::Value;

/// True when the event has EventBridge's envelope (`detail-type` and `source`).
pub fn is_event(event: &Value) -> bool {
    event.get("detail-type").is_some() && event.get("source").is_some()
}

/// What to do with one EventBridge event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// A recipe was created in this account and Region: share it.
    Share(ImageRecipeArn),
    /// Not for us, or nothing to share; logged and answered successfully.
    Skip(String),
}

/// Pure: the decision for an event. Errors are events that look like ours but cannot be handled
/// (a malformed or foreign ARN): they fail, so Lambda's retries and the dead-letter queue keep them.
pub fn decide(event: &Value, own: Option<&Location>) -> Result<Decision, Error> {
    let text = |v: &Value| v.as_str().map(|s| s.chars().take(100).collect::<String>());
    let field = |v: &Value| text(v).unwrap_or_else(|| "<missing>".into());
    let detail = &event["detail"];
    let checks = [
        (&event["source"], "aws.imagebuilder", "source"),
        (&event["detail-type"], "AWS API Call via CloudTrail", "detail-type"),
        (
            &detail["eventSource"],
            "imagebuilder.amazonaws.com",
            "detail.eventSource",
        ),
        (&detail["eventName"], "CreateImageRecipe", "detail.eventName"),
    ];
    for (value, wanted, name) in checks {
        if value.as_str() != Some(wanted) {
            return Ok(Decision::Skip(format!("{name} is {:?}, not {wanted:?}", field(value))));
        }
    }
    if let Some(code) = detail.get("errorCode").filter(|c| !c.is_null()) {
        return Ok(Decision::Skip(format!(
            "the CreateImageRecipe call failed ({}), so there is no recipe",
            field(code)
        )));
    }
    let Some(raw) = detail["responseElements"]["imageRecipeArn"].as_str() else {
        return Ok(Decision::Skip(
            "the event carries no detail.responseElements.imageRecipeArn".into(),
        ));
    };
    let arn = ImageRecipeArn::parse(raw)?;
    let own = own.ok_or_else(|| {
        Error::InvalidRequest("the function's own account is unknown (no invoked function ARN)".into())
    })?;
    arn.ensure_owned_by(own)?;
    Ok(Decision::Share(arn))
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
               "awsRegion": "us-east-1", "requestParameters": {"name": "Web"}, "responseElements": {"imageRecipeArn": R}})
    }

    #[test]
    fn decide_table() {
        let with = |f: &dyn Fn(&mut Value)| {
            let mut e = event(ok_detail());
            f(&mut e);
            e
        };
        let cases: Vec<(Value, Result<Option<&str>, &str>)> = vec![
            (event(ok_detail()), Ok(None)),
            (
                with(&|e| e["detail"]["errorCode"] = json!("ValidationException")),
                Ok(Some("failed (ValidationException)")),
            ),
            (with(&|e| e["detail"]["errorCode"] = Value::Null), Ok(None)),
            (
                with(&|e| e["detail"]["responseElements"] = Value::Null),
                Ok(Some("no detail.responseElements")),
            ),
            (
                with(&|e| e["detail"]["eventName"] = json!("CreateContainerRecipe")),
                Ok(Some("detail.eventName")),
            ),
            (
                with(&|e| e["detail"]["eventSource"] = json!("ec2.amazonaws.com")),
                Ok(Some("detail.eventSource")),
            ),
            (with(&|e| e["source"] = json!("aws.ec2")), Ok(Some("source"))),
            (
                with(&|e| e["detail-type"] = json!("EC2 Image Builder Image State Change")),
                Ok(Some("detail-type")),
            ),
            (with(&|e| e["detail"] = json!("x")), Ok(Some("<missing>"))),
            (
                with(&|e| {
                    e["detail"]["responseElements"]["imageRecipeArn"] =
                        json!("arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/Web/1")
                }),
                Err("not an image recipe ARN"),
            ),
            (
                with(&|e| {
                    e["detail"]["responseElements"]["imageRecipeArn"] = json!(R.replace("123456789012", "999999999999"))
                }),
                Err("refusing"),
            ),
        ];
        for (e, want) in cases {
            let got = decide(&e, Some(&own()));
            match (&got, want) {
                (Ok(Decision::Share(arn)), Ok(None)) => assert_eq!(arn.as_str(), R),
                (Ok(Decision::Skip(why)), Ok(Some(frag))) => assert!(why.contains(frag), "{why}"),
                (Err(err), Err(frag)) => assert!(err.to_string().contains(frag), "{err}"),
                _ => panic!("{e}: got {got:?}, want {want:?}"),
            }
        }
        assert!(decide(&event(ok_detail()), None).is_err());
    }

    #[test]
    fn envelope() {
        assert!(is_event(&event(ok_detail())));
        assert!(!is_event(&json!({"RequestType": "Create"})));
    }
}
