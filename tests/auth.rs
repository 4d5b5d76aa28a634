//! Who may connect: allowed origins (403), tokens on the upgrade (401/403 before any 101) from
//! the `Authorization` header, the `token` query parameter or a cookie, per-topic rights, and
//! a JWT's expiry closing its connection.

mod util;

use std::time::{SystemTime, UNIX_EPOCH};

use data_encoding::BASE64URL_NOPAD;
use ring::hmac;
use sluice::config::{Secret, StaticToken};
use tungstenite::Message;
use util::{next_data, watchdog, Raw, Relay};

const SECRET: &str = "test-secret-that-is-at-least-32-bytes-long";
const STATIC: &str = "static-publisher-token-0123";

/// Mint an HS256 token (written here independently of the relay's verifier).
fn jwt(claims: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, SECRET.as_bytes());
    let head = BASE64URL_NOPAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let body = BASE64URL_NOPAD.encode(claims.as_bytes());
    let signed = format!("{head}.{body}");
    let sig = hmac::sign(&key, signed.as_bytes());
    format!("{signed}.{}", BASE64URL_NOPAD.encode(sig.as_ref()))
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn relay() -> Relay {
    let mut config = util::test_config();
    config.access.allowed_origins = vec!["https://*.example.com".into()];
    config.access.jwt_secret = Some(Secret(SECRET.into()));
    config.access.tokens = vec![StaticToken {
        token: Secret(STATIC.into()),
        publish: vec!["prices.*".into()],
        subscribe: vec![],
    }];
    Relay::start_with(config)
}

/// Send an upgrade request with extra header lines; return the status and the raw client.
fn upgrade(relay: &Relay, path: &str, extra: &str) -> (u16, String, Raw) {
    let mut raw = Raw::connect(relay.addr);
    let req = Raw::upgrade_request(path).replace("\r\n\r\n", &format!("\r\n{extra}\r\n"));
    raw.send(req.as_bytes());
    let (status, head, ()) = raw.read_response_head();
    (status, head, raw)
}

