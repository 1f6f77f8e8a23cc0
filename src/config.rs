//! Configuration from the environment, parsed and validated once at start-up (pure: takes a lookup).

use crate::arn::is_account_id;
use crate::error::Error;
use crate::response_url::ResponseUrlGuard;
use std::collections::BTreeSet;

/// Default name of the customer-managed RAM permission that promotion creates or reuses.
pub const DEFAULT_PERMISSION_NAME: &str = "RecipeShareOrgStandard";

/// The organization standard: who a recipe is shared with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principals {
    /// 12-digit account IDs; these go into the recipe's resource policy. Sorted, deduplicated.
    pub accounts: BTreeSet<String>,
    /// Organization and OU ARNs; associated with the share after promotion, never put in the policy.
    pub organizations: BTreeSet<String>,
}

impl Principals {
    /// Every principal of the standard: what a STANDARD share must have associated.
    pub fn all(&self) -> BTreeSet<String> {
        self.accounts.union(&self.organizations).cloned().collect()
    }
}

/// Settings the sharing flow needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareConfig {
    pub principals: Principals,
    pub permission_name: String,
}

/// All configuration. A bad sharing setting is kept as an error rather than aborting start-up, so
/// the runtime loop still answers every CloudFormation request (with FAILED naming the setting).
#[derive(Debug, Clone)]
pub struct Config {
    pub share: Result<ShareConfig, ConfigError>,
    pub response_urls: ResponseUrlGuard,
}

/// A bad setting: which variable, and what is wrong with it (cloneable, unlike [`Error`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub setting: &'static str,
    pub problem: String,
}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::Config {
            setting: e.setting,
            problem: e.problem,
        }
    }
}

impl Config {
    /// Reads every setting through `lookup` (the process environment in production).
    pub fn load(lookup: impl Fn(&str) -> Option<String>) -> Config {
        let (response_urls, prefix_error) = match lookup("EXTRA_RESPONSE_URL_PREFIX").filter(|v| !v.trim().is_empty()) {
            None => (ResponseUrlGuard::default(), None),
            Some(prefix) => match ResponseUrlGuard::with_extra_prefix(prefix.trim()) {
                Ok(guard) => (guard, None),
                Err(problem) => (ResponseUrlGuard::default(), Some(problem)),
            },
        };
        let share = (|| {
            if let Some(problem) = prefix_error {
                return Err(ConfigError {
                    setting: "EXTRA_RESPONSE_URL_PREFIX",
                    problem,
                });
            }
            let principals =
                parse_principals(lookup("SHARE_PRINCIPALS").as_deref()).map_err(|problem| ConfigError {
                    setting: "SHARE_PRINCIPALS",
                    problem,
                })?;
            let permission_name =
                parse_permission_name(lookup("SHARE_PERMISSION_NAME").as_deref()).map_err(|problem| ConfigError {
                    setting: "SHARE_PERMISSION_NAME",
                    problem,
                })?;
            Ok(ShareConfig {
                principals,
                permission_name,
            })
        })();
        Config { share, response_urls }
    }

    /// The process environment.
    pub fn from_env() -> Config {
        Config::load(|name| std::env::var(name).ok())
    }
}

/// Parses `SHARE_PRINCIPALS`: comma-separated account IDs, account-root ARNs, organization and OU ARNs.
pub fn parse_principals(raw: Option<&str>) -> Result<Principals, String> {
    let raw = raw.ok_or("not set; it must list at least one 12-digit account ID")?;
    let mut accounts = BTreeSet::new();
    let mut organizations = BTreeSet::new();
    for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        if entry.contains('*') {
            return Err(format!("{entry:?}: wildcards are never allowed"));
        }
        if is_account_id(entry) {
            accounts.insert(entry.to_string());
        } else if let Some(account) = account_root(entry) {
            accounts.insert(account.to_string());
        } else if is_org_or_ou(entry) {
            organizations.insert(entry.to_string());
        } else {
            return Err(format!(
                "{entry:?} is not a 12-digit account ID, an arn:<partition>:iam::<account>:root ARN, an organization ARN or an OU ARN"
            ));
        }
    }
    if accounts.is_empty() {
        return Err("it must list at least one 12-digit account ID".into());
    }
    Ok(Principals {
        accounts,
        organizations,
    })
}

/// `arn:<partition>:iam::<account>:root` names the account itself.
fn account_root(entry: &str) -> Option<&str> {
    match entry.split(':').collect::<Vec<_>>()[..] {
        ["arn", p, "iam", "", account, "root"] if p.starts_with("aws") && is_account_id(account) => Some(account),
        _ => None,
    }
}

/// `arn:<p>:organizations::<acct>:organization/o-…` or `…:ou/o-…/ou-…-…`.
fn is_org_or_ou(entry: &str) -> bool {
    let lower_alnum = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let org_id = |s: &str| {
        s.strip_prefix("o-")
            .is_some_and(|r| (10..=32).contains(&r.len()) && lower_alnum(r))
    };
    let ou_id = |s: &str| {
        s.strip_prefix("ou-")
            .and_then(|r| r.split_once('-'))
            .is_some_and(|(root, id)| {
                (4..=32).contains(&root.len()) && lower_alnum(root) && (8..=32).contains(&id.len()) && lower_alnum(id)
            })
    };
    match entry.split(':').collect::<Vec<_>>()[..] {
        ["arn", p, "organizations", "", account, resource] if p.starts_with("aws") && is_account_id(account) => {
            match resource.split('/').collect::<Vec<_>>()[..] {
                ["organization", o] => org_id(o),
                ["ou", o, ou] => org_id(o) && ou_id(ou),
                _ => false,
            }
        }
        _ => false,
    }
}

