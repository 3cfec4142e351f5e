//! The files a workflow's `report` task asks for — JUnit XML (one test suite per check,
//! one test case per entity), a self-contained HTML page, and JSON — written by a
//! listener when the run ends, however it ended: after a failed build or an interrupt
//! they are needed most, and list what was not done.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use serde::Serialize;

use crate::check::outcome::ResultClass;
use crate::check::results::{EntityResult, History, RunResults};
use crate::engine::{Event, Subscriber};
use crate::job::write_atomic;
use crate::model::ReportOutputs;
use crate::plan::Output;

use super::outcome::Outcome;
use super::summary::Summary;

/// One step of the run: `flavor/step` and where its image came from.
#[derive(Debug, Clone, Serialize)]
pub struct BuiltStep {
    pub step: String,
    pub image: String,
    pub source: Outcome,
}

/// Work that did not succeed (a failed build, a check whose environment could not be
/// built, an entity cancelled by an interrupt): the report still runs and says so.
#[derive(Debug, Clone, Serialize)]
pub struct NotDone {
    pub node: String,
    pub why: String,
    /// `failed`, `skipped` (a dependency failed, or a stop) or `cancelled`.
    pub result: Outcome,
}

/// Writes report files when the run ends.
pub struct ReportFiles {
    root: PathBuf,
    outputs: Vec<ReportOutputs>,
    summary: Summary,
    /// The workspace's results history (`.kiln/results`), for the HTML report.
    history: History,
    /// The run's job record.
    job: Option<PathBuf>,
    /// When the run started.
    started: SystemTime,
}

