//! Validation the stand-in applies to what callers send: RAM ARNs and principals, and the
//! resource policy of an Image Builder resource (the model's Image Builder ARN patterns are in
//! [`crate::kind`]). AWS documents no validation rules for these policies; the rules here are
//! the modeled choice described on [`StandIn`](crate::StandIn) (one Allow statement, account
//! principals, Image Builder actions, the resource itself as Resource) and are kept strict so
//! the Lambda is tested against the narrowest policy shape that RAM can turn into a managed
//! permission.

use serde_json::Value;

use crate::util::is_account_id;

/// Splits `arn:partition:service:region:account:resource`; None if not ARN-shaped.
pub(crate) fn split_arn(s: &str) -> Option<[&str; 6]> {
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    let [arn, partition, service, region, account, resource] = parts[..] else {
        return None;
    };
    (arn == "arn" && partition.starts_with("aws") && !service.is_empty() && !resource.is_empty())
        .then_some([arn, partition, service, region, account, resource])
}

/// A RAM ARN whose resource part starts with `prefix` (`resource-share/`, `permission/`).
pub(crate) fn is_ram_arn(s: &str, prefix: &str) -> bool {
    split_arn(s).is_some_and(|p| p[2] == "ram" && p[5].len() > prefix.len() && p[5].starts_with(prefix))
}

/// What kind of RAM principal a string is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PrincipalKind {
    Account,
    /// An organization or organizational-unit ARN: needs sharing with AWS Organizations.
    Organization,
    IamRoleOrUser,
}

/// Classifies a RAM principal; Err(true) when it looks like an ARN but is malformed,
/// Err(false) when it is neither an account id nor an ARN.
pub(crate) fn principal_kind(s: &str) -> Result<PrincipalKind, bool> {
    if is_account_id(s) {
        return Ok(PrincipalKind::Account);
    }
    let Some(p) = split_arn(s) else {
        return Err(s.starts_with("arn:"));
    };
    match (p[2], p[5].split('/').next().unwrap_or("")) {
        ("organizations", "organization") | ("organizations", "ou") if is_account_id(p[4]) => {
            Ok(PrincipalKind::Organization)
        }
        ("iam", "role") | ("iam", "user") if is_account_id(p[4]) && p[5].contains('/') => {
            Ok(PrincipalKind::IamRoleOrUser)
        }
        _ => Err(true),
    }
}

/// The parts of a valid recipe policy that RAM cares about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PolicyInfo {
    /// Principal account ids, sorted and deduplicated.
    pub accounts: Vec<String>,
    /// Actions, sorted and deduplicated: the key for matching a managed permission.
    pub actions: Vec<String>,
}

/// A string or a non-empty list of strings (IAM allows both almost everywhere).
fn string_or_list(v: &Value, what: &str) -> Result<Vec<String>, String> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("{what} must contain only strings"))
            })
            .collect(),
        _ => Err(format!("{what} must be a string or a non-empty list of strings")),
    }
}

fn is_action(a: &str) -> bool {
    a.strip_prefix("imagebuilder:")
        .is_some_and(|name| !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphabetic() || b == b'*'))
}

