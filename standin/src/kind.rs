//! The Image Builder resource kinds the stand-in models (image recipes, container recipes,
//! components, images) and the model's ARN patterns for them, hand-written (a regex crate would
//! be the biggest dependency of the crate). A resource's kind is the resource segment of its
//! ARN (`…:component/<name>/<x.y.z>/<build>` is a component).

use crate::policy::split_arn;
use crate::util::is_account_id;

/// One kind of Image Builder resource that RAM can share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceKind {
    ImageRecipe,
    ContainerRecipe,
    Component,
    Image,
}

impl ResourceKind {
    pub const ALL: [ResourceKind; 4] = [
        ResourceKind::ImageRecipe,
        ResourceKind::ContainerRecipe,
        ResourceKind::Component,
        ResourceKind::Image,
    ];

    /// The kind an ARN names by its resource segment (`image-recipe`, `container-recipe`,
    /// `component`, `image`); None for anything else, including ARNs of other services.
    pub fn from_arn(arn: &str) -> Option<ResourceKind> {
        let parts = split_arn(arn)?;
        if parts[2] != "imagebuilder" {
            return None;
        }
        let segment = parts[5].split('/').next().unwrap_or_default();
        ResourceKind::ALL.into_iter().find(|k| k.arn_segment() == segment)
    }

    /// The resource segment of its ARNs.
    pub fn arn_segment(self) -> &'static str {
        match self {
            ResourceKind::ImageRecipe => "image-recipe",
            ResourceKind::ContainerRecipe => "container-recipe",
            ResourceKind::Component => "component",
            ResourceKind::Image => "image",
        }
    }

    /// RAM's resource type (what ListResources reports and permissions carry).
    pub fn resource_type(self) -> &'static str {
        match self {
            ResourceKind::ImageRecipe => "imagebuilder:ImageRecipe",
            ResourceKind::ContainerRecipe => "imagebuilder:ContainerRecipe",
            ResourceKind::Component => "imagebuilder:Component",
            ResourceKind::Image => "imagebuilder:Image",
        }
    }

    /// The name of RAM's AWS-managed default permission for this resource type.
    pub fn default_permission_name(self) -> &'static str {
        match self {
            ResourceKind::ImageRecipe => "AWSRAMDefaultPermissionImageBuilderImageRecipe",
            ResourceKind::ContainerRecipe => "AWSRAMDefaultPermissionImageBuilderContainerRecipe",
            ResourceKind::Component => "AWSRAMDefaultPermissionImageBuilderComponent",
            ResourceKind::Image => "AWSRAMDefaultPermissionImageBuilderImage",
        }
    }

    /// The actions the stand-in gives that default permission (sorted). AWS does not publish
    /// them; these are the Get and List actions of AWS's own policy examples for the type.
    pub fn default_permission_actions(self) -> [&'static str; 2] {
        match self {
            ResourceKind::ImageRecipe => ["imagebuilder:GetImageRecipe", "imagebuilder:ListImageRecipes"],
            ResourceKind::ContainerRecipe => ["imagebuilder:GetContainerRecipe", "imagebuilder:ListContainerRecipes"],
            ResourceKind::Component => ["imagebuilder:GetComponent", "imagebuilder:ListComponents"],
            ResourceKind::Image => ["imagebuilder:GetImage", "imagebuilder:ListImages"],
        }
    }

    /// How error messages name the kind.
    pub fn label(self) -> &'static str {
        match self {
            ResourceKind::ImageRecipe => "image recipe",
            ResourceKind::ContainerRecipe => "container recipe",
            ResourceKind::Component => "component",
            ResourceKind::Image => "image",
        }
    }

    /// Whether its ARNs are build versions (`<name>/<x.y.z>/<build>`): components and images.
    pub fn has_build_version(self) -> bool {
        matches!(self, ResourceKind::Component | ResourceKind::Image)
    }

    /// Whether it is a recipe (it has components and a parent image).
    pub fn is_recipe(self) -> bool {
        matches!(self, ResourceKind::ImageRecipe | ResourceKind::ContainerRecipe)
    }

    /// The Get/Put…Policy operations' ARN member.
    pub(crate) fn policy_member(self) -> &'static str {
        match self {
            ResourceKind::ImageRecipe => "imageRecipeArn",
            ResourceKind::ContainerRecipe => "containerRecipeArn",
            ResourceKind::Component => "componentArn",
            ResourceKind::Image => "imageArn",
        }
    }

    /// The Delete operation and its ARN member (also GetComponent's and GetImage's member).
    pub(crate) fn delete_op(self) -> (&'static str, &'static str) {
        match self {
            ResourceKind::ImageRecipe => ("DeleteImageRecipe", "imageRecipeArn"),
            ResourceKind::ContainerRecipe => ("DeleteContainerRecipe", "containerRecipeArn"),
            ResourceKind::Component => ("DeleteComponent", "componentBuildVersionArn"),
            ResourceKind::Image => ("DeleteImage", "imageBuildVersionArn"),
        }
    }
}

