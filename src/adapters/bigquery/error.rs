//! What can go wrong talking to BigQuery, kept apart from how it is shown.

/// Credentials never appear in any of these messages.
#[derive(Debug, thiserror::Error)]
pub enum BigQueryError {
    #[error("BigQuery authentication failed: {message}")]
    Auth { message: String, help: String },
    #[error("BigQuery quota or limit reached: {message}")]
    Quota { message: String, help: String },
    /// A job that ran and failed; `line`/`column` point into the SQL sent.
    #[error("{message}")]
    Job {
        message: String,
        reason: String,
        line: Option<usize>,
        column: Option<usize>,
        job_id: String,
    },
    #[error(
        "job {job_id} did not finish within {seconds} s (job_execution_timeout_seconds); it was cancelled"
    )]
    Timeout { job_id: String, seconds: u64 },
    #[error("BigQuery answered HTTP {status}: {message}")]
    Http { status: u16, message: String },
    #[error("cannot reach BigQuery: {0}")]
    Network(String),
    #[error("unexpected answer from BigQuery: {0}")]
    Protocol(String),
}

impl BigQueryError {
    /// What the user can do about it, where there is something.
    pub fn help(&self) -> Option<&str> {
        match self {
            BigQueryError::Auth { help, .. } | BigQueryError::Quota { help, .. } => Some(help),
            BigQueryError::Timeout { .. } => Some(
                "raise `job_execution_timeout_seconds` in profiles.yml, or make the model cheaper (partition filters)",
            ),
            BigQueryError::Network(_) => {
                Some("check the network, or `api_endpoint` in profiles.yml when using an emulator")
            }
            _ => None,
        }
    }

    /// Worth retrying: rate limits, backend errors, 5xx, dropped connections.
    pub fn is_transient(&self) -> bool {
        match self {
            BigQueryError::Http { status, .. } => *status == 429 || *status >= 500,
            BigQueryError::Job { reason, .. } => matches!(
                reason.as_str(),
                "rateLimitExceeded" | "backendError" | "internalError" | "jobBackendError"
            ),
            BigQueryError::Network(_) => true,
            _ => false,
        }
    }
}

/// BigQuery puts the position of a SQL error at the end of its message:
/// `Unrecognized name: x at [3:14]`.
pub fn position(message: &str) -> Option<(usize, usize)> {
    let start = message.rfind(" at [")?;
    let inner = message[start + 5..].strip_suffix(']')?;
    let (line, column) = inner.split_once(':')?;
    Some((line.parse().ok()?, column.parse().ok()?))
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_the_position_at_the_end_of_a_message() {
        assert_eq!(
            super::position("Unrecognized name: nope at [2:3]"),
            Some((2, 3))
        );
        assert_eq!(super::position("Syntax error"), None);
    }
}
