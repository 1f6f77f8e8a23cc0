//! recipe-share: makes every EC2 Image Builder image recipe visible to the organization, as a
//! CloudFormation custom resource (`Custom::ImageRecipeShare`) and, later, an EventBridge target.

pub mod arn;
pub mod aws;
pub mod cfn;
pub mod config;
pub mod error;
pub mod flow;
pub mod handler;
pub mod local;
pub mod logging;
pub mod policy;
pub mod response_url;
pub mod retry;

pub use error::Error;
pub use handler::{App, handle};
