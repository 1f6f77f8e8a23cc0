//! The Lambda entry point: logging, configuration and AWS clients once, then the runtime loop.

use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    recipe_share::logging::init();
    let app = recipe_share::App::from_env().await;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        recipe_share::handle(app.clone(), event)
    }))
    .await
}
