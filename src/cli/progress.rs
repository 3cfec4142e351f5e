//! Progress on the console: an indicatif bar on a terminal, plain lines otherwise (CI
//! logs). Driven by the engine's events.

use std::collections::{BTreeMap, HashMap};
use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::check::outcome::ResultClass;
use crate::engine::{Event, EventKind, NodeId, Subscriber};
use crate::plan::Output;
use crate::report::summary::format_duration;

/// Renders events on stderr.
pub struct Progress {
    bar: Option<ProgressBar>,
    color: bool,
    started: HashMap<NodeId, Duration>,
    /// Running nodes, shown in the bar's message.
    running: BTreeMap<NodeId, String>,
}

impl Progress {
    /// A bar when stderr is a terminal, plain lines otherwise.
    pub fn new(color: bool) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{spinner} [{pos}/{len}] {elapsed} {wide_msg}")
                    .expect("the template is valid"),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Self {
            bar,
            color,
            started: HashMap::new(),
            running: BTreeMap::new(),
        }
    }

    fn line(&self, text: String) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => {
                let _ = writeln!(std::io::stderr().lock(), "{text}");
            }
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    fn took(&self, event: &Event<Output>) -> String {
        self.started
            .get(&event.node)
            .map(|start| format!(" ({})", format_duration(event.at.saturating_sub(*start))))
            .unwrap_or_default()
    }

    fn refresh(&self) {
        if let Some(bar) = &self.bar {
            let names: Vec<&str> = self.running.values().map(String::as_str).collect();
            bar.set_message(names.join(", "));
        }
    }
}

impl Subscriber<Output> for Progress {
    fn started(&mut self, nodes: usize) {
        if let Some(bar) = &self.bar {
            bar.set_length(nodes as u64);
        }
    }

    fn event(&mut self, event: &Event<Output>) {
        let finished = match &event.kind {
            EventKind::Queued => false,
            EventKind::Started => {
                self.started.insert(event.node, event.at);
                self.running.insert(event.node, event.id.clone());
                if self.bar.is_none() {
                    self.line(format!("{} {}", self.paint("2", "start"), event.id));
                }
                false
            }
            EventKind::Succeeded => {
                // An entity shows its class: a script error is not a green `done`.
                let (color, mark, what) = match event.output.as_deref() {
                    Some(Output::Entity(result)) => match result.class {
                        ResultClass::Success => ("32", "ok   ", String::new()),
                        ResultClass::Inaccurate => ("33", "warn ", format!(": {}", result.class)),
                        ResultClass::ScriptError | ResultClass::Timeout => {
                            ("31", "FAIL ", format!(": {}", result.class))
                        }
                    },
                    Some(Output::Image(image)) => ("32", "done ", format!(" [{}]", image.result())),
                    _ => ("32", "done ", String::new()),
                };
                self.line(format!(
                    "{} {}{}{what}",
                    self.paint(color, mark),
                    event.id,
                    self.took(event)
                ));
                true
            }
            EventKind::Failed { error, .. } => {
                let first = error.lines().next().unwrap_or_default();
                self.line(format!(
                    "{} {}{}: {first}",
                    self.paint("31", "FAIL "),
                    event.id,
                    self.took(event)
                ));
                true
            }
            EventKind::Skipped { reason } => {
                self.line(format!(
                    "{} {}: {reason}",
                    self.paint("33", "skip "),
                    event.id
                ));
                true
            }
            EventKind::Cancelled => {
                self.line(format!("{} {}", self.paint("33", "stop "), event.id));
                true
            }
            EventKind::Expanded { added, .. } => {
                if let Some(bar) = &self.bar {
                    bar.inc_length(*added as u64);
                }
                // One added node (load, pull or build of a step) shows when it starts.
                if *added > 1 {
                    let line = format!(
                        "{} {} into {added} nodes",
                        self.paint("36", "fork "),
                        event.id
                    );
                    self.line(line);
                }
                true
            }
        };
        if finished {
            self.running.remove(&event.node);
            if let Some(bar) = &self.bar {
                bar.inc(1);
            }
        }
        self.refresh();
    }

    fn finished(&mut self, _cancelled: bool) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
