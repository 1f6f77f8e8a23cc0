//! Local loopback stand-in for EC2 Image Builder, AWS RAM and a CloudFormation response URL,
//! used by the recipe-share tests so they never reach AWS.
//!
//! [`StandIn::start`] serves, on `127.0.0.1`, the restJson1 operations listed in [`ROUTES`]
//! (wire-compatible with `aws-sdk-imagebuilder` / `aws-sdk-ram`: point `AWS_ENDPOINT_URL` at
//! [`StandIn::url`], use any fake credentials) and `PUT /cfn-response/...`, the pre-signed S3
//! URL CloudFormation would give a custom resource ([`StandIn::response_url`]);
//! [`StandIn::start_tls`] serves the same over HTTPS with a generated CA. It models one
//! account in one Region: Image Builder resources of four kinds ([`ResourceKind`]: image and
//! container recipes, which hold components and a parent image, and build versions of
//! components and images), their resource policies, the RAM shares and managed permissions
//! those policies create (typed by the resource's RAM type), and the CREATED_FROM_POLICY →
//! STANDARD promotion. Faults (throttling, 5xx, arbitrary errors, latency, hangs, resets) can
//! be injected per operation, a per-operation token bucket can rate-limit calls
//! ([`Options::rate_limit`]), and every request is recorded (or only counted,
//! [`StandIn::set_recording`]). Look-ups by resource ARN, share ARN and shared resource ARN are
//! indexed, so every operation stays cheap with 10,000s of recipes and shares
//! ([`StandIn::add_recipes`] loads them). [`runtime_api`] emulates the Lambda Runtime API.
//!
//! # Modeled choices where AWS documents nothing
//!
//! Tests against the stand-in check the Lambda against these choices, not against AWS; each
//! should be confirmed once in a real account.
//!
//! - **Resource kinds** ([`ResourceKind::from_arn`]): a resource's kind is its ARN's resource
//!   segment (`image-recipe`, `container-recipe`, `component`, `image`); [`StandIn::add_recipe`]
//!   and the fixtures that add a missing resource take an ARN naming no kind as an image recipe
//!   (any string always was one); [`StandIn::add_resource`] refuses it. Components and images
//!   are stored as build versions `…/<name>/<x.y.z>/<build>` only (a version ARN is refused),
//!   owned by the ARN's account. Each kind's RAM resource type is
//!   `imagebuilder:{ImageRecipe,ContainerRecipe,Component,Image}`.
//! - **Policy validation** (Put{ImageRecipe,ContainerRecipe,Component,Image}Policy,
//!   `InvalidParameterValueException`): JSON with `Version` `2012-10-17` and exactly one
//!   statement (object or one-element list) with only `Sid`/`Effect`/`Principal`/`Action`/
//!   `Resource`; `Effect` `Allow`; `Principal` exactly `{"AWS": ...}` with 12-digit account ids
//!   or `arn:<partition>:iam::<account>:root` (no `*`, no roles, no org/OU); `Action`
//!   `imagebuilder:<Letters or *>` (string or list, compared case-sensitively, any Image
//!   Builder action on any kind); `Resource` exactly the resource's own ARN (for components and
//!   images the build version ARN the Put names); no `Condition`. The text is stored verbatim
//!   and the kind's Get…Policy returns it unchanged while no STANDARD share holds the resource.
//!   The ARN members follow the model's patterns: recipes `…/<name>/<x.y.z>` (nodes may be `x`),
//!   components and images (`componentArn`, `imageArn`) build versions only.
//! - **RAM writes the policy of a resource STANDARD shares hold** (documented: RAM builds the
//!   resource-based policy from every share that includes the resource): when a promotion
//!   finishes and whenever principals or resources of a share change, one statement per
//!   STANDARD share, `Sid` `RamStatement<n>`, accounts as `arn:<p>:iam::<id>:root`, an
//!   organization as `"Principal": "*"` with `StringEquals aws:PrincipalOrgID`, an OU with
//!   `ForAnyValue:StringLike aws:PrincipalOrgPaths` `o-…/*/ou-…/*`; actions those of the
//!   share's permission. Every kind alike.
//! - **Get…Policy on a resource without a policy** → `ResourceNotFoundException` (404).
//!   **GetImageRecipe, GetContainerRecipe, GetComponent, GetImage and the four Delete
//!   operations on a missing resource** → `ResourceNotFoundException` too, although the model
//!   does not list it on those operations. A malformed ARN (or one of another kind) →
//!   `InvalidRequestException` on the Get, List and Delete operations,
//!   `InvalidParameterValueException` on Put.
//! - **Put on a resource an ACTIVE CREATED_FROM_POLICY share holds** replaces that share's
//!   principals and permission with the policy's instead of creating a second share. **Put on a
//!   resource only promoted (or promoting) shares hold** is modeled pessimistically: the text
//!   is stored, the STANDARD share is untouched, and a second CREATED_FROM_POLICY share is made,
//!   so a flow that rewrites the policy of a shared resource is caught.
//! - **TagResource (RAM)** on a share: only once it is ACTIVE STANDARD; a CREATED_FROM_POLICY or
//!   PROMOTING_TO_STANDARD share answers `InvalidParameterException` (undocumented; RAM's model
//!   has no better-fitting error). At most 50 tags. GetResourceShares reports them and honours
//!   `tagFilters` (no values: any value of the key).
//! - **TagResource / ListTagsForResource (Image Builder)** `/tags/{resourceArn}` on every kind
//!   (a missing resource → `ResourceNotFoundException`); GetImageRecipe, GetContainerRecipe,
//!   GetComponent, GetImage, ListImageRecipes, ListContainerRecipes,
//!   ListComponentBuildVersions and ListImageBuildVersions report the tags (ListComponents and
//!   ListImages do not: their model shapes have no `tags`).
//! - **DeleteImageRecipe, DeleteContainerRecipe, DeleteComponent, DeleteImage** refuse a
//!   resource any ACTIVE share holds (`ResourceDependencyException`: the user guide says owners
//!   cannot delete a shared recipe, the newest DeleteImage reference says so of images; assumed
//!   for components and container recipes too). Deleting a component or image a recipe
//!   references is not refused (not modeled). Components and images are deleted per build
//!   version.
//! - **Consumers that depend on a resource** ([`StandIn::set_in_use`], any kind):
//!   DeleteResourceShare of a share holding it, and DisassociateResourceShare of it, answer
//!   `OperationNotPermittedException` ("in use by consumer accounts"); what RAM really answers
//!   is undocumented.
//! - **Share created from a policy**: name `PolicyShare-<n>`, ARN
//!   `arn:<p>:ram:<region>:<account>:resource-share/<uuid>`, `allowExternalPrincipals` true,
//!   principals = the policy's account ids. Invisible to every RAM operation (including
//!   Promote, which then answers `UnknownResourceException`) until
//!   [`Options::share_visible_after`] has passed.
//! - **Permission of that share**: a managed permission of the resource's RAM type with the
//!   same sorted, deduplicated actions (customer managed STANDARD ones first; the AWS-managed
//!   default of that type only with [`Options::aws_managed_permission_matches`]), else an
//!   existing CREATED_FROM_POLICY permission of that type with those actions, else a new one
//!   named `CreatedFromPolicy-<n>-<hex>` with ARN
//!   `arn:<p>:ram:<region>:<account>:permission/<name>`, `permissionType` `CUSTOMER_MANAGED`,
//!   featureSet `CREATED_FROM_POLICY`, the resource's type. The same actions on two types are
//!   two permissions: a type's permission never matches another type's resource.
//!   CREATED_FROM_POLICY permissions do not count against the 10-per-resource-type quota, are
//!   left out of ListPermissions (they are not attachable) but shown by
//!   ListResourceSharePermissions; every permission reports `status` `ATTACHABLE`, version
//!   `"1"`.
//! - **The AWS-managed defaults** `AWSRAMDefaultPermissionImageBuilder{ImageRecipe,
//!   ContainerRecipe,Component,Image}` (ARN `arn:<p>:ram::aws:permission/<name>`, listed in that
//!   order) are assumed to carry exactly the type's Get and List actions, e.g.
//!   `imagebuilder:GetComponent` + `imagebuilder:ListComponents`
//!   ([`ResourceKind::default_permission_actions`]; AWS does not publish them).
//! - **PromoteResourceShareCreatedFromPolicy** on a share not ACTIVE CREATED_FROM_POLICY (also
//!   a second call while PROMOTING_TO_STANDARD) → `InvalidStateTransitionException`. Promotion
//!   takes [`Options::promotion_time`]; only then does the share get the managed permission and
//!   the unused CREATED_FROM_POLICY permission disappear.
//! - **PromotePermissionCreatedFromPolicy** makes a customer managed permission of the source
//!   permission's resource type. The name must be 1–36 letters, digits, `.`, `-`, `_`
//!   (CreatePermission's rule) and unused by any customer managed permission of any type (the
//!   ARN has no type in it); a used name and the 11th customer managed permission for one
//!   resource type both answer `InvalidParameterException` (the model lists neither
//!   `PermissionAlreadyExistsException` nor `PermissionLimitExceededException` on this
//!   operation; real RAM may send those codes unmodeled). The clientToken is checked first: same token + same `permissionArn`/`name` →
//!   the first answer again (even after the source permission was deleted by a promotion);
//!   same token + different parameters → `IdempotentParameterMismatchException` (not in the
//!   operation's modeled error list either). Tokens are per operation.
//! - **Associate/DisassociateResourceShare**: only on ACTIVE STANDARD shares, else
//!   `OperationNotPermittedException`; org/OU ARNs when [`Options::org_sharing_enabled`] is
//!   false → `OperationNotPermittedException`; a resource whose RAM type is not the type of the
//!   share's one permission → `OperationNotPermittedException` (real RAM would attach that
//!   type's default permission too; one permission per share is modeled); the response rows say
//!   `ASSOCIATING` / `DISASSOCIATING` but the change is immediate; disassociating something not
//!   associated is a no-op; a disassociated principal disappears from
//!   GetResourceShareAssociations (no `DISASSOCIATED` rows); a resource taken out of its last
//!   ACTIVE share loses its policy; RAM rewrites the policies of the share's resources,
//!   including one just added (see above).
//! - **DeleteResourceShare**: STANDARD → status `DELETED` (still listed by GetResourceShares,
//!   its associations reported `DISASSOCIATED`) and each resource in no other ACTIVE share
//!   loses its policy; CREATED_FROM_POLICY / PROMOTING_TO_STANDARD →
//!   `OperationNotPermittedException`; already DELETED → success `{returnValue: true}`.
//! - **Missing required member** on any RAM operation → `MissingRequiredParameterException`
//!   (modeled on only some operations, see [`UNMODELED_ON_OP`]); bad enum values,
//!   `maxResults` outside 1–500 or wrong JSON types → `InvalidParameterException`; ARNs of the
//!   wrong shape → `MalformedArnException`; ARNs of unknown shares in a GetResourceShares or
//!   ListResources filter match nothing (no error). `resourceOwner` `OTHER-ACCOUNTS` lists
//!   nothing (one account is modeled); ListResources reports each resource's own RAM type as
//!   `type`, its `resourceType` filter compares with it case-insensitively, and a value without
//!   `:` → `InvalidResourceTypeException`.
//! - **ListImageRecipes / ListContainerRecipes**: `owner` absent or `Self` lists every recipe
//!   of the kind added ([`StandIn::add_recipe`], [`StandIn::add_recipes`],
//!   [`StandIn::set_policy`], ...) in the order added, whatever account its ARN names;
//!   `Shared`, `Amazon`, `ThirdParty`, `AWSMarketplace` list nothing; another value →
//!   `InvalidRequestException`. Each summary is derived from the ARN like the Get operation's
//!   answer: `name` and `owner` from the ARN, `platform` `Linux`, `parentImage` the one set
//!   ([`StandIn::set_recipe_contents`]) or the default, `dateCreated` when added, `tags`;
//!   container recipes add `containerType` `DOCKER`. `filters` (`name`, `parentImage`,
//!   `platform`, and for container recipes `containerType`; names case-sensitive) match a value
//!   exactly, filters AND-ed, values OR-ed; the model's bounds (1–10 filters, 1–10 values, the
//!   `FilterValue` pattern) and an unknown filter name → `InvalidRequestException`. On every
//!   Image Builder List operation `maxResults` outside the model's 1–25 →
//!   `InvalidRequestException`, a bad `nextToken` → `InvalidPaginationTokenException`, pages
//!   are capped by [`Options::page_size`] and [`Options::empty_pages`] applies as on RAM. The
//!   model this was checked against (botocore 1.43) has no `byName` member on
//!   ListImageRecipes; one sent is ignored, as is any member the model does not have.
//! - **Recipe contents** ([`StandIn::set_recipe_contents`]): GetImageRecipe and
//!   GetContainerRecipe return the component ARNs as set, in order, as `components`
//!   (`[{componentArn}]`, no parameters) and the parent image as set; nothing set (or an empty
//!   list): AWS's `update-linux/x.x.x`, and `amazon-linux-2-x86/x.x.x` (image recipes) or
//!   `amazonlinux:latest` (container recipes). The stand-in resolves no reference: what a
//!   version reference like `…/cis/1.x.x` or a parent `…/image/golden/1.x.x` selects is the
//!   function's business, found through the List operations. GetContainerRecipe also answers
//!   `containerType` `DOCKER`, `platform` `Linux`, a fixed `dockerfileTemplateData` and
//!   `targetRepository` `{service: ECR, repositoryName: <the ARN's name>}`.
//! - **Owners of components and images**: the ARN's account; to the List operations' `owner`
//!   this account's are `Self` (the default), `aws`'s `Amazon`, `aws-marketplace`'s
//!   `AWSMarketplace`, other `aws-…` (and `third-party`) ones `ThirdParty`, any other
//!   account's `Shared` (visible only if shared with this account).
//! - **ListComponents / ListImages** answer *versions*, per the model (`ComponentVersion` /
//!   `ImageVersion`, ARN `…/<name>/<x.y.z>` without the build): one row per distinct version
//!   among the builds `owner` lists, in the order its first build was added, with that build's
//!   attributes (`platform` `Linux`, component `type` `BUILD` and `status` `ACTIVE`, image `type`
//!   `AMI`, `buildType` `USER_INITIATED`, `imageSource` `AMAZON_MANAGED` for `aws`'s else
//!   `CUSTOM`). Whether real ListComponents lists every version or only each name's newest
//!   unless `byName` is set is undocumented; here `byName` (and ListImages' `includeDeprecated`)
//!   change nothing. Filters `name`, `platform`, `type`, `version` match; `description`,
//!   `supportedOsVersion`, `osVersion` (not modeled) match nothing.
//! - **ListComponentBuildVersions / ListImageBuildVersions**: the builds (`ComponentSummary` /
//!   `ImageSummary`, with `tags`, `state` `ACTIVE` / `AVAILABLE`) of the version named
//!   (`componentVersionArn` / `imageVersionArn`, no wildcards, no build: else
//!   `InvalidRequestException`), in the order added; a version without builds lists nothing.
//!   Component builds are listed only for this account's components (the newest API reference
//!   says so; a version of `aws`'s lists nothing), image builds of any owner. Without the ARN:
//!   every build this account owns. ListImageBuildVersions' filters as ListImages'.
//! - **GetComponent** takes a build version only (its member's documentation says "Regex
//!   requires the suffix /\d+$", although the pattern admits versions with wildcards; anything
//!   else → `InvalidRequestException`). **GetImage** takes a build version, or a version (nodes
//!   may be `x`) answered with the highest build it selects.
//! - **Rate limit** ([`Options::rate_limit`], off by default): one token bucket per botocore
//!   operation, checked when the request arrives, before injected faults and the signature
//!   check; throttled → 429 `CallRateLimitExceededException` / `ThrottlingException` (RAM
//!   models it only on share mutations, sent on every operation like [`Fault::Throttle`]), with
//!   the operation's injected latency but no fault consumed, no state change, counted by
//!   [`StandIn::throttled`]. AWS's real per-operation limits are not modeled.
//! - **Pagination tokens** are offsets into the current listing: items added or removed between
//!   pages shift what the next page holds (AWS documents nothing stronger).
//! - **Fixture helpers that bypass the API** (every kind): [`StandIn::put_policy_only`] stores a
//!   policy with no share; [`StandIn::delete_share`] deletes any share as DeleteResourceShare
//!   would (also a CREATED_FROM_POLICY one, which the API refuses); [`StandIn::set_policy`]
//!   behaves as the kind's Put…Policy does (see above); [`StandIn::remove_recipe`] deletes any
//!   resource, shared or not; [`StandIn::associate_principal`] and [`StandIn::untag_share`] act
//!   as someone changing a share by hand. [`StandIn::delete_resource`] is not a bypass: it runs
//!   the kind's Delete operation.
//! - **Unsigned requests** (no `Authorization: AWS4-HMAC-SHA256...`) → 403
//!   `ForbiddenException` for Image Builder, `MissingAuthenticationTokenException` for RAM (RAM
//!   models no 403 error). **Unknown path/method** → 404 `UnknownOperationException`.
//! - **Faults**: `ServerError` with a status other than 500/503 sends that status with no error
//!   shape, like a load balancer; `Throttle` codes are sent on every operation although RAM
//!   models `ThrottlingException` only on share mutations.