impl ReportFiles {
    /// Files of `outputs`, relative to `root`; `history` is the workspace's results
    /// folder, `job` the run's job record.
    pub fn new(
        root: &Path,
        outputs: Vec<ReportOutputs>,
        command: &str,
        history: History,
        job: Option<PathBuf>,
    ) -> Self {
        Self {
            root: root.to_owned(),
            outputs,
            summary: Summary::new(command),
            history,
            job,
            started: SystemTime::now(),
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
                        source: row.result,
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
                    _ => row.result.to_string(),
                },
                result: row.result,
            })
            .collect();
        let history = self.history.runs().unwrap_or_else(|e| {
            tracing::warn!("the report shows no history: {e}");
            Vec::new()
        });
        let run = Run {
            summary: &self.summary,
            steps: &steps,
            results: &results,
            not_done: &not_done,
            history: &history,
            job: self.job.as_deref(),
            started: self.started,
        };
        for outputs in &self.outputs {
            match write_reports(&self.root, outputs, &run) {
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
/// What one run's reports are made of.
pub struct Run<'a> {
    pub summary: &'a Summary,
    pub steps: &'a [BuiltStep],
    pub results: &'a [EntityResult],
    pub not_done: &'a [NotDone],
    /// The results history, oldest run first (this one included).
    pub history: &'a [RunResults],
    pub job: Option<&'a Path>,
    pub started: SystemTime,
}

pub fn write_reports(
    root: &Path,
    outputs: &ReportOutputs,
    run: &Run<'_>,
) -> std::io::Result<Vec<PathBuf>> {
    let (steps, results, not_done) = (run.steps, run.results, run.not_done);
    let elapsed = Duration::from_millis(run.summary.elapsed_ms);
    let mut written = Vec::new();
    let mut write = |relative: &Path, text: String| -> std::io::Result<()> {
        let path = root.join(relative);
        write_atomic(&path, text.as_bytes())?;
        written.push(path);
        Ok(())
    };
    if let Some(path) = &outputs.junit {
        write(
            path,
            junit(results, not_done, run.started + elapsed, elapsed),
        )?;
    }
    if let Some(path) = &outputs.html {
        let started: DateTime<Utc> = run.started.into();
        let page = super::html::render(&super::html::Inputs {
            summary: run.summary,
            results,
            not_done,
            history: run.history,
            job: run.job,
            started: started.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            path: &root.join(path),
        });
        write(path, page)?;
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

/// JUnit XML through quick-junit, valid against Jenkins' junit-10.xsd (xunit-plugin):
/// one test suite per check, one test case per entity. Script errors and timeouts are
/// failures; inaccurate results pass, with the class and output in `system-out`.
/// Nodes that did not finish are test cases of a suite `kiln`: a failed one (a build,
/// an environment) is an error, one that never ran (its dependency failed, an
/// interrupt) is skipped — so a CI dashboard shows a broken run, not fewer tests.
/// `finished`/`elapsed`: when the run ended and how long it took (the suites' timestamp
/// is its start).
pub fn junit(
    results: &[EntityResult],
    not_done: &[NotDone],
    finished: SystemTime,
    elapsed: Duration,
) -> String {
    let started: DateTime<Utc> = (finished - elapsed).into();
    let started = started.fixed_offset();
    let mut report = Report::new("kiln");
    report.set_time(elapsed);
    if !not_done.is_empty() {
        let mut suite = TestSuite::new("kiln");
        suite.set_timestamp(started);
        for node in not_done {
            let status = if node.result == Outcome::Failed {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
                status.set_type("not-done").set_message(node.why.as_str());
                status
            } else {
                let mut status = TestCaseStatus::skipped();
                status.set_message(node.why.as_str());
                status
            };
            let mut case = TestCase::new(node.node.as_str(), status);
            case.set_classname("kiln");
            suite.add_test_case(case);
        }
        report.add_test_suite(suite);
    }
    let mut checks: Vec<&str> = results.iter().map(|r| r.check.as_str()).collect();
    checks.sort_unstable();
    checks.dedup();
    for check in checks {
        let mut suite = TestSuite::new(check);
        suite.set_timestamp(started);
        let mut time = Duration::ZERO;
        for r in results.iter().filter(|r| r.check == check) {
            let runtime = Duration::from_millis(r.runtime_ms);
            time += runtime;
            let mut case = TestCase::new(r.key.as_str(), entity_status(r));
            case.set_classname(check).set_time(runtime);
            if r.class == ResultClass::Inaccurate {
                case.set_system_out(format!("inaccurate\n{}", r.output_tail));
            }
            suite.add_test_case(case);
        }
        suite.set_time(time);
        report.add_test_suite(suite);
    }
    let xml = report
        .to_string()
        .unwrap_or_else(|e| format!("<!-- cannot write the report: {e} -->\n"));
    without_testsuites_skipped(xml)
}

/// How an entity's result shows in JUnit.
fn entity_status(r: &EntityResult) -> TestCaseStatus {
    match r.class {
        ResultClass::Success | ResultClass::Inaccurate => TestCaseStatus::success(),
        ResultClass::ScriptError | ResultClass::Timeout => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status
                .set_type(r.class.to_string())
                .set_message(match r.exit_code {
                    Some(code) => format!("{} (exit code {code})", r.class),
                    None => r.class.to_string(),
                })
                .set_description(r.output_tail.as_str());
            status
        }
    }
}

/// quick-junit writes a `skipped` count on `<testsuites>`, which Jenkins' junit-10.xsd
/// does not allow there (only on `<testsuite>`, where it stays): Jenkins' xUnit plugin
/// would refuse the whole file. The count is taken out of the first tag; nothing else
/// is touched.
fn without_testsuites_skipped(xml: String) -> String {
    let Some(start) = xml.find("<testsuites") else {
        return xml;
    };
    let end = xml[start..].find('>').map_or(xml.len(), |e| start + e);
    let tag = &xml[start..end];
    let Some(at) = tag.find(" skipped=\"") else {
        return xml;
    };
    let value_end = tag[at + 10..]
        .find('"')
        .map_or(tag.len(), |e| at + 10 + e + 1);
    format!("{}{}{}", &xml[..start + at], &tag[value_end..], &xml[end..])
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
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let xml = junit(
            &[
                result("ok", ResultClass::Success, ""),
                result("bad", ResultClass::ScriptError, "x < y & \"z\""),
            ],
            &[],
            at,
            Duration::from_secs(10),
        );
        assert!(
            xml.contains(
                "<testsuites name=\"kiln\" tests=\"2\" failures=\"1\" errors=\"0\" time=\"10.000\">"
            ),
            "{xml}"
        );
        assert!(
            xml.contains("<testsuite name=\"env/models\" tests=\"2\" skipped=\"0\" errors=\"0\" failures=\"1\" timestamp=\"2027-01-15T07:59:50.000+00:00\""),
            "{xml}"
        );
        assert!(
            xml.contains("<testcase name=\"ok\" classname=\"env/models\" time=\"0.250\""),
            "{xml}"
        );
        assert!(xml.contains("x &lt; y &amp; &quot;z&quot;"), "{xml}");
        assert!(!xml.contains("<testsuite name=\"kiln\""), "{xml}");
    }

    #[test]
    fn work_that_never_ran_is_skipped_and_a_failed_build_an_error() {
        let not_done = |node: &str, result: Outcome| NotDone {
            node: node.to_owned(),
            why: format!("{result}: because"),
            result,
        };
        let xml = junit(
            &[],
            &[
                not_done("f/base", Outcome::Failed),
                not_done("f/app", Outcome::Skipped),
            ],
            SystemTime::now(),
            Duration::from_secs(1),
        );
        assert!(
            xml.contains("<testsuites name=\"kiln\" tests=\"2\" failures=\"0\" errors=\"1\""),
            "{xml}"
        );
        assert!(
            xml.contains("<skipped message=\"skipped: because\"/>"),
            "{xml}"
        );
        assert!(
            xml.contains("<error message=\"failed: because\" type=\"not-done\"/>"),
            "{xml}"
        );
    }

    #[test]
    fn only_the_testsuites_tag_loses_its_skipped_count() {
        let xml = "<?xml?>\n<testsuites name=\"k\" tests=\"1\" skipped=\"1\" failures=\"0\">\n<testsuite skipped=\"1\">".to_owned();
        assert_eq!(
            without_testsuites_skipped(xml),
            "<?xml?>\n<testsuites name=\"k\" tests=\"1\" failures=\"0\">\n<testsuite skipped=\"1\">"
        );
    }

    #[test]
    fn a_failed_node_is_an_error_test_case_with_its_reason() {
        let not_done = [NotDone {
            node: "slc/release:build".to_owned(),
            why: "failed: RUN false <exit 1>".to_owned(),
            result: Outcome::Failed,
        }];
        let xml = junit(
            &[result("ok", ResultClass::Success, "")],
            &not_done,
            SystemTime::now(),
            Duration::from_secs(1),
        );
        assert!(
            xml.contains("<testsuites name=\"kiln\" tests=\"2\" failures=\"0\" errors=\"1\""),
            "{xml}"
        );
        assert!(
            xml.contains("<testcase name=\"slc/release:build\" classname=\"kiln\">"),
            "{xml}"
        );
        assert!(
            xml.contains("message=\"failed: RUN false &lt;exit 1&gt;\""),
            "{xml}"
        );
        let summary = Summary::new("run-ci");
        let page = super::super::html::render(&super::super::html::Inputs {
            summary: &summary,
            results: &[],
            not_done: &not_done,
            history: &[],
            job: None,
            started: "2026-12-06 05:00:00 UTC".to_owned(),
            path: Path::new("/w/reports/index.html"),
        });
        assert!(page.contains("<h2>Not done</h2>"), "{page}");
        assert!(
            page.contains("<td>slc&#x2f;release:build</td>"),
            "escaped like every value: {page}"
        );
        assert!(page.contains("failed: RUN false &lt;exit 1&gt;"), "{page}");
    }

    #[test]
    fn a_timeout_has_no_exit_code_in_its_message() {
        let mut timed_out = result("slow", ResultClass::Timeout, "");
        timed_out.exit_code = None;
        let xml = junit(&[timed_out], &[], SystemTime::now(), Duration::ZERO);
        assert!(xml.contains("message=\"timeout\""), "{xml}");
    }
}
