//! The rights matrix, checked from the outside on every operation of
//! `schemas/openapi.json`: each operation declares the permission and the
//! place it is about (a test fails when an operation is missing here), and
//! every role of two territories calls it on territory A's records. A
//! caller the matrix refuses gets 403 or 404, with nothing written and no
//! personal data in the answer; a caller it allows is never refused (reads
//! succeed; writes, each in a world of its own, get past the rights
//! check). The
//! expectation is read from the matrix itself ([`rdv_app::caller::Caller::may`]
//! over [`rdv_domain::rights`]), on both stores.

use crate::{
    helpers::*,
    insertion::{CATEGORY, follow_up_of, insertion_setup, invite},
    trust::{USAGER_NAME, other_territory, usager_with_rdv},
};
use rdv_app::caller::{Caller, Place};
use rdv_domain::{
    agent::Agent,
    ids::{AgentId, OrganisationId, TerritoryId},
    rights::Permission,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// Where an operation acts, in territory A.
#[derive(Debug, Clone, Copy)]
enum At {
    Platform,
    Territory,
    Organisation,
    /// The basic agent's agenda in A's organisation.
    AgentAgenda,
}

/// The permission each authenticated operation needs, and where. Anonymous
/// operations (public booking, tokens, health) have no row.
fn declared(method: &str, path: &str) -> Option<(Permission, At)> {
    use At::*;
    use Permission::*;
    let row = match (method, path) {
        ("POST", "/v1/territories") => (CreateTerritory, Platform),
        ("GET", "/v1/events") => (ReadEventFeed, Platform),
        ("GET", "/v1/territories/{id}") => (ReadTerritory, Territory),
        ("GET" | "POST", "/v1/territories/{id}/organisations") => (ConfigureTerritory, Territory),
        (
            "POST",
            "/v1/territories/{id}/services/{service}/activate" | "/v1/territories/{id}/services/{service}/deactivate",
        ) => (ManageServices, Territory),
        ("PUT", "/v1/territories/{id}/agents/{agent_id}/rights") => (GrantTerritoryRights, Territory),
        ("GET", "/v1/territories/{id}/settings" | "/v1/motifs/{id}") => (ReadTerritoryCatalogue, Territory),
        ("PUT", p) if p.starts_with("/v1/territories/{id}/settings/") => (ConfigureTerritory, Territory),
        ("GET", "/v1/territories/{id}/settings/history" | "/v1/motifs/{id}/history") => (ConfigureTerritory, Territory),
        ("POST", "/v1/territories/{id}/motifs" | "/v1/motifs/{id}/archive" | "/v1/motifs/{id}/restore") => {
            (ConfigureTerritory, Territory)
        }
        ("PATCH", "/v1/motifs/{id}") => (ConfigureTerritory, Territory),
        (_, p) if p.contains("webhook-endpoint") || p.starts_with("/v1/deliveries/") => (ManageWebhooks, Territory),
        ("GET", "/v1/audit/events" | "/v1/audit/{aggregate_type}/{id}/events") => (Audit, Territory),
        ("GET", "/v1/organisations/{id}") => (ReadOrganisation, Organisation),
        ("PATCH", "/v1/organisations/{id}") => (UpdateOrganisation, Organisation),
        ("GET", "/v1/organisations/{id}/agents" | "/v1/agents/{id}") => (ListAgents, Organisation),
        (_, p) if p.starts_with("/v1/organisations/{id}/agents") => (ManageAgents, Organisation),
        (
            "GET",
            "/v1/organisations/{id}/lieux"
            | "/v1/organisations/{id}/motifs"
            | "/v1/organisations/{id}/motif-categories",
        ) => (ReadOrganisationCatalogue, Organisation),
        (_, p) if p.starts_with("/v1/lieux/") || p == "/v1/organisations/{id}/lieux" => {
            (ConfigureOrganisation, Organisation)
        }
        (_, p) if p.starts_with("/v1/organisations/{id}/motif") => (ConfigureOrganisation, Organisation),
        ("POST", "/v1/usagers/{id}/forget") => (ForgetUsager, Organisation),
        (_, p) if p.starts_with("/v1/usagers") || p == "/v1/organisations/{id}/usagers" => (Usagers, Organisation),
        (_, p) if p.starts_with("/v1/rdvs") => (Rdvs, Organisation),
        (
            "GET",
            "/v1/organisations/{id}/rdvs" | "/v1/organisations/{id}/slots" | "/v1/organisations/{id}/next-availability",
        ) => (Rdvs, Organisation),
        (_, p) if p.starts_with("/v1/follow-ups") || p.starts_with("/v1/participations") => (Insertion, Organisation),
        ("GET", "/v1/organisations/{id}/follow-ups" | "/v1/organisations/{id}/stats") => (Insertion, Organisation),
        ("POST", "/v1/organisations/{id}/usagers/{usager_id}/invitations") => (Insertion, Organisation),
        (_, p)
            if p.starts_with("/v1/agents/{id}/") || p.starts_with("/v1/plages/") || p.starts_with("/v1/absences/") =>
        {
            (Agenda, AgentAgenda)
        }
        _ => return None,
    };
    Some(row)
}

/// Operations this test does not call, and why (each is tested elsewhere).
const NOT_CALLED: [(&str, &str, &str); 2] = [
    ("POST", "/v1/auth/revoke", "acts on the caller's own token only"),
    (
        "GET",
        "/v1/participations/{id}/convocation.pdf",
        "needs a convocation (insertion tests)",
    ),
];

/// The callers: the platform admin, A's organisation admin and basic agent,
/// B's admin and basic agent, and agents of B holding each territory right
/// on A.
struct Role {
    name: &'static str,
    token: String,
    agent: Option<String>,
}

/// Territory A's records, and the roles.
pub(crate) struct World {
    territory: String,
    organisation: String,
    ids: BTreeMap<&'static str, String>,
    roles: Vec<Role>,
}

pub(crate) async fn world(app: &TestApp) -> World {
    let insertion = insertion_setup(app).await;
    let a = &insertion.s;
    let territory = a.territory.clone();
    let (usager, rdv) = usager_with_rdv(app, a).await;
    let admin = &app.admin_token;
    let (_, org_b, b_admin_agent, b_admin) = other_territory(app).await;
    let (org_admin_agent, org_admin) = app.active_agent(&a.organisation, "chef@cms.fr", "admin").await;
    let (b_basic_agent, b_basic) = app.active_agent(&org_b, "agent@privas.fr", "basic").await;
    let mut roles = vec![
        Role {
            name: "platform admin",
            token: admin.clone(),
            agent: None,
        },
        Role {
            name: "A's organisation admin",
            token: org_admin,
            agent: Some(org_admin_agent),
        },
        Role {
            name: "A's basic agent",
            token: a.token.clone(),
            agent: Some(a.agent.clone()),
        },
        Role {
            name: "B's organisation admin",
            token: b_admin,
            agent: Some(b_admin_agent),
        },
        Role {
            name: "B's basic agent",
            token: b_basic,
            agent: Some(b_basic_agent),
        },
    ];
    for (i, right) in ["admin", "manage_configuration", "manage_webhooks", "audit"]
        .iter()
        .enumerate()
    {
        let (agent, token) = app.active_agent(&org_b, &format!("droit{i}@privas.fr"), "basic").await;
        let granted = app
            .request(
                Method::PUT,
                &format!("/v1/territories/{territory}/agents/{agent}/rights"),
                Some(admin),
                Some(json!({ *right: true })),
                &[],
            )
            .await;
        assert_eq!(granted.status, StatusCode::OK, "{}", granted.body);
        let name = [
            "B's agent, territory admin of A",
            "B's agent, configuration right on A",
            "B's agent, webhooks right on A",
            "B's agent, audit right on A",
        ][i];
        roles.push(Role {
            name,
            token,
            agent: Some(agent),
        });
    }
    let plage = app
        .post(
            &format!("/v1/agents/{}/plages", a.agent),
            &a.token,
            crate::slots::plage(a, "2026-03-02", "14:00", "16:00", &["wednesday"]),
        )
        .await;
    assert_eq!(plage.status, StatusCode::CREATED, "{}", plage.body);
    let absence = app
        .post(&format!("/v1/agents/{}/absences", a.agent), &a.token, absence_body())
        .await;
    assert_eq!(absence.status, StatusCode::CREATED, "{}", absence.body);
    let endpoint = app
        .post(
            &format!("/v1/organisations/{}/webhook-endpoints", a.organisation),
            admin,
            json!({"target_url": "http://127.0.0.1:9/hook"}),
        )
        .await;
    assert_eq!(endpoint.status, StatusCode::CREATED, "{}", endpoint.body);
    let invited_usager = app
        .post(
            "/v1/usagers",
            &a.token,
            json!({"organisation_ids": [a.organisation], "first_name": USAGER_NAME, "last_name": "Invitée",
                   "title": "madame", "address": "3 rue B, 26000 Valence"}),
        )
        .await;
    let invited = invite(app, a, &invited_usager.id(), json!(["postal"])).await;
    assert_eq!(invited.status, StatusCode::CREATED, "{}", invited.body);
    // A change after the endpoint exists, so that it has a delivery.
    let moved = app
        .post(
            &format!("/v1/rdvs/{rdv}/reschedule"),
            &a.token,
            json!({"starts_at": "2026-01-12T11:00:00+01:00"}),
        )
        .await;
    assert!(moved.status.is_success(), "{}", moved.body);
    let mut delivery = None;
    for _ in 0..500 {
        let deliveries = app
            .get(&format!("/v1/webhook-endpoints/{}/deliveries", endpoint.id()), admin)
            .await;
        delivery = deliveries.body[0]["id"].as_str().map(String::from);
        if delivery.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let delivery = delivery.expect("the endpoint has a delivery within 10 s");
    let ids = BTreeMap::from([
        ("territory", territory.clone()),
        ("organisation", a.organisation.clone()),
        ("agent", a.agent.clone()),
        ("usager", usager),
        ("rdv", rdv),
        ("motif", a.motif.clone()),
        ("lieu", a.lieu.clone()),
        ("plage", plage.body["plage_id"].as_str().unwrap().to_string()),
        ("absence", absence.body["absence_id"].as_str().unwrap().to_string()),
        ("endpoint", endpoint.id()),
        ("delivery", delivery),
        ("follow_up", follow_up_of(&invited)),
        (
            "invitation",
            invited.body["invitations"][0]["id"].as_str().unwrap().to_string(),
        ),
    ]);
    World {
        territory,
        organisation: a.organisation.clone(),
        ids,
        roles,
    }
}

fn absence_body() -> Value {
    json!({"title": "Formation", "first_day": "2026-03-04", "start_time": "08:00", "end_time": "09:00"})
}

impl World {
    /// The operation's path with A's records in it.
    pub(crate) fn path(&self, template: &str) -> String {
        let id_of = |kind: &str| self.ids[kind].clone();
        let first = match template {
            t if t.starts_with("/v1/territories/") => id_of("territory"),
            t if t.starts_with("/v1/organisations/") => id_of("organisation"),
            t if t.starts_with("/v1/agents/") => id_of("agent"),
            t if t.starts_with("/v1/usagers/") => id_of("usager"),
            t if t.starts_with("/v1/rdvs/") || t.starts_with("/v1/public/rdvs/") => id_of("rdv"),
            t if t.starts_with("/v1/motifs/") => id_of("motif"),
            t if t.starts_with("/v1/lieux/") => id_of("lieu"),
            t if t.starts_with("/v1/plages/") => id_of("plage"),
            t if t.starts_with("/v1/absences/") => id_of("absence"),
            t if t.starts_with("/v1/webhook-endpoints/") => id_of("endpoint"),
            t if t.starts_with("/v1/deliveries/") => id_of("delivery"),
            t if t.starts_with("/v1/audit/") => id_of("rdv"),
            t if t.starts_with("/v1/follow-ups/") => id_of("follow_up"),
            _ => String::new(),
        };
        let path = template
            .replacen("{id}", &first, 1)
            .replace("{agent_id}", &id_of("agent"))
            .replace("{usager_id}", &id_of("usager"))
            .replace("{motif_id}", &id_of("motif"))
            .replace("{invitation_id}", &id_of("invitation"))
            .replace("{short_name}", CATEGORY)
            .replace("{service}", "pmi")
            .replace("{aggregate_type}", "Rdv");
        let query = match template {
            "/v1/audit/events" => format!("?territory_id={}", self.territory),
            "/v1/organisations/{id}/slots" | "/v1/organisations/{id}/next-availability" => {
                format!("?motif_id={}", id_of("motif"))
            }
            "/v1/agents/{id}/agenda" => "?from=2026-03-02&to=2026-03-08".into(),
            "/v1/webhook-endpoints/{id}/replay" => "?since=2026-01-01T00:00:00Z".into(),
            "/v1/organisations/{id}/follow-ups" | "/v1/organisations/{id}/stats" => {
                format!("?motif_category={CATEGORY}")
            }
            _ => String::new(),
        };
        path + &query
    }

    /// A valid body for the operation, so that only rights can refuse it.
    pub(crate) fn body(&self, method: &str, template: &str) -> Option<Value> {
        let o = &self.organisation;
        let id_of = |kind: &str| self.ids[kind].clone();
        let body = match (method, template) {
            ("POST", "/v1/territories") => json!({"name": "Isère", "departement_number": "38"}),
            ("POST", "/v1/territories/{id}/organisations") => json!({"name": "CMS Nord"}),
            ("PUT", "/v1/territories/{id}/agents/{agent_id}/rights") => json!({"audit": false}),
            ("PUT", "/v1/territories/{id}/settings/closed-days") => json!({"days": []}),
            ("PUT", "/v1/territories/{id}/settings/rdv-fields") => json!({"context_enabled": true}),
            ("PUT", "/v1/territories/{id}/settings/usager-fields") => {
                json!({"shown": ["email", "phone", "birth_date"], "custom": []})
            }
            ("PUT", "/v1/territories/{id}/settings/waiting-room") => json!({"visual": true, "email": false}),
            ("POST", "/v1/territories/{id}/motifs") => json!({
                "informations": {"name": "Nouveau motif", "color": "#123456", "service": "service_social",
                                 "default_duration_in_min": 30, "location_type": "phone", "collective": false,
                                 "max_participants": null, "visibility": "visible_and_notified", "follow_up": false,
                                 "category": null},
                "booking": {"bookable_by": "agents", "min_booking_delay_in_min": 60, "max_booking_delay_in_min": 262800,
                            "usager_can_cancel": true, "usager_can_reschedule": true, "sectorisation_level": "departement"},
                "organisation_ids": [o],
            }),
            ("PATCH", "/v1/motifs/{id}") => json!({"informations": {"color": "#654321"}}),
            ("PATCH", "/v1/organisations/{id}") => json!({"website": "https://cms.example.fr"}),
            ("POST", "/v1/organisations/{id}/agents") => json!({"email": "nouvel@cms.fr", "first_name": "Nina",
                "last_name": "Simone", "services": ["service_social"], "role": "basic"}),
            ("PATCH", "/v1/organisations/{id}/agents/{agent_id}") => json!({"role": "basic"}),
            ("POST", "/v1/organisations/{id}/lieux") => json!({"name": "Annexe", "address": "2 rue C"}),
            ("PATCH", "/v1/lieux/{id}") => json!({"name": "Accueil principal"}),
            ("PUT", "/v1/organisations/{id}/motif-categories/{short_name}") => {
                json!({"name": "RSA orientation", "phone_number": "04 75 11 22 33"})
            }
            ("POST", "/v1/organisations/{id}/webhook-endpoints") => json!({"target_url": "http://127.0.0.1:9/other"}),
            ("PATCH", "/v1/webhook-endpoints/{id}") => json!({"description": "SI"}),
            ("POST", "/v1/organisations/{id}/usagers/{usager_id}/invitations") => {
                json!({"motif_category": CATEGORY, "formats": ["postal"]})
            }
            ("POST", "/v1/usagers") => json!({"organisation_ids": [o], "first_name": "Jules", "last_name": "Verne"}),
            ("PATCH", "/v1/usagers/{id}") => json!({"last_name": "Durand-Verne"}),
            ("POST", "/v1/usagers/{id}/archive") => json!({"reason": "déménagement"}),
            ("POST", "/v1/rdvs") => json!({"organisation_id": o, "motif_id": id_of("motif"), "lieu_id": id_of("lieu"),
                "agent_ids": [id_of("agent")], "usager_ids": [id_of("usager")], "starts_at": "2026-01-13T10:00:00+01:00"}),
            ("PATCH", "/v1/rdvs/{id}") => json!({"context": "Apporter un justificatif"}),
            ("POST", "/v1/rdvs/{id}/cancel") => json!({"status": "revoked"}),
            ("POST", "/v1/rdvs/{id}/status" | "/v1/rdvs/{id}/participants/{usager_id}/status") => {
                json!({"status": "unknown"})
            }
            ("POST", "/v1/rdvs/{id}/participants") => json!({"usager_id": id_of("usager")}),
            ("POST", "/v1/rdvs/{id}/reschedule") => json!({"starts_at": "2026-01-12T11:00:00+01:00"}),
            ("PUT", "/v1/follow-ups/{id}/referents") => json!({"agent_ids": [id_of("agent")]}),
            ("POST", "/v1/follow-ups/{id}/convocations") => json!({"organisation_id": o}),
            ("POST", "/v1/agents/{id}/plages") => json!({
                "organisation_id": o, "lieu_id": id_of("lieu"), "motif_ids": [id_of("motif")],
                "first_day": "2026-03-03", "start_time": "14:00", "end_time": "15:00"}),
            ("PATCH", "/v1/plages/{id}") => json!({
                "organisation_id": o, "lieu_id": id_of("lieu"), "motif_ids": [id_of("motif")],
                "first_day": "2026-03-02", "start_time": "14:00", "end_time": "17:00"}),
            ("POST", "/v1/agents/{id}/absences") | ("PATCH", "/v1/absences/{id}") => absence_body(),
            ("POST", "/v1/public/rdvs") => json!({"organisation_id": o, "motif_id": id_of("motif"),
                "lieu_id": id_of("lieu"), "starts_at": "2026-01-12T09:00:00+01:00",
                "usager": {"first_name": "Léa", "last_name": "Martin", "email": "lea@exemple.fr"}}),
            ("POST", "/v1/public/rdvs/{id}/participants") => {
                json!({"usager": {"first_name": "Léa", "last_name": "Martin"}})
            }
            ("POST", "/v1/public/rdvs/{id}/cancel" | "/v1/agents/invitations/accept") => json!({"token": "jeton"}),
            ("POST", "/v1/public/rdvs/{id}/reschedule") => {
                json!({"token": "jeton", "starts_at": "2026-01-12T09:00:00+01:00"})
            }
            _ => return None,
        };
        Some(body)
    }

    /// The role as the rights matrix sees it.
    async fn caller(&self, app: &TestApp, role: &Role) -> Caller {
        let token = rdv_app::tokens::hash(&role.token);
        let Some(agent) = &role.agent else {
            return Caller::PlatformAdmin { token };
        };
        let state = app.state.load::<Agent>(agent).await.unwrap().0.unwrap();
        Caller::Agent {
            id: AgentId(agent.parse().unwrap()),
            state: Box::new(state),
            token,
        }
    }

    fn place(&self, at: At) -> Place {
        let territory = TerritoryId(self.territory.parse().unwrap());
        let organisation = OrganisationId(self.organisation.parse().unwrap());
        match at {
            At::Platform => Place::Platform,
            At::Territory => Place::Territory(territory),
            At::Organisation => Place::Organisation(organisation, territory),
            At::AgentAgenda => Place::Agenda {
                agent: AgentId(self.ids["agent"].parse().unwrap()),
                organisation,
                territory,
            },
        }
    }
}

/// The operations of the OpenAPI document that `keep` keeps, as (method,
/// path template).
pub(crate) fn operations(keep: impl Fn(&Value) -> bool) -> Vec<(String, String)> {
    let document: Value = serde_json::from_str(include_str!("../../../schemas/openapi.json")).unwrap();
    let mut operations = Vec::new();
    for (path, items) in document["paths"].as_object().unwrap() {
        for (method, operation) in items.as_object().unwrap() {
            if keep(operation) {
                operations.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    operations
}

/// Whether an operation needs a bearer token.
fn authenticated(operation: &Value) -> bool {
    operation["security"].as_array().is_some_and(|s| !s.is_empty())
}

/// One call and what the matrix says of it; the mismatch, if any.
struct Call<'w> {
    world: &'w World,
    method: &'w str,
    template: &'w str,
}

impl Call<'_> {
    /// Calls as `role`; `allowed` is the matrix's answer. A refusal must
    /// be 403 or 404, write nothing and name no usager; an allowed read
    /// must succeed; an allowed write must get past the rights check
    /// (a 409 or 422 from the record's state is fine; a 404 only after an
    /// earlier caller deleted the record).
    async fn check(&self, app: &TestApp, role: &Role, allowed: bool, deleted: &mut bool) -> Option<String> {
        let (method, path) = (self.method, self.world.path(self.template));
        let before = app.head_position().await;
        let verb = Method::from_bytes(method.as_bytes()).unwrap();
        let body = self.world.body(method, self.template);
        let reply = app.request(verb, &path, Some(&role.token), body, &[]).await;
        let status = reply.status;
        let leaked = reply.body.to_string().contains(USAGER_NAME);
        let written = app.head_position().await != before;
        let right = match (allowed, method) {
            (false, _) => matches!(status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND) && !leaked && !written,
            (true, "GET") => status.is_success(),
            (true, _) => {
                let past_rights = !matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN)
                    && (status != StatusCode::NOT_FOUND || *deleted);
                *deleted |= method == "DELETE" && status.is_success();
                past_rights
            }
        };
        (!right).then(|| {
            let matrix = if allowed { "allowed" } else { "refused" };
            let wrote = if written && !allowed { ", wrote events" } else { "" };
            format!(
                "{} {method} {path}: {status} (matrix: {matrix}){wrote} {}",
                role.name, reply.body
            )
        })
    }
}

/// Every role on every operation: refusals and reads in one world (they
/// change nothing), each write in a world of its own.
async fn every_role_gets_the_matrix_answer(spawn: impl AsyncFn() -> TestApp) {
    let shared_app = spawn().await;
    let shared = world(&shared_app).await;
    let mut callers = Vec::new();
    for role in &shared.roles {
        callers.push(shared.caller(&shared_app, role).await);
    }
    let skipped: BTreeSet<(&str, &str)> = NOT_CALLED.iter().map(|(m, p, _)| (*m, *p)).collect();
    let (mut wrong, mut calls) = (Vec::new(), 0);
    for (method, template) in operations(authenticated) {
        if skipped.contains(&(method.as_str(), template.as_str())) {
            continue;
        }
        let (permission, at) = declared(&method, &template)
            .unwrap_or_else(|| panic!("{method} {template}: declare its permission in rights_matrix.rs"));
        let call = Call {
            world: &shared,
            method: &method,
            template: &template,
        };
        let mut allowed_roles = Vec::new();
        for (role, caller) in shared.roles.iter().zip(&callers) {
            let allowed = caller.may(permission, shared.place(at));
            if allowed && method != "GET" {
                allowed_roles.push(role.name);
                continue;
            }
            calls += 1;
            wrong.extend(call.check(&shared_app, role, allowed, &mut false).await);
        }
        if allowed_roles.is_empty() {
            continue;
        }
        let mut app = spawn().await;
        let own = world(&app).await;
        let call = Call {
            world: &own,
            method: &method,
            template: &template,
        };
        let mut deleted = false;
        for role in own.roles.iter().rev().filter(|r| allowed_roles.contains(&r.name)) {
            calls += 1;
            wrong.extend(call.check(&app, role, true, &mut deleted).await);
        }
        app.stop().await;
    }
    assert!(
        wrong.is_empty(),
        "answers that differ from the matrix:\n{}",
        wrong.join("\n")
    );
    assert!(calls > 800, "{calls} calls");
}

#[tokio::test]
async fn every_role_gets_the_matrix_answer_on_sqlite() {
    every_role_gets_the_matrix_answer(async || {
        TestApp::spawn_configured(|config| config.webhook_allow_hosts = "127.0.0.1".into()).await
    })
    .await;
}

#[tokio::test]
async fn every_role_gets_the_matrix_answer_on_postgres() {
    if TestApp::spawn_postgres().await.is_none() {
        return;
    }
    every_role_gets_the_matrix_answer(async || {
        let mut app = TestApp::spawn_postgres().await.unwrap();
        app.config.webhook_allow_hosts = "127.0.0.1".into();
        app.restart().await
    })
    .await;
}
