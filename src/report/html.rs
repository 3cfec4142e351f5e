//! The HTML report: one self-contained file (no network, no script), rendered from the
//! template `report.html` with minijinja. A header with the run and its counts, a
//! timeline of every node (inline SVG, a bar per node coloured by its result), the
//! images in the order the run got them, and the checks: each entity's class, time,
//! whether it came from the result cache, its log and artifacts (images shown), and its
//! recent history as a strip of marks with the date it last passed.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use serde::Serialize;

use crate::check::outcome::ResultClass;
use crate::check::results::{EntityResult, RunResults};

use super::outcome::Outcome;
use super::outputs::NotDone;
use super::summary::{Summary, format_duration};
use super::untrusted::printable;

/// How many earlier results an entity's history strip shows.
pub const HISTORY_MARKS: usize = 12;

/// Width of the timeline's bars area and of its label column, and a row's height (px).
const BARS_WIDTH: f64 = 720.0;
const LABEL_WIDTH: f64 = 280.0;
const ROW_HEIGHT: f64 = 18.0;

const TEMPLATE: &str = include_str!("report.html");

/// What the report is made of.
pub struct Inputs<'a> {
    pub summary: &'a Summary,
    pub results: &'a [EntityResult],
    pub not_done: &'a [NotDone],
    /// Every recorded run of the workspace's checks, oldest first (the history).
    pub history: &'a [RunResults],
    /// The job record of the run.
    pub job: Option<&'a Path>,
    /// When the run started (RFC 3339).
    pub started: String,
    /// Where the report is written: links are relative to its folder.
    pub path: &'a Path,
}

