//! `sluice-bench`: an open-loop, HDR-histogram latency benchmark for WebSocket servers.
//!
//! Scenarios: `pubsub`, `echo`, `flood`, `idle`, `connect`, plus `tcp` (plain TCP ping-pong,
//! the floor), `plot` (draw saved runs) and `self-test` (the tool's own overhead). Every URL is
//! an argument, so any server that speaks `/pub`-`/sub`-`/echo`-style WebSocket can be measured.
//! Timing follows wrk2: a constant-rate schedule, latency from the intended send time
//! (coordinated omission corrected) and from the actual send time, warm-up discarded,
//! per-thread histograms merged at the end. See the README's "sluice-bench" section.

mod clock;
mod connect;
mod dial;
mod envelope;
mod fdlimit;
mod frame;
mod idle;
mod payload;
mod plot;
mod receiver;
mod recorder;
mod report;
mod run;
mod schedule;
mod selftest;
mod sender;
mod tcp;
mod track;
mod units;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use dial::WsUrl;
use payload::Format;
use recorder::Recorder;
use report::Summary;
use units::{parse_count, parse_duration, parse_rate};

/// Open-loop latency benchmark for WebSocket servers (HDR histograms, coordinated omission
/// corrected).
#[derive(Debug, Parser)]
#[command(name = "sluice-bench", version, about, long_about = None)]
struct Cli {
    /// Measure the tool's own overhead against in-process loopback servers, then exit.
    #[arg(long)]
    self_test: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// P publishers → topic → S subscribers: end-to-end latency to every subscriber.
    Pubsub(PubSubArgs),
    /// Round trips through an echo endpoint on one or many connections.
    Echo(EchoArgs),
    /// Maximum delivered throughput with a bounded number of messages in flight.
    Flood(FloodArgs),
    /// Hold N idle connections; with --pid, the server's memory per connection.
    Idle(IdleArgs),
    /// Handshakes per second and handshake latency.
    Connect(ConnectArgs),
    /// Plain TCP ping-pong round trips against a TCP echo server (the physical floor).
    Tcp(TcpArgs),
    /// Draw saved runs (--json files) on one latency-by-percentile SVG.
    Plot(PlotArgs),
    /// Measure the tool's own overhead (same as --self-test).
    SelfTest(SelfTestArgs),
}

#[derive(Debug, Args)]
struct Timing {
    /// Measured time, e.g. 10s.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Time run before measuring, then discarded.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    warmup: Duration,
    /// Longest wait for in-flight messages after sending stops.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    drain: Duration,
    /// Handshake timeout per connection.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    connect_timeout: Duration,
}

#[derive(Debug, Args)]
struct Message {
    /// Payload size in bytes (at least 55 for json, 46 for raw, 77 for dashboard).
    #[arg(long, default_value = "64", value_parser = parse_count)]
    size: usize,
    /// Payload format: json (`{"sb":"<digits>xx…"}`), raw (`<digits>xx…`) or dashboard
    /// (`{"sb":"<digits>","rows":[{"sym":…,"bid":…,"qty":…},…]}`: JSON that compresses like a
    /// dashboard's).
    #[arg(long, default_value = "json", value_parser = Format::parse)]
    format: Format,
    /// Send binary frames instead of text.
    #[arg(long)]
    binary: bool,
    /// Receiving threads (each runs one poll loop over its share of the connections).
    #[arg(long, default_value = "1")]
    threads: usize,
}

