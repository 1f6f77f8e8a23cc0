//! Everything that can go wrong, named by what failed; one enum for the whole crate.

use crate::kind::Kind;
use std::fmt;

/// A failed AWS call, reduced to what a person (and the decision table) needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsFailure {
    /// The API operation, e.g. `PutImageRecipePolicy`.
    pub op: &'static str,
    /// The modeled error code (`x-amzn-ErrorType`), when the service answered with one.
    pub code: Option<String>,
    /// The service's message, or a description of the transport failure.
    pub message: String,
}

impl AwsFailure {
    /// True when the service answered with this error code.
    pub fn is(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }

    /// The service answered with a client error (throttling included), so the call changed
    /// nothing. Server errors and transport failures may have taken effect before the answer was lost.
    pub fn changed_nothing(&self) -> bool {
        self.code.as_deref().is_some_and(|code| !SERVER_CODES.contains(&code))
    }

    /// A modeled refusal (4xx, not throttling): asking again will get the same answer.
    pub fn is_definite_refusal(&self) -> bool {
        self.changed_nothing() && !self.is_throttling()
    }

    /// The service said to slow down (whatever it calls it).
    pub fn is_throttling(&self) -> bool {
        self.code.as_deref().is_some_and(|c| THROTTLING_CODES.contains(&c))
    }
}

/// Throttling as Image Builder (`CallRateLimitExceededException`, which the SDK's defaults do not
/// know) and RAM name it, plus the SDK's own generic names.
pub const THROTTLING_CODES: [&str; 5] = [
    "CallRateLimitExceededException",
    "ThrottlingException",
    "TooManyRequestsException",
    "Throttling",
    "RequestLimitExceeded",
];
const SERVER_CODES: [&str; 4] = [
    "ServiceException",
    "ServiceUnavailableException",
    "ServerInternalException",
    "InternalFailure",
];

impl fmt::Display for AwsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.code {
            Some(code) => write!(f, "{} failed with {code}: {}", self.op, self.message),
            None => write!(f, "{} failed: {}", self.op, self.message),
        }
    }
}

/// Every failure of the function, named by what failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration setting (environment variable) is missing or invalid.
    #[error("configuration setting {setting} is invalid: {problem}")]
    Config { setting: &'static str, problem: String },
    /// The request does not carry what the contract requires.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// A value that should be an Image Builder ARN of `kind` is not one.
    #[error("not a valid {kind} ARN ({reason}): {value:?}")]
    InvalidArn {
        kind: Kind,
        value: String,
        reason: &'static str,
    },
    /// The resource lives in another account or Region than this function: refused (confused deputy).
    #[error(
        "refusing to share {arn}: it belongs to account {account} in {region}, this function serves account {own_account} in {own_region}"
    )]
    ForeignResource {
        arn: String,
        account: String,
        region: String,
        own_account: String,
        own_region: String,
    },
    /// The resource does not exist (or is not visible to this function).
    #[error("{kind} {arn} was not found")]
    NotFound { kind: Kind, arn: String },
    /// The resource is out of scope: tagged `recipe-share:exclude`.
    #[error("{arn} is tagged {tag}={value:?}, so the organization standard does not share it")]
    Excluded {
        arn: String,
        tag: &'static str,
        value: String,
    },
    /// An AWS call failed in a way nothing in this invocation can fix.
    #[error("{0}")]
    Aws(AwsFailure),
    /// RAM refused to unshare (typically because consumers still depend on the resource).
    #[error(
        "RAM refused to unshare {arn} from {share}: {failure}. Consumers may still depend on it; unshare by hand or keep it (DeletionPolicy: Retain)"
    )]
    UnshareRefused {
        arn: String,
        share: String,
        failure: AwsFailure,
    },
    /// RAM never showed a share for the resource after its policy was written.
    #[error("no RAM resource share holding {0} appeared after its policy was written")]
    ShareNotFound(String),
    /// A share recipe-share did not make holds the resource with other principals than the
    /// standard; recipe-share never modifies such a share.
    #[error("{arn} is held by RAM share {share}, which recipe-share did not make and never modifies: {detail}")]
    ForeignShare { arn: String, share: String, detail: String },
    /// The org permission cannot be created or does not match the standard policy.
    #[error("RAM managed permission {name:?}: {problem}")]
    Permission { name: String, problem: String },
    /// RAM reached a state the standard cannot work from.
    #[error("RAM share {share}: {problem}")]
    ShareState { share: String, problem: String },
    /// A component or parent image the recipe needs could not be shared, so consumers could not
    /// build from the recipe.
    #[error("dependency {arn}: {source}")]
    Dependency { arn: String, source: Box<Error> },
    /// The invocation deadline arrived before the step finished.
    #[error("ran out of time {0} (the Lambda deadline is near)")]
    Deadline(String),
    /// The work panicked; caught so that CloudFormation still gets its answer.
    #[error("internal error (panic): {0}")]
    Panicked(String),
    /// The `ResponseURL` is not one this function may contact. Never carries the URL itself.
    #[error("ResponseURL rejected: {0}")]
    ResponseUrlRejected(String),
    /// The CloudFormation response could not be delivered before the deadline.
    #[error("could not deliver the CloudFormation response: {0}")]
    ResponseNotDelivered(String),
    /// The event is of no kind this function handles.
    #[error("unsupported event: {0}")]
    UnsupportedEvent(String),
    /// A reconcile sweep cannot go on.
    #[error("sweep: {0}")]
    Sweep(String),
}

impl Error {
    /// The short type Lambda records for a failed invocation; `Retryable` tells operators (and
    /// the dead-letter queue readers) whether running the same event again can help.
    pub fn error_type(&self) -> &'static str {
        match self {
            Error::Aws(f) if f.is_definite_refusal() => "NonRetryable",
            Error::Aws(_)
            | Error::ShareNotFound(_)
            | Error::Deadline(_)
            | Error::ResponseNotDelivered(_)
            | Error::UnshareRefused { .. } => "Retryable",
            // ListComponents can take minutes to show a new component: a later try may find it.
            Error::Dependency { source, .. } if matches!(**source, Error::NotFound { .. }) => "Retryable",
            Error::Dependency { source, .. } => source.error_type(),
            _ => "NonRetryable",
        }
    }
}

impl From<AwsFailure> for Error {
    fn from(f: AwsFailure) -> Self {
        Error::Aws(f)
    }
}

impl From<Error> for lambda_runtime::Diagnostic {
    fn from(e: Error) -> Self {
        lambda_runtime::Diagnostic {
            error_type: e.error_type().to_string(),
            error_message: e.to_string(),
        }
    }
}
