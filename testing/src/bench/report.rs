//! The one table a bench run prints, and its JSON form: each figure beside
//! the limit measured in the same run, their ratio, the goal and whether
//! it is met.

use std::fmt::Write as _;

use serde::Serialize;

/// What a figure must reach to meet its goal.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Goal {
    /// Informational: no goal.
    None,
    /// `value / limit` ≥ this fraction.
    RatioAtLeast(f64),
    /// `value` ≤ this, in the figure's unit.
    AtMost(f64),
    /// `value / limit` within this fraction of 1 (a model against what it
    /// models: 0.25 is ±25 %).
    RatioWithin(f64),
}

impl Goal {
    fn text(&self, unit: &str) -> String {
        match self {
            Goal::None => "—".to_string(),
            Goal::RatioAtLeast(f) => format!("≥ {:.0} %", f * 100.0),
            Goal::AtMost(v) => format!("≤ {} {unit}", number(*v)),
            Goal::RatioWithin(f) => format!("{:.0}–{:.0} %", (1.0 - f) * 100.0, (1.0 + f) * 100.0),
        }
    }
}

/// A limit measured in the same run: its value (in the figure's unit) and
/// what it is.
#[derive(Clone, Debug, PartialEq)]
pub struct Limit {
    pub value: f64,
    pub what: String,
}

/// One line of the table.
#[derive(Clone, Debug, PartialEq)]
pub struct Figure {
    pub name: String,
    /// `None`: not measured (see `note`).
    pub value: Option<f64>,
    pub unit: String,
    pub limit: Option<Limit>,
    pub goal: Goal,
    /// The client's CPU share, a percentile beside, or why not measured.
    pub note: String,
}

impl Figure {
    pub fn new(name: impl Into<String>, value: f64, unit: impl Into<String>) -> Figure {
        Figure {
            name: name.into(),
            value: Some(value),
            unit: unit.into(),
            limit: None,
            goal: Goal::None,
            note: String::new(),
        }
    }

    /// A figure this run could not measure, and why.
    pub fn not_measured(
        name: impl Into<String>,
        unit: impl Into<String>,
        goal: Goal,
        why: impl Into<String>,
    ) -> Figure {
        Figure {
            name: name.into(),
            value: None,
            unit: unit.into(),
            limit: None,
            goal,
            note: why.into(),
        }
    }

    pub fn limit(mut self, value: f64, what: impl Into<String>) -> Figure {
        self.limit = Some(Limit {
            value,
            what: what.into(),
        });
        self
    }

    pub fn goal(mut self, goal: Goal) -> Figure {
        self.goal = goal;
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Figure {
        self.note = note.into();
        self
    }

    /// `value / limit`, when both are known and the limit is not zero.
    pub fn ratio(&self) -> Option<f64> {
        match (self.value, &self.limit) {
            (Some(v), Some(l)) if l.value > 0.0 => Some(v / l.value),
            _ => None,
        }
    }

    /// `None` when there is no goal; a goal not measured is not met.
    pub fn met(&self) -> Option<bool> {
        match self.goal {
            Goal::None => None,
            Goal::RatioAtLeast(f) => Some(self.ratio().is_some_and(|r| r >= f)),
            Goal::AtMost(max) => Some(self.value.is_some_and(|v| v <= max)),
            Goal::RatioWithin(f) => Some(self.ratio().is_some_and(|r| (r - 1.0).abs() <= f)),
        }
    }
}

/// A number for people: thousands separated, at most 3 significant
/// decimals below 10.
pub fn number(v: f64) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    if v.abs() >= 100.0 {
        let rounded = v.round() as i64;
        let digits = rounded.unsigned_abs().to_string();
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        if rounded < 0 {
            out.insert(0, '-');
        }
        out
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

/// The whole run's results.
#[derive(Debug, Default)]
pub struct Report {
    pub figures: Vec<Figure>,
}

#[derive(Serialize)]
struct JsonFigure<'a> {
    name: &'a str,
    value: Option<f64>,
    unit: &'a str,
    limit: Option<f64>,
    limit_what: Option<&'a str>,
    ratio: Option<f64>,
    goal: String,
    met: Option<bool>,
    note: &'a str,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    figures: Vec<JsonFigure<'a>>,
    goals_missed: usize,
    not_measured: usize,
}

impl Report {
    pub fn push(&mut self, figure: Figure) {
        self.figures.push(figure);
    }

    /// Goals not met, the ones not measured included.
    pub fn goals_missed(&self) -> usize {
        self.figures
            .iter()
            .filter(|f| f.met() == Some(false))
            .count()
    }

    pub fn not_measured(&self) -> usize {
        self.figures.iter().filter(|f| f.value.is_none()).count()
    }

