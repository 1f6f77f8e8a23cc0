//! The thin AWS layer: the SDK clients (one retry layer: the SDK's, configured here), one method per
//! call with the SDK's paginators, and errors reduced to [`AwsFailure`]. No decisions here.

use crate::arn::ResourceArn;
use crate::decide::{MADE_BY_TAG, MANAGED_TAG, ShareState};
use crate::error::AwsFailure;
use crate::kind::Kind;
use crate::scope::Facts;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_imagebuilder::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_ram::types::{
    PermissionFeatureSet, PermissionTypeFilter, ResourceOwner, ResourceShareAssociationStatus,
    ResourceShareAssociationType, Tag,
};
use aws_smithy_async::future::pagination_stream::PaginationStream;
use aws_smithy_runtime::client::retries::{RetryPartition, TokenBucket};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{FinalizerInterceptorContextRef, InterceptorContext};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::retries::classifiers::{ClassifyRetry, RetryAction, RetryClassifierPriority};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A hard bound on pages per listing, so a service that keeps returning tokens cannot loop us forever.
const MAX_PAGES: usize = 1000;

/// Attempts per call. The deadline, not this count, is what usually ends a throttled or failing
/// call: every call is cut off at the invocation's work deadline (see `converge`).
pub const MAX_ATTEMPTS: u32 = 10;

/// The SDK clients, built once at cold start and shared by every invocation (Lambda only to hand
/// a long sweep on to the next invocation).
#[derive(Debug, Clone)]
pub struct Aws {
    pub imagebuilder: aws_sdk_imagebuilder::Client,
    pub ram: aws_sdk_ram::Client,
    pub lambda: aws_sdk_lambda::Client,
    /// Only when the invocation does not say which account the function runs in (local emulators).
    pub sts: aws_sdk_sts::Client,
    /// The Region the clients talk to.
    pub region: Option<String>,
}

/// Calls and throttled answers seen by every client, counted per attempt (what AWS saw), for the
/// task that made them: an invocation, or one recipe of a sweep (see [`CallStats::scope`]).
#[derive(Debug, Default)]
pub struct CallStats {
    attempts: AtomicU64,
    throttled: AtomicU64,
    /// Per operation: whether an attempt is on the wire, and its last error answer
    /// (`HTTP 429 CallRateLimitExceededException`).
    answers: Mutex<BTreeMap<String, Answer>>,
    parent: Option<Arc<CallStats>>,
}

#[derive(Debug, Default, Clone)]
struct Answer {
    in_flight: bool,
    failure: Option<String>,
    /// The last answer was a client error (4xx, throttling included): it changed nothing.
    refused: bool,
}

tokio::task_local! {
    static STATS: Arc<CallStats>;
}

impl CallStats {
    /// Counts that also add to `parent` (a sweep's recipe adds to its invocation).
    pub fn child_of(parent: Arc<CallStats>) -> Arc<CallStats> {
        Arc::new(CallStats {
            parent: Some(parent),
            ..CallStats::default()
        })
    }

    /// The counts of the current task, if any.
    pub fn current() -> Option<Arc<CallStats>> {
        STATS.try_with(Arc::clone).ok()
    }

    /// Runs `fut` with its AWS calls counted in `stats`.
    pub async fn scope<F: Future>(stats: Arc<CallStats>, fut: F) -> F::Output {
        STATS.scope(stats, fut).await
    }

    pub fn attempts(&self) -> u64 {
        self.attempts.load(Ordering::Relaxed)
    }

    pub fn throttled(&self) -> u64 {
        self.throttled.load(Ordering::Relaxed)
    }

    /// The last error answer `op` got, if its last attempt failed.
    pub fn last_failure(&self, op: &str) -> Option<String> {
        self.answers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(op)
            .and_then(|a| a.failure.clone())
    }

    /// True when `op` has no attempt on the wire and AWS refused its last one: a call cut off in
    /// the SDK's backoff changed nothing.
    pub fn refused_and_idle(&self, op: &str) -> bool {
        self.answers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(op)
            .is_some_and(|a| !a.in_flight && a.refused)
    }

    fn sending(&self, op: &str) {
        let mut answers = self.answers.lock().unwrap_or_else(|e| e.into_inner());
        answers.entry(op.to_string()).or_default().in_flight = true;
    }

