//! The CloudFormation `ResponseURL`: a pre-signed credential, so it is validated before it is ever
//! contacted and it can never be printed (its `Debug` and `Display` are redacted).

use std::fmt;
use url::Url;

/// A `ResponseURL` that passed the guard. Deliberately has no way to print itself.
#[derive(Clone, PartialEq, Eq)]
pub struct ResponseUrl(Url);

impl ResponseUrl {
    /// The URL for the HTTP client, the one place that needs it.
    pub fn url(&self) -> &Url {
        &self.0
    }
}

impl fmt::Debug for ResponseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResponseUrl(<redacted>)")
    }
}

impl fmt::Display for ResponseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted response URL>")
    }
}

/// Which URLs may be contacted: S3 over HTTPS on `amazonaws.com`/`amazonaws.com.cn`, plus one
/// optional extra prefix for local runs and tests (`EXTRA_RESPONSE_URL_PREFIX`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponseUrlGuard {
    extra: Option<Prefix>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Prefix {
    scheme: String,
    host: String,
    port: Option<u16>,
    path: String,
}

impl ResponseUrlGuard {
    /// A guard that also admits URLs under `prefix` (scheme, host, port and path prefix).
    pub fn with_extra_prefix(prefix: &str) -> Result<Self, String> {
        let url = Url::parse(prefix).map_err(|e| format!("not a URL ({e})"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err("scheme must be http or https".into());
        }
        if has_user_info(&url) || url.query().is_some() || url.fragment().is_some() {
            return Err("must be scheme, host, port and path only".into());
        }
        let host = url.host_str().ok_or("has no host")?.to_string();
        let extra = Prefix {
            scheme: url.scheme().into(),
            host,
            port: url.port_or_known_default(),
            path: url.path().into(),
        };
        Ok(Self { extra: Some(extra) })
    }

    /// Validates a `ResponseURL`. The error never contains the URL.
    pub fn check(&self, raw: &str) -> Result<ResponseUrl, String> {
        let url = Url::parse(raw).map_err(|e| format!("not a valid URL ({e})"))?;
        if has_user_info(&url) {
            return Err("URL carries user info".into());
        }
        if let Some(p) = &self.extra {
            let matches = url.scheme() == p.scheme
                && url.host_str() == Some(p.host.as_str())
                && url.port_or_known_default() == p.port
                && under(url.path(), &p.path);
            if matches {
                return Ok(ResponseUrl(url));
            }
        }
        if url.scheme() != "https" {
            return Err(format!("scheme {:?} is not https", url.scheme()));
        }
        if url.port().is_some_and(|p| p != 443) {
            return Err("only the default HTTPS port is allowed".into());
        }
        let Some(url::Host::Domain(host)) = url.host() else {
            return Err("host must be an S3 host name, not an IP address".into());
        };
        if !is_s3_host(host) {
            return Err("host is not an Amazon S3 endpoint on amazonaws.com or amazonaws.com.cn".into());
        }
        Ok(ResponseUrl(url))
    }
}

/// `path` is `prefix` or lies below it, by whole segments: `/cfn` admits `/cfn` and `/cfn/x`, never
/// `/cfn-evil/x`.
fn under(path: &str, prefix: &str) -> bool {
    if prefix.ends_with('/') {
        return path.starts_with(prefix);
    }
    path == prefix || path.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('/'))
}

fn has_user_info(url: &Url) -> bool {
    !url.username().is_empty() || url.password().is_some()
}

