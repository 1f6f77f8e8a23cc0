//! The `ResponseURL` guard: the documented URLs pass, every other form is refused (by property and
//! trick by trick), a redirect is never followed; and the loopback traps of the end-to-end runs.

use super::*;
use crate::common::{Harness, Options, PRINCIPALS};
use recipe_share::response_url::ResponseUrlGuard;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use url::Url;

/// End to end, spellings of the stand-in's response URL the URL parser normalises to it (`{p}` its
/// port, `{n}` the response's name, `{q}` the signed query).
pub(super) const ALLOWED: &str = "http://127.0.0.1:{p}/cfn-response/{n}{q}|http://127.1:{p}/cfn-response/{n}{q}|\
    http://0x7f.0.0.1:{p}/cfn-response/{n}{q}|http://2130706433:{p}/cfn-response/{n}{q}|HTTP://127.0.0.1:{p}/cfn-response/{n}{q}|\
    http:\\\\127.0.0.1:{p}\\cfn-response\\{n}{q}|http://127.0.0.1:{p}/cfn-response/x/../{n}{q}| http://127.0.0.1:{p}/cfn-response/{n}{q}\t|\
    http://127.0.0.1:0{p}/cfn-response/{n}{q}";

/// End to end, URLs to refuse before contacting anything: the loopback traps (`{t}`, `{t6}`), the
/// stand-in under another scheme, host, path or user, other schemes, S3 look-alikes (no lookup).
pub(super) const REFUSED: &str = "http://127.0.0.1:{t}/cfn-response/x{q}|https://127.0.0.1:{p}/cfn-response/x{q}|\
    http://127.0.0.2:{p}/cfn-response/x{q}|http://0.0.0.0:{p}/cfn-response/x{q}|http://localhost:{p}/cfn-response/x{q}|\
    http://[::1]:{t6}/cfn-response/x{q}|http://[::ffff:127.0.0.1]:{p}/cfn-response/x{q}|http://[::ffff:7f00:1]:{t}/cfn-response/x{q}|\
    http://u:p@127.0.0.1:{p}/cfn-response/x{q}|http://127.0.0.1:{p}@127.0.0.1:{t}/cfn-response/x{q}|\
    http://127.0.0.1:{t}\\@127.0.0.1:{p}/cfn-response/x{q}|http://127.0.0.1:{p}/cfn%2Dresponse/x{q}|\
    http://127.0.0.1:{p}/cfn-response/%2e%2e/x{q}|http://127.0.0.1:{p}/cfn-response/.%2E/x{q}|http://127.0.0.1:{p}/CFN-RESPONSE/x{q}|\
    http://127.0.0.1:{p}/cfn-response{q}|http://127.0.0.1:{p}/cfn-responsex/y{q}|http://127.0.0.1:0/cfn-response/x{q}|\
    gopher://127.0.0.1:{p}/cfn-response/x{q}|ftp://127.0.0.1:{t}/cfn-response/x{q}|file:///cfn-response/x{q}|\
    http://bucket.s3.amazonaws.com/x{q}|https://bucket.s3.amazonaws.com:8443/x{q}|https://s3.amazonaws.com@127.0.0.1:{t}/{q}|\
    https://bucket.s3.amazonaws.com.evil/x{q}|https://s3.amazonaws.com%40attacker.example/{q}|\
    https://bucket.s3.amazonaws.com\n.evil/x{q}|https://s3-attacker-1.us-east-1.elb.amazonaws.com/x{q}|javascript:alert(1)//{q}|{q}";

