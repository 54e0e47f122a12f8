//! The mixed load: what a département's front apps send at once. Used by
//! the load driver (`rdv-load --scenario mix`) and by the end-to-end suite.
//!
//! [`prepare`] creates a territory with one organisation, a motif usagers
//! book online (30 min) on `desks` agents, and an rdv-insertion category
//! (`rsa_orientation`) whose convocation motif only one agent (the
//! convener) takes. Each cycle of [`drive`] then, as an agent or an usager
//! would, over HTTP, spreading requests over every gateway given:
//! creates an usager, invites them, searches the slots of a day and books
//! one as the usager (several clients race for the same slots: losers get
//! 409 and try the next one), cancels every third booking, and every fourth
//! cycle books the usager an RDV of the convocation motif (its name holds
//! "convocation", as rdv-insertion requires), excuses it and convokes
//! them to the next free slot; reads the usager back (`min_position`, so
//! possibly from another gateway than the one that wrote) and every fifth
//! cycle lists the category's follow-ups.

use chrono::{Datelike, Duration as Days, NaiveDate};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

/// The rdv-insertion category the convocations are made in.
pub const CATEGORY: &str = "rsa_orientation";

/// Where the load goes: one or several gateways, and the platform admin's
/// token (agents' work is done with it).
#[derive(Clone)]
pub struct Target {
    pub bases: Vec<String>,
    pub admin: String,
    pub http: reqwest::Client,
}

/// One answer: its status, body, `X-Event-Position` and how long it took.
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
    pub position: Option<i64>,
    pub took: Duration,
}

impl Target {
    pub fn new(bases: Vec<String>, admin: impl Into<String>, clients: usize) -> Self {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(clients.max(1))
            .timeout(Duration::from_secs(30))
            .build()
            .expect("an HTTP client");
        Self {
            bases,
            admin: admin.into(),
            http,
        }
    }

    /// Sends a request to gateway `n` (modulo their number). A transport
    /// failure is answered as status 599 with the error as body.
    pub async fn call(&self, n: usize, method: Method, path: &str, body: Option<Value>) -> Answer {
        let base = &self.bases[n % self.bases.len()];
        let mut request = self
            .http
            .request(method, format!("{base}{path}"))
            .bearer_auth(&self.admin);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let started = Instant::now();
        let response = request.send().await;
        let (status, position, body) = match response {
            Ok(response) => {
                let status = response.status();
                let position = response
                    .headers()
                    .get("x-event-position")
                    .and_then(|v| v.to_str().ok()?.parse().ok());
                let text = response.text().await.unwrap_or_default();
                (
                    status,
                    position,
                    serde_json::from_str(&text).unwrap_or(Value::String(text)),
                )
            }
            Err(error) => (
                StatusCode::from_u16(599).expect("a valid code"),
                None,
                Value::String(error.to_string()),
            ),
        };
        Answer {
            status,
            body,
            position,
            took: started.elapsed(),
        }
    }

    /// A setup request: it must succeed; returns its body.
    async fn setup(&self, method: Method, path: &str, body: Value) -> Value {
        let answer = self.call(0, method, path, Some(body)).await;
        assert!(answer.status.is_success(), "{path}: {} {}", answer.status, answer.body);
        answer.body
    }
}

/// What [`prepare`] made.
#[derive(Debug, Clone)]
pub struct World {
    pub organisation: String,
    pub online_motif: String,
    pub convocation_motif: String,
    pub lieu: String,
    /// The agents usagers book online.
    pub desks: Vec<String>,
    /// The agent of the convocation motif.
    pub convener: String,
    /// The first weekday of the plages.
    pub first_day: NaiveDate,
    /// The position of the last setup write: requests reading projections
    /// of the setup (motifs, categories) wait for it, as the projector may
    /// be another process, late or restarting.
    pub settled: i64,
}

fn id(body: &Value) -> String {
    body["id"]
        .as_str()
        .or(body["agent_id"].as_str())
        .unwrap_or_else(|| panic!("no id in {body}"))
        .to_string()
}

/// A 30-minute motif: booked online by usagers, or (with a category) a
/// convocation motif as rdv-insertion wants it: agents only, not notified
/// by RDV Service Public's own messages.
fn motif(organisation: &str, name: &str, category: Option<&str>) -> Value {
    let (bookable_by, visibility, min_delay) = match category {
        Some(_) => ("agents", "visible_and_not_notified", 2880),
        None => ("everyone", "visible_and_notified", 30),
    };
    json!({
        "informations": {"name": name, "color": "#123456", "service": "service_social", "default_duration_in_min": 30,
                         "location_type": "public_office", "collective": false, "max_participants": null,
                         "visibility": visibility, "follow_up": false, "category": category},
        "booking": {"bookable_by": bookable_by, "min_booking_delay_in_min": min_delay, "max_booking_delay_in_min": 262800,
                    "usager_can_cancel": true, "usager_can_reschedule": false, "sectorisation_level": "departement"},
        "organisation_ids": [organisation],
    })
}

