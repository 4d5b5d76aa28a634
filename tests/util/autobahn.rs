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
