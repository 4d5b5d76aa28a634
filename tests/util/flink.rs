//! Apache Flink for the connector tests: finds Flink's jars and Java, builds the connector jar
//! once with `connectors/flink/build.sh`, compiles the test jobs of `tests/flink/` against it,
//! and runs them as local mini-cluster jobs in a `java` child process.
//!
//! Flink's jars come from `FLINK_LIB`, else from the `lib/` directory of the `apache-flink`
//! Python package (`tests/run.sh` installs it and Java 17). When something is missing,
//! [`flink`] returns `None` and the test skips, except under `CI=true`, where it panics.

use std::io::{BufRead, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::IO_TIMEOUT;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The test jobs and helpers compiled against the connector.
const JOBS: &[&str] = &[
    "CaptureReporter.java",
    "SluiceSinkJob.java",
    "SluiceSourceJob.java",
    "SluiceFailuresJob.java",
    "SluiceResumeJob.java",
    "EnvelopeScannerTest.java",
    "TopicCursorTest.java",
    "SplitStateTest.java",
];

/// Flink's jars, the connector jar and the compiled test jobs.
pub struct Flink {
    pub lib: PathBuf,
    pub jar: PathBuf,
    pub classes: PathBuf,
}

/// Flink and the connector, built once per test process.
pub fn flink() -> Option<&'static Flink> {
    static FLINK: OnceLock<Result<Flink, String>> = OnceLock::new();
    match FLINK.get_or_init(setup) {
        Ok(f) => Some(f),
        Err(why) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "the Flink connector tests need Java and Flink: {why} (tests/run.sh installs them)"
            );
            eprintln!("SKIPPED: {why}; run tests/run.sh");
            None
        }
    }
}

fn setup() -> Result<Flink, String> {
    java_tools()?;
    let lib = flink_lib()?;
    let out = Command::new(format!("{ROOT}/connectors/flink/build.sh"))
        .env("FLINK_LIB", &lib)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("connectors/flink/build.sh: {e}"))?;
    // A build failure is a bug in the connector, not a missing component: fail, never skip.
    assert!(out.status.success(), "connectors/flink/build.sh failed (see its output above)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let jar = PathBuf::from(stdout.lines().last().expect("build.sh printed nothing").trim());
    assert!(jar.is_file(), "build.sh's last line is not a jar: {}", jar.display());
    let classes = compile_jobs(&lib, &jar);
    Ok(Flink { lib, jar, classes })
}

/// `java` and `javac` answer, or which one is missing.
pub fn java_tools() -> Result<(), String> {
    for tool in ["java", "javac"] {
        match Command::new(tool).arg("-version").output() {
            Ok(o) if o.status.success() => {}
            _ => return Err(format!("`{tool}` is not installed (Java 17)")),
        }
    }
    Ok(())
}

/// Flink's jars: `FLINK_LIB`, or the `lib` directory of the installed `apache-flink` package.
pub fn flink_lib() -> Result<PathBuf, String> {
    if let Ok(dir) = std::env::var("FLINK_LIB") {
        return Ok(PathBuf::from(dir));
    }
    let out = Command::new(super::python::python())
        .args([
            "-c",
            "import os, pyflink; print(os.path.join(os.path.dirname(pyflink.__file__), 'lib'))",
        ])
        .output()
        .map_err(|e| format!("python3: {e}"))?;
    if !out.status.success() {
        return Err("the apache-flink Python package is not installed".into());
    }
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if !dir.join("flink-dist-2.3.0.jar").exists() && std::fs::read_dir(&dir).is_err() {
        return Err(format!("{} has no Flink jars", dir.display()));
    }
    Ok(dir)
}

