//! The loop for one resource: observe, ask the decision table, act, observe again, until the goal
//! is reached, the decision says stop, or the deadline nears. Report mode runs the same loop
//! without acting and turns the first change it would make into a finding.

use crate::arn::ResourceArn;
use crate::aws::{Aws, CallStats, client_token};
use crate::config::ShareConfig;
use crate::deadline::{Deadline, backoff, pause};
use crate::decide::{self, Act, Finding, Goal, Knowledge, PolicyView, Read, Share, ShareState, Step, Stop, Verdict};
use crate::error::{AwsFailure, Error};
use crate::policy;
use aws_sdk_ram::types::ResourceShareStatus as Status;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tracing::{info, warn};

/// Steps in one run; the deadline usually ends a run long before.
const MAX_STEPS: u32 = 64;
/// Writes retried after `ResourceNotFoundException` for a resource that was just created (a
/// CloudTrail event can arrive before Image Builder shows the recipe to other calls).
pub const NEW_RESOURCE_TRIES: u32 = 3;

/// What a run has done so far, shared with whoever runs it and read even when the run is cut off:
/// whether the resource may have changed (a failed Create's ID depends on it) and the call it was
/// waiting for (the `Reason` names it).
#[derive(Debug, Default)]
pub struct Progress {
    changed: AtomicBool,
    doing: Mutex<Option<&'static str>>,
    /// Shares of the standard this run made or found (see [`decide::Memory::ours`]), so a failed
    /// Create's rollback can delete them even before they carry the managed tag.
    ours: Mutex<std::collections::BTreeSet<String>>,
}

impl Progress {
    /// True once the resource's sharing state may have changed.
    pub fn changed(&self) -> bool {
        self.changed.load(Ordering::SeqCst)
    }

    /// What the run was doing when the deadline cut it off, for a `Reason` a person can act on.
    pub fn cut_off(&self) -> String {
        match *self.doing.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(op) => waiting_for(op),
            None => "between AWS calls".into(),
        }
    }

    /// The shares this run made its own, in ARN order.
    pub fn ours(&self) -> Vec<String> {
        self.ours
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    fn note_ours(&self, ours: &std::collections::BTreeSet<String>) {
        self.ours
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(ours.iter().cloned());
    }

    fn doing(&self, op: Option<&'static str>) {
        *self.doing.lock().unwrap_or_else(|e| e.into_inner()) = op;
    }
}

/// Everything one run needs.
pub struct Ctx<'a> {
    pub aws: &'a Aws,
    pub config: &'a ShareConfig,
    /// No call or wait goes past this.
    pub deadline: Deadline,
    pub progress: &'a Progress,
    /// The `recipe-share:made-by` tag of shares this run promotes.
    pub made_by: &'a str,
    /// The resource was just created (a CloudTrail event): see [`NEW_RESOURCE_TRIES`].
    pub may_be_new: bool,
}

/// Whether the run may change anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Apply,
    Report,
}

/// How an apply run ended well.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub verdict: Verdict,
    /// What this run changed, in order; empty when there was nothing to do.
    pub changes: Vec<&'static str>,
}

/// The result of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ran {
    Applied(Applied),
    Reported(Finding),
}

