//! Pagination shared by every list operation (RAM's and Image Builder's ListImageRecipes):
//! `maxResults` within the service's range and capped by
//! [`Options::page_size`](crate::Options::page_size), an opaque `nextToken`, and the
//! `empty_pages` option that makes the first page of every listing empty but carry a token (RAM
//! documents that a page can be empty while `nextToken` is set, and callers that stop at the
//! first empty page lose data). Items are turned into JSON only for the page answered, so
//! paging through a large listing costs O(items) per page, not O(items) JSON values.

use std::ops::RangeInclusive;

use serde_json::{Map, Value};

use crate::model::ApiError;
use crate::util::{hex_decode, hex_encode};

/// The pagination rules of one service: the model's `maxResults` range and the error codes
/// for a bad `maxResults` and a bad `nextToken`.
pub(crate) struct Limits {
    pub max_results: RangeInclusive<i64>,
    pub bad_max_results: &'static str,
    pub bad_token: &'static str,
}

/// RAM: `MaxResults` 1–500; `InvalidParameterException` / `InvalidNextTokenException`.
pub(crate) const RAM_LIMITS: Limits = Limits {
    max_results: 1..=500,
    bad_max_results: "InvalidParameterException",
    bad_token: "InvalidNextTokenException",
};

/// Image Builder: `RestrictedInteger` 1–25; `InvalidRequestException` /
/// `InvalidPaginationTokenException`.
pub(crate) const IMAGEBUILDER_LIMITS: Limits = Limits {
    max_results: 1..=25,
    bad_max_results: "InvalidRequestException",
    bad_token: "InvalidPaginationTokenException",
};
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

/// [`paged_map`] with RAM's rules on ready JSON items.
#[cfg(test)]
pub(crate) fn paged(
    key: &str,
    items: Vec<Value>,
    input: &Value,
    op: &str,
    page_size: usize,
    empty_pages: bool,
) -> Result<Value, ApiError> {
    paged_map(key, items, |v| v, input, op, page_size, empty_pages, &RAM_LIMITS)
}

/// Builds `{ <key>: <one page of items>, "nextToken"?: ... }` for the request `input` under
/// the service's `limits`; `map` turns only the items of the page answered into JSON.
#[allow(clippy::too_many_arguments)]
pub(crate) fn paged_map<T>(
    key: &str,
    items: Vec<T>,
    map: impl FnMut(T) -> Value,
    input: &Value,
    op: &str,
    page_size: usize,
    empty_pages: bool,
    limits: &Limits,
) -> Result<Value, ApiError> {
    let max = match input.get("maxResults") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_i64() {
            Some(n) if limits.max_results.contains(&n) => Some(n as usize),
            _ => {
                return Err(ApiError::new(
                    limits.bad_max_results,
                    format!(
                        "maxResults must be an integer between {} and {}, got {v}",
                        limits.max_results.start(),
                        limits.max_results.end()
                    ),
                ));
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
                limits.bad_token,
                format!("The specified value for nextToken is not valid: {other}"),
            ));
        }
    };
    let (page, next) = match token {
        None if empty_pages => (Vec::new(), Some(encode_token(op, 0))),
        None => page_from(items, map, 0, size, op),
        Some(t) => {
            let offset = decode_token(op, t).ok_or_else(|| {
                ApiError::new(
                    limits.bad_token,
                    format!("The specified value for nextToken is not valid: {t}"),
                )
            })?;
            page_from(items, map, offset, size, op)
        }
    };
    let mut out = Map::new();
    out.insert(key.to_string(), Value::Array(page));
    if let Some(next) = next {
        out.insert("nextToken".into(), Value::String(next));
    }
    Ok(Value::Object(out))
}

fn page_from<T>(
    items: Vec<T>,
    map: impl FnMut(T) -> Value,
    offset: usize,
    size: usize,
    op: &str,
) -> (Vec<Value>, Option<String>) {
    let total = items.len();
    let page: Vec<Value> = items.into_iter().skip(offset).take(size).map(map).collect();
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

    #[test]
    fn image_builder_limits_and_codes() {
        let ib = |input: Value| paged_map("x", items(30), |v| v, &input, "Op", 100, false, &IMAGEBUILDER_LIMITS);
        assert_eq!(
            ib(json!({"maxResults": 25})).unwrap()["x"].as_array().unwrap().len(),
            25
        );
        assert_eq!(
            ib(json!({"maxResults": 26})).unwrap_err().code,
            "InvalidRequestException"
        );
        assert_eq!(
            ib(json!({"maxResults": 0})).unwrap_err().code,
            "InvalidRequestException"
        );
        assert_eq!(
            ib(json!({"nextToken": "zz"})).unwrap_err().code,
            "InvalidPaginationTokenException"
        );
        assert_eq!(
            ib(json!({"nextToken": 7})).unwrap_err().code,
            "InvalidPaginationTokenException"
        );
    }

    #[test]
    fn only_the_page_is_mapped() {
        let mut mapped = 0;
        let out = paged_map(
            "x",
            (0..1000).collect::<Vec<i32>>(),
            |i| {
                mapped += 1;
                json!(i)
            },
            &json!({"maxResults": 10}),
            "Op",
            100,
            false,
            &RAM_LIMITS,
        )
        .unwrap();
        assert_eq!(out["x"].as_array().unwrap().len(), 10);
        assert_eq!(mapped, 10);
    }
}
