//! `sluice`: the relay binary. With no arguments it serves on `127.0.0.1:8080` with the embedded
//! defaults; `--config FILE.toml` and the flags below override them (flags win over the file).
//! `sluice replay` runs one of the file's pipelines over a JSON-lines file, offline;
//! `sluice config --print-default` prints every configuration key with its default.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use sluice::config::{parse_duration, parse_size};
use sluice::logging::{self, LogFormat};
use sluice::{Config, IdleStrategy, Reactor};

/// A low-latency WebSocket stream relay: publish on /pub/<topic>, subscribe on
/// /sub/<topic>[,<topic>…], echo on /echo, health on /healthz.
#[derive(Debug, Parser)]
#[command(name = "sluice", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// TOML configuration file (every key optional; unknown keys are errors).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Validate this configuration file, print the result and exit.
    #[arg(long, value_name = "FILE")]
    check_config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR")]
    listen: Option<std::net::SocketAddr>,
    /// Largest message after reassembly, e.g. 1MiB; larger closes with 1009.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    max_message_size: Option<usize>,
    /// Largest single frame payload, e.g. 1MiB; larger closes with 1009.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    max_frame_size: Option<usize>,
    /// Bound on bytes queued to one connection, e.g. 4MiB; past it a slow consumer is closed with 1008.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    max_queued_bytes: Option<usize>,
    /// Bound on the HTTP request header section, e.g. 8KiB; past it 431.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    max_header_bytes: Option<usize>,
    /// Bound on the number of request headers; past it 431.
    #[arg(long, value_name = "N")]
    max_headers: Option<usize>,
    /// Deadline from accept to a completed upgrade, e.g. 10s.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    handshake_timeout: Option<Duration>,
    /// Ping a connection after this long without input, e.g. 30s; 0 disables.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    idle_ping: Option<Duration>,
    /// Close a connection that does not answer a keepalive ping within this time.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pong_timeout: Option<Duration>,
    /// Time allowed to a closing connection to flush and see the peer's EOF.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    close_timeout: Option<Duration>,
    /// Time allowed to flush on a graceful stop (SIGINT/SIGTERM).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    shutdown_timeout: Option<Duration>,
    /// Most frames in one fragmented message; more closes with 1008.
    #[arg(long, value_name = "N")]
    max_fragments: Option<usize>,
    /// Most empty frames in one fragmented message; more closes with 1008.
    #[arg(long, value_name = "N")]
    max_empty_fragments: Option<usize>,
    /// Most connections at once (0: no limit); past it new connections are refused.
    #[arg(long, value_name = "N")]
    max_connections: Option<usize>,
    /// Most connections from one IP address (0: no limit).
    #[arg(long, value_name = "N")]
    max_connections_per_ip: Option<usize>,
    /// Inbound messages per second per connection (0: no limit); over it closes with 1008.
    #[arg(long, value_name = "N")]
    max_messages_per_sec: Option<u32>,
    /// Messages a connection may send at once before the rate applies (0: one second's worth).
    #[arg(long, value_name = "N")]
    message_burst: Option<u32>,
    /// Serve wss:// with this PEM certificate chain (needs --tls-key).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Worker threads for pipelines [default: cores - 1, at least 1].
    #[arg(long, value_name = "N")]
    workers: Option<usize>,
    /// What an idle worker does: spin, spin-then-park or park [default: spin-then-park].
    #[arg(long, value_name = "STRATEGY")]
    idle: Option<IdleStrategy>,
    /// Do not pin worker threads to cores.
    #[arg(long)]
    no_pin: bool,
    /// Serve this directory's files under --static-prefix (read into memory at start).
    #[arg(long = "static", value_name = "DIR")]
    static_dir: Option<PathBuf>,
    /// The URL prefix of --static files [default: /app/].
    #[arg(long, value_name = "PREFIX")]
    static_prefix: Option<String>,
    /// Log level: error, warn, info, debug, trace [default: RUST_LOG or info].
    #[arg(long, value_name = "LEVEL")]
    log_level: Option<String>,
    /// Log format: text or json.
    #[arg(long, value_name = "FORMAT", default_value = "text")]
    log_format: LogFormat,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The configuration file's reference.
    Config {
        /// Print a complete configuration file: every key, its default and what it does.
        #[arg(long, required = true)]
        print_default: bool,
    },
    /// Run one pipeline of a configuration file over a JSON-lines file (one message per line)
    /// with the relay's operator code, and write the results as lines.
    Replay {
        /// The configuration file that defines the pipeline.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// The pipeline's name.
        #[arg(long, value_name = "NAME")]
        pipeline: String,
        /// Input: one message per line (`-` for standard input).
        #[arg(long, value_name = "FILE")]
        input: PathBuf,
        /// Output: one result per line [default: standard output].
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Error records of failed messages, if the pipeline has an error topic
        /// [default: standard error].
        #[arg(long, value_name = "FILE")]
        errors: Option<PathBuf>,
        /// Events past the allowed lateness, if the pipeline has a late topic
        /// [default: discarded, counted in the summary].
        #[arg(long, value_name = "FILE")]
        late: Option<PathBuf>,
        /// Pipeline instances, as workers of the relay [default: the file's worker count].
        #[arg(long, value_name = "N")]
        workers: Option<usize>,
    },
}

