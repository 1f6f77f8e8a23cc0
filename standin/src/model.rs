//! The modeled state of one account in one Region: image recipes and their resource policies,
//! the RAM resource shares those policies create, and RAM managed permissions; plus the
//! operations that read and change them. Everything here is synchronous and works on a
//! `now: Instant` passed in, so the time-driven parts (shares becoming visible, promotion
//! finishing) are evaluated lazily by [`State::tick`] on every request instead of by background
//! timers. Where AWS documents no behaviour, the choice made is written next to the code and
//! summed up on [`StandIn`](crate::StandIn).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Instant, SystemTime};

use serde_json::{Value, json};

use crate::paging::{IMAGEBUILDER_LIMITS, Limits, RAM_LIMITS, paged_map};
use crate::policy::{PrincipalKind, is_image_recipe_arn, is_ram_arn, parse_policy, principal_kind, split_arn};
use crate::util::{Rng, epoch_seconds, iso8601};
use crate::{Options, PermissionState, RecipeState, ShareState, Snapshot};

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
/// The platform every modeled recipe reports.
const RECIPE_PLATFORM: &str = "Linux";
/// Image Builder's `Ownership` enum (ListImageRecipes `owner`).
const OWNERSHIP: [&str; 5] = ["Self", "Shared", "Amazon", "ThirdParty", "AWSMarketplace"];
/// ListImageRecipes' documented filter names (case-sensitive).
const RECIPE_FILTERS: [&str; 3] = ["name", "parentImage", "platform"];

/// What is reported about a recipe (see `State::facts`).
struct RecipeFacts<'a> {
    name: &'a str,
    version: &'a str,
    owner: &'a str,
    partition: &'a str,
    region: &'a str,
    parent_image: String,
}

