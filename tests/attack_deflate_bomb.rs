//! Attack: decompression bombs. With permessage-deflate negotiated, compressed messages that
//! inflate far past `max_message_size` (16 MiB of zeros in about 16 KiB; whole, or spread over
//! fragments) are closed with `1009`, each having allocated no more than the limit: memory
//! stays bounded, the refusals are counted, and a bystander keeps receiving.

mod util;

use util::attack::{during, peak_rss_kib, rss_kib, Bystander};
use util::deflate::{compressed_frame, deflate, metric, metrics_text, Client, BROWSER_OFFER};
use util::{encode_frame, watchdog, Binary};

#[test]
fn bombs_are_refused_within_the_limit() {
    watchdog(300, || {
        let mut bin = Binary::start(&["--max-message-size", "1MiB", "--max-frame-size", "1MiB"]);
        let mut bystander = Bystander::start(bin.addr);
        bystander.assert_flowing("before the attack");
        let base = rss_kib(bin.pid());
        // 8 attackers with at most one 1 MiB message each being inflated, plus slack; far
        // below the 16 MiB each bomb stands for.
        let bound = base + 32 * 1024;
        let bomb = deflate(&vec![0u8; 16 << 20]);
        assert!(bomb.len() < 20 << 10, "{} bytes", bomb.len());
        let addr = bin.addr;
        let rounds = 40;
        during(&mut bin, &mut bystander, bound, 8, |t| {
            for i in 0..rounds {
                let path = if i % 2 == 0 { "/pub/bomb" } else { "/echo" };
                let mut c = Client::connect(addr, path, Some(BROWSER_OFFER));
                assert!(c.extensions.is_some());
                if (t + i) % 2 == 0 {
                    c.raw.send(&compressed_frame(true, 2, &bomb));
                } else {
                    // The same bomb in 4 frames: it is refused as it inflates, frame by frame.
                    let quarter = bomb.len().div_ceil(4);
                    for (k, part) in bomb.chunks(quarter).enumerate() {
                        let fin = k == 3;
                        let frame = match k {
                            0 => compressed_frame(fin, 2, part),
                            _ => encode_frame(fin, 0, part, true),
                        };
                        c.raw.send(&frame);
                    }
                }
                let (code, reason) = c.expect_close();
                assert_eq!(code, 1009, "attacker {t}/{i}: {reason}");
            }
        });
        // Not only when sampled: the process never held more.
        let peak = peak_rss_kib(bin.pid());
        assert!(peak <= bound, "peak RSS {peak} KiB over {bound} KiB");
        let metrics = metrics_text(bin.addr);
        let refused = metric(&metrics, "sluice_deflate_inflate_refused_total{reason=\"too_big\"}");
        assert_eq!(refused, (8 * rounds) as f64);
        assert_eq!(metric(&metrics, "sluice_deflate_context_inflaters"), 0.0);
    });
}
