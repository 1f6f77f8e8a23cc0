//! Hostile input: what the function does with events and settings nobody should send it, as
//! property tests (proptest) whose oracles come from the contract (README, design sections 2, 4,
//! 5, 6, 9 and 10, the botocore model), not from `src/`.
//!
//! Inputs are built *by construction*: a strategy draws an input of a class the contract names (a
//! CloudFormation Create, Update, rollback Update or Delete; a CloudTrail `CreateImageRecipe` record
//! of an own recipe; a refused `DeleteImageRecipe`; a failed call; another service's event; a sweep
//! request; garbage), perhaps bent in a way whose effect the contract states (no `ResponseURL`: it
//! cannot be answered; a foreign account: refused; capitals in the recipe name: not an ARN; an
//! exclusion tag: skipped), and returns it with the answer its class calls for. No oracle
//! re-implements the function it checks.
//!
//! - [`pure`]: `cfn::plan`, `eventbridge::decide`, `sweep::parse`, `handler::describe`, the
//!   runtime's JSON parser in front of them (nesting and UTF-8 limits), ARNs against the model
//!   pattern, `config::parse_principals`, `policy::standard_policy`/`compare`.
//! - [`urls`]: `ResponseUrlGuard`: documented URLs pass, every other form is refused, the table of
//!   tricks, the extra prefix by whole segments, a redirect is never followed.
//! - [`end_to_end`]: one to three events (or one delivered twice) through `recipe_share::handle` and
//!   the real SDK against a fresh stand-in with known recipes, under a good and a bad configuration:
//!   no panic or hang, an answer inside the deadline, exactly one response PUT per answerable
//!   CloudFormation request and none otherwise, only under the stand-in's `/cfn-response/`, no body
//!   over 4096 bytes, no AWS call for anything refused, no signature in an error, no connection to
//!   the loopback traps standing in for every other host, and the state promised afterwards (shared
//!   by the standard, unshared, released; a recipe already shared is never written again).
//!
//! Failures shrink and are saved to `tests/it/proptest-regressions/hostile_input.txt`, which every
//! run replays first (commit it). The default run (part of the test command) draws 256 cases per
//! pure property, 100 end-to-end sequences and 25 under the bad configuration: about 5 s in a debug
//! build on two cores. `PROPTEST_CASES=N` draws N per pure property, N/4 sequences and N/20 under the
//! bad configuration; `PROPTEST_RNG_SEED` fixes the otherwise random seed. The long campaign
//! (200,000 cases per pure property, 50,000 sequences, about 100,000 events, and 10,000 under the
//! bad configuration: 7½ minutes in a release build on two cores):
//!
//! ```text
//! PROPTEST_CASES=200000 cargo test --release -p recipe-share --test it hostile_input
//! ```

mod end_to_end;
mod pure;
mod urls;

use crate::common::{FUNCTION_ARN, R1, R2, fixture};
use lambda_runtime::{Context, LambdaEvent};
use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::{FileFailurePersistence, contextualize_config};
use recipe_share::arn::{Location, function_location};
use recipe_share::cfn::{Echo, NOTHING_SHARED as N, ROLLBACK};
use recipe_share::{App, Error};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Where proptest keeps the failing cases it found, replayed first on every run.
const REGRESSIONS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/it/proptest-regressions/hostile_input.txt"
);

/// `default` cases, or `PROPTEST_CASES / divisor`; the other `PROPTEST_*` settings apply as usual.
fn config(default: u32, divisor: u32) -> ProptestConfig {
    let persistence = Some(Box::new(FileFailurePersistence::Direct(REGRESSIONS)) as _);
    let config = ProptestConfig {
        failure_persistence: persistence,
        ..ProptestConfig::default()
    };
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok());
    let cases = cases.map_or(default, |n: u32| (n / divisor).max(1));
    ProptestConfig {
        cases,
        ..contextualize_config(config)
    }
}

fn own() -> Location {
    function_location(FUNCTION_ARN).unwrap()
}

/// The `i`th word of `a|b|c` (wrapping).
fn word(words: &'static str, i: usize) -> String {
    let words: Vec<&str> = words.split('|').collect();
    words[i % words.len()].to_string()
}