impl Ctx<'_> {
    /// Awaits one AWS call, cut off at the deadline (which ends the SDK's retries too).
    pub(crate) async fn call<T>(
        &self,
        op: &'static str,
        fut: impl Future<Output = Result<T, AwsFailure>>,
    ) -> Result<T, Error> {
        self.progress.doing(Some(op));
        let result = tokio::time::timeout_at(self.deadline.instant().into(), fut).await;
        self.progress.doing(None);
        match result {
            Ok(r) => r.map_err(Error::Aws),
            Err(_) => Err(Error::Deadline(waiting_for(op))),
        }
    }

    /// Like [`Ctx::call`], keeping the AWS failure for the caller to interpret.
    async fn try_call<T>(
        &self,
        op: &'static str,
        fut: impl Future<Output = Result<T, AwsFailure>>,
    ) -> Result<Result<T, AwsFailure>, Error> {
        self.progress.doing(Some(op));
        let result = tokio::time::timeout_at(self.deadline.instant().into(), fut).await;
        self.progress.doing(None);
        result.map_err(|_| Error::Deadline(waiting_for(op)))
    }

    /// A change cut off by the deadline while the SDK was backing off from a refused attempt
    /// changed nothing: the resource is as it was (a failed Create then needs no undo).
    fn settled<T>(&self, op: &str, answer: Result<T, Error>, before: bool) -> Result<T, Error> {
        if answer.is_err() && CallStats::current().is_some_and(|s| s.refused_and_idle(op)) {
            self.progress.changed.store(before, Ordering::SeqCst);
        }
        answer
    }

    /// The first look: which shares hold the resource (public so an entry point can run it
    /// alongside its other first read).
    pub async fn first_look(&self, resource: &ResourceArn) -> Result<Knowledge, Error> {
        let mut k = Knowledge::default();
        self.read(resource, &mut k, Read::List).await?;
        Ok(k)
    }

    /// Runs the loop from `k` (a [`Ctx::first_look`], or `Knowledge::default()`).
    pub async fn run(&self, resource: &ResourceArn, goal: &Goal, mode: Mode, mut k: Knowledge) -> Result<Ran, Error> {
        let mut changes = Vec::new();
        let (mut polls, mut not_found) = (0u32, 0u32);
        let wanted = &self.config.principals;
        for _ in 0..MAX_STEPS {
            self.progress.note_ours(&k.memory.ours);
            let step = decide::decide(goal, &k, wanted);
            if mode == Mode::Report && !matches!(step, Step::Read(_)) {
                // The finding tells a missing policy from a drifted one: read it when that matters.
                if step == Step::Act(Act::WritePolicy) && k.policy == PolicyView::NotRead {
                    self.read(resource, &mut k, Read::Policy).await?;
                }
                return Ok(Ran::Reported(decide::finding(goal, &k, &step)));
            }
            match step {
                Step::Read(r) => self.read(resource, &mut k, r).await?,
                Step::Wait { why, then } => {
                    if !pause(
                        &self.deadline,
                        backoff(Duration::from_millis(200), polls, Duration::from_secs(2)),
                    )
                    .await
                    {
                        return Err(Error::Deadline(format!("waiting for {why}")));
                    }
                    polls += 1;
                    self.read(resource, &mut k, then).await?;
                }
                Step::Act(a) => {
                    if let Some(pace) = self.act(resource, &mut k, a, &mut changes, &mut not_found).await? {
                        if !pause(&self.deadline, backoff(pace, polls, Duration::from_secs(2))).await {
                            return Err(Error::Deadline("waiting for RAM to settle".into()));
                        }
                        polls += 1;
                    }
                }
                Step::Done(verdict) => {
                    info!(
                        resource = resource.as_str(),
                        step = "done",
                        ?verdict,
                        ?changes,
                        "converged"
                    );
                    return Ok(Ran::Applied(Applied { verdict, changes }));
                }
                Step::Stop(stop) => return Err(stop_error(resource, &self.config.permission_name, stop)),
            }
        }
        Err(Error::Deadline("converging (too many steps)".into()))
    }

    /// Performs one read and folds what it saw into `k`.
    async fn read(&self, resource: &ResourceArn, k: &mut Knowledge, read: Read) -> Result<(), Error> {
        let aws = self.aws;
        match read {
            Read::List => {
                let arns = self.call("ListResources", aws.shares_holding(resource)).await?;
                let m = &mut k.memory;
                if m.writes == 0 {
                    m.before_write = Some(arns.clone());
                } else if let Some(before) = &m.before_write {
                    // Appeared after this run's write: RAM made it from the standard policy.
                    m.ours.extend(arns.difference(before).cloned());
                }
                k.shares = arns
                    .into_iter()
                    .map(|arn| Share {
                        arn,
                        state: None,
                        principals: None,
                        resources: None,
                    })
                    .collect();
                k.listed = true;
            }
            Read::Describe { shares, principals } => {
                let describe = self.call("GetResourceShares", aws.describe_shares(&shares));
                let (described, found) = if principals {
                    let (d, p) = tokio::join!(
                        describe,
                        self.call("GetResourceShareAssociations", aws.principals(&shares))
                    );
                    (d?, Some(p?))
                } else {
                    (describe.await?, None)
                };
                k.shares
                    .retain(|s| !shares.contains(&s.arn) || described.iter().any(|(a, _)| *a == s.arn));
                for s in k.shares.iter_mut() {
                    if let Some((_, st)) = described.iter().find(|(a, _)| *a == s.arn) {
                        s.state = Some(st.clone());
                    }
                    if let Some(p) = found.as_ref().and_then(|f| f.get(&s.arn)) {
                        s.principals = Some(p.clone());
                    }
                }
            }
            Read::Principals(shares) => {
                let found = self
                    .call("GetResourceShareAssociations", aws.principals(&shares))
                    .await?;
                for s in k.shares.iter_mut() {
                    if let Some(p) = found.get(&s.arn) {
                        s.principals = Some(p.clone());
                    }
                }
            }
            Read::Policy => {
                let (op, _) = resource.kind().policy_ops();
                let text = self.call(op, aws.get_policy(resource)).await?;
                k.policy = match text {
                    None => PolicyView::Absent,
                    Some(t) => match policy::compare(&t, resource, &self.config.principals.accounts) {
                        Ok(()) => PolicyView::Standard,
                        Err(why) => PolicyView::Other(why.to_string()),
                    },
                };
                if k.policy == PolicyView::Standard {
                    // RAM made the policy's CREATED_FROM_POLICY share from the standard: ours.
                    let unpromoted = k.shares.iter().filter(|s| {
                        s.state
                            .as_ref()
                            .is_some_and(|st| st.feature_set != aws_sdk_ram::types::ResourceShareFeatureSet::Standard)
                    });
                    let arns: Vec<String> = unpromoted.map(|s| s.arn.clone()).collect();
                    k.memory.ours.extend(arns);
                }
            }
            Read::Resources(share) => {
                let n = self.call("ListResources", aws.resources_in(&share)).await?;
                if let Some(s) = k.shares.iter_mut().find(|s| s.arn == share) {
                    s.resources = Some(n);
                }
            }
        }
        Ok(())
    }

    /// Performs one change and folds its result into `k`. Returns a pause to take before the
    /// next look when RAM needs a moment.
    async fn act(
        &self,
        resource: &ResourceArn,
        k: &mut Knowledge,
        act: Act,
        changes: &mut Vec<&'static str>,
        not_found: &mut u32,
    ) -> Result<Option<Duration>, Error> {
        let aws = self.aws;
        let r = resource.as_str();
        // Raised before each change: once the request is sent the resource may have changed even if
        // the answer never arrives, and a failed Create must then leave CloudFormation a way to undo it.
        let before = self.progress.changed.swap(true, Ordering::SeqCst);
        let pace = match act {
            Act::WritePolicy => {
                let (_, op) = resource.kind().policy_ops();
                let desired = policy::standard_policy(resource, &self.config.principals.accounts);
                info!(
                    resource = r,
                    step = "write-policy",
                    "writing the organization-standard policy"
                );
                match self.settled(op, self.try_call(op, aws.put_policy(resource, &desired)).await, before)? {
                    Ok(()) => {
                        k.memory.writes += 1;
                        k.listed = false;
                        // The policy is now the standard: a CREATED_FROM_POLICY share RAM shows
                        // for it next is made from it.
                        k.policy = PolicyView::Standard;
                        changes.push("policy-written");
                        None
                    }
                    Err(f)
                        if f.is("ResourceNotFoundException") && self.may_be_new && *not_found < NEW_RESOURCE_TRIES =>
                    {
                        self.progress.changed.store(before, Ordering::SeqCst);
                        *not_found += 1;
                        Some(Duration::from_millis(500))
                    }
                    Err(f) => {
                        if f.changed_nothing() {
                            // The service answered no: nothing was written, so a rollback has nothing to undo.
                            self.progress.changed.store(before, Ordering::SeqCst);
                        }
                        if f.is("ResourceNotFoundException") {
                            return Err(Error::NotFound {
                                kind: resource.kind(),
                                arn: r.to_string(),
                            });
                        }
                        return Err(Error::Aws(f));
                    }
                }
            }
            Act::Promote(share) => {
                info!(
                    resource = r,
                    step = "promote",
                    share = share.as_str(),
                    "promoting the share"
                );
                let op = "PromoteResourceShareCreatedFromPolicy";
                let answer = self.settled(op, self.try_call(op, aws.promote_share(&share)).await, before)?;
                let m = &mut k.memory;
                match answer {
                    Ok(accepted) => {
                        m.promotes.push(share.clone());
                        m.ours.insert(share.clone());
                        if let Some(s) = share_mut(k, &share) {
                            s.state = None;
                        }
                        if accepted {
                            changes.push("share-promoted");
                            None
                        } else {
                            // returnValue false: not refused, not done; look again after a moment.
                            Some(Duration::from_millis(250))
                        }
                    }
                    Err(f) if f.is("InvalidStateTransitionException") || f.is("OperationNotPermittedException") => {
                        // Promoted already (a concurrent run, or RAM on its own): read the state again.
                        m.promotes.push(share.clone());
                        if let Some(s) = share_mut(k, &share) {
                            s.state = None;
                        }
                        None
                    }
                    Err(f) if f.is("UnmatchedPolicyPermissionException") => {
                        m.unmatched += 1;
                        // Only a CREATED_FROM_POLICY share gets this answer: no need to look.
                        if let Some(s) = share_mut(k, &share)
                            && s.state.is_none()
                        {
                            s.state = Some(ShareState {
                                feature_set: aws_sdk_ram::types::ResourceShareFeatureSet::CreatedFromPolicy,
                                status: aws_sdk_ram::types::ResourceShareStatus::Active,
                                managed: false,
                                made_by: None,
                            });
                        }
                        let m = &k.memory;
                        // Once the permission exists RAM may need a moment before it matches.
                        m.permission_ready.then_some(Duration::from_millis(500))
                    }
                    Err(f) if f.is("UnknownResourceException") => {
                        // Not visible to RAM's mutations yet (read-after-write): look again.
                        k.listed = false;
                        Some(Duration::from_millis(250))
                    }
                    Err(f) => {
                        if f.changed_nothing() {
                            self.progress.changed.store(before, Ordering::SeqCst);
                        }
                        return Err(Error::Aws(f));
                    }
                }
            }
            Act::PromotePermission(share) => {
                self.promote_permission(resource, &share).await?;
                k.memory.permission_ready = true;
                changes.push("permission-promoted");
                None
            }
            Act::Tag { share, confirm } => {
                let tag = self.try_call("TagResource", aws.tag_share(&share, self.made_by));
                let tagged = if confirm {
                    let (tagged, described) = tokio::join!(
                        tag,
                        self.call("GetResourceShares", aws.describe_shares(std::slice::from_ref(&share)))
                    );
                    let described = described?;
                    if let Some(s) = share_mut(k, &share) {
                        s.state = described.into_iter().next().map(|(_, st)| st);
                    }
                    tagged?
                } else {
                    tag.await?
                };
                match tagged {
                    Ok(()) => {
                        if let Some(st) = share_mut(k, &share).and_then(|s| s.state.as_mut()) {
                            st.managed = true;
                            st.made_by = Some(self.made_by.to_string());
                        }
                        changes.push("share-tagged");
                    }
                    // RAM may refuse to tag a share still promoting (the confirming read can come
                    // back after the promotion finished): tag it again once it is STANDARD.
                    Err(f) if confirm && f.is_definite_refusal() => {
                        k.memory.tag_refused.insert(share.clone());
                    }
                    // A racing invocation may have deleted the share (two shares for one new
                    // resource converge on one): look at it again, and go on if it is gone.
                    Err(f) if f.is_definite_refusal() => {
                        let described = self
                            .call("GetResourceShares", aws.describe_shares(std::slice::from_ref(&share)))
                            .await?;
                        let state = described.into_iter().next().map(|(_, st)| st);
                        let gone = state.as_ref().is_none_or(|st| st.status == Status::Deleted);
                        if let Some(s) = share_mut(k, &share) {
                            s.state = state;
                        }
                        if !gone {
                            return Err(Error::Aws(f));
                        }
                        info!(
                            resource = r,
                            step = "tag",
                            share = share.as_str(),
                            "the share was deleted meanwhile; looking again"
                        );
                        k.listed = false;
                    }
                    Err(f) => return Err(Error::Aws(f)),
                }
                None
            }
            Act::Associate(share, principals) => {
                info!(
                    resource = r,
                    step = "associate",
                    share = share.as_str(),
                    ?principals,
                    "associating principals"
                );
                let mut parts = vec!["associate", share.as_str()];
                parts.extend(principals.iter().map(String::as_str));
                let token = client_token(&parts);
                self.call("AssociateResourceShare", aws.associate(&share, &principals, &token))
                    .await?;
                let known = k
                    .shares
                    .iter()
                    .find(|s| s.arn == share)
                    .and_then(|s| decide::known_principals(s, &k.memory, &self.config.principals))
                    .unwrap_or_default();
                if let Some(s) = share_mut(k, &share) {
                    s.principals = Some(known.into_iter().chain(principals).collect());
                }
                changes.push("principals-associated");
                None
            }
            Act::Disassociate(share, principals) => {
                info!(
                    resource = r,
                    step = "disassociate",
                    share = share.as_str(),
                    ?principals,
                    "removing principals outside the standard"
                );
                let mut parts = vec!["disassociate", share.as_str()];
                parts.extend(principals.iter().map(String::as_str));
                let token = client_token(&parts);
                self.call(
                    "DisassociateResourceShare",
                    aws.disassociate(&share, &principals, &[], &token),
                )
                .await?;
                if let Some(s) = share_mut(k, &share)
                    && let Some(p) = s.principals.as_mut()
                {
                    p.retain(|x| !principals.contains(x));
                }
                changes.push("principals-removed");
                None
            }
            Act::Delete(share) => {
                info!(
                    resource = r,
                    step = "unshare",
                    share = share.as_str(),
                    "deleting the share"
                );
                let token = client_token(&["delete", share.as_str()]);
                match self
                    .try_call("DeleteResourceShare", aws.delete_share(&share, &token))
                    .await?
                {
                    Ok(()) => {}
                    Err(f) if f.is("UnknownResourceException") => {}
                    Err(f) if f.is_definite_refusal() => {
                        return Err(Error::UnshareRefused {
                            arn: r.to_string(),
                            share,
                            failure: f,
                        });
                    }
                    Err(f) => return Err(Error::Aws(f)),
                }
                if let Some(st) = share_mut(k, &share).and_then(|s| s.state.as_mut()) {
                    st.status = aws_sdk_ram::types::ResourceShareStatus::Deleted;
                }
                changes.push("share-deleted");
                None
            }
            Act::RemoveResource(share) => {
                info!(
                    resource = r,
                    step = "unshare",
                    share = share.as_str(),
                    "taking the resource out of a share that holds more"
                );
                let token = client_token(&["remove", share.as_str(), r]);
                match self
                    .try_call(
                        "DisassociateResourceShare",
                        aws.disassociate(&share, &[], &[r.to_string()], &token),
                    )
                    .await?
                {
                    Ok(()) => {}
                    Err(f) if f.is_definite_refusal() => {
                        return Err(Error::UnshareRefused {
                            arn: r.to_string(),
                            share,
                            failure: f,
                        });
                    }
                    Err(f) => return Err(Error::Aws(f)),
                }
                k.shares.retain(|s| s.arn != share);
                changes.push("resource-removed");
                None
            }
        };
        Ok(pace)
    }

    /// Promotes the share's CREATED_FROM_POLICY permission under the type's name, once for all
    /// resources of that type (RAM allows only 10 customer-managed permissions per type).
    async fn promote_permission(&self, resource: &ResourceArn, share: &str) -> Result<(), Error> {
        let kind = resource.kind();
        let name = kind.permission_name(&self.config.permission_name);
        let permission = self
            .call(
                "ListResourceSharePermissions",
                self.aws.created_from_policy_permission(share),
            )
            .await?;
        let problem = match permission {
            None => format!(
                "RAM reports no managed permission matching the policy, but share {share} has no CREATED_FROM_POLICY permission to promote"
            ),
            Some(permission) => {
                let token = client_token(&["promote-permission", &name, &permission]);
                info!(
                    share,
                    step = "promote-permission",
                    permission = permission.as_str(),
                    name = name.as_str(),
                    "promoting the policy's permission"
                );
                match self
                    .try_call(
                        "PromotePermissionCreatedFromPolicy",
                        self.aws.promote_permission(&permission, &name, &token),
                    )
                    .await?
                {
                    Ok(()) => return Ok(()),
                    Err(f) => format!("could not be created: {f}"),
                }
            }
        };
        // Either way another invocation may have been first: it promoted the permission under this
        // name (for this resource or another), and perhaps this share too, which then has no
        // CREATED_FROM_POLICY permission left. The loop goes on from what RAM says next.
        if self
            .call("ListPermissions", self.aws.customer_permission_named(kind, &name))
            .await?
            .is_some()
        {
            info!(
                share,
                step = "promote-permission",
                name = name.as_str(),
                "permission already exists; reusing it"
            );
            Ok(())
        } else {
            Err(Error::Permission { name, problem })
        }
    }
}

