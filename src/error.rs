//! Everything that can go wrong, named by what failed; one enum for the whole crate.

use std::fmt;

/// A failed AWS call, reduced to what a person (and the retry logic) needs.
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

    /// A modeled client error (4xx): the service refused, so the call changed nothing. Server
    /// errors and transport failures may have taken effect before the answer was lost.
    pub fn is_definite_refusal(&self) -> bool {
        match self.code.as_deref() {
            None => false,
            Some(code) => !matches!(
                code,
                "ServiceException" | "ServiceUnavailableException" | "ServerInternalException" | "InternalFailure"
            ),
        }
    }

    /// Throttling that the SDK's standard retry policy leaves to us (Image Builder's 429 is not in
    /// the SDK's throttling list; RAM's is, but a few more tries inside the deadline cost nothing).
    pub fn is_throttling(&self) -> bool {
        matches!(
            self.code.as_deref(),
            Some("CallRateLimitExceededException" | "ThrottlingException" | "TooManyRequestsException")
        )
    }
}

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
    /// A value that should be an image-recipe ARN is not one.
    #[error("not an image recipe ARN ({reason}): {value:?}")]
    InvalidRecipeArn { value: String, reason: &'static str },
    /// The recipe lives in another account or Region than this function: refused (confused deputy).
    #[error(
        "refusing to share {arn}: it belongs to account {account} in {region}, this function serves account {own_account} in {own_region}"
    )]
    ForeignRecipe {
        arn: String,
        account: String,
        region: String,
        own_account: String,
        own_region: String,
    },
    /// The recipe does not exist (or is not visible to this function).
    #[error("image recipe {0} was not found")]
    RecipeNotFound(String),
    /// An AWS call failed in a way retrying inside this invocation cannot fix.
    #[error("{0}")]
    Aws(AwsFailure),
    /// RAM never showed a share for the recipe after the policy was written.
    #[error("no RAM resource share holding {0} appeared after its policy was written")]
    ShareNotFound(String),
    /// The org permission cannot be created or does not match the standard policy.
    #[error("RAM managed permission {name:?}: {problem}")]
    Permission { name: String, problem: String },
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
}

impl Error {
    /// The short type Lambda records for a failed invocation; `Retryable` tells operators (and
    /// the dead-letter queue readers) whether running the same event again can help.
    pub fn error_type(&self) -> &'static str {
        match self {
            Error::Aws(_) | Error::ShareNotFound(_) | Error::Deadline(_) | Error::ResponseNotDelivered(_) => {
                "Retryable"
            }
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
