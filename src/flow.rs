//! The sharing flow for one recipe, shared by every entry point: write the standard policy, find the
//! share RAM made from it, promote it (and, once, the permission), wait for STANDARD, associate the
//! organization principals; and its reverse for Delete. Idempotent: a re-run reads state and stops.

use crate::arn::ImageRecipeArn;
use crate::aws::{Aws, ShareInfo};
use crate::config::ShareConfig;
use crate::error::{AwsFailure, Error};
use crate::policy;
use crate::retry::{Deadline, backoff, pause};
use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;
use tracing::{info, warn};

/// Throttled calls are tried at most this often (each wait also bounded by the deadline).
const MAX_THROTTLE_TRIES: u32 = 10;
/// Polls for a share to appear or to reach STANDARD; the deadline usually ends them first.
const MAX_POLLS: u32 = 200;
/// Promotion attempts: the first, one after promoting the permission, a few while it settles.
const MAX_PROMOTE_TRIES: u32 = 8;
/// Extra writes for a just-created recipe that Image Builder does not show yet.
const NEW_RECIPE_TRIES: u32 = 3;

/// The result of sharing one recipe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shared {
    /// The STANDARD share that holds the recipe.
    pub share_arn: String,
    /// What this run changed, in order; empty when the recipe was already shared (a no-op re-run).
    pub changes: Vec<&'static str>,
}

/// The result of unsharing one recipe.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unshared {
    /// Shares deleted by this run.
    pub deleted: Vec<String>,
    /// Shares left alone, with why.
    pub left: Vec<String>,
}

/// What to do after `PromoteResourceShareCreatedFromPolicy` failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromoteReaction {
    /// No managed permission matches yet: promote the share's CREATED_FROM_POLICY permission.
    PromotePermission,
    /// The permission was just promoted; RAM may need a moment before it matches.
    WaitAndRetry,
    /// A state error on a re-run: read the share again rather than fail.
    ReadState,
    /// Nothing retrying here can fix.
    Fail,
}

/// Pure: the reaction to a promotion error.
pub fn promote_reaction(failure: &AwsFailure, permission_promoted: bool) -> PromoteReaction {
    match failure.code.as_deref() {
        Some("UnmatchedPolicyPermissionException") if !permission_promoted => PromoteReaction::PromotePermission,
        Some("UnmatchedPolicyPermissionException") => PromoteReaction::WaitAndRetry,
        Some("InvalidStateTransitionException" | "OperationNotPermittedException") => PromoteReaction::ReadState,
        _ => PromoteReaction::Fail,
    }
}

/// Pure: the share to work on among those holding the recipe. Only ACTIVE shares count; one that
/// still needs promotion comes first, then one being promoted, then a STANDARD one (ties by ARN).
pub fn choose_share(shares: &[ShareInfo]) -> Option<&ShareInfo> {
    let rank = |s: &ShareInfo| match s.feature_set.as_str() {
        "CREATED_FROM_POLICY" => Some(0),
        "PROMOTING_TO_STANDARD" => Some(1),
        "STANDARD" => Some(2),
        _ => None,
    };
    shares
        .iter()
        .filter(|s| s.status == "ACTIVE")
        .filter_map(|s| rank(s).map(|r| (r, s)))
        .min_by(|a, b| (a.0, &a.1.arn).cmp(&(b.0, &b.1.arn)))
        .map(|(_, s)| s)
}

/// What Delete does with one ACTIVE share that holds the recipe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnshareAction {
    Delete,
    WaitThenDelete,
    PromoteThenDelete,
    Leave(&'static str),
}

/// Pure: a share made from a recipe's policy holds that recipe alone, so only such shares are
/// deleted; a share that someone built with other resources is never touched.
pub fn unshare_action(share: &ShareInfo, resources: &BTreeSet<String>, recipe: &str) -> UnshareAction {
    if resources.len() != 1 || !resources.contains(recipe) {
        return UnshareAction::Leave(
            "the share holds other resources too, so it was not made from this recipe's policy",
        );
    }
    match share.feature_set.as_str() {
        "STANDARD" => UnshareAction::Delete,
        "PROMOTING_TO_STANDARD" => UnshareAction::WaitThenDelete,
        // RAM cannot modify a CREATED_FROM_POLICY share; promoted, it can be deleted.
        "CREATED_FROM_POLICY" => UnshareAction::PromoteThenDelete,
        _ => UnshareAction::Leave("unknown featureSet"),
    }
}

