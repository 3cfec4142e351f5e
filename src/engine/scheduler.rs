//! The run loop: start ready nodes up to the job limit, record what they return, release
//! or skip their dependents, grow the graph on expansion, stop on failure or
//! cancellation.
//!
//! One task owns every piece of state; nodes run on spawned tasks and come back through
//! a [`JoinSet`]. Each node is queued, started and finished once and each edge is looked
//! at a constant number of times, so a run costs O(nodes + edges), plus a binary heap
//! of ready nodes (for the `NodeId` tie-break) and the executors' own work.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::ops::Range;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::{Id, JoinError, JoinSet};
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

use super::error::NodeError;
use super::event::{Event, EventKind, SkipReason, Subscriber};
use super::executor::{Executor, Expansion, Node, RunContext, Step, Unfinished};
use super::graph::{NodeId, RunGraph, Slot};
use super::options::Options;
use super::report::{NodeReport, NodeState, Report};
use super::status::NodeStatus;

/// Runs `graph` with `executor` until every node succeeded, failed, was skipped or was
/// cancelled, and reports what happened. See the module documentation of
/// [`engine`](super) for the rules.
///
/// Tripping `cancel` cancels the token every running node sees, starts nothing new and
/// marks every node that has not started as cancelled; `run` still waits for the running
/// nodes to return (an executor that ignores the token delays the return). Dropping the
/// returned future aborts the scheduler and the running nodes' tasks.
///
/// Must be called within a tokio runtime. The loop runs on a task of its own, so that
/// with a multi-thread runtime it runs on a worker thread next to the nodes' tasks even
/// when the caller is `block_on` (`#[tokio::main]`): waking the thread that called
/// `block_on` for every finished node costs ten times the scheduling itself.
pub async fn run<N: Node, E: Executor<N>>(
    graph: RunGraph<N>,
    executor: Arc<E>,
    options: Options,
    cancel: CancellationToken,
    subscribers: Vec<Box<dyn Subscriber<E::Output>>>,
) -> Report<N, E::Output> {
    let scheduler = Scheduler::new(graph, executor, options, cancel, subscribers);
    match AbortOnDropHandle::new(tokio::spawn(scheduler.run())).await {
        Ok(report) => report,
        // A panic of the scheduler itself (a bug) reaches the caller as it would have
        // without the task.
        Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
        // The runtime is shutting down, which drops this future too.
        Err(_) => std::future::pending().await,
    }
}

/// Where a node is.
enum State<O> {
    /// Waits for `waiting[node]` dependencies.
    Pending,
    /// Ready, in the heap, waits for a job slot.
    Queued,
    Running,
    Succeeded(Arc<O>),
    Failed(NodeError),
    Expanded {
        join: NodeId,
        added: usize,
    },
    Skipped(SkipReason),
    Cancelled,
}

impl<O> State<O> {
    /// Not finished: dependents still wait for it.
    fn is_open(&self) -> bool {
        matches!(self, State::Pending | State::Queued | State::Running)
    }
}

type Outcome<N, O> = Result<Step<N, O>, NodeError>;

struct Scheduler<N: Node, E: Executor<N>> {
    graph: RunGraph<N>,
    executor: Arc<E>,
    jobs: usize,
    keep_going: bool,
    cancel: CancellationToken,
    subscribers: Vec<Box<dyn Subscriber<E::Output>>>,
    start: Instant,
    state: Vec<State<E::Output>>,
    /// Dependencies not finished yet, for `Pending` nodes.
    waiting: Vec<usize>,
    started: Vec<Option<Duration>>,
    finished: Vec<Option<Duration>>,
    expanded_from: Vec<Option<NodeId>>,
    ready: BinaryHeap<Reverse<NodeId>>,
    running: JoinSet<Outcome<N, E::Output>>,
    tasks: HashMap<Id, NodeId>,
    /// Fail-fast: the first failure, which stopped new work.
    stopped: Option<NodeId>,
    cancelled: bool,
    /// Running nodes' status messages ([`NodeStatus`]); the scheduler keeps a sender,
    /// so the channel never closes during the run.
    statuses: mpsc::UnboundedReceiver<(NodeId, String)>,
    status_sender: mpsc::UnboundedSender<(NodeId, String)>,
}

