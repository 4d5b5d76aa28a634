//! What the Autobahn conformance tests (`tests/autobahn.rs`, server side, and
//! `tests/connector_autobahn.rs`, client side) accept besides `OK`.

/// Verdicts other than `OK` that are accepted, for Sluice's server and client sides
/// alike (and tungstenite's own; the README lists them): (case, behavior).
pub const NOT_OK: &[(&str, &str)] = &[
    ("6.4.3", "NON-STRICT"),
    ("6.4.4", "NON-STRICT"),
    ("7.1.6", "INFORMATIONAL"),
    ("7.13.1", "INFORMATIONAL"),
    ("7.13.2", "INFORMATIONAL"),
];

/// Whether a case's verdict that is not `OK` is one of [`NOT_OK`], with a clean close.
pub fn deviation_allowed(case: &str, behavior: &str, close: &str) -> bool {
    NOT_OK.iter().any(|(c, b)| *c == case && *b == behavior)
        && matches!(close, "OK" | "INFORMATIONAL")
}

/// The permessage-deflate cases (sections 12 and 13) a run covers. By default a representative
/// subset that takes well under a minute in a debug build: every data set of section 12 and
/// every offer of section 13, each with messages of 16, 256 and 4096 bytes and of 8 KiB in
/// 256-byte fragments, and each section's largest message (128 KiB) once — 50 cases. With
/// `AUTOBAHN_DEFLATE=full`, all 216 (8 minutes on the server side, 10 in client mode, in a
/// debug build on 2 busy cores).
pub fn compression_cases() -> Vec<String> {
    if std::env::var("AUTOBAHN_DEFLATE").as_deref() == Ok("full") {
        return vec!["12.*".into(), "13.*".into()];
    }
    let sizes = [1, 3, 5, 11];
    let mut ids: Vec<String> = (1..=5)
        .flat_map(|s| sizes.map(|y| format!("12.{s}.{y}")))
        .chain((1..=7).flat_map(|s| sizes.map(|y| format!("13.{s}.{y}"))))
        .collect();
    ids.extend(["12.1.10".to_string(), "13.7.18".to_string()]);
    ids
}

/// Whether a verdict of a section 12 or 13 case is accepted: `OK` with a clean close, on the
/// server side and in client mode alike (every offer those cases make or accept is honoured).
pub fn compression_verdict_ok(behavior: &str, close: &str) -> bool {
    behavior == "OK" && close == "OK"
}
