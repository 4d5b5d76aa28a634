//! Attack: oversize frames and messages. Headers declaring up to 2^63 - 1 bytes, real frames one
//! byte over the limit, and fragmented messages that outgrow it are closed with `1009`, decided
//! from the header before any payload is buffered: memory stays bounded and a bystander keeps
//! receiving.

mod util;

use util::attack::{during, rss_kib, upgraded, Bystander};
use util::{encode_frame, watchdog, Binary};

#[test]
fn oversize_frames_are_refused_without_allocating() {
    watchdog(300, || {
        let mut bin =
            Binary::start(&["--max-message-size", "256KiB", "--max-frame-size", "128KiB"]);
        let mut bystander = Bystander::start(bin.addr);
        bystander.assert_flowing("before the attack");
        let base = rss_kib(bin.pid());
        // 8 attackers with at most one 256 KiB message each in flight, plus slack; far below
        // what any of the declared sizes would take.
        let bound = base + 32 * 1024;
        let addr = bin.addr;
        during(&mut bin, &mut bystander, bound, 8, |t| {
            for i in 0..150 {
                let mut raw = upgraded(addr, if i % 2 == 0 { "/echo" } else { "/pub/big" });
                match (t + i) % 4 {
                    0 => {
                        // A declared (2^63 - 1)-byte frame, no payload. (With the top bit set
                        // the length is a protocol error, 1002: tests/close_codes.rs.)
                        let mut h = vec![0x82, 0xff];
                        h.extend_from_slice(&((1u64 << 63) - 1).to_be_bytes());
                        h.extend_from_slice(&[1, 2, 3, 4]);
                        raw.send(&h);
                    }
                    1 => {
                        // A declared 1 GiB text frame followed by some real bytes.
                        let mut h = vec![0x81, 0xff];
                        h.extend_from_slice(&(1u64 << 30).to_be_bytes());
                        h.extend_from_slice(&[9, 9, 9, 9]);
                        h.extend_from_slice(&[b'a'; 4096]);
                        raw.send(&h);
                    }
                    2 => raw.send(&encode_frame(true, 2, &vec![7; (128 << 10) + 1], true)),
                    _ => {
                        // Fragments within the frame limit that outgrow the message limit.
                        let part = vec![3u8; 100 << 10];
                        raw.send(&encode_frame(false, 2, &part, true));
                        raw.send(&encode_frame(false, 0, &part, true));
                        raw.send(&encode_frame(true, 0, &part, true));
                    }
                }
                let (code, reason) = raw.expect_close();
                assert_eq!(code, 1009, "attacker {t}/{i}: {reason}");
            }
        });
    });
}
