use super::*;

fn config() -> CompressionConfig {
    CompressionConfig::default()
}

fn keep_context(cap: u8) -> CompressionConfig {
    CompressionConfig { client_context_takeover: true, client_max_window_bits: cap, ..config() }
}

fn agreed(headers: &[&str], c: &CompressionConfig) -> Agreed {
    match negotiate(headers.iter().copied(), c) {
        Negotiation::Accepted(a) => a,
        other => panic!("{headers:?}: {other:?}"),
    }
}

fn answer(headers: &[&str], c: &CompressionConfig) -> String {
    agreed(headers, c).header_value()
}

const BOTH: &str = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";

#[test]
fn a_browser_offer_is_accepted_without_any_context() {
    // What Chromium and Firefox send.
    let a = agreed(&["permessage-deflate; client_max_window_bits"], &config());
    assert_eq!(a.server_bits, 15);
    assert_eq!(a.receive, Receive::NoContext);
    assert_eq!(a.header_value(), BOTH);
    assert_eq!(answer(&["permessage-deflate"], &config()), BOTH);
}

#[test]
fn the_first_acceptable_offer_wins_across_headers() {
    let headers = [
        "x-webkit-deflate-frame, permessage-deflate; foo=1",
        "permessage-deflate; server_max_window_bits=11, permessage-deflate",
    ];
    let a = agreed(&headers, &config());
    assert_eq!(a.server_bits, 11);
    assert_eq!(a.header_value(), format!("{BOTH}; server_max_window_bits=11"));
    // Offers of other extensions only, or none at all: not offered.
    assert_eq!(negotiate(["x-webkit-deflate-frame"], &config()), Negotiation::NotOffered);
    assert_eq!(negotiate([], &config()), Negotiation::NotOffered);
    // Compression off: never accepted.
    let off = CompressionConfig { enabled: false, ..config() };
    assert_eq!(negotiate(["permessage-deflate"], &off), Negotiation::NotOffered);
}

#[test]
fn server_window_bits_are_honoured_down_to_eight() {
    for bits in 8..=15u8 {
        let offer = format!("permessage-deflate; server_max_window_bits={bits}");
        let a = agreed(&[&offer], &config());
        assert_eq!(a.server_bits, bits.max(9), "a 9-bit stream fits an 8-bit window");
        assert_eq!(a.header_value(), format!("{BOTH}; server_max_window_bits={bits}"));
    }
    // Quoted values are the same value (RFC 6455 §9.1), names are not case-sensitive.
    let a = agreed(&["Permessage-Deflate; Server_Max_Window_Bits=\"10\""], &config());
    assert_eq!(a.server_bits, 10);
}

#[test]
fn offers_that_cannot_be_honoured_are_declined() {
    for offer in [
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=010",
        "permessage-deflate; server_max_window_bits=abc",
        "permessage-deflate; client_max_window_bits=7",
        "permessage-deflate; client_max_window_bits=99999999999",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; client_no_context_takeover=\"x\"",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; mystery",
    ] {
        assert!(matches!(negotiate([offer], &config()), Negotiation::Declined(_)), "{offer}");
    }
    // A declined offer does not stop a later one.
    let a = agreed(&["permessage-deflate; mystery, permessage-deflate"], &config());
    assert_eq!(a.header_value(), BOTH);
}

#[test]
fn bad_syntax_declines_every_offer() {
    for header in [
        "permessage-deflate;",
        "permessage-deflate; =1",
        "permessage-deflate; server_max_window_bits=",
        "permessage-deflate; server_max_window_bits=\"10",
        "permessage-deflate; server_max_window_bits=\"1 0\"",
        "permessage-deflate; server_max_window_bits=\"\"",
        "permessage-deflate server_no_context_takeover",
        "perm€ssage-deflate",
        "permessage-deflate; a=b=c",
    ] {
        let n = negotiate([header, "permessage-deflate"], &config());
        assert!(matches!(n, Negotiation::Declined(_)), "{header}: {n:?}");
    }
    // Empty list elements and spacing are allowed.
    assert_eq!(answer(&[" , permessage-deflate ;  client_max_window_bits ,"], &config()), BOTH);
    assert_eq!(answer(&["permessage-deflate\t;\tclient_no_context_takeover"], &config()), BOTH);
}

#[test]
fn autobahn_section_13_offers() {
    // The offers of Autobahn's cases 13.1 to 13.7 (client_no_context_takeover and
    // client_max_window_bits are always in them).
    let base = "permessage-deflate; client_no_context_takeover; client_max_window_bits";
    for (extra, bits) in [
        ("", 15),
        ("; server_no_context_takeover", 15),
        ("; server_max_window_bits=8", 9),
        ("; server_max_window_bits=15", 15),
        ("; server_no_context_takeover; server_max_window_bits=8", 9),
        ("; server_no_context_takeover; server_max_window_bits=15", 15),
    ] {
        let a = agreed(&[&format!("{base}{extra}")], &config());
        assert_eq!((a.server_bits, a.receive), (bits, Receive::NoContext), "{extra}");
    }
}