    fn record(&self, throttled: bool) {
        let mut at = Some(self);
        while let Some(s) = at {
            s.attempts.fetch_add(1, Ordering::Relaxed);
            if throttled {
                s.throttled.fetch_add(1, Ordering::Relaxed);
            }
            at = s.parent.as_deref();
        }
    }

    fn answered(&self, op: &str, failure: Option<String>, refused: bool) {
        let mut answers = self.answers.lock().unwrap_or_else(|e| e.into_inner());
        answers.insert(
            op.to_string(),
            Answer {
                in_flight: false,
                failure,
                refused,
            },
        );
    }
}

/// Both AWS services answer throttling with HTTP 429 (Image Builder's
/// `CallRateLimitExceededException`, RAM's `ThrottlingException`).
fn is_throttling_status(status: u16) -> bool {
    status == 429
}

/// Counts every attempt and every throttled answer, including the ones the SDK retries itself,
/// so the sweep's concurrency control and the metrics see what AWS saw.
#[derive(Debug)]
struct CountAttempts;

impl Intercept for CountAttempts {
    fn name(&self) -> &'static str {
        "recipe-share::CountAttempts"
    }

    fn read_before_transmit(
        &self,
        _context: &aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let (Some(stats), Some(m)) = (CallStats::current(), cfg.load::<Metadata>()) {
            stats.sending(m.name());
        }
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(stats) = CallStats::current() {
            let status = context.response().map(|r| r.status().as_u16());
            stats.record(status.is_some_and(is_throttling_status));
            let op = cfg.load::<Metadata>().map(|m| m.name().to_string()).unwrap_or_default();
            let failure = match (status, context.response()) {
                (Some(s), Some(r)) if s >= 400 => {
                    let code = r
                        .headers()
                        .get("x-amzn-errortype")
                        .map(|c| c.split(':').next().unwrap_or(c).to_string());
                    Some(format!("HTTP {s}{}", code.map(|c| format!(" {c}")).unwrap_or_default()))
                }
                (Some(_), _) => None,
                (None, _) => Some("no answer (connection or timeout)".into()),
            };
            stats.answered(&op, failure, status.is_some_and(|s| (400..500).contains(&s)));
        }
        Ok(())
    }
}

/// Image Builder's `CallRateLimitExceededException` (HTTP 429) is throttling, which the SDK's
/// default classifiers do not know: without this, the SDK does not retry it.
#[derive(Debug)]
struct ThrottlingByStatus;

impl ClassifyRetry for ThrottlingByStatus {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        match ctx.response() {
            Some(r) if is_throttling_status(r.status().as_u16()) => RetryAction::throttling_error(),
            _ => RetryAction::NoActionIndicated,
        }
    }

    fn name(&self) -> &'static str {
        "recipe-share::ThrottlingByStatus"
    }

    fn priority(&self) -> RetryClassifierPriority {
        RetryClassifierPriority::run_after(RetryClassifierPriority::transient_error_classifier())
    }
}

