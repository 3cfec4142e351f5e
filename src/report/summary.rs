//! The summary of a build run: the table the console ends with, and `summary.json` in
//! the job record.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::build::{BuildNode, BuildOutput};
use crate::engine::{NodeState, Report};

/// Version of `summary.json`'s layout.
pub const SUMMARY_FORMAT_VERSION: u32 = 1;

/// One node of the run.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// `<flavor>/<step>`.
    pub node: String,
    /// `built`, `daemon`, `file`, `registry` (where the image came from), or `failed`,
    /// `skipped`, `cancelled`.
    pub result: String,
    pub image: Option<String>,
    pub hash: Option<String>,
    pub duration_ms: Option<u64>,
    /// Written to the file cache by this run.
    pub saved: bool,
    /// Pushed to the registry by this run.
    pub pushed: bool,
    pub warnings: Vec<String>,
    pub error: Option<String>,
    /// Why a node was skipped.
    pub reason: Option<String>,
    pub log: Option<String>,
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub format: u32,
    pub elapsed_ms: u64,
    pub cancelled: bool,
    pub nodes: Vec<Row>,
}

impl Summary {
    /// One row per step, in the run's order: a step whose analysis expanded into a
    /// load, pull or build node is that node's row, with both nodes' time.
    pub fn from_report(report: &Report<BuildNode, BuildOutput>) -> Self {
        let mut steps: Vec<_> = report
            .iter()
            .filter(|n| !matches!(n.state, NodeState::Expanded { .. }))
            .collect();
        steps.sort_by_key(|n| n.expanded_from.unwrap_or(n.node));
        let nodes = steps
            .into_iter()
            .map(|n| {
                let output = n.output();
                let analysis_time = n
                    .expanded_from
                    .and_then(|from| report.get(from))
                    .and_then(|from| from.duration);
                let duration = match (n.duration, analysis_time) {
                    (Some(own), Some(analysis)) => Some(own + analysis),
                    (own, _) => own,
                };
                Row {
                    node: n.value.step_id(),
                    result: match &n.state {
                        NodeState::Succeeded(o) => o.source.as_str().to_owned(),
                        other => other.name().to_owned(),
                    },
                    image: output.map(|o| o.analysis.image.clone()),
                    hash: output.map(|o| o.analysis.hash.clone()),
                    duration_ms: duration.map(millis),
                    saved: output.is_some_and(|o| o.saved),
                    pushed: output.is_some_and(|o| o.pushed),
                    warnings: output.map(|o| o.warnings.clone()).unwrap_or_default(),
                    error: n.error().map(|e| e.to_string()),
                    reason: n.reason.as_ref().map(|r| r.to_string()),
                    log: n
                        .error()
                        .and_then(|e| e.log())
                        .map(|p| p.display().to_string()),
                }
            })
            .collect();
        Self {
            format: SUMMARY_FORMAT_VERSION,
            elapsed_ms: millis(report.elapsed),
            cancelled: report.cancelled,
            nodes,
        }
    }

    /// How many nodes ended with `result`.
    pub fn count(&self, result: &str) -> usize {
        self.nodes.iter().filter(|r| r.result == result).count()
    }

    /// The table: node, what happened, time, image; then a line of totals.
    pub fn table(&self) -> String {
        let width = self
            .nodes
            .iter()
            .map(|r| r.node.len())
            .max()
            .unwrap_or(4)
            .max(4);
        let rows: Vec<[String; 4]> = self
            .nodes
            .iter()
            .map(|row| {
                let mut result = row.result.clone();
                if row.saved {
                    result.push_str(" +saved");
                }
                if row.pushed {
                    result.push_str(" +pushed");
                }
                let time = row
                    .duration_ms
                    .map(|ms| format_duration(Duration::from_millis(ms)))
                    .unwrap_or_else(|| "-".to_owned());
                let image = row.image.clone().unwrap_or_else(|| "-".to_owned());
                [row.node.clone(), result, time, image]
            })
            .collect();
        let result_width = rows.iter().map(|r| r[1].len()).max().unwrap_or(0).max(6);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<width$}  {:<result_width$}  {:>7}  image",
            "node", "result", "time"
        );
        for [node, result, time, image] in &rows {
            let _ = writeln!(
                out,
                "{node:<width$}  {result:<result_width$}  {time:>7}  {image}"
            );
        }
        let mut totals = Vec::new();
        for result in [
            "built",
            "daemon",
            "file",
            "registry",
            "failed",
            "skipped",
            "cancelled",
        ] {
            let n = self.count(result);
            if n > 0 {
                totals.push(format!(
                    "{n} {}",
                    match result {
                        "daemon" => "from the daemon",
                        "file" => "from files",
                        "registry" => "from the registry",
                        other => other,
                    }
                ));
            }
        }
        let _ = writeln!(
            out,
            "{} node{}: {} in {}",
            self.nodes.len(),
            if self.nodes.len() == 1 { "" } else { "s" },
            if totals.is_empty() {
                "nothing to do".to_owned()
            } else {
                totals.join(", ")
            },
            format_duration(Duration::from_millis(self.elapsed_ms))
        );
        out
    }
}

/// `0.4s`, `12.0s`, `3m07s`.
pub fn format_duration(d: Duration) -> String {
    if d.as_secs() >= 60 {
        format!("{}m{:02}s", d.as_secs() / 60, d.as_secs() % 60)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(format_duration(Duration::from_millis(420)), "0.4s");
        assert_eq!(format_duration(Duration::from_secs(187)), "3m07s");
    }

    fn row(node: &str, result: &str) -> Row {
        Row {
            node: node.to_owned(),
            result: result.to_owned(),
            image: None,
            hash: None,
            duration_ms: Some(1500),
            saved: false,
            pushed: false,
            warnings: vec![],
            error: None,
            reason: None,
            log: None,
        }
    }

    #[test]
    fn table_counts_each_result() {
        let summary = Summary {
            format: SUMMARY_FORMAT_VERSION,
            elapsed_ms: 2000,
            cancelled: false,
            nodes: vec![
                row("slc/a", "built"),
                row("slc/b", "daemon"),
                row("slc/c", "built"),
            ],
        };
        let table = summary.table();
        assert!(table.contains("slc/a  built"), "{table}");
        assert!(
            table.ends_with("3 nodes: 2 built, 1 from the daemon in 2.0s\n"),
            "{table}"
        );
    }

    #[test]
    fn columns_line_up_whatever_the_result() {
        let mut pushed = row("slc/base", "daemon");
        pushed.pushed = true;
        pushed.image = Some("kiln:slc-base_1".to_owned());
        let mut built = row("slc/release", "built");
        built.image = Some("kiln:slc-release_2".to_owned());
        let summary = Summary {
            format: SUMMARY_FORMAT_VERSION,
            elapsed_ms: 2000,
            cancelled: false,
            nodes: vec![pushed, built],
        };
        let table = summary.table();
        let columns: Vec<usize> = table
            .lines()
            .take(3)
            .map(|line| line.find("image").or_else(|| line.find("kiln:")).unwrap())
            .collect();
        assert_eq!(columns, vec![columns[0]; 3], "{table}");
        assert!(table.contains("daemon +pushed"), "{table}");
    }
}
