//! A harness for Cinder's multi-process end-to-end tests: the real
//! `full-node` and `wallet` binaries run as child processes and are spoken
//! to over real HTTP and real command lines.
//!
//! - [`full_node_bin`] and [`wallet_bin`] find the built binaries beside the
//!   test executable (`target/<profile>/`), building them once when missing
//!   (or always when `CINDER_E2E_REBUILD=1`: `cargo test -p testing` alone
//!   does not rebuild other packages' binaries).
//! - [`NodeProcess`] is a running `full-node` on port 0 in a temporary
//!   directory; it is killed when dropped, also when a test panics.
//!   [`SeedProcess`] is the same for `dns-server`.
//! - Tests stand alone: a node started without `--dns`, and a `wallet` or
//!   `testing` run without `--dns`, is given [`closed_addr`] as its seed,
//!   and `wallet`/`testing` get it as their default node too
//!   (`CINDER_DEFAULT_NODE`), so a developer's seed on 127.0.0.1:42020 or
//!   node on 127.0.0.1:50000 is never reached.
//! - [`get`], [`post`], [`mine_block`] and [`post_vector_chain`] talk to a node.
//! - [`run_wallet`] and [`run_full_node_to_exit`] run a command to its end,
//!   with a deadline after which it is killed.

pub mod chain;
pub mod lab;
pub mod populate;
pub mod rng;
pub mod sim;

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use cinder::types::{Address, Block};
use serde_json::Value;
use tempfile::TempDir;

pub mod bench;

/// Blocks 0..=4 of a regtest chain; every coin belongs to [`VECTOR_KEYS`].
pub const VECTORS_CHAIN: &str = include_str!("../../docs/vectors/chain_regtest.json");
/// The keys of the "abandon … about" mnemonic: receive 0..=2, change 0.
pub const VECTOR_KEYS: &str = include_str!("../../docs/vectors/keys.json");

/// How long a node may take to print its `listening on` line.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a command run to its end may take before it is killed.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a node may take to stop after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// The password of every keystore the tests write.
pub const WALLET_PASSWORD: &str = "e2e test password";

// ---------------------------------------------------------------------------
// Binaries

/// `target/<profile>/`: a test executable runs from `target/<profile>/deps/`,
/// a binary of this crate (`bench`) from `target/<profile>/` itself.
pub fn target_profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("path of the test executable");
    let deps = exe.parent().expect("the test executable has a directory");
    if deps.file_name().is_some_and(|n| n == "deps") {
        return deps
            .parent()
            .expect("target/<profile>/deps has a parent")
            .to_path_buf();
    }
    // Cargo keeps `.fingerprint/` in every profile directory.
    if deps.join(".fingerprint").is_dir() {
        return deps.to_path_buf();
    }
    // Not run by cargo from target/<profile>/deps: fall back on the target dir.
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("target")
        });
    target.join("debug")
}

/// The path of binary `bin` of package `package`, built once when missing.
fn locate_or_build(package: &str, bin: &str) -> PathBuf {
    let profile_dir = target_profile_dir();
    let path = profile_dir.join(format!("{bin}{}", std::env::consts::EXE_SUFFIX));
    let rebuild = std::env::var("CINDER_E2E_REBUILD").is_ok_and(|v| v == "1");
    if path.is_file() && !rebuild {
        return path;
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(&cargo);
    command
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .args(["build", "-p", package, "--bin", bin]);
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        command.arg("--release");
    }
    // Build where the tests look (CARGO_TARGET_DIR, or this executable's
    // target directory), whatever the environment of the nested cargo says.
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .or_else(|| profile_dir.parent().map(Path::to_path_buf));
    if let Some(dir) = target_dir {
        command.arg("--target-dir").arg(dir);
    }
    let status = command
        .status()
        .unwrap_or_else(|e| panic!("cannot run {cargo:?} to build {bin}: {e}"));
    assert!(status.success(), "building {bin} failed: {status}");
    assert!(
        path.is_file(),
        "{bin} was built but is not at {}",
        path.display()
    );
    path
}