/// One word of `a|b|c`.
fn one_of(words: &'static str) -> BoxedStrategy<String> {
    let count = words.split('|').count();
    (0..count).prop_map(move |i| word(words, i)).boxed()
}

// ---------------------------------------------------------------------------------------------
// Recipes: by Image Builder's model pattern, each with what the contract makes of it
// ---------------------------------------------------------------------------------------------

/// The stand-in's recipes end to end: present (the third created as `CREATED_NAME`), one tagged
/// `recipe-share:exclude`, one that does not exist.
const PRESENT: [&str; 3] = [R1, R2, CREATED];
const CREATED: &str = "arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/hardened-al2023/2.3.0";
const CREATED_NAME: (&str, &str) = ("Hardened AL2023", "2.3.0");
const EXCLUDED: &str = "arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/private/1.0.0";
const GONE: &str = "arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/gone/1.0.0";
/// In every hostile URL: it must never show up in an error.
const SECRET: &str = "SECRETMARK";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Own,
    /// Matches the model pattern; another partition, Region or account.
    Foreign,
    /// The model pattern refuses it.
    Malformed,
    /// An own container recipe's ARN: a valid PhysicalResourceId to unshare, refused wherever an
    /// image recipe's ARN is asked for.
    OtherKind,
}

/// A recipe ARN (as text) and what it is.
#[derive(Debug, Clone)]
struct Recipe(String, Class);

/// An image-recipe ARN drawn part by part from the botocore model's pattern,
/// `^arn:aws[^:]*:imagebuilder:[^:]+:(?:[0-9]{12}|aws):image-recipe/[a-z0-9-_]+/(?:[0-9]+|x)\.(?:[0-9]+|x)\.(?:[0-9]+|x)$`:
/// `arn`, partition, service, Region, account, resource type, name, version, and a tail.
type Parts = [String; 9];

fn text(p: &Parts) -> String {
    let after = [":", ":", ":", ":", ":", "/", "/", "", ""];
    p.iter().zip(after).map(|(part, sep)| format!("{part}{sep}")).collect()
}

fn location(p: &Parts) -> Location {
    let (partition, region, account) = (p[1].clone(), p[3].clone(), p[4].clone());
    Location {
        partition,
        region,
        account,
    }
}

/// The function's own value of a part, or (`any`) sometimes another the pattern allows.
fn part(any: bool, own: &str, other: &'static str) -> BoxedStrategy<String> {
    let own = Just(own.to_string());
    if any {
        prop_oneof![3 => own, 1 => other].boxed()
    } else {
        own.boxed()
    }
}

prop_compose! {
    /// ARNs the model pattern accepts; `any`: of any partition, Region and account.
    fn parts(any: bool)(
        partition in part(any, "aws", "aws-[a-z-]{1,8}|aws[^:]{1,6}"), region in part(any, "us-east-1", "[^:]{1,12}"),
        account in part(any, "123456789012", "[0-9]{12}|aws"), name in "[a-z0-9_-]{1,24}",
        version in "(?:[0-9]{1,6}|x)\\.(?:[0-9]{1,6}|x)\\.(?:[0-9]{1,6}|x)",
    ) -> Parts {
        ["arn".into(), partition, "imagebuilder".into(), region, account, "image-recipe".into(), name, version, "".into()]
    }
}

/// Per part, values the model pattern refuses (for the name: characters inserted into it).
const BAD: [&str; 9] = [
    "ARN| arn|arn |urn|",
    "|AWS|gcp|aw|Aws-cn",
    "ec2|ImageBuilder|imagebuilder |",
    "",
    "12345678901|1234567890123|١٢٣٤٥٦٧٨٩٠١٢|１２３４５６７８９０１２|aws-marketplace|AWS|12345678901a|",
    "container-recipes|component|image|Image-Recipe|image-recipes|",
    "A|Z| |.|:|@|é|*|\u{0}|\n|/|ı",
    "1.0|1.0.0.0|1..0|.1.0|1.0.|1.a.0|1.0.0/1|X.0.0|1.0.-1|٣.0.0| 1.0.0|1.0.0 |",
    " |/|/1|:|\u{0}|x|/x.x.x",
];

