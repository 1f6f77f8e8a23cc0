//! One CloudWatch embedded-metric-format (EMF) record per invocation (design section 11): what
//! the invocation did, as counts CloudWatch turns into metrics in namespace `RecipeShare` with
//! the dimension `Entry`. Pure: the handler fills a [`Record`]; [`Record::to_line`] writes it.
//!
//! Written by hand: the format is one JSON object (an `_aws` block naming the metrics, their
//! values at the top level), which `serde_json` already writes; the EMF crates bring their own
//! runtimes and dozens of dependencies into a function that counts a dozen numbers.

use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

pub const NAMESPACE: &str = "RecipeShare";
pub const DIMENSION: &str = "Entry";

/// Which entry point the invocation was: the `Entry` dimension's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    CustomResource,
    EventBridge,
    Sweep,
}

impl Entry {
    pub fn as_str(self) -> &'static str {
        match self {
            Entry::CustomResource => "custom-resource",
            Entry::EventBridge => "eventbridge",
            Entry::Sweep => "sweep",
        }
    }
}

/// The outcome counts every record carries (zero when they did not happen, so every graph and
/// alarm has a data point per invocation).
pub const OUTCOMES: [&str; 6] = ["Shared", "AlreadyShared", "Fixed", "Unshared", "Skipped", "Failed"];

/// CloudWatch's units for the metrics this function emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
    Percent,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
            Unit::Percent => "Percent",
        }
    }
}

/// One invocation's metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub entry: Entry,
    pub timestamp_ms: u64,
    values: BTreeMap<String, (f64, Unit)>,
}

impl Record {
    pub fn new(entry: Entry, timestamp_ms: u64) -> Record {
        let values = OUTCOMES.iter().map(|o| (o.to_string(), (0.0, Unit::Count))).collect();
        Record {
            entry,
            timestamp_ms,
            values,
        }
    }

    /// Adds `n` to a count.
    pub fn count(&mut self, name: &str, n: u64) {
        let slot = self.values.entry(name.to_string()).or_insert((0.0, Unit::Count));
        slot.0 += n as f64;
    }

    /// Sets a value.
    pub fn set(&mut self, name: &str, value: f64, unit: Unit) {
        self.values.insert(name.to_string(), (value, unit));
    }

    /// The value of a metric, if the record has it.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.values.get(name).map(|(v, _)| *v)
    }

    /// The EMF document.
    pub fn to_json(&self) -> Value {
        let metrics: Vec<Value> = self
            .values
            .iter()
            .map(|(name, (_, unit))| json!({"Name": name, "Unit": unit.as_str()}))
            .collect();
        let mut doc = Map::new();
        doc.insert(
            "_aws".into(),
            json!({
                "Timestamp": self.timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [[DIMENSION]],
                    "Metrics": metrics,
                }],
            }),
        );
        doc.insert(DIMENSION.into(), json!(self.entry.as_str()));
        for (name, (value, unit)) in &self.values {
            // Counts as integers; measurements to the microsecond.
            let v = match unit {
                Unit::Count if value.fract() == 0.0 && *value >= 0.0 => json!(*value as u64),
                _ => json!((value * 1000.0).round() / 1000.0),
            };
            doc.insert(name.clone(), v);
        }
        Value::Object(doc)
    }

    /// The record as one line, for stdout (where Lambda's log agent picks it up).
    pub fn to_line(&self) -> String {
        self.to_json().to_string()
    }
}

