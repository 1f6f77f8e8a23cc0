//! The pure functions, each against the class its input was drawn from.

use super::*;
use recipe_share::arn::ResourceArn;
use recipe_share::cfn::{self, Work};
use recipe_share::config::parse_principals;
use recipe_share::eventbridge::{self, Decision};
use recipe_share::handler::describe;
use recipe_share::{policy, sweep};
use std::collections::BTreeSet;

/// `s` with `junk` inserted at a character boundary near `at`.
pub(super) fn splice(s: &str, at: Index, junk: &str) -> String {
    let mut i = at.index(s.len() + 1);
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    format!("{}{junk}{}", &s[..i], &s[i..])
}

/// The model pattern (see [`Parts`]) without a regex engine, for strings no strategy built.
pub(super) fn model_pattern(s: &str) -> bool {
    let v: Vec<&str> = s.splitn(6, ':').collect();
    let [arn, partition, service, region, account, resource] = v[..] else {
        return false;
    };
    let Some((name, version)) = resource.strip_prefix("image-recipe/").and_then(|r| r.split_once('/')) else {
        return false;
    };
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    let name_ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_'));
    let fields: Vec<&str> = version.split('.').collect();
    let version_ok = fields.len() == 3 && fields.iter().all(|f| *f == "x" || digits(f));
    let account_ok = account == "aws" || (account.len() == 12 && digits(account));
    (arn, service) == ("arn", "imagebuilder")
        && partition.starts_with("aws")
        && !region.is_empty()
        && account_ok
        && name_ok
        && version_ok
}

/// Bytes that are not UTF-8: a lone high byte, overlong, an encoded surrogate, a stray
/// continuation, past U+10FFFF, truncated.
const NOT_UTF8: &[&[u8]] = &[
    b"\xff",
    b"\xc0\x80",
    b"\xed\xa0\x80",
    b"\x80",
    b"\xf4\x90\x80\x80",
    b"\xe2\x82",
    b"\xfe\xff",
    b"\xc3",
];

/// (open, leaf, close, levels per open) of nested documents, and (wrapper, its levels).
const NESTS: [(&str, &str, &str, usize); 3] = [
    ("[", "0", "]", 1),
    ("{\"a\":", "null", "}", 1),
    ("[{\"detail\":", "1", "}]", 2),
];
const WRAPS: [(&str, usize); 4] = [
    ("%", 0),
    (
        "{\"RequestType\":\"Create\",\"ResponseURL\":\"https://b.s3.amazonaws.com/x\",\"ResourceProperties\":%}",
        1,
    ),
    (
        "{\"detail-type\":\"AWS API Call via CloudTrail\",\"source\":\"aws.imagebuilder\",\"detail\":%}",
        1,
    ),
    ("{\"sweep\":%}", 1),
];

/// A `SHARE_PRINCIPALS` entry of the documented forms, with the account it names (if one).
fn principal() -> impl Strategy<Value = (String, Option<String>)> {
    let account = prop_oneof![Just("111122223333".to_string()), "[0-9]{12}"];
    let root = (one_of("aws|aws-cn|aws-us-gov"), account.clone())
        .prop_map(|(p, a)| (format!("arn:{p}:iam::{a}:root"), Some(a)));
    let org = "arn:aws:organizations::[0-9]{12}:(?:organization/o-[a-z0-9]{10,32}|ou/o-[a-z0-9]{10,32}/ou-[a-z0-9]{4,32}-[a-z0-9]{8,32})";
    prop_oneof![3 => account.prop_map(|a| (a.clone(), Some(a))), 2 => root, 2 => org.prop_map(|o| (o, None))]
}

/// Entries that are none of the documented forms (a wildcard goes into a good entry instead).
const NOT_PRINCIPALS: &str = "12345678901|1234567890123|١٢٣٤٥٦٧٨٩٠١٢|１２３４５６７８９０１２|123456789012\u{200b}|arn:aws:iam::123456789012:user/x|\
    arn:aws:iam::123456789012:root:x|arn:gcp:iam::123456789012:root|arn:aws:organizations::111122223333:organization/o-abc|\
    arn:aws:organizations::111122223333:ou/o-abcdefghij/ou-x|o-abcdefghij|+12345678901|1.2345678901e11|123456789012;444455556666|*";