mod http;
mod kind;
mod model;
mod paging;
mod policy;
mod ratelimit;
mod routes;
pub mod runtime_api;
#[cfg(feature = "sdk")]
mod sdk;
mod service;
mod util;

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::http::{Handler, ServerHandle, TlsMaterial, spawn_server, spawn_tls_server};
use crate::service::{CFN_PREFIX, Shared};

pub use crate::kind::ResourceKind;
pub use crate::model::{DEFAULT_PERMISSION_ACTIONS, DEFAULT_PERMISSION_NAME, PERMISSION_QUOTA, RESOURCE_TYPE};
pub use crate::routes::{COMMON_ERRORS, ERRORS, ROUTES, Route, UNMODELED_ON_OP};
#[cfg(feature = "sdk")]
pub use crate::sdk::sdk_config;
pub use crate::util::civil_utc;

/// How the stand-in behaves. `Options::default()` is the plain, fast, happy-path setup.
#[derive(Debug, Clone)]
pub struct Options {
    /// The one account modeled; owner of shares, customer permissions and the components and
    /// images whose ARNs name it (`Self` to ListComponents / ListImages).
    pub account: String,
    pub region: String,
    pub partition: String,
    /// Port to bind on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Delay before a share created by a policy appears to RAM operations.
    pub share_visible_after: Duration,
    /// How long a share stays PROMOTING_TO_STANDARD.
    pub promotion_time: Duration,
    /// Whether the AWS-managed default permission counts as a match for a policy with the same
    /// actions (undocumented in AWS).
    pub aws_managed_permission_matches: bool,
    /// Max items per page of list operations when `maxResults` is absent or larger.
    pub page_size: usize,
    /// When true, every listing first answers an empty page that carries a `nextToken`.
    pub empty_pages: bool,
    /// Whether RAM sharing with AWS Organizations is enabled (org/OU principals allowed).
    pub org_sharing_enabled: bool,
    /// A token bucket per AWS operation (see [`RateLimit`]); None: no limit.
    pub rate_limit: Option<RateLimit>,
}

