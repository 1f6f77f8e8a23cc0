//! What every entry point does with one resource: check that the standard covers it, then
//! converge it to its goal (shared, or unshared) with the observe/decide/act loop. A shared recipe
//! brings its own components and parent image along (design section 12), by the same loop.

use crate::arn::ResourceArn;
use crate::converge::{Ctx, Mode, NEW_RESOURCE_TRIES, Progress, Ran};
use crate::deadline::{backoff, pause};
use crate::decide::{EXCLUDE_TAG, Finding, Goal, Knowledge, Verdict};
use crate::deps::{self, Dependency};
use crate::error::Error;
use crate::kind::Kind;
use crate::scope::Facts;
use futures_util::{StreamExt, TryStreamExt, stream};
use std::collections::BTreeMap;
use std::time::Duration;

/// Dependencies converged at once: a recipe names at most a few dozen, but a `x.x.x` reference
/// can select many build versions, and each one is several RAM calls.
const DEPENDENCY_CONCURRENCY: usize = 4;

/// A resource shared by the standard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shared {
    pub resource: String,
    /// The STANDARD share that holds it.
    pub share_arn: String,
    /// What this run changed, in order; empty when it was already shared (a no-op re-run).
    pub changes: Vec<&'static str>,
    /// What became of the recipe's own components and parent image, in ARN order.
    pub dependencies: Vec<DependencyResult>,
}

impl Shared {
    /// The dependencies now shared by the standard.
    pub fn shared_dependencies(&self) -> Vec<&str> {
        self.dependencies
            .iter()
            .filter(|d| matches!(d.outcome, DependencyOutcome::Shared { .. }))
            .map(|d| d.arn.as_str())
            .collect()
    }

    /// The dependencies the standard does not share (tagged `recipe-share:exclude`).
    pub fn excluded_dependencies(&self) -> Vec<&str> {
        self.dependencies
            .iter()
            .filter(|d| matches!(d.outcome, DependencyOutcome::Excluded { .. }))
            .map(|d| d.arn.as_str())
            .collect()
    }

    /// Whether this run changed the recipe or any of its dependencies.
    pub fn changed_anything(&self) -> bool {
        !self.changes.is_empty()
            || self.dependencies.iter().any(|d| match &d.outcome {
                DependencyOutcome::Shared { changes, .. } | DependencyOutcome::Excluded { changes, .. } => {
                    !changes.is_empty()
                }
            })
    }
}

/// One build version a recipe depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DependencyResult {
    pub arn: String,
    pub outcome: DependencyOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DependencyOutcome {
    Shared {
        share_arn: String,
        changes: Vec<&'static str>,
    },
    /// Out of scope: the `recipe-share:exclude` tag's value, and what taking it out of the
    /// standard's shares changed (it may have been shared before it was tagged).
    Excluded { value: String, changes: Vec<&'static str> },
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

/// Reads the resource's facts: its tags and, for a recipe, what it builds from.
async fn read_facts(ctx: &Ctx<'_>, resource: &ResourceArn) -> Result<Facts, Error> {
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
            let (facts, k) = tokio::join!(read_facts(ctx, resource), ctx.first_look(resource));
            let facts = facts?;
            excluded(resource, &facts)?;
            Ok((facts, k?))
        }
    }
}

/// Makes the resource shared by the standard, and with it the recipe's own components and parent
/// image. `facts`: what the entry point already knows (the recipe's own read), else it is read.
/// `ours`: shares an earlier, cut-off run made its own.
pub async fn share(
    ctx: &Ctx<'_>,
    resource: &ResourceArn,
    facts: Option<Facts>,
    ours: &[String],
) -> Result<Shared, Error> {
    let (facts, k) = look(ctx, resource, facts).await?;
    let needs = deps::dependencies(&facts.components, facts.parent_image.as_deref(), &resource.location());
    let (own, dependencies) = tokio::join!(converge_shared(ctx, resource, k, ours), share_dependencies(ctx, &needs));
    let (share_arn, changes) = own?;
    Ok(Shared {
        resource: resource.as_str().to_string(),
        share_arn,
        changes,
        dependencies: dependencies?,
    })
}

/// The share goal for one resource, from a first look: the STANDARD share and what changed.
async fn converge_shared(
    ctx: &Ctx<'_>,
    resource: &ResourceArn,
    mut k: Knowledge,
    ours: &[String],
) -> Result<(String, Vec<&'static str>), Error> {
    k.memory.ours.extend(ours.iter().cloned());
    match ctx.run(resource, &Goal::Share, Mode::Apply, k).await? {
        Ran::Applied(a) => match a.verdict {
            Verdict::Compliant { share } => Ok((share, a.changes)),
            other => Err(Error::Sweep(format!("unexpected verdict {other:?}"))),
        },
        Ran::Reported(f) => Err(Error::Sweep(format!("unexpected finding {f:?}"))),
    }
}

