//! The HTTP API. Every route is declared once, with its OpenAPI description,
//! through utoipa-axum: the router and `/openapi.json` cannot drift apart.

mod agenda;
mod agents;
mod audit;
mod categories;
mod events;
mod follow_ups;
mod invitations;
mod letters;
mod lieux;
mod motifs;
mod organisations;
mod rdvs;
mod settings;
mod slots;
mod system;
mod territories;
mod usagers;
mod webhooks;

use crate::state::AppState;
use axum::Router;
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "rdv-events",
        description = "Event-sourced booking backend for French public services: commands become events, \
                       queries read projections. Errors are RFC 9457 problem+json.",
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "system", description = "Health and description of the service"),
        (name = "territories", description = "Espaces, their services and territorial rights"),
        (name = "organisations", description = "Organisations of a territory"),
        (name = "agents", description = "Agent invitations, roles and tokens"),
        (name = "events", description = "The global event feed"),
        (name = "motifs", description = "Motifs: informations, online booking, instructions"),
        (name = "lieux", description = "Places where organisations receive usagers"),
        (name = "settings", description = "Espace settings: usager fields, RDV fields, waiting room"),
        (name = "agenda", description = "Plages d'ouverture, absences and the agent's agenda"),
        (name = "slots", description = "Free slots (créneaux) for agents and usagers"),
        (name = "rdvs", description = "Usagers, booking and cancelling RDVs"),
        (name = "webhooks", description = "Webhook endpoints of organisations"),
        (name = "audit", description = "Auditors' read-only history"),
        (name = "insertion", description = "Motif categories, follow-ups, invitations and convocations"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

/// The routes and their OpenAPI document.
pub fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(system::health))
        .routes(routes!(system::ready))
        .routes(routes!(system::metrics))
        .routes(routes!(territories::create_territory))
        .routes(routes!(territories::get_territory))
        .routes(routes!(territories::activate_service))
        .routes(routes!(territories::deactivate_service))
        .routes(routes!(territories::grant_territory_rights))
        .routes(routes!(
            organisations::create_organisation,
            organisations::list_organisations
        ))
        .routes(routes!(
            organisations::get_organisation,
            organisations::update_organisation
        ))
        .routes(routes!(agents::invite_agent, agents::list_agents))
        .routes(routes!(agents::change_agent_role, agents::remove_agent))
        .routes(routes!(agents::reinvite_agent))
        .routes(routes!(agents::accept_invitation))
        .routes(routes!(agents::revoke_token))
        .routes(routes!(agents::get_agent))
        .routes(routes!(events::list_events))
        .routes(routes!(audit::record_events))
        .routes(routes!(audit::audit_events))
        .routes(routes!(motifs::create_motif))
        .routes(routes!(motifs::get_motif, motifs::update_motif))
        .routes(routes!(motifs::archive_motif))
        .routes(routes!(motifs::restore_motif))
        .routes(routes!(motifs::enable_motif))
        .routes(routes!(motifs::disable_motif))
        .routes(routes!(motifs::list_motifs))
        .routes(routes!(motifs::motif_history))
        .routes(routes!(lieux::create_lieu, lieux::list_lieux))
        .routes(routes!(lieux::update_lieu))
        .routes(routes!(lieux::disable_lieu))
        .routes(routes!(lieux::enable_lieu))
        .routes(routes!(lieux::lieu_history))
        .routes(routes!(settings::get_settings))
        .routes(routes!(settings::put_usager_fields))
        .routes(routes!(settings::put_rdv_fields))
        .routes(routes!(settings::put_waiting_room))
        .routes(routes!(settings::put_closed_days))
        .routes(routes!(settings::settings_history))
        .routes(routes!(agenda::create_plage))
        .routes(routes!(agenda::update_plage, agenda::delete_plage))
        .routes(routes!(agenda::create_absence))
        .routes(routes!(agenda::update_absence, agenda::delete_absence))
        .routes(routes!(slots::agent_slots))
        .routes(routes!(slots::public_slots))
        .routes(routes!(slots::next_availability))
        .routes(routes!(slots::agenda))
        .routes(routes!(slots::agenda_ics))
        .routes(routes!(usagers::create_usager))
        .routes(routes!(usagers::get_usager, usagers::update_usager))
        .routes(routes!(usagers::search_usagers))
        .routes(routes!(usagers::usager_history))
        .routes(routes!(rdvs::booking::book_rdv))
        .routes(routes!(rdvs::booking::public_book))
        .routes(routes!(rdvs::get_rdv, rdvs::lifecycle::update_rdv))
        .routes(routes!(rdvs::lifecycle::cancel_rdv))
        .routes(routes!(rdvs::lifecycle::public_cancel))
        .routes(routes!(rdvs::lifecycle::change_status))
        .routes(routes!(rdvs::lifecycle::reschedule))
        .routes(routes!(rdvs::lifecycle::public_reschedule))
        .routes(routes!(rdvs::lifecycle::mark_arrived))
        .routes(routes!(rdvs::list_rdvs))
        .routes(routes!(rdvs::lifecycle::public_rdv))
        .routes(routes!(rdvs::participants::add_participant))
        .routes(routes!(rdvs::participants::remove_participant))
        .routes(routes!(rdvs::participants::participation_status))
        .routes(routes!(rdvs::participants::public_sign_up))
        .routes(routes!(webhooks::create_endpoint, webhooks::list_endpoints))
        .routes(routes!(
            webhooks::get_endpoint,
            webhooks::update_endpoint,
            webhooks::delete_endpoint
        ))
        .routes(routes!(webhooks::rotate_secret))
        .routes(routes!(webhooks::enable_endpoint))
        .routes(routes!(webhooks::disable_endpoint))
        .routes(routes!(webhooks::list_deliveries))
        .routes(routes!(webhooks::get_delivery))
        .routes(routes!(webhooks::redeliver))
        .routes(routes!(webhooks::replay))
        .routes(routes!(categories::configure_category))
        .routes(routes!(categories::list_categories))
        .routes(routes!(invitations::invite_usager))
        .routes(routes!(invitations::follow_invitation))
        .routes(routes!(follow_ups::get_follow_up))
        .routes(routes!(follow_ups::close_follow_up))
        .routes(routes!(follow_ups::reopen_follow_up))
        .routes(routes!(follow_ups::set_referents))
        .routes(routes!(follow_ups::list_follow_ups))
        .routes(routes!(follow_ups::category_stats))
        .routes(routes!(rdvs::convocations::convoke))
        .routes(routes!(usagers::archive_usager))
        .routes(routes!(usagers::unarchive_usager))
        .routes(routes!(usagers::forget_usager))
        .routes(routes!(letters::convocation_pdf))
        .routes(routes!(letters::invitation_pdf))
        .split_for_parts();
    (router, document_problems(openapi))
}