prop_compose! {
    /// `p` with one part the model pattern refuses.
    fn broken(p: Parts)(i in 0..9usize, bad in any::<usize>(), at in any::<Index>()) -> Parts {
        let (mut p, bad) = (p.clone(), word(BAD[i], bad));
        match i {
            6 => p[6].insert_str(at.index(p[6].len() + 1), &bad), // the name is ASCII
            _ => p[i] = bad,
        }
        p
    }
}

prop_compose! {
    /// `p` in another partition, Region or account.
    fn foreign(p: Parts)(k in 0..3usize, other in any::<usize>()) -> Parts {
        let (i, words) = [(1usize, "aws-cn|aws-us-gov|aws-evil|aws "), (3, "eu-west-1|us-east-2|US-EAST-1|us-east-1 |us-east-1\u{202e}"), (4, "999999999999|aws")][k];
        let mut p = p.clone();
        p[i] = word(words, other);
        p
    }
}

/// Own, foreign and malformed recipes (`e2e`: the own ones are the stand-in's).
fn recipe(e2e: bool) -> BoxedStrategy<Recipe> {
    let with = |class| move |p: Parts| Recipe(text(&p), class);
    let foreign = parts(false).prop_flat_map(foreign).prop_map(with(Class::Foreign));
    // Padding is left out: the contract does not say whether a padded ARN is read trimmed.
    let malformed = parts(true).prop_flat_map(broken).prop_map(with(Class::Malformed));
    let malformed = malformed.prop_filter("unpadded", |r| r.0.trim() == r.0);
    let known = [R1, R1, R1, R2, R2, CREATED, EXCLUDED, GONE].map(str::to_string);
    let own = if e2e {
        select(known.to_vec()).boxed()
    } else {
        parts(false).prop_map(|p| text(&p)).boxed()
    };
    let other_kind = parts(false).prop_map(|mut p| {
        p[5] = "container-recipe".into();
        Recipe(text(&p), Class::OtherKind)
    });
    prop_oneof![8 => own.prop_map(|t| Recipe(t, Class::Own)), 1 => foreign, 1 => malformed, 1 => other_kind].boxed()
}

// ---------------------------------------------------------------------------------------------
// JSON and garbage
// ---------------------------------------------------------------------------------------------

/// Strings that break things: controls, direction overrides, the highest code point, look-alikes.
const ODD: &str = "|\u{0}|\u{1b}[2J|\u{202e}|\u{feff}|\u{10ffff}|null|{}|Create|aws.imagebuilder |%s%n|${x}|١٢٣";

fn leaf() -> BoxedStrategy<Value> {
    let huge = (18..21usize).prop_map(|k| Value::from("y".repeat(1 << k)));
    let number = prop_oneof![any::<i64>().prop_map(Value::from), any::<u64>().prop_map(Value::from)];
    // (A NaN or infinity becomes null.)
    let float = any::<f64>().prop_map(|f| json!(f));
    let text = prop_oneof![any::<String>().prop_map(Value::from), one_of(ODD).prop_map(Value::from)];
    prop_oneof![2 => any::<bool>().prop_map(Value::from), 4 => number, 2 => float, 8 => text, 1 => huge].boxed()
}

fn json_of(keys: BoxedStrategy<String>) -> BoxedStrategy<Value> {
    let object = move |v| prop::collection::btree_map(keys.clone(), v, 0..6).prop_map(|m| json!(m));
    let tree = move |v: BoxedStrategy<Value>| {
        prop_oneof![prop::collection::vec(v.clone(), 0..6).prop_map(Value::Array), object(v)]
    };
    leaf().prop_recursive(4, 48, 6, tree).boxed()
}

/// The keys that make an event a CloudFormation request, an EventBridge event (both) or a sweep.
const CLASS_KEYS: [&str; 5] = ["RequestType", "ResponseURL", "detail-type", "source", "sweep"];

prop_compose! {
    /// JSON that is no event of the contract: no class key (near misses welcome), or only one of
    /// `detail-type` and `source`.
    fn garbage()(v in json_of(garbage_key()), half in prop::option::of((one_of("detail-type|source"), leaf()))) -> Value {
        match (v, half) {
            (Value::Object(mut m), Some((k, leaf))) => { m.insert(k, leaf); Value::Object(m) }
            (v, _) => v,
        }
    }
}

