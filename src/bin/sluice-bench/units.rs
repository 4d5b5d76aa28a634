//! Command-line values: rates (`10000`, `10k`, `1.5M`), counts (`10k`) and durations (`500ms`,
//! `10s`, shared with the relay's own parser).

use std::time::Duration;

/// A rate in messages (or connections) per second: a number with an optional `k` (10³) or `M`
/// (10⁶) suffix and an optional `/s`. `0` means "as fast as possible" where a command allows it.
pub fn parse_rate(s: &str) -> Result<f64, String> {
    let t = s.trim().trim_end_matches("/s");
    let (num, scale) = match t.char_indices().last() {
        Some((i, 'k' | 'K')) => (&t[..i], 1e3),
        Some((i, 'M' | 'm')) => (&t[..i], 1e6),
        _ => (t, 1.0),
    };
    let v: f64 = num
        .parse()
        .map_err(|_| format!("expected a rate like `10000`, `10k` or `1.5M`, found `{s}`"))?;
    let v = v * scale;
    if !v.is_finite() || !(0.0..=1e9).contains(&v) {
        return Err(format!("rate `{s}` is out of range (0 to 1G per second)"));
    }
    Ok(v)
}

/// A whole count with an optional `k` (10³) or `M` (10⁶) suffix, e.g. `10k`.
pub fn parse_count(s: &str) -> Result<usize, String> {
    let v =
        parse_rate(s).map_err(|_| format!("expected a count like `100` or `10k`, found `{s}`"))?;
    if v.fract() != 0.0 {
        return Err(format!("count `{s}` is not a whole number"));
    }
    Ok(v as usize)
}

/// A duration such as `500ms`, `10s` or `2m` (see [`sluice::config::parse_duration`]).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    sluice::config::parse_duration(s)
}

/// Nanoseconds in a duration, saturating.
pub fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
