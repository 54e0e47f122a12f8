//! Reading requests: JSON bodies whose every bad field is named, and the
//! command headers (`Idempotency-Key`, `If-Match`).

use crate::error::ApiError;
use axum::{
    extract::{FromRequest, FromRequestParts, Request},
    http::request::Parts,
};
use bytes::Bytes;
use rdv_domain::{DomainError, FieldError};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

/// A JSON body: 400 when it is not JSON, 422 naming the field when a value
/// has the wrong type. `hash` identifies the request for idempotency.
pub struct JsonBody<T> {
    pub value: T,
    pub hash: String,
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::too_large("the body is over 1 MB")
            } else {
                ApiError::malformed(e.body_text())
            }
        })?;
        let json: serde_json::Value = if bytes.is_empty() {
            serde_json::Value::Object(Default::default())
        } else {
            serde_json::from_slice(&bytes)
                .map_err(|e| ApiError::malformed(format!("the body is not valid JSON: {e}")))?
        };
        if !json.is_object() {
            return Err(ApiError::invalid(vec![FieldError::new(
                "body",
                "must be a JSON object",
            )]));
        }
        check_shape(&json, "", 0)?;
        let value = Self::parse_value(json)?;
        Ok(Self {
            value,
            hash: hex::encode(Sha256::digest(&bytes)),
        })
    }
}

/// Nesting allowed in a body: commands are a few levels deep at most.
const MAX_DEPTH: usize = 16;
/// Characters allowed in one string of a body (notes, instructions...).
const MAX_STRING: usize = 10_000;

/// Free-text fields meant to hold several lines: `\n` and `\t` are allowed
/// in them (and `\r` before `\n`), in no other string.
pub const MULTI_LINE_FIELDS: [&str; 8] = [
    "context",
    "notes",
    "description",
    "before_booking",
    "after_booking",
    "cancellation_warning",
    "custom_sentence",
    "punishable_warning",
];

/// Why a string cannot be stored: a control character (C0, DEL or C1,
/// NUL included), outside the line breaks and tabs of a multi-line field.
/// PostgreSQL refuses NUL in text, and the others break e-mails, SMS,
/// letters and logs; every string of every body passes here first.
pub fn control_character_error(text: &str, multi_line: bool) -> Option<String> {
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let allowed = match c {
            '\n' | '\t' => multi_line,
            '\r' => multi_line && chars.peek() == Some(&'\n'),
            c => !c.is_control(),
        };
        if !allowed {
            return Some(format!(
                "must not hold control characters (found U+{:04X}){}",
                c as u32,
                if multi_line {
                    ""
                } else {
                    "; line breaks are for multi-line fields only"
                }
            ));
        }
    }
    None
}

/// Refuses bodies nested deeper than [`MAX_DEPTH`], holding a string
/// longer than [`MAX_STRING`] characters or a control character (see
/// [`control_character_error`]), in a value or a key (422 naming the
/// place), before anything reads them.
fn check_shape(value: &serde_json::Value, path: &str, depth: usize) -> Result<(), ApiError> {
    use serde_json::Value;
    let here = |field: &str| {
        if path.is_empty() {
            field.to_string()
        } else {
            format!("{path}.{field}")
        }
    };
    let field = if path.is_empty() { "body" } else { path };
    match value {
        Value::String(text) if text.chars().count() > MAX_STRING => Err(ApiError::invalid(vec![FieldError::new(
            field,
            format!("at most {MAX_STRING} characters"),
        )])),
        Value::String(text) => {
            let multi_line = MULTI_LINE_FIELDS.contains(&path.rsplit('.').next().unwrap_or_default());
            match control_character_error(text, multi_line) {
                Some(message) => Err(ApiError::invalid(vec![FieldError::new(field, message)])),
                None => Ok(()),
            }
        }
        Value::Array(_) | Value::Object(_) if depth >= MAX_DEPTH => Err(ApiError::invalid(vec![FieldError::new(
            field,
            format!("nested more than {MAX_DEPTH} levels deep"),
        )])),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, item)| check_shape(item, &format!("{path}[{i}]"), depth + 1)),
        Value::Object(map) => map.iter().try_for_each(|(key, item)| {
            if let Some(message) = control_character_error(key, false) {
                return Err(ApiError::invalid(vec![FieldError::new(
                    field,
                    format!("a key {message}"),
                )]));
            }
            check_shape(item, &here(key), depth + 1)
        }),
        _ => Ok(()),
    }
}