    /// `{"figures": [{name, value, unit, limit, ratio, goal, met, …}], "goals_missed": N}`.
    pub fn to_json(&self) -> String {
        let figures = self
            .figures
            .iter()
            .map(|f| JsonFigure {
                name: &f.name,
                value: f.value,
                unit: &f.unit,
                limit: f.limit.as_ref().map(|l| l.value),
                limit_what: f.limit.as_ref().map(|l| l.what.as_str()),
                ratio: f.ratio(),
                goal: f.goal.text(&f.unit),
                met: f.met(),
                note: &f.note,
            })
            .collect();
        let report = JsonReport {
            figures,
            goals_missed: self.goals_missed(),
            not_measured: self.not_measured(),
        };
        serde_json::to_string_pretty(&report).expect("plain data serialises")
    }

    /// The table, as Markdown (readable in a terminal, pasteable in the README).
    pub fn table(&self) -> String {
        let header = [
            "figure",
            "value",
            "limit (same run)",
            "ratio",
            "goal",
            "met",
            "note",
        ];
        let rows: Vec<[String; 7]> = self
            .figures
            .iter()
            .map(|f| {
                let value = match f.value {
                    Some(v) => format!("{} {}", number(v), f.unit),
                    None => "not measured".to_string(),
                };
                let limit = match &f.limit {
                    Some(l) => format!("{} {} ({})", number(l.value), f.unit, l.what),
                    None => "—".to_string(),
                };
                let ratio = f
                    .ratio()
                    .map_or("—".to_string(), |r| format!("{:.0} %", r * 100.0));
                let met = match f.met() {
                    None => "—",
                    Some(true) => "yes",
                    Some(false) if f.value.is_none() => "NO (not measured)",
                    Some(false) => "NO",
                };
                [
                    f.name.clone(),
                    value,
                    limit,
                    ratio,
                    f.goal.text(&f.unit),
                    met.to_string(),
                    f.note.clone(),
                ]
            })
            .collect();
        let mut widths = header.map(|h| h.chars().count());
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let line = |out: &mut String, cells: &[String]| {
            out.push('|');
            for (cell, w) in cells.iter().zip(widths) {
                let pad = w - cell.chars().count();
                let _ = write!(out, " {cell}{} |", " ".repeat(pad));
            }
            out.push('\n');
        };
        line(&mut out, &header.map(String::from));
        out.push('|');
        for w in widths {
            let _ = write!(out, "{}|", "-".repeat(w + 2));
        }
        out.push('\n');
        for row in &rows {
            line(&mut out, row);
        }
        let _ = writeln!(
            out,
            "\ngoals missed: {} (of {} with a goal; {} figure(s) not measured)",
            self.goals_missed(),
            self.figures.iter().filter(|f| f.goal != Goal::None).count(),
            self.not_measured()
        );
        out
    }
}

/// The `p`-th percentile (0–100) of `sorted` by the nearest-rank method.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ratio_within_is_met_on_both_sides_and_missed_beyond() {
        let within = |v: f64| {
            Figure::new("sim", v, "ms")
                .limit(100.0, "lab")
                .goal(Goal::RatioWithin(0.25))
                .met()
        };
        assert_eq!(within(80.0), Some(true));
        assert_eq!(within(125.0), Some(true));
        assert_eq!(within(74.0), Some(false));
        assert_eq!(within(126.0), Some(false));
        let unmeasured = Figure::not_measured("sim", "ms", Goal::RatioWithin(0.25), "no lab");
        assert_eq!(unmeasured.met(), Some(false));
    }

    #[test]
    fn a_goal_not_measured_is_missed_not_met() {
        let mut report = Report::default();
        report.push(Figure::not_measured(
            "x",
            "MiB",
            Goal::AtMost(200.0),
            "wrk missing",
        ));
        report.push(Figure::new("y", 5.0, "/s").limit(10.0, "raw"));
        report.push(
            Figure::new("z", 6.0, "/s")
                .limit(10.0, "raw")
                .goal(Goal::RatioAtLeast(0.5)),
        );
        assert_eq!(report.figures[0].met(), Some(false));
        assert_eq!(report.figures[1].met(), None);
        assert_eq!(report.figures[2].met(), Some(true));
        assert_eq!(report.goals_missed(), 1);
        assert_eq!(report.not_measured(), 1);
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(json["goals_missed"], 1);
        assert!(json["figures"][0]["value"].is_null());
        assert_eq!(json["figures"][2]["ratio"].as_f64(), Some(0.6));
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(number(1_234_567.4), "1,234,567");
        assert_eq!(number(123.0), "123");
        assert_eq!(number(12.34), "12.3");
        assert_eq!(number(0.5), "0.500");
    }

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 99.0), Some(99.0));
        assert_eq!(percentile(&v, 100.0), Some(100.0));
        assert_eq!(percentile(&[3.0], 99.0), Some(3.0));
        assert_eq!(percentile(&[], 50.0), None);
    }
}