/// What any route may answer besides its own: the ways the middleware and
/// extractors refuse a request. Every failure is an RFC 9457 problem, so
/// each 4xx and 5xx answer of the document is `application/problem+json`.
const COMMON_PROBLEMS: [(&str, &str); 12] = [
    ("400", "The request cannot be read (a path or query parameter)"),
    ("401", "No valid bearer token"),
    ("403", "The caller lacks the right"),
    ("404", "No such record, or not the caller's"),
    ("409", "In conflict with the record's current state"),
    ("410", "Gone: expired, used or erased"),
    ("412", "`If-Match` names a version the record has moved past"),
    ("413", "The body is over 1 MB"),
    ("415", "The body is not JSON"),
    ("422", "A field is invalid (`errors[]` names it)"),
    ("429", "Too many requests from this address (`Retry-After`)"),
    ("503", "Not ready: the store is overloaded or a read model is behind"),
];

fn document_problems(mut openapi: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    use utoipa::openapi::{Content, Ref, RefOr, ResponseBuilder};
    let problem = || Content::new(Some(Ref::from_schema_name("Problem")));
    for item in openapi.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ];
        for operation in operations.into_iter().flatten() {
            let responses = &mut operation.responses.responses;
            for (status, description) in COMMON_PROBLEMS {
                responses
                    .entry(status.to_string())
                    .or_insert_with(|| RefOr::T(ResponseBuilder::new().description(description).build()));
            }
            for (status, response) in responses.iter_mut() {
                if let (true, RefOr::T(response)) = (status.as_str() >= "400", response) {
                    response.content.clear();
                    response.content.insert("application/problem+json".into(), problem());
                }
            }
        }
    }
    openapi
}

/// The OpenAPI document alone (for `/openapi.json` and `rdv schemas`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    api().1
}
