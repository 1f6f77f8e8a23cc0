//! JSON log lines (the Lambda JSON log format) with the request's span fields, and filters that keep
//! the HTTP and runtime internals quiet: at TRACE they would print payloads and URLs.

use tracing_subscriber::EnvFilter;

/// Targets that must never log below these levels, whatever `RUST_LOG` says: lambda_runtime dumps
/// raw payloads (with the `ResponseURL`) at TRACE, the HTTP stacks can print request URIs, and the
/// SDK's signing and orchestration layers print requests and signing inputs at DEBUG/TRACE.
const CAPS: [&str; 17] = [
    "lambda_runtime=info",
    "lambda_runtime_api_client=info",
    "reqwest=warn",
    "hyper=warn",
    "hyper_util=warn",
    "h2=warn",
    "rustls=warn",
    "aws_sigv4=info",
    "aws_runtime=info",
    "aws_config=info",
    "aws_credential_types=info",
    "aws_smithy_runtime=info",
    "aws_smithy_runtime_api=info",
    "aws_smithy_http=info",
    "aws_smithy_http_client=info",
    "aws_sdk_imagebuilder=info",
    "aws_sdk_ram=info",
];

/// Installs the global subscriber; the level comes from `AWS_LAMBDA_LOG_LEVEL`, then `RUST_LOG`, then INFO.
pub fn init() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_default();
    let mut filter = EnvFilter::builder()
        .with_default_directive(tracing::Level::INFO.into())
        .parse_lossy(level.to_ascii_lowercase());
    for cap in CAPS {
        if let Ok(directive) = cap.parse() {
            filter = filter.add_directive(directive);
        }
    }
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .with_env_filter(filter)
        .with_writer(std::io::stdout)
        .try_init();
}
