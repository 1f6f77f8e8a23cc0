//! Pagination shared by every RAM list operation: `maxResults` capped by
//! [`Options::page_size`](crate::Options::page_size), an opaque `nextToken`, and the
//! `empty_pages` option that makes the first page of every listing empty but carry a token (RAM
//! documents that a page can be empty while `nextToken` is set, and callers that stop at the
//! first empty page lose data).

use serde_json::{Map, Value};

use crate::model::{ApiError, invalid_parameter};
use crate::util::{hex_decode, hex_encode};

/// RAM's documented `MaxResults` range.
const MAX_RESULTS_RANGE: std::ops::RangeInclusive<i64> = 1..=500;
/// Marks tokens of this stand-in, so a token from elsewhere is rejected.
const TOKEN_PREFIX: &str = "rsst1";

fn encode_token(op: &str, offset: usize) -> String {
    format!("{TOKEN_PREFIX}{}", hex_encode(format!("{op}:{offset}").as_bytes()))
}

fn decode_token(op: &str, token: &str) -> Option<usize> {
    let raw = hex_decode(token.strip_prefix(TOKEN_PREFIX)?)?;
    let text = String::from_utf8(raw).ok()?;
    let (token_op, offset) = text.rsplit_once(':')?;
    (token_op == op).then_some(())?;
    offset.parse().ok()
}

/// Builds `{ <key>: <one page of items>, "nextToken"?: ... }` for the request `input`.
pub(crate) fn paged(
    key: &str,
    items: Vec<Value>,
    input: &Value,
    op: &str,
    page_size: usize,
    empty_pages: bool,
) -> Result<Value, ApiError> {
    let max = match input.get("maxResults") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_i64() {
            Some(n) if MAX_RESULTS_RANGE.contains(&n) => Some(n as usize),
            _ => {
                return Err(invalid_parameter(format!(
                    "maxResults must be an integer between 1 and 500, got {v}"
                )));
            }
        },
    };
    let size = max.unwrap_or(page_size).min(page_size).max(1);
    let token = match input.get("nextToken") {
        None | Some(Value::Null) => None,
        Some(Value::String(t)) if t.is_empty() => None,
        Some(Value::String(t)) => Some(t.as_str()),
        Some(other) => {
            return Err(ApiError::new(
                "InvalidNextTokenException",
                format!("The specified value for nextToken is not valid: {other}"),
            ));
        }
    };
    let (page, next) = match token {
        None if empty_pages => (Vec::new(), Some(encode_token(op, 0))),
        None => page_from(items, 0, size, op),
        Some(t) => {
            let offset = decode_token(op, t).ok_or_else(|| {
                ApiError::new(
                    "InvalidNextTokenException",
                    format!("The specified value for nextToken is not valid: {t}"),
                )
            })?;
            page_from(items, offset, size, op)
        }
    };
    let mut out = Map::new();
    out.insert(key.to_string(), Value::Array(page));
    if let Some(next) = next {
        out.insert("nextToken".into(), Value::String(next));
    }
    Ok(Value::Object(out))
}

fn page_from(items: Vec<Value>, offset: usize, size: usize, op: &str) -> (Vec<Value>, Option<String>) {
    let total = items.len();
    let page: Vec<Value> = items.into_iter().skip(offset).take(size).collect();
    let end = offset.saturating_add(size);
    let next = (end < total).then(|| encode_token(op, end));
    (page, next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn items(n: usize) -> Vec<Value> {
        (0..n).map(|i| json!(i)).collect()
    }

    #[test]
    fn pages_through_everything() {
        let mut input = json!({"maxResults": 2});
        let mut seen = Vec::new();
        for _ in 0..10 {
            let out = paged("x", items(5), &input, "Op", 100, true).unwrap();
            seen.extend(out["x"].as_array().unwrap().iter().cloned());
            match out.get("nextToken") {
                Some(t) => input["nextToken"] = t.clone(),
                None => break,
            }
        }
        assert_eq!(seen, items(5));
    }

    #[test]
    fn caps_and_rejects() {
        let out = paged("x", items(5), &json!({"maxResults": 4}), "Op", 3, false).unwrap();
        assert_eq!(out["x"].as_array().unwrap().len(), 3);
        let t = out["nextToken"].as_str().unwrap().to_string();
        let e = paged("x", items(5), &json!({"nextToken": t}), "Other", 3, false).unwrap_err();
        assert_eq!(e.code, "InvalidNextTokenException");
        let e = paged("x", items(5), &json!({"nextToken": "zz"}), "Op", 3, false).unwrap_err();
        assert_eq!(e.code, "InvalidNextTokenException");
        let e = paged("x", items(5), &json!({"maxResults": 0}), "Op", 3, false).unwrap_err();
        assert_eq!(e.code, "InvalidParameterException");
        let out = paged("x", Vec::new(), &json!({}), "Op", 3, false).unwrap();
        assert_eq!(out, json!({"x": []}));
    }
}