/// The `full-node` binary (package `cinder`).
pub fn full_node_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| locate_or_build("cinder", "full-node"))
}

/// The `dns-server` binary (package `dns_seed`).
pub fn dns_server_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| locate_or_build("dns_seed", "dns-server"))
}

/// The `wallet` binary (package `wallet`).
pub fn wallet_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| locate_or_build("wallet", "wallet"))
}

/// The `testing` binary (package `testing`): the populate command.
pub fn testing_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| locate_or_build("testing", "testing"))
}

// ---------------------------------------------------------------------------
// A port nothing listens on

/// `127.0.0.1:PORT` where nothing listens while this process runs: a TCP
/// socket of this process is bound to the port and never listens, so a
/// connection there is refused at once, and no other socket can take the
/// port (the system skips it for port 0 and for outgoing connections). A
/// port bound and released at once could be handed to the next server a
/// test starts; a fixed port (1, 9) is closed only by custom.
pub fn closed_addr() -> &'static str {
    static CLOSED: OnceLock<(tokio::net::TcpSocket, String)> = OnceLock::new();
    let (_socket, addr) = CLOSED.get_or_init(|| {
        let reserve = || -> std::io::Result<(tokio::net::TcpSocket, String)> {
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.bind(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))?;
            let addr = socket.local_addr()?.to_string();
            Ok((socket, addr))
        };
        reserve().unwrap_or_else(|e| panic!("cannot reserve a closed port on 127.0.0.1: {e}"))
    });
    addr
}

/// `args` with `--dns` [`closed_addr`] in front when they name no seed.
fn with_a_seed<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let names_a_seed = args
        .iter()
        .take_while(|a| **a != "--")
        .any(|a| *a == "--dns" || a.starts_with("--dns="));
    let mut all = Vec::with_capacity(args.len() + 2);
    if !names_a_seed {
        all.extend(["--dns", closed_addr()]);
    }
    all.extend_from_slice(args);
    all
}

// ---------------------------------------------------------------------------
// Child processes

/// A child that is killed and reaped when dropped, unless taken back.
struct KillOnDrop(Option<Child>);

impl KillOnDrop {
    fn child(&mut self) -> &mut Child {
        self.0.as_mut().expect("the child is still held")
    }

