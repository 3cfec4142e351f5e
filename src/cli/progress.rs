//! Progress on the console, driven by the engine's events. On a terminal: a bar (nodes
//! done of all) with a line per running node under it saying what it is on (for a
//! build, the Dockerfile instruction), and a line for each node as it ends — a failing
//! entity or build the moment it fails, marked as in the final lines. Elsewhere (CI
//! logs): plain lines as nodes start and end. Brief (watch mode): only what did work or
//! went wrong gets a line — not the images the daemon had or the cached results.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::marks::Mark;
use crate::engine::{Event, EventKind, NodeId, Subscriber};
use crate::plan::Output;
use crate::report::Outcome;
use crate::report::printable;
use crate::report::summary::format_duration;

/// At most this many running nodes get a line of their own; the bar counts the rest.
const NODE_LINES: usize = 8;

/// Renders events on stderr.
pub struct Progress {
    live: Option<Live>,
    color: bool,
    brief: bool,
    started: HashMap<NodeId, Duration>,
}

/// The bar and the running nodes' lines, on a terminal.
struct Live {
    multi: MultiProgress,
    bar: ProgressBar,
    /// The line of each running node that has one.
    lines: HashMap<NodeId, ProgressBar>,
    /// Running nodes without a line (more than [`NODE_LINES`] run).
    unlined: usize,
    failed: usize,
}

impl Progress {
    /// A bar when stderr is a terminal, plain lines otherwise.
    pub fn new(color: bool, brief: bool) -> Self {
        let live = std::io::stderr().is_terminal().then(|| {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let bar = multi.add(ProgressBar::new(0));
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{bar:30.green/dim}] {pos}/{len} nodes  {elapsed}  {msg}",
                )
                .expect("the template is valid")
                .progress_chars("=> "),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            Live {
                multi,
                bar,
                lines: HashMap::new(),
                unlined: 0,
                failed: 0,
            }
        });
        Self {
            live,
            color,
            brief,
            started: HashMap::new(),
        }
    }

    /// A line above the bar (or on stderr without one).
    fn line(&self, text: String) {
        match &self.live {
            Some(live) => {
                let _ = live.multi.println(text);
            }
            None => {
                let _ = writeln!(std::io::stderr().lock(), "{text}");
            }
        }
    }

    fn took(&self, event: &Event<Output>) -> String {
        self.started
            .get(&event.node)
            .map(|start| format!(" ({})", format_duration(event.at.saturating_sub(*start))))
            .unwrap_or_default()
    }

    /// `FAIL checkenv/entities/broken (0.3s): script-error`.
    fn ended(&self, mark: Mark, event: &Event<Output>, what: &str) {
        self.line(format!(
            "{} {}{}{what}",
            mark.show(self.color),
            event.id,
            self.took(event)
        ));
    }

    fn start(&mut self, event: &Event<Output>) {
        self.started.insert(event.node, event.at);
        let Some(live) = &mut self.live else {
            if !self.brief {
                self.line(format!("{} {}", Mark::Start.show(self.color), event.id));
            }
            return;
        };
        if live.lines.len() >= NODE_LINES {
            live.unlined += 1;
            return;
        }
        let line = live
            .multi
            .insert_before(&live.bar, ProgressBar::new_spinner());
        line.set_style(
            ProgressStyle::with_template("  {prefix} {elapsed:>4}  {wide_msg:.dim}")
                .expect("the template is valid"),
        );
        line.set_prefix(event.id.clone());
        // Its own tick keeps its time running between messages.
        line.enable_steady_tick(Duration::from_millis(500));
        live.lines.insert(event.node, line);
    }

    /// The node's line goes; what it came to is printed by the caller.
    fn end(&mut self, node: NodeId, failed: bool) {
        if let Some(live) = &mut self.live {
            match live.lines.remove(&node) {
                Some(line) => {
                    line.finish_and_clear();
                    live.multi.remove(&line);
                }
                None if self.started.contains_key(&node) => {
                    live.unlined = live.unlined.saturating_sub(1);
                }
                None => {}
            }
            live.failed += usize::from(failed);
            live.bar.inc(1);
            let mut message = Vec::new();
            if live.unlined > 0 {
                message.push(format!("{} more running", live.unlined));
            }
            if live.failed > 0 {
                message.push(format!("{} failed", live.failed));
            }
            live.bar.set_message(message.join(", "));
        }
    }
}

impl Subscriber<Output> for Progress {
    fn started(&mut self, nodes: usize) {
        if let Some(live) = &self.live {
            live.bar.set_length(nodes as u64);
        }
    }

    fn event(&mut self, event: &Event<Output>) {
        match &event.kind {
            EventKind::Queued => {}
            EventKind::Started => self.start(event),
            EventKind::Status { message } => {
                if let Some(line) = self.live.as_ref().and_then(|l| l.lines.get(&event.node)) {
                    line.set_message(printable(message).into_owned());
                }
            }
            EventKind::Succeeded => {
                // An entity shows its class: a script error is not a green `done`.
                let (mark, what) = match event.output.as_deref() {
                    Some(Output::Entity(result)) => {
                        let mark = Mark::of_class(result.class);
                        let what = if mark == Mark::Ok {
                            String::new()
                        } else {
                            format!(": {}", result.class)
                        };
                        (mark, what)
                    }
                    Some(Output::Image(image)) => {
                        (Mark::Done, format!(" [{}]", Outcome::of_image(image)))
                    }
                    _ => (Mark::Done, String::new()),
                };
                let worked = event.output.as_deref().is_some_and(Output::did_work);
                if !self.brief || worked {
                    self.ended(mark, event, &what);
                }
                self.end(event.node, mark == Mark::Fail);
            }
            EventKind::Failed { error, .. } => {
                // An error can quote what it read (a file name, a daemon's answer).
                let first = error.lines().next().unwrap_or_default();
                self.ended(Mark::Fail, event, &format!(": {}", printable(first)));
                self.end(event.node, true);
            }
            EventKind::Skipped { reason } => {
                self.ended(Mark::Skip, event, &format!(": {reason}"));
                self.end(event.node, false);
            }
            EventKind::Cancelled => {
                self.ended(Mark::Stop, event, "");
                self.end(event.node, false);
            }
            EventKind::Expanded { added, .. } => {
                if let Some(live) = &self.live {
                    live.bar.inc_length(*added as u64);
                }
                // One added node (load, pull or build of a step) shows when it starts.
                if *added > 1 && !self.brief {
                    self.line(format!(
                        "{} {} into {added} nodes",
                        Mark::Fork.show(self.color),
                        event.id
                    ));
                }
                self.end(event.node, false);
            }
        }
    }

    fn finished(&mut self, _cancelled: bool) {
        if let Some(live) = self.live.take() {
            for line in live.lines.values() {
                line.finish_and_clear();
            }
            live.bar.finish_and_clear();
            let _ = live.multi.clear();
        }
    }
}