/// The build versions a dependency selects, with the tags the listing gave (`None`: read them).
async fn resolve(ctx: &Ctx<'_>, dependency: &Dependency) -> Result<Vec<(ResourceArn, Option<Facts>)>, Error> {
    let (kind, base, name, pattern) = match dependency {
        Dependency::Build(arn) => return Ok(vec![(arn.clone(), None)]),
        Dependency::Versions {
            kind,
            base,
            name,
            pattern,
        } => (*kind, base, name, pattern),
    };
    let list_op = if kind == Kind::Component {
        "ListComponents"
    } else {
        "ListImages"
    };
    let versions = ctx.call(list_op, ctx.aws.versions_named(kind, name)).await?;
    let selected: Vec<String> = versions
        .into_iter()
        .filter(|(arn, version)| deps::selects(pattern, version) && arn.starts_with(base.as_str()))
        .map(|(arn, _)| arn)
        .collect();
    let builds_op = if kind == Kind::Component {
        "ListComponentBuildVersions"
    } else {
        "ListImageBuildVersions"
    };
    let mut out = Vec::new();
    for version in selected {
        for (arn, tags) in ctx.call(builds_op, ctx.aws.build_versions(kind, &version)).await? {
            let arn = ResourceArn::parse(kind, &arn)?;
            out.push((
                arn,
                Some(Facts {
                    tags,
                    ..Facts::default()
                }),
            ));
        }
    }
    if out.is_empty() {
        return Err(Error::NotFound {
            kind,
            arn: dependency.reference(),
        });
    }
    Ok(out)
}

/// Shares every build version the dependencies select, each by its own run (its own progress:
/// a failed Create's rollback concerns the recipe, never the components other recipes use).
async fn share_dependencies(ctx: &Ctx<'_>, needs: &[Dependency]) -> Result<Vec<DependencyResult>, Error> {
    if needs.is_empty() {
        return Ok(Vec::new());
    }
    // The futures are made before they are streamed: a closure in the stream's type would make
    // the spawned handler future not `Send` for every lifetime (rustc's higher-ranked limits).
    let reads: Vec<_> = needs
        .iter()
        .map(|d| async move { resolve(ctx, d).await.map_err(|e| for_dependency(&d.reference(), e)) })
        .collect();
    let resolved: Vec<Vec<(ResourceArn, Option<Facts>)>> = stream::iter(reads)
        .buffered(DEPENDENCY_CONCURRENCY)
        .try_collect()
        .await?;
    let targets: BTreeMap<String, (ResourceArn, Option<Facts>)> = resolved
        .into_iter()
        .flatten()
        .map(|(arn, facts)| (arn.as_str().to_string(), (arn, facts)))
        .collect();
    let runs: Vec<_> = targets
        .into_values()
        .map(|(arn, facts)| async move {
            let progress = Progress::default();
            let dep_ctx = Ctx {
                progress: &progress,
                may_be_new: false,
                ..*ctx
            };
            let outcome = match look(&dep_ctx, &arn, facts).await {
                Ok((_, k)) => converge_shared(&dep_ctx, &arn, k, &[])
                    .await
                    .map(|(share_arn, changes)| DependencyOutcome::Shared { share_arn, changes }),
                Err(Error::Excluded { value, .. }) => {
                    unshare(&dep_ctx, &arn, None, &[])
                        .await
                        .map(|u| DependencyOutcome::Excluded {
                            value,
                            changes: u.changes,
                        })
                }
                Err(e) => Err(e),
            };
            outcome
                .map(|outcome| DependencyResult {
                    arn: arn.as_str().to_string(),
                    outcome,
                })
                .map_err(|e| for_dependency(arn.as_str(), e))
        })
        .collect();
    let mut results: Vec<DependencyResult> = stream::iter(runs)
        .buffer_unordered(DEPENDENCY_CONCURRENCY)
        .try_collect()
        .await?;
    results.sort_by(|a, b| a.arn.cmp(&b.arn));
    Ok(results)
}

/// A dependency's failure, named by the dependency; running out of time stays itself (a sweep
/// carries the recipe on).
fn for_dependency(arn: &str, e: Error) -> Error {
    match e {
        Error::Deadline(_) | Error::Dependency { .. } => e,
        other => Error::Dependency {
            arn: arn.to_string(),
            source: Box::new(other),
        },
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
/// resource is judged by the unshare goal (does a share of the standard still hold it?); a
/// compliant recipe is compliant only when its own components and parent image are too.
/// `facts`: a listing's, when it already shows the resource excluded; else they are read.
pub async fn report(ctx: &Ctx<'_>, resource: &ResourceArn, facts: Option<Facts>) -> Result<Finding, Error> {
    let facts = match facts {
        Some(f) => f,
        None => read_facts(ctx, resource).await?,
    };
    let goal = match facts.excluded() {
        Some(_) => Goal::Unshare { made_by: None },
        None => Goal::Share,
    };
    let finding = match ctx.run(resource, &goal, Mode::Report, Knowledge::default()).await? {
        Ran::Reported(f) => f,
        Ran::Applied(a) => return Err(Error::Sweep(format!("report mode applied {a:?}"))),
    };
    if finding != Finding::Compliant || goal != Goal::Share {
        return Ok(finding);
    }
    let needs = deps::dependencies(&facts.components, facts.parent_image.as_deref(), &resource.location());
    let mut unshared = Vec::new();
    for need in &needs {
        let targets = resolve(ctx, need)
            .await
            .map_err(|e| for_dependency(&need.reference(), e))?;
        for (arn, facts) in targets {
            let facts = match facts {
                Some(f) => f,
                None => read_facts(ctx, &arn).await?,
            };
            let status = match facts.excluded() {
                Some(_) => "excluded",
                None => match ctx.run(&arn, &Goal::Share, Mode::Report, Knowledge::default()).await? {
                    Ran::Reported(Finding::Compliant) => continue,
                    Ran::Reported(f) => f.status(),
                    Ran::Applied(a) => return Err(Error::Sweep(format!("report mode applied {a:?}"))),
                },
            };
            unshared.push(format!("{} ({status})", arn.as_str()));
        }
    }
    Ok(match unshared.is_empty() {
        true => Finding::Compliant,
        false => Finding::DependenciesUnshared(unshared.join(", ")),
    })
}
