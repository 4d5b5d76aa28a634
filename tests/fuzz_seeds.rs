//! Replays the fuzz targets' committed seeds (and any regression inputs saved in
//! `fuzz/regressions/<target>/`) through the same entry points `cargo fuzz` drives, so the
//! targets keep compiling and a fixed crash stays fixed. Needs `--features fuzzing`
//! (tests/run.sh passes it).
#![cfg(feature = "fuzzing")]

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut n = 0;
    for dir in [root.join("seeds").join(target), root.join("regressions").join(target)] {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let data = std::fs::read(entry.path()).unwrap();
            run(&data);
            // Every prefix too: the parsers see partial input all the time.
            for cut in (0..data.len()).step_by(7) {
                run(&data[..cut]);
            }
            n += 1;
        }
    }
    n
}

#[test]
fn handshake_seeds() {
    assert!(replay("handshake", sluice::fuzzing::handshake) >= 5);
}

#[test]
fn frame_seeds() {
    assert!(replay("frames", sluice::fuzzing::frames) >= 5);
}

#[test]
fn config_seeds() {
    assert!(replay("config", sluice::fuzzing::config) >= 3);
}

#[test]
fn inflate_seeds() {
    assert!(replay("inflate", sluice::fuzzing::inflate) >= 8);
}
