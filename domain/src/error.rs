//! Validation errors raised by pure rules.

/// A value failed a domain rule. `field` names the input, `message` says what
/// is wrong and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    /// The input field (JSON field name or parameter) that is invalid.
    pub field: &'static str,
    /// A human sentence describing the problem and the fix.
    pub message: String,
}

impl ValidationError {
    /// Builds a validation error for `field`.
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}
