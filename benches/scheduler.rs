//! Cost of the scheduler itself (`kiln::engine::run`) on synthetic graphs of no-op
//! nodes: a chain (each node needs the previous one) and a wide fan-out (one root, every
//! other node needs it, one sink needs them all), with 2 and 16 jobs. Linear scheduling
//! shows as a flat "ns/node" column as the graph grows. A last line adds one subscriber
//! that counts events.
//!
//! Run with `cargo bench --bench scheduler`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use kiln::engine::{
    self, Event, Executor, Node, NodeError, Options, RunContext, RunGraph, Step, Subscriber,
};
use tokio_util::sync::CancellationToken;

const SIZES: [usize; 3] = [1_000, 10_000, 100_000];
const JOBS: [usize; 2] = [2, 16];
const RUNS: usize = 5;

struct Noop(usize);

/// Makes a graph of `n` nodes.
type Shape = fn(usize) -> RunGraph<Noop>;

impl Node for Noop {
    fn id(&self) -> String {
        format!("node-{}", self.0)
    }
}

struct NoopExecutor;

#[async_trait]
impl Executor<Noop> for NoopExecutor {
    type Output = ();

    async fn run(&self, _: &Noop, _: RunContext<'_, ()>) -> Result<Step<Noop, ()>, NodeError> {
        Ok(Step::Done(()))
    }
}

fn chain(n: usize) -> RunGraph<Noop> {
    let mut graph = RunGraph::new();
    let mut previous = None;
    for i in 0..n {
        let node = graph.add(Noop(i));
        if let Some(previous) = previous {
            graph.depend(node, previous).expect("acyclic");
        }
        previous = Some(node);
    }
    graph
}

fn fan(n: usize) -> RunGraph<Noop> {
    let mut graph = RunGraph::new();
    let root = graph.add(Noop(0));
    let middle: Vec<_> = (1..n - 1).map(|i| graph.add(Noop(i))).collect();
    let sink = graph.add(Noop(n - 1));
    for &node in &middle {
        graph.depend(node, root).expect("acyclic");
        graph.depend(sink, node).expect("acyclic");
    }
    graph
}

/// Counts events: what a subscriber costs at least.
struct Count(usize);

impl Subscriber<()> for Count {
    fn event(&mut self, _: &Event<()>) {
        self.0 += 1;
    }
}

/// Median of `RUNS` timings of building the graph and of running it.
fn measure(
    runtime: &tokio::runtime::Runtime,
    shape: Shape,
    n: usize,
    jobs: usize,
    subscribed: bool,
) -> (Duration, Duration) {
    let mut builds = Vec::new();
    let mut runs = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        let graph = shape(n);
        builds.push(t.elapsed());
        let t = Instant::now();
        let report = runtime.block_on(engine::run(
            graph,
            Arc::new(NoopExecutor),
            Options {
                jobs,
                keep_going: false,
            },
            CancellationToken::new(),
            if subscribed {
                vec![Box::new(Count(0))]
            } else {
                vec![]
            },
        ));
        runs.push(t.elapsed());
        assert!(report.succeeded() && report.len() == n);
    }
    builds.sort();
    runs.sort();
    (builds[RUNS / 2], runs[RUNS / 2])
}

fn per_node(d: Duration, n: usize) -> f64 {
    d.as_nanos() as f64 / n as f64
}

fn main() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    println!("{cores} cores, tokio multi-thread runtime, median of {RUNS} runs");
    println!(
        "{:<6} {:>5} {:>8} {:>12} {:>12} {:>12}",
        "shape", "jobs", "nodes", "run", "run ns/node", "build ns/node"
    );
    let shapes: [(&str, Shape); 2] = [("chain", chain), ("fan", fan)];
    for (name, shape) in shapes {
        for jobs in JOBS {
            for n in SIZES {
                let (build, run) = measure(&runtime, shape, n, jobs, false);
                println!(
                    "{name:<6} {jobs:>5} {n:>8} {:>10.1}ms {:>12.0} {:>12.0}",
                    run.as_secs_f64() * 1e3,
                    per_node(run, n),
                    per_node(build, n)
                );
            }
        }
    }
    let n = 100_000;
    let (_, run) = measure(&runtime, chain, n, 16, true);
    println!(
        "chain, 16 jobs, {n} nodes, one subscriber (3 events a node): {:.0} ns/node",
        per_node(run, n)
    );
}
