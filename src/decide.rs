//! The decision table: from what was observed of one resource and what this run has done so far,
//! the one next step. Pure. The loop in `converge` observes, asks, acts and observes again; report
//! mode asks the same question without acting, so a report and an apply never disagree.
//!
//! The rules, in the order they are tried (design section 4; a share is "live" when ACTIVE or
//! PENDING, and "ours" when RAM made it from the standard policy or this run promoted it):
//!
//! | what is known | next step |
//! | --- | --- |
//! | nothing listed yet | list the shares holding the resource |
//! | one share appeared after this run's write | promote it, unread (the floor: it can only be RAM's share of our policy) |
//! | a listed share is not described | describe it (with its principals, unless known by construction) |
//! | a share of ours is STANDARD but untagged | tag it `recipe-share:managed` (or delete it when it duplicates a managed one) |
//! | a STANDARD share holds it | judge by RAM: associate the missing principals, remove extra ones (managed shares only), else compliant |
//! | a share is PROMOTING_TO_STANDARD or PENDING | wait, then describe it again |
//! | a CREATED_FROM_POLICY share holds it | read the policy; not the standard: write it; else promote (the permission first if RAM asks) |
//! | no share holds it | write the standard policy (after a write: wait for RAM to show the share) |
//!
//! Unsharing deletes the managed shares that hold the resource (or removes it from one that holds
//! more), promotes a share of ours that RAM cannot delete yet, and leaves every other share alone.

use crate::config::Principals;
use aws_sdk_ram::types::{ResourceShareFeatureSet as FeatureSet, ResourceShareStatus as Status};
use std::collections::BTreeSet;

/// Tag every share the standard made carries (design section 9).
pub const MANAGED_TAG: &str = "recipe-share:managed";
/// Who made the share: `cloudformation:<stack>/<logical id>`, `eventbridge` or `sweep`.
pub const MADE_BY_TAG: &str = "recipe-share:made-by";
/// A resource with this tag (any value) is out of scope.
pub const EXCLUDE_TAG: &str = "recipe-share:exclude";

/// Answers from RAM's promotion that ask for the customer permission before they are final.
pub const MAX_UNMATCHED: u32 = 6;
/// Writes of the standard policy in one run: a second one only when RAM lost the share it made.
pub const MAX_WRITES: u32 = 2;
/// Promotion requests for one share in one run.
pub const MAX_PROMOTES: u32 = 4;

/// What the run is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Goal {
    /// Shared by the organization standard (Create, Update, EventBridge, sweep apply).
    Share,
    /// Held by no share the standard made (Delete, an excluded or deleted-on-request resource, a
    /// rollback). `made_by`: only shares made by that entry point (a rollback Update undoes only
    /// what its failed Update made).
    Unshare { made_by: Option<String> },
}

/// What is known about one share that holds the resource.
#[derive(Debug, Clone, PartialEq)]
pub struct Share {
    pub arn: String,
    /// From `GetResourceShares`; `None` when located but not described (again) yet.
    pub state: Option<ShareState>,
    /// Live principal associations; `None` when not read.
    pub principals: Option<BTreeSet<String>>,
    /// How many resources it holds; `None` when not read (only unsharing needs it).
    pub resources: Option<usize>,
}

/// A share as `GetResourceShares` describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct ShareState {
    pub feature_set: FeatureSet,
    pub status: Status,
    /// Tagged `recipe-share:managed` = `true`.
    pub managed: bool,
    pub made_by: Option<String>,
}

/// The resource policy: read only while no STANDARD share holds the resource (RAM's afterwards).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum PolicyView {
    #[default]
    NotRead,
    Absent,
    Standard,
    /// Not the standard, with why.
    Other(String),
}

/// What this run has done, which the observation alone cannot tell.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Memory {
    /// Shares listed before the first write, so a share that appears later is known to be RAM's
    /// share of this run's policy.
    pub before_write: Option<BTreeSet<String>>,
    /// How often the standard policy was written.
    pub writes: u32,
    /// Shares RAM made from the standard policy (this run's write, or a standard policy found in
    /// place) or that this run promoted: the function's own even before they carry the tag.
    pub ours: BTreeSet<String>,
    /// Promotion requests per share (accepted or answered with a state error).
    pub promotes: Vec<String>,
    /// `UnmatchedPolicyPermissionException` answers: RAM wants the customer permission first.
    pub unmatched: u32,
    /// The customer permission exists (promoted by this run, or found by name).
    pub permission_ready: bool,
    /// Shares RAM refused to tag while they were still promoting.
    pub tag_refused: BTreeSet<String>,
}

