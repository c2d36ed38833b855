//! `bench`: Cinder's node figures, each beside the limit measured in the
//! same run, as one table (issue 23). Release build:
//! `cargo build --release -p cinder --bin full-node && cargo run --release -p testing --bin bench -- --quick`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use testing::bench::{self, Sizes, process};

/// Measures the node (in-process and the real `full-node` under `wrk`)
/// and prints one table: figure, limit, ratio, goal, met.
#[derive(Parser, Debug)]
#[command(name = "bench")]
struct Args {
    /// Smaller sizes: finishes in under 2 minutes.
    #[arg(long)]
    quick: bool,
    /// Also write the figures as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Only these groups of figures (repeatable): limits, inprocess, http,
    /// network, attacks. The signature recoveries are always measured.
    #[arg(long, value_name = "GROUP", value_parser = bench::GROUPS)]
    only: Vec<String>,
    /// Instead of the figures: the soak (issue 31), the lab's nodes under
    /// a steady mix for MINUTES, then its checks (with --quick: 4 nodes).
    #[arg(long, value_name = "MINUTES")]
    soak: Option<f64>,
    /// Where the chains and scratch files go (default: the system's temp dir).
    #[arg(long, value_name = "DIR")]
    tmp: Option<PathBuf>,
    /// Internal: serve FILE's bytes on every path (the minimal server the
    /// GET figures are compared with).
    #[arg(long = "serve-static", value_name = "FILE", hide = true)]
    serve_static: Option<PathBuf>,
}

fn main() {
    if let Err(e) = run() {
        let _ = writeln!(std::io::stderr(), "bench: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(file) = &args.serve_static {
        return process::serve_static(file);
    }
    if cfg!(debug_assertions) {
        eprintln!("bench: this is a debug build; figures mean little: use --release");
    }
    let sizes = if args.quick {
        Sizes::quick()
    } else {
        Sizes::full()
    };
    let report = match args.soak {
        Some(minutes) => {
            let mut report = bench::report::Report::default();
            bench::soak::soak(&mut report, minutes, sizes.lab_nodes);
            report
        }
        None => bench::run(&sizes, args.tmp, &args.only)?,
    };
    print!("{}", report.table());
    if let Some(path) = &args.json {
        std::fs::write(path, report.to_json())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    // The soak is a check: a goal missed fails it (CI runs it).
    if args.soak.is_some() && report.goals_missed() > 0 {
        anyhow::bail!("the soak missed {} goal(s)", report.goals_missed());
    }
    Ok(())
}
