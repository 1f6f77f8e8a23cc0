//! What a shared recipe needs to be usable by consumers (design section 12): the components it
//! references and its parent image, when they are this account's. Pure: which references count,
//! and which versions a reference like `1.x.x` selects.

use crate::arn::{Location, ResourceArn};
use crate::kind::Kind;

/// A dependency of a recipe, as the recipe names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dependency {
    /// One build version (`…/component/<name>/1.2.0/3`): exactly that.
    Build(ResourceArn),
    /// A version or a version pattern (`…/component/<name>/1.x.x`): every build version of every
    /// version it selects. `base` is the ARN up to the name (`arn:…:component/<name>`).
    Versions {
        kind: Kind,
        base: String,
        name: String,
        pattern: String,
    },
}

impl Dependency {
    pub fn kind(&self) -> Kind {
        match self {
            Dependency::Build(arn) => arn.kind(),
            Dependency::Versions { kind, .. } => *kind,
        }
    }

    /// How the recipe named it, for results and logs.
    pub fn reference(&self) -> String {
        match self {
            Dependency::Build(arn) => arn.to_string(),
            Dependency::Versions { base, pattern, .. } => format!("{base}/{pattern}"),
        }
    }
}

/// Pure: whether `pattern` (`1.2.3`, `1.x.x`, `x.x.x`, …) selects `version` (`1.2.3`).
pub fn selects(pattern: &str, version: &str) -> bool {
    let (p, v): (Vec<&str>, Vec<&str>) = (pattern.split('.').collect(), version.split('.').collect());
    p.len() == 3 && v.len() == 3 && p.iter().zip(&v).all(|(p, v)| *p == "x" || p == v)
}

/// Pure: the dependency `reference` names, when it is a component or image of `own`'s account
/// (partition, Region and account): AWS-owned and other accounts' resources are left alone, as
/// are AMI ids and container image URIs.
pub fn own_dependency(reference: &str, kind: Kind, own: &Location) -> Option<Dependency> {
    let parts: Vec<&str> = reference.splitn(6, ':').collect();
    let ["arn", partition, "imagebuilder", region, account, resource] = parts[..] else {
        return None;
    };
    if partition != own.partition || region != own.region || account != own.account {
        return None;
    }
    let segs: Vec<&str> = resource.split('/').collect();
    match segs[..] {
        [seg, _, _, _] if seg == kind.arn_segment() => ResourceArn::parse(kind, reference).ok().map(Dependency::Build),
        [seg, name, pattern] if seg == kind.arn_segment() => {
            let fields: Vec<&str> = pattern.split('.').collect();
            let valid = fields.len() == 3
                && fields
                    .iter()
                    .all(|f| *f == "x" || (!f.is_empty() && f.bytes().all(|b| b.is_ascii_digit())));
            let name_ok = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
            (valid && name_ok).then(|| Dependency::Versions {
                kind,
                base: format!("arn:{partition}:imagebuilder:{region}:{account}:{seg}/{name}"),
                name: name.to_string(),
                pattern: pattern.to_string(),
            })
        }
        _ => None,
    }
}

/// Pure: a recipe's own dependencies: its components, then its parent image.
pub fn dependencies(components: &[String], parent_image: Option<&str>, own: &Location) -> Vec<Dependency> {
    let mut out: Vec<Dependency> = components
        .iter()
        .filter_map(|c| own_dependency(c, Kind::Component, own))
        .collect();
    out.extend(parent_image.and_then(|p| own_dependency(p, Kind::Image, own)));
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own() -> Location {
        Location {
            partition: "aws".into(),
            region: "us-east-1".into(),
            account: "123456789012".into(),
        }
    }

    #[test]
    fn version_patterns_select_as_image_builder_documents() {
        let table = [
            ("1.2.3", "1.2.3", true),
            ("1.2.3", "1.2.4", false),
            ("1.2.x", "1.2.9", true),
            ("1.x.x", "1.0.0", true),
            ("1.x.x", "2.0.0", false),
            ("x.x.x", "7.8.9", true),
            ("x.x", "1.2", false),
            ("1.x.x", "1.2", false),
        ];
        for (pattern, version, want) in table {
            assert_eq!(selects(pattern, version), want, "{pattern} {version}");
        }
    }

    #[test]
    fn only_this_accounts_components_and_images_count() {
        let mine = "arn:aws:imagebuilder:us-east-1:123456789012";
        let components: Vec<String> = [
            format!("{mine}:component/cis/1.0.0/1"),
            format!("{mine}:component/hardening/x.x.x"),
            format!("{mine}:component/hardening/x.x.x"),
            "arn:aws:imagebuilder:us-east-1:aws:component/update-linux/x.x.x".into(),
            "arn:aws:imagebuilder:us-east-1:999999999999:component/theirs/1.0.0/1".into(),
            "arn:aws:imagebuilder:eu-west-1:123456789012:component/elsewhere/1.0.0/1".into(),
            format!("{mine}:component/Bad/1.0.0"),
        ]
        .into();
        let deps = dependencies(&components, Some(&format!("{mine}:image/golden/2.x.x")), &own());
        let refs: Vec<String> = deps.iter().map(Dependency::reference).collect();
        assert_eq!(
            refs,
            [
                format!("{mine}:component/cis/1.0.0/1"),
                format!("{mine}:component/hardening/x.x.x"),
                format!("{mine}:image/golden/2.x.x"),
            ]
        );
        assert_eq!(deps[1].kind(), Kind::Component);
        assert_eq!(deps[2].kind(), Kind::Image);
        for parent in [
            "ami-0123456789abcdef0",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/repo:tag",
            "arn:aws:imagebuilder:us-east-1:aws:image/amazon-linux-2023-x86/x.x.x",
        ] {
            assert!(dependencies(&[], Some(parent), &own()).is_empty(), "{parent}");
        }
    }
}