/// One trick a line: accepted by the plain guard (`+`/`-`), accepted with the prefix
/// `http://127.0.0.1:9000/cfn-response/`, the URL (`{tab}`, `{nl}`, `{cr}`, `{nul}`, `{sp}` stand for
/// those characters, `{empty}` for nothing). Where the url crate (reqwest's parser too) normalises a form, the guard judges
/// the normalised URL, the one contacted: accepting it is safe ("normalised").
const TRICKS: &str = r"
++ https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/arn%3Aaws/x?X-Amz-Signature=a
++ https://bucket.s3.cn-north-1.amazonaws.com.cn/x
-+ http://127.0.0.1:9000/cfn-response/x?X-Amz-Signature=a
# IPv4 literals in every notation the WHATWG parser knows; normalised to 127.0.0.1 under the prefix
-- https://52.216.8.10/x
-- https://127.0.0.1/x
-- https://2130706433/x
-- https://0x7f000001/x
-- https://0177.0.0.1/x
-- https://0x7f.1/x
-- https://127.1/x
-- https://3627734026/x
-+ http://2130706433:9000/cfn-response/x
-+ http://0x7f.0.0.1:9000/cfn-response/x
-+ http://0177.0.0.01:9000/cfn-response/x
-+ http://127.1:9000/cfn-response/x
-+ http://127.0.0.1.:9000/cfn-response/x
-+ http://%31%32%37.0.0.1:9000/cfn-response/x
-- http://127.0.0.2:9000/cfn-response/x
-- http://0.0.0.0:9000/cfn-response/x
-- http://localhost:9000/cfn-response/x
# IPv6 and v4-mapped IPv6
-- https://[::1]/x
-- http://[::1]:9000/cfn-response/x
-- https://[2600:1f18::1]/x
-- http://[::ffff:127.0.0.1]:9000/cfn-response/x
-- http://[::ffff:7f00:1]:9000/cfn-response/x
-- https://[::ffff:34.216.0.1]/x
-- http://[0:0:0:0:0:0:0:1]:9000/cfn-response/x
-- http://[fe80::1%25eth0]:9000/cfn-response/x
# Ports (0443 and an empty port are the default one, normalised)
-- https://bucket.s3.amazonaws.com:0/x
-- https://bucket.s3.amazonaws.com:80/x
-- https://bucket.s3.amazonaws.com:8443/x
++ https://bucket.s3.amazonaws.com:443/x
++ https://bucket.s3.amazonaws.com:0443/x
++ https://bucket.s3.amazonaws.com:/x
-- https://bucket.s3.amazonaws.com:65536/x
-- http://127.0.0.1:80/cfn-response/x
-- http://127.0.0.1/cfn-response/x
-+ http://127.0.0.1:09000/cfn-response/x
# User info (an empty one is dropped; after a backslash the @ is in the path)
-- https://s3.amazonaws.com@attacker.example/
-- https://s3.amazonaws.com%40attacker.example/
-- https://bucket.s3.amazonaws.com:443@attacker.example/
-- https://user:pw@bucket.s3.amazonaws.com/x
-- https://user@bucket.s3.amazonaws.com/x
++ https://:@bucket.s3.amazonaws.com/x
-- https://attacker.example\@bucket.s3.amazonaws.com/
-- https://attacker.example#@bucket.s3.amazonaws.com/
-- https://attacker.example?@bucket.s3.amazonaws.com/
++ https://bucket.s3.amazonaws.com\@attacker.example/
-- http://x@127.0.0.1:9000/cfn-response/x
-- http://127.0.0.1:9000@127.0.0.1:9001/cfn-response/x
# Look-alike hosts (Cyrillic а is punycode, not amazonaws; fullwidth and ideographic dots map to '.';
# a trailing-dot FQDN is not what CloudFormation sends)
-- https://bucket.s3.amazonaws.com.evil/
-- https://bucket.s3.amazonaws.com.evil.com/x
-- https://bucket.s3.amazonaws.co/x
-- https://bucket.s3.amazonaws.com.cn.evil/x
-- https://bucket.s3.amazonaws.comevil.com/
-- https://s3.amazonaws.com.attacker.example/
-- https://bucket.s3evil.amazonaws.com/x
-- https://evils3.amazonaws.com/x
-- https://bucket-s3.amazonaws.com/x
-- https://ec2.amazonaws.com/x
-- https://amazonaws.com/x
-- https://bucket..s3.amazonaws.com/x
-- https://bucket.s3.amazonаws.com/x
-- https://bucket.s3.amazonaws.com./x
-- https://bucket.s3.amazonaws.com../x
++ https://bucket.s3.amazonaws．com/x
++ https://bucket.s3.amazonaws。com。cn/x
# Case: scheme and host are lowercased, the path is not
++ HTTPS://BUCKET.S3.AMAZONAWS.COM/x
++ https://Bucket.S3.AmazonAWS.com/x
-+ HTTP://127.0.0.1:9000/cfn-response/x
-- http://127.0.0.1:9000/CFN-RESPONSE/x
# Percent-encoding: decoded in the host before the check, not in the path; dot segments (encoded
# ones too) are resolved before the prefix is compared
++ https://bucket.s3.amazonaws%2ecom/
++ https://%62ucket.s3.amazonaws.com/x
-- https://bucket.s3.amazonaws%2Ecom%2eevil/
-- https://bucket.s3.amazonaws.com%00.evil/
-- https://bucket.s3.amazonaws.com%2f.evil/
-- https://bucket.s3.amazonaws.com%3a8443/
-- https://bucket.s3.amazonaws.com%40attacker.example/
-- http://127.0.0.1:9000/cfn%2Dresponse/x
-- http://127.0.0.1:9000/cfn-response/%2e%2e/x
-- http://127.0.0.1:9000/cfn-response/.%2E/x
-- http://127.0.0.1:9000/cfn-response/../x
-+ http://127.0.0.1:9000/cfn-response/%2e%2e%2fx
-+ http://127.0.0.1:9000/x/../cfn-response/y
-- http://127.0.0.1:9000/cfn-response
-- http://127.0.0.1:9000/cfn-responsex/y
# Backslashes are slashes in special URLs
++ https:\\bucket.s3.amazonaws.com\x
++ https:/\bucket.s3.amazonaws.com/x
-+ http:\\127.0.0.1:9000\cfn-response\x
++ https://bucket.s3.amazonaws.com\.evil.com/
# Tabs and newlines are removed anywhere, leading and trailing spaces and controls trimmed
++ https://bucket.s3.amazon{tab}aws.com/x
-- https://bucket.s3.amazonaws.com{nl}.evil/x
-- https://evil.example{cr}{nl}@bucket.s3.amazonaws.com/
++ {sp}https://bucket.s3.amazonaws.com/x{sp}
++ {nul}https://bucket.s3.amazonaws.com/x
-- https://bucket.s3.amazonaws.com{sp}/x
-- https://bucket.s3.amazonaws.com{nul}/x
-- http://127.0.0.1:9000/cfn-response/{nl}../../x
# Other schemes and shapes (a special scheme needs no slashes)
-- javascript:alert(1)//bucket.s3.amazonaws.com/
-- data:text/plain,https://bucket.s3.amazonaws.com/
-- file:///etc/passwd
-- file://bucket.s3.amazonaws.com/x
-- ftp://bucket.s3.amazonaws.com/x
-- wss://bucket.s3.amazonaws.com/x
-- s3://bucket/x
-- gopher://127.0.0.1:9000/cfn-response/x
++ https:bucket.s3.amazonaws.com/x
-- //bucket.s3.amazonaws.com/x
-- bucket.s3.amazonaws.com/x
-- {empty}
-- {sp}{sp}{sp}
-- https://
";