/// `SHARE_PERMISSION_NAME` follows RAM's `PermissionName` shape: 1-36 of `[A-Za-z0-9_.-]`.
pub fn parse_permission_name(raw: Option<&str>) -> Result<String, String> {
    let name = raw
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .unwrap_or(DEFAULT_PERMISSION_NAME);
    let ok = (1..=36).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-');
    if ok {
        Ok(name.to_string())
    } else {
        Err(format!("{name:?} must be 1-36 characters of letters, digits, _ . -"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORG: &str = "arn:aws:organizations::111122223333:organization/o-abcdefghij";
    const OU: &str = "arn:aws:organizations::111122223333:ou/o-abcdefghij/ou-ab12-cdefgh34";

    #[test]
    fn principals_table() {
        // (input, Ok((accounts, organizations)) or Err(fragment of the message))
        type Want<'a> = Result<(&'a [&'a str], &'a [&'a str]), &'a str>;
        let table: &[(&str, Want)] = &[
            ("123456789012", Ok((&["123456789012"], &[]))),
            (
                " 210987654321 ,123456789012,",
                Ok((&["123456789012", "210987654321"], &[])),
            ),
            (
                "arn:aws:iam::123456789012:root,123456789012",
                Ok((&["123456789012"], &[])),
            ),
            ("arn:aws-cn:iam::123456789012:root", Ok((&["123456789012"], &[]))),
            (
                &*format!("123456789012,{ORG},{OU},{OU}"),
                Ok((&["123456789012"], &[ORG, OU])),
            ),
            ("*", Err("wildcards")),
            ("123456789012,*", Err("wildcards")),
            ("arn:aws:iam::*:root", Err("wildcards")),
            (ORG, Err("at least one")),
            ("", Err("at least one")),
            ("12345678901", Err("not a 12-digit")),
            ("arn:aws:iam::123456789012:role/x", Err("not a 12-digit")),
            (
                "arn:aws:organizations::111122223333:organization/o-short",
                Err("not a 12-digit"),
            ),
            (
                "arn:aws:organizations::111122223333:ou/o-abcdefghij/ou-x",
                Err("not a 12-digit"),
            ),
        ];
        for (raw, want) in table {
            let got = parse_principals(Some(raw));
            match (got, want) {
                (Ok(p), Ok((accounts, orgs))) => {
                    assert_eq!(
                        p.accounts.iter().map(String::as_str).collect::<Vec<_>>(),
                        *accounts,
                        "{raw}"
                    );
                    let mut orgs: Vec<&str> = orgs.to_vec();
                    orgs.sort();
                    assert_eq!(
                        p.organizations.iter().map(String::as_str).collect::<Vec<_>>(),
                        orgs,
                        "{raw}"
                    );
                }
                (Err(e), Err(fragment)) => assert!(e.contains(fragment), "{raw}: {e}"),
                (got, want) => panic!("{raw}: got {got:?}, want {want:?}"),
            }
        }
        assert!(parse_principals(None).is_err());
    }

    #[test]
    fn permission_names() {
        assert_eq!(parse_permission_name(None).unwrap(), DEFAULT_PERMISSION_NAME);
        assert_eq!(parse_permission_name(Some(" ")).unwrap(), DEFAULT_PERMISSION_NAME);
        assert_eq!(parse_permission_name(Some("Org.Std-1_a")).unwrap(), "Org.Std-1_a");
        assert!(parse_permission_name(Some("has space")).is_err());
        assert!(parse_permission_name(Some(&"a".repeat(37))).is_err());
    }

    #[test]
    fn a_bad_setting_is_named_and_does_not_hide_the_url_guard() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
        };
        let cfg = Config::load(env(&[
            ("SHARE_PRINCIPALS", "*"),
            ("EXTRA_RESPONSE_URL_PREFIX", "http://127.0.0.1:9/r/"),
        ]));
        assert_eq!(cfg.share.unwrap_err().setting, "SHARE_PRINCIPALS");
        assert!(cfg.response_urls.check("http://127.0.0.1:9/r/x").is_ok());
        let cfg = Config::load(env(&[
            ("SHARE_PRINCIPALS", "123456789012"),
            ("EXTRA_RESPONSE_URL_PREFIX", "ftp://x/"),
        ]));
        assert_eq!(cfg.share.unwrap_err().setting, "EXTRA_RESPONSE_URL_PREFIX");
        let cfg = Config::load(env(&[
            ("SHARE_PRINCIPALS", "123456789012"),
            ("SHARE_PERMISSION_NAME", "a b"),
        ]));
        assert_eq!(cfg.share.unwrap_err().setting, "SHARE_PERMISSION_NAME");
        let cfg = Config::load(env(&[("SHARE_PRINCIPALS", "123456789012")]));
        assert_eq!(cfg.share.unwrap().permission_name, DEFAULT_PERMISSION_NAME);
    }
}