/// How one recipe stands against the organization standard (report mode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    /// `compliant`, `missing-policy`, `policy-drift`, `share-missing`, `share-not-promoted` or
    /// `principals-missing`: the first difference found, in the order the flow would fix them.
    pub status: &'static str,
    /// What differs, for a person.
    pub detail: String,
    pub share_arn: Option<String>,
}

/// Pure: the inspection from what was read. `drift` is `None` when the recipe has no policy.
pub fn inspection(
    drift: Option<Result<(), &'static str>>,
    share: Option<ShareInfo>,
    missing: Vec<String>,
) -> Inspection {
    let share_arn = share.as_ref().map(|s| s.arn.clone());
    let (status, detail) = match (drift, &share) {
        (None, _) => ("missing-policy", "the recipe has no resource policy".to_string()),
        (Some(Err(why)), _) => ("policy-drift", why.to_string()),
        (Some(Ok(())), None) => (
            "share-missing",
            "the policy is standard but no RAM share holds the recipe".into(),
        ),
        (Some(Ok(())), Some(s)) if s.feature_set != "STANDARD" => {
            ("share-not-promoted", format!("share {} is {}", s.arn, s.feature_set))
        }
        _ if !missing.is_empty() => ("principals-missing", format!("not associated: {}", missing.join(", "))),
        _ => ("compliant", "shared by the organization standard".into()),
    };
    Inspection {
        status,
        detail,
        share_arn,
    }
}

/// Pure: the configured organization/OU principals the share does not have yet, sorted.
pub fn missing_principals(wanted: &BTreeSet<String>, present: &BTreeSet<String>) -> Vec<String> {
    wanted.difference(present).cloned().collect()
}

/// Pure: a deterministic UUID-shaped client token, so a re-invocation repeats the same request
/// (RAM treats same token + same parameters as a safe retry).
pub fn client_token(parts: &[&str]) -> String {
    let hash = |seed: u64| {
        parts
            .iter()
            .flat_map(|p| p.bytes().chain([0u8]))
            .fold(seed, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100000001b3))
    };
    let (a, b) = (hash(0xcbf29ce484222325), hash(0x84222325cbf29ce4));
    let hex = format!("{a:016x}{b:016x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// One run of the flow: the clients, the deadline, and a flag raised as soon as the recipe's
/// sharing state may have changed (read by the caller even if this run is cut short).
pub struct Flow<'a> {
    pub aws: &'a Aws,
    pub config: &'a ShareConfig,
    pub deadline: Deadline,
    /// The recipe was just created (an EventBridge event): a `ResourceNotFoundException` may be
    /// read-after-write lag, so the write is tried a few more times before the recipe counts as gone.
    pub recipe_may_be_new: bool,
    /// What this run has done, readable by the caller even when the run is cut off.
    pub progress: &'a Progress,
}

/// What a run of the flow has done so far, shared with whoever runs it and read even when the run
/// is cut off by the deadline: whether the recipe may have changed (a failed Create's ID depends on
/// it), how often it was throttled (the sweep slows down), and the call it was waiting for.
#[derive(Debug, Default)]
pub struct Progress {
    changed: AtomicBool,
    throttled: AtomicU32,
    calls: Mutex<CallState>,
}

#[derive(Debug, Default)]
struct CallState {
    in_flight: Option<&'static str>,
    last_failure: Option<String>,
}

impl Progress {
    /// True once the recipe's sharing state may have changed.
    pub fn changed(&self) -> bool {
        self.changed.load(Ordering::SeqCst)
    }

    /// Throttled calls seen (and retried) so far.
    pub fn throttled(&self) -> u32 {
        self.throttled.load(Ordering::Relaxed)
    }