/// The table's rows: (URL, plain, local), with three of a megabyte.
fn tricks() -> Vec<(String, bool, bool)> {
    let codes = [
        ("{tab}", "\t"),
        ("{nl}", "\n"),
        ("{cr}", "\r"),
        ("{nul}", "\0"),
        ("{sp}", " "),
        ("{empty}", ""),
    ];
    let decode = |l: &str| codes.iter().fold(l[3..].to_string(), |s, (code, c)| s.replace(code, c));
    let rows = TRICKS.lines().filter(|l| !l.is_empty() && !l.starts_with('#'));
    let mut rows: Vec<_> = rows.map(|l| (decode(l), l.starts_with('+'), &l[1..2] == "+")).collect();
    let huge = "a".repeat(1 << 20);
    rows.extend([
        (format!("https://bucket.s3.amazonaws.com/{huge}"), true, true),
        (format!("https://{huge}.s3.amazonaws.com/x"), false, false),
    ]);
    rows.push(("@".repeat(1 << 20), false, false));
    rows
}

const LOCAL: &str = "http://127.0.0.1:9000/cfn-response/";

fn guards() -> [(ResponseUrlGuard, bool); 2] {
    [
        (ResponseUrlGuard::default(), false),
        (ResponseUrlGuard::with_extra_prefix(LOCAL).unwrap(), true),
    ]
}

