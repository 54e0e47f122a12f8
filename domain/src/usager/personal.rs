//! Which parts of stored events are an usager's personal data, and what
//! they read as once erased (RGPD).
//!
//! The event store seals the personal fields of a profile with the usager's
//! own data key before writing (crypto-shredding): `ForgetUsager` destroys
//! the key, and from then on every read of those events, a replay or an
//! audit export included, shows the fields as erased while the rest of the
//! history (ids, organisations, times) stays intact and its hash chain
//! still verifies. Copies outside the events (saved responses, webhook
//! bodies, read models) are scrubbed with [`erase_in`].

use serde_json::{Value, json};

/// What erased names read as.
pub const ERASED: &str = "[effacé]";

/// The profile fields that are personal data: names, e-mail, phone, birth
/// date, custom fields (notes and the like), civility, address,
/// affiliation number, the SI's identifier.
pub const PERSONAL_FIELDS: &[&str] = &[
    "first_name",
    "last_name",
    "email",
    "phone",
    "birth_date",
    "custom",
    "title",
    "address",
    "affiliation_number",
    "external_id",
];

/// Other names the same data goes by in webhook payloads.
const ALIASES: &[&str] = &["phone_number"];

/// The JSON pointer of the part of a stored event holding personal fields,
/// if it has one. Whose data it is: the event's aggregate (the usager).
pub fn sealed_part(aggregate_type: &str, event_type: &str) -> Option<&'static str> {
    match (aggregate_type, event_type) {
        ("Usager", "UsagerCreated") => Some("/UsagerCreated/profile"),
        ("Usager", "UsagerUpdated") => Some("/UsagerUpdated/profile"),
        _ => None,
    }
}

/// Whether this event destroys its aggregate's personal data: a cached
/// copy of the stream must then be dropped, not extended.
pub fn forgets(aggregate_type: &str, event_type: &str) -> bool {
    aggregate_type == "Usager" && event_type == "UsagerForgotten"
}

/// What a personal field reads as once erased: names keep a placeholder
/// (they are required), custom fields become empty, the rest null.
pub fn erased_value(field: &str) -> Value {
    match field {
        "first_name" | "last_name" => json!(ERASED),
        "custom" => json!({}),
        _ => Value::Null,
    }
}

/// Erases, anywhere in `value`, the personal fields of the objects whose
/// `id` is `usager_id` (and of their `profile`): a saved answer, a webhook
/// body or a document naming the usager. Says whether anything changed.
pub fn erase_in(value: &mut Value, usager_id: &str) -> bool {
    match value {
        Value::Array(items) => items
            .iter_mut()
            .fold(false, |changed, v| erase_in(v, usager_id) | changed),
        Value::Object(object) => {
            let mut changed = false;
            if object.get("id").and_then(Value::as_str) == Some(usager_id) {
                changed |= erase_fields(object);
                if let Some(Value::Object(profile)) = object.get_mut("profile") {
                    changed |= erase_fields(profile);
                }
            }
            for child in object.values_mut() {
                changed |= erase_in(child, usager_id);
            }
            changed
        }
        _ => false,
    }
}

fn erase_fields(object: &mut serde_json::Map<String, Value>) -> bool {
    let mut changed = false;
    for field in PERSONAL_FIELDS.iter().chain(ALIASES) {
        if let Some(current) = object.get_mut(*field) {
            let erased = erased_value(field);
            if *current != erased {
                *current = erased;
                changed = true;
            }
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_named_usager_is_erased_wherever_it_appears() {
        let mut body = json!({
            "data": {"id": "r1", "users": [
                {"id": "u1", "first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.fr",
                 "phone_number": "+33612345678", "birth_date": "1815-12-10"},
                {"id": "u2", "first_name": "Alan", "last_name": "Turing"},
            ]},
            "profile_copy": {"id": "u1", "profile": {"first_name": "Ada", "custom": {"note": "x"}}},
        });
        assert!(erase_in(&mut body, "u1"));
        let users = &body["data"]["users"];
        assert_eq!(users[0]["first_name"], ERASED);
        assert_eq!(users[0]["email"], Value::Null);
        assert_eq!(users[0]["phone_number"], Value::Null);
        assert_eq!(users[0]["birth_date"], Value::Null);
        assert_eq!(users[1]["first_name"], "Alan", "another usager is left alone");
        assert_eq!(body["profile_copy"]["profile"]["custom"], json!({}));
        assert!(!erase_in(&mut body, "u1"), "erasing twice changes nothing");
    }
}
