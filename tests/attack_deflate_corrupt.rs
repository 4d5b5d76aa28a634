//! Attack: compressed messages that are not what RSV1 says — bytes that are not DEFLATE (a
//! reserved block type, a stored block with a bad length), and valid DEFLATE of a text
//! message that is not UTF-8 — close that connection with `1007`, counted; a bystander keeps
//! receiving.

mod util;

use util::attack::{during, rss_kib, Bystander};
use util::deflate::{compressed_frame, deflate, metric, metrics_text, Client, BROWSER_OFFER};
use util::{watchdog, Binary};

#[test]
fn bad_compressed_data_closes_with_1007() {
    watchdog(300, || {
        let mut bin = Binary::start(&[]);
        let mut bystander = Bystander::start(bin.addr);
        bystander.assert_flowing("before the attack");
        let bound = rss_kib(bin.pid()) + 32 * 1024;
        let addr = bin.addr;
        // A block type of 3 (reserved) is invalid DEFLATE from the first byte.
        let reserved = vec![0xff; 64];
        // A stored block whose length and its complement disagree.
        let stored = vec![0x00, 0x05, 0x00, 0x05, 0x00, b'h', b'e', b'l', b'l', b'o'];
        let not_utf8 = deflate(&[b'a', 0xff, 0xfe, b'b']);
        let rounds = 60;
        during(&mut bin, &mut bystander, bound, 4, |t| {
            for i in 0..rounds {
                let path = ["/pub/c", "/echo"][i % 2];
                let mut c = Client::connect(addr, path, Some(BROWSER_OFFER));
                assert!(c.extensions.is_some());
                let (what, z) = match (t + i) % 3 {
                    0 => ("a reserved block type", &reserved),
                    1 => ("a broken stored block", &stored),
                    _ => ("text that is not UTF-8", &not_utf8),
                };
                c.raw.send(&compressed_frame(true, 1, z));
                let (code, reason) = c.expect_close();
                assert_eq!(code, 1007, "{what} ({t}/{i}): {reason}");
            }
        });
        let metrics = metrics_text(bin.addr);
        let invalid = metric(&metrics, "sluice_deflate_inflate_refused_total{reason=\"invalid\"}");
        // Two kinds of three are invalid DEFLATE; the third inflates but is not UTF-8.
        let expect =
            (0..4).flat_map(|t| (0..rounds).map(move |i| (t + i) % 3)).filter(|k| *k < 2).count();
        assert_eq!(invalid, expect as f64);
    });
}