/// What woke the run loop.
enum Wake<N: Node, O> {
    Cancelled,
    Status(NodeId, String),
    Joined(Result<(Id, Outcome<N, O>), JoinError>),
}

impl<N: Node, E: Executor<N>> Scheduler<N, E> {
    fn new(
        graph: RunGraph<N>,
        executor: Arc<E>,
        options: Options,
        cancel: CancellationToken,
        subscribers: Vec<Box<dyn Subscriber<E::Output>>>,
    ) -> Self {
        let n = graph.len();
        let (status_sender, statuses) = mpsc::unbounded_channel();
        Self {
            statuses,
            status_sender,
            waiting: graph
                .node_ids()
                .map(|node| graph.dependencies(node).len())
                .collect(),
            state: (0..n).map(|_| State::Pending).collect(),
            started: vec![None; n],
            finished: vec![None; n],
            expanded_from: vec![None; n],
            graph,
            executor,
            jobs: options.job_limit(),
            keep_going: options.keep_going,
            cancel,
            subscribers,
            start: Instant::now(),
            ready: BinaryHeap::new(),
            running: JoinSet::new(),
            tasks: HashMap::new(),
            stopped: None,
            cancelled: false,
        }
    }

    /// New work may not start.
    fn halted(&self) -> bool {
        self.cancelled || self.stopped.is_some()
    }

    async fn run(mut self) -> Report<N, E::Output> {
        let total = self.graph.len();
        self.each_subscriber(|s| s.started(total));
        let cancel = self.cancel.clone();
        if !cancel.is_cancelled() {
            for node in self.graph.node_ids() {
                if self.waiting[node.index()] == 0 {
                    self.queue(node);
                }
            }
        }
        loop {
            if cancel.is_cancelled() {
                self.on_cancel();
            }
            // After fail-fast or cancellation, only nodes that run after failures are
            // still queued.
            self.start_ready();
            if self.running.is_empty() {
                break;
            }
            // Status messages before joins: a node's messages come before its end.
            let wake = tokio::select! {
                biased;
                () = cancel.cancelled(), if !self.cancelled => Wake::Cancelled,
                Some((node, message)) = self.statuses.recv() => Wake::Status(node, message),
                Some(joined) = self.running.join_next_with_id() => Wake::Joined(joined),
            };
            match wake {
                Wake::Cancelled => {}
                Wake::Status(node, message) => self.status(node, message),
                Wake::Joined(joined) => self.finish(joined),
            }
        }
        self.sweep_all_remaining();
        let cancelled = self.cancelled;
        self.each_subscriber(|s| s.finished(cancelled));
        self.report()
    }

    /// Starts ready nodes, lowest `NodeId` first, while job slots are free.
    fn start_ready(&mut self) {
        while self.running.len() < self.jobs {
            // A subscriber may have cancelled the run while hearing of the last start.
            if self.cancel.is_cancelled() {
                self.on_cancel();
            }
            let Some(Reverse(node)) = self.ready.pop() else {
                break;
            };
            if matches!(self.state[node.index()], State::Queued) {
                self.launch(node);
            }
        }
    }