    /// What the run was doing when the deadline cut it off, for a `Reason` a person can act on.
    pub fn cut_off(&self) -> String {
        let state = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        match (&state.in_flight, &state.last_failure) {
            (Some(op), Some(last)) => format!("waiting for {op}, whose last answer was: {last}"),
            (Some(op), None) => format!("waiting for {op}, which had not answered"),
            (None, Some(last)) => format!("retrying after: {last}"),
            (None, None) => "between AWS calls".into(),
        }
    }

    fn begin(&self, op: &'static str) {
        let mut state = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        if state.in_flight != Some(op) {
            state.last_failure = None;
        }
        state.in_flight = Some(op);
    }

    fn end(&self, failure: Option<&AwsFailure>) {
        let mut state = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        match failure {
            Some(f) => state.last_failure = Some(f.to_string()),
            None => *state = CallState::default(),
        }
    }
}

impl Flow<'_> {
    /// Runs the AWS call `op`, retrying throttling with jittered backoff inside the deadline.
    pub(crate) async fn call<T, F>(&self, op: &'static str, f: impl Fn() -> F) -> Result<T, Error>
    where
        F: Future<Output = Result<T, AwsFailure>>,
    {
        let mut attempt = 0;
        loop {
            self.progress.begin(op);
            let result = f().await;
            self.progress.end(result.as_ref().err());
            match result {
                Err(failure) if failure.is_throttling() && attempt + 1 < MAX_THROTTLE_TRIES => {
                    self.progress.throttled.fetch_add(1, Ordering::Relaxed);
                    warn!(op, attempt, "throttled; backing off");
                    if !pause(
                        &self.deadline,
                        backoff(Duration::from_millis(200), attempt, Duration::from_secs(5)),
                    )
                    .await
                    {
                        return Err(Error::Aws(failure));
                    }
                    attempt += 1;
                }
                other => return other.map_err(Error::from),
            }
        }
    }

    /// Create/Update and EventBridge: make the recipe shared by the organization standard.
    pub async fn share(&self, recipe: &ImageRecipeArn) -> Result<Shared, Error> {
        let r = recipe.as_str();
        let accounts = &self.config.principals.accounts;
        let mut changes = Vec::new();
        let current = self
            .call("GetImageRecipePolicy", || self.aws.get_recipe_policy(r))
            .await?;
        let mut written = match current.as_deref().map(|c| policy::compare(c, recipe, accounts)) {
            Some(Ok(())) => {
                info!(
                    recipe = r,
                    step = "read-policy",
                    "policy is already the organization standard"
                );
                false
            }
            difference => {
                let why = difference.map_or("recipe has no policy", |d| d.err().unwrap_or_default());
                self.write_policy(recipe, why).await?;
                changes.push("policy-written");
                true
            }
        };
        let share = self.find_share(recipe, &mut written, &mut changes).await?;
        if share.feature_set == "CREATED_FROM_POLICY" {
            self.promote(&share.arn, &mut changes).await?;
            changes.push("share-promoted");
        }
        if share.feature_set != "STANDARD" {
            self.wait_standard(&share.arn, r).await?;
        }
        self.associate_organizations(&share.arn, r, &mut changes).await?;
        info!(
            recipe = r,
            step = "done",
            share = share.arn.as_str(),
            ?changes,
            "recipe is shared by the standard"
        );
        Ok(Shared {
            share_arn: share.arn,
            changes,
        })
    }

    async fn write_policy(&self, recipe: &ImageRecipeArn, why: &str) -> Result<(), Error> {
        let r = recipe.as_str();
        info!(
            recipe = r,
            step = "write-policy",
            reason = why,
            "writing the organization-standard policy"
        );
        let desired = policy::standard_policy(recipe, &self.config.principals.accounts);
        // Raised before the call: once the request is sent the recipe may have changed, even if the
        // answer never arrives, and a failed Create must then leave CloudFormation a way to undo it.
        let before = self.progress.changed.swap(true, Ordering::SeqCst);
        let mut result = self
            .call("PutImageRecipePolicy", || self.aws.put_recipe_policy(r, &desired))
            .await;
        for attempt in 0..if self.recipe_may_be_new { NEW_RECIPE_TRIES } else { 0 } {
            let Err(Error::Aws(f)) = &result else { break };
            if !f.is("ResourceNotFoundException")
                || !pause(
                    &self.deadline,
                    backoff(Duration::from_millis(500), attempt, Duration::from_secs(2)),
                )
                .await
            {
                break;
            }
            result = self
                .call("PutImageRecipePolicy", || self.aws.put_recipe_policy(r, &desired))
                .await;
        }
        if let Err(Error::Aws(f)) = &result
            && f.is_definite_refusal()
        {
            // The service answered no: nothing was written, so a rollback has nothing to undo.
            self.progress.changed.store(before, Ordering::SeqCst);
        }
        match result {
            Err(Error::Aws(f)) if f.is("ResourceNotFoundException") => Err(Error::RecipeNotFound(r.to_string())),
            other => other,
        }
    }

    /// Finds the share holding the recipe, waiting out RAM's read-after-write delay. If the policy
    /// was already standard but no share exists (RAM lost it), the policy is written again.
    async fn find_share(
        &self,
        recipe: &ImageRecipeArn,
        written: &mut bool,
        changes: &mut Vec<&'static str>,
    ) -> Result<ShareInfo, Error> {
        let r = recipe.as_str();
        for attempt in 0..MAX_POLLS {
            let shares = self.shares_of(r).await?;
            if let Some(share) = choose_share(&shares) {
                info!(
                    recipe = r,
                    step = "find-share",
                    share = share.arn.as_str(),
                    feature_set = share.feature_set.as_str(),
                    "found the share"
                );
                return Ok(share.clone());
            }
            if !*written {
                self.write_policy(recipe, "policy is standard but no share holds the recipe")
                    .await?;
                changes.push("policy-written");
                *written = true;
                continue;
            }
            if !pause(
                &self.deadline,
                backoff(Duration::from_millis(200), attempt, Duration::from_secs(2)),
            )
            .await
            {
                break;
            }
        }
        Err(Error::ShareNotFound(r.to_string()))
    }

    /// Promotes a CREATED_FROM_POLICY share, promoting the org permission once when RAM asks for it.
    async fn promote(&self, share: &str, changes: &mut Vec<&'static str>) -> Result<(), Error> {
        let mut permission_promoted = false;
        let mut last = None;
        for attempt in 0..MAX_PROMOTE_TRIES {
            let failure = match self
                .call("PromoteResourceShareCreatedFromPolicy", || {
                    self.aws.promote_share(share)
                })
                .await
            {
                Ok(()) => {
                    info!(share, step = "promote-share", "promotion requested");
                    return Ok(());
                }
                Err(Error::Aws(f)) => f,
                Err(e) => return Err(e),
            };
            match promote_reaction(&failure, permission_promoted) {
                PromoteReaction::PromotePermission => {
                    self.promote_permission(share, changes).await?;
                    permission_promoted = true;
                }
                PromoteReaction::WaitAndRetry => {
                    if !pause(
                        &self.deadline,
                        backoff(Duration::from_millis(250), attempt, Duration::from_secs(1)),
                    )
                    .await
                    {
                        return Err(Error::Deadline("promoting the share".into()));
                    }
                }
                PromoteReaction::ReadState => {
                    let state = self.read_share(share).await?;
                    if state.feature_set != "CREATED_FROM_POLICY" {
                        info!(
                            share,
                            step = "promote-share",
                            feature_set = state.feature_set.as_str(),
                            "already promoted"
                        );
                        return Ok(());
                    }
                    if !pause(
                        &self.deadline,
                        backoff(Duration::from_millis(250), attempt, Duration::from_secs(1)),
                    )
                    .await
                    {
                        return Err(Error::Aws(failure));
                    }
                }
                PromoteReaction::Fail => return Err(Error::Aws(failure)),
            }
            last = Some(failure);
        }
        let name = self.config.permission_name.clone();
        match last {
            Some(f) if f.is("UnmatchedPolicyPermissionException") => Err(Error::Permission {
                name,
                problem:
                    "exists but RAM still finds no permission matching the standard policy; it was probably made for \
                          other actions: delete it or set SHARE_PERMISSION_NAME to a new name"
                        .into(),
            }),
            Some(f) => Err(Error::Aws(f)),
            None => Err(Error::Deadline("promoting the share".into())),
        }
    }

    /// Promotes the share's CREATED_FROM_POLICY permission under the configured name, once for all
    /// recipes (RAM allows only 10 customer-managed permissions per resource type).
    async fn promote_permission(&self, share: &str, changes: &mut Vec<&'static str>) -> Result<(), Error> {
        let name = self.config.permission_name.as_str();
        let Some(permission) = self
            .call("ListResourceSharePermissions", || {
                self.aws.created_from_policy_permission(share)
            })
            .await?
        else {
            return Err(Error::Permission {
                name: name.into(),
                problem: format!(
                    "RAM reports no managed permission matching the policy, but share {share} has no CREATED_FROM_POLICY permission to promote"
                ),
            });
        };
        let token = client_token(&["promote-permission", name, &permission]);
        info!(
            share,
            step = "promote-permission",
            permission = permission.as_str(),
            name,
            "promoting the policy's permission"
        );
        match self
            .call("PromotePermissionCreatedFromPolicy", || {
                self.aws.promote_permission(&permission, name, &token)
            })
            .await
        {
            Ok(()) => {
                changes.push("permission-promoted");
                Ok(())
            }
            Err(Error::Aws(f)) => {
                // Another invocation (for another recipe) may have promoted it under this name already.
                if self
                    .call("ListPermissions", || self.aws.customer_permission_named(name))
                    .await?
                    .is_some()
                {
                    info!(
                        share,
                        step = "promote-permission",
                        name,
                        "permission already exists; reusing it"
                    );
                    Ok(())
                } else {
                    Err(Error::Permission {
                        name: name.into(),
                        problem: format!("could not be created: {f}"),
                    })
                }
            }
            Err(e) => Err(e),
        }
    }

    /// The shares this account owns that hold the recipe, with their status and featureSet.
    async fn shares_of(&self, recipe: &str) -> Result<Vec<ShareInfo>, Error> {
        let arns = self.call("ListResources", || self.aws.shares_holding(recipe)).await?;
        self.call("GetResourceShares", || self.aws.describe_shares(&arns)).await
    }

    async fn read_share(&self, share: &str) -> Result<ShareInfo, Error> {
        let arns = BTreeSet::from([share.to_string()]);
        let shares = self
            .call("GetResourceShares", || self.aws.describe_shares(&arns))
            .await?;
        shares.into_iter().find(|s| s.arn == share).ok_or_else(|| {
            Error::Aws(AwsFailure {
                op: "GetResourceShares",
                code: None,
                message: format!("share {share} is not listed"),
            })
        })
    }

    /// Waits, bounded by the deadline, until the share's promotion has finished.
    async fn wait_standard(&self, share: &str, recipe: &str) -> Result<(), Error> {
        for attempt in 0..MAX_POLLS {
            let state = self.read_share(share).await?;
            if state.feature_set == "STANDARD" {
                info!(recipe, share, step = "wait-standard", "share is STANDARD");
                return Ok(());
            }
            if state.status != "ACTIVE" {
                return Err(Error::Aws(AwsFailure {
                    op: "GetResourceShares",
                    code: None,
                    message: format!("share {share} became {} while being promoted", state.status),
                }));
            }
            if !pause(
                &self.deadline,
                backoff(Duration::from_millis(100), attempt, Duration::from_secs(2)),
            )
            .await
            {
                break;
            }
        }
        Err(Error::Deadline("waiting for the share to become STANDARD".into()))
    }

    /// Associates the configured organization/OU principals the share lacks (none on a re-run).
    async fn associate_organizations(
        &self,
        share: &str,
        recipe: &str,
        changes: &mut Vec<&'static str>,
    ) -> Result<(), Error> {
        let wanted = &self.config.principals.organizations;
        if wanted.is_empty() {
            return Ok(());
        }
        let present = self
            .call("GetResourceShareAssociations", || self.aws.share_principals(share))
            .await?;
        let missing = missing_principals(wanted, &present);
        if missing.is_empty() {
            return Ok(());
        }
        info!(
            recipe,
            share,
            step = "associate-principals",
            ?missing,
            "associating organization principals"
        );
        let mut parts = vec!["associate", share];
        parts.extend(missing.iter().map(String::as_str));
        let token = client_token(&parts);
        self.progress.changed.store(true, Ordering::SeqCst);
        self.call("AssociateResourceShare", || {
            self.aws.associate_principals(share, &missing, &token)
        })
        .await?;
        changes.push("principals-associated");
        Ok(())
    }

    /// Report mode: reads the recipe's sharing state and says how it differs from the standard,
    /// changing nothing.
    pub async fn inspect(&self, recipe: &ImageRecipeArn) -> Result<Inspection, Error> {
        let r = recipe.as_str();
        let policy = self
            .call("GetImageRecipePolicy", || self.aws.get_recipe_policy(r))
            .await?;
        let shares = self.shares_of(r).await?;
        let share = choose_share(&shares).cloned();
        let missing = match &share {
            Some(s) if s.feature_set == "STANDARD" && !self.config.principals.organizations.is_empty() => {
                let present = self
                    .call("GetResourceShareAssociations", || self.aws.share_principals(&s.arn))
                    .await?;
                missing_principals(&self.config.principals.organizations, &present)
            }
            _ => Vec::new(),
        };
        let drift = policy
            .as_deref()
            .map(|p| policy::compare(p, recipe, &self.config.principals.accounts));
        Ok(inspection(drift, share, missing))
    }

    /// Delete: removes the shares that were made from the recipe's policy. Already gone is success.
    pub async fn unshare(&self, recipe: &ImageRecipeArn) -> Result<Unshared, Error> {
        let r = recipe.as_str();
        let shares = self.shares_of(r).await?;
        let mut done = Unshared::default();
        for share in shares.iter().filter(|s| s.status == "ACTIVE") {
            let resources = self.call("ListResources", || self.aws.resources_in(&share.arn)).await?;
            let action = unshare_action(share, &resources, r);
            let arn = share.arn.as_str();
            match action {
                UnshareAction::Leave(why) => {
                    info!(recipe = r, share = arn, step = "unshare", why, "leaving share alone");
                    done.left.push(format!("{arn}: {why}"));
                    continue;
                }
                UnshareAction::PromoteThenDelete => {
                    self.promote(arn, &mut Vec::new()).await?;
                    self.wait_standard(arn, r).await?;
                }
                UnshareAction::WaitThenDelete => self.wait_standard(arn, r).await?,
                UnshareAction::Delete => {}
            }
            let token = client_token(&["delete", arn]);
            match self
                .call("DeleteResourceShare", || self.aws.delete_share(arn, &token))
                .await
            {
                Err(Error::Aws(f)) if f.is("UnknownResourceException") => {}
                other => other?,
            }
            info!(recipe = r, share = arn, step = "unshare", "share deleted");
            done.deleted.push(arn.to_string());
        }
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn share(arn: &str, status: &str, fs: &str) -> ShareInfo {
        ShareInfo {
            arn: arn.into(),
            status: status.into(),
            feature_set: fs.into(),
        }
    }

    #[test]
    fn choose_share_table() {
        let cases: &[(&[ShareInfo], Option<&str>)] = &[
            (&[], None),
            (&[share("a", "DELETED", "STANDARD")], None),
            (&[share("a", "ACTIVE", "STANDARD")], Some("a")),
            (
                &[share("b", "ACTIVE", "STANDARD"), share("a", "ACTIVE", "STANDARD")],
                Some("a"),
            ),
            (
                &[
                    share("a", "ACTIVE", "STANDARD"),
                    share("z", "ACTIVE", "CREATED_FROM_POLICY"),
                ],
                Some("z"),
            ),
            (
                &[
                    share("a", "ACTIVE", "STANDARD"),
                    share("p", "ACTIVE", "PROMOTING_TO_STANDARD"),
                ],
                Some("p"),
            ),
            (
                &[
                    share("a", "PENDING", "CREATED_FROM_POLICY"),
                    share("s", "ACTIVE", "STANDARD"),
                ],
                Some("s"),
            ),
            (&[share("a", "ACTIVE", "SOMETHING_NEW")], None),
        ];
        for (shares, want) in cases {
            assert_eq!(choose_share(shares).map(|s| s.arn.as_str()), *want, "{shares:?}");
        }
    }

    #[test]
    fn promote_reaction_table() {
        let f = |code: &str| AwsFailure {
            op: "PromoteResourceShareCreatedFromPolicy",
            code: Some(code.into()),
            message: String::new(),
        };
        let table = [
            (
                "UnmatchedPolicyPermissionException",
                false,
                PromoteReaction::PromotePermission,
            ),
            (
                "UnmatchedPolicyPermissionException",
                true,
                PromoteReaction::WaitAndRetry,
            ),
            ("InvalidStateTransitionException", false, PromoteReaction::ReadState),
            ("OperationNotPermittedException", true, PromoteReaction::ReadState),
            ("MalformedArnException", false, PromoteReaction::Fail),
            ("ResourceShareLimitExceededException", false, PromoteReaction::Fail),
        ];
        for (code, promoted, want) in table {
            assert_eq!(promote_reaction(&f(code), promoted), want, "{code} {promoted}");
        }
        let transport = AwsFailure {
            op: "x",
            code: None,
            message: "io".into(),
        };
        assert_eq!(promote_reaction(&transport, false), PromoteReaction::Fail);
    }

    #[test]
    fn unshare_action_table() {
        let r = "arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/a/1.0.0";
        let only: BTreeSet<String> = [r.to_string()].into();
        let more: BTreeSet<String> = [r.to_string(), "other".to_string()].into();
        assert_eq!(
            unshare_action(&share("s", "ACTIVE", "STANDARD"), &only, r),
            UnshareAction::Delete
        );
        assert_eq!(
            unshare_action(&share("s", "ACTIVE", "PROMOTING_TO_STANDARD"), &only, r),
            UnshareAction::WaitThenDelete
        );
        assert_eq!(
            unshare_action(&share("s", "ACTIVE", "CREATED_FROM_POLICY"), &only, r),
            UnshareAction::PromoteThenDelete
        );
        assert!(matches!(
            unshare_action(&share("s", "ACTIVE", "STANDARD"), &more, r),
            UnshareAction::Leave(_)
        ));
        assert!(matches!(
            unshare_action(&share("s", "ACTIVE", "STANDARD"), &BTreeSet::new(), r),
            UnshareAction::Leave(_)
        ));
    }

    #[test]
    fn inspection_table() {
        let std = Some(share("s", "ACTIVE", "STANDARD"));
        let cfp = Some(share("s", "ACTIVE", "CREATED_FROM_POLICY"));
        let cases = [
            (None, std.clone(), vec![], "missing-policy"),
            (
                Some(Err("actions differ from the standard")),
                std.clone(),
                vec![],
                "policy-drift",
            ),
            (Some(Ok(())), None, vec![], "share-missing"),
            (Some(Ok(())), cfp, vec![], "share-not-promoted"),
            (
                Some(Ok(())),
                std.clone(),
                vec!["ou-1".to_string()],
                "principals-missing",
            ),
            (Some(Ok(())), std, vec![], "compliant"),
        ];
        for (drift, share, missing, want) in cases {
            assert_eq!(inspection(drift, share, missing).status, want);
        }
    }

    #[test]
    fn missing_principals_and_tokens() {
        let wanted: BTreeSet<String> = ["o1".into(), "ou2".into()].into();
        assert_eq!(
            missing_principals(&wanted, &["o1".into()].into()),
            vec!["ou2".to_string()]
        );
        assert!(missing_principals(&wanted, &wanted).is_empty());
        let t = client_token(&["promote-permission", "Name", "arn:1"]);
        assert_eq!(t, client_token(&["promote-permission", "Name", "arn:1"]));
        assert_ne!(t, client_token(&["promote-permission", "Name", "arn:2"]));
        assert_ne!(client_token(&["ab", "c"]), client_token(&["a", "bc"]));
        assert_eq!(t.len(), 36);
        assert_eq!(t.matches('-').count(), 4);
    }
}
