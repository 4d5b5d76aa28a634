//! The example page of `examples/web/` in a real browser: the documented one command
//! (`demo_traffic --serve examples/web.toml`: a relay with the `candles` window pipeline and
//! the page as its static files, fed with demo traffic) runs here from the example's own code,
//! and headless Chromium opens `/app/` on it. The page must receive window results over its
//! WebSocket and draw them (candles painted on its canvases), load nothing from another origin
//! and log no error. The screenshot is saved under the test's output directory (the one in
//! `docs/web-example.png` was taken this way).

mod util;

#[allow(dead_code)]
#[path = "../examples/demo_traffic.rs"]
mod demo_traffic;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use sluice::Config;
use util::browser::{browser_dir, prerequisites};
use util::watchdog;

/// Window results the page must have received: at least three one-second windows of each of the
/// two symbols.
const MIN_RESULTS: u32 = 6;

#[test]
fn the_example_page_draws_live_window_results_in_chromium() {
    if !prerequisites() {
        return;
    }
    watchdog(300, || {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut config = Config::from_toml_file(&root.join("examples/web.toml")).expect("config");
        assert_eq!(config.web.static_dir.as_deref(), Some(Path::new("examples/web")));
        assert!(config.pipelines.iter().any(|p| p.to.0 == "candles.1s"));
        config.listen = "127.0.0.1:0".parse().unwrap();
        config.web.static_dir = Some(root.join("examples/web"));
        let relay = demo_traffic::serve_config(config).expect("the relay starts");
        let traffic = demo_traffic::start(&relay.addr.to_string(), Duration::from_secs(240));

        let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("web_example");
        std::fs::create_dir_all(&out_dir).unwrap();
        let shot = out_dir.join("web-example.png");
        let _ = std::fs::remove_file(&shot);
        let page = format!("http://{}/app/", relay.addr);
        let run = Command::new("node")
            .arg(browser_dir().join("web_example.mjs"))
            .args([page.as_str(), &MIN_RESULTS.to_string(), shot.to_str().unwrap()])
            .output()
            .expect("run node");
        let said = String::from_utf8_lossy(&run.stdout);
        assert!(
            run.status.success(),
            "the driver failed ({}): {said}{}",
            run.status,
            String::from_utf8_lossy(&run.stderr)
        );
        let ok = said.lines().find_map(|l| l.strip_prefix("OK ")).expect("an OK line");
        let (results, keys) = ok.split_once(' ').unwrap();
        assert!(results.parse::<u32>().unwrap() >= MIN_RESULTS, "{said}");
        assert_eq!(keys, "2", "one chart per symbol: {said}");
        let png = std::fs::read(&shot).expect("screenshot");
        assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "not a real screenshot");
        eprintln!("example page screenshot: {}", shot.display());

        relay.handle.stop();
        relay.thread.join().expect("reactor thread").expect("reactor");
        for t in traffic {
            t.join().expect("a traffic thread panicked");
        }
    });
}
