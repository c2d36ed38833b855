//! HTTP load from `wrk`, a separate and efficient process, so the load
//! generator costs the node as little CPU as possible — and the CPU it
//! does take is measured and printed beside each figure.
//!
//! Every run goes through a Lua script whose `done()` writes one line,
//! `BENCH-RESULT {json}`, which [`run`] parses (no scraping of wrk's
//! human output).

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Deserialize;

/// How to get wrk, for the table and the error messages.
pub const INSTALL_HINT: &str = "wrk not found on PATH: install it (Debian/Ubuntu: `apt-get install wrk`) to measure the HTTP throughput figures";

/// The `wrk` executable on `PATH`, if any.
pub fn find() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("wrk"))
        .find(|p| p.is_file())
}

/// What one wrk run measured.
#[derive(Debug, Deserialize)]
pub struct WrkResult {
    pub duration_us: f64,
    /// Completed requests (any status).
    pub requests: f64,
    /// Statuses above 399.
    pub status_errors: f64,
    /// Connect, read, write errors and timeouts.
    pub socket_errors: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    /// `POST` scripts: transactions answered 200; others: -1.
    pub accepted: f64,
    /// `POST` scripts: transactions answered otherwise; others: -1.
    pub refused: f64,
    #[serde(skip)]
    pub client_cpu: f64,
}

impl WrkResult {
    pub fn seconds(&self) -> f64 {
        self.duration_us / 1e6
    }

    /// Successful requests per second.
    pub fn ok_per_second(&self) -> f64 {
        (self.requests - self.status_errors) / self.seconds()
    }

    /// Several runs of the same load as one: counts added, CPU share and
    /// percentiles weighed by duration.
    pub fn combined(runs: &[WrkResult]) -> WrkResult {
        let duration_us: f64 = runs.iter().map(|r| r.duration_us).sum();
        let sum = |f: fn(&WrkResult) -> f64| runs.iter().map(f).sum::<f64>();
        let weighed = |f: fn(&WrkResult) -> f64| {
            runs.iter().map(|r| f(r) * r.duration_us).sum::<f64>() / duration_us
        };
        WrkResult {
            duration_us,
            requests: sum(|r| r.requests),
            status_errors: sum(|r| r.status_errors),
            socket_errors: sum(|r| r.socket_errors),
            p50_us: weighed(|r| r.p50_us),
            p99_us: weighed(|r| r.p99_us),
            accepted: sum(|r| r.accepted),
            refused: sum(|r| r.refused),
            client_cpu: weighed(|r| r.client_cpu),
        }
    }

    /// "wrk CPU 0.62 core" — the client's own share of the machine.
    pub fn cpu_note(&self) -> String {
        format!("wrk CPU {:.2} core", self.client_cpu)
    }
}

/// The `done()` every script ends with: one machine-readable line.
/// `accepted`/`refused` are globals of the POST script's threads.
const DONE: &str = r#"
function done(summary, latency, requests)
  local accepted, refused = -1, -1
  if threads ~= nil and #threads > 0 then
    accepted, refused = 0, 0
    for _, t in ipairs(threads) do
      accepted = accepted + (t:get("accepted") or 0)
      refused = refused + (t:get("refused") or 0)
    end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH-RESULT {"duration_us":%.0f,"requests":%.0f,"status_errors":%.0f,"socket_errors":%.0f,"p50_us":%.0f,"p99_us":%.0f,"accepted":%.0f,"refused":%.0f}\n',
    summary.duration, summary.requests, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50.0), latency:percentile(99.0), accepted, refused))
end
"#;

/// A script for plain `GET`s of the URL's path.
pub fn get_script() -> String {
    DONE.to_string()
}

