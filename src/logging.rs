//! JSON log lines (the Lambda JSON log format) with the request's span fields, and a cap on the
//! HTTP and runtime internals that no log setting can lift: at DEBUG/TRACE they print payloads,
//! URLs and signing inputs, and a pre-signed `ResponseURL` is a credential.

use std::str::FromStr;
use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::{FilterExt, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, fmt};

/// Targets that never log below these levels, whatever `RUST_LOG`/`AWS_LAMBDA_LOG_LEVEL` say:
/// lambda_runtime dumps raw payloads (with the `ResponseURL`) at TRACE, the HTTP stacks can print
/// request URIs, and the SDK's signing and orchestration layers print requests and signing
/// inputs at DEBUG/TRACE. A target matches its whole crate (`lambda_runtime::layers::…` too).
pub const CAPS: [(&str, LevelFilter); 16] = [
    ("lambda_runtime", LevelFilter::INFO),
    ("lambda_runtime_api_client", LevelFilter::INFO),
    ("hyper", LevelFilter::WARN),
    ("hyper_util", LevelFilter::WARN),
    ("h2", LevelFilter::WARN),
    ("rustls", LevelFilter::WARN),
    ("aws_sigv4", LevelFilter::INFO),
    ("aws_runtime", LevelFilter::INFO),
    ("aws_config", LevelFilter::INFO),
    ("aws_credential_types", LevelFilter::INFO),
    ("aws_smithy_runtime", LevelFilter::INFO),
    ("aws_smithy_runtime_api", LevelFilter::INFO),
    ("aws_smithy_http", LevelFilter::INFO),
    ("aws_smithy_http_client", LevelFilter::INFO),
    ("aws_sdk_imagebuilder", LevelFilter::INFO),
    ("aws_sdk_ram", LevelFilter::INFO),
];

/// The cap as its own filter: an event must pass it *and* the user's directives, so a more
/// specific directive (`lambda_runtime::layers=trace`) cannot lift it, as it could if the caps were
/// directives of the same `EnvFilter`.
pub fn caps() -> Targets {
    Targets::new().with_default(LevelFilter::TRACE).with_targets(CAPS)
}

/// The user's directives: `AWS_LAMBDA_LOG_LEVEL`, then `RUST_LOG`, then INFO.
fn directives() -> Targets {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_default();
    parse_directives(&level)
}

/// Pure: `RUST_LOG`-style directives (`info`, `recipe_share=debug,aws_sdk_ram=trace`) as target
/// filters, leniently: a directive that does not parse (span filters, Lambda's `FATAL`) is
/// dropped, not fatal; no level at all means INFO.
pub fn parse_directives(text: &str) -> Targets {
    let mut targets = Targets::new().with_default(LevelFilter::INFO);
    for d in text
        .to_ascii_lowercase()
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
    {
        let d = if d == "fatal" { "error" } else { d };
        let Ok(parsed) = Targets::from_str(d) else { continue };
        match parsed.default_level() {
            Some(level) if !d.contains('=') => targets = targets.with_default(level),
            _ => targets = targets.with_targets(parsed),
        }
    }
    targets
}

/// Installs the global subscriber.
pub fn init() {
    let layer = fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .with_writer(std::io::stdout)
        .with_filter(directives().and(caps()));
    let _ = tracing_subscriber::registry().with(layer).try_init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    #[test]
    fn the_cap_covers_every_target_below_a_capped_crate() {
        let caps = caps();
        for (target, cap) in CAPS {
            let nested = format!("{target}::layers::api_response");
            assert!(!caps.would_enable(&nested, &Level::TRACE), "{nested}");
            assert!(!caps.would_enable(target, &Level::DEBUG), "{target}");
            let at_cap = cap.into_level().expect("a cap is a level");
            assert!(caps.would_enable(&nested, &at_cap), "{nested} at {cap}");
        }
        assert!(caps.would_enable("recipe_share::converge", &Level::TRACE));
    }

    #[test]
    fn directives_parse_leniently() {
        let table: [(&str, &str, Level, bool); 9] = [
            ("", "recipe_share", Level::INFO, true),
            ("", "recipe_share", Level::DEBUG, false),
            ("DEBUG", "recipe_share", Level::DEBUG, true),
            ("FATAL", "recipe_share", Level::WARN, false),
            ("FATAL", "recipe_share", Level::ERROR, true),
            ("warn,recipe_share=trace", "recipe_share::flow", Level::TRACE, true),
            ("warn,recipe_share=trace", "hyper", Level::INFO, false),
            ("recipe_share[span{f=1}]=trace,debug", "other", Level::DEBUG, true),
            ("nonsense=loud", "recipe_share", Level::INFO, true),
        ];
        for (text, target, level, want) in table {
            assert_eq!(
                parse_directives(text).would_enable(target, &level),
                want,
                "{text:?} {target} {level}"
            );
        }
    }
}
