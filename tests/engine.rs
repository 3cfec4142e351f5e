//! The scheduler (`kiln::engine`) with fake executors: order, job limit, fail-fast,
//! keep-going, cancellation, fork-join expansion, events.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use kiln::engine::{
    self, Event, EventKind, Executor, Expansion, GraphError, Node, NodeError, NodeId, NodeState,
    Options, Report, RunContext, RunGraph, SkipReason, Step, Subscriber,
};
use miette::Diagnostic;
use tokio_util::sync::CancellationToken;

/// What a fake node does when run.
#[derive(Debug, Clone)]
enum Act {
    Ok,
    Fail,
    Sleep(u64),
    /// Waits at the executor's barrier (so two such nodes must run at once).
    Barrier,
    /// Waits for cancellation, then returns an error.
    WaitCancel,
    /// Sleeps this many milliseconds whatever happens, then succeeds.
    IgnoreCancel(u64),
    Panic,
    Expand(Vec<(TestNode, Vec<NodeId>)>, Box<TestNode>),
    /// Says each message, then succeeds.
    Say(Vec<&'static str>),
    /// Succeeds at once, leaving a task that says something 50 ms later.
    SayLate,
}

#[derive(Debug, Clone)]
struct TestNode {
    name: String,
    act: Act,
    /// Milliseconds to sleep before acting.
    delay: u64,
    /// Runs after failures (a report).
    finally: bool,
}

impl TestNode {
    fn delayed(self, delay: u64) -> Self {
        Self { delay, ..self }
    }
}

impl Node for TestNode {
    fn id(&self) -> String {
        self.name.clone()
    }

    fn runs_after_failures(&self) -> bool {
        self.finally
    }
}

fn node(name: &str, act: Act) -> TestNode {
    TestNode {
        name: name.to_owned(),
        act,
        delay: 0,
        finally: false,
    }
}

/// A node that runs after its dependencies whatever they came to.
fn finally(name: &str) -> TestNode {
    TestNode {
        finally: true,
        ..ok(name)
    }
}

fn ok(name: &str) -> TestNode {
    node(name, Act::Ok)
}

/// Runs nodes as their `Act` says. Output: `name`, or `name(dep,dep…)` with the
/// outputs of its dependencies, so a test sees what each node was given.
#[derive(Default)]
struct Fake {
    current: AtomicUsize,
    max: AtomicUsize,
    barrier: Option<tokio::sync::Barrier>,
    /// Nodes that saw their cancellation token cancelled when they returned.
    saw_cancel: Mutex<Vec<String>>,
}

impl Fake {
    fn with_barrier(n: usize) -> Self {
        Self {
            barrier: Some(tokio::sync::Barrier::new(n)),
            ..Self::default()
        }
    }

    fn max(&self) -> usize {
        self.max.load(Ordering::SeqCst)
    }

    fn saw_cancel(&self) -> Vec<String> {
        self.saw_cancel.lock().unwrap().clone()
    }
}

#[async_trait]
impl Executor<TestNode> for Fake {
    type Output = String;

    async fn run(
        &self,
        node: &TestNode,
        ctx: RunContext<'_, String>,
    ) -> Result<Step<TestNode, String>, NodeError> {
        let now = self.current.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(now, Ordering::SeqCst);
        if node.delay > 0 {
            tokio::time::sleep(Duration::from_millis(node.delay)).await;
        }
        let result = match &node.act {
            Act::Ok => Ok(()),
            Act::Fail => Err(NodeError::message(format!("{} broke", node.name))),
            Act::Sleep(ms) => {
                tokio::time::sleep(Duration::from_millis(*ms)).await;
                Ok(())
            }
            Act::Barrier => {
                if let Some(barrier) = &self.barrier {
                    barrier.wait().await;
                }
                Ok(())
            }
            Act::WaitCancel => {
                ctx.cancel.cancelled().await;
                Err(NodeError::message("interrupted"))
            }
            Act::IgnoreCancel(ms) => {
                tokio::time::sleep(Duration::from_millis(*ms)).await;
                Ok(())
            }
            Act::Panic => {
                self.current.fetch_sub(1, Ordering::SeqCst);
                panic!("fake executor panic in {}", node.name);
            }
            Act::Expand(..) => Ok(()),
            Act::Say(messages) => {
                for message in messages {
                    ctx.status.say(*message);
                    tokio::task::yield_now().await;
                }
                Ok(())
            }
            Act::SayLate => {
                let status = ctx.status.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    status.say("too late");
                });
                Ok(())
            }
        };
        if ctx.cancel.is_cancelled() {
            self.saw_cancel.lock().unwrap().push(node.name.clone());
        }
        self.current.fetch_sub(1, Ordering::SeqCst);
        result?;
        if let Act::Expand(nodes, join) = &node.act {
            return Ok(Step::Expand(Expansion {
                nodes: nodes.clone(),
                join: (**join).clone(),
            }));
        }
        let deps: Vec<&str> = ctx.deps.iter().map(|(_, o)| o.as_str()).collect();
        let mut output = if deps.is_empty() {
            node.name.clone()
        } else {
            format!("{}({})", node.name, deps.join(","))
        };
        if !ctx.unfinished.is_empty() {
            let ids: Vec<&str> = ctx.unfinished.iter().map(|u| u.id.as_str()).collect();
            output.push_str(&format!("[not done: {}]", ids.join(",")));
        }
        Ok(Step::Done(output))
    }
}

