//! Attack: ping floods from clients that never read. Their pongs count against the outgoing
//! bound, so each is closed (`1008`, slow consumer) instead of growing a queue; memory stays
//! bounded by `max_queued_bytes` per connection and a bystander keeps receiving.

mod util;

use std::io::Write;

use util::attack::{during, rss_kib, upgraded, Bystander};
use util::{encode_frame, watchdog, Binary};

const ATTACKERS: usize = 16;

#[test]
fn pings_without_reading_are_closed_not_grown() {
    watchdog(300, || {
        let mut bin = Binary::start(&["--max-queued-bytes", "256KiB"]);
        let mut bystander = Bystander::start(bin.addr);
        bystander.assert_flowing("before the attack");
        let base = rss_kib(bin.pid());
        let bound = base + 32 * 1024 + ATTACKERS as u64 * 256;
        let addr = bin.addr;
        let pings: Vec<u8> = encode_frame(true, 9, &[0x5a; 125], true).repeat(1000);
        during(&mut bin, &mut bystander, bound, ATTACKERS, |t| {
            let mut raw = upgraded(addr, if t % 2 == 0 { "/echo" } else { "/sub/quiet" });
            // Up to 40 MB of pings, never reading, until the server stops taking them. Pongs
            // pile up in the server's queue (and both socket buffers) until the bound trips.
            let mut sent = 0;
            while sent < 320 {
                if raw.stream.write_all(&pings).is_err() {
                    break;
                }
                sent += 1;
            }
            // Now read: pongs, then the close.
            let (code, reason) = raw.expect_close();
            assert_eq!(code, 1008, "attacker {t} after {sent}k pings: {reason}");
            assert!(reason.contains("slow consumer"), "{reason}");
        });
    });
}
