//! Typed errors of the library. The binary maps them to exit codes: 2 for bad input, 1 otherwise.

use std::fmt;

/// A problem with the user's config: file, line (where TOML gives one), field, what is allowed.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub file: String,
    pub line: Option<usize>,
    /// Dotted path of the field, e.g. `sweep.lr` or `optimizer[1].beta`.
    pub field: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{}: field `{}`: {}", self.file, l, self.field, self.message),
            None => write!(f, "{}: field `{}`: {}", self.file, self.field, self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// Bad flags or paths (exit 2).
    #[error("{0}")]
    Usage(String),
    /// No usable GPU adapter, or the device failed.
    #[error("GPU: {0}")]
    Gpu(String),
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// 2 for bad input (config, flags, paths), 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Config(_) | Error::Usage(_) => 2,
            _ => 1,
        }
    }

    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io { context: context.into(), source }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