impl Memory {
    fn promotes_of(&self, share: &str) -> u32 {
        self.promotes.iter().filter(|s| *s == share).count() as u32
    }
}

/// Everything the next decision is made from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Knowledge {
    /// True once `ListResources` has been read since the last change that can add or remove a share.
    pub listed: bool,
    pub shares: Vec<Share>,
    pub policy: PolicyView,
    pub memory: Memory,
}

/// A read the decision needs before it can go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read {
    /// `ListResources` (resourceOwner SELF) for the resource: which shares hold it.
    List,
    /// `GetResourceShares` for these shares, with `GetResourceShareAssociations` alongside when
    /// `principals` (the same round trip).
    Describe { shares: Vec<String>, principals: bool },
    /// `GetResourceShareAssociations` (PRINCIPAL) for these shares.
    Principals(Vec<String>),
    /// `Get*Policy` of the resource.
    Policy,
    /// `ListResources` of one share: does it hold other resources too?
    Resources(String),
}

/// A change to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Act {
    /// `Put*Policy` with the standard policy.
    WritePolicy,
    /// `PromoteResourceShareCreatedFromPolicy`.
    Promote(String),
    /// `PromotePermissionCreatedFromPolicy` of the share's CREATED_FROM_POLICY permission, once
    /// for all resources of the type (RAM allows 10 customer permissions per type).
    PromotePermission(String),
    /// `TagResource` with the managed tags; `confirm`: describe the share in the same round trip.
    Tag { share: String, confirm: bool },
    /// `AssociateResourceShare` with these principals.
    Associate(String, Vec<String>),
    /// `DisassociateResourceShare` of these principals.
    Disassociate(String, Vec<String>),
    /// `DeleteResourceShare`.
    Delete(String),
    /// `DisassociateResourceShare` of the resource from a managed share that holds more.
    RemoveResource(String),
}

/// How a run ended well.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Shared by the standard through this STANDARD share.
    Compliant { share: String },
    /// No share the standard made holds it; the shares left alone, with why.
    Unshared { left: Vec<(String, &'static str)> },
}

/// Why a run cannot reach its goal by acting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// A STANDARD share someone else built holds the resource with other principals.
    ForeignShare {
        share: String,
        missing: Vec<String>,
        extra: Vec<String>,
    },
    /// RAM keeps answering that no managed permission matches, even after promoting ours.
    PermissionMismatch,
    /// RAM never showed a share after the policy was written twice.
    ShareNeverAppeared,
    /// Promotion was requested again and again without the share leaving CREATED_FROM_POLICY.
    PromotionStuck(String),
    /// The only share RAM made from the policy failed.
    ShareFailed(String),
}

/// The next step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Read(Read),
    Act(Act),
    /// RAM has not reached a state yet: pause, then read.
    Wait {
        why: &'static str,
        then: Read,
    },
    Done(Verdict),
    Stop(Stop),
}

fn live(s: &Share) -> bool {
    s.state
        .as_ref()
        .is_some_and(|st| matches!(st.status, Status::Active | Status::Pending))
}

fn has(s: &Share, fs: &FeatureSet) -> bool {
    live(s) && s.state.as_ref().is_some_and(|st| &st.feature_set == fs)
}

fn managed(s: &Share) -> bool {
    s.state.as_ref().is_some_and(|st| st.managed)
}

fn pending(s: &Share) -> bool {
    s.state.as_ref().is_some_and(|st| st.status == Status::Pending)
}

/// The principals of a share: as read, or, for a share RAM made from the standard policy, the
/// standard's accounts (RAM creates that share with the policy's principals; the next run's
/// observation verifies it).
pub fn known_principals(s: &Share, m: &Memory, std: &Principals) -> Option<BTreeSet<String>> {
    s.principals
        .clone()
        .or_else(|| m.ours.contains(&s.arn).then(|| std.accounts.clone()))
}

/// The next step towards `goal`.
pub fn decide(goal: &Goal, k: &Knowledge, std: &Principals) -> Step {
    if !k.listed {
        return Step::Read(Read::List);
    }
    match goal {
        Goal::Share => share(k, std),
        Goal::Unshare { made_by } => unshare(k, made_by.as_deref()),
    }
}