/// ListImageRecipes' `filters`, checked against the model (`FilterList` 1–10 filters,
/// `FilterName` `[a-zA-Z]{1,1024}` and one of [`RECIPE_FILTERS`], `FilterValues` 1–10 values
/// matching `FilterValue`); any violation is an `InvalidRequestException`. A recipe matches when,
/// for every filter, its attribute equals one of the values (exactly, case-sensitively).
fn recipe_filters(input: &Value) -> Result<Vec<(&str, Vec<&str>)>, ApiError> {
    let bad = |m: String| ApiError::new("InvalidRequestException", m);
    let list = match input.get("filters") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(l)) if (1..=10).contains(&l.len()) => l,
        Some(other) => return Err(bad(format!("filters must be a list of 1 to 10 filters, got {other}"))),
    };
    list.iter()
        .map(|f| {
            let name = f.get("name").and_then(Value::as_str).unwrap_or_default();
            if !RECIPE_FILTERS.contains(&name) {
                return Err(bad(format!(
                    "The filter name {name:?} is not valid; use one of {}",
                    RECIPE_FILTERS.join(", ")
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

struct Recipe {
    arn: String,
    policy: Option<String>,
    created: SystemTime,
    tags: BTreeMap<String, String>,
    /// The name as created (capitals and spaces allowed); the ARN's name segment otherwise.
    display_name: Option<String>,
    /// Consumers depend on it: RAM refuses to unshare it ([`crate::StandIn::set_in_use`]).
    in_use: bool,
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
/// ARN goes through an index so that operations stay cheap with 10,000s of recipes and shares.
pub(crate) struct State {
    opts: Options,
    /// In creation order (the order ListImageRecipes answers).
    recipes: Vec<Recipe>,
    /// Recipe ARN → index in `recipes`.
    recipe_index: HashMap<String, usize>,
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
        let default = Permission {
            arn: format!("arn:{}:ram::aws:permission/{DEFAULT_PERMISSION_NAME}", opts.partition),
            name: DEFAULT_PERMISSION_NAME.to_string(),
            permission_type: AWS_MANAGED,
            feature_set: STANDARD,
            resource_type: RESOURCE_TYPE.to_string(),
            actions: DEFAULT_PERMISSION_ACTIONS.iter().map(|a| a.to_string()).collect(),
            created: SystemTime::now(),
            is_default: true,
        };
        State {
            opts,
            recipes: Vec::new(),
            recipe_index: HashMap::new(),
            shares: Vec::new(),
            share_index: HashMap::new(),
            shares_of_resource: HashMap::new(),
            perm_users: HashMap::new(),
            promoting: Vec::new(),
            perms: vec![default],
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

    fn has_recipe(&self, arn: &str) -> bool {
        self.recipe_index.contains_key(arn)
    }

    fn recipe(&self, arn: &str) -> Option<&Recipe> {
        self.recipe_index.get(arn).map(|&i| &self.recipes[i])
    }

    pub(crate) fn add_recipe(&mut self, arn: &str) {
        if !self.has_recipe(arn) {
            self.recipe_index.insert(arn.to_string(), self.recipes.len());
            self.recipes.push(Recipe {
                arn: arn.to_string(),
                policy: None,
                created: SystemTime::now(),
                tags: BTreeMap::new(),
                display_name: None,
                in_use: false,
            });
        }
    }

    /// Sets a tag on a recipe (adding the recipe if missing), as Image Builder's TagResource would.
    pub(crate) fn tag_recipe(&mut self, arn: &str, key: &str, value: &str) {
        self.add_recipe(arn);
        if let Some(r) = self.recipe_mut(arn) {
            r.tags.insert(key.to_string(), value.to_string());
        }
    }

    pub(crate) fn untag_share(&mut self, arn: &str) {
        if let Some(&i) = self.share_index.get(arn) {
            self.shares[i].tags.clear();
        }
    }

    /// Gives a recipe the name it was created with (its ARN carries it lower-cased, spaces as `-`).
    pub(crate) fn name_recipe(&mut self, arn: &str, name: &str) {
        self.add_recipe(arn);
        if let Some(r) = self.recipe_mut(arn) {
            r.display_name = Some(name.to_string());
        }
    }

    /// Marks a recipe as depended on by consumers (RAM then refuses to unshare it) or not.
    pub(crate) fn set_in_use(&mut self, arn: &str, in_use: bool) {
        if let Some(r) = self.recipe_mut(arn) {
            r.in_use = in_use;
        }
    }

    fn in_use(&self, resources: &[String]) -> Option<String> {
        resources
            .iter()
            .find(|r| self.recipe(r).is_some_and(|r| r.in_use))
            .cloned()
    }

    /// RAM writes the policy of a resource held by STANDARD shares itself, combining every such
    /// share (RAM user guide, "Resource-based policy"): one statement per share, accounts as
    /// `arn:<p>:iam::<id>:root`, an organization as `"Principal": "*"` with an
    /// `aws:PrincipalOrgID` condition, an OU with `aws:PrincipalOrgPaths`. A resource no STANDARD
    /// share holds keeps the text it has.
    fn write_ram_policies(&mut self, recipes: &[String]) {
        for arn in recipes {
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
            if let Some(r) = self.recipe_mut(arn) {
                r.policy = Some(text);
            }
        }
    }

    /// Deletes the recipe and takes it out of every share (a test helper: real Image Builder
    /// refuses to delete a shared recipe). O(recipes): later recipes move down one place.
    pub(crate) fn remove_recipe(&mut self, arn: &str) {
        if let Some(pos) = self.recipe_index.remove(arn) {
            self.recipes.remove(pos);
            for (i, r) in self.recipes.iter().enumerate().skip(pos) {
                self.recipe_index.insert(r.arn.clone(), i);
            }
        }
        for i in self.shares_of_resource.remove(arn).unwrap_or_default() {
            self.shares[i].resources.retain(|r| r.entity != arn);
        }
    }

    fn recipe_mut(&mut self, arn: &str) -> Option<&mut Recipe> {
        self.recipe_index.get(arn).map(|&i| &mut self.recipes[i])
    }

    /// Stores `text` as the recipe's policy with no RAM side effect (a test helper for "policy
    /// present but no share"); adds the recipe if missing.
    pub(crate) fn put_policy_only(&mut self, arn: &str, text: &str) {
        self.add_recipe(arn);
        if let Some(r) = self.recipe_mut(arn) {
            r.policy = Some(text.to_string());
        }
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

    /// Stores `text` as the recipe's policy and applies RAM's side effects. The recipe must exist.
    pub(crate) fn apply_policy(&mut self, arn: &str, text: &str, now: Instant) -> Result<(), String> {
        let info = parse_policy(text, arn, &self.opts.partition)?;
        let recipe = self
            .recipe_mut(arn)
            .ok_or_else(|| format!("The image recipe {arn} does not exist"))?;
        // Stored verbatim: AWS does not document whether it normalizes the text.
        recipe.policy = Some(text.to_string());
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
                    let perm = self.resolve_permission(&info.actions);
                    self.set_share_permission(i, perm);
                    self.gc_permissions();
                }
            }
            None => {
                let perm = self.resolve_permission(&info.actions);
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

    /// A managed permission whose actions equal `actions` (customer managed first; the
    /// AWS-managed default only when the options say it matches).
    fn find_managed(&self, actions: &[String]) -> Option<&Permission> {
        self.perms
            .iter()
            .find(|p| {
                p.permission_type == CUSTOMER_MANAGED
                    && p.feature_set == STANDARD
                    && p.resource_type == RESOURCE_TYPE
                    && p.actions == actions
            })
            .or_else(|| {
                self.perms.iter().find(|p| {
                    self.opts.aws_managed_permission_matches && p.permission_type == AWS_MANAGED && p.actions == actions
                })
            })
    }

    /// The permission a new policy share gets: a matching managed one, else an existing
    /// CREATED_FROM_POLICY one with the same actions, else a new CREATED_FROM_POLICY one.
    fn resolve_permission(&mut self, actions: &[String]) -> String {
        if let Some(p) = self.find_managed(actions) {
            return p.arn.clone();
        }
        if let Some(p) = self
            .perms
            .iter()
            .find(|p| p.feature_set == CREATED_FROM_POLICY && p.actions == actions)
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
            resource_type: RESOURCE_TYPE.to_string(),
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
    fn clear_unshared_policies(&mut self, recipes: &[String]) {
        for arn in recipes {
            if self.active_share_of(arn).is_none()
                && let Some(r) = self.recipe_mut(arn)
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
        match op {
            "GetImageRecipePolicy" => self.get_image_recipe_policy(input, request_id),
            "PutImageRecipePolicy" => self.put_image_recipe_policy(input, request_id, now),
            "GetImageRecipe" => self.get_image_recipe(input, request_id),
            "ListImageRecipes" => self.list_image_recipes(input, request_id),
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
            "DeleteImageRecipe" => self.delete_image_recipe(input, request_id),
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

    /// The recipe ARN of an Image Builder request; `code` is the op's error for a bad one.
    fn recipe_arn<'a>(input: &'a Value, code: &'static str) -> Result<&'a str, ApiError> {
        match input.get("imageRecipeArn").and_then(Value::as_str) {
            Some(a) if is_image_recipe_arn(a) => Ok(a),
            Some(a) => Err(ApiError::new(
                code,
                format!("The value supplied for parameter 'imageRecipeArn' is not valid: {a}"),
            )),
            None => Err(ApiError::new(
                code,
                "The required parameter 'imageRecipeArn' is missing",
            )),
        }
    }

    fn not_found(arn: &str) -> ApiError {
        ApiError::new(
            "ResourceNotFoundException",
            format!("The resource ARN {arn} does not exist"),
        )
    }

    fn get_image_recipe_policy(&self, input: &Value, request_id: &str) -> Result<Value, ApiError> {
        let arn = Self::recipe_arn(input, "InvalidRequestException")?;
        let recipe = self.recipe(arn).ok_or_else(|| Self::not_found(arn))?;
        // Undocumented: AWS does not say what a recipe without a policy returns; modeled as
        // ResourceNotFoundException, the only "absent" error the operation models.
        let policy = recipe.policy.as_ref().ok_or_else(|| {
            ApiError::new(
                "ResourceNotFoundException",
                format!("No resource policy is attached to {arn}"),
            )
        })?;
        Ok(json!({"requestId": request_id, "policy": policy}))
    }

    fn put_image_recipe_policy(&mut self, input: &Value, request_id: &str, now: Instant) -> Result<Value, ApiError> {
        let arn = Self::recipe_arn(input, "InvalidParameterValueException")?;
        let policy = match input.get("policy").and_then(Value::as_str) {
            Some(p) if !p.is_empty() && p.chars().count() <= POLICY_MAX_LEN => p,
            _ => {
                return Err(ApiError::new(
                    "InvalidParameterValueException",
                    "The parameter 'policy' must be a string of 1 to 30000 characters",
                ));
            }
        };
        if !self.has_recipe(arn) {
            return Err(Self::not_found(arn));
        }
        self.apply_policy(arn, policy, now)
            .map_err(|m| ApiError::new("InvalidParameterValueException", m))?;
        Ok(json!({"requestId": request_id, "imageRecipeArn": arn}))
    }

    fn get_image_recipe(&self, input: &Value, request_id: &str) -> Result<Value, ApiError> {
        let arn = Self::recipe_arn(input, "InvalidRequestException")?;
        let recipe = self.recipe(arn).ok_or_else(|| Self::not_found(arn))?;
        let f = self.facts(arn);
        let (p, region) = (f.partition, f.region);
        Ok(json!({
            "requestId": request_id,
            "imageRecipe": {
                "arn": recipe.arn,
                "type": "AMI",
                "name": f.name,
                "platform": RECIPE_PLATFORM,
                "owner": f.owner,
                "version": f.version,
                "components": [
                    {"componentArn": format!("arn:{p}:imagebuilder:{region}:aws:component/update-linux/x.x.x")}
                ],
                "parentImage": f.parent_image,
                "blockDeviceMappings": [],
                "dateCreated": iso8601(recipe.created),
                "tags": recipe.tags,
            }
        }))
    }

    /// What the stand-in reports about a recipe, derived from its ARN
    /// (`arn:<p>:imagebuilder:<region>:<owner>:image-recipe/<name>/<version>`). Recipes added
    /// with an ARN of another shape fall back to the options' partition, Region and account,
    /// name `recipe` and version `1.0.0`.
    fn facts<'a>(&'a self, arn: &'a str) -> RecipeFacts<'a> {
        let parts = split_arn(arn).unwrap_or_default();
        let or = |v: &'a str, default: &'a str| if v.is_empty() { default } else { v };
        let mut path = parts[5].split('/').skip(1);
        let partition = or(parts[1], &self.opts.partition);
        let region = or(parts[3], &self.opts.region);
        let arn_name = path.next().unwrap_or("recipe");
        let name = self
            .recipe(arn)
            .and_then(|r| r.display_name.as_deref())
            .unwrap_or(arn_name);
        RecipeFacts {
            name,
            version: path.next().unwrap_or("1.0.0"),
            owner: or(parts[4], &self.opts.account),
            partition,
            region,
            parent_image: format!("arn:{partition}:imagebuilder:{region}:aws:image/amazon-linux-2-x86/x.x.x"),
        }
    }

    /// ListImageRecipes: `owner` `Self` (the default) lists every recipe, in creation order;
    /// the other owners list nothing (one account is modeled and nothing is shared with it).
    fn list_image_recipes(&self, input: &Value, request_id: &str) -> Result<Value, ApiError> {
        let bad = |m: String| ApiError::new("InvalidRequestException", m);
        let owner = match input.get("owner") {
            None | Some(Value::Null) => "Self",
            Some(Value::String(o)) if OWNERSHIP.contains(&o.as_str()) => o.as_str(),
            Some(other) => {
                return Err(bad(format!(
                    "owner must be one of {}, got {other}",
                    OWNERSHIP.join(", ")
                )));
            }
        };
        let filters = recipe_filters(input)?;
        let rows: Vec<&Recipe> = if owner == "Self" {
            self.recipes
                .iter()
                .filter(|r| {
                    filters.is_empty() || {
                        let f = self.facts(&r.arn);
                        filters.iter().all(|(name, values)| {
                            let v = match *name {
                                "name" => f.name,
                                "parentImage" => f.parent_image.as_str(),
                                _ => RECIPE_PLATFORM,
                            };
                            values.contains(&v)
                        })
                    }
                })
                .collect()
        } else {
            Vec::new()
        };
        let summary = |r: &Recipe| {
            let f = self.facts(&r.arn);
            json!({
                "arn": r.arn,
                "name": f.name,
                "platform": RECIPE_PLATFORM,
                "owner": f.owner,
                "parentImage": f.parent_image,
                "dateCreated": iso8601(r.created),
                "tags": r.tags,
            })
        };
        let mut out = self.paged_with(
            "imageRecipeSummaryList",
            rows,
            summary,
            input,
            "ListImageRecipes",
            &IMAGEBUILDER_LIMITS,
        )?;
        out["requestId"] = Value::String(request_id.to_string());
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
        let type_matches = match opt_str(input, "resourceType")? {
            None => true,
            Some(t) if t.contains(':') => t.eq_ignore_ascii_case(RESOURCE_TYPE),
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
        if is_self && type_matches && scope != Some("GLOBAL") {
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
                    if wanted.as_ref().is_some_and(|f| !f.contains(r.entity.as_str())) {
                        continue;
                    }
                    rows.push((s, r));
                }
            }
        }
        let row = |(s, r): (&Share, &Assoc)| {
            json!({
                "arn": r.entity,
                "type": RESOURCE_TYPE,
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
                "sources apply only to service principals, which image recipes do not support",
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
            if add && !self.has_recipe(r) {
                return Err(unknown("resource", r));
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
        if !principals.is_empty() {
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
                .find_managed(&p.actions)
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

    /// Image Builder's TagResource (`POST /tags/{resourceArn}`) on a recipe.
    fn tag_image_builder_resource(&mut self, input: &Value) -> Result<Value, ApiError> {
        let arn = input.get("resourceArn").and_then(Value::as_str).unwrap_or_default();
        let Some(tags) = input.get("tags").and_then(Value::as_object).filter(|t| !t.is_empty()) else {
            return Err(ApiError::new(
                "InvalidParameterException",
                "tags must be a non-empty map",
            ));
        };
        if !self.has_recipe(arn) {
            return Err(Self::not_found(arn));
        }
        for (k, v) in tags {
            let v = v
                .as_str()
                .ok_or_else(|| ApiError::new("InvalidParameterException", "tag values must be strings"))?;
            self.tag_recipe(arn, k, v);
        }
        Ok(json!({}))
    }

    /// Image Builder's ListTagsForResource (`GET /tags/{resourceArn}`).
    fn list_tags_for_resource(&self, input: &Value) -> Result<Value, ApiError> {
        let arn = input.get("resourceArn").and_then(Value::as_str).unwrap_or_default();
        let recipe = self.recipe(arn).ok_or_else(|| Self::not_found(arn))?;
        Ok(json!({"tags": recipe.tags}))
    }

    /// DeleteImageRecipe: Image Builder refuses to delete a recipe a share still holds
    /// (`ResourceDependencyException`; the user guide says owners cannot delete a shared recipe).
    fn delete_image_recipe(&mut self, input: &Value, request_id: &str) -> Result<Value, ApiError> {
        let arn = Self::recipe_arn(input, "InvalidRequestException")?.to_string();
        if !self.has_recipe(&arn) {
            return Err(Self::not_found(&arn));
        }
        if let Some(&i) = self
            .shares_holding(&arn)
            .iter()
            .find(|&&i| self.shares[i].status == ACTIVE)
        {
            return Err(ApiError::new(
                "ResourceDependencyException",
                format!(
                    "The image recipe {arn} cannot be deleted because it is shared (resource share {}); unshare it first",
                    self.shares[i].arn
                ),
            ));
        }
        self.remove_recipe(&arn);
        Ok(json!({"requestId": request_id, "imageRecipeArn": arn}))
    }

    pub(crate) fn snapshot(&self) -> Snapshot {
        Snapshot {
            recipes: self
                .recipes
                .iter()
                .map(|r| RecipeState {
                    arn: r.arn.clone(),
                    policy: r.policy.clone(),
                    tags: r.tags.clone(),
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
