//! Settings of the `rdv` process, from `--flags` or the environment.

use chrono::{DateTime, Utc};
use std::path::PathBuf;

/// What `rdv serve` (and the other subcommands) need to start.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Directory of the embedded SQLite store and the e-mail outbox (.eml files).
    #[arg(long, env = "RDV_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// `postgres://user@host:port/db` (or `postgresql://`): the store is
    /// PostgreSQL instead of the embedded SQLite; `sqlite:` or unset: SQLite
    /// under the data directory. Other schemes are refused.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// NATS server with JetStream (`nats://127.0.0.1:4222`): where
    /// `rdv publish` publishes the events.
    #[arg(long, env = "NATS_URL")]
    pub nats_url: Option<String>,
    /// Maximum PostgreSQL connections of this process (at least 2: the
    /// follow-ups projector reads beside its open transaction).
    #[arg(long, env = "RDV_DB_MAX_CONNECTIONS", default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(2..))]
    pub db_max_connections: u32,
    /// Address the HTTP API listens on.
    #[arg(long, env = "RDV_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// The JetStream stream `rdv publish` writes the events to.
    #[arg(long, env = "RDV_NATS_STREAM", default_value = "RDV_EVENTS")]
    pub nats_stream: String,
    /// Events are published on `<prefix>.<aggregate_type>.<event_type>`;
    /// `rdv project` follows `<prefix>.>` to wake its projectors.
    #[arg(long, env = "RDV_NATS_PREFIX", default_value = "rdv.events")]
    pub nats_prefix: String,
    /// `rdv project`, `rdv relay` and `rdv publish`: serve `/metrics`,
    /// `/health` and `/ready` on this address (the gateway serves them on
    /// `RDV_LISTEN`). Unset: not served.
    #[arg(long, env = "RDV_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,
    /// `rdv project`: look for new events this often when NATS (`NATS_URL`)
    /// wakes the projectors (a safety net for messages NATS lost or the
    /// publisher has not sent yet); without NATS they look every 200 ms.
    #[arg(long, env = "RDV_PROJECT_POLL", default_value = "1s", value_parser = parse_duration)]
    pub project_poll: chrono::Duration,
    /// Platform admin token. When unset and the store is empty, `rdv serve`
    /// creates one and prints it once.
    #[arg(long, env = "RDV_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// How long an agent invitation stays valid: `7d`, `48h`, `30m` or seconds.
    #[arg(long, env = "RDV_INVITATION_TTL", default_value = "7d", value_parser = parse_duration)]
    pub invitation_ttl: chrono::Duration,
    /// Base URL of the pages links sent by e-mail and SMS open. Default: this
    /// process's own address (`http://` and `RDV_LISTEN`, `localhost` for a
    /// wildcard address), so that links work on a machine out of the box.
    #[arg(long, env = "RDV_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// SMTP server for e-mails (`smtp://host:port`); without it, e-mails are
    /// written as .eml files under `<data-dir>/outbox/`.
    #[arg(long, env = "SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// HTTP SMS gateway taking `{"to", "text"}` JSON; without it, SMS are
    /// written as .sms files under `<data-dir>/outbox/`.
    #[arg(long, env = "SMS_GATEWAY_URL")]
    pub sms_gateway_url: Option<String>,
    /// Base64 of 32 bytes sealing secrets at rest (webhook secrets) and
    /// wrapping each usager's data key (RGPD crypto-shredding); without it,
    /// `<data-dir>/master.key` is used, created on first start. Every
    /// process of one store needs the same key.
    #[arg(long, env = "RDV_MASTER_KEY", hide_env_values = true)]
    pub master_key: Option<String>,
    /// Hosts webhooks may reach over http and at non-public addresses
    /// (comma-separated; e.g. `127.0.0.1` for tests). Others: https to
    /// public addresses only.
    #[arg(long, env = "RDV_WEBHOOK_ALLOW_HOSTS", default_value = "")]
    pub webhook_allow_hosts: String,
    /// How long a webhook attempt may take before it counts as failed
    /// (`15s` as in the contract; seconds, or `2m`...).
    #[arg(long, env = "RDV_WEBHOOK_TIMEOUT", default_value = "15", value_parser = parse_duration)]
    pub webhook_timeout: chrono::Duration,
    /// An endpoint whose deliveries have all failed this long is disabled and
    /// its organisation's admins are e-mailed.
    #[arg(long, env = "RDV_WEBHOOK_DISABLE_AFTER", default_value = "5d", value_parser = parse_duration)]
    pub webhook_disable_after: chrono::Duration,
    /// Webhook retry schedule in seconds: the first attempt, then each retry
    /// (after the last, a delivery is dead-lettered).
    #[arg(
        long,
        env = "RDV_WEBHOOK_RETRY_SCHEDULE",
        default_value = "0,5,300,1800,7200,18000,36000,36000"
    )]
    pub webhook_retry_schedule: rdv_webhook_relay::delivery::RetrySchedule,
    /// Sender address of e-mails.
    #[arg(
        long,
        env = "RDV_MAIL_FROM",
        default_value = "rdv-events <ne-pas-repondre@rdv-events.localhost>"
    )]
    pub mail_from: String,
    /// Freezes the clock at this RFC 3339 instant (demos, acceptance checks).
    #[arg(long, env = "RDV_NOW", value_parser = parse_instant)]
    pub now: Option<DateTime<Utc>>,
    /// Run projectors and the outbox sender inside this process (embedded
    /// mode). Turn off for a stateless gateway beside `rdv project`.
    #[arg(long, env = "RDV_EMBEDDED_WORKERS", default_value_t = true, action = clap::ArgAction::Set)]
    pub embedded_workers: bool,
    /// Run the schedulers in this process: 48 h RDV reminders, and the
    /// invitation and convocation daily jobs (convocation reminders at
    /// 10:00, invitation reminders at 11:00, periodic invites at 14:00, in
    /// each organisation's zone). Safe in several gateways at once: each
    /// reminder is recorded once, each daily run once per day.
    #[arg(long, env = "RDV_SCHEDULER", default_value_t = true, action = clap::ArgAction::Set)]
    pub scheduler: bool,
    /// Usagers with no activity for this long (no change to their record,
    /// no RDV taken or held, no follow-up) are forgotten (RGPD) by the
    /// scheduler, as `POST /v1/usagers/{id}/forget` does.
    #[arg(long, env = "RDV_RETENTION", default_value = "730d", value_parser = parse_duration)]
    pub retention: chrono::Duration,
    /// Origins of front apps allowed to call the API from a browser
    /// (comma-separated, e.g. `https://rdv.exemple.gouv.fr`); none: no CORS.
    #[arg(long, env = "RDV_CORS_ORIGINS", default_value = "")]
    pub cors_origins: String,
    /// Requests a minute per client address on the endpoints open to anyone
    /// (public booking, short links, token pages); 0 turns the limit off.
    #[arg(long, env = "RDV_PUBLIC_RATE_LIMIT", default_value_t = 300)]
    pub public_rate_limit: u32,
}

