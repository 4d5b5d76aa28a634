//! Bounded replay: run a pipeline over a JSON-lines input with the same operator code the
//! workers run, on one thread, and write the results as lines.
//!
//! Each non-blank input line is one text message (a trailing `\r` is removed). Messages are
//! routed exactly as the relay routes them: with a key, to instance `shard(hash(key), workers)`;
//! otherwise (one publisher: the file) to instance 0, or round-robin. Each instance is a separate
//! chain with its own operator state, as each worker has. Results are written in the order they
//! are produced, one per line. At end of input every operator's `on_end` runs, in instance order.
//!
//! Time: with event time, each line's timestamp is read and the pipeline's watermark computed
//! exactly as the reactor does (the file is one publisher); after each line the watermark is
//! given to every instance, so windows fire as the input moves on. The end of the input is the
//! watermark `i64::MAX`: every open window fires once (Flink's end of a bounded input). With
//! processing time the system clock is used, and the end of the input fires the windows still
//! open (Flink drops them; see the README).

use std::io::{self, BufRead, Write};

use super::key::KeyError;
use super::shard::{key_hash, shard};
use super::time::{TimeMode, Watermarks};
use super::{error_record, Chain, Partition, Pipeline, Record};
use crate::clock::Clock;

/// What a replay did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReplaySummary {
    /// Input messages (non-blank lines).
    pub messages_in: u64,
    /// Results written.
    pub messages_out: u64,
    /// Messages dropped by a filter (or an empty `map`/`flat_map`).
    pub filtered: u64,
    /// Messages that were not valid JSON where JSON was needed.
    pub invalid_json: u64,
    /// Messages on which a jq expression failed, or whose key path did not apply.
    pub expr_errors: u64,
    /// Messages a custom operator (or a window's aggregate) reported as failed.
    pub operator_errors: u64,
    /// Messages whose event time could not be read.
    pub time_errors: u64,
    /// Window results written (late re-firings included).
    pub windows_fired: u64,
    /// Of those, late re-firings.
    pub updates: u64,
    /// Events past the allowed lateness written to the late output.
    pub late_out: u64,
    /// Events past the allowed lateness dropped (the pipeline has no late topic).
    pub late_dropped: u64,
    /// Events dropped because they would have opened a window beyond `max_windows`.
    pub windows_full: u64,
}

impl ReplaySummary {
    /// Messages that failed, of any kind.
    pub fn errors(&self) -> u64 {
        self.invalid_json + self.expr_errors + self.operator_errors + self.time_errors
    }
}

/// Where a replay writes: results, error records, late events (one per line each).
pub struct ReplayOutput<'a> {
    /// Results, one per line.
    pub results: &'a mut dyn Write,
    /// Error records (pipelines with an error topic).
    pub errors: &'a mut dyn Write,
    /// Events past the allowed lateness (pipelines with a late topic).
    pub late: &'a mut dyn Write,
}

/// Run `pipeline` over `input` with `workers` instances; results go to `output`, one line each,
/// and error records (see [`Pipeline::errors_to`]) to `errors` when the pipeline has an error
/// topic.
pub fn replay(
    pipeline: &Pipeline,
    workers: usize,
    input: impl BufRead,
    output: &mut dyn Write,
    errors: &mut dyn Write,
) -> io::Result<ReplaySummary> {
    let mut late = io::sink();
    replay_to(pipeline, workers, input, ReplayOutput { results: output, errors, late: &mut late })
}

