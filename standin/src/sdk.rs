//! SDK wiring for runs without AWS (the `sdk` feature, for the local run and the tests): a
//! configuration aimed at the stand-in with a fixed Region and throwaway credentials, so nothing
//! probes IMDS or real AWS. Kept out of the function's own crate: production never needs it.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;

/// SDK configuration for `endpoint` (e.g. [`crate::StandIn::url`]) in `region`.
pub async fn sdk_config(endpoint: &str, region: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(
            "AKIDLOCALSTANDIN",
            "local-secret",
            None,
            None,
            "recipe-share-local",
        ))
        .load()
        .await
}
