//! Bounded replay: run a pipeline over a JSON-lines input with the same operator code the
//! workers run, on one thread, and write the results as lines.
//!
//! Each non-blank input line is one text message (a trailing `\r` is removed). Messages are
//! routed by the relay's own routing function (the file is one publisher): with a key, to
//! instance `shard(hash(key), workers)`; otherwise to the publisher's instance, or round-robin.
//! Failures are counted exactly as the relay counts them. Each instance is a separate chain
//! with its own operator state, as each worker has. Results are written in the order they
//! are produced, one per line. At end of input every operator's `on_end` runs, in instance order.
//!
//! Time: with event time, each line's timestamp is read and the pipeline's watermark computed
//! exactly as the reactor does (the file is one publisher); after each line the watermark is
//! given to every instance, so windows fire as the input moves on. The end of the input is the
//! watermark `i64::MAX`: every open window fires once (Flink's end of a bounded input). With
//! processing time the system clock is used, and the end of the input fires the windows still
//! open (Flink drops them; see the README).

use std::io::{self, BufRead, Write};

use super::time::TimeMode;
use super::{error_record, Chain, Pipeline, PipelineCounters, Record, Routing};
use crate::clock::Clock;

/// The publisher id of the replayed file.
const FILE: u64 = 0;

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
) -> io::Result<PipelineCounters> {
    let mut late = io::sink();
    replay_to(pipeline, workers, input, ReplayOutput { results: output, errors, late: &mut late })
}

/// [`replay`], with late events written to their own output.
pub fn replay_to(
    pipeline: &Pipeline,
    workers: usize,
    input: impl BufRead,
    out: ReplayOutput<'_>,
) -> io::Result<PipelineCounters> {
    let ReplayOutput { results: output, errors, late } = out;
    pipeline.validate().map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let n = workers.max(1);
    let budget = pipeline.window_budget();
    let mut chains: Vec<Chain> = (0..n).map(|_| Chain::new(pipeline, &budget)).collect();
    let mut summary = PipelineCounters::default();
    let mut io_result = Ok(());
    let mut write = |r: &Record| {
        if io_result.is_ok() {
            io_result = output.write_all(r.payload()).and_then(|()| output.write_all(b"\n"));
        }
    };
    let event = pipeline.event_time_spec().is_some();
    let mut routing = Routing::new(pipeline);
    let processing = pipeline.time == Some(TimeMode::Processing);
    let clock = Clock::System;
    let mut last_ms = 0;
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
        let routed = match routing.route(pipeline, FILE, &line, n, || 0, &mut summary) {
            Ok(r) => r,
            Err(why) => {
                if pipeline.errors.is_some() {
                    let mut rec = Vec::new();
                    error_record(&mut rec, &pipeline.get_name(), 0, &why, &line);
                    rec.push(b'\n');
                    errors.write_all(&rec)?;
                }
                continue;
            }
        };
        let (w, key) = (routed.instance, routed.key);
        let text = std::str::from_utf8(&line).is_ok();
        if let (true, Some((ts, before))) = (event, routed.stamp) {
            chains[w].push_timed(text, &line, key, ts, before);
            chains[w].run(&mut write);
            if routing.watermark() > before {
                for chain in &mut chains {
                    chain.on_watermark(routing.watermark(), &mut write);
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
        summary.add(&chain.take_counts());
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

    fn go(p: &Pipeline, workers: usize, input: &str) -> (String, String, PipelineCounters) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let s = replay(p, workers, input.as_bytes(), &mut out, &mut err).unwrap();
        (String::from_utf8(out).unwrap(), String::from_utf8(err).unwrap(), s)
    }

    #[test]
    fn replays_lines_through_the_chain() {
        let p = Pipeline::from_topic("in").text(TextOp::Upper).to_topic("out");
        let (out, _, s) = go(&p, 1, "hello\r\n\nworld\n");
        assert_eq!(out, "HELLO\nWORLD\n");
        assert_eq!((s.messages_in, s.records_out), (2, 2));
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
            assert_eq!((s.invalid_json, s.key_errors, s.expr_errors), (1, 1, 1), "{workers}");
            assert_eq!(err.lines().count(), 3, "{err}");
            assert!(err.contains(r#""step":0,"error":"invalid JSON"#), "{err}");
        }
    }
}