/// Validates `text` as a resource policy for `resource_arn` (a `what`, e.g. "image recipe") in
/// `partition`.
pub(crate) fn parse_policy(text: &str, resource_arn: &str, what: &str, partition: &str) -> Result<PolicyInfo, String> {
    let doc: Value = serde_json::from_str(text).map_err(|e| format!("The policy is not valid JSON: {e}"))?;
    let obj = doc.as_object().ok_or("The policy must be a JSON object")?;
    for key in obj.keys() {
        if !matches!(key.as_str(), "Version" | "Statement" | "Id") {
            return Err(format!("Unsupported policy element {key}"));
        }
    }
    if obj.get("Version").and_then(Value::as_str) != Some("2012-10-17") {
        return Err("The policy Version must be 2012-10-17".into());
    }
    let statement = match obj.get("Statement") {
        Some(Value::Object(s)) => s,
        Some(Value::Array(list)) if list.len() == 1 => {
            list[0].as_object().ok_or("A policy statement must be an object")?
        }
        Some(Value::Array(list)) => {
            return Err(format!(
                "The policy must have exactly one statement, found {}",
                list.len()
            ));
        }
        _ => return Err("The policy has no Statement".into()),
    };
    for key in statement.keys() {
        if !matches!(key.as_str(), "Sid" | "Effect" | "Principal" | "Action" | "Resource") {
            return Err(format!("Unsupported policy statement element {key}"));
        }
    }
    if statement.get("Effect").and_then(Value::as_str) != Some("Allow") {
        return Err("The policy statement Effect must be Allow".into());
    }
    let principal = statement
        .get("Principal")
        .and_then(Value::as_object)
        .filter(|p| p.len() == 1)
        .and_then(|p| p.get("AWS"))
        .ok_or("The policy Principal must be an object with only an AWS key")?;
    let mut accounts = Vec::new();
    for p in string_or_list(principal, "Principal.AWS")? {
        let root = format!("arn:{partition}:iam::");
        let account = if is_account_id(&p) {
            p.clone()
        } else if let Some(acct) = p
            .strip_prefix(root.as_str())
            .and_then(|rest| rest.strip_suffix(":root"))
            .filter(|a| is_account_id(a))
        {
            acct.to_string()
        } else {
            return Err(format!(
                "Invalid principal {p}: only 12-digit account ids and arn:{partition}:iam::<account>:root are allowed"
            ));
        };
        accounts.push(account);
    }
    accounts.sort();
    accounts.dedup();
    let mut actions = string_or_list(
        statement.get("Action").ok_or("The policy statement has no Action")?,
        "Action",
    )?;
    if let Some(bad) = actions.iter().find(|a| !is_action(a)) {
        return Err(format!("Invalid action {bad}: only imagebuilder actions are allowed"));
    }
    actions.sort();
    actions.dedup();
    let resources = string_or_list(
        statement
            .get("Resource")
            .ok_or("The policy statement has no Resource")?,
        "Resource",
    )?;
    if resources.len() != 1 || resources[0] != resource_arn {
        return Err(format!("The policy Resource must be the {what} {resource_arn}"));
    }
    Ok(PolicyInfo { accounts, actions })
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: &str = "arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/my-recipe/1.0.0";

    #[test]
    fn principals() {
        assert_eq!(principal_kind("111122223333"), Ok(PrincipalKind::Account));
        assert_eq!(
            principal_kind("arn:aws:organizations::111122223333:organization/o-abc"),
            Ok(PrincipalKind::Organization)
        );
        assert_eq!(
            principal_kind("arn:aws:organizations::111122223333:ou/o-abc/ou-ab-cd"),
            Ok(PrincipalKind::Organization)
        );
        assert_eq!(
            principal_kind("arn:aws:iam::111122223333:role/x"),
            Ok(PrincipalKind::IamRoleOrUser)
        );
        assert_eq!(principal_kind("arn:aws:s3:::bucket"), Err(true));
        assert_eq!(principal_kind("bob"), Err(false));
    }

    fn policy(principal: &str, action: &str, resource: &str) -> String {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":{principal}}},"Action":{action},"Resource":"{resource}"}}]}}"#
        )
    }

    #[test]
    fn policies() {
        let ok = parse_policy(
            &policy(
                r#"["222233334444","arn:aws:iam::111122223333:root","222233334444"]"#,
                r#"["imagebuilder:ListImageRecipes","imagebuilder:GetImageRecipe"]"#,
                R,
            ),
            R,
            "image recipe",
            "aws",
        )
        .unwrap();
        assert_eq!(ok.accounts, ["111122223333", "222233334444"]);
        assert_eq!(
            ok.actions,
            ["imagebuilder:GetImageRecipe", "imagebuilder:ListImageRecipes"]
        );
        let act = r#""imagebuilder:GetImageRecipe""#;
        for (p, a, r) in [
            (r#""*""#, act, R),
            (r#""arn:aws-cn:iam::111122223333:root""#, act, R),
            (r#""arn:aws:iam::111122223333:role/x""#, act, R),
            (r#""111122223333""#, r#""s3:GetObject""#, R),
            (
                r#""111122223333""#,
                act,
                "arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/other/1.0.0",
            ),
        ] {
            assert!(
                parse_policy(&policy(p, a, r), R, "image recipe", "aws").is_err(),
                "{p} {a} {r}"
            );
        }
        assert!(parse_policy("{", R, "image recipe", "aws").is_err());
        let two = r#"{"Version":"2012-10-17","Statement":[{},{}]}"#;
        assert!(
            parse_policy(two, R, "image recipe", "aws")
                .unwrap_err()
                .contains("exactly one")
        );
        let cond = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"imagebuilder:GetImageRecipe","Resource":"R","Condition":{}}}"#;
        assert!(
            parse_policy(cond, "R", "image recipe", "aws")
                .unwrap_err()
                .contains("Condition")
        );
    }
}