impl<T: DeserializeOwned> JsonBody<T> {
    /// A JSON merge patch (RFC 7396) applied to `current`, read back with the
    /// same field-naming errors as a body: what every PATCH route does.
    pub fn patched(mut current: serde_json::Value, patch: serde_json::Value) -> Result<T, ApiError> {
        merge_patch(&mut current, patch);
        Self::parse_value(current)
    }

    /// Reads a value built from the request (a merged patch, say) with the
    /// same field-naming errors as a body.
    pub fn parse_value(json: serde_json::Value) -> Result<T, ApiError> {
        let probe = json.clone();
        serde_path_to_error::deserialize(json).map_err(|e| {
            let mut path = e.path().to_string();
            let message = e.into_inner().to_string();
            if path == "." {
                path = Self::culprit(&probe, &message).unwrap_or(path);
            }
            ApiError::invalid(vec![field_error(&path, message)])
        })
    }

    /// The top-level field behind an error serde reports at the root: a
    /// struct with flattened fields (an usager's) buffers them and loses
    /// their path. The culprit is the key without which the body reads, or
    /// fails otherwise than by missing that key.
    fn culprit(json: &serde_json::Value, message: &str) -> Option<String> {
        let serde_json::Value::Object(map) = json else {
            return None;
        };
        map.keys()
            .find(|key| {
                let mut without = map.clone();
                without.remove(*key);
                match serde_json::from_value::<T>(serde_json::Value::Object(without)) {
                    Ok(_) => true,
                    Err(other) => {
                        let other = other.to_string();
                        other != message && !other.starts_with(&format!("missing field `{key}`"))
                    }
                }
            })
            .cloned()
    }
}

/// Names the field of a serde error: its path, or for a missing field the
/// path of the missing field itself.
fn field_error(path: &str, message: String) -> FieldError {
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next());
    let field = match (path, missing) {
        (".", Some(name)) => name.to_string(),
        (_, Some(name)) => format!("{path}.{name}"),
        (".", None) => "body".to_string(),
        _ => path.to_string(),
    };
    let message = if missing.is_some() {
        "is required".to_string()
    } else {
        message
    };
    FieldError::new(field, message)
}

/// Collects every field error of a form before answering, so the caller
/// sees all its mistakes at once.
#[derive(Default)]
pub struct Form {
    errors: Vec<FieldError>,
}

impl Form {
    /// A required field, parsed; records "is required" when absent.
    pub fn required<T>(
        &mut self,
        field: &str,
        raw: Option<&str>,
        parse: impl FnOnce(&str, &str) -> Result<T, DomainError>,
    ) -> Option<T> {
        match raw {
            Some(raw) => self.check(parse(raw, field)),
            None => {
                self.missing(field);
                None
            }
        }
    }

    /// An optional field, parsed when present.
    pub fn optional<T>(
        &mut self,
        field: &str,
        raw: Option<&str>,
        parse: impl FnOnce(&str, &str) -> Result<T, DomainError>,
    ) -> Option<Option<T>> {
        match raw {
            Some(raw) => self.check(parse(raw, field)).map(Some),
            None => Some(None),
        }
    }

    /// An organisation's or a lieu's phone: blank is none; otherwise it must
    /// read as a French number (as the usagers' do) and is kept as typed,
    /// trimmed, for people to read.
    pub fn contact_phone(&mut self, field: &str, raw: Option<String>) -> Option<Option<String>> {
        let typed = raw.map(|p| p.trim().to_string()).filter(|p| !p.is_empty());
        self.optional(field, typed.as_deref(), rdv_domain::phone::PhoneE164::parse)?;
        Some(typed)
    }

