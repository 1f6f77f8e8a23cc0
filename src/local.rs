//! Wiring for runs without AWS: an SDK configuration aimed at a local endpoint (the project's
//! stand-in) with a fixed Region and throwaway credentials, so nothing probes IMDS or real AWS.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_imagebuilder::config::Credentials;

/// SDK configuration for `endpoint` (e.g. `http://127.0.0.1:18080`) in `region`.
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