#[test]
fn the_guard_table_of_tricks() {
    let mut wrong = Vec::new();
    for (url, plain, local) in tricks() {
        for ((guard, with_prefix), want) in guards().iter().zip([plain, local]) {
            let got = guard.check(&url);
            if got.is_ok() != want {
                wrong.push(format!(
                    "{:?} (prefix: {with_prefix}): got {}",
                    url.chars().take(120).collect::<String>(),
                    got.is_ok()
                ));
            }
            if let Ok(u) = got {
                assert_eq!(Some(u.url().clone()), Url::parse(&url).ok(), "checked = contacted");
            }
        }
    }
    assert!(wrong.is_empty(), "guard table mismatches:\n{}", wrong.join("\n"));
    // The extra prefix itself must be scheme, host, port and path.
    for p in "ftp://127.0.0.1/|http://u:p@127.0.0.1/|http://u@127.0.0.1/|http://127.0.0.1/x?y=1|http://127.0.0.1/x#f|javascript:x|data:,x|file:///tmp/||nope".split('|') {
        assert!(ResponseUrlGuard::with_extra_prefix(p).is_err(), "{p}");
    }
}

/// Other services put customer-chosen names into labels that may start with `s3-` (a finding of
/// the old campaign): a load balancer named `s3-x` is `s3-x-<id>.<region>.elb.amazonaws.com`, an
/// RDS instance `s3-x.<id>.<region>.rds.amazonaws.com`. Only S3's own endpoint forms pass.
#[test]
fn only_s3_endpoints_pass_the_guard() {
    for url in [
        "https://s3-attacker-1234567890.us-east-1.elb.amazonaws.com/x",
        "https://s3-attacker.c1a2b3c4d5e6.us-east-1.rds.amazonaws.com/x",
    ] {
        assert!(ResponseUrlGuard::default().check(url).is_err(), "{url}");
    }
}

const REGION: &str = "[a-z]{2}-(?:gov-)?[a-z]{4,9}-[1-9]";

prop_compose! {
    /// An S3 URL in a form AWS documents, `https://[bucket.]<endpoint>.amazonaws.com[.cn][:443]/…`
    /// with the endpoint `s3`, `s3.<region>`, `s3-<region>`, `s3.dualstack.<region>`,
    /// `s3-accelerate[.dualstack]`, `s3-external-1` or `s3-fips[.dualstack].<region>`, by its parts:
    /// scheme, user info, host, domain, port, path.
    fn s3_url()(scheme in one_of("https|HTTPS|Https"), host in proptest::string::string_regex(&format!(
        "(?:[a-z0-9][a-z0-9-]{{1,20}}[a-z0-9](?:\\.[a-z0-9][a-z0-9-]{{0,8}}[a-z0-9]){{0,2}}\\.)?\
         s3(?:\\.{REGION}|-{REGION}|\\.dualstack\\.{REGION}|-accelerate(?:\\.dualstack)?|-external-1|-fips(?:\\.dualstack)?\\.{REGION})?")).unwrap(),
        domain in one_of("amazonaws.com|amazonaws.com.cn"), port in one_of("|:443"), path in "(?:/[A-Za-z0-9._~-]{0,12}){0,3}",
    ) -> [String; 6] {
        // S3 bucket names never start with `xn--` (nor could an IDNA label that is no punycode).
        let host = host.split('.').map(|l| l.strip_prefix("xn--").map_or(l.to_string(), |l| format!("xn{l}"))).collect::<Vec<_>>().join(".");
        [scheme, String::new(), host, domain, port, path]
    }
}

