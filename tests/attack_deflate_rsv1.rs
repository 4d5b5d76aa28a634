//! Attack: the compression bit (RSV1) where RFC 7692 forbids it, on a connection that did
//! negotiate permessage-deflate: on a control frame (ping, close) and on a continuation frame.
//! Each closes that connection with `1002`; a bystander keeps receiving.

mod util;

use util::attack::{during, rss_kib, Bystander};
use util::deflate::{compressed_frame, deflate, Client, BROWSER_OFFER};
use util::{encode_frame, watchdog, Binary};

#[test]
fn rsv1_on_control_and_continuation_frames_is_a_protocol_error() {
    watchdog(300, || {
        let mut bin = Binary::start(&[]);
        let mut bystander = Bystander::start(bin.addr);
        bystander.assert_flowing("before the attack");
        let bound = rss_kib(bin.pid()) + 32 * 1024;
        let addr = bin.addr;
        let z = deflate(b"a perfectly good message");
        during(&mut bin, &mut bystander, bound, 4, |t| {
            for i in 0..60 {
                let path = ["/pub/r", "/sub/r", "/echo"][i % 3];
                let mut c = Client::connect(addr, path, Some(BROWSER_OFFER));
                assert!(c.extensions.is_some());
                let (what, bytes) = match (t + i) % 4 {
                    0 => ("a ping", compressed_frame(true, 9, b"p")),
                    1 => ("a close", compressed_frame(true, 8, &1000u16.to_be_bytes())),
                    2 => {
                        // An uncompressed message whose continuation claims compression.
                        let mut b = encode_frame(false, 1, b"plain ", true);
                        b.extend(compressed_frame(true, 0, b"more"));
                        ("the continuation of an uncompressed message", b)
                    }
                    _ => {
                        // A compressed message whose continuation sets RSV1 again.
                        let mut b = compressed_frame(false, 1, &z[..z.len() / 2]);
                        b.extend(compressed_frame(true, 0, &z[z.len() / 2..]));
                        ("the continuation of a compressed message", b)
                    }
                };
                c.raw.send(&bytes);
                let (code, reason) = c.expect_close();
                assert_eq!(code, 1002, "RSV1 on {what} ({t}/{i}): {reason}");
                assert!(reason.contains("RSV1"), "{reason}");
            }
        });
    });
}