/// Weekday plages 09:00–17:00 from `first_day` for `motif`.
fn plage(world: &World, motif: &str) -> Value {
    json!({"organisation_id": world.organisation, "lieu_id": world.lieu, "motif_ids": [motif],
           "first_day": world.first_day.to_string(), "start_time": "09:00", "end_time": "17:00",
           "recurrence": {"every": "week", "interval": 1, "end": {"type": "never"},
                          "days": ["monday", "tuesday", "wednesday", "thursday", "friday"]}})
}

/// Creates the territory, organisation, motifs, category, lieu and agents
/// with their plages from `first_day` (a weekday), and waits until the
/// online motif's slots are offered.
pub async fn prepare(target: &Target, desks: usize, first_day: NaiveDate) -> World {
    let territory = id(&target
        .setup(
            Method::POST,
            "/v1/territories",
            json!({"name": "Drôme", "departement_number": "26"}),
        )
        .await);
    target
        .setup(
            Method::POST,
            &format!("/v1/territories/{territory}/services/service_social/activate"),
            json!({}),
        )
        .await;
    let organisation = id(&target
        .setup(
            Method::POST,
            &format!("/v1/territories/{territory}/organisations"),
            json!({"name": "CMS Valence"}),
        )
        .await);
    let motifs = format!("/v1/territories/{territory}/motifs");
    let online_motif = id(&target
        .setup(Method::POST, &motifs, motif(&organisation, "Accueil", None))
        .await);
    let convocation_motif = id(&target
        .setup(
            Method::POST,
            &motifs,
            motif(&organisation, "Convocation orientation RSA", Some(CATEGORY)),
        )
        .await);
    target
        .setup(
            Method::PUT,
            &format!("/v1/organisations/{organisation}/motif-categories/{CATEGORY}"),
            json!({"name": "RSA orientation", "phone_number": "04 75 11 22 33"}),
        )
        .await;
    let lieu = id(&target
        .setup(
            Method::POST,
            &format!("/v1/organisations/{organisation}/lieux"),
            json!({"name": "Accueil", "address": "1 rue A, 26000 Valence"}),
        )
        .await);
    let agent = |i: usize| json!({"first_name": "Agent", "last_name": format!("N{i}"), "services": ["service_social"], "role": "intervenant"});
    let agents = format!("/v1/organisations/{organisation}/agents");
    let mut world = World {
        organisation,
        online_motif,
        convocation_motif,
        lieu,
        desks: Vec::new(),
        convener: String::new(),
        first_day,
        settled: 0,
    };
    for i in 0..desks {
        world
            .desks
            .push(id(&target.setup(Method::POST, &agents, agent(i)).await));
    }
    world.convener = id(&target.setup(Method::POST, &agents, agent(desks)).await);
    let mut position = 0;
    let plages = world
        .desks
        .iter()
        .map(|a| (a.clone(), world.online_motif.clone()))
        .chain([(world.convener.clone(), world.convocation_motif.clone())]);
    for (agent, motif) in plages.collect::<Vec<_>>() {
        let created = target
            .call(
                0,
                Method::POST,
                &format!("/v1/agents/{agent}/plages"),
                Some(plage(&world, &motif)),
            )
            .await;
        assert!(created.status.is_success(), "plage: {}", created.body);
        position = position.max(created.position.unwrap_or(0));
    }
    world.settled = position;
    let day = world.first_day;
    let offered = target
        .call(
            0,
            Method::GET,
            &format!(
                "/v1/public/slots?organisation_id={}&motif_id={}&from={day}&to={day}&min_position={position}",
                world.organisation, world.online_motif
            ),
            None,
        )
        .await;
    assert!(offered.status.is_success(), "slots: {}", offered.body);
    world
}

/// How long a load lasts: a number of cycles, a time, or whichever ends first.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub cycles: Option<usize>,
    pub time: Option<Duration>,
}

/// Every answer of one kind of request.
#[derive(Debug, Default, Clone)]
pub struct Figures {
    pub took: Vec<Duration>,
    pub statuses: BTreeMap<u16, usize>,
}

impl Figures {
    fn add(&mut self, answer: &Answer) {
        self.took.push(answer.took);
        *self.statuses.entry(answer.status.as_u16()).or_default() += 1;
    }

