//! Validated ARNs at the edges: Image Builder resources (the service model's patterns, per
//! [`Kind`]) and this function's own location (from the invoked function ARN).

use crate::error::Error;
use crate::kind::Kind;
use std::fmt;

/// An Image Builder resource ARN that matches the service model's pattern for its kind:
/// `arn:aws[^:]*:imagebuilder:<region>:<12 digits|aws…>:<segment>/<[a-z0-9-_]+>/<version>[/<build>]`.
/// Recipes take `<x.y.z>` where each field may be `x`; components and images take a build
/// version, `<d.d.d>/<d>` (the form their Put*Policy operations accept).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceArn {
    kind: Kind,
    text: String,
}

/// Where a resource lives: the parts of an ARN the confused-deputy guard compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub partition: String,
    pub region: String,
    pub account: String,
}

/// Every error built from input is cut, so a huge value cannot make a huge log line or Reason.
fn cut(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

fn version_ok(v: &str, wildcards: bool) -> bool {
    let fields: Vec<&str> = v.split('.').collect();
    fields.len() == 3
        && fields
            .iter()
            .all(|f| (wildcards && *f == "x") || (!f.is_empty() && f.bytes().all(|b| b.is_ascii_digit())))
}

fn digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

impl ResourceArn {
    /// Checks `value` against the model pattern of `kind`; the reason names the first part that is wrong.
    pub fn parse(kind: Kind, value: &str) -> Result<Self, Error> {
        let bad = |reason: &'static str| Error::InvalidArn {
            kind,
            value: cut(value, 300),
            reason,
        };
        let parts: Vec<&str> = value.splitn(6, ':').collect();
        let [arn, partition, service, region, account, resource] = parts[..] else {
            return Err(bad(
                "expected arn:<partition>:imagebuilder:<region>:<account>:<type>/<name>/<version>",
            ));
        };
        if arn != "arn" || !partition.starts_with("aws") {
            return Err(bad("must start with arn:aws"));
        }
        if service != "imagebuilder" {
            return Err(bad("service must be imagebuilder"));
        }
        if region.is_empty() {
            return Err(bad("region is empty"));
        }
        let aws_owned = account == "aws"
            || (kind.has_build_version()
                && account
                    .strip_prefix("aws-")
                    .is_some_and(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')));
        if !(aws_owned || is_account_id(account)) {
            return Err(bad("account must be 12 digits"));
        }
        let mut res = resource.split('/');
        if res.next() != Some(kind.arn_segment()) {
            return Err(bad("the resource type does not match"));
        }
        let (name, version, build, rest) = (res.next(), res.next(), res.next(), res.next());
        let Some(name) = name.filter(|n| {
            !n.is_empty()
                && n.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        }) else {
            return Err(bad("name must be lowercase letters, digits, - and _"));
        };
        let _ = name;
        let shape_ok = match (kind.has_build_version(), version, build, rest) {
            (false, Some(v), None, None) => version_ok(v, true),
            (true, Some(v), Some(b), None) => version_ok(v, false) && digits(b),
            _ => false,
        };
        if !shape_ok {
            return Err(bad(if kind.has_build_version() {
                "version must be <major>.<minor>.<patch>/<build>"
            } else {
                "version must be <major>.<minor>.<patch>"
            }));
        }
        Ok(Self {
            kind,
            text: value.to_string(),
        })
    }

    /// An image recipe ARN.
    pub fn image_recipe(value: &str) -> Result<Self, Error> {
        Self::parse(Kind::ImageRecipe, value)
    }

    /// The kind named by the ARN's resource segment, then checked as that kind.
    pub fn parse_any(value: &str) -> Result<Self, Error> {
        let segment = value
            .splitn(6, ':')
            .nth(5)
            .and_then(|r| r.split('/').next())
            .unwrap_or("");
        let kind = Kind::ALL
            .into_iter()
            .find(|k| k.arn_segment() == segment)
            .unwrap_or(Kind::ImageRecipe);
        Self::parse(kind, value)
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The ARN as text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The `<name>` part.
    pub fn name(&self) -> &str {
        self.text
            .rsplit(':')
            .next()
            .unwrap_or("")
            .split('/')
            .nth(1)
            .unwrap_or("")
    }

    /// The `<major>.<minor>.<patch>` part.
    pub fn version(&self) -> &str {
        self.text
            .rsplit(':')
            .next()
            .unwrap_or("")
            .split('/')
            .nth(2)
            .unwrap_or("")
    }

    /// Partition, Region and account of the resource.
    pub fn location(&self) -> Location {
        let mut it = self.text.splitn(6, ':').skip(1);
        let partition = it.next().unwrap_or_default().to_string();
        let _service = it.next();
        let region = it.next().unwrap_or_default().to_string();
        let account = it.next().unwrap_or_default().to_string();
        Location {
            partition,
            region,
            account,
        }
    }

    /// Refuses a resource outside the function's own partition, account and Region.
    pub fn ensure_owned_by(&self, own: &Location) -> Result<(), Error> {
        let loc = self.location();
        if loc == *own {
            Ok(())
        } else {
            Err(Error::ForeignResource {
                arn: cut(&self.text, 300),
                account: format!("{}/{}", cut(&loc.partition, 32), cut(&loc.account, 32)),
                region: cut(&loc.region, 64),
                own_account: format!("{}/{}", own.partition, own.account),
                own_region: own.region.clone(),
            })
        }
    }
}

impl fmt::Display for ResourceArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The location of the running function, read from the invoked function ARN
/// (`arn:aws:lambda:<region>:<account>:function:<name>[:alias]`); `None` when it is not one
/// (local emulators send placeholders such as `function-arn`).
pub fn function_location(invoked_function_arn: &str) -> Option<Location> {
    let parts: Vec<&str> = invoked_function_arn.splitn(7, ':').collect();
    match parts[..] {
        ["arn", partition, "lambda", region, account, "function", name]
            if partition.starts_with("aws") && is_account_id(account) && !region.is_empty() && !name.is_empty() =>
        {
            Some(Location {
                partition: partition.into(),
                region: region.into(),
                account: account.into(),
            })
        }
        _ => None,
    }
}

/// True for a 12-digit AWS account ID.
pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = "arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/web-base_2/1.0.0";

    #[test]
    fn arns_follow_the_model_patterns() {
        use Kind::*;
        let table: &[(Kind, &str, bool)] = &[
            (ImageRecipe, OK, true),
            (
                ImageRecipe,
                "arn:aws-cn:imagebuilder:cn-north-1:123456789012:image-recipe/a/1.2.3",
                true,
            ),
            (
                ImageRecipe,
                "arn:aws-us-gov:imagebuilder:us-gov-west-1:123456789012:image-recipe/a/x.x.x",
                true,
            ),
            (
                ImageRecipe,
                "arn:aws:imagebuilder:us-east-1:aws:image-recipe/a/1.0.0",
                true,
            ),
            (
                ImageRecipe,
                "arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/a/1.0.0/1",
                false,
            ),
            (
                ImageRecipe,
                "arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/Web/1.0.0",
                false,
            ),
            (
                ImageRecipe,
                "arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/a b/1.0.0",
                false,
            ),
            (
                ImageRecipe,
                "arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/a/1.0",
                false,
            ),
            (
                ImageRecipe,
                "arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/a/1..0",
                false,
            ),
            (
                ImageRecipe,
                "arn:aws:imagebuilder:us-east-1:123456789012:container-recipe/a/1.0.0",
                false,
            ),
            (
                ImageRecipe,
                "arn:aws:imagebuilder:us-east-1:12345678901:image-recipe/a/1.0.0",
                false,
            ),
            (
                ImageRecipe,
                "arn:aws:imagebuilder::123456789012:image-recipe/a/1.0.0",
                false,
            ),
            (
                ImageRecipe,
                "arn:aws:ec2:us-east-1:123456789012:image-recipe/a/1.0.0",
                false,
            ),
            (
                ImageRecipe,
                "arn:gcp:imagebuilder:us-east-1:123456789012:image-recipe/a/1.0.0",
                false,
            ),
            (
                ImageRecipe,
                "arn:aws:imagebuilder:us-east-1:123456789012:image-recipe//1.0.0",
                false,
            ),
            (
                ImageRecipe,
                "arn:aws:imagebuilder:us-east-1:aws-marketplace:image-recipe/a/1.0.0",
                false,
            ),
            (ImageRecipe, "", false),
            (ImageRecipe, "*", false),
            (
                ContainerRecipe,
                "arn:aws:imagebuilder:us-east-1:123456789012:container-recipe/a/1.0.x",
                true,
            ),
            (
                ContainerRecipe,
                "arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/a/1.0.0",
                false,
            ),
            (
                Component,
                "arn:aws:imagebuilder:us-east-1:123456789012:component/cis/1.0.0/1",
                true,
            ),
            (
                Component,
                "arn:aws:imagebuilder:us-east-1:aws-marketplace:component/cis/1.0.0/12",
                true,
            ),
            (
                Component,
                "arn:aws:imagebuilder:us-east-1:123456789012:component/cis/1.0.0",
                false,
            ),
            (
                Component,
                "arn:aws:imagebuilder:us-east-1:123456789012:component/cis/x.x.x/1",
                false,
            ),
            (
                Component,
                "arn:aws:imagebuilder:us-east-1:123456789012:component/cis/1.0.0/b",
                false,
            ),
            (
                Image,
                "arn:aws:imagebuilder:us-east-1:123456789012:image/golden/2.1.0/3",
                true,
            ),
            (
                Image,
                "arn:aws:imagebuilder:us-east-1:123456789012:image/golden/2.1.0",
                false,
            ),
        ];
        for (kind, value, ok) in table {
            assert_eq!(ResourceArn::parse(*kind, value).is_ok(), *ok, "{kind}: {value}");
        }
        let any = ResourceArn::parse_any("arn:aws:imagebuilder:us-east-1:123456789012:component/cis/1.0.0/1").unwrap();
        assert_eq!(any.kind(), Component);
        assert_eq!(any.name(), "cis");
        assert_eq!(any.version(), "1.0.0");
    }

    #[test]
    fn location_and_ownership() {
        let arn = ResourceArn::image_recipe(OK).unwrap();
        let own = function_location("arn:aws:lambda:us-east-1:123456789012:function:recipe-share").unwrap();
        assert_eq!(arn.location(), own);
        assert!(arn.ensure_owned_by(&own).is_ok());
        let table = [
            "arn:aws:lambda:us-east-1:210987654321:function:f",
            "arn:aws:lambda:eu-west-1:123456789012:function:f",
            "arn:aws-cn:lambda:us-east-1:123456789012:function:f:live",
        ];
        for fa in table {
            let other = function_location(fa).unwrap();
            assert!(
                matches!(arn.ensure_owned_by(&other), Err(Error::ForeignResource { .. })),
                "{fa}"
            );
        }
    }

    #[test]
    fn function_arns() {
        assert!(function_location("arn:aws:lambda:us-east-1:123456789012:function:f:prod").is_some());
        for bad in [
            "",
            "function-arn",
            "arn:aws:lambda:us-east-1:123:function:f",
            "arn:aws:s3:::bucket",
            "arn:aws:lambda::123456789012:function:f",
            "arn:aws:lambda:us-east-1:123456789012:function:",
        ] {
            assert!(function_location(bad).is_none(), "{bad}");
        }
    }
}
