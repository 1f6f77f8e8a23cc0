//! recipe-share: makes every EC2 Image Builder image recipe visible to the organization, as a
//! CloudFormation custom resource (`Custom::ImageRecipeShare`), as an EventBridge target for
//! CloudTrail `CreateImageRecipe` events, and as a daily reconcile sweep.

pub mod arn;
pub mod aws;
pub mod cfn;
pub mod config;
pub mod converge;
pub mod deadline;
pub mod decide;
pub mod deps;
pub mod error;
pub mod eventbridge;
pub mod flow;
pub mod handler;
pub mod http;
pub mod kind;
pub mod logging;
pub mod metrics;
pub mod pace;
pub mod policy;
pub mod response_url;
pub mod scope;
pub mod sweep;

pub use error::Error;
pub use handler::{App, handle, handle_with_metrics};