/// Pure: a sweep status as a metric name (`missing-policy` → `MissingPolicy`).
pub fn status_metric(status: &str) -> String {
    status
        .split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// The EMF validator, for this crate's tests and its integration tests (which cannot see
/// `cfg(test)` items). Not used by the function.
#[doc(hidden)]
pub mod tests_support {
    use serde_json::Value;

    /// Checks `doc` against the EMF specification (CloudWatch user guide, "Specification: Embedded
    /// metric format"): the `_aws` member with an integer `Timestamp` and a `CloudWatchMetrics`
    /// array of directives, each with a `Namespace`, `Dimensions` (arrays of at most 30 names of
    /// top-level string members) and `Metrics` (at most 100, each a `Name` whose value is a
    /// top-level number or array of numbers, and an optional `Unit` from CloudWatch's list).
    pub fn emf_problems(doc: &Value) -> Vec<String> {
        const UNITS: [&str; 27] = [
            "Seconds",
            "Microseconds",
            "Milliseconds",
            "Bytes",
            "Kilobytes",
            "Megabytes",
            "Gigabytes",
            "Terabytes",
            "Bits",
            "Kilobits",
            "Megabits",
            "Gigabits",
            "Terabits",
            "Percent",
            "Count",
            "Bytes/Second",
            "Kilobytes/Second",
            "Megabytes/Second",
            "Gigabytes/Second",
            "Terabytes/Second",
            "Bits/Second",
            "Kilobits/Second",
            "Megabits/Second",
            "Gigabits/Second",
            "Terabits/Second",
            "Count/Second",
            "None",
        ];
        let mut p = Vec::new();
        let Some(aws) = doc.get("_aws").and_then(Value::as_object) else {
            return vec!["no _aws object".into()];
        };
        if !aws.get("Timestamp").is_some_and(Value::is_u64) {
            p.push("_aws.Timestamp is not an integer of milliseconds".into());
        }
        let Some(directives) = aws.get("CloudWatchMetrics").and_then(Value::as_array) else {
            return vec!["_aws.CloudWatchMetrics is not an array".into()];
        };
        for d in directives {
            if !d["Namespace"]
                .as_str()
                .is_some_and(|n| !n.is_empty() && n.len() <= 1024)
            {
                p.push(format!("bad Namespace in {d}"));
            }
            for set in d["Dimensions"].as_array().into_iter().flatten() {
                let names = set.as_array().cloned().unwrap_or_default();
                if names.is_empty() || names.len() > 30 {
                    p.push(format!("dimension set {set} has {} names", names.len()));
                }
                for n in names {
                    if !n.as_str().is_some_and(|n| doc[n].is_string()) {
                        p.push(format!("dimension {n} is not a top-level string"));
                    }
                }
            }
            if !d["Dimensions"].is_array() {
                p.push("Dimensions is not an array".into());
            }
            let metrics = d["Metrics"].as_array().cloned().unwrap_or_default();
            if metrics.is_empty() || metrics.len() > 100 {
                p.push(format!("{} metrics in a directive", metrics.len()));
            }
            for m in metrics {
                let Some(name) = m["Name"].as_str() else {
                    p.push(format!("metric without a Name: {m}"));
                    continue;
                };
                let value = &doc[name];
                let numeric = value.is_number() || value.as_array().is_some_and(|a| a.iter().all(Value::is_number));
                if !numeric {
                    p.push(format!("metric {name} has no numeric top-level value"));
                }
                if let Some(unit) = m.get("Unit")
                    && !unit.as_str().is_some_and(|u| UNITS.contains(&u))
                {
                    p.push(format!("metric {name} has unit {unit}"));
                }
            }
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::emf_problems;
    use super::*;

    #[test]
    fn a_record_is_valid_emf_with_every_value_at_the_top_level() {
        let mut r = Record::new(Entry::Sweep, 1_764_579_600_000);
        r.count("Fixed", 3);
        r.count("Fixed", 2);
        r.count(&status_metric("policy-drift"), 1);
        r.set("DurationMs", 12.5, Unit::Milliseconds);
        r.set("QuotaHeadroomPercent", 99.0, Unit::Percent);
        let line = r.to_line();
        assert!(!line.contains('\n'), "one line");
        let doc: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(emf_problems(&doc), Vec::<String>::new(), "{doc}");
        assert_eq!(doc["Entry"], "sweep");
        assert_eq!(doc["_aws"]["CloudWatchMetrics"][0]["Namespace"], "RecipeShare");
        assert_eq!(doc["Fixed"], 5);
        assert_eq!(doc["PolicyDrift"], 1);
        assert_eq!(doc["Failed"], 0, "every outcome is present");
        assert_eq!(doc["DurationMs"], 12.5);
        let units: BTreeMap<String, String> = doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (m["Name"].as_str().unwrap().into(), m["Unit"].as_str().unwrap().into()))
            .collect();
        assert_eq!(units["DurationMs"], "Milliseconds");
        assert_eq!(units["QuotaHeadroomPercent"], "Percent");
        assert_eq!(units["Shared"], "Count");
    }

    #[test]
    fn the_validator_catches_what_cloudwatch_would_drop() {
        let good = Record::new(Entry::EventBridge, 1).to_json();
        type Break = fn(&mut Value);
        let broken: [(&str, Break); 5] = [
            ("timestamp", |d| d["_aws"]["Timestamp"] = json!("now")),
            ("value missing", |d| {
                d.as_object_mut().unwrap().remove("Failed");
            }),
            ("value not a number", |d| d["Shared"] = json!("1")),
            ("dimension missing", |d| {
                d.as_object_mut().unwrap().remove("Entry");
            }),
            ("bad unit", |d| {
                d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] = json!("Recipes")
            }),
        ];
        for (what, f) in broken {
            let mut d = good.clone();
            f(&mut d);
            assert!(!emf_problems(&d).is_empty(), "{what} not caught");
        }
    }

    #[test]
    fn status_names_become_metric_names() {
        for (status, metric) in [
            ("missing-policy", "MissingPolicy"),
            ("share-not-promoted", "ShareNotPromoted"),
            ("dependencies-unshared", "DependenciesUnshared"),
            ("excluded", "Excluded"),
        ] {
            assert_eq!(status_metric(status), metric);
        }
    }
}