    /// Waits until `deadline`; `None` when it is still running then.
    fn wait_until(&mut self, deadline: Instant) -> Option<ExitStatus> {
        loop {
            match self.child().try_wait() {
                Ok(Some(status)) => {
                    self.0 = None;
                    return Some(status);
                }
                Ok(None) if Instant::now() >= deadline => return None,
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => panic!("waiting for a child process: {e}"),
            }
        }
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Reads all of `reader` on a thread of its own.
fn read_all_in_background(
    mut reader: impl Read + Send + 'static,
) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = reader.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// A command run to its end.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    /// The exit code (`None` when killed by a signal).
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Panics with the whole output unless the command succeeded.
    pub fn expect_success(&self, what: &str) -> &Self {
        assert!(self.status.success(), "{what} failed: {self}");
        self
    }
}

impl std::fmt::Display for Finished {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}\n--- stdout ---\n{}--- stderr ---\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

/// Runs `command` with `stdin` to its end; killed (and the test failed)
/// past `timeout`.
pub fn run_to_end(mut command: Command, stdin: Option<&str>, timeout: Duration) -> Finished {
    command
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    let mut guard = KillOnDrop(Some(child));
    let stdout = read_all_in_background(guard.child().stdout.take().expect("piped stdout"));
    let stderr = read_all_in_background(guard.child().stderr.take().expect("piped stderr"));
    if let Some(text) = stdin {
        let mut pipe = guard.child().stdin.take().expect("piped stdin");
        // A command that exits without reading its input closes the pipe:
        // what it did is then judged from its output, not from this write.
        let _ = pipe.write_all(text.as_bytes());
    }
    let status = guard.wait_until(Instant::now() + timeout);
    let Some(status) = status else {
        drop(guard); // kills it, so the readers see the end of the pipes
        panic!(
            "{command:?} still running after {timeout:?}; killed. stdout: {} stderr: {}",
            stdout.join().unwrap_or_default(),
            stderr.join().unwrap_or_default()
        );
    };
    Finished {
        status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

/// Runs `full-node` with `args` (give `-d` and `-p` yourself; `--dns`
/// [`closed_addr`] is added when they name no seed) to its end: for starts
/// that must fail.
pub fn run_full_node_to_exit(args: &[&str]) -> Finished {
    let mut command = Command::new(full_node_bin());
    command.args(with_a_seed(args));
    run_to_end(command, None, RUN_TIMEOUT)
}

/// `command` (`wallet` or `testing`) with `args`, a cheap keystore KDF,
/// `CINDER_WALLET_PASSWORD`, and [`closed_addr`] as its seed (unless `args`
/// name one) and as its default node, then `env` (which may override them).
fn wallet_like(bin: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(bin);
    command
        .args(with_a_seed(args))
        .env("CINDER_WALLET_KDF_MEMORY_KIB", "256")
        .env("CINDER_WALLET_KDF_ITERATIONS", "1")
        .env("CINDER_WALLET_PASSWORD", WALLET_PASSWORD)
        .env(
            wallet::choose::DEFAULT_NODE_ENV,
            format!("http://{}", closed_addr()),
        )
        .envs(env.iter().copied());
    command
}

/// Runs `wallet` with `args`, `stdin` and extra `env`. Always set (`env`
/// may override it): a cheap keystore KDF, `CINDER_WALLET_PASSWORD`, and
/// [`closed_addr`] as the seed (unless `args` name one) and as the default
/// node (`CINDER_DEFAULT_NODE`).
pub fn run_wallet(args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Finished {
    run_to_end(wallet_like(wallet_bin(), args, env), stdin, RUN_TIMEOUT)
}

/// Runs `testing` (the populate command) with `args` to its end, with what
/// [`run_wallet`] always sets.
pub fn run_testing(args: &[&str]) -> Finished {
    run_testing_with_env(args, &[])
}

/// [`run_testing`] with extra `env`, which may override what is always set.
pub fn run_testing_with_env(args: &[&str], env: &[(&str, &str)]) -> Finished {
    run_to_end(wallet_like(testing_bin(), args, env), None, RUN_TIMEOUT)
}

/// A server child process that printed its `listening on http://…` line.
/// Servers started so far: numbers their stderr files.
static STARTS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

struct Started {
    url: String,
    first_line: String,
    stderr_path: PathBuf,
    child: KillOnDrop,
}

/// Starts `command` (a `full-node` or `dns-server`) with its stderr in a
/// file of `root` and waits for its first stdout line; when it exits (or
/// stays silent past [`START_TIMEOUT`]) instead, how it ended.
fn start_server(mut command: Command, root: &Path, name: &str) -> Result<Started, Finished> {
    let n = STARTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let stderr_path = root.join(format!("{name}-{n}.stderr"));
    let stderr_file = File::create(&stderr_path).expect("server stderr file");
    command
        .env("NO_COLOR", "1") // plain log lines in the stderr file
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr_file);
    let child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    let mut child = KillOnDrop(Some(child));
    let stdout = child.child().stdout.take().expect("piped stdout");
    // The first line goes through the channel; the rest is drained so
    // the server never blocks on, or fails writing to, a full pipe.
    let (lines, first) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let _ = reader.read_line(&mut line);
        let _ = lines.send(line);
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
    });
    let line = first.recv_timeout(START_TIMEOUT).unwrap_or_default();
    let line = line.trim_end_matches(['\r', '\n']).to_string();
    match line.strip_prefix("listening on ") {
        Some(url) if url.starts_with("http://") => Ok(Started {
            url: url.to_string(),
            first_line: line,
            stderr_path,
            child,
        }),
        _ => {
            // Exited, or wrote something else, or nothing in time.
            let status = child.wait_until(Instant::now() + Duration::from_secs(5));
            drop(child);
            let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
            match status {
                Some(status) => Err(Finished {
                    status,
                    stdout: line,
                    stderr,
                }),
                None => panic!(
                    "{name} wrote {line:?} instead of `listening on http://…` within {START_TIMEOUT:?}; killed. stderr:\n{stderr}"
                ),
            }
        }
    }
}

/// Sends SIGTERM to `child` and waits for its exit (panics past
/// [`STOP_TIMEOUT`], showing `stderr`).
fn terminate(child: &mut KillOnDrop, name: &str, stderr: impl Fn() -> String) -> ExitStatus {
    let pid = child.0.as_ref().map_or(0, Child::id).to_string();
    let sent = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .is_ok_and(|s| s.success());
    assert!(sent, "kill -TERM {pid} failed");
    child
        .wait_until(Instant::now() + STOP_TIMEOUT)
        .unwrap_or_else(|| {
            panic!(
                "{name} {pid} still running {STOP_TIMEOUT:?} after SIGTERM; stderr:\n{}",
                stderr()
            )
        })
}

/// Prints the last lines of a server's stderr when a test panics.
fn show_stderr_on_panic(name: &str, url: &str, stderr: &str) {
    if std::thread::panicking() {
        let tail: Vec<&str> = stderr.lines().rev().take(40).collect();
        eprintln!("--- stderr of {name} at {url} (last lines) ---");
        for line in tail.iter().rev() {
            eprintln!("{line}");
        }
    }
}

// ---------------------------------------------------------------------------
// Servers: a node or the seed

/// A running server child process (`full-node` or `dns-server`) on
/// `-d <root>/<dir> -p PORT`, its stderr kept in a file of `<root>`. Killed
/// when dropped; its stderr is shown when that happens in a panicking test.
pub struct ServerProcess {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The first line the server wrote on stdout.
    pub first_line: String,
    /// The server's data directory (`-d`).
    pub data_dir: PathBuf,
    /// Where the server's stderr goes.
    pub stderr_path: PathBuf,
    /// `full-node` or `dns-server`.
    name: &'static str,
    root: Option<TempDir>,
    child: KillOnDrop,
}

impl ServerProcess {
    /// Runs `bin` on `root/<dir>` listening on `port`, with `args` and
    /// `env`; when it exits (or stays silent past [`START_TIMEOUT`])
    /// instead of printing its URL, how it ended.
    fn try_start(
        bin: &Path,
        name: &'static str,
        root: TempDir,
        dir: &str,
        port: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Result<ServerProcess, Finished> {
        let data_dir = root.path().join(dir);
        let mut command = Command::new(bin);
        command
            .arg("-d")
            .arg(&data_dir)
            .args(["-p", port])
            .args(args)
            .envs(env.iter().copied());
        let started = start_server(command, root.path(), name)?;
        Ok(ServerProcess {
            url: started.url,
            first_line: started.first_line,
            data_dir,
            stderr_path: started.stderr_path,
            name,
            root: Some(root),
            child: started.child,
        })
    }

    /// `root` of this server (holding its data directory and stderr files).
    pub fn root(&self) -> &Path {
        self.root.as_ref().expect("root held until stop").path()
    }

    /// The server's stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.0.as_ref().map_or(0, Child::id)
    }