    fn launch(&mut self, node: NodeId) {
        let i = node.index();
        let mut deps: Vec<(NodeId, Arc<E::Output>)> = self
            .graph
            .dependencies(node)
            .iter()
            .filter_map(|&d| match &self.state[d.index()] {
                State::Succeeded(output) => Some((d, Arc::clone(output))),
                _ => None,
            })
            .collect();
        deps.sort_unstable_by_key(|(d, _)| *d);
        // Only a node that runs after failures can have any (the others start once every
        // dependency succeeded): the common case skips the second pass over the edges.
        let mut unfinished: Vec<Unfinished> = if self.runs_after_failures(node) {
            self.graph
                .dependencies(node)
                .iter()
                .filter_map(|&d| {
                    let why = match &self.state[d.index()] {
                        State::Failed(error) => format!("failed: {error}"),
                        State::Skipped(reason) => format!("skipped: {reason}"),
                        State::Cancelled => "cancelled".to_owned(),
                        _ => return None,
                    };
                    Some(Unfinished {
                        node: d,
                        id: self.id(d).to_owned(),
                        why,
                    })
                })
                .collect()
        } else {
            Vec::new()
        };
        unfinished.sort_unstable_by_key(|u| u.node);
        self.state[i] = State::Running;
        self.started[i] = Some(self.start.elapsed());
        self.emit(node, EventKind::Started);
        let executor = Arc::clone(&self.executor);
        let value = Arc::clone(&self.graph.slot(node).node);
        let cancel = self.cancel.child_token();
        let status = NodeStatus::new(node, self.status_sender.clone());
        let handle = self.running.spawn(async move {
            let ctx = RunContext {
                node,
                cancel,
                deps: deps.iter().map(|(d, output)| (*d, &**output)).collect(),
                unfinished,
                status,
            };
            executor.run(&value, ctx).await
        });
        self.tasks.insert(handle.id(), node);
    }

    /// Records what a node's task returned.
    fn finish(&mut self, joined: Result<(Id, Outcome<N, E::Output>), JoinError>) {
        let (task, outcome, crashed) = match joined {
            Ok((task, outcome)) => (task, outcome, false),
            Err(error) => (error.id(), Err(join_error(error)), true),
        };
        let Some(node) = self.tasks.remove(&task) else {
            return;
        };
        // What the node said before it returned is told before its end.
        while let Ok((from, message)) = self.statuses.try_recv() {
            self.status(from, message);
        }
        self.finished[node.index()] = Some(self.start.elapsed());
        match outcome {
            Ok(Step::Done(output)) => {
                let output = Arc::new(output);
                self.state[node.index()] = State::Succeeded(Arc::clone(&output));
                self.emit_output(node, EventKind::Succeeded, Some(output));
                self.release(node);
            }
            Ok(Step::Expand(expansion)) => {
                if let Err(error) = self.expand(node, expansion) {
                    self.fail(node, error);
                }
            }
            // Most likely the executor obeying the token: not a failure.
            Err(error) if !crashed && self.cancel.is_cancelled() => {
                tracing::debug!(node = %self.id(node), %error, "stopped after cancellation");
                self.state[node.index()] = State::Cancelled;
                self.emit(node, EventKind::Cancelled);
                self.on_cancel();
                self.release_finally(node);
            }
            Err(error) => self.fail(node, error),
        }
    }

    /// A running node said what it does; a message that arrives after its end is late
    /// and dropped.
    fn status(&mut self, node: NodeId, message: String) {
        if matches!(self.state.get(node.index()), Some(State::Running)) {
            self.emit(node, EventKind::Status { message });
        }
    }

    /// The token was cancelled: the first time, nodes that have not started will not.
    fn on_cancel(&mut self) {
        if !self.cancelled {
            self.cancelled = true;
            self.sweep(0..self.graph.len());
        }
    }

    fn fail(&mut self, node: NodeId, error: NodeError) {
        self.emit(
            node,
            EventKind::Failed {
                error: error.to_string(),
                log: error.log().map(ToOwned::to_owned),
            },
        );
        self.state[node.index()] = State::Failed(error);
        self.skip_dependents(
            node,
            SkipReason::DependencyFailed {
                failed: node,
                failed_id: self.id(node).to_owned(),
            },
        );
        if !self.keep_going && self.stopped.is_none() {
            self.stopped = Some(node);
            self.sweep(0..self.graph.len());
        }
    }

