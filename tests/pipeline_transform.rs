//! A pipelined topic: messages published to it are transformed on a worker and delivered on the
//! output topic; the raw topic's subscribers still get the raw messages.

mod util;

use sluice::{Config, Pipeline, Reactor, Record, TextOp, WorkerConfig};
use tungstenite::Message;
use util::{connect, next_data, watchdog, Relay};

fn config(workers: usize) -> Config {
    Config {
        workers: WorkerConfig { count: workers, pin: false, ..WorkerConfig::default() },
        ..util::test_config()
    }
}

#[test]
fn jq_steps_transform_json_between_topics() {
    watchdog(120, || {
        let mut reactor = Reactor::bind(config(2)).unwrap();
        reactor
            .add_pipeline(
                Pipeline::from_topic("trades")
                    .name("clean")
                    .filter_jq(".qty > 0")
                    .map_jq("{sym: .symbol, notional: (.price * .qty)}")
                    .to_topic("trades.clean"),
            )
            .unwrap();
        let relay = Relay::run(reactor);
        let mut clean = connect(&relay.url("/sub/trades.clean"));
        let mut raw = connect(&relay.url("/sub/trades"));
        let mut publisher = connect(&relay.url("/pub/trades"));
        let trades = [
            r#"{"symbol":"BTC","price":10,"qty":2}"#,
            r#"{"symbol":"ETH","price":3,"qty":0}"#,
            r#"{"symbol":"SOL","price":1.5,"qty":4}"#,
        ];
        for t in trades {
            publisher.send(Message::text(t)).unwrap();
        }
        assert_eq!(next_data(&mut clean), Message::text(r#"{"sym":"BTC","notional":20}"#));
        assert_eq!(next_data(&mut clean), Message::text(r#"{"sym":"SOL","notional":6.0}"#));
        for t in trades {
            assert_eq!(next_data(&mut raw), Message::text(t));
        }
        // A handle publish goes through the pipeline too.
        relay.handle.publish("trades", r#"{"symbol":"X","price":1,"qty":1}"#).unwrap();
        assert_eq!(next_data(&mut clean), Message::text(r#"{"sym":"X","notional":1}"#));
        let s = relay.wait_stats("counters", |s| s.pipelines[0].records_out == 3);
        let p = &s.pipelines[0];
        assert_eq!((p.name.as_str(), p.messages_in, p.records_in, p.filtered), ("clean", 4, 4, 1));
        assert_eq!((p.dropped_full, p.errors()), (0, 0));
        assert_eq!(s.workers, 2);
    });
}

#[test]
fn rust_closures_and_text_ops_run_on_the_workers() {
    watchdog(120, || {
        let mut reactor = Reactor::bind(config(1)).unwrap();
        reactor
            .add_pipeline(
                Pipeline::from_topic("in")
                    .text(TextOp::Trim)
                    .filter(|r: &Record| !r.payload().is_empty())
                    .map(|mut r: Record| {
                        let tagged = match r.as_str() {
                            Some(s) => format!("{s}!"),
                            None => "<binary>".to_string(),
                        };
                        r.set_text(&tagged);
                        r
                    })
                    .text(TextOp::Upper)
                    .to_topic("out"),
            )
            .unwrap();
        let relay = Relay::run(reactor);
        let mut out = connect(&relay.url("/sub/out"));
        let mut publisher = connect(&relay.url("/pub/in"));
        for m in ["  hello ", "   ", "straße"] {
            publisher.send(Message::text(m)).unwrap();
        }
        publisher.send(Message::binary(vec![1u8, 2])).unwrap();
        assert_eq!(next_data(&mut out), Message::text("HELLO!"));
        assert_eq!(next_data(&mut out), Message::text("STRASSE!"));
        assert_eq!(next_data(&mut out), Message::text("<BINARY>"));
    });
}

#[test]
fn pipelines_are_checked_when_added() {
    let mut reactor = Reactor::bind(config(1)).unwrap();
    let e = reactor.add_pipeline(Pipeline::from_topic("a").map_jq(".x +").to_topic("b"));
    assert!(e.unwrap_err().to_string().contains("invalid jq expression"));
    reactor.add_pipeline(Pipeline::from_topic("a").name("p").to_topic("b")).unwrap();
    let e = reactor.add_pipeline(Pipeline::from_topic("b").name("q").to_topic("a")).unwrap_err();
    assert!(e.to_string().contains("cycle"), "{e}");
    let e = reactor.add_pipeline(Pipeline::from_topic("c").name("p").to_topic("d")).unwrap_err();
    assert!(e.to_string().contains("already used"), "{e}");
    reactor.poll_once(Some(std::time::Duration::ZERO)).unwrap();
    let e = reactor.add_pipeline(Pipeline::from_topic("x").to_topic("y")).unwrap_err();
    assert!(e.to_string().contains("before the reactor starts"), "{e}");
    reactor.handle().stop();
    while reactor.poll_once(Some(std::time::Duration::from_millis(10))).unwrap()
        == sluice::Status::Running
    {}
}

#[test]
fn a_pipeline_can_read_another_pipelines_output() {
    watchdog(120, || {
        let mut reactor = Reactor::bind(config(2)).unwrap();
        reactor
            .add_pipeline(Pipeline::from_topic("a").name("one").map_jq(".n + 1").to_topic("b"))
            .unwrap();
        reactor
            .add_pipeline(Pipeline::from_topic("b").name("two").map_jq(". * 10").to_topic("c"))
            .unwrap();
        let relay = Relay::run(reactor);
        let mut c = connect(&relay.url("/sub/c"));
        let mut publisher = connect(&relay.url("/pub/a"));
        for n in 0..100 {
            publisher.send(Message::text(format!("{{\"n\":{n}}}"))).unwrap();
        }
        for n in 0..100 {
            assert_eq!(next_data(&mut c), Message::text(format!("{}", (n + 1) * 10)));
        }
    });
}

#[test]
fn every_idle_strategy_delivers_bursts_and_single_messages() {
    watchdog(180, || {
        for idle in ["spin", "spin-then-park", "park"] {
            let mut config = config(1);
            config.workers.idle = idle.parse().unwrap();
            let mut reactor = Reactor::bind(config).unwrap();
            reactor
                .add_pipeline(Pipeline::from_topic("in").text(TextOp::Upper).to_topic("out"))
                .unwrap();
            let relay = Relay::run(reactor);
            let mut out = connect(&relay.url("/sub/out"));
            let mut publisher = connect(&relay.url("/pub/in"));
            // One at a time: each message finds the worker idle (parked, for `park`).
            for i in 0..20 {
                publisher.send(Message::text(format!("one {i}"))).unwrap();
                assert_eq!(next_data(&mut out), Message::text(format!("ONE {i}")), "{idle}");
            }
            // A burst.
            for i in 0..500 {
                publisher.send(Message::text(format!("burst {i}"))).unwrap();
            }
            for i in 0..500 {
                assert_eq!(next_data(&mut out), Message::text(format!("BURST {i}")), "{idle}");
            }
            relay.stop();
        }
    });
}