    /// `ip:port` of the server, as `--dns` and node bodies name it.
    pub fn addr(&self) -> String {
        self.url.trim_start_matches("http://").to_string()
    }

    /// The port the server listens on.
    pub fn port(&self) -> String {
        self.url.rsplit(':').next().unwrap_or_default().to_string()
    }

    /// Sends SIGTERM (killing it if still running after 30 s) and gives
    /// back its directory, with how it exited.
    pub fn stop(mut self) -> (TempDir, ExitStatus) {
        let status = self.terminate_now();
        let root = self.root.take().expect("root held until stop");
        (root, status)
    }

    /// Sends SIGTERM at once and waits for the exit.
    pub fn terminate_now(&mut self) -> ExitStatus {
        let path = self.stderr_path.clone();
        terminate(&mut self.child, self.name, || {
            std::fs::read_to_string(&path).unwrap_or_default()
        })
    }

    /// Waits for the server to exit by itself (a crash a test provoked) and
    /// gives back its directory, with how it exited.
    pub fn wait_for_exit(mut self, timeout: Duration) -> (TempDir, ExitStatus) {
        let name = self.name;
        let status = self
            .child
            .wait_until(Instant::now() + timeout)
            .unwrap_or_else(|| panic!("{name} still running after {timeout:?}"));
        let root = self.root.take().expect("root held until exit");
        (root, status)
    }