#[derive(Serialize)]
struct View {
    command: String,
    started: String,
    duration: String,
    job: Option<String>,
    /// How many nodes ended each way, by the outcome's word (alphabetical).
    counts: Vec<(&'static str, usize)>,
    timeline: Timeline,
    images: Vec<Image>,
    checks: Vec<Entity>,
    not_done: Vec<NotDoneRow>,
}

#[derive(Serialize)]
struct Timeline {
    width: f64,
    height: f64,
    label_width: f64,
    bars: Vec<Bar>,
    ticks: Vec<Tick>,
}

#[derive(Serialize)]
struct Bar {
    node: String,
    result: Outcome,
    y: f64,
    x: f64,
    width: f64,
    title: String,
}

#[derive(Serialize)]
struct Tick {
    x: f64,
    label: String,
}

#[derive(Serialize)]
struct Image {
    step: String,
    source: Outcome,
    image: String,
    time: String,
}

#[derive(Serialize)]
struct Entity {
    check: String,
    key: String,
    class: String,
    time: String,
    cached: bool,
    output: String,
    log: Option<String>,
    artifacts: Vec<Artifact>,
    history: Vec<Mark>,
    last_passed: Option<String>,
}

#[derive(Serialize)]
struct Artifact {
    name: String,
    href: String,
    image: bool,
}

#[derive(Clone, Serialize)]
struct Mark {
    class: String,
    title: String,
}

#[derive(Serialize)]
struct NotDoneRow {
    node: String,
    why: String,
}

/// The report page.
pub fn render(inputs: &Inputs<'_>) -> String {
    let view = view(inputs);
    let mut env = minijinja::Environment::new();
    // Every value the page shows as text (a log tail, a date, a path) is escaped, and
    // made `printable` first: a control character is no HTML, and the page may be read
    // in a terminal.
    env.set_formatter(|out, state, value| match value.as_str() {
        Some(text) if !value.is_safe() => minijinja::escape_formatter(
            out,
            state,
            &minijinja::Value::from(printable(text).as_ref()),
        ),
        _ => minijinja::escape_formatter(out, state, value),
    });
    let rendered = env
        .add_template("report.html", TEMPLATE)
        .and_then(|()| env.get_template("report.html"))
        .and_then(|template| template.render(minijinja::value::Serde(&view)));
    match rendered {
        Ok(page) => page,
        // The template is kiln's own and tested; should it fail, the page says why.
        Err(e) => format!(
            "<!DOCTYPE html><html><body><p>kiln could not render this report: {}</p></body></html>\n",
            minijinja::HtmlEscape(&e.to_string())
        ),
    }
}

fn view(inputs: &Inputs<'_>) -> View {
    let summary = inputs.summary;
    let base = inputs.path.parent().unwrap_or(Path::new("."));
    let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
    for row in &summary.nodes {
        *counts.entry(row.result.as_str()).or_default() += 1;
    }
    let images = summary
        .nodes
        .iter()
        .filter_map(|row| {
            Some(Image {
                step: row.node.clone(),
                source: row.result,
                image: row.image.clone()?,
                time: time(row.duration_ms),
            })
        })
        .collect();
    let marks = history_marks(inputs.history);
    let checks = inputs
        .results
        .iter()
        .map(|r| {
            let (history, last_passed) = marks
                .get(&(r.check.clone(), r.key.clone()))
                .cloned()
                .unwrap_or_default();
            Entity {
                check: r.check.clone(),
                key: r.key.clone(),
                class: r.class.to_string(),
                time: format_duration(std::time::Duration::from_millis(r.runtime_ms)),
                cached: r.cached,
                output: if r.class == ResultClass::Success {
                    String::new()
                } else {
                    r.output_tail.clone()
                },
                log: r.log.as_deref().map(|log| relative(base, Path::new(log))),
                artifacts: r
                    .artifacts
                    .iter()
                    .filter_map(|name| {
                        // A cached result's files are in the job record of the run that
                        // produced it, where its log is.
                        let job = r
                            .log
                            .as_deref()
                            .and_then(|log| Path::new(log).parent()?.parent())
                            .or(inputs.job)?;
                        let file = job.join("artifacts").join(&r.key).join(name);
                        Some(Artifact {
                            name: name.clone(),
                            href: relative(base, &file),
                            image: is_image(name),
                        })
                    })
                    .collect(),
                history,
                last_passed,
            }
        })
        .collect();
    View {
        command: summary.command.clone(),
        started: inputs.started.clone(),
        duration: format_duration(std::time::Duration::from_millis(summary.elapsed_ms)),
        job: inputs.job.map(|job| relative(base, job)),
        counts: counts.into_iter().collect(),
        timeline: timeline(summary),
        images,
        checks,
        not_done: inputs
            .not_done
            .iter()
            .map(|n| NotDoneRow {
                node: n.node.clone(),
                why: n.why.clone(),
            })
            .collect(),
    }
}

/// A bar per node that ran, on a scale of the whole run.
fn timeline(summary: &Summary) -> Timeline {
    let rows: Vec<_> = summary
        .nodes
        .iter()
        .filter_map(|row| Some((row, row.started_ms?)))
        .collect();
    let end = rows
        .iter()
        .map(|(row, start)| start + row.duration_ms.unwrap_or(0))
        .chain([summary.elapsed_ms])
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let scale = BARS_WIDTH / end;
    let bars = rows
        .iter()
        .enumerate()
        .map(|(i, (row, start))| {
            let duration = row.duration_ms.unwrap_or(0);
            Bar {
                node: row.node.clone(),
                result: row.result,
                y: i as f64 * ROW_HEIGHT + ROW_HEIGHT,
                x: LABEL_WIDTH + *start as f64 * scale,
                width: (duration as f64 * scale).max(1.5),
                title: format!(
                    "{}: {} — started at {}, took {}",
                    row.node,
                    row.result,
                    format_duration(std::time::Duration::from_millis(*start)),
                    time(Some(duration))
                ),
            }
        })
        .collect();
    let ticks = (0..=4)
        .map(|i| {
            let ms = end * f64::from(i) / 4.0;
            Tick {
                x: LABEL_WIDTH + ms * scale,
                label: if end < 2000.0 {
                    format!("{ms:.0} ms")
                } else {
                    format_duration(std::time::Duration::from_millis(ms as u64))
                },
            }
        })
        .collect();
    Timeline {
        width: LABEL_WIDTH + BARS_WIDTH + 40.0,
        height: (rows.len() as f64 + 1.0) * ROW_HEIGHT + 8.0,
        label_width: LABEL_WIDTH,
        bars,
        ticks,
    }
}

/// Per (check, key): the last [`HISTORY_MARKS`] results, oldest first, and the date of
/// the newest success.
fn history_marks(runs: &[RunResults]) -> BTreeMap<(String, String), (Vec<Mark>, Option<String>)> {
    let mut marks: BTreeMap<(String, String), (Vec<Mark>, Option<String>)> = BTreeMap::new();
    for run in runs {
        for result in &run.results {
            let entry = marks
                .entry((result.check.clone(), result.key.clone()))
                .or_default();
            entry.0.push(Mark {
                class: result.class.to_string(),
                title: format!(
                    "{} {}{}",
                    result.date,
                    result.class,
                    if result.cached { " (cached)" } else { "" }
                ),
            });
            if result.class == ResultClass::Success {
                entry.1 = Some(result.date.clone());
            }
        }
    }
    for (history, _) in marks.values_mut() {
        let extra = history.len().saturating_sub(HISTORY_MARKS);
        history.drain(..extra);
    }
    marks
}

fn time(ms: Option<u64>) -> String {
    ms.map(|ms| format_duration(std::time::Duration::from_millis(ms)))
        .unwrap_or_else(|| "-".to_owned())
}

fn is_image(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp"]
        .iter()
        .any(|ext| lower.ends_with(ext))
}

/// `to` as a link from the folder `from`: relative when both are absolute (`../x`),
/// else as it is; always with `/`. (A few lines rather than a crate for it.)
pub fn relative(from: &Path, to: &Path) -> String {
    if !(from.is_absolute() && to.is_absolute()) {
        return to.to_string_lossy().replace('\\', "/");
    }
    let from: Vec<Component> = from.components().collect();
    let to_parts: Vec<Component> = to.components().collect();
    let common = from
        .iter()
        .zip(&to_parts)
        .take_while(|(a, b)| a == b)
        .count();
    let mut path = PathBuf::new();
    for _ in common..from.len() {
        path.push("..");
    }
    for part in &to_parts[common..] {
        path.push(part.as_os_str());
    }
    path.to_string_lossy().replace('\\', "/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_relative_to_the_report() {
        assert_eq!(
            relative(
                Path::new("/w/reports"),
                Path::new("/w/.kiln/jobs/j/logs/a.log")
            ),
            "../.kiln/jobs/j/logs/a.log"
        );
        assert_eq!(relative(Path::new("/w"), Path::new("/w/x.png")), "x.png");
    }

    #[test]
    fn the_history_keeps_the_last_marks_and_the_last_pass() {
        let result = |date: &str, class: ResultClass| EntityResult {
            key: "k".to_owned(),
            check: "f/c".to_owned(),
            class,
            exit_code: None,
            runtime_ms: 1,
            date: date.to_owned(),
            environment: String::new(),
            image_id: String::new(),
            container: None,
            cached: false,
            output_tail: String::new(),
            log: None,
            artifacts: Vec::new(),
        };
        let runs: Vec<RunResults> = (0..20)
            .map(|i| RunResults {
                format: 1,
                started: String::new(),
                job: None,
                results: vec![result(
                    &format!("d{i:02}"),
                    if i == 5 {
                        ResultClass::Success
                    } else {
                        ResultClass::ScriptError
                    },
                )],
                not_done: Vec::new(),
                partition: None,
            })
            .collect();
        let marks = history_marks(&runs);
        let (history, passed) = &marks[&("f/c".to_owned(), "k".to_owned())];
        assert_eq!(history.len(), HISTORY_MARKS);
        assert!(history[0].title.starts_with("d08"));
        assert_eq!(passed.as_deref(), Some("d05"));
    }
}