fn share(k: &Knowledge, std: &Principals) -> Step {
    let m = &k.memory;
    // The floor: right after this run's write, the one share RAM shows can only be the one it
    // made from that policy. Promoting it unread saves a round trip; a state error answers if not.
    if let [only] = &k.shares[..]
        && only.state.is_none()
        && m.ours.contains(&only.arn)
        && m.promotes_of(&only.arn) == 0
        && m.unmatched == 0
    {
        return Step::Act(Act::Promote(only.arn.clone()));
    }
    let unknown: Vec<String> = k
        .shares
        .iter()
        .filter(|s| s.state.is_none())
        .map(|s| s.arn.clone())
        .collect();
    if !unknown.is_empty() {
        // A share this run just promoted is tagged in the same round trip that confirms it, when it
        // is the only share (beside another, it may be a duplicate to delete instead).
        if let [one] = &unknown[..]
            && k.shares.iter().filter(|s| live(s) || s.state.is_none()).count() == 1
            && m.promotes_of(one) > 0
            && !m.tag_refused.contains(one)
        {
            return Step::Act(Act::Tag {
                share: one.clone(),
                confirm: true,
            });
        }
        let principals = unknown.iter().any(|a| !m.ours.contains(a));
        return Step::Read(Read::Describe {
            shares: unknown,
            principals,
        });
    }
    let standard: Vec<&Share> = k.shares.iter().filter(|s| has(s, &FeatureSet::Standard)).collect();
    let promoting: Vec<&Share> = k
        .shares
        .iter()
        .filter(|s| has(s, &FeatureSet::PromotingToStandard) || (pending(s) && !has(s, &FeatureSet::Standard)))
        .collect();
    let from_policy: Vec<&Share> = k
        .shares
        .iter()
        .filter(|s| has(s, &FeatureSet::CreatedFromPolicy) && !pending(s))
        .collect();

    // Two racing invocations that both found no share both write, and RAM makes a share for each:
    // the standard's shares (tagged, or made by RAM from the standard policy) then converge on one,
    // the same one whoever looks: a tagged one first, then the smallest ARN. The others are
    // promoted (RAM deletes only STANDARD shares) and deleted.
    let standards: Vec<&Share> = k
        .shares
        .iter()
        .filter(|s| live(s) && (managed(s) || m.ours.contains(&s.arn)))
        .collect();
    if let Some(keep) = standards.iter().min_by_key(|s| (!managed(s), s.arn.as_str())) {
        if let Some(s) = standards.iter().find(|s| s.arn != keep.arn) {
            if has(s, &FeatureSet::Standard) {
                return Step::Act(Act::Delete(s.arn.clone()));
            }
            if has(s, &FeatureSet::CreatedFromPolicy) && !pending(s) {
                return promote(s, m);
            }
            return wait_for(s, "a duplicate share to finish promoting");
        }
        // The one share of ours reached STANDARD: it gets its tag.
        if has(keep, &FeatureSet::Standard) && !managed(keep) {
            return Step::Act(Act::Tag {
                share: keep.arn.clone(),
                confirm: false,
            });
        }
    }
    // RAM is the truth once a STANDARD share holds the resource: judge it by that share.
    let judged = standard
        .iter()
        .find(|s| managed(s))
        .or_else(|| standard.first())
        .copied();
    if let Some(s) = judged {
        let Some(present) = known_principals(s, m, std) else {
            return Step::Read(Read::Principals(vec![s.arn.clone()]));
        };
        let wanted = std.all();
        let missing: Vec<String> = wanted.difference(&present).cloned().collect();
        let extra: Vec<String> = present.difference(&wanted).cloned().collect();
        if managed(s) {
            if !missing.is_empty() {
                return Step::Act(Act::Associate(s.arn.clone(), missing));
            }
            if !extra.is_empty() {
                return Step::Act(Act::Disassociate(s.arn.clone(), extra));
            }
        } else if !missing.is_empty() || !extra.is_empty() {
            return Step::Stop(Stop::ForeignShare {
                share: s.arn.clone(),
                missing,
                extra,
            });
        }
        return Step::Done(Verdict::Compliant { share: s.arn.clone() });
    }
    if let Some(p) = promoting.first() {
        return wait_for(p, "the share to become STANDARD");
    }
    if let Some(c) = from_policy.first() {
        if !m.ours.contains(&c.arn) {
            // Nothing broader than the standard is ever promoted: the policy is checked first.
            return match &k.policy {
                PolicyView::NotRead => Step::Read(Read::Policy),
                PolicyView::Standard => promote(c, m),
                PolicyView::Absent | PolicyView::Other(_) if m.writes < MAX_WRITES => Step::Act(Act::WritePolicy),
                PolicyView::Absent | PolicyView::Other(_) => Step::Stop(Stop::PromotionStuck(c.arn.clone())),
            };
        }
        return promote(c, m);
    }
    if let Some(failed) = k
        .shares
        .iter()
        .find(|s| m.ours.contains(&s.arn) && s.state.as_ref().is_some_and(|st| st.status == Status::Failed))
    {
        return Step::Stop(Stop::ShareFailed(failed.arn.clone()));
    }
    // No share holds the resource.
    if m.writes == 0 {
        return Step::Act(Act::WritePolicy);
    }
    Step::Wait {
        why: "RAM to show the share made from the policy",
        then: Read::List,
    }
}