    /// Kills the server outright (SIGKILL, no clean stop) and gives back its
    /// directory for a restart.
    pub fn kill(mut self) -> TempDir {
        if let Some(mut child) = self.child.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.root.take().expect("root held until stop")
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let running = self.child.0.is_some();
        if let Some(mut child) = self.child.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if running {
            show_stderr_on_panic(self.name, &self.url, &self.stderr());
        }
    }
}

/// A running `full-node` on `-d <root>/data -p 0` (see [`ServerProcess`],
/// whose fields and methods it has).
pub struct NodeProcess(ServerProcess);

impl std::ops::Deref for NodeProcess {
    type Target = ServerProcess;
    fn deref(&self) -> &ServerProcess {
        &self.0
    }
}

impl NodeProcess {
    /// A node in a fresh temporary directory, with `args` after `-d DIR -p 0`
    /// (and `--dns` [`closed_addr`] when `args` name no seed: every start
    /// of a node goes through [`NodeProcess::try_start_on`], which adds it).
    pub fn start(args: &[&str]) -> NodeProcess {
        Self::start_in(tempfile::tempdir().expect("temporary directory"), args)
    }

    /// A node on `root/data` (a restart when a node ran there before).
    pub fn start_in(root: TempDir, args: &[&str]) -> NodeProcess {
        Self::start_on(root, "0", args)
    }

    /// A node on `root/data`; when it exits (or stays silent past
    /// [`START_TIMEOUT`]) instead of printing its URL, how it ended.
    pub fn try_start_in(root: TempDir, args: &[&str]) -> Result<NodeProcess, Finished> {
        Self::try_start_on(root, "0", args, &[])
    }