    /// The latency at quantile `q` (0..=1), in milliseconds.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        let mut took = self.took.clone();
        took.sort();
        took.get(((took.len() as f64 * q) as usize).min(took.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    }
}

/// What a load did.
#[derive(Debug, Default)]
pub struct Report {
    /// By request kind (`usager.create`, `rdv.book`, `slots.search`, …).
    pub figures: BTreeMap<&'static str, Figures>,
    /// RDVs usagers booked online, and those then cancelled.
    pub booked: Vec<String>,
    pub cancelled: Vec<String>,
    /// Convocations made (their RDVs).
    pub convoked: Vec<String>,
    /// Answers no front app should ever get: 5xx, transport errors, and
    /// refusals other than a lost race (409).
    pub unexpected: Vec<String>,
    pub elapsed: Duration,
    pub cycles: usize,
}

impl Report {
    fn merge(&mut self, other: Report) {
        for (kind, figures) in other.figures {
            let mine = self.figures.entry(kind).or_default();
            mine.took.extend(figures.took);
            for (status, n) in figures.statuses {
                *mine.statuses.entry(status).or_default() += n;
            }
        }
        self.booked.extend(other.booked);
        self.cancelled.extend(other.cancelled);
        self.convoked.extend(other.convoked);
        self.unexpected.extend(other.unexpected);
        self.cycles += other.cycles;
    }

    /// Requests of every kind.
    pub fn requests(&self) -> usize {
        self.figures.values().map(|f| f.took.len()).sum()
    }

    /// A table: throughput and p50/p95/p99 per kind of request.
    pub fn table(&self) -> String {
        let seconds = self.elapsed.as_secs_f64().max(1e-9);
        let mut out = format!(
            "{} cycles, {} requests in {:.1} s: {:.0} requests/s\n{:<18} {:>7} {:>8} {:>9} {:>9} {:>9}  statuses\n",
            self.cycles,
            self.requests(),
            seconds,
            self.requests() as f64 / seconds,
            "request",
            "count",
            "per s",
            "p50 ms",
            "p95 ms",
            "p99 ms"
        );
        for (kind, f) in &self.figures {
            out.push_str(&format!(
                "{kind:<18} {:>7} {:>8.1} {:>9.2} {:>9.2} {:>9.2}  {:?}\n",
                f.took.len(),
                f.took.len() as f64 / seconds,
                f.quantile_ms(0.50),
                f.quantile_ms(0.95),
                f.quantile_ms(0.99),
                f.statuses
            ));
        }
        out
    }
}

/// One client's running state.
struct Client {
    target: Target,
    world: Arc<World>,
    /// Requests sent: the next one goes to gateway `sent % gateways`.
    sent: usize,
    report: Report,
}

impl Client {
    /// Sends, records under `kind`, and notes an answer outside `expected`.
    async fn send(
        &mut self,
        kind: &'static str,
        method: Method,
        path: &str,
        body: Option<Value>,
        expected: &[u16],
    ) -> Answer {
        let answer = self.target.call(self.sent, method, path, body).await;
        self.sent += 1;
        self.report.figures.entry(kind).or_default().add(&answer);
        if !answer.status.is_success() && !expected.contains(&answer.status.as_u16()) {
            self.report
                .unexpected
                .push(format!("{kind} {path}: {} {}", answer.status, answer.body));
        }
        answer
    }

