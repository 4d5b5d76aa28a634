//! A full worker queue follows the documented policy: the newest batch is dropped and counted,
//! nothing blocks, and the pipeline goes on once the worker catches up.

mod util;

use tungstenite::Message;
use util::{connect, next_data, watchdog, IO_TIMEOUT};

#[test]
fn a_full_worker_queue_drops_newest_and_counts() {
    watchdog(120, || {
        // One worker, a queue of one batch, and an operator that holds the first message until
        // the test releases it: the worker is busy, so the queue fills.
        let util::held::Held { relay, entered, release } = util::held::start();
        let mut out = connect(&relay.url("/sub/out"));
        let mut raw = connect(&relay.url("/sub/in"));
        let mut publisher = connect(&relay.url("/pub/in"));

        publisher.send(Message::text("hold")).unwrap();
        entered.recv_timeout(IO_TIMEOUT).unwrap();
        publisher.send(Message::text("queued")).unwrap();
        relay.wait_stats("the second message queued", |s| s.pipelines[0].messages_in == 2);
        for i in 0..8 {
            publisher.send(Message::text(format!("dropped {i}"))).unwrap();
        }
        let s = relay.wait_stats("8 messages dropped", |s| s.pipelines[0].messages_in == 10);
        assert_eq!(s.pipelines[0].dropped_full, 8);
        // Nothing blocked: the raw subscribers got all ten while the worker was stuck.
        for _ in 0..10 {
            next_data(&mut raw);
        }

        release.send(()).unwrap();
        assert_eq!(next_data(&mut out), Message::text("hold"));
        assert_eq!(next_data(&mut out), Message::text("queued"));
        publisher.send(Message::text("after")).unwrap();
        assert_eq!(next_data(&mut out), Message::text("after"), "the dropped ones never arrive");
        let s = relay.wait_stats("3 records processed", |s| s.pipelines[0].records_out == 3);
        assert_eq!((s.pipelines[0].records_in, s.pipelines[0].dropped_full), (3, 8));
    });
}