    /// [`NodeProcess::try_start_in`] with environment variables set.
    pub fn try_start_with_env(
        root: TempDir,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Result<NodeProcess, Finished> {
        Self::try_start_on(root, "0", args, env)
    }

    /// A node on `root/data` listening on `port` (a restart on the address
    /// its peers know).
    pub fn start_on(root: TempDir, port: &str, args: &[&str]) -> NodeProcess {
        match Self::try_start_on(root, port, args, &[]) {
            Ok(node) => node,
            Err(failed) => panic!("full-node did not start: {failed}"),
        }
    }

    /// [`NodeProcess::try_start_with_env`] on `port` instead of 0. Without
    /// `--dns` in `args`, the node's seed is [`closed_addr`], never the
    /// default 127.0.0.1:42020 (a developer's seed there would list it, and
    /// give it peers no test asked for).
    pub fn try_start_on(
        root: TempDir,
        port: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Result<NodeProcess, Finished> {
        let bin = full_node_bin();
        let args = with_a_seed(args);
        ServerProcess::try_start(bin, "full-node", root, "data", port, &args, env).map(NodeProcess)
    }

    /// The data directory of a node started in `root`.
    pub fn data_dir_of(root: &Path) -> PathBuf {
        root.join("data")
    }

    /// Stops the node with SIGTERM (killed if still running after 30 s) and
    /// gives back its directory for a restart, with how it exited.
    ///
    /// The node installs its SIGTERM handler only when its HTTP server
    /// first runs, just after it printed its URL; a signal in between kills
    /// it outright (see `sigterm_right_after_the_url_line_stops_cleanly`).
    /// One answered request first shows the server runs.
    pub fn stop(self) -> (TempDir, ExitStatus) {
        let _ = client().get(format!("{}/health/", self.url)).send();
        self.0.stop()
    }

    /// Waits for the node to exit by itself (a crash a test provoked).
    pub fn wait_for_exit(self, timeout: Duration) -> (TempDir, ExitStatus) {
        self.0.wait_for_exit(timeout)
    }

    /// Sends SIGTERM at once, without [`stop`](Self::stop)'s request
    /// first, and waits for the exit.
    pub fn terminate_now(mut self) -> ExitStatus {
        self.0.terminate_now()
    }

    /// Kills the node outright and gives back its directory for a restart.
    pub fn kill(self) -> TempDir {
        self.0.kill()
    }
}

/// A running `dns-server` on `-d <root>/seed -p 0` (see [`ServerProcess`]).
pub struct SeedProcess(ServerProcess);

impl std::ops::Deref for SeedProcess {
    type Target = ServerProcess;
    fn deref(&self) -> &ServerProcess {
        &self.0
    }
}

impl SeedProcess {
    /// A seed in a fresh temporary directory, with `args` after `-d DIR -p 0`.
    pub fn start(args: &[&str]) -> SeedProcess {
        Self::start_in(tempfile::tempdir().expect("temporary directory"), args)
    }

    /// A seed on `root/seed` (a restart when a seed ran there before).
    pub fn start_in(root: TempDir, args: &[&str]) -> SeedProcess {
        Self::start_on(root, "0", args)
    }

    /// A seed on `root/seed` listening on `port` (a restart on the port the
    /// nodes know).
    pub fn start_on(root: TempDir, port: &str, args: &[&str]) -> SeedProcess {
        let bin = dns_server_bin();
        match ServerProcess::try_start(bin, "dns-server", root, "seed", port, args, &[]) {
            Ok(seed) => SeedProcess(seed),
            Err(failed) => panic!("dns-server did not start: {failed}"),
        }
    }

    /// Stops the seed with SIGTERM and gives back its directory.
    pub fn stop(self) -> (TempDir, ExitStatus) {
        self.0.stop()
    }

    /// Kills the seed outright and gives back its directory.
    pub fn kill(self) -> TempDir {
        self.0.kill()
    }
}

// ---------------------------------------------------------------------------
// HTTP

fn client() -> &'static reqwest::blocking::Client {
    static CLIENT: OnceLock<reqwest::blocking::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("HTTP client")
    })
}

fn answer(what: &str, response: reqwest::blocking::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response
        .text()
        .unwrap_or_else(|e| panic!("{what}: body: {e}"));
    let value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{what}: answered {status}, not JSON ({e}): {text}"));
    (status, value)
}

/// `GET {url}{path}`: status and JSON body.
pub fn get(url: &str, path: &str) -> (u16, Value) {
    let what = format!("GET {url}{path}");
    let response = client()
        .get(format!("{url}{path}"))
        .send()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    answer(&what, response)
}

/// `GET {url}{path}`, which must answer 200.
pub fn get_ok(url: &str, path: &str) -> Value {
    let (status, body) = get(url, path);
    assert_eq!(status, 200, "GET {url}{path}: {body}");
    body
}

