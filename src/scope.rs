//! Which resources the standard covers (design section 9): everything the account owns in the
//! Region except what is tagged `recipe-share:exclude`, and what a resource needs to be usable
//! once shared (its own components and parent image, design section 12).

use crate::decide::EXCLUDE_TAG;
use std::collections::BTreeMap;

/// The value a refused delete leaves in the exclude tag, so the owner's next delete succeeds.
pub const DELETION_REQUESTED: &str = "deletion-requested";

/// What is known about a resource besides its sharing: its tags and what it builds from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    pub tags: BTreeMap<String, String>,
    /// Component ARNs (version references or build versions) a recipe uses.
    pub components: Vec<String>,
    /// The recipe's parent image (an image ARN, an AMI id, or a container image URI).
    pub parent_image: Option<String>,
}

impl Facts {
    /// The exclude tag's value when the resource is out of scope.
    pub fn excluded(&self) -> Option<&str> {
        self.tags.get(EXCLUDE_TAG).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exclude_tag_with_any_value_excludes() {
        let mut f = Facts::default();
        assert_eq!(f.excluded(), None);
        f.tags.insert("team".into(), "platform".into());
        assert_eq!(f.excluded(), None);
        f.tags.insert(EXCLUDE_TAG.into(), String::new());
        assert_eq!(f.excluded(), Some(""));
        f.tags.insert(EXCLUDE_TAG.into(), DELETION_REQUESTED.into());
        assert_eq!(f.excluded(), Some(DELETION_REQUESTED));
    }
}
