//! Validated ARNs at the edges: image recipes (Image Builder's model pattern) and this function's own ARN.

use crate::error::Error;
use std::fmt;

/// An Image Builder image-recipe ARN that matches the service model's pattern:
/// `arn:aws[^:]*:imagebuilder:<region>:<12 digits|aws>:image-recipe/<[a-z0-9-_]+>/<x.y.z>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImageRecipeArn {
    text: String,
    partition_end: usize,
}

/// Where a resource lives: the parts of an ARN the confused-deputy guard compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub partition: String,
    pub region: String,
    pub account: String,
}

impl ImageRecipeArn {
    /// Checks `value` against the model pattern; the reason names the first part that is wrong.
    pub fn parse(value: &str) -> Result<Self, Error> {
        let bad = |reason| Error::InvalidRecipeArn {
            value: value.chars().take(300).collect(),
            reason,
        };
        let parts: Vec<&str> = value.splitn(6, ':').collect();
        let [arn, partition, service, region, account, resource] = parts[..] else {
            return Err(bad(
                "expected arn:<partition>:imagebuilder:<region>:<account>:image-recipe/<name>/<version>",
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
        if !(account == "aws" || is_account_id(account)) {
            return Err(bad("account must be 12 digits"));
        }
        let mut res = resource.split('/');
        let (Some("image-recipe"), Some(name), Some(version), None) = (res.next(), res.next(), res.next(), res.next())
        else {
            return Err(bad("resource must be image-recipe/<name>/<version>"));
        };
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        {
            return Err(bad("recipe name must be lowercase letters, digits, - and _"));
        }
        let fields: Vec<&str> = version.split('.').collect();
        let version_ok = fields.len() == 3
            && fields
                .iter()
                .all(|f| *f == "x" || (!f.is_empty() && f.bytes().all(|b| b.is_ascii_digit())));
        if !version_ok {
            return Err(bad("version must be <major>.<minor>.<patch>"));
        }
        Ok(Self {
            text: value.to_string(),
            partition_end: 4 + partition.len(),
        })
    }

    /// The ARN as text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Partition, Region and account of the recipe.
    pub fn location(&self) -> Location {
        let mut it = self.text[self.partition_end + 1..].split(':');
        let (_service, region, account) = (it.next(), it.next(), it.next());
        Location {
            partition: self.text[4..self.partition_end].to_string(),
            region: region.unwrap_or_default().to_string(),
            account: account.unwrap_or_default().to_string(),
        }
    }

    /// Refuses a recipe outside the function's own partition, account and Region.
    pub fn ensure_owned_by(&self, own: &Location) -> Result<(), Error> {
        let loc = self.location();
        if loc == *own {
            Ok(())
        } else {
            // Partition and Region are free text in the model pattern: cut them, as every error
            // built from input is cut, so a huge ARN cannot make a huge log line.
            let cut = |s: &str, n: usize| s.chars().take(n).collect::<String>();
            Err(Error::ForeignRecipe {
                arn: cut(&self.text, 300),
                account: format!("{}/{}", cut(&loc.partition, 32), loc.account),
                region: cut(&loc.region, 64),
                own_account: format!("{}/{}", own.partition, own.account),
                own_region: own.region.clone(),
            })
        }
    }
}

impl fmt::Display for ImageRecipeArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The location of the running function, read from the invoked function ARN
/// (`arn:aws:lambda:<region>:<account>:function:<name>[:alias]`).
pub fn function_location(invoked_function_arn: &str) -> Result<Location, Error> {
    let parts: Vec<&str> = invoked_function_arn.splitn(7, ':').collect();
    match parts[..] {
        ["arn", partition, "lambda", region, account, "function", _]
            if is_account_id(account) && !region.is_empty() =>
        {
            Ok(Location {
                partition: partition.into(),
                region: region.into(),
                account: account.into(),
            })
        }
        _ => Err(Error::InvalidRequest(format!(
            "the invoked function ARN {invoked_function_arn:?} does not name a Lambda function, so the own account is unknown"
        ))),
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
    fn recipe_arns_follow_the_model_pattern() {
        let table: &[(&str, bool)] = &[
            (OK, true),
            (
                "arn:aws-cn:imagebuilder:cn-north-1:123456789012:image-recipe/a/1.2.3",
                true,
            ),
            (
                "arn:aws-us-gov:imagebuilder:us-gov-west-1:123456789012:image-recipe/a/x.x.x",
                true,
            ),
            ("arn:aws:imagebuilder:us-east-1:aws:image-recipe/a/1.0.0", true),
            (
                "arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/a/1.0.0/1",
                false,
            ),
            (
                "arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/Web/1.0.0",
                false,
            ),
            (
                "arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/a b/1.0.0",
                false,
            ),
            ("arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/a/1.0", false),
            ("arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/a/1..0", false),
            (
                "arn:aws:imagebuilder:us-east-1:123456789012:container-recipe/a/1.0.0",
                false,
            ),
            ("arn:aws:imagebuilder:us-east-1:12345678901:image-recipe/a/1.0.0", false),
            ("arn:aws:imagebuilder::123456789012:image-recipe/a/1.0.0", false),
            ("arn:aws:ec2:us-east-1:123456789012:image-recipe/a/1.0.0", false),
            (
                "arn:gcp:imagebuilder:us-east-1:123456789012:image-recipe/a/1.0.0",
                false,
            ),
            ("arn:aws:imagebuilder:us-east-1:123456789012:image-recipe//1.0.0", false),
            ("", false),
            ("*", false),
        ];
        for (value, ok) in table {
            assert_eq!(ImageRecipeArn::parse(value).is_ok(), *ok, "{value}");
        }
    }

    #[test]
    fn location_and_ownership() {
        let arn = ImageRecipeArn::parse(OK).unwrap();
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
                matches!(arn.ensure_owned_by(&other), Err(Error::ForeignRecipe { .. })),
                "{fa}"
            );
        }
    }

    #[test]
    fn function_arns() {
        assert!(function_location("arn:aws:lambda:us-east-1:123456789012:function:f:prod").is_ok());
        for bad in [
            "",
            "arn:aws:lambda:us-east-1:123:function:f",
            "arn:aws:s3:::bucket",
            "arn:aws:lambda::123456789012:function:f",
        ] {
            assert!(function_location(bad).is_err(), "{bad}");
        }
    }
}
