//! Attack: compressed frames (RSV1) on connections that did not negotiate permessage-deflate —
//! a client that never offered it, and one whose offer was declined — close with `1002`, even
//! when the payload is valid DEFLATE; a bystander keeps receiving.

mod util;

use util::attack::{during, rss_kib, Bystander};
use util::deflate::{compressed_frame, deflate, Client};
use util::{watchdog, Binary};

#[test]
fn rsv1_without_the_extension_is_a_protocol_error() {
    watchdog(300, || {
        let mut bin = Binary::start(&[]);
        let mut bystander = Bystander::start(bin.addr);
        bystander.assert_flowing("before the attack");
        let bound = rss_kib(bin.pid()) + 32 * 1024;
        let addr = bin.addr;
        let z = deflate(&"valid DEFLATE, never negotiated ".repeat(20).into_bytes());
        during(&mut bin, &mut bystander, bound, 4, |t| {
            for i in 0..60 {
                let path = ["/pub/u", "/sub/u", "/echo"][i % 3];
                // No offer, or an offer the relay declines (a window it cannot honour).
                let offer =
                    ((t + i) % 2 == 1).then_some("permessage-deflate; server_max_window_bits=7");
                let mut c = Client::connect(addr, path, offer);
                assert_eq!(c.extensions, None);
                c.raw.send(&compressed_frame(true, 1, &z));
                let (code, reason) = c.expect_close();
                assert_eq!(code, 1002, "{t}/{i}: {reason}");
                assert!(reason.contains("no extension negotiated"), "{reason}");
            }
        });
    });
}