fn garbage_key() -> BoxedStrategy<String> {
    let near = one_of("requestType|ResponseUrl|responseURL|RequestType |detail_type|Source|SWEEP|sweep ");
    let key = prop_oneof![near, "\\PC{0,12}"];
    key.prop_filter("no class key", |k| !CLASS_KEYS.contains(&k.as_str()))
        .boxed()
}

// ---------------------------------------------------------------------------------------------
// CloudFormation requests, each with the plan the contract calls for
// ---------------------------------------------------------------------------------------------

/// What a request asks for (the function's own location known).
#[derive(Debug, Clone, PartialEq)]
enum Plan {
    Share(String),
    /// Unshare the recipe; a rollback (the ID of a failed Create) names the shares it made.
    Unshare(String, bool, Vec<String>),
    /// A rollback Update: keep sharing the first, leave the second as the failed Update found it.
    Rollback(String, String),
    Nothing,
    Refused,
}

/// Where the `ResponseURL` points (rendered end to end with the stand-in's and the traps' ports).
#[derive(Debug, Clone)]
enum Url {
    /// The stand-in's prefix, in one of the spellings the URL parser normalises to it.
    Allowed(usize),
    /// Anything else: loopback traps, other hosts, user info, escaping paths, other schemes.
    Refused(usize),
    Missing,
    NotString(Value),
}

#[derive(Debug, Clone)]
struct Cfn {
    /// Without its `ResponseURL`.
    event: Value,
    url: Url,
    plan: Plan,
    /// The PhysicalResourceId answered on success (when work is planned), on failure, on failure
    /// after a change.
    ids: (Option<String>, String, String),
    /// The echoed IDs as sent.
    echo: Echo,
    /// The echoed IDs are within CloudFormation's limits.
    limits: bool,
    /// Debug builds: the hook that makes the work panic.
    panic: bool,
}

/// A request's type, `ImageRecipeArn` (null: missing), PhysicalResourceId, old `ImageRecipeArn`,
/// plan and IDs (`N` alone stands for the request's nothing-shared ID).
#[derive(Debug, Clone)]
struct Req(
    &'static str,
    Value,
    Option<String>,
    Option<String>,
    Plan,
    (Option<String>, String, String),
);

/// Two different own recipes.
fn own_pair(e2e: bool) -> BoxedStrategy<(String, String)> {
    let pair = (parts(false), parts(false)).prop_map(|(a, b)| (text(&a), text(&b)));
    let known = (0..3usize, 1..3usize).prop_map(|(i, d)| (PRESENT[i].into(), PRESENT[(i + d) % 3].into()));
    if e2e {
        known.boxed()
    } else {
        pair.prop_filter("two", |(a, b)| a != b).boxed()
    }
}

/// A value that is not a string (null reads as missing).
fn not_string() -> BoxedStrategy<Value> {
    prop_oneof![
        Just(Value::Null),
        leaf().prop_filter("no string", |v| !v.is_string()),
        Just(json!([R1]))
    ]
    .boxed()
}