/// Per-operation rate limit ([`Options::rate_limit`]): every botocore operation has its own
/// token bucket holding at most `burst` tokens, full at the start and refilled continuously
/// (fractional tokens kept, monotonic clock) at `per_second`. A call that finds no whole token
/// is answered 429 `CallRateLimitExceededException` (Image Builder) / `ThrottlingException`
/// (RAM), is recorded like every call, changes no state and consumes no injected fault; see
/// [`StandIn::throttled`]. `CfnResponse` and unknown operations are never limited. `burst` 0
/// throttles every call; a `per_second` of 0 (or NaN) never refills; `f64::INFINITY` never
/// throttles.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub per_second: f64,
    pub burst: u32,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            account: "123456789012".into(),
            region: "us-east-1".into(),
            partition: "aws".into(),
            port: 0,
            share_visible_after: Duration::ZERO,
            promotion_time: Duration::from_millis(50),
            aws_managed_permission_matches: false,
            page_size: 100,
            empty_pages: false,
            org_sharing_enabled: true,
            rate_limit: None,
        }
    }
}

/// A fault injected into one operation with [`StandIn::fault`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// 429: `CallRateLimitExceededException` on Image Builder operations, `ThrottlingException`
    /// on RAM operations, a bare 429 on `CfnResponse`.
    Throttle { times: u32 },
    /// 500 → `ServiceException` (Image Builder) / `ServerInternalException` (RAM); 503 →
    /// `ServiceUnavailableException`; other statuses, and all on `CfnResponse`: bare status.
    ServerError { times: u32, status: u16 },
    /// Any status with any error code (`x-amzn-ErrorType`) and message; on `CfnResponse` an S3
    /// XML error body.
    Error {
        times: u32,
        status: u16,
        code: String,
        message: String,
    },
    /// Added before every call of the operation from now on (the latest one set wins).
    Latency(Duration),
    /// Read the request and never answer, until the stand-in is dropped (at most 10 minutes).
    Hang { times: u32 },
    /// Close the connection without answering.
    Reset { times: u32 },
}