/// What a cut-off call was waiting for, with the last answer AWS gave it (the SDK was retrying).
pub fn waiting_for(op: &str) -> String {
    match CallStats::current().and_then(|s| s.last_failure(op)) {
        Some(last) => format!("waiting for {op}, whose last answer was {last}"),
        None => format!("waiting for {op}, which had not answered"),
    }
}

fn share_mut<'a>(k: &'a mut Knowledge, arn: &str) -> Option<&'a mut Share> {
    k.shares.iter_mut().find(|s| s.arn == arn)
}

/// The error a decision's stop becomes.
fn stop_error(resource: &ResourceArn, permission_name: &str, stop: Stop) -> Error {
    let r = resource.as_str().to_string();
    let name = resource.kind().permission_name(permission_name);
    let error = match stop {
        Stop::ForeignShare { share, missing, extra } => Error::ForeignShare {
            arn: r,
            share,
            detail: decide::principals_detail(&missing, &extra),
        },
        Stop::PermissionMismatch => Error::Permission {
            name,
            problem: "exists but RAM still finds no permission matching the standard policy; it was probably made for \
                      other actions: delete it or set SHARE_PERMISSION_NAME to a new name"
                .into(),
        },
        Stop::ShareNeverAppeared => Error::ShareNotFound(r),
        Stop::PromotionStuck(share) => Error::ShareState {
            share,
            problem: "promotion was requested repeatedly but the share stays CREATED_FROM_POLICY".into(),
        },
        Stop::ShareFailed(share) => Error::ShareState {
            share,
            problem: "RAM reports status FAILED for the share made from the policy".into(),
        },
    };
    warn!(resource = resource.as_str(), step = "stop", error = %error, "cannot converge");
    error
}
