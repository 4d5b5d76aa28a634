//! `/healthz`, `/readyz` and the dashboard's static assets over plain HTTP.

mod util;

use util::{watchdog, Raw, Relay};

fn get(relay: &Relay, request: &str) -> (u16, String, String) {
    let mut raw = Raw::connect(relay.addr);
    raw.send(request.as_bytes());
    let all = String::from_utf8(raw.read_to_end()).unwrap();
    let (head, body) = all.split_once("\r\n\r\n").unwrap();
    (head[9..12].parse().unwrap(), head.to_string(), body.to_string())
}

#[test]
fn healthz_and_readyz_answer() {
    watchdog(60, || {
        let relay = Relay::start();
        let (status, _, body) = get(&relay, "GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n");
        assert_eq!((status, body.as_str()), (200, "ok\n"));
        let (status, _, body) = get(&relay, "GET /readyz HTTP/1.1\r\nConnection: close\r\n\r\n");
        assert_eq!(status, 200);
        assert_eq!(
            body,
            "ready\nlistening: ok (accepting connections)\nworkers: ok (no pipelines)\nconnectors: ok (none)\n\
             cluster: ok (none: this relay runs alone)\n"
        );
        let (status, head, body) =
            get(&relay, "HEAD /metrics HTTP/1.1\r\nConnection: close\r\n\r\n");
        assert_eq!(status, 200);
        assert!(body.is_empty() && !head.contains("Content-Length: 0"), "{head}");
        let (status, _, _) = get(&relay, "POST /metrics HTTP/1.1\r\nConnection: close\r\n\r\n");
        assert_eq!(status, 405);
    });
}

#[test]
fn the_dashboard_page_is_served_with_a_strict_policy() {
    watchdog(60, || {
        let relay = Relay::start();
        let (status, head, body) = get(&relay, "GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
        assert_eq!(status, 200);
        assert!(head.contains("Content-Type: text/html"), "{head}");
        assert!(head.contains("Content-Security-Policy: default-src 'none'"), "{head}");
        assert!(body.contains("<title>Sluice</title>"));
        for asset in ["/_sluice/dashboard.js", "/_sluice/dashboard.css"] {
            let (status, _, body) =
                get(&relay, &format!("GET {asset} HTTP/1.1\r\nConnection: close\r\n\r\n"));
            assert_eq!(status, 200, "{asset}");
            assert!(body.len() > 1000, "{asset}");
        }
    });
}

#[test]
fn the_dashboard_can_be_turned_off() {
    watchdog(60, || {
        let mut config = util::test_config();
        config.metrics.dashboard = false;
        let relay = Relay::start_with(config);
        let (status, _, _) = get(&relay, "GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
        assert_eq!(status, 404);
        let (status, _) = Raw::http(relay.addr, Raw::upgrade_request("/_sluice/stats").as_bytes());
        assert_eq!(status, 404);
        let (status, _, _) = get(&relay, "GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n");
        assert_eq!(status, 200, "metrics stay on");
    });
}