    /// Records a required field that is absent.
    pub fn missing(&mut self, field: &str) {
        self.errors.push(FieldError::new(field, "is required"));
    }

    /// Keeps a parsed value, or records its errors.
    pub fn check<T>(&mut self, result: Result<T, DomainError>) -> Option<T> {
        result.map_err(|e| self.errors.extend(e.errors)).ok()
    }

    /// 422 with every recorded error, or the parsed value.
    pub fn finish<T>(self, value: impl FnOnce() -> Option<T>) -> Result<T, ApiError> {
        if !self.errors.is_empty() {
            return Err(ApiError::invalid(self.errors));
        }
        value().ok_or_else(|| ApiError::invalid(vec![FieldError::new("body", "is incomplete")]))
    }
}

/// The optional headers of a command.
pub struct CommandHeaders {
    pub idempotency_key: Option<String>,
    /// The version the caller last saw (`If-Match: "3"`).
    pub if_match: Option<i64>,
    pub correlation_id: Option<uuid::Uuid>,
}

impl<S: Send + Sync> FromRequestParts<S> for CommandHeaders {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let header = |name: &str| -> Result<Option<String>, ApiError> {
            parts
                .headers
                .get(name)
                .map(|v| {
                    v.to_str()
                        .map(|s| s.trim().to_string())
                        .map_err(|_| ApiError::bad_request(format!("{name} is not text")))
                })
                .transpose()
        };
        let idempotency_key = header("idempotency-key")?;
        if let Some(key) = &idempotency_key
            && (key.is_empty() || key.len() > 255)
        {
            return Err(ApiError::bad_request("Idempotency-Key must hold 1 to 255 characters"));
        }
        let if_match = header("if-match")?
            .map(|raw| {
                raw.trim_start_matches("W/")
                    .trim_matches('"')
                    .parse::<i64>()
                    .map_err(|_| ApiError::bad_request("If-Match must be a version such as \"3\""))
            })
            .transpose()?;
        let correlation_id = header("x-correlation-id")?.and_then(|raw| raw.parse().ok());
        Ok(Self {
            idempotency_key,
            if_match,
            correlation_id,
        })
    }
}

/// Query parameters; a bad one is a 400 problem naming it, a value with a
/// control character a 422 naming it.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let raw = parts.uri.query().unwrap_or_default();
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(raw).map_err(|e| ApiError::bad_request(format!("query: {e}")))?;
        for (name, value) in &pairs {
            if let Some(message) = control_character_error(value, false) {
                return Err(ApiError::invalid(vec![FieldError::new(name, message)]));
            }
        }
        serde_urlencoded::from_str(raw)
            .map(Query)
            .map_err(|e| ApiError::bad_request(format!("query: {e}")))
    }
}

/// Parses a path id; an id that cannot exist is simply not found.
pub fn path_id<T: std::str::FromStr>(raw: &str, what: &str) -> Result<T, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found(what))
}

/// RFC 7396: objects merge key by key, `null` removes, anything else replaces.
fn merge_patch(target: &mut serde_json::Value, patch: serde_json::Value) {
    use serde_json::Value;
    match patch {
        Value::Object(patch) => {
            if !target.is_object() {
                *target = Value::Object(Default::default());
            }
            if let Value::Object(target) = target {
                for (key, value) in patch {
                    if value.is_null() {
                        target.remove(&key);
                    } else {
                        merge_patch(target.entry(key).or_insert(Value::Null), value);
                    }
                }
            }
        }
        other => *target = other,
    }
}

/// `?as_of=`: a record as it stood at an RFC 3339 instant (its events
/// until then), for auditors and history screens.
#[derive(serde::Deserialize, utoipa::IntoParams)]
pub struct AsOf {
    /// RFC 3339 instant; absent: now.
    pub as_of: Option<chrono::DateTime<chrono::Utc>>,
}