/// [`replay`], with late events written to their own output.
pub fn replay_to(
    pipeline: &Pipeline,
    workers: usize,
    input: impl BufRead,
    out: ReplayOutput<'_>,
) -> io::Result<ReplaySummary> {
    let ReplayOutput { results: output, errors, late } = out;
    pipeline.validate().map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let n = workers.max(1);
    let budget = pipeline.window_budget();
    let mut chains: Vec<Chain> = (0..n).map(|_| Chain::new(pipeline, &budget)).collect();
    let mut summary = ReplaySummary::default();
    let mut io_result = Ok(());
    let mut write = |r: &Record| {
        if io_result.is_ok() {
            io_result = output.write_all(r.payload()).and_then(|()| output.write_all(b"\n"));
        }
    };
    let event = pipeline.event_time_spec();
    let mut watermarks = event.map(Watermarks::new);
    let processing = pipeline.time == Some(TimeMode::Processing);
    let clock = Clock::System;
    let mut last_ms = 0;
    let mut rr = 0usize;
    let mut input = input;
    let mut line = Vec::new();
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        summary.messages_in += 1;
        let (w, key) = match &pipeline.partition {
            Partition::Publisher | Partition::Single => (0, None),
            Partition::RoundRobin => {
                rr += 1;
                ((rr - 1) % n, None)
            }
            Partition::Key(path) => match path.extract(&line) {
                Ok(k) => (shard(key_hash(k), n), Some(k)),
                Err(e) => {
                    let why = match e {
                        KeyError::InvalidJson => {
                            summary.invalid_json += 1;
                            format!("invalid JSON: {e}")
                        }
                        KeyError::NotIndexable => {
                            summary.expr_errors += 1;
                            format!("key {}: {e}", path.source())
                        }
                    };
                    if pipeline.errors.is_some() {
                        let mut rec = Vec::new();
                        error_record(&mut rec, &pipeline.get_name(), 0, &why, &line);
                        rec.push(b'\n');
                        errors.write_all(&rec)?;
                    }
                    continue;
                }
            },
        };
        let text = std::str::from_utf8(&line).is_ok();
        if let (Some(t), Some(wms)) = (event, &mut watermarks) {
            let ts = match t.extract(&line) {
                Ok(ts) => ts,
                Err(e) => {
                    summary.time_errors += 1;
                    if pipeline.errors.is_some() {
                        let mut rec = Vec::new();
                        let why = format!("event time {}: {e}", t.field());
                        error_record(&mut rec, &pipeline.get_name(), 0, &why, &line);
                        rec.push(b'\n');
                        errors.write_all(&rec)?;
                    }
                    continue;
                }
            };
            let before = wms.current();
            wms.on_event(0, ts, 0);
            chains[w].push_timed(text, &line, key, ts, before);
            chains[w].run(&mut write);
            if wms.current() > before {
                for chain in &mut chains {
                    chain.on_watermark(wms.current(), &mut write);
                }
            }
        } else if processing {
            let now = clock.now_ms();
            if now != last_ms {
                last_ms = now;
                for chain in &mut chains {
                    chain.on_time(now, &mut write);
                }
            }
            let now = i64::try_from(now).unwrap_or(i64::MAX);
            chains[w].push_timed(text, &line, key, now, i64::MIN);
            chains[w].run(&mut write);
        } else {
            chains[w].push(text, &line, key);
            chains[w].run(&mut write);
        }
        for chain in &mut chains {
            drain(chain, errors, late)?;
        }
    }
    for chain in &mut chains {
        chain.on_end(&mut write);
        drain(chain, errors, late)?;
        let c = chain.take_counts();
        summary.messages_out += c.records_out;
        summary.filtered += c.filtered;
        summary.invalid_json += c.invalid_json;
        summary.expr_errors += c.expr_errors;
        summary.operator_errors += c.operator_errors;
        summary.windows_fired += c.windows_fired;
        summary.updates += c.updates;
        summary.late_out += c.late_out;
        summary.late_dropped += c.late_dropped;
        summary.windows_full += c.windows_full;
    }
    late.flush()?;
    io_result?;
    output.flush()?;
    Ok(summary)
}

fn drain(chain: &mut Chain, errors: &mut dyn Write, late: &mut dyn Write) -> io::Result<()> {
    let mut result = Ok(());
    chain.drain_failures(|e| {
        if result.is_ok() {
            result = errors.write_all(e).and_then(|()| errors.write_all(b"\n"));
        }
    });
    chain.drain_late(|_, payload| {
        if result.is_ok() {
            result = late.write_all(payload).and_then(|()| late.write_all(b"\n"));
        }
    });
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TextOp;

    fn go(p: &Pipeline, workers: usize, input: &str) -> (String, String, ReplaySummary) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let s = replay(p, workers, input.as_bytes(), &mut out, &mut err).unwrap();
        (String::from_utf8(out).unwrap(), String::from_utf8(err).unwrap(), s)
    }

    #[test]
    fn replays_lines_through_the_chain() {
        let p = Pipeline::from_topic("in").text(TextOp::Upper).to_topic("out");
        let (out, _, s) = go(&p, 1, "hello\r\n\nworld\n");
        assert_eq!(out, "HELLO\nWORLD\n");
        assert_eq!((s.messages_in, s.messages_out), (2, 2));
    }

    #[test]
    fn keyed_replay_counts_errors_and_is_independent_of_worker_count() {
        let p = Pipeline::from_topic("in")
            .key_by(".k")
            .map_jq("{k, v: (.v + 1)}")
            .errors_to("errs")
            .to_topic("out");
        let input = "{\"k\":\"a\",\"v\":1}\nnot json\n{\"k\":\"b\",\"v\":\"x\"}\n{\"k\":\"a\",\"v\":2}\n5\n";
        for workers in [1, 4] {
            let (out, err, s) = go(&p, workers, input);
            assert_eq!(out, "{\"k\":\"a\",\"v\":2}\n{\"k\":\"a\",\"v\":3}\n", "{workers}");
            assert_eq!((s.invalid_json, s.expr_errors), (1, 2), "{workers}");
            assert_eq!(err.lines().count(), 3, "{err}");
            assert!(err.contains(r#""step":0,"error":"invalid JSON"#), "{err}");
        }
    }
}