    /// Marks everything that waits for `node` (which failed or was skipped) as skipped,
    /// events in `NodeId` order.
    fn skip_dependents(&mut self, node: NodeId, reason: SkipReason) {
        let mut skipped = Vec::new();
        let mut stack = vec![node];
        while let Some(from) = stack.pop() {
            for k in 0..self.graph.dependents(from).len() {
                let dependent = self.graph.dependents(from)[k];
                if !self.runs_after_failures(dependent)
                    && matches!(self.state[dependent.index()], State::Pending)
                {
                    self.state[dependent.index()] = State::Skipped(reason.clone());
                    skipped.push(dependent);
                    stack.push(dependent);
                }
            }
        }
        skipped.sort_unstable();
        for &dependent in &skipped {
            self.emit(
                dependent,
                EventKind::Skipped {
                    reason: reason.clone(),
                },
            );
        }
        // After the skips are told: a node that runs after failures hears of them first.
        self.release_finally(node);
        for dependent in skipped {
            self.release_finally(dependent);
        }
    }

    /// `node` failed or was skipped: its dependents that run after failures count it as
    /// finished.
    fn release_finally(&mut self, node: NodeId) {
        for k in 0..self.graph.dependents(node).len() {
            let dependent = self.graph.dependents(node)[k];
            if self.runs_after_failures(dependent) {
                self.one_less(dependent);
            }
        }
    }

    /// `node` finished successfully (done or expanded): its dependents wait for one
    /// dependency less.
    fn release(&mut self, node: NodeId) {
        for k in 0..self.graph.dependents(node).len() {
            let dependent = self.graph.dependents(node)[k];
            self.one_less(dependent);
        }
    }

    /// One dependency of `node` finished; queues `node` when it was the last one and
    /// `node` may still start.
    fn one_less(&mut self, node: NodeId) {
        let d = node.index();
        if matches!(self.state[d], State::Pending) {
            self.waiting[d] = self.waiting[d].saturating_sub(1);
            let may_start = self.runs_after_failures(node) || !self.halted();
            if self.waiting[d] == 0 && may_start {
                self.queue(node);
            }
        }
    }

    fn runs_after_failures(&self, node: NodeId) -> bool {
        self.graph.slot(node).node.runs_after_failures()
    }

    fn queue(&mut self, node: NodeId) {
        self.state[node.index()] = State::Queued;
        self.ready.push(Reverse(node));
        self.emit(node, EventKind::Queued);
    }

    /// Once halted: nodes in `range` that have not started will not, except those that
    /// run after failures, which wait for their dependencies whatever they come to.
    fn sweep(&mut self, range: Range<usize>) {
        for i in range {
            if !matches!(self.state[i], State::Pending | State::Queued) {
                continue;
            }
            let node = NodeId::new(i);
            match self.stopped {
                _ if self.runs_after_failures(node) => {}
                Some(failed) if !self.cancelled => {
                    let reason = SkipReason::Stopped {
                        failed,
                        failed_id: self.id(failed).to_owned(),
                    };
                    self.state[i] = State::Skipped(reason.clone());
                    self.emit(node, EventKind::Skipped { reason });
                    self.release_finally(node);
                }
                _ => {
                    self.state[i] = State::Cancelled;
                    self.emit(node, EventKind::Cancelled);
                    self.release_finally(node);
                }
            }
        }
    }

    /// The run is over: a node still waiting can never run (an engine bug unless the run
    /// was halted).
    fn sweep_all_remaining(&mut self) {
        for i in 0..self.graph.len() {
            if matches!(self.state[i], State::Pending | State::Queued) {
                if !self.halted() {
                    tracing::error!(node = %self.id(NodeId::new(i)), "engine bug: a node can never run");
                }
                self.state[i] = State::Cancelled;
                self.emit(NodeId::new(i), EventKind::Cancelled);
            }
        }
    }

