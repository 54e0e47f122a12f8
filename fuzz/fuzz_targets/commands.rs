//! Any bytes given to the JSON decoders of commands (what a request body
//! becomes) and to the parsers of the values inside them: an answer or an
//! error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rdv_domain::{
    phone::PhoneE164,
    values::{Email, Text},
};

/// Decodes `data` as each type; only a panic fails.
macro_rules! decode_as {
    ($data:expr, $($t:ty),+ $(,)?) => {
        $(let _ = serde_json::from_slice::<$t>($data);)+
    };
}

fuzz_target!(|data: &[u8]| {
    decode_as!(
        data,
        rdv_domain::agenda::AgentAgendaCommand,
        rdv_domain::agent::AgentCommand,
        rdv_domain::category::CategoryCommand,
        rdv_domain::follow_up::FollowUpCommand,
        rdv_domain::lieu::LieuCommand,
        rdv_domain::motif::MotifCommand,
        rdv_domain::organisation::OrganisationCommand,
        rdv_domain::rdv::RdvCommand,
        rdv_domain::territory::TerritoryCommand,
        rdv_domain::usager::UsagerCommand,
        rdv_domain::webhook_endpoint::WebhookEndpointCommand,
    );
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Email::parse(text, "email");
        let _ = PhoneE164::parse(text, "phone");
        let _ = Text::parse(text, "name");
    }
});