prop_compose! {
    /// `u` with one change that leaves the documented forms: the scheme, the port, user info, the
    /// domain, the S3 label (another service's, customer-named labels included), an IP literal.
    fn not_s3(u: [String; 6])(i in 0..7usize, word in any::<usize>(), port in (0u16..=65535).prop_filter("not 443", |p| *p != 443),
        label in "(?:[a-z0-9]{1,8}\\.)?(?:ec2|s3x|xs3|s3-evil|elb|s4|s3-us-east)",
        service in proptest::string::string_regex(&format!("s3-[a-z0-9-]{{1,12}}\\.{REGION}\\.(?:elb|rds|execute-api|es|compute)")).unwrap(),
    ) -> [String; 6] {
        let mut u = u.clone();
        let pick = |words| super::word(words, word);
        match i {
            0 => u[0] = pick("http|ftp|wss|file|s3|httpss|javascript"),
            1 => u[4] = format!(":{port}"),
            2 => u[1] = pick("u@|u:p@|:p@|s3.amazonaws.com@|%40@"),
            3 => u[3] = pick("amazonaws.com.evil|amazonaws.co|amazonaws.com.cn.evil|amazonaws.comx|amazonaws.org|amazon.com"),
            4 => u[2] = label,
            5 => u[2] = service,
            _ => (u[2], u[3]) = (pick("52.216.8.10|[2600:1f18::1]|3627734026|0x34d80a0a|[::ffff:34.216.0.1]"), String::new()),
        }
        u
    }
}

fn s3_text([scheme, user, host, domain, port, path]: &[String; 6]) -> String {
    let dot = if domain.is_empty() { "" } else { "." };
    format!("{scheme}://{user}{host}{dot}{domain}{port}{path}?X-Amz-Signature={SECRET}")
}

prop_compose! {
    /// A URL near the extra prefix `http://127.0.0.1:<port>/<segments>[/]`: (prefix, URL, accepted),
    /// accepted exactly when scheme, host (any spelling of 127.0.0.1), port and whole segments match.
    fn near_prefix()(port in 1024u16..65535, segs in prop::collection::vec("[a-z][a-z0-9_-]{0,7}", 1..3), slash in any::<bool>(),
        rest in prop::collection::vec("[a-z][a-z0-9_-]{0,7}", 0..3), how in 0..9usize, host in one_of("127.0.0.1|127.1|2130706433|0x7f.0.0.1"),
    ) -> (String, String, bool) {
        let path = format!("/{}{}", segs.join("/"), if slash { "/" } else { "" });
        let (bare, sep) = (path.trim_end_matches('/'), if slash || rest.is_empty() { "" } else { "/" });
        let mut p = format!("{path}{sep}{}", rest.join("/"));
        let (mut scheme, mut user, mut host, mut to, mut ok) = ("http", "", host, port, true);
        match how {
            0 => (p, ok) = (format!("{bare}x{sep}{}", rest.join("/")), false), // not a whole segment
            1 => (p, ok) = (bare.to_string(), !slash),
            2 => (to, ok) = (port + 1, false),
            3 => (scheme, ok) = ("https", false),
            4 => (p, ok) = (p.replacen(bare, &bare.to_uppercase(), 1), false),
            5 => (user, ok) = ("u@", false),
            6 => (host, ok) = ("127.0.0.2".into(), false),
            7 => scheme = "HTTP",
            _ => {}
        }
        (format!("http://127.0.0.1:{port}{path}"), format!("{scheme}://{user}{host}:{to}{p}?X-Amz-Signature={SECRET}"), ok)
    }
}