/// A script posting each line of `bodies` exactly once to `path`: thread
/// `k` of `threads` posts lines `k`, `k + threads`, …; once its lines are
/// posted it asks for `/health/` (not counted) until its last answer
/// arrived, says so on stderr and stops; [`run`] ends wrk once every
/// thread did. Each thread's first request is a `/health/` too (see the
/// script).
pub fn post_once_script(bodies: &Path, path: &str, threads: usize) -> String {
    let bodies = bodies.display().to_string().replace('\\', "\\\\");
    format!(
        r#"
local bodies_path = "{bodies}"
local nthreads = {threads}
threads = {{}}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end
function init(args)
  requests_to_send = {{}}
  local i = 0
  for line in io.lines(bodies_path) do
    if i % nthreads == id then
      requests_to_send[#requests_to_send + 1] = wrk.format("POST", "{path}",
        {{["Content-Type"] = "application/json"}}, line)
    end
    i = i + 1
  end
  health = wrk.format("GET", "/health/")
  next_request = 1
  answered = 0
  accepted = 0
  refused = 0
end
function request()
  -- wrk calls request() once on thread 0 before any connection, only to
  -- check the script: that first call gets /health/, not a body.
  if not checked then
    checked = true
    return health
  end
  if next_request <= #requests_to_send then
    local r = requests_to_send[next_request]
    next_request = next_request + 1
    return r
  end
  return health
end
function response(status, headers, body)
  if string.sub(body, 1, 10) == '{{"status":' then
    return
  end
  answered = answered + 1
  if status == 200 then
    accepted = accepted + 1
  else
    refused = refused + 1
  end
  if answered >= #requests_to_send and not finished then
    finished = true
    -- wrk runs for its whole -d even when every thread stopped: this line
    -- (stderr is unbuffered) tells the bench to end the run with SIGINT.
    io.stderr:write("BENCH-THREAD-DONE\n")
    wrk.thread:stop()
  end
end
{DONE}"#
    )
}

/// CPU time (user + system) of this process's waited-for children.
fn children_cpu() -> Duration {
    // SAFETY: getrusage only writes the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    if rc != 0 {
        return Duration::ZERO;
    }
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Runs `wrk -t threads -c connections -d duration --latency -s script url`
/// and returns what its script reported, with wrk's CPU share (cores)
/// over the run. With `ends_itself` (a [`post_once_script`]), wrk is
/// stopped with SIGINT as soon as every thread said it is done, instead of
/// running for the whole `duration`.
#[allow(clippy::too_many_arguments)]
pub fn run(
    wrk: &Path,
    url: &str,
    threads: usize,
    connections: usize,
    duration: Duration,
    script: &str,
    ends_itself: bool,
    dir: &Path,
) -> anyhow::Result<WrkResult> {
    let script_path = dir.join(format!("wrk-{}.lua", std::process::id()));
    std::fs::write(&script_path, script)
        .with_context(|| format!("writing {}", script_path.display()))?;
    let cpu_before = children_cpu();
    let start = Instant::now();
    let mut child = Command::new(wrk)
        .arg(format!("-t{threads}"))
        .arg(format!("-c{connections}"))
        .arg(format!("-d{}s", duration.as_secs().max(1)))
        .args(["--timeout", "30s", "--latency", "-s"])
        .arg(&script_path)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("running {}", wrk.display()))?;
    let pid = child.id();
    let stderr = child.stderr.take().context("wrk's stderr")?;
    let watcher = std::thread::spawn(move || {
        let mut text = String::new();
        let mut done = 0;
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if line == "BENCH-THREAD-DONE" {
                done += 1;
                if ends_itself && done == threads {
                    // SAFETY: kill only sends a signal to our own child.
                    unsafe { libc::kill(pid as libc::pid_t, libc::SIGINT) };
                }
            } else {
                text.push_str(&line);
                text.push('\n');
            }
        }
        text
    });
    let mut stdout = String::new();
    if let Some(mut out) = child.stdout.take() {
        out.read_to_string(&mut stdout)
            .context("reading wrk's output")?;
    }
    let status = child.wait().context("waiting for wrk")?;
    let wall = start.elapsed();
    let cpu = children_cpu().saturating_sub(cpu_before);
    let stderr = watcher.join().unwrap_or_default();
    if !status.success() {
        bail!("wrk failed ({status}): {stdout}{stderr}");
    }
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("BENCH-RESULT "))
        .with_context(|| format!("wrk printed no result line:\n{stdout}{stderr}"))?;
    let mut result: WrkResult =
        serde_json::from_str(line).with_context(|| format!("wrk's result line {line:?}"))?;
    result.client_cpu = cpu.as_secs_f64() / wall.as_secs_f64();
    if result.socket_errors > 0.0 {
        eprintln!(
            "bench: wrk on {url} had {} socket errors",
            result.socket_errors
        );
    }
    Ok(result)
}
