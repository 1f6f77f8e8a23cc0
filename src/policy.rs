//! The organization-standard resource policy: built deterministically, and recognised when it is
//! already in place (compared by meaning, since RAM may rewrite the text it stores).

use crate::arn::ImageRecipeArn;
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// The two actions AWS documents for sharing an image recipe, and nothing broader.
pub const ACTIONS: [&str; 2] = ["imagebuilder:GetImageRecipe", "imagebuilder:ListImageRecipes"];

/// The standard policy for `recipe`: one `Allow` statement, account principals under
/// `Principal.AWS` (sorted, so the same input gives byte-identical output), the two actions, the recipe.
pub fn standard_policy(recipe: &ImageRecipeArn, accounts: &BTreeSet<String>) -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "AWS": accounts.iter().collect::<Vec<_>>() },
            "Action": ACTIONS,
            "Resource": recipe.as_str(),
        }]
    })
    .to_string()
}

/// Why a current policy is not the standard one, for the log line; `Ok` when it already is.
pub fn compare(current: &str, recipe: &ImageRecipeArn, accounts: &BTreeSet<String>) -> Result<(), &'static str> {
    let doc: Value = serde_json::from_str(current).map_err(|_| "current policy is not JSON")?;
    let statements = match &doc["Statement"] {
        Value::Array(list) => list.as_slice(),
        single @ Value::Object(_) => std::slice::from_ref(single),
        _ => return Err("current policy has no statement"),
    };
    let [st] = statements else {
        return Err("current policy does not have exactly one statement");
    };
    let obj = st.as_object().ok_or("statement is not an object")?;
    if obj
        .keys()
        .any(|k| !matches!(k.as_str(), "Sid" | "Effect" | "Principal" | "Action" | "Resource"))
    {
        return Err("statement has conditions or other elements");
    }
    if st["Effect"] != "Allow" {
        return Err("effect is not Allow");
    }
    let principal = st["Principal"]
        .as_object()
        .ok_or("principal is not an AWS principal map")?;
    if principal.len() != 1 {
        return Err("principal names more than AWS principals");
    }
    let current_accounts: Option<BTreeSet<String>> =
        strings(&principal["AWS"]).map(|set| set.iter().map(|p| account_of(p).to_string()).collect());
    if current_accounts.as_ref() != Some(accounts) {
        return Err("principals differ from SHARE_PRINCIPALS");
    }
    let wanted: BTreeSet<String> = ACTIONS.iter().map(|a| a.to_ascii_lowercase()).collect();
    let actions = strings(&st["Action"]).map(|set| set.iter().map(|a| a.to_ascii_lowercase()).collect());
    if actions.as_ref() != Some(&wanted) {
        return Err("actions differ from the standard");
    }
    if strings(&st["Resource"]) != Some([recipe.as_str().to_string()].into()) {
        return Err("resource is not the recipe");
    }
    Ok(())
}

/// A policy element that is a string or a list of strings, as a set.
fn strings(v: &Value) -> Option<BTreeSet<String>> {
    match v {
        Value::String(s) => Some([s.clone()].into()),
        Value::Array(items) => items.iter().map(|i| i.as_str().map(str::to_string)).collect(),
        _ => None,
    }
}

/// `arn:aws:iam::123456789012:root` and `123456789012` name the same principal.
fn account_of(principal: &str) -> &str {
    match principal.split(':').collect::<Vec<_>>()[..] {
        ["arn", _, "iam", "", account, "root"] => account,
        _ => principal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recipe() -> ImageRecipeArn {
        ImageRecipeArn::parse("arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/web/1.0.0").unwrap()
    }
    fn accounts(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn standard_policy_is_deterministic_and_narrow() {
        let a = standard_policy(&recipe(), &accounts(&["210987654321", "111111111111"]));
        let b = standard_policy(&recipe(), &accounts(&["111111111111", "210987654321", "111111111111"]));
        assert_eq!(a, b);
        let doc: Value = serde_json::from_str(&a).unwrap();
        assert_eq!(doc["Version"], "2012-10-17");
        let st = &doc["Statement"].as_array().unwrap()[..];
        assert_eq!(st.len(), 1);
        assert_eq!(st[0]["Effect"], "Allow");
        assert_eq!(st[0]["Principal"]["AWS"], json!(["111111111111", "210987654321"]));
        assert_eq!(st[0]["Action"], json!(ACTIONS));
        assert_eq!(st[0]["Resource"], recipe().as_str());
        assert!(!a.contains('*'));
        assert!(compare(&a, &recipe(), &accounts(&["111111111111", "210987654321"])).is_ok());
    }

    #[test]
    fn compare_table() {
        let r = recipe();
        let arn = r.as_str();
        let acc = accounts(&["111111111111", "210987654321"]);
        let stmt = |extra: &str| {
            format!(
                r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":["111111111111","arn:aws:iam::210987654321:root"]}},"Action":["imagebuilder:ListImageRecipes","imagebuilder:GetImageRecipe"],"Resource":"{arn}"{extra}}}]}}"#
            )
        };
        let table: Vec<(String, Result<(), &str>)> = vec![
            (stmt(""), Ok(())),
            (stmt(r#","Sid":"rewritten""#), Ok(())),
            (
                stmt(r#","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-1"}}"#),
                Err("conditions"),
            ),
            (stmt("").replace("Allow", "Deny"), Err("effect")),
            (stmt("").replace("\"111111111111\",", ""), Err("principals")),
            (
                stmt("").replace("imagebuilder:GetImageRecipe", "imagebuilder:*"),
                Err("actions"),
            ),
            (stmt("").replace(arn, "*"), Err("resource")),
            (
                stmt("").replace("{\"AWS\":", "{\"Service\":[\"x\"],\"AWS\":"),
                Err("more than AWS"),
            ),
            ("{}".into(), Err("no statement")),
            ("not json".into(), Err("not JSON")),
            (format!("{{\"Statement\":[{},{}]}}", "{}", "{}"), Err("exactly one")),
        ];
        for (policy, want) in table {
            let got = compare(&policy, &r, &acc);
            match (got, want) {
                (Ok(()), Ok(())) => {}
                (Err(e), Err(frag)) => assert!(e.contains(frag), "{policy}: {e}"),
                (got, want) => panic!("{policy}: got {got:?} want {want:?}"),
            }
        }
    }
}
