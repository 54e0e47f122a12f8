//! Group commit on PostgreSQL: appends that arrive while others are being
//! written are gathered into one statement and one transaction. Each commit
//! waits for its WAL flush and costs a round trip and a statement; under
//! load, sharing them between several commands raises throughput without
//! delaying anyone (a worker takes what is queued the moment it is free, it
//! never waits for more).
//!
//! A group is all or nothing in the database, but not for its callers: when
//! a group fails on a stream conflict, each of its appends is tried again
//! alone, so only the one that really conflicts gets the conflict. All the
//! events of a group share one transaction id, so the feed's gap-free order
//! (position = xid << 16 + index) holds unchanged.

use crate::{error::StoreError, model::*, postgres_append::insert};
use sqlx::PgPool;
use std::{collections::HashMap, sync::Arc};
use tokio::sync::{Mutex, mpsc, oneshot};
use uuid::Uuid;

/// Appends in one group at most (and their events stay far below the 65,536
/// a transaction may hold).
const MAX_GROUP: usize = 32;

type Reply = oneshot::Sender<Result<Vec<CommittedEvent>, StoreError>>;

/// The queue the appenders share with the writing workers.
#[derive(Debug, Clone)]
pub(crate) struct GroupCommit {
    queue: mpsc::UnboundedSender<(AppendRequest, Reply)>,
}

impl GroupCommit {
    /// Starts `workers` writers on the pool: as many statements in flight at
    /// once, each carrying whatever was queued when it started.
    pub(crate) fn start(pool: PgPool, workers: usize) -> Self {
        let (queue, receiver) = mpsc::unbounded_channel();
        let receiver = Arc::new(Mutex::new(receiver));
        for _ in 0..workers.max(1) {
            tokio::spawn(work(pool.clone(), receiver.clone()));
        }
        Self { queue }
    }

    /// Appends a request within some group; answers as if it were alone.
    pub(crate) async fn append(&self, request: &AppendRequest) -> Result<Vec<CommittedEvent>, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send((request.clone(), reply))
            .map_err(|_| StoreError::Corrupt("the group commit workers have stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Corrupt("a group commit worker stopped mid-append".into()))?
    }
}

async fn work(pool: PgPool, receiver: Arc<Mutex<mpsc::UnboundedReceiver<(AppendRequest, Reply)>>>) {
    // Appends held back from a group because they touch a stream already in
    // it (they would make the whole group conflict): first in the next one.
    let mut held: Vec<(AppendRequest, Reply)> = Vec::new();
    loop {
        let mut candidates = std::mem::take(&mut held);
        // With appends held back, never wait on the queue (another worker
        // may be waiting there for new arrivals): take what is there, if the
        // queue is free, and write.
        let queue = if candidates.is_empty() {
            let mut queue = receiver.lock().await;
            let Some(first) = queue.recv().await else { return };
            candidates.push(first);
            Some(queue)
        } else {
            receiver.try_lock().ok()
        };
        if let Some(mut queue) = queue {
            while candidates.len() < MAX_GROUP {
                match queue.try_recv() {
                    Ok(next) => candidates.push(next),
                    Err(_) => break,
                }
            }
        }
        let mut streams = std::collections::HashSet::new();
        let mut group = Vec::new();
        for member in candidates {
            let touched: Vec<(String, String)> = member
                .0
                .streams
                .iter()
                .map(|s| (s.aggregate_type.clone(), s.aggregate_id.clone()))
                .collect();
            if touched.iter().any(|t| streams.contains(t)) {
                held.push(member);
                continue;
            }
            streams.extend(touched);
            group.push(member);
        }
        write(&pool, group).await;
    }
}

/// Writes a group in one statement, or its members one by one after a
/// conflict, and answers each member.
async fn write(pool: &PgPool, group: Vec<(AppendRequest, Reply)>) {
    if group.len() == 1 {
        let (request, reply) = group.into_iter().next().expect("one member");
        let _ = reply.send(alone(pool, &request).await);
        return;
    }
    let mut merged = AppendRequest::default();
    for (request, _) in &group {
        merged.streams.extend(request.streams.iter().cloned());
        merged.outbox.extend(request.outbox.iter().cloned());
        merged.data_keys.extend(request.data_keys.iter().cloned());
    }
    match alone(pool, &merged).await {
        Ok(committed) => {
            let mut by_id: HashMap<Uuid, CommittedEvent> = committed.into_iter().map(|e| (e.event_id, e)).collect();
            for (request, reply) in group {
                let mine: Option<Vec<CommittedEvent>> = request
                    .streams
                    .iter()
                    .flat_map(|s| &s.events)
                    .map(|e| by_id.remove(&e.metadata.event_id))
                    .collect();
                let _ =
                    reply.send(mine.map(sorted).ok_or_else(|| {
                        StoreError::Corrupt("an event of a group was not returned by its insert".into())
                    }));
            }
        }
        // A conflict (or any failure) of the group: each member alone, all
        // at once, gets its own answer, the conflicting one its conflict.
        Err(_) => {
            let retries = group.into_iter().map(|(request, reply)| async move {
                let _ = reply.send(alone(pool, &request).await);
            });
            futures::future::join_all(retries).await;
        }
    }
}

async fn alone(pool: &PgPool, request: &AppendRequest) -> Result<Vec<CommittedEvent>, StoreError> {
    let mut conn = pool.acquire().await?;
    insert(&mut conn, request).await
}

fn sorted(mut events: Vec<CommittedEvent>) -> Vec<CommittedEvent> {
    events.sort_by_key(|e| e.position);
    events
}