/// `POST {url}{path}` with a JSON body: status and JSON body.
pub fn post(url: &str, path: &str, body: &str) -> (u16, Value) {
    let what = format!("POST {url}{path}");
    let response = client()
        .post(format!("{url}{path}"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    answer(&what, response)
}

/// `{method} {url}{path}` with a raw body: status and JSON body.
pub fn request(method: &str, url: &str, path: &str, body: Vec<u8>) -> (u16, Value) {
    let what = format!("{method} {url}{path}");
    let method: reqwest::Method = method.parse().unwrap_or_else(|e| panic!("{what}: {e}"));
    let response = client()
        .request(method, format!("{url}{path}"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    answer(&what, response)
}

/// Posts a block, which must be connected to the active chain.
pub fn post_block(url: &str, block: &Block) -> Value {
    let (status, body) = post(
        url,
        "/blocks/",
        &serde_json::to_string(block).expect("block JSON"),
    );
    assert_eq!(status, 200, "block {} refused: {body}", block.height);
    assert_eq!(
        body["status"], "connected",
        "block {}: {body}",
        block.height
    );
    body
}

/// Finds a nonce meeting the block's target (regtest: a few tries).
pub fn solve(mut block: Block) -> Block {
    assert!(
        block.solve(10_000_000),
        "no nonce meets target {}",
        block.target
    );
    block
}

/// Mines the node's template paying `address`, posts it; the block connected.
pub fn mine_block(url: &str, address: &Address) -> Block {
    let template = get_ok(url, &format!("/mining/template/?address={address}"));
    // From the text, not the `Value`: serde_json hands a fractional number
    // of a `Value` to a visitor as an f64, whose text ("4e-6") an amount
    // refuses (PROTOCOL.md §1 writes it "0.000004").
    let block: Block =
        serde_json::from_str(&template.to_string()).expect("the template is a block");
    let block = solve(block);
    post_block(url, &block);
    block
}

/// The blocks of [`VECTORS_CHAIN`], genesis first.
pub fn vector_blocks() -> Vec<Block> {
    let chain: Value = serde_json::from_str(VECTORS_CHAIN).expect("vector chain JSON");
    serde_json::from_value(chain["blocks"].clone()).expect("vector blocks")
}

/// Posts blocks 1..=4 of the vector chain; the node's tip is then height 4.
pub fn post_vector_chain(url: &str) {
    for block in vector_blocks().iter().skip(1) {
        post_block(url, block);
    }
}

/// The addresses of [`VECTOR_KEYS`]: receive 0, 1, 2, then change 0.
pub fn vector_addresses() -> Vec<Address> {
    let keys: Value = serde_json::from_str(VECTOR_KEYS).expect("keys JSON");
    keys["keys"]
        .as_array()
        .expect("keys array")
        .iter()
        .map(|k| {
            k["address"]
                .as_str()
                .expect("address")
                .parse()
                .expect("vector address")
        })
        .collect()
}

/// The well-known mnemonic of [`VECTOR_KEYS`].
pub fn vector_mnemonic() -> String {
    let keys: Value = serde_json::from_str(VECTOR_KEYS).expect("keys JSON");
    keys["mnemonic"].as_str().expect("mnemonic").to_string()
}

/// An address nobody in the tests holds a key of, distinct per `n`.
pub fn stranger(n: u8) -> Address {
    let key = cinder::crypto::SecretKey::from_bytes(&[n.max(1); 32]).expect("valid key");
    key.address()
}

/// An exact JSON amount (a number, possibly negative, at most 8 decimals)
/// in base units.
pub fn units(value: &Value) -> i64 {
    let text = match value {
        Value::Number(n) => n.to_string(),
        other => panic!("not an amount: {other}"),
    };
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.as_str()),
    };
    let amount = cinder::types::Amount::parse(digits)
        .unwrap_or_else(|e| panic!("not an amount: {text}: {e}"));
    let units = i64::try_from(amount.units()).expect("amount fits i64");
    if negative { -units } else { units }
}

/// Open descriptors of process `pid` (0 when it cannot be read).
pub fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// Resident memory of process `pid` now (VmRSS), KiB.
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Polls `check` every 100 ms until it gives a value; panics with `what`
/// after `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "gave up after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