/// One request received, in arrival order.
#[derive(Debug, Clone)]
pub struct Call {
    /// botocore operation name, `"CfnResponse"`, or `"UnknownOperation"`.
    pub op: String,
    pub method: String,
    /// Path as sent, without the query.
    pub path: String,
    /// URL-decoded query pairs.
    pub query: Vec<(String, String)>,
    /// The JSON body; Null if empty; a JSON string holding the text if it was not JSON.
    pub body: serde_json::Value,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
}

impl Call {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }

    /// A query parameter (first occurrence).
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// One PUT to the CloudFormation response URL.
#[derive(Debug, Clone)]
pub struct CfnResponse {
    /// Path without the query.
    pub path: String,
    /// Raw query string, still encoded, without `?`.
    pub query: String,
    /// The Content-Type header as received; None if absent, `Some("")` if sent empty.
    pub content_type: Option<String>,
    /// The Content-Length header as received; None if absent (e.g. chunked).
    pub content_length: Option<usize>,
    pub body: Vec<u8>,
    /// The body parsed as JSON, if it is JSON.
    pub json: Option<serde_json::Value>,
    /// Status answered (0 for an injected hang or reset).
    pub status_sent: u16,
}

/// The modeled state at one moment (see [`StandIn::snapshot`]).
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The image recipes, in the order added (also in `resources`).
    pub recipes: Vec<RecipeState>,
    /// Every Image Builder resource of every kind, in the order added.
    pub resources: Vec<ResourceState>,
    /// All shares, including DELETED ones and ones not yet visible to RAM operations.
    pub shares: Vec<ShareState>,
    /// All permissions: the AWS-managed default, customer managed and CREATED_FROM_POLICY ones.
    pub permissions: Vec<PermissionState>,
}