#[derive(Debug, Args, Clone)]
struct Output {
    /// Write the results as JSON.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write the HdrHistogram percentile distribution (.hgrm) of the intended-time latency.
    #[arg(long, value_name = "FILE")]
    hgrm: Option<PathBuf>,
    /// Draw the latency-by-percentile curve as SVG.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
    /// Saved runs (--json files) to draw on the same plot.
    #[arg(long, value_name = "FILE.json", num_args = 1..)]
    compare: Vec<PathBuf>,
    /// Name of this run on plots and in the JSON.
    #[arg(long)]
    label: Option<String>,
    /// No progress lines (the summary is still printed).
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Debug, Args)]
struct PubSubArgs {
    /// Publish URL, e.g. ws://127.0.0.1:8080/pub/t.
    #[arg(long = "pub", value_name = "URL")]
    pub_url: String,
    /// Subscribe URL, e.g. ws://127.0.0.1:8080/sub/t.
    #[arg(long = "sub", value_name = "URL")]
    sub_url: String,
    /// Publisher connections (the rate is spread over them).
    #[arg(long, default_value = "1", value_parser = parse_count)]
    pubs: usize,
    /// Subscriber connections.
    #[arg(long, default_value = "1", value_parser = parse_count)]
    subs: usize,
    /// Messages published per second, in total (e.g. 10k).
    #[arg(long, default_value = "1k", value_parser = parse_rate)]
    rate: f64,
    /// Subscribe in Sluice's envelope mode: offer the `sluice.v1` subprotocol and read each
    /// payload from its envelope (`data`, or `data_b64` for binary); a server that does not
    /// choose `sluice.v1` fails the run.
    #[arg(long)]
    envelope: bool,
    /// Subscribers offer permessage-deflate (as browsers do) and inflate what comes compressed.
    #[arg(long)]
    deflate: bool,
    #[command(flatten)]
    timing: Timing,
    #[command(flatten)]
    message: Message,
    #[command(flatten)]
    output: Output,
}

#[derive(Debug, Args)]
struct EchoArgs {
    /// Echo URL, e.g. ws://127.0.0.1:8080/echo.
    #[arg(long, value_name = "URL")]
    url: String,
    /// Connections (the rate is spread over them).
    #[arg(long, default_value = "1", value_parser = parse_count)]
    conns: usize,
    /// Round trips started per second, in total.
    #[arg(long, default_value = "1k", value_parser = parse_rate)]
    rate: f64,
    #[command(flatten)]
    timing: Timing,
    #[command(flatten)]
    message: Message,
    #[command(flatten)]
    output: Output,
}

#[derive(Debug, Args)]
struct FloodArgs {
    /// Publish URL.
    #[arg(long = "pub", value_name = "URL")]
    pub_url: String,
    /// Subscribe URL.
    #[arg(long = "sub", value_name = "URL")]
    sub_url: String,
    /// Subscriber connections.
    #[arg(long, default_value = "1", value_parser = parse_count)]
    subs: usize,
    /// Messages in flight at most (sent but not yet received by the slowest subscriber).
    #[arg(long, default_value = "10k", value_parser = parse_count)]
    window: usize,
    #[command(flatten)]
    timing: Timing,
    #[command(flatten)]
    message: Message,
    #[command(flatten)]
    output: Output,
}

#[derive(Debug, Args)]
struct IdleArgs {
    /// URL to hold connections to, e.g. ws://127.0.0.1:8080/sub/idle.
    #[arg(long, value_name = "URL")]
    url: String,
    /// Connections to hold.
    #[arg(long, default_value = "10k", value_parser = parse_count)]
    conns: usize,
    /// How long to hold them once all are open.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    hold: Duration,
    /// The server's process id: its RSS is read before and while the connections are held.
    #[arg(long)]
    pid: Option<u32>,
    /// Handshake timeout per connection.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    connect_timeout: Duration,
    /// Offer permessage-deflate (as browsers do).
    #[arg(long)]
    deflate: bool,
    #[command(flatten)]
    output: Output,
}

#[derive(Debug, Args)]
struct ConnectArgs {
    /// URL to connect to, e.g. ws://127.0.0.1:8080/echo.
    #[arg(long, value_name = "URL")]
    url: String,
    /// Handshakes started per second (0: as fast as --concurrency allows).
    #[arg(long, default_value = "1k", value_parser = parse_rate)]
    rate: f64,
    /// Handshakes in flight at most.
    #[arg(long, default_value = "256", value_parser = parse_count)]
    concurrency: usize,
    #[command(flatten)]
    timing: Timing,
    #[command(flatten)]
    output: Output,
}

#[derive(Debug, Args)]
struct TcpArgs {
    /// TCP echo server address, e.g. 127.0.0.1:9000.
    #[arg(long)]
    addr: std::net::SocketAddr,
    /// Round trips per second.
    #[arg(long, default_value = "10k", value_parser = parse_rate)]
    rate: f64,
    /// Bytes per ping.
    #[arg(long, default_value = "64", value_parser = parse_count)]
    size: usize,
    #[command(flatten)]
    timing: Timing,
    #[command(flatten)]
    output: Output,
}

