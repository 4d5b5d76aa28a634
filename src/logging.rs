//! A small logger for the binaries: one line per event to stderr, as text or JSON.
//!
//! The level comes from `--log-level`, else `RUST_LOG` (a plain level such as `debug`), else
//! `info`. Text lines read `2026-11-24T10:00:00.123Z INFO  sluice: listening on 127.0.0.1:8080`;
//! JSON lines carry `ts`, `level`, `target` and `msg`.

use std::io::Write;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use log::{Level, LevelFilter, Log, Metadata, Record};

/// Output format of log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable text.
    Text,
    /// One JSON object per line.
    Json,
}

impl FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!("unknown log format `{other}` (use text or json)")),
        }
    }
}

struct Logger {
    format: LogFormat,
    level: LevelFilter,
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let line =
            format_line(self.format, record.level(), record.target(), &record.args().to_string());
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {}
}

fn format_line(format: LogFormat, level: Level, target: &str, msg: &str) -> String {
    let ts = timestamp();
    match format {
        LogFormat::Text => format!("{ts} {level:<5} {target}: {msg}\n"),
        LogFormat::Json => format!(
            "{{\"ts\":\"{ts}\",\"level\":\"{}\",\"target\":\"{}\",\"msg\":\"{}\"}}\n",
            level.as_str().to_ascii_lowercase(),
            json_escape(target),
            json_escape(msg)
        ),
    }
}

/// Install the logger. `level` overrides `RUST_LOG`.
pub fn init(level: Option<&str>, format: LogFormat) -> Result<(), String> {
    let spec = level.map(str::to_string).or_else(|| std::env::var("RUST_LOG").ok());
    let level = match spec.as_deref() {
        None | Some("") => LevelFilter::Info,
        Some(s) => LevelFilter::from_str(s.trim()).map_err(|_| {
            format!("unknown log level `{s}` (use error, warn, info, debug, trace, off)")
        })?,
    };
    log::set_boxed_logger(Box::new(Logger { format, level })).map_err(|e| e.to_string())?;
    log::set_max_level(level);
    Ok(())
}

/// Escape a string for a JSON string literal (without the quotes).
pub(crate) fn json_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    json_escape_into(&mut out, s);
    out
}

/// Append `s` to `out`, escaped for a JSON string literal (without the quotes).
pub(crate) fn json_escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = std::fmt::Write::write_fmt(out, format_args!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
}

/// UTC time as RFC 3339 with milliseconds, without a date crate.
fn timestamp() -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = now.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        now.subsec_millis()
    )
}

/// Days since 1970-01-01 to (year, month, day), Howard Hinnant's algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn json_lines_are_escaped() {
        let line = format_line(LogFormat::Json, Level::Warn, "sluice", "a \"b\"\nc");
        assert!(
            line.ends_with(
                "\"level\":\"warn\",\"target\":\"sluice\",\"msg\":\"a \\\"b\\\"\\nc\"}\n"
            ),
            "{line}"
        );
    }
}