prop_compose! {
    /// One request of each type: a Create, an Update (to the same or another recipe), the rollback
    /// of a failed Update (the resource keeps one recipe, the failed Update named the other), a
    /// Delete of a recipe, of a rollback ID (`recipe-share:rollback:<recipe>|<share>…`: the shares
    /// of the own account and Region it names are those the failed Create made) or of another ID,
    /// an unknown type. A property that is no string makes a Create or Update refused.
    fn request(e2e: bool)(which in 0..13usize, Recipe(arn, class) in recipe(e2e), old in recipe(e2e), same in any::<bool>(),
        prop in prop::option::weighted(0.15, not_string()), (keep, failed) in own_pair(e2e), other in prop_oneof![
            Just(format!("{N}c3e9b7a1-2f4d-4e6a")), one_of("some-other-tool-id|"), "[ -~]{0,40}".boxed()],
        shares in prop::collection::vec("arn:aws:ram:(?:us-east-1:123456789012|us-east-1:999999999999|eu-west-1:123456789012):resource-share/[0-9a-f-]{8,36}", 0..4),
        unknown in select(&["create", "CREATE", "Create ", "Bogus", ""][..])) -> Req {
        // An Update may name the recipe the resource already has.
        let Recipe(arn, class) = if (4..=5).contains(&which) && same { old.clone() } else { Recipe(arn, class) };
        let ours = class == Class::Own;
        // A Delete unshares whichever recipe kind its PhysicalResourceId names.
        let deletable = ours || class == Class::OtherKind;
        let share = |fail: &str, changed: &str| match (&prop, ours) {
            (None, true) => (Plan::Share(arn.clone()), (Some(arn.clone()), fail.to_string(), changed.to_string())),
            _ => (Plan::Refused, (None, fail.to_string(), fail.to_string())),
        };
        let arn_prop = prop.clone().unwrap_or(json!(arn));
        let delete = |id: String, plan| Req("Delete", json!(R1), Some(id.clone()), None, plan, (Some(id.clone()), id.clone(), id));
        let shares = if e2e { vec![] } else { shares };
        match which {
            0..=3 => { let (plan, ids) = share(N, &format!("{ROLLBACK}{arn}")); Req("Create", arn_prop, None, None, plan, ids) }
            4..=5 => { let (plan, ids) = share(&old.0, &old.0); Req("Update", arn_prop, Some(old.0.clone()), Some(old.0), plan, ids) }
            6..=7 => {
                let ids = (Some(keep.clone()), keep.clone(), keep.clone());
                Req("Update", json!(keep), Some(keep.clone()), Some(failed.clone()), Plan::Rollback(keep, failed), ids)
            }
            8 => delete(arn.clone(), if deletable { Plan::Unshare(arn, false, vec![]) } else { Plan::Nothing }),
            9..=10 => {
                let made = shares.iter().filter(|s| s.starts_with("arn:aws:ram:us-east-1:123456789012:")).cloned().collect();
                let id = format!("{ROLLBACK}{arn}{}", shares.iter().map(|s| format!("|{s}")).collect::<String>());
                delete(id, if deletable { Plan::Unshare(arn, true, made) } else { Plan::Nothing })
            }
            11 => delete(other, Plan::Nothing),
            _ => Req(unknown, json!(R1), None, None, Plan::Refused, (None, N.into(), N.into())),
        }
    }
}

prop_compose! {
    /// (StackId, RequestId, LogicalResourceId) within CloudFormation's limits, or hostile (the stack
    /// and logical IDs stay ASCII, as CloudFormation's always are: they make the `made-by` tag).
    fn echo()(stack in prop_oneof![
        8 => "arn:aws:cloudformation:us-east-1:123456789012:stack/[A-Za-z][A-Za-z0-9-]{0,127}/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        1 => "[ -~]{0,300}", 1 => Just("s".repeat(5000)),
    ], request in prop_oneof![9 => "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", 1 => "\\PC{0,64}"],
        logical in prop_oneof![9 => "[A-Za-z0-9]{1,255}", 1 => "[ -~]{0,64}"]) -> (Echo, bool) {
        let real = stack.starts_with("arn:") && request.len() == 36 && !logical.is_empty() && logical.bytes().all(|b| b.is_ascii_alphanumeric());
        (Echo { stack_id: stack, request_id: request, logical_resource_id: logical }, real)
    }
}

fn url() -> BoxedStrategy<Url> {
    let (allowed, refused) = (urls::ALLOWED.split('|').count(), urls::REFUSED.split('|').count());
    let (allowed, refused) = ((0..allowed).prop_map(Url::Allowed), (0..refused).prop_map(Url::Refused));
    prop_oneof![8 => allowed, 2 => refused, 1 => Just(Url::Missing), 1 => not_string().prop_map(Url::NotString)].boxed()
}

