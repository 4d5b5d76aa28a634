//! Attack: bad close frames and invalid UTF-8, from many clients at once. Invalid close codes
//! and one-byte close payloads get `1002`, invalid UTF-8 in a close reason or a text message
//! gets `1007`, valid private codes are echoed; nothing panics, memory stays bounded and a
//! bystander keeps receiving.

mod util;

use util::attack::{during, rss_kib, upgraded, Bystander};
use util::{encode_frame, watchdog, Binary};

/// (close payload, expected close code in reply)
fn cases() -> Vec<(Vec<u8>, u16)> {
    let code = |c: u16, reason: &[u8]| {
        let mut p = c.to_be_bytes().to_vec();
        p.extend_from_slice(reason);
        p
    };
    let mut v = Vec::new();
    for bad in [0u16, 1, 999, 1004, 1005, 1006, 1014, 1015, 1016, 1100, 2000, 2999, 5000, 65535] {
        v.push((code(bad, b"bad"), 1002));
    }
    v.push((vec![0x03], 1002)); // one byte: half a code
    v.push((
        code(
            1000,
            &[0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xed, 0xa0, 0x80],
        ),
        1007,
    ));
    v.push((code(1001, &[0xff]), 1007));
    for good in [1000u16, 1001, 1003, 1007, 1011, 1012, 1013, 3000, 3999, 4000, 4999] {
        v.push((code(good, b"fine"), good));
    }
    v
}

#[test]
fn bad_close_frames_get_their_codes() {
    watchdog(300, || {
        let mut bin = Binary::start(&[]);
        let mut bystander = Bystander::start(bin.addr);
        bystander.assert_flowing("before the attack");
        let bound = rss_kib(bin.pid()) + 32 * 1024;
        let addr = bin.addr;
        let cases = cases();
        during(&mut bin, &mut bystander, bound, 6, |t| {
            for round in 0..8 {
                for (i, (payload, want)) in cases.iter().enumerate() {
                    let path = ["/echo", "/pub/x", "/sub/x"][(t + round + i) % 3];
                    let mut raw = upgraded(addr, path);
                    raw.send(&encode_frame(true, 8, payload, true));
                    let (code, reason) = raw.expect_close();
                    assert_eq!(code, *want, "close payload {payload:?} on {path}: {reason}");
                }
                // Invalid UTF-8 in text, whole and across fragments.
                let mut raw = upgraded(addr, "/pub/x");
                raw.send(&encode_frame(true, 1, &[b'o', b'k', 0xc0, 0xaf], true));
                assert_eq!(raw.expect_close().0, 1007);
                let mut raw = upgraded(addr, "/echo");
                raw.send(&encode_frame(false, 1, &[0xe2, 0x82], true));
                raw.send(&encode_frame(true, 0, &[0x28], true));
                assert_eq!(raw.expect_close().0, 1007);
            }
        });
    });
}
