//! recipe-share: makes every EC2 Image Builder image recipe visible to the organization, as a
//! CloudFormation custom resource (`Custom::ImageRecipeShare`) and as an EventBridge target for
//! CloudTrail `CreateImageRecipe` events.

pub mod arn;
pub mod aws;
pub mod cfn;
pub mod config;
pub mod error;
pub mod eventbridge;
pub mod flow;
pub mod handler;
pub mod local;
pub mod logging;
pub mod policy;
pub mod response_url;
pub mod retry;
pub mod sweep;

pub use error::Error;
pub use handler::{App, handle};