prop_compose! {
    /// A request as CloudFormation would send it, maybe bent: a required member removed or of the
    /// wrong type (never sent, so refused, keeping a non-empty ID; a rollback Delete is left
    /// alone, as two rules would then decide its answer); a missing or non-string `ResponseURL`
    /// makes it as malformed.
    fn cfn(e2e: bool)(
        Req(kind, arn, physical, old, plan, ids) in request(e2e), (echo, limits) in echo(), url in url(), panic in prop::bool::weighted(0.04),
        broken in prop::option::weighted(0.08, (one_of("StackId|RequestId|LogicalResourceId|ResourceType|ResourceProperties"),
            prop::option::of(prop_oneof![Just(json!(5)), Just(Value::Null), Just(json!([])), Just(json!({}))])))
    ) -> Cfn {
        let mut e = json!({"RequestType": kind, "ServiceToken": FUNCTION_ARN, "StackId": echo.stack_id, "RequestId": echo.request_id,
            "LogicalResourceId": echo.logical_resource_id, "ResourceType": "Custom::ImageRecipeShare",
            "ResourceProperties": {"ServiceToken": FUNCTION_ARN, "ServiceTimeout": "300", "ImageRecipeArn": arn}});
        let props = e["ResourceProperties"].as_object_mut().unwrap();
        props.retain(|_, v| !v.is_null());
        let panic = panic && kind == "Create";
        if panic { props.insert("RecipeShareTestPanic".into(), json!("true")); }
        if let Some(id) = &physical { e["PhysicalResourceId"] = json!(id); }
        if let Some(old) = old { e["OldResourceProperties"] = json!({"ServiceToken": FUNCTION_ARN, "ImageRecipeArn": old}); }
        let rollback_delete = matches!(plan, Plan::Unshare(_, true, _));
        let broken = broken.filter(|(field, with)| !rollback_delete && (field.as_str() != "ResourceProperties" || with.is_none()));
        let mut sent = echo.clone();
        if let Some((field, with)) = &broken {
            match with { Some(v) => e[field.as_str()] = v.clone(), None => drop(e.as_object_mut().unwrap().remove(field)) }
            for (name, value) in [("StackId", &mut sent.stack_id), ("RequestId", &mut sent.request_id), ("LogicalResourceId", &mut sent.logical_resource_id)] {
                if name == field.as_str() { value.clear() }
            }
        }
        let nothing = |id: String| if id == N { format!("{N}{}", sent.request_id) } else { id };
        let (mut plan, mut ids) = (plan, (ids.0, nothing(ids.1), nothing(ids.2)));
        if broken.is_some() || matches!(url, Url::Missing | Url::NotString(_)) {
            let kept = physical.filter(|p| !p.is_empty()).unwrap_or(nothing(N.into()));
            (plan, ids) = (Plan::Refused, (None, kept.clone(), kept));
        }
        Cfn { event: e, url, plan, ids, echo: sent, limits, panic }
    }
}

// ---------------------------------------------------------------------------------------------
// CloudTrail records through EventBridge, and sweep requests
// ---------------------------------------------------------------------------------------------

/// What `decide` must answer (the function's own location known).
#[derive(Debug, Clone)]
enum Dec {
    /// Share the recipe; the `recipe-share:exclude` value it was created with.
    Share(String, Option<String>),
    Lookup(String, String),
    Release(String),
    Skip,
    /// Refused, with the error of its kind.
    Refused(fn(&Error) -> bool),
}

fn refused(class: Class) -> Dec {
    match class {
        Class::Foreign => Dec::Refused(|e| matches!(e, Error::ForeignResource { .. })),
        Class::Malformed | Class::OtherKind => Dec::Refused(|e| matches!(e, Error::InvalidArn { .. })),
        Class::Own => Dec::Refused(|e| matches!(e, Error::InvalidRequest(_))),
    }
}