impl Cli {
    /// Apply command-line overrides on top of the file (or the defaults).
    fn apply(&self, config: &mut Config) {
        if let Some(n) = self.workers {
            config.workers.count = n;
        }
        if let Some(idle) = self.idle {
            config.workers.idle = idle;
        }
        if self.no_pin {
            config.workers.pin = false;
        }
        let l = &mut config.limits;
        if let Some(v) = self.listen {
            config.listen = v;
        }
        macro_rules! set {
            ($($field:ident),*) => { $( if let Some(v) = self.$field { l.$field = v; } )* };
        }
        set!(
            max_message_size,
            max_frame_size,
            max_queued_bytes,
            max_header_bytes,
            max_headers,
            handshake_timeout,
            idle_ping,
            pong_timeout,
            close_timeout,
            shutdown_timeout,
            max_fragments,
            max_empty_fragments,
            max_connections,
            max_connections_per_ip,
            max_messages_per_sec,
            message_burst
        );
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            config.tls = Some(sluice::config::TlsFiles { cert: cert.clone(), key: key.clone() });
        }
        if let Some(dir) = &self.static_dir {
            config.web.static_dir = Some(dir.clone());
        }
        if let Some(prefix) = &self.static_prefix {
            config.web.static_prefix = prefix.clone();
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = logging::init(cli.log_level.as_deref(), cli.log_format) {
        eprintln!("sluice: {e}");
        return ExitCode::from(2);
    }
    if let Some(Command::Config { .. }) = &cli.command {
        print!("{}", sluice::config::reference::default_file());
        return ExitCode::SUCCESS;
    }
    if let Some(Command::Replay { config, pipeline, input, output, errors, late, workers }) =
        &cli.command
    {
        let files = ReplayFiles {
            output: output.as_deref(),
            errors: errors.as_deref(),
            late: late.as_deref(),
        };
        return replay(config, pipeline, input, files, *workers);
    }
    if let Some(path) = &cli.check_config {
        let checked = Config::from_toml_file(path).map_err(|e| e.to_string()).and_then(|c| {
            sluice::web::StaticFiles::load(&c.web).map(|_| ()).map_err(|e| e.to_string())
        });
        return match checked {
            Ok(()) => {
                println!("{}: ok", path.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(2)
            }
        };
    }
    let mut config = match &cli.config {
        Some(path) => match Config::from_toml_file(path) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        },
        None => Config::default(),
    };
    cli.apply(&mut config);
    match run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// Where `sluice replay` writes (standard output and error by default).
struct ReplayFiles<'a> {
    output: Option<&'a std::path::Path>,
    errors: Option<&'a std::path::Path>,
    late: Option<&'a std::path::Path>,
}

fn replay(
    config: &std::path::Path,
    name: &str,
    input: &std::path::Path,
    files: ReplayFiles<'_>,
    workers: Option<usize>,
) -> ExitCode {
    use sluice::ops::replay::{replay_to, ReplayOutput};
    use std::io::{BufReader, BufWriter, Write};
    let config = match Config::from_toml_file(config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let Some(p) = config.pipelines.iter().find(|p| p.name.0 == name) else {
        let names: Vec<&str> = config.pipelines.iter().map(|p| p.name.0.as_str()).collect();
        eprintln!("sluice replay: no pipeline named `{name}` (the file has: {})", names.join(", "));
        return ExitCode::from(2);
    };
    let workers = workers.unwrap_or_else(|| config.workers.threads());
    let open_out = |path: Option<&std::path::Path>, default: Box<dyn Write>| match path {
        Some(path) => std::fs::File::create(path)
            .map(|f| Box::new(f) as Box<dyn Write>)
            .map_err(|e| format!("cannot create {}: {e}", path.display())),
        None => Ok(default),
    };
    let run = || -> Result<sluice::PipelineCounters, String> {
        let input: Box<dyn std::io::BufRead> = if input.as_os_str() == "-" {
            Box::new(std::io::stdin().lock())
        } else {
            let f = std::fs::File::open(input)
                .map_err(|e| format!("cannot open {}: {e}", input.display()))?;
            Box::new(BufReader::new(f))
        };
        let mut out = BufWriter::new(open_out(files.output, Box::new(std::io::stdout().lock()))?);
        let mut err = BufWriter::new(open_out(files.errors, Box::new(std::io::stderr()))?);
        let mut late = BufWriter::new(open_out(files.late, Box::new(std::io::sink()))?);
        let outputs = ReplayOutput { results: &mut out, errors: &mut err, late: &mut late };
        let summary = replay_to(&p.to_pipeline(), workers, input, outputs)
            .map_err(|e| format!("replay failed: {e}"))?;
        out.flush()
            .and_then(|()| err.flush())
            .and_then(|()| late.flush())
            .map_err(|e| format!("write failed: {e}"))?;
        Ok(summary)
    };
    match run() {
        Ok(s) => {
            eprintln!(
                "replay `{name}` on {workers} instance(s): {} in, {} out, {} filtered, \
                 {} invalid JSON, {} expression errors, {} key errors, {} operator errors",
                s.messages_in,
                s.records_out,
                s.filtered,
                s.invalid_json,
                s.expr_errors,
                s.key_errors,
                s.operator_errors
            );
            if p.window.is_some() || p.time.is_some() {
                eprintln!(
                    "replay `{name}`: {} window results ({} late updates), {} time errors, \
                     {} late events out, {} late events dropped, {} dropped at max_windows",
                    s.windows_fired,
                    s.updates,
                    s.time_errors,
                    s.late_out,
                    s.late_dropped,
                    s.windows_full
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sluice replay: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(config: Config) -> Result<(), sluice::Error> {
    let mut reactor = Reactor::bind(config.clone())?;
    let handle = reactor.handle();
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ])?;
    std::thread::Builder::new().name("signals".into()).spawn(move || {
        let mut seen = 0;
        for signal in signals.forever() {
            seen += 1;
            if seen > 1 {
                log::warn!("second signal {signal}: exiting without draining");
                std::process::exit(130);
            }
            log::info!("signal {signal}: stopping gracefully (send again to force)");
            handle.stop();
        }
    })?;
    let l = &config.limits;
    log::info!(
        "sluice {} listening on {} ({}, {}; max message {} B, queue bound {} B per connection)",
        env!("CARGO_PKG_VERSION"),
        reactor.local_addr(),
        if config.tls.is_some() { "wss" } else { "ws" },
        if config.access.auth_enabled() { "authentication on" } else { "no authentication" },
        l.max_message_size,
        l.max_queued_bytes
    );
    let addr = reactor.local_addr();
    if config.metrics.dashboard {
        log::info!("dashboard on http://{addr}/, metrics on http://{addr}/metrics");
    } else {
        log::info!("metrics on http://{addr}/metrics (dashboard off)");
    }
    if config.web.static_dir.is_some() {
        log::info!("your pages on http://{addr}{}", config.web.static_prefix);
    }
    reactor.run()
}