#[derive(Debug, Clone)]
pub struct RecipeState {
    pub arn: String,
    pub policy: Option<String>,
    pub tags: std::collections::BTreeMap<String, String>,
}

/// One Image Builder resource: a recipe, or a build version of a component or an image.
#[derive(Debug, Clone)]
pub struct ResourceState {
    pub arn: String,
    pub kind: ResourceKind,
    pub policy: Option<String>,
    pub tags: std::collections::BTreeMap<String, String>,
    /// Recipes: the component ARNs set by [`StandIn::set_recipe_contents`], as given (empty:
    /// none set, GetImageRecipe reports the default `update-linux`).
    pub components: Vec<String>,
    /// Recipes: the parent image set by [`StandIn::set_recipe_contents`] (None: the default).
    pub parent_image: Option<String>,
    /// Marked by [`StandIn::set_in_use`].
    pub in_use: bool,
}

#[derive(Debug, Clone)]
pub struct ShareState {
    pub arn: String,
    pub name: String,
    /// CREATED_FROM_POLICY | PROMOTING_TO_STANDARD | STANDARD
    pub feature_set: String,
    /// ACTIVE | DELETED
    pub status: String,
    pub resources: Vec<String>,
    pub principals: Vec<String>,
    pub permission_arn: String,
    /// RAM tags, in the order added.
    pub tags: Vec<(String, String)>,
}

impl ShareState {
    /// The value of RAM tag `key`, if set.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone)]
pub struct PermissionState {
    pub arn: String,
    pub name: String,
    /// AWS_MANAGED | CUSTOMER_MANAGED
    pub permission_type: String,
    pub feature_set: String,
    pub resource_type: String,
    /// Sorted, deduplicated.
    pub actions: Vec<String>,
}

impl Snapshot {
    /// ACTIVE shares holding `resource` (any kind).
    pub fn shares_of(&self, resource: &str) -> Vec<&ShareState> {
        self.shares
            .iter()
            .filter(|s| s.status == "ACTIVE" && s.resources.iter().any(|r| r == resource))
            .collect()
    }

    /// The resource `arn` of any kind, if present.
    pub fn resource(&self, arn: &str) -> Option<&ResourceState> {
        self.resources.iter().find(|r| r.arn == arn)
    }

    /// The resources of one kind, in the order added.
    pub fn resources_of_kind(&self, kind: ResourceKind) -> Vec<&ResourceState> {
        self.resources.iter().filter(|r| r.kind == kind).collect()
    }

    pub fn tags_of(&self, resource: &str) -> Option<&std::collections::BTreeMap<String, String>> {
        self.resource(resource).map(|r| &r.tags)
    }

    pub fn policy_of(&self, resource: &str) -> Option<&str> {
        self.resource(resource).and_then(|r| r.policy.as_deref())
    }

    /// Customer managed permissions in STANDARD featureSet, of every resource type (the ones
    /// counted against RAM's quota; CREATED_FROM_POLICY permissions are not counted).
    pub fn customer_permissions(&self) -> usize {
        self.permissions
            .iter()
            .filter(|p| p.permission_type == "CUSTOMER_MANAGED" && p.feature_set == "STANDARD")
            .count()
    }

    /// [`Snapshot::customer_permissions`] of one RAM resource type (compared
    /// case-insensitively), e.g. `imagebuilder:Component`: the count RAM's quota of
    /// [`PERMISSION_QUOTA`] per type applies to.
    pub fn customer_permissions_for(&self, resource_type: &str) -> usize {
        self.permissions
            .iter()
            .filter(|p| {
                p.permission_type == "CUSTOMER_MANAGED"
                    && p.feature_set == "STANDARD"
                    && p.resource_type.eq_ignore_ascii_case(resource_type)
            })
            .count()
    }

    pub fn share(&self, arn: &str) -> Option<&ShareState> {
        self.shares.iter().find(|s| s.arn == arn)
    }