#[test]
fn tokens_origins_and_rights() {
    watchdog(60, || {
        let relay = relay();
        let later = unix_now() + 3600;
        let reader = jwt(&format!(r#"{{"exp":{later},"subscribe":["prices.*","news"]}}"#));

        // No token: 401 with a challenge; a wrong one: 401.
        let (s, head, _) = upgrade(&relay, "/sub/news", "");
        assert_eq!(s, 401);
        assert!(head.contains("WWW-Authenticate: Bearer"), "{head}");
        assert_eq!(
            upgrade(&relay, "/sub/news", "Authorization: Bearer nope-nope-nope-nope\r\n").0,
            401
        );
        let forged = jwt(r#"{"exp":9999999999,"subscribe":["*"]}"#).replace('.', ".x");
        assert_eq!(upgrade(&relay, &format!("/sub/news?token={forged}"), "").0, 401);
        let expired = jwt(&format!(r#"{{"exp":{},"subscribe":["*"]}}"#, unix_now() - 10));
        assert_eq!(upgrade(&relay, &format!("/sub/news?token={expired}"), "").0, 401);
        let no_exp = jwt(r#"{"subscribe":["*"]}"#);
        assert_eq!(upgrade(&relay, &format!("/sub/news?token={no_exp}"), "").0, 401);

        // Rights: the reader may not publish, nor subscribe outside its patterns.
        assert_eq!(upgrade(&relay, &format!("/pub/news?token={reader}"), "").0, 403);
        assert_eq!(upgrade(&relay, &format!("/sub/news,other?token={reader}"), "").0, 403);
        // The static token publishes to prices.* only.
        let bearer = format!("Authorization: Bearer {STATIC}\r\n");
        assert_eq!(upgrade(&relay, "/pub/news", &bearer).0, 403);

        // Origins: a foreign one is refused even with a good token.
        let evil = format!("Origin: https://evil.net\r\n{bearer}");
        assert_eq!(upgrade(&relay, "/pub/prices.eur", &evil).0, 403);

        // The good paths: the subscriber by query parameter and by cookie, the publisher by header.
        let (s, _, mut by_query) = upgrade(&relay, &format!("/sub/prices.eur?token={reader}"), "");
        assert_eq!(s, 101);
        let cookie = format!(
            "Cookie: theme=dark; sluice_token={reader}\r\nOrigin: https://app.example.com\r\n"
        );
        let (s, _, mut by_cookie) = upgrade(&relay, "/sub/prices.eur", &cookie);
        assert_eq!(s, 101);
        let (s, _, mut publisher) = upgrade(&relay, "/pub/prices.eur", &bearer);
        assert_eq!(s, 101);
        relay.wait_stats("two subscribers", |s| s.upgrades == 3);
        publisher.send_frame(true, 1, b"1.0842", true);
        for sub in [&mut by_query, &mut by_cookie] {
            let f = sub.read_frame();
            assert_eq!((f.opcode, f.payload.as_slice()), (1, &b"1.0842"[..]));
        }

        // Plain HTTP is not behind authentication.
        let (s, _) = Raw::http(relay.addr, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(s, 200);

        let st = relay.stats();
        assert_eq!((st.auth_failures, st.auth_denials, st.origin_rejections), (5, 3, 1), "{st:?}");
    });
}

#[test]
fn an_expiring_token_closes_its_connection_with_1008() {
    watchdog(60, || {
        let relay = relay();
        // A token that expires in a few seconds (longer if this machine is too slow to use it
        // in time: a 401 here is not what is tested).
        let mut sub = [2, 10, 30]
            .into_iter()
            .find_map(|secs| {
                let soon = jwt(&format!(r#"{{"exp":{},"subscribe":["news"]}}"#, unix_now() + secs));
                let (status, _, raw) = upgrade(&relay, &format!("/sub/news?token={soon}"), "");
                (status == 101).then_some(raw)
            })
            .expect("upgrade with a short-lived token");
        let mut publisher = util::connect(&format!(
            "{}?token={}",
            relay.url("/pub/prices.x"),
            jwt(&format!(r#"{{"exp":{},"publish":["prices.x"]}}"#, unix_now() + 3600))
        ));
        publisher.send(Message::text("unrelated")).unwrap();
        let (code, reason) = sub.expect_close();
        assert_eq!(code, 1008);
        assert_eq!(reason, "token expired");
        relay.wait_stats("expiry counted", |s| s.token_expiry_closes == 1);
        // The long-lived publisher is untouched.
        let mut late_sub = util::connect(&format!(
            "{}?token={}",
            relay.url("/sub/prices.x"),
            jwt(&format!(r#"{{"exp":{},"subscribe":["prices.*"]}}"#, unix_now() + 3600))
        ));
        relay.wait_stats("late subscriber", |s| s.connections_open == 2 && s.upgrades >= 3);
        publisher.send(Message::text("still open")).unwrap();
        assert_eq!(next_data(&mut late_sub), Message::text("still open"));
    });
}

#[test]
fn configuration_errors_name_their_key() {
    let bad = |toml: &str| sluice::Config::from_toml_str(toml, None).unwrap_err().key;
    assert_eq!(bad("[access]\njwt_secret = \"short\"\n").as_deref(), Some("access.jwt_secret"));
    assert_eq!(
        bad("[access]\nallowed_origins = [\"example.com\"]\n").as_deref(),
        Some("access.allowed_origins")
    );
    assert_eq!(bad("[[access.tokens]]\ntoken = \"short\"\n").as_deref(), Some("access.tokens"));
    let ok = sluice::Config::from_toml_str(
        "[access]\nallowed_origins = [\"https://*.example.com\"]\n[[access.tokens]]\n\
         token = \"0123456789abcdef\"\npublish = [\"a.*\"]\nsubscribe = [\"*\"]\n",
        None,
    )
    .unwrap();
    assert!(ok.access.auth_enabled());
    // The secret is not printed.
    assert!(!format!("{ok:?}").contains("0123456789abcdef"));
}
