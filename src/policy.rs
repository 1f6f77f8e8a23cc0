//! The organization-standard resource policy: built deterministically, and recognised when it is
//! already in place (compared by meaning: RAM and people rewrite the text, not the grant).

use crate::arn::ResourceArn;
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// The standard policy for `resource`: one `Allow` statement, account principals under
/// `Principal.AWS` (sorted, so the same input gives byte-identical output), the two actions AWS
/// documents for its type, and the resource itself. Nothing broader is ever written.
pub fn standard_policy(resource: &ResourceArn, accounts: &BTreeSet<String>) -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "AWS": accounts.iter().collect::<Vec<_>>() },
            "Action": resource.kind().actions(),
            "Resource": resource.as_str(),
        }]
    })
    .to_string()
}

/// Why a policy is not the standard one, for the report and the log; `Ok` when it grants exactly
/// what the standard grants. Understands the forms RAM writes for account shares: statements split
/// or merged, `arn:<p>:iam::<id>:root` for an account, `Sid`s, strings for one-element lists and
/// actions in any case. An organization grant (`"Principal": "*"` with an `aws:PrincipalOrgID`
/// condition, RAM's form) is not the standard policy: organizations are associated with the share.
pub fn compare(current: &str, resource: &ResourceArn, accounts: &BTreeSet<String>) -> Result<(), &'static str> {
    let doc: Value = serde_json::from_str(current).map_err(|_| "the policy is not JSON")?;
    let statements = match &doc["Statement"] {
        Value::Array(list) if !list.is_empty() => list.as_slice(),
        single @ Value::Object(_) => std::slice::from_ref(single),
        _ => return Err("the policy has no statement"),
    };
    let wanted_actions: BTreeSet<String> = resource
        .kind()
        .actions()
        .iter()
        .map(|a| a.to_ascii_lowercase())
        .collect();
    let mut granted = BTreeSet::new();
    for st in statements {
        let obj = st.as_object().ok_or("a statement is not an object")?;
        if obj
            .keys()
            .any(|k| !matches!(k.as_str(), "Sid" | "Effect" | "Principal" | "Action" | "Resource"))
        {
            return Err("a statement has conditions or other elements");
        }
        if st["Effect"] != "Allow" {
            return Err("a statement is not an Allow");
        }
        if st["Principal"] == "*" || st["Principal"]["AWS"] == "*" {
            return Err("the policy grants everyone (or an organization, as RAM writes it)");
        }
        let principal = st["Principal"]
            .as_object()
            .ok_or("a principal is not an AWS principal map")?;
        if principal.len() != 1 {
            return Err("a principal names more than AWS accounts");
        }
        let names = strings(&principal["AWS"]).ok_or("a principal is not a list of accounts")?;
        granted.extend(names.iter().map(|p| account_of(p).to_string()));
        let actions: Option<BTreeSet<String>> =
            strings(&st["Action"]).map(|s| s.iter().map(|a| a.to_ascii_lowercase()).collect());
        if actions.as_ref() != Some(&wanted_actions) {
            return Err("the actions differ from the standard");
        }
        if strings(&st["Resource"]) != Some([resource.as_str().to_string()].into()) {
            return Err("the resource is not the recipe itself");
        }
    }
    if &granted != accounts {
        return Err("the principals differ from SHARE_PRINCIPALS");
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
    use crate::kind::Kind;

    fn recipe() -> ResourceArn {
        ResourceArn::image_recipe("arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/web/1.0.0").unwrap()
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
        assert_eq!(
            st[0]["Action"],
            json!(["imagebuilder:GetImageRecipe", "imagebuilder:ListImageRecipes"])
        );
        assert_eq!(st[0]["Resource"], recipe().as_str());
        assert!(!a.contains('*'));
        assert!(compare(&a, &recipe(), &accounts(&["111111111111", "210987654321"])).is_ok());
    }

    #[test]
    fn every_kind_gets_its_own_actions() {
        let c = ResourceArn::parse(
            Kind::Component,
            "arn:aws:imagebuilder:us-east-1:123456789012:component/c/1.0.0/1",
        )
        .unwrap();
        let doc: Value = serde_json::from_str(&standard_policy(&c, &accounts(&["111111111111"]))).unwrap();
        assert_eq!(
            doc["Statement"][0]["Action"],
            json!(["imagebuilder:GetComponent", "imagebuilder:ListComponents"])
        );
        assert_eq!(doc["Statement"][0]["Resource"], c.as_str());
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
        // The form RAM writes: one statement per share, account-root ARNs, a Sid.
        let ram_split = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"RamStatement1","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::111111111111:root"}},"Action":["imagebuilder:GetImageRecipe","imagebuilder:ListImageRecipes"],"Resource":"{arn}"}},{{"Sid":"RamStatement2","Effect":"Allow","Principal":{{"AWS":["arn:aws:iam::210987654321:root"]}},"Action":["imagebuilder:GetImageRecipe","imagebuilder:ListImageRecipes"],"Resource":"{arn}"}}]}}"#
        );
        let ram_org = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"RamStatement1","Effect":"Allow","Principal":"*","Action":["imagebuilder:GetImageRecipe","imagebuilder:ListImageRecipes"],"Resource":"{arn}","Condition":{{"StringEquals":{{"aws:PrincipalOrgID":"o-abcdefghij"}}}}}}]}}"#
        );
        let table: Vec<(String, Result<(), &str>)> = vec![
            (stmt(""), Ok(())),
            (stmt(r#","Sid":"rewritten""#), Ok(())),
            (ram_split, Ok(())),
            (ram_org, Err("conditions")),
            (
                stmt("").replace(
                    "{\"AWS\":[\"111111111111\",\"arn:aws:iam::210987654321:root\"]}",
                    "\"*\"",
                ),
                Err("everyone"),
            ),
            (
                stmt(r#","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-1"}}"#),
                Err("conditions"),
            ),
            (stmt("").replace("Allow", "Deny"), Err("not an Allow")),
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
            (r#"{"Statement":[]}"#.into(), Err("no statement")),
            ("not json".into(), Err("not JSON")),
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
