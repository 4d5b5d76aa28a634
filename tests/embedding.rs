//! The library API used the way `examples/embed.rs` uses it: custom endpoints beside the
//! built-in ones, publishing through the handle, driving the loop with `poll_once`.

mod util;

use std::time::Duration;

use sluice::{Endpoint, Reactor, Response, Status};
use tungstenite::Message;
use util::{connect, next_data, watchdog, Raw, Relay};

#[test]
fn custom_endpoints_sit_beside_the_builtin_ones() {
    watchdog(60, || {
        let mut reactor = Reactor::bind(util::test_config()).unwrap();
        reactor
            .add_endpoint(
                "/version",
                Endpoint::http(|req| {
                    Response::text(200, format!("v1 {}\n", req.query().unwrap_or("")))
                }),
            )
            .unwrap();
        reactor.add_endpoint("/ticks", Endpoint::Subscribe(vec!["ticks".into()])).unwrap();
        reactor.add_endpoint("/in", Endpoint::Publish("ticks".into())).unwrap();
        assert!(reactor.add_endpoint("no-slash", Endpoint::Publish("t".into())).is_err());
        assert!(reactor.add_endpoint("/bad", Endpoint::Publish("bad topic".into())).is_err());
        let relay = Relay::run(reactor);

        let mut raw = Raw::connect(relay.addr);
        raw.send(b"GET /version?x=1 HTTP/1.1\r\nConnection: close\r\n\r\n");
        let body = String::from_utf8(raw.read_to_end()).unwrap();
        assert!(body.starts_with("HTTP/1.1 200 OK") && body.ends_with("v1 x=1\n"), "{body}");

        let mut alias = connect(&relay.url("/ticks"));
        let mut builtin = connect(&relay.url("/sub/ticks"));
        let mut input = connect(&relay.url("/in"));
        input.send(Message::text("t1")).unwrap();
        relay.handle.publish("ticks", "t2").unwrap();
        for ws in [&mut alias, &mut builtin] {
            assert_eq!(next_data(ws), Message::text("t1"));
            assert_eq!(next_data(ws), Message::text("t2"));
        }
    });
}

#[test]
fn a_host_loop_can_drive_the_reactor() {
    watchdog(60, || {
        let mut reactor = Reactor::bind(util::test_config()).unwrap();
        let addr = reactor.local_addr();
        let handle = reactor.handle();
        let client = std::thread::spawn(move || {
            let (status, _) = Raw::http(addr, b"GET /healthz HTTP/1.1\r\n\r\n");
            handle.stop();
            status
        });
        let mut iterations = 0;
        while reactor.poll_once(Some(Duration::from_millis(50))).unwrap() == Status::Running {
            iterations += 1;
            assert!(iterations < 100_000);
        }
        assert_eq!(client.join().unwrap(), 200);
        assert_eq!(reactor.poll_once(None).unwrap(), Status::Stopped);
    });
}
