//! Fresh snapshots for the server, asked of the director through a
//! channel; concurrent requests share the one pending answer, so any
//! number of simultaneous scrapes cost one IPVS dump.
//!
//! The director (or whoever it hands the work to) receives
//! [`SnapshotRequest`]s and answers each with [`SnapshotRequest::answer`].
//! It never waits on the server: asking is a `try_send`, answering a
//! `watch` send.

use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, watch};

use super::limits::{Counters, SNAPSHOT_TIMEOUT};
use super::snapshot::Snapshot;

/// Requests for snapshots waiting for the director. One is pending at a
/// time; a few more slots let a request through while the last answer is
/// being read.
pub const REQUESTS: usize = 4;

type Answer = Option<Arc<Snapshot>>;

/// The server asks for a snapshot of now.
pub struct SnapshotRequest {
    reply: watch::Sender<Answer>,
}

impl SnapshotRequest {
    /// Hand the snapshot to every request waiting for it.
    pub fn answer(self, snapshot: Snapshot) {
        // Every waiter may have given up: nothing to do then.
        let _ = self.reply.send(Some(Arc::new(snapshot)));
    }
}

/// The server's side: ask, or join the pending question.
pub struct Fresh {
    requests: mpsc::Sender<SnapshotRequest>,
    pending: Mutex<Option<watch::Receiver<Answer>>>,
    counters: Arc<Counters>,
}

impl Fresh {
    /// A `Fresh` and the receiver the director answers from.
    pub fn new(counters: Arc<Counters>) -> (Fresh, mpsc::Receiver<SnapshotRequest>) {
        let (requests, inbox) = mpsc::channel(REQUESTS);
        let fresh = Fresh {
            requests,
            pending: Mutex::new(None),
            counters,
        };
        (fresh, inbox)
    }

    /// A snapshot taken after this call began: the pending one's, if a
    /// question is out, else a new question's. `None` when the director
    /// does not answer within [`SNAPSHOT_TIMEOUT`] or is gone.
    pub async fn get(&self) -> Option<Arc<Snapshot>> {
        let mut rx = {
            let mut pending = self.pending.lock().ok()?;
            // A full queue (the director is not reading) counts as a
            // failure too.
            match &*pending {
                // Out and not answered yet: share it.
                Some(rx) if rx.borrow().is_none() && rx.has_changed().is_ok() => rx.clone(),
                _ => {
                    let (reply, rx) = watch::channel(None);
                    if self.requests.try_send(SnapshotRequest { reply }).is_err() {
                        Counters::hit(&self.counters.snapshot_failures);
                        return None;
                    }
                    Counters::hit(&self.counters.snapshots);
                    *pending = Some(rx.clone());
                    rx
                }
            }
        };
        let answered = tokio::time::timeout(SNAPSHOT_TIMEOUT, rx.wait_for(Option::is_some)).await;
        // The guard borrows `rx`: clone the snapshot out before it goes.
        let snapshot = match answered {
            Ok(Ok(answer)) => answer.clone(),
            _ => None,
        };
        // An answered question is not shared any more (a request from now
        // on asks anew): forget it, so that its snapshot goes as soon as
        // the last request done with it lets go, not at the next question.
        if let Ok(mut pending) = self.pending.lock()
            && pending.as_ref().is_some_and(|p| p.borrow().is_some())
        {
            *pending = None;
        }
        if snapshot.is_none() {
            Counters::hit(&self.counters.snapshot_failures);
        }
        snapshot
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::management::snapshot::tests::sample;

    #[tokio::test]
    async fn concurrent_requests_share_one_answer() {
        let counters = Arc::new(Counters::default());
        let (fresh, mut inbox) = Fresh::new(Arc::clone(&counters));
        let fresh = Arc::new(fresh);
        let waiters: Vec<_> = (0..5)
            .map(|_| {
                let f = Arc::clone(&fresh);
                tokio::spawn(async move { f.get().await })
            })
            .collect();
        // Let every waiter ask.
        tokio::task::yield_now().await;
        let request = inbox.recv().await.unwrap();
        assert!(inbox.try_recv().is_err(), "one question for five waiters");
        request.answer(sample());
        for w in waiters {
            assert_eq!(w.await.unwrap().unwrap().hostname, "lvs-a");
        }
        assert_eq!(Counters::get(&counters.snapshots), 1);

        // A later request asks again: the answer must be fresh.
        let f = Arc::clone(&fresh);
        let later = tokio::spawn(async move { f.get().await });
        let request = inbox.recv().await.unwrap();
        let mut s = sample();
        s.hostname = "later".into();
        request.answer(s);
        assert_eq!(later.await.unwrap().unwrap().hostname, "later");
        assert_eq!(Counters::get(&counters.snapshots), 2);
    }

    #[tokio::test]
    async fn a_dropped_request_is_no_answer_and_the_next_asks_again() {
        let (fresh, mut inbox) = Fresh::new(Arc::new(Counters::default()));
        let fresh = Arc::new(fresh);
        let f = Arc::clone(&fresh);
        let waiter = tokio::spawn(async move { f.get().await });
        drop(inbox.recv().await.unwrap());
        assert!(waiter.await.unwrap().is_none());
        assert_eq!(Counters::get(&fresh.counters.snapshot_failures), 1);
        let f = Arc::clone(&fresh);
        let again = tokio::spawn(async move { f.get().await });
        inbox.recv().await.unwrap().answer(sample());
        assert!(again.await.unwrap().is_some());
    }
}
