//! What every entry point does with one resource: check that the standard covers it, then
//! converge it to its goal (shared, or unshared) with the observe/decide/act loop.

use crate::arn::ResourceArn;
use crate::converge::{Ctx, Mode, NEW_RESOURCE_TRIES, Ran};
use crate::deadline::{backoff, pause};
use crate::decide::{EXCLUDE_TAG, Finding, Goal, Knowledge, Verdict};
use crate::error::Error;
use crate::scope::Facts;
use std::time::Duration;

/// A resource shared by the standard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shared {
    pub resource: String,
    /// The STANDARD share that holds it.
    pub share_arn: String,
    /// What this run changed, in order; empty when it was already shared (a no-op re-run).
    pub changes: Vec<&'static str>,
}

/// A resource no share of the standard holds any more.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unshared {
    pub resource: String,
    pub changes: Vec<&'static str>,
    /// Shares left alone, with why.
    pub left: Vec<(String, &'static str)>,
}

fn excluded(resource: &ResourceArn, facts: &Facts) -> Result<(), Error> {
    match facts.excluded() {
        Some(value) => Err(Error::Excluded {
            arn: resource.as_str().to_string(),
            tag: EXCLUDE_TAG,
            value: value.to_string(),
        }),
        None => Ok(()),
    }
}

/// The resource's facts (given by the entry point, or read) and the first look at RAM, in one
/// round trip.
async fn look(ctx: &Ctx<'_>, resource: &ResourceArn, facts: Option<Facts>) -> Result<(Facts, Knowledge), Error> {
    match facts {
        Some(f) => {
            excluded(resource, &f)?;
            Ok((f, ctx.first_look(resource).await?))
        }
        None => {
            let read = async {
                // A just-created resource may not be readable yet (read-after-write): a few tries.
                let tries = if ctx.may_be_new { 1 + NEW_RESOURCE_TRIES } else { 1 };
                for attempt in 0..tries {
                    match ctx.call(resource.kind().describe_op(), ctx.aws.facts(resource)).await {
                        Err(Error::Aws(f)) if f.is("ResourceNotFoundException") => {
                            let last = attempt + 1 == tries;
                            if last
                                || !pause(
                                    &ctx.deadline,
                                    backoff(Duration::from_millis(500), attempt, Duration::from_secs(2)),
                                )
                                .await
                            {
                                break;
                            }
                        }
                        other => return other,
                    }
                }
                Err(Error::NotFound {
                    kind: resource.kind(),
                    arn: resource.as_str().to_string(),
                })
            };
            let (facts, k) = tokio::join!(read, ctx.first_look(resource));
            let facts = facts?;
            excluded(resource, &facts)?;
            Ok((facts, k?))
        }
    }
}

/// Makes the resource shared by the standard. `facts`: what the entry point already knows (a
/// listing's tags), else it is read. `ours`: shares an earlier, cut-off run made its own.
pub async fn share(
    ctx: &Ctx<'_>,
    resource: &ResourceArn,
    facts: Option<Facts>,
    ours: &[String],
) -> Result<Shared, Error> {
    let (_facts, mut k) = look(ctx, resource, facts).await?;
    k.memory.ours.extend(ours.iter().cloned());
    match ctx.run(resource, &Goal::Share, Mode::Apply, k).await? {
        Ran::Applied(a) => match a.verdict {
            Verdict::Compliant { share } => Ok(Shared {
                resource: resource.as_str().to_string(),
                share_arn: share,
                changes: a.changes,
            }),
            other => Err(Error::Sweep(format!("unexpected verdict {other:?}"))),
        },
        Ran::Reported(f) => Err(Error::Sweep(format!("unexpected finding {f:?}"))),
    }
}

/// Takes the resource out of every share the standard made (only those made by `made_by`, when
/// given); shares someone else built are left alone and named. `made`: shares known to be the
/// standard's although they may lack the tag (a failed Create named them in its rollback ID).
pub async fn unshare(
    ctx: &Ctx<'_>,
    resource: &ResourceArn,
    made_by: Option<String>,
    made: &[String],
) -> Result<Unshared, Error> {
    let goal = Goal::Unshare { made_by };
    let mut k = Knowledge::default();
    k.memory.ours.extend(made.iter().cloned());
    match ctx.run(resource, &goal, Mode::Apply, k).await? {
        Ran::Applied(a) => match a.verdict {
            Verdict::Unshared { left } => {
                for (share, why) in &left {
                    tracing::info!(
                        resource = resource.as_str(),
                        step = "unshare",
                        share = share.as_str(),
                        why,
                        "share left alone"
                    );
                }
                Ok(Unshared {
                    resource: resource.as_str().to_string(),
                    changes: a.changes,
                    left,
                })
            }
            other => Err(Error::Sweep(format!("unexpected verdict {other:?}"))),
        },
        Ran::Reported(f) => Err(Error::Sweep(format!("unexpected finding {f:?}"))),
    }
}

/// Report mode: how the resource stands against the standard, changing nothing. An excluded
/// resource is judged by the unshare goal (does a share of the standard still hold it?).
pub async fn report(ctx: &Ctx<'_>, resource: &ResourceArn, facts: Facts) -> Result<Finding, Error> {
    let goal = match facts.excluded() {
        Some(_) => Goal::Unshare { made_by: None },
        None => Goal::Share,
    };
    match ctx.run(resource, &goal, Mode::Report, Knowledge::default()).await? {
        Ran::Reported(f) => Ok(f),
        Ran::Applied(a) => Err(Error::Sweep(format!("report mode applied {a:?}"))),
    }
}