impl Config {
    /// The embedded defaults, storing under `data_dir`: what tests start.
    pub fn embedded(data_dir: PathBuf) -> Self {
        Self {
            data_dir,
            database_url: None,
            nats_url: None,
            db_max_connections: 16,
            listen: "127.0.0.1:0".into(),
            metrics_listen: None,
            nats_stream: "RDV_EVENTS".into(),
            nats_prefix: "rdv.events".into(),
            project_poll: chrono::Duration::seconds(1),
            admin_token: None,
            invitation_ttl: chrono::Duration::days(7),
            public_url: None,
            smtp_url: None,
            sms_gateway_url: None,
            master_key: None,
            webhook_allow_hosts: String::new(),
            webhook_timeout: chrono::Duration::seconds(15),
            webhook_disable_after: chrono::Duration::days(5),
            webhook_retry_schedule: Default::default(),
            mail_from: "rdv-events <ne-pas-repondre@rdv-events.localhost>".into(),
            now: None,
            embedded_workers: true,
            scheduler: true,
            retention: chrono::Duration::days(730),
            cors_origins: String::new(),
            // Tests drive public endpoints hard from one address.
            public_rate_limit: 0,
        }
    }
}

impl Config {
    /// The base of the links messages carry: `RDV_PUBLIC_URL`, else the
    /// address the API is bound to (`localhost` for a wildcard address).
    pub fn public_url(&self, bound: std::net::SocketAddr) -> String {
        if let Some(url) = &self.public_url {
            return url.trim_end_matches('/').to_string();
        }
        match bound.ip().is_unspecified() {
            true => format!("http://localhost:{}", bound.port()),
            false => format!("http://{bound}"),
        }
    }

    /// Where `rdv publish` sends the events.
    pub fn destination(&self) -> rdv_app::publisher::Destination {
        rdv_app::publisher::Destination {
            stream: self.nats_stream.clone(),
            prefix: self.nats_prefix.clone(),
        }
    }
}

/// `7d`, `48h`, `30m`, `90s` or a number of seconds.
pub fn parse_duration(raw: &str) -> Result<chrono::Duration, String> {
    let raw = raw.trim();
    let (number, unit) = raw.split_at(raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len()));
    let n: i64 = number
        .parse()
        .map_err(|_| format!("'{raw}' is not a duration such as 7d, 48h or 3600"))?;
    let duration = match unit {
        "d" => chrono::Duration::days(n),
        "h" => chrono::Duration::hours(n),
        "m" => chrono::Duration::minutes(n),
        "s" | "" => chrono::Duration::seconds(n),
        _ => return Err(format!("'{raw}': unknown unit '{unit}' (use d, h, m or s)")),
    };
    if duration <= chrono::Duration::zero() {
        return Err("the duration must be positive".into());
    }
    Ok(duration)
}

fn parse_instant(raw: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(raw.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("'{raw}' is not an RFC 3339 instant: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_point_at_the_listen_address_unless_told_otherwise() {
        let mut config = Config::embedded(PathBuf::from("."));
        let bound = |a: &str| a.parse::<std::net::SocketAddr>().unwrap();
        assert_eq!(config.public_url(bound("127.0.0.1:9090")), "http://127.0.0.1:9090");
        assert_eq!(config.public_url(bound("0.0.0.0:8080")), "http://localhost:8080");
        assert_eq!(config.public_url(bound("[::]:8080")), "http://localhost:8080");
        config.public_url = Some("https://rdv.example.fr/".into());
        assert_eq!(config.public_url(bound("0.0.0.0:8080")), "https://rdv.example.fr");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("7d").unwrap(), chrono::Duration::days(7));
        assert_eq!(parse_duration("48h").unwrap(), chrono::Duration::hours(48));
        assert_eq!(parse_duration("90").unwrap(), chrono::Duration::seconds(90));
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("7w").is_err());
        assert!(parse_duration("soon").is_err());
    }
}