proptest! {
    #![proptest_config(config(256, 1))]

    /// Nesting the runtime's parser refuses never reaches the handler, nor does invalid UTF-8
    /// anywhere in an event; what gets through is classified without a panic.
    #[test]
    fn the_runtime_parser_stops_deep_nesting_and_invalid_utf8_before_the_handler(
        depth in prop_oneof![10 => 1usize..=126, 2 => Just(127usize), 2 => Just(128usize), 3 => 129usize..400, 1 => Just(100_000usize)],
        nest in 0..3usize, wrap in 0..4usize, e in event(false), at in any::<Index>(), bad in select(NOT_UTF8),
    ) {
        let ((open, leaf, close, per), (wrapper, levels)) = (NESTS[nest], WRAPS[wrap]);
        let text = wrapper.replacen('%', &format!("{}{leaf}{}", open.repeat(depth), close.repeat(depth)), 1);
        let parsed = serde_json::from_slice::<Value>(text.as_bytes());
        prop_assert_eq!(parsed.is_ok(), levels + depth * per <= 127, "depth {}", levels + depth * per);
        if let Ok(v) = parsed {
            let _ = (describe(&v), cfn::plan(&v, Some(&own())), eventbridge::decide(&v, Some(&own())), sweep::parse(&v));
        }
        let mut bytes = serde_json::to_vec(&e.value()).unwrap();
        let i = at.index(bytes.len() + 1);
        bytes.splice(i..i, bad.iter().copied());
        prop_assert!(serde_json::from_slice::<Value>(&bytes).is_err(), "invalid UTF-8 reached a Value");
        for (text, ok) in [(&br#""\ud800""#[..], false), (br#""\udc00\ud800""#, false), (br#""\ud83d\ude00""#, true)] {
            prop_assert_eq!(serde_json::from_slice::<Value>(text).is_ok(), ok);
        }
    }

    /// Image Builder's model pattern decides what is a recipe ARN; the function's own location
    /// decides what may be shared.
    #[test]
    fn recipe_arns_are_parsed_exactly_by_the_model_pattern(
        p in parts(true), bad in parts(true).prop_flat_map(broken), at in any::<Index>(), junk in "\\PC{0,3}|[A-Z :/.\n]",
    ) {
        let arn = ResourceArn::image_recipe(&text(&p));
        prop_assert!(arn.is_ok(), "refused a model ARN {:?}: {:?}", text(&p), arn);
        let arn = arn.unwrap();
        prop_assert_eq!(arn.location(), location(&p));
        let owned = arn.ensure_owned_by(&own());
        prop_assert_eq!(owned.is_ok(), location(&p) == own());
        prop_assert!(owned.err().is_none_or(|e| e.to_string().len() <= 1000));
        prop_assert!(ResourceArn::image_recipe(&text(&bad)).is_err(), "accepted {:?}", text(&bad));
        let spliced = splice(&text(&p), at, &junk);
        prop_assert_eq!(ResourceArn::image_recipe(&spliced).is_ok(), model_pattern(&spliced), "{:?}", spliced);
    }

    /// Only a well-formed request about an own recipe plans work, and the IDs answered on success,
    /// failure and failure after a change are the ones the contract names.
    #[test]
    fn plan_does_what_each_request_class_asks(c in cfn(false), known in any::<bool>()) {
        let p = cfn::plan(&Event::Cfn(c.clone()).value(), known.then(own).as_ref());
        let got = match &p.work {
            Ok(Work::Share(a)) => Plan::Share(a.to_string()),
            Ok(Work::Unshare { recipe, best_effort, made }) => Plan::Unshare(recipe.to_string(), *best_effort, made.clone()),
            Ok(Work::Rollback { restore, undo }) => Plan::Rollback(restore.to_string(), undo.to_string()),
            Ok(Work::Nothing(_)) => Plan::Nothing,
            Err(why) => {
                prop_assert!(!why.is_empty() && why.len() <= 1000, "{}", why.len());
                Plan::Refused
            }
        };
        // Without its own location the function shares nothing: it refuses, or has nothing to undo.
        let (ok, fail, changed) = c.ids;
        let (want, ok, changed) = match c.plan {
            Plan::Share(_) | Plan::Rollback(..) if !known => (Plan::Refused, None, fail.clone()),
            Plan::Unshare(..) if !known => (Plan::Nothing, ok, changed),
            plan => (plan, ok, changed),
        };
        prop_assert_eq!(got, want);
        if let Some(ok) = ok {
            prop_assert_eq!(p.id_on_success, ok);
        }
        prop_assert_eq!((p.id_on_failure, p.id_on_failure_changed), (fail, changed));
    }

    /// `decide` shares the recipe of an own `CreateImageRecipe`, releases the one of a refused
    /// `DeleteImageRecipe`, looks up a record without ARN, skips the rest and refuses what it
    /// cannot act on; garbage is skipped.
    #[test]
    fn decide_answers_each_cloudtrail_class((event, dec) in trail(false), g in garbage(), known in any::<bool>()) {
        let got = eventbridge::decide(&event, known.then(own).as_ref());
        match (&dec, &got) {
            (Dec::Share(arn, exclude), Ok(Decision::Share { recipe, facts })) if known => {
                prop_assert_eq!((recipe.as_str(), facts.excluded()), (arn.as_str(), exclude.as_deref()));
            }
            (Dec::Lookup(n, v), Ok(Decision::Lookup { name, version, .. })) => prop_assert_eq!((n, v), (name, version)),
            (Dec::Release(arn), Ok(Decision::Release(recipe))) if known => prop_assert_eq!(recipe.as_str(), arn),
            (Dec::Share(..) | Dec::Release(_), Err(_)) if !known => {}
            (Dec::Refused(kind), Err(e)) => prop_assert!(kind(e) || !known, "{:?}", e),
            (Dec::Skip, Ok(Decision::Skip(why))) => prop_assert!(why.len() <= 1200, "{}", why.len()),
            _ => prop_assert!(false, "decide: {:?} for {:?}", got, dec),
        }
        prop_assert!(matches!(eventbridge::decide(&g, known.then(own).as_ref()), Ok(Decision::Skip(_))));
    }

    /// Exactly the scheduled rule's event and `{"sweep": …}` are sweeps; a bad sweep request is an
    /// error, not a skip.
    #[test]
    fn sweep_requests_are_recognised_exactly(e in event(false)) {
        match (&e, sweep::parse(&e.value())) {
            (Event::Sweep(_, Some(mode), _), Some(Ok(r))) => {
                prop_assert_eq!(r.mode, if *mode == "apply" { sweep::Mode::Apply } else { sweep::Mode::Report });
            }
            (Event::Sweep(_, None, _), Some(Err(e))) => prop_assert!(e.to_string().len() <= 1000),
            (Event::Cfn(_) | Event::Trail(..) | Event::Garbage(_), None) => {}
            (e, got) => prop_assert!(false, "{:?} parsed as {:?}", e, got),
        }
    }

    /// An unknown event is described by its type and top-level keys, never its values.
    #[test]
    fn describe_names_the_shape_never_the_values(mut v in json_of("\\PC{0,80}".boxed()), marker in "[a-f0-9]{16}") {
        let marker = format!("VALUE-{marker}");
        if let Value::Object(m) = &mut v {
            m.insert("k".into(), json!(marker));
        }
        let d = describe(&v);
        prop_assert!(!d.contains(&marker) && d.len() <= 16 << 10, "{:.300}", d);
        let kind = match &v {
            Value::Object(m) => {
                // The keys are named (cut, at most 20 of them).
                let short = m.keys().filter(|k| k.chars().count() <= 64);
                prop_assert!(m.len() > 20 || short.clone().all(|k| d.contains(&format!("{k:?}"))), "{:.300}", d);
                "a JSON object with keys ["
            }
            Value::Array(_) => "a JSON array",
            Value::String(_) => "a JSON string",
            Value::Number(_) => "a JSON number",
            Value::Bool(_) => "a JSON boolean",
            Value::Null => "JSON null",
        };
        prop_assert!(d.starts_with(kind), "{:.100}", d);
    }

    /// `SHARE_PRINCIPALS` as the README defines it: account IDs or root ARNs, organization and OU
    /// ARNs, in any order, with duplicates, blanks and padding, at least one account; any other
    /// entry (a wildcard anywhere included) makes it an error. Whatever is accepted never holds a
    /// wildcard or a malformed account.
    #[test]
    fn parse_principals_takes_exactly_the_documented_entries(
        entries in prop::collection::vec((principal(), one_of("| |\t| \n"), any::<bool>()), 0..7),
        bad in prop::option::weighted(0.3, (any::<Index>(), one_of(NOT_PRINCIPALS), any::<Index>())),
        anything in "[0-9a-z:*, \t/-]{0,60}|\\PC{0,40}",
    ) {
        let mut texts: Vec<String> = entries.iter().map(|((text, _), ..)| text.clone()).collect();
        let bad = bad.filter(|_| !texts.is_empty());
        if let Some((k, bad, at)) = &bad {
            let k = k.index(texts.len());
            texts[k] = if bad == "*" { splice(&texts[k], *at, "*") } else { bad.clone() };
        }
        let raw: String = texts.iter().zip(&entries).map(|(t, (_, pad, blank))| format!("{pad}{t}{pad},{}", if *blank { "," } else { "" })).collect();
        let accounts: BTreeSet<String> = entries.iter().filter_map(|((_, a), ..)| a.clone()).collect();
        let orgs: BTreeSet<String> = entries.iter().filter(|((_, a), ..)| a.is_none()).map(|((t, _), ..)| t.clone()).collect();
        match parse_principals(Some(&raw)) {
            Ok(p) => prop_assert!(bad.is_none() && p.accounts == accounts && p.organizations == orgs, "{:?}: {:?}", raw, p),
            Err(e) => prop_assert!(bad.is_some() || accounts.is_empty(), "refused {:?}: {}", raw, e),
        }
        if let Ok(p) = parse_principals(Some(&anything)) {
            prop_assert!(!anything.contains('*') && !p.accounts.is_empty());
            prop_assert!(p.accounts.iter().all(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()) && anything.contains(a.as_str())));
            prop_assert!(p.organizations.iter().all(|o| o.starts_with("arn:aws") && !o.chars().any(char::is_whitespace)));
        }
    }

    /// The standard policy: one Allow statement, the accounts and nothing else, exactly the two
    /// actions, the recipe; any broadening (or other change) is not the standard.
    #[test]
    fn the_standard_policy_grants_only_the_accounts_and_exactly_the_two_actions(
        p in parts(false), accounts in prop::collection::btree_set("[0-9]{12}", 1..6), edit in 0..10usize, other in json_of("\\PC{0,8}".boxed()),
    ) {
        let arn = ResourceArn::image_recipe(&text(&p)).unwrap();
        let policy = policy::standard_policy(&arn, &accounts);
        prop_assert_eq!(&policy, &policy::standard_policy(&arn, &accounts.clone()), "deterministic");
        let actions = ["imagebuilder:GetImageRecipe", "imagebuilder:ListImageRecipes"];
        let st = json!({"Effect": "Allow", "Principal": {"AWS": accounts}, "Action": actions, "Resource": text(&p)});
        prop_assert_eq!(serde_json::from_str::<Value>(&policy).unwrap(), json!({"Version": "2012-10-17", "Statement": [st]}));
        prop_assert!(policy::compare(&policy, &arn, &accounts).is_ok());
        let mut changed = st.clone();
        let granted = st["Principal"]["AWS"].as_array().unwrap().clone();
        match edit {
            0 => changed["Principal"]["AWS"] = json!("*"),
            1 => changed["Principal"]["AWS"] = json!([granted, vec![json!("999999999999")]].concat()),
            2 => changed["Action"] = json!("imagebuilder:*"),
            3 => changed["Action"] = json!([actions[0], actions[1], "imagebuilder:DeleteImageRecipe"]),
            4 => changed["Resource"] = json!("*"),
            5 => changed["Effect"] = json!("Deny"),
            6 => changed["Condition"] = json!({"StringEquals": {"aws:PrincipalOrgID": "o-1"}}),
            7 => changed["Principal"]["Service"] = json!("x"),
            8 => changed["NotAction"] = json!("iam:*"),
            _ => changed["Principal"]["AWS"] = json!(granted[1..]),
        }
        for doc in [json!([changed]), json!([st, other.clone()])] {
            let doc = json!({"Version": "2012-10-17", "Statement": doc}).to_string();
            prop_assert!(policy::compare(&doc, &arn, &accounts).is_err(), "{}", doc);
        }
        let _ = policy::compare(&other.to_string(), &arn, &accounts);
    }
}

/// Every error built from request input is cut, however large the value: a well-formed but
/// foreign ARN's partition and Region are free text in the model pattern (a finding of the old
/// campaign: a ~1 MB value came back as a ~2 MB error).
#[test]
fn foreign_recipe_errors_are_bounded() {
    let huge = format!(
        "arn:aws:imagebuilder:{}:123456789012:image-recipe/a/1.0.0",
        "r".repeat(100_000)
    );
    let arn = ResourceArn::image_recipe(&huge).expect("matches the model pattern");
    assert!(arn.ensure_owned_by(&own()).unwrap_err().to_string().len() <= 1000);
    let event = json!({"RequestType": "Create", "ResponseURL": "https://b.s3.amazonaws.com/x", "StackId": "s", "RequestId": "r",
                       "LogicalResourceId": "L", "ResourceType": "Custom::ImageRecipeShare", "ResourceProperties": {"ImageRecipeArn": huge}});
    assert!(cfn::plan(&event, Some(&own())).work.unwrap_err().len() <= 1000);
    let event = record(false, |d| d["responseElements"]["imageRecipeArn"] = json!(huge));
    assert!(eventbridge::decide(&event, Some(&own())).unwrap_err().to_string().len() <= 1000);
}
