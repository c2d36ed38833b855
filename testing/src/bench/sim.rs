//! The simulator's figures (issue 30): the lab's network simulated beside
//! the real lab of the same run (the model against what it models), and
//! runs at scale, each in a `testing sim` process of its own so that its
//! wall time and peak memory are its own.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use super::report::{Figure, Goal, Report};
use crate::sim::world::REFERENCE_RECOVERIES_PER_SEC;
use crate::sim::{Config, Scenario};

/// How far the simulated lab may be from the real one.
pub const CALIBRATION: f64 = 0.25;

/// The lab's propagation figures of this run, by the lab's own names.
pub type LabFigures = Vec<(&'static str, f64)>;

/// The lab's network (`nodes`, 20 ms links, 8 peers) simulated, each
/// propagation figure beside the lab's of this run (its limit) with the
/// goal of being within [`CALIBRATION`] of it.
///
/// The simulated CPU times are scaled to this machine by its one-thread
/// signature recoveries measured in the same run (`recoveries`): the lab's
/// block figures follow the machine's speed.
pub fn beside_lab(report: &mut Report, nodes: usize, lab: &LabFigures, recoveries: f64) {
    super::progress(&format!(
        "sim: the lab's network of {nodes} nodes, simulated"
    ));
    let cpu_scale = if recoveries > 0.0 {
        REFERENCE_RECOVERIES_PER_SEC / recoveries
    } else {
        1.0
    };
    let out = crate::sim::run(&Config {
        nodes,
        seed: 1,
        scenario: Scenario::Lab,
        profile: None,
        progress: false,
        cpu_scale,
    });
    for (name, lab_value) in lab {
        let short = name.trim_start_matches("lab: ");
        let figure_name = format!("sim of the lab: {short}");
        match out.figure(name) {
            Some(v) if v.is_finite() => report.push(
                Figure::new(figure_name, v, "ms")
                    .limit(*lab_value, "the lab, this run")
                    .goal(Goal::RatioWithin(CALIBRATION))
                    .note(format!(
                        "{nodes} nodes, lab links, seed 1, CPU times × {cpu_scale:.2} \
                         ({recoveries:.0} recoveries/s here), digest {}…",
                        out.digest.get(..16).unwrap_or(&out.digest),
                    )),
            ),
            _ => report.push(Figure::not_measured(
                figure_name,
                "ms",
                Goal::RatioWithin(CALIBRATION),
                "the simulator gave no such figure",
            )),
        }
    }
}

/// `testing sim` at each of `node_counts`: propagation and eclipse, wall
/// time and peak memory of the process, and the run's figures.
pub fn scale(report: &mut Report, node_counts: &[usize], tmp: &Path) {
    let exe = match std::env::current_exe() {
        Ok(exe) => exe.with_file_name("testing"),
        Err(e) => {
            report.push(Figure::not_measured(
                "sim at scale",
                "s",
                Goal::None,
                format!("no bench executable path: {e}"),
            ));
            return;
        }
    };
    for &nodes in node_counts {
        for scenario in ["propagation", "eclipse"] {
            super::progress(&format!("sim: {scenario}, {nodes} nodes"));
            let json = tmp.join(format!("sim-{scenario}-{nodes}.json"));
            let prefix = format!("sim {scenario}, {nodes} nodes");
            match run_process(&exe, nodes, scenario, &json) {
                Ok(v) => push_run(report, &prefix, &v),
                Err(why) => report.push(Figure::not_measured(
                    format!("{prefix}: wall time"),
                    "s",
                    Goal::None,
                    why,
                )),
            }
        }
    }
}

fn run_process(exe: &Path, nodes: usize, scenario: &str, json: &Path) -> Result<Value, String> {
    let status = Command::new(exe)
        .args(["sim", "--nodes", &nodes.to_string(), "--seed", "1"])
        .args(["--scenario", scenario, "--json"])
        .arg(json)
        .stdout(std::process::Stdio::null())
        .status()
        .map_err(|e| format!("{} did not start: {e}", exe.display()))?;
    if !status.success() {
        return Err(format!("testing sim ended with {status}"));
    }
    let text = std::fs::read_to_string(json).map_err(|e| format!("{}: {e}", json.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", json.display()))
}

fn push_run(report: &mut Report, prefix: &str, v: &Value) {
    let digest = v["digest"].as_str().unwrap_or("?");
    let note = format!("seed 1, digest {}…", digest.get(..16).unwrap_or(digest));
    report.push(
        Figure::new(
            format!("{prefix}: wall time"),
            v["wall_s"].as_f64().unwrap_or(f64::NAN),
            "s",
        )
        .note(note.clone()),
    );
    report.push(
        Figure::new(
            format!("{prefix}: peak memory"),
            v["peak_rss_mib"].as_f64().unwrap_or(f64::NAN),
            "MiB",
        )
        .note(note),
    );
    for f in v["figures"].as_array().into_iter().flatten() {
        let (Some(name), Some(value)) = (f["name"].as_str(), f["value"].as_f64()) else {
            continue;
        };
        report.push(Figure::new(
            format!("{prefix}: {name}"),
            value,
            f["unit"].as_str().unwrap_or(""),
        ));
    }
}
