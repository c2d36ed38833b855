//! Processes the bench starts beside itself: the minimal static server (the
//! bench executable run again with `--serve-static FILE`), and what the
//! kernel says of a process's CPU time and peak memory.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::{Context, bail};

/// The flag that turns the bench executable into the static server.
pub const SERVE_STATIC: &str = "--serve-static";

/// Serves the bytes of `file` as `application/json` on every path, on a
/// free loopback port, with as many workers as `full-node` starts (one per
/// core); prints `listening on http://…` and runs until killed. The
/// smallest actix-web app answering what the node answers.
pub fn serve_static(file: &Path) -> anyhow::Result<()> {
    let body = web::Bytes::from(
        std::fs::read(file).with_context(|| format!("reading {}", file.display()))?,
    );
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("binding a free port")?;
    let addr = listener.local_addr().context("reading the bound address")?;
    let system = actix_web::rt::System::new();
    system.block_on(async move {
        let server = HttpServer::new(move || {
            let body = body.clone();
            App::new().default_service(web::to(move || {
                let body = body.clone();
                async move {
                    HttpResponse::Ok()
                        .content_type("application/json")
                        .body(body)
                }
            }))
        })
        .workers(workers)
        .listen(listener)?
        .run();
        let mut stdout = std::io::stdout();
        let _ = writeln!(stdout, "listening on http://{addr}");
        let _ = stdout.flush();
        server.await.context("static server")
    })
}

/// A child process serving HTTP, killed when dropped.
pub struct Served {
    pub url: String,
    child: Child,
}

impl Served {
    /// Starts the static server on `file`.
    pub fn static_file(file: &Path) -> anyhow::Result<Served> {
        let exe = std::env::current_exe().context("locating the bench executable")?;
        let mut child = Command::new(exe)
            .arg(SERVE_STATIC)
            .arg(file)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting the static server")?;
        let stdout = child.stdout.take().context("the server's stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let _ = tx.send(line);
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        let line = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_default();
        // Held from here on: killed when dropped, also on the error path.
        let mut served = Served {
            url: String::new(),
            child,
        };
        match line.trim().strip_prefix("listening on ") {
            Some(url) => {
                served.url = url.to_string();
                Ok(served)
            }
            None => bail!("the static server wrote {line:?} instead of its URL"),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf reads a constant of the system.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

/// CPU time (user + system, seconds) process `pid` used so far.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line: 12 and 13 here.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / clock_ticks_per_second())
}

/// Peak resident memory of process `pid` (`VmHWM`), in MiB.
pub fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// CPU a process uses over a stretch of time, in cores.
pub struct CpuMeter {
    pid: u32,
    cpu: Option<f64>,
    start: std::time::Instant,
}

impl CpuMeter {
    pub fn start(pid: u32) -> CpuMeter {
        CpuMeter {
            pid,
            cpu: cpu_seconds(pid),
            start: std::time::Instant::now(),
        }
    }

    /// Cores used on average since [`CpuMeter::start`].
    pub fn cores(&self) -> Option<f64> {
        let used = cpu_seconds(self.pid)? - self.cpu?;
        Some(used / self.start.elapsed().as_secs_f64())
    }
}
