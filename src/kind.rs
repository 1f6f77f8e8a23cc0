//! The Image Builder resource types the standard shares, as data: one row per type of design
//! section 12's table, so one decision function and one flow serve all of them.

use std::fmt;

/// RAM's limit on a permission name (`PermissionName`: 1-36 of `[\w.-]`).
pub const MAX_PERMISSION_NAME: usize = 36;

/// A shareable Image Builder resource type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    ImageRecipe,
    ContainerRecipe,
    Component,
    Image,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::ImageRecipe, Kind::ContainerRecipe, Kind::Component, Kind::Image];

    /// The resource segment of its ARN (`…:image-recipe/<name>/<version>`).
    pub fn arn_segment(self) -> &'static str {
        match self {
            Kind::ImageRecipe => "image-recipe",
            Kind::ContainerRecipe => "container-recipe",
            Kind::Component => "component",
            Kind::Image => "image",
        }
    }

    /// RAM's resource type (exact casing: `CreatePermission` and IAM conditions compare it as written).
    pub fn ram_type(self) -> &'static str {
        match self {
            Kind::ImageRecipe => "imagebuilder:ImageRecipe",
            Kind::ContainerRecipe => "imagebuilder:ContainerRecipe",
            Kind::Component => "imagebuilder:Component",
            Kind::Image => "imagebuilder:Image",
        }
    }

    /// The two actions of the standard policy: the ones AWS documents for sharing this type.
    pub fn actions(self) -> [&'static str; 2] {
        match self {
            Kind::ImageRecipe => ["imagebuilder:GetImageRecipe", "imagebuilder:ListImageRecipes"],
            Kind::ContainerRecipe => ["imagebuilder:GetContainerRecipe", "imagebuilder:ListContainerRecipes"],
            Kind::Component => ["imagebuilder:GetComponent", "imagebuilder:ListComponents"],
            Kind::Image => ["imagebuilder:GetImage", "imagebuilder:ListImages"],
        }
    }

    /// The Image Builder operations that read and write this type's resource policy.
    pub fn policy_ops(self) -> (&'static str, &'static str) {
        match self {
            Kind::ImageRecipe => ("GetImageRecipePolicy", "PutImageRecipePolicy"),
            Kind::ContainerRecipe => ("GetContainerRecipePolicy", "PutContainerRecipePolicy"),
            Kind::Component => ("GetComponentPolicy", "PutComponentPolicy"),
            Kind::Image => ("GetImagePolicy", "PutImagePolicy"),
        }
    }

    /// The Image Builder operation that reads what a resource of this type is (its tags and, for
    /// recipes, what it builds from).
    pub fn describe_op(self) -> &'static str {
        match self {
            Kind::ImageRecipe => "GetImageRecipe",
            Kind::ContainerRecipe => "GetContainerRecipe",
            Kind::Component | Kind::Image => "ListTagsForResource",
        }
    }

    /// The customer-managed RAM permission for this type: RAM allows 10 per resource type, so one
    /// per type, named after `SHARE_PERMISSION_NAME` (image recipes keep it as it is). RAM's
    /// permission names are at most 36 characters, and the default name with `-ContainerRecipe`
    /// is 38: the base is cut to fit, the suffix kept whole so the type stays readable.
    pub fn permission_name(self, base: &str) -> String {
        let suffix = match self {
            Kind::ImageRecipe => "",
            Kind::ContainerRecipe => "-ContainerRecipe",
            Kind::Component => "-Component",
            Kind::Image => "-Image",
        };
        // Names are ASCII (config checks `[A-Za-z0-9_.-]`), so a byte cut is a character cut.
        let keep = base.len().min(MAX_PERMISSION_NAME.saturating_sub(suffix.len()));
        format!("{}{suffix}", base.get(..keep).unwrap_or(base))
    }

    /// Whether the ARN carries a build version after `<name>/<version>` (components and images).
    pub fn has_build_version(self) -> bool {
        matches!(self, Kind::Component | Kind::Image)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::ImageRecipe => "image recipe",
            Kind::ContainerRecipe => "container recipe",
            Kind::Component => "component",
            Kind::Image => "image",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_names_follow_the_design_table() {
        let table = [
            (Kind::ImageRecipe, "RecipeShareOrgStandard"),
            // 38 characters would be refused: the base is cut, the suffix kept.
            (Kind::ContainerRecipe, "RecipeShareOrgStanda-ContainerRecipe"),
            (Kind::Component, "RecipeShareOrgStandard-Component"),
            (Kind::Image, "RecipeShareOrgStandard-Image"),
        ];
        for (kind, want) in table {
            assert_eq!(kind.permission_name("RecipeShareOrgStandard"), want);
        }
        assert_eq!(Kind::ContainerRecipe.permission_name("Std"), "Std-ContainerRecipe");
        let longest = "a".repeat(MAX_PERMISSION_NAME);
        for kind in Kind::ALL {
            let name = kind.permission_name(&longest);
            assert!(name.len() <= MAX_PERMISSION_NAME, "{kind}: {name}");
            assert!(name.starts_with("aaaa"), "{name}");
        }
    }

    #[test]
    fn every_kind_has_distinct_names() {
        let types: std::collections::BTreeSet<_> = Kind::ALL.iter().map(|k| k.ram_type()).collect();
        let segments: std::collections::BTreeSet<_> = Kind::ALL.iter().map(|k| k.arn_segment()).collect();
        assert_eq!(types.len(), 4);
        assert_eq!(segments.len(), 4);
        for k in Kind::ALL {
            let [get, list] = k.actions();
            assert!(
                get.starts_with("imagebuilder:Get") && list.starts_with("imagebuilder:List"),
                "{k}"
            );
        }
    }
}
