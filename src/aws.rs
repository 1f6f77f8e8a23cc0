//! The thin AWS layer: one method per Image Builder / RAM call, full pagination, errors reduced to
//! [`AwsFailure`]. No decisions here; the flow decides.

use crate::error::AwsFailure;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_imagebuilder::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_ram::types::{
    PermissionFeatureSet, PermissionTypeFilter, ResourceOwner, ResourceShareAssociationStatus,
    ResourceShareAssociationType,
};
use std::collections::BTreeSet;
use std::fmt::Debug;
use std::time::Duration;

/// RAM's resource type for image recipes (exact casing: `CreatePermission` is case-sensitive).
pub const RECIPE_RESOURCE_TYPE: &str = "imagebuilder:ImageRecipe";

/// A hard bound on pages per listing, so a service that keeps returning tokens cannot loop us forever.
const MAX_PAGES: usize = 1000;

/// The SDK clients, built once at cold start and shared by every invocation (Lambda only to hand
/// a long sweep on to the next invocation).
#[derive(Debug, Clone)]
pub struct Aws {
    pub imagebuilder: aws_sdk_imagebuilder::Client,
    pub ram: aws_sdk_ram::Client,
    pub lambda: aws_sdk_lambda::Client,
}

/// What the flow needs to know about one RAM resource share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareInfo {
    pub arn: String,
    /// `PENDING | ACTIVE | FAILED | DELETING | DELETED`.
    pub status: String,
    /// `CREATED_FROM_POLICY | PROMOTING_TO_STANDARD | STANDARD`.
    pub feature_set: String,
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