/// Which of the model's ARN patterns a member has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ArnShape {
    /// `ImageRecipeArn` / `ContainerRecipeArn`: `<name>/<v>.<v>.<v>`, each node digits or `x`;
    /// account 12 digits or `aws`.
    Recipe,
    /// `ComponentVersionArn` / `ImageVersionArn`: `<name>/<x.y.z>` in digits.
    Version,
    /// `ComponentBuildVersionArn` / `ImageBuildVersionArn`: `<name>/<x.y.z>/<build>` in digits.
    Build,
    /// `ComponentVersionArnOrBuildVersionArn` / `ImageVersionArnOrBuildVersionArn`: a version
    /// with `x` nodes allowed, or a build version.
    VersionOrBuild,
}

/// The parts of an Image Builder ARN `arn:<p>:imagebuilder:<region>:<account>:<segment>/<name>/<version>[/<build>]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IbArn<'a> {
    pub partition: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    pub kind: ResourceKind,
    pub name: &'a str,
    pub version: &'a str,
    pub build: Option<&'a str>,
}

impl<'a> IbArn<'a> {
    /// Parses the general shape; the pattern checks are [`IbArn::matches`].
    pub(crate) fn parse(s: &'a str) -> Option<IbArn<'a>> {
        let [_, partition, service, region, account, resource] = split_arn(s)?;
        if service != "imagebuilder" || region.is_empty() {
            return None;
        }
        let mut path = resource.split('/');
        let segment = path.next()?;
        let kind = ResourceKind::ALL.into_iter().find(|k| k.arn_segment() == segment)?;
        let name = path.next()?;
        let version = path.next()?;
        let build = path.next();
        if path.next().is_some() {
            return None;
        }
        Some(IbArn {
            partition,
            region,
            account,
            kind,
            name,
            version,
            build,
        })
    }

    /// Whether this ARN is of `kind` and matches the model's pattern `shape`.
    pub(crate) fn matches(&self, kind: ResourceKind, shape: ArnShape) -> bool {
        if self.kind != kind {
            return false;
        }
        let account_ok = if kind.is_recipe() {
            is_account_id(self.account) || self.account == "aws"
        } else {
            // `(?:[0-9]{12}|aws(?:-[a-z-]+)?)`
            is_account_id(self.account)
                || self.account.strip_prefix("aws").is_some_and(|rest| {
                    rest.is_empty()
                        || rest
                            .strip_prefix('-')
                            .is_some_and(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'))
                })
        };
        let name_ok = !self.name.is_empty()
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let nodes = |wild: bool| {
            let parts: Vec<&str> = self.version.split('.').collect();
            parts.len() == 3 && parts.iter().all(|p| (wild && *p == "x") || digits(p))
        };
        let shape_ok = match (shape, self.build) {
            (ArnShape::Recipe, None) => nodes(true),
            (ArnShape::Version, None) => nodes(false),
            (ArnShape::Build, Some(b)) => nodes(false) && digits(b),
            (ArnShape::VersionOrBuild, None) => nodes(true),
            (ArnShape::VersionOrBuild, Some(b)) => nodes(false) && digits(b),
            _ => false,
        };
        account_ok && name_ok && shape_ok
    }

    /// Whether `self` (a version or build, no wildcards) is selected by `pattern` (a version
    /// whose nodes may be `x`, or a build version): the same name, owner, partition and Region,
    /// each version node equal or `x`, and the build equal when the pattern names one.
    pub(crate) fn selected_by(&self, pattern: &IbArn) -> bool {
        let nodes_match = self
            .version
            .split('.')
            .zip(pattern.version.split('.'))
            .all(|(v, p)| p == "x" || v == p);
        self.kind == pattern.kind
            && self.name == pattern.name
            && self.account == pattern.account
            && self.partition == pattern.partition
            && self.region == pattern.region
            && nodes_match
            && pattern.build.is_none_or(|b| self.build == Some(b))
    }

    /// The sort key of a version and build: numeric nodes, then the build.
    pub(crate) fn order_key(&self) -> [u64; 4] {
        let mut key = [0u64; 4];
        for (k, n) in key.iter_mut().zip(self.version.split('.')) {
            *k = n.parse().unwrap_or(0);
        }
        key[3] = self.build.and_then(|b| b.parse().ok()).unwrap_or(0);
        key
    }
}

/// Whether `s` is an ARN of `kind` matching the model's pattern `shape`.
pub(crate) fn arn_matches(s: &str, kind: ResourceKind, shape: ArnShape) -> bool {
    IbArn::parse(s).is_some_and(|a| a.matches(kind, shape))
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: &str = "arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/my-recipe/1.0.0";

    /// `^arn:aws[^:]*:imagebuilder:[^:]+:(?:[0-9]{12}|aws):image-recipe/[a-z0-9-_]+/(?:[0-9]+|x)\.(?:[0-9]+|x)\.(?:[0-9]+|x)$`
    fn is_image_recipe_arn(s: &str) -> bool {
        arn_matches(s, ResourceKind::ImageRecipe, ArnShape::Recipe)
    }

    #[test]
    fn recipe_arn_pattern() {
        assert!(is_image_recipe_arn(R));
        assert!(is_image_recipe_arn(
            "arn:aws-cn:imagebuilder:cn-north-1:aws:image-recipe/a_b-1/x.x.x"
        ));
        for bad in [
            "arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/My-Recipe/1.0.0",
            "arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/r/1.0.0/1",
            "arn:aws:imagebuilder::123456789012:image-recipe/r/1.0.0",
            "arn:aws:imagebuilder:us-east-1:1234:image-recipe/r/1.0.0",
            "arn:aws:imagebuilder:us-east-1:123456789012:component/r/1.0.0",
            "arn:gcp:imagebuilder:us-east-1:123456789012:image-recipe/r/1.0.0",
            "arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/r/1.0",
            "arn:aws:imagebuilder:us-east-1:aws-marketplace:image-recipe/r/1.0.0",
        ] {
            assert!(!is_image_recipe_arn(bad), "{bad}");
        }
    }

    #[test]
    fn component_and_image_patterns() {
        use ArnShape::*;
        use ResourceKind::*;
        let c = "arn:aws:imagebuilder:us-east-1:123456789012:component/cis/1.2.0/3";
        assert!(arn_matches(c, Component, Build));
        assert!(arn_matches(c, Component, VersionOrBuild));
        assert!(!arn_matches(c, Component, Version));
        assert!(!arn_matches(c, Image, Build));
        let v = "arn:aws:imagebuilder:us-east-1:aws:component/update-linux/1.0.2";
        assert!(arn_matches(v, Component, Version));
        assert!(!arn_matches(v, Component, Build));
        let w = "arn:aws:imagebuilder:us-east-1:aws-marketplace:component/cis/1.x.x";
        assert!(arn_matches(w, Component, VersionOrBuild));
        assert!(!arn_matches(w, Component, Version));
        for bad in [
            "arn:aws:imagebuilder:us-east-1:123456789012:component/cis/1.x.x/3",
            "arn:aws:imagebuilder:us-east-1:aws-:component/cis/1.0.0/1",
            "arn:aws:imagebuilder:us-east-1:123456789012:component/cis/1.0.0/1/2",
            "arn:aws:imagebuilder:us-east-1:123456789012:component/Cis/1.0.0/1",
        ] {
            assert!(!arn_matches(bad, Component, VersionOrBuild), "{bad}");
        }
        let i = "arn:aws:imagebuilder:us-east-1:123456789012:image/golden/1.0.0/4";
        assert!(arn_matches(i, Image, Build));
        assert!(!arn_matches(
            "arn:aws:imagebuilder:us-east-1:123456789012:image/golden/1.x.x",
            Image,
            Version
        ));
        assert_eq!(ResourceKind::from_arn(i), Some(Image));
        assert_eq!(ResourceKind::from_arn(R), Some(ImageRecipe));
        assert_eq!(ResourceKind::from_arn("ami-0123456789abcdef0"), None);
        assert_eq!(
            ResourceKind::from_arn("arn:aws:imagebuilder:us-east-1:123456789012:image-pipeline/p"),
            None
        );
    }

    #[test]
    fn version_references_select_builds() {
        let build = IbArn::parse("arn:aws:imagebuilder:us-east-1:123456789012:image/golden/1.2.0/4").unwrap();
        let sel = |p: &str| build.selected_by(&IbArn::parse(p).unwrap());
        assert!(sel("arn:aws:imagebuilder:us-east-1:123456789012:image/golden/1.x.x"));
        assert!(sel("arn:aws:imagebuilder:us-east-1:123456789012:image/golden/x.x.x"));
        assert!(sel("arn:aws:imagebuilder:us-east-1:123456789012:image/golden/1.2.0"));
        assert!(sel("arn:aws:imagebuilder:us-east-1:123456789012:image/golden/1.2.0/4"));
        assert!(!sel("arn:aws:imagebuilder:us-east-1:123456789012:image/golden/1.2.0/5"));
        assert!(!sel("arn:aws:imagebuilder:us-east-1:123456789012:image/golden/2.x.x"));
        assert!(!sel("arn:aws:imagebuilder:us-east-1:111122223333:image/golden/1.x.x"));
        assert_eq!(build.order_key(), [1, 2, 0, 4]);
    }
}
