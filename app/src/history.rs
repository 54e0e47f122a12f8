//! The history of a record for auditors and admins: every event with who,
//! when, and a field-level diff of the record before and after it.

use crate::error::Error;
use chrono::{DateTime, Utc};
use rdv_domain::VersionedAggregate;
use rdv_eventstore::{StoredEvent, codec::Decoder};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct Change {
    /// Dotted path of the field, e.g. `informations.default_duration_in_min`.
    pub field: String,
    pub before: Value,
    pub after: Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryEntry {
    pub position: i64,
    /// The record's version after this change.
    pub version: i64,
    pub occurred_at: DateTime<Utc>,
    /// `platform-admin`, `agent:<id>`...
    pub actor: String,
    pub event_type: String,
    pub changes: Vec<Change>,
}

/// Replays a stream and diffs `view` of the record around each event;
/// events that change nothing `view` shows are left out.
pub fn of<A: VersionedAggregate>(
    events: &[StoredEvent],
    view: impl Fn(&A) -> Value,
) -> Result<Vec<HistoryEntry>, Error> {
    let decoder = Decoder::<A>::default();
    let mut record = A::default();
    let mut before = view(&record);
    let mut entries = Vec::new();
    for event in events {
        record.apply(decoder.decode(event)?);
        let after = view(&record);
        let mut changes = Vec::new();
        diff("", &before, &after, &mut changes);
        if !changes.is_empty() {
            entries.push(HistoryEntry {
                position: event.position,
                version: event.sequence,
                occurred_at: event.metadata.occurred_at,
                actor: event.metadata.actor.clone(),
                event_type: event.event_type.clone(),
                changes,
            });
        }
        before = after;
    }
    Ok(entries)
}

fn diff(path: &str, before: &Value, after: &Value, out: &mut Vec<Change>) {
    let empty = Map::new();
    let objects = match (before, after) {
        (Value::Object(b), Value::Object(a)) => Some((b, a)),
        (Value::Null, Value::Object(a)) => Some((&empty, a)),
        (Value::Object(b), Value::Null) => Some((b, &empty)),
        _ => None,
    };
    match objects {
        Some((b, a)) => {
            let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let field = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                diff(
                    &field,
                    b.get(key).unwrap_or(&Value::Null),
                    a.get(key).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        None if before != after => out.push(Change {
            field: path.to_string(),
            before: before.clone(),
            after: after.clone(),
        }),
        None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn diffs_nested_fields_and_creation() {
        let mut out = Vec::new();
        diff("", &Value::Null, &json!({"a": 1, "b": {"c": "x"}}), &mut out);
        let fields: Vec<_> = out.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["a", "b.c"]);
        let mut out = Vec::new();
        diff(
            "",
            &json!({"a": 1, "b": {"c": "x", "d": [1]}}),
            &json!({"a": 1, "b": {"c": "y", "d": [1, 2]}}),
            &mut out,
        );
        let changed: Vec<_> = out
            .iter()
            .map(|c| (c.field.as_str(), c.before.clone(), c.after.clone()))
            .collect();
        assert_eq!(
            changed,
            [("b.c", json!("x"), json!("y")), ("b.d", json!([1]), json!([1, 2]))]
        );
    }
}