fn promote(c: &Share, m: &Memory) -> Step {
    if m.unmatched > 0 && !m.permission_ready {
        return Step::Act(Act::PromotePermission(c.arn.clone()));
    }
    if m.unmatched > MAX_UNMATCHED {
        return Step::Stop(Stop::PermissionMismatch);
    }
    if m.promotes_of(&c.arn) >= MAX_PROMOTES {
        return Step::Stop(Stop::PromotionStuck(c.arn.clone()));
    }
    Step::Act(Act::Promote(c.arn.clone()))
}

fn wait_for(s: &Share, why: &'static str) -> Step {
    Step::Wait {
        why,
        then: Read::Describe {
            shares: vec![s.arn.clone()],
            principals: false,
        },
    }
}

fn unshare(k: &Knowledge, made_by: Option<&str>) -> Step {
    let m = &k.memory;
    let unknown: Vec<String> = k
        .shares
        .iter()
        .filter(|s| s.state.is_none())
        .map(|s| s.arn.clone())
        .collect();
    if !unknown.is_empty() {
        return Step::Read(Read::Describe {
            shares: unknown,
            principals: false,
        });
    }
    let standard_holds = k.shares.iter().any(|s| has(s, &FeatureSet::Standard));
    let mut left = Vec::new();
    for s in k.shares.iter().filter(|s| live(s)) {
        let Some(st) = &s.state else { continue };
        let in_scope = match (made_by, &st.made_by) {
            (None, _) => true,
            (Some(want), Some(got)) => want == got,
            (Some(_), None) => false,
        };
        let ours = m.ours.contains(&s.arn);
        match st.feature_set {
            FeatureSet::Standard if (st.managed && in_scope) || ours => {
                return match s.resources {
                    None => Step::Read(Read::Resources(s.arn.clone())),
                    Some(n) if n <= 1 => Step::Act(Act::Delete(s.arn.clone())),
                    Some(_) => Step::Act(Act::RemoveResource(s.arn.clone())),
                };
            }
            FeatureSet::Standard if st.managed => {
                left.push((s.arn.clone(), "made by another entry point, left as found"))
            }
            FeatureSet::Standard => left.push((s.arn.clone(), "not made by recipe-share")),
            // Its origin can be told only from the policy, which is ours while no STANDARD share holds it.
            FeatureSet::CreatedFromPolicy | FeatureSet::PromotingToStandard
                if !ours && !standard_holds && k.policy == PolicyView::NotRead =>
            {
                return Step::Read(Read::Policy);
            }
            FeatureSet::CreatedFromPolicy | FeatureSet::PromotingToStandard if !ours => {
                left.push((s.arn.clone(), "made from a policy that is not the standard"));
            }
            // RAM cannot delete a CREATED_FROM_POLICY share: promoted, it can be.
            FeatureSet::CreatedFromPolicy => return promote(s, m),
            FeatureSet::PromotingToStandard => {
                return wait_for(s, "the share to finish promoting before it is deleted");
            }
            _ => left.push((s.arn.clone(), "in a state recipe-share does not know")),
        }
    }
    Step::Done(Verdict::Unshared { left })
}

/// How a resource stands against the standard, as report mode says it (design section 10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    Compliant,
    MissingPolicy,
    PolicyDrift(String),
    ShareMissing,
    ShareNotPromoted(String),
    PrincipalsMissing(String),
    PrincipalsExtra(String),
    /// Out of scope; the detail says whether a share the standard made still holds it.
    Excluded(String),
    /// Shared, but some of its own components or its parent image are not: the ARNs, with why.
    DependenciesUnshared(String),
    Failed(String),
}

impl Finding {
    /// The status name of the sweep's report.
    pub fn status(&self) -> &'static str {
        match self {
            Finding::Compliant => "compliant",
            Finding::MissingPolicy => "missing-policy",
            Finding::PolicyDrift(_) => "policy-drift",
            Finding::ShareMissing => "share-missing",
            Finding::ShareNotPromoted(_) => "share-not-promoted",
            Finding::PrincipalsMissing(_) => "principals-missing",
            Finding::PrincipalsExtra(_) => "principals-extra",
            Finding::Excluded(_) => "excluded",
            Finding::DependenciesUnshared(_) => "dependencies-unshared",
            Finding::Failed(_) => "failed",
        }
    }

    /// What differs, for a person.
    pub fn detail(&self) -> String {
        match self {
            Finding::Compliant => "shared by the organization standard".into(),
            Finding::MissingPolicy => "it has no resource policy and no RAM share holds it".into(),
            Finding::ShareMissing => "the policy is the standard but no RAM share holds it".into(),
            Finding::PolicyDrift(d)
            | Finding::ShareNotPromoted(d)
            | Finding::PrincipalsMissing(d)
            | Finding::PrincipalsExtra(d)
            | Finding::Excluded(d)
            | Finding::Failed(d) => d.clone(),
            Finding::DependenciesUnshared(d) => format!("not shared by the standard: {d}"),
        }
    }
}

