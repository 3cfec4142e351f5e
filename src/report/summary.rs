//! The summary of a run, folded from its events alone: one row per node (a step whose
//! analysis continued as a load, pull or build is one row), the table the console ends
//! with, and `summary.json` in the job record.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::check::outcome::ResultClass;
use crate::check::results::EntityResult;
use crate::docker::Backend;
use crate::engine::{Event, EventKind, NodeId};
use crate::plan::Output;

use super::outcome::Outcome;

/// Version of `summary.json`'s layout: 2 added `command`, rows of every kind of node
/// (entities, tasks), `image_id`, `started_ms`, `cached`, `exit_code`, `detail`.
pub const SUMMARY_FORMAT_VERSION: u32 = 2;

/// One node of the run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Row {
    /// The node's id; a step's row keeps the step's id (`slc/release`) when it
    /// continued as `slc/release:build`.
    pub node: String,
    /// Steps: `built`, `daemon`, `file`, `registry` (where the image came from, or for
    /// `kiln plan` would come from), `shortcut`. Entities: their class (`success`,
    /// `inaccurate`, `script-error`, `timeout`), or for `kiln plan --checks` where their
    /// result would come from (`cache`, `registry`, `run`). Other work: `done`, or
    /// `incomplete` for a clean-up that left images. Any node: `failed`, `skipped`,
    /// `cancelled`.
    pub result: Outcome,
    pub image: Option<String>,
    pub hash: Option<String>,
    pub image_id: Option<String>,
    /// When it started, since the start of the run.
    pub started_ms: Option<u64>,
    pub duration_ms: Option<u64>,
    /// An entity's result came from the result cache.
    pub cached: Option<bool>,
    pub exit_code: Option<i64>,
    /// What a task did (`saved …`, `exported …`), or how a check's entities went.
    pub detail: Option<String>,
    pub warnings: Vec<String>,
    pub error: Option<String>,
    /// Why a node was skipped.
    pub reason: Option<String>,
    pub log: Option<String>,
    /// What the node produced, as its event carried it.
    #[serde(skip)]
    pub output: Option<std::sync::Arc<Output>>,
}

impl Row {
    /// An entity's whole result, from the output its event carried.
    pub fn entity(&self) -> Option<&EntityResult> {
        match self.output.as_deref() {
            Some(Output::Entity(result)) => Some(result),
            _ => None,
        }
    }

    /// The node did not finish: failed, skipped or cancelled.
    pub fn not_done(&self) -> bool {
        self.result.not_done()
    }
}

/// The whole run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub format: u32,
    /// The command, as the job record names it (`build`, `check`, `run-ci` …).
    pub command: String,
    pub elapsed_ms: u64,
    pub cancelled: bool,
    /// The daemon's builder that built what the run built (`buildkit`, `classic`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub builder: Option<Backend>,
    pub nodes: Vec<Row>,
    /// Row of each node heard of (a continuation shares its step's row).
    #[serde(skip)]
    rows: HashMap<NodeId, usize>,
    /// Nodes whose expansion added only its join: the join continues their row.
    #[serde(skip)]
    continued: HashMap<NodeId, usize>,
    /// The node each row began with, to put rows in graph order at the end.
    #[serde(skip)]
    first: Vec<NodeId>,
    /// The job record could not be written whole (a full disk): the file, and why.
    #[serde(skip)]
    pub record_failed: Option<(PathBuf, Arc<std::io::Error>)>,
}

impl Summary {
    pub fn new(command: &str) -> Self {
        Self {
            format: SUMMARY_FORMAT_VERSION,
            command: command.to_owned(),
            ..Self::default()
        }
    }

    /// Folds one event in.
    pub fn apply(&mut self, event: &Event<Output>) {
        self.elapsed_ms = millis(event.at);
        let row = self.row_of(event);
        let row = &mut self.nodes[row];
        if event.kind == EventKind::Started && row.started_ms.is_none() {
            row.started_ms = Some(millis(event.at));
        }
        if let Some(duration) = event.duration {
            // A continuation adds its time to the analysis before it.
            row.duration_ms = Some(row.duration_ms.unwrap_or(0) + millis(duration));
        }
        match &event.kind {
            EventKind::Queued | EventKind::Started | EventKind::Status { .. } => {}
            EventKind::Succeeded => {
                if let Some(output) = &event.output {
                    fill(row, output);
                    row.output = Some(std::sync::Arc::clone(output));
                }
            }
            EventKind::Failed { error, log } => {
                row.result = Outcome::Failed;
                row.error = Some(error.clone());
                row.log = log.as_ref().map(|l| l.display().to_string());
            }
            EventKind::Skipped { reason } => {
                row.result = Outcome::Skipped;
                row.reason = Some(reason.to_string());
            }
            EventKind::Cancelled => row.result = Outcome::Cancelled,
            EventKind::Expanded { added, join } => {
                let index = self.rows[&event.node];
                if *added == 1 {
                    self.continued.insert(*join, index);
                } else {
                    let row = &mut self.nodes[index];
                    row.result = Outcome::Done;
                    row.detail = Some(format!("{} entities", added - 1));
                }
            }
        }
    }