/// The CloudTrail record of `CreateImageRecipe` (`delete`: the refused `DeleteImageRecipe`), its
/// `detail` changed by `f`.
fn record(delete: bool, f: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Value {
    let file = if delete {
        "eventbridge-delete-image-recipe-refused.json"
    } else {
        "eventbridge-create-image-recipe.json"
    };
    let mut e = fixture(file);
    f(e["detail"].as_object_mut().unwrap());
    e
}

prop_compose! {
    /// `CreateImageRecipe` of a recipe, perhaps tagged `recipe-share:exclude` at creation.
    fn created(e2e: bool)(Recipe(arn, class) in recipe(e2e), x in prop::option::weighted(0.15, "[ -~]{0,12}")) -> (Value, Dec) {
        let x = x.filter(|_| class == Class::Own);
        let event = record(false, |d| {
            d["responseElements"]["imageRecipeArn"] = json!(arn);
            if let Some(x) = &x { d["requestParameters"]["tags"]["recipe-share:exclude"] = json!(x) }
        });
        (event, if class == Class::Own { Dec::Share(arn, x) } else { refused(class) })
    }
}

/// A `requestParameters` field: a string, empty, a number, or missing.
fn field(s: BoxedStrategy<String>) -> impl Strategy<Value = Option<Value>> {
    prop::option::weighted(
        0.9,
        prop_oneof![8 => s.prop_map(Value::from), 1 => Just(json!("")), 1 => Just(json!(5))],
    )
}

prop_compose! {
    /// A record without the ARN: looked up by name and version, when both are non-empty strings.
    fn without_arn(e2e: bool)(name in field(if e2e { prop_oneof![3 => Just(CREATED_NAME.0.into()), 1 => "nobody-[a-z]{4}"].boxed() } else { "\\PC{1,100}".boxed() }),
        version in field(Just(CREATED_NAME.1.to_string()).boxed())) -> (Value, Dec) {
        let text = |v: &Option<Value>| v.as_ref().and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string);
        let dec = match (text(&name), text(&version)) { (Some(n), Some(v)) => Dec::Lookup(n, v), _ => refused(Class::Own) };
        let event = record(false, |d| {
            d["responseElements"].as_object_mut().unwrap().remove("imageRecipeArn");
            let p = d["requestParameters"].as_object_mut().unwrap();
            for (key, value) in [("name", name), ("semanticVersion", version)] {
                match value { Some(v) => p.insert(key.into(), v), None => p.remove(key) };
            }
        });
        (event, dec)
    }
}

prop_compose! {
    /// `DeleteImageRecipe` refused with `ResourceDependencyException`, perhaps without its ARN.
    fn refused_delete(e2e: bool)(r in prop::option::weighted(0.85, recipe(e2e))) -> (Value, Dec) {
        let event = record(true, |d| match &r {
            Some(r) => d["requestParameters"]["imageRecipeArn"] = json!(r.0),
            None => drop(d["requestParameters"].as_object_mut().unwrap().remove("imageRecipeArn")),
        });
        (event, match r { Some(Recipe(arn, Class::Own)) => Dec::Release(arn), Some(r) => refused(r.1), None => refused(Class::Own) })
    }
}

prop_compose! {
    /// Skipped: a failed `CreateImageRecipe`, another outcome of `DeleteImageRecipe`, another event
    /// name, another service's event (a near miss in `source`, `detail-type` or `eventSource`).
    fn skipped()(which in 0..6usize, i in any::<usize>(), odd in 0..8usize) -> (Value, Dec) {
        let words = ["ValidationException|AccessDenied|ResourceDependencyException", "AccessDeniedException|ValidationException",
            "CreateContainerRecipes|createImageRecipe|CreateImageRecipe\u{200b}|UpdateImagePipeline|DeleteImageRecipes|createContainerRecipe",
            "aws.imagebuilder |AWS.imagebuilder|aws.ec2|aws.imagebuilder\u{0}|aws.events|",
            "aws api call via cloudtrail|EC2 Image Builder Image State Change|Scheduled Event",
            "imagebuilder.amazonaws.com.evil|ec2.amazonaws.com|IMAGEBUILDER.amazonaws.com"][which];
        // Mostly one of the words, else null, a number or nothing; a failed call has an errorCode,
        // and without `source` or `detail-type` it would be no EventBridge event at all.
        let v = match odd { 0 if which != 0 => Some(json!(null)), 1 if which != 0 => Some(json!(5)), 2 if ![0, 3, 4].contains(&which) => None, _ => Some(json!(word(words, i))) };
        let mut e = record(which == 1, |d| if which == 0 { d["responseElements"] = Value::Null });
        let key = ["errorCode", "errorCode", "eventName", "source", "detail-type", "eventSource"][which];
        let at = if which == 3 || which == 4 { &mut e } else { &mut e["detail"] }.as_object_mut().unwrap();
        match v { Some(v) => at.insert(key.into(), v), None => at.remove(key) };
        (e, Dec::Skip)
    }
}