    pub fn permission(&self, arn: &str) -> Option<&PermissionState> {
        self.permissions.iter().find(|p| p.arn == arn)
    }
}

/// A running stand-in. It serves on its own thread with its own tokio runtime; dropping it
/// shuts the server down, which also closes connections held by [`Fault::Hang`].
pub struct StandIn {
    shared: Arc<Shared>,
    secret: String,
    /// Set when serving HTTPS ([`StandIn::start_tls`]).
    tls: Option<TlsMaterial>,
    // Declared last so it drops last; dropping it stops the server thread.
    server: ServerHandle,
}

impl StandIn {
    /// Binds `127.0.0.1:opts.port` and starts serving. Panics if the port cannot be bound.
    pub fn start(opts: Options) -> StandIn {
        StandIn::launch(opts, false)
    }

    /// Like [`StandIn::start`], but serving HTTPS only, for measuring the Lambda over TLS. A
    /// certificate chain is generated at start: a self-signed CA ([`StandIn::ca_pem`]) and a
    /// leaf for `127.0.0.1` and `localhost` signed by it. [`StandIn::url`] and the response
    /// URLs then start with `https://`; a client trusts the stand-in through the CA, e.g. with
    /// `SSL_CERT_FILE` pointing at [`StandIn::write_ca_pem`]'s file (rustls-native-certs, which
    /// the AWS SDK and reqwest use on Linux, reads it). Panics if the port cannot be bound.
    pub fn start_tls(opts: Options) -> StandIn {
        StandIn::launch(opts, true)
    }

    fn launch(opts: Options, tls: bool) -> StandIn {
        let shared = Arc::new(Shared::new(opts.clone()));
        let for_server = shared.clone();
        let handler: Handler = Arc::new(move |req| {
            let sh = for_server.clone();
            Box::pin(service::handle(sh, req))
        });
        let name = "recipe-share-standin";
        let (server, tls) = if tls {
            let (server, material) = spawn_tls_server(name, opts.port, handler);
            (server, Some(material))
        } else {
            (spawn_server(name, opts.port, handler), None)
        };
        let secret = shared.lock().rng.hex(64);
        StandIn {
            shared,
            secret,
            tls,
            server,
        }
    }

    /// The PEM of the CA that signed the HTTPS certificate ([`StandIn::start_tls`]); None when
    /// serving plain HTTP.
    pub fn ca_pem(&self) -> Option<&str> {
        self.tls.as_ref().map(|t| t.ca_pem.as_str())
    }