    async fn cycle(&mut self, n: usize) {
        let world = self.world.clone();
        self.report.cycles += 1;
        let usager = self
            .send(
                "usager.create",
                Method::POST,
                "/v1/usagers",
                Some(
                    json!({"organisation_ids": [world.organisation], "first_name": "Camille",
                            "last_name": format!("Usager{n}"), "title": "madame",
                            "email": format!("usager{n}@exemple.fr")}),
                ),
                &[],
            )
            .await;
        if !usager.status.is_success() {
            return;
        }
        let usager_id = id(&usager.body);
        let invited = self
            .send(
                "invitation.create",
                Method::POST,
                &format!(
                    "/v1/organisations/{}/usagers/{usager_id}/invitations?min_position={}",
                    world.organisation, world.settled
                ),
                Some(json!({"motif_category": CATEGORY, "formats": ["email"]})),
                &[],
            )
            .await;
        let follow_up = invited.body["follow_up_id"].as_str().map(String::from);
        let mut position = invited.position.or(usager.position).unwrap_or(0);

        // Eight cycles share a day, so clients race for its first slots.
        let day = weekday(world.first_day, n / 8);
        let slots = self
            .send(
                "slots.search",
                Method::GET,
                &format!(
                    "/v1/public/slots?organisation_id={}&motif_id={}&from={day}&to={day}",
                    world.organisation, world.online_motif
                ),
                None,
                &[],
            )
            .await;
        let starts: Vec<String> = slots
            .body
            .as_array()
            .map(|s| {
                s.iter()
                    .filter_map(|s| s["starts_at"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let mut booked = None;
        for starts_at in starts.iter().take(4) {
            let answer = self
                .send(
                    "rdv.book",
                    Method::POST,
                    "/v1/public/rdvs",
                    Some(
                        json!({"organisation_id": world.organisation, "motif_id": world.online_motif,
                                "starts_at": starts_at,
                                "usager": {"first_name": "Dominique", "last_name": format!("Usager{n}")}}),
                    ),
                    &[409],
                )
                .await;
            if answer.status == StatusCode::CREATED {
                position = position.max(answer.position.unwrap_or(0));
                booked = Some(id(&answer.body));
                break;
            }
        }
        if let Some(rdv) = booked {
            self.report.booked.push(rdv.clone());
            if n.is_multiple_of(3) {
                let cancelled = self.cancel(&rdv).await;
                if cancelled.status.is_success() {
                    self.report.cancelled.push(rdv);
                }
            }
        }
        if n.is_multiple_of(4)
            && let Some(follow_up) = follow_up
        {
            position = position.max(self.convoke(n, &usager_id, &follow_up).await);
        }
        self.send(
            "usager.get",
            Method::GET,
            &format!("/v1/usagers/{usager_id}?min_position={position}"),
            None,
            &[],
        )
        .await;
        if n.is_multiple_of(5) {
            self.send(
                "follow_ups.list",
                Method::GET,
                &format!(
                    "/v1/organisations/{}/follow-ups?motif_category={CATEGORY}&min_position={position}",
                    world.organisation
                ),
                None,
                &[],
            )
            .await;
        }
    }

    async fn cancel(&mut self, rdv: &str) -> Answer {
        self.send(
            "rdv.cancel",
            Method::POST,
            &format!("/v1/rdvs/{rdv}/cancel"),
            Some(json!({"status": "excused"})),
            &[],
        )
        .await
    }

    /// Books the usager an RDV of the category (far ahead, at a time of its
    /// own), excuses it, then convokes them to the next free slot. Returns
    /// the last position written.
    async fn convoke(&mut self, n: usize, usager: &str, follow_up: &str) -> i64 {
        let world = self.world.clone();
        let day = weekday(world.first_day, 200 + n / 16);
        let starts_at = format!("{day}T{:02}:{:02}:00+01:00", 9 + (n % 16) / 2, (n % 2) * 30);
        let booked = self
            .send(
                "rdv.book_by_agent",
                Method::POST,
                "/v1/rdvs",
                Some(
                    json!({"organisation_id": world.organisation, "motif_id": world.convocation_motif,
                            "lieu_id": world.lieu, "agent_ids": [world.convener], "usager_ids": [usager],
                            "starts_at": starts_at}),
                ),
                &[],
            )
            .await;
        if !booked.status.is_success() {
            return 0;
        }
        let excused = self.cancel(&id(&booked.body)).await;
        let mut position = excused.position.unwrap_or(0);
        // Convocations race for the convener's next free slot: a loser
        // tries again (the next free slot has moved on).
        for _ in 0..6 {
            let convoked = self
                .send(
                    "follow_up.convoke",
                    Method::POST,
                    &format!("/v1/follow-ups/{follow_up}/convocations?min_position={position}"),
                    Some(json!({"organisation_id": world.organisation})),
                    &[409],
                )
                .await;
            position = position.max(convoked.position.unwrap_or(0));
            if convoked.status == StatusCode::CREATED {
                if let Some(rdv) = convoked.body["rdv_id"].as_str() {
                    self.report.convoked.push(rdv.to_string());
                }
                break;
            }
        }
        position
    }
}

/// The `k`-th weekday from `first` (itself a weekday).
fn weekday(first: NaiveDate, k: usize) -> NaiveDate {
    let mut day = first;
    let mut left = k;
    while left > 0 {
        day += Days::days(1);
        if day.weekday().number_from_monday() <= 5 {
            left -= 1;
        }
    }
    day
}

/// Runs the mix from `clients` concurrent clients until the budget is spent.
pub async fn drive(target: &Target, world: &World, clients: usize, budget: Budget) -> Report {
    let next = Arc::new(AtomicUsize::new(0));
    let world = Arc::new(world.clone());
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let mut client = Client {
                target: target.clone(),
                world: world.clone(),
                sent: c,
                report: Report::default(),
            };
            let next = next.clone();
            tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    let spent = budget.cycles.is_some_and(|max| n >= max)
                        || budget.time.is_some_and(|max| started.elapsed() >= max);
                    if spent {
                        return client.report;
                    }
                    client.cycle(n).await;
                }
            })
        })
        .collect();
    let mut report = Report::default();
    for task in tasks {
        report.merge(task.await.expect("a load client"));
    }
    report.elapsed = started.elapsed();
    report
}