/// Compile the test jobs unless the classes are there for these sources and this jar.
fn compile_jobs(lib: &Path, jar: &Path) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("flink-connector-jobs");
    let classes = dir.join("classes");
    let mut digest = 0xcbf2_9ce4_8422_2325u64;
    let mut feed = |bytes: &[u8]| {
        for &b in bytes {
            digest = (digest ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    };
    let sources: Vec<PathBuf> =
        JOBS.iter().map(|f| Path::new(ROOT).join("tests/flink").join(f)).collect();
    for s in &sources {
        feed(&std::fs::read(s).unwrap());
    }
    feed(&std::fs::read(jar).unwrap());
    let stamp = dir.join("source.stamp");
    let digest = format!("{digest:x}");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(digest.as_str()) {
        return classes;
    }
    let _ = std::fs::remove_dir_all(&classes);
    let out = Command::new("javac")
        .args(["-encoding", "UTF-8", "-d"])
        .arg(&classes)
        .arg("-cp")
        .arg(format!("{}/*:{}", lib.display(), jar.display()))
        .args(&sources)
        .output()
        .expect("run javac");
    assert!(out.status.success(), "javac failed:\n{}", String::from_utf8_lossy(&out.stderr));
    // Flink discovers metric reporters with the ServiceLoader.
    let services = classes.join("META-INF/services");
    std::fs::create_dir_all(&services).unwrap();
    std::fs::write(
        services.join("org.apache.flink.metrics.reporter.MetricReporterFactory"),
        "CaptureReporter$Factory\n",
    )
    .unwrap();
    std::fs::write(stamp, digest).unwrap();
    classes
}

impl Flink {
    /// A `java` command for `class` with Flink, the connector and the test jobs on the
    /// classpath, logging the connector at INFO to stderr.
    pub fn java(&self, class: &str) -> Command {
        self.java_with(class, &[])
    }

    /// [`Flink::java`] with extra JVM options (`-Dkey=value`).
    pub fn java_with(&self, class: &str, jvm: &[String]) -> Command {
        let mut cmd = Command::new("java");
        cmd.args(["-Xmx768m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"])
            .args(jvm)
            .args([
                "--add-opens=java.base/java.util=ALL-UNNAMED",
                "--add-opens=java.base/java.lang=ALL-UNNAMED",
            ])
            .arg(format!("-Dlog4j.configurationFile={ROOT}/tests/flink/log4j2-test.properties"))
            .arg("-cp")
            .arg(format!(
                "{}/*:{}:{}",
                self.lib.display(),
                self.jar.display(),
                self.classes.display()
            ))
            .arg(class);
        cmd
    }

    /// Start `class` with these arguments.
    pub fn spawn(&self, class: &str, args: &[String]) -> Job {
        let mut cmd = self.java(class);
        cmd.args(args);
        Job::spawn(cmd)
    }

    /// Start the test job that reads `topics` from the relay at `url` with `SluiceSource` and
    /// writes each record to `out`, with `more` arguments (`parallelism=2`…).
    pub fn source_job(&self, url: &str, topics: &[&str], out: &Path, more: &[&str]) -> Job {
        let mut args = vec![
            format!("url={url}"),
            format!("topics={}", topics.join(",")),
            format!("out={}", out.display()),
        ];
        args.extend(more.iter().map(|a| a.to_string()));
        self.spawn("SluiceSourceJob", &args)
    }
}

/// `records.txt` in a directory of its own for test `name`, not there yet.
pub fn fresh_output(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("records.txt");
    let _ = std::fs::remove_file(&out);
    out
}

/// A running job (a `java` or `python3` process), killed when dropped.
pub struct Job {
    child: Child,
    stdout: Receiver<String>,
    stderr: Arc<Mutex<Vec<String>>>,
    /// Stdout lines read so far.
    pub lines: Vec<String>,
}

/// How a job ended.
pub struct Ended {
    pub status: ExitStatus,
    pub stdout: Vec<String>,
    pub stderr: String,
}

impl Ended {
    /// The value of a `METRIC name value` line.
    pub fn metric(&self, name: &str) -> i64 {
        let prefix = format!("METRIC {name} ");
        self.stdout
            .iter()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no metric {name} in {:?}", self.stdout))
            .parse()
            .unwrap()
    }

    /// The last `n` lines of stderr, for failure messages.
    pub fn stderr_tail(&self, n: usize) -> String {
        let lines: Vec<&str> = self.stderr.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

impl Job {
    /// Start `cmd`, reading its stdout by line (echoed as `[job] …`) and collecting stderr.
    pub fn spawn(mut cmd: Command) -> Job {
        let mut child =
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start the job");
        let (tx, stdout) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                eprintln!("[job] {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (err, sink) = (child.stderr.take().unwrap(), stderr.clone());
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
        });
        Job { child, stdout, stderr, lines: Vec::new() }
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// The job's stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    /// Wait until `pred` holds for the job's stderr (its log); panics if the job ends first
    /// or after `IO_TIMEOUT`.
    pub fn wait_stderr(&mut self, what: &str, pred: impl Fn(&[String]) -> bool) {
        let deadline = Instant::now() + IO_TIMEOUT;
        while !pred(&self.stderr.lock().unwrap()) {
            assert!(self.running(), "the job ended before {what}:\n{}", self.stderr());
            assert!(Instant::now() < deadline, "no {what} in the job's log:\n{}", self.stderr());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Wait for a stdout line starting with `prefix`; panics if the job ends first, or prints
    /// nothing for `IO_TIMEOUT`.
    pub fn wait_line(&mut self, prefix: &str) -> String {
        let mut deadline = Instant::now() + IO_TIMEOUT;
        loop {
            match self.stdout.recv_timeout(Duration::from_millis(200)) {
                Ok(line) => {
                    deadline = Instant::now() + IO_TIMEOUT;
                    self.lines.push(line.clone());
                    if line.starts_with(prefix) {
                        return line;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    panic!("the job ended before printing {prefix:?}:\n{}", self.stderr())
                }
            }
            assert!(
                Instant::now() < deadline,
                "no {prefix:?} line from the job:\n{}",
                self.stderr()
            );
        }
    }

    /// Wait for the process to exit (killing it after `secs` seconds, which fails the test).
    pub fn wait(mut self, secs: u64) -> Ended {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the Flink job did not end within {secs} s:\n{}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut stdout = std::mem::take(&mut self.lines);
        // The reader thread ends at EOF, which follows the exit.
        while let Ok(line) = self.stdout.recv_timeout(IO_TIMEOUT) {
            stdout.push(line);
        }
        // Give the stderr reader the same chance.
        let started = Instant::now();
        while Arc::strong_count(&self.stderr) > 1 && started.elapsed() < IO_TIMEOUT {
            std::thread::sleep(Duration::from_millis(10));
        }
        Ended { status, stdout, stderr: self.stderr() }
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The body of a plain `GET` to the relay.
pub fn http_get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read the response");
    text.split_once("\r\n\r\n").map(|(_, body)| body.to_string()).unwrap_or_default()
}

/// The relay's `sluice_topic_subscribers` gauge for `topic` (0 when absent).
pub fn subscribers(addr: SocketAddr, topic: &str) -> u64 {
    let series = format!("sluice_topic_subscribers{{topic=\"{topic}\"}} ");
    http_get(addr, "/metrics")
        .lines()
        .find_map(|l| l.strip_prefix(&series).map(|v| v.trim().parse::<f64>().unwrap() as u64))
        .unwrap_or(0)
}

/// Wait until `topic` has `n` subscribers on the relay (polled through `/metrics`), failing
/// early if `job` ends.
pub fn wait_subscribers(addr: SocketAddr, topic: &str, n: u64, job: &mut Job) {
    let deadline = Instant::now() + IO_TIMEOUT * 2;
    while subscribers(addr, topic) != n {
        assert!(job.running(), "the job ended before subscribing:\n{}", job.stderr());
        assert!(Instant::now() < deadline, "{topic} never had {n} subscribers:\n{}", job.stderr());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The (subtask, seq) of a record written by `SluiceSinkJob`.
pub fn label(text: &str) -> (u64, u64) {
    let v: serde_json::Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"));
    (v["subtask"].as_u64().unwrap(), v["seq"].as_u64().unwrap())
}

/// A TCP port on 127.0.0.1 that is bound but not listening, so connecting to it is refused
/// (a relay that is down) and nothing else can take it until this is dropped.
pub struct RefusingPort {
    fd: libc::c_int,
    pub port: u16,
}

impl RefusingPort {
    pub fn new() -> RefusingPort {
        // SAFETY: plain socket(2), bind(2) and getsockname(2) calls on a descriptor we own,
        // with a sockaddr_in on our stack and its true size; the descriptor is closed in Drop.
        unsafe {
            let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
            assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
            let mut addr: libc::sockaddr_in = std::mem::zeroed();
            addr.sin_family = libc::AF_INET as libc::sa_family_t;
            addr.sin_addr.s_addr = u32::from(std::net::Ipv4Addr::LOCALHOST).to_be();
            let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            let rc = libc::bind(fd, (&raw const addr).cast(), len);
            assert_eq!(rc, 0, "bind: {}", std::io::Error::last_os_error());
            let mut got = len;
            let rc = libc::getsockname(fd, (&raw mut addr).cast(), &mut got);
            assert_eq!(rc, 0, "getsockname: {}", std::io::Error::last_os_error());
            RefusingPort { fd, port: u16::from_be(addr.sin_port) }
        }
    }
}

impl Drop for RefusingPort {
    fn drop(&mut self) {
        // SAFETY: closing the descriptor this value owns, once.
        unsafe {
            libc::close(self.fd);
        }
    }
}
