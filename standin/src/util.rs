//! Small helpers shared by the stand-in servers: identifiers that look like AWS ones, URL
//! decoding, timestamps in the two wire formats the models use, and a tiny PRNG (a crate for
//! randomness would cost compile time for nothing: nothing here needs real entropy).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// xorshift64* generator. Seeded from the clock and a process-wide counter so two stand-ins
/// started in the same test process never hand out the same ARNs or secrets.
pub(crate) struct Rng(u64);

static SEED_COUNTER: AtomicU64 = AtomicU64::new(0x9E37_79B9_7F4A_7C15);

impl Rng {
    pub(crate) fn new() -> Rng {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_nanos() as u64;
        let bump = SEED_COUNTER.fetch_add(0x2545_F491_4F6C_DD1D, Ordering::Relaxed);
        let mut seed = nanos ^ bump ^ u64::from(std::process::id()).rotate_left(32);
        if seed == 0 {
            seed = 0xDEAD_BEEF;
        }
        Rng(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// `n` lower-case hex digits.
    pub(crate) fn hex(&mut self, n: usize) -> String {
        let mut s = String::with_capacity(n + 16);
        while s.len() < n {
            s.push_str(&format!("{:016x}", self.next_u64()));
        }
        s.truncate(n);
        s
    }

    /// A UUID-shaped identifier (8-4-4-4-12 hex), the form AWS uses for request ids and
    /// resource-share ids.
    pub(crate) fn uuid(&mut self) -> String {
        let h = self.hex(32);
        format!(
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )
    }
}

/// Decodes `%XX` escapes; `plus_is_space` for query strings (form encoding), not for paths.
pub(crate) fn url_decode(s: &str, plus_is_space: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hi = (bytes[i + 1] as char).to_digit(16);
                let lo = (bytes[i + 2] as char).to_digit(16);
                match (hi, lo) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 3;
                        continue;
                    }
                    _ => out.push(b'%'),
                }
            }
            b'+' if plus_is_space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Splits a raw query string into decoded pairs, keeping order and duplicates.
pub(crate) fn parse_query(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (url_decode(k, true), url_decode(v, true)),
            None => (url_decode(p, true), String::new()),
        })
        .collect()
}

/// Seconds since the epoch as a JSON number: restJson1's default timestamp format, which is
/// what every RAM `DateTime` member uses.
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

/// Year, month, day, hour, minute, second (UTC) of an epoch-seconds time: civil-from-days (Howard
/// Hinnant's algorithm), to avoid a date crate. Public for the benchmarks' report header.
pub fn civil_utc(secs: u64) -> (i64, i64, i64, u64, u64, u64) {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day, rem / 3600, rem % 3600 / 60, rem % 60)
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
        assert_eq!(url_decode("%zz%4", false), "%zz%4");
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
