//! Attack: fragment floods. Messages that never end (endless 1-byte continuation frames) and
//! floods of empty fragments are closed with `1008` at `max_fragments` / `max_empty_fragments`;
//! memory stays bounded and a bystander keeps receiving.

mod util;

use util::attack::{during, rss_kib, upgraded, Bystander};
use util::{encode_frame, watchdog, Binary};

#[test]
fn fragment_floods_are_closed_with_1008() {
    watchdog(300, || {
        let mut bin = Binary::start(&["--max-fragments", "1000", "--max-empty-fragments", "8"]);
        let mut bystander = Bystander::start(bin.addr);
        bystander.assert_flowing("before the attack");
        let base = rss_kib(bin.pid());
        let bound = base + 32 * 1024;
        let addr = bin.addr;
        let one = encode_frame(false, 0, b"x", true);
        let empty = encode_frame(false, 0, b"", true);
        during(&mut bin, &mut bystander, bound, 8, |t| {
            for i in 0..150 {
                let mut raw = upgraded(addr, if i % 2 == 0 { "/pub/frag" } else { "/echo" });
                raw.send(&encode_frame(false, 1, b"start", true));
                let flood = if (t + i) % 2 == 0 { &one } else { &empty };
                // Far more than the limits allow; the server closes at the limit and discards
                // the rest.
                raw.send(&flood.repeat(2000));
                let (code, reason) = raw.expect_close();
                assert_eq!(code, 1008, "attacker {t}/{i}: {reason}");
                assert!(reason.contains("fragments"), "{reason}");
            }
        });
    });
}
