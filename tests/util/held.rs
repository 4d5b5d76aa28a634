//! A relay whose one worker can be held: a pipeline `in` → `out` on a single worker with a
//! queue of one batch, whose operator stops on the message `hold` until the test releases it,
//! so the queue fills and the next batches are dropped (the documented full-queue policy).

use crossbeam_channel::{Receiver, Sender};
use sluice::{Config, Pipeline, Reactor, Record, WorkerConfig};

use super::{Relay, IO_TIMEOUT};

/// The running relay and the two ends of the hold.
pub struct Held {
    pub relay: Relay,
    /// Receives once the operator holds the message `hold`.
    pub entered: Receiver<()>,
    /// Send to let the operator go on.
    pub release: Sender<()>,
}

/// Start the relay (the test configuration, one unpinned worker, a queue of one batch).
pub fn start() -> Held {
    let (entered_tx, entered) = crossbeam_channel::unbounded();
    let (release, release_rx): (Sender<()>, Receiver<()>) = crossbeam_channel::unbounded();
    let config = Config {
        workers: WorkerConfig { count: 1, queue: 1, pin: false, ..WorkerConfig::default() },
        ..super::test_config()
    };
    let mut reactor = Reactor::bind(config).unwrap();
    reactor
        .add_pipeline(
            Pipeline::from_topic("in")
                .map(move |r: Record| {
                    if r.as_str() == Some("hold") {
                        entered_tx.send(()).unwrap();
                        release_rx.recv_timeout(IO_TIMEOUT).unwrap();
                    }
                    r
                })
                .to_topic("out"),
        )
        .unwrap();
    Held { relay: Relay::run(reactor), entered, release }
}