#[test]
fn clients_may_keep_their_context_when_configured() {
    let offer = "permessage-deflate; client_max_window_bits";
    // Full window allowed: nothing to tell the client.
    let a = agreed(&[offer], &keep_context(15));
    assert_eq!(a.receive, Receive::Context { window_bits: 15 });
    assert_eq!(a.header_value(), "permessage-deflate; server_no_context_takeover");
    // A smaller cap is sent to the client.
    let a = agreed(&[offer], &keep_context(10));
    assert_eq!(a.receive, Receive::Context { window_bits: 10 });
    assert_eq!(
        a.header_value(),
        "permessage-deflate; server_no_context_takeover; client_max_window_bits=10"
    );
    // A client that promised a smaller window than the cap keeps it, unsaid.
    let a = agreed(&["permessage-deflate; client_max_window_bits=12"], &keep_context(15));
    assert_eq!(a.receive, Receive::Context { window_bits: 12 });
    assert_eq!(a.header_value(), "permessage-deflate; server_no_context_takeover");
    let a = agreed(&["permessage-deflate; client_max_window_bits=12"], &keep_context(9));
    assert_eq!(a.receive, Receive::Context { window_bits: 9 });
    assert!(a.header_value().ends_with("; client_max_window_bits=9"));
    // A client that cannot be limited, under a cap: asked to keep no context.
    let a = agreed(&["permessage-deflate"], &keep_context(12));
    assert_eq!(a.receive, Receive::NoContext);
    assert_eq!(a.header_value(), BOTH);
    let a = agreed(&["permessage-deflate"], &keep_context(15));
    assert_eq!(a.receive, Receive::Context { window_bits: 15 });
    // A client that says it keeps none: no inflater for it.
    let a = agreed(&["permessage-deflate; client_no_context_takeover"], &keep_context(15));
    assert_eq!(a.receive, Receive::NoContext);
}

#[test]
fn a_connector_checks_the_servers_answer() {
    let ok = |h: &str| accept_response([h]).unwrap_or_else(|e| panic!("{h}: {e}"));
    assert_eq!(ok("permessage-deflate"), Receive::Context { window_bits: 15 });
    assert_eq!(ok("permessage-deflate; server_no_context_takeover"), Receive::NoContext);
    assert_eq!(
        ok("permessage-deflate; server_max_window_bits=10; client_max_window_bits=9"),
        Receive::Context { window_bits: 10 }
    );
    assert_eq!(
        ok("permessage-deflate; client_no_context_takeover; server_no_context_takeover"),
        Receive::NoContext
    );
    for (h, why) in [
        ("permessage-deflate, permessage-deflate", "2 extensions"),
        ("x-webkit-deflate-frame", "was not offered"),
        ("permessage-deflate; server_max_window_bits=16", "window size"),
        ("permessage-deflate; client_max_window_bits", "without value"),
        ("permessage-deflate; foo", "unknown parameter"),
        ("permessage-deflate; server_no_context_takeover; server_no_context_takeover", "twice"),
        ("permessage-deflate;", "token"),
    ] {
        let e = accept_response([h]).unwrap_err();
        assert!(e.contains(why), "{h}: {e}");
    }
    assert!(CLIENT_OFFER.starts_with(NAME));
    assert!(matches!(negotiate([CLIENT_OFFER], &config()), Negotiation::Accepted(_)));
}

#[test]
fn the_101_carries_the_answer() {
    const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
    let plain = switching_protocols(ACCEPT, None, &[]);
    assert_eq!(plain, crate::conn::http::switching_protocols(ACCEPT, &[]));
    let a = agreed(&["permessage-deflate; server_max_window_bits=12"], &config());
    let proto = [("Sec-WebSocket-Protocol", "sluice.v1")];
    let head = switching_protocols(ACCEPT, Some(&a), &proto);
    let mut headers = [httparse::EMPTY_HEADER; 8];
    let mut resp = httparse::Response::new(&mut headers);
    assert_eq!(resp.parse(&head).unwrap(), httparse::Status::Complete(head.len()));
    assert_eq!(resp.code, Some(101));
    let ext = resp.headers.iter().find(|h| h.name == "Sec-WebSocket-Extensions").unwrap();
    assert_eq!(ext.value, a.header_value().as_bytes());
    let sub = resp.headers.iter().find(|h| h.name == "Sec-WebSocket-Protocol").unwrap();
    assert_eq!(sub.value, b"sluice.v1");
    assert!(resp
        .headers
        .iter()
        .any(|h| h.name == "Sec-WebSocket-Accept" && h.value == ACCEPT.as_bytes()));
    // The connector's check of that answer agrees with what the server will do.
    let value = std::str::from_utf8(ext.value).unwrap();
    assert_eq!(accept_response([value]).unwrap(), Receive::NoContext);
}
