//! How a use case hands its result to its caller: the caller shapes the
//! answer stored with the commit (so that an idempotent replay gives the
//! same bytes), the use case decides what happens.

use rdv_eventstore::{CommitSummary, StoredResponse};

/// Shapes the stored answer of a command from its result `T` and the
/// commit. The gateway builds its JSON bodies with it; a test or a CLI can
/// pass any closure.
pub trait Respond<T>: Fn(&T, &CommitSummary<'_>) -> StoredResponse + Send + Sync {}

impl<T, F> Respond<T> for F where F: Fn(&T, &CommitSummary<'_>) -> StoredResponse + Send + Sync {}
