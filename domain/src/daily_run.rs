//! One run of a daily job for one organisation on one local day. The
//! scheduler records it when the job has done its work, so a restart or a
//! second process skips a day already done; a run cut short is simply run
//! again (each job's own rules make a repeat write nothing).

use crate::{DomainError, Services, VersionedAggregate, ids::OrganisationId};
use chrono::{DateTime, NaiveDate, Utc};
use cqrs_es::{Aggregate, event_sink::EventSink};
use serde::{Deserialize, Serialize};

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct DailyRun(pub Option<DateTime<Utc>>);

impl DailyRun {
    /// One stream per job, organisation and local day.
    pub fn stream_id(job: &str, organisation: OrganisationId, day: NaiveDate) -> String {
        format!("{job}:{organisation}:{day}")
    }

    pub fn is_done(&self) -> bool {
        self.0.is_some()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum DailyRunCommand {
    /// The job did its work for that organisation and day.
    CompleteRun,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum DailyRunEvent {
    RunCompleted { at: DateTime<Utc> },
}

crate::versioned_events!(DailyRunEvent {
    RunCompleted => "1.0",
});

impl Aggregate for DailyRun {
    const TYPE: &'static str = "DailyRun";
    type Command = DailyRunCommand;
    type Event = DailyRunEvent;
    type Error = DomainError;
    type Services = Services;

    async fn handle(
        &mut self,
        command: DailyRunCommand,
        svc: &Services,
        sink: &EventSink<Self>,
    ) -> Result<(), DomainError> {
        let DailyRunCommand::CompleteRun = command;
        if self.is_done() {
            return Err(DomainError::conflict("this daily job already ran that day"));
        }
        sink.write(DailyRunEvent::RunCompleted { at: svc.now() }, self).await;
        Ok(())
    }

    fn apply(&mut self, event: DailyRunEvent) {
        let DailyRunEvent::RunCompleted { at } = event;
        self.0 = Some(at);
    }
}

impl VersionedAggregate for DailyRun {}
