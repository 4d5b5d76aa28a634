//! The example page of `examples/sluice-js/` (the page `docs/sluice-js.md` shows) in real
//! headless Chromium, run as the page documents it: the `sluice` binary with
//! `--static examples/sluice-js`. The page must show a published message, then, after the relay
//! restarts on the same port, say that messages may have been missed (`epoch_changed`) and show
//! the next message of the new stream.
//!
//! `tests/run.sh` installs Chromium, node and the npm package; without them the test fails under
//! `CI=true` and is skipped (with a message) otherwise.

mod util;

use std::path::Path;
use std::time::Duration;

use tungstenite::Message;
use util::browser::{prerequisites, Driver};
use util::{connect, watchdog, Binary};

const STEP_TIMEOUT: Duration = Duration::from_secs(90);

#[test]
fn the_example_page_shows_messages_and_says_what_it_may_have_missed() {
    if !prerequisites() {
        return;
    }
    watchdog(300, || {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/sluice-js");
        let dir = dir.to_str().unwrap();
        let mut relay = Binary::start(&["--static", dir]);
        let addr = relay.addr.to_string();
        let mut driver = Driver::start("sluice_js_example.mjs", &[&format!("http://{addr}/app/")]);
        driver.expect("READY", STEP_TIMEOUT);
        let see = |driver: &mut Driver, text: &str| {
            driver.send(&format!("SEE {text}"));
            assert_eq!(driver.expect("SEEN ", STEP_TIMEOUT), text);
        };

        let mut publisher = connect(&format!("ws://{addr}/pub/prices"));
        publisher.send(Message::text(r#"{"sym":"BTC","px":67012.5}"#)).unwrap();
        see(&mut driver, r#"#1 {"sym":"BTC","px":67012.5}"#);

        drop(publisher);
        relay.signal(libc::SIGTERM);
        assert!(relay.wait().success());
        let relay = Binary::start(&["--static", dir, "--listen", &addr]);
        let mut publisher = connect(&format!("ws://{}/pub/prices", relay.addr));
        publisher.send(Message::text(r#"{"sym":"ETH","px":2051.25}"#)).unwrap();
        see(&mut driver, "may have missed messages after #1 (epoch_changed)");
        see(&mut driver, r#"#1 {"sym":"ETH","px":2051.25}"#);
        driver.send("DONE");
        driver.finish();
    });
}