    /// Adds an expansion's nodes (see [`Expansion`]); on error nothing is added.
    fn expand(&mut self, node: NodeId, expansion: Expansion<N>) -> Result<(), NodeError> {
        let Expansion { nodes, join } = expansion;
        let before = self.graph.len();

        // Each new node's dependencies: the expanding node, its extra dependencies and,
        // for an extra dependency that expanded, its join (and so on).
        let mut resolved = Vec::with_capacity(nodes.len());
        let mut open = HashSet::new();
        for (_, extra) in &nodes {
            let mut deps = vec![node];
            for &dep in extra {
                if dep.index() >= before {
                    return Err(NodeError::message(format!(
                        "expansion of `{}`: no node {dep} to depend on",
                        self.id(node)
                    )));
                }
                let mut dep = dep;
                deps.push(dep);
                while let State::Expanded { join, .. } = self.state[dep.index()] {
                    dep = join;
                    deps.push(dep);
                }
            }
            deps.sort_unstable();
            deps.dedup();
            open.extend(
                deps.iter()
                    .filter(|d| matches!(self.state[d.index()], State::Pending)),
            );
            resolved.push(deps);
        }
        // Only a node that has not started can wait for the expanding node.
        if let Some(cycle) = self.waits_for(node, &open) {
            return Err(NodeError::message(format!(
                "expansion of `{}`: a new node cannot depend on `{}`, which waits for `{}`",
                self.id(node),
                self.id(cycle),
                self.id(node)
            )));
        }

        let old_dependents = self.graph.dependents(node).to_vec();
        let mut blocked = Vec::new();
        let mut added = Vec::with_capacity(nodes.len());
        for ((value, _), deps) in nodes.into_iter().zip(resolved) {
            let finally = value.runs_after_failures();
            let new = self.push_node(value, node);
            for dep in deps {
                if !self.link(new, dep) {
                    continue;
                }
                match &self.state[dep.index()] {
                    state if state.is_open() => self.waiting[new.index()] += 1,
                    // A finished dependency, whatever it came to.
                    _ if finally => {}
                    State::Failed(_) => blocked.push((
                        new,
                        SkipReason::DependencyFailed {
                            failed: dep,
                            failed_id: self.id(dep).to_owned(),
                        },
                    )),
                    State::Skipped(reason) => blocked.push((new, reason.clone())),
                    _ => {}
                }
            }
            added.push(new);
        }
        let join = self.push_node(join, node);
        for dep in std::iter::once(node).chain(added.iter().copied()) {
            if self.link(join, dep) {
                self.waiting[join.index()] += 1;
            }
        }
        for &dependent in &old_dependents {
            if self.link(dependent, join) && matches!(self.state[dependent.index()], State::Pending)
            {
                self.waiting[dependent.index()] += 1;
            }
        }

        let count = added.len() + 1;
        self.state[node.index()] = State::Expanded { join, added: count };
        self.emit(node, EventKind::Expanded { added: count, join });
        blocked.dedup_by_key(|(new, _)| *new);
        for (new, reason) in blocked {
            if matches!(self.state[new.index()], State::Pending) {
                self.state[new.index()] = State::Skipped(reason.clone());
                self.emit(
                    new,
                    EventKind::Skipped {
                        reason: reason.clone(),
                    },
                );
                self.skip_dependents(new, reason);
            }
        }
        self.release(node);
        if self.halted() {
            self.sweep(before..self.graph.len());
        }
        Ok(())
    }

    /// Adds an edge of an expansion; the graph refuses one that would close a cycle. The
    /// new nodes and the join get their dependencies while nothing depends on them yet:
    /// those edges close no cycle and cost no walk (see [`RunGraph`]). An edge from the
    /// join to one of the expanding node's dependents is refused only if that dependent
    /// reaches a dependency of a new node through a node that was skipped or cancelled
    /// (`waits_for` ruled out the paths through nodes that have not started): that
    /// dependent then does not wait for the join, and the graph stays acyclic.
    fn link(&mut self, dependent: NodeId, dependency: NodeId) -> bool {
        match self.graph.depend(dependent, dependency) {
            Ok(()) => true,
            Err(error) => {
                tracing::debug!(%error, "an edge of an expansion left out");
                false
            }
        }
    }

    fn push_node(&mut self, value: N, from: NodeId) -> NodeId {
        let new = self.graph.add(value);
        self.state.push(State::Pending);
        self.waiting.push(0);
        self.started.push(None);
        self.finished.push(None);
        self.expanded_from.push(Some(from));
        new
    }