    /// Writes [`StandIn::ca_pem`] to `path` (for `SSL_CERT_FILE`). An `InvalidInput` error when
    /// serving plain HTTP.
    pub fn write_ca_pem(&self, path: &std::path::Path) -> std::io::Result<()> {
        match &self.tls {
            Some(t) => t.write_ca_pem(path),
            None => Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "this stand-in serves plain HTTP: no CA certificate",
            )),
        }
    }

    pub fn options(&self) -> &Options {
        &self.shared.opts
    }

    /// `http://127.0.0.1:PORT` (`https://` from [`StandIn::start_tls`]), the value for
    /// `AWS_ENDPOINT_URL`.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.server.addr())
    }

    /// `http://127.0.0.1:PORT/cfn-response/` (`https://` from [`StandIn::start_tls`])
    pub fn response_prefix(&self) -> String {
        format!("{}{CFN_PREFIX}", self.url())
    }

    /// A response URL shaped like CloudFormation's pre-signed S3 URL. The signature is this
    /// stand-in's secret, so tests can check that it never shows up in logs.
    pub fn response_url(&self, name: &str) -> String {
        format!(
            "{}{name}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=7200&X-Amz-Signature={}",
            self.response_prefix(),
            self.secret
        )
    }

    /// The `X-Amz-Signature` value used in [`StandIn::response_url`].
    pub fn response_secret(&self) -> &str {
        &self.secret
    }

    /// Adds an image recipe (no policy): [`StandIn::add_resource`], except that an ARN naming
    /// no modeled kind is accepted too, as an image recipe (any string is).
    pub fn add_recipe(&self, arn: &str) {
        let result = self.shared.lock().state.add_resource(arn);
        expect_fixture("add_recipe", arn, result);
    }

    /// Adds many recipes (or resources of any kind, by their ARNs) under one lock, as
    /// [`StandIn::add_recipe`] would one by one (O(1) each: 10,000 take milliseconds). ARNs
    /// already present are skipped.
    pub fn add_recipes(&self, arns: impl IntoIterator<Item = String>) {
        let mut inner = self.shared.lock();
        let mut failed = None;
        for arn in arns {
            if let Err(e) = inner.state.add_resource(&arn) {
                failed = Some(e);
                break;
            }
        }
        drop(inner);
        if let Some(e) = failed {
            panic!("StandIn::add_recipes: {e}");
        }
    }

    /// Adds an Image Builder resource (no policy) of the kind its ARN names: `image-recipe`,
    /// `container-recipe`, `component` or `image` (see [`ResourceKind::from_arn`]). Components
    /// and images are build versions, `…:component/<name>/<x.y.z>/<build>`; their owner is the
    /// ARN's account (this account's are `Self` to ListComponents/ListImages, `aws`'s `Amazon`).
    /// Panics for an ARN of no modeled kind or a component/image ARN that is not a build
    /// version. Present already: nothing changes.
    pub fn add_resource(&self, arn: &str) {
        let result = self.try_add_resource(arn);
        expect_fixture("add_resource", arn, result);
    }

    /// [`StandIn::add_resource`], answering Err instead of panicking.
    pub fn try_add_resource(&self, arn: &str) -> Result<(), String> {
        match ResourceKind::from_arn(arn) {
            Some(_) => self.shared.lock().state.add_resource(arn),
            None => Err(format!(
                "{arn} names no modeled Image Builder resource kind (image-recipe, container-recipe, component, image)"
            )),
        }
    }

    /// Sets what an image or container recipe builds from (adding the recipe if missing), as
    /// GetImageRecipe / GetContainerRecipe then report it: `components` are component ARNs of
    /// any account as a recipe holds them (version references like `…/component/cis/x.x.x` or
    /// `…/1.x.x`, exact versions `…/1.2.0`, build versions `…/1.2.0/3`; none: the default
    /// AWS-owned `update-linux/x.x.x`), `parent_image` an image ARN (possibly a version
    /// reference), an AMI id or, for container recipes, an image URI (None: the default,
    /// AWS's `amazon-linux-2-x86/x.x.x` / `amazonlinux:latest`). Replaces what was set before.
    /// Nothing referenced is added or resolved. Panics if `recipe_arn` is no recipe ARN.
    pub fn set_recipe_contents(&self, recipe_arn: &str, components: &[&str], parent_image: Option<&str>) {
        let result = self
            .shared
            .lock()
            .state
            .set_recipe_contents(recipe_arn, components, parent_image);
        expect_fixture("set_recipe_contents", recipe_arn, result);
    }

    /// Sets an Image Builder tag on a resource of any kind (adding it if missing, as
    /// [`StandIn::add_recipe`] would), as TagResource would.
    pub fn tag_resource(&self, arn: &str, key: &str, value: &str) {
        let result = self.shared.lock().state.tag_resource(arn, key, value);
        expect_fixture("tag_resource", arn, result);
    }

    /// [`StandIn::tag_resource`], the name it had when only recipes were modeled.
    pub fn tag_recipe(&self, arn: &str, key: &str, value: &str) {
        self.tag_resource(arn, key, value);
    }

    /// Adds a resource under the name it was created with (`ListImageRecipes` and the other
    /// List operations filter and report that name; the ARN carries it lower-cased).
    pub fn add_recipe_named(&self, arn: &str, name: &str) {
        let result = self.shared.lock().state.name_resource(arn, name);
        expect_fixture("add_recipe_named", arn, result);
    }

    /// Marks a resource as depended on by consumers: RAM then refuses to delete a share holding
    /// it or take it out of one (`OperationNotPermittedException`), as it does while consumers
    /// use a shared resource.
    pub fn set_in_use(&self, arn: &str, in_use: bool) {
        self.shared.lock().state.set_in_use(arn, in_use);
    }

    /// DeleteImageRecipe as its owner would call it: refused (with the error Image Builder gives)
    /// while a share holds the recipe.
    pub fn delete_image_recipe(&self, arn: &str) -> Result<(), String> {
        self.delete_as_kind(ResourceKind::ImageRecipe, arn)
    }

    /// The Delete operation of the kind the ARN names (DeleteImageRecipe,
    /// DeleteContainerRecipe, DeleteComponent, DeleteImage) as its owner would call it: refused
    /// with `ResourceDependencyException` while an ACTIVE share holds the resource,
    /// `ResourceNotFoundException` if it does not exist. Err is `"<code>: <message>"`.
    pub fn delete_resource(&self, arn: &str) -> Result<(), String> {
        match ResourceKind::from_arn(arn) {
            Some(kind) => self.delete_as_kind(kind, arn),
            None => Err(format!(
                "InvalidRequestException: {arn} names no modeled Image Builder resource kind"
            )),
        }
    }

    fn delete_as_kind(&self, kind: ResourceKind, arn: &str) -> Result<(), String> {
        let (op, member) = kind.delete_op();
        let input = serde_json::json!({ member: arn });
        let mut inner = self.shared.lock();
        inner
            .state
            .call("imagebuilder", op, &input, "fixture", Instant::now())
            .map(drop)
            .map_err(|e| format!("{}: {}", e.code, e.message))
    }

    /// Removes every tag from a resource share, as if someone had untagged it by hand.
    pub fn untag_share(&self, share_arn: &str) {
        self.shared.lock().state.untag_share(share_arn);
    }

    /// Associates `principal` with a STANDARD share, as if someone had done it by hand (RAM
    /// rewrites the policies of the share's resources).
    pub fn associate_principal(&self, share_arn: &str, principal: &str) {
        let input = serde_json::json!({ "resourceShareArn": share_arn, "principals": [principal] });
        let mut inner = self.shared.lock();
        if let Err(e) = inner
            .state
            .call("ram", "AssociateResourceShare", &input, "fixture", Instant::now())
        {
            drop(inner);
            panic!("StandIn::associate_principal({share_arn}, {principal}): {}", e.message);
        }
    }

    /// Deletes a resource of any kind and takes it out of every share (bypassing the API, which
    /// refuses to delete a shared one).
    pub fn remove_recipe(&self, arn: &str) {
        self.shared.lock().state.remove_resource(arn);
    }

    /// [`StandIn::remove_recipe`], by the name that says it takes any kind.
    pub fn remove_resource(&self, arn: &str) {
        self.remove_recipe(arn);
    }

    /// As if Put{ImageRecipe,ContainerRecipe,Component,Image}Policy (the kind's) had been called
    /// by someone else, with the same RAM side effects. Adds the resource if missing (as
    /// [`StandIn::add_recipe`] would); panics if the policy would be rejected.
    pub fn set_policy(&self, arn: &str, policy: &str) {
        let mut inner = self.shared.lock();
        let now = Instant::now();
        inner.state.tick(now);
        let result = inner
            .state
            .add_resource(arn)
            .and_then(|()| inner.state.apply_policy(arn, policy, now));
        if let Err(e) = result {
            drop(inner);
            panic!("StandIn::set_policy({arn}): policy rejected: {e}");
        }
    }

    /// Stores `policy` as the resource's policy text WITHOUT any RAM side effect and without
    /// validating it: no share is created, changed or deleted (for "policy present but no
    /// share" fixtures). Adds the resource if missing (as [`StandIn::add_recipe`] would). The
    /// kind's Get…Policy returns the text.
    pub fn put_policy_only(&self, arn: &str, policy: &str) {
        let result = self.shared.lock().state.put_policy_only(arn, policy);
        expect_fixture("put_policy_only", arn, result);
    }

    /// Deletes a resource share as DeleteResourceShare would (status `DELETED`, still listed by
    /// GetResourceShares; each of its resources in no other ACTIVE share loses its policy), but
    /// whatever its featureSet (a CREATED_FROM_POLICY share too, which the API refuses; a
    /// running promotion is cancelled) and even before it is visible: for "share missing"
    /// fixtures. Deleting a DELETED share does nothing. Panics if no share has that ARN.
    pub fn delete_share(&self, share_arn: &str) {
        let mut inner = self.shared.lock();
        let now = Instant::now();
        inner.state.tick(now);
        if !inner.state.force_delete_share(share_arn) {
            drop(inner);
            panic!("StandIn::delete_share({share_arn}): no such resource share");
        }
    }

    /// Injects a fault into `op` (a botocore operation name or `"CfnResponse"`). Counted
    /// faults queue up in order; [`Fault::Latency`] applies to every later call.
    pub fn fault(&self, op: &str, fault: Fault) {
        let mut inner = self.shared.lock();
        match fault {
            Fault::Latency(d) => {
                inner.latency.insert(op.to_string(), d);
            }
            f => inner.faults.entry(op.to_string()).or_default().push_back(f),
        }
    }

    /// Removes every queued fault and latency.
    pub fn clear_faults(&self) {
        let mut inner = self.shared.lock();
        inner.faults.clear();
        inner.latency.clear();
    }

    /// Every request received, in order, including faulted, throttled and unknown ones (only
    /// those received while recording is on, see [`StandIn::set_recording`]).
    pub fn calls(&self) -> Vec<Call> {
        self.shared.lock().calls.clone()
    }

    /// How many requests of `op` were received (counted also while recording is off).
    pub fn call_count(&self, op: &str) -> usize {
        self.shared.lock().call_counts.get(op).copied().unwrap_or(0)
    }

    /// Whether each request is stored for [`StandIn::calls`] (on by default). Off, only the
    /// counts of [`StandIn::call_count`] are kept, which large benchmarks want; calls already
    /// stored stay. CloudFormation responses are always stored.
    pub fn set_recording(&self, on: bool) {
        self.shared.lock().recording = on;
    }

    /// Calls of `op` answered with a throttling error by [`Options::rate_limit`] (injected
    /// [`Fault::Throttle`]s are not counted).
    pub fn throttled(&self, op: &str) -> usize {
        self.shared.lock().throttled.get(op).copied().unwrap_or(0)
    }

    /// Calls of every operation answered with a throttling error by [`Options::rate_limit`].
    pub fn throttled_total(&self) -> usize {
        self.shared.lock().throttled.values().sum()
    }

    /// Every PUT to the response URL, including ones answered with an injected fault.
    pub fn responses(&self) -> Vec<CfnResponse> {
        self.shared.lock().responses.clone()
    }

    /// Blocks until at least `n` responses are recorded or `timeout` passes; returns them all.
    pub fn wait_responses(&self, n: usize, timeout: Duration) -> Vec<CfnResponse> {
        let deadline = Instant::now() + timeout;
        let mut inner = self.shared.lock();
        // Bounded by the deadline: each wait ends by notification or timeout.
        while inner.responses.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            inner = self
                .shared
                .responses_changed
                .wait_timeout(inner, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        inner.responses.clone()
    }

    /// The current modeled state (finished promotions applied).
    pub fn snapshot(&self) -> Snapshot {
        let mut inner = self.shared.lock();
        inner.state.tick(Instant::now());
        inner.state.snapshot()
    }
}

