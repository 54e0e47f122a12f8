//! One error type for every aggregate, so the gateway maps failures to HTTP
//! statuses in a single place.

use serde::Serialize;

/// The class of a domain failure; the gateway turns it into an HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Input breaks a rule (422).
    Invalid,
    /// The record does not exist (404).
    NotFound,
    /// The record exists already or its state forbids the command (409).
    Conflict,
    /// Something that was valid is not any more: an expired or used token (410).
    Gone,
    /// The caller may not do this (403).
    Forbidden,
}

/// A failure tied to one input field, as RFC 9457 `errors[]` lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A rejected command, with the fields to blame when there are some.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DomainError {
    pub kind: ErrorKind,
    pub message: String,
    pub errors: Vec<FieldError>,
}

impl DomainError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            errors: Vec::new(),
        }
    }

    /// A 422 naming one field.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self {
            kind: ErrorKind::Invalid,
            errors: vec![FieldError::new(field, message.clone())],
            message,
        }
    }

    /// A 422 naming several fields at once, so a form shows every mistake.
    pub fn invalid_fields(errors: Vec<FieldError>) -> Self {
        Self {
            kind: ErrorKind::Invalid,
            message: "the request has invalid fields".into(),
            errors,
        }
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorKind::NotFound, format!("{what} not found"))
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }

    pub fn gone(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Gone, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, message)
    }
}
