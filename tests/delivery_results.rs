//! Computed results are topics like any other: a pipeline's output and a window's results get
//! offsets and history, and resume like published messages. Window results in envelope mode
//! carry the watermark they fired at and whether a later firing may still update them.

mod util;

use std::time::Duration;

use serde_json::json;
use sluice::ops::window::{Aggregates, Window};
use sluice::{Config, EventTime, Pipeline, Reactor, TextOp, WorkerConfig};
use tungstenite::Message;
use util::{connect, envelope, watchdog, Relay};

fn config() -> Config {
    Config {
        workers: WorkerConfig { count: 2, pin: false, ..Default::default() },
        ..util::test_config()
    }
}

#[test]
fn a_pipelines_output_resumes_like_any_topic() {
    watchdog(120, || {
        let mut reactor = Reactor::bind(config()).unwrap();
        reactor
            .add_pipeline(Pipeline::from_topic("in").text(TextOp::Upper).to_topic("up"))
            .unwrap();
        let relay = Relay::run(reactor);
        let mut first = envelope::connect(&relay.url("/sub/up"));
        let sub = envelope::next(&mut first);
        let epoch = sub["epoch"].as_str().unwrap().to_string();
        let mut p = connect(&relay.url("/pub/in"));
        p.send(Message::text("a")).unwrap();
        assert_eq!(envelope::next(&mut first)["data"], "A");
        drop(first);
        for m in ["b", "c", "d"] {
            p.send(Message::text(m)).unwrap();
        }
        relay.wait_stats("results", |s| s.pipelines[0].records_out == 4);
        let mut again = envelope::connect(&relay.url(&format!("/sub/up?since={epoch}:1")));
        let rec = envelope::next(&mut again);
        assert_eq!(
            (&rec["recovered"], &rec["from"], &rec["to"]),
            (&json!(true), &json!(2), &json!(4))
        );
        for (o, m) in [(2, "B"), (3, "C"), (4, "D")] {
            let v = envelope::next(&mut again);
            assert_eq!((&v["offset"], &v["data"]), (&json!(o), &json!(m)));
        }
    });
}

#[test]
fn window_results_say_their_watermark_and_whether_they_are_final() {
    watchdog(120, || {
        let mut reactor = Reactor::bind(config()).unwrap();
        let t = EventTime::new(".ts").unwrap().allowed_lateness(Duration::from_millis(500));
        reactor
            .add_pipeline(
                Pipeline::from_topic("in")
                    .key_by(".k")
                    .event_time(t)
                    .window(Window::tumbling(Duration::from_secs(1)))
                    .aggregate(Aggregates::new().count("n"))
                    .to_topic("out"),
            )
            .unwrap();
        reactor
            .add_pipeline(
                Pipeline::from_topic("in")
                    .key_by(".k")
                    .event_time(EventTime::new(".ts").unwrap())
                    .window(Window::tumbling(Duration::from_secs(1)))
                    .aggregate(Aggregates::new().count("n"))
                    .to_topic("strict"),
            )
            .unwrap();
        let relay = Relay::run(reactor);
        let mut out = envelope::connect(&relay.url("/sub/out"));
        assert_eq!(envelope::next(&mut out)["type"], "subscribed");
        let mut strict = envelope::connect(&relay.url("/sub/strict"));
        assert_eq!(envelope::next(&mut strict)["type"], "subscribed");
        let mut p = connect(&relay.url("/pub/in"));
        for ts in [100, 1000, 200] {
            p.send(Message::text(format!("{{\"k\":\"x\",\"ts\":{ts}}}"))).unwrap();
        }
        // With allowed lateness, the on-time firing (at watermark 999) may still be updated,
        // and the late update (also before the cleanup time 1499) too.
        let fired = envelope::next(&mut out);
        assert_eq!(
            (&fired["offset"], &fired["watermark"], &fired["final"]),
            (&json!(1), &json!(999), &json!(false))
        );
        assert_eq!(fired["data"]["n"], 1);
        let update = envelope::next(&mut out);
        assert_eq!(
            (&update["final"], &update["data"]["n"], &update["data"]["update"]),
            (&json!(false), &json!(2), &json!(true))
        );
        // Without lateness, a firing is final.
        let v = envelope::next(&mut strict);
        assert_eq!(
            (&v["watermark"], &v["final"], &v["data"]["n"]),
            (&json!(999), &json!(true), &json!(1))
        );
        // And a resume replays them with the same fields.
        let epoch = fired["epoch"].as_str().unwrap();
        let mut again = envelope::connect(&relay.url(&format!("/sub/out?since={epoch}:0")));
        assert_eq!(envelope::next(&mut again)["recovered"], true);
        let replayed = envelope::next(&mut again);
        assert_eq!((&replayed["watermark"], &replayed["final"]), (&json!(999), &json!(false)));
    });
}