    /// The row of the event's node, added on first sight.
    fn row_of(&mut self, event: &Event<Output>) -> usize {
        if let Some(&row) = self.rows.get(&event.node) {
            return row;
        }
        let row = match self.continued.get(&event.node) {
            Some(&row) => row,
            None => {
                self.nodes.push(Row {
                    node: event.id.clone(),
                    ..Row::default()
                });
                self.first.push(event.node);
                self.nodes.len() - 1
            }
        };
        self.rows.insert(event.node, row);
        row
    }

    /// The run ended: rows in graph order (the order of the nodes they began with).
    pub fn finish(&mut self, cancelled: bool) {
        self.cancelled = cancelled;
        let mut rows: Vec<(NodeId, Row)> = self.first.drain(..).zip(self.nodes.drain(..)).collect();
        rows.sort_by_key(|(first, _)| *first);
        self.rows.clear();
        self.continued.clear();
        for (i, (first, row)) in rows.into_iter().enumerate() {
            self.rows.insert(first, i);
            self.first.push(first);
            self.nodes.push(row);
        }
    }

    /// How many nodes ended with `result`.
    pub fn count(&self, result: Outcome) -> usize {
        self.nodes.iter().filter(|r| r.result == result).count()
    }

    /// The rows of entities, in the order they finished.
    pub fn entities(&self) -> impl Iterator<Item = &EntityResult> {
        self.nodes.iter().filter_map(Row::entity)
    }

    /// Entities whose result counts as a failure (inaccurate ones too with
    /// `fail_on_inaccurate`).
    pub fn failing_entities(&self, fail_on_inaccurate: bool) -> usize {
        self.entities()
            .filter(|r| {
                r.class.is_failure() || (fail_on_inaccurate && r.class == ResultClass::Inaccurate)
            })
            .count()
    }

