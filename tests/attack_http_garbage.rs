//! Attack: hostile requests before the upgrade. Oversized header sections and too many headers
//! get `431`, binary junk and malformed requests get `400`, junk after a valid upgrade gets a
//! close code; memory stays bounded and a bystander keeps receiving.

mod util;

use util::attack::{during, rss_kib, Bystander};
use util::{watchdog, Binary, Raw};

#[test]
fn hostile_requests_get_clear_answers() {
    watchdog(300, || {
        let mut bin = Binary::start(&["--max-header-bytes", "4KiB", "--max-headers", "32"]);
        let mut bystander = Bystander::start(bin.addr);
        bystander.assert_flowing("before the attack");
        let bound = rss_kib(bin.pid()) + 32 * 1024;
        let addr = bin.addr;
        let huge_value = format!("GET /echo HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(64 << 10));
        let many: String = (0..500).map(|i| format!("X-{i}: v\r\n")).collect();
        let many = format!("GET /echo HTTP/1.1\r\n{many}\r\n");
        let long_line = format!("GET /{} HTTP/1.1\r\n\r\n", "p".repeat(10 << 10));
        let junk: Vec<u8> =
            (0..4096u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
        during(&mut bin, &mut bystander, bound, 6, |t| {
            for i in 0..60 {
                let (request, want): (&[u8], u16) = match (t + i) % 6 {
                    0 => (huge_value.as_bytes(), 431),
                    1 => (many.as_bytes(), 431),
                    2 => (long_line.as_bytes(), 431),
                    3 => (&junk, 400),
                    4 => (b"GET /echo HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n", 400),
                    _ => (
                        b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03 a TLS hello to a plain port",
                        400,
                    ),
                };
                let mut raw = Raw::connect(addr);
                // The server may answer and close before reading it all; a reset is fine.
                let _ = std::io::Write::write_all(&mut raw.stream, request);
                let (status, head, ()) = raw.read_response_head();
                assert_eq!(status, want, "{head}");
                // After a valid upgrade, junk frames get a close code, not a crash.
                let mut ws = Raw::upgraded(addr, "/echo");
                ws.send(&junk);
                let (code, _) = ws.expect_close();
                assert!(matches!(code, 1002 | 1007 | 1009), "close code {code}");
            }
        });
    });
}
