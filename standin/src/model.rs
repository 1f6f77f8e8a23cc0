//! The modeled state of one account in one Region: Image Builder resources (image and container
//! recipes, components, images) and their resource policies, the RAM resource shares those
//! policies create, and RAM managed permissions; plus the operations that read and change them.
//! Everything here is synchronous and works on a `now: Instant` passed in, so the time-driven
//! parts (shares becoming visible, promotion finishing) are evaluated lazily by [`State::tick`]
//! on every request instead of by background timers. Where AWS documents no behaviour, the
//! choice made is written next to the code and summed up on [`StandIn`](crate::StandIn).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Instant, SystemTime};

use serde_json::{Value, json};

use crate::kind::{ArnShape, IbArn, ResourceKind, arn_matches};
use crate::paging::{IMAGEBUILDER_LIMITS, Limits, RAM_LIMITS, paged_map};
use crate::policy::{PrincipalKind, is_ram_arn, parse_policy, principal_kind, split_arn};
use crate::util::{Rng, epoch_seconds, iso8601};
use crate::{Options, PermissionState, RecipeState, ResourceState, ShareState, Snapshot};

/// The RAM resource type of an image recipe.
pub const RESOURCE_TYPE: &str = "imagebuilder:ImageRecipe";
/// Name of the AWS-managed default permission for image recipes.
pub const DEFAULT_PERMISSION_NAME: &str = "AWSRAMDefaultPermissionImageBuilderImageRecipe";
/// Actions of the AWS-managed default permission. Not published by AWS (read it with
/// GetPermission in a real account); these are the actions of AWS's own policy examples.
pub const DEFAULT_PERMISSION_ACTIONS: [&str; 2] = ["imagebuilder:GetImageRecipe", "imagebuilder:ListImageRecipes"];
/// RAM's default quota of customer managed permissions per resource type.
pub const PERMISSION_QUOTA: usize = 10;
/// The model's `ResourcePolicyDocument` length limits.
const POLICY_MAX_LEN: usize = 30_000;
/// The platform every modeled resource reports.
const PLATFORM: &str = "Linux";
/// The type every modeled component reports (`ComponentType`).
const COMPONENT_TYPE: &str = "BUILD";
/// The type every modeled image reports (`ImageType`).
const IMAGE_TYPE: &str = "AMI";
/// The component a recipe reports when none were set ([`crate::StandIn::set_recipe_contents`]).
const DEFAULT_COMPONENT: &str = "update-linux/x.x.x";
/// The parent image a container recipe reports when none was set.
const DEFAULT_CONTAINER_PARENT: &str = "amazonlinux:latest";
/// Image Builder's `Ownership` enum (the List operations' `owner`).
const OWNERSHIP: [&str; 5] = ["Self", "Shared", "Amazon", "ThirdParty", "AWSMarketplace"];
/// ListImageRecipes' documented filter names (case-sensitive).
const IMAGE_RECIPE_FILTERS: &[&str] = &["name", "parentImage", "platform"];
/// ListContainerRecipes' documented filter names.
const CONTAINER_RECIPE_FILTERS: &[&str] = &["containerType", "name", "parentImage", "platform"];
/// ListComponents' documented filter names.
const COMPONENT_FILTERS: &[&str] = &[
    "description",
    "name",
    "platform",
    "supportedOsVersion",
    "type",
    "version",
];
/// ListImages' and ListImageBuildVersions' documented filter names.
const IMAGE_FILTERS: &[&str] = &["name", "osVersion", "platform", "type", "version"];

/// What is reported about a resource, derived from its ARN (see `State::facts`).
struct Facts<'a> {
    name: &'a str,
    version: &'a str,
    owner: &'a str,
    partition: &'a str,
    region: &'a str,
}

/// A List operation's `filters`, checked against the model (`FilterList` 1–10 filters,
/// `FilterName` `[a-zA-Z]{1,1024}` and one of the operation's documented `names`,
/// `FilterValues` 1–10 values matching `FilterValue`); any violation is an
/// `InvalidRequestException`. A resource matches when, for every filter, its attribute equals
/// one of the values (exactly, case-sensitively).
fn list_filters<'a>(input: &'a Value, names: &[&str]) -> Result<Vec<(&'a str, Vec<&'a str>)>, ApiError> {
    let bad = |m: String| ApiError::new("InvalidRequestException", m);
    let list = match input.get("filters") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(l)) if (1..=10).contains(&l.len()) => l,
        Some(other) => return Err(bad(format!("filters must be a list of 1 to 10 filters, got {other}"))),
    };
    list.iter()
        .map(|f| {
            let name = f.get("name").and_then(Value::as_str).unwrap_or_default();
            if !names.contains(&name) {
                return Err(bad(format!(
                    "The filter name {name:?} is not valid; use one of {}",
                    names.join(", ")
                )));
            }
            let values: Vec<&str> = match f.get("values").and_then(Value::as_array) {
                Some(v) if (1..=10).contains(&v.len()) => v.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            let valid = |v: &str| {
                (1..=1024).contains(&v.len())
                    && v.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"./_ :,{}\"-".contains(&b))
            };
            let count = f.get("values").and_then(Value::as_array).map_or(0, Vec::len);
            if values.is_empty() || values.len() != count || !values.iter().all(|v| valid(v)) {
                return Err(bad(format!(
                    "The values of filter {name} must be 1 to 10 strings of letters, digits and ./_ :,{{}}\"-"
                )));
            }
            Ok((name, values))
        })
        .collect()
}

/// Whether every filter has a value equal to what `attr` reports for its name (None: the
/// stand-in models no such attribute, so the filter matches nothing).
fn filters_match<'v>(filters: &[(&str, Vec<&str>)], attr: impl Fn(&str) -> Option<&'v str>) -> bool {
    filters
        .iter()
        .all(|(name, values)| attr(name).is_some_and(|v| values.contains(&v)))
}

pub(crate) const CREATED_FROM_POLICY: &str = "CREATED_FROM_POLICY";
pub(crate) const PROMOTING_TO_STANDARD: &str = "PROMOTING_TO_STANDARD";
pub(crate) const STANDARD: &str = "STANDARD";
pub(crate) const ACTIVE: &str = "ACTIVE";
pub(crate) const DELETED: &str = "DELETED";
pub(crate) const AWS_MANAGED: &str = "AWS_MANAGED";
pub(crate) const CUSTOMER_MANAGED: &str = "CUSTOMER_MANAGED";

/// A modeled error: the code (an error shape name) and the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub(crate) fn new(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
        }
    }
}

pub(crate) fn invalid_parameter(message: impl Into<String>) -> ApiError {
    ApiError::new("InvalidParameterException", message)
}

fn missing(member: &str) -> ApiError {
    ApiError::new(
        "MissingRequiredParameterException",
        format!("The required parameter {member} is missing"),
    )
}

/// Undocumented what RAM answers when consumers still depend on a shared resource: modeled as the
/// refusal the model lists on DeleteResourceShare and DisassociateResourceShare.
fn in_use_error(share: &str, resource: &str) -> ApiError {
    ApiError::new(
        "OperationNotPermittedException",
        format!(
            "The resource {resource} in resource share {share} is in use by consumer accounts and cannot be unshared"
        ),
    )
}

fn malformed(arn: &str) -> ApiError {
    ApiError::new(
        "MalformedArnException",
        format!("The format of the ARN {arn} is not valid"),
    )
}

fn unknown(what: &str, arn: &str) -> ApiError {
    ApiError::new(
        "UnknownResourceException",
        format!("The {what} {arn} could not be found"),
    )
}

/// An optional string member; any other JSON type is an invalid parameter.
fn opt_str<'a>(input: &'a Value, key: &str) -> Result<Option<&'a str>, ApiError> {
    match input.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(other) => Err(invalid_parameter(format!("{key} must be a string, got {other}"))),
    }
}

/// A required, non-empty string member (RAM).
fn req_str<'a>(input: &'a Value, key: &str) -> Result<&'a str, ApiError> {
    match opt_str(input, key)? {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(missing(key)),
    }
}

/// An optional list of strings.
fn opt_list(input: &Value, key: &str) -> Result<Option<Vec<String>>, ApiError> {
    match input.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| invalid_parameter(format!("{key} must contain only strings")))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(other) => Err(invalid_parameter(format!(
            "{key} must be a list of strings, got {other}"
        ))),
    }
}

/// An optional enum member.
fn opt_enum<'a>(input: &'a Value, key: &str, allowed: &[&str]) -> Result<Option<&'a str>, ApiError> {
    match opt_str(input, key)? {
        Some(v) if !allowed.contains(&v) => Err(invalid_parameter(format!(
            "{key} must be one of {}, got {v}",
            allowed.join(", ")
        ))),
        v => Ok(v),
    }
}

fn share_arns_filter(input: &Value) -> Result<Option<Vec<String>>, ApiError> {
    let list = opt_list(input, "resourceShareArns")?;
    if let Some(bad) = list.iter().flatten().find(|a| !is_ram_arn(a, "resource-share/")) {
        return Err(malformed(bad));
    }
    Ok(list)
}

/// GetResourceShares' `tagFilters`: `[{tagKey, tagValues}]`; no values match any value of the key.
fn tag_filters(input: &Value) -> Result<Vec<(String, Vec<String>)>, ApiError> {
    match input.get("tagFilters") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(list)) => list
            .iter()
            .map(|f| {
                let key = f
                    .get("tagKey")
                    .and_then(Value::as_str)
                    .filter(|k| !k.is_empty())
                    .ok_or_else(|| invalid_parameter("a tag filter's tagKey must be a non-empty string"))?;
                let values = opt_list(f, "tagValues")?.unwrap_or_default();
                Ok((key.to_string(), values))
            })
            .collect(),
        Some(other) => Err(invalid_parameter(format!("tagFilters must be a list, got {other}"))),
    }
}

/// One Image Builder resource: an image or container recipe, or a build version of a component
/// or an image.
struct Resource {
    arn: String,
    kind: ResourceKind,
    policy: Option<String>,
    created: SystemTime,
    tags: BTreeMap<String, String>,
    /// The name as created (capitals and spaces allowed); the ARN's name segment otherwise.
    display_name: Option<String>,
    /// Consumers depend on it: RAM refuses to unshare it ([`crate::StandIn::set_in_use`]).
    in_use: bool,
    /// Recipes: the component ARNs set by [`crate::StandIn::set_recipe_contents`] (empty: the
    /// default AWS-owned `update-linux`).
    components: Vec<String>,
    /// Recipes: the parent image set (None: the default).
    parent_image: Option<String>,
}