/// Panics with the fixture's name when a fixture helper was given an ARN it cannot model (the
/// lock is released by then: the `Result` was computed under it and returned).
fn expect_fixture(helper: &str, arn: &str, result: Result<(), String>) {
    if let Err(e) = result {
        panic!("StandIn::{helper}({arn}): {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send_sync<T: Send + Sync>() {}

    #[test]
    fn handles_can_be_shared_across_threads() {
        send_sync::<StandIn>();
        send_sync::<runtime_api::RuntimeApi>();
    }

    #[test]
    fn snapshot_helpers() {
        let s = StandIn::start(Options::default());
        let r = "arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/x/1.0.0";
        let p = format!(
            r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Principal":{{"AWS":"111122223333"}},"Action":"imagebuilder:GetImageRecipe","Resource":"{r}"}}}}"#
        );
        s.set_policy(r, &p);
        let snap = s.snapshot();
        assert_eq!(snap.policy_of(r), Some(p.as_str()));
        assert_eq!(snap.shares_of(r).len(), 1);
        assert_eq!(snap.shares_of(r)[0].feature_set, "CREATED_FROM_POLICY");
        assert_eq!(snap.customer_permissions(), 0);
        // The four AWS-managed defaults (one per resource type) plus one CREATED_FROM_POLICY
        // permission.
        assert_eq!(snap.permissions.len(), 5);
        s.remove_recipe(r);
        let snap = s.snapshot();
        assert!(snap.recipes.is_empty() && snap.shares_of(r).is_empty());
    }
}
