//! Small helpers shared by the stand-in servers: identifiers that look like AWS ones, query
//! decoding, and timestamps in the two wire formats the models use.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use time::UtcDateTime;

/// The stand-in's source of identifiers. Nothing here needs real entropy, only ids that differ
/// between two stand-ins started in one test process, which `fastrand::Rng::new` gives: it
/// forks fastrand's thread-local generator (seeded from the clock and the thread id), advancing
/// it, so no two generators start alike.
pub(crate) struct Rng(fastrand::Rng);

impl Rng {
    pub(crate) fn new() -> Rng {
        Rng(fastrand::Rng::new())
    }

    /// `n` lower-case hex digits.
    pub(crate) fn hex(&mut self, n: usize) -> String {
        (0..n).map(|_| self.0.digit(16)).collect()
    }

    /// A random (version 4) UUID, the form AWS uses for request ids and resource-share ids.
    /// Built from this generator's bytes rather than `Uuid::new_v4`, whose `v4` feature would
    /// pull in `getrandom` for entropy nothing here needs.
    pub(crate) fn uuid(&mut self) -> String {
        uuid::Builder::from_random_bytes(self.0.u128(..).to_le_bytes())
            .into_uuid()
            .hyphenated()
            .to_string()
    }
}

/// Splits a raw query string into form-decoded pairs (`+` is a space), keeping order and
/// duplicates; malformed escapes are kept as sent.
pub(crate) fn parse_query(raw: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(raw.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Seconds since the epoch as a JSON number: restJson1's default timestamp format, which is
/// what every RAM `DateTime` member uses.
/// A percent-encoded path segment, decoded (`+` stays a `+` in paths).
pub(crate) fn decode_path_segment(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

pub(crate) fn epoch_seconds(t: SystemTime) -> serde_json::Value {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    // Millisecond precision, like AWS; rounding through f64 keeps the JSON short.
    let secs = d.as_millis() as f64 / 1000.0;
    serde_json::json!(secs)
}

/// Milliseconds since the epoch (the Lambda Runtime API's deadline header).
pub(crate) fn epoch_millis(t: SystemTime) -> u128 {
    t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO).as_millis()
}

/// ISO-8601 UTC with milliseconds. Image Builder's `dateCreated` is a *string* member in the
/// model (shape `DateTime` of type string), unlike RAM's numeric timestamps.
pub(crate) fn iso8601(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let (year, month, day, h, m, s) = civil_utc(d.as_secs());
    format!(
        "{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{:03}Z",
        d.subsec_millis()
    )
}

/// Year, month, day, hour, minute, second (UTC) of an epoch-seconds time. Public for the
/// benchmarks' report header. Times past the year 9999 (the `time` crate's range without its
/// `large-dates` feature) read as its last second.
pub fn civil_utc(secs: u64) -> (i64, i64, i64, u64, u64, u64) {
    let t = i64::try_from(secs)
        .ok()
        .and_then(|s| UtcDateTime::from_unix_timestamp(s).ok())
        .unwrap_or(UtcDateTime::MAX);
    (
        i64::from(t.year()),
        i64::from(u8::from(t.month())),
        i64::from(t.day()),
        u64::from(t.hour()),
        u64::from(t.minute()),
        u64::from(t.second()),
    )
}

pub(crate) fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

pub(crate) fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_query() {
        let q = parse_query("a=arn%3Aaws%3Aram%3A%3A1%2Fx&b=1+2&c");
        assert_eq!(q[0], ("a".into(), "arn:aws:ram::1/x".into()));
        assert_eq!(q[1], ("b".into(), "1 2".into()));
        assert_eq!(q[2], ("c".into(), String::new()));
        assert_eq!(parse_query("d=%zz%4")[0].1, "%zz%4");
    }

    #[test]
    fn formats_dates() {
        let t = UNIX_EPOCH + Duration::from_millis(951_782_400_123); // 2000-02-29
        assert_eq!(iso8601(t), "2000-02-29T00:00:00.123Z");
        assert_eq!(epoch_seconds(t), serde_json::json!(951_782_400.123));
    }

    #[test]
    fn ids_look_right() {
        let mut r = Rng::new();
        let u = r.uuid();
        assert_eq!(u.len(), 36);
        assert_eq!(u.matches('-').count(), 4);
        assert_ne!(r.uuid(), u);
        assert_eq!(hex_decode(&hex_encode(b"ab:1")).unwrap(), b"ab:1");
    }
}