/// `missing: …; outside the standard: …`, for findings and errors.
pub fn principals_detail(missing: &[String], extra: &[String]) -> String {
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!("not associated: {}", missing.join(", ")));
    }
    if !extra.is_empty() {
        parts.push(format!("outside the standard: {}", extra.join(", ")));
    }
    parts.join("; ")
}

/// Pure: the finding for the first step that is not a read (report mode never acts). For a write
/// the policy must have been read: it tells a missing policy from a drifted one.
pub fn finding(goal: &Goal, k: &Knowledge, step: &Step) -> Finding {
    if let Goal::Unshare { .. } = goal {
        return Finding::Excluded(match step {
            Step::Done(_) => "no share made by the standard holds it".into(),
            Step::Stop(s) => format!("{s:?}"),
            _ => "a share made by the standard still holds it; apply mode unshares it".into(),
        });
    }
    match step {
        Step::Done(_) => Finding::Compliant,
        Step::Act(Act::WritePolicy) => match &k.policy {
            PolicyView::Other(why) => Finding::PolicyDrift(why.clone()),
            PolicyView::Standard => Finding::ShareMissing,
            PolicyView::Absent | PolicyView::NotRead => Finding::MissingPolicy,
        },
        Step::Act(Act::Promote(s) | Act::PromotePermission(s)) => Finding::ShareNotPromoted(format!(
            "share {s} is CREATED_FROM_POLICY: consumers cannot list the resource"
        )),
        Step::Wait { .. } => Finding::ShareNotPromoted("a share holding it is still promoting".into()),
        Step::Act(Act::Associate(s, missing)) => {
            Finding::PrincipalsMissing(format!("share {s}: {}", principals_detail(missing, &[])))
        }
        Step::Act(Act::Disassociate(s, extra)) => {
            Finding::PrincipalsExtra(format!("share {s}: {}", principals_detail(&[], extra)))
        }
        Step::Stop(Stop::ForeignShare { share, missing, extra }) => {
            let detail = format!(
                "share {share}, which recipe-share did not make and never modifies: {}",
                principals_detail(missing, extra)
            );
            if missing.is_empty() {
                Finding::PrincipalsExtra(detail)
            } else {
                Finding::PrincipalsMissing(detail)
            }
        }
        Step::Stop(s) => Finding::Failed(format!("{s:?}")),
        Step::Act(a) => Finding::Failed(format!("unexpected change {a:?} in a fresh look")),
        Step::Read(_) => Finding::Failed("the look did not finish".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A1: &str = "111111111111";
    const A2: &str = "222222222222";
    const ORG: &str = "arn:aws:organizations::111111111111:organization/o-abcdefghij";

    fn std_accounts() -> Principals {
        Principals {
            accounts: [A1.to_string(), A2.to_string()].into(),
            organizations: BTreeSet::new(),
        }
    }

    fn std_with_org() -> Principals {
        Principals {
            organizations: [ORG.to_string()].into(),
            ..std_accounts()
        }
    }

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn share(arn: &str, fs: FeatureSet, status: Status, managed: bool, principals: Option<&[&str]>) -> Share {
        Share {
            arn: arn.into(),
            state: Some(ShareState {
                feature_set: fs,
                status,
                managed,
                made_by: managed.then(|| "eventbridge".to_string()),
            }),
            principals: principals.map(set),
            resources: None,
        }
    }

    fn std_share(arn: &str, managed: bool, principals: &[&str]) -> Share {
        share(arn, FeatureSet::Standard, Status::Active, managed, Some(principals))
    }

    fn listed(shares: Vec<Share>) -> Knowledge {
        Knowledge {
            listed: true,
            shares,
            ..Knowledge::default()
        }
    }

    fn undescribed(arn: &str) -> Share {
        Share {
            arn: arn.into(),
            state: None,
            principals: None,
            resources: None,
        }
    }

    fn act(a: Act) -> Step {
        Step::Act(a)
    }

    fn with_memory(mut k: Knowledge, f: impl FnOnce(&mut Memory)) -> Knowledge {
        f(&mut k.memory);
        k
    }

    fn with_policy(mut k: Knowledge, p: PolicyView) -> Knowledge {
        k.policy = p;
        k
    }

    #[test]
    fn share_table() {
        use FeatureSet::*;
        let cfp = |arn| share(arn, CreatedFromPolicy, Status::Active, false, None);
        let ours = |k: Knowledge, arn: &str| {
            with_memory(k, |m| {
                m.ours.insert(arn.into());
                m.writes = 1;
            })
        };
        let cases: Vec<(&str, Knowledge, Principals, Step)> = vec![
            (
                "nothing known",
                Knowledge::default(),
                std_accounts(),
                Step::Read(Read::List),
            ),
            ("no share: write", listed(vec![]), std_accounts(), act(Act::WritePolicy)),
            (
                "no share after a write: wait for RAM",
                with_memory(listed(vec![]), |m| m.writes = 1),
                std_accounts(),
                Step::Wait {
                    why: "RAM to show the share made from the policy",
                    then: Read::List,
                },
            ),
            (
                "the share RAM made from our write: promote it unread",
                ours(listed(vec![undescribed("s")]), "s"),
                std_accounts(),
                act(Act::Promote("s".into())),
            ),
            (
                "just promoted: tag it while confirming",
                with_memory(ours(listed(vec![undescribed("s")]), "s"), |m| {
                    m.promotes.push("s".into())
                }),
                std_accounts(),
                act(Act::Tag {
                    share: "s".into(),
                    confirm: true,
                }),
            ),
            (
                "just promoted a stray beside another share: confirm first, no tag yet",
                with_memory(
                    ours(listed(vec![std_share("s", false, &[A1, A2]), undescribed("t")]), "t"),
                    |m| m.promotes.push("t".into()),
                ),
                std_accounts(),
                Step::Read(Read::Describe {
                    shares: vec!["t".into()],
                    principals: false,
                }),
            ),
            (
                "tag refused while promoting: only confirm",
                with_memory(ours(listed(vec![undescribed("s")]), "s"), |m| {
                    m.promotes.push("s".into());
                    m.tag_refused.insert("s".into());
                }),
                std_accounts(),
                Step::Read(Read::Describe {
                    shares: vec!["s".into()],
                    principals: false,
                }),
            ),
            (
                "a share someone else listed: describe it with its principals",
                listed(vec![undescribed("s")]),
                std_accounts(),
                Step::Read(Read::Describe {
                    shares: vec!["s".into()],
                    principals: true,
                }),
            ),
            (
                "compliant: managed STANDARD share with exactly the standard",
                listed(vec![std_share("s", true, &[A1, A2])]),
                std_accounts(),
                Step::Done(Verdict::Compliant { share: "s".into() }),
            ),
            (
                "compliant: a share someone else built with exactly the standard",
                listed(vec![std_share("s", false, &[A2, A1])]),
                std_accounts(),
                Step::Done(Verdict::Compliant { share: "s".into() }),
            ),
            (
                "principals unread on a STANDARD share: read them",
                listed(vec![share("s", Standard, Status::Active, true, None)]),
                std_accounts(),
                Step::Read(Read::Principals(vec!["s".into()])),
            ),
            (
                "the organization is missing: associate only it",
                listed(vec![std_share("s", true, &[A1, A2])]),
                std_with_org(),
                act(Act::Associate("s".into(), vec![ORG.into()])),
            ),
            (
                "an extra account on a managed share: remove it",
                listed(vec![std_share("s", true, &[A1, A2, "999999999999"])]),
                std_accounts(),
                act(Act::Disassociate("s".into(), vec!["999999999999".into()])),
            ),
            (
                "a foreign share with other principals: never touched",
                listed(vec![std_share("s", false, &[A1])]),
                std_accounts(),
                Step::Stop(Stop::ForeignShare {
                    share: "s".into(),
                    missing: vec![A2.into()],
                    extra: vec![],
                }),
            ),
            (
                "promotion finished between two reads: tag ours",
                ours(listed(vec![share("s", Standard, Status::Active, false, None)]), "s"),
                std_accounts(),
                act(Act::Tag {
                    share: "s".into(),
                    confirm: false,
                }),
            ),
            (
                "ours and tagged, principals by construction: compliant without reading them",
                ours(listed(vec![share("s", Standard, Status::Active, true, None)]), "s"),
                std_accounts(),
                Step::Done(Verdict::Compliant { share: "s".into() }),
            ),
            (
                "ours, tagged, organization configured: associate it",
                ours(listed(vec![share("s", Standard, Status::Active, true, None)]), "s"),
                std_with_org(),
                act(Act::Associate("s".into(), vec![ORG.into()])),
            ),
            (
                "promoting: wait, then describe it",
                listed(vec![share("s", PromotingToStandard, Status::Active, false, None)]),
                std_accounts(),
                Step::Wait {
                    why: "the share to become STANDARD",
                    then: Read::Describe {
                        shares: vec!["s".into()],
                        principals: false,
                    },
                },
            ),
            (
                "a PENDING share: wait for it",
                listed(vec![share("s", CreatedFromPolicy, Status::Pending, false, None)]),
                std_accounts(),
                Step::Wait {
                    why: "the share to become STANDARD",
                    then: Read::Describe {
                        shares: vec!["s".into()],
                        principals: false,
                    },
                },
            ),
            (
                "a CREATED_FROM_POLICY share found: read the policy first",
                listed(vec![cfp("s")]),
                std_accounts(),
                Step::Read(Read::Policy),
            ),
            (
                "policy-drift: write the standard before anything is promoted",
                with_policy(listed(vec![cfp("s")]), PolicyView::Other("the actions differ".into())),
                std_accounts(),
                act(Act::WritePolicy),
            ),
            (
                "share-not-promoted: the standard policy is in place, promote",
                with_policy(listed(vec![cfp("s")]), PolicyView::Standard),
                std_accounts(),
                act(Act::Promote("s".into())),
            ),
            (
                "RAM wants the permission first",
                with_memory(ours(listed(vec![cfp("s")]), "s"), |m| {
                    m.unmatched = 1;
                    m.promotes.push("s".into());
                }),
                std_accounts(),
                act(Act::PromotePermission("s".into())),
            ),
            (
                "the permission exists: promote again",
                with_memory(ours(listed(vec![cfp("s")]), "s"), |m| {
                    m.unmatched = 1;
                    m.permission_ready = true;
                    m.promotes.push("s".into());
                }),
                std_accounts(),
                act(Act::Promote("s".into())),
            ),
            (
                "RAM never matches the permission: stop",
                with_memory(ours(listed(vec![cfp("s")]), "s"), |m| {
                    m.unmatched = MAX_UNMATCHED + 1;
                    m.permission_ready = true;
                }),
                std_accounts(),
                Step::Stop(Stop::PermissionMismatch),
            ),
            (
                "returnValue false again and again: stop",
                with_memory(ours(listed(vec![cfp("s")]), "s"), |m| {
                    m.promotes = vec!["s".into(); MAX_PROMOTES as usize]
                }),
                std_accounts(),
                Step::Stop(Stop::PromotionStuck("s".into())),
            ),
            (
                "a DELETED share still listed counts for nothing",
                listed(vec![share("d", Standard, Status::Deleted, true, Some(&[A1, A2]))]),
                std_accounts(),
                act(Act::WritePolicy),
            ),
            (
                "a share of ours that FAILED: stop",
                ours(
                    listed(vec![share("f", CreatedFromPolicy, Status::Failed, false, None)]),
                    "f",
                ),
                std_accounts(),
                Step::Stop(Stop::ShareFailed("f".into())),
            ),
            (
                "a racing write made a second share: promote the stray",
                ours(listed(vec![std_share("s", true, &[A1, A2]), cfp("t")]), "t"),
                std_accounts(),
                act(Act::Promote("t".into())),
            ),
            (
                "the stray is STANDARD now: delete the duplicate",
                ours(
                    listed(vec![
                        std_share("s", true, &[A1, A2]),
                        share("t", Standard, Status::Active, false, None),
                    ]),
                    "t",
                ),
                std_accounts(),
                act(Act::Delete("t".into())),
            ),
            (
                "two of the standard's shares: the tagged one stays, the other goes",
                ours(
                    listed(vec![
                        share("a", Standard, Status::Active, false, None),
                        std_share("z", true, &[A1, A2]),
                    ]),
                    "a",
                ),
                std_accounts(),
                act(Act::Delete("a".into())),
            ),
            (
                "two untagged: the smallest ARN stays, whoever looks",
                ours(
                    with_memory(
                        listed(vec![
                            share("b", Standard, Status::Active, false, None),
                            share("a", Standard, Status::Active, false, None),
                        ]),
                        |m| {
                            m.ours.insert("b".into());
                        },
                    ),
                    "a",
                ),
                std_accounts(),
                act(Act::Delete("b".into())),
            ),
            (
                "the duplicate is still promoting: wait for it before finishing",
                ours(
                    listed(vec![
                        std_share("a", true, &[A1, A2]),
                        share("b", PromotingToStandard, Status::Active, false, None),
                    ]),
                    "b",
                ),
                std_accounts(),
                Step::Wait {
                    why: "a duplicate share to finish promoting",
                    then: Read::Describe {
                        shares: vec!["b".into()],
                        principals: false,
                    },
                },
            ),
            (
                "a CREATED_FROM_POLICY share of unknown origin beside a STANDARD one: left alone",
                listed(vec![std_share("s", true, &[A1, A2]), cfp("t")]),
                std_accounts(),
                Step::Done(Verdict::Compliant { share: "s".into() }),
            ),
        ];
        for (what, k, std, want) in cases {
            assert_eq!(decide(&Goal::Share, &k, &std), want, "{what}");
        }
    }

    #[test]
    fn unshare_table() {
        use FeatureSet::*;
        let all = Goal::Unshare { made_by: None };
        let only_eb = Goal::Unshare {
            made_by: Some("eventbridge".into()),
        };
        let only_stack = Goal::Unshare {
            made_by: Some("cloudformation:s/R".into()),
        };
        let counted = |mut s: Share, n| {
            s.resources = Some(n);
            s
        };
        let cases: Vec<(&str, &Goal, Knowledge, Step)> = vec![
            ("nothing known", &all, Knowledge::default(), Step::Read(Read::List)),
            (
                "no share: done",
                &all,
                listed(vec![]),
                Step::Done(Verdict::Unshared { left: vec![] }),
            ),
            (
                "describe first",
                &all,
                listed(vec![undescribed("s")]),
                Step::Read(Read::Describe {
                    shares: vec!["s".into()],
                    principals: false,
                }),
            ),
            (
                "a managed share: count what it holds",
                &all,
                listed(vec![std_share("s", true, &[A1])]),
                Step::Read(Read::Resources("s".into())),
            ),
            (
                "it holds only this: delete it",
                &all,
                listed(vec![counted(std_share("s", true, &[A1]), 1)]),
                act(Act::Delete("s".into())),
            ),
            (
                "it holds more: take the resource out",
                &all,
                listed(vec![counted(std_share("s", true, &[A1]), 3)]),
                act(Act::RemoveResource("s".into())),
            ),
            (
                "someone else's share: left alone and named",
                &all,
                listed(vec![std_share("s", false, &[A1])]),
                Step::Done(Verdict::Unshared {
                    left: vec![("s".into(), "not made by recipe-share")],
                }),
            ),
            (
                "made by another entry point: a rollback leaves it",
                &only_stack,
                listed(vec![std_share("s", true, &[A1])]),
                Step::Done(Verdict::Unshared {
                    left: vec![("s".into(), "made by another entry point, left as found")],
                }),
            ),
            (
                "made by this entry point: removed",
                &only_eb,
                listed(vec![counted(std_share("s", true, &[A1]), 1)]),
                act(Act::Delete("s".into())),
            ),
            (
                "a CREATED_FROM_POLICY share: is it ours? read the policy",
                &all,
                listed(vec![share("c", CreatedFromPolicy, Status::Active, false, None)]),
                Step::Read(Read::Policy),
            ),
            (
                "ours (standard policy): promote it so RAM can delete it",
                &all,
                with_memory(
                    listed(vec![share("c", CreatedFromPolicy, Status::Active, false, None)]),
                    |m| {
                        m.ours.insert("c".into());
                    },
                ),
                act(Act::Promote("c".into())),
            ),
            (
                "not ours: left alone",
                &all,
                with_policy(
                    listed(vec![share("c", CreatedFromPolicy, Status::Active, false, None)]),
                    PolicyView::Other("x".into()),
                ),
                Step::Done(Verdict::Unshared {
                    left: vec![("c".into(), "made from a policy that is not the standard")],
                }),
            ),
            (
                "ours and promoting: wait",
                &all,
                with_memory(
                    listed(vec![share("c", PromotingToStandard, Status::Active, false, None)]),
                    |m| {
                        m.ours.insert("c".into());
                    },
                ),
                Step::Wait {
                    why: "the share to finish promoting before it is deleted",
                    then: Read::Describe {
                        shares: vec!["c".into()],
                        principals: false,
                    },
                },
            ),
            (
                "ours, promoted, untagged: delete it",
                &all,
                with_memory(
                    listed(vec![counted(share("c", Standard, Status::Active, false, None), 1)]),
                    |m| {
                        m.ours.insert("c".into());
                    },
                ),
                act(Act::Delete("c".into())),
            ),
            (
                "deleted shares still listed are done",
                &all,
                listed(vec![share("d", Standard, Status::Deleted, true, None)]),
                Step::Done(Verdict::Unshared { left: vec![] }),
            ),
        ];
        for (what, goal, k, want) in cases {
            assert_eq!(decide(goal, &k, &std_accounts()), want, "{what}");
        }
    }
}