fn failure<E, R>(op: &'static str, err: SdkError<E, R>) -> AwsFailure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: Debug,
{
    let code = err.code().map(str::to_string);
    let message = match err.message() {
        Some(m) => m.to_string(),
        None => DisplayErrorContext(&err).to_string(),
    };
    AwsFailure { op, code, message }
}

/// Collects every page of a listing (an empty page with a token is not the end: RAM documents
/// this, and the SDK's paginator follows it), at most [`MAX_PAGES`].
async fn all_pages<O, E, R, T>(
    op: &'static str,
    mut pages: PaginationStream<Result<O, SdkError<E, R>>>,
    mut take: impl FnMut(O, &mut Vec<T>),
) -> Result<Vec<T>, AwsFailure>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: Debug,
{
    let mut out = Vec::new();
    for _ in 0..MAX_PAGES {
        match pages.next().await {
            None => return Ok(out),
            Some(page) => take(page.map_err(|e| failure(op, e))?, &mut out),
        }
    }
    Err(AwsFailure {
        op,
        code: None,
        message: format!("more than {MAX_PAGES} pages; refusing to list further"),
    })
}

/// A described share: its ARN and state.
pub type Described = (String, ShareState);

impl Aws {
    /// Clients for one SDK configuration (the Lambda's, or one pointed at the local stand-in):
    /// the SDK retries throttling (429 included), 5xx and transport errors with jittered
    /// exponential backoff, and a hung attempt is abandoned after 10 s. The invocation deadline
    /// bounds it all (every call is cut off there), so no retry loop of our own sits on top.
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        let retry = RetryConfig::standard()
            .with_max_attempts(MAX_ATTEMPTS)
            .with_initial_backoff(Duration::from_millis(100))
            .with_max_backoff(Duration::from_secs(3));
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(3))
            .operation_attempt_timeout(Duration::from_secs(10))
            .build();
        // Throttled retries cost no retry quota: backoff paces them and the deadline ends them;
        // the quota still stops a storm of retried server errors.
        let partition = |name: &'static str| {
            RetryPartition::custom(name)
                .token_bucket(TokenBucket::builder().throttling_retry_cost(0).build())
                .build()
        };
        let ib = aws_sdk_imagebuilder::config::Builder::from(sdk)
            .retry_config(retry.clone())
            .timeout_config(timeouts.clone())
            .retry_partition(partition("recipe-share-imagebuilder"))
            .retry_classifier(ThrottlingByStatus)
            .interceptor(CountAttempts)
            .build();
        let ram = aws_sdk_ram::config::Builder::from(sdk)
            .retry_config(retry.clone())
            .timeout_config(timeouts.clone())
            .retry_partition(partition("recipe-share-ram"))
            .retry_classifier(ThrottlingByStatus)
            .interceptor(CountAttempts)
            .build();
        // The sweep's own hand-off is not retried blindly: a lost acknowledgement of an Event
        // invocation would start a second chain (the hand-off carries an id the next link checks).
        let lambda = aws_sdk_lambda::config::Builder::from(sdk)
            .retry_config(RetryConfig::disabled())
            .timeout_config(timeouts)
            .interceptor(CountAttempts)
            .build();
        let sts = aws_sdk_sts::config::Builder::from(sdk)
            .interceptor(CountAttempts)
            .build();
        Aws {
            imagebuilder: aws_sdk_imagebuilder::Client::from_conf(ib),
            ram: aws_sdk_ram::Client::from_conf(ram),
            lambda: aws_sdk_lambda::Client::from_conf(lambda),
            sts: aws_sdk_sts::Client::from_conf(sts),
            region: sdk.region().map(|r| r.to_string()),
        }
    }

    // ---- Image Builder ----

    /// What a recipe is: its tags and what it builds from (`GetImageRecipe` / `GetContainerRecipe`).
    pub async fn facts(&self, resource: &ResourceArn) -> Result<Facts, AwsFailure> {
        let tags = |t: Option<&std::collections::HashMap<String, String>>| -> BTreeMap<String, String> {
            t.map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default()
        };
        match resource.kind() {
            Kind::ImageRecipe => {
                let out = self
                    .imagebuilder
                    .get_image_recipe()
                    .image_recipe_arn(resource.as_str())
                    .send()
                    .await
                    .map_err(|e| failure("GetImageRecipe", e))?;
                let r = out.image_recipe();
                Ok(Facts {
                    tags: tags(r.and_then(|r| r.tags())),
                    components: r
                        .map(|r| r.components().iter().map(|c| c.component_arn().to_string()).collect())
                        .unwrap_or_default(),
                    parent_image: r.and_then(|r| r.parent_image()).map(str::to_string),
                })
            }
            Kind::ContainerRecipe => {
                let out = self
                    .imagebuilder
                    .get_container_recipe()
                    .container_recipe_arn(resource.as_str())
                    .send()
                    .await
                    .map_err(|e| failure("GetContainerRecipe", e))?;
                let r = out.container_recipe();
                Ok(Facts {
                    tags: tags(r.and_then(|r| r.tags())),
                    components: r
                        .map(|r| r.components().iter().map(|c| c.component_arn().to_string()).collect())
                        .unwrap_or_default(),
                    parent_image: r.and_then(|r| r.parent_image()).map(str::to_string),
                })
            }
            Kind::Component | Kind::Image => {
                let out = self
                    .imagebuilder
                    .list_tags_for_resource()
                    .resource_arn(resource.as_str())
                    .send()
                    .await
                    .map_err(|e| failure("ListTagsForResource", e))?;
                Ok(Facts {
                    tags: tags(out.tags()),
                    ..Facts::default()
                })
            }
        }
    }

    /// The resource's policy; `None` when Image Builder reports none (`ResourceNotFoundException`,
    /// or an empty document: AWS documents neither).
    pub async fn get_policy(&self, resource: &ResourceArn) -> Result<Option<String>, AwsFailure> {
        let arn = resource.as_str();
        let (op, _) = resource.kind().policy_ops();
        let result = match resource.kind() {
            Kind::ImageRecipe => self
                .imagebuilder
                .get_image_recipe_policy()
                .image_recipe_arn(arn)
                .send()
                .await
                .map(|o| o.policy().map(str::to_string))
                .map_err(|e| failure(op, e)),
            Kind::ContainerRecipe => self
                .imagebuilder
                .get_container_recipe_policy()
                .container_recipe_arn(arn)
                .send()
                .await
                .map(|o| o.policy().map(str::to_string))
                .map_err(|e| failure(op, e)),
            Kind::Component => self
                .imagebuilder
                .get_component_policy()
                .component_arn(arn)
                .send()
                .await
                .map(|o| o.policy().map(str::to_string))
                .map_err(|e| failure(op, e)),
            Kind::Image => self
                .imagebuilder
                .get_image_policy()
                .image_arn(arn)
                .send()
                .await
                .map(|o| o.policy().map(str::to_string))
                .map_err(|e| failure(op, e)),
        };
        match result {
            Ok(p) => Ok(p.filter(|p| !p.trim().is_empty())),
            Err(f) if f.is("ResourceNotFoundException") => Ok(None),
            Err(f) => Err(f),
        }
    }

    /// `Put*Policy` with `policy`.
    pub async fn put_policy(&self, resource: &ResourceArn, policy: &str) -> Result<(), AwsFailure> {
        let arn = resource.as_str();
        let (_, op) = resource.kind().policy_ops();
        match resource.kind() {
            Kind::ImageRecipe => self
                .imagebuilder
                .put_image_recipe_policy()
                .image_recipe_arn(arn)
                .policy(policy)
                .send()
                .await
                .map(drop)
                .map_err(|e| failure(op, e)),
            Kind::ContainerRecipe => self
                .imagebuilder
                .put_container_recipe_policy()
                .container_recipe_arn(arn)
                .policy(policy)
                .send()
                .await
                .map(drop)
                .map_err(|e| failure(op, e)),
            Kind::Component => self
                .imagebuilder
                .put_component_policy()
                .component_arn(arn)
                .policy(policy)
                .send()
                .await
                .map(drop)
                .map_err(|e| failure(op, e)),
            Kind::Image => self
                .imagebuilder
                .put_image_policy()
                .image_arn(arn)
                .policy(policy)
                .send()
                .await
                .map(drop)
                .map_err(|e| failure(op, e)),
        }
    }

    /// Tags an Image Builder resource (`TagResource`).
    pub async fn tag_resource(&self, resource: &ResourceArn, key: &str, value: &str) -> Result<(), AwsFailure> {
        self.imagebuilder
            .tag_resource()
            .resource_arn(resource.as_str())
            .tags(key, value)
            .send()
            .await
            .map(drop)
            .map_err(|e| failure("TagResource", e))
    }

    /// One page of the image recipes this account owns (`ListImageRecipes`, owner `Self`), with tags.
    pub async fn list_recipes_page(
        &self,
        kind: Kind,
        token: Option<String>,
    ) -> Result<(Vec<(String, BTreeMap<String, String>)>, Option<String>), AwsFailure> {
        if kind == Kind::ContainerRecipe {
            return self.list_container_recipes_page(token).await;
        }
        let out = self
            .imagebuilder
            .list_image_recipes()
            .owner(aws_sdk_imagebuilder::types::Ownership::SelfValue)
            .max_results(25)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| failure("ListImageRecipes", e))?;
        let rows = out
            .image_recipe_summary_list()
            .iter()
            .filter_map(|r| {
                let tags = r
                    .tags()
                    .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default();
                r.arn().map(|a| (a.to_string(), tags))
            })
            .collect();
        Ok((rows, out.next_token().map(str::to_string)))
    }

    /// The ARNs of this account's image recipes called `name` (`ListImageRecipes` with a name filter).
    pub async fn recipes_named(&self, name: &str) -> Result<Vec<String>, AwsFailure> {
        let filter = aws_sdk_imagebuilder::types::Filter::builder()
            .name("name")
            .values(name)
            .build();
        let pages = self
            .imagebuilder
            .list_image_recipes()
            .owner(aws_sdk_imagebuilder::types::Ownership::SelfValue)
            .filters(filter)
            .into_paginator()
            .send();
        all_pages("ListImageRecipes", pages, |page, out| {
            out.extend(
                page.image_recipe_summary_list()
                    .iter()
                    .filter_map(|r| r.arn().map(str::to_string)),
            )
        })
        .await
    }

    /// The versions of this account's `kind` resources (components or images) called `name`:
    /// `ListComponents` / `ListImages` with owner `Self` and a name filter, as (version ARN, version).
    pub async fn versions_named(&self, kind: Kind, name: &str) -> Result<Vec<(String, String)>, AwsFailure> {
        use aws_sdk_imagebuilder::types::{Filter, Ownership};
        let filter = Filter::builder().name("name").values(name).build();
        match kind {
            Kind::Component => {
                let pages = self
                    .imagebuilder
                    .list_components()
                    .owner(Ownership::SelfValue)
                    // Every version of the name, not only the newest: AWS does not say which
                    // a plain listing returns.
                    .by_name(true)
                    .filters(filter)
                    .into_paginator()
                    .send();
                all_pages("ListComponents", pages, |page, out| {
                    out.extend(
                        page.component_version_list()
                            .iter()
                            .filter(|v| v.name() == Some(name))
                            .filter_map(|v| Some((v.arn()?.to_string(), v.version()?.to_string()))),
                    )
                })
                .await
            }
            _ => {
                let pages = self
                    .imagebuilder
                    .list_images()
                    .owner(Ownership::SelfValue)
                    .by_name(true)
                    .filters(filter)
                    .into_paginator()
                    .send();
                all_pages("ListImages", pages, |page, out| {
                    out.extend(
                        page.image_version_list()
                            .iter()
                            .filter(|v| v.name() == Some(name))
                            .filter_map(|v| Some((v.arn()?.to_string(), v.version()?.to_string()))),
                    )
                })
                .await
            }
        }
    }

    /// The build versions of one component or image version, with their tags
    /// (`ListComponentBuildVersions` / `ListImageBuildVersions`).
    pub async fn build_versions(
        &self,
        kind: Kind,
        version_arn: &str,
    ) -> Result<Vec<(String, BTreeMap<String, String>)>, AwsFailure> {
        let tags = |t: Option<&std::collections::HashMap<String, String>>| -> BTreeMap<String, String> {
            t.map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default()
        };
        match kind {
            Kind::Component => {
                let pages = self
                    .imagebuilder
                    .list_component_build_versions()
                    .component_version_arn(version_arn)
                    .into_paginator()
                    .send();
                all_pages("ListComponentBuildVersions", pages, |page, out| {
                    out.extend(
                        page.component_summary_list()
                            .iter()
                            .filter_map(|c| Some((c.arn()?.to_string(), tags(c.tags())))),
                    )
                })
                .await
            }
            _ => {
                let pages = self
                    .imagebuilder
                    .list_image_build_versions()
                    .image_version_arn(version_arn)
                    .into_paginator()
                    .send();
                all_pages("ListImageBuildVersions", pages, |page, out| {
                    out.extend(
                        page.image_summary_list()
                            .iter()
                            .filter_map(|i| Some((i.arn()?.to_string(), tags(i.tags())))),
                    )
                })
                .await
            }
        }
    }

    /// One page of the container recipes this account owns (`ListContainerRecipes`, owner `Self`).
    async fn list_container_recipes_page(
        &self,
        token: Option<String>,
    ) -> Result<(Vec<(String, BTreeMap<String, String>)>, Option<String>), AwsFailure> {
        let out = self
            .imagebuilder
            .list_container_recipes()
            .owner(aws_sdk_imagebuilder::types::Ownership::SelfValue)
            .max_results(25)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| failure("ListContainerRecipes", e))?;
        let rows = out
            .container_recipe_summary_list()
            .iter()
            .filter_map(|r| {
                let tags = r
                    .tags()
                    .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default();
                r.arn().map(|a| (a.to_string(), tags))
            })
            .collect();
        Ok((rows, out.next_token().map(str::to_string)))
    }

    /// The ARNs of this account's container recipes called `name` (`ListContainerRecipes` with a name filter).
    pub async fn container_recipes_named(&self, name: &str) -> Result<Vec<String>, AwsFailure> {
        let filter = aws_sdk_imagebuilder::types::Filter::builder()
            .name("name")
            .values(name)
            .build();
        let pages = self
            .imagebuilder
            .list_container_recipes()
            .owner(aws_sdk_imagebuilder::types::Ownership::SelfValue)
            .filters(filter)
            .into_paginator()
            .send();
        all_pages("ListContainerRecipes", pages, |page, out| {
            out.extend(
                page.container_recipe_summary_list()
                    .iter()
                    .filter_map(|r| r.arn().map(str::to_string)),
            )
        })
        .await
    }

    // ---- RAM ----

    /// ARNs of the shares this account owns that hold `resource` (`ListResources`, resourceOwner SELF).
    pub async fn shares_holding(&self, resource: &ResourceArn) -> Result<BTreeSet<String>, AwsFailure> {
        let pages = self
            .ram
            .list_resources()
            .resource_owner(ResourceOwner::SelfValue)
            .resource_arns(resource.as_str())
            .resource_type(resource.kind().ram_type())
            .into_paginator()
            .send();
        let rows = all_pages("ListResources", pages, |page, out| {
            out.extend(
                page.resources()
                    .iter()
                    .filter(|r| r.arn() == Some(resource.as_str()))
                    .filter_map(|r| r.resource_share_arn().map(str::to_string)),
            )
        })
        .await?;
        Ok(rows.into_iter().collect())
    }

    /// How many resources `share` holds.
    pub async fn resources_in(&self, share: &str) -> Result<usize, AwsFailure> {
        let pages = self
            .ram
            .list_resources()
            .resource_owner(ResourceOwner::SelfValue)
            .resource_share_arns(share)
            .into_paginator()
            .send();
        let rows = all_pages("ListResources", pages, |page, out| {
            out.extend(page.resources().iter().filter_map(|r| r.arn().map(str::to_string)))
        })
        .await?;
        Ok(rows.into_iter().collect::<BTreeSet<_>>().len())
    }

    /// State, featureSet and managed tags of the given shares (`GetResourceShares`, the only call
    /// that has them). A share missing from the answer is gone.
    pub async fn describe_shares(&self, arns: &[String]) -> Result<Vec<Described>, AwsFailure> {
        if arns.is_empty() {
            return Ok(Vec::new());
        }
        let pages = self
            .ram
            .get_resource_shares()
            .resource_owner(ResourceOwner::SelfValue)
            .set_resource_share_arns(Some(arns.to_vec()))
            .into_paginator()
            .send();
        all_pages("GetResourceShares", pages, |page, out| {
            for s in page.resource_shares() {
                // Only the shares asked about, even if a service answered with more.
                let Some(arn) = s.resource_share_arn().filter(|a| arns.iter().any(|x| x == a)) else {
                    continue;
                };
                let (Some(status), Some(feature_set)) = (s.status(), s.feature_set()) else {
                    continue;
                };
                let tag = |key: &str| {
                    s.tags()
                        .iter()
                        .find(|t| t.key() == Some(key))
                        .and_then(|t| t.value())
                        .map(str::to_string)
                };
                out.push((
                    arn.to_string(),
                    ShareState {
                        feature_set: feature_set.clone(),
                        status: status.clone(),
                        managed: tag(MANAGED_TAG).as_deref() == Some("true"),
                        made_by: tag(MADE_BY_TAG),
                    },
                ));
            }
        })
        .await
    }

    /// Live principals (associated or associating) of each of `shares`.
    pub async fn principals(&self, shares: &[String]) -> Result<BTreeMap<String, BTreeSet<String>>, AwsFailure> {
        let pages = self
            .ram
            .get_resource_share_associations()
            .association_type(ResourceShareAssociationType::Principal)
            .set_resource_share_arns(Some(shares.to_vec()))
            .into_paginator()
            .send();
        let rows = all_pages("GetResourceShareAssociations", pages, |page, out| {
            out.extend(
                page.resource_share_associations()
                    .iter()
                    .filter(|a| {
                        matches!(
                            a.status(),
                            Some(
                                ResourceShareAssociationStatus::Associated
                                    | ResourceShareAssociationStatus::Associating
                            )
                        )
                    })
                    .filter_map(|a| Some((a.resource_share_arn()?.to_string(), a.associated_entity()?.to_string()))),
            )
        })
        .await?;
        let mut by_share: BTreeMap<String, BTreeSet<String>> =
            shares.iter().map(|s| (s.clone(), BTreeSet::new())).collect();
        for (share, principal) in rows {
            if let Some(set) = by_share.get_mut(&share) {
                set.insert(principal);
            }
        }
        Ok(by_share)
    }

    /// How many ACTIVE resource shares this account owns in the Region (RAM's quota counts them).
    pub async fn count_active_shares(&self) -> Result<u64, AwsFailure> {
        let pages = self
            .ram
            .get_resource_shares()
            .resource_owner(ResourceOwner::SelfValue)
            .resource_share_status(aws_sdk_ram::types::ResourceShareStatus::Active)
            .into_paginator()
            .send();
        let counts = all_pages("GetResourceShares", pages, |page, out| {
            out.push(page.resource_shares().len() as u64)
        })
        .await?;
        Ok(counts.iter().sum())
    }

    /// How many principal associations this account's shares have in the Region.
    pub async fn count_principal_associations(&self) -> Result<u64, AwsFailure> {
        let pages = self
            .ram
            .get_resource_share_associations()
            .association_type(ResourceShareAssociationType::Principal)
            .association_status(ResourceShareAssociationStatus::Associated)
            .into_paginator()
            .send();
        let counts = all_pages("GetResourceShareAssociations", pages, |page, out| {
            out.push(page.resource_share_associations().len() as u64)
        })
        .await?;
        Ok(counts.iter().sum())
    }

    /// `PromoteResourceShareCreatedFromPolicy`: RAM's `returnValue`.
    pub async fn promote_share(&self, share: &str) -> Result<bool, AwsFailure> {
        let out = self
            .ram
            .promote_resource_share_created_from_policy()
            .resource_share_arn(share)
            .send()
            .await
            .map_err(|e| failure("PromoteResourceShareCreatedFromPolicy", e))?;
        Ok(out.return_value().unwrap_or(false))
    }

    /// The share's CREATED_FROM_POLICY permission, if it has one.
    pub async fn created_from_policy_permission(&self, share: &str) -> Result<Option<String>, AwsFailure> {
        let pages = self
            .ram
            .list_resource_share_permissions()
            .resource_share_arn(share)
            .into_paginator()
            .send();
        let found = all_pages("ListResourceSharePermissions", pages, |page, out| {
            out.extend(
                page.permissions()
                    .iter()
                    .filter(|p| p.feature_set() == Some(&PermissionFeatureSet::CreatedFromPolicy))
                    .filter_map(|p| p.arn().map(str::to_string)),
            )
        })
        .await?;
        Ok(found.into_iter().next())
    }

    /// `PromotePermissionCreatedFromPolicy` under `name`, idempotent through `client_token`.
    pub async fn promote_permission(&self, permission: &str, name: &str, client_token: &str) -> Result<(), AwsFailure> {
        self.ram
            .promote_permission_created_from_policy()
            .permission_arn(permission)
            .name(name)
            .client_token(client_token)
            .send()
            .await
            .map(drop)
            .map_err(|e| failure("PromotePermissionCreatedFromPolicy", e))
    }

    /// The ARN of this account's customer-managed permission called `name` for `kind`, if it exists.
    pub async fn customer_permission_named(&self, kind: Kind, name: &str) -> Result<Option<String>, AwsFailure> {
        let pages = self
            .ram
            .list_permissions()
            .resource_type(kind.ram_type())
            .permission_type(PermissionTypeFilter::CustomerManaged)
            .into_paginator()
            .send();
        let found = all_pages("ListPermissions", pages, |page, out| {
            out.extend(
                page.permissions()
                    .iter()
                    .filter(|p| p.name() == Some(name))
                    .filter_map(|p| p.arn().map(str::to_string)),
            )
        })
        .await?;
        Ok(found.into_iter().next())
    }

    /// Tags `share` as made by the standard (`TagResource`).
    pub async fn tag_share(&self, share: &str, made_by: &str) -> Result<(), AwsFailure> {
        let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
        self.ram
            .tag_resource()
            .resource_share_arn(share)
            .tags(tag(MANAGED_TAG, "true"))
            .tags(tag(MADE_BY_TAG, made_by))
            .send()
            .await
            .map(drop)
            .map_err(|e| failure("TagResource", e))
    }

    /// `AssociateResourceShare` for principals.
    pub async fn associate(&self, share: &str, principals: &[String], token: &str) -> Result<(), AwsFailure> {
        self.ram
            .associate_resource_share()
            .resource_share_arn(share)
            .set_principals(Some(principals.to_vec()))
            .client_token(token)
            .send()
            .await
            .map(drop)
            .map_err(|e| failure("AssociateResourceShare", e))
    }

    /// `DisassociateResourceShare` of principals and/or resources.
    pub async fn disassociate(
        &self,
        share: &str,
        principals: &[String],
        resources: &[String],
        token: &str,
    ) -> Result<(), AwsFailure> {
        let some = |v: &[String]| (!v.is_empty()).then(|| v.to_vec());
        self.ram
            .disassociate_resource_share()
            .resource_share_arn(share)
            .set_principals(some(principals))
            .set_resource_arns(some(resources))
            .client_token(token)
            .send()
            .await
            .map(drop)
            .map_err(|e| failure("DisassociateResourceShare", e))
    }

    /// `DeleteResourceShare`.
    pub async fn delete_share(&self, share: &str, token: &str) -> Result<(), AwsFailure> {
        self.ram
            .delete_resource_share()
            .resource_share_arn(share)
            .client_token(token)
            .send()
            .await
            .map(drop)
            .map_err(|e| failure("DeleteResourceShare", e))
    }

    // ---- STS ----

    /// The partition and account of the caller (`GetCallerIdentity`, which needs no permission).
    pub async fn caller(&self) -> Result<(String, String), AwsFailure> {
        let out = self
            .sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| failure("GetCallerIdentity", e))?;
        let partition = out.arn().and_then(|a| a.split(':').nth(1)).unwrap_or("aws").to_string();
        let account = out.account().unwrap_or_default().to_string();
        Ok((partition, account))
    }

    // ---- Lambda ----

    /// Invokes `function` asynchronously with `payload` (a sweep handing on its continuation).
    pub async fn invoke_async(&self, function: &str, payload: Vec<u8>) -> Result<(), AwsFailure> {
        self.lambda
            .invoke()
            .function_name(function)
            .invocation_type(aws_sdk_lambda::types::InvocationType::Event)
            .payload(aws_sdk_lambda::primitives::Blob::new(payload))
            .send()
            .await
            .map(drop)
            .map_err(|e| failure("Invoke", e))
    }
}

