//! `/echo` with permessage-deflate: each message is answered as it came, compressed if it
//! arrived compressed (whole or in fragments, small or large), uncompressed otherwise, with the
//! same payload byte for byte; the compressed messages received are counted as inflated.

mod util;

use util::deflate::{json_message, Client, BROWSER_OFFER};
use util::{watchdog, Relay};

#[test]
fn messages_come_back_as_they_were_sent() {
    watchdog(120, || {
        let relay = Relay::start();
        let mut c = Client::connect(relay.addr, "/echo", Some(BROWSER_OFFER));
        assert!(c.extensions.is_some());
        let big = json_message(1, 20_000).into_bytes();
        let binary: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        let cases: [(bool, &[u8], bool); 6] = [
            (true, b"hi", true),
            (true, b"hi", false),
            (true, &big, true),
            (true, &big, false),
            (false, &binary, true),
            (false, b"", true),
        ];
        for (i, (text, payload, compress)) in cases.iter().enumerate() {
            c.send(*text, payload, *compress);
            let m = c.read();
            assert_eq!((m.text, &m.payload[..]), (*text, *payload), "case {i}");
            assert_eq!(m.compressed, *compress, "case {i}");
        }
        // A compressed message in 5 fragments.
        c.send_fragmented(true, &big, 5);
        let m = c.read();
        assert_eq!(m.payload, big);
        assert!(m.compressed);
        let z = relay.stats().compression;
        assert_eq!(z.inflated_messages, 5);
        assert_eq!(z.inflated_bytes_out, (2 + 2 * big.len() + binary.len()) as u64);
        assert_eq!(z.compressed_messages, 5, "one compression per compressed echo");
        assert_eq!(z.context_inflaters, 0, "the fragmented message's inflater is gone");
    });
}