/// What acceptance alone must guarantee: https, the default port, no user info, an amazonaws host
/// name; or, with the prefix, the stand-in's `/cfn-response/` on 127.0.0.1:9000.
fn safe(u: &Url, local: bool) -> bool {
    let s3 = matches!(u.host(), Some(url::Host::Domain(h)) if h.ends_with(".amazonaws.com") || h.ends_with(".amazonaws.com.cn"));
    let plain = u.scheme() == "https" && u.port().is_none() && s3;
    let prefix = local
        && u.scheme() == "http"
        && u.host_str() == Some("127.0.0.1")
        && u.port() == Some(9000)
        && u.path().starts_with("/cfn-response/");
    u.username().is_empty() && u.password().is_none() && (plain || prefix)
}

proptest! {
    #![proptest_config(config(256, 1))]

    /// Documented S3 URLs pass both guards; a change out of the documented forms is refused by both.
    #[test]
    fn the_guard_accepts_exactly_the_documented_urls(u in s3_url(), bad in s3_url().prop_flat_map(not_s3)) {
        for (guard, _) in guards() {
            prop_assert!(guard.check(&s3_text(&u)).is_ok(), "refused {:?}", s3_text(&u));
            let refused = guard.check(&s3_text(&bad));
            prop_assert!(refused.as_ref().is_err_and(|why| !why.contains(SECRET)), "{:?}: {:?}", s3_text(&bad), refused);
        }
    }

    /// The extra prefix matches scheme, host, port and whole path segments, nothing else.
    #[test]
    fn the_extra_prefix_matches_whole_segments((prefix, url, ok) in near_prefix()) {
        prop_assert_eq!(ResponseUrlGuard::with_extra_prefix(&prefix).unwrap().check(&url).is_ok(), ok, "{} under {}", url, prefix);
        prop_assert!(ResponseUrlGuard::default().check(&url).is_err());
    }

    /// Every trick, bent further: what passes is safe and exactly what was checked; a refusal is
    /// short and never carries the URL.
    #[test]
    fn whatever_the_guard_accepts_is_safe(trick in select(tricks()), at in any::<Index>(), junk in "[\t\n @%.\\\\/:#?0-9a-z\u{0}]{0,4}|\\PC{0,2}") {
        let raw = format!("{}?X-Amz-Signature={SECRET}", super::pure::splice(&trick.0, at, &junk));
        for (guard, local) in guards() {
            match guard.check(&raw) {
                Ok(u) => prop_assert!(safe(u.url(), local) && Url::parse(&raw).ok().as_ref() == Some(u.url()), "{:?}", raw),
                Err(why) => prop_assert!(!why.contains(SECRET) && why.len() < 200, "{}", why),
            }
        }
    }
}

/// A loopback listener that must never be contacted; it counts the connections it gets anyway.
pub(super) struct Trap {
    pub(super) port: u16,
    hits: Arc<AtomicUsize>,
}

impl Trap {
    pub(super) fn bind(addr: &str) -> Option<Trap> {
        let listener = TcpListener::bind(addr).ok()?;
        let (port, hits) = (listener.local_addr().ok()?.port(), Arc::new(AtomicUsize::new(0)));
        let counted = hits.clone();
        // Detached: it lives as long as the test process.
        std::thread::spawn(move || {
            for _ in listener.incoming() {
                counted.fetch_add(1, Ordering::SeqCst);
            }
        });
        Some(Trap { port, hits })
    }

    pub(super) fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// A loopback HTTP server that answers every request with a redirect, status and target read
/// from the path (`/cfn-response/<status>/<target index>`); it records the paths asked for.
fn redirector(targets: Vec<String>) -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let (port, asked) = (listener.local_addr().unwrap().port(), Arc::new(Mutex::new(Vec::new())));
    let seen = asked.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let (seen, targets) = (seen.clone(), targets.clone());
            std::thread::spawn(move || redirect(conn, &seen, &targets));
        }
    });
    (port, asked)
}