/// A deterministic client token (UUID v5 of the request's parts), so a re-invocation repeats the
/// same request (RAM treats same token + same parameters as a safe retry).
pub fn client_token(parts: &[&str]) -> String {
    const NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x5d1c_7a4e_2b9f_4c61_8e3a_0f6b_d2c4_9e17);
    uuid::Uuid::new_v5(&NAMESPACE, parts.join("\u{0}").as_bytes()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_tokens_are_deterministic_uuids() {
        let t = client_token(&["promote-permission", "Name", "arn:1"]);
        assert_eq!(t, client_token(&["promote-permission", "Name", "arn:1"]));
        assert_ne!(t, client_token(&["promote-permission", "Name", "arn:2"]));
        assert_ne!(client_token(&["ab", "c"]), client_token(&["a", "bc"]));
        let parsed = uuid::Uuid::parse_str(&t).unwrap();
        assert_eq!(parsed.get_version_num(), 5);
    }

    #[test]
    fn stats_add_up_to_their_parent() {
        let parent = Arc::new(CallStats::default());
        let child = CallStats::child_of(parent.clone());
        child.record(true);
        child.record(false);
        parent.record(false);
        assert_eq!((child.attempts(), child.throttled()), (2, 1));
        assert_eq!((parent.attempts(), parent.throttled()), (3, 1));
    }
}