#[derive(Clone)]
struct Assoc {
    entity: String,
    created: SystemTime,
}

struct Share {
    arn: String,
    name: String,
    feature_set: &'static str,
    status: &'static str,
    resources: Vec<Assoc>,
    principals: Vec<Assoc>,
    permission_arn: String,
    created: SystemTime,
    updated: SystemTime,
    /// Before this instant the share is invisible to every RAM operation (eventual
    /// consistency after PutImageRecipePolicy).
    visible_at: Instant,
    /// A running promotion: when it completes, and the managed permission it attaches.
    promotion: Option<(Instant, String)>,
    /// RAM tags (`TagResource`), in the order added; a key is set once.
    tags: Vec<(String, String)>,
}

struct Permission {
    arn: String,
    name: String,
    permission_type: &'static str,
    feature_set: &'static str,
    resource_type: String,
    /// Sorted and deduplicated: two permissions match when these are equal.
    actions: Vec<String>,
    created: SystemTime,
    is_default: bool,
}

impl Permission {
    fn summary(&self) -> Value {
        json!({
            "arn": self.arn,
            "version": "1",
            "defaultVersion": true,
            "name": self.name,
            "resourceType": self.resource_type,
            "status": "ATTACHABLE",
            "creationTime": epoch_seconds(self.created),
            "lastUpdatedTime": epoch_seconds(self.created),
            "isResourceTypeDefault": self.is_default,
            "permissionType": self.permission_type,
            "featureSet": self.feature_set,
            "tags": [],
        })
    }
}

/// What a clientToken was first used with, and the answer given.
struct TokenUse {
    params: Value,
    response: Value,
}

/// The modeled state. Shares are never removed from `shares` (deleted ones keep status
/// DELETED), so share indices are stable and the indexes below can hold them; every look-up by
/// ARN goes through an index so that operations stay cheap with 10,000s of resources and shares.
pub(crate) struct State {
    opts: Options,
    /// Every kind in creation order (the order the List operations answer).
    resources: Vec<Resource>,
    /// Resource ARN → index in `resources`.
    resource_index: HashMap<String, usize>,
    shares: Vec<Share>,
    /// Share ARN → index in `shares`.
    share_index: HashMap<String, usize>,
    /// Resource ARN → indices (ascending) of the shares of any status whose resources hold it.
    shares_of_resource: HashMap<String, Vec<usize>>,
    /// Permission ARN → how many shares (of any status) use it.
    perm_users: HashMap<String, usize>,
    /// Indices of shares with a running promotion.
    promoting: Vec<usize>,
    perms: Vec<Permission>,
    share_seq: u32,
    perm_seq: u32,
    /// clientToken → first use, per operation (tokens of different operations are separate).
    tokens: HashMap<(String, String), TokenUse>,
    rng: Rng,
}

impl State {
    pub(crate) fn new(opts: Options) -> State {
        // One AWS-managed default per resource type, the image recipe's first.
        let defaults = ResourceKind::ALL
            .into_iter()
            .map(|kind| Permission {
                arn: format!(
                    "arn:{}:ram::aws:permission/{}",
                    opts.partition,
                    kind.default_permission_name()
                ),
                name: kind.default_permission_name().to_string(),
                permission_type: AWS_MANAGED,
                feature_set: STANDARD,
                resource_type: kind.resource_type().to_string(),
                actions: kind
                    .default_permission_actions()
                    .iter()
                    .map(|a| a.to_string())
                    .collect(),
                created: SystemTime::now(),
                is_default: true,
            })
            .collect();
        State {
            opts,
            resources: Vec::new(),
            resource_index: HashMap::new(),
            shares: Vec::new(),
            share_index: HashMap::new(),
            shares_of_resource: HashMap::new(),
            perm_users: HashMap::new(),
            promoting: Vec::new(),
            perms: defaults,
            share_seq: 0,
            perm_seq: 0,
            tokens: HashMap::new(),
            rng: Rng::new(),
        }
    }

    /// Applies everything time has done since the last call: finished promotions switch the
    /// share to STANDARD with its managed permission, and CREATED_FROM_POLICY permissions no
    /// share uses any more are deleted (as RAM does after a promotion).
    pub(crate) fn tick(&mut self, now: Instant) {
        if self.promoting.is_empty() {
            return;
        }
        let mut changed = false;
        let mut still = Vec::new();
        for i in std::mem::take(&mut self.promoting) {
            match &self.shares[i].promotion {
                Some((done_at, target)) if now >= *done_at => {
                    let target = target.clone();
                    self.set_share_permission(i, target);
                    let share = &mut self.shares[i];
                    share.feature_set = STANDARD;
                    share.promotion = None;
                    share.updated = SystemTime::now();
                    let resources: Vec<String> = share.resources.iter().map(|r| r.entity.clone()).collect();
                    self.write_ram_policies(&resources);
                    changed = true;
                }
                Some(_) => still.push(i),
                // Cancelled (the share was deleted by StandIn::delete_share).
                None => {}
            }
        }
        self.promoting = still;
        if changed {
            self.gc_permissions();
        }
    }

    /// Deletes the CREATED_FROM_POLICY permissions no share (of any status) uses any more.
    fn gc_permissions(&mut self) {
        let users = &self.perm_users;
        self.perms
            .retain(|p| p.feature_set != CREATED_FROM_POLICY || users.get(&p.arn).is_some_and(|&n| n > 0));
    }

