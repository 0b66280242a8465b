//! Why a node did not run to completion: one typed error per kind of
//! cause, each with a stable diagnostic code that the console, JSON logs
//! and `run_results.json` carry.

use crate::diagnostics::{Code, codes};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RunError {
    /// The node's Jinja, SQL or dialect translation failed at run time.
    #[error("{0}")]
    Compile(String),
    /// The warehouse refused or failed a statement.
    #[error("{0}")]
    Warehouse(String),
    /// The model's output breaks its contract.
    #[error("{0}")]
    Contract(String),
    /// A config value the materialization cannot use.
    #[error("{0}")]
    Config(String),
    /// A test or unit test that could not run (its assertion failing is a
    /// result, not an error).
    #[error("{0}")]
    Test(String),
    /// A pre- or post-hook failed.
    #[error("{0}")]
    Hook(String),
    /// The run was interrupted before the node finished.
    #[error("the run was interrupted")]
    Cancelled,
    /// A bug in rdbt.
    #[error("internal error (a bug in rdbt): {0}")]
    Internal(String),
}

impl RunError {
    /// How dbt names this kind of error in its summary (`Database Error in
    /// model x`).
    pub fn label(&self) -> &'static str {
        match self {
            RunError::Compile(_) => "Compilation Error",
            RunError::Warehouse(_) => "Database Error",
            RunError::Contract(_) => "Contract Error",
            RunError::Config(_) | RunError::Test(_) | RunError::Hook(_) => "Runtime Error",
            RunError::Cancelled => "Runtime Error",
            RunError::Internal(_) => "Internal Error",
        }
    }

    /// The kind, as JSON logs and run_results.json name it.
    pub fn kind(&self) -> &'static str {
        match self {
            RunError::Compile(_) => "compile",
            RunError::Warehouse(_) => "warehouse",
            RunError::Contract(_) => "contract",
            RunError::Config(_) => "config",
            RunError::Test(_) => "test",
            RunError::Hook(_) => "hook",
            RunError::Cancelled => "cancelled",
            RunError::Internal(_) => "internal",
        }
    }

    /// The stable code of this kind of error.
    pub fn code(&self) -> Code {
        match self {
            RunError::Compile(_) => codes::RUN_COMPILE,
            RunError::Warehouse(_) => codes::RUN_WAREHOUSE,
            RunError::Contract(_) => codes::RUN_CONTRACT,
            RunError::Config(_) => codes::RUN_CONFIG,
            RunError::Test(_) => codes::RUN_TEST,
            RunError::Hook(_) => codes::RUN_HOOK,
            RunError::Cancelled => codes::RUN_CANCELLED,
            RunError::Internal(_) => codes::INTERNAL,
        }
    }
}
