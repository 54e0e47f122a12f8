//! Hostile strings in every string field of every command body of
//! `schemas/openapi.json` (the valid bodies of the rights world), on both
//! stores: NUL, ESC, a C1 control and a line break outside the fields meant
//! to be multi-line are refused at the door with 422 naming the field, and
//! nothing is written; no input makes a store refuse a write (no 5xx).

use crate::{
    helpers::*,
    rights_matrix::{World, operations, world},
};
use rdv_gateway::extract::MULTI_LINE_FIELDS;
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// Strings no single-line field may hold; the last is fine in notes.
const HOSTILE: [&str; 4] = ["Du\u{0}rand", "\u{1b}[31mrouge", "fin\u{85}", "ligne\r\nsuivante"];

/// Every string of a body, by the path the door names it with
/// (`a.b`, `a[0]`).
fn string_paths(value: &Value, path: &str, found: &mut Vec<String>) {
    match value {
        Value::String(_) => found.push(path.to_string()),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                string_paths(item, &format!("{path}[{i}]"), found);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                let here = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                string_paths(item, &here, found);
            }
        }
        _ => {}
    }
}

/// The body with the string at `path` replaced.
fn with_string(body: &Value, path: &str, text: &str) -> Value {
    let mut body = body.clone();
    let mut at = &mut body;
    for part in path.split('.') {
        let (key, index) = match part.split_once('[') {
            Some((key, rest)) => (key, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (part, None),
        };
        at = &mut at[key];
        if let Some(i) = index {
            at = &mut at[i];
        }
    }
    *at = Value::String(text.to_string());
    body
}

async fn hostile_strings_are_refused_at_the_door(app: TestApp) {
    let world: World = world(&app).await;
    let (mut wrong, mut calls) = (Vec::new(), 0);
    // Anonymous operations (public booking, sign-up, tokens) included.
    for (method, template) in operations(|o| o.get("requestBody").is_some()) {
        let body = world
            .body(&method, &template)
            .unwrap_or_else(|| panic!("{method} {template}: give it a body in rights_matrix.rs"));
        let mut fields = Vec::new();
        string_paths(&body, "", &mut fields);
        let path = world.path(&template);
        for field in fields {
            let multi_line = MULTI_LINE_FIELDS.contains(&field.rsplit('.').next().unwrap_or_default());
            for text in HOSTILE {
                let may_pass = multi_line && text.contains('\n');
                let before = app.head_position().await;
                let verb = Method::from_bytes(method.as_bytes()).unwrap();
                let sent = with_string(&body, &field, text);
                let reply = app.request(verb, &path, Some(&app.admin_token), Some(sent), &[]).await;
                calls += 1;
                let written = app.head_position().await != before;
                let refused = reply.status == StatusCode::UNPROCESSABLE_ENTITY && reply.fields().contains(&field);
                let right = !reply.status.is_server_error() && (may_pass || (refused && !written));
                if !right {
                    let shown = text.escape_debug();
                    wrong.push(format!(
                        "{method} {path} {field}={shown}: {} {}",
                        reply.status, reply.body
                    ));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "hostile strings not refused:\n{}", wrong.join("\n"));
    assert!(calls > 300, "{calls} calls");
}

#[tokio::test]
async fn hostile_strings_are_refused_at_the_door_on_sqlite() {
    hostile_strings_are_refused_at_the_door(
        TestApp::spawn_configured(|config| config.webhook_allow_hosts = "127.0.0.1".into()).await,
    )
    .await;
}

#[tokio::test]
async fn hostile_strings_are_refused_at_the_door_on_postgres() {
    let Some(mut app) = TestApp::spawn_postgres().await else {
        return;
    };
    app.config.webhook_allow_hosts = "127.0.0.1".into();
    hostile_strings_are_refused_at_the_door(app.restart().await).await;
}