fn trail(e2e: bool) -> BoxedStrategy<(Value, Dec)> {
    prop_oneof![8 => created(e2e), 2 => without_arn(e2e), 3 => refused_delete(e2e), 4 => skipped()].boxed()
}

prop_compose! {
    /// A sweep request and what it asks for: (event, the mode or `None` when it is refused, totals
    /// carried at their maximum): the scheduled rule's event, `{"sweep": {…}}` by hand, a bad one.
    fn sweep_request()(which in 0..5usize, mode in prop::option::of(select(&["report", "apply"][..])), extreme in prop::bool::weighted(0.1),
        bad in select(vec![json!({"mode": "APPLY"}), json!({"mode": 5}), json!({"mode": "apply", "dryRun": true}), json!("apply"), json!(null)]),
    ) -> (Value, Option<&'static str>, bool) {
        let totals = json!({"counts": {"compliant": u64::MAX, "excluded": u64::MAX}, "recipes": u64::MAX, "findings": [],
                            "invocations": u32::MAX - 1, "startedAtMs": 0, "throttledCalls": u64::MAX});
        let mut body = json!({ "mode": mode, "totals": if extreme { totals } else { Value::Null } });
        body.as_object_mut().unwrap().retain(|_, v| !v.is_null());
        match which {
            0 => (fixture("scheduled-event.json"), Some("apply"), false),
            1 => (json!({ "sweep": bad }), None, false),
            _ => (json!({ "sweep": body }), Some(mode.unwrap_or("report")), extreme),
        }
    }
}

#[derive(Debug, Clone)]
enum Event {
    Cfn(Cfn),
    Trail(Value, Dec),
    Sweep(Value, Option<&'static str>, bool),
    Garbage(Value),
}

fn event(e2e: bool) -> BoxedStrategy<Event> {
    let (cfn, garbage) = (cfn(e2e).prop_map(Event::Cfn), garbage().prop_map(Event::Garbage));
    let trail = trail(e2e).prop_map(|(v, d)| Event::Trail(v, d));
    let sweep = sweep_request().prop_map(|(v, m, x)| Event::Sweep(v, m, x));
    prop_oneof![5 => cfn, 4 => trail, 1 => sweep, 1 => garbage].boxed()
}

impl Event {
    /// The event as the function receives it, a CloudFormation `ResponseURL` rendered by `url`.
    fn render(&self, url: impl Fn(&Url) -> Option<Value>) -> Value {
        match self {
            Event::Cfn(c) => {
                let mut e = c.event.clone();
                if let Some(u) = url(&c.url) {
                    e["ResponseURL"] = u;
                }
                e
            }
            Event::Trail(e, _) | Event::Sweep(e, ..) | Event::Garbage(e) => e.clone(),
        }
    }

    /// For pure properties: an S3 `ResponseURL`, never contacted.
    fn value(&self) -> Value {
        let s3 = json!(format!("https://bucket.s3.amazonaws.com/x?X-Amz-Signature={SECRET}"));
        self.render(|u| match u {
            Url::Missing => None,
            Url::NotString(v) => Some(v.clone()),
            _ => Some(s3.clone()),
        })
    }
}

/// Invokes the handler in its own task (a panic is reported, not propagated) with a deadline, and
/// a hard stop well after it (a hang fails the test instead of hanging it).
async fn invoke(app: &Arc<App>, event: Value, deadline: Duration) -> (Result<Result<Value, Error>, String>, Duration) {
    let mut ctx = Context::default();
    (ctx.request_id, ctx.invoked_function_arn) = ("hostile-input".into(), FUNCTION_ARN.into());
    ctx.deadline = (SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + deadline).as_millis() as u64;
    let started = Instant::now();
    let task = tokio::spawn(recipe_share::handle(app.clone(), LambdaEvent::new(event, ctx)));
    let outcome = match tokio::time::timeout(deadline + Duration::from_secs(10), task).await {
        Ok(Ok(result)) => Ok(result),
        Ok(Err(join)) => Err(format!("the handler panicked: {join}")),
        Err(_) => Err("the handler hung past its deadline".into()),
    };
    (outcome, started.elapsed())
}