    /// Points share `i` at permission `arn`, keeping [`State::perm_users`] in step.
    fn set_share_permission(&mut self, i: usize, arn: String) {
        let old = std::mem::replace(&mut self.shares[i].permission_arn, arn.clone());
        if let Some(n) = self.perm_users.get_mut(&old) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.perm_users.remove(&old);
            }
        }
        *self.perm_users.entry(arn).or_default() += 1;
    }

    /// Appends a share and indexes it.
    fn push_share(&mut self, share: Share) {
        let i = self.shares.len();
        self.share_index.insert(share.arn.clone(), i);
        for r in &share.resources {
            self.index_resource(&r.entity, i);
        }
        *self.perm_users.entry(share.permission_arn.clone()).or_default() += 1;
        self.shares.push(share);
    }

    fn index_resource(&mut self, resource: &str, share: usize) {
        let list = self.shares_of_resource.entry(resource.to_string()).or_default();
        if let Err(pos) = list.binary_search(&share) {
            list.insert(pos, share);
        }
    }

    fn unindex_resource(&mut self, resource: &str, share: usize) {
        if let Some(list) = self.shares_of_resource.get_mut(resource) {
            if let Ok(pos) = list.binary_search(&share) {
                list.remove(pos);
            }
            if list.is_empty() {
                self.shares_of_resource.remove(resource);
            }
        }
    }

    /// Indices (ascending) of the shares of any status holding `resource`.
    fn shares_holding(&self, resource: &str) -> &[usize] {
        self.shares_of_resource
            .get(resource)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// The first ACTIVE share holding `resource`.
    fn active_share_of(&self, resource: &str) -> Option<usize> {
        self.shares_holding(resource)
            .iter()
            .copied()
            .find(|&i| self.shares[i].status == ACTIVE)
    }

    fn has_resource(&self, arn: &str) -> bool {
        self.resource_index.contains_key(arn)
    }

    fn resource(&self, arn: &str) -> Option<&Resource> {
        self.resource_index.get(arn).map(|&i| &self.resources[i])
    }

    fn resource_mut(&mut self, arn: &str) -> Option<&mut Resource> {
        self.resource_index.get(arn).map(|&i| &mut self.resources[i])
    }

    /// The resource `arn` of `kind`, if present and of that kind.
    fn resource_of(&self, kind: ResourceKind, arn: &str) -> Option<&Resource> {
        self.resource(arn).filter(|r| r.kind == kind)
    }

    /// Adds a resource unless present (a present one keeps its kind). The kind is the ARN's
    /// resource segment; an ARN that names no modeled kind is taken as an image recipe (fixtures
    /// have always added recipes under any string). Components and images must be build
    /// versions (`<name>/<x.y.z>/<build>`): that is what Image Builder stores, and the
    /// version listings group builds by the ARN without its build.
    pub(crate) fn add_resource(&mut self, arn: &str) -> Result<(), String> {
        if self.has_resource(arn) {
            return Ok(());
        }
        let kind = ResourceKind::from_arn(arn).unwrap_or(ResourceKind::ImageRecipe);
        if kind.has_build_version() && !arn_matches(arn, kind, ArnShape::Build) {
            return Err(format!(
                "{arn} is not a {} build version ARN (…:{}/<name>/<x.y.z>/<build>)",
                kind.label(),
                kind.arn_segment()
            ));
        }
        self.resource_index.insert(arn.to_string(), self.resources.len());
        self.resources.push(Resource {
            arn: arn.to_string(),
            kind,
            policy: None,
            created: SystemTime::now(),
            tags: BTreeMap::new(),
            display_name: None,
            in_use: false,
            components: Vec::new(),
            parent_image: None,
        });
        Ok(())
    }

    /// Sets a tag on a resource (adding it if missing), as Image Builder's TagResource would.
    pub(crate) fn tag_resource(&mut self, arn: &str, key: &str, value: &str) -> Result<(), String> {
        self.add_resource(arn)?;
        if let Some(r) = self.resource_mut(arn) {
            r.tags.insert(key.to_string(), value.to_string());
        }
        Ok(())
    }

    pub(crate) fn untag_share(&mut self, arn: &str) {
        if let Some(&i) = self.share_index.get(arn) {
            self.shares[i].tags.clear();
        }
    }

    /// Gives a resource the name it was created with (its ARN carries it lower-cased, spaces as
    /// `-`).
    pub(crate) fn name_resource(&mut self, arn: &str, name: &str) -> Result<(), String> {
        self.add_resource(arn)?;
        if let Some(r) = self.resource_mut(arn) {
            r.display_name = Some(name.to_string());
        }
        Ok(())
    }

    /// Sets what a recipe builds from (adding the recipe if missing): its component ARNs (none:
    /// the default `update-linux`) and parent image (None: the default).
    pub(crate) fn set_recipe_contents(
        &mut self,
        arn: &str,
        components: &[&str],
        parent_image: Option<&str>,
    ) -> Result<(), String> {
        match ResourceKind::from_arn(arn) {
            Some(k) if k.is_recipe() => {}
            _ => return Err(format!("{arn} is not an image or container recipe ARN")),
        }
        self.add_resource(arn)?;
        if let Some(r) = self.resource_mut(arn) {
            r.components = components.iter().map(|c| c.to_string()).collect();
            r.parent_image = parent_image.map(str::to_string);
        }
        Ok(())
    }

    /// Marks a resource as depended on by consumers (RAM then refuses to unshare it) or not.
    pub(crate) fn set_in_use(&mut self, arn: &str, in_use: bool) {
        if let Some(r) = self.resource_mut(arn) {
            r.in_use = in_use;
        }
    }

    fn in_use(&self, resources: &[String]) -> Option<String> {
        resources
            .iter()
            .find(|r| self.resource(r).is_some_and(|r| r.in_use))
            .cloned()
    }

    /// The RAM resource type of a shared resource (an image recipe's if it is gone).
    fn resource_type_of(&self, arn: &str) -> &'static str {
        self.resource(arn)
            .map(|r| r.kind)
            .or_else(|| ResourceKind::from_arn(arn))
            .unwrap_or(ResourceKind::ImageRecipe)
            .resource_type()
    }

    /// RAM writes the policy of a resource held by STANDARD shares itself, combining every such
    /// share (RAM user guide, "Resource-based policy"): one statement per share, accounts as
    /// `arn:<p>:iam::<id>:root`, an organization as `"Principal": "*"` with an
    /// `aws:PrincipalOrgID` condition, an OU with `aws:PrincipalOrgPaths`. A resource no STANDARD
    /// share holds keeps the text it has.
    fn write_ram_policies(&mut self, resources: &[String]) {
        for arn in resources {
            let mut statements = Vec::new();
            for &i in self.shares_holding(arn) {
                let s = &self.shares[i];
                if s.status != ACTIVE || s.feature_set != STANDARD {
                    continue;
                }
                let actions = self
                    .perm(&s.permission_arn)
                    .map(|p| p.actions.clone())
                    .unwrap_or_default();
                let (mut accounts, mut orgs) = (Vec::new(), Vec::new());
                for p in &s.principals {
                    match principal_kind(&p.entity) {
                        Ok(PrincipalKind::Organization) => orgs.push(p.entity.clone()),
                        _ => accounts.push(format!("arn:{}:iam::{}:root", self.opts.partition, p.entity)),
                    }
                }
                if !accounts.is_empty() {
                    statements.push(json!({
                        "Sid": format!("RamStatement{}", statements.len() + 1),
                        "Effect": "Allow",
                        "Principal": {"AWS": accounts},
                        "Action": actions,
                        "Resource": arn,
                    }));
                }
                for org in orgs {
                    // arn:<p>:organizations::<acct>:organization/o-x  or  …:ou/o-x/ou-y
                    let path = org.rsplit(':').next().unwrap_or_default();
                    let condition = match path.split('/').collect::<Vec<_>>()[..] {
                        ["ou", o, ou] => {
                            json!({"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": format!("{o}/*/{ou}/*")}})
                        }
                        [_, o] => json!({"StringEquals": {"aws:PrincipalOrgID": o}}),
                        _ => json!({}),
                    };
                    statements.push(json!({
                        "Sid": format!("RamStatement{}", statements.len() + 1),
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": actions,
                        "Resource": arn,
                        "Condition": condition,
                    }));
                }
            }
            if statements.is_empty() {
                continue;
            }
            let text = json!({"Version": "2012-10-17", "Statement": statements}).to_string();
            if let Some(r) = self.resource_mut(arn) {
                r.policy = Some(text);
            }
        }
    }

    /// Deletes the resource and takes it out of every share (a test helper: real Image Builder
    /// refuses to delete a shared resource). O(resources): later ones move down one place.
    pub(crate) fn remove_resource(&mut self, arn: &str) {
        if let Some(pos) = self.resource_index.remove(arn) {
            self.resources.remove(pos);
            for (i, r) in self.resources.iter().enumerate().skip(pos) {
                self.resource_index.insert(r.arn.clone(), i);
            }
        }
        for i in self.shares_of_resource.remove(arn).unwrap_or_default() {
            self.shares[i].resources.retain(|r| r.entity != arn);
        }
    }

    /// Stores `text` as the resource's policy with no RAM side effect (a test helper for
    /// "policy present but no share"); adds the resource if missing.
    pub(crate) fn put_policy_only(&mut self, arn: &str, text: &str) -> Result<(), String> {
        self.add_resource(arn)?;
        if let Some(r) = self.resource_mut(arn) {
            r.policy = Some(text.to_string());
        }
        Ok(())
    }

    /// Deletes a share as DeleteResourceShare would, whatever its featureSet and visibility (a
    /// test helper; a running promotion is cancelled). False if no share has that ARN.
    pub(crate) fn force_delete_share(&mut self, arn: &str) -> bool {
        let Some(&i) = self.share_index.get(arn) else {
            return false;
        };
        let share = &mut self.shares[i];
        if share.status == DELETED {
            return true;
        }
        share.status = DELETED;
        share.promotion = None;
        share.updated = SystemTime::now();
        let resources: Vec<String> = share.resources.iter().map(|r| r.entity.clone()).collect();
        self.clear_unshared_policies(&resources);
        self.write_ram_policies(&resources);
        true
    }

    /// Stores `text` as the resource's policy and applies RAM's side effects. The resource must
    /// exist.
    pub(crate) fn apply_policy(&mut self, arn: &str, text: &str, now: Instant) -> Result<(), String> {
        let kind = self
            .resource(arn)
            .map(|r| r.kind)
            .ok_or_else(|| format!("The resource {arn} does not exist"))?;
        let info = parse_policy(text, arn, kind.label(), &self.opts.partition)?;
        let resource = self.resource_mut(arn).expect("checked above");
        // Stored verbatim: AWS does not document whether it normalizes the text.
        resource.policy = Some(text.to_string());
        let sys = SystemTime::now();
        // Undocumented what a policy does to a resource a STANDARD share already holds: modeled
        // pessimistically, as a second CREATED_FROM_POLICY share beside it, so a flow that writes
        // the policy of a shared recipe fails its tests.
        let existing = self
            .shares_holding(arn)
            .iter()
            .copied()
            .find(|&i| self.shares[i].status == ACTIVE && self.shares[i].feature_set == CREATED_FROM_POLICY);
        match existing {
            Some(i) => {
                // Undocumented: a new policy on a recipe that already has a policy share
                // updates that share's principals instead of creating a second share.
                let old = std::mem::take(&mut self.shares[i].principals);
                self.shares[i].principals = info
                    .accounts
                    .iter()
                    .map(|a| Assoc {
                        entity: a.clone(),
                        created: old.iter().find(|o| &o.entity == a).map(|o| o.created).unwrap_or(sys),
                    })
                    .collect();
                self.shares[i].updated = sys;
                // Only a share still CREATED_FROM_POLICY follows the policy's actions; once
                // promoted its permission is managed in RAM and left alone.
                if self.shares[i].feature_set == CREATED_FROM_POLICY {
                    let perm = self.resolve_permission(kind, &info.actions);
                    self.set_share_permission(i, perm);
                    self.gc_permissions();
                }
            }
            None => {
                let perm = self.resolve_permission(kind, &info.actions);
                self.share_seq += 1;
                let share = Share {
                    arn: format!(
                        "arn:{}:ram:{}:{}:resource-share/{}",
                        self.opts.partition,
                        self.opts.region,
                        self.opts.account,
                        self.rng.uuid()
                    ),
                    // The real name is undocumented; do not match on it.
                    name: format!("PolicyShare-{}", self.share_seq),
                    feature_set: CREATED_FROM_POLICY,
                    status: ACTIVE,
                    resources: vec![Assoc {
                        entity: arn.to_string(),
                        created: sys,
                    }],
                    principals: info
                        .accounts
                        .iter()
                        .map(|a| Assoc {
                            entity: a.clone(),
                            created: sys,
                        })
                        .collect(),
                    permission_arn: perm,
                    created: sys,
                    updated: sys,
                    visible_at: now + self.opts.share_visible_after,
                    promotion: None,
                    tags: Vec::new(),
                };
                self.push_share(share);
            }
        }
        Ok(())
    }

    /// A managed permission of `resource_type` whose actions equal `actions` (customer managed
    /// first; the AWS-managed default only when the options say it matches).
    fn find_managed(&self, resource_type: &str, actions: &[String]) -> Option<&Permission> {
        let matches = |p: &&Permission| p.resource_type == resource_type && p.actions == actions;
        self.perms
            .iter()
            .filter(matches)
            .find(|p| p.permission_type == CUSTOMER_MANAGED && p.feature_set == STANDARD)
            .or_else(|| {
                self.perms
                    .iter()
                    .filter(matches)
                    .find(|p| self.opts.aws_managed_permission_matches && p.permission_type == AWS_MANAGED)
            })
    }

    /// The permission a new policy share of a `kind` resource gets: a matching managed one of
    /// its resource type, else an existing CREATED_FROM_POLICY one of that type with the same
    /// actions, else a new CREATED_FROM_POLICY one.
    fn resolve_permission(&mut self, kind: ResourceKind, actions: &[String]) -> String {
        let resource_type = kind.resource_type();
        if let Some(p) = self.find_managed(resource_type, actions) {
            return p.arn.clone();
        }
        if let Some(p) = self
            .perms
            .iter()
            .find(|p| p.feature_set == CREATED_FROM_POLICY && p.resource_type == resource_type && p.actions == actions)
        {
            return p.arn.clone();
        }
        self.perm_seq += 1;
        // Undocumented name and ARN shape; modeled as a customer managed permission in the
        // account's Region, like the ones PromotePermissionCreatedFromPolicy makes.
        let name = format!("CreatedFromPolicy-{}-{}", self.perm_seq, self.rng.hex(8));
        let arn = self.permission_arn(&name);
        self.perms.push(Permission {
            arn: arn.clone(),
            name,
            permission_type: CUSTOMER_MANAGED,
            feature_set: CREATED_FROM_POLICY,
            resource_type: resource_type.to_string(),
            actions: actions.to_vec(),
            created: SystemTime::now(),
            is_default: false,
        });
        arn
    }

    fn permission_arn(&self, name: &str) -> String {
        format!(
            "arn:{}:ram:{}:{}:permission/{name}",
            self.opts.partition, self.opts.region, self.opts.account
        )
    }

    fn perm(&self, arn: &str) -> Option<&Permission> {
        self.perms.iter().find(|p| p.arn == arn)
    }

    /// The index of a share visible to RAM operations now.
    fn find_share(&self, arn: &str, now: Instant) -> Result<usize, ApiError> {
        if !is_ram_arn(arn, "resource-share/") {
            return Err(malformed(arn));
        }
        self.share_index
            .get(arn)
            .copied()
            .filter(|&i| now >= self.shares[i].visible_at)
            .ok_or_else(|| unknown("resource share", arn))
    }

    /// Clears the policy of each of `recipes` that no ACTIVE share holds any more: RAM removes
    /// the sharing it wrote into the resource policy.
    fn clear_unshared_policies(&mut self, resources: &[String]) {
        for arn in resources {
            if self.active_share_of(arn).is_none()
                && let Some(r) = self.resource_mut(arn)
            {
                r.policy = None;
            }
        }
    }

    /// Runs one AWS operation on the (already merged query + body) input.
    pub(crate) fn call(
        &mut self,
        service: &str,
        op: &str,
        input: &Value,
        request_id: &str,
        now: Instant,
    ) -> Result<Value, ApiError> {
        self.tick(now);
        match (service, op) {
            ("ram", "TagResource") => return self.tag_share(input, now),
            ("imagebuilder", "TagResource") => return self.tag_image_builder_resource(input),
            _ => {}
        }
        use ResourceKind::{Component, ContainerRecipe, Image, ImageRecipe};
        match op {
            "GetImageRecipePolicy" => self.get_policy(ImageRecipe, input, request_id),
            "GetContainerRecipePolicy" => self.get_policy(ContainerRecipe, input, request_id),
            "GetComponentPolicy" => self.get_policy(Component, input, request_id),
            "GetImagePolicy" => self.get_policy(Image, input, request_id),
            "PutImageRecipePolicy" => self.put_policy(ImageRecipe, input, request_id, now),
            "PutContainerRecipePolicy" => self.put_policy(ContainerRecipe, input, request_id, now),
            "PutComponentPolicy" => self.put_policy(Component, input, request_id, now),
            "PutImagePolicy" => self.put_policy(Image, input, request_id, now),
            "GetImageRecipe" => self.get_recipe(ImageRecipe, input, request_id),
            "GetContainerRecipe" => self.get_recipe(ContainerRecipe, input, request_id),
            "GetComponent" => self.get_component(input, request_id),
            "GetImage" => self.get_image(input, request_id),
            "ListImageRecipes" => self.list_recipes(ImageRecipe, input, request_id),
            "ListContainerRecipes" => self.list_recipes(ContainerRecipe, input, request_id),
            "ListComponents" => self.list_versions(Component, input, request_id),
            "ListImages" => self.list_versions(Image, input, request_id),
            "ListComponentBuildVersions" => self.list_builds(Component, input, request_id),
            "ListImageBuildVersions" => self.list_builds(Image, input, request_id),
            "DeleteImageRecipe" => self.delete_resource(ImageRecipe, input, request_id),
            "DeleteContainerRecipe" => self.delete_resource(ContainerRecipe, input, request_id),
            "DeleteComponent" => self.delete_resource(Component, input, request_id),
            "DeleteImage" => self.delete_resource(Image, input, request_id),
            "ListResources" => self.list_resources(input, now),
            "GetResourceShares" => self.get_resource_shares(input, now),
            "ListResourceSharePermissions" => self.list_resource_share_permissions(input, now),
            "PromotePermissionCreatedFromPolicy" => self.promote_permission(input),
            "ListPermissions" => self.list_permissions(input),
            "GetResourceShareAssociations" => self.get_resource_share_associations(input, now),
            "AssociateResourceShare" => self.associate(input, now, true),
            "DisassociateResourceShare" => self.associate(input, now, false),
            "PromoteResourceShareCreatedFromPolicy" => self.promote_share(input, now),
            "DeleteResourceShare" => self.delete_share(input, now),
            "ListTagsForResource" => self.list_tags_for_resource(input),
            _ => Err(ApiError::new(
                "UnknownOperationException",
                format!("Unknown operation {op}"),
            )),
        }
    }

    /// One page of a RAM listing; `map` builds the JSON of the page's items only.
    fn paged<T>(
        &self,
        key: &str,
        items: Vec<T>,
        map: impl FnMut(T) -> Value,
        input: &Value,
        op: &str,
    ) -> Result<Value, ApiError> {
        self.paged_with(key, items, map, input, op, &RAM_LIMITS)
    }

    fn paged_with<T>(
        &self,
        key: &str,
        items: Vec<T>,
        map: impl FnMut(T) -> Value,
        input: &Value,
        op: &str,
        limits: &Limits,
    ) -> Result<Value, ApiError> {
        paged_map(
            key,
            items,
            map,
            input,
            op,
            self.opts.page_size,
            self.opts.empty_pages,
            limits,
        )
    }

    /// Indices (ascending, deduplicated) of the shares a listing has to look at: those named
    /// in `share_arns` and/or holding one of `resources`, or all when neither filter is given.
    /// Indexed, so a filter on one ARN costs O(1) whatever the number of shares.
    fn candidate_shares(&self, share_arns: Option<&[String]>, resources: Option<&[String]>) -> Vec<usize> {
        let by_share: Option<Vec<usize>> =
            share_arns.map(|arns| arns.iter().filter_map(|a| self.share_index.get(a).copied()).collect());
        let by_resource: Option<Vec<usize>> = resources.map(|arns| {
            arns.iter()
                .flat_map(|a| self.shares_holding(a).iter().copied())
                .collect()
        });
        let mut out = match (by_share, by_resource) {
            (None, None) => return (0..self.shares.len()).collect(),
            (Some(v), None) | (None, Some(v)) => v,
            (Some(a), Some(b)) => {
                let a: HashSet<usize> = a.into_iter().collect();
                b.into_iter().filter(|i| a.contains(i)).collect()
            }
        };
        out.sort_unstable();
        out.dedup();
        out
    }

    // ---- Image Builder ----

    /// The ARN member `member` of an Image Builder request, checked against the model's pattern
    /// `shape` for `kind`; `code` is the operation's error for a bad or missing one.
    fn ib_arn<'a>(
        input: &'a Value,
        member: &str,
        kind: ResourceKind,
        shape: ArnShape,
        code: &'static str,
    ) -> Result<&'a str, ApiError> {
        match input.get(member).and_then(Value::as_str) {
            Some(a) if arn_matches(a, kind, shape) => Ok(a),
            Some(a) => Err(ApiError::new(
                code,
                format!("The value supplied for parameter '{member}' is not valid: {a}"),
            )),
            None => Err(ApiError::new(
                code,
                format!("The required parameter '{member}' is missing"),
            )),
        }
    }

    /// The pattern of the ARN members of the policy and Delete operations: the recipe patterns
    /// (`x` nodes allowed) for recipes, build versions for components and images.
    fn own_shape(kind: ResourceKind) -> ArnShape {
        if kind.has_build_version() {
            ArnShape::Build
        } else {
            ArnShape::Recipe
        }
    }

    fn not_found(arn: &str) -> ApiError {
        ApiError::new(
            "ResourceNotFoundException",
            format!("The resource ARN {arn} does not exist"),
        )
    }

    /// Get{ImageRecipe,ContainerRecipe,Component,Image}Policy.
    fn get_policy(&self, kind: ResourceKind, input: &Value, request_id: &str) -> Result<Value, ApiError> {
        let member = kind.policy_member();
        let arn = Self::ib_arn(input, member, kind, Self::own_shape(kind), "InvalidRequestException")?;
        let resource = self.resource_of(kind, arn).ok_or_else(|| Self::not_found(arn))?;
        // Undocumented: AWS does not say what a resource without a policy returns; modeled as
        // ResourceNotFoundException, the only "absent" error the operation models.
        let policy = resource.policy.as_ref().ok_or_else(|| {
            ApiError::new(
                "ResourceNotFoundException",
                format!("No resource policy is attached to {arn}"),
            )
        })?;
        Ok(json!({"requestId": request_id, "policy": policy}))
    }

    /// Put{ImageRecipe,ContainerRecipe,Component,Image}Policy.
    fn put_policy(
        &mut self,
        kind: ResourceKind,
        input: &Value,
        request_id: &str,
        now: Instant,
    ) -> Result<Value, ApiError> {
        let member = kind.policy_member();
        let arn = Self::ib_arn(
            input,
            member,
            kind,
            Self::own_shape(kind),
            "InvalidParameterValueException",
        )?;
        let policy = match input.get("policy").and_then(Value::as_str) {
            Some(p) if !p.is_empty() && p.chars().count() <= POLICY_MAX_LEN => p,
            _ => {
                return Err(ApiError::new(
                    "InvalidParameterValueException",
                    "The parameter 'policy' must be a string of 1 to 30000 characters",
                ));
            }
        };
        if self.resource_of(kind, arn).is_none() {
            return Err(Self::not_found(arn));
        }
        self.apply_policy(arn, policy, now)
            .map_err(|m| ApiError::new("InvalidParameterValueException", m))?;
        let mut out = json!({"requestId": request_id});
        out[member] = Value::String(arn.to_string());
        Ok(out)
    }

    /// What the stand-in reports about a resource, derived from its ARN
    /// (`arn:<p>:imagebuilder:<region>:<owner>:<kind>/<name>/<version>[/<build>]`). Resources
    /// added with an ARN of another shape fall back to the options' partition, Region and
    /// account, name `recipe` and version `1.0.0`.
    fn facts<'a>(&'a self, r: &'a Resource) -> Facts<'a> {
        let parts = split_arn(&r.arn).unwrap_or_default();
        let or = |v: &'a str, default: &'a str| if v.is_empty() { default } else { v };
        let mut path = parts[5].split('/').skip(1);
        let arn_name = path.next().unwrap_or("recipe");
        Facts {
            name: r.display_name.as_deref().unwrap_or(arn_name),
            version: path.next().unwrap_or("1.0.0"),
            owner: or(parts[4], &self.opts.account),
            partition: or(parts[1], &self.opts.partition),
            region: or(parts[3], &self.opts.region),
        }
    }

    /// A recipe's parent image: the one set, else an AWS-owned Amazon Linux 2 image (image
    /// recipes) or `amazonlinux:latest` (container recipes).
    fn parent_image(r: &Resource, f: &Facts) -> String {
        match (&r.parent_image, r.kind) {
            (Some(p), _) => p.clone(),
            (None, ResourceKind::ContainerRecipe) => DEFAULT_CONTAINER_PARENT.to_string(),
            (None, _) => format!(
                "arn:{}:imagebuilder:{}:aws:image/amazon-linux-2-x86/x.x.x",
                f.partition, f.region
            ),
        }
    }

    /// A recipe's `components` (`ComponentConfiguration`s): the ones set, else AWS's
    /// `update-linux/x.x.x`.
    fn components_json(r: &Resource, f: &Facts) -> Vec<Value> {
        if r.components.is_empty() {
            let arn = format!(
                "arn:{}:imagebuilder:{}:aws:component/{DEFAULT_COMPONENT}",
                f.partition, f.region
            );
            return vec![json!({ "componentArn": arn })];
        }
        r.components.iter().map(|c| json!({ "componentArn": c })).collect()
    }

    /// GetImageRecipe / GetContainerRecipe.
    fn get_recipe(&self, kind: ResourceKind, input: &Value, request_id: &str) -> Result<Value, ApiError> {
        let arn = Self::ib_arn(
            input,
            kind.policy_member(),
            kind,
            ArnShape::Recipe,
            "InvalidRequestException",
        )?;
        let r = self.resource_of(kind, arn).ok_or_else(|| Self::not_found(arn))?;
        let f = self.facts(r);
        if kind == ResourceKind::ImageRecipe {
            return Ok(json!({
                "requestId": request_id,
                "imageRecipe": {
                    "arn": r.arn,
                    "type": IMAGE_TYPE,
                    "name": f.name,
                    "platform": PLATFORM,
                    "owner": f.owner,
                    "version": f.version,
                    "components": Self::components_json(r, &f),
                    "parentImage": Self::parent_image(r, &f),
                    "blockDeviceMappings": [],
                    "dateCreated": iso8601(r.created),
                    "tags": r.tags,
                }
            }));
        }
        let repository = IbArn::parse(&r.arn).map_or(f.name, |a| a.name);
        Ok(json!({
            "requestId": request_id,
            "containerRecipe": {
                "arn": r.arn,
                "containerType": "DOCKER",
                "name": f.name,
                "platform": PLATFORM,
                "owner": f.owner,
                "version": f.version,
                "components": Self::components_json(r, &f),
                "parentImage": Self::parent_image(r, &f),
                "dockerfileTemplateData": "FROM {{{ imagebuilder:parentImage }}}\n{{{ imagebuilder:environments }}}\n{{{ imagebuilder:components }}}\n",
                "dateCreated": iso8601(r.created),
                "tags": r.tags,
                "targetRepository": {"service": "ECR", "repositoryName": repository},
            }
        }))
    }

    /// The `owner` member of the List operations: absent means `Self`.
    fn owner(input: &Value) -> Result<&str, ApiError> {
        match input.get("owner") {
            None | Some(Value::Null) => Ok("Self"),
            Some(Value::String(o)) if OWNERSHIP.contains(&o.as_str()) => Ok(o.as_str()),
            Some(other) => Err(ApiError::new(
                "InvalidRequestException",
                format!("owner must be one of {}, got {other}", OWNERSHIP.join(", ")),
            )),
        }
    }

    /// Which `owner` lists a component or image of `account`: this account's are `Self`,
    /// `aws`'s `Amazon`, `aws-marketplace`'s `AWSMarketplace`, other `aws-…` and `third-party`
    /// ones `ThirdParty`, and any other account's `Shared` (it can only be visible here if it
    /// was shared with this account).
    fn ownership(&self, account: &str) -> &'static str {
        match account {
            a if a == self.opts.account => "Self",
            "aws" => "Amazon",
            "aws-marketplace" => "AWSMarketplace",
            a if a.starts_with("aws-") || a == "third-party" => "ThirdParty",
            _ => "Shared",
        }
    }

    /// Sets the Image Builder `requestId` on a page.
    fn ib_paged<T>(
        &self,
        key: &str,
        items: Vec<T>,
        map: impl FnMut(T) -> Value,
        input: &Value,
        op: &str,
        request_id: &str,
    ) -> Result<Value, ApiError> {
        let mut out = self.paged_with(key, items, map, input, op, &IMAGEBUILDER_LIMITS)?;
        out["requestId"] = Value::String(request_id.to_string());
        Ok(out)
    }

    /// ListImageRecipes / ListContainerRecipes: `owner` `Self` (the default) lists every recipe
    /// of the kind, in creation order, whatever account its ARN names; the other owners list
    /// nothing (one account is modeled and nothing is shared with it).
    fn list_recipes(&self, kind: ResourceKind, input: &Value, request_id: &str) -> Result<Value, ApiError> {
        let owner = Self::owner(input)?;
        let image = kind == ResourceKind::ImageRecipe;
        let names = if image {
            IMAGE_RECIPE_FILTERS
        } else {
            CONTAINER_RECIPE_FILTERS
        };
        let filters = list_filters(input, names)?;
        let rows: Vec<&Resource> = if owner == "Self" {
            self.resources
                .iter()
                .filter(|r| r.kind == kind)
                .filter(|r| {
                    filters.is_empty() || {
                        let f = self.facts(r);
                        let parent = Self::parent_image(r, &f);
                        filters_match(&filters, |name| match name {
                            "name" => Some(f.name),
                            "parentImage" => Some(parent.as_str()),
                            "platform" => Some(PLATFORM),
                            "containerType" => Some("DOCKER"),
                            _ => None,
                        })
                    }
                })
                .collect()
        } else {
            Vec::new()
        };
        let summary = |r: &Resource| {
            let f = self.facts(r);
            let mut row = json!({
                "arn": r.arn,
                "name": f.name,
                "platform": PLATFORM,
                "owner": f.owner,
                "parentImage": Self::parent_image(r, &f),
                "dateCreated": iso8601(r.created),
                "tags": r.tags,
            });
            if !image {
                row["containerType"] = json!("DOCKER");
            }
            row
        };
        let (key, op) = if image {
            ("imageRecipeSummaryList", "ListImageRecipes")
        } else {
            ("containerRecipeSummaryList", "ListContainerRecipes")
        };
        self.ib_paged(key, rows, summary, input, op, request_id)
    }

    /// What a component or image build reports for a List filter name (None: not modeled).
    fn build_attr<'a>(kind: ResourceKind, f: &Facts<'a>, name: &str) -> Option<&'a str> {
        match name {
            "name" => Some(f.name),
            "platform" => Some(PLATFORM),
            "version" => Some(f.version),
            "type" if kind == ResourceKind::Component => Some(COMPONENT_TYPE),
            "type" => Some(IMAGE_TYPE),
            _ => None,
        }
    }

    /// `imageSource` of an image: Amazon's are `AMAZON_MANAGED`, the rest `CUSTOM`.
    fn image_source(f: &Facts) -> &'static str {
        if f.owner == "aws" { "AMAZON_MANAGED" } else { "CUSTOM" }
    }

    /// ListComponents / ListImages: the *versions* (`<name>/<x.y.z>`, the build cut off) of the
    /// builds `owner` lists, one row per distinct version in the order its first build was
    /// added, with the attributes of that first build. `byName` and `includeDeprecated` are
    /// accepted and change nothing (no build is deprecated).
    fn list_versions(&self, kind: ResourceKind, input: &Value, request_id: &str) -> Result<Value, ApiError> {
        let owner = Self::owner(input)?;
        let component = kind == ResourceKind::Component;
        let filters = list_filters(input, if component { COMPONENT_FILTERS } else { IMAGE_FILTERS })?;
        let mut seen: HashSet<&str> = HashSet::new();
        let mut rows: Vec<(&str, &Resource)> = Vec::new();
        for r in self.resources.iter().filter(|r| r.kind == kind) {
            let f = self.facts(r);
            if self.ownership(f.owner) != owner {
                continue;
            }
            let version_arn = r.arn.rsplit_once('/').map_or(r.arn.as_str(), |(v, _)| v);
            if seen.insert(version_arn) && filters_match(&filters, |n| Self::build_attr(kind, &f, n)) {
                rows.push((version_arn, r));
            }
        }
        let row = |(version_arn, r): (&str, &Resource)| {
            let f = self.facts(r);
            if component {
                json!({
                    "arn": version_arn,
                    "name": f.name,
                    "version": f.version,
                    "platform": PLATFORM,
                    "type": COMPONENT_TYPE,
                    "owner": f.owner,
                    "dateCreated": iso8601(r.created),
                    "status": "ACTIVE",
                })
            } else {
                json!({
                    "arn": version_arn,
                    "name": f.name,
                    "type": IMAGE_TYPE,
                    "version": f.version,
                    "platform": PLATFORM,
                    "owner": f.owner,
                    "dateCreated": iso8601(r.created),
                    "buildType": "USER_INITIATED",
                    "imageSource": Self::image_source(&f),
                })
            }
        };
        let (key, op) = if component {
            ("componentVersionList", "ListComponents")
        } else {
            ("imageVersionList", "ListImages")
        };
        self.ib_paged(key, rows, row, input, op, request_id)
    }

    /// The JSON of a component build (GetComponent's `Component`, ListComponentBuildVersions'
    /// `ComponentSummary`) or image build (GetImage's `Image`, ListImageBuildVersions'
    /// `ImageSummary`): the members the stand-in models, with the build's tags.
    fn build_json(&self, r: &Resource) -> Value {
        let f = self.facts(r);
        if r.kind == ResourceKind::Component {
            json!({
                "arn": r.arn,
                "name": f.name,
                "version": f.version,
                "platform": PLATFORM,
                "state": {"status": "ACTIVE"},
                "type": COMPONENT_TYPE,
                "owner": f.owner,
                "dateCreated": iso8601(r.created),
                "tags": r.tags,
            })
        } else {
            json!({
                "arn": r.arn,
                "name": f.name,
                "type": IMAGE_TYPE,
                "version": f.version,
                "platform": PLATFORM,
                "state": {"status": "AVAILABLE"},
                "owner": f.owner,
                "dateCreated": iso8601(r.created),
                "tags": r.tags,
                "buildType": "USER_INITIATED",
                "imageSource": Self::image_source(&f),
            })
        }
    }

    /// ListComponentBuildVersions / ListImageBuildVersions: the builds of one version
    /// (`componentVersionArn` / `imageVersionArn`, no wildcards), in the order added. As the
    /// newest API reference says, only this account's component builds are listed (a version
    /// of `aws`'s lists nothing); image builds of any owner are. Without a version ARN: every
    /// build this account owns. A version with no builds lists nothing (the operations model
    /// no ResourceNotFoundException).
    fn list_builds(&self, kind: ResourceKind, input: &Value, request_id: &str) -> Result<Value, ApiError> {
        let component = kind == ResourceKind::Component;
        let member = if component {
            "componentVersionArn"
        } else {
            "imageVersionArn"
        };
        let version = match input.get(member) {
            None | Some(Value::Null) => None,
            Some(Value::String(a)) if arn_matches(a, kind, ArnShape::Version) => Some(a.as_str()),
            Some(other) => {
                return Err(ApiError::new(
                    "InvalidRequestException",
                    format!("The value supplied for parameter '{member}' is not valid: {other}"),
                ));
            }
        };
        let filters = if component {
            Vec::new()
        } else {
            list_filters(input, IMAGE_FILTERS)?
        };
        let rows: Vec<&Resource> = self
            .resources
            .iter()
            .filter(|r| r.kind == kind)
            .filter(|r| {
                let f = self.facts(r);
                let of_version =
                    version.is_none_or(|v| r.arn.strip_prefix(v).is_some_and(|rest| rest.starts_with('/')));
                let owned = !(component || version.is_none()) || self.ownership(f.owner) == "Self";
                of_version && owned && filters_match(&filters, |n| Self::build_attr(kind, &f, n))
            })
            .collect();
        let (key, op) = if component {
            ("componentSummaryList", "ListComponentBuildVersions")
        } else {
            ("imageSummaryList", "ListImageBuildVersions")
        };
        self.ib_paged(key, rows, |r| self.build_json(r), input, op, request_id)
    }

    /// GetComponent: a build version only (the member's documentation says "Regex requires the
    /// suffix /\d+$", although its pattern also admits versions with wildcards); anything else is
    /// an `InvalidRequestException`.
    fn get_component(&self, input: &Value, request_id: &str) -> Result<Value, ApiError> {
        let kind = ResourceKind::Component;
        let arn = Self::ib_arn(
            input,
            "componentBuildVersionArn",
            kind,
            ArnShape::Build,
            "InvalidRequestException",
        )?;
        let r = self.resource_of(kind, arn).ok_or_else(|| Self::not_found(arn))?;
        Ok(json!({"requestId": request_id, "component": self.build_json(r)}))
    }

    /// GetImage: a build version, or a version (nodes may be `x`) answered with the highest
    /// build it selects.
    fn get_image(&self, input: &Value, request_id: &str) -> Result<Value, ApiError> {
        let kind = ResourceKind::Image;
        let arn = Self::ib_arn(
            input,
            "imageBuildVersionArn",
            kind,
            ArnShape::VersionOrBuild,
            "InvalidRequestException",
        )?;
        let pattern = IbArn::parse(arn).ok_or_else(|| Self::not_found(arn))?;
        let found = if pattern.build.is_some() {
            self.resource_of(kind, arn)
        } else {
            self.resources
                .iter()
                .filter(|r| r.kind == kind)
                .filter_map(|r| {
                    IbArn::parse(&r.arn)
                        .filter(|b| b.selected_by(&pattern))
                        .map(|b| (b.order_key(), r))
                })
                .max_by_key(|(key, _)| *key)
                .map(|(_, r)| r)
        };
        let r = found.ok_or_else(|| Self::not_found(arn))?;
        Ok(json!({"requestId": request_id, "image": self.build_json(r)}))
    }

    /// Image Builder's TagResource (`POST /tags/{resourceArn}`) on any modeled resource.
    fn tag_image_builder_resource(&mut self, input: &Value) -> Result<Value, ApiError> {
        let arn = input.get("resourceArn").and_then(Value::as_str).unwrap_or_default();
        let Some(tags) = input.get("tags").and_then(Value::as_object).filter(|t| !t.is_empty()) else {
            return Err(ApiError::new(
                "InvalidParameterException",
                "tags must be a non-empty map",
            ));
        };
        let mut parsed = Vec::new();
        for (k, v) in tags {
            let v = v
                .as_str()
                .ok_or_else(|| ApiError::new("InvalidParameterException", "tag values must be strings"))?;
            parsed.push((k.clone(), v.to_string()));
        }
        let resource = self.resource_mut(arn).ok_or_else(|| Self::not_found(arn))?;
        resource.tags.extend(parsed);
        Ok(json!({}))
    }

    /// Image Builder's ListTagsForResource (`GET /tags/{resourceArn}`).
    fn list_tags_for_resource(&self, input: &Value) -> Result<Value, ApiError> {
        let arn = input.get("resourceArn").and_then(Value::as_str).unwrap_or_default();
        let resource = self.resource(arn).ok_or_else(|| Self::not_found(arn))?;
        Ok(json!({"tags": resource.tags}))
    }

    /// Delete{ImageRecipe,ContainerRecipe,Component,Image}: Image Builder refuses to delete a
    /// resource a share still holds (`ResourceDependencyException`; the user guide says owners
    /// cannot delete a shared recipe, the newest DeleteImage documentation says so of images).
    fn delete_resource(&mut self, kind: ResourceKind, input: &Value, request_id: &str) -> Result<Value, ApiError> {
        let (_, member) = kind.delete_op();
        let arn = Self::ib_arn(input, member, kind, Self::own_shape(kind), "InvalidRequestException")?.to_string();
        if self.resource_of(kind, &arn).is_none() {
            return Err(Self::not_found(&arn));
        }
        if let Some(i) = self.active_share_of(&arn) {
            return Err(ApiError::new(
                "ResourceDependencyException",
                format!(
                    "The {} {arn} cannot be deleted because it is shared (resource share {}); unshare it first",
                    kind.label(),
                    self.shares[i].arn
                ),
            ));
        }
        self.remove_resource(&arn);
        let mut out = json!({"requestId": request_id});
        out[member] = Value::String(arn);
        Ok(out)
    }

    // ---- RAM ----

    fn resource_owner_is_self(input: &Value) -> Result<bool, ApiError> {
        let owner = req_str(input, "resourceOwner")?;
        match owner {
            "SELF" => Ok(true),
            // The stand-in models a single account: nothing is shared with it.
            "OTHER-ACCOUNTS" => Ok(false),
            other => Err(invalid_parameter(format!(
                "resourceOwner must be SELF or OTHER-ACCOUNTS, got {other}"
            ))),
        }
    }

    fn share_json(&self, s: &Share) -> Value {
        json!({
            "resourceShareArn": s.arn,
            "name": s.name,
            "owningAccountId": self.opts.account,
            "allowExternalPrincipals": true,
            "status": s.status,
            "tags": s.tags.iter().map(|(k, v)| json!({"key": k, "value": v})).collect::<Vec<_>>(),
            "creationTime": epoch_seconds(s.created),
            "lastUpdatedTime": epoch_seconds(s.updated),
            "featureSet": s.feature_set,
        })
    }

    fn list_resources(&self, input: &Value, now: Instant) -> Result<Value, ApiError> {
        let is_self = Self::resource_owner_is_self(input)?;
        // Compared with each resource's RAM type, case-insensitively (RAM documents resource
        // types as case-insensitive).
        let resource_type = match opt_str(input, "resourceType")? {
            None => None,
            Some(t) if t.contains(':') => Some(t),
            Some(t) => {
                return Err(ApiError::new(
                    "InvalidResourceTypeException",
                    format!("The specified resource type {t} is not valid"),
                ));
            }
        };
        let resource_arns = opt_list(input, "resourceArns")?;
        if let Some(bad) = resource_arns.iter().flatten().find(|a| split_arn(a).is_none()) {
            return Err(malformed(bad));
        }
        let share_arns = share_arns_filter(input)?;
        let principal = opt_str(input, "principal")?;
        let scope = opt_enum(input, "resourceRegionScope", &["ALL", "REGIONAL", "GLOBAL"])?;
        let mut rows: Vec<(&Share, &Assoc)> = Vec::new();
        if is_self && scope != Some("GLOBAL") {
            let wanted: Option<HashSet<&str>> = resource_arns.as_ref().map(|f| f.iter().map(String::as_str).collect());
            for i in self.candidate_shares(share_arns.as_deref(), resource_arns.as_deref()) {
                let s = &self.shares[i];
                if s.status != ACTIVE || now < s.visible_at {
                    continue;
                }
                if principal.is_some_and(|p| !s.principals.iter().any(|a| a.entity == p)) {
                    continue;
                }
                for r in &s.resources {
                    if wanted.as_ref().is_some_and(|f| !f.contains(r.entity.as_str()))
                        || resource_type.is_some_and(|t| !t.eq_ignore_ascii_case(self.resource_type_of(&r.entity)))
                    {
                        continue;
                    }
                    rows.push((s, r));
                }
            }
        }
        let row = |(s, r): (&Share, &Assoc)| {
            json!({
                "arn": r.entity,
                "type": self.resource_type_of(&r.entity),
                "resourceShareArn": s.arn,
                "status": "AVAILABLE",
                "creationTime": epoch_seconds(r.created),
                "lastUpdatedTime": epoch_seconds(s.updated),
                "resourceRegionScope": "REGIONAL",
            })
        };
        self.paged("resources", rows, row, input, "ListResources")
    }

    fn get_resource_shares(&self, input: &Value, now: Instant) -> Result<Value, ApiError> {
        let is_self = Self::resource_owner_is_self(input)?;
        // Unknown ARNs in the filter just match nothing (whether RAM errors instead is
        // undocumented).
        let arns = share_arns_filter(input)?;
        let status = opt_enum(
            input,
            "resourceShareStatus",
            &["PENDING", "ACTIVE", "FAILED", "DELETING", "DELETED"],
        )?;
        let name = opt_str(input, "name")?;
        let permission = opt_str(input, "permissionArn")?;
        let filters = tag_filters(input)?;
        let tags_match = |s: &Share| {
            filters.iter().all(|(key, values)| {
                s.tags
                    .iter()
                    .any(|(k, v)| k == key && (values.is_empty() || values.contains(v)))
            })
        };
        let mut rows: Vec<&Share> = Vec::new();
        if is_self {
            for i in self.candidate_shares(arns.as_deref(), None) {
                let s = &self.shares[i];
                if now < s.visible_at
                    || status.is_some_and(|st| st != s.status)
                    || name.is_some_and(|n| n != s.name)
                    || permission.is_some_and(|p| p != s.permission_arn)
                    || !tags_match(s)
                {
                    continue;
                }
                rows.push(s);
            }
        }
        self.paged(
            "resourceShares",
            rows,
            |s| self.share_json(s),
            input,
            "GetResourceShares",
        )
    }

    fn list_resource_share_permissions(&self, input: &Value, now: Instant) -> Result<Value, ApiError> {
        let arn = req_str(input, "resourceShareArn")?;
        let i = self.find_share(arn, now)?;
        let rows: Vec<&Permission> = self.perm(&self.shares[i].permission_arn).into_iter().collect();
        self.paged(
            "permissions",
            rows,
            Permission::summary,
            input,
            "ListResourceSharePermissions",
        )
    }

    fn list_permissions(&self, input: &Value) -> Result<Value, ApiError> {
        let resource_type = opt_str(input, "resourceType")?;
        let kind = opt_enum(input, "permissionType", &["ALL", "AWS_MANAGED", "CUSTOMER_MANAGED"])?.unwrap_or("ALL");
        let rows = self
            .perms
            .iter()
            // CREATED_FROM_POLICY permissions are not attachable, so ListPermissions (the list
            // of permissions one can attach) leaves them out; ListResourceSharePermissions
            // shows them.
            .filter(|p| p.feature_set != CREATED_FROM_POLICY)
            .filter(|p| kind == "ALL" || p.permission_type == kind)
            .filter(|p| resource_type.is_none_or(|t| t.eq_ignore_ascii_case(&p.resource_type)))
            .collect::<Vec<_>>();
        self.paged("permissions", rows, Permission::summary, input, "ListPermissions")
    }

    fn get_resource_share_associations(&self, input: &Value, now: Instant) -> Result<Value, ApiError> {
        let kind = match opt_str(input, "associationType")? {
            None | Some("") => return Err(missing("associationType")),
            Some(k @ ("PRINCIPAL" | "RESOURCE" | "SOURCE")) => k,
            Some(other) => {
                return Err(invalid_parameter(format!(
                    "associationType must be PRINCIPAL, RESOURCE or SOURCE, got {other}"
                )));
            }
        };
        let arns = share_arns_filter(input)?;
        let resource = opt_str(input, "resourceArn")?;
        let principal = opt_str(input, "principal")?;
        if kind == "PRINCIPAL" && resource.is_some() {
            return Err(invalid_parameter(
                "resourceArn cannot be specified when associationType is PRINCIPAL",
            ));
        }
        if kind == "RESOURCE" && principal.is_some() {
            return Err(invalid_parameter(
                "principal cannot be specified when associationType is RESOURCE",
            ));
        }
        if let Some(r) = resource.filter(|r| split_arn(r).is_none()) {
            return Err(malformed(r));
        }
        let status_filter = opt_enum(
            input,
            "associationStatus",
            &[
                "ASSOCIATING",
                "ASSOCIATED",
                "FAILED",
                "DISASSOCIATING",
                "DISASSOCIATED",
                "SUSPENDED",
                "SUSPENDING",
                "RESTORING",
            ],
        )?;
        let mut rows: Vec<(&Share, &Assoc, &'static str)> = Vec::new();
        // Indexed look-up when a resource is named (only RESOURCE rows can match it).
        let resource_filter = resource.filter(|_| kind == "RESOURCE").map(|r| vec![r.to_string()]);
        for i in self.candidate_shares(arns.as_deref(), resource_filter.as_deref()) {
            let s = &self.shares[i];
            if now < s.visible_at {
                continue;
            }
            let entities = match kind {
                "PRINCIPAL" => &s.principals,
                "RESOURCE" => &s.resources,
                _ => continue,
            };
            let status = if s.status == DELETED {
                "DISASSOCIATED"
            } else {
                "ASSOCIATED"
            };
            if status_filter.is_some_and(|f| f != status) {
                continue;
            }
            for e in entities {
                if resource.is_some_and(|r| r != e.entity) || principal.is_some_and(|p| p != e.entity) {
                    continue;
                }
                rows.push((s, e, status));
            }
        }
        let row = |(s, e, status): (&Share, &Assoc, &str)| {
            json!({
                "resourceShareArn": s.arn,
                "resourceShareName": s.name,
                "associatedEntity": e.entity,
                "associationType": kind,
                "status": status,
                "creationTime": epoch_seconds(e.created),
                "lastUpdatedTime": epoch_seconds(s.updated),
                "external": false,
            })
        };
        self.paged(
            "resourceShareAssociations",
            rows,
            row,
            input,
            "GetResourceShareAssociations",
        )
    }

    /// Looks up a clientToken for `op`: Some(answer) to replay, an error on mismatch.
    fn replay(&self, op: &str, token: Option<&str>, params: &Value) -> Result<Option<Value>, ApiError> {
        let Some(token) = token else { return Ok(None) };
        match self.tokens.get(&(op.to_string(), token.to_string())) {
            Some(used) if &used.params == params => Ok(Some(used.response.clone())),
            Some(_) => Err(ApiError::new(
                "IdempotentParameterMismatchException",
                format!("The client token {token} was already used with different parameters"),
            )),
            None => Ok(None),
        }
    }

    fn remember(&mut self, op: &str, token: &str, params: Value, response: &Value) {
        self.tokens.insert(
            (op.to_string(), token.to_string()),
            TokenUse {
                params,
                response: response.clone(),
            },
        );
    }

    fn associate(&mut self, input: &Value, now: Instant, add: bool) -> Result<Value, ApiError> {
        let op = if add {
            "AssociateResourceShare"
        } else {
            "DisassociateResourceShare"
        };
        let share_arn = req_str(input, "resourceShareArn")?;
        let principals = opt_list(input, "principals")?.unwrap_or_default();
        let resources = opt_list(input, "resourceArns")?.unwrap_or_default();
        if opt_list(input, "sources")?.is_some_and(|s| !s.is_empty()) {
            return Err(invalid_parameter(
                "sources apply only to service principals, which Image Builder resources do not support",
            ));
        }
        let token = opt_str(input, "clientToken")?;
        let params = json!([share_arn, principals, resources]);
        if let Some(answer) = self.replay(op, token, &params)? {
            return Ok(answer);
        }
        let i = self.find_share(share_arn, now)?;
        let share = &self.shares[i];
        if share.feature_set != STANDARD || share.status != ACTIVE {
            return Err(ApiError::new(
                "OperationNotPermittedException",
                format!(
                    "The resource share {share_arn} ({}, {}) cannot be modified; only ACTIVE STANDARD shares can",
                    share.feature_set, share.status
                ),
            ));
        }
        for p in &principals {
            match principal_kind(p) {
                Ok(PrincipalKind::Organization) if add && !self.opts.org_sharing_enabled => {
                    return Err(ApiError::new(
                        "OperationNotPermittedException",
                        format!("Sharing with {p} requires sharing with AWS Organizations to be enabled"),
                    ));
                }
                Ok(_) => {}
                Err(true) => return Err(malformed(p)),
                Err(false) => {
                    return Err(invalid_parameter(format!("The principal {p} is not valid")));
                }
            }
        }
        for r in &resources {
            if split_arn(r).is_none() {
                return Err(malformed(r));
            }
            if add && !self.has_resource(r) {
                return Err(unknown("resource", r));
            }
            // The share has one permission, for one resource type: a resource of another type
            // would be shared under actions that are not its own (modeled as refused; RAM would
            // attach that type's default permission, which this model has no room for).
            let share_type = self
                .perm(&self.shares[i].permission_arn)
                .map(|p| p.resource_type.as_str());
            if add && share_type.is_some_and(|t| t != self.resource_type_of(r)) {
                return Err(ApiError::new(
                    "OperationNotPermittedException",
                    format!(
                        "The resource {r} ({}) cannot be added to resource share {share_arn}, whose permission is for {}",
                        self.resource_type_of(r),
                        share_type.unwrap_or_default()
                    ),
                ));
            }
        }
        if !add && let Some(used) = self.in_use(&resources) {
            return Err(in_use_error(share_arn, &used));
        }
        let sys = SystemTime::now();
        let status = if add { "ASSOCIATING" } else { "DISASSOCIATING" };
        let share = &mut self.shares[i];
        let share_name = share.name.clone();
        let mut rows = Vec::new();
        let mut row = |entity: &str, kind: &str, created: SystemTime| {
            rows.push(json!({
                "resourceShareArn": share_arn,
                "resourceShareName": share_name,
                "associatedEntity": entity,
                "associationType": kind,
                "status": status,
                "creationTime": epoch_seconds(created),
                "lastUpdatedTime": epoch_seconds(sys),
                "external": false,
            }));
        };
        let mut added_resources = Vec::new();
        let mut removed_resources = Vec::new();
        for (list, entities, kind) in [
            (&mut share.principals, &principals, "PRINCIPAL"),
            (&mut share.resources, &resources, "RESOURCE"),
        ] {
            for e in entities {
                let pos = list.iter().position(|a| &a.entity == e);
                match (add, pos) {
                    (true, None) => {
                        list.push(Assoc {
                            entity: e.clone(),
                            created: sys,
                        });
                        row(e, kind, sys);
                        if kind == "RESOURCE" {
                            added_resources.push(e.clone());
                        }
                    }
                    (true, Some(p)) => row(e, kind, list[p].created),
                    (false, Some(p)) => {
                        let gone = list.remove(p);
                        row(e, kind, gone.created);
                        if kind == "RESOURCE" {
                            removed_resources.push(e.clone());
                        }
                    }
                    // Disassociating something not associated is a no-op.
                    (false, None) => {}
                }
            }
        }
        share.updated = sys;
        for r in &added_resources {
            self.index_resource(r, i);
        }
        for r in &removed_resources {
            self.unindex_resource(r, i);
        }
        self.clear_unshared_policies(&removed_resources);
        if principals.is_empty() {
            // A resource joining a STANDARD share gets RAM's policy like the ones already in it.
            self.write_ram_policies(&added_resources);
        } else {
            let held: Vec<String> = self.shares[i].resources.iter().map(|r| r.entity.clone()).collect();
            self.write_ram_policies(&held);
        }
        self.write_ram_policies(&removed_resources);
        let token = token.map(str::to_string).unwrap_or_else(|| self.rng.uuid());
        let response = json!({"resourceShareAssociations": rows, "clientToken": token});
        self.remember(op, &token, params, &response);
        Ok(response)
    }

    fn promote_share(&mut self, input: &Value, now: Instant) -> Result<Value, ApiError> {
        let arn = req_str(input, "resourceShareArn")?;
        let i = self.find_share(arn, now)?;
        let share = &self.shares[i];
        if share.feature_set != CREATED_FROM_POLICY || share.status != ACTIVE {
            return Err(ApiError::new(
                "InvalidStateTransitionException",
                format!(
                    "The resource share {arn} has featureSet {} and status {}; only an ACTIVE CREATED_FROM_POLICY share can be promoted",
                    share.feature_set, share.status
                ),
            ));
        }
        let target = match self.perm(&share.permission_arn) {
            Some(p) if p.feature_set == CREATED_FROM_POLICY => self
                .find_managed(&p.resource_type, &p.actions)
                .map(|m| m.arn.clone())
                .ok_or_else(|| {
                    ApiError::new(
                        "UnmatchedPolicyPermissionException",
                        format!(
                            "There is no managed permission that matches the permission {} of resource share {arn}; promote it with PromotePermissionCreatedFromPolicy first",
                            p.arn
                        ),
                    )
                })?,
            Some(p) => p.arn.clone(),
            None => {
                return Err(ApiError::new(
                    "UnmatchedPolicyPermissionException",
                    format!("The resource share {arn} has no permission"),
                ));
            }
        };
        let done_at = now + self.opts.promotion_time;
        let share = &mut self.shares[i];
        share.feature_set = PROMOTING_TO_STANDARD;
        share.promotion = Some((done_at, target));
        share.updated = SystemTime::now();
        self.promoting.push(i);
        Ok(json!({"returnValue": true}))
    }

    fn promote_permission(&mut self, input: &Value) -> Result<Value, ApiError> {
        let op = "PromotePermissionCreatedFromPolicy";
        let arn = req_str(input, "permissionArn")?;
        let name = req_str(input, "name")?;
        let token = opt_str(input, "clientToken")?;
        let params = json!([arn, name]);
        // Checked before anything else: a replay must succeed even after the
        // CREATED_FROM_POLICY permission was deleted by a promotion.
        if let Some(answer) = self.replay(op, token, &params)? {
            return Ok(answer);
        }
        if !is_ram_arn(arn, "permission/") {
            return Err(malformed(arn));
        }
        let source = self.perm(arn).ok_or_else(|| unknown("permission", arn))?;
        if source.feature_set != CREATED_FROM_POLICY {
            return Err(ApiError::new(
                "OperationNotPermittedException",
                format!("The permission {arn} is not a CREATED_FROM_POLICY permission"),
            ));
        }
        // The model's PermissionName shape (used by CreatePermission): 1-36 of `[\w.-]`.
        if name.is_empty()
            || name.len() > 36
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        {
            return Err(invalid_parameter(format!(
                "The permission name {name} is not valid: use 1 to 36 letters, digits, periods, hyphens and underscores"
            )));
        }
        // The model lists neither PermissionAlreadyExistsException nor
        // PermissionLimitExceededException on this operation; InvalidParameterException is the
        // modeled error that fits both.
        if self
            .perms
            .iter()
            .any(|p| p.name == name && p.permission_type == CUSTOMER_MANAGED)
        {
            return Err(invalid_parameter(format!(
                "A customer managed permission named {name} already exists in this Region"
            )));
        }
        let count = self
            .perms
            .iter()
            .filter(|p| {
                p.permission_type == CUSTOMER_MANAGED
                    && p.feature_set == STANDARD
                    && p.resource_type == source.resource_type
            })
            .count();
        if count >= PERMISSION_QUOTA {
            return Err(invalid_parameter(format!(
                "Permission limit exceeded: the account already has {count} customer managed permissions for resource type {} (quota {PERMISSION_QUOTA})",
                source.resource_type
            )));
        }
        let perm = Permission {
            arn: self.permission_arn(name),
            name: name.to_string(),
            permission_type: CUSTOMER_MANAGED,
            feature_set: STANDARD,
            resource_type: source.resource_type.clone(),
            actions: source.actions.clone(),
            created: SystemTime::now(),
            is_default: false,
        };
        let token = token.map(str::to_string).unwrap_or_else(|| self.rng.uuid());
        let response = json!({"permission": perm.summary(), "clientToken": token});
        self.perms.push(perm);
        self.remember(op, &token, params, &response);
        Ok(response)
    }

    fn delete_share(&mut self, input: &Value, now: Instant) -> Result<Value, ApiError> {
        let arn = req_str(input, "resourceShareArn")?;
        let token = opt_str(input, "clientToken")?
            .map(str::to_string)
            .unwrap_or_else(|| self.rng.uuid());
        let i = self.find_share(arn, now)?;
        let share = &mut self.shares[i];
        // Undocumented: deleting an already deleted share is modeled as a success, which is
        // what an idempotent Delete handler needs.
        if share.status == DELETED {
            return Ok(json!({"returnValue": true, "clientToken": token}));
        }
        if share.feature_set != STANDARD {
            return Err(ApiError::new(
                "OperationNotPermittedException",
                format!(
                    "The resource share {arn} has featureSet {}; only a STANDARD share can be deleted",
                    share.feature_set
                ),
            ));
        }
        let resources: Vec<String> = share.resources.iter().map(|r| r.entity.clone()).collect();
        if let Some(used) = self.in_use(&resources) {
            return Err(in_use_error(arn, &used));
        }
        let share = &mut self.shares[i];
        share.status = DELETED;
        share.updated = SystemTime::now();
        self.clear_unshared_policies(&resources);
        self.write_ram_policies(&resources);
        Ok(json!({"returnValue": true, "clientToken": token}))
    }

    /// RAM's TagResource on a resource share. Undocumented whether a share still
    /// CREATED_FROM_POLICY or PROMOTING_TO_STANDARD can be tagged: modeled pessimistically, as
    /// refused until the promotion has finished (`InvalidParameterException`, the model's fit).
    fn tag_share(&mut self, input: &Value, now: Instant) -> Result<Value, ApiError> {
        let tags = match input.get("tags") {
            Some(Value::Array(list)) if !list.is_empty() => list
                .iter()
                .map(|t| {
                    match (
                        t.get("key").and_then(Value::as_str),
                        t.get("value").and_then(Value::as_str),
                    ) {
                        (Some(k), v) if !k.is_empty() && k.len() <= 128 && v.is_none_or(|v| v.len() <= 256) => {
                            Ok((k.to_string(), v.unwrap_or_default().to_string()))
                        }
                        _ => Err(invalid_parameter(
                            "each tag needs a key of 1-128 and a value of at most 256 characters",
                        )),
                    }
                })
                .collect::<Result<Vec<_>, _>>()?,
            _ => return Err(missing("tags")),
        };
        let Some(arn) = opt_str(input, "resourceShareArn")? else {
            return match opt_str(input, "resourceArn")? {
                // Tags on managed permissions are accepted and not modeled further.
                Some(p) if self.perm(p).is_some() => Ok(json!({})),
                Some(p) => Err(unknown("permission", p)),
                None => Err(missing("resourceShareArn")),
            };
        };
        let i = self.find_share(arn, now)?;
        let share = &mut self.shares[i];
        if share.feature_set != STANDARD || share.status != ACTIVE {
            return Err(invalid_parameter(format!(
                "The resource share {arn} ({}, {}) cannot be tagged; a share created from a policy can be tagged once it is promoted",
                share.feature_set, share.status
            )));
        }
        for (k, v) in tags {
            match share.tags.iter_mut().find(|(key, _)| *key == k) {
                Some(existing) => existing.1 = v,
                None => share.tags.push((k, v)),
            }
        }
        if share.tags.len() > 50 {
            return Err(ApiError::new(
                "TagLimitExceededException",
                "A resource share can have at most 50 tags",
            ));
        }
        share.updated = SystemTime::now();
        Ok(json!({}))
    }

    pub(crate) fn snapshot(&self) -> Snapshot {
        Snapshot {
            recipes: self
                .resources
                .iter()
                .filter(|r| r.kind == ResourceKind::ImageRecipe)
                .map(|r| RecipeState {
                    arn: r.arn.clone(),
                    policy: r.policy.clone(),
                    tags: r.tags.clone(),
                })
                .collect(),
            resources: self
                .resources
                .iter()
                .map(|r| ResourceState {
                    arn: r.arn.clone(),
                    kind: r.kind,
                    policy: r.policy.clone(),
                    tags: r.tags.clone(),
                    components: r.components.clone(),
                    parent_image: r.parent_image.clone(),
                    in_use: r.in_use,
                })
                .collect(),
            shares: self
                .shares
                .iter()
                .map(|s| ShareState {
                    arn: s.arn.clone(),
                    name: s.name.clone(),
                    feature_set: s.feature_set.to_string(),
                    status: s.status.to_string(),
                    resources: s.resources.iter().map(|a| a.entity.clone()).collect(),
                    principals: s.principals.iter().map(|a| a.entity.clone()).collect(),
                    permission_arn: s.permission_arn.clone(),
                    tags: s.tags.clone(),
                })
                .collect(),
            permissions: self
                .perms
                .iter()
                .map(|p| PermissionState {
                    arn: p.arn.clone(),
                    name: p.name.clone(),
                    permission_type: p.permission_type.to_string(),
                    feature_set: p.feature_set.to_string(),
                    resource_type: p.resource_type.clone(),
                    actions: p.actions.clone(),
                })
                .collect(),
        }
    }
}