#[derive(Debug, Args)]
struct PlotArgs {
    /// The SVG to write.
    #[arg(long, short, value_name = "FILE.svg")]
    out: PathBuf,
    /// Title of the plot.
    #[arg(long, default_value = "latency by percentile")]
    title: String,
    /// Saved runs (--json files).
    #[arg(required = true, value_name = "FILE.json")]
    runs: Vec<PathBuf>,
}

#[derive(Debug, Args)]
struct SelfTestArgs {
    /// Round trips per second through the loopback echo.
    #[arg(long, default_value = "10k", value_parser = parse_rate)]
    rate: f64,
    /// Length of each measurement.
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    duration: Duration,
    /// Payload size.
    #[arg(long, default_value = "64", value_parser = parse_count)]
    size: usize,
    #[command(flatten)]
    output: Output,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register(sig, stop.clone());
    }
    let command = match (cli.command, cli.self_test) {
        (Some(c), _) => c,
        (None, true) => Command::SelfTest(SelfTestArgs {
            rate: 10_000.0,
            duration: Duration::from_secs(3),
            size: 64,
            output: Output {
                json: None,
                hgrm: None,
                plot: None,
                compare: Vec::new(),
                label: None,
                quiet: false,
            },
        }),
        (None, false) => {
            eprintln!("sluice-bench: give a scenario (pubsub, echo, flood, idle, connect, tcp), plot, or --self-test; see --help");
            return ExitCode::from(2);
        }
    };
    match dispatch(command, stop) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sluice-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn url(s: &str) -> Result<WsUrl, String> {
    WsUrl::parse(s)
}

fn check_size(m: &Message) -> Result<(), String> {
    if m.size < m.format.min_size() {
        return Err(format!(
            "--size {} is too small for the {:?} format (at least {} bytes)",
            m.size,
            m.format,
            m.format.min_size()
        ));
    }
    Ok(())
}

fn message_spec(
    kind: run::Kind,
    send: WsUrl,
    sub: Option<WsUrl>,
    t: &Timing,
    m: &Message,
    o: &Output,
) -> run::Spec {
    run::Spec {
        kind,
        send_url: send,
        sub_url: sub,
        senders: 1,
        subs: 0,
        rate: 0.0,
        window: 0,
        duration: t.duration,
        warmup: t.warmup,
        drain: t.drain,
        size: m.size,
        format: m.format,
        binary: m.binary,
        envelope: false,
        threads: m.threads,
        progress: !o.quiet,
        connect_timeout: t.connect_timeout,
    }
}

