//! The checked-in contract: JSON Schemas of every command and event, and
//! `openapi.json`. `rdv schemas` writes them; a test fails when they are stale.

use rdv_domain::{
    agenda, agent, agent_day, agent_email, category, daily_run, follow_up, lieu, motif, motif_key, organisation,
    platform, rdv, territory, usager, webhook_endpoint,
};
use schemars::{JsonSchema, schema_for};
use std::path::{Path, PathBuf};

fn pretty(value: &impl serde::Serialize) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("schemas serialise");
    text.push('\n');
    text
}

fn schema<T: JsonSchema>() -> String {
    pretty(&schema_for!(T))
}

/// Every generated file, as (path under `schemas/`, content).
pub fn generated() -> Vec<(PathBuf, String)> {
    let mut files = vec![(PathBuf::from("openapi.json"), pretty(&crate::routes::openapi()))];
    let pairs = [
        (
            "Territory",
            schema::<territory::TerritoryCommand>(),
            schema::<territory::TerritoryEvent>(),
        ),
        (
            "Organisation",
            schema::<organisation::OrganisationCommand>(),
            schema::<organisation::OrganisationEvent>(),
        ),
        ("Agent", schema::<agent::AgentCommand>(), schema::<agent::AgentEvent>()),
        (
            "AgentEmail",
            schema::<agent_email::AgentEmailCommand>(),
            schema::<agent_email::AgentEmailEvent>(),
        ),
        (
            "Platform",
            schema::<platform::PlatformCommand>(),
            schema::<platform::PlatformEvent>(),
        ),
        ("Motif", schema::<motif::MotifCommand>(), schema::<motif::MotifEvent>()),
        (
            "MotifKey",
            schema::<motif_key::MotifKeyCommand>(),
            schema::<motif_key::MotifKeyEvent>(),
        ),
        ("Lieu", schema::<lieu::LieuCommand>(), schema::<lieu::LieuEvent>()),
        (
            "AgentAgenda",
            schema::<agenda::AgentAgendaCommand>(),
            schema::<agenda::AgentAgendaEvent>(),
        ),
        (
            "AgentDay",
            schema::<agent_day::AgentDayCommand>(),
            schema::<agent_day::AgentDayEvent>(),
        ),
        ("Rdv", schema::<rdv::RdvCommand>(), schema::<rdv::RdvEvent>()),
        (
            "Usager",
            schema::<usager::UsagerCommand>(),
            schema::<usager::UsagerEvent>(),
        ),
        (
            "CategoryConfiguration",
            schema::<category::CategoryCommand>(),
            schema::<category::CategoryEvent>(),
        ),
        (
            "DailyRun",
            schema::<daily_run::DailyRunCommand>(),
            schema::<daily_run::DailyRunEvent>(),
        ),
        (
            "FollowUp",
            schema::<follow_up::FollowUpCommand>(),
            schema::<follow_up::FollowUpEvent>(),
        ),
        (
            "WebhookEndpoint",
            schema::<webhook_endpoint::WebhookEndpointCommand>(),
            schema::<webhook_endpoint::WebhookEndpointEvent>(),
        ),
    ];
    for (aggregate, commands, events) in pairs {
        files.push((PathBuf::from(format!("commands/{aggregate}.json")), commands));
        files.push((PathBuf::from(format!("events/{aggregate}.json")), events));
    }
    files
}

/// Writes every file under `dir`.
pub fn write(dir: &Path) -> std::io::Result<()> {
    for (path, content) in generated() {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, content)?;
    }
    Ok(())
}

/// The files under `dir` that differ from what the code generates.
pub fn stale(dir: &Path) -> Vec<PathBuf> {
    generated()
        .into_iter()
        .filter(|(path, content)| std::fs::read_to_string(dir.join(path)).ok().as_deref() != Some(content.as_str()))
        .map(|(path, _)| path)
        .collect()
}