    /// One of `targets` (nodes that have not started) that waits, directly or not, for
    /// `node`.
    fn waits_for(&self, node: NodeId, targets: &HashSet<NodeId>) -> Option<NodeId> {
        if targets.is_empty() {
            return None;
        }
        let mut seen = HashSet::new();
        let mut stack = vec![node];
        while let Some(from) = stack.pop() {
            for &next in self.graph.dependents(from) {
                if targets.contains(&next) {
                    return Some(next);
                }
                if matches!(self.state[next.index()], State::Pending) && seen.insert(next) {
                    stack.push(next);
                }
            }
        }
        None
    }

    /// A node's display id.
    fn id(&self, node: NodeId) -> &str {
        &self.graph.slot(node).id
    }

    fn emit(&mut self, node: NodeId, kind: EventKind) {
        self.emit_output(node, kind, None);
    }

    /// Tells every subscriber; an event that ends a node that ran carries its duration,
    /// a success its output.
    fn emit_output(&mut self, node: NodeId, kind: EventKind, output: Option<Arc<E::Output>>) {
        tracing::trace!(node = %self.id(node), ?kind, "engine event");
        if self.subscribers.is_empty() {
            return;
        }
        let i = node.index();
        let ends = !matches!(
            kind,
            EventKind::Queued | EventKind::Started | EventKind::Status { .. }
        );
        let duration = match (ends, self.started[i], self.finished[i]) {
            (true, Some(started), Some(finished)) => Some(finished.saturating_sub(started)),
            _ => None,
        };
        let event = Event {
            at: self.start.elapsed(),
            node,
            id: self.id(node).to_owned(),
            parent: self.expanded_from[i],
            kind,
            duration,
            output,
        };
        self.each_subscriber(|s| s.event(&event));
    }

    /// Calls every subscriber; one that panics is dropped.
    fn each_subscriber(&mut self, mut f: impl FnMut(&mut dyn Subscriber<E::Output>)) {
        self.subscribers.retain_mut(|subscriber| {
            let ok = std::panic::catch_unwind(AssertUnwindSafe(|| f(subscriber.as_mut()))).is_ok();
            if !ok {
                tracing::error!("an engine event subscriber panicked; it gets no more events");
            }
            ok
        });
    }

    fn report(self) -> Report<N, E::Output> {
        let elapsed = self.start.elapsed();
        let mut report = Vec::with_capacity(self.state.len());
        let parts = self
            .graph
            .into_slots()
            .zip(self.state)
            .zip(self.started.into_iter().zip(self.finished))
            .zip(self.expanded_from);
        for (i, (((slot, state), (started, finished)), expanded_from)) in parts.enumerate() {
            let Slot {
                node: value,
                id,
                dependencies,
                ..
            } = slot;
            let mut reason = None;
            let state = match state {
                State::Succeeded(output) => NodeState::Succeeded(output),
                State::Failed(error) => NodeState::Failed(error),
                State::Expanded { join, added } => NodeState::Expanded { join, added },
                State::Skipped(why) => {
                    reason = Some(why);
                    NodeState::Skipped
                }
                State::Pending | State::Queued | State::Running | State::Cancelled => {
                    NodeState::Cancelled
                }
            };
            report.push(NodeReport {
                node: NodeId::new(i),
                id,
                value,
                state,
                reason,
                started,
                duration: started.zip(finished).map(|(s, f)| f.saturating_sub(s)),
                dependencies,
                expanded_from,
            });
        }
        Report {
            nodes: report,
            elapsed,
            cancelled: self.cancelled,
        }
    }
}

/// A node's task that did not return: it panicked (a bug in the executor) or was
/// aborted.
fn join_error(error: JoinError) -> NodeError {
    if error.is_panic() {
        let payload = error.into_panic();
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_owned());
        NodeError::message(format!("the executor panicked: {message}"))
    } else {
        NodeError::message("the node's task was aborted")
    }
}