fn dispatch(command: Command, stop: Arc<AtomicBool>) -> Result<(), String> {
    match command {
        Command::Pubsub(a) => {
            check_size(&a.message)?;
            if a.rate <= 0.0 {
                return Err("--rate must be above 0 (use `flood` for as-fast-as-possible)".into());
            }
            let mut sub = url(&a.sub_url)?;
            sub.deflate = a.deflate;
            let mut spec = message_spec(
                run::Kind::PubSub,
                url(&a.pub_url)?,
                Some(sub),
                &a.timing,
                &a.message,
                &a.output,
            );
            spec.senders = a.pubs.clamp(1, payload::MAX_SENDER as usize);
            spec.subs = a.subs.max(1);
            spec.rate = a.rate;
            spec.envelope = a.envelope;
            let out = run::run(&spec, stop)?;
            emit(out.summary, Some(&out.recorder), &a.output)
        }
        Command::Echo(a) => {
            check_size(&a.message)?;
            if a.rate <= 0.0 {
                return Err("--rate must be above 0".into());
            }
            let mut spec =
                message_spec(run::Kind::Echo, url(&a.url)?, None, &a.timing, &a.message, &a.output);
            spec.senders = a.conns.clamp(1, payload::MAX_SENDER as usize);
            spec.rate = a.rate;
            let out = run::run(&spec, stop)?;
            emit(out.summary, Some(&out.recorder), &a.output)
        }
        Command::Flood(a) => {
            check_size(&a.message)?;
            let mut spec = message_spec(
                run::Kind::Flood,
                url(&a.pub_url)?,
                Some(url(&a.sub_url)?),
                &a.timing,
                &a.message,
                &a.output,
            );
            spec.subs = a.subs.max(1);
            spec.window = a.window.max(1) as u64;
            let out = run::run(&spec, stop)?;
            emit(out.summary, Some(&out.recorder), &a.output)
        }
        Command::Idle(a) => {
            let mut target = url(&a.url)?;
            target.deflate = a.deflate;
            let spec = idle::IdleSpec {
                url: target,
                conns: a.conns,
                hold: a.hold,
                pid: a.pid.map(|p| p.to_string()),
                connect_timeout: a.connect_timeout,
            };
            emit(idle::run(&spec)?, None, &a.output)
        }
        Command::Connect(a) => {
            let spec = connect::ConnectSpec {
                url: url(&a.url)?,
                rate: a.rate,
                concurrency: a.concurrency.max(1),
                duration: a.timing.duration,
                warmup: a.timing.warmup,
                connect_timeout: a.timing.connect_timeout,
            };
            let (s, rec) = connect::run(&spec)?;
            emit(s, Some(&rec), &a.output)
        }
        Command::Tcp(a) => {
            let spec = tcp::TcpSpec {
                addr: a.addr,
                rate: a.rate.max(1.0),
                size: a.size,
                duration: a.timing.duration,
                warmup: a.timing.warmup,
            };
            let (s, rec) = tcp::run(&spec)?;
            emit(s, Some(&rec), &a.output)
        }
        Command::Plot(a) => {
            let runs =
                a.runs.iter().map(|p| report::read_summary(p)).collect::<Result<Vec<_>, _>>()?;
            report::write_file(&a.out, plot::summaries(&a.title, &runs).as_bytes())
        }
        Command::SelfTest(a) => {
            let t = selftest::run(a.rate, a.duration, a.size, stop)?;
            println!("sluice-bench self-test ({} B messages)", a.size);
            println!(
                "  per-message CPU work: {:.0} ns to stamp, mask and frame; {:.0} ns to parse, decode, check and record",
                t.encode_ns, t.decode_ns
            );
            let (tl, el) = (&t.tcp.latency_actual, &t.echo.latency_actual);
            println!(
                "  TCP ping-pong (in-process echo):        p50 {:>7.1} µs  p99 {:>7.1} µs  p99.9 {:>7.1} µs",
                tl.p50, tl.p99, tl.p999
            );
            println!(
                "  WebSocket echo via the bench's loops:   p50 {:>7.1} µs  p99 {:>7.1} µs  p99.9 {:>7.1} µs",
                el.p50, el.p99, el.p999
            );
            println!(
                "  added by WebSocket framing + the bench's threads: p50 {:+.1} µs, p99 {:+.1} µs",
                el.p50 - tl.p50,
                el.p99 - tl.p99
            );
            let mut echo = t.echo;
            echo.scenario = "self-test".into();
            echo.label = a.output.label.clone().unwrap_or_else(|| "loopback echo".into());
            emit(echo, Some(&t.recorder), &a.output)
        }
    }
}

/// Print the summary and write the requested files.
fn emit(mut s: Summary, rec: Option<&Recorder>, o: &Output) -> Result<(), String> {
    s.label = o.label.clone().unwrap_or_else(|| s.target.first().cloned().unwrap_or_default());
    print!("{}", report::text(&s));
    if let Some(path) = &o.json {
        let text = serde_json::to_string_pretty(&s).map_err(|e| e.to_string())?;
        report::write_file(path, text.as_bytes())?;
    }
    if let (Some(path), Some(rec)) = (&o.hgrm, rec) {
        report::write_file(path, report::hgrm(&rec.intended).as_bytes())?;
    }
    if let Some(path) = &o.plot {
        let mut runs = vec![s.clone()];
        for p in &o.compare {
            runs.push(report::read_summary(p)?);
        }
        let title = format!("{} latency by percentile", s.scenario);
        report::write_file(path, plot::summaries(&title, &runs).as_bytes())?;
    }
    Ok(())
}
