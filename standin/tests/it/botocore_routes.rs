//! Checks the stand-in's wire contract ([`ROUTES`], [`ERRORS`], [`UNMODELED_ON_OP`]) against
//! botocore's JSON service models, the same models that generate the AWS SDK for Rust: method,
//! path, which members travel in the query string, and every emitted error's shape name and
//! HTTP status. `BOTOCORE_PYTHON` names the interpreter (default `python3`).

use std::collections::BTreeMap;
use std::process::Command;

use recipe_share_standin::{COMMON_ERRORS, ERRORS, ROUTES, UNMODELED_ON_OP};
use serde_json::Value;

const DUMP: &str = r#"
import json, sys
try:
    import botocore.loaders
except ImportError as e:
    sys.stderr.write("cannot import botocore: %s\n" % e)
    sys.exit(3)
loader = botocore.loaders.Loader()
out = {}
for svc in sys.argv[1:]:
    m = loader.load_service_model(svc, "service-2")
    shapes = m["shapes"]
    ops = {}
    for name, op in m["operations"].items():
        members = shapes[op["input"]["shape"]]["members"] if "input" in op else {}
        ops[name] = {
            "method": op["http"]["method"],
            "uri": op["http"]["requestUri"].split("?")[0],
            "query": sorted(v.get("locationName", k) for k, v in members.items() if v.get("location") == "querystring"),
            "body": sorted(k for k, v in members.items() if "location" not in v),
            "errors": sorted(set(e["shape"] for e in op.get("errors", []))),
        }
    errors = {k: v.get("error", {}).get("httpStatusCode") for k, v in shapes.items() if v.get("exception")}
    out[svc] = {"ops": ops, "errors": errors}
print(json.dumps(out))
"#;

fn models() -> Value {
    let python = std::env::var("BOTOCORE_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(&python)
        .args(["-c", DUMP, "imagebuilder", "ram"])
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {python} ({e}); install Python 3 and `pip install botocore`, or set BOTOCORE_PYTHON")
        });
    assert!(
        out.status.success(),
        "{python} cannot load botocore's models: {}\nRun `pip install botocore` (or set BOTOCORE_PYTHON to an interpreter that has it).",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("botocore dump is JSON")
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("list")
        .iter()
        .map(|s| s.as_str().expect("string").to_string())
        .collect()
}

#[test]
fn routes_errors_and_statuses_match_botocore() {
    let models = models();
    let mut problems = Vec::new();
    for r in ROUTES {
        let Some(op) = models[r.service]["ops"].get(r.op) else {
            problems.push(format!("{}: no operation {} in the model", r.service, r.op));
            continue;
        };
        if op["method"] != r.method {
            problems.push(format!("{}: method {} vs model {}", r.op, r.method, op["method"]));
        }
        if op["uri"] != r.path {
            problems.push(format!("{}: path {} vs model {}", r.op, r.path, op["uri"]));
        }
        let mut ours: Vec<String> = r.query.iter().map(|s| s.to_string()).collect();
        ours.sort();
        if ours != strings(&op["query"]) {
            problems.push(format!("{}: query members {ours:?} vs model {:?}", r.op, op["query"]));
        }
        // The dispatcher ignores the body of routes with query members.
        if !r.query.is_empty() && !strings(&op["body"]).is_empty() {
            problems.push(format!("{}: has both query and body members", r.op));
        }
        let modeled = strings(&op["errors"]);
        for code in r.errors {
            let listed = modeled.iter().any(|m| m == code);
            let excused = UNMODELED_ON_OP.contains(&(r.op, *code));
            if listed == excused {
                problems.push(format!(
                    "{}: {code} modeled on the operation: {listed}, in UNMODELED_ON_OP: {excused}",
                    r.op
                ));
            }
        }
    }
    for (service, code, status) in ERRORS {
        match models[service]["errors"].get(code) {
            Some(s) if s == &Value::from(*status) => {}
            Some(s) => problems.push(format!("{service} {code}: status {status} vs model {s}")),
            None => problems.push(format!("{service}: {code} is not an error shape of the model")),
        }
    }
    for (service, code, _) in COMMON_ERRORS {
        for svc in ["imagebuilder", "ram"] {
            if (*service == "*" || service == &svc) && models[svc]["errors"].get(code).is_some() {
                problems.push(format!(
                    "{svc}: {code} is modeled; move it from COMMON_ERRORS to ERRORS"
                ));
            }
        }
    }
    // Every route's errors are in ERRORS for its service.
    let by_service: BTreeMap<&str, Vec<&str>> = ERRORS.iter().fold(BTreeMap::new(), |mut m, (s, c, _)| {
        m.entry(*s).or_default().push(*c);
        m
    });
    for r in ROUTES {
        for code in r.errors {
            if !by_service[r.service].contains(code) {
                problems.push(format!("{}: {code} missing from ERRORS", r.op));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