fn redirect(mut conn: TcpStream, seen: &Mutex<Vec<String>>, targets: &[String]) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    let (mut buf, mut chunk) = (Vec::new(), [0u8; 4096]);
    // The head, then the body it announces (each read bounded by the timeout).
    let mut head_end = None;
    while head_end.is_none_or(|end: usize| buf.len() < end) {
        let Ok(n @ 1..) = conn.read(&mut chunk) else { return };
        buf.extend_from_slice(&chunk[..n]);
        if let (None, Some(at)) = (head_end, buf.windows(4).position(|w| w == b"\r\n\r\n")) {
            let head = String::from_utf8_lossy(&buf[..at]).to_lowercase();
            let length = head
                .split("content-length:")
                .nth(1)
                .and_then(|v| v.lines().next()?.trim().parse().ok());
            head_end = Some(at + 4 + length.unwrap_or(0));
        }
    }
    let target = String::from_utf8_lossy(&buf)
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_string();
    seen.lock().unwrap().push(target.clone());
    let mut parts = target.trim_start_matches("/cfn-response/").split(['/', '?']);
    let status: u16 = parts.next().and_then(|s| s.parse().ok()).unwrap_or(307);
    let location = parts
        .next()
        .and_then(|s| targets.get(s.parse::<usize>().ok()?))
        .cloned()
        .unwrap_or_default();
    let reply =
        format!("HTTP/1.1 {status} Redirect\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    let _ = conn.write_all(reply.as_bytes());
}

#[tokio::test]
async fn a_redirect_from_the_response_url_is_never_followed() {
    let recorder = Trap::bind("127.0.0.1:0").unwrap();
    // The stand-in is started first so that one target can be its own, allowed, response URL.
    let standin = crate::common::StandIn::start(Options::default());
    let targets = vec![
        format!("http://127.0.0.1:{}/cfn-response/x", recorder.port),
        standin.response_url("after-redirect"),
        "https://bucket.s3.amazonaws.com/x".to_string(), // would be off-machine: must never be tried
    ];
    let (port, asked) = redirector(targets.clone());
    let prefix = format!("http://127.0.0.1:{port}/cfn-response/");
    let h = Harness::with(
        Options::default(),
        &[("SHARE_PRINCIPALS", PRINCIPALS), ("EXTRA_RESPONSE_URL_PREFIX", &prefix)],
    )
    .await;
    let deadline = Duration::from_millis(1200);
    let mut runs = tokio::task::JoinSet::new();
    for (status, target) in [301u16, 302, 303, 307, 308]
        .into_iter()
        .flat_map(|s| (0..targets.len()).map(move |t| (s, t)))
    {
        let event = json!({"RequestType": "Delete", "ResponseURL": format!("{prefix}{status}/{target}?X-Amz-Signature=s"),
            "StackId": "s", "RequestId": "r", "LogicalResourceId": "L", "ResourceType": "Custom::ImageRecipeShare",
            "PhysicalResourceId": "some-other-tool-id", "ResourceProperties": {}});
        let app = h.app.clone();
        runs.spawn(async move { (status, target, invoke(&app, event, deadline).await) });
    }
    while let Some(done) = runs.join_next().await {
        let (status, target, (outcome, elapsed)) = done.unwrap();
        match outcome.unwrap_or_else(|why| panic!("{status} to {target}: {why}")) {
            Err(Error::ResponseNotDelivered(why)) => assert!(why.contains(&status.to_string()), "{why}"),
            other => panic!("{status} to {target}: {other:?}"),
        }
        assert!(elapsed <= deadline, "{status} to {target}: {elapsed:?}");
        let asked = asked.lock().unwrap();
        assert!(
            asked
                .iter()
                .any(|p| p.starts_with(&format!("/cfn-response/{status}/{target}?"))),
            "{status} to {target}: never asked"
        );
    }
    assert_eq!(recorder.hits(), 0, "a redirect was followed to the recorder");
    assert!(standin.calls().is_empty(), "a redirect was followed to the stand-in");
    assert!(h.standin.calls().is_empty(), "nothing else was called");
}
