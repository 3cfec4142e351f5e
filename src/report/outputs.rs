//! The files a workflow's `report` task asks for — JUnit XML (one test suite per check,
//! one test case per entity), a self-contained HTML page, and JSON — written by a
//! listener when the run ends, however it ended: after a failed build or an interrupt
//! they are needed most, and list what was not done.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::check::outcome::ResultClass;
use crate::check::results::EntityResult;
use crate::engine::{Event, Subscriber};
use crate::model::ReportOutputs;
use crate::plan::Output;

use super::summary::Summary;

/// One step of the run: `flavor/step` and where its image came from.
#[derive(Debug, Clone, Serialize)]
pub struct BuiltStep {
    pub step: String,
    pub image: String,
    pub source: String,
}

/// Work that did not succeed (a failed build, a check whose environment could not be
/// built, an entity cancelled by an interrupt): the report still runs and says so.
#[derive(Debug, Clone, Serialize)]
pub struct NotDone {
    pub node: String,
    pub why: String,
}

/// Writes report files when the run ends.
pub struct ReportFiles {
    root: PathBuf,
    outputs: Vec<ReportOutputs>,
    summary: Summary,
}

impl ReportFiles {
    /// Files of `outputs`, relative to `root`.
    pub fn new(root: &Path, outputs: Vec<ReportOutputs>) -> Self {
        Self {
            root: root.to_owned(),
            outputs,
            summary: Summary::new("report"),
        }
    }
}

impl Subscriber<Output> for ReportFiles {
    fn event(&mut self, event: &Event<Output>) {
        self.summary.apply(event);
    }

    fn finished(&mut self, cancelled: bool) {
        self.summary.finish(cancelled);
        let steps: Vec<BuiltStep> = {
            let mut steps: Vec<BuiltStep> = self
                .summary
                .nodes
                .iter()
                .filter_map(|row| {
                    Some(BuiltStep {
                        step: row.node.clone(),
                        image: row.image.clone()?,
                        source: row.result.clone(),
                    })
                })
                .collect();
            steps.sort_by(|a, b| a.step.cmp(&b.step));
            steps
        };
        let mut results: Vec<EntityResult> = self.summary.entities().cloned().collect();
        results.sort_by(|a, b| (&a.check, &a.key).cmp(&(&b.check, &b.key)));
        let not_done: Vec<NotDone> = self
            .summary
            .nodes
            .iter()
            .filter(|row| row.not_done())
            .map(|row| NotDone {
                node: row.node.clone(),
                why: match (&row.error, &row.reason) {
                    (Some(error), _) => format!("failed: {error}"),
                    (_, Some(reason)) => format!("skipped: {reason}"),
                    _ => row.result.clone(),
                },
            })
            .collect();
        for outputs in &self.outputs {
            match write_reports(&self.root, outputs, &steps, &results, &not_done) {
                Ok(written) => {
                    for path in written {
                        tracing::info!("wrote {}", path.display());
                    }
                }
                Err(e) => tracing::error!("cannot write the report: {e}"),
            }
        }
    }
}

/// Writes the outputs asked for (paths relative to `root`); returns the files written.
pub fn write_reports(
    root: &Path,
    outputs: &ReportOutputs,
    steps: &[BuiltStep],
    results: &[EntityResult],
    not_done: &[NotDone],
) -> std::io::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    let mut write = |relative: &Path, text: String| -> std::io::Result<()> {
        let path = root.join(relative);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let temp = path.with_extension("tmp-kiln");
        std::fs::write(&temp, text)?;
        std::fs::rename(&temp, &path)?;
        written.push(path);
        Ok(())
    };
    if let Some(path) = &outputs.junit {
        write(path, junit(results, not_done))?;
    }
    if let Some(path) = &outputs.html {
        write(path, html(steps, results, not_done))?;
    }
    if let Some(path) = &outputs.json {
        let text = serde_json::to_string_pretty(&serde_json::json!({
            "format": 1,
            "steps": steps,
            "results": results,
            "not_done": not_done,
        }))
        .map_err(std::io::Error::other)?;
        write(path, text + "\n")?;
    }
    Ok(written)
}