type Events = Arc<Mutex<Vec<Event<String>>>>;

fn recorder() -> (Box<dyn Subscriber<String>>, Events) {
    let events = Events::default();
    let sink = Arc::clone(&events);
    (
        Box::new(move |e: &Event<String>| sink.lock().unwrap().push(e.clone())),
        events,
    )
}

fn options(jobs: usize) -> Options {
    Options {
        jobs,
        keep_going: false,
    }
}

async fn run_with(
    graph: RunGraph<TestNode>,
    fake: Arc<Fake>,
    options: Options,
    cancel: CancellationToken,
    mut subscribers: Vec<Box<dyn Subscriber<String>>>,
) -> (Report<TestNode, String>, Vec<Event<String>>) {
    let (recorder, events) = recorder();
    subscribers.insert(0, recorder);
    let report = tokio::time::timeout(
        Duration::from_secs(30),
        engine::run(graph, fake, options, cancel, subscribers),
    )
    .await
    .expect("the run finishes");
    let events = events.lock().unwrap().clone();
    check_events(&report, &events);
    (report, events)
}

async fn run(
    graph: RunGraph<TestNode>,
    options: Options,
) -> (Report<TestNode, String>, Vec<Event<String>>) {
    run_with(
        graph,
        Arc::new(Fake::default()),
        options,
        CancellationToken::new(),
        vec![],
    )
    .await
}

/// Every node's events follow the allowed sequences and end in its reported state;
/// a dependency's last event precedes its dependents' first.
fn check_events(report: &Report<TestNode, String>, events: &[Event<String>]) {
    let mut per_node: HashMap<NodeId, Vec<&EventKind>> = HashMap::new();
    let mut position: HashMap<(NodeId, &'static str), usize> = HashMap::new();
    for (i, event) in events.iter().enumerate() {
        per_node.entry(event.node).or_default().push(&event.kind);
        // A success carries its output; an event that ends a node that ran, its time.
        let node = report.get(event.node).unwrap();
        if event.kind == EventKind::Succeeded {
            assert_eq!(event.output.as_deref(), node.output(), "{}", event.id);
        } else {
            assert!(event.output.is_none(), "{}", event.id);
        }
        let ends_a_run = matches!(
            event.kind,
            EventKind::Succeeded
                | EventKind::Failed { .. }
                | EventKind::Expanded { .. }
                | EventKind::Cancelled
        ) && node.started.is_some();
        assert_eq!(
            event.duration.is_some(),
            ends_a_run,
            "{}: {:?}",
            event.id,
            event.kind
        );
        assert_eq!(event.parent, node.expanded_from, "{}", event.id);
        let kind = name(&event.kind);
        position.entry((event.node, kind)).or_insert(i);
        assert_eq!(event.id, report.get(event.node).unwrap().id);
    }
    for n in report {
        // Status messages come between the start and the end; the rest is fixed.
        let all: Vec<&str> = per_node
            .get(&n.node)
            .map_or(vec![], |k| k.iter().map(|k| name(k)).collect());
        if let Some(first) = all.iter().position(|k| *k == "status") {
            let last = all.iter().rposition(|k| *k == "status").unwrap_or(first);
            assert!(
                first > 0 && all[first - 1] == "started" && last + 1 < all.len(),
                "{}: status outside the run: {all:?}",
                n.id
            );
        }
        let kinds: Vec<&str> = all.iter().copied().filter(|k| *k != "status").collect();
        let expected_last = n.state.name();
        let valid = match kinds.as_slice() {
            ["queued", "started", last] => {
                ["succeeded", "failed", "expanded", "cancelled"].contains(last)
            }
            ["queued", last] | [last] => ["skipped", "cancelled"].contains(last),
            _ => false,
        };
        assert!(valid, "{}: events {kinds:?}", n.id);
        assert_eq!(
            kinds.last().copied(),
            Some(expected_last),
            "{}: events {kinds:?}",
            n.id
        );
        if let Some(&queued) = position.get(&(n.node, "queued")) {
            for dep in &n.dependencies {
                let last = events
                    .iter()
                    .rposition(|e| e.node == *dep)
                    .expect("a dependency has events");
                assert!(
                    last < queued,
                    "{} queued before its dependency {dep} finished",
                    n.id
                );
            }
        }
    }
}

fn name(kind: &EventKind) -> &'static str {
    match kind {
        EventKind::Queued => "queued",
        EventKind::Started => "started",
        EventKind::Status { .. } => "status",
        EventKind::Succeeded => "succeeded",
        EventKind::Failed { .. } => "failed",
        EventKind::Skipped { .. } => "skipped",
        EventKind::Cancelled => "cancelled",
        EventKind::Expanded { .. } => "expanded",
    }
}

fn started(events: &[Event<String>]) -> Vec<&str> {
    events
        .iter()
        .filter(|e| e.kind == EventKind::Started)
        .map(|e| e.id.as_str())
        .collect()
}