/// Collects every page of a listing; an empty page with a token is not the end (RAM documents this).
async fn paginate<T, F>(op: &'static str, mut page: impl FnMut(Option<String>) -> F) -> Result<Vec<T>, AwsFailure>
where
    F: Future<Output = Result<(Vec<T>, Option<String>), AwsFailure>>,
{
    let mut all = Vec::new();
    let mut token = None;
    for _ in 0..MAX_PAGES {
        let (items, next) = page(token).await?;
        all.extend(items);
        match next.filter(|t| !t.is_empty()) {
            Some(t) => token = Some(t),
            None => return Ok(all),
        }
    }
    Err(AwsFailure {
        op,
        code: None,
        message: format!("more than {MAX_PAGES} pages; refusing to list further"),
    })
}

impl Aws {
    /// Clients for one SDK configuration (the Lambda's, or one pointed at the local stand-in), with
    /// retries and timeouts fitted to an invocation deadline: the SDK's default first backoff (1 s)
    /// and unbounded wait for an answer would spend the time the flow needs to answer in.
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        let retry = RetryConfig::standard()
            .with_max_attempts(3)
            .with_initial_backoff(Duration::from_millis(100))
            .with_max_backoff(Duration::from_secs(2));
        // A hung call is abandoned and retried after 10 s rather than waiting for the deadline.
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(3))
            .operation_attempt_timeout(Duration::from_secs(10))
            .build();
        let ib = aws_sdk_imagebuilder::config::Builder::from(sdk)
            .retry_config(retry.clone())
            .timeout_config(timeouts.clone())
            .build();
        let ram = aws_sdk_ram::config::Builder::from(sdk)
            .retry_config(retry.clone())
            .timeout_config(timeouts.clone())
            .build();
        let lambda = aws_sdk_lambda::config::Builder::from(sdk)
            .retry_config(retry)
            .timeout_config(timeouts)
            .build();
        Aws {
            imagebuilder: aws_sdk_imagebuilder::Client::from_conf(ib),
            ram: aws_sdk_ram::Client::from_conf(ram),
            lambda: aws_sdk_lambda::Client::from_conf(lambda),
        }
    }

    /// The recipe's current policy; `None` when Image Builder reports none (`ResourceNotFoundException`
    /// is also what a missing recipe gives; the write that follows tells the two apart).
    pub async fn get_recipe_policy(&self, recipe: &str) -> Result<Option<String>, AwsFailure> {
        match self
            .imagebuilder
            .get_image_recipe_policy()
            .image_recipe_arn(recipe)
            .send()
            .await
        {
            Ok(out) => Ok(out.policy().map(str::to_string)),
            Err(e) => {
                let f = failure("GetImageRecipePolicy", e);
                if f.is("ResourceNotFoundException") {
                    Ok(None)
                } else {
                    Err(f)
                }
            }
        }
    }

    /// One page of the image recipes this account owns (`ListImageRecipes`, owner `Self`).
    pub async fn list_recipes_page(&self, token: Option<String>) -> Result<(Vec<String>, Option<String>), AwsFailure> {
        let out = self
            .imagebuilder
            .list_image_recipes()
            .owner(aws_sdk_imagebuilder::types::Ownership::SelfValue)
            .max_results(25)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| failure("ListImageRecipes", e))?;
        let arns = out
            .image_recipe_summary_list()
            .iter()
            .filter_map(|r| r.arn().map(str::to_string))
            .collect();
        Ok((arns, out.next_token().map(str::to_string)))
    }

    /// Invokes `function` asynchronously with `payload` (a sweep handing on its continuation).
    pub async fn invoke_async(&self, function: &str, payload: Vec<u8>) -> Result<(), AwsFailure> {
        self.lambda
            .invoke()
            .function_name(function)
            .invocation_type(aws_sdk_lambda::types::InvocationType::Event)
            .payload(aws_sdk_lambda::primitives::Blob::new(payload))
            .send()
            .await
            .map_err(|e| failure("Invoke", e))?;
        Ok(())
    }

    /// `PutImageRecipePolicy`.
    pub async fn put_recipe_policy(&self, recipe: &str, policy: &str) -> Result<(), AwsFailure> {
        self.imagebuilder
            .put_image_recipe_policy()
            .image_recipe_arn(recipe)
            .policy(policy)
            .send()
            .await
            .map_err(|e| failure("PutImageRecipePolicy", e))?;
        Ok(())
    }

    /// ARNs of the shares this account owns that hold `recipe` (`ListResources`, resourceOwner SELF).
    pub async fn shares_holding(&self, recipe: &str) -> Result<BTreeSet<String>, AwsFailure> {
        let rows = paginate("ListResources", move |token| async move {
            let out = self
                .ram
                .list_resources()
                .resource_owner(ResourceOwner::SelfValue)
                .resource_arns(recipe)
                .resource_type(RECIPE_RESOURCE_TYPE)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| failure("ListResources", e))?;
            let shares = out
                .resources()
                .iter()
                .filter_map(|r| r.resource_share_arn().map(str::to_string))
                .collect();
            Ok((shares, out.next_token().map(str::to_string)))
        })
        .await?;
        Ok(rows.into_iter().collect())
    }

    /// ARNs of every resource in `share`.
    pub async fn resources_in(&self, share: &str) -> Result<BTreeSet<String>, AwsFailure> {
        let rows = paginate("ListResources", move |token| async move {
            let out = self
                .ram
                .list_resources()
                .resource_owner(ResourceOwner::SelfValue)
                .resource_share_arns(share)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| failure("ListResources", e))?;
            let arns = out
                .resources()
                .iter()
                .filter_map(|r| r.arn().map(str::to_string))
                .collect();
            Ok((arns, out.next_token().map(str::to_string)))
        })
        .await?;
        Ok(rows.into_iter().collect())
    }

    /// Status and featureSet of the given shares (`GetResourceShares`, the only call that has them).
    pub async fn describe_shares(&self, arns: &BTreeSet<String>) -> Result<Vec<ShareInfo>, AwsFailure> {
        if arns.is_empty() {
            return Ok(Vec::new());
        }
        paginate("GetResourceShares", move |token| async move {
            let out = self
                .ram
                .get_resource_shares()
                .resource_owner(ResourceOwner::SelfValue)
                .set_resource_share_arns(Some(arns.iter().cloned().collect()))
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| failure("GetResourceShares", e))?;
            // Only the shares asked about, even if a service answered with more.
            let shares = out
                .resource_shares()
                .iter()
                .filter(|s| s.resource_share_arn().is_some_and(|a| arns.contains(a)))
                .filter_map(|s| {
                    Some(ShareInfo {
                        arn: s.resource_share_arn()?.to_string(),
                        status: s.status().map(|v| v.as_str().to_string()).unwrap_or_default(),
                        feature_set: s.feature_set().map(|v| v.as_str().to_string()).unwrap_or_default(),
                    })
                })
                .collect();
            Ok((shares, out.next_token().map(str::to_string)))
        })
        .await
    }

    /// `PromoteResourceShareCreatedFromPolicy`.
    pub async fn promote_share(&self, share: &str) -> Result<(), AwsFailure> {
        self.ram
            .promote_resource_share_created_from_policy()
            .resource_share_arn(share)
            .send()
            .await
            .map_err(|e| failure("PromoteResourceShareCreatedFromPolicy", e))?;
        Ok(())
    }

    /// The share's CREATED_FROM_POLICY permission, if it has one.
    pub async fn created_from_policy_permission(&self, share: &str) -> Result<Option<String>, AwsFailure> {
        let perms = paginate("ListResourceSharePermissions", move |token| async move {
            let out = self
                .ram
                .list_resource_share_permissions()
                .resource_share_arn(share)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| failure("ListResourceSharePermissions", e))?;
            let found = out
                .permissions()
                .iter()
                .filter(|p| p.feature_set() == Some(&PermissionFeatureSet::CreatedFromPolicy))
                .filter_map(|p| p.arn().map(str::to_string))
                .collect();
            Ok((found, out.next_token().map(str::to_string)))
        })
        .await?;
        Ok(perms.into_iter().next())
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
            .map_err(|e| failure("PromotePermissionCreatedFromPolicy", e))?;
        Ok(())
    }

    /// The ARN of this account's customer-managed recipe permission called `name`, if it exists.
    pub async fn customer_permission_named(&self, name: &str) -> Result<Option<String>, AwsFailure> {
        let found = paginate("ListPermissions", move |token| async move {
            let out = self
                .ram
                .list_permissions()
                .resource_type(RECIPE_RESOURCE_TYPE)
                .permission_type(PermissionTypeFilter::CustomerManaged)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| failure("ListPermissions", e))?;
            let hits = out
                .permissions()
                .iter()
                .filter(|p| p.name() == Some(name))
                .filter_map(|p| p.arn().map(str::to_string));
            Ok((hits.collect(), out.next_token().map(str::to_string)))
        })
        .await?;
        Ok(found.into_iter().next())
    }

    /// Principals associated (or associating) with `share`.
    pub async fn share_principals(&self, share: &str) -> Result<BTreeSet<String>, AwsFailure> {
        let found = paginate("GetResourceShareAssociations", move |token| async move {
            let out = self
                .ram
                .get_resource_share_associations()
                .association_type(ResourceShareAssociationType::Principal)
                .resource_share_arns(share)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| failure("GetResourceShareAssociations", e))?;
            let live = out
                .resource_share_associations()
                .iter()
                .filter(|a| {
                    matches!(
                        a.status(),
                        Some(ResourceShareAssociationStatus::Associated | ResourceShareAssociationStatus::Associating)
                    )
                })
                .filter_map(|a| a.associated_entity().map(str::to_string));
            Ok((live.collect(), out.next_token().map(str::to_string)))
        })
        .await?;
        Ok(found.into_iter().collect())
    }

    /// `AssociateResourceShare` for principals.
    pub async fn associate_principals(
        &self,
        share: &str,
        principals: &[String],
        token: &str,
    ) -> Result<(), AwsFailure> {
        self.ram
            .associate_resource_share()
            .resource_share_arn(share)
            .set_principals(Some(principals.to_vec()))
            .client_token(token)
            .send()
            .await
            .map_err(|e| failure("AssociateResourceShare", e))?;
        Ok(())
    }

    /// `DeleteResourceShare`.
    pub async fn delete_share(&self, share: &str, token: &str) -> Result<(), AwsFailure> {
        self.ram
            .delete_resource_share()
            .resource_share_arn(share)
            .client_token(token)
            .send()
            .await
            .map_err(|e| failure("DeleteResourceShare", e))?;
        Ok(())
    }
}