/// JUnit XML: script errors and timeouts are failures; inaccurate results pass with a
/// note in `system-out`. Work that did not succeed is a failing test case of a suite
/// `kiln`, so a CI dashboard shows a failed build rather than fewer tests.
pub fn junit(results: &[EntityResult], not_done: &[NotDone]) -> String {
    let mut checks: Vec<&str> = results.iter().map(|r| r.check.as_str()).collect();
    checks.sort();
    checks.dedup();
    let failures = results.iter().filter(|r| r.class.is_failure()).count() + not_done.len();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"kiln\" tests=\"{}\" failures=\"{failures}\">",
        results.len() + not_done.len()
    );
    if !not_done.is_empty() {
        let _ = writeln!(
            out,
            "  <testsuite name=\"kiln\" tests=\"{0}\" failures=\"{0}\" time=\"0.000\">",
            not_done.len()
        );
        for n in not_done {
            let _ = writeln!(
                out,
                "    <testcase classname=\"kiln\" name=\"{}\" time=\"0.000\"><failure type=\"not-done\" message=\"{}\"></failure></testcase>",
                xml(&n.node),
                xml(&n.why)
            );
        }
        out.push_str("  </testsuite>\n");
    }
    for check in checks {
        let cases: Vec<&EntityResult> = results.iter().filter(|r| r.check == check).collect();
        let failed = cases.iter().filter(|r| r.class.is_failure()).count();
        let time: f64 = cases.iter().map(|r| r.runtime_ms as f64 / 1000.0).sum();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failed}\" time=\"{time:.3}\">",
            xml(check),
            cases.len()
        );
        for r in cases {
            let _ = write!(
                out,
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\">",
                xml(check),
                xml(&r.key),
                r.runtime_ms as f64 / 1000.0
            );
            match r.class {
                ResultClass::Success => {}
                ResultClass::Inaccurate => {
                    let _ = write!(
                        out,
                        "<system-out>inaccurate\n{}</system-out>",
                        xml(&r.output_tail)
                    );
                }
                ResultClass::ScriptError | ResultClass::Timeout => {
                    let _ = write!(
                        out,
                        "<failure type=\"{}\" message=\"{}\">{}</failure>",
                        r.class,
                        xml(&match r.exit_code {
                            Some(code) => format!("{} (exit code {code})", r.class),
                            None => r.class.to_string(),
                        }),
                        xml(&r.output_tail)
                    );
                }
            }
            out.push_str("</testcase>\n");
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

fn html(steps: &[BuiltStep], results: &[EntityResult], not_done: &[NotDone]) -> String {
    let mut out = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>kiln report</title>\n<style>body{font-family:sans-serif}td,th{padding:2px 8px;text-align:left}.success{color:#080}.inaccurate{color:#a60}.script-error,.timeout{color:#c00}pre{margin:0}</style></head><body>\n",
    );
    out.push_str("<h1>kiln report</h1>\n");
    if !not_done.is_empty() {
        out.push_str("<h2>Not done</h2>\n<table><tr><th>node</th><th>what happened</th></tr>\n");
        for n in not_done {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td class=\"script-error\">{}</td></tr>",
                xml(&n.node),
                xml(&n.why)
            );
        }
        out.push_str("</table>\n");
    }
    out.push_str("<h2>Images</h2>\n<table><tr><th>step</th><th>from</th><th>image</th></tr>\n");
    for s in steps {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            xml(&s.step),
            xml(&s.source),
            xml(&s.image)
        );
    }
    out.push_str("</table>\n<h2>Checks</h2>\n<table><tr><th>check</th><th>entity</th><th>result</th><th>time</th><th>output</th></tr>\n");
    for r in results {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td class=\"{}\">{}{}</td><td>{:.1}s</td><td><pre>{}</pre></td></tr>",
            xml(&r.check),
            xml(&r.key),
            r.class,
            r.class,
            if r.cached { " (cached)" } else { "" },
            r.runtime_ms as f64 / 1000.0,
            if r.class == ResultClass::Success {
                String::new()
            } else {
                xml(&r.output_tail)
            }
        );
    }
    out.push_str("</table>\n</body></html>\n");
    out
}

/// Escapes text for XML and HTML (content and attribute values); drops characters XML
/// 1.0 cannot hold.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(key: &str, class: ResultClass, tail: &str) -> EntityResult {
        EntityResult {
            key: key.to_owned(),
            check: "env/models".to_owned(),
            class,
            exit_code: Some(1),
            runtime_ms: 250,
            date: String::new(),
            environment: String::new(),
            image_id: String::new(),
            container: None,
            cached: false,
            output_tail: tail.to_owned(),
            log: None,
            artifacts: vec![],
        }
    }

    #[test]
    fn junit_marks_failures_and_escapes_output() {
        let xml = junit(
            &[
                result("ok", ResultClass::Success, ""),
                result("bad", ResultClass::ScriptError, "x < y & \"z\"\u{1}"),
            ],
            &[],
        );
        assert!(
            xml.contains("<testsuites name=\"kiln\" tests=\"2\" failures=\"1\">"),
            "{xml}"
        );
        assert!(
            xml.contains(
                "<testcase classname=\"env/models\" name=\"ok\" time=\"0.250\"></testcase>"
            ),
            "{xml}"
        );
        assert!(
            xml.contains(">x &lt; y &amp; &quot;z&quot;</failure>"),
            "{xml}"
        );
        assert!(!xml.contains("<testsuite name=\"kiln\""), "{xml}");
    }

    #[test]
    fn work_not_done_is_a_failing_test_case() {
        let not_done = [NotDone {
            node: "slc/release:build".to_owned(),
            why: "failed: RUN false <exit 1>".to_owned(),
        }];
        let xml = junit(&[result("ok", ResultClass::Success, "")], &not_done);
        assert!(
            xml.contains("<testsuites name=\"kiln\" tests=\"2\" failures=\"1\">"),
            "{xml}"
        );
        assert!(
            xml.contains("<testcase classname=\"kiln\" name=\"slc/release:build\" time=\"0.000\"><failure type=\"not-done\" message=\"failed: RUN false &lt;exit 1&gt;\">"),
            "{xml}"
        );
        let page = html(&[], &[], &not_done);
        assert!(page.contains("<h2>Not done</h2>"), "{page}");
        assert!(page.contains("<td>slc/release:build</td>"), "{page}");
    }

    #[test]
    fn a_timeout_has_no_exit_code_in_its_message() {
        let mut timed_out = result("slow", ResultClass::Timeout, "");
        timed_out.exit_code = None;
        let xml = junit(&[timed_out], &[]);
        assert!(xml.contains("message=\"timeout\""), "{xml}");
    }
}