fn states(report: &Report<TestNode, String>) -> Vec<(&str, &'static str)> {
    report
        .iter()
        .map(|n| (n.id.as_str(), n.state.name()))
        .collect()
}

fn output<'a>(report: &'a Report<TestNode, String>, id: &str) -> &'a str {
    report
        .find(id)
        .and_then(|n| n.output())
        .map_or("", String::as_str)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dependencies_run_first_and_pass_their_outputs() {
    let mut graph = RunGraph::new();
    let a = graph.add(ok("a"));
    let b = graph.add(ok("b"));
    let c = graph.add(ok("c"));
    let d = graph.add(ok("d"));
    graph.depend(b, a).unwrap();
    graph.depend(c, a).unwrap();
    graph.depend(d, c).unwrap();
    graph.depend(d, b).unwrap();
    let (report, events) = run(graph, options(4)).await;
    assert!(report.succeeded());
    assert_eq!(output(&report, "d"), "d(b(a),c(a))");
    assert_eq!(started(&events).first(), Some(&"a"));
    assert_eq!(started(&events).last(), Some(&"d"));
    assert!(
        report
            .iter()
            .all(|n| n.duration.is_some() && n.started.is_some())
    );
    assert_eq!(report.failures().count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_jobs_run_two_independent_nodes_at_once_never_more() {
    let mut graph = RunGraph::new();
    for i in 0..8 {
        graph.add(node(&format!("n{i}"), Act::Barrier));
    }
    // Nodes pass the barrier two by two: with fewer than two at once the run would hang.
    let fake = Arc::new(Fake::with_barrier(2));
    let (report, events) = run_with(
        graph,
        Arc::clone(&fake),
        options(2),
        CancellationToken::new(),
        vec![],
    )
    .await;
    assert!(report.succeeded());
    assert_eq!(fake.max(), 2);
    // The scheduler's own view agrees: never more than two started and unfinished.
    let mut running = 0usize;
    let mut most = 0;
    for e in &events {
        match e.kind {
            EventKind::Started => running += 1,
            EventKind::Succeeded => running -= 1,
            _ => {}
        }
        most = most.max(running);
    }
    assert_eq!(most, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_job_runs_nodes_one_at_a_time_in_node_id_order() {
    let mut graph = RunGraph::new();
    for i in 0..6 {
        graph.add(node(&format!("n{i}"), Act::Sleep(5)));
    }
    let fake = Arc::new(Fake::default());
    let (report, events) = run_with(
        graph,
        Arc::clone(&fake),
        options(1),
        CancellationToken::new(),
        vec![],
    )
    .await;
    assert!(report.succeeded());
    assert_eq!(fake.max(), 1);
    let kinds: Vec<&str> = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Started | EventKind::Succeeded))
        .map(|e| name(&e.kind))
        .collect();
    assert_eq!(kinds, ["started", "succeeded"].repeat(6));
    assert_eq!(started(&events), ["n0", "n1", "n2", "n3", "n4", "n5"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn zero_jobs_count_as_one() {
    let mut graph = RunGraph::new();
    graph.add(ok("a"));
    graph.add(ok("b"));
    let fake = Arc::new(Fake::default());
    let (report, _) = run_with(
        graph,
        Arc::clone(&fake),
        options(0),
        CancellationToken::new(),
        vec![],
    )
    .await;
    assert!(report.succeeded());
    assert_eq!(fake.max(), 1);
}

#[tokio::test]
async fn ready_nodes_start_lowest_node_id_first() {
    // `root`'s dependents become ready together; they were linked in reverse order.
    let mut graph = RunGraph::new();
    let root = graph.add(ok("root"));
    let late = graph.add(ok("late"));
    let ids: Vec<NodeId> = ["x1", "x2", "x3"]
        .iter()
        .map(|n| graph.add(ok(n)))
        .collect();
    for &id in ids.iter().rev() {
        graph.depend(id, root).unwrap();
    }
    graph.depend(late, ids[2]).unwrap();
    let (report, events) = run(graph, options(1)).await;
    assert!(report.succeeded());
    assert_eq!(started(&events), ["root", "x1", "x2", "x3", "late"]);
}

/// a fails at once while b (independent) is running; c needs a; d waits for a slot.
fn failing_graph() -> RunGraph<TestNode> {
    let mut graph = RunGraph::new();
    let a = graph.add(node("a", Act::Fail));
    graph.add(node("b", Act::Sleep(100)));
    let c = graph.add(ok("c"));
    graph.add(ok("d"));
    let e = graph.add(ok("e"));
    graph.depend(c, a).unwrap();
    graph.depend(e, NodeId::new(1)).unwrap();
    graph
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fail_fast_lets_running_nodes_finish_and_skips_the_rest() {
    let fake = Arc::new(Fake::default());
    let (report, events) = run_with(
        failing_graph(),
        Arc::clone(&fake),
        options(2),
        CancellationToken::new(),
        vec![],
    )
    .await;
    assert!(!report.succeeded());
    assert_eq!(
        states(&report),
        [
            ("a", "failed"),
            ("b", "succeeded"),
            ("c", "skipped"),
            ("d", "skipped"),
            ("e", "skipped")
        ]
    );
    // b was running when a failed: not cancelled.
    assert!(fake.saw_cancel().is_empty());
    let a = NodeId::new(0);
    let failed = |reason: &Option<SkipReason>| reason.clone();
    assert_eq!(
        failed(&report.find("c").unwrap().reason),
        Some(SkipReason::DependencyFailed {
            failed: a,
            failed_id: "a".into()
        })
    );
    assert_eq!(
        failed(&report.find("d").unwrap().reason),
        Some(SkipReason::Stopped {
            failed: a,
            failed_id: "a".into()
        })
    );
    assert_eq!(started(&events), ["a", "b"]);
    let failures: Vec<(&str, String)> = report
        .failures()
        .map(|(n, e)| (n.id.as_str(), e.to_string()))
        .collect();
    assert_eq!(failures, [("a", "a broke".to_owned())]);
    let counts = report.counts();
    assert_eq!((counts.failed, counts.succeeded, counts.skipped), (1, 1, 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keep_going_finishes_independent_branches() {
    let options = Options {
        jobs: 2,
        keep_going: true,
    };
    let (report, events) = run(failing_graph(), options).await;
    assert!(!report.succeeded());
    assert_eq!(
        states(&report),
        [
            ("a", "failed"),
            ("b", "succeeded"),
            ("c", "skipped"),
            ("d", "succeeded"),
            ("e", "succeeded")
        ]
    );
    assert_eq!(output(&report, "e"), "e(b)");
    // c is skipped as soon as a fails.
    let a_failed = events
        .iter()
        .position(|e| e.id == "a" && name(&e.kind) == "failed");
    let c_skipped = events
        .iter()
        .position(|e| e.id == "c" && name(&e.kind) == "skipped");
    assert_eq!(c_skipped, a_failed.map(|i| i + 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn skips_reach_transitive_dependents() {
    let mut graph = RunGraph::new();
    let a = graph.add(node("a", Act::Fail));
    let b = graph.add(ok("b"));
    let c = graph.add(ok("c"));
    graph.depend(b, a).unwrap();
    graph.depend(c, b).unwrap();
    let (report, _) = run(graph, options(2)).await;
    assert_eq!(
        states(&report),
        [("a", "failed"), ("b", "skipped"), ("c", "skipped")]
    );
    assert!(matches!(
        report.find("c").unwrap().reason,
        Some(SkipReason::DependencyFailed { failed, .. }) if failed == a
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancellation_stops_running_nodes_and_cancels_the_rest() {
    let mut graph = RunGraph::new();
    let a = graph.add(node("a", Act::WaitCancel));
    graph.add(node("b", Act::IgnoreCancel(150)));
    let c = graph.add(ok("c"));
    graph.add(ok("d"));
    graph.depend(c, a).unwrap();
    let cancel = CancellationToken::new();
    // Ctrl-C once a and b run.
    let trip = cancel.clone();
    let mut seen = 0;
    let interrupt = move |e: &Event<String>| {
        if e.kind == EventKind::Started {
            seen += 1;
            if seen == 2 {
                trip.cancel();
            }
        }
    };
    let fake = Arc::new(Fake::default());
    let (report, events) = run_with(
        graph,
        Arc::clone(&fake),
        options(2),
        cancel,
        vec![Box::new(interrupt)],
    )
    .await;
    assert!(report.cancelled);
    assert!(!report.succeeded());
    // b ignored the token: the scheduler waited for it, and it succeeded.
    assert_eq!(
        states(&report),
        [
            ("a", "cancelled"),
            ("b", "succeeded"),
            ("c", "cancelled"),
            ("d", "cancelled")
        ]
    );
    let mut saw = fake.saw_cancel();
    saw.sort();
    assert_eq!(saw, ["a", "b"]);
    assert_eq!(started(&events), ["a", "b"]);
    // The nodes that never started are cancelled before the running ones return.
    let d_cancelled = events
        .iter()
        .position(|e| e.id == "d" && e.kind == EventKind::Cancelled);
    let b_done = events
        .iter()
        .position(|e| e.id == "b" && e.kind == EventKind::Succeeded);
    assert!(d_cancelled < b_done);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nothing_starts_after_a_cancellation_even_with_free_slots() {
    let mut graph = RunGraph::new();
    graph.add(node("n0", Act::WaitCancel));
    for i in 1..4 {
        graph.add(ok(&format!("n{i}")));
    }
    let cancel = CancellationToken::new();
    let trip = cancel.clone();
    let interrupt = move |e: &Event<String>| {
        if e.kind == EventKind::Started {
            trip.cancel();
        }
    };
    let (report, events) = run_with(
        graph,
        Arc::new(Fake::default()),
        options(4),
        cancel,
        vec![Box::new(interrupt)],
    )
    .await;
    assert_eq!(started(&events), ["n0"]);
    assert_eq!(report.counts().cancelled, 4);
}

#[tokio::test]
async fn a_cancelled_token_starts_nothing() {
    let mut graph = RunGraph::new();
    let a = graph.add(ok("a"));
    let b = graph.add(ok("b"));
    graph.depend(b, a).unwrap();
    let cancel = CancellationToken::new();
    cancel.cancel();
    let (report, events) =
        run_with(graph, Arc::new(Fake::default()), options(2), cancel, vec![]).await;
    assert_eq!(states(&report), [("a", "cancelled"), ("b", "cancelled")]);
    assert!(started(&events).is_empty());
    assert!(report.iter().all(|n| n.duration.is_none()));
}

fn checks(n: usize, extra: &[NodeId]) -> Vec<(TestNode, Vec<NodeId>)> {
    (0..n)
        .map(|i| (ok(&format!("check{i}")), extra.to_vec()))
        .collect()
}

fn expand(name: &str, nodes: Vec<(TestNode, Vec<NodeId>)>, join: &str) -> TestNode {
    node(name, Act::Expand(nodes, Box::new(ok(join))))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn discovery_expands_into_checks_and_a_join() {
    let mut graph = RunGraph::new();
    let discover = graph.add(expand("discover", checks(4, &[]), "join"));
    let report_node = graph.add(ok("report"));
    graph.depend(report_node, discover).unwrap();
    let (report, events) = run(graph, options(2)).await;
    assert!(report.succeeded(), "{report:?}");
    assert_eq!(report.len(), 2 + 5);
    let join = report.find("join").unwrap();
    assert_eq!(output(&report, "join"), "join(check0,check1,check2,check3)");
    // The downstream node sees the join's output where the expanding node's would be.
    assert_eq!(
        output(&report, "report"),
        "report(join(check0,check1,check2,check3))"
    );
    assert!(matches!(
        report.get(discover).unwrap().state,
        NodeState::Expanded { join: j, added: 5 } if j == join.node
    ));
    assert!(report.output(discover).is_none());
    assert_eq!(join.expanded_from, Some(discover));
    assert!(
        report
            .find("check2")
            .unwrap()
            .dependencies
            .contains(&discover)
    );
    assert!(
        report
            .get(report_node)
            .unwrap()
            .dependencies
            .contains(&join.node)
    );
    assert!(events.iter().any(|e| e.node == discover
        && e.kind
            == EventKind::Expanded {
                added: 5,
                join: join.node
            }));
    let join_done = events
        .iter()
        .position(|e| e.id == "join" && e.kind == EventKind::Succeeded)
        .unwrap();
    let report_started = events
        .iter()
        .position(|e| e.id == "report" && e.kind == EventKind::Started)
        .unwrap();
    assert!(join_done < report_started);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn expansions_nest() {
    let inner = expand(
        "check1",
        checks(2, &[])
            .into_iter()
            .map(|(n, d)| (node(&format!("sub-{}", n.name), n.act), d))
            .collect(),
        "subjoin",
    );
    let nodes = vec![
        (ok("check0"), vec![]),
        (inner, vec![]),
        (ok("check2"), vec![]),
    ];
    let mut graph = RunGraph::new();
    let discover = graph.add(expand("discover", nodes, "join"));
    let after = graph.add(ok("after"));
    graph.depend(after, discover).unwrap();
    let (report, _) = run(graph, options(3)).await;
    assert!(report.succeeded(), "{report:?}");
    assert_eq!(output(&report, "subjoin"), "subjoin(sub-check0,sub-check1)");
    // check1 expanded: the outer join sees its join's output instead, after the others.
    assert_eq!(
        output(&report, "join"),
        "join(check0,check2,subjoin(sub-check0,sub-check1))"
    );
    assert_eq!(
        output(&report, "after"),
        "after(join(check0,check2,subjoin(sub-check0,sub-check1)))"
    );
    assert_eq!(report.counts().expanded, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn expanded_nodes_depend_on_extra_nodes_and_on_joins_of_expanded_ones() {
    let mut graph = RunGraph::new();
    let image = graph.add(node("image", Act::Sleep(30)));
    let other = graph.add(expand(
        "other",
        checks(1, &[])
            .into_iter()
            .map(|(_, d)| (ok("o0"), d))
            .collect(),
        "ojoin",
    ));
    // Runs after `other` expanded; its checks also need `image` and `other` (→ its join).
    let discover = graph.add(expand("discover", checks(2, &[image, other]), "join"));
    graph.depend(discover, other).unwrap();
    let (report, _) = run(graph, options(2)).await;
    assert!(report.succeeded(), "{report:?}");
    assert_eq!(output(&report, "check0"), "check0(image,ojoin(o0))");
    assert_eq!(
        output(&report, "join"),
        "join(check0(image,ojoin(o0)),check1(image,ojoin(o0)))"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_check_skips_the_join_and_what_follows() {
    let nodes = vec![
        (ok("check0"), vec![]),
        (node("check1", Act::Fail), vec![]),
        (ok("check2"), vec![]),
    ];
    let mut graph = RunGraph::new();
    let discover = graph.add(expand("discover", nodes, "join"));
    let after = graph.add(ok("after"));
    graph.depend(after, discover).unwrap();
    let options = Options {
        jobs: 1,
        keep_going: true,
    };
    let (report, _) = run(graph, options).await;
    assert_eq!(
        states(&report),
        [
            ("discover", "expanded"),
            ("after", "skipped"),
            ("check0", "succeeded"),
            ("check1", "failed"),
            ("check2", "succeeded"),
            ("join", "skipped")
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_expansion_depending_on_a_failed_node_is_skipped() {
    let mut graph = RunGraph::new();
    let broken = graph.add(node("broken", Act::Fail));
    let discover = graph.add(node(
        "discover",
        Act::Expand(vec![(ok("check0"), vec![broken])], Box::new(ok("join"))),
    ));
    // discover runs after broken failed (keep-going).
    graph.add(node("gate", Act::Ok));
    graph.depend(discover, NodeId::new(2)).unwrap();
    let options = Options {
        jobs: 1,
        keep_going: true,
    };
    let (report, _) = run(graph, options).await;
    assert_eq!(
        states(&report),
        [
            ("broken", "failed"),
            ("discover", "expanded"),
            ("gate", "succeeded"),
            ("check0", "skipped"),
            ("join", "skipped")
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_invalid_expansion_fails_the_expanding_node() {
    // A dependency that does not exist.
    let mut graph = RunGraph::new();
    let discover = graph.add(expand("discover", checks(2, &[NodeId::new(99)]), "join"));
    let after = graph.add(ok("after"));
    graph.depend(after, discover).unwrap();
    let (report, _) = run(graph, options(2)).await;
    assert_eq!(
        states(&report),
        [("discover", "failed"), ("after", "skipped")]
    );
    assert!(
        report
            .failures()
            .next()
            .unwrap()
            .1
            .to_string()
            .contains("no node #99")
    );

    // A dependency that waits for the expanding node: a cycle.
    let mut graph = RunGraph::new();
    let discover = graph.add(expand("discover", checks(1, &[NodeId::new(2)]), "join"));
    let after = graph.add(ok("after"));
    let later = graph.add(ok("later"));
    graph.depend(after, discover).unwrap();
    graph.depend(later, after).unwrap();
    let (report, _) = run(graph, options(2)).await;
    assert_eq!(
        states(&report),
        [
            ("discover", "failed"),
            ("after", "skipped"),
            ("later", "skipped")
        ]
    );
    assert!(
        report
            .failures()
            .next()
            .unwrap()
            .1
            .to_string()
            .contains("waits for `discover`")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_expansion_after_a_fail_fast_stop_adds_nodes_that_never_start() {
    let mut graph = RunGraph::new();
    graph.add(node("a", Act::Fail));
    // Running when a fails; expands afterwards.
    let discover = expand("discover", checks(2, &[]), "join").delayed(50);
    graph.add(discover);
    let (report, events) = run(graph, options(2)).await;
    assert_eq!(
        states(&report),
        [
            ("a", "failed"),
            ("discover", "expanded"),
            ("check0", "skipped"),
            ("check1", "skipped"),
            ("join", "skipped")
        ]
    );
    assert!(matches!(
        report.find("join").unwrap().reason,
        Some(SkipReason::Stopped { .. })
    ));
    assert_eq!(started(&events), ["a", "discover"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_panicking_executor_fails_its_node() {
    let mut graph = RunGraph::new();
    let a = graph.add(node("a", Act::Panic));
    let b = graph.add(ok("b"));
    graph.depend(b, a).unwrap();
    let (report, _) = run(graph, options(2)).await;
    assert_eq!(states(&report), [("a", "failed"), ("b", "skipped")]);
    let error = report.failures().next().unwrap().1.to_string();
    assert!(error.contains("fake executor panic in a"), "{error}");
}

#[tokio::test]
async fn an_empty_graph_succeeds() {
    let (report, events) = run(RunGraph::new(), options(2)).await;
    assert!(report.succeeded());
    assert!(report.is_empty());
    assert!(events.is_empty());
}

#[tokio::test]
async fn a_panicking_subscriber_is_dropped_and_the_run_goes_on() {
    let mut graph = RunGraph::new();
    let a = graph.add(ok("a"));
    let b = graph.add(ok("b"));
    graph.depend(b, a).unwrap();
    let broken = |_: &Event<String>| panic!("subscriber bug");
    let (report, events) = run_with(
        graph,
        Arc::new(Fake::default()),
        options(1),
        CancellationToken::new(),
        vec![Box::new(broken)],
    )
    .await;
    assert!(report.succeeded());
    assert_eq!(events.len(), 6);
}

#[tokio::test]
async fn subscribers_hear_start_and_finish() {
    struct Hooks(Arc<Mutex<Vec<String>>>);
    impl Subscriber<String> for Hooks {
        fn started(&mut self, nodes: usize) {
            self.0.lock().unwrap().push(format!("started {nodes}"));
        }
        fn event(&mut self, event: &Event<String>) {
            self.0
                .lock()
                .unwrap()
                .push(format!("{} {}", event.id, name(&event.kind)));
        }
        fn finished(&mut self, _cancelled: bool) {
            self.0.lock().unwrap().push("finished".into());
        }
    }
    let log = Arc::new(Mutex::new(vec![]));
    let mut graph = RunGraph::new();
    graph.add(ok("a"));
    let (report, _) = run_with(
        graph,
        Arc::new(Fake::default()),
        options(1),
        CancellationToken::new(),
        vec![Box::new(Hooks(Arc::clone(&log)))],
    )
    .await;
    assert!(report.succeeded());
    assert_eq!(
        *log.lock().unwrap(),
        [
            "started 1",
            "a queued",
            "a started",
            "a succeeded",
            "finished"
        ]
    );
}

#[test]
fn events_serialize_flat_with_milliseconds() {
    let event = Event {
        at: Duration::from_micros(12_345),
        node: NodeId::new(3),
        id: "sci/base".into(),
        parent: None,
        kind: EventKind::Skipped {
            reason: SkipReason::DependencyFailed {
                failed: NodeId::new(1),
                failed_id: "sci/deps".into(),
            },
        },
        duration: None,
        output: None::<Arc<String>>,
    };
    assert_eq!(
        serde_json::to_string(&event).unwrap(),
        r#"{"at_ms":12,"node":3,"id":"sci/base","kind":"skipped","reason":"dependency-failed","failed":1,"failed_id":"sci/deps"}"#
    );
    let event = Event {
        kind: EventKind::Failed {
            error: "boom".into(),
            log: None,
        },
        ..event
    };
    assert_eq!(
        serde_json::to_string(&event).unwrap(),
        r#"{"at_ms":12,"node":3,"id":"sci/base","kind":"failed","error":"boom"}"#
    );
}

#[test]
fn the_graph_refuses_cycles_and_unknown_nodes() {
    let mut graph = RunGraph::new();
    let a = graph.add(ok("a"));
    let b = graph.add(ok("b"));
    let c = graph.add(ok("c"));
    graph.depend(b, a).unwrap();
    graph.depend(c, b).unwrap();
    graph.depend(c, b).unwrap(); // twice: nothing changes
    assert_eq!(graph.dependencies(c), [b]);
    assert_eq!(
        graph.depend(a, c),
        Err(GraphError::Cycle {
            dependent: "a".into(),
            dependency: "c".into()
        })
    );
    assert!(matches!(graph.depend(a, a), Err(GraphError::Cycle { .. })));
    assert_eq!(
        graph.depend(a, NodeId::new(7)),
        Err(GraphError::UnknownNode {
            node: NodeId::new(7)
        })
    );
    // Edges against the order of addition are fine when acyclic.
    let d = graph.add(ok("d"));
    graph.depend(a, d).unwrap();
    assert!(matches!(graph.depend(d, c), Err(GraphError::Cycle { .. })));
    assert_eq!(graph.dependents(d), [a]);
    assert_eq!(graph.len(), 4);
    assert_eq!(graph.id_of(d), Some("d"));
}

#[tokio::test]
async fn edges_against_the_order_of_addition_run_correctly() {
    let mut graph = RunGraph::new();
    let late = graph.add(ok("late"));
    let early = graph.add(ok("early"));
    graph.depend(late, early).unwrap();
    let (report, events) = run(graph, options(2)).await;
    assert_eq!(started(&events), ["early", "late"]);
    assert_eq!(output(&report, "late"), "late(early)");
}

#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("Dockerfile template error")]
#[diagnostic(code(kiln::build::template), help("check the variable names"))]
struct TemplateError;

#[test]
fn a_node_error_keeps_the_diagnostic_that_caused_it() {
    let error = NodeError::from_diagnostic(TemplateError).with_log("/tmp/job/sci-base.log");
    assert_eq!(error.to_string(), "Dockerfile template error");
    assert_eq!(
        error.code().unwrap().to_string(),
        "kiln::engine::node_failed"
    );
    let source = error.diagnostic_source().unwrap();
    assert_eq!(source.code().unwrap().to_string(), "kiln::build::template");
    assert_eq!(
        error.diagnostic().unwrap().help().unwrap().to_string(),
        "check the variable names"
    );
    assert_eq!(
        error.help().unwrap().to_string(),
        "full log: /tmp/job/sci-base.log"
    );
    assert_eq!(
        error.log(),
        Some(std::path::Path::new("/tmp/job/sci-base.log"))
    );

    let plain = NodeError::message("exit code 2").with_help("see above");
    assert!(plain.diagnostic_source().is_none());
    assert_eq!(plain.help().unwrap().to_string(), "see above");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_that_runs_after_failures_runs_after_a_failed_dependency() {
    for keep_going in [false, true] {
        let mut graph = RunGraph::new();
        let a = graph.add(node("a", Act::Fail));
        let b = graph.add(node("b", Act::Sleep(50)));
        let c = graph.add(ok("c"));
        let r = graph.add(finally("r"));
        let after = graph.add(ok("after"));
        graph.depend(c, a).unwrap();
        for dep in [a, b, c] {
            graph.depend(r, dep).unwrap();
        }
        graph.depend(after, r).unwrap();
        let options = Options {
            jobs: 2,
            keep_going,
        };
        let (report, events) = run(graph, options).await;
        assert!(!report.succeeded());
        let unfinished = events
            .iter()
            .find(|e| e.id == "r" && e.kind == EventKind::Started);
        assert!(unfinished.is_some(), "keep_going {keep_going}: r started");
        assert_eq!(
            output(&report, "r"),
            "r(b)[not done: a,c]",
            "keep_going {keep_going}: r sees what succeeded and what did not"
        );
        // Its dependents follow the usual rules.
        let expected = if keep_going { "succeeded" } else { "skipped" };
        assert_eq!(
            states(&report).last(),
            Some(&("after", expected)),
            "keep_going {keep_going}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fail_fast_still_runs_a_node_that_runs_after_failures() {
    // One job: `a` fails before `b` starts; fail-fast skips `b`, and `r` (waiting for
    // `b`, not for `a`) runs all the same.
    let mut graph = RunGraph::new();
    graph.add(node("a", Act::Fail));
    let b = graph.add(ok("b"));
    let r = graph.add(finally("r"));
    graph.depend(r, b).unwrap();
    let (report, _) = run(graph, options(1)).await;
    assert_eq!(
        states(&report),
        [("a", "failed"), ("b", "skipped"), ("r", "succeeded")]
    );
    assert_eq!(output(&report, "r"), "r[not done: b]");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_that_runs_after_failures_waits_for_an_expansion() {
    let mut graph = RunGraph::new();
    let d = graph.add(expand(
        "d",
        vec![(node("x", Act::Fail), vec![]), (ok("y"), vec![])],
        "j",
    ));
    let r = graph.add(finally("r"));
    graph.depend(r, d).unwrap();
    let (report, _) = run(
        graph,
        Options {
            jobs: 2,
            keep_going: true,
        },
    )
    .await;
    assert_eq!(output(&report, "r"), "r[not done: j]");
    assert!(report.find("y").unwrap().output().is_some(), "y ran first");
}

/// Changed with the one run path: a node that runs after failures (a check's results)
/// runs after a cancellation too, so an interrupted run keeps what finished.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancellation_still_runs_a_node_that_runs_after_failures() {
    let mut graph = RunGraph::new();
    let a = graph.add(node("a", Act::WaitCancel));
    let r = graph.add(finally("r"));
    graph.depend(r, a).unwrap();
    let cancel = CancellationToken::new();
    let trip = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        trip.cancel();
    });
    let (report, _) = run_with(graph, Arc::new(Fake::default()), options(2), cancel, vec![]).await;
    assert!(report.cancelled);
    assert_eq!(states(&report), [("a", "cancelled"), ("r", "succeeded")]);
    assert_eq!(output(&report, "r"), "r[not done: a]");
}

/// An interrupted fork keeps what finished: the join that runs after failures hears of
/// the added nodes that ran and of those cancelled before they started.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cancelled_expansion_still_runs_its_join() {
    let mut graph = RunGraph::new();
    let fork = graph.add(node(
        "fork",
        Act::Expand(
            vec![
                (ok("e1"), vec![]),
                (node("e2", Act::WaitCancel), vec![]),
                (ok("e3"), vec![]),
            ],
            Box::new(finally("join")),
        ),
    ));
    let after = graph.add(ok("after"));
    graph.depend(after, fork).unwrap();
    let cancel = CancellationToken::new();
    let trip = cancel.clone();
    let interrupt = move |e: &Event<String>| {
        if e.id == "e2" && e.kind == EventKind::Started {
            trip.cancel();
        }
    };
    let (report, _) = run_with(
        graph,
        Arc::new(Fake::default()),
        options(1),
        cancel,
        vec![Box::new(interrupt)],
    )
    .await;
    assert_eq!(
        states(&report),
        [
            ("fork", "expanded"),
            ("after", "cancelled"),
            ("e1", "succeeded"),
            ("e2", "cancelled"),
            ("e3", "cancelled"),
            ("join", "succeeded")
        ]
    );
    assert_eq!(output(&report, "join"), "join(e1)[not done: e2,e3]");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_added_node_that_runs_after_failures_is_not_skipped_for_a_failed_extra_dependency() {
    let mut graph = RunGraph::new();
    let bad = graph.add(node("bad", Act::Fail));
    // `d` expands after `bad` failed.
    graph.add(expand("d", vec![(finally("f"), vec![bad])], "j").delayed(50));
    let (report, _) = run(
        graph,
        Options {
            jobs: 2,
            keep_going: true,
        },
    )
    .await;
    assert_eq!(output(&report, "f"), "f[not done: bad]");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_running_node_says_reaches_subscribers_in_order_and_late_words_are_dropped() {
    let mut graph = RunGraph::new();
    graph.add(node(
        "a",
        Act::Say(vec!["Step 1/2 : FROM x", "Step 2/2 : RUN y"]),
    ));
    graph.add(node("late", Act::SayLate));
    // Runs long enough for the late message to be sent while the run still goes on.
    graph.add(node("after", Act::Sleep(150)));
    let (_, events) = run(graph, options(1)).await;
    let said: Vec<(&str, &str)> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Status { message } => Some((e.id.as_str(), message.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(
        said,
        [("a", "Step 1/2 : FROM x"), ("a", "Step 2/2 : RUN y")],
        "in order, before the end; nothing after `late` ended"
    );
}