/// The S3 endpoint forms: `[bucket.]s3.amazonaws.com`, `[bucket.]s3.<region>.amazonaws.com`,
/// `[bucket.]s3-<region>.amazonaws.com`, `…s3.dualstack.<region>…`, `…s3-accelerate[.dualstack]…`,
/// `…s3-external-1…`, `…s3-fips.<region>…`, and the same under `amazonaws.com.cn`. The S3 label must
/// be followed only by a Region or `dualstack`: other services put customer-chosen names in labels
/// deeper down (`s3-x-1.us-east-1.elb.amazonaws.com` is someone's load balancer).
fn is_s3_host(host: &str) -> bool {
    let rest = host
        .strip_suffix(".amazonaws.com")
        .or_else(|| host.strip_suffix(".amazonaws.com.cn"));
    let Some(rest) = rest else { return false };
    let labels: Vec<&str> = rest.split('.').collect();
    let well_formed = labels
        .iter()
        .all(|l| !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    let is_s3 = |l: &str| {
        l == "s3"
            || l.strip_prefix("s3-")
                .is_some_and(|x| matches!(x, "accelerate" | "external-1" | "fips") || is_region(x))
    };
    let Some(at) = labels.iter().rposition(|l| is_s3(l)) else {
        return false;
    };
    let after = &labels[at + 1..];
    well_formed && after.len() <= 2 && after.iter().all(|l| *l == "dualstack" || is_region(l))
}

/// `us-east-1`, `eu-central-2`, `us-gov-west-1`, `cn-north-1`, `ap-southeast-5`: letters, then
/// hyphen-separated words, ending in a number.
fn is_region(label: &str) -> bool {
    let parts: Vec<&str> = label.split('-').collect();
    parts.len() >= 3
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_s3_over_https_unless_the_extra_prefix_matches() {
        let plain = ResponseUrlGuard::default();
        let local = ResponseUrlGuard::with_extra_prefix("http://127.0.0.1:9000/cfn-response/").unwrap();
        let table: &[(&str, bool, bool)] = &[
            // url, allowed by plain guard, allowed with the local prefix
            (
                "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/arn%3Aaws/x?X-Amz-Signature=a",
                true,
                true,
            ),
            (
                "https://cloudformation-custom-resource-response-uswest2.s3-us-west-2.amazonaws.com/x?sig=1",
                true,
                true,
            ),
            ("https://bucket.s3.us-east-1.amazonaws.com/x", true, true),
            ("https://s3.amazonaws.com/bucket/x", true, true),
            ("https://bucket.s3.dualstack.us-east-1.amazonaws.com/x", true, true),
            ("https://bucket.s3-accelerate.dualstack.amazonaws.com/x", true, true),
            ("https://bucket.s3-external-1.amazonaws.com/x", true, true),
            ("https://bucket.s3.us-gov-west-1.amazonaws.com/x", true, true),
            (
                "https://s3-attacker-1234567890.us-east-1.elb.amazonaws.com/x",
                false,
                false,
            ),
            (
                "https://s3-attacker.c1a2b3c4d5e6.us-east-1.rds.amazonaws.com/x",
                false,
                false,
            ),
            ("https://bucket.s3.us-east-1.vpce.amazonaws.com/x", false, false),
            ("https://bucket.s3.cn-north-1.amazonaws.com.cn/x", true, true),
            ("https://bucket.s3.amazonaws.com:443/x", true, true),
            ("http://bucket.s3.amazonaws.com/x", false, false),
            ("https://bucket.s3.amazonaws.com:8443/x", false, false),
            ("https://bucket.s3.amazonaws.com.evil.com/x", false, false),
            ("https://s3.amazonaws.com@evil.com/x", false, false),
            ("https://user:pw@bucket.s3.amazonaws.com/x", false, false),
            ("https://evil.com/s3.amazonaws.com", false, false),
            ("https://ec2.amazonaws.com/x", false, false),
            ("https://amazonaws.com/x", false, false),
            ("https://52.216.0.1/x", false, false),
            ("https://[::1]/x", false, false),
            ("file:///etc/passwd", false, false),
            ("http://127.0.0.1:9000/cfn-response/abc?X-Amz-Signature=1", false, true),
            ("http://127.0.0.1:9000/cfn-response/../admin", false, false),
            ("http://127.0.0.1:9001/cfn-response/abc", false, false),
            ("http://localhost:9000/cfn-response/abc", false, false),
            ("https://127.0.0.1:9000/cfn-response/abc", false, false),
            ("http://127.0.0.1:9000/other/abc", false, false),
            ("http://x@127.0.0.1:9000/cfn-response/abc", false, false),
            ("not a url", false, false),
        ];
        for (url, plain_ok, local_ok) in table {
            assert_eq!(plain.check(url).is_ok(), *plain_ok, "plain {url}");
            assert_eq!(local.check(url).is_ok(), *local_ok, "local {url}");
        }
    }

    #[test]
    fn a_prefix_matches_whole_path_segments() {
        let bare = ResponseUrlGuard::with_extra_prefix("http://127.0.0.1:9000/cfn").unwrap();
        let slash = ResponseUrlGuard::with_extra_prefix("http://127.0.0.1:9000/cfn/").unwrap();
        for (path, bare_ok, slash_ok) in [
            ("/cfn", true, false),
            ("/cfn/", true, true),
            ("/cfn/abc?X-Amz-Signature=1", true, true),
            ("/cfn-evil/abc", false, false),
            ("/cfnx", false, false),
            ("/cf", false, false),
            ("/other/cfn/abc", false, false),
        ] {
            let url = format!("http://127.0.0.1:9000{path}");
            assert_eq!(bare.check(&url).is_ok(), bare_ok, "bare {path}");
            assert_eq!(slash.check(&url).is_ok(), slash_ok, "slash {path}");
        }
    }

    #[test]
    fn bad_prefixes_are_refused() {
        for p in [
            "ftp://127.0.0.1/",
            "http://u:p@127.0.0.1/",
            "http://127.0.0.1/x?y=1",
            "nope",
        ] {
            assert!(ResponseUrlGuard::with_extra_prefix(p).is_err(), "{p}");
        }
    }

    #[test]
    fn the_url_never_prints() {
        let u = ResponseUrlGuard::default()
            .check("https://b.s3.amazonaws.com/x?X-Amz-Signature=secret")
            .unwrap();
        assert!(!format!("{u} {u:?}").contains("secret"));
        let err = ResponseUrlGuard::default()
            .check("https://evil.com/?X-Amz-Signature=secret")
            .unwrap_err();
        assert!(!err.contains("secret"));
    }
}