    /// The table: node, what happened, time, image; then a line of totals. Entities are
    /// left to their own lines.
    pub fn table(&self) -> String {
        let shown: Vec<&Row> = self.nodes.iter().filter(|r| r.entity().is_none()).collect();
        let width = shown.iter().map(|r| r.node.len()).max().unwrap_or(4).max(4);
        let rows: Vec<[String; 4]> = shown
            .iter()
            .map(|row| {
                let time = row
                    .duration_ms
                    .map(|ms| format_duration(Duration::from_millis(ms)))
                    .unwrap_or_else(|| "-".to_owned());
                let what = row
                    .image
                    .clone()
                    .or_else(|| row.detail.clone())
                    .unwrap_or_else(|| "-".to_owned());
                [row.node.clone(), row.result.to_string(), time, what]
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
        let totals: Vec<String> = Outcome::tally(shown.iter().map(|r| r.result))
            .into_iter()
            .map(|(outcome, n)| format!("{n} {}", outcome.total_label(self.builder)))
            .collect();
        let _ = writeln!(
            out,
            "{} node{}: {} in {}",
            shown.len(),
            if shown.len() == 1 { "" } else { "s" },
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

/// What a node's output says about its row.
fn fill(row: &mut Row, output: &Output) {
    match output {
        Output::Image(image) | Output::Planned(image) => {
            row.node = image.step.to_string();
            row.result = Outcome::of_image(image);
            if image.deferred.is_some() {
                row.detail = Some(format!(
                    "in {} (--shortcut): loaded only if a step built on it is built",
                    image.tier.place()
                ));
            }
            row.image = Some(image.tag.clone());
            row.hash = Some(image.hash.clone());
            row.image_id = image.image_id.clone();
            row.warnings = image.warnings.clone();
        }
        Output::Entity(result) => {
            row.result = Outcome::Entity(result.class);
            row.cached = Some(result.cached);
            row.exit_code = result.exit_code;
            row.log = result.log.clone();
        }
        Output::PlannedEntity(planned) => {
            row.result = Outcome::Planned(planned.source);
            row.hash = Some(planned.cache_key.clone());
        }
        Output::Recorded(recorded) => {
            row.result = Outcome::Done;
            row.detail = Some(format!(
                "{} recorded, {} not done",
                recorded.results,
                recorded.not_done.len()
            ));
        }
        Output::Cleaned(cleaned) if !cleaned.failed.is_empty() => {
            row.result = Outcome::Incomplete;
            row.detail = output.describe();
        }
        other => {
            row.result = Outcome::Done;
            row.detail = other.describe();
        }
    }
}

/// `0.4s`, `12.0s`, `3m07s`, `2h05m`; any duration of 100 hours or more is `>99h`
/// (a recorded or fetched runtime can say anything, up to `u64::MAX` milliseconds).
pub fn format_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs >= 100 * 3600 {
        ">99h".to_owned()
    } else if secs >= 3600 {
        format!("{}h{:02}m", secs / 3600, secs % 3600 / 60)
    } else if secs >= 60 {
        format!("{}m{:02}s", secs / 60, secs % 60)
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
    use crate::build::Source;
    use crate::cache::ResultSource;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(format_duration(Duration::from_millis(420)), "0.4s");
        assert_eq!(format_duration(Duration::from_secs(187)), "3m07s");
        assert_eq!(format_duration(Duration::from_secs(3600)), "1h00m");
        assert_eq!(
            format_duration(Duration::from_secs(99 * 3600 + 3599)),
            "99h59m"
        );
        // Whatever a record says, the text stays short.
        for forged in [
            Duration::from_secs(100 * 3600),
            Duration::from_millis(u64::MAX),
            Duration::MAX,
        ] {
            assert_eq!(format_duration(forged), ">99h");
        }
    }

    fn event(node: usize, id: &str, kind: EventKind, duration_ms: Option<u64>) -> Event<Output> {
        Event {
            at: Duration::from_millis(2000),
            node: NodeId::new(node),
            id: id.to_owned(),
            parent: None,
            kind,
            duration: duration_ms.map(Duration::from_millis),
            output: None,
        }
    }

    #[test]
    fn a_step_that_continued_is_one_row_with_both_times() {
        let mut summary = Summary::new("build");
        summary.apply(&event(0, "slc/base", EventKind::Started, None));
        summary.apply(&event(
            0,
            "slc/base",
            EventKind::Expanded {
                added: 1,
                join: NodeId::new(1),
            },
            Some(100),
        ));
        summary.apply(&event(1, "slc/base:build", EventKind::Started, None));
        summary.apply(&event(
            1,
            "slc/base:build",
            EventKind::Failed {
                error: "RUN false".to_owned(),
                log: None,
            },
            Some(1400),
        ));
        summary.apply(&event(2, "slc/release", EventKind::Cancelled, None));
        summary.finish(false);
        assert_eq!(summary.nodes.len(), 2);
        let base = &summary.nodes[0];
        assert_eq!(
            (base.node.as_str(), base.result, base.duration_ms),
            ("slc/base", Outcome::Failed, Some(1500))
        );
        assert_eq!(summary.count(Outcome::Cancelled), 1);
        let table = summary.table();
        assert!(table.contains("slc/base     failed"), "{table}");
        assert!(
            table.ends_with("2 nodes: 1 failed, 1 cancelled in 2.0s\n"),
            "{table}"
        );
    }

    #[test]
    fn the_totals_count_each_outcome_in_order_and_name_the_builder() {
        let row = |node: &str, result: Outcome| Row {
            node: node.to_owned(),
            result,
            ..Row::default()
        };
        let mut summary = Summary::new("build");
        summary.elapsed_ms = 2000;
        summary.builder = Some(Backend::BuildKit);
        summary.nodes = vec![
            row("f/cancelled", Outcome::Cancelled),
            row("f/skipped", Outcome::Skipped),
            row("f/failed", Outcome::Failed),
            row("clean", Outcome::Incomplete),
            row("save", Outcome::Done),
            row("f/shortcut", Outcome::Shortcut),
            row("f/registry", Outcome::Image(Source::REGISTRY)),
            row("f/file", Outcome::Image(Source::FILE)),
            row("f/daemon", Outcome::Image(Source::DAEMON)),
            row("f/built", Outcome::Image(Source::Built)),
            row("f/built-too", Outcome::Image(Source::Built)),
            // Counted as nodes, not in the totals.
            row("f/planned/e1", Outcome::Planned(ResultSource::Registry)),
            row("f/unfinished", Outcome::Pending),
        ];
        let table = summary.table();
        assert!(
            table.ends_with(
                "13 nodes: 2 built by BuildKit, 1 from the daemon, 1 from files, \
                 1 from the registry, 1 left in their tier (--shortcut), 1 done, \
                 1 incomplete, 1 failed, 1 skipped, 1 cancelled in 2.0s\n"
            ),
            "{table}"
        );
        assert!(
            table.contains("\nf/built-too   built             -  -\n"),
            "{table}"
        );
        assert!(
            table.contains("\nf/unfinished                    -  -\n"),
            "a row with no end says nothing: {table}"
        );
        summary.builder = Some(Backend::Classic);
        summary.nodes = vec![row("f/built", Outcome::Image(Source::Built))];
        assert!(
            summary
                .table()
                .ends_with("1 node: 1 built by the classic builder in 2.0s\n")
        );
        summary.nodes.clear();
        assert!(
            summary
                .table()
                .ends_with("0 nodes: nothing to do in 2.0s\n")
        );
    }

    #[test]
    fn summary_json_keeps_its_words() {
        let mut summary = Summary::new("build");
        summary.builder = Some(Backend::Classic);
        summary.nodes = vec![
            Row {
                node: "f/base".to_owned(),
                result: Outcome::Shortcut,
                ..Row::default()
            },
            Row::default(),
        ];
        let json = serde_json::to_value(&summary).unwrap();
        assert_eq!(json["builder"], "classic");
        assert_eq!(json["nodes"][0]["result"], "shortcut");
        assert_eq!(json["nodes"][1]["result"], "", "a row with no end");
        summary.builder = Some(Backend::BuildKit);
        assert_eq!(
            serde_json::to_value(&summary).unwrap()["builder"],
            "buildkit"
        );
    }
}
